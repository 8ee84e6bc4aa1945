import { DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { TABLE_KEY_ATTR } from '../../shared/holds';

/**
 * The proof job's bookkeeping in the coordination table, under the `proof#` prefix only (its
 * functions may touch nothing else, lib/proof-job.ts): the prover's tick plans, the fix switch of a
 * run, and a counter per step call, which is both how a transient failure knows how often it
 * failed (kept where the retry sees it: keyed by task id, attempt and step) and the prover's
 * evidence of which steps ran (a held dependency's counter must stay 0).
 */

/** Environment variable naming the coordination table (set by lib/proof-job.ts). */
export const PROOF_TABLE_ENV = 'PROOF_TABLE';
/** Every key of the proof job starts with this. */
export const PROOF_PREFIX = 'proof#';
/** Items expire after a week (the table's TTL attribute). */
export const PROOF_ITEM_TTL_SECONDS = 7 * 86_400;

/** Key of the plan of one tick (written by the prover, read by the producer). */
export const planKey = (tick: string): string => `${PROOF_PREFIX}plan#${tick}`;
/** Key of a run's fix switch: set, the "fixed" behaviour succeeds. */
export const fixKey = (runId: string): string => `${PROOF_PREFIX}fixed#${runId}`;
/** Key of the call counter of one step of one attempt of one task. */
export const callKey = (taskId: string, attempt: number, step: string): string => `${PROOF_PREFIX}calls#${taskId}#a${attempt}#${step}`;

const expiresAt = (nowMs: number): string => String(Math.floor(nowMs / 1000) + PROOF_ITEM_TTL_SECONDS);

/** Adds one call and returns the count after it (atomic: concurrent retries never share a number). */
export async function countCall(ddb: DynamoDBClient, table: string, key: string, nowMs = Date.now()): Promise<number> {
  const r = await ddb.send(
    new UpdateItemCommand({
      TableName: table,
      Key: { [TABLE_KEY_ATTR]: { S: key } },
      UpdateExpression: 'ADD #n :one SET expiresAt = :exp',
      ExpressionAttributeNames: { '#n': 'n' },
      ExpressionAttributeValues: { ':one': { N: '1' }, ':exp': { N: expiresAt(nowMs) } },
      ReturnValues: 'UPDATED_NEW',
    }),
  );
  return Number(r.Attributes?.n?.N ?? '0');
}

/** Calls counted under `key` (0 when none). */
export async function readCount(ddb: DynamoDBClient, table: string, key: string): Promise<number> {
  const r = await ddb.send(new GetItemCommand({ TableName: table, Key: { [TABLE_KEY_ATTR]: { S: key } }, ConsistentRead: true }));
  return Number(r.Item?.n?.N ?? '0');
}

/** Whether the run's fix switch is set. */
export async function isFixed(ddb: DynamoDBClient, table: string, runId: string): Promise<boolean> {
  const r = await ddb.send(new GetItemCommand({ TableName: table, Key: { [TABLE_KEY_ATTR]: { S: fixKey(runId) } }, ConsistentRead: true }));
  return r.Item !== undefined;
}

/** Sets the run's fix switch (the operator's "fix"). */
export async function setFixed(ddb: DynamoDBClient, table: string, runId: string, nowMs = Date.now()): Promise<void> {
  await ddb.send(new PutItemCommand({ TableName: table, Item: { [TABLE_KEY_ATTR]: { S: fixKey(runId) }, expiresAt: { N: expiresAt(nowMs) } } }));
}

/**
 * Writes a tick's plan, only if no plan of that tick exists (false then: the tick was taken by
 * another run, pick another). The plan stays until it expires: it is what reserves the tick, whose
 * ledger entry the producer keeps.
 */
export async function putPlan(ddb: DynamoDBClient, table: string, tick: string, plan: ReadonlyArray<unknown>, nowMs = Date.now()): Promise<boolean> {
  try {
    await ddb.send(
      new PutItemCommand({
        TableName: table,
        Item: { [TABLE_KEY_ATTR]: { S: planKey(tick) }, plan: { S: JSON.stringify(plan) }, expiresAt: { N: expiresAt(nowMs) } },
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': TABLE_KEY_ATTR },
      }),
    );
    return true;
  } catch (e) {
    if ((e as { name?: string }).name === 'ConditionalCheckFailedException') return false;
    throw e;
  }
}

/** The plan of a tick, or an empty list when the prover wrote none. */
export async function readPlan(ddb: DynamoDBClient, table: string, tick: string): Promise<unknown[]> {
  const r = await ddb.send(new GetItemCommand({ TableName: table, Key: { [TABLE_KEY_ATTR]: { S: planKey(tick) } }, ConsistentRead: true }));
  const text = r.Item?.plan?.S;
  return text ? (JSON.parse(text) as unknown[]) : [];
}
