import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { TaskEnvelope } from '../shared/envelope';
import { errorName } from '../shared/errors';
import { executionNameFor } from '../shared/names';
import { buildClientRecord, ClientResult, ParamLogRecord, ParamLogSink } from '../shared/param-log';
import { AdaptiveRateGate, realSleep } from '../shared/rate-gate';
import { OutgoingSpoolMessage, sendSpoolMessages } from '../shared/spool-send';
import { startPaced, StartOutcome } from '../shared/start-execution';
import { parseTickBatch, TICK_ATTR_BATCH, TICK_ATTR_JOB, TickBatchMessage } from '../shared/tick-batch';
import { LeaseLostError, TickLedger } from '../shared/tick-ledger';

/**
 * The starter: the second half of a tick. Each invocation takes one batch message of the tick
 * queue, claims the batch in the ledger, and starts its tasks under their deterministic names
 * through the shared pacing (lambdas/shared/start-execution.ts), a few calls in flight. It
 *
 * - never spools for throttling: it waits (the gate), and hands the rest of the batch on in a new
 *   message when its invocation's deadline comes, so no invocation runs past its timeout;
 * - spools real start failures (StartFailed, after bounded retries) and quarantines what Step
 *   Functions refuses outright (Rejected); writes a client record for every task;
 * - checkpoints progress (every second or so): spool and quarantine messages first, then client
 *   records, then the ledger cursor. A task is behind the cursor only when everything about it is
 *   written, so a crash or a redelivery starts again at the cursor, and a batch already done, or
 *   being worked on by another live invocation, costs no StartExecution call at all.
 */

/** Everything the starter needs; the handler builds it once per container. */
export interface StarterDeps {
  readonly sfn: SFNClient;
  readonly sqs: SQSClient;
  readonly sink: ParamLogSink;
  readonly ledger: TickLedger;
  /** The container's pacing (kept across invocations: the learned pace survives). */
  readonly gate: AdaptiveRateGate;
  /** The app's state machines: a message naming another one is refused. */
  readonly allowedStateMachineArns: ReadonlySet<string>;
  readonly tickQueueUrl: string;
  readonly spoolQueueUrl: string;
  readonly quarantineQueueUrl: string;
  readonly timeZone: string;
  /** StartExecution calls in flight (lambdas/shared/start-plan.ts). */
  readonly inFlight: number;
  /** Time kept before the deadline for in-flight calls and the last checkpoint, ms. @default 10% of the invocation, 15-30 s, at most half */
  readonly safetyMs?: number;
  /** Checkpoint at least this often, ms. @default 1000 */
  readonly checkpointEveryMs?: number;
  /** ... or after this many tasks. @default 400 */
  readonly checkpointEveryTasks?: number;
  /** Lease beyond the invocation's deadline, ms. @default 60 s */
  readonly leaseMarginMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Counts-only logger; never given params. */
  readonly log?: (message: string, fields: Record<string, unknown>) => void;
  /** Count metrics (Powertools in the handler). */
  readonly metric?: (name: string, value: number, job: string) => void;
}

/** One invocation's identity and time. */
export interface Invocation {
  /** The lease owner (the request id). */
  readonly owner: string;
  /** Time left in the invocation when the batch is taken, ms. */
  readonly remainingMs: number;
}

/** What one invocation did with a batch message. Counts only. */
export interface BatchResult {
  readonly batchId: string;
  readonly job: string;
  /**
   * `completed`: every task of the batch is started and recorded; `continued`: the deadline came,
   * the rest went back to the queue; `alreadyDone` / `busy`: another invocation finished / holds
   * it (nothing started); `leaseLost`: this invocation ran past its lease and stopped.
   */
  readonly outcome: 'completed' | 'continued' | 'alreadyDone' | 'busy' | 'leaseLost';
  readonly started: number;
  readonly duplicate: number;
  readonly startFailed: number;
  readonly rejected: number;
  /** StartExecution calls made (throttled ones included). */
  readonly calls: number;
  /** Throttle events (pauses) seen by the gate during this batch. */
  readonly throttleEvents: number;
  /** This batch was the tick's last. */
  readonly tickCompleted: boolean;
}

