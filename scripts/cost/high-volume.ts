import { AppShape, HighVolumeFunctions, JobShape } from './shape';
import { MonthlyCost, Assumptions, monthlyCost, tasksPerMessage } from './model';
import { PRICES } from './prices';
import { RecordSizes } from './records';
import { PathCounts } from './transitions';
import { MAX_PARENT_INPUT_BYTES } from '../../lambdas/batch-starter/logic';
import { HIGH_VOLUME_DEFAULTS } from '../../lib/high-volume-workflow';

/**
 * The high-volume mode priced (docs/big-ticks.md, "High-volume mode"): one Standard parent per
 * batch of tasks runs a Distributed Map whose children are Express; each child takes
 * `itemsPerChild` tasks (ItemBatcher; the number the stack chooses for the job from its worst
 * case, shape.ts highVolumeChildOf) and runs them through the job's steps, `childConcurrency` at a
 * time (an inline Map inside the child), then writes their worker records in one invocation of
 * batch-record; the parent's post-map step (map-failures) runs once per parent. Replays run as
 * standard single-task executions (the standard path).
 *
 * Built on the standard model (model.ts): the job's path is rewritten (billed Standard transitions
 * are the parent's, the worker records are written once per child), the batch starter starts one
 * execution per batch, and the Express requests and duration are carried by the job
 * (`JobShape.express`) into their own row.
 */

/** Express list prices, us-east-1 (prices.ts, where the report lists them with the others). */
export const EXPRESS_PRICES = { expressRequest: PRICES.expressRequest, expressGbSecond: PRICES.expressGbSecond } as const;

/** Express bills memory in 64 MB chunks and duration in 100 ms increments (pricing page). */
export const EXPRESS_MEMORY_CHUNK_MB = 64;
export const EXPRESS_DURATION_INCREMENT_MS = 100;

/** The shape of the high-volume mode (the construct's defaults). */
export interface HighVolumeOptions {
  /**
   * Tasks one Express child runs (the Distributed Map's ItemBatcher MaxItemsPerBatch). Only for a
   * job without its own `child` (hand-made shapes): the report prices each job at the number the
   * stack chooses for it ({@link optionsFor}).
   */
  readonly itemsPerChild: number;
  /** Tasks a child runs at once (its inline Map's MaxConcurrency, at most 40). */
  readonly childConcurrency: number;
  /** Tasks one parent execution takes (one starter batch). */
  readonly tasksPerParent: number;
  /**
   * Billed Standard transitions of one parent besides its children: the states it enters
   * (lib/high-volume-workflow.ts: Children, ParentDone; two more kept for the post-map spooling the
   * design adds, docs/big-ticks.md).
   */
  readonly parentTransitions: number;
  /**
   * Billed Standard transitions per child execution the Distributed Map starts. The pricing page
   * prices Standard transitions and Express requests; whether a Distributed Map bills a transition
   * per child was not confirmed here, so one per child is counted (an upper bound).
   */
  readonly transitionsPerChild: number;
  /** Step Functions' own time per state in the child (scheduling, integration round trips), ms. */
  readonly stateOverheadMs: number;
}

export const DEFAULT_HIGH_VOLUME: HighVolumeOptions = {
  itemsPerChild: HIGH_VOLUME_DEFAULTS.itemsPerChild,
  childConcurrency: HIGH_VOLUME_DEFAULTS.childConcurrency,
  tasksPerParent: 2250,
  parentTransitions: 4,
  transitionsPerChild: 1,
  stateOverheadMs: 20,
};

/**
 * Tasks one parent carries: a starter batch, cut so each parent's input fits 256 KiB
 * (lambdas/batch-starter/logic.ts, MAX_PARENT_INPUT_BYTES).
 */
export function tasksPerParent(tasksPerBatch: number, envelopeBytes: number): number {
  return Math.max(1, Math.min(tasksPerBatch, Math.floor(MAX_PARENT_INPUT_BYTES / (envelopeBytes + 1))));
}

