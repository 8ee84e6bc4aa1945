import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { formatNotSpooledReport, ITEMS_NOT_SPOOLED } from '../lambdas/shared/child-report';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { executionNameFor } from '../lambdas/shared/names';
import { ParamLogRecord } from '../lambdas/shared/param-log';
import { SpoolMessage } from '../lambdas/shared/spool-message';
import { OutgoingSpoolMessage, sendSpoolMessages } from '../lambdas/shared/spool-send';
import { MapFailuresEvent, MapResultsUnreadableError, spoolFailedChildren } from '../lambdas/map-failures/logic';
import { readObject } from '../lambdas/map-failures/read-object';
import { parseManifest, parseResultFile, ResultFormatError } from '../lambdas/map-failures/result-writer';
import { classify, ReplayPlan } from '../lambdas/reprocess/message';
import { parsePayload } from '../lambdas/reprocess/payload';
import { AdaptiveRateGate } from '../lambdas/shared/rate-gate';
import { startPaced } from '../lambdas/shared/start-execution';
import { startSfnStandin } from '../local/sfn-standin';
import { SqsEmulator, startSqsEmulator } from '../local/sqs-emulator';

/**
 * The post-map step of the high-volume parent over result files shaped as AWS documents them
 * (AWS Step Functions developer guide, "ResultWriter (Map)",
 * https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html): the Map
 * state's output names manifest.json; the manifest lists FAILED / PENDING / SUCCEEDED files; each
 * file is a JSON array of child executions with their Input as a JSON string.
 */

const STANDARD = 'arn:aws:states:us-east-1:123456789012:stateMachine:Job-orders';
const PARENT = 'arn:aws:states:us-east-1:123456789012:stateMachine:HighVolume-orders';
const MAP_RUN = `arn:aws:states:us-east-1:123456789012:mapRun:HighVolume-orders/Tasks:4977ded7-b097-3bee-81e1-7863c5660f29`;
const BUCKET = 'map-results';
const PREFIX = 'map-runs/orders/4977ded7-b097-3bee-81e1-7863c5660f29';

const envelope = (key: string, attempt = 1): TaskEnvelope => ({
  v: 1,
  taskId: `orders-20260101T0000Z-${key}`,
  job: 'orders',
  key,
  params: { orderId: key, customer: { email: `${key}@example.com` } },
  attempt,
  scheduledTime: '2026-01-01T00:00:00.000Z',
});

const childArn = (n: number) => `arn:aws:states:us-east-1:123456789012:express:HighVolume-orders/Tasks:4977ded7-b097-3bee-81e1-7863c5660f29:child-${n}`;
/** One entry of a result file, with the fields AWS documents. */
const child = (n: number, status: string, items: TaskEnvelope[], extra: Record<string, unknown> = {}) => ({
  ExecutionArn: childArn(n),
  Input: JSON.stringify({ Items: items }),
  InputDetails: { Included: true },
  Name: `child-${n}`,
  Output: status === 'SUCCEEDED' ? JSON.stringify({ written: items.length, failures: 0 }) : null,
  OutputDetails: { Included: status === 'SUCCEEDED' },
  RedriveCount: 0,
  RedriveStatus: 'NOT_REDRIVABLE',
  StartDate: '2026-01-01T00:00:01.000Z',
  StateMachineArn: `${PARENT}/Tasks`,
  Status: status,
  StopDate: '2026-01-01T00:05:01.000Z',
  ...extra,
});

const manifest = (files: Record<string, string[]>) =>
  JSON.stringify({
    DestinationBucket: BUCKET,
    MapRunArn: MAP_RUN,
    ResultFiles: Object.fromEntries(['FAILED', 'PENDING', 'SUCCEEDED'].map((s) => [s, (files[s] ?? []).map((Key) => ({ Key, Size: 1024 }))])),
  });

