/**
 * Reprocess acting on the failed-invocations queue (`source: "failedInvocations"`), rule by rule,
 * against aws-sdk-client-mock: an in-memory queue behind the mocked SQS client and a scripted
 * Lambda Invoke. Records have the shape Lambda's on-failure destination writes (AWS Lambda developer
 * guide, "Capturing records of asynchronous invocations").
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DeleteMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { FailedInvocationsDeps, handleFailedInvocations, parseFailureRecord, unqualifiedFunctionArn } from '../lambdas/reprocess/failed-invocations';
import { FailedInvocationsOptions, InvalidPayloadError, parseRequest, ReprocessPayload } from '../lambdas/reprocess/payload';
import { FakeQueueMessage, FakeSqs } from './support/fake-sqs';

const QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/failed-invocations';
const FN = (name: string) => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;
const FUNCTIONS = new Map([
  ['producer:orders', FN('App-ProducerOrders-1')],
  ['executionCapture', FN('App-Capture-1')],
  ['sweeper', FN('App-Sweeper-1')],
]);
const sqsMock = mockClient(SQSClient);
const lambdaMock = mockClient(LambdaClient);

let fake: FakeSqs;
let queue: FakeQueueMessage[];
let seq = 0;
let clock = 0;

/** An on-failure record as Lambda writes it. */
function record(functionName: string, requestPayload: unknown, extra: { condition?: string; errorType?: string; qualifier?: string } = {}): string {
  return JSON.stringify({
    version: '1.0',
    timestamp: '2026-11-25T03:10:00.000Z',
    requestContext: { requestId: `req-${seq}`, functionArn: `${FN(functionName)}:${extra.qualifier ?? '$LATEST'}`, condition: extra.condition ?? 'RetriesExhausted', approximateInvokeCount: 3 },
    requestPayload,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: { errorType: extra.errorType ?? 'TickEnqueueError', errorMessage: 'secret detail jane@example.com', trace: [] },
  });
}
// Lambda wrote the record a minute ago.
const put = (body: string): FakeQueueMessage => fake.add(QUEUE, body, { id: `m${seq++}`, sentAt: clock - 60_000 });

beforeEach(() => {
  seq = 0;
  clock = 1_800_000_000_000;
  fake = new FakeSqs(() => clock);
  queue = fake.messages(QUEUE);
  sqsMock.reset();
  lambdaMock.reset();
  fake.install(sqsMock);
  lambdaMock.on(InvokeCommand).resolves({ StatusCode: 202 });
});

function deps(over: Partial<FailedInvocationsDeps> = {}): FailedInvocationsDeps {
  return { sqs: new SQSClient({ region: 'us-east-1' }), lambda: new LambdaClient({ region: 'us-east-1' }), queueUrl: QUEUE, functions: FUNCTIONS, remainingMs: 900_000, now: () => clock, sleep: async (ms) => void (clock += ms), ...over };
}
const options = (p: ReprocessPayload = {}) =>
  parseRequest({ source: 'failedInvocations', ...p }, 10, clock, { functions: new Set(FUNCTIONS.keys()), producerJobs: new Set(['orders']) }) as FailedInvocationsOptions;
const run = (p: ReprocessPayload = {}, over: Partial<FailedInvocationsDeps> = {}) => handleFailedInvocations(deps(over), options(p));
const invokes = () => lambdaMock.commandCalls(InvokeCommand).map((c) => c.args[0].input);

test('the record shape: functionArn without its qualifier, condition, count, error name, payload', () => {
  expect(unqualifiedFunctionArn(`${FN('x')}:$LATEST`)).toBe(FN('x'));
  expect(unqualifiedFunctionArn(`${FN('x')}:7`)).toBe(FN('x'));
  expect(unqualifiedFunctionArn(FN('x'))).toBe(FN('x'));
  expect(unqualifiedFunctionArn('arn:aws:states:us-east-1:1:stateMachine:x')).toBeNull();
  expect(parseFailureRecord(record('App-Sweeper-1', { scheduledTime: 't' }, { condition: 'EventAgeExceeded', errorType: 'SweepIncompleteError' }))).toEqual({
    functionArn: FN('App-Sweeper-1'),
    condition: 'EventAgeExceeded',
    approximateInvokeCount: 3,
    errorType: 'SweepIncompleteError',
    requestPayload: { scheduledTime: 't' },
  });
  expect(parseFailureRecord('{')).toBe('the body is not JSON');
  expect(parseFailureRecord('{"requestContext":{}}')).toMatch(/no requestContext.functionArn/);
  expect(parseFailureRecord(JSON.stringify({ requestContext: { functionArn: `${FN('x')}:$LATEST` } }))).toMatch(/no requestPayload/);
});

