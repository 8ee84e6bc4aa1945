import { STATE_TIMEOUT_MARGIN_SECONDS } from '../../lambdas/shared/workflow-contract';
import { ResolvedLambdaStep, ResolvedRetryPolicy, ResolvedStep } from './types';

/**
 * The derived execution timeout of a job (config `executionTimeoutSeconds` overrides it): the
 * longest a task can legitimately run, so that an execution stuck past it ends TIMED_OUT (and is
 * spooled by the status-change capture) instead of running for a year, Step Functions' default.
 */

/** Worst case of the failure path after a step: spool retries (~8 min), records, lock release. */
export const FAILURE_PATH_SECONDS = 600;

/**
 * The retrier every Lambda state gets for a throttled invoke (lib/workflow.ts addThrottleRetry): its
 * own attempt count, so throttling never uses the step's retry budget.
 */
export const THROTTLE_RETRY = { intervalSeconds: 1, backoffRate: 2, maxDelaySeconds: 30, maxAttempts: 40 } as const;
/**
 * The retrier CDK's LambdaInvoke adds for Lambda service errors (`retryOnServiceExceptions`:
 * Lambda.ServiceException, AWSLambdaException, SdkClientException, ClientExecutionTimeoutException;
 * interval 2 s, backoff 2, MaxAttempts 6, no max delay: aws-cdk-lib aws-stepfunctions-tasks
 * LambdaInvoke; AWS Step Functions developer guide, "Handling Lambda service exceptions").
 */
export const LAMBDA_SERVICE_RETRY = { intervalSeconds: 2, backoffRate: 2, maxDelaySeconds: Number.POSITIVE_INFINITY, maxAttempts: 6 } as const;
/** A throttled Invoke is refused at once (429); a second per attempt is generous. */
const THROTTLED_ATTEMPT_SECONDS = 1;
/** Added at the end: nothing legitimate should come close to the timeout. */
export const EXECUTION_TIMEOUT_MARGIN_SECONDS = 300;
/** Step Functions' maximum execution duration (one year). */
export const MAX_EXECUTION_TIMEOUT_SECONDS = 31_536_000;

/** Sum of the waits between attempts of a retry policy (without jitter, which only shortens them). */
export function retryWaitSeconds(r: Pick<ResolvedRetryPolicy, 'intervalSeconds' | 'backoffRate' | 'maxDelaySeconds' | 'maxAttempts'>): number {
  let total = 0;
  for (let k = 0; k < r.maxAttempts; k++) total += Math.min(r.intervalSeconds * r.backoffRate ** k, r.maxDelaySeconds);
  return total;
}

/**
 * What the two retriers every Lambda state has besides its own may add to one step, worst case
 * (each retrier counts its attempts separately within the state: AWS Step Functions developer guide,
 * "Handling errors", Retry): the throttle retrier's 40 attempts and waits (~18 minutes), and the
 * service-error retrier's 6 attempts, each of which may run to the state's timeout before the
 * error, and its waits. Sustained throttling then ends in the step's Catch (spooled as the
 * throttle error, a replay can follow) instead of the execution timing out.
 */
export function serviceRetrySeconds(stateTimeoutSeconds: number): number {
  const throttle = THROTTLE_RETRY.maxAttempts * THROTTLED_ATTEMPT_SECONDS + retryWaitSeconds(THROTTLE_RETRY);
  const service = LAMBDA_SERVICE_RETRY.maxAttempts * stateTimeoutSeconds + retryWaitSeconds(LAMBDA_SERVICE_RETRY);
  return throttle + service;
}

/** Longest a Lambda step can take: every attempt to its state timeout, the waits, throttling and service-error retries. */
export function lambdaStepSeconds(s: ResolvedLambdaStep): number {
  const state = s.timeoutSeconds + STATE_TIMEOUT_MARGIN_SECONDS;
  return (1 + s.retry.maxAttempts) * state + retryWaitSeconds(s.retry) + serviceRetrySeconds(state);
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
