import { createStepHandler } from '../../shared/step';
import { parseAccount, processPart } from './logic';

export const handler = createStepHandler(({ previous, index, task }) => processPart(previous, index, { attempt: task.attempt, ...pick(parseAccount(task.params)) }));

const pick = (a: { failAttempts?: number; holder?: string }): { failAttempts?: number; holder?: string } => ({ failAttempts: a.failAttempts, holder: a.holder });
