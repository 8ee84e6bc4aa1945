/**
 * How the tick starters are sized from the account's StartExecution quota (config
 * `startExecutionQuota`; Step Functions "Service quotas": a token bucket per account and region,
 * 800 burst / 150 per second in most regions, 1,300 / 300 in us-east-1, us-west-2 and eu-west-1,
 * raisable). One function of the quota, used by the CDK construct (event source concurrency,
 * environment), by the producer (tasks per batch message) and by the benchmark (the floor), so
 * raising the quota in the config re-sizes everything at the next deploy.
 *
 * Pacing itself is not planned here: it adapts to throttling (lambdas/shared/rate-gate.ts), because
 * the bucket is shared with every other starter of the account and its level cannot be read.
 */

/** The StartExecution token bucket. */
export interface StartQuota {
  readonly burst: number;
  readonly refillPerSecond: number;
}

/** The starters' sizing. */
export interface StartPlan {
  /**
   * Concurrent starter invocations (the SQS event source's maximum concurrency, 2-1000 per the
   * Lambda API's ScalingConfig). Each one paces itself; together they fill the bucket.
   */
  readonly starterConcurrency: number;
  /** StartExecution calls one starter keeps in flight (enough to reach its share at ~100 ms per call). */
  readonly inFlightPerStarter: number;
  /** Tasks in one tick-queue message: about {@link BATCH_TARGET_SECONDS} of one starter's share of the refill. */
  readonly tasksPerBatch: number;
  /** The starter function's timeout, seconds. */
  readonly starterTimeoutSeconds: number;
  /**
   * Each starter's share of the refill rate, calls/s: its pace right after the first throttle (the
   * gate's `hintRate`), until its own measurement replaces it. Spares the blind pause that would
   * waste a second of tokens at the start of every tick.
   */
  readonly paceHintPerStarter: number;
}

/** The default quota (most regions). */
export const DEFAULT_START_QUOTA: StartQuota = { burst: 800, refillPerSecond: 150 };

/** A starter's batch is sized to take this long at its share of the refill rate. */
export const BATCH_TARGET_SECONDS = 30;

/**
 * Starter timeout: a batch takes ~30 s at its fair share, so an invocation that is slowed to a
 * quarter of it (other starters of the account busy) still finishes; slower than that, it stops
 * before its deadline and hands the rest of its batch on.
 */
export const STARTER_TIMEOUT_SECONDS = 120;

const clamp = (n: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, n));

/** The sizing for `quota`. */
export function startPlan(quota: StartQuota = DEFAULT_START_QUOTA): StartPlan {
  // One starter with ~15 calls in flight reaches ~150/s at 100 ms per call; more starters only
  // above that, and at least 2 (the event source's minimum maximum concurrency).
  const starterConcurrency = clamp(Math.ceil(quota.refillPerSecond / 100), 2, 50);
  const share = quota.refillPerSecond / starterConcurrency;
  return {
    starterConcurrency,
    inFlightPerStarter: clamp(Math.ceil(share * 0.2), 4, 32),
    tasksPerBatch: clamp(Math.round(share * BATCH_TARGET_SECONDS), 100, 10_000),
    starterTimeoutSeconds: STARTER_TIMEOUT_SECONDS,
    paceHintPerStarter: Math.max(1, Math.floor(share)),
  };
}

/**
 * Shortest time the bucket allows for `tasks` starts from a full bucket, seconds: the burst is
 * free, the rest comes at the refill rate. The benchmark reports its wall time against this.
 */
export function bucketFloorSeconds(tasks: number, quota: StartQuota = DEFAULT_START_QUOTA): number {
  return Math.max(0, tasks - quota.burst) / quota.refillPerSecond;
}
