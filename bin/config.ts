import { AppConfig } from '../lib/config/types';

/**
 * The app's config: edit this file to change settings or add a job, then
 * `npx cdk deploy -c stage=<stage>`. Every field is documented in lib/config/types.ts; `cdk synth`
 * validates it and lists every problem with the fix. Adding a job = write its producer and step
 * handlers under lambdas/jobs/, then add one entry to `jobs` (README, "Adding a job").
 */
export const appConfig: AppConfig = {
  timeZone: 'Asia/Tokyo',
  spool: { retentionDays: 14, maxReplays: 5, alertAfterDays: 3 },
  paramLog: {
    // REPLACE before the first deploy: the exact role ARN of each reader (a pattern is refused: it
    // would match roles created later). An IAM Identity Center permission set's role has a
    // generated suffix; list them with:
    //   aws iam list-roles --path-prefix /aws-reserved/sso.amazonaws.com/ --query "Roles[].Arn" --output text
    readerRoleArnPatterns: ['arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/ap-northeast-1/AWSReservedSSO_SREReadOnly_0123456789abcdef'],
    retentionDays: 400,
  },
  // REPLACE before the first deploy: where alarms go (emails confirm once, or an existing SNS topic
  // that Chatbot/Slack/PagerDuty already hang off). example.com mail goes nowhere.
  alerts: { emails: ['oncall@example.com'] },
  // REPLACE: the exact roles that may invoke reprocess (replay, drop); `scheduled-jobs guardrails`
  // prints an SCP that denies it to everyone else (docs/security.md, "Who may operate").
  operators: { roleArns: ['arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/ap-northeast-1/AWSReservedSSO_SREOperator_fedcba9876543210'] },
  dependencies: {
    'orders-api': {
      description: 'The external orders API the example job calls (goes into maintenance now and then).',
      // Planned maintenance: the dependency is on hold during each window with no operator, e.g.
      // windows: [{ cron: 'cron(0 2 ? * SUN *)', durationMinutes: 180 }],
    },
  },
  jobs: [
    {
      name: 'example-api',
      description: 'Example: fetch work items, call a flaky external API, publish the result.',
      schedule: 'cron(0/5 * * * ? *)',
      // An example: deployed only to stages that opt in (it calls EXAMPLE_API_URL every five minutes).
      optIn: true,
      producer: { entry: 'lambdas/jobs/example-api/producer.ts' },
      // Checked by the producer, typed in the steps; synth reads it (docs/workflow.md).
      params: { schema: 'lambdas/jobs/example-api/params.ts' },
      // Its Error subclasses are the names retryableErrors may use (besides the platform's).
      errors: 'lambdas/jobs/example-api/errors.ts',
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
          dependsOn: 'orders-api',
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
    {
      name: 'example-fanout',
      description: 'Example: split an account\'s batch into parts, process them 5 at a time, then aggregate and audit in parallel.',
      schedule: 'cron(15 * * * ? *)',
      optIn: true,
      // Two tasks of one account never run at once (a slow run and the next hour's run, say).
      exclusiveBy: 'account',
      exclusiveWaitSeconds: 900,
      producer: { entry: 'lambdas/jobs/example-fanout/producer.ts' },
      params: { schema: 'lambdas/jobs/example-fanout/params.ts' },
      steps: [
        {
          name: 'ListParts',
          entry: 'lambdas/jobs/example-fanout/list-parts.ts',
          timeoutSeconds: 30,
          retry: { maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['TransientError'] },
        },
        {
          name: 'ProcessParts',
          map: {
            itemsField: 'parts',
            maxItems: 50,
            maxConcurrency: 5,
            steps: [
              {
                name: 'ProcessPart',
                entry: 'lambdas/jobs/example-fanout/process-part.ts',
                timeoutSeconds: 30,
                // A shared resource behind this step takes at most 10 callers at once.
                maxConcurrency: 10,
                retry: { maxAttempts: 3, intervalSeconds: 1, retryableErrors: ['TransientError'] },
              },
            ],
          },
        },
        {
          name: 'Summarize',
          parallel: [
            [{ name: 'Aggregate', entry: 'lambdas/jobs/example-fanout/aggregate.ts', timeoutSeconds: 30, retry: { maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['TransientError'] } }],
            [{ name: 'Audit', entry: 'lambdas/jobs/example-fanout/audit.ts', timeoutSeconds: 30, retry: { maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['TransientError'] } }],
          ],
        },
      ],
    },
    {
      name: 'example-short',
      description: 'Example: price and post meter readings, two short steps a task, run in the high-volume mode (docs/big-ticks.md).',
      schedule: 'cron(30 1/4 * * ? *)',
      optIn: true,
      // A Standard parent per batch with a Distributed Map of Express children: for short tasks.
      executionMode: 'high-volume',
      producer: { entry: 'lambdas/jobs/example-short/producer.ts' },
      params: { schema: 'lambdas/jobs/example-short/params.ts' },
      steps: [
        { name: 'Price', entry: 'lambdas/jobs/example-short/price.ts', timeoutSeconds: 10, retry: { maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['TransientError'] } },
        { name: 'Post', entry: 'lambdas/jobs/example-short/post.ts', timeoutSeconds: 10, retry: { maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['TransientError'] } },
      ],
    },
  ],
  defaultStage: 'dev',
  stages: {
    // A sandbox to try the app in: both examples deployed; the API example's schedule stays off
    // until you point EXAMPLE_API_URL at something you own. Add a `prod` stage for real jobs, e.g.
    // prod: { account: '111111111111', region: 'ap-northeast-1', alerts: { topicArn: 'arn:aws:sns:...' } },
    // Before the first real stage, prove the guarantees in your account (docs/prove.md): a sandbox stage
    // deploys the built-in proof job; `npx scheduled-jobs prove --stage sandbox`, then destroy it.
    // sandbox: { account: '111111111111', region: 'ap-northeast-1', sandbox: true },
    dev: {
      jobs: {
        'example-api': { deploy: true, enabled: false },
        'example-fanout': { deploy: true },
        'example-short': { deploy: true },
      },
    },
  },
};
