import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { requireEnv } from '../shared/env';
import { FirehoseParamLogSink } from '../shared/firehose-sink';
import { KmsMac } from '../shared/kms-mac';
import { LockKeys } from '../shared/locks';
import { LOCK_MAC_KEY_ENV, RECORD_MAC_KEY_ENV } from '../shared/mac-env';
import { logger, metrics, tracer } from '../shared/powertools';
import { CAPTURE_ENV, CaptureDeps, captureExecutionEnd, parseJobsEnv } from '../execution-capture/logic';
import { parseReplayStateMachines } from '../execution-capture/parent';
import { drainCaptureFailures } from './capture-failures';
import { parseMachinesEnv, RECONCILE_ENV } from './env';
import { reconcile, reconcileMetrics, ReconcileSummary } from './logic';

/**
 * The reconciler (lib/reconciler.ts): on a schedule, captures the ended executions whose
 * status-change event never reached the capture. The capture's own logic and settings (the same
 * environment variables as the capture function), so both spool an execution the same way, once.
 * Throws when a listing or the watermark fails, or an execution could not be captured, so the
 * errors alarm fires; ids and counts only in the log.
 */
const sfn = tracer.captureAWSv3Client(new SFNClient({ maxAttempts: 6 }));
const sqs = tracer.captureAWSv3Client(new SQSClient({}));
const ddb = tracer.captureAWSv3Client(new DynamoDBClient({}));
const firehose = tracer.captureAWSv3Client(new FirehoseClient({}));

const captureDeps: CaptureDeps = {
  sfn,
  sqs,
  ddb,
  sink: new FirehoseParamLogSink(firehose, requireEnv(CAPTURE_ENV.workerStream), new KmsMac(requireEnv(RECORD_MAC_KEY_ENV))),
  lockKeys: process.env[LOCK_MAC_KEY_ENV] ? new LockKeys(new KmsMac(process.env[LOCK_MAC_KEY_ENV])) : undefined,
  spoolQueueUrl: requireEnv(CAPTURE_ENV.spoolQueueUrl),
  coordinationTable: requireEnv(CAPTURE_ENV.coordinationTable),
  timeZone: requireEnv(CAPTURE_ENV.timeZone),
  jobs: parseJobsEnv(requireEnv(CAPTURE_ENV.jobSteps), process.env[CAPTURE_ENV.jobExclusive], process.env[CAPTURE_ENV.jobLockLease]),
  replayStateMachines: parseReplayStateMachines(process.env[CAPTURE_ENV.replayStateMachines]),
};
const machines = parseMachinesEnv(requireEnv(RECONCILE_ENV.machines));
const captureFailuresQueueUrl = process.env[RECONCILE_ENV.captureFailuresQueueUrl]?.trim() || null;

/** Thrown after a run in which some ended executions could not be captured (they are tried again next run). */
export class ReconcileIncompleteError extends Error {
  constructor(readonly summary: ReconcileSummary) {
    super(`${summary.failed + summary.gaveUp} ended execution(s) could not be captured; the next run tries again (see the log's failures)`);
    this.name = 'ReconcileIncomplete';
  }
}

export async function handler(_event: unknown, context?: Context): Promise<ReconcileSummary> {
  if (context) logger.addContext(context);
  try {
    const summary = await reconcile({
      sfn,
      ddb,
      coordinationTable: captureDeps.coordinationTable,
      machines,
      capture: (arn) => captureExecutionEnd(arn, captureDeps),
      remainingMs: context ? () => context.getRemainingTimeInMillis() : undefined,
      log: (message, fields) => logger.info(message, fields),
    });
    for (const [name, n] of reconcileMetrics(summary)) metrics.addMetric(name, MetricUnit.Count, n);
    // The capture's last resort: ARN-only records of captures that failed after Lambda's retries.
    // Only with time left for a few captures (each up to a long history read); else the next run drains it.
    const timeLeft = context ? context.getRemainingTimeInMillis() > 60_000 : true;
    const failures = captureFailuresQueueUrl && timeLeft ? await drainCaptureFailures({ sqs, queueUrl: captureFailuresQueueUrl, capture: (arn) => captureExecutionEnd(arn, captureDeps), maxMessages: 50 }) : null;
    if (failures) metrics.addMetric('CaptureFailuresRecaptured', MetricUnit.Count, failures.captured);
    logger.info('reconciled', { ...summary, captureFailures: failures ?? undefined });
    if (summary.failed + summary.gaveUp + (failures?.left ?? 0) > 0) throw new ReconcileIncompleteError(summary);
    return summary;
  } finally {
    metrics.publishStoredMetrics();
  }
}
