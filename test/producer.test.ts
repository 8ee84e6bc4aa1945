import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { InvalidProducerOutputError, planTick, PRODUCER_ERRORS, ProduceFn, TaskSpec, TickDeps, TickEnqueueError, validateSpecs } from '../lambdas/producer/logic';
import { MAX_ENVELOPE_BYTES } from '../lambdas/shared/limits';
import { taskIdFor, tickStamp } from '../lambdas/shared/names';
import { ParamLogRecord } from '../lambdas/shared/param-log';
import { SpoolMessage } from '../lambdas/shared/spool-message';
import { parseTickBatch, tickLedgerKey } from '../lambdas/shared/tick-batch';
import { TickLedger } from '../lambdas/shared/tick-ledger';
import { startLedger } from './support/ledger';

/**
 * The producer's logic with SQS mocked (aws-sdk-client-mock) and the tick ledger on dynalite. What
 * the starters do with the batches is in starter.test.ts and ticks-integration.test.ts.
 */
const sqsMock = mockClient(SQSClient);
const SM = 'arn:aws:states:ap-northeast-1:111122223333:stateMachine:orders';
const TICK_QUEUE = 'https://sqs.local/tick';
const QUARANTINE = 'https://sqs.local/quarantine';
const secret = { name: 'Taro', email: 'taro@example.com' };
let ledgerEnv: Awaited<ReturnType<typeof startLedger>>;
let ledger: TickLedger;
let records: ParamLogRecord[];
let logs: Array<[string, Record<string, unknown>]>;
let metrics: Record<string, number>;
let minute = 0;
let tick: Date;

beforeAll(async () => {
  ledgerEnv = await startLedger();
  ledger = ledgerEnv.ledger;
});
afterAll(() => ledgerEnv.stop());

beforeEach(() => {
  sqsMock.reset();
  sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
  records = [];
  logs = [];
  metrics = {};
  // A tick of its own per test: the ledger is shared.
  tick = new Date(Date.UTC(2026, 2, 1, 0, minute++));
});

function deps(over: Partial<TickDeps> = {}): TickDeps {
  return {
    job: 'orders',
    stateMachineArn: SM,
    tickQueueUrl: TICK_QUEUE,
    quarantineQueueUrl: QUARANTINE,
    timeZone: 'Asia/Tokyo',
    tasksPerBatch: 4,
    starterConcurrency: 2,
    sqs: new SQSClient({ region: 'us-east-1' }),
    sink: { put: async (r) => void records.push(...r) },
    ledger,
    owner: 'invocation-1',
    remainingMs: 60_000,
    log: (m, f) => void logs.push([m, f]),
    metric: (name, value) => void (metrics[name] = (metrics[name] ?? 0) + value),
    ...over,
  };
}
const tasks = (n: number): ProduceFn => () => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, params: { i, customer: secret } }));
const sentTo = (url: string) =>
  sqsMock
    .commandCalls(SendMessageBatchCommand)
    .filter((c) => c.args[0].input.QueueUrl === url)
    .flatMap((c) => c.args[0].input.Entries!);
const batchesSent = () => sentTo(TICK_QUEUE).map((e) => parseTickBatch(e.MessageBody!));

