import { SendMessageBatchCommand, SendMessageBatchRequestEntry, SQSClient } from '@aws-sdk/client-sqs';
import { ENVELOPE_VERSION, envelopeBytes, MAX_EXECUTION_INPUT_BYTES, TaskEnvelope } from '../shared/envelope';
import { errorName } from '../shared/errors';
import { isPlainJson, JsonValue } from '../shared/json';
import { checkParams, ParamsModule, versionOf } from '../shared/params';
import { taskIdFor, tickStamp } from '../shared/names';
import { buildClientRecord, ParamLogSink } from '../shared/param-log';
import { markParamFree, newSealKey } from '../shared/safe-error';
import { sendSpoolMessages } from '../shared/spool-send';
import { MAX_SQS_MESSAGE_BYTES, SpoolMessage } from '../shared/spool-message';
import { batchLedgerKey, planIdOf, splitIntoBatches, TICK_ATTR_BATCH, TICK_ATTR_JOB, TickBatchMessage, tickLedgerKey } from '../shared/tick-batch';
import { tickTooOldReason } from '../shared/tick-age';
import { REPLAN_MAX_AGE_DAYS, TickLedger } from '../shared/tick-ledger';

/**
 * The producer: the first half of a tick. It asks the job's `produce` for the tick's tasks,
 * validates them, quarantines the specs that can never run, and writes the others to the tick
 * queue in batches that the starters (lambdas/starter) start at the pace the StartExecution quota
 * allows. It starts nothing itself, so a tick of any size plans in seconds, far inside one
 * invocation. The tick ledger makes a redelivered or retried tick enqueue nothing twice and lets a
 * failed planning resume where it stopped.
 */

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
  /** The job's IANA time zone (its `timeZone`, else the app's), for producers whose work depends on the local date. */
  readonly timeZone: string;
}

/** The only code a job author writes for the producer. */
export type ProduceFn = (ctx: ProducerContext) => ReadonlyArray<TaskSpec> | Promise<ReadonlyArray<TaskSpec>>;

/**
 * The event the schedule sends: `{ "scheduledTime": "<aws.scheduler.scheduled-time>" }`. An
 * operator adds `"replan": true` to plan a tick that is already planned once more (reprocess's
 * `source: "tick"`, the CLI's `tick rerun --replan`; docs/big-ticks.md, "Re-planning a tick").
 */
export interface TickEvent {
  readonly scheduledTime?: string;
  /** Plan the tick again even if the ledger says it is planned. @default false */
  readonly replan?: boolean;
  /**
   * Plan the tick although the job is paused: set only by an operator's explicit `run` or
   * `backfill --ignore-pause` (through reprocess). A scheduled tick never carries it. @default false
   */
  readonly ignorePause?: boolean;
  /**
   * Run a tick older than MAX_TICK_AGE_MS (42 days, lambdas/shared/tick-age.ts) anyway: set only by
   * an operator who checked what the tick already did (reprocess `source: "tick"` with `force`, or a
   * failed-invocation record re-run with `force` and its message id). @default false
   */
  readonly force?: boolean;
}

export { REPLAN_MAX_AGE_DAYS };
/** How far in the future a tick may be for a replan (clock skew): a later one would run tasks before their tick. */
export const REPLAN_FUTURE_ALLOWANCE_MS = 5 * 60_000;

/** Error names of rejected specs (the `error` of their quarantine message and client record). */
export const PRODUCER_ERRORS = {
  invalidTask: 'InvalidTaskSpec',
  duplicateKey: 'DuplicateTaskKey',
  tooLarge: 'EnvelopeTooLarge',
  /** The params fail the job's params schema (the reason names the paths, never a value). */
  invalidParams: 'InvalidParams',
} as const;

/** Task keys: readable, bounded (they become part of execution names and S3-queried ids). */
export const MAX_KEY_LENGTH = 128;

/** The tick event has no usable scheduledTime: the invocation fails (and the tick is kept by the on-failure destination). */
export class InvalidTickEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTickEventError';
    markParamFree(this);
  }
}

/**
 * The tick is older than MAX_TICK_AGE_MS and the event does not force it: its ledger may have expired
 * and its tasks' names may be free again, so a plan could start tasks a second time. Nothing is
 * touched; the invocation fails (an asynchronous one lands in the failed-invocations queue).
 */
export class TickTooOldError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TickTooOldError';
    markParamFree(this);
  }
}

