import { createHash } from 'node:crypto';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { TaskEnvelope } from '../shared/envelope';
import { MAX_EXECUTION_NAME } from '../shared/names';
import { buildClientRecord, ClientResult, ParamLogRecord, ParamLogSink } from '../shared/param-log';
import { AdaptiveRateGate, realSleep } from '../shared/rate-gate';
import { OutgoingSpoolMessage, sendSpoolMessages } from '../shared/spool-send';
import { startPaced, StartOutcome } from '../shared/start-execution';
import { TICK_ATTR_BATCH, TICK_ATTR_JOB, TickBatchMessage } from '../shared/tick-batch';
import { TickLedger } from '../shared/tick-ledger';
import { BatchResult, claimTickBatch, Invocation, invocationDeadlines, UnknownStateMachineError } from '../starter/logic';

/**
 * The starter's high-volume path (docs/big-ticks.md, "High-volume mode"): a tick batch becomes a
 * few parent executions of the job's HighVolumeWorkflow (lib/high-volume-workflow.ts), each with
 * as many task envelopes as fit in Step Functions' 256 KiB execution input, instead of one
 * StartExecution per task. A parent's name is deterministic (job, tick, batch index, index of its
 * first task, digest of its task ids, attempt), so a redelivered batch starts nothing twice: Step Functions refuses the
 * name, and the tasks are recorded Duplicate, as in standard. The tick ledger is kept as the
 * standard starter keeps it (lambdas/starter/logic.ts), so the producer's plan, leases and
 * checkpoints mean the same in both modes.
 */

/** Step Functions' execution input limit (256 KiB), less room for the `{"tasks":[...]}` frame. */
export const MAX_PARENT_INPUT_BYTES = 256 * 1024 - 1024;

/** Parent executions of a batch: consecutive tasks, each part's input at most `maxBytes`. Deterministic for a given message. */
export function partsOf(tasks: ReadonlyArray<TaskEnvelope>, maxBytes = MAX_PARENT_INPUT_BYTES): TaskEnvelope[][] {
  const parts: TaskEnvelope[][] = [];
  let part: TaskEnvelope[] = [];
  let bytes = 0;
  for (const t of tasks) {
    const size = Buffer.byteLength(JSON.stringify(t)) + 1;
    if (size > maxBytes) throw new Error(`task ${t.taskId} is ${size} bytes: more than a parent execution's input can carry`);
    if (bytes + size > maxBytes && part.length > 0) {
      parts.push(part);
      part = [];
      bytes = 0;
    }
    part.push(t);
    bytes += size;
  }
  if (part.length) parts.push(part);
  return parts;
}

/** Hex characters of the part digest in a parent's name (48 bits: two different parts of one tick, batch and first task never meet). */
export const PART_DIGEST_CHARS = 12;

/** A short digest of a part's task ids and attempts, in order: the same part, the same digest. */
export function partDigest(part: ReadonlyArray<Pick<TaskEnvelope, 'taskId' | 'attempt'>>): string {
  const h = createHash('sha256');
  for (const t of part) h.update(t.taskId).update('#').update(String(t.attempt)).update('\n');
  return h.digest('hex').slice(0, PART_DIGEST_CHARS);
}

/**
 * `<job>-<tick>-b<batch index>-t<index of the part's first task in the batch>-<part digest>-a<attempt>`.
 * The digest of the part's task ids makes the name deterministic per part, not per position: a
 * redelivered batch cuts the same parts and is refused by name (Step Functions keeps a name unique
 * per state machine for 90 days), while a part of another plan of the tick (a replan, or a producer
 * retry whose list changed) with other tasks at that position gets a new name instead of
 * ExecutionAlreadyExists. A replanned part with the very same tasks is refused, as a standard
 * replan refuses tasks already started. Names are 1-80 characters of [A-Za-z0-9_-] (AWS Step
 * Functions API reference, "StartExecution",
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html); the
 * parent state machine is the job's own, so a long job name is cut, never the rest.
 */
