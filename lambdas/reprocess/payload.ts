import { markParamFree } from '../shared/safe-error';
import { tickTooOldReason } from '../shared/tick-age';
import { REPLAN_MAX_AGE_DAYS } from '../shared/tick-ledger';

/**
 * The reprocess payload: what an operator types into `aws lambda invoke --payload` or the
 * console's Test button at 3 a.m. (or what the operator CLI builds). `source` says what to act on:
 * the spool (the default: replay), the quarantine (replay or drop, with an explicit selection),
 * the failed-invocations queue (re-run or drop), or one tick of a job (re-run or replan it through
 * the job's producer). Anything unknown, out of range or not meant for the source is refused with
 * an error that names the field, BEFORE any queue, function or workflow is touched (a typo such as
 * `dryrun` must never turn a dry run into a real one).
 */

/** Upper bound of `max`: one 15-minute invocation starts ~150/s at the default StartExecution quota. */
export const MAX_MAX = 10_000;
/** Upper bound of `concurrency` (starts in flight at once). */
export const MAX_CONCURRENCY = 50;
/** Default starts in flight at once: enough for ~150 starts/s at 20-60 ms per call. */
export const DEFAULT_CONCURRENCY = 10;
/** Upper bound of `taskIds` entries. */
export const MAX_TASK_IDS = 1_000;
/** Upper bound of `messageIds` entries. */
export const MAX_MESSAGE_IDS = 1_000;

/**
 * What a run acts on:
 * - `spool`: replays the error spool (the default);
 * - `quarantine`: replays (under the next attempt's name) or drops quarantined messages; an
 *   explicit selection is required (`taskIds`, `messageIds`, or `job` + `errorType` with `max`);
 * - `failedInvocations`: re-invokes the app's function named in each on-failure record with its
 *   original payload (asynchronously), or drops records;
 * - `tick`: invokes a job's producer for one tick, to re-run it or (`replan`) plan it again.
 */
export type Source = 'spool' | 'quarantine' | 'failedInvocations' | 'tick';
export const SOURCES: ReadonlyArray<Source> = ['spool', 'quarantine', 'failedInvocations', 'tick'];

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
  /** What to act on. @default spool */
  readonly source?: Source;
  /** Messages (records) to handle; non-matching ones do not count. 1-10000. @default env MAX_REPROCESS (quarantine with ids: their number) */
  readonly max?: number;
  /** Look, change nothing: every received message is released, nothing is started, invoked, deleted or moved. @default false */
  readonly dryRun?: boolean;
  /** Only this job's failures (failed invocations: only its producer's records; tick: the job whose producer runs). */
  readonly job?: string;
  /** Only failures with this error name, e.g. `ExternalApiUnavailableError`, `States.Timeout`. */
  readonly errorType?: string;
  /** Only these task ids. */
  readonly taskIds?: ReadonlyArray<string>;
  /** Only failures first spooled before this (sweeper re-sends keep the first time): ISO-8601 time or an age such as `30m`, `2h`, `7d`. */
  readonly olderThan?: string;
  /** Only failures first spooled after this: ISO-8601 time or an age such as `30m`, `2h`, `7d`. */
  readonly newerThan?: string;
  /** Starts (or invokes) in flight at once. 1-50. @default 10 */
  readonly concurrency?: number;
  /** `failed-step` (resume at the step that failed) or `start` (from the first step). @default failed-step */
  readonly from?: ReplayFrom;
  /** Quarantine and failed invocations: only these SQS message ids (a dry run lists them). */
  readonly messageIds?: ReadonlyArray<string>;
  /** Quarantine and failed invocations: delete the selected messages (after you have read them) instead of replaying them. @default false */
  readonly drop?: boolean;
  /**
   * Quarantine, with `taskIds`: replay those tasks even past `spool.maxReplays` or the tick age limit
   * (every other check still applies). Tick: run a tick older than 42 days. Failed invocations, with
   * `messageIds`: re-run those producer records although their tick is older than 42 days
   * (lambdas/shared/tick-age.ts). @default false
   */
  readonly force?: boolean;
  /** Failed invocations: only records of these functions (labels as the dry run lists them, e.g. `producer:example-api`, `executionCapture`). */
  readonly functions?: ReadonlyArray<string>;
  /** Tick: the tick, as an ISO-8601 time with a zone or as in task ids (`20261125T1800Z`). */
  readonly tick?: string;
  /** Tick: plan it again although the ledger says it is planned. @default false */
  readonly replan?: boolean;
  /** Tick: plan it although the job is paused (`scheduled-jobs run|backfill --ignore-pause`). @default false */
  readonly ignorePause?: boolean;
}

