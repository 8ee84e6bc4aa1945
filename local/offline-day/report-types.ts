import type { StubStats } from '../job-stubs';
import type { FakeApiStats, FaultPlan, FaultProfile } from '../fake-external-api';
import type { JobCounts } from './accounting';
import type { AwsFaultCounts, AwsWorld } from './aws-faults';
import type { MapRunCounts } from './map-run';
import type { CanaryReport } from './canary';
import type { Operator, ReplayRound, TickRerun } from './operator';
import type { HoldMode } from './run-options';
import type { SideEffectSummary } from './side-effects';
import type { UsersFeel } from './users-feel';

/** What one offline run reports (report.json; rendered by report.ts). */

/** One hour of the picture. */
export interface HourRow {
  /** `yyyy-MM-dd HH` in the app time zone. */
  readonly hour: string;
  tasks: number;
  retries: number;
  spooled: number;
  replayed: number;
  /** Spool depth at the end of the hour (ready + in flight). */
  spoolDepth: number;
  maintenance: boolean;
  /** A dependency was on hold during the hour (an operator's hold or a planned window). */
  held: boolean;
}

/** The maintenance window of the API's dependency and what it cost. */
export interface WindowReport {
  /** The held dependencies (those the API-calling steps declare in `dependsOn`). */
  readonly dependencies: string[];
  /** Local `HH:mm-HH:mm`. */
  readonly window: string;
  readonly hold: HoldMode;
  /** Calls that reached the API in its window (answered 503). */
  readonly callsIntoWindow: number;
  /** Retries of the dependent steps in executions that ran in the window. */
  readonly retriesDuringWindow: number;
  /** Executions that ran in the window. */
  readonly executionsInWindow: number;
  /** Hours with the dependency on hold. */
  readonly heldHours: number;
}

/** A tick whose producer invocation failed, and what became of it. */
export interface FailedTick {
  readonly job: string;
  readonly tick: string;
  /** Attempts Lambda made (1 + its retries). */
  readonly attempts: number;
  /** `succeeded` on a retry, `kept` in the failed-invocations queue, `dropped` (no destination). */
  readonly outcome: 'pending' | 'succeeded' | 'kept' | 'dropped';
  /** The operator's re-run from the record, if any. */
  readonly rerun: TickRerun | null;
  /** Tasks of the tick with exactly one / more than one `Started` client record. */
  readonly startedOnce: number;
  readonly startedTwice: number;
  /** The fault profile broke this tick on purpose (`outside`); any other failed tick fails the run. */
  readonly injected: boolean;
  /** The error name of each failed attempt (names only: a message may quote params). */
  readonly errors: string[];
}

/** Ends outside the workflow's Catch and what the status-change capture and the operator did about them. */
export interface OutsideReport {
  /** Executions the operator stopped (StopExecution). */
  readonly stopped: number;
  readonly aborted: number;
  readonly timedOut: number;
  /** Status-change events delivered to the capture, by its outcome (`spooled`, `alreadySpooled`, ...). */
  readonly captures: Record<string, number>;
  /** Capture invocations that failed every attempt. */
  readonly captureFailures: number;
  readonly failedTicks: FailedTick[];
  /** Producer invocations that failed at least once. */
  readonly producerErrors: number;
  /** Records left in the failed-invocations queue at the end (kept for a person, not lost). */
  readonly failedInvocationsLeft: number;
}

/** The run's report (also written as report.json). */
export interface OfflineReport {
  readonly from: string;
  readonly to: string;
  readonly timeZone: string;
  readonly seed: number;
  readonly faults: FaultProfile;
  readonly hold: HoldMode;
  readonly plan: FaultPlan;
  readonly wallMs: number;
  readonly ticks: number;
  readonly tasks: number;
  readonly executions: number;
  readonly succeededFirstTry: number;
  readonly recoveredByRetry: number;
  readonly retries: number;
  /** Spool messages written, by error name (replays included), by the workflow or the capture. */
  readonly spooledByError: Record<string, number>;
  readonly replayed: number;
  readonly replayRounds: ReplayRound[];
  readonly stillSpooled: { readonly total: number; readonly byError: Record<string, number>; readonly taskIds: string[] };
  readonly quarantined: number;
  readonly lost: number;
  readonly lostTaskIds: string[];
  /** Why each lost task counts as lost: what the books found of it (its executions' ends). */
  readonly lostWhy?: Record<string, string>;
  readonly duplicates: number;
  readonly startFailed: number;
  /** The same counts per job. */
  readonly jobs: Record<string, JobCounts>;
  readonly window: WindowReport | null;
  readonly outside: OutsideReport;
  /** What the operator did, when (local time). */
  readonly operator: {
    readonly holds: Operator['holdChanges'];
    readonly stops: Operator['stops'];
    /** Reprocess runs on the failed-invocations queue (dry runs and re-runs). */
    readonly failedInvocationRuns: Operator['failedInvocationRuns'];
    readonly reruns: TickRerun[];
  };
  readonly records: { readonly client: number; readonly worker: number };
  /** Objects the Firehose stand-in wrote, per partition. */
  readonly filesPerPartition: Record<string, number>;
  readonly queries: {
    /** The saved lost-task query, per simulated day. */
    readonly lostTasksByDay: ReadonlyArray<{ day: string; lost: number }>;
    /** The saved daily-counts query. */
    readonly dailyCounts: ReadonlyArray<Record<string, unknown>>;
  };
  readonly api: FakeApiStats;
  readonly hourly: HourRow[];
  /** Simulated actions still scheduled at the end (Lambda retries past the period, invokes never run): should be none. */
  readonly unfinished: string[];
  /** What the jobs' offline stubs (lambdas/jobs/<job>/stubs.ts) answered. */
  readonly stubs: StubStats;
  /** With `canary`: its occurrences outside the lock (must be 0) and inside. */
  readonly canary?: CanaryReport;
  /** The AWS faults of the run (aws-faults.ts) and what they did. */
  readonly world: {
    readonly profile: AwsWorld;
    readonly counts: AwsFaultCounts;
    readonly reconciler: 'ran' | 'absent' | 'off';
    readonly reconcilerRuns: number;
    /** What the Map Run stand-in of the high-volume parents did (map-run.ts). */
    readonly mapRuns?: MapRunCounts;
    /** Parameter-log records Firehose discarded after 24 h of failed delivery, and those still retried at the end. */
    readonly paramLog: { readonly discarded: number; readonly retrying: number };
  };
  /** What users feel (users-feel.ts, side-effects.ts): RESULT is OK only when lost, duplicatedSideEffects and hidden are 0. */
  readonly usersFeel: UsersFeel & { readonly sideEffects: SideEffectSummary };
  /** Seconds the executions' retries would have waited in AWS (MaxDelaySeconds and jitter applied; the run skips them). */
  readonly simulatedRetryWaitSeconds: number;
}
