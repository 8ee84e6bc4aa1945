import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import type { SQSEvent } from 'aws-lambda';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { executionArnFor, executionNameFor } from '../lambdas/shared/names';
import { ParamLogRecord } from '../lambdas/shared/param-log';
import { AdaptiveRateGate } from '../lambdas/shared/rate-gate';
import { SpoolMessage } from '../lambdas/shared/spool-message';
import { batchLedgerKey, parseTickBatch, TickBatchMessage, tickLedgerKey } from '../lambdas/shared/tick-batch';
import { createStarterHandler, startBatch, StarterDeps } from '../lambdas/starter/logic';
import { startLedger } from './support/ledger';

/**
 * The starter's logic with Step Functions and SQS mocked (aws-sdk-client-mock) and the tick ledger
 * on dynalite. A fake clock drives the pacing and the deadline, so nothing here waits.
 */
const sfnMock = mockClient(SFNClient);
const sqsMock = mockClient(SQSClient);
const SM = 'arn:aws:states:ap-northeast-1:111122223333:stateMachine:orders';
const SPOOL = 'https://sqs.local/spool';
const QUARANTINE = 'https://sqs.local/quarantine';
const TICK_QUEUE = 'https://sqs.local/tick';
let ledgerEnv: Awaited<ReturnType<typeof startLedger>>;
let records: ParamLogRecord[];
let t: number;
let n = 0;
let job: string;

beforeAll(async () => {
  ledgerEnv = await startLedger(() => t);
});
afterAll(() => ledgerEnv.stop());

beforeEach(() => {
  sfnMock.reset();
  sqsMock.reset();
  sqsMock.on(SendMessageBatchCommand).resolves({ Failed: [] });
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm' });
  records = [];
  t = 1_800_000_000_000;
  job = `orders${n++}`; // a batch of its own per test: the ledger is shared
  sfnMock.on(StartExecutionCommand).callsFake((input) => ({ executionArn: executionArnFor(SM, input.name), startDate: new Date(t) }));
});

const envelope = (i: number): TaskEnvelope => ({ v: 1, taskId: `${job}-20260301T0005Z-k${i}`, job, key: `k${i}`, params: { i, email: 'taro@example.com' }, attempt: 1, scheduledTime: '2026-03-01T00:05:00.000Z' });
function batch(count: number, over: Partial<TickBatchMessage> = {}): TickBatchMessage {
  const tasks = Array.from({ length: count }, (_, i) => envelope(i));
  return { v: 1, job, tick: '20260301T0005Z', stateMachineArn: SM, batchId: batchLedgerKey(job, '20260301T0005Z', 'plan', 0), tickId: tickLedgerKey(job, '20260301T0005Z'), index: 0, batches: 1, offset: 0, total: count, tasks, ...over };
}
function deps(over: Partial<StarterDeps> = {}): StarterDeps {
  const sleep = async (ms: number) => void (t += ms);
  return {
    sfn: new SFNClient({ region: 'us-east-1' }),
    sqs: new SQSClient({ region: 'us-east-1' }),
    sink: { put: async (r) => void records.push(...r) },
    ledger: ledgerEnv.ledger,
    gate: new AdaptiveRateGate({ now: () => t, sleep }),
    allowedStateMachineArns: new Set([SM]),
    tickQueueUrl: TICK_QUEUE,
    spoolQueueUrl: SPOOL,
    quarantineQueueUrl: QUARANTINE,
    timeZone: 'Asia/Tokyo',
    inFlight: 3,
    safetyMs: 2_000,
    now: () => t,
    sleep,
    ...over,
  };
}
const inv = (owner = 'req-1', remainingMs = 100_000) => ({ owner, remainingMs });
const startedNames = () => sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name);
const sent = (url: string) =>
  sqsMock
    .commandCalls(SendMessageBatchCommand)
    .filter((c) => c.args[0].input.QueueUrl === url)
    .flatMap((c) => c.args[0].input.Entries!);
