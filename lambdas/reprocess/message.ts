import { envelopeBytes, EnvelopeError, MAX_EXECUTION_INPUT_BYTES, parseEnvelope, TaskEnvelope, withoutResume } from '../shared/envelope';
import { JsonValue } from '../shared/json';
import { executionNameFor, taskIdFor } from '../shared/names';
import { DEFAULT_RECORD_DAYS } from '../shared/step-idempotency';
import { MAX_TICK_AGE_MS } from '../shared/tick-age';
import { QUARANTINE_ATTR_REASON, SPOOL_ATTR_ERROR, SPOOL_ATTR_FIRST_SENT, SPOOL_ATTR_JOB, SpoolKind } from '../shared/spool-message';
import { JobRules } from './env';
import { ReprocessOptions } from './payload';
import { dependenciesToRun, replayInput } from './replay';

/** What reprocess needs of one received SQS message (a subset of the SDK's Message). */
export interface ReceivedMessage {
  readonly MessageId?: string;
  readonly ReceiptHandle?: string;
  readonly Body?: string;
  readonly Attributes?: Partial<Record<string, string>>;
  readonly MessageAttributes?: Record<string, { StringValue?: string; DataType?: string } | undefined>;
}

/** Kinds that are replayed. */
export type ReplayKind = 'ExecutionFailed' | 'ExecutionEnded' | 'StartFailed';

/** What every plan says about its message (for the summary: ids and names, never params). */
export interface PlanBase {
  readonly taskId: string | null;
  readonly job: string | null;
  readonly error: string | null;
  /** When the failure was first spooled (epoch ms), if known. */
  readonly spooledAtMs: number | null;
}

/** A replay: start `stateMachineArn` under `name` with `input`. */
export interface ReplayPlan extends PlanBase {
  readonly action: 'replay';
  readonly kind: ReplayKind;
  readonly taskId: string;
  readonly job: string;
  readonly error: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: TaskEnvelope;
  /** The top-level step the replay enters at, or null (from the first step). */
  readonly resumeAt: string | null;
  /** Why it starts over although `from` is `failed-step`, or null. */
  readonly fallback: string | null;
  /** The failed step no longer exists in the job: not replayed unless `from: "start"` (left in the queue, counted). */
  readonly unknownResumeStep?: string | null;
  /** Dependencies of the steps it would run: none may be on hold. */
  readonly dependencies: ReadonlyArray<string>;
  /**
   * The ended execution to look at before starting (ExecutionEnded only): a redrive from the
   * console may already run it again. Null: no look needed.
   */
  readonly checkExecutionArn: string | null;
  /** Replayed past spool.maxReplays because the operator named it with `force`. */
  readonly forced?: boolean;
}

/** Never started: moved to the quarantine queue with `reason`. */
export interface QuarantinePlan extends PlanBase {
  readonly action: 'quarantine';
  /** Why (summary and the quarantine's `reason` attribute): names only, never params. */
  readonly reason: string;
  /** More for the quarantine attribute only (e.g. the producer's rejection cause). */
  readonly detail?: string;
}

/** Does not match the filter: released, stays in the spool. */
export interface SkipPlan extends PlanBase {
  readonly action: 'skip';
}

/** Selected by a quarantine `drop`: deleted (dry run: released). */
export interface DropPlan extends PlanBase {
  readonly action: 'drop';
  /** Why it was quarantined (the `reason` attribute up to its detail: names, never params). */
  readonly reason: string;
}

export type Plan = ReplayPlan | QuarantinePlan | SkipPlan | DropPlan;

/** Rules that come from the deployment, not the payload. */
export interface ClassifyRules {
  /** The app's jobs: a message of any other job is quarantined. */
  readonly jobs: ReadonlyMap<string, JobRules>;
  /** A task whose spooled attempt is above this has been replayed too often: quarantined. */
  readonly maxReplays: number;
  /**
   * A task whose tick is older than this (ms) is quarantined instead of replayed, unless the
   * operator forces it by task id ({@link MAX_REPLAY_TICK_AGE_MS}; the handler always sets it).
   * Absent: no age limit (unit tests of other rules on a fixed clock).
   */
  readonly maxTickAgeMs?: number;
}

/**
 * Oldest tick a replay starts without `force`. A step's record (lambdas/shared/step-idempotency.ts)
 * is written no earlier than the task's tick and kept DEFAULT_RECORD_DAYS; the sweeper keeps a
 * spooled failure for as long as nobody replays it. A replay after the records are gone runs again
 * the map items and group branches that had completed (a start-over fallback: every step), i.e.
 * doubles their side effects; past 90 days even the execution name no longer dedupes a start. The
 * margin leaves the replayed execution days to reach its steps (holds, lock waits, retries). The
 * same limit applies to re-running a producer tick (lambdas/shared/tick-age.ts: one rule for both).
 */
