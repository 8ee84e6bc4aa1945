import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { requireEnv } from '../shared/env';
import { parseEnvelope } from '../shared/envelope';
import { acquireLock, lockKey, releaseLock } from '../shared/locks';
import { logger, tracer } from '../shared/powertools';

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

export async function handler(event: LockEvent, context?: Context): Promise<{ locked?: true; released?: boolean }> {
  if (context) logger.addContext(context);
  const task = parseEnvelope(event.task);
  const key = lockKey(event.job, task.params, event.field);
  if (event.action === 'acquire') {
    await acquireLock({ ddb, tableName }, key, event.owner, event.ttlSeconds ?? 86_400);
    logger.info('lock acquired', { taskId: task.taskId, job: event.job });
    return { locked: true };
  }
  const released = await releaseLock({ ddb, tableName }, key, event.owner);
  logger.info('lock released', { taskId: task.taskId, job: event.job, released });
  return { released };
}
