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

// The step's idempotency key goes to the API as its Idempotency-Key: a call repeated after the API
// applied the order but before the step's result was recorded (a crash, a timeout) is recognised by
// the API itself (docs/workflow.md, "The idempotency a step must have").
export const handler = createParamsStepHandler(orderParams, ({ params, signal, idempotencyKey }) => callApi(params as JsonValue, { url, fetch, timeoutMs, signal, idempotencyKey }));