const throttle = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

test('starts every task under its deterministic name with the envelope as input, records Started, and marks the batch done', async () => {
  const m = batch(5);
  const r = await startBatch(m, deps(), inv());
  expect(r).toMatchObject({ outcome: 'completed', started: 5, duplicate: 0, startFailed: 0, rejected: 0, calls: 5 });
  expect(startedNames().sort()).toEqual(m.tasks.map((e) => executionNameFor(e.taskId, 1)).sort());
  const call = sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input;
  expect(call.stateMachineArn).toBe(SM);
  expect(JSON.parse(call.input!)).toEqual(m.tasks.find((e) => executionNameFor(e.taskId, 1) === call.name));
  expect(records.map((x) => x.result)).toEqual(['Started', 'Started', 'Started', 'Started', 'Started']);
  expect(records.every((x) => x.type === 'client' && x.execution_arn?.startsWith(executionArnFor(SM, '')))).toBe(true);
  expect(await ledgerEnv.ledger.getBatch(m.batchId)).toMatchObject({ done: true, cursor: 5, owner: null });
  expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(0); // nothing spooled
});

test('the last batch of a tick completes the tick', async () => {
  const m = batch(2, { batches: 1 });
  await ledgerEnv.ledger.claimTick(m.tickId, 'producer', t + 60_000);
  await ledgerEnv.ledger.setPlan(m.tickId, 'producer', { planId: 'plan', tasks: 2, batches: 1, batchSize: 2, rejected: 0 }, true);
  await ledgerEnv.ledger.markPlanned(m.tickId, 'producer');
  expect(await startBatch(m, deps(), inv())).toMatchObject({ outcome: 'completed', tickCompleted: true });
  expect(await ledgerEnv.ledger.getTick(m.tickId)).toMatchObject({ batchesDone: 1, batches: 1 });
});

test('throttling is waited out through the shared gate: every task starts, nothing is spooled', async () => {
  let calls = 0;
  sfnMock.on(StartExecutionCommand).callsFake((input) => {
    calls++;
    t += 10;
    if (calls % 3 === 0) throw throttle();
    return { executionArn: executionArnFor(SM, input.name), startDate: new Date(t) };
  });
  const r = await startBatch(batch(30), deps(), inv());
  expect(r).toMatchObject({ outcome: 'completed', started: 30, startFailed: 0 });
  expect(r.calls).toBeGreaterThan(30);
  expect(r.throttleEvents).toBeGreaterThan(0);
  expect(sent(SPOOL)).toHaveLength(0);
  expect(new Set(records.map((x) => x.task_id)).size).toBe(30);
});

test('a name that already exists is a Duplicate (refused, or running since before the call), not a failure', async () => {
  const m = batch(2);
  sfnMock
    .on(StartExecutionCommand, { name: executionNameFor(m.tasks[0].taskId, 1) })
    .rejects(Object.assign(new Error('exists'), { name: 'ExecutionAlreadyExists' }))
    .on(StartExecutionCommand, { name: executionNameFor(m.tasks[1].taskId, 1) })
    .callsFake((input) => ({ executionArn: executionArnFor(SM, input.name), startDate: new Date(t - 60_000) }));
  const r = await startBatch(m, deps(), inv());
  expect(r).toMatchObject({ duplicate: 2, started: 0 });
  expect(records.map((x) => [x.result, x.execution_arn])).toEqual(expect.arrayContaining([['Duplicate', executionArnFor(SM, executionNameFor(m.tasks[0].taskId, 1))]]));
  expect(sent(SPOOL)).toHaveLength(0);
});