export const MAX_REPLAY_TICK_AGE_MS = MAX_TICK_AGE_MS;

/** Reason prefix of a task too old to replay without doubling side effects. */
export const TOO_OLD = 'too old to replay safely';

/**
 * How far in the future a message's tick may be before it counts as forged: the producer stamps
 * the tick from Scheduler's scheduled time, which is never after the producer runs, so only the
 * skew between Lambda clocks (and the sweeper's re-sends) needs room.
 */
export const FUTURE_TICK_ALLOWANCE_MS = 5 * 60_000;

const REPLAYED: ReadonlySet<string> = new Set(['ExecutionFailed', 'ExecutionEnded', 'StartFailed']);
const KINDS: ReadonlySet<string> = new Set<SpoolKind>(['ExecutionFailed', 'ExecutionEnded', 'StartFailed', 'Rejected', 'ProducerFailed']);
/** Reason prefix of a message that does not hold together the way the app writes messages. */
export const FORGED = 'may be forged';
/**
 * Reason prefix of a task whose params fail the job's schema (InvalidParamsError, raised by a step
 * after the job's `migrate`): the same params fail again, so it is never replayed silently.
 */
export const PARAMS_REJECTED = 'params rejected by the schema';
/** Reason prefix of a task replayed more than spool.maxReplays times. */
export const TOO_MANY_REPLAYS = 'too many replays';

function attr(m: ReceivedMessage, name: string): string | undefined {
  return m.MessageAttributes?.[name]?.StringValue;
}

/**
 * When the failure was FIRST spooled (epoch ms): the sweeper's `firstSentAt` attribute when it
 * re-sent the message (a re-send gets a new SentTimestamp, AWS SQS developer guide), else SQS's
 * SentTimestamp; undefined when neither is there.
 */
export function spooledAtMs(m: ReceivedMessage): number | undefined {
  const first = Number(attr(m, SPOOL_ATTR_FIRST_SENT));
  if (attr(m, SPOOL_ATTR_FIRST_SENT) !== undefined && Number.isFinite(first) && first > 0) return first;
  const raw = m.Attributes?.SentTimestamp;
  return raw === undefined ? undefined : Number(raw);
}

/**
 * The message-id and time filters every source shares (a message's age is its first send: the
 * sweeper's re-sends keep it).
 */
export function selectedByIdAndTime(m: ReceivedMessage, o: Pick<ReprocessOptions, 'messageIds' | 'sentBeforeMs' | 'sentAfterMs'>): boolean {
  if (o.messageIds !== undefined && (m.MessageId === undefined || !o.messageIds.has(m.MessageId))) return false;
  const sent = spooledAtMs(m);
  if (sent !== undefined) {
    if (o.sentBeforeMs !== undefined && !(sent < o.sentBeforeMs)) return false;
    if (o.sentAfterMs !== undefined && !(sent > o.sentAfterMs)) return false;
  }
  return true;
}

/**
 * Filter on what is known without parsing the body: the first-spooled time and the `job` /
 * `errorType` message attributes. A message that fails here is skipped even if its body is
 * malformed: an operator replaying job A must not quarantine job B's messages.
 */
function passesCheapFilter(m: ReceivedMessage, o: ReprocessOptions): boolean {
  if (!selectedByIdAndTime(m, o)) return false;
  const job = attr(m, SPOOL_ATTR_JOB);
  if (o.job !== undefined && job !== undefined && job !== o.job) return false;
  const error = attr(m, SPOOL_ATTR_ERROR);
  if (o.errorType !== undefined && error !== undefined && error !== o.errorType) return false;
  return true;
}

function str(o: Record<string, unknown>, k: string): string | null {
  return typeof o[k] === 'string' && (o[k] as string).length > 0 ? (o[k] as string) : null;
}

