import { intEnv } from '../../shared/env';
import { createProducerHandler } from '../../producer/runtime';
import { produceOrders } from './logic';

/**
 * Example producer: EXAMPLE_TASKS_PER_TICK orders per tick (default 3); EXAMPLE_SIMULATE, a comma
 * list such as `,transient,permanent,slow`, is cycled over them to drive the fake API's paths.
 */
export const handler = createProducerHandler(({ scheduledTime }) =>
  produceOrders(scheduledTime, intEnv('EXAMPLE_TASKS_PER_TICK', 3), (process.env.EXAMPLE_SIMULATE ?? '').split(',').map((s) => s.trim()).filter((s, _, all) => all.length > 1 || s !== '')),
);
