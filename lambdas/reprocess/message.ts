import { envelopeBytes, EnvelopeError, MAX_EXECUTION_INPUT_BYTES, parseEnvelope, TaskEnvelope } from '../shared/envelope';
import { executionNameFor } from '../shared/names';
import { SPOOL_ATTR_ERROR, SPOOL_ATTR_JOB, SpoolKind } from '../shared/spool-message';
import { ReprocessOptions } from './payload';

/** What reprocess needs of one received SQS message (a subset of the SDK's Message). */
export interface ReceivedMessage {
  readonly MessageId?: string;
  readonly ReceiptHandle?: string;
  readonly Body?: string;
  readonly Attributes?: Partial<Record<string, string>>;
  readonly MessageAttributes?: Record<string, { StringValue?: string; DataType?: string } | undefined>;
}

/** A replay: start `stateMachineArn` under `name` with `input` (or redrive `executionArn` first). */
export interface ReplayPlan {
  readonly action: 'replay';
  readonly kind: Exclude<SpoolKind, 'ProducerFailed'>;
  readonly taskId: string;
  readonly job: string;
  readonly error: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: TaskEnvelope;
  /** The failed execution, for redrive mode (ExecutionFailed only). */
  readonly executionArn: string | null;
}

/** Never started: moved to the quarantine queue with `reason`. */
export interface QuarantinePlan {
  readonly action: 'quarantine';
  readonly reason: string;
  readonly taskId: string | null;
  readonly job: string | null;
  readonly error: string | null;
}

/** Does not match the filter: released, stays in the spool. */
export interface SkipPlan {
  readonly action: 'skip';
  readonly taskId: string | null;
  readonly job: string | null;
  readonly error: string | null;
}

export type Plan = ReplayPlan | QuarantinePlan | SkipPlan;

/** Rules that come from the deployment, not the payload. */
export interface ClassifyRules {
  /** State machines of this app; a message naming any other is quarantined. */
  readonly allowedStateMachineArns: ReadonlySet<string>;
  /** A task whose spooled attempt is above this has been replayed too often: quarantined. */
  readonly maxReplays: number;
}

const KINDS: ReadonlySet<string> = new Set(['ExecutionFailed', 'StartFailed', 'ProducerFailed']);

function attr(m: ReceivedMessage, name: string): string | undefined {
  return m.MessageAttributes?.[name]?.StringValue;
}

/** SQS SentTimestamp (epoch ms), or undefined when SQS did not return it. */
export function sentAtMs(m: ReceivedMessage): number | undefined {
  const raw = m.Attributes?.SentTimestamp;
  return raw === undefined ? undefined : Number(raw);
}

/**
 * Filter on what is known without parsing the body: the SentTimestamp and the `job` / `errorType`
 * message attributes. A message that fails here is skipped even if its body is malformed: an
 * operator replaying job A must not quarantine job B's messages.
 */
function passesCheapFilter(m: ReceivedMessage, o: ReprocessOptions): boolean {
  const sent = sentAtMs(m);
  if (sent !== undefined) {
    if (o.sentBeforeMs !== undefined && !(sent < o.sentBeforeMs)) return false;
    if (o.sentAfterMs !== undefined && !(sent > o.sentAfterMs)) return false;
  }
  const job = attr(m, SPOOL_ATTR_JOB);
  if (o.job !== undefined && job !== undefined && job !== o.job) return false;
  const error = attr(m, SPOOL_ATTR_ERROR);
  if (o.errorType !== undefined && error !== undefined && error !== o.errorType) return false;
  return true;
}

function str(o: Record<string, unknown>, k: string): string | null {
  return typeof o[k] === 'string' && (o[k] as string).length > 0 ? (o[k] as string) : null;
}

/**
 * Decides what to do with one spool message. Pure: no I/O, so each rule is tested directly.
 * Order: cheap filter (attributes, time) -> parse -> quarantine rules -> body filter.
 */
