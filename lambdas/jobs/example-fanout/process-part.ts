import { sideEffectApplied } from '../../shared/side-effects';
import { createStepHandler } from '../../shared/step';
import { parseAccount, processPart } from './logic';

export const handler = createStepHandler(({ previous, index, task, idempotencyKey }) => {
  const result = processPart(previous, index, { attempt: task.attempt, ...pick(parseAccount(task.params)) });
  // The part is applied (a real job writes it to its store under idempotencyKey): counted where a user would see it twice.
  sideEffectApplied(idempotencyKey);
  return result;
});

const pick = (a: { failAttempts?: number; holder?: string }): { failAttempts?: number; holder?: string } => ({ failAttempts: a.failAttempts, holder: a.holder });
