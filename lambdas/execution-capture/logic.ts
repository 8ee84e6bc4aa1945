import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, DescribeExecutionCommandOutput, GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { parseEnvelope, TaskEnvelope } from '../shared/envelope';
import { EXECUTION_END_ERRORS, InvalidTaskError, SPOOL_UNAVAILABLE } from '../shared/errors';
import { JsonValue } from '../shared/json';
import { leaseLock, LockKeys, releaseLock } from '../shared/locks';
import { buildWorkerRecord, ParamLogSink, WorkerResult } from '../shared/param-log';
import { MAX_SQS_MESSAGE_BYTES, SpoolMessage } from '../shared/spool-message';
import { spoolMessageAttributes } from '../shared/spool-send';
import { wasSpooledByWorkflow } from '../shared/workflow-contract';
import { randomUUID } from 'node:crypto';
import { HistoryFacts, ReverseHistoryScan } from './history';
import { CaptureMarks } from './marker';
import { captureParentEnd, parentTasksOf } from './parent';

/**
 * The status-change capture: spools every execution of the app's state machines that ended
 * outside the workflow's Catch path (ABORTED, TIMED_OUT, FAILED by an uncatchable error, FAILED at
 * the SpoolUnavailable end), writes its worker record and frees its exclusive lock.
 *
 * Nothing is read from the event but the execution ARN: with a customer managed key (the app's
 * state machines have one) Step Functions leaves input, output, error and cause out of status-change
 * events (AWS Step Functions developer guide, "Data at rest encryption", FAQ on EventBridge events),
 * and events are best effort and may arrive out of order ("Step Functions events in EventBridge").
 * So the execution itself is described, and its history read, every time.
 */

/** EventBridge source of Step Functions' events. */
export const STATES_EVENT_SOURCE = 'aws.states';
/** EventBridge detail type of an execution's status change. */
export const STATUS_CHANGE_DETAIL_TYPE = 'Step Functions Execution Status Change';
/** Statuses the rule delivers: every end but SUCCEEDED. */
export const CAPTURED_STATUSES = ['FAILED', 'TIMED_OUT', 'ABORTED'] as const;
export type CapturedStatus = (typeof CAPTURED_STATUSES)[number];

/** Environment variables the ExecutionCapture construct sets. */
export const CAPTURE_ENV = {
  spoolQueueUrl: 'SPOOL_QUEUE_URL',
  workerStream: 'WORKER_LOG_STREAM',
  coordinationTable: 'COORDINATION_TABLE',
  timeZone: 'APP_TIME_ZONE',
  /** JSON `{ "<job>": ["<top-level step>", ...] }`. */
  jobSteps: 'JOB_STEPS',
  /** JSON `{ "<job>": "<exclusiveBy field>" }` for the jobs that have one. */
  jobExclusive: 'JOB_EXCLUSIVE',
  /** JSON `{ "<job>": <seconds> }`: how long a step Lambda of the job may run on after its execution ended (lock lease). */
  jobLockLease: 'JOB_LOCK_LEASE',
  /** JSON `{ "<job>": "<standard state machine ARN>" }` of the high-volume jobs: where a parent's items are replayed (./parent.ts). */
  replayStateMachines: 'HIGH_VOLUME_REPLAY_STATE_MACHINES',
} as const;

/** What the capture knows of one job. */
export interface CaptureJob {
  /** Top-level step names, in order. */
  readonly steps: ReadonlyArray<string>;
  /** The params field of the job's exclusive lock, or null. */
  readonly exclusiveBy: string | null;
  /**
   * Seconds a step Lambda of the job may still run after its execution was stopped or timed out (its
   * longest step timeout and the cold-start margin): the lock is kept that long after the end. @default 0
   */
  readonly lockLeaseSeconds?: number;
}

/** The execution's input is not a task envelope: nothing can be spooled or recorded for it. */
export class UnreadableExecutionInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreadableExecutionInputError';
  }
}

/** The execution names a job this deployment's capture does not know (config and stack out of step). */
export class UnknownJobError extends Error {
  constructor(job: string) {
    super(`job "${job}" is not in ${CAPTURE_ENV.jobSteps}: the capture and the state machines were deployed from different configs; redeploy the stack`);
    this.name = 'UnknownJobError';
  }
}

/** The invocation payload is neither a status-change event nor `{ "executionArn": "..." }`. */
export class InvalidCaptureEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCaptureEventError';
  }
}