export function classify(m: ReceivedMessage, o: ReprocessOptions, rules: ClassifyRules): Plan {
  const skip = (taskId: string | null, job: string | null, error: string | null): SkipPlan => ({ action: 'skip', taskId, job, error });
  if (!passesCheapFilter(m, o)) return skip(null, attr(m, SPOOL_ATTR_JOB) ?? null, attr(m, SPOOL_ATTR_ERROR) ?? null);

  let body: unknown;
  try {
    body = JSON.parse(m.Body ?? '');
  } catch {
    return { action: 'quarantine', reason: 'body is not JSON', taskId: null, job: attr(m, SPOOL_ATTR_JOB) ?? null, error: attr(m, SPOOL_ATTR_ERROR) ?? null };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { action: 'quarantine', reason: 'body is not a JSON object', taskId: null, job: attr(m, SPOOL_ATTR_JOB) ?? null, error: attr(m, SPOOL_ATTR_ERROR) ?? null };
  }
  const b = body as Record<string, unknown>;
  const taskId = str(b, 'taskId');
  const job = str(b, 'job');
  const error = str(b, 'error');
  const q = (reason: string): QuarantinePlan => ({ action: 'quarantine', reason, taskId, job, error });

  // Body-level filter before the quarantine rules, for the same reason as the cheap filter.
  if (o.job !== undefined && job !== null && job !== o.job) return skip(taskId, job, error);
  if (o.errorType !== undefined && error !== null && error !== o.errorType) return skip(taskId, job, error);
  if (o.taskIds !== undefined && (taskId === null || !o.taskIds.has(taskId))) return skip(taskId, job, error);

  if (b.version !== 1) return q(`unsupported spool message version ${JSON.stringify(b.version)}`);
  if (typeof b.kind !== 'string' || !KINDS.has(b.kind)) return q(`unknown kind ${JSON.stringify(b.kind)}`);
  if (b.kind === 'ProducerFailed') {
    return q('ProducerFailed: the producer failed before any task existed, so there is nothing to replay; re-run the tick by hand (see the runbook)');
  }
  if (taskId === null) return q('missing taskId');
  if (job === null) return q('missing job');
  const stateMachineArn = str(b, 'stateMachineArn');
  if (stateMachineArn === null) return q('missing stateMachineArn');
  if (!rules.allowedStateMachineArns.has(stateMachineArn)) {
    return q('unknown state machine: not one of this app\'s workflows (job removed or renamed?)');
  }
  if (b.input === null || b.input === undefined) return q('no input to replay');
  let envelope: TaskEnvelope;
  try {
    envelope = parseEnvelope(b.input);
  } catch (e) {
    return q(`input is not a task envelope (${e instanceof EnvelopeError ? e.field : 'input'}: ${(e as Error).message})`);
  }
  if (envelope.taskId !== taskId) return q('input.taskId differs from the message taskId');
  if (envelope.attempt > rules.maxReplays) {
    return q(`too many replays: attempt ${envelope.attempt} > MAX_REPLAYS ${rules.maxReplays}; investigate before replaying by hand`);
  }
  const kind = b.kind as ReplayPlan['kind'];
  // StartFailed: the producer's start may in fact have gone through, so the SAME name is used
  // (Step Functions then refuses a second run). ExecutionFailed: a new attempt, a new name.
  const input: TaskEnvelope = kind === 'ExecutionFailed' ? { ...envelope, attempt: envelope.attempt + 1 } : envelope;
  if (envelopeBytes(input) > MAX_EXECUTION_INPUT_BYTES) return q(`input exceeds the ${MAX_EXECUTION_INPUT_BYTES}-byte execution input limit`);
  return {
    action: 'replay',
    kind,
    taskId,
    job,
    error: error ?? '',
    stateMachineArn,
    name: executionNameFor(taskId, input.attempt),
    input,
    executionArn: kind === 'ExecutionFailed' ? str(b, 'executionArn') : null,
  };
}
