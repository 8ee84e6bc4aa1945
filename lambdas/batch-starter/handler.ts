import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { intEnv, requireEnv } from '../shared/env';
import { errorName } from '../shared/errors';
import { FirehoseParamLogSink } from '../shared/firehose-sink';
import { KmsMac } from '../shared/kms-mac';
import { RECORD_MAC_KEY_ENV } from '../shared/mac-env';
import { logger, metrics, tracer } from '../shared/powertools';
import { AdaptiveRateGate } from '../shared/rate-gate';
import { withSafeErrors } from '../shared/safe-error';
import { parseTickBatch, TICK_ATTR_JOB } from '../shared/tick-batch';
import { LeaseLostError, TickLedger } from '../shared/tick-ledger';
import { answerRedrive, isRedriveRequest, RedriveRequest, RedriveSummary } from '../starter/redrive';
import { PARENT_ROUTES_ENV, parseParentRoutes } from './env';
import { BatchStarterDeps, startParentBatch } from './logic';

/**
 * The high-volume starter (./logic.ts; lib/tick-starter.ts with `highVolume`): the event source of
 * the high-volume tick queue gives it one batch message; it starts the batch's parent executions.
 * Thin: clients and pacing built once per container.
 * Env: PARENT_ROUTES (JSON: standard state machine ARN -> parent ARN), TICK_QUEUE_URL,
 * SPOOL_QUEUE_URL, QUARANTINE_QUEUE_URL, DEAD_LETTER_QUEUE_URL, CLIENT_LOG_STREAM, APP_TIME_ZONE,
 * COORDINATION_TABLE, RECORD_MAC_KEY_ID, PACE_HINT.
 * An operator's `{"redriveDeadLetters": true}` moves its dead-letter queue back (../starter/redrive.ts).
 */

// Throttling is paced by the gate: one SDK attempt per send, as the standard starter.
export const sfnClient = tracer.captureAWSv3Client(new SFNClient({ maxAttempts: 1, requestHandler: { requestTimeout: 10_000, connectionTimeout: 3_000 } }));
export const sqsClient = tracer.captureAWSv3Client(new SQSClient({}));
const firehose = tracer.captureAWSv3Client(new FirehoseClient({}));
const ddb = tracer.captureAWSv3Client(new DynamoDBClient({}));

/** Reads the environment into the starter's dependencies (a new gate: one per container). */
export function depsFromEnv(env: NodeJS.ProcessEnv = process.env): BatchStarterDeps {
  return {
    sfn: sfnClient,
    sqs: sqsClient,
    sink: new FirehoseParamLogSink(firehose, requireEnv('CLIENT_LOG_STREAM', env), new KmsMac(requireEnv(RECORD_MAC_KEY_ENV, env), { endpoint: env.AWS_ENDPOINT_URL_KMS })),
    ledger: new TickLedger(ddb, requireEnv('COORDINATION_TABLE', env)),
    gate: new AdaptiveRateGate({ hintRate: intEnv('PACE_HINT', 0, env) }),
    parents: parseParentRoutes(requireEnv(PARENT_ROUTES_ENV, env)),
    tickQueueUrl: requireEnv('TICK_QUEUE_URL', env),
    spoolQueueUrl: requireEnv('SPOOL_QUEUE_URL', env),
    quarantineQueueUrl: requireEnv('QUARANTINE_QUEUE_URL', env),
    timeZone: requireEnv('APP_TIME_ZONE', env),
  };
}

/** One container's handler (the benchmark builds one per simulated container). */
export function newContainer(
  env: NodeJS.ProcessEnv = process.env,
): (event: SQSEvent | RedriveRequest, context: Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId'>) => Promise<SQSBatchResponse | RedriveSummary> {
  let deps: BatchStarterDeps | undefined;
  return withSafeErrors(async (event: SQSEvent | RedriveRequest, context: Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId'>) => {
    if ((context as Context).functionName) logger.addContext(context as Context);
    if (isRedriveRequest(event)) {
      const summary = await answerRedrive(event, { sqs: sqsClient, deadLetterQueueUrl: requireEnv('DEAD_LETTER_QUEUE_URL', env), tickQueueUrl: requireEnv('TICK_QUEUE_URL', env) }, context.getRemainingTimeInMillis());
      logger.info('dead letters redriven', { ...summary });
      return summary;
    }
    deps ??= depsFromEnv(env);
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of (event as SQSEvent).Records ?? []) {
      let job = record.messageAttributes?.[TICK_ATTR_JOB]?.stringValue ?? 'unknown';
      metrics.addDimension('job', job);
      try {
        const m = parseTickBatch(record.body);
        job = m.job;
        const r = await startParentBatch(m, deps, { owner: context.awsRequestId, remainingMs: context.getRemainingTimeInMillis() });
        for (const [name, value] of [['TasksStarted', r.started], ['TasksDuplicate', r.duplicate], ['TasksStartFailed', r.startFailed], ['TasksRejected', r.rejected], ['StartCalls', r.calls], ['StartThrottleEvents', r.throttleEvents]] as const) {
          metrics.addMetric(name, MetricUnit.Count, value);
        }
        metrics.addMetric(r.outcome === 'completed' ? 'BatchesCompleted' : r.outcome === 'continued' ? 'BatchesContinued' : 'BatchesSkipped', MetricUnit.Count, 1);
        // Counts only: a message carries params.
        logger.info(r.tickCompleted ? 'batch done: the tick is started completely' : 'batch done', { ...r, tick: m.tick, index: m.index, batches: m.batches, offset: m.offset, total: m.total });
      } catch (e) {
        metrics.addMetric('BatchesFailed', MetricUnit.Count, 1);
        logger.error('batch failed: it returns to the queue', { job, messageId: record.messageId, error: errorName(e), leaseLost: e instanceof LeaseLostError, receiveCount: record.attributes?.ApproximateReceiveCount });
        failures.push({ itemIdentifier: record.messageId });
      } finally {
        metrics.publishStoredMetrics();
      }
    }
    return { batchItemFailures: failures };
  });
}

export const handler = newContainer();
