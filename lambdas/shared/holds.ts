import { DynamoDBProvider } from '@aws-lambda-powertools/parameters/dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { cronMatches, parseSchedule } from './schedule';

/**
 * Dependency holds: an operator's switch per dependency (an item of the coordination table, set by
 * `scheduled-jobs hold <dependency>` or in the DynamoDB console) and the planned windows of the
 * config. Read by the step wrapper before a step calls its dependency, and by reprocess before it
 * replays into one. Reads are cached for a few seconds (Powertools Parameters), so a hold costs one
 * GetItem per container every `maxAgeSeconds`, not one per invocation.
 */

/** Partition key of a dependency's hold item: `hold#<dependency>`. */
export function holdKey(dependency: string): string {
  return `hold#${dependency}`;
}

/** Attribute holding the switch: the string `on` means held; anything else (or no item) means not held. */
export const HOLD_VALUE_ATTR = 'value';
/** Key attribute of the coordination table. */
export const TABLE_KEY_ATTR = 'pk';

/** A planned window: starts when `cron` fires (app time zone), lasts `durationMinutes`. */
export interface HoldWindow {
  readonly cron: string;
  readonly durationMinutes: number;
}

/** Why a dependency is held now, or null. */
export type HoldReason = { readonly source: 'operator' } | { readonly source: 'window'; readonly window: HoldWindow; readonly startedAt: Date };

/**
 * The planned window `at` falls in, if any: a window that started (cron fired) at most
 * `durationMinutes` before `at`. Minute resolution, as Scheduler's cron.
 */
export function activeWindow(windows: ReadonlyArray<HoldWindow>, at: Date, timeZone: string): { window: HoldWindow; startedAt: Date } | null {
  const minute = Math.floor(at.getTime() / 60_000) * 60_000;
  for (const w of windows) {
    const s = parseSchedule(w.cron);
    if (s.kind !== 'cron') continue;
    for (let back = 0; back < w.durationMinutes; back++) {
      const t = new Date(minute - back * 60_000);
      if (cronMatches(s.fields, t, timeZone)) return { window: w, startedAt: t };
    }
  }
  return null;
}

/** Reads one item's switch; injected so tests and the offline run use a real DynamoDB engine or a fake. */
export type HoldSwitchReader = (dependency: string) => Promise<boolean>;

/**
 * The switch read through Powertools' DynamoDBProvider with `maxAge` caching. Only "not held" is
 * answered from the cache: a cached "held" is read again before it refuses a step, so `unhold`
 * reaches every container at once (a replay started right after it must not be spooled again as
 * held). A new hold still takes up to `maxAgeSeconds` to reach a container that read "not held".
 */
export function dynamoHoldSwitch(tableName: string, maxAgeSeconds = 5, provider?: DynamoDBProvider, client?: DynamoDBClient): HoldSwitchReader {
  const p = provider ?? new DynamoDBProvider({ tableName, keyAttr: TABLE_KEY_ATTR, valueAttr: HOLD_VALUE_ATTR, ...(client ? { awsSdkV3Client: client } : {}) });
  // Powertools does not cache a missing item, and a dependency never held has no item: without this,
  // every step call would read the table. "Not held" is remembered here for maxAgeSeconds.
  const notHeldUntil = new Map<string, number>();
  return async (dependency) => {
    if ((notHeldUntil.get(dependency) ?? 0) > Date.now()) return false;
    if ((await p.get(holdKey(dependency), { maxAge: maxAgeSeconds })) !== 'on') {
      notHeldUntil.set(dependency, Date.now() + maxAgeSeconds * 1000);
      return false;
    }
    // Held (perhaps from the cache): confirm with a fresh read; a held call is refused anyway, so one more read is cheap.
    const held = (await p.get(holdKey(dependency), { maxAge: maxAgeSeconds, forceFetch: true })) === 'on';
    if (!held) notHeldUntil.set(dependency, Date.now() + maxAgeSeconds * 1000);
    return held;
  };
}

/** Options of {@link HoldChecker}. */
export interface HoldCheckerOptions {
  readonly readSwitch: HoldSwitchReader;
  /** Planned windows by dependency. */
  readonly windows: Readonly<Record<string, ReadonlyArray<HoldWindow>>>;
  readonly timeZone: string;
  readonly now?: () => Date;
  /** Called when the switch cannot be read; the check then treats it as off (see below). */
  readonly onReadError?: (dependency: string, error: unknown) => void;
}

/**
 * Answers "is this dependency on hold now?". A switch that cannot be read counts as off: a hold
 * only avoids harmful calls, and failing every task because the coordination table blinked would
 * be worse; the error is reported through `onReadError` (logged by the callers).
 */
export class HoldChecker {
  constructor(private readonly o: HoldCheckerOptions) {}

  async reason(dependency: string): Promise<HoldReason | null> {
    const at = (this.o.now ?? (() => new Date()))();
    const w = activeWindow(this.o.windows[dependency] ?? [], at, this.o.timeZone);
    if (w) return { source: 'window', window: w.window, startedAt: w.startedAt };
    try {
      if (await this.o.readSwitch(dependency)) return { source: 'operator' };
    } catch (e) {
      this.o.onReadError?.(dependency, e);
    }
    return null;
  }

  async isHeld(dependency: string): Promise<boolean> {
    return (await this.reason(dependency)) !== null;
  }
}
