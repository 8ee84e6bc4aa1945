import { AppConfig, JobConfig } from '../../lib/config/types';
import { fixtureConfig } from './fixture-config';

/**
 * Test jobs for the offline stubs (test/fixtures/jobs/): `stubbed` reads an SSM parameter in its
 * producer, a Secrets Manager secret and an HTTP API in its step, all answered by its stubs.ts;
 * `unstubbed` runs the same producer with no stub for its (granted) parameter; `undeclared` reads a
 * parameter no function is granted; `leak` calls a URL no stub answers.
 */
const send = (entryDir: string, environment: Record<string, string> = {}) => ({
  name: 'Send',
  entry: `test/fixtures/jobs/${entryDir}/send.ts`,
  timeoutSeconds: 10,
  environment: { SECRET_NAME: 'stubbed/key', ...environment },
  secrets: { secretsManager: ['stubbed/key'] },
  retry: { maxAttempts: 0, intervalSeconds: 1, retryableErrors: [] },
});

const job = (name: string, producerDir: string, parameter: string, grant: boolean, environment?: Record<string, string>): JobConfig => ({
  name,
  description: `test job ${name}`,
  schedule: 'cron(0 * * * ? *)',
  producer: { entry: `test/fixtures/jobs/${producerDir}/producer.ts`, environment: { TOKEN_PARAMETER: parameter }, ...(grant ? { secrets: { ssmParameters: [parameter] } } : {}) },
  steps: [send(name === 'leak' ? 'leak' : 'stubbed', environment)],
});

export const STUBBED_JOBS: ReadonlyArray<JobConfig> = [
  job('stubbed', 'stubbed', '/stubbed/token', true),
  job('unstubbed', 'unstubbed', '/unstubbed/token', true),
  job('undeclared', 'unstubbed', '/undeclared/token', false),
  job('leak', 'unstubbed', '/stubbed/token', false, { ITEMS_URL: 'https://elsewhere.example.com/v1/items' }),
];

/** The fixture config with the test jobs added. */
export const stubbedConfig: AppConfig = { ...fixtureConfig, jobs: [...fixtureConfig.jobs, ...STUBBED_JOBS] };
