import './quiet';
import { SFNClient } from '@aws-sdk/client-sfn';
import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { appConfig as defaultAppConfig } from '../../bin/config';
import { AppConfig, lambdaStepsOf, ResolvedAppConfig } from '../../lib/config/types';
import { parseSchedule, scheduleTicks } from '../../lib/config/schedule';
import { resolveConfig } from '../../lib/config/validate';
import type { CaptureResult } from '../../lambdas/execution-capture/logic';
import type { ReprocessResult } from '../../lambdas/reprocess/handler';
import { readEnv as readReprocessEnv } from '../../lambdas/reprocess/env';
import { parseEnvelope } from '../../lambdas/shared/envelope';
import { activeWindow } from '../../lambdas/shared/holds';
import { ParamLogRecord, parseJsonLines, zonedParts } from '../../lambdas/shared/param-log';
import { SPOOL_ATTR_ERROR } from '../../lambdas/shared/spool-message';
import { DAILY_COUNTS, LOST_TASK_COUNT_SQL, lostTaskParams, nextDay } from '../../lambdas/shared/queries';
import { ParamLogDb } from '../duckdb-sql';
import { startJobStubs, StubStats, TASKS_PER_TICK_ENV } from '../job-stubs';
import { FakeApiStats, faultPlan, FaultPlan, FaultProfile, inMaintenance, producerBroken, startFakeExternalApi, TaskRef } from '../fake-external-api';
import { startFirehoseStandin } from '../firehose-standin';
import { startKmsStandin } from '../kms-standin';
import { StandinFunction, startLambdaStandin } from '../lambda-standin';
import { startSfnStandin, StandinExecution, statusChangeEvent } from '../sfn-standin';
import { startSqsEmulator } from '../sqs-emulator';
import { startLocalDynamo } from '../dynamodb-local';
import { driveEventSource } from '../sqs-esm';
import { ExecutionSeen, JobCounts, keepBooks } from './accounting';
import {
  asyncInvokeConfig,
  AsyncInvokeModel,
  eventRules,
  eventSources,
  functionEnvironment,
  LOCAL_ACCOUNT,
  placeholderRef,
  RefResolver,
  REPROCESS_ENTRY,
  schedules,
  stateMachineDefinition,
  synthesizeApp,
  tableIds,
} from './app-model';
import { CANARY_PROCESS_ENV, CanaryRecorder, CanaryReport } from './canary';
import { matchesEventPattern } from './eventbridge';
import { createExecutionRunner, LocalHandler } from './executions';
import { AsyncInvoker } from './lambda-async';
import { AcceptedInvocation, Operator, ReplayRound, TickRerun } from './operator';
import { asyncEventKey, AwsFaultCounts, AwsFaultRates, awsFaultRates, AwsFaults, AwsWorld, dispatchStatusEvent, Retrier, limitHistory, retriersByState, simulatedRetryWaitSeconds } from './aws-faults';
import { findReconciler, reconcileTimes } from './reconciler-hook';
import { SideEffectLog, SideEffectSummary } from './side-effects';
import { UsersFeel, usersFeel } from './users-feel';
import { LOST_TASKS } from '../../lambdas/shared/queries';
import { SimClock, Timeline } from './sim-clock';
import { restrictToJobs } from './single-tick';

/**
 * Every Task's TimeoutSeconds is capped at this in the offline run (time compression, like the
 * skipped retry waits): the engine really waits, and the example's 20 s CallApi timeout would cost
 * 20 s of wall time per timeout. Local handlers answer in milliseconds, so only the fake API's slow
 * reply (one second past it) reaches it.
 */
export const LOCAL_STEP_TIMEOUT_SECONDS = 3;

/**
 * Every execution's own TimeoutSeconds (derived per job, lib/config/timeouts.ts: 29 min for the API
 * example) is capped at this, for the same reason. Twice the step cap: no execution of the day comes
 * near it (the slowest, a step timeout, ends in ~3 s), while the stalling API's retries (2.5 s a
 * call, five calls allowed) outlast it, so that execution ends TIMED_OUT as it would in AWS.
 */
export const LOCAL_EXECUTION_TIMEOUT_SECONDS = 2 * LOCAL_STEP_TIMEOUT_SECONDS;

/**
 * Executions run at once in this one process. More only queues them behind each other on the event
 * loop: with 64, a big tick's (2,000 tasks) steps waited long enough that a few passed the
 * compressed 3 s step timeout. The engine's time is wall time, so crowding is time compression's risk.
 */
export const EXECUTION_CONCURRENCY = 16;

/** A stalling API's answer, ms: under the step timeout (the step retries), three of them past the execution timeout. */
export const LOCAL_STALL_MS = 2_500;

/**
 * Who holds the API's dependency during its maintenance window:
 * - `operator` (default): the simulated operator sets the hold switch when the window starts and
 *   releases it when it ends, then replays (`--hold` is the default; see docs/offline-day.md);
 * - `planned-windows`: the window is declared in the config (`dependencies.<name>.windows`) and
 *   there is NO operator at all: nothing is held, stopped, replayed or re-run by hand;
 * - `none`: no hold; the operator replays after the window, as before holds existed (the calls into
 *   the window and their retries show what a hold saves).
 */
export type HoldMode = 'operator' | 'planned-windows' | 'none';
export const HOLD_MODES: ReadonlyArray<HoldMode> = ['operator', 'planned-windows', 'none'];