/** A validated spool or quarantine payload with defaults filled in; times resolved to epoch milliseconds. */
export interface ReprocessOptions {
  /** The queue of spool messages to act on. */
  readonly source: 'spool' | 'quarantine';
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
  /** Quarantine only: these message ids only. */
  readonly messageIds?: ReadonlySet<string>;
  /** Quarantine only: delete the selected messages instead of replaying them. */
  readonly drop: boolean;
  /** Quarantine only, with taskIds: ignore `spool.maxReplays` for the named tasks. */
  readonly force: boolean;
}

/** A validated failed-invocations payload. */
export interface FailedInvocationsOptions {
  readonly source: 'failedInvocations';
  readonly max: number;
  readonly dryRun: boolean;
  readonly drop: boolean;
  readonly messageIds?: ReadonlySet<string>;
  /** Function labels (the producer of `job` included), or all when absent. */
  readonly functions?: ReadonlySet<string>;
  readonly sentBeforeMs?: number;
  readonly sentAfterMs?: number;
  readonly concurrency: number;
  /** With messageIds: re-run those producer records although their tick is older than 42 days. */
  readonly force: boolean;
}

/** A validated tick payload. */
export interface TickOptions {
  readonly source: 'tick';
  readonly dryRun: boolean;
  readonly job: string;
  /** The tick as the schedule sends it (ISO-8601, UTC). */
  readonly scheduledTime: string;
  readonly replan: boolean;
  /** Plan it although the job is paused. */
  readonly ignorePause: boolean;
  /** Run it although it is older than 42 days (sent to the producer as `force`). */
  readonly force: boolean;
}

/** Any validated payload. */
export type ReprocessRequest = ReprocessOptions | FailedInvocationsOptions | TickOptions;

/** What the deployment knows, for checks that need it (the handler passes the environment's). */
export interface PayloadContext {
  /** Labels of the functions reprocess may re-invoke (failed invocations `functions`). */
  readonly functions?: ReadonlySet<string>;
  /** Jobs whose producer reprocess may invoke (tick `job`, failed invocations `job`). */
  readonly producerJobs?: ReadonlySet<string>;
}

/** The label under which a job's producer is allowed (env INVOCABLE_FUNCTIONS). */
export function producerLabel(job: string): string {
  return `producer:${job}`;
}

/** An invalid payload; `field` names the offending field. Nothing has been touched when it is thrown. */
export class InvalidPayloadError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`payload field "${field}": ${message}`);
    this.name = 'InvalidPayloadError';
    // The operator's own request is echoed (so the error says how to fix it), never a task's params.
    markParamFree(this);
  }
}

const SPOOL_FIELDS = ['max', 'dryRun', 'job', 'errorType', 'taskIds', 'olderThan', 'newerThan', 'concurrency', 'from'];
/** The fields each source takes (`source` itself aside). */
const FIELDS: Record<Source, ReadonlySet<string>> = {
  spool: new Set(SPOOL_FIELDS),
  quarantine: new Set([...SPOOL_FIELDS, 'messageIds', 'drop', 'force']),
  failedInvocations: new Set(['max', 'dryRun', 'job', 'functions', 'messageIds', 'drop', 'olderThan', 'newerThan', 'concurrency', 'force']),
  tick: new Set(['dryRun', 'job', 'tick', 'replan', 'ignorePause', 'force']),
};

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
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const TICK_STAMP = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})Z$/;
/** How far in the future a tick may be (clock skew), as the producer allows. */
const TICK_FUTURE_ALLOWANCE_MS = 5 * 60_000;

/** `2h` -> now - 2 h; an ISO-8601 time with a zone -> that instant. */
export function parseTimeBound(field: string, value: unknown, nowMs: number): number {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidPayloadError(field, 'must be an ISO-8601 time (e.g. "2026-11-25T03:00:00Z") or an age such as "30m", "2h", "7d"');
  }
  const age = AGE.exec(value.trim());
  if (age) return nowMs - Number(age[1]) * UNIT_MS[age[2]];
  // Only full times with a zone: a bare date or local time would be read in the Lambda's UTC and surprise an operator in Tokyo.
  if (!ISO_WITH_ZONE.test(value.trim()) || Number.isNaN(Date.parse(value))) {
    throw new InvalidPayloadError(field, `"${value}" is neither an ISO-8601 time with a zone (e.g. "2026-11-25T03:00:00+09:00") nor an age such as "30m", "2h", "7d"`);
  }
  return Date.parse(value);
}

