import { sideEffectApplied } from '../../shared/side-effects';
import { createStepHandler } from '../../shared/step';
import { publishSummary } from './logic';

export const handler = createStepHandler(({ task, previous, idempotencyKey }) => {
  const result = publishSummary(task.params, previous);
  // The summary is published (a real job posts it under idempotencyKey).
  sideEffectApplied(idempotencyKey);
  return result;
});
