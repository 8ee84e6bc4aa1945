import { TaskEnvelope } from '../lambdas/shared/envelope';
import { MAX_ENVELOPE_BYTES } from '../lambdas/shared/limits';
import { bucketFloorSeconds, DEFAULT_START_QUOTA, startPlan } from '../lambdas/shared/start-plan';
import { batchLedgerKey, InvalidTickMessageError, MAX_TICK_MESSAGE_BYTES, parseTickBatch, planIdOf, splitIntoBatches, TickBatchMessage, tickLedgerKey } from '../lambdas/shared/tick-batch';
import { batchSizeFor } from '../lambdas/producer/logic';

const env = (i: number, params: unknown = { i }): TaskEnvelope => ({ v: 1, taskId: `orders-20260301T0005Z-k${i}`, job: 'orders', key: `k${i}`, params: params as never, attempt: 1, scheduledTime: '2026-03-01T00:05:00.000Z' });
const SM = 'arn:aws:states:us-east-1:000000000000:stateMachine:orders';

function message(tasks: TaskEnvelope[], over: Partial<TickBatchMessage> = {}): TickBatchMessage {
  return { v: 1, job: 'orders', tick: '20260301T0005Z', stateMachineArn: SM, batchId: batchLedgerKey('orders', '20260301T0005Z', 'p', 0), tickId: tickLedgerKey('orders', '20260301T0005Z'), index: 0, batches: 1, offset: 0, total: tasks.length, tasks, ...over };
}

describe('start plan from the quota', () => {
  test('the default quota: 2 starters (the event source minimum), ~30 s of each one\'s share per batch', () => {
    expect(startPlan(DEFAULT_START_QUOTA)).toEqual({ starterConcurrency: 2, inFlightPerStarter: 15, tasksPerBatch: 2250, starterTimeoutSeconds: 120, paceHintPerStarter: 75 });
  });
  test('a raised quota gets more starters and larger batches', () => {
    const big = startPlan({ burst: 5000, refillPerSecond: 1000 });
    expect(big.starterConcurrency).toBe(10);
    expect(big.tasksPerBatch).toBe(3000);
    expect(startPlan({ burst: 1300, refillPerSecond: 300 }).starterConcurrency).toBe(3);
  });
  test('the floor: the burst is free, the rest at the refill rate', () => {
    expect(bucketFloorSeconds(100_000)).toBeCloseTo((100_000 - 800) / 150, 6);
    expect(bucketFloorSeconds(3_000)).toBeCloseTo(14.667, 3);
    expect(bucketFloorSeconds(500)).toBe(0);
  });
});

describe('batches', () => {
  test('cut by count, in order, nothing lost', () => {
    const all = Array.from({ length: 1001 }, (_, i) => env(i));
    const batches = splitIntoBatches(all, 250);
    expect(batches.map((b) => b.length)).toEqual([250, 250, 250, 250, 1]);
    expect(batches.flat()).toEqual(all);
  });

  test('cut by bytes: every message stays under the SQS limit even with the largest envelopes', () => {
    const big = 'x'.repeat(MAX_ENVELOPE_BYTES - 400);
    const all = Array.from({ length: 25 }, (_, i) => env(i, { big }));
    const batches = splitIntoBatches(all, 10_000);
    expect(batches.length).toBeGreaterThan(2);
    for (const b of batches) expect(Buffer.byteLength(JSON.stringify(message(b)), 'utf8')).toBeLessThanOrEqual(MAX_TICK_MESSAGE_BYTES);
    expect(batches.flat()).toEqual(all);
  });

  test('a small tick is cut so every starter gets two batches; a big one at the quota\'s size', () => {
    expect(batchSizeFor(3_000, 2_250, 2)).toBe(750);
    expect(batchSizeFor(100_000, 2_250, 2)).toBe(2_250);
    expect(batchSizeFor(50, 2_250, 2)).toBe(100); // never tiny messages
    expect(batchSizeFor(50, 20, 2)).toBe(20); // but never above the maximum
  });

  test('the plan id changes with the task list and its order', () => {
    const a = [env(1), env(2)];
    expect(planIdOf(a)).toBe(planIdOf([env(1), env(2)]));
    expect(planIdOf(a)).not.toBe(planIdOf([env(2), env(1)]));
    expect(planIdOf(a)).not.toBe(planIdOf([env(1)]));
  });
});

describe('parseTickBatch', () => {
  test('reads back what the producer writes', () => {
    const m = message([env(1), env(2)]);
    expect(parseTickBatch(JSON.stringify(m))).toEqual(m);
  });
  test.each([
    ['not JSON', '{'],
    ['another version', JSON.stringify({ ...message([env(1)]), v: 2 })],
    ['a missing field', JSON.stringify({ ...message([env(1)]), stateMachineArn: '' })],
    ['more tasks than the batch', JSON.stringify(message([env(1), env(2)], { total: 1 }))],
    ['a task that is not an envelope', JSON.stringify({ ...message([env(1)]), tasks: [{ taskId: 'x' }] })],
    ['a batch id of another tick', JSON.stringify(message([env(1)], { batchId: 'batch#orders#20990101T0000Z#p#0' }))],
    ['a task of another job', JSON.stringify(message([{ ...env(1), job: 'other' }]))],
  ])('refuses %s', (_, body) => {
    expect(() => parseTickBatch(body)).toThrow(InvalidTickMessageError);
  });
});
