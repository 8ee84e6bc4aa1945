import { intEnv } from '../../shared/env';
import { createProducerHandler } from '../../producer/runtime';
import { produceReadings } from './logic';
import * as params from './params';

/** SHORT_METERS tasks per tick (default 5). */
export const handler = createProducerHandler(({ scheduledTime }) => produceReadings(scheduledTime, intEnv('SHORT_METERS', 5)), { params });