/** A message names a state machine that is not one of this app's: refused (it goes to the dead-letter queue). */
export class UnknownStateMachineError extends Error {
  constructor() {
    super('the tick message names a state machine that is not one of this app\'s workflows');
    this.name = 'UnknownStateMachineError';
  }
}

/** A message begins after the batch's recorded progress: tasks in between would be skipped. Never expected; goes to the dead-letter queue. */
export class BatchGapError extends Error {
  constructor(offset: number, cursor: number) {
    super(`the tick message starts at task ${offset} but the batch's progress is at ${cursor}`);
    this.name = 'BatchGapError';
  }
}

/** When an invocation stops starting (`stopAtMs`, leaving time for records and the checkpoint) and when it ends. */
export function invocationDeadlines(nowMs: number, inv: Invocation, safetyMs?: number): { readonly endMs: number; readonly stopAtMs: number } {
  const endMs = nowMs + inv.remainingMs;
  const safety = safetyMs ?? Math.min(inv.remainingMs / 2, Math.max(15_000, Math.min(30_000, inv.remainingMs * 0.1)));
  return { endMs, stopAtMs: endMs - safety };
}

/**
 * Claims a tick message's batch in the ledger for this invocation (a lease until `leaseUntilMs`),
 * as both starters do: `done` / `busy` when another invocation finished or holds it; a message
 * that starts after the batch's progress (a gap no task may fall into) releases the claim and
 * throws {@link BatchGapError} so the message comes back.
 */
export async function claimTickBatch(ledger: TickLedger, m: TickBatchMessage, inv: Invocation, leaseUntilMs: number): Promise<{ readonly claimed: false; readonly outcome: 'alreadyDone' | 'busy' } | { readonly claimed: true; readonly cursor: number; readonly doneAbove: ReadonlyArray<number> }> {
  const claim = await ledger.claimBatch(m.batchId, inv.owner, leaseUntilMs, m.total);
  if (!claim.claimed) return { claimed: false, outcome: claim.reason === 'done' ? 'alreadyDone' : 'busy' };
  if (m.offset > claim.item.cursor) {
    await ledger.releaseBatch(m.batchId, inv.owner, claim.item.cursor, claim.item.doneAbove).catch(() => undefined);
    throw new BatchGapError(m.offset, claim.item.cursor);
  }
  return { claimed: true, cursor: claim.item.cursor, doneAbove: claim.item.doneAbove };
}

interface Done {
  readonly envelope: TaskEnvelope;
  readonly at: Date;
  readonly outcome: Exclude<StartOutcome, { outcome: 'notAttempted' }>;
}

const RESULT: Record<Done['outcome']['outcome'], ClientResult> = { started: 'Started', alreadyStarted: 'Duplicate', failed: 'StartFailed', refused: 'Rejected' };

