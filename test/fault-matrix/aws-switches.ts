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