describe('validateSpecs', () => {
  test('keeps valid specs in order as envelopes; rejects non-objects, bad keys, repeated keys, non-JSON params and oversize envelopes with reasons', () => {
    const { accepted, rejected } = validateSpecs(
      [
        { key: 'ok', params: { a: 1 } },
        42,
        { key: '', params: {} },
        { key: 'ok', params: { again: true } },
        { key: 'date', params: { when: new Date() } },
        { key: 'big', params: { blob: 'x'.repeat(MAX_ENVELOPE_BYTES) } },
        { key: 'null-params', params: null },
      ],
      'orders',
      new Date('2026-03-01T00:05:00Z'),
    );
    expect(accepted.map((e) => e.key)).toEqual(['ok', 'null-params']);
    expect(accepted[0]).toEqual({ v: 1, taskId: 'orders-20260301T0005Z-ok', job: 'orders', key: 'ok', params: { a: 1 }, attempt: 1, scheduledTime: '2026-03-01T00:05:00.000Z', seal: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(rejected.map((r) => [r.envelope.key, r.error])).toEqual([
      ['#1', PRODUCER_ERRORS.invalidTask],
      ['#2', PRODUCER_ERRORS.invalidTask],
      ['ok', PRODUCER_ERRORS.duplicateKey],
      ['date', PRODUCER_ERRORS.invalidTask],
      ['big', PRODUCER_ERRORS.tooLarge],
    ]);
    // The repeated key keeps its task's id, so looking the task up shows both specs.
    expect(rejected[2].envelope.taskId).toBe('orders-20260301T0005Z-ok');
    expect(rejected[2].envelope.params).toEqual({ again: true });
  });
});

describe('planTick', () => {
  test('writes the tasks to the tick queue in batches (<= 10 messages a call), starts nothing, and marks the tick planned', async () => {
    const summary = await planTick({ scheduledTime: tick.toISOString() }, tasks(10), deps());
    // At most tasksPerBatch (4 here) per batch, in the producer's order.
    expect(summary).toMatchObject({ outcome: 'planned', tasks: 10, rejected: 0, batches: 3, enqueued: 3, planChanged: false });
    const sent = batchesSent();
    expect(sent.map((m) => [m.index, m.offset, m.total, m.tasks.length])).toEqual([
      [0, 0, 4, 4],
      [1, 0, 4, 4],
      [2, 0, 2, 2],
    ]);
    expect(sent.flatMap((m) => m.tasks.map((t) => t.key))).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`));
    expect(sent[0]).toMatchObject({ job: 'orders', stateMachineArn: SM, tickId: tickLedgerKey('orders', summary.tick), batches: 3 });
    expect(sent[0].tasks[0]).toMatchObject({ taskId: taskIdFor('orders', tick, 'k0'), params: { i: 0, customer: secret }, attempt: 1 });
    expect(sentTo(TICK_QUEUE)[0].MessageAttributes).toMatchObject({ job: { StringValue: 'orders' }, batchId: { StringValue: sent[0].batchId } });
    for (const c of sqsMock.commandCalls(SendMessageBatchCommand)) expect(c.args[0].input.Entries!.length).toBeLessThanOrEqual(10);
    // Client records of started tasks are the starter's: the producer writes none for them.
    expect(records).toEqual([]);
    expect(await ledger.getTick(tickLedgerKey('orders', summary.tick))).toMatchObject({ state: 'planned', tasks: 10, batches: 3, enqueued: 3, owner: null });
    expect(metrics).toMatchObject({ TasksPlanned: 10, TasksRejected: 0, BatchesEnqueued: 3 });
    expect(JSON.stringify(logs)).not.toContain('taro@example.com');
  });

  test('rejected specs go to the quarantine (never the spool) as kind Rejected with a reason, and get a Rejected client record; the rest is planned', async () => {
    const produce: ProduceFn = (): TaskSpec[] => [{ key: 'a', params: { customer: secret } }, { key: 'a', params: { customer: secret, again: 1 } }, { key: 'b', params: { big: 'x'.repeat(MAX_ENVELOPE_BYTES) } }, { key: 'c', params: {} }];
    const summary = await planTick({ scheduledTime: tick.toISOString() }, produce, deps());
    expect(summary).toMatchObject({ tasks: 2, rejected: 2 });
    const q = sentTo(QUARANTINE);
    expect(q).toHaveLength(2);
    const bodies = q.map((e) => JSON.parse(e.MessageBody!) as SpoolMessage);
    expect(bodies.map((b) => [b.kind, b.error])).toEqual([
      ['Rejected', PRODUCER_ERRORS.duplicateKey],
      ['Rejected', PRODUCER_ERRORS.tooLarge],
    ]);
    expect(q[0].MessageAttributes).toMatchObject({ kind: { StringValue: 'Rejected' }, errorType: { StringValue: PRODUCER_ERRORS.duplicateKey }, reason: { StringValue: expect.stringContaining('already returned in this tick') } });
    expect(records.map((r) => [r.result, r.error])).toEqual([
      ['Rejected', PRODUCER_ERRORS.duplicateKey],
      ['Rejected', PRODUCER_ERRORS.tooLarge],
    ]);
    // The record keeps the complete params, never truncated.
    expect(JSON.parse(records[1].params).big).toHaveLength(MAX_ENVELOPE_BYTES);
    expect(batchesSent().flatMap((m) => m.tasks.map((t) => t.key))).toEqual(['a', 'c']);
    expect(batchesSent()[0].tasks[0].params).toEqual({ customer: secret });
  });

  test('a redelivered tick does nothing: produce is not called, nothing is sent', async () => {
    await planTick({ scheduledTime: tick.toISOString() }, tasks(5), deps());
    sqsMock.resetHistory();
    const produce = jest.fn(tasks(5));
    const again = await planTick({ scheduledTime: tick.toISOString() }, produce, deps({ owner: 'invocation-2' }));
    expect(again).toMatchObject({ outcome: 'alreadyPlanned', enqueued: 0, tasks: 5 });
    expect(produce).not.toHaveBeenCalled();
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
    expect(metrics.TickAlreadyPlanned).toBe(1);
  });

  test('a tick another live invocation is planning is left to it (busy), without calling produce', async () => {
    await ledger.claimTick(tickLedgerKey('orders', tickStamp(tick)), 'someone-else', Date.now() + 60_000);
    const produce = jest.fn(tasks(5));
    const summary = await planTick({ scheduledTime: tick.toISOString() }, produce, deps());
    expect(summary.outcome).toBe('busy');
    expect(produce).not.toHaveBeenCalled();
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
  });

  test.each([
    ['throws', (() => Promise.reject(Object.assign(new Error('db unreachable'), { name: 'DatabaseDown' }))) as ProduceFn, 'DatabaseDown'],
    ['returns a non-list', (() => ({ tasks: [] })) as unknown as ProduceFn, new InvalidProducerOutputError('x').name],
  ])('a producer that %s fails the invocation (no spool message), enqueues nothing, and leaves the tick free for the retry', async (_, produce, errorName) => {
    await expect(planTick({ scheduledTime: tick.toISOString() }, produce, deps())).rejects.toMatchObject({ name: errorName });
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
    expect(records).toEqual([]);
    expect(metrics.ProducerFailed).toBe(1);
    // Lambda's retry (another request id) plans at once: the lease was given back.
    const retry = await planTick({ scheduledTime: tick.toISOString() }, tasks(3), deps({ owner: 'invocation-2' }));
    expect(retry).toMatchObject({ outcome: 'planned', tasks: 3 });
  });

  test('a tick queue that refuses a batch fails the invocation; the retry sends only the batches not yet in the queue', async () => {
    let calls = 0;
    sqsMock.on(SendMessageBatchCommand).callsFake((input: { Entries: Array<{ Id: string }> }) => {
      calls++;
      // The first call goes through; in the second, batch 11 is refused, and again in the re-send.
      if (calls === 2 || calls === 3) return { Failed: input.Entries.filter((e) => e.Id === '11').map((e) => ({ Id: e.Id, Code: 'InternalError', SenderFault: false })) };
      return { Failed: [] };
    });
    const produce = tasks(4 * 25); // 25 batches: 3 calls of <= 10
    await expect(planTick({ scheduledTime: tick.toISOString() }, produce, deps())).rejects.toBeInstanceOf(TickEnqueueError);
    const key = tickLedgerKey('orders', batchesSent()[0].tick);
    // 10 of the first call, then the first entry of the second: a prefix of 11 is in the queue.
    expect(await ledger.getTick(key)).toMatchObject({ state: 'planning', enqueued: 11, owner: null });
    sqsMock.resetHistory();
    const retry = await planTick({ scheduledTime: tick.toISOString() }, produce, deps({ owner: 'invocation-2' }));
    expect(retry).toMatchObject({ outcome: 'planned', enqueued: 14, batches: 25 });
    expect(batchesSent().map((m) => m.index)).toEqual(Array.from({ length: 14 }, (_, i) => 11 + i));
  });

  test('a retry whose producer returns another list enqueues the new plan from the start (new batch ids)', async () => {
    sqsMock.on(SendMessageBatchCommand).resolvesOnce({ Failed: [] }).rejects(new Error('queue down'));
    await expect(planTick({ scheduledTime: tick.toISOString() }, tasks(4 * 12), deps())).rejects.toThrow('queue down');
    const first = batchesSent()[0];
    sqsMock.reset();
    sqsMock.on(SendMessageBatchCommand).resolves({ Failed: [] });
    const retry = await planTick({ scheduledTime: tick.toISOString() }, tasks(4 * 12 + 1), deps({ owner: 'invocation-2' }));
    expect(retry).toMatchObject({ outcome: 'planned', planChanged: true, batches: 13, enqueued: 13 });
    expect(batchesSent()[0].batchId).not.toBe(first.batchId);
    expect(metrics.TickPlanChanged).toBe(1);
  });

  test('near its deadline the producer stops writing batches and fails; the retry resumes after the batches written', async () => {
    let clock = Date.UTC(2026, 2, 1);
    sqsMock.on(SendMessageBatchCommand).callsFake(() => {
      clock += 30_000; // each call takes half a minute of a 60 s invocation
      return { Failed: [] };
    });
    const produce = tasks(4 * 25);
    await expect(planTick({ scheduledTime: tick.toISOString() }, produce, deps({ now: () => new Date(clock) }))).rejects.toMatchObject({ name: 'PlanningDeadlineError', enqueued: 20 });
    const key = tickLedgerKey('orders', tickStamp(tick));
    expect(await ledger.getTick(key)).toMatchObject({ state: 'planning', enqueued: 20 });
    sqsMock.resetHistory();
    sqsMock.on(SendMessageBatchCommand).resolves({ Failed: [] });
    expect(await planTick({ scheduledTime: tick.toISOString() }, produce, deps({ owner: 'invocation-2' }))).toMatchObject({ outcome: 'planned', enqueued: 5 });
    expect(batchesSent().map((m) => m.index)).toEqual([20, 21, 22, 23, 24]);
  });

  test('an event without scheduledTime is refused before anything is touched', async () => {
    await expect(planTick({}, tasks(1), deps())).rejects.toThrow(/scheduledTime/);
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
  });
});

describe('planTick with replan (an operator re-plans a planned tick)', () => {
  const soon = () => deps({ now: () => new Date(tick.getTime() + 3_600_000) });
  /** A producer with a bug: spec k1's params are not plain JSON (a Date), so it is rejected. */
  const buggy: ProduceFn = (): TaskSpec[] => [{ key: 'k0', params: { i: 0 } }, { key: 'k1', params: { when: new Date(0) } as never }, { key: 'k2', params: { i: 2 } }];
  const fixed: ProduceFn = (): TaskSpec[] => [{ key: 'k0', params: { i: 0 } }, { key: 'k1', params: { when: '1970-01-01T00:00:00.000Z' } }, { key: 'k2', params: { i: 2 } }];

  test('without replan a planned tick plans nothing; with replan it is planned again as a new plan: every task in new batches, the once-rejected one included', async () => {
    const first = await planTick({ scheduledTime: tick.toISOString() }, buggy, soon());
    expect(first).toMatchObject({ outcome: 'planned', tasks: 2, rejected: 1 });
    const firstBatch = batchesSent()[0];
    sqsMock.resetHistory();
    expect(await planTick({ scheduledTime: tick.toISOString() }, fixed, deps({ owner: 'invocation-2' }))).toMatchObject({ outcome: 'alreadyPlanned' });
    expect(batchesSent()).toHaveLength(0);

    const again = await planTick({ scheduledTime: tick.toISOString(), replan: true }, fixed, { ...soon(), owner: 'invocation-3' });
    expect(again).toMatchObject({ outcome: 'planned', replanned: 1, tasks: 3, rejected: 0, enqueued: 1, planChanged: false });
    const [batch] = batchesSent();
    expect(batch.tasks.map((t) => t.key)).toEqual(['k0', 'k1', 'k2']);
    // New ledger items for the new plan's batches: the first plan's are done and would be skipped.
    expect(batch.batchId).not.toBe(firstBatch.batchId);
    expect(batch.batchId).toMatch(/r1#0$/);
    // Same names as the first plan for the tasks started then: Step Functions refuses them as existing
    // (a new plan draws new seal keys, so the input differs: ExecutionAlreadyExists even while running).
    const { seal: _s1, ...again0 } = batch.tasks[0];
    const { seal: _s2, ...first0 } = firstBatch.tasks[0];
    expect(again0).toEqual(first0);
    expect(await ledger.getTick(tickLedgerKey('orders', again.tick))).toMatchObject({ state: 'planned', replans: 1, tasks: 3, rejected: 0, owner: null });
    expect(metrics.TickReplanned).toBe(1);
  });

  test('specs still rejected on a replan are quarantined again, with a Rejected client record', async () => {
    await planTick({ scheduledTime: tick.toISOString() }, buggy, soon());
    sqsMock.resetHistory();
    records = [];
    const again = await planTick({ scheduledTime: tick.toISOString(), replan: true }, buggy, { ...soon(), owner: 'invocation-2' });
    expect(again).toMatchObject({ replanned: 1, tasks: 2, rejected: 1 });
    expect(sentTo(QUARANTINE).map((e) => (JSON.parse(e.MessageBody!) as SpoolMessage).taskId)).toEqual([taskIdFor('orders', tick, 'k1')]);
    expect(records.map((r) => r.result)).toEqual(['Rejected']);
  });

  test('a replan whose invocation fails half-way is resumed by its retry within the same replan (not re-opened twice)', async () => {
    await planTick({ scheduledTime: tick.toISOString() }, tasks(4 * 12), soon());
    sqsMock.reset();
    sqsMock.on(SendMessageBatchCommand).resolvesOnce({ Failed: [] }).rejects(new Error('queue down'));
    await expect(planTick({ scheduledTime: tick.toISOString(), replan: true }, tasks(4 * 12), { ...soon(), owner: 'invocation-2' })).rejects.toThrow('queue down');
    const key = tickLedgerKey('orders', tickStamp(tick));
    expect(await ledger.getTick(key)).toMatchObject({ state: 'planning', replans: 1, enqueued: 10 });
    sqsMock.reset();
    sqsMock.on(SendMessageBatchCommand).resolves({ Failed: [] });
    const retry = await planTick({ scheduledTime: tick.toISOString(), replan: true }, tasks(4 * 12), { ...soon(), owner: 'invocation-3' });
    expect(retry).toMatchObject({ outcome: 'planned', replanned: 1, enqueued: 2, batches: 12 });
    expect(batchesSent().map((m) => m.index)).toEqual([10, 11]);
    expect(await ledger.getTick(key)).toMatchObject({ state: 'planned', replans: 1 });
  });

  test('a replan of a tick another live invocation is planning is busy: produce is not called', async () => {
    await ledger.claimTick(tickLedgerKey('orders', tickStamp(tick)), 'someone-else', Date.now() + 60_000);
    const produce = jest.fn(tasks(2));
    expect(await planTick({ scheduledTime: tick.toISOString(), replan: true }, produce, soon())).toMatchObject({ outcome: 'busy' });
    expect(produce).not.toHaveBeenCalled();
  });

  test.each([
    ['older than the replan window', 31 * 86_400_000, /older than 30 days/],
    ['in the future', -3_600_000, /in the future/],
  ])('a replan of a tick %s is refused before anything is touched', async (_, ageMs, message) => {
    await planTick({ scheduledTime: tick.toISOString() }, tasks(2), soon());
    sqsMock.resetHistory();
    await expect(planTick({ scheduledTime: tick.toISOString(), replan: true }, tasks(2), { ...deps({ owner: 'x' }), now: () => new Date(tick.getTime() + ageMs) })).rejects.toMatchObject({
      name: 'InvalidTickEventError',
      message: expect.stringMatching(message),
    });
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
    expect(await ledger.getTick(tickLedgerKey('orders', tickStamp(tick)))).toMatchObject({ state: 'planned', replans: 0 });
  });

  test('replan must be a boolean', async () => {
    await expect(planTick({ scheduledTime: tick.toISOString(), replan: 'yes' as never }, tasks(1), soon())).rejects.toMatchObject({ name: 'InvalidTickEventError' });
  });
});

describe('planTick while the job is paused (scheduled-jobs pause)', () => {
  const paused = () => deps({ isPaused: async () => true });

  test('a scheduled tick is recorded paused in the ledger: produce is not called, nothing is sent', async () => {
    const produce = jest.fn(tasks(3));
    expect(await planTick({ scheduledTime: tick.toISOString() }, produce, paused())).toMatchObject({ outcome: 'paused', tasks: 0, enqueued: 0 });
    expect(produce).not.toHaveBeenCalled();
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
    expect(await ledger.getTick(tickLedgerKey('orders', tickStamp(tick)))).toMatchObject({ state: 'paused', owner: null });
    expect(metrics).toMatchObject({ TickPaused: 1 });
    // A redelivery during the pause is paused again; nothing changes.
    expect(await planTick({ scheduledTime: tick.toISOString() }, produce, paused())).toMatchObject({ outcome: 'paused' });
  });

  test('after resume, the paused tick runs like a new one (what a backfill does)', async () => {
    await planTick({ scheduledTime: tick.toISOString() }, tasks(3), paused());
    const later = await planTick({ scheduledTime: tick.toISOString() }, tasks(3), deps({ isPaused: async () => false }));
    expect(later).toMatchObject({ outcome: 'planned', tasks: 3 });
    expect(await ledger.getTick(tickLedgerKey('orders', tickStamp(tick)))).toMatchObject({ state: 'planned', tasks: 3 });
  });

  test('ignorePause (an operator\'s explicit run) plans the tick although the job is paused', async () => {
    expect(await planTick({ scheduledTime: tick.toISOString(), ignorePause: true }, tasks(2), paused())).toMatchObject({ outcome: 'planned', tasks: 2 });
  });

  test('a tick planned before the pause stays planned: a redelivery during the pause answers alreadyPlanned', async () => {
    await planTick({ scheduledTime: tick.toISOString() }, tasks(2), deps());
    expect(await planTick({ scheduledTime: tick.toISOString() }, tasks(2), paused())).toMatchObject({ outcome: 'alreadyPlanned', tasks: 2 });
    expect(await ledger.getTick(tickLedgerKey('orders', tickStamp(tick)))).toMatchObject({ state: 'planned' });
  });

  test('a failed pause read fails the tick (Lambda retries it; the on-failure destination keeps it)', async () => {
    await expect(planTick({ scheduledTime: tick.toISOString() }, tasks(2), deps({ isPaused: async () => Promise.reject(new Error('throttled')) }))).rejects.toThrow('throttled');
    expect(await ledger.getTick(tickLedgerKey('orders', tickStamp(tick)))).toBeNull();
  });
});
