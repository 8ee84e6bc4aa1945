import { withSafeErrors } from '../shared/safe-error';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { requireEnv } from '../shared/env';
import { FirehoseParamLogSink } from '../shared/firehose-sink';
import { KmsMac } from '../shared/kms-mac';
import { LOCK_MAC_KEY_ENV, RECORD_MAC_KEY_ENV } from '../shared/mac-env';
import { LockKeys } from '../shared/locks';
import { logger, metrics, tracer } from '../shared/powertools';
import { CAPTURE_ENV, CaptureDeps, CaptureResult, captureExecutionEnd, executionArnOf, metricsOf, parseJobsEnv } from './logic';
import { parseReplayStateMachines } from './parent';

/**
 * The status-change capture (lib/execution-capture.ts): EventBridge delivers each FAILED /
 * TIMED_OUT / ABORTED end of the app's executions here; the logic spools the ones the workflow
 * did not. An operator may also invoke it with `{"executionArn": "..."}`. Thin: env, clients,
 * one call, metrics and a log line of ids (never params).
 */

// Module scope: built once per container; endpoints only from AWS_ENDPOINT_URL_* (the tests and
// the offline run use this exact code). DescribeExecution refills at 10/s in most regions (AWS Step
// Functions quotas): more SDK attempts ride out a burst of ends (e.g. an operator stopping many).
export const sfnClient = tracer.captureAWSv3Client(new SFNClient({ maxAttempts: 6 }));
export const sqsClient = tracer.captureAWSv3Client(new SQSClient({}));
export const ddbClient = tracer.captureAWSv3Client(new DynamoDBClient({}));
const firehoseClient = tracer.captureAWSv3Client(new FirehoseClient({}));

const deps: CaptureDeps = {
  sfn: sfnClient,
  sqs: sqsClient,
  ddb: ddbClient,
  sink: new FirehoseParamLogSink(firehoseClient, requireEnv(CAPTURE_ENV.workerStream), new KmsMac(requireEnv(RECORD_MAC_KEY_ENV))),
  spoolQueueUrl: requireEnv(CAPTURE_ENV.spoolQueueUrl),
  coordinationTable: requireEnv(CAPTURE_ENV.coordinationTable),
  timeZone: requireEnv(CAPTURE_ENV.timeZone),
  lockKeys: process.env[LOCK_MAC_KEY_ENV] ? new LockKeys(new KmsMac(process.env[LOCK_MAC_KEY_ENV])) : undefined,
  jobs: parseJobsEnv(requireEnv(CAPTURE_ENV.jobSteps), process.env[CAPTURE_ENV.jobExclusive], process.env[CAPTURE_ENV.jobLockLease]),
  replayStateMachines: parseReplayStateMachines(process.env[CAPTURE_ENV.replayStateMachines]),
};

async function handle(event: unknown, context?: Context): Promise<CaptureResult> {
  if (context) logger.addContext(context);
  try {
    const executionArn = executionArnOf(event);
    const result = await captureExecutionEnd(executionArn, deps);
    for (const [name, count] of metricsOf(result)) metrics.addMetric(name, MetricUnit.Count, count);
    logger.info('execution end captured', {
      outcome: result.outcome,
      status: result.status,
      executionArn: result.executionArn,
      taskId: result.taskId ?? undefined,
      job: result.job ?? undefined,
      error: result.error ?? undefined,
      failedState: result.failedState ?? undefined,
      messageId: result.messageId ?? undefined,
      workerRecord: result.workerRecord ?? undefined,
      lockReleased: result.lockReleased ?? undefined,
      lockKeptUntil: result.lockKeptUntil ?? undefined,
      historyEvents: result.historyEvents,
      historyPages: result.historyPages,
    });
    return result;
  } catch (e) {
    // Thrown on: Lambda retries twice, then the event goes to the failed-invocations queue.
    metrics.addMetric('CaptureFailed', MetricUnit.Count, 1);
    logger.error('execution end not captured', { errorName: (e as Error).name, errorMessage: (e as Error).message });
    throw e;
  } finally {
    metrics.publishStoredMetrics();
  }
}

/** The handler: what it throws leaves without its message (lambdas/shared/safe-error.ts). */
export const handler = withSafeErrors(handle);
