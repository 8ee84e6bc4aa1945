import { Logger } from '@aws-lambda-powertools/logger';
import { parseEnvelope, TaskEnvelope } from './envelope';
import { errorName } from './errors';
import { JsonValue } from './json';

/**
 * What every step Lambda receives from the state machine (lib/workflow.ts builds it):
 * - `task`: the execution input, the task envelope, unchanged.
 * - `previous`: the previous step's return value, or null for the first step.
 *
 * Step Functions' `$$.State.RetryCount` is not passed: aws-local-stepfunctions 3 has no `$$.State`
 * in its context object, so a definition that reads it could not be run locally. Retries are
 * visible in the execution history instead.
 */
export interface StepEvent {
  readonly task: TaskEnvelope;
  readonly previous: JsonValue | null;
}

/** What a step function gets: the validated envelope, the previous output, and a logger with task keys. */
export interface StepContext {
  readonly task: TaskEnvelope;
  readonly previous: JsonValue | null;
  readonly logger: Logger;
}

/** A job step: returns plain JSON (kept small: state data is limited to 256 KiB) or throws a typed error. */
export type StepFn = (ctx: StepContext) => JsonValue | Promise<JsonValue>;

/** Options of {@link createStepHandler}; tests inject a logger and a step name. */
export interface StepHandlerOptions {
  readonly logger?: Logger;
  /** State name, for logs. @default env STEP_NAME (set by the JobWorkflow construct) */
  readonly stepName?: string;
}

const defaultLogger = new Logger();

/**
 * Wraps a step function into a Lambda handler. It validates the envelope, logs start and end with
 * task id, job, attempt and step (never params or results, which may hold personal data), and
 * rethrows errors unchanged so that their `name` reaches Step Functions' Retry and Catch.
 */
export function createStepHandler(fn: StepFn, options: StepHandlerOptions = {}): (event: StepEvent) => Promise<JsonValue> {
  const logger = options.logger ?? defaultLogger;
  return async (event: StepEvent): Promise<JsonValue> => {
    const task = parseEnvelope(event?.task);
    const keys = { taskId: task.taskId, job: task.job, attempt: task.attempt, step: options.stepName ?? process.env.STEP_NAME ?? 'unknown' };
    const child = logger.createChild({ persistentKeys: keys });
    const started = Date.now();
    child.info('step start');
    try {
      const output = await fn({ task, previous: event.previous ?? null, logger: child });
      child.info('step end', { outcome: 'ok', durationMs: Date.now() - started });
      return output === undefined ? null : output;
    } catch (e) {
      // The error name is the retry contract; messages of our typed errors never carry params.
      child.warn('step end', { outcome: 'error', errorName: errorName(e), durationMs: Date.now() - started });
      throw e;
    }
  };
}