/** A tick: `20261125T1800Z` (as in task ids and the ledger) or an ISO-8601 time with a zone -> epoch ms. */
export function parseTick(value: unknown): number {
  const text = typeof value === 'string' ? value.trim() : '';
  const stamp = TICK_STAMP.exec(text);
  const ms = stamp ? Date.UTC(+stamp[1], +stamp[2] - 1, +stamp[3], +stamp[4], +stamp[5]) : ISO_WITH_ZONE.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) {
    throw new InvalidPayloadError('tick', `must be a tick as in task ids ("20261125T1800Z", UTC) or an ISO-8601 time with a zone, got ${JSON.stringify(value)}`);
  }
  return ms;
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

function bool(field: string, value: unknown): boolean {
  if (value !== undefined && typeof value !== 'boolean') throw new InvalidPayloadError(field, `must be true or false, got ${JSON.stringify(value)}`);
  return value === true;
}

function idList(field: string, value: unknown, max: number, what: string): Set<string> | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0 || value.length > max) throw new InvalidPayloadError(field, `must be a list of 1 to ${max} ${what}`);
  return new Set(value.map((t, i) => nonEmptyString(`${field}[${i}]`, t)));
}

/**
 * Validates a payload. `null`/`undefined`/`{}` (the console's empty test event) mean "replay the
 * spool with the defaults".
 * @param defaultMax env MAX_REPROCESS, used when `max` is absent.
 * @param known what the deployment allows (checked when given).
 */
export function parseRequest(raw: unknown, defaultMax: number, nowMs: number, known: PayloadContext = {}): ReprocessRequest {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidPayloadError('payload', 'must be a JSON object such as {"max": 10}');
  }
  const p = raw as Record<string, unknown>;
  if ('mode' in p) throw new InvalidPayloadError('mode', MODE_REMOVED);
  if (p.source !== undefined && !SOURCES.includes(p.source as Source)) {
    throw new InvalidPayloadError('source', `must be one of ${SOURCES.map((x) => `"${x}"`).join(', ')}, got ${JSON.stringify(p.source)}`);
  }
  const source = (p.source as Source | undefined) ?? 'spool';
  for (const key of Object.keys(p)) {
    if (key === 'source' || FIELDS[source].has(key)) continue;
    const elsewhere = SOURCES.filter((x) => FIELDS[x].has(key));
    throw new InvalidPayloadError(
      key,
      elsewhere.length
        ? `not used with source "${source}" (it applies to source ${elsewhere.map((x) => `"${x}"`).join(', ')})`
        : `unknown field; fields of source "${source}" are ${[...FIELDS[source]].join(', ')}`,
    );
  }
  const dryRun = bool('dryRun', p.dryRun);
  if (source === 'tick') return parseTickPayload(p, dryRun, nowMs, known);

  const drop = bool('drop', p.drop);
  const messageIds = idList('messageIds', p.messageIds, MAX_MESSAGE_IDS, 'SQS message ids');
  const sentBeforeMs = p.olderThan === undefined ? undefined : parseTimeBound('olderThan', p.olderThan, nowMs);
  const sentAfterMs = p.newerThan === undefined ? undefined : parseTimeBound('newerThan', p.newerThan, nowMs);
  if (sentBeforeMs !== undefined && sentAfterMs !== undefined && sentAfterMs >= sentBeforeMs) {
    throw new InvalidPayloadError('newerThan', 'with olderThan it selects no time at all: newerThan must be earlier than olderThan');
  }
  const concurrency = p.concurrency === undefined ? DEFAULT_CONCURRENCY : intInRange('concurrency', p.concurrency, 1, MAX_CONCURRENCY);
  const job = p.job === undefined ? undefined : nonEmptyString('job', p.job);
  const givenMax = p.max === undefined ? undefined : intInRange('max', p.max, 1, MAX_MAX);

  if (source === 'failedInvocations') {
    let functions = idList('functions', p.functions, 50, 'function labels');
    if (functions && known.functions) {
      const unknown = [...functions].filter((f) => !known.functions!.has(f));
      if (unknown.length) throw new InvalidPayloadError('functions', `${unknown.join(', ')} not re-invocable here; labels: ${[...known.functions].join(', ')}`);
    }
    if (job !== undefined) {
      if (known.producerJobs && !known.producerJobs.has(job)) throw new InvalidPayloadError('job', `"${job}" has no producer in this app; jobs: ${[...known.producerJobs].join(', ')}`);
      functions = new Set([...(functions ?? []), producerLabel(job)]);
    }
    // Deleting is final: a drop names its records, or a function and how many.
    if (drop && !messageIds && !(functions && givenMax !== undefined)) {
      throw new InvalidPayloadError('drop', 'deletes records for good: select them with messageIds (a dry run lists them), or with functions / job and max');
    }
    // A forced re-run names its records, as a forced replay names its tasks.
    const forceOld = bool('force', p.force);
    if (forceOld && !messageIds) throw new InvalidPayloadError('force', 're-runs a producer tick older than 42 days only for the records you name: give messageIds (a dry run lists them)');
    if (forceOld && drop) throw new InvalidPayloadError('force', 'applies to a re-run, not to drop');
    return { source, max: givenMax ?? Math.min(defaultMax, MAX_MAX), dryRun, drop, messageIds, functions, sentBeforeMs, sentAfterMs, concurrency, force: forceOld };
  }

  const errorType = p.errorType === undefined ? undefined : nonEmptyString('errorType', p.errorType);
  const taskIds = idList('taskIds', p.taskIds, MAX_TASK_IDS, 'task ids');
  if (p.from !== undefined && !REPLAY_FROM.includes(p.from as ReplayFrom)) {
    throw new InvalidPayloadError('from', `must be "failed-step" (resume at the step that failed) or "start" (run every step again), got ${JSON.stringify(p.from)}`);
  }
  const force = bool('force', p.force);
  let max = givenMax ?? Math.min(defaultMax, MAX_MAX);
  if (source === 'quarantine') {
    // Nothing leaves the quarantine by accident: every run names what it acts on.
    if (!taskIds && !messageIds && !(job !== undefined && errorType !== undefined)) {
      throw new InvalidPayloadError('selection', 'the quarantine needs an explicit selection: taskIds, messageIds, or job and errorType together (with max)');
    }
    if (taskIds || messageIds) max = givenMax ?? Math.min(MAX_MAX, (taskIds?.size ?? 0) + (messageIds?.size ?? 0));
    else if (givenMax === undefined) throw new InvalidPayloadError('max', 'a job + errorType selection of the quarantine needs max: how many messages at most');
    if (force && !taskIds) throw new InvalidPayloadError('force', 'replays past spool.maxReplays only the tasks you name: give taskIds');
    if (force && drop) throw new InvalidPayloadError('force', 'applies to a replay, not to drop');
    if (drop && p.from !== undefined) throw new InvalidPayloadError('from', 'applies to a replay, not to drop');
  }
  return {
    source,
    max,
    dryRun,
    job,
    errorType,
    taskIds,
    sentBeforeMs,
    sentAfterMs,
    concurrency,
    from: (p.from as ReplayFrom | undefined) ?? DEFAULT_FROM,
    messageIds,
    drop,
    force,
  };
}

