import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { parseEnvelope, TaskEnvelope, withoutResume } from './envelope';
import { DependencyOnHold, errorName, InvalidStepOutputError, StepTimeoutError } from './errors';
import { dynamoHoldSwitch, HoldChecker, HoldWindow } from './holds';
import { JsonValue } from './json';
import { jsonBytes, MAX_STEP_OUTPUT_BYTES } from './limits';
import { tracer } from './powertools';
import { markParamFree, safeError, withSafeErrors } from './safe-error';
import { StepIdempotency, stepIdempotencyFromEnv, stepIdempotencyKey, StepInProgressError } from './step-idempotency';
import { STEP_ENV } from './workflow-contract';

/**
 * What every step Lambda receives from the state machine (lib/workflow.ts builds it):
 * - `task`: the task envelope (the execution input), unchanged;
 * - `previous`: the previous step's return value, or null for the first step; inside a map, the
 *   item; after a map or a parallel group, the array of their results;
 * - `index`: inside a map, the item's index.
 *
 * Step Functions' `$$.State.RetryCount` is not passed: aws-local-stepfunctions 3 has no `$$.State`
 * in its context object, so a definition that reads it could not be run locally.
 */
export interface StepEvent {
  readonly task: TaskEnvelope;
  readonly previous: JsonValue | null;
  readonly index?: number;
}

/** What a step function gets. */
export interface StepContext {
  /** The validated envelope (without the resume point of a resumed replay). */
  readonly task: TaskEnvelope;
  readonly previous: JsonValue | null;
  /** Inside a map: the item's index. */
  readonly index?: number;
  /** A logger with task id, job, attempt and step (never log params). */
  readonly logger: Logger;
  /**
   * Aborted shortly before the step's deadline (its `timeoutSeconds`): pass it to every call that
   * takes one (fetch, SDK `abortSignal`), so work really stops when the step gives up. A step that
   * ignores it is stopped by the Lambda timeout at the latest.
   */
  readonly signal: AbortSignal;
  /** Milliseconds left before the step's deadline. */
  readonly remainingMs: () => number;
  /**
   * This call's idempotency key: `<taskId>#<step>[#<map item index>]`, the same on every attempt,
   * replay and redelivery of this step of this task. The wrapper records the step's result under it
   * (lambdas/shared/step-idempotency.ts); pass it to a dependency that takes one (an
   * `Idempotency-Key` header) so the dependency too applies the change once (docs/workflow.md).
   */
  readonly idempotencyKey: string;
}

/** A job step: returns plain JSON (kept small: see lambdas/shared/limits.ts) or throws a typed error. */
export type StepFn = (ctx: StepContext) => JsonValue | Promise<JsonValue>;

/** The part of the Lambda context the wrapper uses. */
export type StepLambdaContext = Partial<Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId' | 'functionName'>>;

/** Options of {@link createStepHandler}; tests inject what the environment would give. */
export interface StepHandlerOptions {
  readonly logger?: Logger;
  /** State name, for logs. @default env STEP_NAME (set by the JobWorkflow construct) */
  readonly stepName?: string;
  /** Hold check of the step's dependency. @default built from HOLD_DEPENDENCY / HOLD_WINDOWS / COORDINATION_TABLE */
  readonly holds?: HoldChecker | null;
  /** The dependency this step calls. @default env HOLD_DEPENDENCY */
  readonly dependency?: string | null;
  /** Bytes the step may return. @default env STEP_MAX_OUTPUT_BYTES, else the top-level budget */
  readonly maxOutputBytes?: number;
  /** Before a map: the output field with the items ('' = the output itself) and their maximum. @default env */
  readonly items?: { readonly field: string; readonly max: number } | null;
  /** Margin kept before the Lambda's end: the step's deadline is the remaining time minus this. @default min(1 s, 10%) */
  readonly deadlineMarginMs?: (remainingMs: number) => number;
  /** The step records (idempotency); null: none. @default from env STEP_RESULTS_TABLE */
  readonly idempotency?: StepIdempotency | null;
  readonly env?: NodeJS.ProcessEnv;
}

