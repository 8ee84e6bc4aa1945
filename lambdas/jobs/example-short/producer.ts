import { intEnv } from '../../shared/env';
import { createProducerHandler } from '../../producer/runtime';
import { produceReadings } from './logic';
import * as params from './params';

/** TASKS_PER_TICK tasks per tick (default 5; the offline day's `--tasks-per-tick` sets it). */
export const handler = createProducerHandler(({ scheduledTime }) => produceReadings(scheduledTime, intEnv('TASKS_PER_TICK', 5)), { params });
