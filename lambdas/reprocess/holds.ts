import { HoldChecker, HoldReason, HoldSwitchReader, HoldWindow } from '../shared/holds';

/**
 * "Is any dependency of this replay on hold?" for one reprocess run. Reprocess never replays into a
 * held dependency: the replay would fail again at once with DependencyOnHold and spend one of the
 * task's replays (spool.maxReplays), so such messages stay in the spool, counted `held`.
 *
 * Unlike a step, reprocess treats a switch it cannot read as ON: an operator is at the keyboard,
 * a message left in the spool loses nothing, and the summary says why. Answers are kept for
 * `cacheMs` within the run (a drain looks at ~150 messages a second; a planned window is matched
 * minute by minute), and every run reads the switches afresh: `unhold` then replay works at once.
 */

/** Why a replay is held back. */
export interface Held {
  readonly dependency: string;
  /** For the summary: the hold's source, never params. */
  readonly reason: string;
}

/** Options of {@link ReplayHolds}. */
export interface ReplayHoldsOptions {
  readonly readSwitch: HoldSwitchReader;
  readonly windows: Readonly<Record<string, ReadonlyArray<HoldWindow>>>;
  readonly timeZone: string;
  readonly now?: () => number;
  /** How long one answer is reused within the run, ms. @default 5000 */
  readonly cacheMs?: number;
  /** Called when a switch cannot be read (logged by the handler). */
  readonly onReadError?: (dependency: string, error: unknown) => void;
}

export class ReplayHolds {
  private readonly cache = new Map<string, { at: number; answer: Promise<Held | null> }>();
  private readonly checker: HoldChecker;
  private readonly unreadable = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly o: ReplayHoldsOptions) {
    this.now = o.now ?? Date.now;
    this.checker = new HoldChecker({
      readSwitch: o.readSwitch,
      windows: o.windows,
      timeZone: o.timeZone,
      now: () => new Date(this.now()),
      onReadError: (dependency, error) => {
        this.unreadable.add(dependency);
        o.onReadError?.(dependency, error);
      },
    });
  }

  /** The first held dependency among `dependencies`, or null when none is held. */
  async heldBy(dependencies: ReadonlyArray<string>): Promise<Held | null> {
    for (const d of dependencies) {
      const held = await this.check(d);
      if (held) return held;
    }
    return null;
  }

  private check(dependency: string): Promise<Held | null> {
    const now = this.now();
    const hit = this.cache.get(dependency);
    if (hit && now - hit.at < (this.o.cacheMs ?? 5_000)) return hit.answer;
    const answer = this.ask(dependency);
    this.cache.set(dependency, { at: now, answer });
    return answer;
  }

  private async ask(dependency: string): Promise<Held | null> {
    this.unreadable.delete(dependency);
    const r: HoldReason | null = await this.checker.reason(dependency);
    if (r?.source === 'window') {
      return { dependency, reason: `dependency "${dependency}" is in a planned hold window (${r.window.cron}, ${r.window.durationMinutes} min, since ${r.startedAt.toISOString()})` };
    }
    if (r?.source === 'operator') return { dependency, reason: `dependency "${dependency}" is on hold (operator's switch): release it with unhold, then replay` };
    if (this.unreadable.has(dependency)) return { dependency, reason: `the hold switch of dependency "${dependency}" could not be read: left in the spool to be safe` };
    return null;
  }
}
