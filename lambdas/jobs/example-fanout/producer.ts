import { intEnv } from '../../shared/env';
import { createProducerHandler } from '../../producer/runtime';
import { produceAccounts } from './logic';

/** FANOUT_ACCOUNTS accounts per tick (default 3); FANOUT_FAIL_EVERY=n makes one part fail on ticks whose minute count divides by n. */
export const handler = createProducerHandler(({ scheduledTime }) => produceAccounts(scheduledTime, intEnv('FANOUT_ACCOUNTS', 3), intEnv('FANOUT_FAIL_EVERY', 0)));
