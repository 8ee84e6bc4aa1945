import { sideEffectApplied } from '../../shared/side-effects';
import { createStepHandler } from '../../shared/step';
import { audit } from './logic';

export const handler = createStepHandler(({ previous, idempotencyKey }) => {
  const result = audit(previous);
  // The audit entry is written (a real job appends it under idempotencyKey).
  sideEffectApplied(idempotencyKey);
  return result;
});
