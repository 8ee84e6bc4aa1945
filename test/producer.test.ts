import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { ParamLogRecord } from '../lambdas/shared/param-log';
import { SpoolMessage } from '../lambdas/shared/spool-message';
import { executionNameFor, taskIdFor } from '../lambdas/shared/names';
import { ProduceFn, runTick, SpoolSendError, TickDeps } from '../lambdas/producer/logic';
import { FirehoseClient, PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import { FirehoseParamLogSink, ParamLogWriteError } from '../lambdas/shared/firehose-sink';

const sfnMock = mockClient(SFNClient);
const sqsMock = mockClient(SQSClient);
const SM = 'arn:aws:states:ap-northeast-1:111122223333:stateMachine:orders';
const tick = new Date('2026-03-01T00:05:00.000Z');
const invokedAt = new Date('2026-03-01T00:05:01.000Z');
let records: ParamLogRecord[];
let logs: Array<[string, Record<string, unknown>]>;

function deps(): TickDeps {
  return {
    job: 'orders',
    stateMachineArn: SM,
    spoolQueueUrl: 'https://sqs.local/spool',
    timeZone: 'Asia/Tokyo',
    sfn: new SFNClient({ region: 'us-east-1' }),
    sqs: new SQSClient({ region: 'us-east-1' }),
    sink: { put: async (r) => void records.push(...r) },
    now: () => invokedAt,
    log: (m, f) => logs.push([m, f]),
  };
}
const spooled = (): SpoolMessage[] =>
  sqsMock.commandCalls(SendMessageBatchCommand).flatMap((c) => c.args[0].input.Entries!.map((e) => JSON.parse(e.MessageBody!) as SpoolMessage));
const secret = { name: 'Taro', email: 'taro@example.com' };

beforeEach(() => {
  sfnMock.reset();
  sqsMock.reset();
  records = [];
  logs = [];
  sfnMock.on(StartExecutionCommand).callsFake((input) => ({ executionArn: `${SM.replace('stateMachine', 'execution')}:${input.name}`, startDate: new Date(invokedAt.getTime() + 10) }));
  sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
});

const three: ProduceFn = () => [1, 2, 3].map((i) => ({ key: `k${i}`, params: { i, customer: secret } }));

test('starts one execution per task under the deterministic name with the envelope as input', async () => {
  const summary = await runTick({ scheduledTime: tick.toISOString() }, three, deps());
  expect(summary).toMatchObject({ tasks: 3, started: 3, duplicate: 0, startFailed: 0, spooled: 0, producerFailed: false });
  const calls = sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input);
  expect(calls.map((c) => c.name).sort()).toEqual(['k1', 'k2', 'k3'].map((k) => executionNameFor(taskIdFor('orders', tick, k), 1)));
  expect(JSON.parse(calls[0].input!)).toMatchObject({ v: 1, job: 'orders', attempt: 1, scheduledTime: tick.toISOString(), params: { customer: secret } });
  expect(records.map((r) => r.result)).toEqual(['Started', 'Started', 'Started']);
  expect(records.every((r) => r.type === 'client' && r.execution_arn?.includes(':execution:'))).toBe(true);
  expect(JSON.stringify(logs)).not.toContain('taro@example.com');
  expect(logs.map((l) => l[0])).toEqual(['tick start', 'tick end']);
});

test('a redelivered tick starts nothing new: ExecutionAlreadyExists and an earlier startDate are Duplicate', async () => {
  sfnMock
    .on(StartExecutionCommand)
    .rejectsOnce(Object.assign(new Error('exists'), { name: 'ExecutionAlreadyExists' }))
    .resolvesOnce({ executionArn: `${SM}:x`, startDate: new Date(invokedAt.getTime() - 60_000) })
    .resolvesOnce({ executionArn: `${SM}:y`, startDate: new Date(invokedAt.getTime() + 5) });
  const summary = await runTick({ scheduledTime: tick.toISOString() }, three, { ...deps(), concurrency: 1 });
  expect(summary).toMatchObject({ started: 1, duplicate: 2, spooled: 0 });
  expect(records.filter((r) => r.result === 'Duplicate')[0].execution_arn).toBe(`${SM.replace(':stateMachine:', ':execution:')}:${executionNameFor(taskIdFor('orders', tick, 'k1'), 1)}`);
});

test('a start failure is spooled with the original envelope and recorded StartFailed; the other tasks still start', async () => {
  sfnMock.on(StartExecutionCommand, { name: executionNameFor(taskIdFor('orders', tick, 'k2'), 1) }).rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));
  const summary = await runTick({ scheduledTime: tick.toISOString() }, three, deps());
  expect(summary).toMatchObject({ started: 2, startFailed: 1, spooled: 1 });
  const [m] = spooled();
  expect(m).toMatchObject({ kind: 'StartFailed', job: 'orders', taskId: taskIdFor('orders', tick, 'k2'), error: 'ThrottlingException', failedState: 'Producer', executionArn: null, stateMachineArn: SM });
  expect(m.input).toMatchObject({ key: 'k2', params: { i: 2, customer: secret } });
  const attrs = sqsMock.commandCalls(SendMessageBatchCommand)[0].args[0].input.Entries![0].MessageAttributes!;
  expect([attrs.job.StringValue, attrs.errorType.StringValue, attrs.kind.StringValue]).toEqual(['orders', 'ThrottlingException', 'StartFailed']);
  expect(records.find((r) => r.task_id === m.taskId)).toMatchObject({ result: 'StartFailed', error: 'ThrottlingException', cause: 'slow down' });
});

