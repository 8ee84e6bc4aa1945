import { JsonValue } from '../../shared/json';
import { createParamsStepHandler } from '../../shared/params-step';
import { fetchOrder } from './logic';
import * as orderParams from './params';

// `params` is checked by the job's schema (and migrated when a replay brings older params).
export const handler = createParamsStepHandler(orderParams, ({ params }) => fetchOrder(params as JsonValue));