/** Parses JOB_STEPS and JOB_EXCLUSIVE; throws a message that names the variable. */
export function parseJobsEnv(stepsJson: string, exclusiveJson: string | undefined, leaseJson?: string): ReadonlyMap<string, CaptureJob> {
  let lease: unknown;
  try {
    lease = JSON.parse(leaseJson && leaseJson.trim() !== '' ? leaseJson : '{}');
  } catch {
    throw new Error(`${CAPTURE_ENV.jobLockLease} must be a JSON object; redeploy the stack`);
  }
  let steps: unknown;
  let exclusive: unknown;
  try {
    steps = JSON.parse(stepsJson);
    exclusive = JSON.parse(exclusiveJson && exclusiveJson.trim() !== '' ? exclusiveJson : '{}');
  } catch {
    throw new Error(`${CAPTURE_ENV.jobSteps} / ${CAPTURE_ENV.jobExclusive} must be JSON objects; redeploy the stack`);
  }
  const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isRecord(steps) || !isRecord(exclusive)) throw new Error(`${CAPTURE_ENV.jobSteps} / ${CAPTURE_ENV.jobExclusive} must be JSON objects; redeploy the stack`);
  const jobs = new Map<string, CaptureJob>();
  for (const [job, names] of Object.entries(steps)) {
    if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string' && n !== '')) {
      throw new Error(`${CAPTURE_ENV.jobSteps}.${job} must be a non-empty array of step names`);
    }
    const field = exclusive[job];
    if (field !== undefined && (typeof field !== 'string' || field === '')) throw new Error(`${CAPTURE_ENV.jobExclusive}.${job} must be a field name`);
    const seconds = (lease as Record<string, unknown> | null)?.[job];
    if (seconds !== undefined && (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 0)) throw new Error(`${CAPTURE_ENV.jobLockLease}.${job} must be a whole number of seconds`);
    jobs.set(job, { steps: names as string[], exclusiveBy: (field as string | undefined) ?? null, lockLeaseSeconds: (seconds as number | undefined) ?? 0 });
  }
  return jobs;
}

/**
 * The execution ARN of an invocation: a status-change event as EventBridge delivers it, or
 * `{ "executionArn": "..." }` from an operator capturing an execution by hand (an event lost by
 * EventBridge's best-effort delivery, or one re-driven from the failed-invocations queue).
 */
export function executionArnOf(event: unknown): string {
  const o = (typeof event === 'object' && event !== null ? event : {}) as Record<string, unknown>;
  if (o.source !== undefined || o['detail-type'] !== undefined) {
    if (o.source !== STATES_EVENT_SOURCE || o['detail-type'] !== STATUS_CHANGE_DETAIL_TYPE) {
      throw new InvalidCaptureEventError(`not a Step Functions status-change event (source ${String(o.source)}, detail-type ${String(o['detail-type'])})`);
    }
    const arn = (o.detail as Record<string, unknown> | undefined)?.executionArn;
    if (typeof arn !== 'string' || !arn.includes(':execution:')) throw new InvalidCaptureEventError('the event has no detail.executionArn');
    return arn;
  }
  if (typeof o.executionArn === 'string' && o.executionArn.includes(':execution:')) return o.executionArn;
  throw new InvalidCaptureEventError('expected a Step Functions status-change event or {"executionArn": "arn:aws:states:...:execution:..."}');
}

/** Clients and settings of the capture (the handler builds them once; tests inject them). */
export interface CaptureDeps {
  readonly sfn: SFNClient;
  readonly sqs: SQSClient;
  readonly ddb: DynamoDBClient;
  /** The worker stream (FirehoseParamLogSink in the handler). */
  readonly sink: ParamLogSink;
  readonly spoolQueueUrl: string;
  readonly coordinationTable: string;
  readonly timeZone: string;
  readonly jobs: ReadonlyMap<string, CaptureJob>;
  /** High-volume jobs' standard state machines (CAPTURE_ENV.replayStateMachines): a parent's items are spooled naming them. */
  readonly replayStateMachines?: ReadonlyMap<string, string>;
  /** Names exclusive-key locks (the lock-key HMAC key); needed when a job has `exclusiveBy`. */
  readonly lockKeys?: LockKeys;
  /**
   * History events per GetExecutionHistory page. Each event may carry a state's input (up to
   * 256 KiB), so pages are kept small; most captures need one. @default 100
   */
  readonly historyPageSize?: number;
  /** Pages read at most (a history holds at most 25,000 events, AWS Step Functions quotas). @default 250 */
  readonly maxHistoryPages?: number;
  readonly now?: () => Date;
  /** Owner of the capture mark (lambdas/execution-capture/marker.ts). @default a random id per capture */
  readonly owner?: string;
  /** How long a capture holds the execution's mark: past the function's 2-minute timeout. @default 180,000 */
  readonly markLeaseMs?: number;
}

