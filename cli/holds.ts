import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { HOLD_VALUE_ATTR, HoldChecker, holdKey, TABLE_KEY_ATTR } from '../lambdas/shared/holds';
import { parseSchedule, scheduleTicks } from '../lambdas/shared/schedule';
import { ResolvedDependency } from '../lib/config/types';
import { explain, UsageError } from './errors';

/** Attributes the CLI writes beside `value` on a hold item (who, why, since when). */
export const HOLD_REASON_ATTR = 'reason';
export const HOLD_BY_ATTR = 'by';
export const HOLD_SINCE_ATTR = 'since';

/** The operator's switch of one dependency as stored. */
export interface HoldSwitch {
  readonly on: boolean;
  readonly reason: string | null;
  readonly by: string | null;
  readonly since: string | null;
}

/** A dependency's hold state now: the switch, the planned window it is in, the next window. */
export interface HoldState {
  readonly dependency: string;
  /** What HoldChecker answers (window first, then the switch): `window`, `operator`, or null (not held). */
  readonly heldBy: 'window' | 'operator' | null;
  readonly switch: HoldSwitch;
  /** The planned window now in force: its start and end. */
  readonly window: { readonly startedAt: string; readonly endsAt: string; readonly cron: string } | null;
  /** Start of the next planned window within 8 days, if any. */
  readonly nextWindow: { readonly startsAt: string; readonly durationMinutes: number } | null;
}

/** The dependency named on the command line, or a UsageError listing the declared ones. */
export function dependencyNamed(dependencies: ReadonlyArray<ResolvedDependency>, name: string): ResolvedDependency {
  if (dependencies.length === 0) {
    throw new UsageError('This app declares no dependencies, so there is nothing to hold', 'Declare one in bin/config.ts (dependencies) and name it in a step\'s dependsOn.');
  }
  const d = dependencies.find((x) => x.name === name);
  if (!d) throw new UsageError(`Unknown dependency "${name}"`, `Dependencies in bin/config.ts: ${dependencies.map((x) => x.name).join(', ')}.`);
  return d;
}

/** Reads one switch (strongly consistent: an operator who just set it must see it). */
export async function readSwitch(ddb: DynamoDBClient, table: string, dependency: string): Promise<HoldSwitch> {
  try {
    const r = await ddb.send(new GetItemCommand({ TableName: table, Key: { [TABLE_KEY_ATTR]: { S: holdKey(dependency) } }, ConsistentRead: true }));
    const s = (k: string) => r.Item?.[k]?.S ?? null;
    return { on: s(HOLD_VALUE_ATTR) === 'on', reason: s(HOLD_REASON_ATTR), by: s(HOLD_BY_ATTR), since: s(HOLD_SINCE_ATTR) };
  } catch (e) {
    throw explain(e, `read the hold of ${dependency} (dynamodb:GetItem on the coordination table)`);
  }
}

/** Sets the switch `on` or off, recording who, why and when (the steps read only `value`). */
export async function writeSwitch(ddb: DynamoDBClient, table: string, dependency: string, on: boolean, meta: { by: string; reason: string | null; now: Date }): Promise<HoldSwitch> {
  const item: Record<string, { S: string }> = {
    [TABLE_KEY_ATTR]: { S: holdKey(dependency) },
    [HOLD_VALUE_ATTR]: { S: on ? 'on' : 'off' },
    [HOLD_BY_ATTR]: { S: meta.by },
    [HOLD_SINCE_ATTR]: { S: meta.now.toISOString() },
  };
  if (meta.reason) item[HOLD_REASON_ATTR] = { S: meta.reason };
  try {
    await ddb.send(new PutItemCommand({ TableName: table, Item: item }));
  } catch (e) {
    throw explain(e, `${on ? 'set' : 'release'} the hold of ${dependency} (dynamodb:PutItem on the coordination table)`);
  }
  return { on, reason: meta.reason, by: meta.by, since: meta.now.toISOString() };
}

/** The next planned window of `dep` after `now` (searched 8 days ahead: windows are at most weekly by nature). */
function nextWindow(dep: ResolvedDependency, now: Date, timeZone: string): HoldState['nextWindow'] {
  let best: HoldState['nextWindow'] = null;
  for (const w of dep.windows) {
    const s = parseSchedule(w.cron);
    const t = scheduleTicks(s, timeZone, new Date(now.getTime() + 60_000), new Date(now.getTime() + 8 * 86_400_000))[0];
    if (t && (!best || t.toISOString() < best.startsAt)) best = { startsAt: t.toISOString(), durationMinutes: w.durationMinutes };
  }
  return best;
}

/** Hold state of each dependency, as the steps and reprocess see it (the shared HoldChecker decides). */
export async function holdStates(
  ddb: DynamoDBClient,
  table: string,
  dependencies: ReadonlyArray<ResolvedDependency>,
  timeZone: string,
  now: Date,
): Promise<HoldState[]> {
  const switches = new Map<string, HoldSwitch>();
  for (const d of dependencies) switches.set(d.name, await readSwitch(ddb, table, d.name));
  const checker = new HoldChecker({
    readSwitch: async (dep) => switches.get(dep)?.on ?? false,
    windows: Object.fromEntries(dependencies.map((d) => [d.name, d.windows])),
    timeZone,
    now: () => now,
  });
  const states: HoldState[] = [];
  for (const d of dependencies) {
    const reason = await checker.reason(d.name);
    states.push({
      dependency: d.name,
      heldBy: reason?.source ?? null,
      switch: switches.get(d.name) as HoldSwitch,
      window:
        reason?.source === 'window'
          ? { startedAt: reason.startedAt.toISOString(), endsAt: new Date(reason.startedAt.getTime() + reason.window.durationMinutes * 60_000).toISOString(), cron: reason.window.cron }
          : null,
      nextWindow: nextWindow(d, now, timeZone),
    });
  }
  return states;
}