/** `produce` returned something other than a list: the invocation fails, Lambda retries it, then the on-failure destination keeps the tick. */
export class InvalidProducerOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidProducerOutput';
    markParamFree(this);
  }
}

/** Batches could not be written to the tick queue: the invocation fails and its retry resumes after the last batch written. */
export class TickEnqueueError extends Error {
  constructor(readonly failed: number) {
    super(`${failed} batch message(s) could not be written to the tick queue`);
    this.name = 'TickEnqueueError';
    markParamFree(this);
  }
}

/**
 * The invocation's time ran out while batches were still being written: it stops cleanly (rather
 * than being killed mid-call) and fails, and Lambda's retry resumes after the batches already in the
 * queue. Planning runs at ~80,000 tasks/s (docs/big-ticks.md); raise the job's `producer.timeoutSeconds`
 * if `produce` itself takes most of the time.
 */
export class PlanningDeadlineError extends Error {
  constructor(readonly enqueued: number, readonly batches: number) {
    super(`the producer ran out of time after ${enqueued} of ${batches} batches; the retry resumes there`);
    this.name = 'PlanningDeadlineError';
    markParamFree(this);
  }
}

/** Time kept before the invocation's end when writing batches, ms. */
const PLANNING_SAFETY_MS = 5_000;

/** A spec the producer will never start, with why. */
export interface Rejection {
  readonly envelope: TaskEnvelope;
  readonly error: string;
  readonly reason: string;
}

/** The tick's specs, sorted into envelopes to start and rejections. */
export interface ValidatedTick {
  readonly accepted: TaskEnvelope[];
  readonly rejected: Rejection[];
}

/**
 * Validates the producer's specs: each must be an object with a key (1-128 characters, unique in
 * the tick) and plain-JSON params whose envelope fits the workflow's input budget. Pure.
 */
export function validateSpecs(specs: ReadonlyArray<unknown>, job: string, scheduledTime: Date, paramsModule?: ParamsModule, sealKey: () => string = newSealKey): ValidatedTick {
  const tick = tickStamp(scheduledTime);
  const scheduledIso = scheduledTime.toISOString();
  // Stamped so that a step reading these params after a schema change knows what to migrate from.
  const stamp = paramsModule ? { paramsVersion: versionOf(paramsModule) } : {};
  const envelopeOf = (taskId: string, key: string, params: JsonValue): TaskEnvelope => ({ v: ENVELOPE_VERSION, taskId, job, key, params, attempt: 1, scheduledTime: scheduledIso, ...stamp });
  const accepted: TaskEnvelope[] = [];
  const rejected: Rejection[] = [];
  const seen = new Set<string>();
  specs.forEach((spec, i) => {
    const s = spec as Partial<TaskSpec> | null;
    const reject = (envelope: TaskEnvelope, error: string, reason: string): void => void rejected.push({ envelope, error, reason });
    const placeholderId = `${job}-${tick}-invalid-${i}`;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) {
      reject(envelopeOf(placeholderId, `#${i}`, null), PRODUCER_ERRORS.invalidTask, `task #${i} is not an object {key, params}`);
      return;
    }
    const params = isPlainJson(s.params) ? (s.params as JsonValue) : null;
    if (typeof s.key !== 'string' || s.key.length === 0 || s.key.length > MAX_KEY_LENGTH) {
      reject(envelopeOf(placeholderId, `#${i}`, params), PRODUCER_ERRORS.invalidTask, `task #${i}: key must be a string of 1-${MAX_KEY_LENGTH} characters`);
      return;
    }
    const taskId = taskIdFor(job, scheduledTime, s.key);
    if (seen.has(s.key)) {
      // Same task id as the first spec with this key: looking the task up shows both.
      reject(envelopeOf(taskId, s.key, params), PRODUCER_ERRORS.duplicateKey, `task #${i}: key "${s.key}" was already returned in this tick`);
      return;
    }
    seen.add(s.key);
    if (!('params' in s) || (params === null && s.params !== null)) {
      reject(envelopeOf(taskId, s.key, null), PRODUCER_ERRORS.invalidTask, `task #${i}: params must be plain JSON (no undefined, Date, NaN, functions or cycles)`);
      return;
    }
    const envelope = envelopeOf(taskId, s.key, params);
    if (paramsModule) {
      const checked = checkParams(paramsModule, params as JsonValue, versionOf(paramsModule));
      if (!checked.ok) {
        reject(envelope, PRODUCER_ERRORS.invalidParams, `task #${i}: ${checked.problems.join('; ')}`);
        return;
      }
    }
    const size = envelopeBytes(envelope);
    if (size > MAX_EXECUTION_INPUT_BYTES) {
      reject(envelope, PRODUCER_ERRORS.tooLarge, `the task envelope is ${size} bytes; the workflow accepts at most ${MAX_EXECUTION_INPUT_BYTES}`);
      return;
    }
    // A random key per task seals its steps' error messages (lambdas/shared/safe-error.ts); not part
    // of the size check's margin worth mentioning (43 bytes).
    accepted.push({ ...envelope, seal: sealKey() });
  });
  return { accepted, rejected };
}

