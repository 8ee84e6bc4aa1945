/**
 * Fault matrix, faults of a tick: the real producer runtime invoked as EventBridge Scheduler does
 * (asynchronously: Lambda's retries, then the on-failure destination of the template), the tick
 * queue's event source driving the real starter, the Step Functions stand-in (name uniqueness,
 * token bucket) running the shipped definitions, and the Firehose stand-in (./world.ts). The
 * operator's recoveries are reprocess's routines, run through the real reprocess handler (a re-run
 * of a failed invocation, a re-plan of a tick, a drop from the quarantine), which invokes the
 * producers through the world's Lambda stand-in.
 */
import { MAX_EXECUTION_INPUT_BYTES } from '../../lambdas/shared/envelope';
import { executionNameFor, tickStamp } from '../../lambdas/shared/names';
import { tickLedgerKey } from '../../lambdas/shared/tick-batch';
import { expectCanaryInside, expectNothingLost, expectTaskEnd } from './expect-end';
import { faultCase } from './matrix';
import { startWorld, World } from './world';
import { order } from './specs';

let world: World;
beforeAll(async () => {
  world = await startWorld();
}, 60_000);
afterAll(() => world?.close());

/**
 * A tick of its own, an hour or more ago, for a case that re-plans it: a re-plan is refused for ticks
 * older than 30 days or in the future (the world's default ticks are up to eight days old).
 */
let recentTicks = 0;
const recentTick = () => new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000 - recentTicks++ * 60_000);
const clientResults = (id: string) => world.clientRecords().filter((r) => r.task_id === id).map((r) => r.result);

faultCase('start-throttled', async () => {
  // The account's StartExecution bucket is nearly empty (another workload uses it): 2 at once, 10/s.
  world.sfn.setThrottle({ burst: 2, refillPerSecond: 10 });
  const throttledBefore = world.sfn.counters.throttled;
  let t;
  try {
    t = await world.tick('example-api', Array.from({ length: 8 }, (_, i) => order(`ord-busy-${i}`)));
  } finally {
    world.sfn.setThrottle(null);
  }
  expect(world.sfn.counters.throttled - throttledBefore).toBeGreaterThan(0);
  expect(t.esm?.failed).toBe(0);
  // Waited, not spooled: nothing in the spool or the quarantine, every task started once.
  expect(await world.spool()).toEqual([]);
  await world.settle();
  for (const id of t.taskIds) {
    await expectTaskEnd(world, id, { succeeded: true });
    expect(clientResults(id)).toEqual(['Started']);
  }
});

faultCase('producer-crash', async () => {
  // The producer can no longer write to the tick queue (its grant on the params key was lost in a
  // deploy): every SendMessageBatch is refused, after the tick was claimed, produced and its rejected
  // spec quarantined: the invocation fails, and so do both of Lambda's retries.
  const specs = [order('ord-pc-1'), order('ord-pc-2'), order('ord-pc-3'), { key: 'ord-pc-bad', params: { when: new Date() } as never }];
  const refused = world.sqsFaults.fault({
    operation: 'SendMessageBatch',
    when: (b) => b.QueueUrl === world.queues.tick.url,
    fault: { error: 'KmsAccessDenied', message: 'The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.' },
  });
  const t = await world.tick('example-api', specs, { drain: false });
  expect(t.producer).toMatchObject({ succeeded: false, attempts: 3, errors: ['KmsAccessDenied', 'KmsAccessDenied', 'KmsAccessDenied'] });
  expect(refused.hits).toHaveLength(3);
  // The failed-invocations queue keeps the tick.
  const [record] = await world.failedInvocations();
  expect(record).toMatchObject({ requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 3 }, requestPayload: { scheduledTime: t.scheduledTime.toISOString() } });
  expect(record.responsePayload).toMatchObject({ errorType: 'KmsAccessDenied' });
  for (const id of t.taskIds.slice(0, 3)) expect(world.executionsOf(id)).toHaveLength(0);
  expect(await world.coordinationItem(tickLedgerKey('example-api', tickStamp(t.scheduledTime)))).toMatchObject({ state: 'planning' });

  // The runbook's "Re-run a failed invocation", through reprocess: look (the record names the
  // producer, its error and its tick), then re-run it. `max: 1`: each run ends with this record
  // instead of long-polling the empty queue (1 s).
  const look = await world.reprocess({ source: 'failedInvocations', dryRun: true, max: 1 });
  expect(look).toMatchObject({ wouldReinvoke: 1, reinvoked: 0, invalid: 0 });
  expect(look.items[0]).toMatchObject({ function: 'producer:example-api', condition: 'RetriesExhausted', errorType: 'KmsAccessDenied', tick: t.scheduledTime.toISOString(), outcome: 'wouldReinvoke' });
  const rerun = () => world.reprocess({ source: 'failedInvocations', functions: ['producer:example-api'], max: 1 });

  // Re-run before the cause is fixed: reprocess invokes the job's producer asynchronously with the
  // record's payload and deletes the record; the invocation fails again, Lambda retries it twice, and
  // its on-failure destination keeps the tick again: nothing is lost between the invoke and the delete.
  const invokedBefore = world.lambdaInvocations.length;
  expect(await rerun()).toMatchObject({ reinvoked: 1, failed: 0, invalid: 0, deleteFailed: 0 });
  expect(world.lambdaInvocations.slice(invokedBefore)).toEqual([{ functionName: world.functions.producer('example-api'), payload: record.requestPayload, invocationType: 'Event' }]);
  await world.idle();
  expect(refused.hits).toHaveLength(6);
  const again = await world.failedInvocations();
  expect(again).toEqual([expect.objectContaining({ requestContext: expect.objectContaining({ condition: 'RetriesExhausted', approximateInvokeCount: 3 }), requestPayload: record.requestPayload })]);
  expect(again[0].responsePayload).toMatchObject({ errorType: 'KmsAccessDenied' });

  // The cause fixed (the grant redeployed), the re-run plans the rest of the tick and the record is gone.
  refused.remove();
  expect(await rerun()).toMatchObject({ reinvoked: 1, failed: 0, invalid: 0, deleteFailed: 0 });
  await world.idle();
  expect(await world.failedInvocations()).toEqual([]);
  // The re-run resumed the tick from the ledger and completed its plan.
  expect(await world.coordinationItem(tickLedgerKey('example-api', tickStamp(t.scheduledTime)))).toMatchObject({ state: 'planned' });
  await world.drainTicks();
  await world.settle();
  for (const id of t.taskIds.slice(0, 3)) await expectTaskEnd(world, id, { succeeded: true });
  // The spec rejected on the first attempt was quarantined once, not once per attempt or re-run.
  const bad = t.taskIds[3];
  await expectTaskEnd(world, bad, { quarantined: /^InvalidTaskSpec: / });
  expect(clientResults(bad)).toEqual(['Rejected']);
});

