import { createStepHandler } from '../../shared/step';
import { parseAccount, processPart } from './logic';

export const handler = createStepHandler(({ previous, index, task }) => processPart(previous, index, { attempt: task.attempt, failAttempts: parseAccount(task.params).failAttempts }));