/** Billed Standard transitions per task in the high-volume mode (the parent's, shared by its tasks). */
export function highVolumeTransitionsPerTask(hv: HighVolumeOptions): number {
  return hv.parentTransitions / hv.tasksPerParent + hv.transitionsPerChild / hv.itemsPerChild;
}

/** `hv` with the job's child as the stack chooses it (items per child, concurrency), when the shape knows it. */
export function optionsFor(job: JobShape, hv: HighVolumeOptions): HighVolumeOptions {
  return job.child ? { ...hv, itemsPerChild: job.child.itemsPerChild, childConcurrency: job.child.childConcurrency } : hv;
}

function rewrite(p: PathCounts, recordFunction: string, hv: HighVolumeOptions, fns?: HighVolumeFunctions): PathCounts {
  const lambda = new Map(p.lambda);
  // Worker records: one invocation per child for all its items (batch-record), not one per task.
  if (lambda.has(recordFunction)) {
    const writer = fns?.batchRecord ?? recordFunction;
    lambda.delete(recordFunction);
    lambda.set(writer, (lambda.get(writer) ?? 0) + 1 / hv.itemsPerChild);
  }
  // The parent's post-map step (SpoolFailedChildren) runs once per parent, failed children or not.
  if (fns) lambda.set(fns.mapFailures, (lambda.get(fns.mapFailures) ?? 0) + 1 / hv.tasksPerParent);
  return { transitions: highVolumeTransitionsPerTask(hv), lambda, tasks: new Map(p.tasks), entered: [...p.entered], status: p.status };
}

/**
 * The job's paths in the high-volume mode (the replay stays a standard execution). With `fns`, the
 * worker records go to its batch-record function and the post-map step is counted; without, the
 * record function stands in for batch-record.
 */
export function highVolumeJob(job: JobShape, recordFunction: string, hv: HighVolumeOptions, fns?: HighVolumeFunctions): JobShape {
  const recorded = job.success.lambda.has(recordFunction) ? 1 - 1 / hv.itemsPerChild : 0;
  return { ...job, success: rewrite(job.success, recordFunction, hv, fns), failure: rewrite(job.failure, recordFunction, hv, fns), batchedWorkerRecordsPerTask: recorded };
}

/** Express usage of one task, on average: requests and billed GB-seconds. */
export interface ExpressPerTask {
  readonly requests: number;
  readonly billedMsPerChild: number;
  readonly memoryMb: number;
  readonly gbSeconds: number;
}

/**
 * One child's billed duration: its items in waves of `childConcurrency`, each item its Lambda
 * invocations (the success path, minus the record function) at `durationMs` plus the state
 * overhead of its states, then the record invocation; rounded up to 100 ms. Memory: the payload
 * of its items (envelope and step output, twice for input and output) in 64 MB chunks.
 */
export function expressPerTask(job: JobShape, recordFunction: string, a: Pick<Assumptions, 'durationMs' | 'stepOutputBytes'>, sizes: Pick<RecordSizes, 'envelopeBytes'>, hv: HighVolumeOptions): ExpressPerTask {
  const invocations = [...job.success.lambda].filter(([fn]) => fn !== recordFunction).reduce((s, [, n]) => s + n, 0);
  const itemMs = invocations * a.durationMs + job.success.transitions * hv.stateOverheadMs;
  const waves = Math.ceil(hv.itemsPerChild / hv.childConcurrency);
  const childMs = waves * itemMs + a.durationMs + 2 * hv.stateOverheadMs;
  const billedMsPerChild = Math.ceil(childMs / EXPRESS_DURATION_INCREMENT_MS) * EXPRESS_DURATION_INCREMENT_MS;
  const payloadMb = (2 * hv.itemsPerChild * (sizes.envelopeBytes + a.stepOutputBytes)) / (1024 * 1024);
  const memoryMb = Math.max(1, Math.ceil(payloadMb / EXPRESS_MEMORY_CHUNK_MB)) * EXPRESS_MEMORY_CHUNK_MB;
  const requests = 1 / hv.itemsPerChild;
  return { requests, billedMsPerChild, memoryMb, gbSeconds: requests * (billedMsPerChild / 1000) * (memoryMb / 1024) };
}

