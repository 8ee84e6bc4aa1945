import { createStepHandler } from '../../shared/step';
import { price } from './logic';

export const handler = createStepHandler(({ task }) => price(task.params));