const event: MapFailuresEvent = {
  mapRun: { MapRunArn: MAP_RUN, ResultWriterDetails: { Bucket: BUCKET, Key: `${PREFIX}/manifest.json` } },
  job: 'orders',
  replayStateMachineArn: STANDARD,
  firstStep: 'Fetch',
};

/** A Map Run: child 1 timed out (2 items), child 2 failed with the not-spooled report (item 1 of 3), child 3 succeeded. */
function mapRunObjects(): Map<string, string> {
  return new Map([
    [`${PREFIX}/manifest.json`, manifest({ FAILED: [`${PREFIX}/FAILED_0.json`], SUCCEEDED: [`${PREFIX}/SUCCEEDED_0.json`] })],
    [
      `${PREFIX}/FAILED_0.json`,
      JSON.stringify([
        child(1, 'TIMED_OUT', [envelope('a'), envelope('b')]),
        child(2, 'FAILED', [envelope('c'), envelope('d'), envelope('e')], {
          Error: ITEMS_NOT_SPOOLED,
          Cause: formatNotSpooledReport([{ i: 1, error: 'ExternalApiUnavailableError', failedState: 'CallApi' }]),
        }),
      ]),
    ],
    [`${PREFIX}/SUCCEEDED_0.json`, JSON.stringify([child(3, 'SUCCEEDED', [envelope('f')])])],
  ]);
}

function harness(objects: Map<string, string>) {
  const reads: string[] = [];
  const sent: OutgoingSpoolMessage[] = [];
  const records: ParamLogRecord[] = [];
  return {
    reads,
    sent,
    records,
    deps: {
      read: async (bucket: string, key: string) => {
        reads.push(`${bucket}/${key}`);
        const text = objects.get(key);
        if (text === undefined || bucket !== BUCKET) throw Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' });
        return text;
      },
      spool: async (m: ReadonlyArray<OutgoingSpoolMessage>) => void sent.push(...m),
      sink: { put: async (r: ReadonlyArray<ParamLogRecord>) => void records.push(...r) },
      timeZone: 'Asia/Tokyo',
      now: () => new Date('2026-01-01T00:06:00Z'),
    },
  };
}

