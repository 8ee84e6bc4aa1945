/**
 * The fault matrix's world: the app of the test fixture config (test/support/fixture-config.ts, every job) synthesized in-process and
 * run on the local engines, so that every fault can be followed from where it happens to where the
 * task ends. Nothing here re-describes the app; each piece comes from the template or is the
 * project's own code:
 *
 * - state machines: the synthesized definitions (local/offline-day/app-model.ts) run by
 *   aws-local-stepfunctions (local/run-state-machine.ts) when the Step Functions stand-in
 *   (local/sfn-standin.ts) accepts a StartExecution; the stand-in records their history, serves
 *   Stop/Describe/Redrive/GetExecutionHistory and emits their status changes;
 * - Lambdas: the REAL handler modules named by the template (steps, lock, worker record, producer
 *   runtime, starter, status-change capture, reprocess, sweeper), each function loaded in its own
 *   module registry (its own "container") with exactly the environment the template gives it
 *   (references resolved to the local services), reaching AWS only through their SDK clients;
 * - AWS services: fauxqs (SQS: every queue of the template), dynalite (every table of the template: coordination, step results), the
 *   Firehose stand-in (the parameter log as gzip JSON lines in the bucket layout), DuckDB for the
 *   saved queries; SQS and Firehose through a fault proxy (./fault-proxy.ts) so a case can make an
 *   API call fail where production code makes it;
 * - deliveries AWS makes: the tick queue's event source (local/sqs-esm.ts), EventBridge's rule on
 *   execution status changes (the synthesized pattern) invoking the capture, Lambda's asynchronous
 *   retries and on-failure destinations (./async-invoke.ts, from the template's EventInvokeConfig);
 * - Lambda's Invoke API, for what reprocess's recovery routines invoke (a tick re-run, a re-run of a
 *   failed invocation): the Lambda stand-in (local/lambda-standin.ts) serving the producers;
 * - the example's external orders API: ./scripted-api.ts.
 *
 * Time compression (and only that): Retry waits are skipped (retries still happen, with their
 * MaxAttempts). Timeouts are the synthesized ones (so a slow machine never times a step out by
 * accident), except in an execution a case compresses ({@link ExecutionOverride.timeScale}): there
 * Task `TimeoutSeconds` and the Lambda timeouts the steps see are scaled together, so "the handler's
 * deadline, then the Lambda's timeout, then the state's timeout" keeps its order while a step
 * timeout costs a second or two instead of minutes.
 */
