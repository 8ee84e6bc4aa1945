/**
 * What the fault matrix's "world no kinder than AWS" rows (./aws-world.test.ts) need from the world
 * beyond ./world.ts: a building block switched off (to show which rows depend on it), and the
 * synthesized Retry waits on a simulated clock.
 *
 * - `FAULT_MATRIX_CAPTURE_MARKS=off` ({@link withoutCaptureMarks}): the capture and the reconciler
 *   load a capture-mark module that remembers nothing (every claim succeeds, no mark is ever read),
 *   as if lambdas/execution-capture/marker.ts did not exist;
 * - `FAULT_MATRIX_RECONCILER=off` (./world.ts `RECONCILER_OFF`): the reconciler is not run;
 * - `FAULT_MATRIX_STEP_RECORDS=off` (./world.ts `STEP_RECORDS_OFF`): steps without their records;
 * - `FAULT_MATRIX_DETERMINISTIC_NAMES=off` ({@link withRandomExecutionNames}), `FAULT_MATRIX_TICK_LEDGER=off`
 *   ({@link withForgetfulTickLedger}), `FAULT_MATRIX_LEDGER_LEASES=off` ({@link withoutLedgerLeases}),
 *   `FAULT_MATRIX_RETRY_JITTER=off` ({@link withoutRetryJitter}).
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

type LedgerModule = typeof import('../../lambdas/shared/tick-ledger');
type LedgerClass = LedgerModule['TickLedger'];
/** The ledger's switches in force: both replace the one module, so one mock applies them together. */
const ledgerEdits = new Set<'forgetful' | 'leaseless'>();

/** (Re)registers the tick-ledger mock with every edit switched on so far. */
function mockLedger(): void {
  const edits = new Set(ledgerEdits);
  jest.doMock(LEDGER, () => {
    const actual = jest.requireActual<LedgerModule>(LEDGER);
    let Ledger: LedgerClass = actual.TickLedger;
    if (edits.has('leaseless')) Ledger = leaseless(Ledger);
    if (edits.has('forgetful')) Ledger = forgetful(Ledger);
    return { ...actual, TickLedger: Ledger };
  });
}

type Inner = { ddb: import('@aws-sdk/client-dynamodb').DynamoDBClient; tableName: string; now: () => number };

function forgetful(Base: LedgerClass): LedgerClass {
  const { DeleteItemCommand } = jest.requireActual<typeof import('@aws-sdk/client-dynamodb')>('@aws-sdk/client-dynamodb');
  return class Forgetful extends Base {
    /** Deletes the item unless another invocation holds a live lease on it (that is a concurrent delivery, not a later one). */
    private async forget(key: string, owner: string): Promise<void> {
      const self = this as unknown as Inner;
      try {
        await self.ddb.send(
          new DeleteItemCommand({
            TableName: self.tableName,
            Key: { pk: { S: key } },
            ConditionExpression: 'attribute_not_exists(leaseUntilMs) OR leaseUntilMs < :now OR #owner = :me',
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: { ':now': { N: String(self.now()) }, ':me': { S: owner } },
          }),
        );
      } catch (e) {
        // Each container loads its own SDK: the error is known by its name.
        if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
      }
    }
    override async claimTick(key: string, owner: string, leaseUntilMs: number) {
      await this.forget(key, owner);
      return super.claimTick(key, owner, leaseUntilMs);
    }
    override async claimBatch(key: string, owner: string, leaseUntilMs: number, total: number) {
      await this.forget(key, owner);
      return super.claimBatch(key, owner, leaseUntilMs, total);
    }
  };
}

/** A live lease, as the ledger's conditions test it (lambdas/shared/tick-ledger.ts). */
const LEASE_HOLDS_OFF = '(attribute_not_exists(leaseUntilMs) OR leaseUntilMs < :now OR #owner = :me)';

function leaseless(Base: LedgerClass): LedgerClass {
  type Update = (key: string, input: { update: string; condition?: string; values?: Record<string, unknown>; names?: Record<string, string> }) => Promise<unknown>;
  const update = (Base.prototype as unknown as { update: Update }).update;
  class Leaseless extends Base {}
  // The ledger's one write path: its conditions without the lease (a claim's "no live lease of
  // another owner" and every write's "still the owner"); what is done or planned still counts.
  (Leaseless.prototype as unknown as { update: Update }).update = function (this: unknown, key, input) {
    if (!input.condition) return update.call(this, key, input);
    const condition = input.condition.split(LEASE_HOLDS_OFF).join('attribute_exists(pk)').replace(/#owner = :me/g, 'attribute_exists(pk)');
    // A ledger whose conditions are worded otherwise would keep its leases and the switch would prove nothing.
    if (/leaseUntilMs|#owner/.test(condition)) throw new Error(`FAULT_MATRIX_LEDGER_LEASES=off cannot remove the lease from the condition "${input.condition}": update aws-switches.ts to the ledger's wording`);
    const used = `${input.update} ${condition}`;
    const values = input.values && Object.fromEntries(Object.entries(input.values).filter(([k]) => new RegExp(`${k}\\b`).test(used)));
    return update.call(this, key, { ...input, condition, values });
  };
  return Leaseless;
}

/**
 * `FAULT_MATRIX_TICK_LEDGER=off`: a tick ledger that forgets between deliveries. Each claim of a tick
 * or a batch first deletes the item unless another invocation holds a live lease on it, so a later
 * delivery of a tick (or of a batch) plans (or starts) it again as new; a delivery while another
 * invocation holds it still meets that lease (switched off by {@link withoutLedgerLeases}). Call it
 * before the world loads its functions.
 */
export function withForgetfulTickLedger(): void {
  ledgerEdits.add('forgetful');
  mockLedger();
}

/**
 * `FAULT_MATRIX_LEDGER_LEASES=off`: a tick ledger whose leases hold nobody off. A claim of a tick or
 * a batch that another live invocation holds succeeds as well (a planned tick and a done batch are
 * still refused), and an invocation's later writes are not checked against the lease, so two
 * deliveries at once both plan (or both start). Call it before the world loads its functions.
 */
export function withoutLedgerLeases(): void {
  ledgerEdits.add('leaseless');
  mockLedger();
}