describe('spoolFailedChildren', () => {
  it("spools every item of a child that died, and only the reported items of a child that could not spool them; never a succeeded child's", async () => {
    const h = harness(mapRunObjects());
    const out = await spoolFailedChildren(event, h.deps);
    expect(out).toEqual({ failedChildren: 2, spooled: 3, recorded: 2, unreadable: 0 });
    // The succeeded file is not even read.
    expect(h.reads).toEqual([`${BUCKET}/${PREFIX}/manifest.json`, `${BUCKET}/${PREFIX}/FAILED_0.json`]);
    const byTask = Object.fromEntries(h.sent.map(({ message }) => [message.taskId, message]));
    expect(Object.keys(byTask).sort()).toEqual([envelope('a').taskId, envelope('b').taskId, envelope('d').taskId].sort());
    expect(byTask[envelope('a').taskId]).toEqual({
      version: 1,
      kind: 'ExecutionFailed',
      job: 'orders',
      taskId: envelope('a').taskId,
      input: envelope('a'),
      error: 'ExecutionTimedOut',
      cause: expect.stringContaining('ended TIMED_OUT'),
      failedState: 'Fetch',
      stepInput: null,
      executionArn: childArn(1),
      stateMachineArn: STANDARD,
    });
    // The reported item keeps its step's error name; its cause names the step that failed.
    expect(byTask[envelope('d').taskId]).toMatchObject({ error: 'ExternalApiUnavailableError', failedState: 'Fetch', input: envelope('d'), executionArn: childArn(2) });
    expect(byTask[envelope('d').taskId].cause).toContain('step CallApi failed');
    // Records only for the items of the child that died (the other child wrote its own).
    expect(h.records.map((r) => [r.task_id, r.result, r.execution_arn, r.error])).toEqual([
      [envelope('a').taskId, 'TimedOut', childArn(1), 'ExecutionTimedOut'],
      [envelope('b').taskId, 'TimedOut', childArn(1), 'ExecutionTimedOut'],
    ]);
  });

  it('reads JSON Lines result files and PENDING children (never run) too', async () => {
    const objects = new Map([
      [`${PREFIX}/manifest.json`, manifest({ PENDING: [`${PREFIX}/PENDING_0.json`] })],
      [`${PREFIX}/PENDING_0.json`, [child(4, 'PENDING', [envelope('g')]), child(5, 'ABORTED', [envelope('h')])].map((c) => JSON.stringify(c)).join('\n')],
    ]);
    const h = harness(objects);
    expect(await spoolFailedChildren(event, h.deps)).toEqual({ failedChildren: 2, spooled: 2, recorded: 2, unreadable: 0 });
    expect(h.sent.map((m) => m.message.error)).toEqual(['ChildNotRun', 'ExecutionAborted']);
    expect(h.records.map((r) => r.result)).toEqual(['Failure', 'Aborted']);
  });

  it('spools what it can, then fails when a child input is missing or an item is not a task of this job', async () => {
    const objects = mapRunObjects();
    objects.set(
      `${PREFIX}/FAILED_0.json`,
      JSON.stringify([
        child(1, 'TIMED_OUT', [envelope('a')]),
        { ...child(6, 'FAILED', []), Input: undefined, InputDetails: { Included: false } },
        child(7, 'FAILED', [{ ...envelope('x'), job: 'other', taskId: 'other-20260101T0000Z-x' }, { not: 'a task' } as unknown as TaskEnvelope]),
      ]),
    );
    const h = harness(objects);
    const err = await spoolFailedChildren(event, h.deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MapResultsUnreadableError);
    expect((err as MapResultsUnreadableError).counts).toEqual({ failedChildren: 3, spooled: 1, recorded: 1, unreadable: 3 });
    expect(h.sent.map((m) => m.message.taskId)).toEqual([envelope('a').taskId]);
    // The error names counts only: no params, no task ids.
    expect((err as Error).message).not.toMatch(/example\.com|orders-2026/);
  });

  it('fails with a retryable error when S3 cannot be read, before spooling anything', async () => {
    const h = harness(new Map());
    await expect(spoolFailedChildren(event, h.deps)).rejects.toMatchObject({ name: 'MapResultsUnavailableError' });
    expect(h.sent).toHaveLength(0);
  });

  it('refuses a Map state output without ResultWriterDetails, and result files that are not what AWS documents', async () => {
    await expect(spoolFailedChildren({ ...event, mapRun: [{ written: 1 }] }, harness(mapRunObjects()).deps)).rejects.toThrow(ResultFormatError);
    expect(() => parseManifest('{"MapRunArn":"x"}')).toThrow(/no ResultFiles/);
    expect(() => parseResultFile('[{"Status":"FAILED"}]', 'FAILED_0.json')).toThrow(/entry 0 has no ExecutionArn/);
  });
});