/** Options of one offline run (the CLI's flags). */
export interface OfflineRunOptions {
  /** Project root (handler entries in the config are relative to it). */
  readonly projectRoot: string;
  /** Output folder: the parameter log (`client/`, `worker/`), report.json, report.html. */
  readonly outDir: string;
  /** Simulated days. @default 1 */
  readonly days?: number;
  /** Simulated hours instead of whole days (tests, `--hours`). */
  readonly hours?: number;
  /** First simulated day, `yyyy-MM-dd` in the app time zone. @default 2026-11-25 (fixed: same seed, same run) */
  readonly startDay?: string;
  readonly seed?: number;
  readonly faults?: FaultProfile;
  /** Changes to the profile's plan (tests move the faults into a short window). */
  readonly faultPlanOverrides?: Partial<Omit<FaultPlan, 'profile' | 'seed'>>;
  /** Who holds the API during its maintenance window. @default 'operator' */
  readonly hold?: HoldMode;
  /** Tasks per tick of the example job (its EXAMPLE_TASKS_PER_TICK knob), and TASKS_PER_TICK of every producer (new-job's knob). @default the job's own default */
  readonly tasksPerTick?: number;
  /** Delete the output folder before the run. @default true */
  readonly clean?: boolean;
  /** The app config. @default bin/config.ts */
  readonly appConfig?: AppConfig;
  /** Progress lines. @default none */
  readonly progress?: (line: string) => void;
  /** Keep the handlers' own (Powertools) logs. @default false (errors only) */
  readonly verbose?: boolean;
  /**
   * One tick of each job (of `jobs` only, when given) at the start of the period, and nothing else:
   * no schedule, no operator (`npx scheduled-jobs local <job>`, test/user-config.test.ts).
   * @default every tick of every job's schedule
   */
  readonly singleTick?: { readonly jobs?: ReadonlyArray<string> };
  /** Canary text: put into every task's params, searched for in every sink outside the lock (./canary.ts). */
  readonly canary?: string;
  /** How much kinder than AWS the stand-ins are (aws-faults.ts). @default 'kind' (the CLI's default is 'default') */
  readonly awsFaults?: AwsWorld;
  /** Run the app's reconciler when it has one (reconciler-hook.ts). @default true */
  readonly reconciler?: boolean;
  /**
   * Whether the fake API applies an order once per `idempotency-key` (answering a repeat with the
   * recorded result), as order and payment APIs that take such keys do. @default true
   */
  readonly apiHonoursIdempotencyKeys?: boolean;
  /** Changes to the world's rates, and a drop aimed at chosen status changes (tests). */
  readonly awsFaultOverrides?: Partial<AwsFaultRates> & { readonly dropEventWhen?: (key: string) => boolean };
}

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
    /** Parameter-log records Firehose discarded after 24 h of failed delivery, and those still retried at the end. */
    readonly paramLog: { readonly discarded: number; readonly retrying: number };
  };
  /** What users feel (users-feel.ts, side-effects.ts): RESULT is OK only when lost, duplicatedSideEffects and hidden are 0. */
  readonly usersFeel: UsersFeel & { readonly sideEffects: SideEffectSummary };
  /** Seconds the executions' retries would have waited in AWS (MaxDelaySeconds and jitter applied; the run skips them). */
  readonly simulatedRetryWaitSeconds: number;
}

const DEFAULT_START_DAY = '2026-11-25';
/** The example jobs the fault plan is about (bin/config.ts). */
const API_JOB = 'example-api';
const FANOUT_JOB = 'example-fanout';

/** The UTC instant of local midnight of `day` in `timeZone`. */
export function localMidnight(day: string, timeZone: string): Date {
  const [y, m, d] = day.split('-').map(Number);
  let guess = Date.UTC(y, m - 1, d);
  for (let i = 0; i < 3; i++) {
    const p = zonedParts(new Date(guess), timeZone);
    const asUtc = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
    guess -= asUtc - Date.UTC(y, m - 1, d);
  }
  return new Date(guess);
}

