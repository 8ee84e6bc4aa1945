import { ConditionalCheckFailedException, DeleteItemCommand, DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, DescribeExecutionCommandOutput, GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  CaptureDeps,
  CaptureResult,
  captureExecutionEnd,
  executionArnOf,
  InvalidCaptureEventError,
  metricsOf,
  parseJobsEnv,
  UnknownJobError,
  UnreadableExecutionInputError,
} from '../lambdas/execution-capture/logic';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { lockKey, LockKeys } from '../lambdas/shared/locks';
import { LocalHmac } from '../lambdas/shared/record-mac';

const LOCK_MAC = new LocalHmac(Buffer.alloc(32, 7));
import { ParamLogRecord } from '../lambdas/shared/param-log';
import { SpoolMessage } from '../lambdas/shared/spool-message';
import { HistoryBuilder } from './support/history-builder';

const sfnMock = mockClient(SFNClient);
const sqsMock = mockClient(SQSClient);
const ddbMock = mockClient(DynamoDBClient);

const SM = 'arn:aws:states:us-east-1:123456789012:stateMachine:Fanout';
const ARN = 'arn:aws:states:us-east-1:123456789012:execution:Fanout:example-fanout-20261125T0300Z-acct-1-a1';
const envelope: TaskEnvelope = {
  v: 1,
  taskId: 'example-fanout-20261125T0300Z-acct-1',
  job: 'example-fanout',
  key: 'acct-1',
  params: { account: 'acct-1', parts: 2, secret: 'personal-data-xyz' },
  attempt: 1,
  scheduledTime: '2026-11-25T03:00:00.000Z',
};
const parts = { parts: [{ part: 0 }, { part: 1 }] };
const JOBS = parseJobsEnv(JSON.stringify({ 'example-fanout': ['ListParts', 'ProcessParts', 'Summarize'], 'example-api': ['Fetch', 'CallApi', 'Publish'] }), JSON.stringify({ 'example-fanout': 'account' }));

let records: ParamLogRecord[];
let deps: CaptureDeps;

beforeEach(() => {
  sfnMock.reset();
  sqsMock.reset();
  ddbMock.reset();
  records = [];
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'msg-1' });
  ddbMock.on(DeleteItemCommand).resolves({});
  deps = {
    sfn: new SFNClient({ region: 'us-east-1' }),
    sqs: new SQSClient({ region: 'us-east-1' }),
    ddb: new DynamoDBClient({ region: 'us-east-1' }),
    sink: { put: async (r) => void records.push(...r) },
    spoolQueueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/spool',
    coordinationTable: 'coord',
    timeZone: 'Asia/Tokyo',
    jobs: JOBS,
    lockKeys: new LockKeys(LOCK_MAC),
    now: () => new Date('2026-11-25T04:00:00.000Z'),
  };
});

function described(over: Partial<DescribeExecutionCommandOutput> = {}, input: unknown = envelope): void {
  sfnMock.on(DescribeExecutionCommand).resolves({ executionArn: ARN, stateMachineArn: SM, status: 'ABORTED', input: JSON.stringify(input), startDate: new Date(), redriveCount: 0, ...over });
}
function history(h: HistoryBuilder): void {
  sfnMock.on(GetExecutionHistoryCommand).resolves({ events: h.reversed() });
}
function inTheMap(): HistoryBuilder {
  return new HistoryBuilder()
    .started(envelope)
    .task('AcquireLock', envelope, envelope)
    .task('ListParts', envelope, { output: parts })
    .entered('Map', 'ProcessParts', { output: parts })
    .entered('Task', 'ProcessPart', { task: envelope, index: 0, output: { value: { part: 0 } } });
}
function spooledMessage(): { body: SpoolMessage; attributes: Record<string, string | undefined> } {
  const input = sqsMock.commandCalls(SendMessageCommand)[0].args[0].input;
  return {
    body: JSON.parse(input.MessageBody!) as SpoolMessage,
    attributes: Object.fromEntries(Object.entries(input.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue])),
  };
}
const lockDelete = async () => ({
  TableName: 'coord',
  Key: { pk: { S: await lockKey('example-fanout', envelope.params, 'account', LOCK_MAC) } },
  ConditionExpression: '#o = :me',
  ExpressionAttributeValues: { ':me': { S: ARN } },
});

