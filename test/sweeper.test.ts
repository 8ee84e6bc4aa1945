/**
 * The sweeper's logic with the real SQS client against fauxqs (local/sqs-emulator.ts). fauxqs
 * never expires messages and ignores retention, so the tests make messages
 * old by moving the sweep's clock (`now`) forward instead of waiting: the decision the sweeper
 * makes is "SentTimestamp older than retention minus margin", which is exactly what is moved.
 */
import { Message, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DEFAULT_SWEEP_SETTINGS, QueueSweepResult, sweep, SweepSettings, SweptQueueConfig } from '../lambdas/sweeper/logic';
import { SPOOL_ATTR_FIRST_SENT, SPOOL_ATTR_PRIOR_RECEIVES, SPOOL_ATTR_SWEEPS } from '../lambdas/shared/spool-message';
import { SqsEmulator, startSqsEmulator } from '../local/sqs-emulator';
import { spoolAttributes, spoolMessage } from './reprocess-fixtures';

const DAY_MS = 86_400_000;
const RETENTION_S = 14 * 86_400;
const MARGIN_S = 86_400;
/** Age from which the sweeper must re-send: retention minus margin (13 days). */
const RESEND_AFTER_MS = (RETENTION_S - MARGIN_S) * 1000;
const settings: SweepSettings = { ...DEFAULT_SWEEP_SETTINGS, marginSeconds: MARGIN_S };

let emu: SqsEmulator;
let client: SQSClient;
let seq = 0;

beforeAll(async () => {
  emu = await startSqsEmulator();
  Object.assign(process.env, { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_ENDPOINT_URL_SQS: emu.endpoint });
  client = new SQSClient({});
});
afterAll(async () => {
  await emu?.stop();
});

async function newQueue(attributes?: Record<string, string>, retentionSeconds = RETENTION_S): Promise<SweptQueueConfig> {
  const name = `sweep-${++seq}`;
  return { name, url: await emu.createQueue(name, attributes), retentionSeconds };
}

const spoolBody = (key: string) => JSON.stringify(spoolMessage({ key }));
const spoolAttrs = (key: string) => spoolAttributes(spoolMessage({ key }));

async function send(q: SweptQueueConfig, body: string, attrs: Record<string, { DataType: string; StringValue: string }> = {}): Promise<string> {
  const res = await client.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: body, MessageAttributes: attrs }));
  return res.MessageId as string;
}

/** Receives like a dry run or a filtered replay does: counted, then released at once. */
async function receiveAndRelease(q: SweptQueueConfig): Promise<Message[]> {
  const res = await client.send(
    new ReceiveMessageCommand({ QueueUrl: q.url, MaxNumberOfMessages: 10, VisibilityTimeout: 0, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }),
  );
  return res.Messages ?? [];
}

const run = (q: SweptQueueConfig | SweptQueueConfig[], now: number, remainingMs: () => number = () => 60_000, c: SQSClient = client) =>
  sweep({ sqs: c, now: () => now, remainingMs }, settings, Array.isArray(q) ? q : [q]);

const only = (r: { queues: QueueSweepResult[] }) => r.queues[0];

test('an old spool message is re-sent with its body and attributes, firstSentAt = its first send, sweeps 1, priorReceives counted, and the original deleted', async () => {
  const q = await newQueue();
  const originalId = await send(q, spoolBody('a1'), spoolAttrs('a1'));
  // Two dry runs received it: it is now invisible to ApproximateAgeOfOldestMessage after one more receive.
  await receiveAndRelease(q);
  const [seen] = await receiveAndRelease(q);
  const sentAt = Number(seen.Attributes?.SentTimestamp);

  const r = only(await run(q, sentAt + RESEND_AFTER_MS + 1));
  expect(r).toMatchObject({ messages: 1, resent: 1, resendFailed: 0, deleteFailed: 0, complete: true, stoppedBecause: 'covered' });

  const snap = await emu.inspectQueue(q.name);
  expect({ ready: snap.ready, inflight: snap.inflight, delayed: snap.delayed }).toEqual({ ready: 1, inflight: 0, delayed: 0 });
  expect(snap.all[0].body).toBe(spoolBody('a1'));
  expect(snap.all[0].attributes).toEqual({
    job: 'job-a',
    errorType: 'ExternalApiUnavailableError',
    kind: 'ExecutionFailed',
    [SPOOL_ATTR_FIRST_SENT]: String(sentAt),
    [SPOOL_ATTR_SWEEPS]: '1',
    // Two dry-run receives plus the sweeper's own.
    [SPOOL_ATTR_PRIOR_RECEIVES]: '3',
  });
  const [copy] = await receiveAndRelease(q);
  expect(copy.MessageId).not.toBe(originalId);
  // The copy is a new message: its receive count starts again (history is in priorReceives).
  expect(copy.Attributes?.ApproximateReceiveCount).toBe('1');
});