const localHour = (at: Date, tz: string): string => {
  const p = zonedParts(at, tz);
  return `${p.year}-${p.month}-${p.day} ${p.hour}`;
};
const localDay = (at: Date, tz: string): string => {
  const p = zonedParts(at, tz);
  return `${p.year}-${p.month}-${p.day}`;
};
const localMinuteText = (at: Date, tz: string): string => {
  const p = zonedParts(at, tz);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
};
const hhmm = (minute: number): string => `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;

async function mapLimit<T>(items: ReadonlyArray<T>, limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? listFiles(p) : [p];
  });
}

/** The dependencies of the steps that call the example's API (their environment has EXAMPLE_API_URL). */
export function apiDependencies(config: ResolvedAppConfig): string[] {
  const out = new Set<string>();
  for (const job of config.jobs) {
    for (const s of lambdaStepsOf(job)) if (s.dependsOn && s.environment && 'EXAMPLE_API_URL' in s.environment) out.add(s.dependsOn);
  }
  return [...out];
}

/**
 * The config with the plan's maintenance window declared as a planned hold window of each of
 * `dependencies` (`--planned-windows`): `cron(m h * * ? *)` in the app time zone, for its length.
 */
export function withPlannedWindows(config: AppConfig, dependencies: ReadonlyArray<string>, plan: FaultPlan): AppConfig {
  if (!plan.maintenance) return config;
  const { startMinute, endMinute } = plan.maintenance;
  const window = { cron: `cron(${startMinute % 60} ${Math.floor(startMinute / 60)} * * ? *)`, durationMinutes: endMinute - startMinute };
  const deps = { ...(config.dependencies ?? {}) };
  for (const d of dependencies) deps[d] = { ...deps[d], windows: [...(deps[d]?.windows ?? []), window] };
  return { ...config, dependencies: deps };
}

let alreadyRan = false;

/**
 * Runs the whole system over simulated time and returns the report. See docs/offline-day.md.
 * Once per process: it points the process's `Date` and AWS endpoint variables at this run, and the
 * handlers build their SDK clients once at module load (as at a Lambda cold start), so a second run
 * would talk to the first run's endpoints. Tests run it once per test file.
 */
export async function runOfflineDay(options: OfflineRunOptions): Promise<OfflineReport> {
  if (alreadyRan) throw new Error('runOfflineDay runs once per process (handlers keep the SDK clients of the first run); start a new process');
  alreadyRan = true;
  const wallStart = Date.now();
  const progress = options.progress ?? (() => undefined);
  const seed = options.seed ?? 1;
  const profile = options.faults ?? 'default';
  const holdMode = options.hold ?? 'operator';
  const withOperator = holdMode !== 'planned-windows' && !options.singleTick;
  const plan: FaultPlan = { ...faultPlan(profile, seed), ...options.faultPlanOverrides };
  const { dropEventWhen, ...rateOverrides } = options.awsFaultOverrides ?? {};
  const awsFaults = new AwsFaults(options.awsFaults ?? 'kind', seed, { ...awsFaultRates(options.awsFaults ?? 'kind'), ...rateOverrides }, dropEventWhen);
  const sideEffects = new SideEffectLog();
  // The steps report where they apply a side effect (sideEffectApplied); removed at the end of the run.
  const unobserveSideEffects = sideEffects.observeSteps();
  /** `tick|key` -> task id, so the API's applications are keyed by task like the steps'. */
  const taskIdOfKey = new Map<string, string>();
  /** `taskId|attempt` of executions that have ended (a step still running after it ran on past its execution). */
  const endedAttempts = new Set<string>();
  let retryWaitSeconds = 0;
  let firehoseDiscarded = 0;
  let firehoseRetrying = 0;
  const resolve = (c: AppConfig): ResolvedAppConfig =>
    resolveConfig(c, {
      fileExists: (p) => existsSync(join(options.projectRoot, p)),
      // Every job of the config, the opt-in examples included, whatever the stages say.
      allJobs: true,
    });
  const appConfig = restrictToJobs(options.appConfig ?? defaultAppConfig, options.singleTick?.jobs);
  let config = resolve(appConfig);
  const heldDependencies = apiDependencies(config);
  if (holdMode === 'planned-windows') config = resolve(withPlannedWindows(appConfig, heldDependencies, plan));
  const tz = config.timeZone;
  const from = localMidnight(options.startDay ?? DEFAULT_START_DAY, tz);
  const to = new Date(from.getTime() + (options.hours ?? 24 * (options.days ?? 1)) * 3_600_000);
  const windowsOf = Object.fromEntries(config.dependencies.map((d) => [d.name, d.windows]));
  /** Steps (state names) that call a held dependency: their retries are the window's. */
  const dependentStates = new Set(config.jobs.flatMap((j) => lambdaStepsOf(j).filter((s) => s.dependsOn && heldDependencies.includes(s.dependsOn)).map((s) => s.name)));

  if (options.clean ?? true) rmSync(options.outDir, { recursive: true, force: true });
  mkdirSync(options.outDir, { recursive: true });
  const canary = options.canary ? new CanaryRecorder(options.canary, options.outDir) : null;
  canary?.start();

  progress(`synthesizing the app (bundling and template validation skipped) ...`);
  const model = synthesizeApp(config, options.projectRoot);
  const region = model.region;
  const resources = model.template.Resources;
  // The jobs' own stubs (secrets always served locally, HTTP, environment): loaded first, so a bad stubs.ts stops the run before any service starts.
  const stubs = await startJobStubs({ projectRoot: options.projectRoot, config, model, region });

  // ---- local services
  const clock = new SimClock(from);
  const timeline = new Timeline(clock);
  const savedEnv = { ...process.env };
  const sqsEmulator = await startSqsEmulator({ region });
  // The coordination table(s) of the template (holds, locks, tick ledger) in a local DynamoDB engine.
  const dynamo = await startLocalDynamo(region);
  const tables = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::DynamoDB::Table').map(([id]) => id);
  for (const id of tables) await dynamo.createTable(id);
  const queueUrls = new Map<string, string>();
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type === 'AWS::SQS::Queue') queueUrls.set(id, await sqsEmulator.createQueue(id));
  }
  const basePlaceholder = placeholderRef(region);
  const ref: RefResolver = (id, type, attribute) => {
    if (type === 'AWS::SQS::Queue' && attribute === undefined) return queueUrls.get(id)!;
    if (type === 'AWS::SQS::Queue' && attribute === 'Arn') return `arn:aws:sqs:${region}:${LOCAL_ACCOUNT}:${id}`;
    return basePlaceholder(id, type, attribute);
  };
  const functionArn = (id: string): string => ref(id, 'AWS::Lambda::Function', 'Arn');

  // Firehose streams: name, prefix, buffering and time zone as synthesized.
  const streams: Record<string, string> = {};
  let bufferSeconds = config.paramLog.bufferSeconds;
  let bufferMiB = config.paramLog.bufferMiB;
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type !== 'AWS::KinesisFirehose::DeliveryStream') continue;
    const s3 = (r.Properties?.ExtendedS3DestinationConfiguration ?? {}) as { Prefix?: string; BufferingHints?: { IntervalInSeconds?: number; SizeInMBs?: number } };
    streams[id] = String(s3.Prefix ?? id).split('/')[0];
    bufferSeconds = s3.BufferingHints?.IntervalInSeconds ?? bufferSeconds;
    bufferMiB = s3.BufferingHints?.SizeInMBs ?? bufferMiB;
  }
  const firehose = await startFirehoseStandin({
    outDir: options.outDir,
    streams,
    timeZone: tz,
    now: () => clock.now(),
    bufferSeconds,
    bufferBytes: bufferMiB * 1024 * 1024,
    bucketDown: (at) => awsFaults.bucketDown(at, from),
  });
  // KMS HMAC keys: the record writers' MACs and the lock keys (docs/security.md, "Record MACs").
  const kms = await startKmsStandin();

  // The fake API learns which task a call is about from the executions the run starts.
  const taskRefs = new Map<string, TaskRef>();
  const tickKeys = new Map<string, string[]>();
  /** Execution running for a task key now (the operator stops the one stuck on a hanging call). */
  const runningByKey = new Map<string, string>();
  /** Operator actions started from inside a request (a stop), awaited before the batch counts as done. */
  const background: Array<Promise<void>> = [];
  let operator: Operator | undefined;
  const api = await startFakeExternalApi({
    plan,
    timeZone: tz,
    now: () => clock.now(),
    taskOf: (body) => taskRefs.get(String((body as { orderId?: unknown } | null)?.orderId ?? '')),
    // Past the (compressed) step timeout, so the slow call ends in States.Timeout as in AWS.
    slowMs: (LOCAL_STEP_TIMEOUT_SECONDS + 1) * 1000,
    stallMs: LOCAL_STALL_MS,
    // The operator sees the execution stuck in CallApi (console, or the step's duration) and stops it.
    onHang: (t) => {
      const arn = runningByKey.get(t.key);
      if (arn && operator) background.push(operator.stop(arn, `stuck waiting for the orders API (order ${t.key})`));
    },
    honourIdempotencyKeys: options.apiHonoursIdempotencyKeys ?? true,
    onApplied: (t, key) => sideEffects.apiSideEffect(taskIdOfKey.get(`${t.tick.toISOString()}|${t.key}`) ?? t.key, key, options.apiHonoursIdempotencyKeys ?? true),
  });

  const smArns = new Map<string, string>(); // job -> arn
  for (const [job, id] of model.stateMachines) smArns.set(job, ref(id, 'AWS::StepFunctions::StateMachine'));
  const pending: StandinExecution[] = [];
  const starts = new Map<string, { job: string; count: number }>();
  const statusEvents: Array<ReturnType<typeof statusChangeEvent>> = [];
  // Every accepted StartExecution (starter or reprocess) is queued and run after the call returns;
  // every status change is queued for EventBridge (delivered when the batch has run).
  const sfnEndpoint = await startSfnStandin({
    onStart: (e) => {
      const prior = starts.get(e.name);
      starts.set(e.name, { job: prior?.job ?? String((JSON.parse(e.input) as { job?: unknown }).job ?? ''), count: (prior?.count ?? 0) + 1 });
      pending.push(e);
    },
    onStatusChange: (e) => void statusEvents.push(statusChangeEvent(e)),
  });

  // Lambda's Invoke API, for what reprocess invokes (a re-run of a failed invocation): the functions
  // it may invoke, by the names its template environment gives (filled in below, once the template's
  // reprocess environment is read).
  const invocable: Record<string, StandinFunction> = {};
  const lambdaEndpoint = await startLambdaStandin(region, invocable, LOCAL_ACCOUNT);

  // ---- environment of the handlers: only the standard endpoint variables and fake credentials.
  Object.assign(process.env, {
    ...stubs.endpoints,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_SESSION_TOKEN: 'local',
    AWS_ENDPOINT_URL_SQS: sqsEmulator.endpoint,
    AWS_ENDPOINT_URL_SFN: sfnEndpoint.endpoint,
    AWS_ENDPOINT_URL_FIREHOSE: firehose.endpoint,
    AWS_ENDPOINT_URL_KMS: kms.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_LAMBDA: lambdaEndpoint.endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: options.verbose ? 'INFO' : 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
    ...(canary ? CANARY_PROCESS_ENV : {}),
  });
  delete process.env.AWS_PROFILE;
  // Each handler sees exactly its own function's environment on top of this (as in its own Lambda):
  // variables of another function (e.g. a map contract) must not leak into it.
  const baseEnv = { ...process.env };

  // Producers: the schedules of the template, their target functions and inputs.
  const producerSchedules = schedules(model).filter((s) => s.state === 'ENABLED');
  const producerOf = new Map<string, string>(); // job -> function id
  const jobOfFunction = new Map<string, string>();
  for (const s of producerSchedules) {
    const jobName = functionEnvironment(model, s.targetFunction, ref).JOB_NAME;
    if (jobName) {
      producerOf.set(jobName, s.targetFunction);
      jobOfFunction.set(s.targetFunction, jobName);
    }
  }

  // Local overrides of settings (documented in docs/offline-day.md): the fake API instead of the
  // real one, the run's tasks per tick, the fan-out job's failing part.
  const overrides = (id: string, env: Record<string, string>): Record<string, string> => {
    const out = { ...env, ...stubs.environmentFor(id), ...(canary ? canary.functionEnv() : {}) };
    if ('EXAMPLE_API_URL' in out) out.EXAMPLE_API_URL = api.url;
    if (jobOfFunction.has(id) && options.tasksPerTick !== undefined) out[TASKS_PER_TICK_ENV] = String(options.tasksPerTick);
    if (id === producerOf.get(API_JOB) && options.tasksPerTick !== undefined) out.EXAMPLE_TASKS_PER_TICK = String(options.tasksPerTick);
    if (id === producerOf.get(FANOUT_JOB) && plan.fanoutFailEvery > 0) {
      out.FANOUT_FAIL_EVERY = String(plan.fanoutFailEvery);
      out.FANOUT_FAIL_ATTEMPTS = String(plan.fanoutFailAttempts);
    }
    return out;
  };
  const envOf = new Map<string, Record<string, string>>();
  const envFor = (logicalId: string): Record<string, string> => {
    let env = envOf.get(logicalId);
    if (!env) {
      env = overrides(logicalId, functionEnvironment(model, logicalId, ref));
      delete env.NODE_OPTIONS;
      envOf.set(logicalId, env);
    }
    return env;
  };
  /** Settings that change during the day: the API producer's broken period (until its fix is "deployed"). */
  const dynamicEnv = (logicalId: string): Record<string, string> =>
    logicalId === producerOf.get(API_JOB) && producerBroken(plan, clock.now(), tz) ? { EXAMPLE_FAIL_PRODUCER: 'true' } : {};
  const useEnvOf = (logicalId: string): void => {
    const wanted: NodeJS.ProcessEnv = { ...baseEnv, ...envFor(logicalId), ...dynamicEnv(logicalId) };
    for (const k of Object.keys(process.env)) if (!(k in wanted)) delete process.env[k];
    Object.assign(process.env, wanted);
  };
  const handlers = new Map<string, LocalHandler>();
  const loadHandler = (logicalId: string): LocalHandler => {
    let h = handlers.get(logicalId);
    if (!h) {
      const entry = model.entries.get(logicalId);
      if (!entry) throw new Error(`No handler entry known for function ${logicalId}`);
      // Module-scope code (clients, requireEnv) reads the environment at import: set it first.
      useEnvOf(logicalId);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(join(options.projectRoot, entry)) as { handler?: LocalHandler };
      if (typeof mod.handler !== 'function') throw new Error(`${entry} does not export a handler`);
      h = canary ? canary.wrap(logicalId, mod.handler) : mod.handler;
      handlers.set(logicalId, h);
    }
    return h;
  };
  /** Calls a handler that reads its environment at call time, with its own environment. */
  const invokeWithEnv = async (logicalId: string, event: unknown): Promise<unknown> => {
    const handler = loadHandler(logicalId);
    useEnvOf(logicalId);
    return handler(event, { getRemainingTimeInMillis: () => 600_000, functionName: logicalId, awsRequestId: `local-${Date.now()}` });
  };

  const runSqs = new SQSClient({ region, endpoint: sqsEmulator.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const runSfn = new SFNClient({ region, endpoint: sfnEndpoint.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const runners = new Map<string, ReturnType<typeof createExecutionRunner>>();
  const retriersOf = new Map<string, (state: string) => Retrier[]>();
  for (const job of config.jobs) {
    const definition = stateMachineDefinition(model, job, ref);
    runners.set(
      smArns.get(job.name)!,
      createExecutionRunner({
        definition,
        sqs: runSqs,
        stepTimeoutSeconds: LOCAL_STEP_TIMEOUT_SECONDS,
        executionTimeoutSeconds: LOCAL_EXECUTION_TIMEOUT_SECONDS,
        handlerFor: (functionName) => {
          const id = functionName.split(':').pop()!;
          // Tracked to its end: a stopped execution's step Lambda runs on, and its side effects land late.
          return sideEffects.wrapStep(loadHandler(id), (ev) => {
            const t = (ev as { task?: { taskId?: unknown; attempt?: unknown } } | null)?.task;
            return endedAttempts.has(`${String(t?.taskId)}|${String(t?.attempt)}`);
          });
        },
      }),
    );
    const retriers = retriersByState(definition);
    retriersOf.set(smArns.get(job.name)!, (state) => retriers.get(state) ?? []);
  }

  const tickPlan: Array<{ at: Date; fn: string; input: string; job: string }> = [];
  for (const s of producerSchedules) {
    const jobName = jobOfFunction.get(s.targetFunction);
    const job = config.jobs.find((j) => j.name === jobName);
    if (!job) continue;
    for (const at of options.singleTick ? [from] : scheduleTicks(parseSchedule(s.expression), s.timeZone, from, to)) {
      const iso = at.toISOString().replace(/\.000Z$/, 'Z');
      tickPlan.push({ at, fn: s.targetFunction, input: (s.input ?? '{}').replaceAll('<aws.scheduler.scheduled-time>', iso), job: job.name });
    }
  }
  tickPlan.sort((a, b) => a.at.getTime() - b.at.getTime());
  const ticksByJob: Record<string, number> = {};
  for (const t of tickPlan) ticksByJob[t.job] = (ticksByJob[t.job] ?? 0) + 1;

  // The tick queue's event source: its starter is driven as the mapping would drive it, one batch
  // message at a time, in order, after each producer invocation (see local/sqs-esm.ts).
  const tickSources = eventSources(model);
  const drainTickQueues = async (): Promise<void> => {
    for (const es of tickSources) {
      const run = await driveEventSource({
        sqs: runSqs,
        queueUrl: queueUrls.get(es.queueId)!,
        maxConcurrency: 1,
        timeoutMs: es.timeoutSeconds * 1000,
        region,
        functionName: es.functionId,
        maxInvocations: 1_000,
        redeliver: (m) => awsFaults.sqsTwice(m.Body ?? m.MessageId ?? ''),
        container: () => async (event, context) => {
          const handler = loadHandler(es.functionId);
          useEnvOf(es.functionId);
          return (await handler(event, context)) as never;
        },
      });
      if (run.failed > 0) progress(`  ${run.failed} batch invocation(s) of ${es.functionId} failed and were retried`);
    }
  };

  // Reprocess and the status-change capture: the template's functions, with their environment.
  const reprocessFn = [...model.entries].find(([, e]) => e === REPROCESS_ENTRY)?.[0];
  if (!reprocessFn) throw new Error('The template has no reprocess function');
  const spoolUrl = envFor(reprocessFn).SPOOL_QUEUE_URL;
  const quarantineUrl = envFor(reprocessFn).QUARANTINE_QUEUE_URL;
  if (!spoolUrl || !quarantineUrl) throw new Error('The reprocess function names no spool or quarantine queue');
  const spoolName = spoolUrl.split('/').pop()!;
  const rules = eventRules(model, ref);
  const asyncConfigs = new Map<string, AsyncInvokeModel>();
  const asyncConfig = (id: string): AsyncInvokeModel => {
    let c = asyncConfigs.get(id);
    if (!c) asyncConfigs.set(id, (c = asyncInvokeConfig(model, id)));
    return c;
  };
  const failedInvocationsQueue = [...producerOf.values()].map((id) => asyncConfig(id).onFailureQueue).find((q) => q !== null) ?? null;
  const failedInvocationsName = failedInvocationsQueue ? queueUrls.get(failedInvocationsQueue)!.split('/').pop()! : null;

  // ---- bookkeeping
  // What the books need of each execution, no params (a big tick runs 100,000s).
  const outcomes = new Map<string, ExecutionSeen>();
  let notSucceeded = 0;
  const captures: CaptureResult[] = [];
  let captureFailures = 0;
  let windowRetries = 0;
  let windowExecutions = 0;
  const hourly = new Map<string, HourRow>();
  const row = (when: Date): HourRow => {
    // The final replay runs at the end of the period: count it in the period's last hour, not in
    // an hour past it.
    const at = when.getTime() >= to.getTime() ? new Date(to.getTime() - 1) : when;
    const hour = localHour(at, tz);
    let r = hourly.get(hour);
    if (!r) {
      r = { hour, tasks: 0, retries: 0, spooled: 0, replayed: 0, spoolDepth: 0, maintenance: inMaintenance(plan, at, tz), held: false };
      hourly.set(hour, r);
    }
    return r;
  };
  for (let t = from.getTime(); t < to.getTime(); t += 3_600_000) row(new Date(t));

  const runPending = async (): Promise<void> => {
    while (pending.length > 0) {
      const batch = pending.splice(0, pending.length);
      for (const e of batch) {
        const env = parseEnvelope(JSON.parse(e.input));
        const tickIso = env.scheduledTime;
        const keys = tickKeys.get(`${env.job}|${tickIso}`) ?? [];
        if (!keys.includes(env.key)) keys.push(env.key);
        tickKeys.set(`${env.job}|${tickIso}`, keys);
        taskRefs.set(env.key, { tick: new Date(tickIso), key: env.key, tickKeys: keys });
        taskIdOfKey.set(`${new Date(tickIso).toISOString()}|${env.key}`, env.taskId);
      }
      await mapLimit(batch, EXECUTION_CONCURRENCY, async (e) => {
        const envelope = parseEnvelope(JSON.parse(e.input));
        const at = clock.now();
        const maintenance = inMaintenance(plan, at, tz);
        runningByKey.set(envelope.key, e.executionArn);
        const limited = limitHistory(sfnEndpoint.localRun(e.executionArn), awsFaults.rates.historyEventLimit);
        let out = await runners.get(e.stateMachineArn)!({
          executionArn: e.executionArn,
          name: e.name,
          stateMachineArn: e.stateMachineArn,
          input: envelope,
          startDate: e.startDate,
          hooks: limited.hooks,
        });
        // Past the history quota Step Functions fails the execution itself: no Catch runs.
        if (limited.exceeded()) {
          awsFaults.counts.historyExceeded += 1;
          out = { ...out, status: 'FAILED', error: 'States.Runtime', cause: `the execution history passed ${awsFaults.rates.historyEventLimit} events` };
        }
        endedAttempts.add(`${envelope.taskId}|${envelope.attempt}`);
        retryWaitSeconds += simulatedRetryWaitSeconds(retriersOf.get(e.stateMachineArn) ?? (() => []), out.retries, seed, e.name);
        if (runningByKey.get(envelope.key) === e.executionArn) runningByKey.delete(envelope.key);
        // Ends it in the stand-in (a stopped execution stays ABORTED), which emits its status change.
        sfnEndpoint.complete(e.executionArn, out.status, { error: out.error, cause: out.cause });
        // Only the ends the capture reads keep their history (memory: a big tick runs 100,000s).
        if (out.status === 'SUCCEEDED') sfnEndpoint.dropHistory(e.executionArn);
        outcomes.set(e.executionArn, {
          executionArn: e.executionArn,
          name: e.name,
          job: envelope.job,
          taskId: envelope.taskId,
          attempt: envelope.attempt,
          status: out.status,
          error: out.error,
          cause: out.cause,
          retries: out.retries,
        });
        if (out.status !== 'SUCCEEDED') notSucceeded += 1;
        const r = row(at);
        const retries = Object.values(out.retries).reduce((a, b) => a + b, 0);
        r.retries += retries;
        if (envelope.attempt === 1) r.tasks += 1;
        if (out.status !== 'SUCCEEDED') r.spooled += 1;
        else if (envelope.attempt > 1) r.replayed += 1;
        if (maintenance) {
          windowExecutions += 1;
          for (const [state, n] of Object.entries(out.retries)) if (dependentStates.has(state)) windowRetries += n;
        }
      });
      await Promise.all(background.splice(0, background.length));
    }
  };

  /**
   * Asynchronous Invokes the Lambda stand-in accepted (reprocess's re-invokes), waiting for Lambda
   * to run them. The stand-in is the Invoke API only (202 at once): what Lambda then does with the
   * event is the same model Scheduler's invocations go through (lambda-async.ts: retries 1 and 2
   * simulated minutes later, the record to the template's on-failure destination), so the re-invoke
   * keeps the simulated clock, and it runs only when `runAcceptedInvocations` lets it, never in the
   * middle of the reprocess call that invoked it (handlers share this process's environment).
   */
  const accepted: Array<{ label: string; functionId: string; event: unknown }> = [];
  // The functions reprocess resolves from its template environment (INVOCABLE_FUNCTIONS +
  // FUNCTION_ARN_PREFIX, read by its own env reader), each served under its name when the run has
  // its handler (the producers, the status-change capture); any other answers 404 as an unknown
  // function, and reprocess leaves its record (`failed`).
  for (const [label, arn] of readReprocessEnv(envFor(reprocessFn)).invocableFunctions) {
    const functionId = [...model.entries.keys()].find((id) => functionArn(id) === arn);
    if (!functionId) continue;
    invocable[arn.split(':')[6]] = {
      load: async () => async (event) => void accepted.push({ label, functionId, event }),
      environment: {},
      // The hand-off never fails; Lambda's retries are the model's (above).
      retryAttempts: 0,
    };
  }

  const asyncInvoker = new AsyncInvoker({
    timeline,
    now: () => clock.now(),
    config: asyncConfig,
    functionArn,
    invoke: invokeWithEnv,
    settle: () => settle(),
    deliverTwice: (functionId, event) => awsFaults.asyncTwice(functionId, asyncEventKey(event)),
    keep: async (queueId, record) => {
      await runSqs.send(new SendMessageCommand({ QueueUrl: queueUrls.get(queueId)!, MessageBody: JSON.stringify(record) }));
    },
    onAttempt: (inv, result) => {
      if (!rules.some((r) => r.targetFunction === inv.functionId)) return;
      if (result.ok) captures.push(result.value as CaptureResult);
      else if (inv.attempts > asyncConfig(inv.functionId).retryAttempts) captureFailures += 1;
    },
  });

  /**
   * EventBridge: each queued status change the synthesized rule matches goes to its target,
   * asynchronously. The capture starts nothing, so nothing needs to settle after it.
   */
  const deliverStatusChanges = async (): Promise<void> => {
    for (const ev of statusEvents.splice(0, statusEvents.length)) {
      for (const rule of rules) {
        if (!matchesEventPattern(rule.pattern, ev)) continue;
        // Best effort (aws-faults.ts): dropped, late (on the timeline) or twice.
        await dispatchStatusEvent(
          awsFaults,
          ev,
          async (x) => void (await asyncInvoker.invoke(rule.targetFunction, x, async () => undefined)),
          (minutes, label, run) => timeline.at(new Date(clock.now().getTime() + minutes * 60_000), label, run),
        );
      }
    }
  };

  /** Runs everything the last action started: tick batches, executions, status changes, captures. */
  async function settle(): Promise<void> {
    for (let round = 0; round < 1000; round++) {
      await drainTickQueues();
      await runPending();
      if (statusEvents.length === 0) return;
      await deliverStatusChanges();
      if (pending.length === 0 && statusEvents.length === 0) return;
    }
    throw new Error('the run did not settle after 1000 rounds');
  }

  /** Lambda runs the invocations it accepted (each settles what it started); resolves with them. */
  const runAcceptedInvocations = async (): Promise<AcceptedInvocation[]> => {
    await lambdaEndpoint.idle();
    const ran: AcceptedInvocation[] = [];
    for (const a of accepted.splice(0, accepted.length)) ran.push({ label: a.label, invocation: await asyncInvoker.invoke(a.functionId, a.event) });
    return ran;
  };

  const spoolDepth = async (): Promise<number> => {
    const out = await runSqs.send(new GetQueueAttributesCommand({ QueueUrl: spoolUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
  };

  // ---- the operator: replays what a retry (or the dependency's return) can fix.
  const replayable = [
    ...new Set([
      ...config.jobs.flatMap((j) => lambdaStepsOf(j).flatMap((s) => s.retry.retryableErrors)),
      'States.Timeout',
      'DependencyOnHold',
      'ExecutionAborted',
      'ExecutionTimedOut',
    ]),
  ];
  operator = withOperator
    ? new Operator({
        now: () => clock.now(),
        localTime: (at) => localMinuteText(at, tz),
        progress,
        ddb: dynamo.client,
        coordinationTable: tableIds(model).coordination,
        sfn: runSfn,
        spoolErrors: async () => {
          const waiting = new Map<string, number>();
          for (const m of (await sqsEmulator.inspectQueue(spoolName)).all) {
            const e = m.attributes[SPOOL_ATTR_ERROR] ?? '';
            waiting.set(e, (waiting.get(e) ?? 0) + 1);
          }
          return waiting;
        },
        failedInvocationsWaiting: async () => (failedInvocationsName ? (await sqsEmulator.inspectQueue(failedInvocationsName)).all.length : 0),
        reprocess: async (payload) => (await invokeWithEnv(reprocessFn, payload)) as ReprocessResult,
        runAcceptedInvocations,
        settle,
        replayable,
      })
    : undefined;
  let holdOn = false;
  /** The operator's round after a window or at the end: never into maintenance (each replay would fail again and spend the task's replay budget). */
  const operatorRound = async (): Promise<void> => {
    if (!operator) return;
    await operator.rerunFailedInvocations();
    if (inMaintenance(plan, clock.now(), tz)) {
      progress('  the API is in maintenance: the operator waits, nothing replayed');
      return;
    }
    if (holdOn) {
      for (const d of heldDependencies) await operator.unhold(d);
      holdOn = false;
    }
    await operator.replay();
  };
  // The producer's fix is deployed when its broken period ends; the operator then re-runs the failed
  // ticks through reprocess (docs/runbook.md, "Re-run a failed invocation").
  if (operator && plan.producerFailAt !== null) {
    const [h, m] = plan.producerFailAt.split(':').map(Number);
    for (let day = localDay(from, tz); localMidnight(day, tz).getTime() < to.getTime(); day = nextDay(day)) {
      const fixAt = new Date(localMidnight(day, tz).getTime() + (h * 60 + m + plan.producerFailMinutes) * 60_000);
      if (fixAt.getTime() <= to.getTime()) {
        timeline.at(fixAt, 'producer fix deployed: re-run the failed ticks', async () => {
          progress(`${localMinuteText(clock.now(), tz)} the producer's fix is deployed: the operator re-runs the failed ticks`);
          await operator!.rerunFailedInvocations();
        });
      }
    }
  }

  // The operator's reconciler, when the app has one (reconciler-hook.ts): Scheduler invokes it
  // asynchronously every period; whatever it captures settles like any invocation.
  const reconcilerModel = findReconciler(model, options.projectRoot);
  let reconcilerRuns = 0;
  if (reconcilerModel && options.reconciler !== false) {
    for (const at of reconcileTimes(from, to, reconcilerModel.everyMinutes)) {
      timeline.at(at, 'reconciler', async () => {
        reconcilerRuns += 1;
        await asyncInvoker.invoke(reconcilerModel.functionId, JSON.parse(reconcilerModel.input));
      });
    }
  }

  // ---- the simulated day(s)
  clock.install();
  let lastHour = '';
  let wasInMaintenance = false;
  try {
    progress(
      `simulating ${localDay(from, tz)} 00:00 to ${localHour(to, tz)}:00 ${tz}: ${tickPlan.length} ticks, faults ${profile}, seed ${seed}, hold ${holdMode}` +
        (plan.maintenance ? ` (API maintenance ${hhmm(plan.maintenance.startMinute)}-${hhmm(plan.maintenance.endMinute)})` : ''),
    );
    for (const tick of tickPlan) {
      await timeline.runDue(tick.at);
      clock.set(tick.at);
      firehose.flushDue();
      const maintenance = inMaintenance(plan, tick.at, tz);
      if (maintenance && !wasInMaintenance && holdMode === 'operator' && operator) {
        progress(`${localMinuteText(tick.at, tz)} the API's maintenance window starts: the operator holds ${heldDependencies.join(', ')}`);
        for (const d of heldDependencies) await operator.hold(d, 'planned API maintenance');
        holdOn = true;
      }
      if (wasInMaintenance && !maintenance) {
        progress(`${localMinuteText(tick.at, tz)} the API is back: the operator ${holdOn ? 'releases the hold and ' : ''}replays the spool`);
        await operatorRound();
      }
      wasInMaintenance = maintenance;
      const r = row(tick.at);
      r.held ||= holdOn || heldDependencies.some((d) => activeWindow(windowsOf[d] ?? [], tick.at, tz) !== null);
      // EventBridge Scheduler invokes the producer asynchronously (its failures: Lambda's retries).
      await asyncInvoker.invoke(tick.fn, JSON.parse(tick.input));
      // Scheduler delivers at least once: sometimes the same tick twice.
      if (awsFaults.schedulerTwice(tick.fn, tick.input)) await asyncInvoker.invoke(tick.fn, JSON.parse(tick.input));
      r.spoolDepth = await spoolDepth();
      const hour = localHour(tick.at, tz);
      if (hour !== lastHour) {
        lastHour = hour;
        progress(`${hour}:00 ${maintenance ? `[API maintenance${r.held ? ', held' : ''}] ` : ''}executions ${outcomes.size}, not succeeded ${notSucceeded}, spool depth ${r.spoolDepth}`);
      }
    }
    await timeline.runDue(to);
    clock.set(to);
    progress(`end of the simulated period: ${operator ? 'final replay' : 'no operator'}`);
    await operatorRound();
    // A stopped or timed-out execution's step Lambda runs to its own end: wait for it, and for
    // whatever its late status changes and side effects start.
    await sideEffects.idle();
    await settle();
    // Late status changes (and what they start) arrive after the period: let them.
    await timeline.runDue(new Date(clock.now().getTime() + (2 * awsFaults.rates.eventLateMinutes + 1) * 60_000));
    // Let Firehose deliver what it holds (its buffer interval passes).
    clock.set(new Date(to.getTime() + bufferSeconds * 1000));
    firehose.flushAll();
    await canary?.snapshot({
      dynamo: dynamo.client,
      // The step records are inside the lock (params key): counted there, not searched as a sink outside.
      tables: tables.filter((t) => t !== tableIds(model).stepResults),
      insideTables: [tableIds(model).stepResults],
      sqs: sqsEmulator,
      queueNames: [...queueUrls.values()].map((u) => u.split('/').pop()!),
      executions: [...outcomes.values()],
      events: asyncInvoker.invocations.map((i) => ({ functionId: i.functionId, event: i.event })),
    });
  } catch (e) {
    canary?.stop();
    // Do not leave the emulator's worker thread running (a test process would hang on it).
    await sqsEmulator.stop().catch(() => undefined);
    throw e;
  } finally {
    unobserveSideEffects();
    clock.uninstall();
    await dynamo.stop();
    await api.close();
    await sfnEndpoint.stop();
    firehoseDiscarded = [...firehose.discarded.values()].reduce((a, b) => a + b, 0);
    firehoseRetrying = firehose.retrying();
    await firehose.close();
    await kms.stop();
    await lambdaEndpoint.stop();
    await stubs.stop();
  }

  // ---- the report
  const spoolSnapshot = await sqsEmulator.inspectQueue(spoolName);
  const quarantineSnapshot = await sqsEmulator.inspectQueue(quarantineUrl.split('/').pop()!);
  const failedInvocationsLeft = failedInvocationsName ? (await sqsEmulator.inspectQueue(failedInvocationsName)).all.length : 0;
  await sqsEmulator.stop();
  runSqs.destroy();
  runSfn.destroy();
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);

  const spooledTasks = new Map<string, string>();
  for (const m of spoolSnapshot.all) {
    try {
      const body = JSON.parse(m.body) as { taskId?: string; error?: string };
      if (body.taskId) spooledTasks.set(body.taskId, body.error ?? 'Unknown');
    } catch {
      spooledTasks.set(`malformed-${spooledTasks.size}`, 'Malformed');
    }
  }
  const quarantinedTasks = new Set<string>();
  for (const m of quarantineSnapshot.all) {
    try {
      const body = JSON.parse(m.body) as { taskId?: string; original?: { taskId?: string } };
      quarantinedTasks.add(body.taskId ?? body.original?.taskId ?? `q-${quarantinedTasks.size}`);
    } catch {
      quarantinedTasks.add(`q-${quarantinedTasks.size}`);
    }
  }

  // The parameter log as written.
  const files = listFiles(options.outDir).filter((f) => f.endsWith('.gz'));
  const filesPerPartition: Record<string, number> = {};
  const client: ParamLogRecord[] = [];
  const worker: ParamLogRecord[] = [];
  for (const f of files) {
    const rel = relative(options.outDir, f).split(/[\\/]/);
    const partition = rel.slice(0, -1).join('/');
    filesPerPartition[partition] = (filesPerPartition[partition] ?? 0) + 1;
    const recs = parseJsonLines(gunzipSync(readFileSync(f)).toString('utf8'));
    (rel[0] === 'client' ? client : worker).push(...recs);
  }

  const executions: ExecutionSeen[] = [...outcomes.values()];
  const books = keepBooks({
    jobs: config.jobs.map((j) => j.name),
    ticks: ticksByJob,
    client,
    worker,
    executions,
    spooled: spooledTasks,
    quarantined: quarantinedTasks,
    starts,
    captures,
  });
  const total = books.total;
  total.duplicates += sfnEndpoint.counters.duplicates;

  // Failed ticks: every producer invocation with a failed attempt, and its tasks' starts.
  const startsOfTick = new Map<string, Map<string, number>>();
  for (const r of client) {
    if (r.result !== 'Started') continue;
    const k = `${r.module}|${Date.parse(r.scheduled_time)}`;
    const m = startsOfTick.get(k) ?? new Map<string, number>();
    m.set(r.task_id, (m.get(r.task_id) ?? 0) + 1);
    startsOfTick.set(k, m);
  }
  const producerIds = new Set(producerOf.values());
  const failedTicks: FailedTick[] = asyncInvoker.invocations
    .filter((inv) => producerIds.has(inv.functionId) && inv.errors.length > 0)
    .map((inv) => {
      const job = jobOfFunction.get(inv.functionId)!;
      const tick = String((inv.event as { scheduledTime?: unknown }).scheduledTime ?? '');
      const counts = [...(startsOfTick.get(`${job}|${Date.parse(tick)}`)?.values() ?? [])];
      const rerun = operator?.reruns.find((x) => x.functionId === inv.functionId && x.tick === tick) ?? null;
      const injected = job === API_JOB && tick !== '' && producerBroken(plan, new Date(tick), tz);
      return { job, tick, attempts: inv.attempts, outcome: inv.outcome, rerun, startedOnce: counts.filter((n) => n === 1).length, startedTwice: counts.filter((n) => n > 1).length, injected, errors: [...inv.errors] };
    });
  for (const t of failedTicks) total.duplicates += t.startedTwice;
  const captureOutcomes: Record<string, number> = {};
  for (const c of captures) captureOutcomes[c.outcome] = (captureOutcomes[c.outcome] ?? 0) + 1;

  // The saved Athena queries, on DuckDB over the folder.
  progress('running the saved Athena queries on DuckDB over the output folder ...');
  const days: string[] = [];
  for (let d = localDay(from, tz); d <= localDay(new Date(to.getTime() - 1), tz); d = nextDay(d)) days.push(d);
  const db = await ParamLogDb.open(options.outDir);
  let lostTasksByDay: Array<{ day: string; lost: number }>;
  /** Tasks the lost-task monitor's query lists (users-feel.ts: a lost task it lists is not hidden). */
  const monitored = new Set<string>();
  let dailyCounts: Array<Record<string, unknown>>;
  try {
    lostTasksByDay = [];
    for (const day of days) {
      const [r] = await db.query(LOST_TASK_COUNT_SQL, lostTaskParams(day));
      lostTasksByDay.push({ day, lost: Number(r?.lost ?? 0) });
    }
    dailyCounts = await db.query(DAILY_COUNTS.sql, [days[0], nextDay(days[days.length - 1])]);
    for (const day of days) for (const r of await db.query(LOST_TASKS.sql, lostTaskParams(day))) monitored.add(String(r.task_id));
  } finally {
    db.close();
  }

  const hourRows = [...hourly.values()].sort((a, b) => a.hour.localeCompare(b.hour));
  // Spool depth is sampled at ticks; carry it through hours without ticks.
  for (let i = 1; i < hourRows.length; i++) if (hourRows[i].tasks === 0 && hourRows[i].spoolDepth === 0) hourRows[i].spoolDepth = hourRows[i - 1].spoolDepth;

  const report: OfflineReport = {
    from: from.toISOString(),
    to: to.toISOString(),
    timeZone: tz,
    seed,
    faults: profile,
    hold: holdMode,
    plan,
    wallMs: Date.now() - wallStart,
    ticks: tickPlan.length,
    tasks: total.tasks,
    executions: total.executions,
    succeededFirstTry: total.succeededFirstTry,
    recoveredByRetry: total.recoveredByRetry,
    retries: total.retries,
    spooledByError: total.spooledByError,
    replayed: total.replayed,
    replayRounds: operator?.replayRounds ?? [],
    stillSpooled: total.stillSpooled,
    quarantined: total.quarantined,
    lost: total.lost,
    lostTaskIds: total.lostTaskIds,
    duplicates: total.duplicates,
    startFailed: total.startFailed,
    jobs: books.perJob,
    window: plan.maintenance
      ? {
          dependencies: heldDependencies,
          window: `${hhmm(plan.maintenance.startMinute)}-${hhmm(plan.maintenance.endMinute)}`,
          hold: holdMode,
          callsIntoWindow: api.stats.maintenance,
          retriesDuringWindow: windowRetries,
          executionsInWindow: windowExecutions,
          heldHours: hourRows.filter((h) => h.held).length,
        }
      : null,
    outside: {
      stopped: operator?.stops.length ?? 0,
      aborted: total.aborted,
      timedOut: total.timedOut,
      captures: captureOutcomes,
      captureFailures,
      failedTicks,
      producerErrors: failedTicks.length,
      failedInvocationsLeft,
    },
    operator: { holds: operator?.holdChanges ?? [], stops: operator?.stops ?? [], failedInvocationRuns: operator?.failedInvocationRuns ?? [], reruns: operator?.reruns ?? [] },
    records: { client: client.length, worker: worker.length },
    filesPerPartition,
    queries: { lostTasksByDay, dailyCounts },
    api: { ...api.stats },
    hourly: hourRows,
    // An Invoke reprocess made that Lambda never ran would be a tick silently dropped: it shows here.
    unfinished: [...timeline.pending(), ...accepted.map((a) => `accepted invoke of ${a.label} never run`)],
    stubs: stubs.stats(),
    world: {
      profile: awsFaults.world,
      counts: awsFaults.counts,
      reconciler: !reconcilerModel ? 'absent' : options.reconciler === false ? 'off' : 'ran',
      reconcilerRuns,
      paramLog: { discarded: firehoseDiscarded, retrying: firehoseRetrying },
    },
    usersFeel: {
      ...usersFeel({
        executions,
        neverEnded: pending.map((e) => parseEnvelope(JSON.parse(e.input)).taskId),
        spooled: spooledTasks,
        quarantined: quarantinedTasks,
        droppedTicks: failedTicks.filter((t) => t.outcome === 'dropped').map((t) => `${t.job}|${t.tick}`),
        monitored,
        duplicatedSideEffects: sideEffects.summary().duplicated,
      }),
      sideEffects: sideEffects.summary(),
    },
    simulatedRetryWaitSeconds: Math.round(retryWaitSeconds),
  };
  // The report is what the operator reads (report.json, the text): searched for the canary too.
  return canary ? { ...report, canary: canary.finish(report) } : report;
}
