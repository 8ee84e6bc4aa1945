import { JsonValue } from '../../shared/json';
import { createParamsStepHandler } from '../../shared/params-step';
import { listParts } from './logic';
import * as accountParams from './params';

export const handler = createParamsStepHandler(accountParams, ({ params }) => listParts(params as JsonValue));
