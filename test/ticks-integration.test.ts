import { FirehoseClient } from '@aws-sdk/client-firehose';
import { SFNClient } from '@aws-sdk/client-sfn';
import { ChangeMessageVisibilityCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { planTick, ProduceFn, TaskSpec, TickDeps } from '../lambdas/producer/logic';
import { FirehoseParamLogSink } from '../lambdas/shared/firehose-sink';
import { executionNameFor, taskIdFor, tickStamp } from '../lambdas/shared/names';
import { buildWorkerRecord, zonedParts } from '../lambdas/shared/param-log';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { writeLogObject } from '../local/param-log-fixture';
import { LOST_TASK_COUNT_SQL, lostTaskParams } from '../lambdas/shared/queries';
import { SpoolMessage } from '../lambdas/shared/spool-message';
import { parseTickBatch, tickLedgerKey } from '../lambdas/shared/tick-batch';
import { TickLedger } from '../lambdas/shared/tick-ledger';
import { createStarterHandler, startBatch, StarterDeps } from '../lambdas/starter/logic';
import { ParamLogDb } from '../local/duckdb-sql';
import { driveEventSource } from '../local/sqs-esm';
import { RIG_MAX_RECEIVES, RIG_RECORD_MAC_KEY, RIG_TIME_ZONE, startTickRig, TickRig } from '../local/tick-rig';
import { redriveDeadLetters } from '../lambdas/starter/redrive';

/**
 * A tick end to end on the local engines: the real producer and starter logic and SDK clients
 * against fauxqs (tick queue with its redrive policy, spool, quarantine), the Step Functions
 * stand-in (name uniqueness, idempotent same-input starts, optional token bucket), dynalite (the
 * ledger) and the Firehose stand-in (client records), with the local event-source driver invoking
 * the starter as the SQS mapping would. Each test uses a tick of its own.
 */
jest.setTimeout(60_000);

let rig: TickRig;
let minute = 0;
let tick: Date;

beforeAll(async () => {
  rig = await startTickRig({ tasksPerBatch: 50 });
});
afterAll(() => rig.stop());
beforeEach(() => {
  rig.sfn.setThrottle(null);
  tick = new Date(Date.UTC(2026, 10, 25, 1, minute++));
});

const tasks = (n: number): ProduceFn => () => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, params: { i, customer: 'Jane Doe' } }));
const keysOf = (n: number) => Array.from({ length: n }, (_, i) => `k${i}`);
const plan = (produce: ProduceFn, owner = 'producer-1', over: Partial<TickDeps> = {}) =>
  planTick({ scheduledTime: tick.toISOString() }, produce, { ...rig.producerDeps(), owner, remainingMs: 60_000, ...over });
const drain = (o: { timeoutMs?: number; starter?: Partial<StarterDeps>; retryAfterSeconds?: number } = {}) =>
  driveEventSource({
    sqs: rig.sqs,
    queueUrl: rig.queues.tick,
    maxConcurrency: 2,
    timeoutMs: o.timeoutMs ?? 20_000,
    retryAfterSeconds: o.retryAfterSeconds,
    container: () => createStarterHandler(rig.starterDeps({ safetyMs: 500, ...o.starter })),
  });
const nameOf = (key: string) => executionNameFor(taskIdFor('orders', tick, key), 1);
const executionsOfTick = () => [...rig.sfn.executions.values()].filter((e) => e.name.includes(tickStamp(tick)));
const startCalls = () => rig.sfn.counters.calls.StartExecution ?? 0;
const recordsOfTick = () => rig.clientRecords().filter((r) => r.task_id.includes(tickStamp(tick)));
const batchesOfTick = async () => (await rig.sqsEmulator.inspectQueue('tick')).readyBodies.filter((b) => b.includes(tickStamp(tick)));

