import { withSafeErrors } from '../shared/safe-error';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBProvider } from '@aws-lambda-powertools/parameters/dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { errorName } from '../shared/errors';
import { FirehoseParamLogSink } from '../shared/firehose-sink';
import { requireEnv } from '../shared/env';
import { KmsMac } from '../shared/kms-mac';
import { RECORD_MAC_KEY_ENV } from '../shared/mac-env';
import { HOLD_VALUE_ATTR, holdKey, TABLE_KEY_ATTR } from '../shared/holds';
import { logger, metrics, tracer } from '../shared/powertools';
import { drain, ReprocessSummary } from './drain';
import { MAX_REPLAY_TICK_AGE_MS } from './message';
import { readEnv, ReprocessEnv } from './env';
import { FailedInvocationsSummary, handleFailedInvocations } from './failed-invocations';
import { ReplayHolds } from './holds';
import { InvalidPayloadError, parseRequest, ReprocessOptions } from './payload';
import { rerunTick, TickRunSummary } from './tick';

export { readEnv } from './env';

/**
 * Reprocess: the operator's one routine for everything that ended outside a workflow. `aws lambda
 * invoke --function-name <ReprocessFunction> --payload '{"max": 10}' out.json` replays the error
 * spool; `source` acts on the quarantine, the failed-invocations queue or one tick instead (see
 * docs/reprocess.md). The summary is the return value. Thin: reads env, validates the payload
 * (before touching anything), runs the routine of the source, logs and publishes counts (never params).
 */

// Module scope: built once per container. Endpoints come from the standard AWS_ENDPOINT_URL_* env
// vars only, so the offline run and the tests use this exact code. StartExecution throttling is
// paced and retried by the drain itself (AdaptiveRateGate): SDK retries on top would multiply the
// calls that hit an empty token bucket, so the SFN client makes one attempt per send.
export const sqsClient = tracer.captureAWSv3Client(new SQSClient({}));
export const sfnClient = tracer.captureAWSv3Client(new SFNClient({ maxAttempts: 1, requestHandler: { requestTimeout: 10_000, connectionTimeout: 3_000 } }));
export const dynamoClient = tracer.captureAWSv3Client(new DynamoDBClient({}));
// One attempt per call: a tick re-run is synchronous and a network retry would run the producer
// twice; asynchronous re-invokes retry throttling themselves (failed-invocations.ts). No request
// timeout: a producer may run up to its own timeout (at most 15 minutes, as this function).
const firehoseClient = tracer.captureAWSv3Client(new FirehoseClient({}));
export const lambdaClient = tracer.captureAWSv3Client(new LambdaClient({ maxAttempts: 1 }));

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
  'unknownResumeStep',
  'skipped',
  'invalid',
  'failed',
  'notAttempted',
  'deleteFailed',
  'throttleEvents',
] as const satisfies ReadonlyArray<keyof ReprocessSummary>;

/**
 * Metric name of a summary field: `Reprocess` + the field, capitalised (e.g. `ReprocessHeld`); a
 * quarantine run's carry the source (`ReprocessQuarantineStarted`), so the spool's keep their meaning.
 */
export function metricName(field: (typeof METRIC_FIELDS)[number] | 'forced' | 'dropped', source: 'spool' | 'quarantine' = 'spool'): string {
  return `Reprocess${source === 'quarantine' ? 'Quarantine' : ''}${field[0].toUpperCase()}${field.slice(1)}`;
}

/** Failed-invocation counts published as metrics (`ReprocessFailedInvocations` + the field). */
const FAILED_INVOCATION_METRICS = ['reinvoked', 'dropped', 'invalid', 'failed', 'deleteFailed'] as const satisfies ReadonlyArray<keyof FailedInvocationsSummary>;

/** What one invocation returns: the summary of its source. */
export type ReprocessResult = ReprocessSummary | FailedInvocationsSummary | TickRunSummary;