/**
 * What happened to one execution end:
 * - `ignored`: not ended (RUNNING again after a redrive, PENDING_REDRIVE) or SUCCEEDED: a later
 *   end, if any, brings its own event;
 * - `alreadySpooled`: the Catch path spooled it (the marker, or SpoolFailure succeeded before the
 *   execution was stopped); only the lock was released;
 * - `spooled`: spooled now as `ExecutionEnded`;
 * - `endedAfterSuccess`: stopped or timed out after every step had succeeded: nothing to replay, recorded only;
 * - `alreadyCaptured`: an earlier capture of this execution completed (a duplicated event, the
 *   event and the reconciler): nothing done (the capture mark, lambdas/execution-capture/marker.ts);
 * - `busy`: another capture of this execution holds its mark now; it finishes, or its lease
 *   expires and the next capture (Lambda's retry, the reconciler) takes over.
 */
export type CaptureOutcome = 'ignored' | 'alreadySpooled' | 'spooled' | 'endedAfterSuccess' | 'alreadyCaptured' | 'busy';

/** Result of one capture (ids and names only: safe to log). */
export interface CaptureResult {
  readonly outcome: CaptureOutcome;
  readonly executionArn: string;
  /** DescribeExecution's status. */
  readonly status: string;
  readonly taskId: string | null;
  readonly job: string | null;
  /** The spooled / recorded error name. */
  readonly error: string | null;
  readonly failedState: string | null;
  /** The spool message id, when spooled. */
  readonly messageId: string | null;
  /** The worker result written, or null when none was written (the workflow wrote it). */
  readonly workerRecord: WorkerResult | null;
  /** Whether the exclusive lock was released (null: the job has none; false: not held, or kept, see lockKeptUntil). */
  readonly lockReleased: boolean | null;
  /**
   * When a step Lambda of the ended execution may still be running (it was in a step when stopped
   * or timed out): the lock is kept until then (ISO time), so a replay cannot overlap it. Else null.
   */
  readonly lockKeptUntil: string | null;
  /** History events read (0 when the history was not needed). */
  readonly historyEvents: number;
  /** Pages of history read. */
  readonly historyPages: number;
  /** A high-volume parent: how many of its items were spooled (./parent.ts). */
  readonly itemsSpooled?: number;
}

/** Cause values are kept to Step Functions' own limit on a cause (API ExecutionFailedEventDetails: 32,768). */
const MAX_CAUSE_CHARS = 32_768;

function clip(s: string): string {
  return s.length > MAX_CAUSE_CHARS ? `${s.slice(0, MAX_CAUSE_CHARS - 14)}...[truncated]` : s;
}

/** Reads the history newest first until the scan knows where the execution ended. */
async function readHistory(deps: CaptureDeps, executionArn: string, job: CaptureJob): Promise<{ facts: HistoryFacts; pages: number }> {
  const scan = new ReverseHistoryScan(job);
  let nextToken: string | undefined;
  let pages = 0;
  const maxPages = deps.maxHistoryPages ?? 250;
  do {
    const page = await deps.sfn.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, includeExecutionData: true, maxResults: deps.historyPageSize ?? 100, nextToken }),
    );
    pages++;
    if (scan.add(page.events ?? [])) break;
    nextToken = page.nextToken;
  } while (nextToken && pages < maxPages);
  return { facts: scan.facts(), pages };
}

