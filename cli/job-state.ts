import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { TABLE_KEY_ATTR } from '../lambdas/shared/holds';
import { PAUSE_BY_ATTR, PAUSE_REASON_ATTR, PAUSE_SINCE_ATTR, PAUSE_VALUE_ATTR, pauseKey, PauseSwitch, readPause } from '../lambdas/shared/pauses';
import { tickStamp } from '../lambdas/shared/names';
import { tickLedgerKey } from '../lambdas/shared/tick-batch';
import { TickItem, TickLedger } from '../lambdas/shared/tick-ledger';
import { explain } from './errors';

/**
 * A job's state in the coordination table as the operator commands read and write it: the pause
 * switch (`pause#<job>`, read by the producer at each tick) and the tick ledger (`tick#<job>#<tick>`,
 * written by the producer). The CLI writes only the pause item; the ledger is read-only here.
 */

/** Reads a job's pause switch (strongly consistent). */
export async function getPause(ddb: DynamoDBClient, table: string, job: string): Promise<PauseSwitch> {
  try {
    return await readPause(ddb, table, job);
  } catch (e) {
    throw explain(e, `read the pause of ${job} (dynamodb:GetItem on the coordination table, key pause#${job})`);
  }
}

/** Sets the pause on or off, recording who, when and why (the producer reads only `value`). */
export async function putPause(ddb: DynamoDBClient, table: string, job: string, paused: boolean, meta: { by: string; reason: string | null; now: Date }): Promise<PauseSwitch> {
  const item: Record<string, { S: string }> = {
    [TABLE_KEY_ATTR]: { S: pauseKey(job) },
    [PAUSE_VALUE_ATTR]: { S: paused ? 'on' : 'off' },
    [PAUSE_BY_ATTR]: { S: meta.by },
    [PAUSE_SINCE_ATTR]: { S: meta.now.toISOString() },
  };
  if (meta.reason) item[PAUSE_REASON_ATTR] = { S: meta.reason };
  try {
    await ddb.send(new PutItemCommand({ TableName: table, Item: item }));
  } catch (e) {
    throw explain(e, `${paused ? 'pause' : 'resume'} ${job} (dynamodb:PutItem on the coordination table, key pause#${job})`);
  }
  return { paused, by: meta.by, since: meta.now.toISOString(), reason: meta.reason };
}

/** A tick and what the ledger says of it (null: no item, i.e. never run, or expired after 35 days). */
export interface TickState {
  readonly tick: string;
  readonly scheduledTime: string;
  readonly ledger: TickItem | null;
}

/** The ledger item of each tick, in order (one strongly consistent GetItem each). */
export async function tickStates(ddb: DynamoDBClient, table: string, job: string, ticks: ReadonlyArray<Date>): Promise<TickState[]> {
  const ledger = new TickLedger(ddb, table);
  const out: TickState[] = [];
  for (const t of ticks) {
    const stamp = tickStamp(t);
    try {
      out.push({ tick: stamp, scheduledTime: t.toISOString(), ledger: await ledger.getTick(tickLedgerKey(job, stamp)) });
    } catch (e) {
      throw explain(e, `read the tick ledger of ${job} (dynamodb:GetItem on the coordination table, key tick#${job}#${stamp})`);
    }
  }
  return out;
}

/** One word for a tick's ledger state: `planned`, `planning`, `paused`, or `none` (no item). */
export function tickOutcome(item: TickItem | null): string {
  if (!item) return 'none';
  if (item.state === 'planned') return `planned (${item.tasks} tasks${item.rejected ? `, ${item.rejected} rejected` : ''}, batches ${item.batchesDone}/${item.batches} started)`;
  if (item.state === 'paused') return 'paused (skipped)';
  return `planning (${item.enqueued}/${item.batches} batches queued)`;
}
