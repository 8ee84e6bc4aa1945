import { AppShape, JobShape } from './shape';
import { ComponentCost, MonthlyCost, Assumptions, monthlyCost, tasksPerMessage } from './model';
import { cost, DAYS_PER_MONTH, Price } from './prices';
import { RecordSizes } from './records';
import { PathCounts } from './transitions';
import { MAX_PARENT_INPUT_BYTES } from '../../lambdas/batch-starter/logic';

/**
 * The high-volume mode priced (docs/big-ticks.md, "High-volume mode"): one Standard parent per
 * batch of tasks runs a Distributed Map whose children are Express; each child takes
 * `itemsPerChild` tasks (ItemBatcher) and runs them through the job's steps, `childConcurrency`
 * at a time (an inline Map inside the child), then writes their worker records in one invocation
 * of the record function. Replays run as standard single-task executions (the standard path).
 *
 * Built on the standard model (model.ts): the job's path is rewritten (billed Standard transitions
 * are the parent's, the record function runs once per child), the starter starts one execution per
 * batch, and the Express requests and duration are added as their own row.
 */

/** Express list prices, us-east-1 (AWS Step Functions pricing page; the workshop's example agrees: $0.0000001042 per 100 ms at 64 MB). */
export const EXPRESS_PRICES = {
  expressRequest: { usd: 1, per: 1_000_000, unit: 'Express requests (executions started)', source: 'https://aws.amazon.com/step-functions/pricing/', confidence: 'verify' },
  /** First 1,000 GB-hours a month ($0.06 per GB-hour); the next tiers are cheaper, so this is an upper bound past it. */
  expressGbSecond: { usd: 0.00001667, per: 1, unit: 'Express GB-seconds (64 MB chunks, 100 ms increments)', source: 'https://aws.amazon.com/step-functions/pricing/', confidence: 'verify' },
} as const satisfies Record<string, Price>;

/** Express bills memory in 64 MB chunks and duration in 100 ms increments (pricing page). */
export const EXPRESS_MEMORY_CHUNK_MB = 64;
export const EXPRESS_DURATION_INCREMENT_MS = 100;

/** The shape of the high-volume mode (the construct's defaults; flags of `npm run cost`). */
export interface HighVolumeOptions {
  /** Tasks one Express child runs (the Distributed Map's ItemBatcher MaxItemsPerBatch). */
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
  itemsPerChild: 100,
  childConcurrency: 10,
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

function rewrite(p: PathCounts, recordFunction: string, hv: HighVolumeOptions): PathCounts {
  const lambda = new Map(p.lambda);
  // Worker records: one invocation per child for all its items, not one per task.
  if (lambda.has(recordFunction)) lambda.set(recordFunction, 1 / hv.itemsPerChild);
  return { transitions: highVolumeTransitionsPerTask(hv), lambda, tasks: new Map(p.tasks), entered: [...p.entered], status: p.status };
}

/** The job's paths in the high-volume mode (the replay stays a standard execution). */
export function highVolumeJob(job: JobShape, recordFunction: string, hv: HighVolumeOptions): JobShape {
  const recorded = job.success.lambda.has(recordFunction) ? 1 - 1 / hv.itemsPerChild : 0;
  return { ...job, success: rewrite(job.success, recordFunction, hv), failure: rewrite(job.failure, recordFunction, hv), batchedWorkerRecordsPerTask: recorded };
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

/** The app shape with only `job`, in the given mode. */
function shapeOf(shape: AppShape, job: JobShape, mode: JobModeCost['mode'], hv: HighVolumeOptions): AppShape {
  return { ...shape, jobs: [mode === 'standard' ? job : highVolumeJob(job, shape.recordFunction, hv)] };
}

/**
 * Prices one job alone (all tasks of the day are its tasks) in `mode` at each volume, with every
 * row of the standard model and, in high-volume, the Express row.
 */
export function jobModeCost(shape: AppShape, job: JobShape, mode: JobModeCost['mode'], sizes: RecordSizes, a: Assumptions, volumes: ReadonlyArray<number>, hv: HighVolumeOptions = DEFAULT_HIGH_VOLUME): JobModeCost {
  const alone: Assumptions = {
    ...a,
    mix: new Map([[job.job, 1]]),
    // The starter starts one parent per batch: its pacing is per batch, not per task.
    startsPerTask: mode === 'standard' ? (a.startsPerTask ?? 1) : 1 / hv.tasksPerParent,
    // The batch starter puts a whole tick message's client records in one call (one record MAC per 512).
    ...(mode === 'high-volume' ? { clientRecordsPerPut: tasksPerMessage(a.tasksPerTickMessage, sizes.envelopeBytes) } : {}),
  };
  const s = shapeOf(shape, job, mode, hv);
  const express = mode === 'high-volume' ? expressPerTask(job, shape.recordFunction, a, sizes, hv) : null;
  const months = volumes.map((n) => {
    const m = monthlyCost(s, sizes, alone, n);
    if (!express) return m;
    const tasksPerMonth = n * DAYS_PER_MONTH;
    const row: ComponentCost = {
      component: 'Step Functions Express (requests + GB-s)',
      usd: cost(EXPRESS_PRICES.expressRequest, express.requests * tasksPerMonth) + cost(EXPRESS_PRICES.expressGbSecond, express.gbSeconds * tasksPerMonth),
      // Express prices are not in PRICES (model.ts's names): the row names none of them.
      prices: [],
    };
    const components = [m.components[0], row, ...m.components.slice(1)];
    const total = components.reduce((t, c) => t + c.usd, 0);
    return { ...m, components, total, perTask: n > 0 ? total / tasksPerMonth : 0 };
  });
  const f = a.failureRate;
  const std = (1 - f) * job.success.transitions + f * (job.failure.transitions + job.replay.transitions) + a.retriesPerTask;
  const hvT = (1 - f) * highVolumeTransitionsPerTask(hv) + f * (highVolumeTransitionsPerTask(hv) + job.replay.transitions);
  return { job: job.job, mode, transitionsPerTask: mode === 'standard' ? std : hvT, expressRequestsPerTask: express?.requests ?? 0, months };
}
