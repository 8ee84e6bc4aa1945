/**
 * The reprocess payload: what an operator types into `aws lambda invoke --payload` or the
 * console's Test button at 3 a.m. Every field is optional; anything unknown or out of range is
 * refused with an error that names the field, BEFORE any queue or workflow is touched (a typo such
 * as `dryrun` must never turn a dry run into a real one).
 */

/** Upper bound of `max`: one 15-minute invocation starts ~150/s at the default StartExecution quota. */
export const MAX_MAX = 10_000;
/** Upper bound of `concurrency` (starts in flight at once). */
export const MAX_CONCURRENCY = 50;
/** Default starts in flight at once: enough for ~150 starts/s at 20-60 ms per call. */
export const DEFAULT_CONCURRENCY = 10;
/** Upper bound of `taskIds` entries. */
export const MAX_TASK_IDS = 1_000;

/**
 * Where a replay of a failed execution enters the workflow:
 * - `failed-step`: at the step that failed, with what that step was given (the previous step's
 *   output kept in the spool message), so steps that succeeded, and their side effects, are not
 *   run again. A message that cannot resume (failed in the first step or the lock, its step gone
 *   after a deploy, its step input unknown) starts over; the summary says why.
 * - `start`: from the first step with the original input (when the fix is in an earlier step, or
 *   the earlier steps' output is stale).
 */
export type ReplayFrom = 'failed-step' | 'start';
export const REPLAY_FROM: ReadonlyArray<ReplayFrom> = ['failed-step', 'start'];
/** See docs/reprocess.md, "Where a replay starts": resuming never repeats a side effect that already happened. */
export const DEFAULT_FROM: ReplayFrom = 'failed-step';

/** The payload as sent (unvalidated shape, documented for operators). */
export interface ReprocessPayload {
  /** Messages to handle (replay or quarantine); non-matching ones do not count. 1-10000. @default env MAX_REPROCESS */
  readonly max?: number;
  /** Look, change nothing: every received message is released, nothing is started or quarantined. @default false */
  readonly dryRun?: boolean;
  /** Only this job's failures. */
  readonly job?: string;
  /** Only failures with this error name, e.g. `ExternalApiUnavailableError`, `States.Timeout`. */
  readonly errorType?: string;
  /** Only these task ids. */
  readonly taskIds?: ReadonlyArray<string>;
  /** Only failures first spooled before this (sweeper re-sends keep the first time): ISO-8601 time or an age such as `30m`, `2h`, `7d`. */
  readonly olderThan?: string;
  /** Only failures first spooled after this: ISO-8601 time or an age such as `30m`, `2h`, `7d`. */
  readonly newerThan?: string;
  /** Starts in flight at once. 1-50. @default 10 */
  readonly concurrency?: number;
  /** `failed-step` (resume at the step that failed) or `start` (from the first step). @default failed-step */
  readonly from?: ReplayFrom;
}

/** A validated payload with defaults filled in; times resolved to epoch milliseconds. */
export interface ReprocessOptions {
  readonly max: number;
  readonly dryRun: boolean;
  readonly job?: string;
  readonly errorType?: string;
  readonly taskIds?: ReadonlySet<string>;
  /** Messages first spooled at or after this instant are skipped. */
  readonly sentBeforeMs?: number;
  /** Messages first spooled at or before this instant are skipped. */
  readonly sentAfterMs?: number;
  readonly concurrency: number;
  readonly from: ReplayFrom;
}

/** An invalid payload; `field` names the offending field. Nothing has been touched when it is thrown. */
export class InvalidPayloadError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`payload field "${field}": ${message}`);
    this.name = 'InvalidPayloadError';
  }
}

const KNOWN = new Set(['max', 'dryRun', 'job', 'errorType', 'taskIds', 'olderThan', 'newerThan', 'concurrency', 'from']);

/**
 * `mode` (`"redrive"`) was removed: a redrive continues from the unsuccessful step, and every step's
 * error is caught, so that step is the final Fail state, which a redrive "reenters ... and fails
 * again" (AWS Step Functions developer guide, "Redriving executions", redrive behavior of the Fail
 * state). An old runbook or shell history still sends it: say why and what to use instead.
 */
