/**
 * Fault matrix, faults of a tick: the real producer runtime invoked as EventBridge Scheduler does
 * (asynchronously: Lambda's retries, then the on-failure destination of the template), the tick
 * queue's event source driving the real starter, the Step Functions stand-in (name uniqueness,
 * token bucket) running the shipped definitions, and the Firehose stand-in (./world.ts).
 */
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { MAX_EXECUTION_INPUT_BYTES } from '../../lambdas/shared/envelope';
import { executionNameFor, tickStamp } from '../../lambdas/shared/names';
import { expectNothingLost, expectTaskEnd } from './expect-end';
import { faultCase } from './matrix';
import { startWorld, World } from './world';

let world: World;
beforeAll(async () => {
  world = await startWorld();
}, 60_000);
afterAll(() => world?.close());

const order = (key: string, extra: Record<string, unknown> = {}) => ({ key, params: { orderId: key, customer: { name: 'Jane Doe', email: 'jane@example.com' }, amount: 1200, ...extra } });
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
  refused.remove();
  expect(t.producer).toMatchObject({ succeeded: false, attempts: 3, errors: ['KmsAccessDenied', 'KmsAccessDenied', 'KmsAccessDenied'] });
  expect(refused.hits).toHaveLength(3);
  // The failed-invocations queue keeps the tick.
  const [record] = await world.failedInvocations();
  expect(record).toMatchObject({ requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 3 }, requestPayload: { scheduledTime: t.scheduledTime.toISOString() } });
  expect(record.responsePayload).toMatchObject({ errorType: 'KmsAccessDenied' });
  for (const id of t.taskIds.slice(0, 3)) expect(world.executionsOf(id)).toHaveLength(0);

  // The runbook: re-invoke the producer with the record's requestPayload, then delete the record.
  const rerun = await world.rerunTick('example-api', specs, record.requestPayload);
  expect(rerun.producer.result).toMatchObject({ outcome: 'planned', tasks: 3, rejected: 1 });
  const out = await world.sqs.send(new ReceiveMessageCommand({ QueueUrl: world.queues.failedInvocations.url, MaxNumberOfMessages: 10 }));
  for (const m of out.Messages ?? []) await world.sqs.send(new DeleteMessageCommand({ QueueUrl: world.queues.failedInvocations.url, ReceiptHandle: m.ReceiptHandle }));
  expect(await world.failedInvocations()).toEqual([]);
  await world.settle();
  for (const id of t.taskIds.slice(0, 3)) await expectTaskEnd(world, id, { succeeded: true });
  // The spec rejected on the first attempt was quarantined once, not once per attempt.
  const bad = rerun.taskIds[3];
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
  const specs = [order('ord-rj'), order('ord-rj', { again: true }), { key: '', params: {} }];
  const t = await world.tick('example-api', specs);
  expect(t.producer.result).toMatchObject({ tasks: 1, rejected: 2 });
  await world.settle();
  const first = t.taskIds[0];
  // A spec without a usable key gets the producer's placeholder id (its position in the tick).
  const invalid = `example-api-${tickStamp(t.scheduledTime)}-invalid-2`;
  // The first spec of the key runs once; its duplicate is quarantined, never started.
  await expectTaskEnd(world, first, { succeeded: true });
  const duplicate = (await world.quarantine()).filter((m) => m.body?.taskId === first);
  expect(duplicate.map((m) => [m.body?.kind, m.attributes.errorType])).toEqual([['Rejected', 'DuplicateTaskKey']]);
  expect(duplicate[0].attributes.reason).toMatch(/^DuplicateTaskKey: task #1: key "ord-rj" was already returned in this tick/);
  expect(clientResults(first).sort()).toEqual(['Rejected', 'Started']);
  // The invalid spec, sent back to the spool by mistake (moved out of the quarantine), is
  // quarantined again by reprocess and never started.
  const q = await world.sqs.send(new ReceiveMessageCommand({ QueueUrl: world.queues.quarantine.url, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }));
  const moved = (q.Messages ?? []).find((m) => m.Body?.includes(`"taskId":"${invalid}"`))!;
  const { job, errorType, kind } = moved.MessageAttributes!;
  await world.sqs.send(new SendMessageCommand({ QueueUrl: world.queues.spool.url, MessageBody: moved.Body, MessageAttributes: { job, errorType, kind } }));
  await world.sqs.send(new DeleteMessageCommand({ QueueUrl: world.queues.quarantine.url, ReceiptHandle: moved.ReceiptHandle }));
  for (const m of q.Messages ?? []) if (m !== moved) await world.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: world.queues.quarantine.url, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
  const s = await world.reprocess({ taskIds: [invalid], max: 1 });
  expect(s).toMatchObject({ invalid: 1, started: 0 });
  await expectTaskEnd(world, invalid, { quarantined: /^Rejected: the producer refused this task spec \(InvalidTaskSpec\)/ });
  expect(world.executionsOf(invalid)).toHaveLength(0);
});

faultCase('envelope-too-large', async () => {
  const big = order('ord-big', { notes: 'x'.repeat(MAX_EXECUTION_INPUT_BYTES) });
  const t = await world.tick('example-api', [big, order('ord-small')]);
  expect(t.producer.result).toMatchObject({ tasks: 1, rejected: 1 });
  await world.settle();
  await expectTaskEnd(world, t.taskIds[0], { quarantined: new RegExp(`^EnvelopeTooLarge: the task envelope is \\d+ bytes; the workflow accepts at most ${MAX_EXECUTION_INPUT_BYTES}`) });
  expect(world.executionsOf(t.taskIds[0])).toHaveLength(0);
  expect(clientResults(t.taskIds[0])).toEqual(['Rejected']);
  // The rest of the tick runs.
  await expectTaskEnd(world, t.taskIds[1], { succeeded: true });
});

test('after every case above: the lost-task query finds nothing, no execution name was created twice, no task succeeded twice', () => expectNothingLost(world));