export function parentExecutionName(job: string, tick: string, batchIndex: number, firstTask: number, digest: string, attempt: number): string {
  const tail = `-${tick}-b${batchIndex}-t${firstTask}-${digest}-a${attempt}`;
  const name = `${job.slice(0, Math.max(0, MAX_EXECUTION_NAME - tail.length))}${tail}`;
  if (name.length > MAX_EXECUTION_NAME || /[^A-Za-z0-9_-]/.test(name)) throw new Error(`parent execution name ${name} is not 1-${MAX_EXECUTION_NAME} characters of [A-Za-z0-9_-]`);
  return name;
}

/** The high-volume starter's dependencies (the handler builds them once per container). */
export interface BatchStarterDeps {
  readonly sfn: SFNClient;
  readonly sqs: SQSClient;
  readonly sink: ParamLogSink;
  readonly ledger: TickLedger;
  readonly gate: AdaptiveRateGate;
  /**
   * The routes: a job's standard state machine (what a tick message names, and where reprocess
   * replays) -> its high-volume parent (what is started). A message naming another one is refused.
   */
  readonly parents: ReadonlyMap<string, string>;
  /** This starter's own tick queue (the rest of a batch is handed on there at the deadline). */
  readonly tickQueueUrl: string;
  readonly spoolQueueUrl: string;
  readonly quarantineQueueUrl: string;
  readonly timeZone: string;
  /** Time kept before the deadline for the records and the checkpoint, ms. @default as the standard starter */
  readonly safetyMs?: number;
  /** Lease beyond the invocation's deadline, ms. @default 60 s */
  readonly leaseMarginMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

interface PartDone {
  readonly part: ReadonlyArray<TaskEnvelope>;
  readonly at: Date;
  readonly outcome: Exclude<StartOutcome, { outcome: 'notAttempted' }>;
}

const RESULT: Record<PartDone['outcome']['outcome'], ClientResult> = { started: 'Started', alreadyStarted: 'Duplicate', failed: 'StartFailed', refused: 'Rejected' };

/**
 * Takes one batch message through to done (or to its deadline), with the tick ledger exactly as
 * the standard starter (lambdas/starter/logic.ts) uses it: claim the batch (lease), start from its
 * cursor, write spool / quarantine messages, then client records, then move the cursor; complete
 * the batch (and maybe the tick), or at the deadline release it and hand the rest on. The tasks
 * are started as parents of the job's HighVolumeWorkflow, each part under
 * `<job>-<tick>-b<batch>-t<first task>-<part digest>-a1` ({@link parentExecutionName}); a part whose start really fails (after the gate's
 * bounded retries; throttling is only waited out) is spooled per task as `StartFailed` naming the
 * job's standard state machine, the message reprocess replays for standard; a part Step Functions
 * refuses outright is quarantined per task as `Rejected`. Parts are cut greedily from the cursor,
 * and the cursor only ever stops at a part's end, so a redelivered message cuts the same parts and
 * its started parents answer Duplicate. Throws when the message must be retried.
 */
export async function startParentBatch(m: TickBatchMessage, deps: BatchStarterDeps, inv: Invocation): Promise<BatchResult> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? realSleep;
  const { endMs, stopAtMs } = invocationDeadlines(now(), inv, deps.safetyMs);
  const throttlesBefore = deps.gate.throttleEvents;
  const counts = { started: 0, duplicate: 0, startFailed: 0, rejected: 0, calls: 0 };
  const result = (outcome: BatchResult['outcome'], tickCompleted = false): BatchResult => ({ batchId: m.batchId, job: m.job, outcome, ...counts, throttleEvents: deps.gate.throttleEvents - throttlesBefore, tickCompleted });

  const parent = deps.parents.get(m.stateMachineArn);
  if (!parent) throw new UnknownStateMachineError();
  const claim = await claimTickBatch(deps.ledger, m, inv, endMs + (deps.leaseMarginMs ?? 60_000));
  if (!claim.claimed) return result(claim.outcome);

