import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CanaryRecorder, canaryOk } from '../local/offline-day/canary';
import { startSqsEmulator, SqsEmulator } from '../local/sqs-emulator';

/**
 * Sinks the canary's scan (local/offline-day/canary.ts) must see besides those the offline run
 * leaves at its end: a message's attributes are visible to anyone with sqs:ReceiveMessage on the
 * queue's metadata path and are not encrypted by SSE (AWS SQS developer guide, "Encryption at rest":
 * "SSE encrypts the body of a message ... SSE doesn't encrypt ... message metadata (message ID,
 * timestamp, and attributes)"), so every message SENT during the run counts, not only those left at
 * the end (the spool's messages, the map-failures step's among them, are mostly replayed and
 * deleted before the end); and a high-volume Express child's end (its error and cause go to the
 * parent's log group at level ERROR like any execution's).
 */
const CANARY = 'LEAK-g4ps7x';
let sqs: SqsEmulator;
let client: SQSClient;
let queueUrl: string;
const dirs: string[] = [];

beforeAll(async () => {
  sqs = await startSqsEmulator();
  client = new SQSClient({ endpoint: sqs.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  queueUrl = await sqs.createQueue('Spool');
});
afterAll(async () => {
  client.destroy();
  await sqs.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function recorder(): CanaryRecorder {
  const dir = mkdtempSync(join(tmpdir(), 'canary-gaps-'));
  dirs.push(dir);
  return new CanaryRecorder(CANARY, dir);
}

const snapshotOf = (rec: CanaryRecorder, extra: Partial<Parameters<CanaryRecorder['snapshot']>[0]> = {}) =>
  rec.snapshot({ dynamo: {} as never, tables: [], sqs, queueNames: ['Spool'], executions: [], events: [], ...extra });

test('a message attribute that holds the canary is a leak even when the message was consumed before the end', async () => {
  const rec = recorder();
  rec.start();
  try {
    await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '{}', MessageAttributes: { errorType: { DataType: 'String', StringValue: `NoCustomer ${CANARY}` } } }));
    await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: '0', MessageBody: '{}', MessageAttributes: { reason: { DataType: 'String', StringValue: `quarantined: ${CANARY}` } } }] }));
    // Reprocess replays and deletes them: nothing is left at the end.
    for (;;) {
      const got = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
      if (!got.Messages?.length) break;
      for (const m of got.Messages) await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }));
    }
    expect((await sqs.inspectQueue('Spool')).all).toHaveLength(0);
    await snapshotOf(rec);
  } finally {
    rec.stop();
  }
  const c = rec.finish({});
  expect(c.outside['sqs-attributes.ndjson']).toBe(2);
  expect(c.leaks).toEqual(['outside/sqs-attributes.ndjson']);
  expect(canaryOk(c)).toBe(false);
});

test('attributes without the canary are recorded (the sink is not empty) and are no leak', async () => {
  const rec = recorder();
  rec.start();
  try {
    await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: `{"params":"${CANARY}"}`, MessageAttributes: { job: { DataType: 'String', StringValue: 'example-short' } } }));
    const got = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));
    for (const m of got.Messages ?? []) await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }));
    await snapshotOf(rec);
  } finally {
    rec.stop();
  }
  const c = rec.finish({});
  expect(c.recorded['sqs-attributes.ndjson']).toBe(1);
  expect(c.outside['sqs-attributes.ndjson']).toBe(0);
  // The body is inside the lock (params key): not searched as a sink outside.
  expect(c.leaks).toEqual([]);
});

test('an Express child\'s end whose cause holds the canary is a leak (state machine logs)', async () => {
  const rec = recorder();
  await snapshotOf(rec, {
    childEnds: [
      { executionArn: 'arn:aws:states:us-east-1:123456789012:express:Parent/map/child-1', status: 'FAILED', error: 'ItemsNotSpooled', cause: `{"notSpooled":[{"i":0,"error":"${CANARY}"}]}` },
      { executionArn: 'arn:aws:states:us-east-1:123456789012:express:Parent/map/child-2', status: 'SUCCEEDED' },
    ],
  });
  const c = rec.finish({});
  expect(c.outside['state-machine-logs.ndjson']).toBe(1);
  expect(c.recorded['state-machine-logs.ndjson']).toBe(1);
  expect(canaryOk(c)).toBe(false);
});

test('a body in a queue outside the lock (SQS-managed encryption) that holds the canary is a leak; the same body in a params-key queue is inside', async () => {
  const outsideUrl = await sqs.createQueue('CaptureFailures');
  await client.send(new SendMessageCommand({ QueueUrl: outsideUrl, MessageBody: `{"requestPayload":{"detail":{"input":"${CANARY}"}}}` }));
  await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: `{"input":{"params":"${CANARY}"}}` }));
  const rec = recorder();
  await snapshotOf(rec, { queueNames: ['Spool', 'CaptureFailures'], outsideQueueNames: ['CaptureFailures'] });
  const c = rec.finish({});
  expect(c.outside['sqs-bodies-outside-lock.ndjson']).toBe(1);
  expect(c.leaks).toEqual(['outside/sqs-bodies-outside-lock.ndjson']);
  expect(c.inside['queue bodies']).toBe(1);
  expect(canaryOk(c)).toBe(false);
});

test('the app\'s queues outside the lock are those without the params key: the capture failures and the dead-letter queues of Scheduler targets, never the spool', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { synthApp } = require('./support/synth-app') as typeof import('./support/synth-app');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { queuesOutsideLock } = require('../local/offline-day/canary-queues') as typeof import('../local/offline-day/canary-queues');
  const { stack, template } = synthApp();
  const outside = queuesOutsideLock({ stack, template: template as never });
  const id = (q: { node: { defaultChild?: unknown } }) => stack.getLogicalId(q.node.defaultChild as never);
  expect(outside).toContain(id(stack.executionCapture.failuresQueue));
  for (const q of [stack.spool.queue, stack.spool.quarantine, stack.spool.failedInvocations]) expect(outside).not.toContain(id(q));
  expect(outside.length).toBeLessThan(Object.values(template.Resources).filter((r) => r.Type === 'AWS::SQS::Queue').length);
});

test('a body sent during the run to a queue outside the lock is searched even when the message was consumed before the end', async () => {
  const outsideUrl = await sqs.createQueue('SweeperDeadLetters');
  const rec = recorder();
  rec.start();
  try {
    await client.send(new SendMessageBatchCommand({ QueueUrl: outsideUrl, Entries: [{ Id: '0', MessageBody: `{"requestPayload":{"name":"${CANARY}"}}` }] }));
    await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: `{"input":{"params":"${CANARY}"}}` }));
    for (const url of [outsideUrl, queueUrl]) {
      const got = await client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
      for (const m of got.Messages ?? []) await client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle! }));
    }
    await snapshotOf(rec, { queueNames: ['Spool', 'SweeperDeadLetters'], outsideQueueNames: ['SweeperDeadLetters'] });
  } finally {
    rec.stop();
  }
  const c = rec.finish({});
  // The consumed outside-lock body only: the spool's (params key) is inside and not searched.
  expect(c.outside['sqs-bodies-outside-lock.ndjson']).toBe(1);
  expect(c.recorded['sqs-bodies-outside-lock.ndjson']).toBe(1);
  expect(canaryOk(c)).toBe(false);
});
