import { createStepHandler } from '../../shared/step';
import { aggregate } from './logic';

export const handler = createStepHandler(({ task, previous }) => aggregate(task.params, previous));
