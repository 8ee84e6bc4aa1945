import type { z } from 'zod';
import { JsonValue } from './json';
import { ParamsModule, taskParams } from './params';
import { createStepHandler, StepContext, StepEvent, StepHandlerOptions, StepLambdaContext } from './step';

/** What a step with a params schema gets: the step context plus the parsed, typed params. */
export interface ParamsStepContext<T> extends StepContext {
  /** `task.params` parsed by the job's schema (migrated first when older). */
  readonly params: T;
}

/**
 * A step handler whose params are checked and typed by the job's params module:
 * ```ts
 * import * as orderParams from './params';
 * export const handler = createParamsStepHandler(orderParams, async ({ params }) => ({ id: params.orderId }));
 * ```
 * Params that fail the schema (after `migrate`, for an older task) fail the step with
 * InvalidParamsError before `fn` runs: never retried, spooled, then quarantined by reprocess with
 * the paths of the problems. Everything else is {@link createStepHandler}'s.
 */
export function createParamsStepHandler<S extends z.ZodType>(
  params: ParamsModule<S>,
  fn: (ctx: ParamsStepContext<z.output<S>>) => JsonValue | Promise<JsonValue>,
  options: StepHandlerOptions = {},
): (event: StepEvent, context?: StepLambdaContext) => Promise<JsonValue> {
  return createStepHandler((ctx) => fn({ ...ctx, params: taskParams(params, ctx.task) }), options);
}
