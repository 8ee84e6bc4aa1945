import { RedriveExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CaptureDeps, captureExecutionEnd } from '../lambdas/execution-capture/logic';
import { CaptureMarks } from '../lambdas/execution-capture/marker';
import { drainCaptureFailures } from '../lambdas/reconciler/capture-failures';
import { reconcile, ReconcileDeps, watermarkKey } from '../lambdas/reconciler/logic';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { ParamLogRecord } from '../lambdas/shared/param-log';
import { SpoolMessage } from '../lambdas/shared/spool-message';
import { SPOOLED_CAUSE_PREFIX } from '../lambdas/shared/workflow-contract';
import { LocalDynamo, startLocalDynamo } from '../local/dynamodb-local';
import { SfnStandin, startSfnStandin, statusChangeEvent } from '../local/sfn-standin';
import { SqsEmulator, startSqsEmulator } from '../local/sqs-emulator';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';

/**
 * Reconcile, do not trust events (issue 17, item 4). The Step Functions stand-in (local/sfn-standin.ts,
 * ListExecutions as AWS documents it: newest start first, statusFilter, paging) holds ended
 * executions; status-change events are DROPPED (never delivered) or DUPLICATED, as EventBridge's
 * best-effort delivery allows (Amazon EventBridge events reference, "Step Functions events"). The
 * real capture logic and the real reconciler run against it, fauxqs (the spool) and dynalite (the
 * coordination table: marks and watermarks). What is counted is what an operator sees: spool
 * messages per ended execution.
 */
const REGION = 'us-east-1';
const TABLE = 'coordination';
const SM = 'arn:aws:states:us-east-1:111122223333:stateMachine:orders';
let sfnStandin: SfnStandin;
let sqsEmu: SqsEmulator;
let dynamo: LocalDynamo;
let sfn: SFNClient;
let sqs: SQSClient;
let records: ParamLogRecord[];
let queueSeq = 0;
let spoolName: string;
let captureDeps: CaptureDeps;
/** Status changes the stand-in emitted (what EventBridge would carry, when it does). */
let events: Array<ReturnType<typeof statusChangeEvent>>;

beforeAll(async () => {
  [sfnStandin, sqsEmu, dynamo] = await Promise.all([startSfnStandin({ onStatusChange: (e) => void events.push(statusChangeEvent(e)) }), startSqsEmulator({ region: REGION }), startLocalDynamo(REGION)]);
  await dynamo.createTable(TABLE);
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  sfn = new SFNClient({ region: REGION, endpoint: sfnStandin.endpoint, credentials });
  sqs = new SQSClient({ region: REGION, endpoint: sqsEmu.endpoint, credentials });
});
afterAll(async () => {
  await Promise.all([sfnStandin?.stop(), sqsEmu?.stop(), dynamo?.stop()]);
});

beforeEach(async () => {
  events = [];
  records = [];
  spoolName = `spool-${++queueSeq}`;
  captureDeps = {
    sfn,
    sqs,
    ddb: dynamo.client,
    sink: { put: async (r) => void records.push(...r) },
    spoolQueueUrl: await sqsEmu.createQueue(spoolName),
    coordinationTable: TABLE,
    timeZone: 'Asia/Tokyo',
    jobs: new Map([['orders', { steps: ['Charge', 'Notify'], exclusiveBy: null }]]),
  };
});

let seq = 0;
/** A state machine of its own per test, so listings and watermarks do not mix. */
function machine(): string {
  return `${SM}-${++seq}`;
}
function envelope(key: string): TaskEnvelope {
  return { v: 1, taskId: `orders-20261206T0300Z-${key}`, job: 'orders', key, params: { customer: 'c-1' }, attempt: 1, scheduledTime: '2026-12-06T03:00:00.000Z' };
}
/** An execution that ran and ended; its status-change events go to `events` (delivered or not is the test's choice). */
function ended(sm: string, key: string, status: 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'SUCCEEDED', details: { error?: string; cause?: string } = {}, startDate?: Date): string {
  const e = sfnStandin.seed({ stateMachineArn: sm, name: key, input: JSON.stringify(envelope(key)), startDate });
  sfnStandin.complete(e.executionArn, status, details);
  return e.executionArn;
}
function reconcilerDeps(sm: string, over: Partial<ReconcileDeps> = {}): ReconcileDeps {
  return { sfn, ddb: dynamo.client, coordinationTable: TABLE, machines: [{ arn: sm, maxRunSeconds: 3600 }], capture: (arn) => captureExecutionEnd(arn, captureDeps), ...over };
}
async function spooled(): Promise<SpoolMessage[]> {
  return (await sqsEmu.inspectQueue(spoolName)).all.map((m) => JSON.parse(m.body) as SpoolMessage);
}
/** The capture invoked with an event exactly as EventBridge delivers it. */
const deliver = (ev: ReturnType<typeof statusChangeEvent>) => captureExecutionEnd((ev.detail as { executionArn: string }).executionArn, captureDeps);