export const MODE_REMOVED =
  'was removed: Step Functions redrive continues from the unsuccessful step, which for these executions is the final Fail state (every step\'s error is caught), so a redrive fails again at once. Resuming at the failed step is "from": "failed-step" (the default); "from": "start" runs every step again';
const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const AGE = /^(\d+)\s*([smhd])$/;

/** `2h` -> now - 2 h; an ISO-8601 time with a zone -> that instant. */
export function parseTimeBound(field: string, value: unknown, nowMs: number): number {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidPayloadError(field, 'must be an ISO-8601 time (e.g. "2026-11-25T03:00:00Z") or an age such as "30m", "2h", "7d"');
  }
  const age = AGE.exec(value.trim());
  if (age) return nowMs - Number(age[1]) * UNIT_MS[age[2]];
  // Only full times with a zone: a bare date or local time would be read in the Lambda's UTC and surprise an operator in Tokyo.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value.trim()) || Number.isNaN(Date.parse(value))) {
    throw new InvalidPayloadError(field, `"${value}" is neither an ISO-8601 time with a zone (e.g. "2026-11-25T03:00:00+09:00") nor an age such as "30m", "2h", "7d"`);
  }
  return Date.parse(value);
}

function intInRange(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidPayloadError(field, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function nonEmptyString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidPayloadError(field, `must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Validates a payload. `null`/`undefined`/`{}` (the console's empty test event) mean "defaults".
 * @param defaultMax env MAX_REPROCESS, used when `max` is absent.
 */
export function parsePayload(raw: unknown, defaultMax: number, nowMs: number): ReprocessOptions {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidPayloadError('payload', 'must be a JSON object such as {"max": 10}');
  }
  const p = raw as Record<string, unknown>;
  if ('mode' in p) throw new InvalidPayloadError('mode', MODE_REMOVED);
  for (const key of Object.keys(p)) {
    if (!KNOWN.has(key)) {
      throw new InvalidPayloadError(key, `unknown field; known fields are ${[...KNOWN].join(', ')}`);
    }
  }
  const max = p.max === undefined ? Math.min(defaultMax, MAX_MAX) : intInRange('max', p.max, 1, MAX_MAX);
  if (p.dryRun !== undefined && typeof p.dryRun !== 'boolean') {
    throw new InvalidPayloadError('dryRun', `must be true or false, got ${JSON.stringify(p.dryRun)}`);
  }
  const job = p.job === undefined ? undefined : nonEmptyString('job', p.job);
  const errorType = p.errorType === undefined ? undefined : nonEmptyString('errorType', p.errorType);
  let taskIds: Set<string> | undefined;
  if (p.taskIds !== undefined) {
    if (!Array.isArray(p.taskIds) || p.taskIds.length === 0 || p.taskIds.length > MAX_TASK_IDS) {
      throw new InvalidPayloadError('taskIds', `must be a list of 1 to ${MAX_TASK_IDS} task ids`);
    }
    taskIds = new Set(p.taskIds.map((t, i) => nonEmptyString(`taskIds[${i}]`, t)));
  }
  const sentBeforeMs = p.olderThan === undefined ? undefined : parseTimeBound('olderThan', p.olderThan, nowMs);
  const sentAfterMs = p.newerThan === undefined ? undefined : parseTimeBound('newerThan', p.newerThan, nowMs);
  if (sentBeforeMs !== undefined && sentAfterMs !== undefined && sentAfterMs >= sentBeforeMs) {
    throw new InvalidPayloadError('newerThan', 'with olderThan it selects no time at all: newerThan must be earlier than olderThan');
  }
  const concurrency = p.concurrency === undefined ? DEFAULT_CONCURRENCY : intInRange('concurrency', p.concurrency, 1, MAX_CONCURRENCY);
  if (p.from !== undefined && !REPLAY_FROM.includes(p.from as ReplayFrom)) {
    throw new InvalidPayloadError('from', `must be "failed-step" (resume at the step that failed) or "start" (run every step again), got ${JSON.stringify(p.from)}`);
  }
  return {
    max,
    dryRun: p.dryRun === true,
    job,
    errorType,
    taskIds,
    sentBeforeMs,
    sentAfterMs,
    concurrency,
    from: (p.from as ReplayFrom | undefined) ?? DEFAULT_FROM,
  };
}
