import { createHash } from 'node:crypto';
import { parseEnvelope, TaskEnvelope } from './envelope';
import { MAX_SQS_MESSAGE_BYTES } from './spool-message';

/**
 * The tick queue's message: one batch of a tick's tasks, written by the producer and started by a
 * starter. The contract between the two halves of a tick (lambdas/producer, lambdas/starter).
 * Versioned: a message can wait in the queue across a deploy.
 *
 * A batch is identified by its ledger key `batch#<job>#<tick>#<plan>#<index>` (`plan` is a digest
 * of the tick's task ids, so a producer that returns a different list on a retry makes new
 * batches instead of resuming old ones with other tasks). The starters record each batch's
 * progress under that key (lambdas/shared/tick-ledger.ts). A message may carry only the tail of
 * its batch (`offset` > 0): what a starter that reached its deadline handed on.
 */
export interface TickBatchMessage {
  readonly v: 1;
  readonly job: string;
  /** The tick, `yyyyMMddTHHmmZ` (lambdas/shared/names.ts tickStamp). */
  readonly tick: string;
  /** The job's state machine. */
  readonly stateMachineArn: string;
  /** Ledger key of the batch. */
  readonly batchId: string;
  /** Ledger key of the tick. */
  readonly tickId: string;
  /** Position of the batch in the tick's plan, and the plan's number of batches. */
  readonly index: number;
  readonly batches: number;
  /** Index within the batch of `tasks[0]`. */
  readonly offset: number;
  /** Tasks in the whole batch. */
  readonly total: number;
  readonly tasks: ReadonlyArray<TaskEnvelope>;
}

/** SQS message attributes of a tick message (filtering and tracing without parsing bodies). */
export const TICK_ATTR_JOB = 'job';
export const TICK_ATTR_BATCH = 'batchId';

/**
 * Largest tick message body: SQS's 1 MiB message limit (body and attributes together; AWS SQS
 * developer guide, "Amazon SQS message quotas"), less room for the attributes.
 */
export const MAX_TICK_MESSAGE_BYTES = MAX_SQS_MESSAGE_BYTES - 8 * 1024;
/** JSON of the message without its tasks (ids, ARN, counters), bytes: generous. */
const FRAME_BYTES = 2 * 1024;

/** Ledger key of a tick. */
export function tickLedgerKey(job: string, tick: string): string {
  return `tick#${job}#${tick}`;
}

/** Ledger key of batch `index` of plan `planId` of a tick. */
export function batchLedgerKey(job: string, tick: string, planId: string, index: number): string {
  return `batch#${job}#${tick}#${planId}#${index}`;
}

/** A short digest of the tick's task ids, in order: same list, same plan. */
export function planIdOf(envelopes: ReadonlyArray<TaskEnvelope>): string {
  const h = createHash('sha256');
  for (const e of envelopes) h.update(e.taskId).update('\n');
  return h.digest('hex').slice(0, 16);
}

/**
 * Cuts the tick's tasks into batches of at most `maxTasks` tasks whose message stays under
 * {@link MAX_TICK_MESSAGE_BYTES}, in the producer's order. Every envelope must already fit alone
 * (the producer admits at most MAX_ENVELOPE_BYTES, far below it).
 */
export function splitIntoBatches(envelopes: ReadonlyArray<TaskEnvelope>, maxTasks: number): TaskEnvelope[][] {
  const batches: TaskEnvelope[][] = [];
  let current: TaskEnvelope[] = [];
  let bytes = FRAME_BYTES;
  for (const e of envelopes) {
    const size = Buffer.byteLength(JSON.stringify(e), 'utf8') + 1;
    if (current.length > 0 && (current.length >= maxTasks || bytes + size > MAX_TICK_MESSAGE_BYTES)) {
      batches.push(current);
      current = [];
      bytes = FRAME_BYTES;
    }
    current.push(e);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Thrown for a tick message that is not a valid {@link TickBatchMessage}: it goes to the dead-letter queue. */
export class InvalidTickMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTickMessageError';
  }
}

const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

/** Parses and checks a tick message body (every task envelope included). */
export function parseTickBatch(body: string): TickBatchMessage {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(body) as Record<string, unknown>;
  } catch {
    throw new InvalidTickMessageError('the tick message body is not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new InvalidTickMessageError('the tick message body is not a JSON object');
  if (o.v !== 1) throw new InvalidTickMessageError(`unsupported tick message version ${JSON.stringify(o.v)}`);
  for (const f of ['job', 'tick', 'stateMachineArn', 'batchId', 'tickId'] as const) {
    if (typeof o[f] !== 'string' || (o[f] as string) === '') throw new InvalidTickMessageError(`tick message field "${f}" must be a non-empty string`);
  }
  for (const f of ['index', 'batches', 'offset', 'total'] as const) {
    if (!isCount(o[f])) throw new InvalidTickMessageError(`tick message field "${f}" must be a non-negative integer`);
  }
  if (!Array.isArray(o.tasks)) throw new InvalidTickMessageError('tick message field "tasks" must be a list');
  const tasks = o.tasks.map((t, i) => {
    try {
      return parseEnvelope(t);
    } catch (e) {
      throw new InvalidTickMessageError(`task #${i} of the tick message is not a task envelope: ${(e as Error).message}`);
    }
  });
  const m = { ...(o as unknown as TickBatchMessage), tasks };
  if (m.offset + tasks.length > m.total) throw new InvalidTickMessageError('tick message: offset + tasks exceeds the batch total');
  if (!m.batchId.startsWith(`batch#${m.job}#${m.tick}#`) || m.tickId !== tickLedgerKey(m.job, m.tick)) {
    throw new InvalidTickMessageError('tick message: batchId/tickId do not belong to its job and tick');
  }
  if (tasks.some((t) => t.job !== m.job)) throw new InvalidTickMessageError('tick message: a task belongs to another job');
  return m;
}