/** Every key started exactly once: one execution per name, none extra. */
function expectEachStartedOnce(keys: string[]): void {
  const names = executionsOfTick().map((e) => e.name);
  expect(names.length).toBe(keys.length);
  expect(new Set(names)).toEqual(new Set(keys.map(nameOf)));
  expect(rig.sfn.counters.duplicates).toBe(0);
}

async function waitFor(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitForAsync(cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a tick larger than one invocation can start completes across invocations, nothing lost or started twice, no invocation past its timeout', async () => {
  await plan(tasks(240));
  // 40 starts/s after a burst of 40 (the bucket holds a second of refill, as AWS's does): 240
  // tasks need 5 s at best. An invocation has 3 s, 1.6 s of them kept for its last checkpoint and
  // the hand-over (wide enough for a loaded CI machine), and two starters share the bucket: about
  // 28 starts each per invocation, so batches of 50 are handed on part-done.
  rig.sfn.setThrottle({ burst: 40, refillPerSecond: 40 });
  const callsBefore = startCalls();
  const throttledBefore = rig.sfn.counters.throttled;
  const esm = await drain({ timeoutMs: 3_000, starter: { safetyMs: 1_600 } });
  expect(esm.invocations.length).toBeGreaterThan(5); // 5 batches, some handed on
  expect(esm.overran).toBe(0);
  expect(esm.failed).toBe(0);
  expectEachStartedOnce(keysOf(240));
  // Every call that was not throttled started a new task: none was spent on a task already started.
  expect(startCalls() - callsBefore - (rig.sfn.counters.throttled - throttledBefore)).toBe(240);
  expect(rig.sfn.counters.idempotent + rig.sfn.counters.alreadyExists).toBe(0);
  expect(recordsOfTick().filter((r) => r.result === 'Started')).toHaveLength(240);
  expect(await rig.depth('spool')).toBe(0); // throttling is never spooled
  expect(await rig.ledger.getTick(tickLedgerKey('orders', tickStamp(tick)))).toMatchObject({ state: 'planned', batchesDone: 5, batches: 5 });
});

