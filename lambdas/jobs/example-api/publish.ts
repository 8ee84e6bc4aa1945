import { JsonValue } from '../../shared/json';
import { createParamsStepHandler } from '../../shared/params-step';
import { sideEffectApplied } from '../../shared/side-effects';
import { publishSummary } from './logic';
import * as orderParams from './params';

export const handler = createParamsStepHandler(orderParams, ({ params, previous, idempotencyKey }) => {
  const result = publishSummary(params as JsonValue, previous);
  // The summary is published (a real job posts it under idempotencyKey).
  sideEffectApplied(idempotencyKey);
  return result;
});