function parseTickPayload(p: Record<string, unknown>, dryRun: boolean, nowMs: number, known: PayloadContext): TickOptions {
  if (p.job === undefined) throw new InvalidPayloadError('job', 'source "tick" needs the job whose producer plans the tick');
  const job = nonEmptyString('job', p.job);
  if (known.producerJobs && !known.producerJobs.has(job)) throw new InvalidPayloadError('job', `"${job}" has no producer in this app; jobs: ${[...known.producerJobs].join(', ')}`);
  if (p.tick === undefined) throw new InvalidPayloadError('tick', 'source "tick" needs the tick, e.g. "20261125T1800Z" (as in task ids) or "2026-11-26T03:00:00+09:00"');
  const tickMs = parseTick(p.tick);
  const replan = bool('replan', p.replan);
  const ignorePause = bool('ignorePause', p.ignorePause);
  const force = bool('force', p.force);
  if (tickMs > nowMs + TICK_FUTURE_ALLOWANCE_MS) throw new InvalidPayloadError('tick', `${new Date(tickMs).toISOString()} is in the future: its tasks would run before their tick`);
  // Mirrors the producer's own refusal (execution names are unique for 90 days only).
  if (replan && nowMs - tickMs > REPLAN_MAX_AGE_DAYS * 86_400_000) {
    throw new InvalidPayloadError('tick', `a replan of a tick older than ${REPLAN_MAX_AGE_DAYS} days is refused: execution names are unique for 90 days only, so tasks of it could run a second time`);
  }
  // The producer refuses it too (lambdas/producer/logic.ts); refused here first, with the fix, since
  // the producer's answer comes back by its error name only.
  const tooOld = force ? null : tickTooOldReason(tickMs, nowMs);
  if (tooOld !== null) throw new InvalidPayloadError('tick', `${tooOld}: add "force": true`);
  return { source: 'tick', dryRun, job, scheduledTime: new Date(tickMs).toISOString(), replan, ignorePause, force };
}

/**
 * Validates a payload of the spool or the quarantine (the sources whose messages are spool
 * messages); any other source is refused. See {@link parseRequest}.
 */
export function parsePayload(raw: unknown, defaultMax: number, nowMs: number): ReprocessOptions {
  const r = parseRequest(raw, defaultMax, nowMs);
  if (r.source !== 'spool' && r.source !== 'quarantine') throw new InvalidPayloadError('source', `"${r.source}" is not a queue of spool messages`);
  return r;
}
