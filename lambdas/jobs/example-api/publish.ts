import { createStepHandler } from '../../shared/step';
import { publishSummary } from './logic';

export const handler = createStepHandler(({ task, previous }) => publishSummary(task.params, previous));
