import { sideEffectApplied } from '../../shared/side-effects';
import { createStepHandler } from '../../shared/step';
import { aggregate } from './logic';

export const handler = createStepHandler(({ task, previous, idempotencyKey }) => {
  const result = aggregate(task.params, previous);
  // The aggregate is published (a real job writes it under idempotencyKey).
  sideEffectApplied(idempotencyKey);
  return result;
});
