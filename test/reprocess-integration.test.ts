/**
 * Reprocess end to end with no AWS: the handler's own module-scope clients (unmodified, pointed
 * only by AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_SFN) talk to fauxqs (local/sqs-emulator.ts) and
 * to the Step Functions stand-in (local/sfn-standin.ts).
 */
import { ChangeMessageVisibilityBatchCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { ReprocessPayload } from '../lambdas/reprocess/payload';
import type { ReprocessSummary } from '../lambdas/reprocess/drain';
import { executionNameFor } from '../lambdas/shared/names';
import { SpoolMessage } from '../lambdas/shared/spool-message';
import { SfnStandin, startSfnStandin } from '../local/sfn-standin';
import { SqsEmulator, startSqsEmulator } from '../local/sqs-emulator';
import { SM_A, SM_B, SM_UNKNOWN, spoolAttributes, spoolMessage } from './reprocess-fixtures';

let sqsEmu: SqsEmulator;
let sfnStandin: SfnStandin;
let client: SQSClient;
let handlerModule: typeof import('../lambdas/reprocess/handler');
let queueSeq = 0;
let spoolName: string;

beforeAll(async () => {
  [sqsEmu, sfnStandin] = await Promise.all([startSqsEmulator(), startSfnStandin({ latencyMs: 2 })]);
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_SQS: sqsEmu.endpoint,
    AWS_ENDPOINT_URL_SFN: sfnStandin.endpoint,
    ALLOWED_STATE_MACHINE_ARNS: `${SM_A},${SM_B}`,
    MAX_REPLAYS: '5',
    MAX_REPROCESS: '10',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  });
  client = new SQSClient({});
  // Imported after the env is set, as Lambda would load it.
  handlerModule = await import('../lambdas/reprocess/handler');
});

afterAll(async () => {
  await Promise.all([sqsEmu?.stop(), sfnStandin?.stop()]);
});

/** Fresh spool and quarantine per test. */
beforeEach(async () => {
  queueSeq++;
  spoolName = `spool-${queueSeq}`;
  process.env.SPOOL_QUEUE_URL = await sqsEmu.createQueue(spoolName);
  process.env.QUARANTINE_QUEUE_URL = await sqsEmu.createQueue(`quarantine-${queueSeq}`);
});

async function send(bodies: Array<{ body: string; attrs?: ReturnType<typeof spoolAttributes> }>): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    await client.send(
      new SendMessageBatchCommand({
        QueueUrl: process.env.SPOOL_QUEUE_URL,
        Entries: bodies.slice(i, i + 10).map((b, j) => ({ Id: String(j), MessageBody: b.body, MessageAttributes: b.attrs })),
      }),
    );
  }
}