/** Dependencies of {@link planTick}; SDK clients are created once by the handler and injected. */
export interface TickDeps {
  readonly job: string;
  readonly stateMachineArn: string;
  readonly tickQueueUrl: string;
  readonly quarantineQueueUrl: string;
  /** The app's time zone: parameter-log partitions and record times. */
  readonly timeZone: string;
  /** The job's time zone, given to `produce`. @default timeZone */
  readonly jobTimeZone?: string;
  /** The job's params module: specs whose params fail it are quarantined. @default none (any plain JSON) */
  readonly params?: ParamsModule;
  /** Tasks per batch message at most (lambdas/shared/start-plan.ts, from the quota). */
  readonly tasksPerBatch: number;
  /** Concurrent starters (the event source's maximum concurrency): a small tick is cut so that all of them get work. @default 2 */
  readonly starterConcurrency?: number;
  readonly sqs: SQSClient;
  readonly sink: ParamLogSink;
  readonly ledger: TickLedger;
  /** This invocation's id (the ledger lease owner). */
  readonly owner: string;
  /** Time left in the invocation, ms (the planning lease lasts that long plus a margin). */
  readonly remainingMs: number;
  readonly now?: () => Date;
  /** Counts-only logger; never given params. */
  readonly log?: (message: string, fields: Record<string, unknown>) => void;
  /** Count metrics (Powertools in the handler). */
  readonly metric?: (name: string, value: number) => void;
  /**
   * Whether the job is paused now (lambdas/shared/pauses.ts): read once per tick, before the
   * ledger claim. A paused tick is recorded `paused` in the ledger and nothing is planned.
   * @default never paused
   */
  readonly isPaused?: () => Promise<boolean>;
}

/** What one invocation did with a tick. */
export interface TickSummary {
  readonly tick: string;
  /**
   * `planned`: this invocation planned (or finished planning) the tick; `alreadyPlanned`: an earlier
   * delivery did, nothing was done; `busy`: another live invocation is planning it (that one
   * finishes, or fails and is retried and kept by the on-failure destination); `paused`: the job
   * is paused (`scheduled-jobs pause`), the tick is recorded `paused` in the ledger and nothing
   * was planned (`scheduled-jobs backfill` runs it later if wanted).
   */
  readonly outcome: 'planned' | 'alreadyPlanned' | 'busy' | 'paused';
  /**
   * Present when the event asked for a replan and this invocation re-planned the tick: how often
   * the tick has been re-opened (1 for the first replan). Its batches carry a new plan id.
   */
  readonly replanned?: number;
  readonly tasks: number;
  readonly rejected: number;
  readonly batches: number;
  /** Batch messages written by this invocation. */
  readonly enqueued: number;
  /** The producer returned another list than an earlier, failed attempt of the same tick. */
  readonly planChanged: boolean;
}

/** Fewest tasks worth a batch message of their own (an invocation, a ledger item, a few SQS calls). */
export const MIN_BATCH_TASKS = 100;

/**
 * Tasks per batch for a tick of `tasks`: at most `maxPerBatch` (a starter's ~30 s at its share of
 * the quota), and small enough that a smaller tick still gives every starter two batches, so no
 * starter idles while another works through one big batch alone. Deterministic: a retried
 * planning cuts the same list the same way.
 */
export function batchSizeFor(tasks: number, maxPerBatch: number, starters: number): number {
  return Math.max(1, Math.min(maxPerBatch, Math.max(MIN_BATCH_TASKS, Math.ceil(tasks / (2 * Math.max(1, starters))))));
}

/** Margin on the planning lease beyond the invocation's own end. */
const LEASE_MARGIN_MS = 30_000;