describe('the invocation', () => {
  test('a status-change event gives its execution ARN; so does {executionArn} from an operator', () => {
    expect(executionArnOf({ source: 'aws.states', 'detail-type': 'Step Functions Execution Status Change', detail: { executionArn: ARN, status: 'ABORTED' } })).toBe(ARN);
    expect(executionArnOf({ executionArn: ARN })).toBe(ARN);
  });

  test('anything else is refused with a typed error', () => {
    expect(() => executionArnOf({ source: 'aws.ec2', 'detail-type': 'EC2 Instance State-change Notification', detail: {} })).toThrow(InvalidCaptureEventError);
    expect(() => executionArnOf({ source: 'aws.states', 'detail-type': 'Step Functions Execution Status Change', detail: {} })).toThrow(InvalidCaptureEventError);
    expect(() => executionArnOf({ executionArn: 'not-an-arn' })).toThrow(InvalidCaptureEventError);
    expect(() => executionArnOf(null)).toThrow(InvalidCaptureEventError);
  });

  test('job shapes from the environment; a broken value names the variable', () => {
    expect(JOBS.get('example-fanout')).toEqual({ steps: ['ListParts', 'ProcessParts', 'Summarize'], exclusiveBy: 'account', lockLeaseSeconds: 0 });
    expect(JOBS.get('example-api')).toEqual({ steps: ['Fetch', 'CallApi', 'Publish'], exclusiveBy: null, lockLeaseSeconds: 0 });
    expect(parseJobsEnv('{"a":["S"]}', '{"a":"f"}', '{"a":45}').get('a')).toEqual({ steps: ['S'], exclusiveBy: 'f', lockLeaseSeconds: 45 });
    expect(() => parseJobsEnv('{"a":["S"]}', '{"a":"f"}', '{"a":-1}')).toThrow(/JOB_LOCK_LEASE\.a/);
    expect(() => parseJobsEnv('{', undefined)).toThrow(/JOB_STEPS/);
    expect(() => parseJobsEnv('{"a":[]}', undefined)).toThrow(/JOB_STEPS\.a/);
    expect(() => parseJobsEnv('{"a":["S"]}', '{"a":3}')).toThrow(/JOB_EXCLUSIVE\.a/);
  });
});

