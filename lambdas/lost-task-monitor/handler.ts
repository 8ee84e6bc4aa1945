import { withSafeErrors } from '../shared/safe-error';
import { AthenaClient } from '@aws-sdk/client-athena';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { intEnv, requireEnv } from '../shared/env';
import { KmsMac } from '../shared/kms-mac';
import { RECORD_MAC_KEY_ENV } from '../shared/mac-env';
import { logger, tracer } from '../shared/powertools';
import { checkLostTasks, dayToCheck, MonitorEvent, MonitorSettings } from './logic';

/** Name of the published metric; the construct's alarm watches it (see lib/investigation). */
export const LOST_TASKS_METRIC = 'LostTasks';
/** Records of the checked day whose MAC is missing or wrong (treated as absent); its alarm pages. */
export const FORGED_RECORDS_METRIC = 'ForgedRecords';
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
const verifier = new KmsMac(requireEnv(RECORD_MAC_KEY_ENV));
const metrics = new Metrics({
  namespace: requireEnv('METRIC_NAMESPACE'),
  defaultDimensions: { [WORKGROUP_DIMENSION]: settings.workGroup },
});

/**
 * Daily: counts yesterday's lost tasks among records whose MAC verifies, and the records that do
 * not (forged), and publishes both (EMF). Any failure throws, so the errors alarm fires; counts are
 * published only when known. Logs ids and counts, never params.
 */
async function handle(event: MonitorEvent, context?: Context): Promise<{ day: string; lost: number; forged: number }> {
  if (context) logger.addContext(context);
  const day = dayToCheck(event, new Date(), settings.timeZone);
  const { lost, forged, checked, forgedTaskIds, queryExecutionId } = await checkLostTasks(athena, verifier, settings, day);
  metrics.addMetric(LOST_TASKS_METRIC, MetricUnit.Count, lost);
  metrics.addMetric(FORGED_RECORDS_METRIC, MetricUnit.Count, forged);
  metrics.addMetadata('day', day);
  metrics.publishStoredMetrics();
  logger.info('lost-task check done', { day, lost, forged, checked, queryExecutionId, forgedTaskIds: forgedTaskIds.slice(0, 50) });
  return { day, lost, forged };
}

/** The handler: what it throws leaves without its message (lambdas/shared/safe-error.ts). */
export const handler = withSafeErrors(handle);