/** Takes one batch message through to done (or to its deadline). Throws when the message must be retried. */
export async function startBatch(m: TickBatchMessage, deps: StarterDeps, inv: Invocation): Promise<BatchResult> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? realSleep;
  const log = deps.log ?? (() => undefined);
  const t0 = now();
  const { endMs, stopAtMs } = invocationDeadlines(t0, inv, deps.safetyMs);
  const throttlesBefore = deps.gate.throttleEvents;
  const counts = { started: 0, duplicate: 0, startFailed: 0, rejected: 0, calls: 0 };
  const result = (outcome: BatchResult['outcome'], tickCompleted = false): BatchResult => ({
    batchId: m.batchId,
    job: m.job,
    outcome,
    ...counts,
    throttleEvents: deps.gate.throttleEvents - throttlesBefore,
    tickCompleted,
  });

  if (!deps.allowedStateMachineArns.has(m.stateMachineArn)) throw new UnknownStateMachineError();
  const claim = await claimTickBatch(deps.ledger, m, inv, endMs + (deps.leaseMarginMs ?? 60_000));
  if (!claim.claimed) return result(claim.outcome);

  // Progress: every task before `cursor`, and those in `flushed`, are started and recorded.
  let cursor = claim.cursor;
  const flushed = new Set<number>(claim.doneAbove.filter((i) => i >= cursor));
  const todo: number[] = [];
  for (let k = 0; k < m.tasks.length; k++) if (m.offset + k >= cursor && !flushed.has(m.offset + k)) todo.push(k);

  const done = new Map<number, Done>();
  let pending: number[] = [];
  let next = 0;
  let stopping = false;
  let leaseLost = false;
  let fatal: unknown = null;
  let lastCheckpoint = now();
  let chain: Promise<void> = Promise.resolve();

  const checkpoint = async (): Promise<void> => {
    const idxs = pending;
    pending = [];
    if (idxs.length === 0) return;
    const items = idxs.map((i) => done.get(i)!);
    const spool: OutgoingSpoolMessage[] = [];
    const quarantine: OutgoingSpoolMessage[] = [];
    for (const d of items) {
      if (d.outcome.outcome !== 'failed' && d.outcome.outcome !== 'refused') continue;
      const message = {
        version: 1 as const,
        kind: d.outcome.outcome === 'failed' ? ('StartFailed' as const) : ('Rejected' as const),
        job: m.job,
        taskId: d.envelope.taskId,
        input: d.envelope,
        error: d.outcome.error,
        cause: d.outcome.reason,
        failedState: 'Producer',
        executionArn: null,
        stateMachineArn: m.stateMachineArn,
      };
      if (d.outcome.outcome === 'failed') spool.push({ message });
      else quarantine.push({ message, reason: d.outcome.reason });
    }
    if (spool.length) await sendSpoolMessages(deps.sqs, deps.spoolQueueUrl, spool);
    if (quarantine.length) await sendSpoolMessages(deps.sqs, deps.quarantineQueueUrl, quarantine);
    const records: ParamLogRecord[] = items.map((d) =>
      buildClientRecord({
        envelope: d.envelope,
        result: RESULT[d.outcome.outcome],
        now: d.at,
        timeZone: deps.timeZone,
        executionArn: 'executionArn' in d.outcome ? d.outcome.executionArn : null,
        error: 'error' in d.outcome ? d.outcome.error : null,
        cause: 'reason' in d.outcome ? d.outcome.reason : null,
      }),
    );
    await deps.sink.put(records);
    for (const i of idxs) {
      flushed.add(i);
      done.delete(i);
    }
    while (flushed.has(cursor)) flushed.delete(cursor++);
    if (!(await deps.ledger.checkpointBatch(m.batchId, inv.owner, cursor, [...flushed].sort((a, b) => a - b)))) {
      leaseLost = true;
      stopping = true;
    }
  };
  const scheduleCheckpoint = (force: boolean): void => {
    if (!force && pending.length < (deps.checkpointEveryTasks ?? 400) && now() - lastCheckpoint < (deps.checkpointEveryMs ?? 1_000)) return;
    lastCheckpoint = now();
    chain = chain
      .then(() => (fatal === null ? checkpoint() : undefined))
      .catch((e) => {
        fatal ??= e;
        stopping = true;
      });
  };

  const worker = async (): Promise<void> => {
    while (!stopping && next < todo.length) {
      const k = todo[next++];
      const envelope = m.tasks[k];
      const r = await startPaced(
        { sfn: deps.sfn, gate: deps.gate, stopAtMs, now, sleep },
        { stateMachineArn: m.stateMachineArn, name: executionNameFor(envelope.taskId, envelope.attempt), input: JSON.stringify(envelope) },
      );
      counts.calls += r.calls;
      if (r.outcome === 'notAttempted') {
        stopping = true; // the deadline: this task and the rest go on in a new message
        return;
      }
      if (r.outcome === 'started') counts.started++;
      else if (r.outcome === 'alreadyStarted') counts.duplicate++;
      else if (r.outcome === 'failed') counts.startFailed++;
      else counts.rejected++;
      done.set(m.offset + k, { envelope, at: new Date(), outcome: r });
      pending.push(m.offset + k);
      scheduleCheckpoint(false);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(deps.inFlight, todo.length)) }, worker));
  scheduleCheckpoint(true);
  await chain;

  if (fatal !== null) {
    // Nothing after the last checkpoint is recorded: the redelivered message starts there again.
    await deps.ledger.releaseBatch(m.batchId, inv.owner, cursor, [...flushed].sort((a, b) => a - b)).catch(() => undefined);
    throw fatal;
  }
  if (leaseLost) {
    log('batch lease lost: another invocation took it over', { batchId: m.batchId });
    return result('leaseLost');
  }
  if (cursor >= m.total) {
    const tick = await deps.ledger.completeBatch(m.batchId, inv.owner, m.tickId);
    if (tick === false) return result('leaseLost');
    return result('completed', tick !== null && tick.batches > 0 && tick.batchesDone === tick.batches);
  }
  // The deadline came: save progress, give the lease back, hand the rest on.
  if (!(await deps.ledger.releaseBatch(m.batchId, inv.owner, cursor, [...flushed].sort((a, b) => a - b)))) return result('leaseLost');
  const rest: TickBatchMessage = { ...m, offset: cursor, tasks: m.tasks.slice(cursor - m.offset) };
  await deps.sqs.send(
    new SendMessageCommand({
      QueueUrl: deps.tickQueueUrl,
      MessageBody: JSON.stringify(rest),
      MessageAttributes: {
        [TICK_ATTR_JOB]: { DataType: 'String', StringValue: m.job },
        [TICK_ATTR_BATCH]: { DataType: 'String', StringValue: m.batchId },
      },
    }),
  );
  return result('continued');
}

