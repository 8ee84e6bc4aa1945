import { safeError } from '../shared/safe-error';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { requireEnv } from '../shared/env';
import { parseEnvelope } from '../shared/envelope';
import { KmsMac } from '../shared/kms-mac';
import { acquireLock, LockKeys, releaseLock } from '../shared/locks';
import { LOCK_MAC_KEY_ENV } from '../shared/mac-env';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { errorName, LockBusy } from '../shared/errors';
import { logger, metrics, tracer } from '../shared/powertools';
import { LOCK_FAILURES_METRIC } from './metrics';

/**
 * The exclusive-key lock states of every job's workflow (AcquireLock, ReleaseLock,
 * ReleaseLockAfterFailure): `{ action, task, job, field, owner, ttlSeconds }`.
 * Acquire throws LockBusy (retried by the state with backoff up to the job's exclusiveWaitSeconds,
 * then spooled); release never fails the task.
 */
export interface LockEvent {
  readonly action: 'acquire' | 'release';
  readonly task: unknown;
  readonly job: string;
  readonly field: string;
  readonly owner: string;
  readonly ttlSeconds?: number;
}

const ddb = tracer.captureAWSv3Client(new DynamoDBClient({}));
const tableName = requireEnv('COORDINATION_TABLE');
// One per container: its cache saves the KMS request when the same task releases what it acquired.
const lockKeys = new LockKeys(new KmsMac(requireEnv(LOCK_MAC_KEY_ENV)));


export async function handler(event: LockEvent, context?: Context): Promise<{ locked?: true; released?: boolean }> {
  if (context) logger.addContext(context);
  try {
    return await handle(event);
  } catch (e) {
    if (!(e instanceof LockBusy)) {
      metrics.addDimension('FunctionName', process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'local');
      metrics.addMetric(LOCK_FAILURES_METRIC, MetricUnit.Count, 1);
      metrics.publishStoredMetrics();
      logger.error('lock action failed', { action: event?.action, job: event?.job, errorName: errorName(e) });
    }
    // The task's params are hashed into the key here: a raw error could echo them.
    const seal = (event?.task as { seal?: unknown } | undefined)?.seal;
    throw safeError(e, { sealKey: typeof seal === 'string' ? seal : null });
  }
}

async function handle(event: LockEvent): Promise<{ locked?: true; released?: boolean }> {
  const task = parseEnvelope(event.task);
  const key = await lockKeys.keyOf(event.job, task.params, event.field);
  if (event.action === 'acquire') {
    await acquireLock({ ddb, tableName }, key, event.owner, event.ttlSeconds ?? 86_400);
    logger.info('lock acquired', { taskId: task.taskId, job: event.job });
    return { locked: true };
  }
  const released = await releaseLock({ ddb, tableName }, key, event.owner);
  logger.info('lock released', { taskId: task.taskId, job: event.job, released });
  return { released };
}
