import { createStepHandler } from '../../shared/step';
import { fetchOrder } from './logic';

export const handler = createStepHandler(({ task }) => fetchOrder(task.params));
