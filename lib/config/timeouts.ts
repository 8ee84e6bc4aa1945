import { STATE_TIMEOUT_MARGIN_SECONDS } from '../../lambdas/shared/workflow-contract';
import { ResolvedLambdaStep, ResolvedRetryPolicy, ResolvedStep } from './types';

/**
 * The derived execution timeout of a job (config `executionTimeoutSeconds` overrides it): the
 * longest a task can legitimately run, so that an execution stuck past it ends TIMED_OUT (and is
 * spooled by the status-change capture) instead of running for a year, Step Functions' default.
 */

/** Worst case of the failure path after a step: spool retries (~8 min), records, lock release. */
export const FAILURE_PATH_SECONDS = 600;
/** Allowance per Lambda step for throttled invokes (their own retrier) and Lambda service retries. */
export const THROTTLE_ALLOWANCE_SECONDS = 120;
/** Added at the end: nothing legitimate should come close to the timeout. */
export const EXECUTION_TIMEOUT_MARGIN_SECONDS = 300;
/** Step Functions' maximum execution duration (one year). */
export const MAX_EXECUTION_TIMEOUT_SECONDS = 31_536_000;

/** Sum of the waits between attempts of a retry policy (without jitter, which only shortens them). */
export function retryWaitSeconds(r: ResolvedRetryPolicy): number {
  let total = 0;
  for (let k = 0; k < r.maxAttempts; k++) total += Math.min(r.intervalSeconds * r.backoffRate ** k, r.maxDelaySeconds);
  return total;
}

/** Longest a Lambda step can take: every attempt to its state timeout, the waits, throttling. */
export function lambdaStepSeconds(s: ResolvedLambdaStep): number {
  return (1 + s.retry.maxAttempts) * (s.timeoutSeconds + STATE_TIMEOUT_MARGIN_SECONDS) + retryWaitSeconds(s.retry) + THROTTLE_ALLOWANCE_SECONDS;
}

function chainSeconds(steps: ReadonlyArray<ResolvedLambdaStep>): number {
  return steps.reduce((n, s) => n + lambdaStepSeconds(s), 0);
}

/** Longest a top-level step can take (a group: its longest branch; a map: its item waves). */
export function stepSeconds(s: ResolvedStep): number {
  if (s.kind === 'lambda') return lambdaStepSeconds(s);
  if (s.kind === 'parallel') return Math.max(...s.branches.map(chainSeconds));
  return Math.ceil(s.maxItems / s.maxConcurrency) * chainSeconds(s.steps);
}

/** The derived execution timeout, seconds. */
export function deriveExecutionTimeoutSeconds(job: { readonly steps: ReadonlyArray<ResolvedStep>; readonly exclusiveBy: string | null; readonly exclusiveWaitSeconds: number }): number {
  const lock = job.exclusiveBy ? job.exclusiveWaitSeconds + 60 : 0;
  const steps = job.steps.reduce((n, s) => n + stepSeconds(s), 0);
  return Math.min(MAX_EXECUTION_TIMEOUT_SECONDS, Math.ceil(lock + steps + FAILURE_PATH_SECONDS + EXECUTION_TIMEOUT_MARGIN_SECONDS));
}