describe('not captured', () => {
  test.each(['RUNNING', 'PENDING_REDRIVE', 'SUCCEEDED'])('%s (redriven meanwhile, or never failed): ignored without reading anything else', async (status) => {
    described({ status: status as never });
    const r = await captureExecutionEnd(ARN, deps);
    expect(r).toMatchObject({ outcome: 'ignored', status, taskId: null });
    expect(sfnMock).not.toHaveReceivedCommand(GetExecutionHistoryCommand);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
    expect(ddbMock).not.toHaveReceivedCommand(DeleteItemCommand);
    expect(records).toHaveLength(0);
  });

  test('FAILED with the [spooled ...] marker: only the lock is released', async () => {
    described({ status: 'FAILED', error: 'TransientError', cause: '[spooled m-9] part 1 failed' });
    const r = await captureExecutionEnd(ARN, deps);
    expect(r).toMatchObject({ outcome: 'alreadySpooled', lockReleased: true, workerRecord: null, historyEvents: 0, taskId: envelope.taskId });
    expect(ddbMock).toHaveReceivedCommandWith(DeleteItemCommand, await lockDelete());
    expect(sfnMock).not.toHaveReceivedCommand(GetExecutionHistoryCommand);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
    expect(records).toHaveLength(0);
  });

  test('a marked failure of a job without exclusiveBy touches no lock', async () => {
    described({ status: 'FAILED', error: 'E', cause: '[spooled m] c' }, { ...envelope, job: 'example-api' });
    expect(await captureExecutionEnd(ARN, deps)).toMatchObject({ outcome: 'alreadySpooled', lockReleased: null });
    expect(ddbMock).not.toHaveReceivedCommand(DeleteItemCommand);
  });

  test('a lock held by another owner (or already released) is left alone: lockReleased false', async () => {
    described({ status: 'FAILED', error: 'E', cause: '[spooled m] c' });
    ddbMock.on(DeleteItemCommand).rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
    expect(await captureExecutionEnd(ARN, deps)).toMatchObject({ outcome: 'alreadySpooled', lockReleased: false });
  });

  test('stopped after SpoolFailure succeeded (no marker yet): not spooled twice', async () => {
    const caught = { failedState: 'ListParts', stepInput: null, caught: { Error: 'E', Cause: 'c' } };
    described({ status: 'ABORTED' });
    history(new HistoryBuilder().started(envelope).entered('Task', 'ListParts', envelope).exited('Pass', 'ListParts-Caught', caught).task('SpoolFailure', caught, caught).entered('Task', 'RecordFailure', caught));
    expect(await captureExecutionEnd(ARN, deps)).toMatchObject({ outcome: 'alreadySpooled', failedState: 'ListParts', lockReleased: true, workerRecord: null });
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
    expect(records).toHaveLength(0);
  });

  test('stopped after every step succeeded: nothing to replay; an Aborted record unless RecordSuccess ran', async () => {
    const done = () => inTheMap().exited('Map', 'ProcessParts', { output: [] }).task('Summarize', { output: [] }, { output: [] });
    described({ status: 'ABORTED' });
    history(done().entered('Task', 'ReleaseLock', {}));
    expect(await captureExecutionEnd(ARN, deps)).toMatchObject({ outcome: 'endedAfterSuccess', error: 'ExecutionAborted', failedState: 'ReleaseLock', workerRecord: 'Aborted', lockReleased: true });
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
    expect(records.map((r) => [r.result, r.failed_state])).toEqual([['Aborted', 'ReleaseLock']]);
    expect(records[0].cause).toMatch(/after every step had succeeded: not spooled/);

    records = [];
    history(done().task('ReleaseLock', {}, {}).entered('Task', 'RecordSuccess', {}));
    expect(await captureExecutionEnd(ARN, deps)).toMatchObject({ outcome: 'endedAfterSuccess', workerRecord: null });
    expect(records).toHaveLength(0);
  });
});

