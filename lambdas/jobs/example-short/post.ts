import { sideEffectApplied } from '../../shared/side-effects';
import { createStepHandler } from '../../shared/step';
import { post } from './logic';

export const handler = createStepHandler(({ previous, idempotencyKey }) => {
  const result = post(previous);
  // The line is posted (a real job posts it under idempotencyKey).
  sideEffectApplied(idempotencyKey);
  return result;
});