/** The ExecutionEnded error name and cause of an execution that ended outside the Catch path. */
function endError(status: CapturedStatus, d: DescribeExecutionCommandOutput, facts: HistoryFacts): { error: string; cause: string; failedState: string | null; stepInput: JsonValue | null } {
  const own = [d.error, d.cause].filter((x) => x !== undefined && x !== '').join(': ');
  const where = facts.failedState ? ` in ${facts.failedState}` : '';
  if (status === 'FAILED' && d.error === SPOOL_UNAVAILABLE && facts.spoolUnavailable) {
    // The step's own failure, as the Catch path would have spooled it, and why it was not.
    const su = facts.spoolUnavailable;
    return {
      error: su.caught.Error,
      cause: `${su.caught.Cause} [spooled by the status-change capture: the workflow could not reach the spool (${su.spoolError.Error}: ${su.spoolError.Cause}); execution ${own}]`,
      failedState: su.failedState,
      stepInput: su.stepInput as JsonValue | null,
    };
  }
  const error = status === 'TIMED_OUT' ? EXECUTION_END_ERRORS.timedOut : status === 'ABORTED' ? EXECUTION_END_ERRORS.aborted : d.error || EXECUTION_END_ERRORS.failed;
  // On the failure path the step's caught failure is what an operator needs to know first.
  const after = facts.phase === 'failurePath' && facts.caught ? ` after ${facts.caught.error} (${facts.caught.cause})` : '';
  return { error, cause: `execution ${status}${where}${after}${own ? `: ${own}` : ''}`, failedState: facts.failedState, stepInput: facts.stepInput };
}

type LockOutcome = { lockReleased: boolean | null; lockKeptUntil: string | null };

/**
 * Releases the execution's exclusive lock (owner = its ARN); lockReleased null when the job has none
 * or params lack the key. `endedAt`: the execution ended while in a step, whose Lambda StopExecution
 * and the execution timeout do not stop (AWS Step Functions API reference, "StopExecution"): the lock
 * is then kept until `endedAt` + the job's lease (its longest step timeout), not released.
 */
async function releaseJobLock(deps: CaptureDeps, job: CaptureJob, jobName: string, envelope: TaskEnvelope, executionArn: string, endedAt: Date | null = null): Promise<LockOutcome> {
  const released = await releaseJobLockNow(deps, job, jobName, envelope, executionArn, endedAt);
  return typeof released === 'object' && released !== null ? released : { lockReleased: released, lockKeptUntil: null };
}

async function releaseJobLockNow(deps: CaptureDeps, job: CaptureJob, jobName: string, envelope: TaskEnvelope, executionArn: string, endedAt: Date | null): Promise<boolean | null | LockOutcome> {
  if (!job.exclusiveBy) return null;
  let key: string;
  try {
    if (!deps.lockKeys) throw new Error(`job ${jobName} has exclusiveBy but the capture has no lock-key HMAC key: set LOCK_MAC_KEY_ID (the stack does)`);
    key = await deps.lockKeys.keyOf(jobName, envelope.params, job.exclusiveBy);
  } catch (e) {
    // Such a task never took a lock: AcquireLock failed on the same check.
    if (e instanceof InvalidTaskError) return null;
    throw e;
  }
  const lockDeps = { ddb: deps.ddb, tableName: deps.coordinationTable, now: deps.now };
  const lease = job.lockLeaseSeconds ?? 0;
  if (endedAt && lease > 0) {
    const untilS = Math.ceil(endedAt.getTime() / 1000) + lease;
    const kept = await leaseLock(lockDeps, key, executionArn, untilS);
    if (kept === 'leased') return { lockReleased: false, lockKeptUntil: new Date(untilS * 1000).toISOString() };
    return kept === 'released';
  }
  return releaseLock(lockDeps, key, executionArn);
}

/**
 * Captures one execution end. Order: mark claim, lock, spool, `sent` mark, worker record, `done`
 * mark. A second capture of the same execution (a duplicated event, the event and the reconciler,
 * Lambda's retry) finds the mark: `done` does nothing, `sent` under an expired lease writes only
 * the record, a live claim is `busy`. The lock release is conditional on the owner. Only a capture
 * that dies between SendMessage and the `sent` mark can spool twice (lambdas/execution-capture/marker.ts);
 * that message replays under the same deterministic execution name, which Step Functions refuses.
 */
