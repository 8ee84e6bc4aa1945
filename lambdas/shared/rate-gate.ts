/**
 * Client-side pacing of StartExecution against Step Functions' token bucket (default 800 burst,
 * 150/s refill; more in big regions; one bucket per account and region, shared by everything that
 * starts executions there), whose level this code cannot read. The ONE pacing of the app: the
 * tick starters (lambdas/starter) and reprocess (lambdas/reprocess) both use it, through
 * lambdas/shared/start-execution.ts. Hammering a drained bucket costs one throttled API call per
 * attempt, so instead:
 *
 * - Until the first throttle, no pacing: the burst is spent as fast as concurrency allows.
 * - On a throttle everyone pauses (one event, however many in-flight calls bounce). The bucket is
 *   empty at every throttle, so the successes between two throttles, divided by the time between
 *   them, ARE the refill rate: that measurement (x `headroom`) becomes the pace.
 * - The pace then creeps up (`increasePerSecond`) until the next throttle re-measures it, so a
 *   larger quota (or producers going quiet) is found again.
 *
 * The measurement assumes the bucket holds at least `pauseMs` of refill (AWS: 800 burst vs 150/s);
 * a smaller bucket caps what refills during the pause and the first estimate comes out low (the
 * pace then climbs back at `increasePerSecond`).
 *
 * Several callers with their own gates (two starters in two Lambda containers) each measure their
 * own share between throttles; together they still track the bucket (see docs/big-ticks.md).
 *
 * Measured by `npm run bench:reprocess` (150/s refill, 20 ms latency): a throttle event every
 * ~2.3 s costing 1-2 calls (~0.2% extra calls) and ~100% of the refill rate after the burst; by
 * `npm run bench:producer` for two starters sharing the bucket.
 */
export interface RateGateOptions {
  /** Pause after a throttle while the rate is still unknown, ms. @default 1000 */
  readonly pauseMs?: number;
  /**
   * A starting pace, calls/s, for the first throttle: instead of the blind `pauseMs`, the caller
   * paces at this right away (e.g. its share of the configured quota's refill rate), until the next
   * throttle measures the real rate. @default none (the blind pause)
   */
  readonly hintRate?: number;
  /** Fraction of the measured refill rate to pace at. @default 0.95 */
  readonly headroom?: number;
  /** Relative increase of the pace per second without throttles. @default 0.05 */
  readonly increasePerSecond?: number;
  /** Shortest window that gives a trustworthy rate measurement, ms. @default 1000 */
  readonly minWindowMs?: number;
  /** Throttles this soon after the last one are the same event (calls that were in flight), ms. @default 250 */
  readonly sameEventMs?: number;
  /** Unused pacing slots that may still be taken late, ms of backlog. @default 250 */
  readonly catchUpMs?: number;
  /** Clock (tests). @default Date.now */
  readonly now?: () => number;
  /** Sleep (tests). @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

export const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class AdaptiveRateGate {
  private rate: number | null = null;
  private nextSlotMs = 0;
  private pausedUntilMs = 0;
  private windowStartMs: number | null = null;
  private successesInWindow = 0;
  private lastIncreaseMs = 0;
  private throttles = 0;
  private lastThrottleMs = -Infinity;
  private readonly o: Required<RateGateOptions>;

  constructor(options: RateGateOptions = {}) {
    this.o = {
      pauseMs: 1000,
      hintRate: 0,
      headroom: 0.95,
      increasePerSecond: 0.05,
      sameEventMs: 250,
      minWindowMs: 1000,
      catchUpMs: 250,
      now: Date.now,
      sleep: realSleep,
      ...options,
    };
  }

  /** Current pace in calls/s, or null while unpaced. */
  get currentRate(): number | null {
    return this.rate;
  }

  /** Throttle events seen (calls that bounced while already paused are not counted twice). */
  get throttleEvents(): number {
    return this.throttles;
  }

  /**
   * Waits for this caller's slot. Returns false, without waiting, when the slot would come at or
   * after `deadlineMs`: the caller gives up cleanly instead of overrunning the Lambda.
   */
  async acquire(deadlineMs: number): Promise<boolean> {
    const now = this.o.now();
    // Paced: slots nobody took (callers busy receiving or deleting) are tokens still in the
    // server's bucket, so a short backlog of them (`catchUpMs`) is used late instead of lost.
    const slot =
      this.rate === null ? Math.max(now, this.pausedUntilMs) : Math.max(this.nextSlotMs, now - this.o.catchUpMs, this.pausedUntilMs);
    if (slot >= deadlineMs) return false;
    if (this.rate !== null) this.nextSlotMs = slot + 1000 / this.rate;
    if (slot > now) await this.o.sleep(slot - now);
    return true;
  }

  /** A call went through (it used a token). */
  onSuccess(): void {
    this.successesInWindow++;
    if (this.rate === null) return;
    const now = this.o.now();
    const dt = (now - this.lastIncreaseMs) / 1000;
    if (dt >= 0.1) {
      this.rate *= 1 + this.o.increasePerSecond * dt;
      this.lastIncreaseMs = now;
    }
  }

  /** A call was throttled: the server's bucket is empty now. */
  onThrottle(): void {
    const now = this.o.now();
    // Calls already in flight when the bucket ran dry bounce too: one event, not several.
    if (now < this.pausedUntilMs || now - this.lastThrottleMs < this.o.sameEventMs) return;
    this.lastThrottleMs = now;
    this.throttles++;
    if (this.windowStartMs !== null && now - this.windowStartMs >= this.o.minWindowMs) {
      const measured = (this.successesInWindow * 1000) / (now - this.windowStartMs);
      this.rate = Math.max(1, measured * this.o.headroom);
      this.windowStartMs = now;
      this.successesInWindow = 0;
    } else if (this.windowStartMs === null) {
      this.windowStartMs = now;
      this.successesInWindow = 0;
      if (this.o.hintRate > 0) this.rate = this.o.hintRate;
    } else if (this.rate !== null) {
      // A second throttle too soon to measure: back off multiplicatively, keep the window.
      this.rate = Math.max(1, this.rate * 0.8);
    }
    this.lastIncreaseMs = now;
    const pause = this.rate === null ? this.o.pauseMs : Math.max(1000 / this.rate, 20);
    this.pausedUntilMs = now + pause;
    this.nextSlotMs = this.pausedUntilMs;
  }
}

/** A counting semaphore: bounds the starts in flight. */
export class Semaphore {
  private free: number;
  private readonly waiters: Array<() => void> = [];
  constructor(size: number) {
    this.free = size;
  }
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiters.push(r));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}