test('re-run: each record\'s function (the allow-listed ARN, never the record\'s) is invoked asynchronously with the original payload, then the record is deleted', async () => {
  // A tick five hours before the clock (1.8e12 ms is 2027-01-15T08:00Z): well inside the 42-day re-run limit.
  put(record('App-ProducerOrders-1', { scheduledTime: '2027-01-15T03:05:00Z' }));
  const capture = { version: '0', 'detail-type': 'Step Functions Execution Status Change', detail: { executionArn: 'arn:x', status: 'TIMED_OUT' } };
  put(record('App-Capture-1', capture, { qualifier: '3' }));
  const s = await run();
  expect(s).toMatchObject({ reinvoked: 2, invalid: 0, failed: 0, remaining: 0, stoppedBecause: 'empty' });
  expect(invokes()).toEqual([
    { FunctionName: FN('App-ProducerOrders-1'), InvocationType: 'Event', Payload: Buffer.from(JSON.stringify({ scheduledTime: '2027-01-15T03:05:00Z' })) },
    { FunctionName: FN('App-Capture-1'), InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(capture)) },
  ]);
  expect(queue).toHaveLength(0);
  // A producer's tick is shown; of other payloads only the keys. The function's error message never.
  expect(s.items).toEqual([
    { messageId: 'm0', function: 'producer:orders', condition: 'RetriesExhausted', approximateInvokeCount: 3, errorType: 'TickEnqueueError', tick: '2027-01-15T03:05:00Z', outcome: 'reinvoked' },
    { messageId: 'm1', function: 'executionCapture', condition: 'RetriesExhausted', approximateInvokeCount: 3, errorType: 'TickEnqueueError', payloadKeys: ['version', 'detail-type', 'detail'], outcome: 'reinvoked' },
  ]);
  expect(JSON.stringify(s)).not.toMatch(/jane@example.com|arn:x|TIMED_OUT/);
});

test('a record of a function that is not on the list is never invoked: invalid, left in the queue for a person to drop', async () => {
  put(record('SomebodyElses', { scheduledTime: 'x' }));
  put('not json');
  const s = await run();
  expect(s).toMatchObject({ reinvoked: 0, invalid: 2, remaining: 2 });
  expect(invokes()).toHaveLength(0);
  expect(s.items[0]).toMatchObject({ function: 'SomebodyElses', outcome: 'invalid', reason: expect.stringMatching(/not one of this app's re-invocable functions/) });
  expect(queue.every((m) => m.visible)).toBe(true);
});

test('an invoke that is refused leaves the record (failed, with the reason); throttling is retried', async () => {
  put(record('App-Sweeper-1', { scheduledTime: 'a' }));
  put(record('App-ProducerOrders-1', { scheduledTime: 'b' }));
  lambdaMock
    .on(InvokeCommand, { FunctionName: FN('App-Sweeper-1') })
    .rejects(Object.assign(new Error('not allowed'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } }));
  lambdaMock
    .on(InvokeCommand, { FunctionName: FN('App-ProducerOrders-1') })
    .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException', $metadata: { httpStatusCode: 429 } }))
    .resolves({ StatusCode: 202 });
  const s = await run();
  expect(s).toMatchObject({ reinvoked: 1, failed: 1, remaining: 1 });
  expect(s.items.find((i) => i.outcome === 'failed')).toMatchObject({ function: 'sweeper', reason: expect.stringMatching(/^Invoke: AccessDeniedException/) });
  expect(invokes().filter((i) => i.FunctionName === FN('App-ProducerOrders-1'))).toHaveLength(2);
  expect(queue.map((m) => JSON.parse(m.body).requestPayload)).toEqual([{ scheduledTime: 'a' }]);
});

test('dry run: lists every record, invokes and deletes nothing', async () => {
  put(record('App-ProducerOrders-1', { scheduledTime: 'b', replan: true }));
  put(record('App-Sweeper-1', {}));
  const s = await run({ dryRun: true });
  expect(s).toMatchObject({ wouldReinvoke: 2, reinvoked: 0, remaining: 2 });
  expect(s.items[0]).toMatchObject({ tick: 'b', replan: true });
  expect(invokes()).toHaveLength(0);
  expect(sqsMock.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
});

test('functions / job select records; the rest is skipped and left', async () => {
  put(record('App-ProducerOrders-1', { scheduledTime: 'b' }));
  put(record('App-Sweeper-1', {}));
  const s = await run({ job: 'orders' });
  expect(s).toMatchObject({ reinvoked: 1, skipped: 1, remaining: 1 });
  expect(invokes().map((i) => i.FunctionName)).toEqual([FN('App-ProducerOrders-1')]);
});

test('drop by message id deletes exactly those records, invokes nothing, and works on records that are not ours', async () => {
  put(record('App-ProducerOrders-1', { scheduledTime: 'b' }));
  put(record('SomebodyElses', {}));
  put('garbage');
  const s = await run({ drop: true, messageIds: ['m1', 'm2'] });
  expect(s).toMatchObject({ dropped: 2, skipped: 1, reinvoked: 0, remaining: 1 });
  expect(invokes()).toHaveLength(0);
  expect(queue.map((m) => m.id)).toEqual(['m0']);
});

test('max counts records handled: the rest waits for the next run', async () => {
  for (let i = 0; i < 5; i++) put(record('App-Sweeper-1', { n: i }));
  const s = await run({ max: 3 });
  expect(s).toMatchObject({ reinvoked: 3, stoppedBecause: 'max', remaining: 2 });
});

test('payload: a drop needs an explicit selection; unknown function labels and jobs are refused before anything is touched', () => {
  const field = (p: ReprocessPayload) => {
    try {
      options(p);
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidPayloadError);
      return (e as InvalidPayloadError).field;
    }
    return null;
  };
  expect(field({ drop: true })).toBe('drop');
  expect(field({ drop: true, job: 'orders' })).toBe('drop');
  expect(field({ drop: true, job: 'orders', max: 5 })).toBeNull();
  expect(field({ drop: true, messageIds: ['m0'] })).toBeNull();
  expect(field({ functions: ['lambda:anything'] })).toBe('functions');
  expect(field({ job: 'nope' })).toBe('job');
  expect(field({ force: true })).toBe('force');
  expect(field({ taskIds: ['t'] })).toBe('taskIds');
});
