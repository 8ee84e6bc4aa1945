import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageBatchCommand, SendMessageBatchRequestEntry, SQSClient } from '@aws-sdk/client-sqs';
import { ENVELOPE_VERSION, envelopeBytes, MAX_EXECUTION_INPUT_BYTES, TaskEnvelope } from '../shared/envelope';
import { errorMessage, errorName } from '../shared/errors';
import { isPlainJson, JsonValue } from '../shared/json';
import { executionNameFor, taskIdFor, tickStamp } from '../shared/names';
import { buildClientRecord, ClientResult, ParamLogRecord, ParamLogSink } from '../shared/param-log';
import { MAX_SQS_MESSAGE_BYTES, SPOOL_ATTR_ERROR, SPOOL_ATTR_JOB, SPOOL_ATTR_KIND, SpoolKind, SpoolMessage } from '../shared/spool-message';

/** One task a producer returns: a key unique within the tick, and plain-JSON params. */
export interface TaskSpec {
  readonly key: string;
  readonly params: JsonValue;
}

/** What a producer is told about the tick it runs for. */
export interface ProducerContext {
  readonly job: string;
  /** The schedule tick (from EventBridge Scheduler's `<aws.scheduler.scheduled-time>`). */
  readonly scheduledTime: Date;
  /** The app's IANA time zone, for producers whose work depends on the local date. */
  readonly timeZone: string;
}

/** The only code a job author writes for the producer. */
export type ProduceFn = (ctx: ProducerContext) => ReadonlyArray<TaskSpec> | Promise<ReadonlyArray<TaskSpec>>;

/** The event the schedule sends: `{ "scheduledTime": "<aws.scheduler.scheduled-time>" }`. */
export interface TickEvent {
  readonly scheduledTime?: string;
}

/** Error names the producer itself reports in records and spool messages. */
export const PRODUCER_ERRORS = {
  invalidTask: 'InvalidTaskSpec',
  duplicateKey: 'DuplicateTaskKey',
  tooLarge: 'EnvelopeTooLarge',
  badOutput: 'InvalidProducerOutput',
} as const;

/** Task keys: readable, bounded (they become part of execution names and S3-queried ids). */
export const MAX_KEY_LENGTH = 128;

/** Thrown when the tick event has no usable scheduledTime: Scheduler retries, then the DLQ keeps it. */
export class InvalidTickEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTickEventError';
  }
}

/** Thrown when spool messages could not be sent: the tick fails so Scheduler retries it (starts are idempotent). */
export class SpoolSendError extends Error {
  constructor(readonly failed: number) {
    super(`${failed} spool message(s) could not be sent`);
    this.name = 'SpoolSendError';
  }
}

/** Dependencies of {@link runTick}; SDK clients are created once by the handler and injected. */
export interface TickDeps {
  readonly job: string;
  readonly stateMachineArn: string;
  readonly spoolQueueUrl: string;
  readonly timeZone: string;
  readonly sfn: SFNClient;
  readonly sqs: SQSClient;
  readonly sink: ParamLogSink;
  /** Concurrent StartExecution calls (the account shares a 150/s bucket). @default 10 */
  readonly concurrency?: number;
  readonly now?: () => Date;
  /** Counts-only logger; never given params. */
  readonly log?: (message: string, fields: Record<string, unknown>) => void;
}

/** Counts of one tick, returned and logged. */
export interface TickSummary {
  readonly tick: string;
  readonly tasks: number;
  readonly started: number;
  readonly duplicate: number;
  readonly startFailed: number;
  readonly producerFailed: boolean;
  readonly spooled: number;
}

interface Outcome {
  readonly envelope: TaskEnvelope;
  readonly result: ClientResult;
  readonly executionArn?: string;
  readonly error?: string;
  readonly cause?: string;
  readonly spoolKind?: SpoolKind;
}