faultCase('firehose-failure', async () => {
  // Firehose accepts the starter's checkpoint call but refuses one record in it, in every round of
  // the sink's re-sends (PutRecordBatch's partial failure: FailedPutCount, a per-record ErrorCode).
  const accounts = ['acct-fh-1', 'acct-fh-2', 'acct-fh-3'];
  const recordOf = (r: unknown) => Buffer.from(String((r as { Data?: string }).Data ?? ''), 'base64').toString('utf8');
  const refused = world.firehoseFaults.fault({
    operation: 'PutRecordBatch',
    when: (b) => ((b.Records ?? []) as unknown[]).some((r) => recordOf(r).includes('acct-fh-2')),
    // The sink's first call and its 4 re-sends (FirehoseParamLogSink's default): then Firehose recovers.
    times: 5,
    fault: { refuseRecords: (records) => records.flatMap((r, i) => (recordOf(r).includes('acct-fh-2') ? [i] : [])), error: 'ServiceUnavailableException', message: 'Slow down.' },
  });
  // The failed batch message comes back after its visibility timeout (12 min in AWS, 2 s here).
  const t = await world.tick('example-fanout', accounts.map((a) => ({ key: a, params: { account: a, parts: 3 } })), { retryAfterSeconds: 2 });
  refused.remove();
  expect(refused.hits).toHaveLength(5);
  // The first invocation's checkpoint failed after its starts; the batch came back and its tasks were
  // asked again: answered as existing, recorded Duplicate.
  expect(t.esm?.invocations.map((i) => i.failed)).toEqual([true, false]);
  const [one, two, three] = t.taskIds;
  expect(clientResults(one).sort()).toEqual(['Duplicate', 'Started']);
  expect(clientResults(two)).toEqual(['Duplicate']);
  expect(clientResults(three).sort()).toEqual(['Duplicate', 'Started']);
  // Before any execution has ended, the lost-task query sees all three as started (it counts
  // Duplicate: for acct-fh-2 it is the only client record there is).
  expect(await world.lostTasks()).toBe(3);
  await world.settle();
  for (const id of t.taskIds) {
    const end = await expectTaskEnd(world, id, { succeeded: true });
    expect(end.executions.map((e) => e.name)).toEqual([executionNameFor(id, 1)]);
  }
  expect(await world.lostTasks()).toBe(0);
});

