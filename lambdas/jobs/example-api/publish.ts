import { JsonValue } from '../../shared/json';
import { createParamsStepHandler } from '../../shared/params-step';
import { publishSummary } from './logic';
import * as orderParams from './params';

export const handler = createParamsStepHandler(orderParams, ({ params, previous }) => publishSummary(params as JsonValue, previous));