describe('spooled', () => {
  test('ABORTED inside a map: ExecutionAborted at the map, given ListParts\' output; Aborted record; lock released', async () => {
    described({ status: 'ABORTED', error: 'Operator', cause: 'stuck' });
    history(inTheMap());
    const r = await captureExecutionEnd(ARN, deps);
    expect(r).toMatchObject<Partial<CaptureResult>>({ outcome: 'spooled', status: 'ABORTED', error: 'ExecutionAborted', failedState: 'ProcessParts', messageId: 'msg-1', workerRecord: 'Aborted', lockReleased: true });
    const { body, attributes } = spooledMessage();
    expect(body).toEqual({
      version: 1,
      kind: 'ExecutionEnded',
      job: 'example-fanout',
      taskId: envelope.taskId,
      input: envelope,
      error: 'ExecutionAborted',
      cause: 'execution ABORTED in ProcessParts: Operator: stuck',
      failedState: 'ProcessParts',
      executionArn: ARN,
      stateMachineArn: SM,
      stepInput: parts,
      status: 'ABORTED',
    });
    expect(attributes).toEqual({ job: 'example-fanout', errorType: 'ExecutionAborted', kind: 'ExecutionEnded' });
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageCommand, { QueueUrl: deps.spoolQueueUrl });
    expect(records).toEqual([
      expect.objectContaining({ type: 'worker', result: 'Aborted', error: 'ExecutionAborted', failed_state: 'ProcessParts', task_id: envelope.taskId, execution_arn: ARN, time: '2026-11-25 13:00:00.000' }),
    ]);
    expect(JSON.parse(records[0].params)).toEqual(envelope.params);
    expect(ddbMock).toHaveReceivedCommandWith(DeleteItemCommand, await lockDelete());
    // History read newest first, with data, one page.
    expect(sfnMock).toHaveReceivedCommandTimes(GetExecutionHistoryCommand, 1);
    expect(sfnMock).toHaveReceivedCommandWith(GetExecutionHistoryCommand, { executionArn: ARN, reverseOrder: true, includeExecutionData: true });
  });

  test('TIMED_OUT in the first step: ExecutionTimedOut, stepInput null, TimedOut record', async () => {
    described({ status: 'TIMED_OUT', error: 'States.Timeout' });
    history(new HistoryBuilder().started(envelope).task('AcquireLock', envelope, envelope).entered('Task', 'ListParts', envelope));
    const r = await captureExecutionEnd(ARN, deps);
    expect(r).toMatchObject({ outcome: 'spooled', error: 'ExecutionTimedOut', failedState: 'ListParts', workerRecord: 'TimedOut' });
    expect(spooledMessage().body).toMatchObject({ status: 'TIMED_OUT', error: 'ExecutionTimedOut', stepInput: null, cause: 'execution TIMED_OUT in ListParts: States.Timeout' });
    expect(records[0]).toMatchObject({ result: 'TimedOut', error: 'ExecutionTimedOut' });
  });

  test('FAILED by an uncatchable error: the execution\'s own error, Failure record', async () => {
    described({ status: 'FAILED', error: 'States.DataLimitExceeded', cause: 'The state/task returned a result with a size exceeding the maximum' });
    history(inTheMap());
    const r = await captureExecutionEnd(ARN, deps);
    expect(r).toMatchObject({ outcome: 'spooled', error: 'States.DataLimitExceeded', workerRecord: 'Failure' });
    expect(spooledMessage().body).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded', failedState: 'ProcessParts', cause: 'execution FAILED in ProcessParts: States.DataLimitExceeded: The state/task returned a result with a size exceeding the maximum' });
    expect(spooledMessage().attributes.errorType).toBe('States.DataLimitExceeded');
  });

  test('FAILED with no error at all: ExecutionFailed', async () => {
    described({ status: 'FAILED' });
    history(inTheMap());
    expect(await captureExecutionEnd(ARN, deps)).toMatchObject({ error: 'ExecutionFailed', workerRecord: 'Failure' });
  });

  test('SpoolUnavailable: the original error, step and input from SpoolFailure-Caught; no second record', async () => {
    const su = { failedState: 'ProcessParts', stepInput: parts, caught: { Error: 'TransientError', Cause: '{"errorMessage":"part 1"}' }, spoolError: { Error: 'SQS.KmsThrottled', Cause: 'throttled' } };
    const h = inTheMap()
      .exited('Pass', 'ProcessParts-Caught', su)
      .entered('Task', 'SpoolFailure', su)
      .exited('Pass', 'SpoolFailure-Caught', su)
      .task('RecordSpoolUnavailable', su, su)
      .entered('Pass', 'MarkSpoolUnavailable', su)
      .entered('Fail', 'SpoolUnavailable', {});
    described({ status: 'FAILED', error: 'SpoolUnavailable', cause: 'TransientError in ProcessParts could not be spooled (SQS.KmsThrottled: throttled); the status-change capture spools it' });
    history(h);
    const r = await captureExecutionEnd(ARN, deps);
    expect(r).toMatchObject({ outcome: 'spooled', error: 'TransientError', failedState: 'ProcessParts', workerRecord: null });
    const { body, attributes } = spooledMessage();
    expect(body).toMatchObject({ kind: 'ExecutionEnded', status: 'FAILED', error: 'TransientError', failedState: 'ProcessParts', stepInput: parts });
    expect(body.cause.startsWith('{"errorMessage":"part 1"} [spooled by the status-change capture: the workflow could not reach the spool (SQS.KmsThrottled: throttled)')).toBe(true);
    expect(attributes.errorType).toBe('TransientError');
    expect(records).toHaveLength(0);
  });

  test('SpoolUnavailable whose own record failed too: the capture writes it, with the spool error', async () => {
    const su = { failedState: 'ListParts', stepInput: null, caught: { Error: 'StepTimeoutError', Cause: 'late' }, spoolError: { Error: 'SQS.X', Cause: 'down' } };
    described({ status: 'FAILED', error: 'SpoolUnavailable', cause: 'x' });
    history(
      new HistoryBuilder()
        .started(envelope)
        .entered('Task', 'ListParts', envelope)
        .exited('Pass', 'ListParts-Caught', su)
        .exited('Pass', 'SpoolFailure-Caught', su)
        .entered('Task', 'RecordSpoolUnavailable', su)
        .entered('Pass', 'MarkSpoolUnavailable', { ...su, recordError: { Error: 'Error', Cause: 'firehose' } }),
    );
    const r = await captureExecutionEnd(ARN, deps);
    expect(r).toMatchObject({ error: 'StepTimeoutError', workerRecord: 'TimedOut' });
    expect(records[0]).toMatchObject({ result: 'TimedOut', error: 'StepTimeoutError', failed_state: 'ListParts' });
    expect(records[0].cause).toContain('could not reach the spool (SQS.X: down)');
  });

  test('SpoolUnavailable without its state in the history: spooled under the execution\'s error, never guessed', async () => {
    described({ status: 'FAILED', error: 'SpoolUnavailable', cause: 'E in ListParts could not be spooled' });
    history(new HistoryBuilder().started(envelope).entered('Task', 'ListParts', envelope).entered('Fail', 'SpoolUnavailable', {}));
    expect(await captureExecutionEnd(ARN, deps)).toMatchObject({ error: 'SpoolUnavailable', workerRecord: 'Failure' });
  });

  test('ABORTED on the failure path while the spool was retried: the caught step and error are kept', async () => {
    const caught = { failedState: 'ProcessParts', stepInput: parts, caught: { Error: 'TransientError', Cause: 'part 1' } };
    described({ status: 'ABORTED' });
    history(inTheMap().exited('Pass', 'ProcessParts-Caught', caught).entered('Task', 'SpoolFailure', caught));
    await captureExecutionEnd(ARN, deps);
    expect(spooledMessage().body).toMatchObject({ error: 'ExecutionAborted', failedState: 'ProcessParts', stepInput: parts, cause: 'execution ABORTED in ProcessParts after TransientError (part 1)' });
  });

  test('stopped before any state: spooled at the first step, replayed from the start', async () => {
    described({ status: 'ABORTED' });
    history(new HistoryBuilder().started(envelope));
    expect(await captureExecutionEnd(ARN, deps)).toMatchObject({ outcome: 'spooled', failedState: 'ListParts' });
    expect(spooledMessage().body.stepInput).toBeNull();
  });

  test('a long history is read page by page until the step is found, and no further', async () => {
    const h = inTheMap();
    for (let i = 1; i < 30; i++) h.task('ProcessPart', { index: i }, { part: i });
    const events = h.reversed();
    sfnMock
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({ events: events.slice(0, 25), nextToken: 't1' })
      .resolvesOnce({ events: events.slice(25, 50), nextToken: 't2' })
      .resolvesOnce({ events: events.slice(50, 75), nextToken: 't3' })
      .resolves({ events: [] });
    described({ status: 'ABORTED' });
    const r = await captureExecutionEnd(ARN, { ...deps, historyPageSize: 25 });
    expect(r).toMatchObject({ failedState: 'ProcessParts', historyPages: 3 });
    expect(sfnMock).toHaveReceivedCommandTimes(GetExecutionHistoryCommand, 3);
    expect(sfnMock.commandCalls(GetExecutionHistoryCommand).map((c) => [c.args[0].input.nextToken, c.args[0].input.maxResults])).toEqual([
      [undefined, 25],
      ['t1', 25],
      ['t2', 25],
    ]);
  });

  test('a history longer than maxHistoryPages: stops there and spools a replay from the first step', async () => {
    const nested = new HistoryBuilder();
    for (let i = 0; i < 10; i++) nested.task('ProcessPart', { index: i }, { part: i });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: nested.reversed(), nextToken: 'more' });
    described({ status: 'ABORTED' });
    const r = await captureExecutionEnd(ARN, { ...deps, maxHistoryPages: 2 });
    expect(sfnMock).toHaveReceivedCommandTimes(GetExecutionHistoryCommand, 2);
    expect(r).toMatchObject({ outcome: 'spooled', failedState: 'ListParts', historyPages: 2 });
    expect(spooledMessage().body.stepInput).toBeNull();
  });

  test('a message that would pass the SQS limit drops the step input (replay from the first step)', async () => {
    described({ status: 'ABORTED' });
    const huge = { output: { blob: 'x'.repeat(1024 * 1024) } };
    history(new HistoryBuilder().started(envelope).task('ListParts', envelope, huge).entered('Map', 'ProcessParts', huge));
    await captureExecutionEnd(ARN, deps);
    const { body } = spooledMessage();
    expect(body.stepInput).toBeNull();
    expect(body.cause).toMatch(/step input dropped/);
  });

  test('params without the exclusive key: no lock to release, still spooled', async () => {
    const noKey = { ...envelope, params: { parts: 2 } };
    described({ status: 'ABORTED' }, noKey);
    history(new HistoryBuilder().started(noKey).entered('Task', 'AcquireLock', noKey));
    expect(await captureExecutionEnd(ARN, deps)).toMatchObject({ outcome: 'spooled', failedState: 'AcquireLock', lockReleased: null });
    expect(ddbMock).not.toHaveReceivedCommand(DeleteItemCommand);
  });
});