describe('status-change events dropped: the reconciler alone spools the ended executions', () => {
  test('aborted and timed-out executions whose events never came are spooled once each; succeeded and workflow-spooled ones are not', async () => {
    const sm = machine();
    const aborted = ended(sm, 'a', 'ABORTED');
    const timedOut = ended(sm, 'b', 'TIMED_OUT');
    ended(sm, 'c', 'SUCCEEDED');
    const byWorkflow = ended(sm, 'd', 'FAILED', { error: 'ExternalApiRejected', cause: `${SPOOLED_CAUSE_PREFIX}by the workflow] rejected` });
    expect(events.length).toBeGreaterThan(0); // emitted, and dropped: nothing delivers them
    expect(await spooled()).toEqual([]);

    const summary = await reconcile(reconcilerDeps(sm));
    const messages = await spooled();
    expect(messages.map((m) => [m.kind, m.executionArn, m.status]).sort()).toEqual([
      ['ExecutionEnded', aborted, 'ABORTED'],
      ['ExecutionEnded', timedOut, 'TIMED_OUT'],
    ]);
    expect(messages.every((m) => m.input?.taskId.startsWith('orders-'))).toBe(true);
    expect(summary).toMatchObject({ ended: 3, captured: { spooled: 2, alreadySpooled: 1 }, failed: 0 });
    expect(records.map((r) => r.result).sort()).toEqual(['Aborted', 'TimedOut'].sort());
    expect((await new CaptureMarks(dynamo.client, TABLE).get(byWorkflow))?.state).toBe('done');

    // The next run finds every end captured: no DescribeExecution, no new message.
    const describes = sfnStandin.counters.calls.DescribeExecution ?? 0;
    const again = await reconcile(reconcilerDeps(sm));
    expect(again).toMatchObject({ ended: 3, alreadyCaptured: 3, captured: {} });
    expect(sfnStandin.counters.calls.DescribeExecution ?? 0).toBe(describes);
    expect(await spooled()).toHaveLength(2);
  });

  test('an execution that started before the window but stopped inside it is found (the listing pages back by the execution timeout)', async () => {
    const sm = machine();
    // Newer executions come first in the listing (newest start first).
    for (let i = 0; i < 3; i++) ended(sm, `new-${i}`, 'SUCCEEDED');
    const long = ended(sm, 'long', 'ABORTED', {}, new Date(Date.now() - 50 * 60_000));
    await reconcile(reconcilerDeps(sm, { firstLookbackMs: 60_000, overlapMs: 0 }));
    expect((await spooled()).map((m) => m.executionArn)).toEqual([long]);
  });

  test('an execution that ended before the watermark (less the overlap) is not looked at again', async () => {
    const sm = machine();
    ended(sm, 'old', 'ABORTED', {}, new Date(Date.now() - 5 * 3_600_000));
    // Its stop date is "now" in the stand-in; a watermark in the future of it leaves it out.
    await dynamo.client.send(new (await import('@aws-sdk/client-dynamodb')).PutItemCommand({ TableName: TABLE, Item: { pk: { S: watermarkKey(sm) }, watermarkMs: { N: String(Date.now() + 3_600_000) } } }));
    const summary = await reconcile(reconcilerDeps(sm));
    expect(summary.ended).toBe(0);
    expect(await spooled()).toEqual([]);
  });

  test('a capture that fails holds the watermark; the next run captures the execution', async () => {
    const sm = machine();
    const arn = ended(sm, 'x', 'ABORTED');
    const before = Date.now();
    let broken = true;
    const deps = reconcilerDeps(sm, { capture: (a) => (broken ? Promise.reject(Object.assign(new Error('spool down'), { name: 'QueueDoesNotExist' })) : captureExecutionEnd(a, captureDeps)) });
    const first = await reconcile(deps);
    expect(first).toMatchObject({ failed: 1, failures: [{ executionArn: arn, error: 'QueueDoesNotExist' }] });
    expect(first.watermarks[sm]).toBeLessThanOrEqual(before);
    broken = false;
    const second = await reconcile(deps);
    expect(second).toMatchObject({ failed: 0, captured: { spooled: 1 } });
    expect((await spooled()).map((m) => m.executionArn)).toEqual([arn]);
    expect(Number((await dynamo.client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: watermarkKey(sm) } } }))).Item?.watermarkMs?.N)).toBeGreaterThanOrEqual(before);
  });
});