export const handler = withSafeErrors(async (event: unknown, context: Pick<Context, 'getRemainingTimeInMillis'> & Partial<Context>): Promise<ReprocessResult> => {
  if (context.awsRequestId) logger.addContext(context as Context);
  const env = readEnv();
  const producerJobs = new Set([...env.invocableFunctions.keys()].filter((l) => l.startsWith('producer:')).map((l) => l.slice('producer:'.length)));
  const request = parseRequest(event, env.defaultMax, Date.now(), { functions: new Set(env.invocableFunctions.keys()), producerJobs });
  if (request.source === 'failedInvocations') {
    if (!env.failedInvocationsQueueUrl) throw new InvalidPayloadError('source', 'this deployment has no failed-invocations queue configured for reprocess: redeploy the stack');
    logger.info('reprocess starting', { source: request.source, max: request.max, dryRun: request.dryRun, drop: request.drop, messageIdCount: request.messageIds?.size ?? 0, functions: request.functions ? [...request.functions] : 'all' });
    const summary = await handleFailedInvocations(
      { sqs: sqsClient, lambda: lambdaClient, queueUrl: env.failedInvocationsQueueUrl, functions: env.invocableFunctions, remainingMs: context.getRemainingTimeInMillis() },
      request,
    );
    const { items, ...counts } = summary;
    logger.info('reprocess done', { ...counts, itemsListed: items.length });
    if (!summary.dryRun) {
      for (const f of FAILED_INVOCATION_METRICS) metrics.addMetric(`ReprocessFailedInvocations${f[0].toUpperCase()}${f.slice(1)}`, MetricUnit.Count, summary[f]);
      metrics.publishStoredMetrics();
    }
    return summary;
  }
  if (request.source === 'tick') {
    logger.info('reprocess starting', { source: request.source, job: request.job, tick: request.scheduledTime, replan: request.replan, dryRun: request.dryRun });
    const summary = await rerunTick({ lambda: lambdaClient, functions: env.invocableFunctions }, request);
    logger.info('reprocess done', { source: summary.source, job: summary.job, tick: summary.tick, replan: summary.replan, outcome: summary.outcome, error: summary.error, producerOutcome: summary.producer?.outcome });
    if (!summary.dryRun) {
      metrics.addMetric(summary.outcome === 'failed' ? 'ReprocessTickRerunFailed' : 'ReprocessTickRerun', MetricUnit.Count, 1);
      metrics.publishStoredMetrics();
    }
    return summary;
  }
  return drainQueue(env, request, context);
});

/** The spool or the quarantine (their messages are spool messages). */
async function drainQueue(env: ReprocessEnv, options: ReprocessOptions, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<ReprocessSummary> {
  // Filters are logged by shape only: task ids are derived from producer keys and may be personal.
  logger.info('reprocess starting', {
    source: options.source,
    drop: options.drop,
    force: options.force,
    messageIdCount: options.messageIds?.size ?? 0,
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
      rules: { jobs: env.jobs, maxReplays: env.maxReplays, maxTickAgeMs: MAX_REPLAY_TICK_AGE_MS },
      holds: holdsFor(env),
      remainingMs: context.getRemainingTimeInMillis(),
      // Each replay is a new attempt of its task: its client record lets the lost-task monitor see it.
      clientLog: env.clientStream ? { sink: new FirehoseParamLogSink(firehoseClient, env.clientStream, new KmsMac(requireEnv(RECORD_MAC_KEY_ENV))), timeZone: env.timeZone } : undefined,
    },
    options,
  );
  const { items, ...counts } = summary;
  logger.info('reprocess done', { ...counts, itemsListed: items.length });
  // A dry run changes nothing: its counts would read as replays and quarantines on the dashboard.
  if (!summary.dryRun) {
    for (const f of METRIC_FIELDS) metrics.addMetric(metricName(f, options.source), MetricUnit.Count, summary[f]);
    if (summary.forced !== undefined) metrics.addMetric(metricName('forced', options.source), MetricUnit.Count, summary.forced);
    if (summary.dropped !== undefined) metrics.addMetric(metricName('dropped', options.source), MetricUnit.Count, summary.dropped);
    metrics.publishStoredMetrics();
  }
  return summary;
}