describe('the lock of an execution that ended while a step ran', () => {
  const leased = parseJobsEnv(JSON.stringify({ 'example-fanout': ['ListParts', 'ProcessParts', 'Summarize'] }), JSON.stringify({ 'example-fanout': 'account' }), JSON.stringify({ 'example-fanout': 45 }));
  const stopDate = new Date('2026-11-25T03:59:30.000Z');

  test('ABORTED inside a map: the lock is kept until the end + the longest step timeout, not released (its Lambda runs on)', async () => {
    ddbMock.on(UpdateItemCommand).resolves({});
    described({ status: 'ABORTED', stopDate });
    history(inTheMap());
    const r = await captureExecutionEnd(ARN, { ...deps, jobs: leased });
    expect(r).toMatchObject({ outcome: 'spooled', lockReleased: false, lockKeptUntil: '2026-11-25T04:00:15.000Z' });
    expect(ddbMock).not.toHaveReceivedCommand(DeleteItemCommand);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateItemCommand, {
      Key: (await lockDelete()).Key,
      ConditionExpression: '#o = :me',
      ExpressionAttributeValues: expect.objectContaining({ ':me': { S: ARN }, ':until': { N: String(Date.parse('2026-11-25T04:00:15.000Z') / 1000) } }),
    });
  });

  test('a lease already past (the capture ran late) releases it; an end outside a step (the Catch spooled it) releases it at once', async () => {
    described({ status: 'ABORTED', stopDate: new Date('2026-11-25T03:00:00.000Z') });
    history(inTheMap());
    expect(await captureExecutionEnd(ARN, { ...deps, jobs: leased })).toMatchObject({ lockReleased: true, lockKeptUntil: null });
    // No lease of the lock (the capture's own mark is an UpdateItem on its capture# item).
    expect(ddbMock.commandCalls(UpdateItemCommand).filter((c) => String(c.args[0].input.Key?.pk?.S).startsWith('lock#'))).toHaveLength(0);
    ddbMock.resetHistory();
    described({ status: 'FAILED', stopDate, cause: '[spooled msg-0] TransientError' });
    expect(await captureExecutionEnd(ARN, { ...deps, jobs: leased })).toMatchObject({ outcome: 'alreadySpooled', lockReleased: true, lockKeptUntil: null });
    expect(ddbMock).toHaveReceivedCommandWith(DeleteItemCommand, await lockDelete());
  });
});