test('a message swept twice keeps the FIRST send time and counts 2 sweeps and every receive', async () => {
  const q = await newQueue();
  await send(q, spoolBody('b1'), spoolAttrs('b1'));
  const [m] = await receiveAndRelease(q); // 1 receive
  const firstSent = Number(m.Attributes?.SentTimestamp);

  const now1 = firstSent + RESEND_AFTER_MS + 1;
  expect(only(await run(q, now1))).toMatchObject({ resent: 1 }); // +1 receive -> priorReceives 2
  // The copy's own SentTimestamp is real time; a full retention later it is old again.
  const now2 = now1 + RETENTION_S * 1000;
  const r2 = only(await run(q, now2));
  expect(r2).toMatchObject({ messages: 1, resent: 1, complete: true });

  const snap = await emu.inspectQueue(q.name);
  expect(snap.all).toHaveLength(1);
  expect(snap.all[0].body).toBe(spoolBody('b1'));
  expect(snap.all[0].attributes).toMatchObject({ [SPOOL_ATTR_FIRST_SENT]: String(firstSent), [SPOOL_ATTR_SWEEPS]: '2', [SPOOL_ATTR_PRIOR_RECEIVES]: '3', job: 'job-a' });
});

test('a young message is left in place, unchanged, and visible again at once', async () => {
  const q = await newQueue();
  const id = await send(q, spoolBody('c1'), spoolAttrs('c1'));
  const r = only(await run(q, Date.now() + 3_600_000));
  expect(r).toMatchObject({ messages: 1, resent: 0, complete: true });
  const snap = await emu.inspectQueue(q.name);
  expect({ ready: snap.ready, inflight: snap.inflight }).toEqual({ ready: 1, inflight: 0 });
  expect(Object.keys(snap.all[0].attributes).sort()).toEqual(['errorType', 'job', 'kind']);
  // Released with visibility 0, not left to its 30-second receive timeout: a replay gets it now.
  const [again] = await receiveAndRelease(q);
  expect(again.MessageId).toBe(id);
  expect(again.Attributes?.ApproximateReceiveCount).toBe('2');
});

test('the oldest-age figure uses the first send time: a young copy of a 10-day-old failure counts 10 days', async () => {
  const q = await newQueue();
  // What an earlier sweep leaves: a copy sent just now that carries its failure's first send time.
  const firstSent = Date.now() - 10 * DAY_MS;
  await send(q, spoolBody('d1'), { ...spoolAttrs('d1'), [SPOOL_ATTR_FIRST_SENT]: { DataType: 'Number', StringValue: String(firstSent) }, [SPOOL_ATTR_SWEEPS]: { DataType: 'Number', StringValue: '1' } });
  await send(q, spoolBody('d2'), spoolAttrs('d2'));
  const now = Date.now();
  const r = only(await run(q, now));
  // Not re-sent (its SentTimestamp is seconds old), but 10 days old as a failure.
  expect(r).toMatchObject({ messages: 2, resent: 0, complete: true });
  expect(r.oldestAgeSeconds).toBe(Math.floor((now - firstSent) / 1000));
});

test('a re-send SQS refuses leaves the original in place (not deleted, visible), while the rest of the batch is re-sent', async () => {
  // A queue whose size limit the original just fits and its copy (with three more attributes) does not.
  const q = await newQueue({ MaximumMessageSize: '1024' });
  const bigId = await send(q, 'x'.repeat(1000));
  await send(q, spoolBody('e2').slice(0, 10));
  const [first] = await receiveAndRelease(q);
  const sentAt = Number(first.Attributes?.SentTimestamp);

  const r = only(await run(q, sentAt + RESEND_AFTER_MS + 10_000));
  expect(r).toMatchObject({ messages: 2, resent: 1, resendFailed: 1, deleteFailed: 0, complete: false });
  const snap = await emu.inspectQueue(q.name);
  expect({ ready: snap.ready, inflight: snap.inflight }).toEqual({ ready: 2, inflight: 0 });
  const left = await receiveAndRelease(q);
  const big = left.find((m) => m.Body === 'x'.repeat(1000));
  expect(big?.MessageId).toBe(bigId);
  expect(big?.MessageAttributes).toBeUndefined();
  expect(left.find((m) => m.Body !== big?.Body)?.MessageAttributes?.[SPOOL_ATTR_SWEEPS]?.StringValue).toBe('1');
});