/**
 * Plans one tick: ledger claim, `produce`, validation, quarantine of rejected specs (with their
 * Rejected client records), batches to the tick queue, ledger `planned`. A producer that throws or
 * returns a non-list fails the invocation (Lambda retries it twice, then the on-failure destination
 * keeps the tick: see docs/big-ticks.md, "Re-running a tick").
 */
export async function planTick(event: TickEvent, produce: ProduceFn, deps: TickDeps): Promise<TickSummary> {
  const now = deps.now ?? (() => new Date());
  const log = deps.log ?? (() => undefined);
  const metric = deps.metric ?? (() => undefined);
  const scheduledTime = new Date(event?.scheduledTime ?? '');
  if (typeof event?.scheduledTime !== 'string' || Number.isNaN(scheduledTime.getTime())) {
    throw new InvalidTickEventError('the event must be {"scheduledTime": "<ISO-8601>"} as sent by the schedule');
  }
  if (event.replan !== undefined && typeof event.replan !== 'boolean') throw new InvalidTickEventError('"replan" must be true or false');
  if (event.ignorePause !== undefined && typeof event.ignorePause !== 'boolean') throw new InvalidTickEventError('"ignorePause" must be true or false');
  const replan = event.replan === true;
  if (replan) checkReplanTime(scheduledTime, now());
  const tick = tickStamp(scheduledTime);
  const tickId = tickLedgerKey(deps.job, tick);
  const deadlineMs = now().getTime() + deps.remainingMs - PLANNING_SAFETY_MS;
  const skipped = (outcome: 'alreadyPlanned' | 'busy' | 'paused', tasks = 0, batches = 0): TickSummary => ({ tick, outcome, tasks, rejected: 0, batches, enqueued: 0, planChanged: false });

  if (event.ignorePause !== true && deps.isPaused && (await deps.isPaused())) {
    // Recorded so that `jobs` and `backfill` see the tick was skipped on purpose, not lost. A tick
    // already planned stays planned (a redelivery after the pause changes nothing).
    const recorded = await deps.ledger.markPaused(tickId);
    const item = recorded ? null : await deps.ledger.getTick(tickId);
    if (item?.state === 'planned') return skipped('alreadyPlanned', item.tasks, item.batches);
    if (item?.state !== 'planning') {
      metric('TickPaused', 1);
      log('job paused: tick recorded as paused, nothing planned', { job: deps.job, tick });
      return skipped('paused');
    }
    // Its planning began before the pause and failed half-way: this retry is all that enqueues the
    // rest (a success here ends Lambda's retries, and the ledger says `planning`, not `paused`, so
    // nothing lists it as skipped). A pause does not undo work: resumed below like any retry.
    log('job paused, but this tick\'s planning began before the pause: resuming it', { job: deps.job, tick });
  }

  const leaseUntilMs = now().getTime() + deps.remainingMs + LEASE_MARGIN_MS;
  let claim = await deps.ledger.claimTick(tickId, deps.owner, leaseUntilMs);
  // A replan re-opens only a PLANNED tick; one whose planning failed half-way was claimed above and
  // resumes like any retry (so a retried replan invocation does not re-open the tick twice).
  if (!claim.claimed && claim.reason === 'planned' && replan) {
    claim = await deps.ledger.reopenTick(tickId, deps.owner, leaseUntilMs);
    if (claim.claimed) {
      metric('TickReplanned', 1);
      log('tick re-opened for a replan: every task of it is attempted again', { job: deps.job, tick, replans: claim.item.replans });
    }
  }
  if (!claim.claimed) {
    const summary = skipped(claim.reason === 'planned' ? 'alreadyPlanned' : 'busy', claim.item?.tasks, claim.item?.batches);
    metric(claim.reason === 'planned' ? 'TickAlreadyPlanned' : 'TickBusy', 1);
    log('tick not planned again', { job: deps.job, tick, outcome: summary.outcome });
    return summary;
  }
  try {
    log('tick planning', { job: deps.job, tick, resumed: claim.item.planId !== null });
    let specs: unknown;
    try {
      specs = await produce({ job: deps.job, scheduledTime, timeZone: deps.jobTimeZone ?? deps.timeZone });
    } catch (e) {
      metric('ProducerFailed', 1);
      log('produce failed', { job: deps.job, tick, error: errorName(e) });
      throw e;
    }
    if (!Array.isArray(specs)) {
      metric('ProducerFailed', 1);
      throw new InvalidProducerOutputError(`the producer must return a list of {key, params}, got ${specs === null ? 'null' : typeof specs}`);
    }
    const { accepted, rejected } = validateSpecs(specs, deps.job, scheduledTime, deps.params);
    // A re-opened tick's batches need ledger items of their own: the first plan's are done.
    const planId = claim.item.replans > 0 ? `${planIdOf(accepted)}r${claim.item.replans}` : planIdOf(accepted);
    const planChanged = claim.item.planId !== null && claim.item.planId !== planId;
    if (planChanged) log('the producer returned another task list than the earlier attempt: enqueueing the new plan', { job: deps.job, tick });
    const batchSize = planBatchSize(claim.item, planId, accepted.length, deps);
    if (batchSize !== batchSizeFor(accepted.length, deps.tasksPerBatch, deps.starterConcurrency ?? 2)) {
      metric('TickPlanKept', 1);
      log('the batch size changed since the plan was made: resuming with the plan\'s', { job: deps.job, tick, batchSize });
    }
    const batches = splitIntoBatches(accepted, batchSize);
    await deps.ledger.setPlan(tickId, deps.owner, { planId, tasks: accepted.length, batches: batches.length, batchSize, rejected: rejected.length }, planChanged || claim.item.planId === null);

    if (rejected.length > 0 && !claim.item.rejectedDone) {
      await quarantineRejected(rejected, deps, now());
      await deps.ledger.markRejectedDone(tickId, deps.owner);
    }

    const from = planChanged ? 0 : claim.item.enqueued;
    const messages = batches.map((tasks, index): TickBatchMessage => ({
      v: 1,
      job: deps.job,
      tick,
      stateMachineArn: deps.stateMachineArn,
      batchId: batchLedgerKey(deps.job, tick, planId, index),
      tickId,
      index,
      batches: batches.length,
      offset: 0,
      total: tasks.length,
      tasks,
    }));
    const enqueued = await enqueue(messages, from, deps, () => now().getTime() >= deadlineMs);
    await deps.ledger.markPlanned(tickId, deps.owner);

    const summary: TickSummary = {
      tick,
      outcome: 'planned',
      ...(claim.item.replans > 0 ? { replanned: claim.item.replans } : {}),
      tasks: accepted.length,
      rejected: rejected.length,
      batches: batches.length,
      enqueued,
      planChanged,
    };
    metric('TasksPlanned', accepted.length);
    metric('TasksRejected', rejected.length);
    metric('BatchesEnqueued', enqueued);
    if (planChanged) metric('TickPlanChanged', 1);
    log('tick planned', { job: deps.job, ...summary, resumedFromBatch: from, rejectedErrors: [...new Set(rejected.map((r) => r.error))] });
    return summary;
  } catch (e) {
    // Give the lease back so Lambda's retry (a minute later) can plan at once.
    await deps.ledger.releaseTick(tickId, deps.owner).catch(() => undefined);
    throw e;
  }
}