test('real start failures are spooled as StartFailed after bounded retries; what Step Functions refuses outright is quarantined as Rejected', async () => {
  const m = batch(3);
  const [a, b, c] = m.tasks.map((e) => executionNameFor(e.taskId, 1));
  sfnMock
    .on(StartExecutionCommand, { name: a })
    .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }))
    .on(StartExecutionCommand, { name: b })
    .rejects(Object.assign(new Error('internal'), { name: 'InternalFailure', $metadata: { httpStatusCode: 500 } }))
    .on(StartExecutionCommand, { name: c })
    .rejects(Object.assign(new Error('bad input'), { name: 'InvalidExecutionInput', $metadata: { httpStatusCode: 400 } }));
  const r = await startBatch(m, deps(), inv());
  expect(r).toMatchObject({ outcome: 'completed', startFailed: 2, rejected: 1 });
  const calls = (name: string) => sfnMock.commandCalls(StartExecutionCommand).filter((x) => x.args[0].input.name === name).length;
  expect([calls(a), calls(b), calls(c)]).toEqual([1, 4, 1]); // a 5xx is retried 3 times
  const spooled = sent(SPOOL).map((e) => JSON.parse(e.MessageBody!) as SpoolMessage);
  expect(spooled.map((s) => [s.kind, s.error, s.taskId]).sort()).toEqual([
    ['StartFailed', 'AccessDeniedException', m.tasks[0].taskId],
    ['StartFailed', 'InternalFailure', m.tasks[1].taskId],
  ]);
  expect(spooled[0]).toMatchObject({ stateMachineArn: SM, executionArn: null, failedState: 'Producer' });
  expect(spooled.find((s) => s.taskId === m.tasks[0].taskId)!.input).toEqual(m.tasks[0]);
  const quarantined = sent(QUARANTINE);
  expect(quarantined).toHaveLength(1);
  expect(JSON.parse(quarantined[0].MessageBody!)).toMatchObject({ kind: 'Rejected', error: 'InvalidExecutionInput', taskId: m.tasks[2].taskId });
  expect(quarantined[0].MessageAttributes!.reason.StringValue).toContain('InvalidExecutionInput');
  expect(records.map((x) => x.result).sort()).toEqual(['Rejected', 'StartFailed', 'StartFailed']);
});

test('at its deadline it stops, saves progress and hands the rest of the batch on in a new message', async () => {
  sfnMock.on(StartExecutionCommand).callsFake((input) => {
    t += 1_000; // each start takes a second of the invocation
    return { executionArn: executionArnFor(SM, input.name), startDate: new Date(t) };
  });
  const m = batch(20);
  const r = await startBatch(m, deps({ inFlight: 1, safetyMs: 2_000 }), inv('req-1', 10_000));
  // Starts are attempted until 10 s - 2 s of safety.
  expect(r).toMatchObject({ outcome: 'continued', started: 8 });
  expect(await ledgerEnv.ledger.getBatch(m.batchId)).toMatchObject({ cursor: 8, done: false, owner: null });
  const cont = sqsMock.commandCalls(SendMessageCommand);
  expect(cont).toHaveLength(1);
  expect(cont[0].args[0].input.QueueUrl).toBe(TICK_QUEUE);
  const rest = parseTickBatch(cont[0].args[0].input.MessageBody!);
  expect(rest).toMatchObject({ batchId: m.batchId, offset: 8, total: 20 });
  expect(rest.tasks).toEqual(m.tasks.slice(8));
  expect(records).toHaveLength(8);

  // The next invocation takes the rest and spends no call on the 8 already started.
  sfnMock.resetHistory();
  const r2 = await startBatch(rest, deps(), inv('req-2'));
  expect(r2).toMatchObject({ outcome: 'completed', started: 12, calls: 12 });
  expect(startedNames()).toEqual(expect.not.arrayContaining(m.tasks.slice(0, 8).map((e) => executionNameFor(e.taskId, 1))));
});