/** The month of one job alone, in one mode. */
export interface JobModeCost {
  readonly job: string;
  readonly mode: 'standard' | 'high-volume';
  /** Billed Standard transitions per task (expected, failures and replays included). */
  readonly transitionsPerTask: number;
  /** Express requests per task (0 in standard). */
  readonly expressRequestsPerTask: number;
  readonly months: ReadonlyArray<MonthlyCost>;
}

/**
 * `job` (a standard shape from shape.ts) priced in `mode`, with all that the mode changes. In
 * high-volume: its paths rewritten at its own items per child ({@link optionsFor}), worker records
 * by its batch-record function, the post-map step once per parent, the high-volume starters' tick
 * queue, one StartExecution per parent, a tick message's client records per put, and its Express
 * children. Functions and queue are the deployed ones when the job is deployed in the mode, else
 * the shape's stand-ins. In standard: the standard starters' tick queue.
 */
export function jobInMode(shape: AppShape, job: JobShape, mode: JobModeCost['mode'], sizes: RecordSizes, a: Assumptions, hv: HighVolumeOptions = DEFAULT_HIGH_VOLUME): JobShape {
  if (mode === 'standard') {
    const { express: _e, startsPerTask: _s, clientRecordsPerPut: _c, ...standard } = job;
    return shape.tickQueues.standard ? { ...standard, tickQueue: shape.tickQueues.standard } : standard;
  }
  const o = optionsFor(job, hv);
  const e = expressPerTask(job, shape.recordFunction, a, sizes, o);
  const queue = shape.tickQueues.highVolume ?? job.tickQueue;
  return {
    ...highVolumeJob(job, shape.recordFunction, o, job.highVolumeFunctions ?? shape.highVolumeStandIns),
    ...(queue ? { tickQueue: queue } : {}),
    // The batch starter starts one parent per batch: its pacing is per batch, not per task.
    startsPerTask: 1 / o.tasksPerParent,
    // It puts a whole tick message's client records in one call (one record MAC per 512).
    clientRecordsPerPut: tasksPerMessage(a.tasksPerTickMessage, sizes.envelopeBytes),
    express: { requests: e.requests, gbSeconds: e.gbSeconds },
  };
}

/**
 * Prices one job alone (all tasks of the day are its tasks) in `mode` at each volume, with every
 * row of the standard model and, in high-volume, the Express row.
 */
export function jobModeCost(shape: AppShape, job: JobShape, mode: JobModeCost['mode'], sizes: RecordSizes, a: Assumptions, volumes: ReadonlyArray<number>, hv: HighVolumeOptions = DEFAULT_HIGH_VOLUME): JobModeCost {
  const alone: Assumptions = { ...a, mix: new Map([[job.job, 1]]) };
  const priced = jobInMode(shape, job, mode, sizes, a, hv);
  const s: AppShape = { ...shape, jobs: [priced] };
  const months = volumes.map((n) => monthlyCost(s, sizes, alone, n));
  const f = a.failureRate;
  const o = optionsFor(job, hv);
  const std = (1 - f) * job.success.transitions + f * (job.failure.transitions + job.replay.transitions) + a.retriesPerTask;
  const hvT = (1 - f) * highVolumeTransitionsPerTask(o) + f * (highVolumeTransitionsPerTask(o) + job.replay.transitions);
  return { job: job.job, mode, transitionsPerTask: mode === 'standard' ? std : hvT, expressRequestsPerTask: priced.express?.requests ?? 0, months };
}