describe('failures', () => {
  test('an input that is not JSON: typed error, and the message quotes nothing of it', async () => {
    described({ status: 'ABORTED', input: 'personal-data-xyz not json' });
    const e = await captureExecutionEnd(ARN, deps).catch((x: Error) => x);
    expect(e).toBeInstanceOf(UnreadableExecutionInputError);
    expect((e as Error).message).not.toContain('personal-data-xyz');
  });

  test('an input that is not an envelope: typed error naming the field, not its value', async () => {
    described({ status: 'ABORTED' }, { ...envelope, attempt: 'personal-data-xyz' });
    const e = await captureExecutionEnd(ARN, deps).catch((x: Error) => x);
    expect(e).toBeInstanceOf(UnreadableExecutionInputError);
    expect((e as Error).message).toMatch(/attempt/);
    expect((e as Error).message).not.toContain('personal-data-xyz');
  });

  test('a job the capture does not know: UnknownJobError (config and stack out of step)', async () => {
    described({ status: 'ABORTED' }, { ...envelope, job: 'gone' });
    await expect(captureExecutionEnd(ARN, deps)).rejects.toThrow(UnknownJobError);
  });

  test('the spool refuses: throws before any record is written (the retry writes it once)', async () => {
    described({ status: 'ABORTED' });
    history(inTheMap());
    sqsMock.on(SendMessageCommand).rejects(new Error('KMS.DisabledException'));
    await expect(captureExecutionEnd(ARN, deps)).rejects.toThrow('KMS.DisabledException');
    expect(records).toHaveLength(0);
  });

  test('the record cannot be written: throws (Lambda retries; the spool message may then be sent twice)', async () => {
    described({ status: 'ABORTED' });
    history(inTheMap());
    deps = { ...deps, sink: { put: async () => Promise.reject(new Error('firehose down')) } };
    await expect(captureExecutionEnd(ARN, deps)).rejects.toThrow('firehose down');
    expect(sqsMock).toHaveReceivedCommandTimes(SendMessageCommand, 1);
  });
});

