import { retryWaitSeconds } from './timeouts';
import { JobConfig, ResolvedLambdaStep, ResolvedStep } from './types';

/**
 * A job's execution mode (docs/big-ticks.md, "High-volume mode"): `standard` runs one Standard
 * execution per task; `high-volume` runs a tick's tasks as items of a Distributed Map whose child
 * workflows are Express. Express executions end at five minutes, so the mode is only for jobs whose
 * worst case fits, and only for features that hold inside one short-lived, at-least-once child.
 */
export type ExecutionMode = 'standard' | 'high-volume';

export const EXECUTION_MODES: ReadonlyArray<ExecutionMode> = ['standard', 'high-volume'];

/**
 * Express workflows run at most five minutes (Step Functions developer guide, "Choosing workflow
 * type", https://docs.aws.amazon.com/step-functions/latest/dg/choosing-workflow-type.html).
 */
export const EXPRESS_MAX_SECONDS = 300;

/**
 * What a failed item's Catch path needs inside the child: the spool send with a short retrier and
 * the worker record. Counted into the worst case so that a task failing at its last attempt is still
 * spooled by the child, not cut off by the five-minute end.
 */
export const HIGH_VOLUME_FAILURE_PATH_SECONDS = 30;

/**
 * What a child needs after its items: one invocation of RecordBatch (lambdas/batch-record), whose
 * function times out at 30 s (lib/high-volume-workflow.ts BatchRecordFunction). Kept out of the
 * items' time, so a child whose items all took their worst case still writes its worker records
 * rather than being cut off at five minutes (a cut-off child's items are all spooled again by the
 * parent's SpoolFailedChildren, the successful ones included).
 */
export const HIGH_VOLUME_RECORD_SECONDS = 30;

/** The time a child's items may take: five minutes less {@link HIGH_VOLUME_RECORD_SECONDS}. */
export const HIGH_VOLUME_ITEMS_SECONDS = EXPRESS_MAX_SECONDS - HIGH_VOLUME_RECORD_SECONDS;

/** One line of the worst case: a step and its seconds. */
export interface WorstCaseLine {
  readonly step: string;
  readonly seconds: number;
  /** How the seconds add up, e.g. `30 s x (1+2) + 3 s waits`. */
  readonly how: string;
}

/** A job's worst case in an Express child, by step, and the total. */
export interface WorstCase {
  readonly lines: ReadonlyArray<WorstCaseLine>;
  readonly totalSeconds: number;
}

function lambdaLine(s: ResolvedLambdaStep): WorstCaseLine {
  const waits = retryWaitSeconds(s.retry);
  const attempts = 1 + s.retry.maxAttempts;
  return { step: s.name, seconds: s.timeoutSeconds * attempts + waits, how: `${s.timeoutSeconds} s x (1+${s.retry.maxAttempts}) + ${round(waits)} s waits` };
}

const round = (n: number) => Math.round(n * 10) / 10;

function chain(steps: ReadonlyArray<ResolvedLambdaStep>): number {
  return steps.reduce((n, s) => n + lambdaLine(s).seconds, 0);
}

/**
 * The longest one task can take in an Express child: per Lambda step, its timeout times its attempts
 * (1 + maxAttempts) plus the waits between them (interval x backoff^k, each capped by maxDelay;
 * jitter only shortens them); a group its longest branch; a map its waves of items; plus the failure
 * path ({@link HIGH_VOLUME_FAILURE_PATH_SECONDS}).
 */
export function highVolumeWorstCase(steps: ReadonlyArray<ResolvedStep>): WorstCase {
  const lines: WorstCaseLine[] = steps.map((s) => {
    if (s.kind === 'lambda') return lambdaLine(s);
    if (s.kind === 'parallel') {
      const seconds = Math.max(...s.branches.map(chain));
      return { step: s.name, seconds, how: 'its longest branch' };
    }
    const waves = Math.ceil(s.maxItems / s.maxConcurrency);
    return { step: s.name, seconds: waves * chain(s.steps), how: `${waves} waves of ${s.maxItems} items at ${s.maxConcurrency} at once` };
  });
  lines.push({ step: 'failure path', seconds: HIGH_VOLUME_FAILURE_PATH_SECONDS, how: 'spool send and record' });
  return { lines, totalSeconds: lines.reduce((n, l) => n + l.seconds, 0) };
}