const task = (m: SpoolMessage) => ({ body: JSON.stringify(m), attrs: spoolAttributes(m) });
const keys = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${queueSeq}x${i}`);
const invoke = (payload: ReprocessPayload): Promise<ReprocessSummary> => handlerModule.handler(payload, { getRemainingTimeInMillis: () => 60_000 });
const startsOf = (name: string) => [...sfnStandin.executions.values()].filter((e) => e.name === name).length;

test('25 spooled, max 10: starts 10 and leaves 15', async () => {
  const ks = keys(25, 'm');
  await send(ks.map((key) => task(spoolMessage({ key }))));
  const before = sfnStandin.counters.calls.StartExecution ?? 0;
  const s = await invoke({ max: 10 });
  expect(s).toMatchObject({ started: 10, failed: 0, remaining: 15, stoppedBecause: 'max' });
  const q = await sqsEmu.inspectQueue(spoolName);
  expect({ ready: q.ready, inflight: q.inflight }).toEqual({ ready: 15, inflight: 0 });
  expect((sfnStandin.counters.calls.StartExecution ?? 0) - before).toBe(10);
  // The 10 started are exactly the 10 no longer spooled.
  const left = new Set(q.readyBodies.map((b) => (JSON.parse(b) as SpoolMessage).taskId));
  const started = ks.filter((k) => startsOf(executionNameFor(`job-a-20261125T0300Z-${k}`, 2)) === 1).map((k) => `job-a-20261125T0300Z-${k}`);
  expect(started).toHaveLength(10);
  for (const t of started) expect(left.has(t)).toBe(false);
});

test('dry run leaves all 25 visible and starts nothing', async () => {
  await send(keys(25, 'd').map((key) => task(spoolMessage({ key }))));
  const before = JSON.stringify(sfnStandin.counters.calls);
  const s = await invoke({ dryRun: true, max: 100 });
  expect(s).toMatchObject({ dryRun: true, started: 0, wouldStart: 25, remaining: 25 });
  expect(JSON.stringify(sfnStandin.counters.calls)).toBe(before);
  const q = await sqsEmu.inspectQueue(spoolName);
  expect({ ready: q.ready, inflight: q.inflight }).toEqual({ ready: 25, inflight: 0 });
});

test('filters: only job-b ExternalApiUnavailableError; the rest stays visible', async () => {
  const [a, b, t] = [keys(4, 'fa'), keys(3, 'fb'), keys(2, 'ft')];
  await send([
    ...a.map((key) => task(spoolMessage({ key, job: 'job-a' }))),
    ...b.map((key) => task(spoolMessage({ key, job: 'job-b', stateMachineArn: SM_B }))),
    ...t.map((key) => task(spoolMessage({ key, job: 'job-b', stateMachineArn: SM_B, error: 'States.Timeout' }))),
  ]);
  const s = await invoke({ job: 'job-b', errorType: 'ExternalApiUnavailableError', newerThan: '1h', max: 50 });
  expect(s).toMatchObject({ started: 3, skipped: 6, remaining: 6 });
  const q = await sqsEmu.inspectQueue(spoolName);
  expect(q.ready).toBe(6);
  for (const key of b) expect(startsOf(executionNameFor(`job-b-20261125T0300Z-${key}`, 2))).toBe(1);
});

test('an already-started name is counted alreadyStarted and deleted, not run twice', async () => {
  const [done, fresh] = keys(2, 'a');
  const doneName = executionNameFor(`job-a-20261125T0300Z-${done}`, 2);
  sfnStandin.seed({ stateMachineArn: SM_A, name: doneName, input: '{}', status: 'SUCCEEDED' });
  await send([task(spoolMessage({ key: done })), task(spoolMessage({ key: fresh }))]);
  const s = await invoke({});
  expect(s).toMatchObject({ started: 1, alreadyStarted: 1, remaining: 0 });
  expect(startsOf(doneName)).toBe(1);
  expect(sfnStandin.counters.duplicates).toBe(0);
});

test('throttling: every message is started once despite ThrottlingException', async () => {
  await send(keys(30, 't').map((key) => task(spoolMessage({ key }))));
  const throttledBefore = sfnStandin.counters.throttled;
  // Shaped like AWS (burst >= one second of refill), scaled down: 15 burst, 15/s.
  sfnStandin.setThrottle({ burst: 15, refillPerSecond: 15 });
  try {
    const s = await invoke({ max: 30 });
    expect(s).toMatchObject({ started: 30, failed: 0, remaining: 0 });
    expect(s.throttleEvents).toBeGreaterThan(0);
    expect(sfnStandin.counters.throttled - throttledBefore).toBeGreaterThan(0);
    // Paced, not hammered: far fewer throttled calls than messages.
    expect(sfnStandin.counters.throttled - throttledBefore).toBeLessThan(30);
  } finally {
    sfnStandin.setThrottle(null);
  }
  expect(sfnStandin.counters.duplicates).toBe(0);
});

test('malformed messages are quarantined with their body and a reason, never started', async () => {
  const bad = [
    { body: 'not json at all' },
    task(spoolMessage({ key: `u${queueSeq}`, stateMachineArn: SM_UNKNOWN })),
    task(spoolMessage({ key: 'p', kind: 'ProducerFailed' })),
    task(spoolMessage({ key: `r${queueSeq}`, attempt: 6 })),
  ];
  await send(bad);
  const startsBefore = sfnStandin.counters.calls.StartExecution ?? 0;
  const s = await invoke({});
  expect(s).toMatchObject({ invalid: 4, started: 0, remaining: 0 });
  expect(sfnStandin.counters.calls.StartExecution ?? 0).toBe(startsBefore);
  const quarantine = await sqsEmu.inspectQueue(`quarantine-${queueSeq}`);
  expect(quarantine.all.map((m) => m.body).sort()).toEqual(bad.map((b) => b.body).sort());
  const reasons = quarantine.all.map((m) => m.attributes.reason).sort();
  expect(reasons).toEqual([
    expect.stringMatching(/^ProducerFailed/),
    expect.stringMatching(/^body is not JSON/),
    expect.stringMatching(/^too many replays/),
    expect.stringMatching(/^unknown state machine/),
  ]);
});

test('a crash after start and before delete, then a rerun, starts nothing twice', async () => {
  const ks = keys(10, 'c');
  await send(ks.map((key) => task(spoolMessage({ key }))));
  const stranded: string[] = [];
  // The "crash": every delete fails after the starts went through, as if the Lambda died there.
  handlerModule.sqsClient.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'DeleteMessageBatchCommand') {
        stranded.push(...((args.input as { Entries: Array<{ ReceiptHandle: string }> }).Entries.map((e) => e.ReceiptHandle)));
        throw new Error('crash before delete');
      }
      return next(args);
    },
    { step: 'initialize', name: 'crashBeforeDelete' },
  );
  let first: ReprocessSummary;
  try {
    first = await invoke({ max: 10 });
  } finally {
    handlerModule.sqsClient.middlewareStack.remove('crashBeforeDelete');
  }
  expect(first).toMatchObject({ started: 10, deleteFailed: 10 });
  expect(stranded).toHaveLength(10);
  // Their visibility timeout runs out (made instant here): they are back in the spool.
  for (let i = 0; i < stranded.length; i += 10) {
    await client.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: process.env.SPOOL_QUEUE_URL,
        Entries: stranded.slice(i, i + 10).map((r, j) => ({ Id: String(j), ReceiptHandle: r, VisibilityTimeout: 0 })),
      }),
    );
  }
  expect((await sqsEmu.inspectQueue(spoolName)).ready).toBe(10);
  // By then half of them have finished (a reused name is refused: ExecutionAlreadyExists) and half
  // still run (same name + same input answers 200 with the original start date).
  ks.slice(0, 5).forEach((key) => sfnStandin.complete(`${SM_A.replace(':stateMachine:', ':execution:')}:${executionNameFor(`job-a-20261125T0300Z-${key}`, 2)}`, 'SUCCEEDED'));
  await new Promise((r) => setTimeout(r, 1_100));
  const idempotentBefore = sfnStandin.counters.idempotent;
  const rerun = await invoke({ max: 10 });
  expect(rerun).toMatchObject({ started: 0, alreadyStarted: 10, remaining: 0 });
  expect(sfnStandin.counters.idempotent - idempotentBefore).toBe(5);
  for (const key of ks) expect(startsOf(executionNameFor(`job-a-20261125T0300Z-${key}`, 2))).toBe(1);
  expect(sfnStandin.counters.duplicates).toBe(0);
});

test('mode redrive: a failed execution is redriven in place; one that is not redrivable falls back to a new start', async () => {
  const [r, old] = keys(2, 'rd');
  const failed = sfnStandin.seed({ stateMachineArn: SM_A, name: executionNameFor(`job-a-20261125T0300Z-${r}`, 1), input: '{}', status: 'FAILED' });
  const succeeded = sfnStandin.seed({ stateMachineArn: SM_A, name: executionNameFor(`job-a-20261125T0300Z-${old}`, 1), input: '{}', status: 'SUCCEEDED' });
  await send([task(spoolMessage({ key: r, executionArn: failed.executionArn })), task(spoolMessage({ key: old, executionArn: succeeded.executionArn }))]);
  const s = await invoke({ mode: 'redrive' });
  expect(s).toMatchObject({ redriven: 1, started: 1, remaining: 0 });
  expect(sfnStandin.executions.get(failed.executionArn)).toMatchObject({ status: 'RUNNING', redriveCount: 1 });
  expect(startsOf(executionNameFor(`job-a-20261125T0300Z-${r}`, 2))).toBe(0);
  expect(startsOf(executionNameFor(`job-a-20261125T0300Z-${old}`, 2))).toBe(1);
});
