import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBProvider } from '@aws-lambda-powertools/parameters/dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { errorName } from '../shared/errors';
import { HOLD_VALUE_ATTR, holdKey, TABLE_KEY_ATTR } from '../shared/holds';
import { logger, metrics, tracer } from '../shared/powertools';
import { drain, ReprocessSummary } from './drain';
import { readEnv, ReprocessEnv } from './env';
import { ReplayHolds } from './holds';
import { parsePayload } from './payload';

export { readEnv } from './env';

/**
 * Reprocess: replays the error spool by hand. `aws lambda invoke --function-name <ReprocessFunction>
 * --payload '{"max": 10}' out.json`; the summary is the return value. See docs/reprocess.md.
 * Thin: reads env, validates the payload (before touching anything), runs the drain, logs and
 * publishes counts (never params).
 */

// Module scope: built once per container. Endpoints come from the standard AWS_ENDPOINT_URL_* env
// vars only, so the offline run and the tests use this exact code. StartExecution throttling is
// paced and retried by the drain itself (AdaptiveRateGate): SDK retries on top would multiply the
// calls that hit an empty token bucket, so the SFN client makes one attempt per send.
export const sqsClient = tracer.captureAWSv3Client(new SQSClient({}));
export const sfnClient = tracer.captureAWSv3Client(new SFNClient({ maxAttempts: 1, requestHandler: { requestTimeout: 10_000, connectionTimeout: 3_000 } }));
export const dynamoClient = tracer.captureAWSv3Client(new DynamoDBClient({}));

let providers: { table: string; provider: DynamoDBProvider } | null = null;

/** The run's hold checks: switches read afresh (no cross-invocation cache), so `unhold` then replay works at once. */
function holdsFor(env: ReprocessEnv): ReplayHolds | null {
  if (!env.coordinationTable) return null;
  if (providers?.table !== env.coordinationTable) {
    providers = { table: env.coordinationTable, provider: new DynamoDBProvider({ tableName: env.coordinationTable, keyAttr: TABLE_KEY_ATTR, valueAttr: HOLD_VALUE_ATTR, awsSdkV3Client: dynamoClient }) };
  }
  const { provider } = providers;
  return new ReplayHolds({
    readSwitch: async (dependency) => (await provider.get(holdKey(dependency), { forceFetch: true })) === 'on',
    windows: env.holdWindows,
    timeZone: env.timeZone,
    onReadError: (dependency, e) => logger.error('hold switch unreadable: messages depending on it stay in the spool', { dependency, errorName: errorName(e) }),
  });
}

/** Summary counts published as metrics (one per field, unit Count). */
const METRIC_FIELDS = [
  'started',
  'resumed',
  'resumeFallbacks',
  'alreadyStarted',
  'alreadyHandled',
  'held',
  'skipped',
  'invalid',
  'failed',
  'notAttempted',
  'deleteFailed',
  'throttleEvents',
] as const satisfies ReadonlyArray<keyof ReprocessSummary>;

/** Metric name of a summary field: `Reprocess` + the field, capitalised (e.g. `ReprocessHeld`). */
export function metricName(field: (typeof METRIC_FIELDS)[number]): string {
  return `Reprocess${field[0].toUpperCase()}${field.slice(1)}`;
}

export const handler = async (event: unknown, context: Pick<Context, 'getRemainingTimeInMillis'> & Partial<Context>): Promise<ReprocessSummary> => {
  if (context.awsRequestId) logger.addContext(context as Context);
  const env = readEnv();
  const options = parsePayload(event, env.defaultMax, Date.now());
  // Filters are logged by shape only: task ids are derived from producer keys and may be personal.
  logger.info('reprocess starting', {
    max: options.max,
    dryRun: options.dryRun,
    from: options.from,
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
      rules: { jobs: env.jobs, maxReplays: env.maxReplays },
      holds: holdsFor(env),
      remainingMs: context.getRemainingTimeInMillis(),
    },
    options,
  );
  const { items, ...counts } = summary;
  logger.info('reprocess done', { ...counts, itemsListed: items.length });
  // A dry run changes nothing: its counts would read as replays and quarantines on the dashboard.
  if (!summary.dryRun) {
    for (const f of METRIC_FIELDS) metrics.addMetric(metricName(f), MetricUnit.Count, summary[f]);
    metrics.publishStoredMetrics();
  }
  return summary;
};