const defaultLogger = new Logger();

/** The step's dependency hold checker from its environment, or null when it declares none. */
export function holdCheckerFromEnv(env: NodeJS.ProcessEnv, logger: Logger): HoldChecker | null {
  const dependency = env[STEP_ENV.dependency];
  if (!dependency) return null;
  const table = env[STEP_ENV.coordinationTable];
  if (!table) throw new Error(`${STEP_ENV.dependency} is set but ${STEP_ENV.coordinationTable} is not; redeploy the stack`);
  const windows = JSON.parse(env[STEP_ENV.holdWindows] ?? '[]') as HoldWindow[];
  return new HoldChecker({
    readSwitch: dynamoHoldSwitch(table, 5, undefined, tracer.captureAWSv3Client(new DynamoDBClient({}))),
    windows: { [dependency]: windows },
    timeZone: env[STEP_ENV.timeZone] ?? 'UTC',
    onReadError: (dep, e) => logger.error('hold switch unreadable: treated as off', { dependency: dep, errorName: errorName(e) }),
  });
}

/** Checks a step's output against its budget and, before a map, its items. Throws InvalidStepOutputError. */
export function checkStepOutput(output: JsonValue, maxBytes: number, items: { field: string; max: number } | null): void {
  const size = jsonBytes(output);
  if (size > maxBytes) {
    throw new InvalidStepOutputError(`the step returned ${size} bytes; at most ${maxBytes} fit in the workflow's state (keep large data in S3 and return its key)`);
  }
  if (items) {
    const list = items.field === '' ? output : output !== null && typeof output === 'object' && !Array.isArray(output) ? (output as Record<string, JsonValue>)[items.field] : undefined;
    const where = items.field === '' ? 'the output' : `output.${items.field}`;
    if (!Array.isArray(list)) throw new InvalidStepOutputError(`the next step is a map: ${where} must be an array of items`);
    if (list.length > items.max) throw new InvalidStepOutputError(`the next step is a map of at most ${items.max} items (config maxItems); ${where} has ${list.length}`);
  }
}

/**
 * Wraps a step function into a Lambda handler. It validates the envelope; refuses to run while the
 * step's dependency is on hold (`DependencyOnHold`, never retried); gives the step a deadline before
 * its timeout (an AbortSignal, then `StepTimeoutError`); checks the output against the state budget
 * (`InvalidStepOutputError`); logs start and end with task id, job, attempt and step (never params
 * or results, which may hold personal data); and rethrows errors with their name unchanged, so that
 * it reaches Step Functions' Retry and Catch, but with their message sealed under the task's key and
 * a stack of code locations only (lambdas/shared/safe-error.ts): the Lambda runtime logs what leaves.
 */
