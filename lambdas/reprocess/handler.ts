import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { intEnv, requireEnv } from '../shared/env';
import { drain, ReprocessSummary } from './drain';
import { parsePayload } from './payload';

/**
 * Reprocess: replays the error spool by hand. `aws lambda invoke --function-name <ReprocessFunction>
 * --payload '{"max": 10}' out.json`; the summary is the return value. See docs/reprocess.md.
 * Thin: reads env, validates the payload (before touching anything), runs the drain, logs counts.
 */

const logger = new Logger();
// Module scope: built once per container. Endpoints come from the standard AWS_ENDPOINT_URL_* env
// vars only, so the offline run and the tests use this exact code. StartExecution throttling is
// paced and retried by the drain itself (AdaptiveRateGate): SDK retries on top would multiply the
// calls that hit an empty token bucket, so the SFN client makes one attempt per send.
export const sqsClient = new SQSClient({});
export const sfnClient = new SFNClient({ maxAttempts: 1, requestHandler: { requestTimeout: 10_000, connectionTimeout: 3_000 } });

/** Settings the construct puts in the environment. */
export interface ReprocessEnv {
  readonly spoolQueueUrl: string;
  readonly quarantineQueueUrl: string;
  readonly allowedStateMachineArns: ReadonlySet<string>;
  readonly maxReplays: number;
  readonly defaultMax: number;
}

/** Reads and checks the environment; throws a message that names the variable. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): ReprocessEnv {
  const arns = requireEnv('ALLOWED_STATE_MACHINE_ARNS', env)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return {
    spoolQueueUrl: requireEnv('SPOOL_QUEUE_URL', env),
    quarantineQueueUrl: requireEnv('QUARANTINE_QUEUE_URL', env),
    allowedStateMachineArns: new Set(arns),
    maxReplays: intEnv('MAX_REPLAYS', 5, env),
    defaultMax: intEnv('MAX_REPROCESS', 10, env),
  };
}

export const handler = async (event: unknown, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<ReprocessSummary> => {
  const env = readEnv();
  const options = parsePayload(event, env.defaultMax, Date.now());
  // Filters are logged by shape only: task ids are derived from producer keys and may be personal.
  logger.info('reprocess starting', {
    max: options.max,
    dryRun: options.dryRun,
    mode: options.mode,
    concurrency: options.concurrency,
    job: options.job,
    errorType: options.errorType,
    taskIdCount: options.taskIds?.size ?? 0,
    timeFilter: options.sentBeforeMs !== undefined || options.sentAfterMs !== undefined,
  });
  const summary = await drain(
    {
      sqs: sqsClient,
      sfn: sfnClient,
      spoolQueueUrl: env.spoolQueueUrl,
      quarantineQueueUrl: env.quarantineQueueUrl,
      rules: { allowedStateMachineArns: env.allowedStateMachineArns, maxReplays: env.maxReplays },
      remainingMs: context.getRemainingTimeInMillis(),
    },
    options,
  );
  const { items, ...counts } = summary;
  logger.info('reprocess done', { ...counts, itemsListed: items.length });
  return summary;
};