faultCase('rejected-spec', async () => {
  // A producer bug: a key returned twice, and a spec whose params are not plain JSON (a Date).
  const scheduledTime = recentTick();
  const bug = [order('ord-rj'), order('ord-rj', { again: true }), order('ord-rj-date', { at: new Date(0) })];
  const t = await world.tick('example-api', bug as never, { scheduledTime });
  expect(t.producer.result).toMatchObject({ tasks: 1, rejected: 2 });
  await world.settle();
  const [first, , dated] = t.taskIds;
  // The first spec of the key runs once; its duplicate and the invalid spec are quarantined, never started.
  await expectTaskEnd(world, first, { succeeded: true });
  const duplicate = (await world.quarantine()).filter((m) => m.body?.taskId === first);
  expect(duplicate.map((m) => [m.body?.kind, m.attributes.errorType])).toEqual([['Rejected', 'DuplicateTaskKey']]);
  expect(duplicate[0].attributes.reason).toMatch(/^DuplicateTaskKey: task #1: key "ord-rj" was already returned in this tick/);
  await expectTaskEnd(world, dated, { quarantined: /^InvalidTaskSpec: / });
  expect(world.executionsOf(dated)).toHaveLength(0);

  // The runbook ("Read the quarantine", Rejected): fix the producer, re-plan the tick, drop the old messages.
  world.produce('example-api', [order('ord-rj'), order('ord-rj-date', { at: new Date(0).toISOString() })]);
  const replan = await world.reprocess({ source: 'tick', job: 'example-api', tick: tickStamp(scheduledTime), replan: true });
  expect(replan).toMatchObject({ outcome: 'invoked', replan: true, producer: { outcome: 'planned', replanned: 1, tasks: 2, rejected: 0 } });
  await world.drainTicks();
  await world.settle();
  const look = await world.reprocess({ source: 'quarantine', taskIds: [first, dated], drop: true, dryRun: true });
  expect(look).toMatchObject({ wouldDrop: 2, dropped: 0 });
  // The listing also names what it skipped (another tick's rejected spec): the drop takes the selected ids only.
  const selected = look.items.filter((i) => i.outcome === 'wouldDrop');
  expect(selected.map((i) => `${i.taskId} ${i.error}`).sort()).toEqual([`${dated} InvalidTaskSpec`, `${first} DuplicateTaskKey`].sort());
  const drop = await world.reprocess({ source: 'quarantine', messageIds: selected.map((i) => i.messageId!), drop: true });
  expect(drop).toMatchObject({ dropped: 2, started: 0 });
  // The rejected task started now, exactly once; the one started before was refused by name (Duplicate), not run again.
  await expectTaskEnd(world, dated, { succeeded: true });
  await expectTaskEnd(world, first, { succeeded: true });
  expect(clientResults(dated)).toEqual(['Rejected', 'Started']);
  expect(clientResults(first).sort()).toEqual(['Duplicate', 'Rejected', 'Started']);
  expect([world.api.accepted('ord-rj'), world.api.accepted('ord-rj-date')]).toEqual([1, 1]);
});

faultCase('envelope-too-large', async () => {
  const scheduledTime = recentTick();
  const big = order('ord-big', { notes: 'x'.repeat(MAX_EXECUTION_INPUT_BYTES) });
  const t = await world.tick('example-api', [big, order('ord-small')], { scheduledTime });
  expect(t.producer.result).toMatchObject({ tasks: 1, rejected: 1 });
  await world.settle();
  const [bigId, smallId] = t.taskIds;
  await expectTaskEnd(world, bigId, { quarantined: new RegExp(`^EnvelopeTooLarge: the task envelope is \\d+ bytes; the workflow accepts at most ${MAX_EXECUTION_INPUT_BYTES}`) });
  expect(world.executionsOf(bigId)).toHaveLength(0);
  expect(clientResults(bigId)).toEqual(['Rejected']);
  // The rest of the tick runs.
  await expectTaskEnd(world, smallId, { succeeded: true });

  // The runbook: the producer fixed to send a reference instead of the data, the tick re-planned, the old message dropped.
  world.produce('example-api', [order('ord-big', { notes: 's3://orders/ord-big/notes.txt' }), order('ord-small')]);
  const replan = await world.reprocess({ source: 'tick', job: 'example-api', tick: tickStamp(scheduledTime), replan: true });
  expect(replan).toMatchObject({ outcome: 'invoked', producer: { outcome: 'planned', tasks: 2, rejected: 0 } });
  await world.drainTicks();
  await world.settle();
  const look = await world.reprocess({ source: 'quarantine', taskIds: [bigId], drop: true, dryRun: true });
  const selected = look.items.filter((i) => i.outcome === 'wouldDrop');
  expect(selected.map((i) => i.error)).toEqual(['EnvelopeTooLarge']);
  expect(await world.reprocess({ source: 'quarantine', messageIds: [selected[0].messageId!], drop: true })).toMatchObject({ dropped: 1 });
  await expectTaskEnd(world, bigId, { succeeded: true });
  await expectTaskEnd(world, smallId, { succeeded: true });
  expect(clientResults(bigId)).toEqual(['Rejected', 'Started']);
});

test('after every case above: the lost-task query finds nothing, no execution name was created twice, no task succeeded twice', () => expectNothingLost(world));

test('after every case above: the params canary occurs in no line outside the lock (logs, the runtime\'s uncaught-error lines, traces, task failures)', () => expectCanaryInside(world));