test('bad producer output: non-object, bad key, duplicate key, non-JSON params and oversize envelopes are each StartFailed and spooled', async () => {
  const produce: ProduceFn = () =>
    [
      { key: 'ok', params: { a: 1 } },
      42,
      { key: '', params: {} },
      { key: 'ok', params: { again: true } },
      { key: 'date', params: { when: new Date() } },
      { key: 'big', params: { blob: 'x'.repeat(300 * 1024) } },
    ] as never;
  const summary = await runTick({ scheduledTime: tick.toISOString() }, produce, deps());
  expect(summary).toMatchObject({ tasks: 6, started: 1, startFailed: 5, spooled: 5 });
  expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(1);
  expect(spooled().map((m) => m.error).sort()).toEqual(['DuplicateTaskKey', 'EnvelopeTooLarge', 'InvalidTaskSpec', 'InvalidTaskSpec', 'InvalidTaskSpec']);
  const big = spooled().find((m) => m.error === 'EnvelopeTooLarge')!;
  expect(big.input?.params).toEqual({ blob: 'x'.repeat(300 * 1024) });
  // The record keeps the complete params, never truncated.
  expect(JSON.parse(records.find((r) => r.error === 'EnvelopeTooLarge')!.params).blob).toHaveLength(300 * 1024);
  // Spool batches never exceed 10 entries.
  for (const c of sqsMock.commandCalls(SendMessageBatchCommand)) expect(c.args[0].input.Entries!.length).toBeLessThanOrEqual(10);
});

test.each([
  ['throws', (() => { throw new TypeError('db unreachable'); }) as ProduceFn, 'TypeError'],
  ['returns a non-list', (() => ({ tasks: [] })) as unknown as ProduceFn, 'InvalidProducerOutput'],
])('a producer that %s gives one StartFailed record and a ProducerFailed spool message; the handler returns', async (_, produce, error) => {
  const summary = await runTick({ scheduledTime: tick.toISOString() }, produce, deps());
  expect(summary).toMatchObject({ producerFailed: true, tasks: 0, started: 0, spooled: 1 });
  expect(records).toHaveLength(1);
  expect(records[0]).toMatchObject({ task_id: 'orders-20260301T0005Z-producer', result: 'StartFailed', error });
  expect(spooled()[0]).toMatchObject({ kind: 'ProducerFailed', input: null, error, failedState: 'Producer' });
});

test('a spool that refuses messages fails the tick so Scheduler retries it', async () => {
  sfnMock.on(StartExecutionCommand).rejects(Object.assign(new Error('x'), { name: 'ServiceUnavailable' }));
  sqsMock.on(SendMessageBatchCommand).callsFake((input) => ({ Failed: input.Entries.map((e: { Id: string }) => ({ Id: e.Id, Code: 'x', SenderFault: false })) }));
  await expect(runTick({ scheduledTime: tick.toISOString() }, three, deps())).rejects.toBeInstanceOf(SpoolSendError);
  expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(2); // one re-send of the refused entries
});

test('an event without scheduledTime is refused', async () => {
  await expect(runTick({}, three, deps())).rejects.toThrow(/scheduledTime/);
});

describe('FirehoseParamLogSink', () => {
  const fh = mockClient(FirehoseClient);
  beforeEach(() => fh.reset());
  const rec = (i: number): ParamLogRecord => ({ time: 't', type: 'client', task_id: `t${i}`, module: 'm', params: '{}', result: 'Started', error: null, cause: null, execution_arn: null, attempt: 1, scheduled_time: 's', failed_state: null });

  test('re-sends only the records Firehose refused, then succeeds', async () => {
    fh.on(PutRecordBatchCommand)
      .resolvesOnce({ FailedPutCount: 1, RequestResponses: [{ RecordId: 'a' }, { ErrorCode: 'ServiceUnavailableException' }, { RecordId: 'c' }] })
      .resolvesOnce({ FailedPutCount: 0, RequestResponses: [{ RecordId: 'b' }] });
    await new FirehoseParamLogSink(new FirehoseClient({ region: 'us-east-1' }), 's', { sleep: async () => undefined }).put([rec(0), rec(1), rec(2)]);
    const calls = fh.commandCalls(PutRecordBatchCommand);
    expect(calls).toHaveLength(2);
    expect(Buffer.from(calls[1].args[0].input.Records![0].Data!).toString()).toContain('"task_id":"t1"');
    expect(calls[1].args[0].input.Records).toHaveLength(1);
  });

  test('throws when records are still refused after every retry', async () => {
    fh.on(PutRecordBatchCommand).resolves({ FailedPutCount: 1, RequestResponses: [{ ErrorCode: 'ServiceUnavailableException' }] });
    await expect(new FirehoseParamLogSink(new FirehoseClient({ region: 'us-east-1' }), 's', { maxRetries: 2, sleep: async () => undefined }).put([rec(0)])).rejects.toBeInstanceOf(ParamLogWriteError);
    expect(fh.commandCalls(PutRecordBatchCommand)).toHaveLength(3);
  });

  test('splits into calls of at most 500 records', async () => {
    fh.on(PutRecordBatchCommand).resolves({ FailedPutCount: 0 });
    await new FirehoseParamLogSink(new FirehoseClient({ region: 'us-east-1' }), 's').put(Array.from({ length: 1201 }, (_, i) => rec(i)));
    expect(fh.commandCalls(PutRecordBatchCommand).map((c) => c.args[0].input.Records!.length)).toEqual([500, 500, 201]);
  });
});
