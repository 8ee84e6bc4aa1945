import { withSafeErrors } from '../shared/safe-error';
import { AthenaClient } from '@aws-sdk/client-athena';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { intEnv, requireEnv } from '../shared/env';
import { logger, tracer } from '../shared/powertools';
import { countLostTasks, dayToCheck, MonitorEvent, MonitorSettings } from './logic';

/** Name of the published metric; the construct's alarm watches it (see lib/investigation). */
export const LOST_TASKS_METRIC = 'LostTasks';
/** Dimension that makes the metric unique per deployment (the workgroup name is). */
export const WORKGROUP_DIMENSION = 'WorkGroup';

const settings: MonitorSettings = {
  workGroup: requireEnv('WORKGROUP'),
  database: requireEnv('DATABASE'),
  timeZone: requireEnv('APP_TIME_ZONE'),
  deadlineMs: intEnv('QUERY_DEADLINE_SECONDS', 240) * 1000,
  initialPollMs: 500,
  maxPollMs: 5000,
};
const athena = tracer.captureAWSv3Client(new AthenaClient({}));
const metrics = new Metrics({
  namespace: requireEnv('METRIC_NAMESPACE'),
  defaultDimensions: { [WORKGROUP_DIMENSION]: settings.workGroup },
});

/**
 * Daily: counts yesterday's lost tasks and publishes the count (EMF). Any failure throws, so the
 * errors alarm fires; the count is published only when it is known. Logs ids and counts, never params.
 */
async function handle(event: MonitorEvent, context?: Context): Promise<{ day: string; lost: number }> {
  if (context) logger.addContext(context);
  const day = dayToCheck(event, new Date(), settings.timeZone);
  const { lost, queryExecutionId } = await countLostTasks(athena, settings, day);
  metrics.addMetric(LOST_TASKS_METRIC, MetricUnit.Count, lost);
  metrics.addMetadata('day', day);
  metrics.publishStoredMetrics();
  logger.info('lost-task check done', { day, lost, queryExecutionId });
  return { day, lost };
}

/** The handler: what it throws leaves without its message (lambdas/shared/safe-error.ts). */
export const handler = withSafeErrors(handle);
