/**
 * What the fault matrix's "world no kinder than AWS" rows (./aws-world.test.ts) need from the world
 * beyond ./world.ts: a building block switched off (to show which rows depend on it), and the
 * synthesized Retry waits on a simulated clock.
 *
 * - `FAULT_MATRIX_CAPTURE_MARKS=off` ({@link withoutCaptureMarks}): the capture and the reconciler
 *   load a capture-mark module that remembers nothing (every claim succeeds, no mark is ever read),
 *   as if lambdas/execution-capture/marker.ts did not exist;
 * - `FAULT_MATRIX_RECONCILER=off` (./world.ts `RECONCILER_OFF`): the reconciler is not run;
 * - `FAULT_MATRIX_STEP_RECORDS=off` (./world.ts `STEP_RECORDS_OFF`): steps without their records.
 */
import { join, resolve } from 'node:path';

const MARKER = resolve(__dirname, '..', '..', 'lambdas', 'execution-capture', 'marker.ts');

/**
 * Every module registry loaded from now on (each function's container) gets capture marks that
 * remember nothing. jest's explicit mocks are the runtime's, not one registry's: call it before the
 * world loads its functions.
 */
export function withoutCaptureMarks(): void {
  jest.doMock(MARKER, () => {
    const actual = jest.requireActual<typeof import('../../lambdas/execution-capture/marker')>(MARKER);
    class NoMarks {
      async get(): Promise<null> {
        return null;
      }
      async claim(): Promise<{ claimed: true; resumeSent: false }> {
        return { claimed: true, resumeSent: false };
      }
      async markSent(): Promise<void> {}
      async markDone(): Promise<void> {}
    }
    return { ...actual, CaptureMarks: NoMarks };
  });
}

/** The engine's wait before a retry is its `sleep` (aws-local-stepfunctions, Retry with IntervalSeconds, BackoffRate, MaxDelaySeconds, JitterStrategy). */
const ENGINE_SLEEP = new RegExp(`at sleep \\(.*${join('aws-local-stepfunctions', 'build').replace(/[\\/.]/g, '\\$&')}`);

/**
 * Runs `go` (one execution with the engine's own Retry waits: `skipRetryWaits: false`) with those
 * waits on a simulated clock: each wait the engine computes from the synthesized retrier (backoff,
 * cap, full jitter) is reported to `report` (ms) and passes at once. Only the engine's retry sleeps
 * are touched: other timers (the handlers' deadlines, the SDK's) keep their real time.
 */
export async function simulatedRetryWaits<T>(report: (ms: number) => void, go: () => Promise<T>): Promise<T> {
  const real = globalThis.setTimeout;
  const warped = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    if (typeof ms === 'number' && ms > 0 && ENGINE_SLEEP.test(new Error().stack ?? '')) {
      report(ms);
      return real(fn, 0, ...args);
    }
    return real(fn, ms, ...args);
  }) as unknown as typeof setTimeout;
  globalThis.setTimeout = warped;
  try {
    return await go();
  } finally {
    globalThis.setTimeout = real;
  }
}

const NAMES = resolve(__dirname, '..', '..', 'lambdas', 'shared', 'names.ts');

/**
 * `FAULT_MATRIX_DETERMINISTIC_NAMES=off`: every function loaded from now on (the starter's and
 * reprocess's containers among them) names an execution with a random part, so Step Functions no
 * longer refuses a second start of one task and attempt. Call it before the world loads its functions.
 */
export function withRandomExecutionNames(): void {
  jest.doMock(NAMES, () => {
    const actual = jest.requireActual<typeof import('../../lambdas/shared/names')>(NAMES);
    return {
      ...actual,
      executionNameFor: (taskId: string, attempt: number) => {
        const name = actual.executionNameFor(taskId, attempt);
        const tail = `-a${attempt}`;
        return `${name.slice(0, name.length - tail.length).slice(0, 70)}-${Math.random().toString(36).slice(2, 7)}${tail}`;
      },
    };
  });
}

type StepLike = { retry?: Record<string, unknown>; map?: { steps: StepLike[] }; parallel?: StepLike[][] };

/** `FAULT_MATRIX_RETRY_JITTER=off`: the config with `jitter: false` on every step's retry (./aws-world.test.ts). */
export function withoutRetryJitter<C extends { jobs: ReadonlyArray<{ steps: ReadonlyArray<unknown> }> }>(c: C): C {
  const step = (s: StepLike): StepLike => ({
    ...s,
    ...(s.retry ? { retry: { ...s.retry, jitter: false } } : {}),
    ...(s.map ? { map: { ...s.map, steps: s.map.steps.map(step) } } : {}),
    ...(s.parallel ? { parallel: s.parallel.map((b) => b.map(step)) } : {}),
  });
  return { ...c, jobs: c.jobs.map((j) => ({ ...j, steps: (j.steps as StepLike[]).map(step) })) };
}

const LEDGER = resolve(__dirname, '..', '..', 'lambdas', 'shared', 'tick-ledger.ts');

/**
 * `FAULT_MATRIX_TICK_LEDGER=off`: a tick ledger that forgets between deliveries. Each claim of a tick
 * or a batch deletes the item first, so a second delivery of a tick (or of a batch) plans (or starts)
 * it again as new; within one invocation the ledger works as before. Call it before the world loads
 * its functions.
 */
export function withForgetfulTickLedger(): void {
  jest.doMock(LEDGER, () => {
    const actual = jest.requireActual<typeof import('../../lambdas/shared/tick-ledger')>(LEDGER);
    const { DeleteItemCommand } = jest.requireActual<typeof import('@aws-sdk/client-dynamodb')>('@aws-sdk/client-dynamodb');
    type Inner = { ddb: import('@aws-sdk/client-dynamodb').DynamoDBClient; tableName: string };
    class Forgetful extends actual.TickLedger {
      private async forget(key: string): Promise<void> {
        const self = this as unknown as Inner;
        await self.ddb.send(new DeleteItemCommand({ TableName: self.tableName, Key: { pk: { S: key } } }));
      }
      override async claimTick(key: string, owner: string, leaseUntilMs: number) {
        await this.forget(key);
        return super.claimTick(key, owner, leaseUntilMs);
      }
      override async claimBatch(key: string, owner: string, leaseUntilMs: number, total: number) {
        await this.forget(key);
        return super.claimBatch(key, owner, leaseUntilMs, total);
      }
    }
    return { ...actual, TickLedger: Forgetful };
  });
}