test('a batch already done, or held by another live invocation, costs no StartExecution call', async () => {
  const m = batch(4);
  await startBatch(m, deps(), inv());
  sfnMock.resetHistory();
  expect(await startBatch(m, deps(), inv('req-2'))).toMatchObject({ outcome: 'alreadyDone', calls: 0 });
  const other = batch(4, { batchId: batchLedgerKey(job, '20260301T0005Z', 'plan', 1), index: 1, batches: 2 });
  await ledgerEnv.ledger.claimBatch(other.batchId, 'someone-else', t + 60_000, 4);
  expect(await startBatch(other, deps(), inv('req-3'))).toMatchObject({ outcome: 'busy', calls: 0 });
  expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
});

test('a redelivered batch resumes after its checkpoint: no call for tasks before the cursor or recorded after it', async () => {
  const m = batch(6);
  // An earlier invocation recorded tasks 0, 1 and 4, then lost its lease (it expired).
  await ledgerEnv.ledger.claimBatch(m.batchId, 'crashed', t - 1, 6);
  await ledgerEnv.ledger.checkpointBatch(m.batchId, 'crashed', 2, [4]);
  const r = await startBatch(m, deps(), inv('req-2'));
  expect(r).toMatchObject({ outcome: 'completed', started: 3, calls: 3 });
  expect(startedNames().sort()).toEqual([2, 3, 5].map((i) => executionNameFor(m.tasks[i].taskId, 1)).sort());
  expect(await ledgerEnv.ledger.getBatch(m.batchId)).toMatchObject({ done: true, cursor: 6, doneAbove: [] });
});

test('a checkpoint that fails (Firehose refused the records) fails the batch without moving the cursor past unrecorded starts', async () => {
  const m = batch(5);
  const failing = deps({ sink: { put: async () => Promise.reject(Object.assign(new Error('slow down'), { name: 'ServiceUnavailableException' })) } });
  await expect(startBatch(m, failing, inv())).rejects.toMatchObject({ name: 'ServiceUnavailableException' });
  expect(await ledgerEnv.ledger.getBatch(m.batchId)).toMatchObject({ cursor: 0, done: false, owner: null });
});

describe('the event-source handler', () => {
  const event = (body: string, messageId = 'msg-1'): SQSEvent => ({
    Records: [{ messageId, receiptHandle: 'r', body, attributes: { ApproximateReceiveCount: '1', SentTimestamp: '1', SenderId: 's', ApproximateFirstReceiveTimestamp: '1' }, messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: 'arn', awsRegion: 'us-east-1' }],
  });
  const context = { getRemainingTimeInMillis: () => 100_000, awsRequestId: 'req-h' };

  test('reports only the failed record (ReportBatchItemFailures): a malformed body or an unknown state machine goes back to the queue, towards the dead-letter queue', async () => {
    const logs: Array<[string, Record<string, unknown>]> = [];
    const handler = createStarterHandler(deps({ log: (msg, f) => void logs.push([msg, f]) }));
    expect(await handler(event('{nope', 'bad-json'), context)).toEqual({ batchItemFailures: [{ itemIdentifier: 'bad-json' }] });
    expect(await handler(event(JSON.stringify(batch(1, { stateMachineArn: SM.replace('orders', 'other') })), 'foreign'), context)).toEqual({ batchItemFailures: [{ itemIdentifier: 'foreign' }] });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(await handler(event(JSON.stringify(batch(2))), context)).toEqual({ batchItemFailures: [] });
    expect(JSON.stringify(logs)).not.toContain('taro@example.com');
    expect(logs.map((l) => l[1].error).filter(Boolean)).toEqual(['InvalidTickMessageError', 'UnknownStateMachineError']);
  });

  test('publishes counts per batch', async () => {
    const counted: Record<string, number> = {};
    const handler = createStarterHandler(deps({ metric: (name, value) => void (counted[name] = (counted[name] ?? 0) + value) }));
    await handler(event(JSON.stringify(batch(3))), context);
    expect(counted).toMatchObject({ TasksStarted: 3, TasksDuplicate: 0, TasksStartFailed: 0, TasksRejected: 0, StartCalls: 3, BatchesCompleted: 1 });
  });
});