export async function captureExecutionEnd(executionArn: string, deps: CaptureDeps): Promise<CaptureResult> {
  const d = await deps.sfn.send(new DescribeExecutionCommand({ executionArn }));
  const status = d.status ?? 'UNKNOWN';
  const base = { executionArn, status, error: null, failedState: null, messageId: null, workerRecord: null, historyEvents: 0, historyPages: 0, lockKeptUntil: null };
  if (!(CAPTURED_STATUSES as ReadonlyArray<string>).includes(status)) {
    return { ...base, outcome: 'ignored', taskId: null, job: null, lockReleased: null };
  }
  const ended = status as CapturedStatus;

  let raw: unknown;
  let envelope: TaskEnvelope;
  try {
    raw = JSON.parse(d.input ?? '');
  } catch {
    // Not the parser's message: recent Node versions quote the text, which may hold params.
    throw new UnreadableExecutionInputError(`the input of ${executionArn} is not JSON (was it read with METADATA_ONLY?); nothing can be spooled for it`);
  }
  let parentTasks: TaskEnvelope[] | null;
  try {
    parentTasks = parentTasksOf(raw);
  } catch (e) {
    throw new UnreadableExecutionInputError(`the input of ${executionArn} is a high-volume parent's whose tasks are not task envelopes (${(e as Error).message}); nothing can be spooled for it`);
  }
  if (parentTasks) {
    const marks = new CaptureMarks(deps.ddb, deps.coordinationTable, () => (deps.now ?? (() => new Date()))().getTime());
    const owner = deps.owner ?? randomUUID();
    const redrives = d.redriveCount ?? 0;
    return captureParentEnd(executionArn, d, ended, parentTasks, deps, {
      claim: () => marks.claim(executionArn, owner, (deps.now ?? (() => new Date()))().getTime() + (deps.markLeaseMs ?? 180_000), redrives),
      markSent: (id) => marks.markSent(executionArn, owner, id, redrives),
      markDone: (outcome) => marks.markDone(executionArn, owner, outcome as CaptureOutcome, redrives),
    });
  }
  try {
    envelope = parseEnvelope(raw);
  } catch (e) {
    // EnvelopeError names the field, never its value.
    throw new UnreadableExecutionInputError(`the input of ${executionArn} is not a task envelope (${(e as Error).message}); nothing can be spooled for it`);
  }
  const job = deps.jobs.get(envelope.job);
  if (!job) throw new UnknownJobError(envelope.job);
  const ids = { taskId: envelope.taskId, job: envelope.job };

  // One capture per execution, however often it is asked for (events are best effort: delivered
  // late, twice or never, so the reconciler asks too).
  const marks = new CaptureMarks(deps.ddb, deps.coordinationTable, () => (deps.now ?? (() => new Date()))().getTime());
  const owner = deps.owner ?? randomUUID();
  const redrives = d.redriveCount ?? 0;
  const claim = await marks.claim(executionArn, owner, (deps.now ?? (() => new Date()))().getTime() + (deps.markLeaseMs ?? 180_000), redrives);
  if (!claim.claimed) return { ...base, ...ids, outcome: claim.reason === 'done' ? 'alreadyCaptured' : 'busy', lockReleased: null };
  const result = await captureClaimed(executionArn, deps, d, ended, raw, envelope, job, ids, claim.resumeSent ? { messageId: claim.messageId } : null, (messageId) => marks.markSent(executionArn, owner, messageId, redrives));
  await marks.markDone(executionArn, owner, result.outcome, redrives);
  return result;
}

