import { createStepHandler } from '../../shared/step';
import { listParts } from './logic';

export const handler = createStepHandler(({ task }) => listParts(task.params));
