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
import { DescribeExecutionCommand, RedriveExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { errorMessage, errorName } from '../shared/errors';
import { MAX_SQS_MESSAGE_BYTES, SPOOL_ATTR_ERROR, SPOOL_ATTR_JOB, SPOOL_ATTR_KIND } from '../shared/spool-message';
import { classify, ClassifyRules, Plan, ReceivedMessage, ReplayPlan, sentAtMs } from './message';
import { ReprocessOptions } from './payload';
import { AdaptiveRateGate, realSleep, Semaphore } from './rate-gate';

/** Items listed in the summary (the first ones handled), so out.json stays readable. */
export const SUMMARY_ITEMS = 20;
/** Messages looked at per run at most, skipped ones included (they are held invisible until the end). */
export const SCAN_LIMIT = 20_000;
/** SQS receive/delete/visibility batch size. */
const BATCH = 10;
/** Seconds a receive waits for messages; short polling can answer "empty" for a non-empty queue. */
const RECEIVE_WAIT_SECONDS = 1;
/** Quarantine attribute holding why the message was quarantined. */
export const QUARANTINE_ATTR_REASON = 'reason';
/** Quarantine attribute holding the spool's message id. */
export const QUARANTINE_ATTR_SOURCE_ID = 'sourceMessageId';

/** What happened to one message. */
export type Outcome = 'started' | 'redriven' | 'alreadyStarted' | 'skipped' | 'invalid' | 'failed' | 'notAttempted' | 'wouldStart' | 'wouldQuarantine';

export interface SummaryItem {
  readonly taskId: string | null;
  readonly job: string | null;
  readonly error: string | null;
  readonly outcome: Outcome;
  /** Why it was quarantined or failed. */
  readonly reason?: string;
}

/** Why the run stopped. */
export type StopReason = 'max' | 'empty' | 'time' | 'scanLimit' | 'receiveFailed';

/** The invocation's result, returned to the operator (out.json). Counts only: never params. */
export interface ReprocessSummary {
  readonly dryRun: boolean;
  readonly mode: 'start' | 'redrive';
  /** New executions started. */
  started: number;
  /** Failed executions redriven from the failed step (mode redrive). */
  redriven: number;
  /** The deterministic name already existed: started by an earlier run; deleted from the spool. */
  alreadyStarted: number;
  /** Did not match the filter: released, still in the spool. */
  skipped: number;
  /** Malformed / unknown state machine / too many replays / ProducerFailed: moved to quarantine (dry run: would be). */
  invalid: number;
  /** Start (or quarantine) failed for another reason: released, still in the spool. */
  failed: number;
  /** Dry run only: would have been started. */
  wouldStart: number;
  /** Received but not attempted because time ran low: released, still in the spool. */
  notAttempted: number;
  /** Started but the delete failed: they will come back and count as alreadyStarted. */
  deleteFailed: number;
  /** Approximate messages left in the spool afterwards (SQS's approximate counts), null if unknown. */
  remaining: number | null;
  stoppedBecause: StopReason;
  /** Why a receive failed (error name and message), when stoppedBecause is receiveFailed. */
  receiveError?: string;
  /** Throttle events on StartExecution (pauses, not calls). */
  throttleEvents: number;
  durationMs: number;
  /** The first items handled. */
  items: SummaryItem[];
}

/** Everything the drain needs from outside; the handler builds it once. */
export interface DrainDeps {
  readonly sqs: SQSClient;
  readonly sfn: SFNClient;
  readonly spoolQueueUrl: string;
  readonly quarantineQueueUrl: string;
  readonly rules: ClassifyRules;
  /** The Lambda's remaining time at the start of the drain, ms. */
  readonly remainingMs: number;
  /** Time kept for finishing (in-flight starts, deletes, releases) before the Lambda's end, ms. @default 10% of remainingMs, 3-20 s */
  readonly safetyMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** StartExecution pacing. @default a new AdaptiveRateGate */
  readonly gate?: AdaptiveRateGate;
}

interface Held {
  readonly id: string;
  readonly receipt: string;
}

type ReplayResult =
  | { outcome: 'started' | 'redriven' | 'alreadyStarted' }
  | { outcome: 'failed'; reason: string }
  | { outcome: 'invalid'; reason: string }
  | { outcome: 'notAttempted' };

const THROTTLE_NAMES = new Set(['ThrottlingException', 'TooManyRequestsException', 'Throttling', 'RequestLimitExceeded']);
/** StartExecution errors that say the message itself can never start: quarantine it. */
const UNSTARTABLE = new Set(['InvalidExecutionInput', 'InvalidName', 'InvalidArn', 'StateMachineDoesNotExist']);
/** RedriveExecution refusals that fall back to a new start. */
const NOT_REDRIVABLE = new Set(['ExecutionNotRedrivable', 'ExecutionDoesNotExist', 'ValidationException']);

function isThrottle(e: unknown): boolean {
  const meta = (e as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return THROTTLE_NAMES.has(errorName(e)) || meta?.httpStatusCode === 429;
}

function isTransient(e: unknown): boolean {
  const x = e as { $retryable?: unknown; $metadata?: { httpStatusCode?: number }; code?: string };
  return Boolean(x.$retryable) || (x.$metadata?.httpStatusCode ?? 0) >= 500 || ['TimeoutError', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE'].includes(errorName(e)) || ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'].includes(x.code ?? '');
}

function chunks<T>(xs: ReadonlyArray<T>, n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/** Receive visibility: until the Lambda's end plus a margin, so nothing reappears mid-work, and a crash frees it soon after. */
export function visibilitySeconds(msLeft: number): number {
  return Math.min(43_200, Math.max(30, Math.ceil(msLeft / 1000) + 30));
}

/**
 * Drains the spool once: receive in batches of 10, classify, start (or redrive) with bounded
 * concurrency and adaptive pacing, delete only what was started (or already started) or moved
 * to quarantine, and release everything else before returning. Never throws for one message.
 */
export async function drain(deps: DrainDeps, o: ReprocessOptions): Promise<ReprocessSummary> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? realSleep;
  const t0 = now();
  const endMs = t0 + deps.remainingMs;
  const safety = deps.safetyMs ?? Math.min(20_000, Math.max(3_000, deps.remainingMs * 0.1));
  const stopAtMs = endMs - safety;
  const gate = deps.gate ?? new AdaptiveRateGate({ now, sleep });
  const redriveGate = new AdaptiveRateGate({ now, sleep });
  const sem = new Semaphore(o.concurrency);

  const summary: ReprocessSummary = {
    dryRun: o.dryRun,
    mode: o.mode,
    started: 0,
    redriven: 0,
    alreadyStarted: 0,
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
  const held: Held[] = [];
  let reserved = 0;
  let scanned = 0;
  let stop: StopReason | null = null;
  const halt = (r: StopReason) => {
    stop = stop ?? r;
  };

  const note = (plan: Plan, outcome: Outcome, reason?: string) => {
    summary[outcome === 'wouldQuarantine' ? 'invalid' : outcome]++;
    if (summary.items.length < SUMMARY_ITEMS) {
      summary.items.push({ taskId: plan.taskId, job: plan.job, error: plan.error, outcome, ...(reason ? { reason } : {}) });
    }
  };

  /** One StartExecution (or redrive first), retried on throttling and transient errors until the deadline. */
  const replay = async (plan: ReplayPlan, m: ReceivedMessage): Promise<ReplayResult> => {
    await sem.acquire();
    try {
      if (o.mode === 'redrive' && plan.executionArn && plan.executionArn.startsWith(`${plan.stateMachineArn.replace(':stateMachine:', ':execution:')}:`)) {
        const r = await redrive(plan, m);
        if (r) return r;
      }
      return await start(plan);
    } finally {
      sem.release();
    }
  };

  const start = async (plan: ReplayPlan): Promise<ReplayResult> => {
    let transient = 0;
    for (;;) {
      if (!(await gate.acquire(stopAtMs))) return { outcome: 'notAttempted' };
      const calledAt = now();
      try {
        const res = await deps.sfn.send(new StartExecutionCommand({ stateMachineArn: plan.stateMachineArn, name: plan.name, input: JSON.stringify(plan.input) }));
        gate.onSuccess();
        // Same name + same input while still running answers 200 with the ORIGINAL start date
        // (an earlier run started it, then died before deleting). A new start is dated after our
        // call; 1 s allows for clock skew between Lambda and Step Functions.
        if (res.startDate && res.startDate.getTime() < calledAt - 1_000) return { outcome: 'alreadyStarted' };
        return { outcome: 'started' };
      } catch (e) {
        const name = errorName(e);
        if (name === 'ExecutionAlreadyExists') {
          gate.onSuccess();
          return { outcome: 'alreadyStarted' };
        }
        if (isThrottle(e)) {
          gate.onThrottle();
          continue;
        }
        if (UNSTARTABLE.has(name)) return { outcome: 'invalid', reason: `StartExecution refused it: ${name}` };
        if (isTransient(e) && ++transient <= 3) {
          await sleep(Math.random() * 200 * 2 ** transient);
          continue;
        }
        return { outcome: 'failed', reason: `StartExecution: ${name}: ${errorMessage(e).slice(0, 200)}` };
      }
    }
  };

  /** Null means "refused, fall back to a new start". */
  const redrive = async (plan: ReplayPlan, m: ReceivedMessage): Promise<ReplayResult | null> => {
    const executionArn = plan.executionArn as string;
    for (;;) {
      if (!(await redriveGate.acquire(stopAtMs))) return { outcome: 'notAttempted' };
      try {
        // The spool message id as client token: a rerun after a crash is answered idempotently.
        await deps.sfn.send(new RedriveExecutionCommand({ executionArn, clientToken: (m.MessageId ?? '').slice(0, 64) || undefined }));
        redriveGate.onSuccess();
        return { outcome: 'redriven' };
      } catch (e) {
        if (isThrottle(e)) {
          redriveGate.onThrottle();
          continue;
        }
        if (!NOT_REDRIVABLE.has(errorName(e))) return { outcome: 'failed', reason: `RedriveExecution: ${errorName(e)}` };
        break;
      }
    }
    // Refused. If an earlier run (that crashed before deleting) already redrove it after it was
    // spooled, a new start would run the task twice.
    try {
      const d = await deps.sfn.send(new DescribeExecutionCommand({ executionArn }));
      const sent = sentAtMs(m);
      if ((d.redriveCount ?? 0) > 0 && d.redriveDate && (sent === undefined || d.redriveDate.getTime() >= sent)) {
        return { outcome: 'alreadyStarted' };
      }
    } catch (e) {
      if (errorName(e) !== 'ExecutionDoesNotExist') return { outcome: 'failed', reason: `DescribeExecution: ${errorName(e)}` };
    }
    return null;
  };

  const quarantine = async (entries: Array<{ m: ReceivedMessage; reason: string }>): Promise<Set<ReceivedMessage>> => {
    const moved = new Set<ReceivedMessage>();
    // SQS caps a batch at 10 entries and 1 MiB in total; spool bodies can be large.
    const groups: Array<typeof entries> = [];
    let cur: typeof entries = [];
    let bytes = 0;
    for (const e of entries) {
      const size = Buffer.byteLength(e.m.Body ?? '', 'utf8') + 2_048;
      if (cur.length === BATCH || (cur.length > 0 && bytes + size > MAX_SQS_MESSAGE_BYTES)) {
        groups.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push(e);
      bytes += size;
    }
    if (cur.length) groups.push(cur);
    for (const group of groups) {
      const batch: SendMessageBatchRequestEntry[] = group.map((e, i) => {
        const attrs: Record<string, MessageAttributeValue> = {
          [QUARANTINE_ATTR_REASON]: { DataType: 'String', StringValue: e.reason.slice(0, 1000) },
          [QUARANTINE_ATTR_SOURCE_ID]: { DataType: 'String', StringValue: e.m.MessageId ?? 'unknown' },
        };
        for (const k of [SPOOL_ATTR_JOB, SPOOL_ATTR_ERROR, SPOOL_ATTR_KIND]) {
          const v = e.m.MessageAttributes?.[k]?.StringValue;
          if (v) attrs[k] = { DataType: 'String', StringValue: v };
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

  const processBatch = async (msgs: ReceivedMessage[], plans: Plan[]): Promise<void> => {
    const toDelete: ReceivedMessage[] = [];
    const toQuarantine: Array<{ m: ReceivedMessage; plan: Plan; reason: string }> = [];
    const replays: Array<Promise<void>> = [];
    msgs.forEach((m, i) => {
      const plan = plans[i];
      const hold = () => held.push({ id: m.MessageId ?? String(i), receipt: m.ReceiptHandle as string });
      if (plan.action === 'skip') {
        hold();
        note(plan, 'skipped');
      } else if (o.dryRun) {
        hold();
        if (plan.action === 'replay') note(plan, 'wouldStart');
        else note(plan, 'wouldQuarantine', plan.reason);
      } else if (plan.action === 'quarantine') {
        toQuarantine.push({ m, plan, reason: plan.reason });
      } else {
        replays.push(
          replay(plan, m).then((r) => {
            if (r.outcome === 'invalid') {
              toQuarantine.push({ m, plan, reason: r.reason });
              return;
            }
            if (r.outcome === 'failed' || r.outcome === 'notAttempted') hold();
            else toDelete.push(m);
            note(plan, r.outcome, 'reason' in r ? r.reason : undefined);
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
          note(q.plan, 'invalid', q.reason);
        } else {
          held.push({ id: q.m.MessageId ?? 'q', receipt: q.m.ReceiptHandle as string });
          note(q.plan, 'failed', `could not move to quarantine (${q.reason})`);
        }
      }
    }
    for (const group of chunks(toDelete, BATCH)) {
      try {
        const res = await deps.sqs.send(
          new DeleteMessageBatchCommand({ QueueUrl: deps.spoolQueueUrl, Entries: group.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }),
        );
        summary.deleteFailed += res.Failed?.length ?? 0;
      } catch {
        // Started but not deleted: they reappear after the visibility timeout and count as alreadyStarted then.
        summary.deleteFailed += group.length;
      }
    }
  };

  // `max` counts messages handled, not skipped ones. A receiver reserves what it asks for, and
  // gives back what turned out skipped; one that finds the budget fully reserved waits for the
  // others' receives to settle instead of ending the run while their messages may be skipped.
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
            QueueUrl: deps.spoolQueueUrl,
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
      const plans = msgs.map((m) => classify(m, o, deps.rules));
      const counted = plans.filter((p) => p.action !== 'skip').length;
      reserved -= want - counted; // skipped messages do not use up `max`
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

  for (const group of chunks(held, BATCH)) {
    try {
      await deps.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: deps.spoolQueueUrl,
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
        QueueUrl: deps.spoolQueueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
      }),
    );
    const at = a.Attributes ?? {};
    summary.remaining =
      Number(at.ApproximateNumberOfMessages ?? 0) + Number(at.ApproximateNumberOfMessagesNotVisible ?? 0) + Number(at.ApproximateNumberOfMessagesDelayed ?? 0);
  } catch {
    summary.remaining = null;
  }
  summary.throttleEvents = gate.throttleEvents + redriveGate.throttleEvents;
  summary.durationMs = now() - t0;
  return summary;
}