export function createStepHandler(fn: StepFn, options: StepHandlerOptions = {}): (event: StepEvent, context?: StepLambdaContext) => Promise<JsonValue> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? defaultLogger;
  const stepName = options.stepName ?? env[STEP_ENV.step] ?? 'unknown';
  const dependency = options.dependency !== undefined ? options.dependency : (env[STEP_ENV.dependency] ?? null);
  let holds: HoldChecker | null | undefined = options.holds;
  const maxOutputBytes = options.maxOutputBytes ?? (env[STEP_ENV.maxOutputBytes] ? Number(env[STEP_ENV.maxOutputBytes]) : MAX_STEP_OUTPUT_BYTES);
  const items =
    options.items !== undefined ? options.items : env[STEP_ENV.itemsField] !== undefined ? { field: env[STEP_ENV.itemsField] as string, max: Number(env[STEP_ENV.maxItems] ?? 1000) } : null;
  const margin = options.deadlineMarginMs ?? ((ms: number) => Math.min(1_000, Math.floor(ms * 0.1)));
  const idempotency = options.idempotency !== undefined ? options.idempotency : stepIdempotencyFromEnv(env, tracer.captureAWSv3Client(new DynamoDBClient({})));

  return withSafeErrors(async (event: StepEvent, context?: StepLambdaContext): Promise<JsonValue> => {
    if (context && typeof context.getRemainingTimeInMillis === 'function' && context.awsRequestId) logger.addContext(context as Context);
    let envelope: TaskEnvelope;
    try {
      envelope = parseEnvelope(event?.task);
    } catch (e) {
      // No key to seal with: the envelope itself is what is wrong. Its message may echo a value.
      throw safeError(e);
    }
    const task = withoutResume(envelope);
    const keys = { taskId: task.taskId, job: task.job, attempt: task.attempt, step: stepName, ...(event?.index !== undefined ? { index: event.index } : {}) };
    const child = logger.createChild({ persistentKeys: keys });
    const started = Date.now();

    if (dependency) {
      holds ??= holdCheckerFromEnv(env, logger);
      const reason = holds ? await holds.reason(dependency) : null;
      if (reason) {
        child.warn('step end', { outcome: 'held', dependency, holdSource: reason.source });
        throw markParamFree(new DependencyOnHold(dependency));
      }
    }

    const remaining = context?.getRemainingTimeInMillis?.();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let deadlineMs = Number.POSITIVE_INFINITY;
    let waitedOnOther = false;
    let stepRan = false;
    const timedOut = new Promise<never>((_, reject) => {
      if (remaining === undefined) return;
      const budget = Math.max(0, remaining - margin(remaining));
      deadlineMs = started + budget;
      timer = setTimeout(() => {
        // Waiting on another call of this step that never let this one run: that call is still
        // running, and a retry will find its result (retryable), not a step that hung (never retried).
        const err = markParamFree(
          waitedOnOther && !stepRan
            ? new StepInProgressError(`another call of this step for this task was still running at this call's deadline (${budget} ms); nothing was done twice`)
            : new StepTimeoutError(`the step gave up at its deadline (${budget} ms) before its timeout`),
        );
        controller.abort(err);
        reject(err);
      }, budget);
    });
    timedOut.catch(() => undefined);
    child.info('step start');
    const idempotencyKey = stepIdempotencyKey(task.taskId, stepName, event.index, task.rerunFrom);
    const remainingMs = () => deadlineMs - Date.now();
    // The output is checked before it is recorded: a result that fails its check is no result.
    const runStep = async (): Promise<JsonValue> => {
      stepRan = true;
      const output = await fn({ task, previous: event.previous ?? null, ...(event.index !== undefined ? { index: event.index } : {}), logger: child, signal: controller.signal, remainingMs, idempotencyKey });
      const result = output === undefined ? null : output;
      try {
        checkStepOutput(result, maxOutputBytes, items);
      } catch (e) {
        // Sizes and the configured field name only: the platform's own text.
        throw markParamFree(e as Error);
      }
      return result;
    };
    try {
      const { result, replayed } = await Promise.race([
        Promise.resolve().then(() =>
          idempotency
            ? idempotency.run({ job: task.job, key: idempotencyKey, input: { previous: event.previous ?? null, index: event.index ?? null }, remainingMs, lambdaContext: remaining === undefined ? undefined : (context as Context), onInProgress: () => (waitedOnOther = true) }, runStep)
            : runStep().then((r) => ({ result: r, replayed: false })),
        ),
        timedOut,
      ]);
      child.info('step end', { outcome: replayed ? 'recorded' : 'ok', durationMs: Date.now() - started });
      return result;
    } catch (e) {
      // An abort surfaces from fetch/SDK as AbortError or similar: report it as the timeout it is.
      const err = controller.signal.aborted && e !== controller.signal.reason ? (controller.signal.reason as Error) : e;
      // The error name is the retry contract. The message may hold params (job code, Node's own
      // errors echo input): it leaves sealed under the task's key (lambdas/shared/safe-error.ts).
      child.warn('step end', { outcome: 'error', errorName: errorName(err), durationMs: Date.now() - started });
      throw safeError(err, { sealKey: envelope.seal });
    } finally {
      if (timer) clearTimeout(timer);
    }
  });
}