test('a run stops cleanly at its deadline: the batch in hand is finished, every message is released, nothing is lost', async () => {
  const q = await newQueue();
  const ids = new Set<string>();
  for (let i = 0; i < 45; i++) ids.add(await send(q, spoolBody(`f${i}`), spoolAttrs(`f${i}`)));
  // Each receive "takes" 20 s of a 60 s budget; the sweep keeps 15 s in reserve.
  let budget = 60_000;
  const timed = new SQSClient({});
  timed.middlewareStack.add(
    (next, ctx) => async (args) => {
      if (ctx.commandName === 'ReceiveMessageCommand') budget -= 20_000;
      return next(args);
    },
    { step: 'initialize', name: 'fakeElapsedTime' },
  );
  const r = only(await run(q, Date.now(), () => budget, timed));
  expect(r).toMatchObject({ stoppedBecause: 'deadline', complete: false, receives: 3, messages: 30, releaseFailed: 0 });
  const snap = await emu.inspectQueue(q.name);
  expect({ ready: snap.ready, inflight: snap.inflight }).toEqual({ ready: 45, inflight: 0 });
});

test('each queue gets its share of the time: a huge first queue does not keep the next from being swept', async () => {
  const big = await newQueue();
  const small = await newQueue();
  for (let i = 0; i < 60; i++) await send(big, `g${i}`);
  for (let i = 0; i < 3; i++) await send(small, `h${i}`);
  let budget = 75_000; // 60 s usable after the 15 s reserve: 30 s per queue, 10 s per receive
  const timed = new SQSClient({});
  timed.middlewareStack.add(
    (next, ctx) => async (args) => {
      if (ctx.commandName === 'ReceiveMessageCommand') budget -= 10_000;
      return next(args);
    },
    { step: 'initialize', name: 'fakeElapsedTime' },
  );
  const [a, b] = (await run([big, small], Date.now(), () => budget, timed)).queues;
  expect(a).toMatchObject({ stoppedBecause: 'deadline', complete: false, messages: 30 });
  expect(b).toMatchObject({ stoppedBecause: 'covered', complete: true, messages: 3 });
});

test('a queue whose live retention is shorter than configured is swept by the shorter one', async () => {
  // Deployed as 14 days, lowered to 4 days by hand later: 3.5-day-old messages are then 12 h from expiry.
  const q = await newQueue({ MessageRetentionPeriod: String(4 * 86_400) });
  await send(q, spoolBody('i1'), spoolAttrs('i1'));
  const [m] = await receiveAndRelease(q);
  const r = only(await run(q, Number(m.Attributes?.SentTimestamp) + 3.5 * DAY_MS));
  expect(r).toMatchObject({ retentionSeconds: 4 * 86_400, resent: 1, complete: true });
});

test('a message already carrying 10 attributes keeps all of them: the ones no reader filters on are folded into one', async () => {
  const q = await newQueue();
  const attrs: Record<string, { DataType: string; StringValue: string }> = { ...spoolAttrs('j1') };
  for (let i = 0; i < 7; i++) attrs[`extra${i}`] = { DataType: 'String', StringValue: `v${i}` };
  await send(q, spoolBody('j1'), attrs);
  const [m] = await receiveAndRelease(q);
  expect(Object.keys(m.MessageAttributes ?? {})).toHaveLength(10);
  const r = only(await run(q, Number(m.Attributes?.SentTimestamp) + RESEND_AFTER_MS + 1));
  expect(r).toMatchObject({ resent: 1, complete: true });
  const copy = (await emu.inspectQueue(q.name)).all[0].attributes;
  expect(Object.keys(copy)).toHaveLength(10);
  expect(copy).toMatchObject({ job: 'job-a', errorType: 'ExternalApiUnavailableError', kind: 'ExecutionFailed', [SPOOL_ATTR_SWEEPS]: '1' });
  const folded = JSON.parse(copy.sweptAttributes) as Record<string, { StringValue: string }>;
  const kept = Object.fromEntries(Object.entries(copy).filter(([k]) => k.startsWith('extra')));
  const all = { ...kept, ...Object.fromEntries(Object.entries(folded).map(([k, v]) => [k, v.StringValue])) };
  expect(all).toEqual(Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`extra${i}`, `v${i}`])));
});

test('an empty queue is complete after one receive, with age 0', async () => {
  const q = await newQueue();
  expect(only(await run(q, Date.now()))).toMatchObject({ stoppedBecause: 'empty', complete: true, messages: 0, oldestAgeSeconds: 0, receives: 1 });
});
