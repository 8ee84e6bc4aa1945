/**
 * Cases of the sweeper fauxqs cannot show: SQS handing back messages already seen (fauxqs always
 * puts a released message at the back), the X-Ray trace header (fauxqs drops it), failures of
 * delete, batch and receive calls. aws-sdk-client-mock, reset per test; and the pure parts.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { mockClient } from 'aws-sdk-client-mock';
import { DEFAULT_SWEEP_SETTINGS, parseQueues, QueueSweepResult, resendAttributes, sweep, SWEEP_ATTR_FOLDED, SweepIncompleteError, SweepSettings } from '../lambdas/sweeper/logic';
import { publishSweepMetrics } from '../lambdas/sweeper/metrics';
import { SPOOL_ATTR_FIRST_SENT, SPOOL_ATTR_PRIOR_RECEIVES, SPOOL_ATTR_SWEEPS } from '../lambdas/shared/spool-message';

const sqsMock = mockClient(SQSClient);
const client = new SQSClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
const Q = { name: 'spool', url: 'https://sqs.us-east-1.amazonaws.com/123456789012/spool', retentionSeconds: 14 * 86_400 };
const settings: SweepSettings = { ...DEFAULT_SWEEP_SETTINGS, marginSeconds: 86_400 };
const T0 = Date.UTC(2026, 10, 1);
const OLD_NOW = T0 + 13 * 86_400_000 + 1;

beforeEach(() => sqsMock.reset());

const msg = (id: string, extra: Partial<Message> = {}): Message => ({
  MessageId: id,
  ReceiptHandle: `rh-${id}`,
  Body: `{"taskId":"${id}"}`,
  Attributes: { SentTimestamp: String(T0), ApproximateReceiveCount: '1', ...(extra.Attributes ?? {}) },
  MessageAttributes: { job: { DataType: 'String', StringValue: 'job-a' }, ...(extra.MessageAttributes ?? {}) },
});
const run = async (now: number) => (await sweep({ sqs: client, now: () => now, remainingMs: () => 60_000 }, settings, [Q])).queues[0];
const callsOf = (cmd: unknown) => sqsMock.commandCalls(cmd as never).map((c) => c.args[0].input as Record<string, unknown>);

test('when SQS hands back messages already seen, the repeats are set aside briefly (first sightings are released at once) and an unreached remainder is reported incomplete', async () => {
  sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '5', ApproximateNumberOfMessagesNotVisible: '0', MessageRetentionPeriod: String(14 * 86_400) } });
  sqsMock.on(ReceiveMessageCommand).resolves({ Messages: [msg('a'), msg('b')] });
  sqsMock.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [] });
  const r = await run(T0 + 3_600_000);
  expect(r).toMatchObject({ stoppedBecause: 'stale', complete: false, messages: 2, repeats: 2 * settings.staleReceives, receives: 1 + settings.staleReceives });
  const cmv = callsOf(ChangeMessageVisibilityBatchCommand) as Array<{ Entries: Array<{ VisibilityTimeout: number }> }>;
  expect(cmv[0].Entries.map((e) => e.VisibilityTimeout)).toEqual([0, 0]);
  for (const c of cmv.slice(1)) expect(c.Entries.map((e) => e.VisibilityTimeout)).toEqual([settings.repeatHoldSeconds, settings.repeatHoldSeconds]);
});

test('the copy keeps the X-Ray trace header and the history; the original is deleted only after the copy was accepted', async () => {
  sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '1', ApproximateNumberOfMessagesNotVisible: '0' } });
  sqsMock.on(ReceiveMessageCommand).resolves({ Messages: [msg('a', { Attributes: { AWSTraceHeader: 'Root=1-abc;Parent=def;Sampled=1', ApproximateReceiveCount: '4' } as never })] });
  sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [{ Id: '0', MessageId: 'copy-a', MD5OfMessageBody: 'x' }], Failed: [] });
  sqsMock.on(DeleteMessageBatchCommand).resolves({ Successful: [{ Id: '0' }] });
  const r = await run(OLD_NOW);
  expect(r).toMatchObject({ resent: 1, complete: true });
  const [entry] = (callsOf(SendMessageBatchCommand)[0] as { Entries: Array<Record<string, unknown>> }).Entries;
  expect(entry).toMatchObject({
    MessageBody: '{"taskId":"a"}',
    MessageSystemAttributes: { AWSTraceHeader: { DataType: 'String', StringValue: 'Root=1-abc;Parent=def;Sampled=1' } },
    MessageAttributes: { job: { DataType: 'String', StringValue: 'job-a' }, [SPOOL_ATTR_FIRST_SENT]: { StringValue: String(T0) }, [SPOOL_ATTR_PRIOR_RECEIVES]: { StringValue: '4' } },
  });
  const order = sqsMock.calls().map((c) => (c.args[0] as object).constructor.name);
  expect(order.indexOf('SendMessageBatchCommand')).toBeLessThan(order.indexOf('DeleteMessageBatchCommand'));
  expect(callsOf(DeleteMessageBatchCommand)[0]).toMatchObject({ Entries: [{ ReceiptHandle: 'rh-a' }] });
});

test('a copy accepted whose original cannot be deleted is counted (a harmless duplicate) and makes the sweep incomplete', async () => {
  sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '1', ApproximateNumberOfMessagesNotVisible: '0' } });
  sqsMock.on(ReceiveMessageCommand).resolves({ Messages: [msg('a')] });
  sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [{ Id: '0', MessageId: 'copy-a', MD5OfMessageBody: 'x' }] });
  sqsMock.on(DeleteMessageBatchCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDenied' }));
  expect(await run(OLD_NOW)).toMatchObject({ resent: 1, deleteFailed: 1, complete: false });
});

test('a batch call SQS refuses as a whole is retried one message at a time: one bad message does not hold back the others', async () => {
  sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '3', ApproximateNumberOfMessagesNotVisible: '0' } });
  sqsMock.on(ReceiveMessageCommand).resolves({ Messages: [msg('a'), msg('b'), msg('c')] });
  sqsMock.on(SendMessageBatchCommand).rejects(Object.assign(new Error('too long'), { name: 'BatchRequestTooLong' }));
  sqsMock.on(SendMessageCommand).callsFake((input: { MessageBody: string }) => {
    if (input.MessageBody.includes('"b"')) throw Object.assign(new Error('bad'), { name: 'InvalidParameterValue' });
    return { MessageId: `copy-${input.MessageBody}` };
  });
  sqsMock.on(DeleteMessageBatchCommand).resolves({});
  sqsMock.on(ChangeMessageVisibilityBatchCommand).resolves({});
  const r = await run(OLD_NOW);
  expect(r).toMatchObject({ resent: 2, resendFailed: 1, complete: false });
  expect((callsOf(DeleteMessageBatchCommand)[0] as { Entries: Array<{ ReceiptHandle: string }> }).Entries.map((e) => e.ReceiptHandle)).toEqual(['rh-a', 'rh-c']);
  // The one not re-sent is released at once, left in place for a later run.
  expect((callsOf(ChangeMessageVisibilityBatchCommand)[0] as { Entries: Array<{ ReceiptHandle: string; VisibilityTimeout: number }> }).Entries).toEqual([
    { Id: '0', ReceiptHandle: 'rh-b', VisibilityTimeout: 0 },
  ]);
});

test('a receive error stops that queue, says why, and leaves nothing to publish for it', async () => {
  sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '1' } });
  sqsMock.on(ReceiveMessageCommand).rejects(Object.assign(new Error('kms key disabled'), { name: 'KmsDisabled' }));
  const summary = await sweep({ sqs: client, now: () => T0, remainingMs: () => 60_000 }, settings, [Q]);
  expect(summary.queues[0]).toMatchObject({ stoppedBecause: 'receiveFailed', complete: false, messages: 0, error: 'ReceiveMessage KmsDisabled: kms key disabled' });
  expect(new SweepIncompleteError(summary.queues).message).toContain('spool (receiveFailed; seen 0 of ~1');
  const metrics = new Metrics({ namespace: 'Test' });
  const published = jest.spyOn(metrics, 'publishStoredMetrics');
  publishSweepMetrics(metrics, summary);
  expect(published).not.toHaveBeenCalled();
});

describe('resendAttributes', () => {
  const base = (attrs: Message['MessageAttributes'], receives = '2'): Message => ({ MessageId: 'm', Attributes: { SentTimestamp: '1000', ApproximateReceiveCount: receives }, MessageAttributes: attrs });

  test('accumulates the history of an already swept message', () => {
    const out = resendAttributes(
      base({ [SPOOL_ATTR_FIRST_SENT]: { DataType: 'Number', StringValue: '400' }, [SPOOL_ATTR_SWEEPS]: { DataType: 'Number', StringValue: '2' }, [SPOOL_ATTR_PRIOR_RECEIVES]: { DataType: 'Number', StringValue: '7' } }, '3'),
    );
    expect(out).toEqual({
      [SPOOL_ATTR_FIRST_SENT]: { DataType: 'Number', StringValue: '400' },
      [SPOOL_ATTR_SWEEPS]: { DataType: 'Number', StringValue: '3' },
      [SPOOL_ATTR_PRIOR_RECEIVES]: { DataType: 'Number', StringValue: '10' },
    });
  });

  test('a malformed or later firstSentAt never makes a failure look younger than its copy', () => {
    expect(resendAttributes(base({ [SPOOL_ATTR_FIRST_SENT]: { DataType: 'Number', StringValue: 'soon' } }))[SPOOL_ATTR_FIRST_SENT].StringValue).toBe('1000');
    expect(resendAttributes(base({ [SPOOL_ATTR_FIRST_SENT]: { DataType: 'Number', StringValue: '5000' } }))[SPOOL_ATTR_FIRST_SENT].StringValue).toBe('1000');
  });

  test('over the limit twice: binary values are folded as base64, a second fold merges into the first, never more than 10', () => {
    const attrs: NonNullable<Message['MessageAttributes']> = { job: { DataType: 'String', StringValue: 'j' }, blob: { DataType: 'Binary', BinaryValue: Uint8Array.from([1, 2, 3]) } };
    for (let i = 0; i < 8; i++) attrs[`a${i}`] = { DataType: 'String', StringValue: String(i) };
    const once = resendAttributes(base(attrs));
    expect(Object.keys(once)).toHaveLength(10);
    expect(once.job.StringValue).toBe('j');
    // The copy swept again, now with one more attribute than fits beside the folded one.
    const twice = resendAttributes(base({ ...once, b0: { DataType: 'String', StringValue: 'late' } }));
    expect(Object.keys(twice)).toHaveLength(10);
    const folded = JSON.parse(twice[SWEEP_ATTR_FOLDED].StringValue as string) as Record<string, Record<string, string>>;
    const unfolded = Object.keys(twice).filter((k) => ![SWEEP_ATTR_FOLDED, SPOOL_ATTR_FIRST_SENT, SPOOL_ATTR_SWEEPS, SPOOL_ATTR_PRIOR_RECEIVES].includes(k));
    // Every original attribute is somewhere: kept as is, or in the folded JSON.
    expect([...unfolded, ...Object.keys(folded)].sort()).toEqual([...Object.keys(attrs), 'b0'].sort());
    // Kept first: what readers filter on (job), then by name; so `blob` (last by name) was folded.
    expect(unfolded.sort()).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'job']);
    expect(folded.blob).toEqual({ DataType: 'Binary', BinaryValueBase64: Buffer.from([1, 2, 3]).toString('base64') });
    expect(folded.b0).toEqual({ DataType: 'String', StringValue: 'late' });
    expect(twice[SPOOL_ATTR_SWEEPS].StringValue).toBe('2');
  });
});

test('parseQueues refuses a list the construct would never write, naming the entry', () => {
  expect(() => parseQueues('nope')).toThrow(/not JSON/);
  expect(() => parseQueues('[]')).toThrow(/non-empty/);
  expect(() => parseQueues('[{"name":"a","url":"u","retentionSeconds":30}]')).toThrow(/SWEEP_QUEUES\[0\] \(a\): retentionSeconds/);
  expect(parseQueues('[{"name":"a","url":"u","retentionSeconds":60}]')).toEqual([{ name: 'a', url: 'u', retentionSeconds: 60 }]);
});

test('metrics: a complete sweep of an empty queue publishes 0, so the alarm sees the queue is watched', () => {
  const metrics = new Metrics({ namespace: 'Test' });
  const added: Array<[string, number]> = [];
  jest.spyOn(metrics, 'addMetric').mockImplementation((n: string, _u: unknown, v: number) => {
    added.push([n, v]);
    return metrics;
  });
  jest.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
  const empty: QueueSweepResult = {
    queue: 'q',
    stoppedBecause: 'empty',
    complete: true,
    messages: 0,
    oldestAgeSeconds: 0,
    resent: 0,
    resendFailed: 0,
    deleteFailed: 0,
    undated: 0,
    releaseFailed: 0,
    repeats: 0,
    receives: 1,
    requests: 2,
    expected: 0,
    retentionSeconds: 60,
  };
  publishSweepMetrics(metrics, { queues: [empty], complete: true });
  expect(added).toEqual([
    ['OldestMessageAgeSeconds', 0],
    ['Messages', 0],
    ['Resent', 0],
    ['ResendFailed', 0],
  ]);
});