test('a starter killed half-way (nothing after its last checkpoint written) and the redelivered batch leave every task started exactly once', async () => {
  await plan(tasks(100), 'producer-1', { tasksPerBatch: 100, starterConcurrency: 1 });
  // The event source takes the batch (invisible for 6 x the function timeout) and invokes a starter.
  const received = await rig.sqs.send(new ReceiveMessageCommand({ QueueUrl: rig.queues.tick, MaxNumberOfMessages: 1, VisibilityTimeout: 720 }));
  const message = received.Messages![0];
  const m = parseTickBatch(message.Body!);
  expect(m).toMatchObject({ tick: tickStamp(tick), total: 100 });
  // That container dies half-way: its Step Functions calls hang after 60 starts and its second
  // checkpoint never completes, so nothing after its first checkpoint is written and its message
  // is never deleted, as with a killed Lambda.
  const hung = new SFNClient({ region: 'us-east-1', endpoint: rig.sfn.endpoint, credentials: { accessKeyId: 'l', secretAccessKey: 'l' }, maxAttempts: 1 });
  let calls = 0;
  hung.middlewareStack.add(((next: (a: unknown) => Promise<unknown>) => (args: unknown) => (++calls > 60 ? new Promise(() => undefined) : next(args))) as never, { step: 'initialize' });
  const realSink = rig.starterDeps().sink;
  let puts = 0;
  const dyingSink = { put: (r: Parameters<typeof realSink.put>[0]) => (puts++ === 0 ? realSink.put(r) : new Promise<void>(() => undefined)) };
  // Never awaited (the container is dead); should it fail instead, the waits below time out and say so.
  startBatch(m, rig.starterDeps({ sfn: hung, sink: dyingSink, checkpointEveryTasks: 25, checkpointEveryMs: 60_000 }), { owner: 'killed', remainingMs: 30_000 }).catch(() => undefined);
  await waitFor(() => executionsOfTick().length >= 60);
  // Its first checkpoint is written (not a guess at how long that takes); the second one hangs in the sink.
  const savedProgress = async () => {
    const b = await rig.ledger.getBatch(m.batchId);
    return b ? b.cursor + b.doneAbove.length : 0;
  };
  await waitForAsync(async () => (await savedProgress()) > 0);
  const saved = (await rig.ledger.getBatch(m.batchId))!;
  const recorded = saved.cursor + saved.doneAbove.length;
  expect(recorded).toBeGreaterThanOrEqual(25);
  expect(recorded).toBeLessThan(60);
  expect(saved.owner).toBe('killed');

  // The visibility timeout passes (compressed: a start older than a second is told from a new one
  // by its startDate); by then the killed invocation's lease (its deadline + 60 s) has expired too:
  // the starters read the ledger 10 minutes later.
  await new Promise((r) => setTimeout(r, 1_100));
  await rig.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: rig.queues.tick, ReceiptHandle: message.ReceiptHandle!, VisibilityTimeout: 0 }));
  const later = () => Date.now() + 10 * 60_000;
  const callsBefore = startCalls();
  const esm = await drain({ starter: { ledger: new TickLedger(rig.ddb, rig.tableName, later) } });
  expect(esm.invocations.map((i) => i.failed)).toEqual([false]);
  expectEachStartedOnce(keysOf(100));
  // Calls only for what the checkpoint does not hold; the started-but-unrecorded come back as Duplicate.
  expect(startCalls() - callsBefore).toBe(100 - recorded);
  expect(rig.sfn.counters.idempotent + rig.sfn.counters.alreadyExists).toBe(60 - recorded);
  const recs = recordsOfTick();
  expect(new Set(recs.filter((x) => x.result === 'Started' || x.result === 'Duplicate').map((x) => x.task_id)).size).toBe(100);
  expect(recs.filter((x) => x.result === 'Started')).toHaveLength(100 - (60 - recorded));
  expect(recs.filter((x) => x.result === 'Duplicate')).toHaveLength(60 - recorded);
  expect(await rig.ledger.getBatch(m.batchId)).toMatchObject({ done: true, cursor: 100 });
});

test('a redelivered tick and a redelivered batch message spend no StartExecution call', async () => {
  await plan(tasks(100));
  const [firstBatch] = await batchesOfTick();
  await drain();
  expectEachStartedOnce(keysOf(100));
  const callsBefore = startCalls();
  const depthBefore = await rig.depth('tick');
  // Scheduler delivers the tick again (at least once), and SQS the first batch (at least once).
  expect(await plan(tasks(100), 'producer-2')).toMatchObject({ outcome: 'alreadyPlanned', enqueued: 0 });
  expect(await rig.depth('tick')).toBe(depthBefore);
  await rig.sqs.send(new SendMessageCommand({ QueueUrl: rig.queues.tick, MessageBody: firstBatch }));
  const esm = await drain();
  expect(esm.invocations).toHaveLength(1);
  expect(esm.failed).toBe(0);
  expect(startCalls()).toBe(callsBefore);
});

test('a retried tick (the producer failed half-way through enqueueing) spends no StartExecution call on tasks already started', async () => {
  const keys = keysOf(305);
  // The tick queue refuses the producer's second SendMessageBatch call (batches 10 and on).
  let sends = 0;
  const flaky = new Proxy(rig.sqs, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver);
      return (cmd: { constructor: { name: string } }) =>
        cmd.constructor.name === 'SendMessageBatchCommand' && ++sends === 2 ? Promise.reject(Object.assign(new Error('down'), { name: 'InternalError' })) : target.send(cmd as never);
    },
  }) as SQSClient;
  await expect(plan(tasks(keys.length), 'producer-1', { sqs: flaky, tasksPerBatch: 30 })).rejects.toThrow('down');
  // Meanwhile the starters start what is in the queue.
  await drain();
  expect(executionsOfTick()).toHaveLength(300); // the first call's 10 batches of 30
  const callsBefore = startCalls();
  // Lambda retries the tick: planning resumes after the batches already in the queue.
  expect(await plan(tasks(keys.length), 'producer-2', { tasksPerBatch: 30 })).toMatchObject({ outcome: 'planned', enqueued: 1, batches: 11 });
  await drain();
  expectEachStartedOnce(keys);
  expect(startCalls() - callsBefore).toBe(5);
  expect(recordsOfTick().filter((r) => r.result === 'Duplicate')).toHaveLength(0);
});

