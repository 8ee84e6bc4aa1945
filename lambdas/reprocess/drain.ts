import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageBatchRequestEntry,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { sqsSendBatches } from '../shared/sqs-batches';
import { SFNClient } from '@aws-sdk/client-sfn';
import { errorMessage, errorName } from '../shared/errors';
import { QUARANTINE_ATTR_REASON, SPOOL_ATTR_ERROR, SPOOL_ATTR_FIRST_SENT, SPOOL_ATTR_JOB, SPOOL_ATTR_KIND } from '../shared/spool-message';
import { checkEndedExecution, DescribePacer } from './execution-check';
import { ReplayHolds } from './holds';
import { classify, ClassifyRules, dropPlan, Plan, PlanBase, ReceivedMessage, ReplayPlan } from './message';
import { ReplayFrom, ReprocessOptions } from './payload';
import { AdaptiveRateGate, realSleep, Semaphore } from '../shared/rate-gate';
import { startPaced } from '../shared/start-execution';
import { buildClientRecord, ParamLogSink } from '../shared/param-log';

/** Items listed in the summary without a reason (the first ones handled), so out.json stays readable. */
export const SUMMARY_ITEMS = 20;
/** Items listed in all: those with a reason (quarantined, held, failed, started over) keep coming after the plain ones stop. */
export const SUMMARY_ITEMS_WITH_REASON = 50;
/** Messages looked at per run at most, skipped ones included (they are held invisible until the end). */
export const SCAN_LIMIT = 20_000;
/** SQS receive/delete/visibility batch size. */
const BATCH = 10;
/** Seconds a receive waits for messages; short polling can answer "empty" for a non-empty queue. */
const RECEIVE_WAIT_SECONDS = 1;
/** Quarantine attribute holding why the message was quarantined. */
export { QUARANTINE_ATTR_REASON };
/** Quarantine attribute holding the spool's message id. */
export const QUARANTINE_ATTR_SOURCE_ID = 'sourceMessageId';

/** What happened to one message. */
export type Outcome =
  | 'started'
  | 'alreadyStarted'
  | 'alreadyHandled'
  | 'held'
  | 'unknownResumeStep'
  | 'skipped'
  | 'invalid'
  | 'failed'
  | 'notAttempted'
  | 'wouldStart'
  | 'wouldQuarantine'
  | 'dropped'
  | 'wouldDrop';

export interface SummaryItem {
  /** The SQS message id (quarantine runs: what `messageIds` selects). */
  readonly messageId?: string;
  readonly taskId: string | null;
  readonly job: string | null;
  readonly error: string | null;
  readonly outcome: Outcome;
  /** Why it was quarantined, held, failed, already handled, or started over. */
  readonly reason?: string;
  /** The step a replay entered at (absent: from the first step). */
  readonly resumeAt?: string;
  /** When the failure was first spooled (ISO-8601), if known. */
  readonly spooledAt?: string;
  /** Replayed past spool.maxReplays (quarantine, `force`). */
  readonly forced?: true;
  /** The failed step, no longer a step of the job (outcome `unknownResumeStep`). */
  readonly unknownResumeStep?: string;
}

/** Why the run stopped. */
export type StopReason = 'max' | 'empty' | 'time' | 'scanLimit' | 'receiveFailed';