describe('a task spooled twice (the child Catch and the parent) is replayed once', () => {
  const rules = { jobs: new Map([['orders', { stateMachineArn: STANDARD, steps: ['Fetch', 'CallApi', 'Publish'], dependencies: {} }]]), maxReplays: 5 };
  const now = Date.parse('2026-01-01T01:00:00Z');
  const received = (m: SpoolMessage, id: string) => ({ MessageId: id, Body: JSON.stringify(m), Attributes: { SentTimestamp: String(now - 1000) } });

  it('maps both messages to the same replay execution name (Step Functions refuses the second start)', async () => {
    const h = harness(mapRunObjects());
    await spoolFailedChildren(event, h.deps);
    const fromParent = h.sent.find((m) => m.message.taskId === envelope('a').taskId)!.message;
    // What the child's SpoolItem state sends for the same item (lib/high-volume-workflow.ts), resumable at CallApi.
    const fromChild: SpoolMessage = {
      version: 1,
      kind: 'ExecutionFailed',
      job: 'orders',
      taskId: envelope('a').taskId,
      input: envelope('a'),
      error: 'ExternalApiUnavailableError',
      cause: '{"errorType":"ExternalApiUnavailableError"}',
      failedState: 'CallApi',
      stepInput: { orderId: 'a' },
      executionArn: childArn(1),
      stateMachineArn: STANDARD,
    };
    const options = parsePayload({}, 10, now);
    const a = classify(received(fromChild, 'm-1'), options, rules, now) as ReplayPlan;
    const b = classify(received(fromParent, 'm-2'), options, rules, now) as ReplayPlan;
    expect([a.action, b.action]).toEqual(['replay', 'replay']);
    expect(a.name).toBe(executionNameFor(envelope('a').taskId, 2));
    expect(b.name).toBe(a.name);
    // The parent's message starts over (the first step); the idempotent steps return their records.
    expect([a.resumeAt, b.resumeAt, b.fallback]).toEqual(['CallApi', null, null]);
  });

  it('starts the replay once: the second message finds the name taken (the start reprocess makes, against the Step Functions stand-in)', async () => {
    const h = harness(mapRunObjects());
    await spoolFailedChildren(event, h.deps);
    const fromParent = h.sent.find((m) => m.message.taskId === envelope('b').taskId)!.message;
    const fromChild: SpoolMessage = { ...fromParent, error: 'ExternalApiUnavailableError', failedState: 'CallApi', stepInput: { orderId: 'b' } };
    const options = parsePayload({}, 10, now);
    const standin = await startSfnStandin();
    try {
      const deps = { sfn: new SFNClient({ region: 'us-east-1', endpoint: standin.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }), gate: new AdaptiveRateGate(), stopAtMs: Date.now() + 30_000 };
      const outcomes = [];
      // Either order: whichever message is read first starts the replay.
      for (const m of [fromParent, fromChild]) {
        const plan = classify(received(m, m.failedState), options, rules, now) as ReplayPlan;
        outcomes.push((await startPaced(deps, { stateMachineArn: plan.stateMachineArn, name: plan.name, input: JSON.stringify(plan.input) })).outcome);
      }
      expect(outcomes).toEqual(['started', 'alreadyStarted']);
      expect([...standin.executions.values()].filter((e) => e.name === executionNameFor(envelope('b').taskId, 2))).toHaveLength(1);
    } finally {
      await standin.stop();
    }
  });
});

describe('the thin reader and the spool send, against the fauxqs S3 and SQS stand-ins with the real SDK clients', () => {
  let emu: SqsEmulator;
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  beforeAll(async () => {
    emu = await startSqsEmulator({ region: 'us-east-1' });
  });
  afterAll(() => emu?.stop());

  it('reads the Map Run files from S3 and leaves one spool message per item in the queue', async () => {
    const s3 = new S3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${emu.port}`, forcePathStyle: true, credentials });
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: emu.endpoint, credentials });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    for (const [Key, Body] of mapRunObjects()) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: Buffer.from(Body) }));
    const queueUrl = await emu.createQueue('spool-map-failures');
    const records: ParamLogRecord[] = [];
    const out = await spoolFailedChildren(event, {
      read: (b, k) => readObject(s3, b, k),
      spool: (m) => sendSpoolMessages(sqs, queueUrl, m),
      sink: { put: async (r) => void records.push(...r) },
      timeZone: 'UTC',
    });
    expect(out.spooled).toBe(3);
    const queued = (await emu.inspectQueue('spool-map-failures')).all;
    expect(queued.map((m) => (JSON.parse(m.body) as SpoolMessage).taskId).sort()).toEqual([envelope('a').taskId, envelope('b').taskId, envelope('d').taskId].sort());
    await expect(readObject(s3, BUCKET, `${PREFIX}/missing.json`)).rejects.toMatchObject({ name: 'NoSuchKey' });
  });
});