/** The context the handler uses (a real Lambda context, or what a local event-source driver passes). */
export interface StarterContext {
  getRemainingTimeInMillis(): number;
  readonly awsRequestId: string;
}

/**
 * The SQS event-source handler: each record is one batch message (the mapping sends one at a
 * time). A record that fails is reported in `batchItemFailures` (ReportBatchItemFailures), so only
 * it returns to the queue, to be retried after the visibility timeout and, past the redrive
 * policy's receive count, moved to the dead-letter queue.
 */
export function createStarterHandler(deps: StarterDeps): (event: SQSEvent, context: StarterContext) => Promise<SQSBatchResponse> {
  const log = deps.log ?? (() => undefined);
  const metric = deps.metric ?? (() => undefined);
  return async (event, context) => {
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of event.Records ?? []) {
      let job = record.messageAttributes?.[TICK_ATTR_JOB]?.stringValue ?? 'unknown';
      try {
        const m = parseTickBatch(record.body);
        job = m.job;
        const r = await startBatch(m, deps, { owner: context.awsRequestId, remainingMs: context.getRemainingTimeInMillis() });
        metric('TasksStarted', r.started, job);
        metric('TasksDuplicate', r.duplicate, job);
        metric('TasksStartFailed', r.startFailed, job);
        metric('TasksRejected', r.rejected, job);
        metric('StartCalls', r.calls, job);
        metric('StartThrottleEvents', r.throttleEvents, job);
        metric(r.outcome === 'completed' ? 'BatchesCompleted' : r.outcome === 'continued' ? 'BatchesContinued' : 'BatchesSkipped', 1, job);
        if (r.tickCompleted) metric('TicksCompleted', 1, job);
        log(r.tickCompleted ? 'batch done: the tick is started completely' : 'batch done', { ...r, tick: m.tick, index: m.index, batches: m.batches, offset: m.offset, total: m.total, receiveCount: record.attributes?.ApproximateReceiveCount });
      } catch (e) {
        metric('BatchesFailed', 1, job);
        log('batch failed: it returns to the queue', { job, messageId: record.messageId, error: errorName(e), leaseLost: e instanceof LeaseLostError, receiveCount: record.attributes?.ApproximateReceiveCount });
        failures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
}