/** The invocation's result, returned to the operator (out.json). Counts, ids and names only: never params. */
export interface ReprocessSummary {
  /** The queue the run acted on. */
  readonly source: 'spool' | 'quarantine';
  readonly dryRun: boolean;
  /** Where replays of failed executions were asked to start (payload `from`). */
  readonly from: ReplayFrom;
  /** New executions started. */
  started: number;
  /** Of `started` (dry run: `wouldStart`), those that entered at the failed step. */
  resumed: number;
  /** Of `started` (dry run: `wouldStart`), those asked to resume that started over instead (the reason is in `items`). */
  resumeFallbacks: number;
  /** The deterministic name already existed: started by an earlier run; deleted from the spool. */
  alreadyStarted: number;
  /** The ended execution runs again or succeeded (redriven from the console): deleted, not replayed. */
  alreadyHandled: number;
  /** A step the replay would run depends on a held dependency: released, still in the spool, does not count toward `max`. */
  held: number;
  /**
   * The failed step no longer exists in the job (renamed or removed by a deploy): not replayed (dry
   * run: would not be), left in the queue, not counted toward `max`; `items` name the step. Replay
   * them with `from: "start"` once you have decided the earlier steps may run again.
   */
  unknownResumeStep: number;
  /** Did not match the filter: released, still in the spool. */
  skipped: number;
  /**
   * Never replayable (malformed, rejected spec, params the schema refuses, unknown job, may be forged, too many replays): moved
   * to quarantine (dry run: would be). Quarantine runs: still not replayable, left in the quarantine.
   */
  invalid: number;
  /** Start, check or quarantine failed for another reason: released, still in the spool. */
  failed: number;
  /** Dry run only: would have been started. */
  wouldStart: number;
  /** Received but not attempted because time ran low: released, still in the spool. */
  notAttempted: number;
  /** Started but the delete failed: they will come back and count as alreadyStarted. */
  deleteFailed: number;
  /** Quarantine runs with `force`: of `started`, those replayed past spool.maxReplays. */
  forced?: number;
  /** Quarantine `drop`: deleted. */
  dropped?: number;
  /** Quarantine `drop`, dry run: would be deleted. */
  wouldDrop?: number;
  /** Approximate messages left in the queue acted on afterwards (SQS's approximate counts), null if unknown. */
  remaining: number | null;
  stoppedBecause: StopReason;
  /** Why a receive failed (error name and message), when stoppedBecause is receiveFailed. */
  receiveError?: string;
  /** Throttle events on StartExecution and DescribeExecution (pauses, not calls). */
  throttleEvents: number;
  durationMs: number;
  /** The first items handled (see SUMMARY_ITEMS). */
  items: SummaryItem[];
}

/** Everything the drain needs from outside; the handler builds it once per invocation. */
export interface DrainDeps {
  readonly sqs: SQSClient;
  readonly sfn: SFNClient;
  readonly spoolQueueUrl: string;
  /** Where never-replayable spool messages go; a quarantine run receives from here and leaves them in place. */
  readonly quarantineQueueUrl: string;
  readonly rules: ClassifyRules;
  /** Hold checks; null or absent when no step of any job has a dependency. */
  readonly holds?: ReplayHolds | null;
  /** The Lambda's remaining time at the start of the drain, ms. */
  readonly remainingMs: number;
  /** Time kept for finishing (in-flight starts, deletes, releases) before the Lambda's end, ms. @default 10% of remainingMs, 3-20 s */
  readonly safetyMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** StartExecution pacing. @default a new AdaptiveRateGate */
  readonly gate?: AdaptiveRateGate;
  /** DescribeExecution pacing (its own, much smaller quota). @default a new DescribePacer */
  readonly describePacer?: DescribePacer;
  /**
   * The client stream: each replay started writes its client record (attempt N+1, `Started`, or
   * `Duplicate` when the name already existed) as the tick starter does, so the lost-task monitor
   * sees the replay (docs/investigation.md). A record that cannot be written keeps the message in
   * the spool; the next drain finds the execution and records it `Duplicate`.
   */
  readonly clientLog?: { readonly sink: ParamLogSink; readonly timeZone: string };
}

interface ToRelease {
  readonly id: string;
  readonly receipt: string;
}

/** A replay held back by a dependency on hold. */
interface HeldPlan extends PlanBase {
  readonly action: 'held';
  readonly reason: string;
  readonly resumeAt: string | null;
}

type Decided = Plan | HeldPlan;

type ReplayResult =
  | { outcome: 'started' | 'alreadyStarted' }
  | { outcome: 'alreadyHandled'; reason: string }
  | { outcome: 'failed'; reason: string }
  | { outcome: 'invalid'; reason: string }
  | { outcome: 'notAttempted' };

