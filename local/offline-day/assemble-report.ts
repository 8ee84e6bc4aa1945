import type { CaptureResult } from '../../lambdas/execution-capture/logic';
import type { StubStats } from '../job-stubs';
import type { FakeApiStats, FaultPlan, FaultProfile } from '../fake-external-api';
import type { QueueSnapshot } from '../sqs-emulator';
import { ExecutionSeen, keepBooks } from './accounting';
import type { DayBooks } from './day-books';
import type { AsyncInvocation } from './lambda-async';
import { hhmm } from './local-time';
import type { Operator } from './operator';
import type { FailedTick, OfflineReport } from './report-types';
import type { HoldMode } from './run-options';
import { failedTicksOf, queuedTasks, readParamLog, runSavedQueries } from './run-results';
import type { SideEffectSummary } from './side-effects';
import { usersFeel } from './users-feel';

/** What the run hands over at its end (services stopped, queues read) to make its report. */
export interface ReportInputs {
  readonly outDir: string;
  readonly from: Date;
  readonly to: Date;
  readonly timeZone: string;
  readonly seed: number;
  readonly profile: FaultProfile;
  readonly holdMode: HoldMode;
  readonly plan: FaultPlan;
  /** `Date.now()` when the run started. */
  readonly wallStart: number;
  readonly jobs: string[];
  readonly ticks: number;
  readonly ticksByJob: Record<string, number>;
  readonly heldDependencies: string[];
  readonly spool: QueueSnapshot;
  readonly quarantine: QueueSnapshot;
  readonly failedInvocationsLeft: number;
  readonly day: DayBooks;
  /** StartExecution calls by execution name. */
  readonly starts: Map<string, { job: string; count: number }>;
  readonly captures: CaptureResult[];
  readonly captureFailures: number;
  /** Executions the Step Functions stand-in saw started twice. */
  readonly sfnDuplicates: number;
  readonly invocations: ReadonlyArray<AsyncInvocation>;
  readonly jobOfFunction: ReadonlyMap<string, string>;
  readonly apiJob: string;
  readonly operator: Operator | undefined;
  readonly apiStats: FakeApiStats;
  readonly unfinished: string[];
  readonly stubs: StubStats;
  readonly world: OfflineReport['world'];
  /** Task ids of executions accepted but never run. */
  readonly neverEnded: string[];
  readonly sideEffects: SideEffectSummary;
  readonly retryWaitSeconds: number;
  readonly progress: (line: string) => void;
}

/**
 * The run's report: the books kept from the parameter log as written, the queues and the executions,
 * the producers' failed ticks, the saved Athena queries' results, and what users feel.
 */
export async function assembleReport(i: ReportInputs): Promise<OfflineReport> {
  const { spooled: spooledTasks, quarantined: quarantinedTasks } = queuedTasks(i.spool, i.quarantine);
  // The parameter log as written.
  const { client, worker, filesPerPartition } = readParamLog(i.outDir);

  const executions: ExecutionSeen[] = [...i.day.outcomes.values()];
  const books = keepBooks({
    jobs: i.jobs,
    ticks: i.ticksByJob,
    client,
    worker,
    executions,
    spooled: spooledTasks,
    quarantined: quarantinedTasks,
    starts: i.starts,
    captures: i.captures,
  });
  const total = books.total;
  total.duplicates += i.sfnDuplicates;

  const failedTicks: FailedTick[] = failedTicksOf({
    invocations: i.invocations,
    client,
    jobOfFunction: i.jobOfFunction,
    reruns: i.operator?.reruns ?? [],
    apiJob: i.apiJob,
    plan: i.plan,
    timeZone: i.timeZone,
  });
  for (const t of failedTicks) total.duplicates += t.startedTwice;
  const captureOutcomes: Record<string, number> = {};
  for (const c of i.captures) captureOutcomes[c.outcome] = (captureOutcomes[c.outcome] ?? 0) + 1;

  // The saved Athena queries, on DuckDB over the folder.
  i.progress('running the saved Athena queries on DuckDB over the output folder ...');
  const { lostTasksByDay, dailyCounts, monitored } = await runSavedQueries(i.outDir, i.from, i.to, i.timeZone);

  const hourRows = i.day.hourRows();

  const report: OfflineReport = {
    from: i.from.toISOString(),
    to: i.to.toISOString(),
    timeZone: i.timeZone,
    seed: i.seed,
    faults: i.profile,
    hold: i.holdMode,
    plan: i.plan,
    wallMs: Date.now() - i.wallStart,
    ticks: i.ticks,
    tasks: total.tasks,
    executions: total.executions,
    succeededFirstTry: total.succeededFirstTry,
    recoveredByRetry: total.recoveredByRetry,
    retries: total.retries,
    spooledByError: total.spooledByError,
    replayed: total.replayed,
    replayRounds: i.operator?.replayRounds ?? [],
    stillSpooled: total.stillSpooled,
    quarantined: total.quarantined,
    lost: total.lost,
    lostTaskIds: total.lostTaskIds,
    lostWhy: total.lostWhy,
    duplicates: total.duplicates,
    startFailed: total.startFailed,
    jobs: books.perJob,
    window: i.plan.maintenance
      ? {
          dependencies: i.heldDependencies,
          window: `${hhmm(i.plan.maintenance.startMinute)}-${hhmm(i.plan.maintenance.endMinute)}`,
          hold: i.holdMode,
          callsIntoWindow: i.apiStats.maintenance,
          retriesDuringWindow: i.day.windowRetries,
          executionsInWindow: i.day.windowExecutions,
          heldHours: hourRows.filter((h) => h.held).length,
        }
      : null,
    outside: {
      stopped: i.operator?.stops.length ?? 0,
      aborted: total.aborted,
      timedOut: total.timedOut,
      captures: captureOutcomes,
      captureFailures: i.captureFailures,
      failedTicks,
      producerErrors: failedTicks.length,
      failedInvocationsLeft: i.failedInvocationsLeft,
    },
    operator: { holds: i.operator?.holdChanges ?? [], stops: i.operator?.stops ?? [], failedInvocationRuns: i.operator?.failedInvocationRuns ?? [], reruns: i.operator?.reruns ?? [] },
    records: { client: client.length, worker: worker.length },
    filesPerPartition,
    queries: { lostTasksByDay, dailyCounts },
    api: { ...i.apiStats },
    hourly: hourRows,
    unfinished: i.unfinished,
    stubs: i.stubs,
    world: i.world,
    usersFeel: {
      ...usersFeel({
        executions,
        neverEnded: i.neverEnded,
        spooled: spooledTasks,
        quarantined: quarantinedTasks,
        droppedTicks: failedTicks.filter((t) => t.outcome === 'dropped').map((t) => `${t.job}|${t.tick}`),
        monitored,
        duplicatedSideEffects: i.sideEffects.duplicated,
      }),
      sideEffects: i.sideEffects,
    },
    simulatedRetryWaitSeconds: Math.round(i.retryWaitSeconds),
  };
  return report;
}