test('metrics: one count per outcome, per spooled status, per record and per released lock', () => {
  const base: CaptureResult = { outcome: 'spooled', executionArn: ARN, status: 'TIMED_OUT', taskId: 't', job: 'j', error: 'ExecutionTimedOut', failedState: 'S', messageId: 'm', workerRecord: 'TimedOut', lockReleased: true, lockKeptUntil: null, historyEvents: 3, historyPages: 1 };
  expect(metricsOf(base)).toEqual([['Spooled', 1], ['SpooledTimedOut', 1], ['WorkerRecordsWritten', 1], ['LocksReleased', 1]]);
  expect(metricsOf({ ...base, status: 'ABORTED', workerRecord: null, lockReleased: false })).toEqual([['Spooled', 1], ['SpooledAborted', 1]]);
  expect(metricsOf({ ...base, lockReleased: false, lockKeptUntil: '2026-11-25T04:00:45.000Z' })).toEqual([['Spooled', 1], ['SpooledTimedOut', 1], ['WorkerRecordsWritten', 1], ['LocksKeptAfterEnd', 1]]);
  expect(metricsOf({ ...base, status: 'FAILED', lockReleased: null })).toEqual([['Spooled', 1], ['SpooledFailed', 1], ['WorkerRecordsWritten', 1]]);
  expect(metricsOf({ ...base, outcome: 'alreadySpooled', workerRecord: null })).toEqual([['AlreadySpooled', 1], ['LocksReleased', 1]]);
  expect(metricsOf({ ...base, outcome: 'ignored', workerRecord: null, lockReleased: null })).toEqual([['IgnoredNotEnded', 1]]);
  expect(metricsOf({ ...base, outcome: 'endedAfterSuccess', lockReleased: null })).toEqual([['EndedAfterSuccess', 1], ['WorkerRecordsWritten', 1]]);
});
