import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { SweepSummary } from './logic';

/** Powertools service name of the sweeper: the `service` dimension of its metrics. */
export const SWEEPER_SERVICE = 'sweeper';
/** Dimension naming the queue (its physical name, so two deployments in one account never mix). */
export const QUEUE_DIMENSION = 'QueueName';
/** Age in seconds of the queue's oldest message by its first send; the alarm watches its Maximum. */
export const OLDEST_AGE_METRIC = 'OldestMessageAgeSeconds';
/** Distinct messages the sweep saw in the queue. */
export const MESSAGES_METRIC = 'Messages';
/** Messages re-sent before expiry in this run. */
export const RESENT_METRIC = 'Resent';
/** Re-sends that failed (the original stays; a later run tries again). */
export const RESEND_FAILED_METRIC = 'ResendFailed';

/**
 * Publishes one EMF record per queue, with the queue as a dimension. A queue whose sweep saw
 * nothing and did not finish publishes nothing: a 0 there would be a false "empty", and the
 * missing point plus the function error is the truer signal. A partial sweep's age is a lower
 * bound of the real one, so it is still published.
 */
export function publishSweepMetrics(metrics: Metrics, summary: SweepSummary): void {
  for (const q of summary.queues) {
    if (!q.complete && q.messages === 0) continue;
    metrics.addDimension(QUEUE_DIMENSION, q.queue);
    metrics.addMetric(OLDEST_AGE_METRIC, MetricUnit.Seconds, q.oldestAgeSeconds);
    metrics.addMetric(MESSAGES_METRIC, MetricUnit.Count, q.messages);
    metrics.addMetric(RESENT_METRIC, MetricUnit.Count, q.resent);
    metrics.addMetric(RESEND_FAILED_METRIC, MetricUnit.Count, q.resendFailed);
    // Flushes this queue's record and clears its dimension before the next queue's.
    metrics.publishStoredMetrics();
  }
}
