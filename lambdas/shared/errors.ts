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

/** Step Functions' own error name for a Task that ran past its TimeoutSeconds. Never retried. */
export const STATES_TIMEOUT = 'States.Timeout';

/** Name of an unknown thrown value, as the Lambda runtime would report it. */
export function errorName(e: unknown): string {
  return e instanceof Error ? e.name : typeof e;
}

/** Message of an unknown thrown value; never includes params (handlers must not put them in messages). */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
