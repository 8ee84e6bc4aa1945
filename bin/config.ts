import { AppConfig } from '../lib/config/types';

/**
 * The app's config: edit this file to change settings or add a job, then `cdk deploy`.
 * Every field is documented in lib/config/types.ts; `cdk synth` validates it and lists every
 * problem with the fix. Adding a job = write its producer and step handlers under lambdas/jobs/,
 * then add one entry to `jobs`.
 */
export const appConfig: AppConfig = {
  timeZone: 'Asia/Tokyo',
  spool: { retentionDays: 14, maxReplays: 5 },
  paramLog: {
    readerRoleArnPatterns: ['arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_SREReadOnly_*'],
  },
  investigation: {
    operatorEmails: [],
  },
  jobs: [
    {
      name: 'example-api',
      description: 'Example: fetch work items, call a flaky external API, publish the result.',
      schedule: 'cron(0/5 * * * ? *)',
      producer: { entry: 'lambdas/jobs/example-api/producer.ts' },
      steps: [
        {
          name: 'Fetch',
          entry: 'lambdas/jobs/example-api/fetch.ts',
          timeoutSeconds: 30,
          retry: { maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['TransientError'] },
        },
        {
          name: 'CallApi',
          entry: 'lambdas/jobs/example-api/call-api.ts',
          timeoutSeconds: 20,
          // The external API the example calls; the offline run points it at a local fake.
          environment: { EXAMPLE_API_URL: 'https://api.example.com/v1/orders' },
          retry: {
            maxAttempts: 4,
            intervalSeconds: 2,
            backoffRate: 2,
            maxDelaySeconds: 60,
            retryableErrors: ['ExternalApiUnavailableError'],
          },
        },
        {
          name: 'Publish',
          entry: 'lambdas/jobs/example-api/publish.ts',
          timeoutSeconds: 30,
          retry: { maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['TransientError'] },
        },
      ],
    },
  ],
};
