/**
 * Typed errors. An error's `name` becomes the Lambda `errorType`, which is what the state machine's
 * Retry and Catch match on: these names are the retry contract between handlers and the workflow.
 * A job's config lists which names are retryable; every other name is not retried.
 */
export abstract class TaskError extends Error {
  protected constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A dependency failed in a way that may pass (HTTP 5xx, throttling, maintenance). Usually retryable. */
export class TransientError extends TaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Retrying cannot help (validation failed, 4xx, the thing does not exist). Never retryable. */
export class PermanentError extends TaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The task envelope or params do not have the shape this handler needs. Never retryable. */
export class InvalidTaskError extends TaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The step ran out of its own deadline (config `timeoutSeconds`, less a margin): the handler aborted
 * its work and gave up before the Lambda and the state time out, so nothing of it still runs when
 * the task is spooled. Never retried; recorded as TimedOut.
 */
export class StepTimeoutError extends TaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The step's dependency is on hold (an operator's switch or a planned window): the step did not
 * call it. Never retried (the hold would make every retry fail and retries are harmful during
 * maintenance); reprocess replays it once the hold is released.
 */
export class DependencyOnHold extends TaskError {
  constructor(
    readonly dependency: string,
    message = `dependency "${dependency}" is on hold: the step did not call it`,
  ) {
    super(message);
  }
}

/**
 * A step returned something the workflow cannot carry: larger than its share of the state size
 * budget (lambdas/shared/limits.ts), or, before a map step, no array of items within `maxItems`.
 * Never retried: the same input gives the same output.
 */
export class InvalidStepOutputError extends TaskError {
  constructor(message: string) {
    super(message);
  }
}

/**
 * The task's params fail the job's params schema (after the job's `migrate`, on a replay of older
 * params): retrying cannot help. The message holds the paths of the problems, never a value
 * (lambdas/shared/params.ts). Reprocess quarantines a spooled task with this error, with the reason.
 */
export class InvalidParamsError extends TaskError {
  constructor(readonly problems: ReadonlyArray<string>) {
    super(`params fail the job's schema: ${problems.join('; ')}`);
  }
}

/** Another task with the same exclusive key holds the lock. Retried by the lock state until `exclusiveWaitSeconds`, then spooled. */
export class LockBusy extends TaskError {
  constructor(message: string) {
    super(message);
  }
}

/** Step Functions' own error name for a Task that ran past its TimeoutSeconds. Never retried. */
export const STATES_TIMEOUT = 'States.Timeout';
/** The Lambda service's error name when a function is stopped at its timeout. Never retried. */
export const LAMBDA_SANDBOX_TIMEOUT = 'Sandbox.Timedout';
/** The Lambda service's error name for a throttled invoke (reserved concurrency reached). Retried by its own retrier. */
export const LAMBDA_THROTTLED = 'Lambda.TooManyRequestsException';

/** Every error name that means "the step ran out of time": recorded as TimedOut, never retried. */
export const TIMEOUT_ERRORS: ReadonlySet<string> = new Set([STATES_TIMEOUT, 'StepTimeoutError', LAMBDA_SANDBOX_TIMEOUT]);

/**
 * Error names of executions that ended outside every Catch, as the status-change capture spools
 * them (lambdas/execution-capture). The execution's own error and cause are kept in the message's cause.
 */
export const EXECUTION_END_ERRORS = {
  /** TIMED_OUT: the execution ran past its TimeoutSeconds. */
  timedOut: 'ExecutionTimedOut',
  /** ABORTED: someone stopped it (StopExecution, console). */
  aborted: 'ExecutionAborted',
  /** FAILED with an error no Catch can take (States.DataLimitExceeded, States.Runtime). The execution's error is used when known. */
  failed: 'ExecutionFailed',
} as const;

/** Error of the Fail state reached when the spool itself could not be written (the capture spools the task later). */
export const SPOOL_UNAVAILABLE = 'SpoolUnavailable';

/** Name of an unknown thrown value, as the Lambda runtime would report it. */
export function errorName(e: unknown): string {
  return e instanceof Error ? e.name : typeof e;
}

/** Message of an unknown thrown value; never includes params (handlers must not put them in messages). */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