/** How a child of the high-volume mode runs its items, and its worst case. */
export interface HighVolumeChildShape {
  /** Tasks per child (the Distributed Map's ItemBatcher MaxItemsPerBatch). */
  readonly itemsPerChild: number;
  /** Items a child runs at once (its inline Map's MaxConcurrency). */
  readonly childConcurrency: number;
  /** Rounds of items one after the other: ceil(itemsPerChild / childConcurrency). */
  readonly waves: number;
  /** The worst case of one item ({@link highVolumeWorstCase}). */
  readonly perItemSeconds: number;
  /** waves x perItemSeconds + {@link HIGH_VOLUME_RECORD_SECONDS}: at most {@link EXPRESS_MAX_SECONDS}. */
  readonly childSeconds: number;
}

/** Thrown when no child shape fits five minutes; the message says what to change. */
export class HighVolumeShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HighVolumeShapeError';
  }
}

/**
 * The child shape of a job: a child runs its items `childConcurrency` at once, so its worst case is
 * the per-item worst case times ceil(itemsPerChild / childConcurrency) waves, plus the worker
 * records. Express children end at five minutes, and a child cut off there neither runs nor spools
 * its later items itself (the parent's SpoolFailedChildren spools them all, done ones included):
 * so the items per child are lowered, from `max.itemsPerChild`, to as many waves as fit. With
 * `exact`, `max` is taken as asked (a deployment that sets it) and refused when it does not fit.
 */
export function highVolumeChildShape(steps: ReadonlyArray<ResolvedStep>, max: { readonly itemsPerChild: number; readonly childConcurrency: number }, exact = false): HighVolumeChildShape {
  const perItemSeconds = highVolumeWorstCase(steps).totalSeconds;
  const fitWaves = Math.floor(HIGH_VOLUME_ITEMS_SECONDS / perItemSeconds);
  const shape = (itemsPerChild: number): HighVolumeChildShape => {
    const waves = Math.ceil(itemsPerChild / max.childConcurrency);
    return { itemsPerChild, childConcurrency: max.childConcurrency, waves, perItemSeconds, childSeconds: waves * perItemSeconds + HIGH_VOLUME_RECORD_SECONDS };
  };
  if (!(fitWaves >= 1)) {
    throw new HighVolumeShapeError(
      `one task's worst case is ${round(perItemSeconds)} s: not even one item fits the ${HIGH_VOLUME_ITEMS_SECONDS} s an Express child has for its items ` +
        `(${EXPRESS_MAX_SECONDS} s less ${HIGH_VOLUME_RECORD_SECONDS} s for its worker records). Lower step timeouts, attempts or retry waits, or keep the job on "standard"`,
    );
  }
  const fits = Math.min(max.itemsPerChild, fitWaves * max.childConcurrency);
  if (exact && fits < max.itemsPerChild) {
    const asked = shape(max.itemsPerChild);
    throw new HighVolumeShapeError(
      `itemsPerChild ${max.itemsPerChild} at childConcurrency ${max.childConcurrency} is ${asked.waves} waves of up to ${round(perItemSeconds)} s (one task's worst case) + ${HIGH_VOLUME_RECORD_SECONDS} s of records = ${round(asked.childSeconds)} s, ` +
        `above the ${EXPRESS_MAX_SECONDS} s an Express child runs: set itemsPerChild to at most ${fits} (or leave it unset to have it chosen), raise childConcurrency, or lower the job's step timeouts or attempts`,
    );
  }
  return shape(fits);
}

