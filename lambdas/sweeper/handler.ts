import { withSafeErrors } from '../shared/safe-error';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { intEnv, requireEnv } from '../shared/env';
import { logger, metrics, tracer } from '../shared/powertools';
import { SWEEPER_ENV } from './env';
import { DEFAULT_SWEEP_SETTINGS, parseQueues, sweep, SweepIncompleteError, SweepSettings, SweepSummary } from './logic';
import { publishSweepMetrics } from './metrics';

/**
 * The sweeper, run by EventBridge Scheduler (every hour by default): re-sends messages of the
 * spool, quarantine, failed-invocation and schedule dead-letter queues before SQS retention would
 * delete them, and publishes each queue's oldest-failure age. See docs/sweeper.md.
 * Thin: reads env, runs the sweep, publishes metrics, logs counts (never bodies), and fails the
 * invocation when a queue could not be swept completely, so the errors alarm fires.
 */

// Module scope: built once per container; endpoints only from the standard AWS_ENDPOINT_URL_SQS.
export const sqsClient = tracer.captureAWSv3Client(new SQSClient({}));
const queues = parseQueues(requireEnv(SWEEPER_ENV.queues));
const settings: SweepSettings = { ...DEFAULT_SWEEP_SETTINGS, marginSeconds: intEnv(SWEEPER_ENV.marginSeconds, 86_400) };

export const handler = withSafeErrors(async (_event: unknown, context: Pick<Context, 'getRemainingTimeInMillis'> & Partial<Context>): Promise<SweepSummary> => {
  if (context.awsRequestId) logger.addContext(context as Context);
  const summary = await sweep({ sqs: sqsClient, now: () => Date.now(), remainingMs: () => context.getRemainingTimeInMillis() }, settings, queues);
  publishSweepMetrics(metrics, summary);
  for (const q of summary.queues) {
    const { queue, ...counts } = q;
    logger.info('queue swept', { queue, ...counts });
  }
  const incomplete = summary.queues.filter((q) => !q.complete);
  if (incomplete.length) throw new SweepIncompleteError(incomplete);
  return summary;
});
