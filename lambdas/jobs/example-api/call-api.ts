import { intEnv, requireEnv } from '../../shared/env';
import { createStepHandler } from '../../shared/step';
import { callApi } from './logic';

const url = requireEnv('EXAMPLE_API_URL');
// A backstop above the step's state timeout (20 s in bin/config.ts): a hung API is meant to end in
// States.Timeout (TimedOut, not retried) so the timeout path of the example is real. Lower it below the
// state timeout to make slowness a retryable ExternalApiUnavailableError instead.
const timeoutMs = intEnv('EXAMPLE_API_TIMEOUT_MS', 60_000);

export const handler = createStepHandler(({ task }) => callApi(task.params, { url, fetch, timeoutMs }));