import { GetItemCommand, ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { RedriveExecutionCommand, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { ChangeMessageVisibilityCommand, MessageAttributeValue, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { CfnElement } from 'aws-cdk-lib';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fixtureConfig } from '../support/fixture-config';
import { AppConfig, ResolvedAppConfig } from '../../lib/config/types';
import { resolveConfig } from '../../lib/config/validate';
import type { CaptureResult } from '../../lambdas/execution-capture/logic';
import type { ReprocessPayload } from '../../lambdas/reprocess/payload';
import type { ReprocessSummary } from '../../lambdas/reprocess/drain';
import type { FailedInvocationsSummary } from '../../lambdas/reprocess/failed-invocations';
import type { TickRunSummary } from '../../lambdas/reprocess/tick';
import type { SweepSummary } from '../../lambdas/sweeper/logic';
import { parseEnvelope, TaskEnvelope } from '../../lambdas/shared/envelope';
import { TABLE_KEY_ATTR } from '../../lambdas/shared/holds';
import { writeSwitch } from '../../cli/holds';
import { jsonBytes, STATE_PAYLOAD_MAX_BYTES } from '../../lambdas/shared/limits';
import { taskIdFor } from '../../lambdas/shared/names';
import { ParamLogRecord, parseJsonLines } from '../../lambdas/shared/param-log';
import { LOST_TASK_COUNT_SQL, lostTaskParams } from '../../lambdas/shared/queries';
import { SpoolMessage } from '../../lambdas/shared/spool-message';
import type { TaskSpec, TickSummary } from '../../lambdas/producer/logic';
import { AslDefinition, resolveIntrinsics } from '../../local/asl';
import { startLocalDynamo } from '../../local/dynamodb-local';
import { ParamLogDb } from '../../local/duckdb-sql';
import { startFirehoseStandin } from '../../local/firehose-standin';
import { startKmsStandin } from '../../local/kms-standin';
import { verifiedLostTasksOf } from '../../local/verified-lost-tasks';
import { lockKey } from '../../lambdas/shared/locks';
import type { JsonValue } from '../../lambdas/shared/json';
import { LambdaStandin, StandinFunction, StandinHandler, startLambdaStandin } from '../../local/lambda-standin';
import { functionEnvironment, LOCAL_ACCOUNT, placeholderRef, RefResolver, stateMachineDefinition, synthesizeApp, SynthesizedApp } from '../../local/offline-day/app-model';
import { CanaryRecorder, CanaryReport } from '../../local/offline-day/canary';
import { SimClock } from '../../local/offline-day/sim-clock';
import { createLocalRunner, EngineEvent, LAMBDA_INVOKE, LocalLambda, LocalRunResult, taskStatesOf } from '../../local/run-state-machine';
import { SfnStandin, StandinExecution, startSfnStandin, statusChangeEvent } from '../../local/sfn-standin';
import { startSqsEmulator } from '../../local/sqs-emulator';
import { driveEventSource, EsmRun } from '../../local/sqs-esm';
import { matchesEventPattern } from '../support/event-pattern';
import { asyncConfigOf, AsyncInvokeResult, invokeAsync } from './async-invoke';
import { FaultProxy, startFaultProxy } from './fault-proxy';
import { simulatedRetryWaits, withForgetfulTickLedger, withoutCaptureMarks, withoutLedgerLeases, withRandomExecutionNames } from './aws-switches';
import { ScriptedApi, startScriptedApi } from './scripted-api';
import { FM_CANARY } from './specs';
import { SideEffectLedger } from '../../local/side-effects';
import { STEP_ENV } from '../../lambdas/shared/workflow-contract';

/**
 * `FAULT_MATRIX_STEP_RECORDS=off` runs the world with the step wrapper WITHOUT its records
 * (idempotent steps): the side-effect rows must then fail (docs/fault-matrix.md says which).
 */
export const STEP_RECORDS_OFF = process.env.FAULT_MATRIX_STEP_RECORDS === 'off';
/** `FAULT_MATRIX_RECONCILER=off`: the app's reconciler is not run ({@link World.reconcile} does nothing), as if it were not deployed. */
export const RECONCILER_OFF = process.env.FAULT_MATRIX_RECONCILER === 'off';
/** `FAULT_MATRIX_CAPTURE_MARKS=off`: the capture and the reconciler run without their capture marks (./aws-switches.ts). */
export const CAPTURE_MARKS_OFF = process.env.FAULT_MATRIX_CAPTURE_MARKS === 'off';
/** `FAULT_MATRIX_DETERMINISTIC_NAMES=off`: execution names get a random part (./aws-switches.ts). */
export const DETERMINISTIC_NAMES_OFF = process.env.FAULT_MATRIX_DETERMINISTIC_NAMES === 'off';
/** `FAULT_MATRIX_TICK_LEDGER=off`: a tick ledger that forgets between deliveries (./aws-switches.ts). */
export const TICK_LEDGER_OFF = process.env.FAULT_MATRIX_TICK_LEDGER === 'off';
/** `FAULT_MATRIX_LEDGER_LEASES=off`: the tick ledger's leases hold no other invocation off (./aws-switches.ts). */
export const LEDGER_LEASES_OFF = process.env.FAULT_MATRIX_LEDGER_LEASES === 'off';

/** The time compression cases use for an execution whose step must time out (see ExecutionOverride.timeScale). */
export const TIME_SCALE = 0.05;
/** A compressed state timeout never goes below this (a real handler call must fit with room to spare). */
const MIN_STATE_TIMEOUT_S = 2;
export const REGION = 'us-east-1';
const ROOT = resolve(__dirname, '..', '..');

type Resources = SynthesizedApp['template']['Resources'];
type Handler = (event: unknown, context: unknown) => Promise<unknown>;

/** A step call as a fault sees it: the payload, the real handler, and where it runs. */
export interface StepCall {
  readonly state: string;
  readonly payload: { task: TaskEnvelope; previous: unknown; index?: number } & Record<string, unknown>;
  readonly task: TaskEnvelope;
  readonly executionArn: string;
  /** Calls the real handler (the function the template names) with this payload. */
  real(): Promise<unknown>;
}

/** A fault on a Lambda state: replaces the call for the tasks it matches. */
export interface StepFault {
  readonly state: string;
  /** Only this task (id). @default every task */
  readonly task?: string;
  /** Only this attempt of the task. @default every attempt */
  readonly attempt?: number;
  readonly handle: (call: StepCall) => unknown;
}

/** What a case may change about one execution before it runs. */
export interface ExecutionOverride {
  /** A transformed definition (e.g. a short execution timeout). */
  readonly definition?: (d: AslDefinition) => AslDefinition;
  /** Scale Task TimeoutSeconds and the steps' Lambda timeouts together by this. @default 1 (as synthesized) */
  readonly timeScale?: number;
  /** End the execution FAILED (States.Runtime, outside any Catch) once its recorded history holds more events than this (the 25,000-event quota, scaled: ./aws-world.test.ts). */
  readonly historyLimit?: number;
  /** Run the synthesized Retry waits (backoff, cap, jitter) on a simulated clock: each wait is reported here, not slept. */
  readonly retryWaits?: (ms: number) => void;
}

/** One spooled or quarantined message as fauxqs holds it. */
export interface QueuedMessage {
  readonly raw: string;
  readonly body: SpoolMessage | null;
  readonly attributes: Record<string, string>;
}

export interface World {
  readonly config: ResolvedAppConfig;
  readonly model: SynthesizedApp;
  readonly sfn: SfnStandin;
  readonly api: ScriptedApi;
  /**
   * Side effects as users count them: the example steps' own (lambdas/shared/side-effects.ts) and
   * orders the API accepted, per (task, step, map item / branch) key.
   */
  readonly sideEffects: SideEffectLedger;
  /** Faults at the SQS API (every handler's SQS calls and the workflow's SpoolFailure go through it). */
  readonly sqsFaults: FaultProxy;
  /** Faults at the Firehose API. */
  readonly firehoseFaults: FaultProxy;
  /** A client of the local SQS (through the proxy, like the handlers'). */
  readonly sqs: SQSClient;
  /** Queue URLs (as the handlers see them) and fauxqs names. */
  readonly queues: Readonly<Record<'spool' | 'quarantine' | 'failedInvocations' | 'tick', { url: string; name: string }>>;
  readonly stateMachines: ReadonlyMap<string, string>;
  /** The job's definition as synthesized (the world runs it). */
  definition(job: string): AslDefinition;
  /** A function's environment as the template gives it (references resolved to the local services). */
  functionEnv(id: string): Readonly<Record<string, string>>;
  /** Logical ids of the functions the cases invoke. */
  readonly functions: { readonly reprocess: string; readonly capture: string; readonly sweeper: string; readonly reconciler: string; readonly starter: string; producer(job: string): string; step(job: string, step: string): string };

  /**
   * A tick of `job` through the real producer runtime (the schedule's asynchronous invoke) and the
   * starters (event source). `specs` is what the job's producer returns from now on (see {@link produce}).
   */
  tick(job: string, specs: ReadonlyArray<TaskSpec>, opts?: { scheduledTime?: Date; drain?: boolean; retryAfterSeconds?: number }): Promise<TickRun>;
  /** What the job's deployed producer returns from now on, whoever invokes it (a fix deployed). */
  produce(job: string, specs: ReadonlyArray<TaskSpec>): void;
  /** Resolves when every asynchronous invoke accepted by the Lambda stand-in has run (with its retries and on-failure record). */
  idle(): Promise<void>;
  /** Invocations the Lambda stand-in received (reprocess's invokes of the producers), in order. */
  readonly lambdaInvocations: LambdaStandin['invocations'];
  /** The tick queue's event source until the queue is empty. */
  drainTicks(opts?: { retryAfterSeconds?: number; redeliver?: (m: { Body?: string }) => boolean }): Promise<EsmRun>;
  /** The schedule's (or Lambda's repeated) asynchronous invoke of a job's producer with this event. */
  invokeProducer(job: string, event: unknown): Promise<AsyncInvokeResult<TickSummary>>;
  /**
   * What EventBridge does with each status change from now on (best effort: AWS EventBridge events
   * reference, "Step Functions events"): `drop` never delivers it, `late` keeps it for {@link deliverLate},
   * `twice` delivers it twice. @default once
   */
  onStatusEvent(fate: ((ev: { detail: { executionArn: string; status: string } }) => 'drop' | 'late' | 'twice' | 'once') | null): void;
  /** Delivers the late status changes now (each `copies` times) to the capture; returns the captures' results. */
  deliverLate(copies?: number): Promise<Array<AsyncInvokeResult<CaptureResult>>>;
  /** One run of the app's real reconciler (its schedule's invoke); null when FAULT_MATRIX_RECONCILER=off. */
  reconcile(): Promise<unknown>;
  /** The parameter log's Firehose stand-in: its bucket can refuse deliveries, and its clock can move on. */
  readonly paramLogDelivery: { bucketDown(down: boolean): void; advance(ms: number): void; flush(): void; readonly discarded: ReadonlyMap<string, number> };
  /** Runs every started execution to its end and delivers status changes to the capture, until quiet. */
  settle(): Promise<void>;
  /** The real reprocess handler (an operator's invoke), in the function's container or a new one; the summary of the payload's source. */
  reprocess(payload: ReprocessPayload & { source: 'failedInvocations' }, opts?: { container?: string }): Promise<FailedInvocationsSummary>;
  reprocess(payload: ReprocessPayload & { source: 'tick' }, opts?: { container?: string }): Promise<TickRunSummary>;
  reprocess(payload: ReprocessPayload, opts?: { container?: string }): Promise<ReprocessSummary>;
  /** The real sweeper handler over the given queues of its configuration, at `at` (a simulated clock). */
  sweep(only: ReadonlyArray<'spool' | 'quarantine' | 'failedInvocations'>, at: Date): Promise<SweepSummary>;
  /** StopExecution, as an operator in the console. */
  stop(executionArn: string, error: string, cause: string): Promise<void>;
  /** RedriveExecution, as an operator in the console; the redriven run is started by {@link runRedriven}. */
  redrive(executionArn: string): Promise<void>;
  /** Runs a redriven execution: the engine enters the unsuccessful state with its input (see the test). */
  runRedriven(executionArn: string, resume: { step: string; input: unknown }): Promise<StandinExecution>;
  /** The operator's hold switch, written as the CLI's `scheduled-jobs hold` / `unhold` write it. */
  hold(dependency: string): Promise<void>;
  unhold(dependency: string): Promise<void>;
  /** Adds a step fault; returns its removal. */
  onStep(fault: StepFault): () => void;
  /** Overrides the next execution of this task and attempt. */
  onExecution(taskId: string, attempt: number, override: ExecutionOverride): void;
  /** A new container of a function at its next call (a cold start: module-scope caches start empty). */
  coldStart(functionId: string): void;
  /** A deploy of a changed config: new definitions, environments and functions; same state machines. */
  deploy(edit: (c: AppConfig) => AppConfig): void;

  executionsOf(taskId: string): StandinExecution[];
  /** Lambda calls a state made for a task (every attempt and retry; faults included). */
  calls(state: string, taskId: string): number;
  /** The partition key of an exclusive-key lock, as the lock function names it (HMAC with the stack's lock-key key, served by the world's KMS stand-in). */
  lockKeyOf(job: string, params: JsonValue, field: string): Promise<string>;
  /** An item of the coordination table (locks, holds, tick ledger), or null. */
  coordinationItem(pk: string): Promise<Record<string, unknown> | null>;
  /**
   * Time passes for the locks kept after an execution ended in a step (lambdas/shared/locks.ts,
   * leaseLock): their step Lambdas' timeouts are over. The world compresses waits, not the clock,
   * so the kept locks' expiry is moved to now. Returns how many.
   */
  passLockLeases(): Promise<number>;
  /** How many times each execution name was created (must never pass 1). */
  readonly starts: ReadonlyMap<string, number>;
  spool(): Promise<QueuedMessage[]>;
  quarantine(): Promise<QueuedMessage[]>;
  failedInvocations(): Promise<Array<Record<string, unknown>>>;
  /** Makes every in-flight message of a queue visible again (its visibility timeout passing). */
  expireVisibility(queue: 'spool', receiptHandles: ReadonlyArray<string>): Promise<void>;
  workerRecords(): ParamLogRecord[];
  clientRecords(): ParamLogRecord[];
  /** The saved lost-task query (LOST_TASK_COUNT_SQL) on DuckDB over the parameter log, per day of the client records; throws unless every record verifies and the monitor's verified count agrees. */
  lostTasks(): Promise<number>;
  /** Captures that failed (a case that expects none asserts this is empty). */
  readonly captureFailures: Array<AsyncInvokeResult<CaptureResult>>;
  /**
   * Stops recording and searches what every function wrote since the world started (its log lines,
   * the runtime's line for each uncaught error, the errors' traces and task failures) for the
   * specs' canary ({@link FM_CANARY}, in every case's params): local/offline-day/canary.ts.
   */
  canary(): CanaryReport;
  close(): Promise<void>;
}

export interface TickRun {
  readonly scheduledTime: Date;
  /** Task ids of the specs, in order (whether accepted or rejected). */
  readonly taskIds: string[];
  readonly producer: AsyncInvokeResult<TickSummary>;
  readonly esm: EsmRun | null;
}

const logicalIdOf = (model: SynthesizedApp, c: { node: { defaultChild?: unknown } }): string => model.stack.getLogicalId(c.node.defaultChild as CfnElement);

/** The definition with every Task's TimeoutSeconds scaled (a copy). */
function compressed(definition: AslDefinition, scale: number): AslDefinition {
  const copy = JSON.parse(JSON.stringify(definition)) as AslDefinition;
  for (const [, state] of taskStatesOf(copy)) {
    const s = state as { TimeoutSeconds?: number };
    if (typeof s.TimeoutSeconds === 'number') s.TimeoutSeconds = Math.max(MIN_STATE_TIMEOUT_S, Math.round(s.TimeoutSeconds * scale));
  }
  return copy;
}

/** Starts the world (synth, services, handlers loaded with their environments). */
export async function startWorld(options: { edit?: (c: AppConfig) => AppConfig; stepRecords?: boolean } = {}): Promise<World> {
  const stepRecords = options.stepRecords ?? !STEP_RECORDS_OFF;
  if (CAPTURE_MARKS_OFF) withoutCaptureMarks();
  if (DETERMINISTIC_NAMES_OFF) withRandomExecutionNames();
  if (TICK_LEDGER_OFF) withForgetfulTickLedger();
  if (LEDGER_LEASES_OFF) withoutLedgerLeases();
  const sideEffects = new SideEffectLedger();
  const unobserve = sideEffects.observeSteps();
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const resolveApp = (edit: (c: AppConfig) => AppConfig) => resolveConfig(edit(fixtureConfig), { allJobs: true, fileExists: (p) => existsSync(join(ROOT, p)) });
  let config = resolveApp(options.edit ?? ((c) => c));
  let model = synthesizeApp(config, ROOT, REGION);
  const resources = (): Resources => model.template.Resources;
  const timeoutMsOf = (id: string): number => Number(resources()[id]?.Properties?.Timeout ?? 3) * 1000;

  // ---- services
  const outDir = mkdtempSync(join(tmpdir(), 'fault-matrix-'));
  // Every function runs as the Lambda runtime would run it (its uncaught errors logged): ./specs.ts's
  // canary rides in every case's params, and no line outside the lock may hold it.
  const canary = new CanaryRecorder(FM_CANARY, join(outDir, 'canary'));
  const pending: StandinExecution[] = [];
  const starts = new Map<string, number>();
  const statusChanges: Array<ReturnType<typeof statusChangeEvent>> = [];
  const [sqsEmu, dynamo, sfn, api] = await Promise.all([
    startSqsEmulator({ region: REGION }),
    startLocalDynamo(REGION),
    startSfnStandin({
      onStart: (e) => {
        starts.set(e.name, (starts.get(e.name) ?? 0) + 1);
        pending.push(e);
      },
      onStatusChange: (e) => void statusChanges.push(statusChangeEvent(e)),
    }),
    startScriptedApi(sideEffects),
  ]);
  const streams: Record<string, string> = {};
  for (const [id, r] of Object.entries(resources())) {
    if (r.Type !== 'AWS::KinesisFirehose::DeliveryStream') continue;
    const s3 = (r.Properties?.ExtendedS3DestinationConfiguration ?? {}) as { Prefix?: string };
    streams[id] = String(s3.Prefix ?? id).split('/')[0];
  }
  let firehoseSkewMs = 0;
  let bucketIsDown = false;
  const firehose = await startFirehoseStandin({ outDir, streams, timeZone: config.timeZone, now: () => new Date(Date.now() + firehoseSkewMs), bucketDown: () => bucketIsDown });
  const sqsFaults = await startFaultProxy(sqsEmu.port, { sqsQueueUrls: true });
  const firehoseFaults = await startFaultProxy(Number(new URL(firehose.endpoint).port));
  // KMS for the records' MACs and the lock keys' HMACs (the template's key ARNs are placeholders: any id is a key).
  const kms = await startKmsStandin();
  const sqsEndpoint = `http://sqs.${REGION}.localhost:${sqsFaults.port}`;

  const queueUrls = new Map<string, string>();
  const ref: RefResolver = (id, type, attribute) => {
    if (type === 'AWS::SQS::Queue' && attribute === undefined) return queueUrls.get(id)!;
    if (type === 'AWS::SQS::Queue' && attribute === 'Arn') return `arn:aws:sqs:${REGION}:${LOCAL_ACCOUNT}:${id}`;
    if (type === 'AWS::SQS::Queue' && attribute === 'QueueName') return id;
    return placeholderRef(REGION)(id, type, attribute);
  };
  // Every queue of the template with its retention, visibility and redrive policy (the sweeper reads
  // the live retention; the tick queue's dead-letter queue is real); dead-letter queues first.
  const queueIds = Object.entries(resources())
    .filter(([, r]) => r.Type === 'AWS::SQS::Queue')
    .sort(([, a], [, b]) => Number(a.Properties?.RedrivePolicy !== undefined) - Number(b.Properties?.RedrivePolicy !== undefined));
  for (const [id, r] of queueIds) {
    const p = (resolveIntrinsics(r.Properties ?? {}, resources() as never, ref, { region: REGION, account: LOCAL_ACCOUNT }) ?? {}) as Record<string, unknown>;
    const attributes: Record<string, string> = {};
    if (p.MessageRetentionPeriod !== undefined) attributes.MessageRetentionPeriod = String(p.MessageRetentionPeriod);
    if (p.VisibilityTimeout !== undefined) attributes.VisibilityTimeout = String(p.VisibilityTimeout);
    if (p.RedrivePolicy !== undefined) attributes.RedrivePolicy = JSON.stringify(p.RedrivePolicy);
    queueUrls.set(id, (await sqsEmu.createQueue(id, attributes)).replace(`:${sqsEmu.port}/`, `:${sqsFaults.port}/`));
  }
  for (const [id, r] of Object.entries(resources())) if (r.Type === 'AWS::DynamoDB::Table') await dynamo.createTable(id);

  // ---- Lambda's Invoke API, for reprocess's recovery routines: each job's producer under the name
  // reprocess resolves from its environment (INVOCABLE_FUNCTIONS + FUNCTION_ARN_PREFIX, both from
  // `ref`), running the producer runtime of the world's ticks (the case's current specs). A tick
  // re-run invokes it synchronously; a re-run of a failed invocation asynchronously, so Lambda's
  // retries and on-failure destination apply again: read from the template's EventInvokeConfig, as
  // for the schedule's invoke (./async-invoke.ts). The capture, the sweeper and the lost-task monitor
  // are not served (404): no case re-runs them.
  const lambda = await startLambdaStandin(
    REGION,
    Object.fromEntries(
      config.jobs.flatMap((j) => {
        const producer = model.stack.producers.get(j.name);
        if (!producer) return [];
        const id = logicalIdOf(model, producer.function);
        const dest = asyncConfigOf(model.template as never, id, ref(id, 'AWS::Lambda::Function', 'Arn'), (q) => queueUrls.get(q)!);
        const fn: StandinFunction = {
          load: async () => ((event, context) => runProducer(j.name, event, context)) as StandinHandler,
          // The world's withEnv gives the function its environment (runProducer), as for every other call.
          environment: {},
          timeoutMs: timeoutMsOf(id),
          retryAttempts: dest.retries,
          onFailure: dest.onFailureQueueUrl === null ? undefined : async (record) => void (await sqs.send(new SendMessageCommand({ QueueUrl: dest.onFailureQueueUrl!, MessageBody: JSON.stringify(record) }))),
        };
        return [[ref(id, 'AWS::Lambda::Function'), fn]];
      }),
    ),
    LOCAL_ACCOUNT,
  );

  // ---- the handlers' process environment: endpoints and fake credentials only (no "local" branch in production code)
  const savedEnv = { ...process.env };
  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL_SQS: sqsEndpoint,
    AWS_ENDPOINT_URL_SFN: sfn.endpoint,
    AWS_ENDPOINT_URL_FIREHOSE: `http://127.0.0.1:${firehoseFaults.port}`,
    AWS_ENDPOINT_URL_KMS: kms.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_LAMBDA: lambda.endpoint,
    // Every level and the metrics on: all the functions write is recorded (not shown) and searched
    // for the params canary (World.canary).
    POWERTOOLS_LOG_LEVEL: 'DEBUG',
    POWERTOOLS_METRICS_DISABLED: 'false',
    POWERTOOLS_TRACE_ENABLED: 'false',
  });
  delete process.env.AWS_PROFILE;
  const baseEnv: NodeJS.ProcessEnv = { ...process.env };
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const sqs = new SQSClient({ region: REGION, endpoint: sqsEndpoint, credentials });
  const sfnClient = new SFNClient({ region: REGION, endpoint: sfn.endpoint, credentials });

  // ---- functions: environment from the template, handler from the construct tree, one container each
  const envs = new Map<string, Record<string, string>>();
  const envOf = (id: string): Record<string, string> => {
    let env = envs.get(id);
    if (!env) {
      env = functionEnvironment(model, id, ref);
      delete env.NODE_OPTIONS;
      // The example's external API is the scripted one (as the offline run points it at its fake).
      if ('EXAMPLE_API_URL' in env) env.EXAMPLE_API_URL = api.url;
      if (!stepRecords) delete env[STEP_ENV.stepResultsTable];
      envs.set(id, env);
    }
    return env;
  };
  /**
   * Runs `fn` with the function's environment in process.env for its synchronous part: a module's
   * load, and a call up to its first await. Every handler of the app reads its environment there (at
   * module scope or first thing in the call), so concurrent calls of different functions (a map's
   * items, a replay beside a capture) each see their own, as in separate Lambda functions.
   */
  const withEnv = <T>(id: string, fn: () => T, env?: Record<string, string>): T => {
    const wanted = { ...baseEnv, ...(env ?? envOf(id)) };
    for (const k of Object.keys(process.env)) if (!(k in wanted)) delete process.env[k];
    Object.assign(process.env, wanted);
    try {
      return fn();
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in baseEnv)) delete process.env[k];
      Object.assign(process.env, baseEnv);
    }
  };
  const entries = (): Map<string, string> => {
    const m = new Map(model.entries);
    m.set(logicalIdOf(model, model.stack.reprocess.function), 'lambdas/reprocess/handler.ts');
    m.set(logicalIdOf(model, model.stack.executionCapture.function), 'lambdas/execution-capture/handler.ts');
    m.set(logicalIdOf(model, model.stack.sweeper.function), 'lambdas/sweeper/handler.ts');
    m.set(logicalIdOf(model, model.stack.reconciler.function), 'lambdas/reconciler/handler.ts');
    return m;
  };
  const containers = new Map<string, Handler>();
  /** A module of a function, in its own module registry (module-scope clients and caches belong to this container only). */
  const loadModule = <T>(id: string, entry: string, env?: Record<string, string>): T => {
    let mod: unknown;
    withEnv(id, () => jest.isolateModules(() => (mod = require(join(ROOT, entry)))), env);
    return mod as T;
  };
  const load = (id: string, env?: Record<string, string>): Handler => {
    const entry = entries().get(id);
    if (!entry) throw new Error(`no handler entry for function ${id}`);
    const mod = loadModule<{ handler?: Handler }>(id, entry, env);
    if (typeof mod.handler !== 'function') throw new Error(`${entry} exports no handler`);
    return canary.wrap(id, mod.handler) as Handler;
  };
  // Each job's producer handler (the real runtime in the function's container, returning the case's
  // current specs), and the starter module (one each).
  const producerSpecs = new Map<string, ReadonlyArray<TaskSpec>>();
  const producers = new Map<string, ReturnType<typeof import('../../lambdas/producer/runtime').createProducerHandler>>();
  let starterModule: typeof import('../../lambdas/starter/handler') | null = null;
  const container = (id: string, key = id, env?: Record<string, string>): Handler => {
    let h = containers.get(key);
    if (!h) {
      h = load(id, env);
      containers.set(key, h);
    }
    return h;
  };
  /** One invocation: the function's environment around the call's synchronous start, then its promise. */
  const invoke = (id: string, event: unknown, context: unknown, key?: string): Promise<unknown> => {
    const h = container(id, key);
    return withEnv(id, () => h(event, context));
  };
  const lambdaContext = (id: string, scale = 1) => {
    const deadline = Date.now() + timeoutMsOf(id) * scale;
    return { functionName: id, awsRequestId: `local-${id}-${Date.now()}`, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) };
  };

  const functions = {
    reprocess: logicalIdOf(model, model.stack.reprocess.function),
    capture: logicalIdOf(model, model.stack.executionCapture.function),
    sweeper: logicalIdOf(model, model.stack.sweeper.function),
    reconciler: logicalIdOf(model, model.stack.reconciler.function),
    starter: logicalIdOf(model, model.stack.tickStarter.function),
    producer: (job: string) => logicalIdOf(model, model.stack.producers.get(job)!.function),
    step: (job: string, step: string) => logicalIdOf(model, model.stack.workflows.get(job)!.stepFunctions.get(step)!),
  };
  const queue = (c: { node: { defaultChild?: unknown } }) => {
    const id = logicalIdOf(model, c);
    return { url: queueUrls.get(id)!, name: id };
  };
  const queues = {
    spool: queue(model.stack.spool.queue),
    quarantine: queue(model.stack.spool.quarantine),
    failedInvocations: queue(model.stack.spool.failedInvocations),
    tick: queue(model.stack.tickStarter.tickQueue),
  };
  const tableName = logicalIdOf(model, model.stack.coordination.table);

  // Warm containers of every function the workflows call: a cold start (module load) inside a step's
  // time would be a fault no case asked for.
  for (const id of model.entries.keys()) if (id !== functions.starter) container(id);
  container(functions.reprocess);
  container(functions.capture);

  // ---- executions
  const stateMachines = new Map<string, string>();
  const definitions = new Map<string, AslDefinition>();
  const bindDefinitions = () => {
    for (const job of config.jobs) {
      const arn = ref(model.stateMachines.get(job.name)!, 'AWS::StepFunctions::StateMachine');
      stateMachines.set(job.name, arn);
      definitions.set(arn, stateMachineDefinition(model, job, ref));
    }
  };
  bindDefinitions();
  const stepFaults: StepFault[] = [];
  const callCounts = new Map<string, number>();
  const overrides = new Map<string, ExecutionOverride>();
  // Parsing and validating a definition costs more than a local run: once per definition.
  const runners = new WeakMap<AslDefinition, ReturnType<typeof createLocalRunner>>();
  const SQS_SEND = /^arn:aws[\w-]*:states:::sqs:sendMessage$/;

  /**
   * Step Functions' SQS integration: the resolved Parameters sent with the real SQS API (an object
   * body as JSON text). A refused call fails the state with the SDK's error name prefixed `SQS.`;
   * the workflow does not depend on the name (SpoolFailure's Retry and Catch take States.ALL).
   */
  const sqsSend = async (parameters: unknown): Promise<unknown> => {
    const p = parameters as { QueueUrl: string; MessageBody: unknown; MessageAttributes?: Record<string, MessageAttributeValue> };
    try {
      const out = await sqs.send(new SendMessageCommand({ QueueUrl: p.QueueUrl, MessageBody: typeof p.MessageBody === 'string' ? p.MessageBody : JSON.stringify(p.MessageBody), MessageAttributes: p.MessageAttributes }));
      return { MessageId: out.MessageId, MD5OfMessageBody: out.MD5OfMessageBody };
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      throw Object.assign(new Error(err.message), { name: `SQS.${err.name}` });
    }
  };

  const run = async (e: StandinExecution, inputOverride?: unknown): Promise<StandinExecution> => {
    const input = inputOverride ?? JSON.parse(e.input);
    const envelope = parseEnvelope(input);
    const key = `${envelope.taskId}#${envelope.attempt}`;
    const override = overrides.get(key);
    overrides.delete(key);
    const synthesized = definitions.get(e.stateMachineArn);
    if (!synthesized) throw new Error(`no definition for ${e.stateMachineArn}`);
    const scale = override?.timeScale ?? 1;
    const base = scale === 1 ? synthesized : compressed(synthesized, scale);
    const definition = override?.definition ? override.definition(base) : base;
    const lambdas: Record<string, LocalLambda> = {};
    const tasks: Record<string, (p: unknown) => Promise<unknown>> = {};
    let dataLimit: string | null = null;
    let cut = false;
    let abort: () => void = () => undefined;
    for (const [state, spec] of taskStatesOf(definition)) {
      if (LAMBDA_INVOKE.test(String(spec.Resource))) {
        lambdas[state] = async (payload, lctx) => {
          const fnId = lctx.functionName.split(':').pop()!;
          const p = payload as StepCall['payload'];
          const task = parseEnvelope(p.task ?? input);
          const real = () => invoke(fnId, payload, lambdaContext(fnId, scale));
          callCounts.set(`${state}|${task.taskId}`, (callCounts.get(`${state}|${task.taskId}`) ?? 0) + 1);
          const fault = [...stepFaults].reverse().find((f) => f.state === state && (f.task === undefined || f.task === task.taskId) && (f.attempt === undefined || f.attempt === task.attempt));
          const result = await (fault ? fault.handle({ state, payload: p, task, executionArn: e.executionArn, real }) : real());
          // Step Functions fails the execution with States.DataLimitExceeded, which no Catch takes,
          // when a task's result passes 256 KiB (AWS Step Functions developer guide, "Quotas related
          // to state machine executions" and "Error handling"). aws-local-stepfunctions does not
          // enforce it (docs/execution-capture.md), so the world does, for the result a Lambda returns.
          if (dataLimit === null && jsonBytes(result as never) > STATE_PAYLOAD_MAX_BYTES) {
            dataLimit = `The state/task '${state}' returned a result with a size exceeding the maximum number of bytes service limit.`;
            abort();
          }
          return result;
        };
      } else if (SQS_SEND.test(String(spec.Resource))) {
        tasks[state] = sqsSend;
      }
    }
    let runner = override?.retryWaits ? createLocalRunner({ definition, skipRetryWaits: false }) : runners.get(definition);
    if (!runner) runners.set(definition, (runner = createLocalRunner({ definition })));
    const runWith = runner;
    return sfn.runLocally(e.executionArn, async (standinHooks) => {
      // The quota counts history events (what the stand-in records), not the engine's own events.
      let over = false;
      const limit = override?.historyLimit;
      const limited = limit === undefined ? null : { exceeded: () => over };
      const hooks: typeof standinHooks =
        limit === undefined
          ? standinHooks
          : {
              ...standinHooks,
              onEvent: (ev) => {
                if (over) return;
                standinHooks.onEvent(ev);
                if (e.history.length > limit) {
                  over = true;
                  abort();
                }
              },
            };
      const go = () => runWith({
        input,
        lambdas,
        tasks,
        stateMachineArn: e.stateMachineArn,
        executionName: e.name,
        executionArn: e.executionArn,
        onStarted: (a) => {
          abort = a;
          hooks.onStarted(a);
        },
        // Nothing is recorded from the state whose data passed the quota on: the execution ended there.
        onEvent: (ev: EngineEvent) => {
          if (!cut && ev.state && (jsonBytes((ev.state.output ?? null) as never) > STATE_PAYLOAD_MAX_BYTES || jsonBytes((ev.state.input ?? null) as never) > STATE_PAYLOAD_MAX_BYTES)) cut = true;
          if (!cut) hooks.onEvent(ev);
        },
      });
      const out: LocalRunResult = await (override?.retryWaits ? simulatedRetryWaits(override.retryWaits, go) : go());
      if (dataLimit !== null) return { status: 'FAILED', error: 'States.DataLimitExceeded', cause: dataLimit };
      // Past the history quota Step Functions fails the execution, outside any Catch (AWS Step Functions developer guide,
      // "Step Functions service quotas"); the error name is the offline day's stand-in's (docs/aws-promises.md, row 7).
      if (limited?.exceeded()) return { status: 'FAILED', error: 'States.Runtime', cause: 'The execution reached the maximum number of history events (25000).' };
      return out;
    });
  };

  const rulePattern = (): unknown => {
    const rule = Object.values(resources()).find((r) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties?.EventPattern ?? {}).includes('aws.states'));
    if (!rule) throw new Error('no status-change rule in the template');
    // Its references (the state machines' ARNs) resolved as the definitions' are.
    return resolveIntrinsics(rule.Properties!.EventPattern, resources() as never, ref, { region: REGION, account: LOCAL_ACCOUNT });
  };
  const captureFailures: Array<AsyncInvokeResult<CaptureResult>> = [];
  const asyncConfig = (id: string) => asyncConfigOf(model.template as never, id, ref(id, 'AWS::Lambda::Function', 'Arn'), (q) => queueUrls.get(q)!);

  let eventFate: Parameters<World['onStatusEvent']>[0] = null;
  const lateEvents: Array<ReturnType<typeof statusChangeEvent>> = [];
  const deliverEvent = async (ev: ReturnType<typeof statusChangeEvent>): Promise<AsyncInvokeResult<CaptureResult>> => {
    // EventBridge invokes the capture asynchronously: Lambda's retries, then its destination.
    const out = await invokeAsync((event, requestId) => invoke(functions.capture, event, { ...lambdaContext(functions.capture), awsRequestId: requestId }) as Promise<CaptureResult>, ev, asyncConfig(functions.capture), sqs);
    if (!out.succeeded) captureFailures.push(out);
    return out;
  };
  const settle = async (): Promise<void> => {
    for (let round = 0; round < 50; round++) {
      if (pending.length === 0 && statusChanges.length === 0) return;
      const batch = pending.splice(0, pending.length);
      await Promise.all(batch.map((e) => run(e)));
      const pattern = rulePattern();
      const events = statusChanges.splice(0, statusChanges.length).filter((ev) => matchesEventPattern(pattern, ev));
      for (const ev of events) {
        const fate = eventFate?.(ev) ?? 'once';
        if (fate === 'late') lateEvents.push(ev);
        for (let i = 0; i < (fate === 'twice' ? 2 : fate === 'once' ? 1 : 0); i++) await deliverEvent(ev);
      }
    }
    throw new Error('the world did not settle in 50 rounds');
  };

  let minute = 0;
  /**
   * The default ticks' day: the latest Wednesday 00:00 UTC at least a day before the run (a fixed
   * weekday and hour, as the cases were written for 2026-11-25). Relative to the real clock because
   * the handlers judge a tick's age on it (reprocess quarantines ticks older than
   * MAX_REPLAY_TICK_AGE_MS): a fixed date would stop being replayable as the calendar moves.
   */
  const WEEK_MS = 7 * 86_400_000;
  const tickDay = (() => {
    const wednesday = Date.UTC(2026, 10, 25);
    return wednesday + Math.floor((Date.now() - 86_400_000 - wednesday) / WEEK_MS) * WEEK_MS;
  })();
  /** One call of a job's producer: the real runtime with the case's `produce` (the example producers' lists are fixed by their env; a case needs its own specs). */
  function runProducer(job: string, event: unknown, context: unknown): Promise<TickSummary> {
    const id = functions.producer(job);
    let handler = producers.get(id);
    // Loaded outside the call's withEnv: a load sets and restores the environment itself.
    // With the job's params module, as its real producer passes it (the config names it; the runtime refuses to plan without it).
    const schema = config.jobs.find((j) => j.name === job)?.params?.schema;
    const params = schema ? { params: loadModule<import('../../lambdas/shared/params').ParamsModule>(id, schema) } : {};
    if (!handler) producers.set(id, (handler = loadModule<typeof import('../../lambdas/producer/runtime')>(id, 'lambdas/producer/runtime.ts').createProducerHandler(() => producerSpecs.get(job) ?? [], params)));
    const h = canary.wrap(id, handler as never) as typeof handler;
    return withEnv(id, () => h(event as never, context as never));
  }
  /** The schedule's asynchronous invoke of a job's producer. */
  const producerRun = (job: string, payload: unknown): Promise<AsyncInvokeResult<TickSummary>> => {
    const id = functions.producer(job);
    return invokeAsync((event, requestId) => runProducer(job, event, { ...lambdaContext(id), awsRequestId: requestId }), payload, asyncConfig(id), sqs);
  };
  const drainTicks = (o: { retryAfterSeconds?: number; redeliver?: (m: { Body?: string }) => boolean } = {}): Promise<EsmRun> => {
    const es = Object.values(resources()).find((r) => r.Type === 'AWS::Lambda::EventSourceMapping')!;
    const maxConcurrency = Number((es.Properties?.ScalingConfig as { MaximumConcurrency?: number } | undefined)?.MaximumConcurrency ?? 2);
    const starterEnv = { ...baseEnv, ...envOf(functions.starter) } as NodeJS.ProcessEnv;
    starterModule ??= loadModule<typeof import('../../lambdas/starter/handler')>(functions.starter, 'lambdas/starter/handler.ts');
    const starter = starterModule;
    return driveEventSource({
      sqs,
      queueUrl: queues.tick.url,
      maxConcurrency,
      timeoutMs: timeoutMsOf(functions.starter),
      retryAfterSeconds: o.retryAfterSeconds,
      redeliver: o.redeliver,
      region: REGION,
      functionName: functions.starter,
      // Each poller is a container of its own (its own rate gate), as the mapping's concurrency is.
      container: () => canary.wrap(functions.starter, starter.newContainer(starterEnv) as never) as never,
    });
  };
  const tick = async (job: string, specs: ReadonlyArray<TaskSpec>, opts: { scheduledTime?: Date; drain?: boolean; retryAfterSeconds?: number } = {}): Promise<TickRun> => {
    const scheduledTime = opts.scheduledTime ?? new Date(tickDay + minute++ * 60_000);
    producerSpecs.set(job, specs);
    const producer = await producerRun(job, { scheduledTime: scheduledTime.toISOString() });
    const esm = opts.drain === false ? null : await drainTicks({ retryAfterSeconds: opts.retryAfterSeconds });
    return { scheduledTime, taskIds: specs.map((s) => taskIdFor(job, scheduledTime, s.key)), producer, esm };
  };

  const readLog = (prefix: string): ParamLogRecord[] => {
    firehose.flushAll();
    return firehose.delivered.filter((f) => f.key.startsWith(`${prefix}/`)).flatMap((f) => parseJsonLines(gunzipSync(readFileSync(join(outDir, ...f.key.split('/')))).toString('utf8')));
  };
  const messages = async (name: string): Promise<QueuedMessage[]> =>
    (await sqsEmu.inspectQueue(name)).all.map((m) => {
      let body: SpoolMessage | null = null;
      try {
        body = JSON.parse(m.body) as SpoolMessage;
      } catch {
        // A malformed message stays as its raw text.
      }
      return { raw: m.body, body, attributes: m.attributes };
    });

  canary.start();
  const world: World = {
    get config() {
      return config;
    },
    get model() {
      return model;
    },
    sfn,
    api,
    sideEffects,
    sqsFaults,
    firehoseFaults,
    sqs,
    queues,
    stateMachines,
    definition: (job) => definitions.get(stateMachines.get(job)!)!,
    functionEnv: (id) => envOf(id),
    functions,
    tick,
    produce: (job, specs) => void producerSpecs.set(job, specs),
    idle: () => lambda.idle(),
    lambdaInvocations: lambda.invocations,
    drainTicks,
    invokeProducer: producerRun,
    onStatusEvent: (fate) => void (eventFate = fate),
    async deliverLate(copies = 1) {
      const out: Array<AsyncInvokeResult<CaptureResult>> = [];
      for (const ev of lateEvents.splice(0, lateEvents.length)) for (let i = 0; i < copies; i++) out.push(await deliverEvent(ev));
      return out;
    },
    async reconcile() {
      if (RECONCILER_OFF) return null;
      const started = Date.now();
      const context = { ...lambdaContext(functions.reconciler), getRemainingTimeInMillis: () => timeoutMsOf(functions.reconciler) - (Date.now() - started) };
      return invoke(functions.reconciler, {}, context);
    },
    paramLogDelivery: {
      bucketDown: (down) => void (bucketIsDown = down),
      advance: (ms) => void (firehoseSkewMs += ms),
      flush: () => firehose.flushAll(),
      get discarded() {
        return firehose.discarded;
      },
    },
    settle,
    async reprocess(payload: ReprocessPayload, opts: { container?: string } = {}) {
      const started = Date.now();
      const context = { awsRequestId: `reprocess-${started}`, functionName: functions.reprocess, getRemainingTimeInMillis: () => timeoutMsOf(functions.reprocess) - (Date.now() - started) };
      // The handler returns the summary of the payload's source (the overloads above).
      return (await invoke(functions.reprocess, payload, context, opts.container)) as never;
    },
    async sweep(only, at) {
      // The sweeper's own configuration (SWEEP_QUEUES from the template), narrowed to `only`: each
      // empty queue costs a 1 s long poll, and a case is about one of them.
      const env = { ...envOf(functions.sweeper) };
      const names = new Set(only.map((q) => queues[q].name));
      const all = JSON.parse(env.SWEEP_QUEUES) as Array<{ name: string }>;
      env.SWEEP_QUEUES = JSON.stringify(all.filter((q) => names.has(q.name)));
      const h = container(functions.sweeper, `${functions.sweeper}:${[...names].join(',')}`, env);
      const clock = new SimClock(at);
      clock.install();
      try {
        return (await withEnv(functions.sweeper, () => h({}, lambdaContext(functions.sweeper)), env)) as SweepSummary;
      } finally {
        clock.uninstall();
      }
    },
    async stop(executionArn, error, cause) {
      await sfnClient.send(new StopExecutionCommand({ executionArn, error, cause }));
    },
    async redrive(executionArn) {
      await sfnClient.send(new RedriveExecutionCommand({ executionArn }));
    },
    async runRedriven(executionArn, resume) {
      const e = sfn.executions.get(executionArn);
      if (!e || e.status !== 'RUNNING') throw new Error(`${executionArn} is not running (redrive it first)`);
      return run(e, { ...JSON.parse(e.input), resume });
    },
    hold: async (dependency) => void (await writeSwitch(dynamo.client, tableName, dependency, true, { by: 'oncall', reason: 'fault matrix', now: new Date() })),
    unhold: async (dependency) => void (await writeSwitch(dynamo.client, tableName, dependency, false, { by: 'oncall', reason: null, now: new Date() })),
    onStep(fault) {
      stepFaults.push(fault);
      return () => {
        const i = stepFaults.indexOf(fault);
        if (i >= 0) stepFaults.splice(i, 1);
      };
    },
    onExecution(taskId, attempt, override) {
      overrides.set(`${taskId}#${attempt}`, override);
    },
    coldStart(functionId) {
      for (const k of [...containers.keys()]) if (k === functionId) containers.delete(k);
    },
    deploy(edit) {
      config = resolveApp(edit);
      model = synthesizeApp(config, ROOT, REGION);
      envs.clear();
      // A deploy replaces every function's code and environment: new containers.
      containers.clear();
      producers.clear();
      starterModule = null;
      for (const id of model.entries.keys()) if (id !== functions.starter) container(id);
      bindDefinitions();
    },
    executionsOf(taskId) {
      return [...sfn.executions.values()].filter((e) => (JSON.parse(e.input) as { taskId?: string }).taskId === taskId);
    },
    calls: (state, taskId) => callCounts.get(`${state}|${taskId}`) ?? 0,
    lockKeyOf(job, params, field) {
      const macKey = model.stack.coordination.lockKeyMac;
      if (!macKey) throw new Error('no job has exclusiveBy: there is no lock-key HMAC key');
      return lockKey(job, params, field, kms.keyOf(String(ref(logicalIdOf(model, macKey.key), 'AWS::KMS::Key', 'Arn'))));
    },
    async coordinationItem(pk) {
      const out = await dynamo.client.send(new GetItemCommand({ TableName: tableName, Key: { [TABLE_KEY_ATTR]: { S: pk } }, ConsistentRead: true }));
      return out.Item ? Object.fromEntries(Object.entries(out.Item).map(([k, v]) => [k, v.S ?? v.N ?? v.BOOL ?? v])) : null;
    },
    async passLockLeases() {
      const out = await dynamo.client.send(new ScanCommand({ TableName: tableName, FilterExpression: 'leasedAfterEnd = :t', ExpressionAttributeValues: { ':t': { BOOL: true } } }));
      const past = String(Math.floor(Date.now() / 1000) - 1);
      for (const item of out.Items ?? []) {
        await dynamo.client.send(new UpdateItemCommand({ TableName: tableName, Key: { [TABLE_KEY_ATTR]: item[TABLE_KEY_ATTR] }, UpdateExpression: 'SET expiresAt = :p', ExpressionAttributeValues: { ':p': { N: past } } }));
      }
      return out.Items?.length ?? 0;
    },
    starts,
    spool: () => messages(queues.spool.name),
    quarantine: () => messages(queues.quarantine.name),
    failedInvocations: async () => (await sqsEmu.inspectQueue(queues.failedInvocations.name)).all.map((m) => JSON.parse(m.body) as Record<string, unknown>),
    async expireVisibility(_queue, receiptHandles) {
      for (const h of receiptHandles) await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queues.spool.url, ReceiptHandle: h, VisibilityTimeout: 0 }));
    },
    workerRecords: () => readLog('worker'),
    clientRecords: () => readLog('client'),
    async lostTasks() {
      firehose.flushAll();
      const days = [
        ...new Set(
          firehose.delivered
            .filter((f) => f.partition.startsWith('client/'))
            .map((f) => f.partition.replace(/^client\/year=(\d{4})\/month=(\d{2})\/day=(\d{2})$/, '$1-$2-$3')),
        ),
      ];
      const db = await ParamLogDb.open(outDir);
      try {
        let lost = 0;
        // Every record of every fault path must verify, and the monitor's verified count must be the query's.
        const recordKey = kms.keyOf(String(ref(logicalIdOf(model, model.stack.paramLog.macKey.key), 'AWS::KMS::Key', 'Arn')));
        for (const day of days) {
          const sql = Number((await db.query(LOST_TASK_COUNT_SQL, lostTaskParams(day)))[0]?.lost ?? 0);
          const verified = await verifiedLostTasksOf(db, day, recordKey);
          if (verified.forged > 0 || verified.lost !== sql) {
            throw new Error(`${day}: the monitor's verified count (${verified.lost} lost, ${verified.forged} forged: ${verified.forgedTaskIds.join(', ')}) differs from the saved query's (${sql})`);
          }
          lost += sql;
        }
        return lost;
      } finally {
        db.close();
      }
    },
    captureFailures,
    canary: () => canary.finish({}),
    async close() {
      canary.stop();
      unobserve();
      sqs.destroy();
      sfnClient.destroy();
      await Promise.all([sqsFaults.stop(), firehoseFaults.stop()]);
      await Promise.all([sqsEmu.stop(), dynamo.stop(), sfn.stop(), firehose.close(), api.close(), lambda.stop(), kms.stop()]);
      for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
      Object.assign(process.env, savedEnv);
      rmSync(outDir, { recursive: true, force: true });
    },
  };
  return world;
}
