import { SFNClient } from '@aws-sdk/client-sfn';
import { TaskEnvelope } from '../shared/envelope';
import { MAX_EXECUTION_NAME } from '../shared/names';
import { buildClientRecord, ParamLogSink } from '../shared/param-log';
import { AdaptiveRateGate } from '../shared/rate-gate';
import { startPaced } from '../shared/start-execution';
import { TickBatchMessage } from '../shared/tick-batch';

/**
 * The starter's high-volume path (docs/big-ticks.md, "High-volume mode"): a tick batch becomes a
 * few parent executions of the job's HighVolumeWorkflow (lib/high-volume-workflow.ts), each with
 * as many task envelopes as fit in Step Functions' 256 KiB execution input, instead of one
 * StartExecution per task. A parent's name is deterministic (job, tick, batch index, index of its
 * first task, attempt), so a redelivered batch starts nothing twice: Step Functions refuses the
 * name, and the tasks are recorded Duplicate, as in standard.
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

/** `<job>-<tick>-b<batch index>-t<index of the first task in the batch>-a<attempt>`: at most 80 characters. */
export function parentExecutionName(job: string, tick: string, batchIndex: number, firstTask: number, attempt: number): string {
  const name = `${job}-${tick}-b${batchIndex}-t${firstTask}-a${attempt}`;
  if (name.length > MAX_EXECUTION_NAME) throw new Error(`parent execution name ${name} is longer than ${MAX_EXECUTION_NAME} characters`);
  return name;
}

/** A parent start that did not go through: the message is retried (SQS), then dead-lettered. */
export class ParentStartError extends Error {
  constructor(name: string, reason: string) {
    super(`parent execution ${name} not started: ${reason}`);
    this.name = 'ParentStartError';
  }
}

export interface BatchStarterDeps {
  readonly sfn: SFNClient;
  readonly gate: AdaptiveRateGate;
  readonly sink: ParamLogSink;
  readonly timeZone: string;
  /** The job's high-volume parent state machine (the message names the standard one). */
  readonly parentStateMachineArn: string;
  /** No start is attempted after this (epoch ms): the message comes back. */
  readonly stopAtMs: number;
  readonly now?: () => number;
}

/** Counts only. */
export interface ParentsResult {
  readonly parents: number;
  readonly started: number;
  readonly duplicate: number;
  readonly calls: number;
}

/**
 * Starts the message's tasks as parent executions, part by part, and writes each task's client
 * record (Started, or Duplicate when its parent already existed) after its parent's start. Throws
 * on a start that failed or was refused, after writing the records of the parts before it: the
 * message is redelivered and the started parts answer Duplicate.
 */
export async function startParents(m: TickBatchMessage, deps: BatchStarterDeps): Promise<ParentsResult> {
  const now = deps.now ?? Date.now;
  let first = m.offset;
  let calls = 0;
  const parts = partsOf(m.tasks);
  const done: Array<{ part: TaskEnvelope[]; result: 'Started' | 'Duplicate'; executionArn: string; at: Date }> = [];
  // Every part is started first (a task begins when its parent starts), then the records are
  // written (one put: a KMS request per 512 records, record-mac.ts); a crash before them is
  // answered on redelivery by Duplicate records, as in standard.
  let failure: ParentStartError | null = null;
  for (const part of parts) {
    const name = parentExecutionName(m.job, m.tick, m.index, first, 1);
    first += part.length;
    const out = await startPaced({ sfn: deps.sfn, gate: deps.gate, stopAtMs: deps.stopAtMs, now }, { stateMachineArn: deps.parentStateMachineArn, name, input: JSON.stringify({ tasks: part }) });
    calls += out.calls;
    if (out.outcome !== 'started' && out.outcome !== 'alreadyStarted') {
      failure = new ParentStartError(name, out.outcome === 'notAttempted' ? 'out of time' : `${out.error}: ${out.reason}`);
      break;
    }
    done.push({ part, result: out.outcome === 'started' ? 'Started' : 'Duplicate', executionArn: out.executionArn, at: new Date(now()) });
  }
  const records = done.flatMap((d) => d.part.map((envelope) => buildClientRecord({ envelope, result: d.result, now: d.at, timeZone: deps.timeZone, executionArn: d.executionArn })));
  if (records.length) await deps.sink.put(records);
  if (failure) throw failure;
  const count = (r: 'Started' | 'Duplicate') => done.filter((d) => d.result === r).reduce((n, d) => n + d.part.length, 0);
  return { parents: parts.length, started: count('Started'), duplicate: count('Duplicate'), calls };
}

/**
 * Concurrency of the high-volume starters (the tick queue's event source): a batch costs one
 * StartExecution per ~800 tasks, so the bucket no longer sizes them; the client records (a MAC
 * each) do, and more starters write them side by side.
 */
export const HIGH_VOLUME_STARTERS = 10;