  // Parts are consecutive, so progress is the cursor alone (doneAbove stays empty).
  let cursor = claim.cursor;
  const done: PartDone[] = [];
  let first = cursor;
  for (const part of partsOf(m.tasks.slice(cursor - m.offset))) {
    const name = parentExecutionName(m.job, m.tick, m.index, first, partDigest(part), 1);
    const out = await startPaced({ sfn: deps.sfn, gate: deps.gate, stopAtMs, now, sleep }, { stateMachineArn: parent, name, input: JSON.stringify({ tasks: part }) });
    counts.calls += out.calls;
    if (out.outcome === 'notAttempted') break; // the deadline: this part and the rest go on in a new message
    first += part.length;
    const n = part.length;
    if (out.outcome === 'started') counts.started += n;
    else if (out.outcome === 'alreadyStarted') counts.duplicate += n;
    else if (out.outcome === 'failed') counts.startFailed += n;
    else counts.rejected += n;
    done.push({ part, at: new Date(now()), outcome: out });
  }

  // Checkpoint: spool and quarantine messages, then client records, then the cursor.
  const spool: OutgoingSpoolMessage[] = [];
  const quarantine: OutgoingSpoolMessage[] = [];
  for (const d of done) {
    if (d.outcome.outcome !== 'failed' && d.outcome.outcome !== 'refused') continue;
    for (const envelope of d.part) {
      const message = {
        version: 1 as const,
        kind: d.outcome.outcome === 'failed' ? ('StartFailed' as const) : ('Rejected' as const),
        job: m.job,
        taskId: envelope.taskId,
        input: envelope,
        error: d.outcome.error,
        cause: `${d.outcome.reason} (high-volume parent)`,
        failedState: 'Producer',
        executionArn: null,
        // The standard state machine: reprocess replays a task there, one execution per task.
        stateMachineArn: m.stateMachineArn,
      };
      if (d.outcome.outcome === 'failed') spool.push({ message });
      else quarantine.push({ message, reason: d.outcome.reason });
    }
  }
  try {
    if (spool.length) await sendSpoolMessages(deps.sqs, deps.spoolQueueUrl, spool);
    if (quarantine.length) await sendSpoolMessages(deps.sqs, deps.quarantineQueueUrl, quarantine);
    const records: ParamLogRecord[] = done.flatMap((d) =>
      d.part.map((envelope) =>
        buildClientRecord({
          envelope,
          result: RESULT[d.outcome.outcome],
          now: d.at,
          timeZone: deps.timeZone,
          executionArn: 'executionArn' in d.outcome ? d.outcome.executionArn : null,
          error: 'error' in d.outcome ? d.outcome.error : null,
          cause: 'reason' in d.outcome ? d.outcome.reason : null,
        }),
      ),
    );
    if (records.length) await deps.sink.put(records);
  } catch (e) {
    // Nothing of this invocation is behind the cursor: the redelivered message starts there again
    // (its started parents answer Duplicate).
    await deps.ledger.releaseBatch(m.batchId, inv.owner, cursor, []).catch(() => undefined);
    throw e;
  }
  cursor = first;
  if (!(await deps.ledger.checkpointBatch(m.batchId, inv.owner, cursor, []))) return result('leaseLost');
  if (cursor >= m.total) {
    const tick = await deps.ledger.completeBatch(m.batchId, inv.owner, m.tickId);
    if (tick === false) return result('leaseLost');
    return result('completed', tick !== null && tick.batches > 0 && tick.batchesDone === tick.batches);
  }
  // The deadline came: give the lease back and hand the rest on (it starts at a part's end).
  if (!(await deps.ledger.releaseBatch(m.batchId, inv.owner, cursor, []))) return result('leaseLost');
  const rest: TickBatchMessage = { ...m, offset: cursor, tasks: m.tasks.slice(cursor - m.offset) };
  await deps.sqs.send(
    new SendMessageCommand({
      QueueUrl: deps.tickQueueUrl,
      MessageBody: JSON.stringify(rest),
      MessageAttributes: { [TICK_ATTR_JOB]: { DataType: 'String', StringValue: m.job }, [TICK_ATTR_BATCH]: { DataType: 'String', StringValue: m.batchId } },
    }),
  );
  return result('continued');
}

/**
 * Concurrency of the high-volume starters (the tick queue's event source): a batch costs one
 * StartExecution per ~800 tasks, so the bucket no longer sizes them; the client records (a MAC
 * each) do, and more starters write them side by side.
 */
export const HIGH_VOLUME_STARTERS = 10;