function chunks<T>(xs: ReadonlyArray<T>, n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/** Why a message whose failed step is gone was left in the queue, and what the operator can do. */
export function unknownStepReason(step: string, job: string): string {
  return `step "${step}" is not a top-level step of job "${job}" now (renamed or removed by a deploy): not replayed, left in the queue; replay it with from "start" (CLI --from start) to run every step again`;
}

/** Receive visibility: until the Lambda's end plus a margin, so nothing reappears mid-work, and a crash frees it soon after. */
export function visibilitySeconds(msLeft: number): number {
  return Math.min(43_200, Math.max(30, Math.ceil(msLeft / 1000) + 30));
}

/**
 * Drains the spool once: receive in batches of 10, classify, leave held ones, look at ended
 * executions, start with bounded concurrency and adaptive pacing, delete only what was started (or
 * already started, or already handled) or moved to quarantine, and release everything else before
 * returning. Never throws for one message.
 *
 * With `source: "quarantine"` the same run reads the quarantine instead: a replay applies every
 * rule of the spool (forged checks, holds, the look at ended executions, resume) except
 * spool.maxReplays for the tasks named with `force`; what is still not replayable stays where it is
 * (counted `invalid`, with the reason). With `drop` it deletes the selected messages (dry run:
 * lists them).
 */
export async function drain(deps: DrainDeps, o: ReprocessOptions): Promise<ReprocessSummary> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? realSleep;
  const t0 = now();
  const endMs = t0 + deps.remainingMs;
  const safety = deps.safetyMs ?? Math.min(20_000, Math.max(3_000, deps.remainingMs * 0.1));
  const stopAtMs = endMs - safety;
  const gate = deps.gate ?? new AdaptiveRateGate({ now, sleep });
  const describePacer = deps.describePacer ?? new DescribePacer({ now, sleep });
  const sem = new Semaphore(o.concurrency);
  const fromQuarantine = o.source === 'quarantine';
  const queueUrl = fromQuarantine ? deps.quarantineQueueUrl : deps.spoolQueueUrl;

  const summary: ReprocessSummary = {
    source: o.source,
    dryRun: o.dryRun,
    from: o.from,
    started: 0,
    resumed: 0,
    resumeFallbacks: 0,
    alreadyStarted: 0,
    alreadyHandled: 0,
    held: 0,
    unknownResumeStep: 0,
    skipped: 0,
    invalid: 0,
    failed: 0,
    wouldStart: 0,
    notAttempted: 0,
    deleteFailed: 0,
    remaining: null,
    stoppedBecause: 'empty',
    throttleEvents: 0,
    durationMs: 0,
    items: [],
  };
  if (fromQuarantine && o.drop) Object.assign(summary, { dropped: 0, wouldDrop: 0 });
  else if (fromQuarantine) summary.forced = 0;
  const toRelease: ToRelease[] = [];
  let reserved = 0;
  let scanned = 0;
  let plainItems = 0;
  let stop: StopReason | null = null;
  const halt = (r: StopReason) => {
    stop = stop ?? r;
  };

  const note = (plan: Decided, outcome: Outcome, reason?: string, messageId?: string) => {
    const field = outcome === 'wouldQuarantine' ? 'invalid' : outcome;
    summary[field] = (summary[field] ?? 0) + 1;
    let why = reason;
    if (plan.action === 'replay' && (outcome === 'started' || outcome === 'wouldStart')) {
      if (plan.resumeAt) summary.resumed++;
      if (plan.forced && outcome === 'started') summary.forced = (summary.forced ?? 0) + 1;
      if (plan.fallback) {
        summary.resumeFallbacks++;
        why ??= plan.fallback;
      }
    }
    if (why ? summary.items.length >= SUMMARY_ITEMS_WITH_REASON : plainItems >= SUMMARY_ITEMS || summary.items.length >= SUMMARY_ITEMS_WITH_REASON) return;
    if (!why) plainItems++;
    const resumeAt = plan.action === 'replay' || plan.action === 'held' ? plan.resumeAt : null;
    summary.items.push({
      ...(fromQuarantine && messageId ? { messageId } : {}),
      taskId: plan.taskId,
      job: plan.job,
      error: plan.error,
      outcome,
      ...(why ? { reason: why } : {}),
      ...(resumeAt ? { resumeAt } : {}),
      ...(plan.spooledAtMs !== null ? { spooledAt: new Date(plan.spooledAtMs).toISOString() } : {}),
      ...(plan.action === 'replay' && plan.forced ? { forced: true as const } : {}),
      ...(plan.action === 'replay' && plan.unknownResumeStep ? { unknownResumeStep: plan.unknownResumeStep } : {}),
    });
  };

  /** The look at an ended execution (outside the start semaphore: its pace is the describe quota's), then the start. */
  const replay = async (plan: ReplayPlan): Promise<ReplayResult> => {
    if (plan.checkExecutionArn) {
      const c = await checkEndedExecution(deps.sfn, plan.checkExecutionArn, describePacer, stopAtMs);
      if (c.outcome === 'alreadyHandled') {
        return { outcome: 'alreadyHandled', reason: `the ended execution is ${c.status} now (redriven ${c.redriveCount} time(s)): not replayed` };
      }
      if (c.outcome !== 'replay') return c;
    }
    await sem.acquire();
    try {
      return await start(plan);
    } finally {
      sem.release();
    }
  };

  /** One StartExecution, retried on throttling and transient errors until the deadline. */
  const start = async (plan: ReplayPlan): Promise<ReplayResult> => {
    // The app's one paced start (the tick starters use it too). An existing name is also what a
    // start-over of a message meets whose resume already ran (and vice versa): one name per
    // message and attempt, whichever way it entered.
    const r = await startPaced({ sfn: deps.sfn, gate, stopAtMs, now, sleep }, { stateMachineArn: plan.stateMachineArn, name: plan.name, input: JSON.stringify(plan.input) });
    switch (r.outcome) {
      case 'started':
      case 'alreadyStarted':
        if (deps.clientLog) {
          try {
            const at = new Date(now());
            await deps.clientLog.sink.put([buildClientRecord({ envelope: plan.input, result: r.outcome === 'started' ? 'Started' : 'Duplicate', now: at, timeZone: deps.clientLog.timeZone, executionArn: r.executionArn })]);
          } catch (e) {
            return { outcome: 'failed', reason: `started, but its client record was not written (${errorName(e)}): left in the spool, the next run records it` };
          }
        }
        return { outcome: r.outcome };
      case 'notAttempted':
        return { outcome: r.outcome };
      case 'refused':
        return { outcome: 'invalid', reason: r.reason };
      case 'failed':
        return { outcome: 'failed', reason: r.reason };
    }
  };

  const quarantine = async (entries: Array<{ m: ReceivedMessage; reason: string; detail?: string }>): Promise<Set<ReceivedMessage>> => {
    const moved = new Set<ReceivedMessage>();
    // Spool bodies can be large: the body plus room for the attributes.
    const groups = sqsSendBatches(entries, (e) => Buffer.byteLength(e.m.Body ?? '', 'utf8') + 4_096);
    for (const group of groups) {
      const batch: SendMessageBatchRequestEntry[] = group.map((e, i) => {
        // The reason only, never its detail (a producer's or a Lambda's cause, which may hold params):
        // SQS server-side encryption covers the body, not the message attributes (Amazon SQS developer
        // guide, "Encryption at rest": message metadata, attributes included, is not encrypted). The
        // detail stays in the body, which the quarantine keeps unchanged.
        const reason = e.reason;
        const attrs: Record<string, MessageAttributeValue> = {
          [QUARANTINE_ATTR_REASON]: { DataType: 'String', StringValue: reason.slice(0, 2_000) },
          [QUARANTINE_ATTR_SOURCE_ID]: { DataType: 'String', StringValue: e.m.MessageId ?? 'unknown' },
        };
        for (const k of [SPOOL_ATTR_JOB, SPOOL_ATTR_ERROR, SPOOL_ATTR_KIND, SPOOL_ATTR_FIRST_SENT]) {
          const v = e.m.MessageAttributes?.[k]?.StringValue;
          if (v) attrs[k] = { DataType: e.m.MessageAttributes?.[k]?.DataType ?? 'String', StringValue: v };
        }
        return { Id: String(i), MessageBody: e.m.Body || '(empty body)', MessageAttributes: attrs };
      });
      try {
        const res = await deps.sqs.send(new SendMessageBatchCommand({ QueueUrl: deps.quarantineQueueUrl, Entries: batch }));
        for (const ok of res.Successful ?? []) moved.add(group[Number(ok.Id)].m);
      } catch {
        // Not moved: the messages stay in the spool (released below) and are counted as failed.
      }
    }
    return moved;
  };

  /** Replays whose steps depend on a held dependency become `held` (released, counted, never started). */
  const applyHolds = async (plans: Plan[]): Promise<Decided[]> => {
    const holds = deps.holds;
    if (!holds) return plans;
    return Promise.all(
      plans.map(async (p): Promise<Decided> => {
        if (p.action !== 'replay' || p.dependencies.length === 0 || p.unknownResumeStep) return p;
        try {
          const h = await holds.heldBy(p.dependencies);
          return h ? { ...p, action: 'held', reason: h.reason, resumeAt: p.resumeAt } : p;
        } catch (e) {
          return { ...p, action: 'held', reason: `the hold check failed (${errorName(e)}): left in the ${o.source} to be safe`, resumeAt: p.resumeAt };
        }
      }),
    );
  };

  const processBatch = async (msgs: ReceivedMessage[], plans: Decided[]): Promise<void> => {
    const toDelete: ReceivedMessage[] = [];
    const toQuarantine: Array<{ m: ReceivedMessage; plan: Decided; reason: string; detail?: string }> = [];
    const replays: Array<Promise<void>> = [];
    msgs.forEach((m, i) => {
      const plan = plans[i];
      const id = m.MessageId;
      const release = () => toRelease.push({ id: m.MessageId ?? String(i), receipt: m.ReceiptHandle as string });
      if (plan.action === 'skip') {
        release();
        note(plan, 'skipped', undefined, id);
      } else if (plan.action === 'held') {
        release();
        note(plan, 'held', plan.reason, id);
      } else if (plan.action === 'replay' && plan.unknownResumeStep) {
        release();
        note(plan, 'unknownResumeStep', unknownStepReason(plan.unknownResumeStep, plan.job), id);
      } else if (plan.action === 'drop') {
        // Dropped only after a person read it: the summary says what it was (ids, names, the reason).
        if (o.dryRun) release();
        else toDelete.push(m);
        note(plan, o.dryRun ? 'wouldDrop' : 'dropped', plan.reason, id);
      } else if (o.dryRun) {
        release();
        if (plan.action === 'replay') note(plan, 'wouldStart', undefined, id);
        else note(plan, 'wouldQuarantine', plan.reason, id);
      } else if (plan.action === 'quarantine') {
        if (fromQuarantine) {
          // Already in the quarantine: it stays, and the summary says why it still cannot replay.
          release();
          note(plan, 'invalid', plan.reason, id);
        } else toQuarantine.push({ m, plan, reason: plan.reason, detail: plan.detail });
      } else {
        replays.push(
          replay(plan).then((r) => {
            if (r.outcome === 'invalid' && !fromQuarantine) {
              toQuarantine.push({ m, plan, reason: r.reason });
              return;
            }
            if (r.outcome === 'failed' || r.outcome === 'notAttempted' || r.outcome === 'invalid') release();
            else toDelete.push(m);
            note(plan, r.outcome, 'reason' in r ? r.reason : undefined, id);
          }),
        );
      }
    });
    await Promise.all(replays);
    if (toQuarantine.length) {
      const moved = await quarantine(toQuarantine);
      for (const q of toQuarantine) {
        if (moved.has(q.m)) {
          toDelete.push(q.m);
          note(q.plan, 'invalid', q.reason, q.m.MessageId);
        } else {
          toRelease.push({ id: q.m.MessageId ?? 'q', receipt: q.m.ReceiptHandle as string });
          note(q.plan, 'failed', `could not move to quarantine (${q.reason})`, q.m.MessageId);
        }
      }
    }
    for (const group of chunks(toDelete, BATCH)) {
      try {
        const res = await deps.sqs.send(
          new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: group.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }),
        );
        summary.deleteFailed += res.Failed?.length ?? 0;
      } catch {
        // Started but not deleted: they reappear after the visibility timeout and count as alreadyStarted then.
        summary.deleteFailed += group.length;
      }
    }
  };

  // `max` counts messages handled, not skipped or held ones. A receiver reserves what it asks for,
  // and gives back what turned out skipped or held; one that finds the budget fully reserved waits
  // for the others' receives to settle instead of ending the run while their messages may be skipped.
  let settledWaiters: Array<() => void> = [];
  const settled = () => {
    const w = settledWaiters;
    settledWaiters = [];
    for (const f of w) f();
  };
  let pendingReceives = 0;

  const receiver = async (): Promise<void> => {
    while (stop === null) {
      if (now() >= stopAtMs) return halt('time');
      const want = Math.min(BATCH, o.max - reserved);
      if (want <= 0) {
        if (pendingReceives === 0) return halt('max');
        await new Promise<void>((r) => settledWaiters.push(r));
        continue;
      }
      if (scanned >= SCAN_LIMIT) return halt('scanLimit');
      reserved += want;
      pendingReceives++;
      let msgs: ReceivedMessage[];
      try {
        const res = await deps.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: want,
            WaitTimeSeconds: RECEIVE_WAIT_SECONDS,
            VisibilityTimeout: visibilitySeconds(endMs - now()),
            MessageAttributeNames: ['All'],
            MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'],
          }),
        );
        msgs = res.Messages ?? [];
      } catch (e) {
        reserved -= want;
        pendingReceives--;
        settled();
        summary.receiveError ??= `${errorName(e)}: ${errorMessage(e).slice(0, 200)}`;
        return halt('receiveFailed');
      }
      if (msgs.length === 0) {
        reserved -= want;
        pendingReceives--;
        settled();
        return halt('empty');
      }
      scanned += msgs.length;
      const plans = o.drop ? msgs.map((m) => dropPlan(m, o)) : await applyHolds(msgs.map((m) => classify(m, o, deps.rules, now())));
      const counted = plans.filter((p) => p.action !== 'skip' && p.action !== 'held' && !(p.action === 'replay' && p.unknownResumeStep)).length;
      reserved -= want - counted; // skipped, held and unknown-step messages do not use up `max`
      pendingReceives--;
      settled();
      await processBatch(msgs, plans);
    }
  };

  // Enough receivers that the next batches are in hand while the current one starts: a receiver
  // is busy receiving, classifying and deleting for part of its cycle, and paced starts must not
  // wait for it. More receivers cost no extra calls, only more messages in flight at once.
  const receivers = Math.ceil(o.concurrency / BATCH) + 2;
  await Promise.all(
    Array.from({ length: receivers }, async () => {
      await receiver();
      settled(); // wake receivers waiting on the budget: the run is ending
    }),
  );
  summary.stoppedBecause = stop ?? 'empty';

  // Skipped, held, failed and unattempted messages: visible again now (they were kept invisible
  // until here, so none is received twice in one run).
  for (const group of chunks(toRelease, BATCH)) {
    try {
      await deps.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: group.map((h, i) => ({ Id: String(i), ReceiptHandle: h.receipt, VisibilityTimeout: 0 })),
        }),
      );
    } catch {
      // They become visible again when the receive's visibility timeout ends.
    }
  }
  try {
    const a = await deps.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
      }),
    );
    const at = a.Attributes ?? {};
    summary.remaining =
      Number(at.ApproximateNumberOfMessages ?? 0) + Number(at.ApproximateNumberOfMessagesNotVisible ?? 0) + Number(at.ApproximateNumberOfMessagesDelayed ?? 0);
  } catch {
    summary.remaining = null;
  }
  summary.throttleEvents = gate.throttleEvents + describePacer.throttleEvents;
  summary.durationMs = now() - t0;
  return summary;
}