/** ARN of a named execution of a state machine (for records of duplicates). */
export function executionArnFor(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

async function mapLimit<T, R>(items: ReadonlyArray<T>, limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/**
 * Runs one tick: asks the producer for tasks, validates them, starts one execution per valid task
 * under a deterministic name, spools every task that could not be started, and writes one client
 * record per task. A duplicate delivery of the same tick starts nothing new (records Duplicate).
 */
export async function runTick(event: TickEvent, produce: ProduceFn, deps: TickDeps): Promise<TickSummary> {
  const now = deps.now ?? (() => new Date());
  const log = deps.log ?? (() => undefined);
  const invokedAt = now();
  const scheduledTime = new Date(event?.scheduledTime ?? '');
  if (typeof event?.scheduledTime !== 'string' || Number.isNaN(scheduledTime.getTime())) {
    throw new InvalidTickEventError('the event must be {"scheduledTime": "<ISO-8601>"} as sent by the schedule');
  }
  const tick = tickStamp(scheduledTime);
  const scheduledIso = scheduledTime.toISOString();
  log('tick start', { job: deps.job, tick });

  const envelopeOf = (taskId: string, key: string, params: JsonValue): TaskEnvelope => ({
    v: ENVELOPE_VERSION,
    taskId,
    job: deps.job,
    key,
    params,
    attempt: 1,
    scheduledTime: scheduledIso,
  });

  const outcomes: Outcome[] = [];
  let producerFailed = false;
  let specs: unknown;
  try {
    specs = await produce({ job: deps.job, scheduledTime, timeZone: deps.timeZone });
  } catch (e) {
    producerFailed = true;
    outcomes.push({ envelope: envelopeOf(`${deps.job}-${tick}-producer`, 'producer', null), result: 'StartFailed', error: errorName(e), cause: errorMessage(e), spoolKind: 'ProducerFailed' });
  }
  if (!producerFailed && !Array.isArray(specs)) {
    producerFailed = true;
    const got = specs === null ? 'null' : typeof specs;
    outcomes.push({
      envelope: envelopeOf(`${deps.job}-${tick}-producer`, 'producer', null),
      result: 'StartFailed',
      error: PRODUCER_ERRORS.badOutput,
      cause: `the producer must return a list of {key, params}, got ${got}`,
      spoolKind: 'ProducerFailed',
    });
  }

  const toStart: TaskEnvelope[] = [];
  if (!producerFailed) {
    const seen = new Set<string>();
    (specs as unknown[]).forEach((spec, i) => {
      const s = spec as Partial<TaskSpec> | null;
      const rejected = (taskId: string, key: string, params: JsonValue, error: string, cause: string): void => {
        outcomes.push({ envelope: envelopeOf(taskId, key, params), result: 'StartFailed', error, cause, spoolKind: 'StartFailed' });
      };
      const placeholderId = `${deps.job}-${tick}-invalid-${i}`;
      if (typeof s !== 'object' || s === null || Array.isArray(s)) {
        rejected(placeholderId, `#${i}`, null, PRODUCER_ERRORS.invalidTask, `task #${i} is not an object {key, params}`);
        return;
      }
      const params = isPlainJson(s.params) ? s.params : null;
      if (typeof s.key !== 'string' || s.key.length === 0 || s.key.length > MAX_KEY_LENGTH) {
        rejected(placeholderId, `#${i}`, params, PRODUCER_ERRORS.invalidTask, `task #${i}: key must be a string of 1-${MAX_KEY_LENGTH} characters`);
        return;
      }
      const taskId = taskIdFor(deps.job, scheduledTime, s.key);
      if (seen.has(s.key)) {
        rejected(`${placeholderId}-dup`, s.key, params, PRODUCER_ERRORS.duplicateKey, `task #${i}: key "${s.key}" was already returned in this tick`);
        return;
      }
      seen.add(s.key);
      if (!('params' in s) || !isPlainJson(s.params)) {
        rejected(taskId, s.key, null, PRODUCER_ERRORS.invalidTask, `task #${i}: params must be plain JSON (no undefined, Date, NaN, functions or cycles)`);
        return;
      }
      const envelope = envelopeOf(taskId, s.key, s.params);
      const size = envelopeBytes(envelope);
      if (size > MAX_EXECUTION_INPUT_BYTES) {
        outcomes.push({ envelope, result: 'StartFailed', error: PRODUCER_ERRORS.tooLarge, cause: `the task envelope is ${size} bytes; Step Functions accepts at most ${MAX_EXECUTION_INPUT_BYTES}`, spoolKind: 'StartFailed' });
        return;
      }
      toStart.push(envelope);
    });
  }

  const started = await mapLimit(toStart, deps.concurrency ?? 10, async (envelope): Promise<Outcome> => {
    const name = executionNameFor(envelope.taskId, envelope.attempt);
    try {
      const out = await deps.sfn.send(new StartExecutionCommand({ stateMachineArn: deps.stateMachineArn, name, input: JSON.stringify(envelope) }));
      // Same name + same input while running returns 200 with the running execution: a redelivered tick.
      const duplicate = out.startDate !== undefined && out.startDate.getTime() < invokedAt.getTime();
      return { envelope, result: duplicate ? 'Duplicate' : 'Started', executionArn: out.executionArn };
    } catch (e) {
      if (errorName(e) === 'ExecutionAlreadyExists') {
        return { envelope, result: 'Duplicate', executionArn: executionArnFor(deps.stateMachineArn, name) };
      }
      return { envelope, result: 'StartFailed', error: errorName(e), cause: errorMessage(e), spoolKind: 'StartFailed' };
    }
  });
  outcomes.push(...started);

  // Spool first: if it fails the tick fails and Scheduler retries it; restarts are idempotent.
  const spoolMessages = outcomes.filter((o) => o.spoolKind).map((o) => spoolMessageFor(o, deps.stateMachineArn));
  await sendSpool(deps.sqs, deps.spoolQueueUrl, spoolMessages);

  const records: ParamLogRecord[] = outcomes.map((o) =>
    buildClientRecord({ envelope: o.envelope, result: o.result, now: now(), timeZone: deps.timeZone, executionArn: o.executionArn ?? null, error: o.error ?? null, cause: o.cause ?? null }),
  );
  await deps.sink.put(records);

  const count = (r: ClientResult): number => outcomes.filter((o) => o.result === r && o.spoolKind !== 'ProducerFailed').length;
  const summary: TickSummary = {
    tick,
    tasks: outcomes.filter((o) => o.spoolKind !== 'ProducerFailed').length,
    started: count('Started'),
    duplicate: count('Duplicate'),
    startFailed: count('StartFailed'),
    producerFailed,
    spooled: spoolMessages.length,
  };
  const errors = [...new Set(outcomes.map((o) => o.error).filter((e): e is string => !!e))];
  log('tick end', { job: deps.job, ...summary, errors });
  return summary;
}

function spoolMessageFor(o: Outcome, stateMachineArn: string): SpoolMessage {
  const message: SpoolMessage = {
    version: 1,
    kind: o.spoolKind!,
    job: o.envelope.job,
    taskId: o.envelope.taskId,
    input: o.spoolKind === 'ProducerFailed' ? null : o.envelope,
    error: o.error ?? 'Unknown',
    cause: o.cause ?? '',
    failedState: 'Producer',
    executionArn: null,
    stateMachineArn,
  };
  // An envelope too large for SQS cannot be replayed anyway: keep the reason, drop the input.
  if (Buffer.byteLength(JSON.stringify(message), 'utf8') > MAX_SQS_MESSAGE_BYTES - 1024) {
    return { ...message, input: null, cause: `${message.cause} (input dropped: larger than an SQS message; see the client record for the params)` };
  }
  return message;
}

/** Sends spool messages in SendMessageBatch calls of <= 10 entries and <= 1 MiB; re-sends refused entries once. */
export async function sendSpool(sqs: SQSClient, queueUrl: string, messages: ReadonlyArray<SpoolMessage>): Promise<void> {
  const entries: SendMessageBatchRequestEntry[] = messages.map((m, i) => ({
    Id: String(i),
    MessageBody: JSON.stringify(m),
    MessageAttributes: {
      [SPOOL_ATTR_JOB]: { DataType: 'String', StringValue: m.job },
      [SPOOL_ATTR_ERROR]: { DataType: 'String', StringValue: m.error },
      [SPOOL_ATTR_KIND]: { DataType: 'String', StringValue: m.kind },
    },
  }));
  const batches: SendMessageBatchRequestEntry[][] = [];
  let current: SendMessageBatchRequestEntry[] = [];
  let bytes = 0;
  for (const e of entries) {
    const size = Buffer.byteLength(e.MessageBody!, 'utf8') + 512;
    if (current.length > 0 && (current.length >= 10 || bytes + size > MAX_SQS_MESSAGE_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += size;
  }
  if (current.length) batches.push(current);
  let failed = 0;
  for (const batch of batches) {
    let pending = batch;
    for (let round = 0; round < 2 && pending.length > 0; round++) {
      const out = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
      const failedIds = new Set((out.Failed ?? []).map((f) => f.Id));
      pending = pending.filter((e) => failedIds.has(e.Id));
    }
    failed += pending.length;
  }
  if (failed > 0) throw new SpoolSendError(failed);
}