/** The capture proper, under the execution's mark. `sent`: a previous capture already wrote the spool message. */
async function captureClaimed(
  executionArn: string,
  deps: CaptureDeps,
  d: DescribeExecutionCommandOutput,
  ended: CapturedStatus,
  raw: unknown,
  envelope: TaskEnvelope,
  job: CaptureJob,
  ids: { taskId: string; job: string },
  sentBefore: { messageId: string | null } | null,
  markSent: (messageId: string | null) => Promise<void>,
): Promise<CaptureResult> {
  const status: string = ended;
  const base = { executionArn, status, error: null, failedState: null, messageId: null, workerRecord: null, historyEvents: 0, historyPages: 0 };
  if (ended === 'FAILED' && wasSpooledByWorkflow(d.cause)) {
    const lock = await releaseJobLock(deps, job, envelope.job, envelope, executionArn);
    return { ...base, ...ids, outcome: 'alreadySpooled', error: d.error ?? null, ...lock };
  }

  const { facts, pages } = await readHistory(deps, executionArn, job);
  const read = { historyEvents: facts.eventsRead, historyPages: pages };
  const now = (deps.now ?? (() => new Date()))();
  // Ended while a step ran: its Lambda runs on to its own timeout; keep the lock until then.
  const lock = await releaseJobLock(deps, job, envelope.job, envelope, executionArn, facts.phase === 'inStep' ? (d.stopDate ?? now) : null);

  if (facts.spooledByWorkflow) {
    // Stopped or timed out after SpoolFailure succeeded, before the marked Fail state: the task is
    // in the spool, and RecordFailure writes (or wrote) its record.
    return { ...base, ...ids, ...read, outcome: 'alreadySpooled', failedState: facts.caught?.failedState ?? null, ...lock };
  }

  if (facts.phase === 'afterSteps') {
    // Every step succeeded: a replay would redo finished work. Only the record, unless RecordSuccess ran.
    const error = ended === 'TIMED_OUT' ? EXECUTION_END_ERRORS.timedOut : ended === 'ABORTED' ? EXECUTION_END_ERRORS.aborted : d.error || EXECUTION_END_ERRORS.failed;
    let workerRecord: WorkerResult | null = null;
    if (!facts.successRecordStarted) {
      const record = buildWorkerRecord({
        envelope,
        now,
        timeZone: deps.timeZone,
        executionArn,
        error,
        cause: clip(`execution ${ended} in ${facts.lastState} after every step had succeeded: not spooled, nothing to replay`),
        failedState: facts.lastState,
      });
      await deps.sink.put([record]);
      workerRecord = record.result as WorkerResult;
    }
    return { ...base, ...ids, ...read, outcome: 'endedAfterSuccess', error, failedState: facts.lastState, workerRecord, ...lock };
  }

  const end = endError(ended, d, facts);
  const failedState = end.failedState ?? job.steps[0];
  let stepInput = end.stepInput;
  let cause = clip(end.cause);
  let message: SpoolMessage = {
    version: 1,
    kind: 'ExecutionEnded',
    job: envelope.job,
    taskId: envelope.taskId,
    input: raw as TaskEnvelope,
    error: end.error,
    cause,
    failedState,
    executionArn,
    stateMachineArn: d.stateMachineArn ?? '',
    stepInput,
    status: ended,
  };
  if (Buffer.byteLength(JSON.stringify(message), 'utf8') > MAX_SQS_MESSAGE_BYTES) {
    // Cannot happen within the state size budget (lambdas/shared/limits.ts); if it does, a replay
    // from the first step is still possible.
    stepInput = null;
    cause = clip(`${cause} [step input dropped: the message would exceed the SQS limit; replay from the first step]`);
    message = { ...message, stepInput, cause };
  }
  const sent = sentBefore
    ? { MessageId: sentBefore.messageId ?? undefined }
    : await deps.sqs.send(
        new SendMessageCommand({
          QueueUrl: deps.spoolQueueUrl,
          MessageBody: JSON.stringify(message),
          MessageAttributes: spoolMessageAttributes(message),
        }),
      );
  if (!sentBefore) await markSent(sent.MessageId ?? null);

  // The SpoolUnavailable path recorded the failure itself (RecordSpoolUnavailable), unless that failed too.
  const recordedByWorkflow = ended === 'FAILED' && d.error === SPOOL_UNAVAILABLE && facts.spoolUnavailableRecorded;
  let workerRecord: WorkerResult | null = null;
  if (!recordedByWorkflow) {
    const record = buildWorkerRecord({ envelope, now, timeZone: deps.timeZone, executionArn, error: end.error, cause, failedState });
    await deps.sink.put([record]);
    workerRecord = record.result as WorkerResult;
  }
  return {
    ...base,
    ...ids,
    ...read,
    outcome: 'spooled',
    error: end.error,
    failedState,
    messageId: sent.MessageId ?? null,
    workerRecord,
    ...lock,
  };
}

/** Count metrics of one capture (names are the dashboard's and the docs'). */
export function metricsOf(result: CaptureResult): Array<[name: string, count: number]> {
  const out: Array<[string, number]> = [];
  if (result.outcome === 'ignored') out.push(['IgnoredNotEnded', 1]);
  if (result.outcome === 'alreadySpooled') out.push(['AlreadySpooled', 1]);
  if (result.outcome === 'endedAfterSuccess') out.push(['EndedAfterSuccess', 1]);
  if (result.outcome === 'alreadyCaptured') out.push(['AlreadyCaptured', 1]);
  if (result.outcome === 'busy') out.push(['CaptureBusy', 1]);
  if (result.outcome === 'spooled') {
    out.push(['Spooled', 1]);
    const byStatus = result.status === 'TIMED_OUT' ? 'SpooledTimedOut' : result.status === 'ABORTED' ? 'SpooledAborted' : 'SpooledFailed';
    out.push([byStatus, 1]);
  }
  if (result.workerRecord) out.push(['WorkerRecordsWritten', 1]);
  if (result.lockReleased) out.push(['LocksReleased', 1]);
  if (result.lockKeptUntil) out.push(['LocksKeptAfterEnd', 1]);
  return out;
}