/**
 * Checks a job's `executionMode` and, for `high-volume`, that the job fits an Express child: its
 * worst case within five minutes and no feature the mode cannot keep. Returns the mode (standard
 * when unset or invalid, so that the other checks can go on) and pushes every problem found.
 */
export function checkExecutionMode(where: string, j: Pick<JobConfig, 'executionMode' | 'exclusiveBy' | 'executionTimeoutSeconds'>, steps: ReadonlyArray<ResolvedStep>, problems: string[]): ExecutionMode {
  const mode = j.executionMode ?? 'standard';
  if (!EXECUTION_MODES.includes(mode)) {
    problems.push(`${where}.executionMode must be "standard" or "high-volume", got ${JSON.stringify(j.executionMode)}`);
    return 'standard';
  }
  if (mode === 'standard') return mode;
  if (j.exclusiveBy !== undefined) {
    problems.push(
      `${where}.executionMode "high-volume" cannot keep exclusiveBy ("${j.exclusiveBy}"): a task may wait for its lock longer than an Express child lives (5 minutes), ` +
        'and an Express child may run twice, so a twin could release the lock the other holds. Keep this job on "standard" or drop exclusiveBy',
    );
  }
  if (j.executionTimeoutSeconds !== undefined && j.executionTimeoutSeconds > EXPRESS_MAX_SECONDS) {
    problems.push(`${where}.executionTimeoutSeconds (${j.executionTimeoutSeconds}) is above ${EXPRESS_MAX_SECONDS} s, the longest an Express child of the high-volume mode runs: lower it or keep the job on "standard"`);
  }
  const nested = steps.filter((s) => s.kind !== 'lambda').map((s) => s.name);
  if (nested.length) {
    problems.push(`${where}.executionMode "high-volume": groups and maps (${nested.join(', ')}) are not built in the high-volume child yet (lib/high-volume-workflow.ts); keep the job on "standard"`);
  }
  // Steps that failed their own checks have no meaningful worst case yet.
  if (steps.length === 0) return mode;
  // A child runs its items in waves (lib/high-volume-workflow.ts chooses the items per child from
  // this worst case, highVolumeChildShape): one wave must fit, with the child's worker records after it.
  const worst = highVolumeWorstCase(steps);
  if (Number.isFinite(worst.totalSeconds) && worst.totalSeconds > HIGH_VOLUME_ITEMS_SECONDS) {
    const detail = worst.lines.map((l) => `${l.step} ${round(l.seconds)} s (${l.how})`).join(' + ');
    problems.push(
      `${where}.executionMode "high-volume": the job's worst case per task is ${round(worst.totalSeconds)} s, above the ${HIGH_VOLUME_ITEMS_SECONDS} s an Express child has for its items ` +
        `(${EXPRESS_MAX_SECONDS} s less ${HIGH_VOLUME_RECORD_SECONDS} s for its worker records): ${detail}. ` +
        'Lower step timeouts, attempts or retry waits (maxDelaySeconds), or keep the job on "standard"',
    );
  }
  return mode;
}

/**
 * Why a resolved job could not run in the high-volume mode as configured (short reasons, for
 * reports such as `npm run cost`); empty when it could.
 */
export function highVolumeRefusals(job: { readonly exclusiveBy: string | null; readonly steps: ReadonlyArray<ResolvedStep> }): string[] {
  const out: string[] = [];
  if (job.exclusiveBy !== null) out.push(`exclusiveBy "${job.exclusiveBy}" (a lock cannot be kept by an at-least-once, 5-minute child)`);
  const nested = job.steps.filter((s) => s.kind !== 'lambda').map((s) => s.name);
  if (nested.length) out.push(`groups and maps (${nested.join(', ')}) not built in the child yet`);
  const worst = highVolumeWorstCase(job.steps).totalSeconds;
  if (worst > HIGH_VOLUME_ITEMS_SECONDS) out.push(`worst case per task ${round(worst)} s > ${HIGH_VOLUME_ITEMS_SECONDS} s (a child's ${EXPRESS_MAX_SECONDS} s less its records)`);
  return out;
}
