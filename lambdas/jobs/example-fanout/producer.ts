import { intEnv } from '../../shared/env';
import { createProducerHandler } from '../../producer/runtime';
import { produceAccounts } from './logic';
import * as params from './params';

/**
 * FANOUT_ACCOUNTS accounts per tick (default 3); FANOUT_FAIL_EVERY=n makes one part fail on ticks
 * whose minute count divides by n; FANOUT_FAIL_ATTEMPTS=k makes it fail only on the task's first k
 * attempts (default: every attempt), so a replay after them succeeds. EXAMPLE_CANARY (the offline
 * day's `--canary`) is put into every holder's name.
 */
export const handler = createProducerHandler(({ scheduledTime }) =>
  produceAccounts(scheduledTime, intEnv('FANOUT_ACCOUNTS', 3), intEnv('FANOUT_FAIL_EVERY', 0), intEnv('FANOUT_FAIL_ATTEMPTS', 0), process.env.EXAMPLE_CANARY ?? ''),
  { params },
);
