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
