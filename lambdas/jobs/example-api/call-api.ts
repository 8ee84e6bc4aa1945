import { intEnv, requireEnv } from '../../shared/env';
import { JsonValue } from '../../shared/json';
import { createParamsStepHandler } from '../../shared/params-step';
import { callApi } from './logic';
import * as orderParams from './params';

const url = requireEnv('EXAMPLE_API_URL');
// The client's own timeout, a backstop: the step's deadline (its timeoutSeconds in bin/config.ts,
// passed as `signal`) ends a hung call first with StepTimeoutError (TimedOut, not retried). Set it
// below the step timeout to make slowness a retryable ExternalApiUnavailableError instead.
const timeoutMs = intEnv('EXAMPLE_API_TIMEOUT_MS', 60_000);

export const handler = createParamsStepHandler(orderParams, ({ params, signal }) => callApi(params as JsonValue, { url, fetch, timeoutMs, signal }));