/**
 * The batch size of the tick's plan: the one recorded when this plan was first cut (a retry or a
 * resumed planning of the same list), else the one this deployment computes. A retry that re-cut
 * with a new size (a changed `startExecutionQuota` or starter concurrency) and resumed at the old
 * batch index would skip or repeat tasks; the ledger's `enqueued` counts batches of the recorded cut.
 * The byte limit of a message also cuts ({@link splitIntoBatches}) where a batch's envelopes pass
 * ~1 MiB; that cut depends on the envelopes' sizes, which the plan id (a digest of task ids) does not
 * fix: a producer that returns the same keys with params of other sizes on a retry is the one case
 * left (docs/big-ticks.md, "The plan is kept").
 */
export function planBatchSize(recorded: { readonly planId: string | null; readonly batchSize: number | null }, planId: string, tasks: number, deps: Pick<TickDeps, 'tasksPerBatch' | 'starterConcurrency'>): number {
  if (recorded.planId === planId && recorded.batchSize !== null && recorded.batchSize > 0) return recorded.batchSize;
  return batchSizeFor(tasks, deps.tasksPerBatch, deps.starterConcurrency ?? 2);
}

/**
 * The tick age rule (lambdas/shared/tick-age.ts), checked by the handler on its clock before
 * {@link planTick}, so before the ledger is read (an expired item looks like a tick never planned):
 * a tick older than 42 days is refused unless the event carries `force: true`. Throws
 * TickTooOldError (or InvalidTickEventError for a `force` that is not a boolean). A tick without a
 * usable scheduledTime is left to planTick's own check.
 */