/** `arn:...:stateMachine:<name>` -> `arn:...:execution:<name>:` (the prefix of its executions). */
function executionPrefix(stateMachineArn: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:`;
}

/**
 * Decides what to do with one spool message. Pure: no I/O, so each rule is tested directly.
 * Order: cheap filter (attributes, time) -> parse -> body filter -> never-replayable kinds ->
 * shape -> forged-replay checks -> replay budget -> replay input.
 */
export function classify(m: ReceivedMessage, o: ReprocessOptions, rules: ClassifyRules, nowMs: number): Plan {
  const spooledAt = spooledAtMs(m) ?? null;
  const base = (taskId: string | null, job: string | null, error: string | null): PlanBase => ({ taskId, job, error, spooledAtMs: spooledAt });
  const byAttr = base(null, attr(m, SPOOL_ATTR_JOB) ?? null, attr(m, SPOOL_ATTR_ERROR) ?? null);
  if (!passesCheapFilter(m, o)) return { action: 'skip', ...byAttr };

  let body: unknown;
  try {
    body = JSON.parse(m.Body ?? '');
  } catch {
    return { action: 'quarantine', reason: 'body is not JSON', ...byAttr };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { action: 'quarantine', reason: 'body is not a JSON object', ...byAttr };
  const b = body as Record<string, unknown>;
  const taskId = str(b, 'taskId');
  const job = str(b, 'job');
  const error = str(b, 'error');
  const ids = base(taskId, job, error);
  const q = (reason: string, detail?: string): QuarantinePlan => ({ action: 'quarantine', reason, ...(detail ? { detail } : {}), ...ids });

  // Body-level filter before the quarantine rules, for the same reason as the cheap filter.
  if (o.job !== undefined && job !== null && job !== o.job) return { action: 'skip', ...ids };
  if (o.errorType !== undefined && error !== null && error !== o.errorType) return { action: 'skip', ...ids };
  if (o.taskIds !== undefined && (taskId === null || !o.taskIds.has(taskId))) return { action: 'skip', ...ids };

  if (b.version !== 1) return q(`unsupported spool message version ${JSON.stringify(b.version)}`);
  if (typeof b.kind !== 'string' || !KINDS.has(b.kind)) return q(`unknown kind ${JSON.stringify(b.kind)}`);
  // Spec errors are never replayable: the same spec fails again (or runs a key twice). Producers
  // send them straight to the quarantine; one that reached the spool goes there with its reason.
  if (b.kind === 'Rejected') {
    return q(
      `Rejected: the producer refused this task spec (${error ?? 'no error name'}); a spec error is never replayable: fix the producer, then re-plan its tick (tick rerun --replan)`,
      str(b, 'cause') ?? undefined,
    );
  }
  if (b.kind === 'ProducerFailed') {
    return q('ProducerFailed: the producer failed before any task existed, so there is nothing to replay; re-run the tick by hand (see the runbook)', str(b, 'cause') ?? undefined);
  }
  if (!REPLAYED.has(b.kind)) return q(`kind ${b.kind} is not replayable`);
  const kind = b.kind as ReplayPlan['kind'];
  if (taskId === null) return q('missing taskId');
  if (job === null) return q('missing job');
  const stateMachineArn = str(b, 'stateMachineArn');
  if (stateMachineArn === null) return q('missing stateMachineArn');
  const jobRules = rules.jobs.get(job);
  if (!jobRules) return q(`unknown job "${job}": not one of this app's jobs (removed or renamed?)`);
  if (b.input === null || b.input === undefined) return q('no input to replay');
  let envelope: TaskEnvelope;
  try {
    envelope = parseEnvelope(b.input);
  } catch (e) {
    return q(`input is not a task envelope (${e instanceof EnvelopeError ? e.field : 'input'}: ${(e as Error).message})`);
  }

  // Forged replays (issue 9): whoever can send to the spool must not be able to run params of
  // their choosing under a name the producer will use later, nor in another job's workflow. A
  // message the app wrote always holds together: its task id is the one job, tick and key derive,
  // it names its job's state machine, and its tick has come.
  if (envelope.job !== job) return q(`${FORGED}: the input's job is not the message's job "${job}"`);
  if (stateMachineArn !== jobRules.stateMachineArn) {
    return q(`${FORGED}: the state machine is not job "${job}"'s (or a deploy replaced the job's state machine; then send the body back with the new one)`);
  }
  if (envelope.taskId !== taskId) return q(`${FORGED}: input.taskId differs from the message taskId`);
  if (taskIdFor(envelope.job, new Date(envelope.scheduledTime), envelope.key) !== envelope.taskId) {
    return q(`${FORGED}: the task id is not the one its job, tick and key derive`);
  }
  const tickMs = Date.parse(envelope.scheduledTime);
  if (tickMs > nowMs + FUTURE_TICK_ALLOWANCE_MS) {
    return q(`${FORGED}: its tick ${new Date(tickMs).toISOString()} is in the future; replaying it would take the name of a task that has not run yet`);
  }
  const executionArn = str(b, 'executionArn');
  if (kind === 'ExecutionEnded' && executionArn !== null && !executionArn.startsWith(executionPrefix(stateMachineArn))) {
    return q(`${FORGED}: executionArn is not an execution of job "${job}"'s state machine`);
  }

  // `force` is accepted only with taskIds (payload.ts), and this message's task is one of them
  // (the body filter above): the operator named it after finding the cause.
  const forced = envelope.attempt > rules.maxReplays && o.force && o.taskIds?.has(taskId) === true;
  if (envelope.attempt > rules.maxReplays && !forced) {
    return q(`${TOO_MANY_REPLAYS}: attempt ${envelope.attempt} > MAX_REPLAYS ${rules.maxReplays}; find the cause, then replay it from the quarantine with force and its task id`);
  }
  // Past the step records' lifetime a replay would apply completed side effects again: a person decides.
  if (rules.maxTickAgeMs !== undefined && nowMs - tickMs > rules.maxTickAgeMs && !(o.force && o.taskIds?.has(taskId) === true)) {
    return q(
      `${TOO_OLD}: its tick ${new Date(tickMs).toISOString()} is more than ${Math.floor(rules.maxTickAgeMs / 86_400_000)} days old and its steps' records (kept ${DEFAULT_RECORD_DAYS} days) may be gone, so steps that had completed would run again; check what the task already did, then replay it from the quarantine with force and its task id`,
    );
  }
  // Replaying params the deployed schema refuses fails again: quarantined with the paths (the
  // error's message, never a value) until a `migrate` is deployed and the operator forces it.
  if (error === 'InvalidParamsError' && !(o.force && o.taskIds?.has(taskId) === true)) {
    return q(
      `${PARAMS_REJECTED}: the job's params schema (after its migrate) refuses this task's params; declare a version and migrate in the job's params module, deploy, then replay it from the quarantine with force and its task id`,
      str(b, 'cause') ?? undefined,
    );
  }
  if (envelopeBytes(withoutResume(envelope)) > MAX_EXECUTION_INPUT_BYTES) return q(`input exceeds the ${MAX_EXECUTION_INPUT_BYTES}-byte envelope limit`);
  const r = replayInput(
    { kind, envelope, failedState: str(b, 'failedState'), stepInput: 'stepInput' in b ? (b.stepInput as JsonValue) : undefined },
    o.from,
    jobRules,
  );
  return {
    action: 'replay',
    kind,
    ...ids,
    taskId,
    job,
    error: error ?? '',
    stateMachineArn,
    name: executionNameFor(taskId, r.input.attempt),
    input: r.input,
    resumeAt: r.resumeAt,
    fallback: r.fallback,
    ...(r.unknownResumeStep ? { unknownResumeStep: r.unknownResumeStep } : {}),
    dependencies: dependenciesToRun(jobRules, r.resumeAt),
    // Only an execution that ended outside the Catch can be running again: a redrive reruns its
    // unsuccessful step. One whose error was caught ended in the Fail state, which a redrive
    // "reenters ... and fails again" (AWS Step Functions developer guide, "Redriving executions",
    // redrive behavior of individual states): it never runs the task again, so no look is needed.
    checkExecutionArn: kind === 'ExecutionEnded' ? executionArn : null,
    ...(forced ? { forced: true } : {}),
  };
}

