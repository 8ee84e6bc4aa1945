import { markParamFree } from './safe-error';
import { ConditionalCheckFailedException, DeleteItemCommand, DynamoDBClient, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { createHash } from 'node:crypto';
import { InvalidTaskError, LockBusy } from './errors';
import { JsonValue } from './json';
import { MacSigner } from './record-mac';

/**
 * Exclusive-key locks (config `exclusiveBy`): one item per (job, key value) in the coordination
 * table, with an owner (the execution ARN) and an expiry (now + the execution timeout). Taken with
 * a conditional put that succeeds when there is no item, the item expired, or the owner is the
 * same execution (a retried acquire); released with a delete conditioned on the owner. Expiry is
 * checked in the condition: DynamoDB TTL deletes expired items only within days (AWS DynamoDB
 * developer guide, "Working with expired items"), it only collects garbage here.
 * The key value may be personal (a customer id): only its HMAC is stored ({@link LockKeys}).
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

/** The lock value of `params` at `field`. Throws InvalidTaskError if the value is unusable as a lock key. */
export function lockValue(params: JsonValue, field: string): string | number | boolean {
  const v = valueAt(params, field);
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
    throw new InvalidTaskError(`params.${field} (the job's exclusiveBy) must be a string, number or boolean`);
  }
  if (typeof v === 'string' && v === '') throw new InvalidTaskError(`params.${field} (the job's exclusiveBy) must not be empty`);
  return v;
}

/** Domain tag of the lock-key MAC message, so the lock key's MACs can never stand for anything else. */
export const LOCK_KEY_MAC_DOMAIN = 'lock-key/v1:';

/**
 * The message MACed for a lock key: the domain tag and the SHA-256 of `[job, value]` as JSON.
 * Hashed first because KMS takes at most 4,096 bytes of message and a value may be longer.
 */
export function lockKeyMessage(job: string, value: string | number | boolean): Buffer {
  return Buffer.from(LOCK_KEY_MAC_DOMAIN + createHash('sha256').update(JSON.stringify([job, value]), 'utf8').digest('hex'), 'utf8');
}

/**
 * Partition keys of exclusive-key locks: `lock#<job>#<HMAC>` where the HMAC (KMS GenerateMac with
 * the lock-key HMAC key, lib/hmac-key.ts) covers the job and the `exclusiveBy` value. An unsalted
 * hash of a low-entropy value (an account number, an e-mail) is reversed by hashing a dictionary;
 * an HMAC cannot be computed without the key, which only the lock function and the status-change
 * capture may use (and nobody may export). Keys are cached per value in the container (a lock is
 * taken and released by the same task): one KMS request per distinct value per container.
 */
export class LockKeys {
  private readonly cache = new Map<string, string>();

  constructor(
    private readonly mac: MacSigner,
    private readonly maxCached = 10_000,
  ) {}

  /** Partition key of the lock of `job` for the params' value at `field`. Throws InvalidTaskError if the value is unusable. */
  async keyOf(job: string, params: JsonValue, field: string): Promise<string> {
    const value = lockValue(params, field);
    const message = lockKeyMessage(job, value);
    const cacheKey = message.toString('utf8');
    const hit = this.cache.get(cacheKey);
    if (hit) return hit;
    const key = `lock#${job}#${Buffer.from(await this.mac.generateMac(message)).toString('hex')}`;
    // Oldest first out: a Map iterates in insertion order.
    if (this.cache.size >= this.maxCached) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(cacheKey, key);
    return key;
  }
}

/** Partition key of the lock of `job` for the params' value at `field`, without a cache (tests, one-off lookups). */
export function lockKey(job: string, params: JsonValue, field: string, mac: MacSigner): Promise<string> {
  return new LockKeys(mac, 1).keyOf(job, params, field);
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
      throw markParamFree(new LockBusy('another task of this job holds the exclusive key; waiting'));
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
