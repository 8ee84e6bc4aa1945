import { ConditionalCheckFailedException, DeleteItemCommand, DynamoDBClient, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { createHash } from 'node:crypto';
import { InvalidTaskError, LockBusy } from './errors';
import { JsonValue } from './json';

/**
 * Exclusive-key locks (config `exclusiveBy`): one item per (job, key value) in the coordination
 * table, with an owner (the execution ARN) and an expiry (now + the execution timeout). Taken with
 * a conditional put that succeeds when there is no item, the item expired, or the owner is the
 * same execution (a retried acquire); released with a delete conditioned on the owner. Expiry is
 * checked in the condition: DynamoDB TTL deletes expired items only within days (AWS DynamoDB
 * developer guide, "Working with expired items"), it only collects garbage here.
 * The key value may be personal (a customer id): only its hash is stored.
 */

/** The params value at a dotted path (`'file.path'`), or undefined. */
export function valueAt(params: JsonValue, path: string): JsonValue | undefined {
  let v: JsonValue | undefined = params;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, JsonValue>)[part];
  }
  return v;
}

/** Partition key of the lock of `job` for the params' value at `field`. Throws InvalidTaskError if the value is unusable. */
export function lockKey(job: string, params: JsonValue, field: string): string {
  const v = valueAt(params, field);
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
    throw new InvalidTaskError(`params.${field} (the job's exclusiveBy) must be a string, number or boolean`);
  }
  if (typeof v === 'string' && v === '') throw new InvalidTaskError(`params.${field} (the job's exclusiveBy) must not be empty`);
  return `lock#${job}#${createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 40)}`;
}

export interface LockDeps {
  readonly ddb: DynamoDBClient;
  readonly tableName: string;
  readonly now?: () => Date;
}

/** Takes the lock for `owner` for `ttlSeconds`. Throws LockBusy when another live owner holds it. */
export async function acquireLock(deps: LockDeps, key: string, owner: string, ttlSeconds: number): Promise<void> {
  const nowS = Math.floor((deps.now ?? (() => new Date()))().getTime() / 1000);
  try {
    await deps.ddb.send(
      new PutItemCommand({
        TableName: deps.tableName,
        Item: { pk: { S: key }, owner: { S: owner }, expiresAt: { N: String(nowS + ttlSeconds) }, acquiredAt: { N: String(nowS) } },
        ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR #o = :me',
        ExpressionAttributeNames: { '#o': 'owner' },
        ExpressionAttributeValues: { ':now': { N: String(nowS) }, ':me': { S: owner } },
      }),
    );
  } catch (e) {
    if (e instanceof ConditionalCheckFailedException || (e as Error).name === 'ConditionalCheckFailedException') {
      throw new LockBusy('another task of this job holds the exclusive key; waiting');
    }
    throw e;
  }
}

/** Releases the lock if `owner` holds it. Returns whether it did (false: not held, or held by another). */
export async function releaseLock(deps: LockDeps, key: string, owner: string): Promise<boolean> {
  try {
    await deps.ddb.send(
      new DeleteItemCommand({
        TableName: deps.tableName,
        Key: { pk: { S: key } },
        ConditionExpression: '#o = :me',
        ExpressionAttributeNames: { '#o': 'owner' },
        ExpressionAttributeValues: { ':me': { S: owner } },
      }),
    );
    return true;
  } catch (e) {
    if (e instanceof ConditionalCheckFailedException || (e as Error).name === 'ConditionalCheckFailedException') return false;
    throw e;
  }
}

/**
 * Keeps the lock of an ended execution held by `owner` until `untilS` (epoch seconds) instead of
 * releasing it: `StopExecution` and an execution timeout end the execution, not a step Lambda it
 * already invoked, which runs on to its own timeout (AWS Step Functions API reference,
 * "StopExecution"; developer guide, "Handling errors": a Task's Lambda is not stopped). A replay
 * that takes the lock before then would overlap that Lambda. The item expires at `untilS` (checked
 * in the acquire condition, as every expiry). Returns 'leased', 'released' (the time has passed
 * already) or 'notHeld' (another owner, or none).
 */
export async function leaseLock(deps: LockDeps, key: string, owner: string, untilS: number): Promise<'leased' | 'released' | 'notHeld'> {
  const nowS = Math.floor((deps.now ?? (() => new Date()))().getTime() / 1000);
  if (untilS <= nowS) return (await releaseLock(deps, key, owner)) ? 'released' : 'notHeld';
  try {
    await deps.ddb.send(
      new UpdateItemCommand({
        TableName: deps.tableName,
        Key: { pk: { S: key } },
        UpdateExpression: 'SET expiresAt = :until, leasedAfterEnd = :t',
        ConditionExpression: '#o = :me',
        ExpressionAttributeNames: { '#o': 'owner' },
        ExpressionAttributeValues: { ':me': { S: owner }, ':until': { N: String(untilS) }, ':t': { BOOL: true } },
      }),
    );
    return 'leased';
  } catch (e) {
    if (e instanceof ConditionalCheckFailedException || (e as Error).name === 'ConditionalCheckFailedException') return 'notHeld';
    throw e;
  }
}
