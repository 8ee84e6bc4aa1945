/**
 * The simulated clock of the offline run: compressed time that jumps from tick to tick and, within
 * a tick, moves at wall-clock speed (so records of one tick keep their order and millisecond
 * spread).
 *
 * `install()` makes `Date` in this process read the simulated clock, so the REAL handler code
 * (record times, the producer's "now") writes the simulated day without any "local" branch in
 * production code. Only argument-less `new Date()` and `Date.now()` change; timers, `Date.parse`
 * and dates built from values behave as usual. `uninstall()` restores the real `Date`.
 */
export class SimClock {
  private base: number;
  private wallAtBase: number;
  private readonly RealDate: DateConstructor = Date;
  private installed = false;

  constructor(start: Date) {
    this.base = start.getTime();
    this.wallAtBase = this.RealDate.now();
  }

  /** Simulated epoch milliseconds. */
  nowMs(): number {
    return this.base + (this.RealDate.now() - this.wallAtBase);
  }

  /** Simulated time as a real Date. */
  now(): Date {
    return new this.RealDate(this.nowMs());
  }

  /** Jumps to `t` (never backwards: the clock of a run is monotonic). */
  set(t: Date): void {
    const ms = Math.max(t.getTime(), this.nowMs());
    this.base = ms;
    this.wallAtBase = this.RealDate.now();
  }

  /** Points the global `Date` at this clock (idempotent). */
  install(): void {
    if (this.installed) return;
    const RealDate = this.RealDate;
    const clock = this;
    // A subclass keeps instanceof, static methods (UTC, parse) and the prototype working.
    class SimulatedDate extends RealDate {
      constructor(...args: unknown[]) {
        if (args.length === 0) super(clock.nowMs());
        else super(...(args as [string | number | Date]));
      }
      static now(): number {
        return clock.nowMs();
      }
    }
    globalThis.Date = SimulatedDate as DateConstructor;
    this.installed = true;
  }

  /** Restores the real `Date`. */
  uninstall(): void {
    if (!this.installed) return;
    globalThis.Date = this.RealDate;
    this.installed = false;
  }
}

/** An action due at a simulated instant. */
interface TimedAction {
  readonly at: number;
  readonly seq: number;
  readonly label: string;
  readonly run: () => Promise<void>;
}

/**
 * What happens between ticks in simulated time: Lambda's asynchronous retries (a minute, then two),
 * the fix deployed after a producer broke, and the like. The run calls `runDue(t)` before each tick:
 * every action due by `t` runs in time order (ties in the order they were added), with the clock set
 * to its instant first. An action may add more; they run in the same call if due.
 */
export class Timeline {
  private readonly actions: TimedAction[] = [];
  private seq = 0;

  constructor(private readonly clock: SimClock) {}

  /** Adds `run` at `at` (simulated). */
  at(at: Date, label: string, run: () => Promise<void>): void {
    this.actions.push({ at: at.getTime(), seq: this.seq++, label, run });
    this.actions.sort((a, b) => a.at - b.at || a.seq - b.seq);
  }

  /** Runs every action due by `until`, in time order. */
  async runDue(until: Date): Promise<void> {
    while (this.actions.length > 0 && this.actions[0].at <= until.getTime()) {
      const next = this.actions.shift()!;
      this.clock.set(new Date(next.at));
      await next.run();
    }
  }

  /** Labels of the actions not yet run (the report names them: nothing should be left). */
  pending(): string[] {
    return this.actions.map((a) => a.label);
  }
}