test('a Firehose failure after starts: the retried batch records Duplicate, and the lost-task query still counts every started task', async () => {
  await plan(tasks(60), 'producer-1', { tasksPerBatch: 60 });
  // Firehose refuses the first PutRecordBatch: the starter's checkpoint fails after its 60 starts.
  let refusals = 1;
  const firehose = new FirehoseClient({ region: 'us-east-1', endpoint: rig.firehose.endpoint, credentials: { accessKeyId: 'l', secretAccessKey: 'l' } });
  firehose.middlewareStack.add(
    ((next: (a: unknown) => Promise<unknown>) => (args: unknown) => (refusals-- > 0 ? Promise.reject(Object.assign(new Error('Slow down.'), { name: 'ServiceUnavailableException' })) : next(args))) as never,
    { step: 'initialize' },
  );
  // One checkpoint at the end (none on a timer), so the first invocation makes all 60 starts.
  // The failed message comes back after its visibility timeout (compressed to 2 s here; 12 min in AWS).
  const esm = await drain({ starter: { sink: new FirehoseParamLogSink(firehose, 'clientStream', rig.kms.keyOf(RIG_RECORD_MAC_KEY)), checkpointEveryMs: 60_000 }, retryAfterSeconds: 2 });
  expect(esm.invocations.map((i) => i.failed)).toEqual([true, false]); // failed, then its retry
  expectEachStartedOnce(keysOf(60));
  const recs = recordsOfTick();
  expect(recs.filter((r) => r.result === 'Started')).toHaveLength(0);
  expect(new Set(recs.filter((r) => r.result === 'Duplicate').map((r) => r.task_id)).size).toBe(60);

  // No workflow runs here except one task's, which ends: every other task started today is "lost"
  // to the saved query, and it must count them all, these 59 included, which a query of Started
  // records alone would miss.
  const k0 = JSON.parse(executionsOfTick().find((e) => e.name === nameOf('k0'))!.input) as TaskEnvelope;
  writeLogObject(rig.outDir, [buildWorkerRecord({ envelope: k0, now: new Date(), timeZone: RIG_TIME_ZONE, executionArn: 'arn:k0' })], new Date(), RIG_TIME_ZONE, 'worker-k0');
  const p = zonedParts(new Date(), RIG_TIME_ZONE);
  const day = `${p.year}-${p.month}-${p.day}`;
  const all = rig.clientRecords();
  const startedToday = new Set(all.filter((r) => r.result === 'Started' || r.result === 'Duplicate').map((r) => r.task_id)).size;
  const withStarted = new Set(all.filter((r) => r.result === 'Started').map((r) => r.task_id));
  const duplicateOnly = new Set(all.filter((r) => r.result === 'Duplicate' && !withStarted.has(r.task_id)).map((r) => r.task_id)).size;
  expect(duplicateOnly).toBeGreaterThanOrEqual(60); // these 60 (and the killed starter's, when run with it)
  const db = await ParamLogDb.open(rig.outDir);
  try {
    const [row] = await db.query(LOST_TASK_COUNT_SQL, lostTaskParams(day));
    expect(Number(row.lost)).toBe(startedToday - 1);
    const [startedOnly] = await db.query(LOST_TASK_COUNT_SQL.replace("c.result IN ('Started', 'Duplicate')", "c.result = 'Started'"), lostTaskParams(day));
    expect(Number(startedOnly.lost)).toBe(startedToday - duplicateOnly);
  } finally {
    db.close();
  }
});

