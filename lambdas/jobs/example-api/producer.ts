import { intEnv } from '../../shared/env';
import { TransientError } from '../../shared/errors';
import { createProducerHandler } from '../../producer/runtime';
import { customerName, produceOrders } from './logic';
import * as params from './params';

/**
 * Example producer: EXAMPLE_TASKS_PER_TICK orders per tick (default 3); EXAMPLE_SIMULATE, a comma
 * list such as `,transient,permanent,slow`, is cycled over them to drive the fake API's paths.
 * EXAMPLE_FAIL_PRODUCER=true makes every tick fail before any task exists (a broken source of
 * orders): the offline day uses it to show Lambda's retries, the on-failure record and the re-run.
 * EXAMPLE_CANARY (the offline day's `--canary`) is put into every customer's name.
 */
export const handler = createProducerHandler(({ scheduledTime }) => {
  const canary = process.env.EXAMPLE_CANARY ?? '';
  if (process.env.EXAMPLE_FAIL_PRODUCER === 'true') throw new TransientError(`the order source did not answer after ${customerName(1, canary)} (EXAMPLE_FAIL_PRODUCER is set)`);
  return produceOrders(scheduledTime, intEnv('EXAMPLE_TASKS_PER_TICK', 3), (process.env.EXAMPLE_SIMULATE ?? '').split(',').map((s) => s.trim()).filter((s, _, all) => all.length > 1 || s !== ''), canary);
}, { params });
