import { AppConfig, JobConfig } from '../../lib/config/types';

/** The short two-step example (lambdas/jobs/example-short) in the high-volume mode, as bin/config.ts has it. */
export const SHORT_JOB = 'example-short';

/** `c` with the short high-volume job added (every 4 hours at :30). */
export function withShortHighVolumeJob(c: AppConfig): AppConfig {
  const step = (name: string, file: string): JobConfig['steps'][number] => ({ name, entry: `lambdas/jobs/example-short/${file}.ts`, timeoutSeconds: 10, retry: { maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['TransientError'] } });
  return {
    ...c,
    jobs: [
      ...c.jobs,
      {
        name: SHORT_JOB,
        description: 'Example: price and post meter readings in the high-volume mode.',
        schedule: 'cron(30 1/4 * * ? *)',
        optIn: true,
        executionMode: 'high-volume',
        producer: { entry: 'lambdas/jobs/example-short/producer.ts' },
        params: { schema: 'lambdas/jobs/example-short/params.ts' },
        steps: [step('Price', 'price'), step('Post', 'post')],
      },
    ],
  };
}