test('a batch that fails 5 times waits in the dead-letter queue; after the fix the operator\'s redrive moves it back and every task starts once', async () => {
  await plan(tasks(60), 'producer-1', { tasksPerBatch: 60 });
  // The starters cannot reach the ledger (a table that does not exist): every receive fails.
  const broken = new TickLedger(rig.ddb, 'NoSuchTable');
  const failing = await drain({ starter: { ledger: broken } });
  expect(failing.invocations).toHaveLength(RIG_MAX_RECEIVES);
  expect(failing.invocations.every((i) => i.failed)).toBe(true);
  expect(executionsOfTick()).toHaveLength(0);
  expect(await rig.depth('deadLetter')).toBe(1); // SQS moved it on the receive past maxReceiveCount
  expect(await rig.depth('tick')).toBe(0);

  const summary = await redriveDeadLetters({ sqs: rig.sqs, deadLetterQueueUrl: rig.queues.deadLetter, tickQueueUrl: rig.queues.tick }, { max: 100, stopAtMs: Date.now() + 30_000 });
  expect(summary).toEqual({ moved: 1, failed: 0, stoppedBecause: 'empty' });
  expect(await rig.depth('deadLetter')).toBe(0);
  await drain();
  expectEachStartedOnce(keysOf(60));
  expect(recordsOfTick().filter((r) => r.result === 'Started')).toHaveLength(60);
});

test('rejected specs go to the quarantine with their reason, never to the spool; the valid ones start', async () => {
  const produce: ProduceFn = (): TaskSpec[] => [{ key: 'a', params: {} }, { key: 'a', params: { again: true } }, { key: '', params: {} }, { key: 'b', params: { big: 'x'.repeat(200 * 1024) } }, { key: 'c', params: {} }];
  const spoolBefore = await rig.depth('spool');
  const quarantineBefore = (await rig.sqsEmulator.inspectQueue('quarantine')).all.length;
  expect(await plan(produce)).toMatchObject({ tasks: 2, rejected: 3 });
  await drain();
  expectEachStartedOnce(['a', 'c']);
  expect(await rig.depth('spool')).toBe(spoolBefore);
  const q = (await rig.sqsEmulator.inspectQueue('quarantine')).all.slice(quarantineBefore);
  expect(q.map((m) => (JSON.parse(m.body) as SpoolMessage).kind)).toEqual(['Rejected', 'Rejected', 'Rejected']);
  expect(q.map((m) => m.attributes.errorType).sort()).toEqual(['DuplicateTaskKey', 'EnvelopeTooLarge', 'InvalidTaskSpec']);
  expect(q.every((m) => m.attributes.reason.length > 0)).toBe(true);
  expect(recordsOfTick().map((r) => r.result).sort()).toEqual(['Rejected', 'Rejected', 'Rejected', 'Started', 'Started']);
});

test('a producer that throws fails the invocation and enqueues nothing; the retry plans the tick', async () => {
  const depthBefore = await rig.depth('tick');
  await expect(plan(() => Promise.reject(new TypeError('db unreachable')))).rejects.toThrow('db unreachable');
  expect(await rig.depth('tick')).toBe(depthBefore);
  expect(await plan(tasks(3), 'producer-retry')).toMatchObject({ outcome: 'planned', tasks: 3 });
  await drain();
  expectEachStartedOnce(keysOf(3));
});

test('two deliveries of one tick at once: one plans, the other leaves it, every batch is enqueued once', async () => {
  const depthBefore = await rig.depth('tick');
  const [a, b] = await Promise.all([plan(tasks(200), 'producer-a'), plan(tasks(200), 'producer-b')]);
  expect([a.outcome, b.outcome].filter((o) => o === 'planned')).toHaveLength(1);
  expect((await rig.depth('tick')) - depthBefore).toBe(4);
  await drain();
  expectEachStartedOnce(keysOf(200));
});
