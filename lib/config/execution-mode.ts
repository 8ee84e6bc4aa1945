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
  const worst = highVolumeWorstCase(steps);
  if (Number.isFinite(worst.totalSeconds) && worst.totalSeconds > EXPRESS_MAX_SECONDS) {
    const detail = worst.lines.map((l) => `${l.step} ${round(l.seconds)} s (${l.how})`).join(' + ');
    problems.push(
      `${where}.executionMode "high-volume": the job's worst case is ${round(worst.totalSeconds)} s, above the ${EXPRESS_MAX_SECONDS} s an Express child may run: ${detail}. ` +
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
  if (worst > EXPRESS_MAX_SECONDS) out.push(`worst case ${round(worst)} s > ${EXPRESS_MAX_SECONDS} s`);
  return out;
}