export function checkTickAge(event: TickEvent, nowMs: number): void {
  if (event?.force !== undefined && typeof event.force !== 'boolean') throw new InvalidTickEventError('"force" must be true or false');
  if (typeof event?.scheduledTime !== 'string' || event.force === true) return;
  const tickMs = new Date(event.scheduledTime).getTime();
  const tooOld = Number.isNaN(tickMs) ? null : tickTooOldReason(tickMs, nowMs);
  if (tooOld !== null) throw new TickTooOldError(tooOld);
}

/** A replan of a tick older than the name-uniqueness window, or in the future, is refused before anything is touched. */
function checkReplanTime(scheduledTime: Date, now: Date): void {
  const ageMs = now.getTime() - scheduledTime.getTime();
  if (ageMs > REPLAN_MAX_AGE_DAYS * 86_400_000) {
    throw new InvalidTickEventError(
      `a replan of a tick older than ${REPLAN_MAX_AGE_DAYS} days is refused: execution names are unique for 90 days only, so tasks of it could run a second time`,
    );
  }
  if (ageMs < -REPLAN_FUTURE_ALLOWANCE_MS) throw new InvalidTickEventError('a replan of a tick in the future is refused: its tasks would run before their tick');
}

/** Rejected specs: to the quarantine (never the spool: replaying them would run a key twice or fail again), and a Rejected client record each. */
async function quarantineRejected(rejected: ReadonlyArray<Rejection>, deps: TickDeps, at: Date): Promise<void> {
  await sendSpoolMessages(
    deps.sqs,
    deps.quarantineQueueUrl,
    rejected.map((r) => ({
      message: {
        version: 1,
        kind: 'Rejected',
        job: deps.job,
        taskId: r.envelope.taskId,
        input: r.envelope,
        error: r.error,
        cause: r.reason,
        failedState: 'Producer',
        executionArn: null,
        stateMachineArn: deps.stateMachineArn,
      } satisfies SpoolMessage,
      reason: `${r.error}: ${r.reason}`,
    })),
  );
  await deps.sink.put(rejected.map((r) => buildClientRecord({ envelope: r.envelope, result: 'Rejected', now: at, timeZone: deps.timeZone, error: r.error, cause: r.reason })));
}

/**
 * Writes the batch messages from index `from` on, in SendMessageBatch calls of <= 10 entries and
 * <= 1 MiB in total, and records after each call how many are in the queue (a prefix). Returns the
 * number written. A message sent twice (a crash between the send and the record) is harmless: the
 * batch ledger makes the second one start nothing.
 */
async function enqueue(messages: ReadonlyArray<TickBatchMessage>, from: number, deps: TickDeps, outOfTime: () => boolean): Promise<number> {
  const tickId = messages[0]?.tickId;
  let i = from;
  let recorded = from;
  while (i < messages.length) {
    if (outOfTime()) throw new PlanningDeadlineError(recorded, messages.length);
    const group: Array<{ index: number; entry: SendMessageBatchRequestEntry }> = [];
    let bytes = 0;
    while (i < messages.length && group.length < 10) {
      const body = JSON.stringify(messages[i]);
      const size = Buffer.byteLength(body, 'utf8') + 256;
      if (group.length > 0 && bytes + size > MAX_SQS_MESSAGE_BYTES) break;
      group.push({
        index: i,
        entry: {
          Id: String(i),
          MessageBody: body,
          MessageAttributes: {
            [TICK_ATTR_JOB]: { DataType: 'String', StringValue: deps.job },
            [TICK_ATTR_BATCH]: { DataType: 'String', StringValue: messages[i].batchId },
          },
        },
      });
      bytes += size;
      i++;
    }
    let pending = group;
    for (let round = 0; round < 2 && pending.length > 0; round++) {
      const out = await deps.sqs.send(new SendMessageBatchCommand({ QueueUrl: deps.tickQueueUrl, Entries: pending.map((g) => g.entry) }));
      const failed = new Set((out.Failed ?? []).map((f) => f.Id));
      pending = pending.filter((g) => failed.has(g.entry.Id));
    }
    // Everything before the first entry still refused is in the queue.
    const written = pending.length > 0 ? pending[0].index : i;
    if (written > recorded) {
      await deps.ledger.setEnqueued(tickId!, deps.owner, written);
      recorded = written;
    }
    if (pending.length > 0) throw new TickEnqueueError(pending.length);
  }
  return messages.length - from;
}