describe('events duplicated and the reconciler: one spool message per ended execution', () => {
  test('the event delivered twice, then the reconciler: one message, one worker record', async () => {
    const sm = machine();
    const arn = ended(sm, 'dup', 'ABORTED');
    const ev = events.find((e) => (e.detail as { status: string }).status === 'ABORTED')!;
    const first = await deliver(ev);
    const second = await deliver(ev);
    expect([first.outcome, second.outcome]).toEqual(['spooled', 'alreadyCaptured']);
    const summary = await reconcile(reconcilerDeps(sm));
    expect(summary).toMatchObject({ ended: 1, alreadyCaptured: 1 });
    expect((await spooled()).map((m) => m.executionArn)).toEqual([arn]);
    expect(records).toHaveLength(1);
  });

  test('the event (twice) and the reconciler at the same time: one message', async () => {
    const sm = machine();
    const arns = [ended(sm, 'r1', 'TIMED_OUT'), ended(sm, 'r2', 'ABORTED'), ended(sm, 'r3', 'FAILED', { error: 'States.Runtime', cause: 'bad path' })];
    const evs = events.filter((e) => (e.detail as { status: string }).status !== 'RUNNING');
    const results = await Promise.all([...evs.map(deliver), ...evs.map(deliver), reconcile(reconcilerDeps(sm))]);
    // A capture that met a live claim answers busy; the claimant spools.
    const messages = await spooled();
    expect(messages.map((m) => m.executionArn).sort()).toEqual([...arns].sort());
    expect(records).toHaveLength(3);
    expect(results.length).toBe(7);
    // Whatever was busy is done by the next run, with nothing sent again.
    await reconcile(reconcilerDeps(sm));
    expect(await spooled()).toHaveLength(3);
  });

  test('a redriven execution that ends again is captured again (each redrive has its own mark); the reconciler finds it too', async () => {
    const sm = machine();
    const arn = ended(sm, 'rd', 'ABORTED');
    expect((await captureExecutionEnd(arn, captureDeps)).outcome).toBe('spooled');
    await sfn.send(new RedriveExecutionCommand({ executionArn: arn }));
    sfnStandin.complete(arn, 'TIMED_OUT');
    expect((await captureExecutionEnd(arn, captureDeps)).outcome).toBe('spooled');
    expect((await captureExecutionEnd(arn, captureDeps)).outcome).toBe('alreadyCaptured');
    expect(await reconcile(reconcilerDeps(sm))).toMatchObject({ ended: 1, alreadyCaptured: 1 });
    expect((await spooled()).map((m) => m.status)).toEqual(['ABORTED', 'TIMED_OUT']);
  });

  test('a capture that died after sending (mark "sent", lease expired) is finished without a second message', async () => {
    const sm = machine();
    const arn = ended(sm, 'crash', 'ABORTED');
    let clock = Date.now();
    const marks = new CaptureMarks(dynamo.client, TABLE, () => clock);
    expect(await marks.claim(arn, 'dead-capture', clock + 1_000)).toEqual({ claimed: true, resumeSent: false });
    await marks.markSent(arn, 'dead-capture', 'm-1');
    clock += 5_000;
    const result = await captureExecutionEnd(arn, { ...captureDeps, now: () => new Date(clock) });
    expect(result).toMatchObject({ outcome: 'spooled', messageId: 'm-1' });
    expect(await spooled()).toEqual([]);
    expect(records).toHaveLength(1);
    expect((await marks.get(arn))?.state).toBe('done');
  });
});

describe('the capture\'s last resort: ARN-only on-failure records, drained by the reconciler', () => {
  test('a record of a failed capture (its event as requestPayload) is captured again and deleted; one without an ARN stays', async () => {
    const sm = machine();
    const arn = ended(sm, 'lr', 'TIMED_OUT');
    const ev = events.find((e) => (e.detail as { executionArn: string }).executionArn === arn && (e.detail as { status: string }).status === 'TIMED_OUT')!;
    const failuresName = `capture-failures-${queueSeq}`;
    const failuresUrl = await sqsEmu.createQueue(failuresName);
    // As Lambda writes it after the retries (AWS Lambda developer guide, "Capturing records of asynchronous invocations").
    const record = { version: '1.0', requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 3 }, requestPayload: ev, responsePayload: { errorType: 'KMSAccessDeniedException', errorMessage: 'denied' } };
    await sqs.send(new SendMessageCommand({ QueueUrl: failuresUrl, MessageBody: JSON.stringify(record) }));
    await sqs.send(new SendMessageCommand({ QueueUrl: failuresUrl, MessageBody: '{"requestPayload":{"hello":1}}' }));
    // The record holds no params: the event of a CMK state machine has no input.
    expect(JSON.stringify(record)).not.toContain('customer');

    const out = await drainCaptureFailures({ sqs, queueUrl: failuresUrl, capture: (a) => captureExecutionEnd(a, captureDeps), visibilitySeconds: 1 });
    expect(out).toMatchObject({ received: 2, captured: 1, invalid: 1, left: 0 });
    expect((await spooled()).map((m) => m.executionArn)).toEqual([arn]);
    expect((await sqsEmu.inspectQueue(failuresName)).all).toHaveLength(1);
  });
});