/** The `reason` attribute of a quarantined message without its detail (a producer's or Lambda's cause may follow ` -- `). */
export function quarantineReason(m: ReceivedMessage): string {
  const r = attr(m, QUARANTINE_ATTR_REASON) ?? '(no reason attribute)';
  const cut = r.indexOf(' -- ');
  return (cut < 0 ? r : r.slice(0, cut)).slice(0, 300);
}

/**
 * Selects a quarantined message for `drop`: the same filters as a replay (message ids, first-spooled
 * time, job, error, task ids), read from the attributes first and from the body where an attribute
 * is missing. A body that is not JSON can only be selected by its message id or its attributes.
 * Pure.
 */
export function dropPlan(m: ReceivedMessage, o: ReprocessOptions): DropPlan | SkipPlan {
  const spooledAt = spooledAtMs(m) ?? null;
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(m.Body ?? '');
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    // Malformed: only the attributes and the message id can select it.
  }
  const taskId = str(body, 'taskId');
  const job = attr(m, SPOOL_ATTR_JOB) ?? str(body, 'job');
  const error = attr(m, SPOOL_ATTR_ERROR) ?? str(body, 'error');
  const base: PlanBase = { taskId, job, error, spooledAtMs: spooledAt };
  const selected =
    passesCheapFilter(m, o) &&
    (o.job === undefined || job === o.job) &&
    (o.errorType === undefined || error === o.errorType) &&
    (o.taskIds === undefined || (taskId !== null && o.taskIds.has(taskId)));
  return selected ? { action: 'drop', ...base, reason: quarantineReason(m) } : { action: 'skip', ...base };
}
