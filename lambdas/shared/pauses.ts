import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';

/**
 * Job pauses: an operator's switch per job (`scheduled-jobs pause <job>`), an item of the
 * coordination table beside the hold switches. The producer reads it at each tick and, while it is
 * on, records the tick as `paused` in the tick ledger and plans nothing. The EventBridge schedule
 * itself is left alone: its `State` belongs to CloudFormation, and changing it by hand would be
 * drift that the next deploy silently reverts (AWS CloudFormation user guide, "Detect unmanaged
 * configuration changes"). A paused tick is skipped, not queued: `scheduled-jobs backfill` runs
 * the skipped ticks after `resume` if they are still wanted (docs/operator-cli.md, "pause").
 */

/** Partition key of a job's pause item: `pause#<job>`. */
export function pauseKey(job: string): string {
  return `pause#${job}`;
}

/** Key attribute of the coordination table (as holds.ts TABLE_KEY_ATTR; not imported, so lib/ can use pauseKey without Powertools). */
const TABLE_KEY_ATTR = 'pk';
/** Same attribute as the hold switch (holds.ts HOLD_VALUE_ATTR): the string `on` means paused. */
export const PAUSE_VALUE_ATTR = 'value';
/** Who paused (the CLI writes the caller's ARN), since when (ISO-8601), why. */
export const PAUSE_BY_ATTR = 'by';
export const PAUSE_SINCE_ATTR = 'since';
export const PAUSE_REASON_ATTR = 'reason';

/** A job's pause switch as stored. */
export interface PauseSwitch {
  readonly paused: boolean;
  readonly by: string | null;
  readonly since: string | null;
  readonly reason: string | null;
}

/**
 * Reads a job's pause switch: one strongly consistent GetItem (a pause set a second before the tick
 * holds). A tick is at most once a minute per job, so this costs at most one read a minute.
 */
export async function readPause(ddb: DynamoDBClient, tableName: string, job: string): Promise<PauseSwitch> {
  const r = await ddb.send(new GetItemCommand({ TableName: tableName, Key: { [TABLE_KEY_ATTR]: { S: pauseKey(job) } }, ConsistentRead: true }));
  const s = (k: string) => r.Item?.[k]?.S ?? null;
  return { paused: s(PAUSE_VALUE_ATTR) === 'on', by: s(PAUSE_BY_ATTR), since: s(PAUSE_SINCE_ATTR), reason: s(PAUSE_REASON_ATTR) };
}
