/**
 * Reprocess end to end with no AWS: the handler's own module-scope clients (unmodified, pointed
 * only by AWS_ENDPOINT_URL_SQS / _SFN / _DYNAMODB) talk to fauxqs (local/sqs-emulator.ts), the Step
 * Functions stand-in (local/sfn-standin.ts) and dynalite (local/dynamodb-local.ts: the hold switches).
 */
import { DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { RedriveExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { ChangeMessageVisibilityBatchCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { ReprocessPayload } from '../lambdas/reprocess/payload';
import type { ReprocessSummary } from '../lambdas/reprocess/drain';
import { HOLD_VALUE_ATTR, holdKey, TABLE_KEY_ATTR } from '../lambdas/shared/holds';
import { executionNameFor, taskIdFor } from '../lambdas/shared/names';
import { metrics, logger } from '../lambdas/shared/powertools';
import { SpoolMessage } from '../lambdas/shared/spool-message';
import { LocalDynamo, startLocalDynamo } from '../local/dynamodb-local';
import { SfnStandin, startSfnStandin } from '../local/sfn-standin';
import { SqsEmulator, startSqsEmulator } from '../local/sqs-emulator';
import { FETCHED, jobsEnv, RECENT_TICK, SM_A, SM_B, SM_UNKNOWN, spoolAttributes, spoolMessage as fixtureMessage } from './reprocess-fixtures';

let sqsEmu: SqsEmulator;
let sfnStandin: SfnStandin;
let dynamo: LocalDynamo;
let client: SQSClient;
let handlerModule: typeof import('../lambdas/reprocess/handler');
let queueSeq = 0;
let spoolName: string;
const TABLE = 'coordination';

beforeAll(async () => {
  [sqsEmu, sfnStandin, dynamo] = await Promise.all([startSqsEmulator(), startSfnStandin({ latencyMs: 2 }), startLocalDynamo('us-east-1')]);
  await dynamo.createTable(TABLE);
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_SQS: sqsEmu.endpoint,
    AWS_ENDPOINT_URL_SFN: sfnStandin.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    ...jobsEnv(),
    COORDINATION_TABLE: TABLE,
    APP_TIME_ZONE: 'Asia/Tokyo',
    MAX_REPLAYS: '5',
    MAX_REPROCESS: '10',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  // The shared logger was built when this file imported it, before the env above.
  logger.setLogLevel('SILENT');
  client = new SQSClient({});
  // Imported after the env is set, as Lambda would load it.
  handlerModule = await import('../lambdas/reprocess/handler');
});

afterAll(async () => {
  await Promise.all([sqsEmu?.stop(), sfnStandin?.stop(), dynamo?.stop()]);
});

/** The operator's switch, as `hold` / `unhold` (or the DynamoDB console) sets it. */
const hold = (dependency: string) => dynamo.client.send(new PutItemCommand({ TableName: TABLE, Item: { [TABLE_KEY_ATTR]: { S: holdKey(dependency) }, [HOLD_VALUE_ATTR]: { S: 'on' } } }));
const unhold = (dependency: string) => dynamo.client.send(new DeleteItemCommand({ TableName: TABLE, Key: { [TABLE_KEY_ATTR]: { S: holdKey(dependency) } } }));

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

/**
 * The handler replays on the real clock and quarantines ticks older than MAX_REPLAY_TICK_AGE_MS:
 * these tasks' tick is relative to the run, so the tests pass on any date.
 */
const spoolMessage = (o: Parameters<typeof fixtureMessage>[0]) => fixtureMessage({ scheduledTime: RECENT_TICK, ...o });
const idOf = (job: string, key: string) => taskIdFor(job, new Date(RECENT_TICK), key);
const task = (m: SpoolMessage) => ({ body: JSON.stringify(m), attrs: spoolAttributes(m) });
const keys = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${queueSeq}x${i}`);
const invoke = (payload: ReprocessPayload): Promise<ReprocessSummary> => handlerModule.handler(payload, { getRemainingTimeInMillis: () => 60_000 }) as Promise<ReprocessSummary>;
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
  const started = ks.filter((k) => startsOf(executionNameFor(idOf('job-a', k), 2)) === 1).map((k) => idOf('job-a', k));
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
  for (const key of b) expect(startsOf(executionNameFor(idOf('job-b', key), 2))).toBe(1);
});

test('an already-started name is counted alreadyStarted and deleted, not run twice', async () => {
  const [done, fresh] = keys(2, 'a');
  const doneName = executionNameFor(idOf('job-a', done), 2);
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
    task(spoolMessage({ key: `j${queueSeq}`, kind: 'Rejected', error: 'DuplicateTaskKey' })),
    task(spoolMessage({ key: `r${queueSeq}`, attempt: 6 })),
  ];
  await send(bad);
  const startsBefore = sfnStandin.counters.calls.StartExecution ?? 0;
  const s = await invoke({});
  expect(s).toMatchObject({ invalid: 5, started: 0, remaining: 0 });
  expect(sfnStandin.counters.calls.StartExecution ?? 0).toBe(startsBefore);
  const quarantine = await sqsEmu.inspectQueue(`quarantine-${queueSeq}`);
  expect(quarantine.all.map((m) => m.body).sort()).toEqual(bad.map((b) => b.body).sort());
  const reasons = quarantine.all.map((m) => m.attributes.reason).sort();
  expect(reasons).toEqual([
    expect.stringMatching(/^ProducerFailed/),
    expect.stringMatching(/^Rejected: the producer refused this task spec \(DuplicateTaskKey\)/),
    expect.stringMatching(/^body is not JSON/),
    expect.stringMatching(/^may be forged: the state machine is not job "job-a"'s/),
    expect.stringMatching(/^too many replays/),
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
  ks.slice(0, 5).forEach((key) => sfnStandin.complete(`${SM_A.replace(':stateMachine:', ':execution:')}:${executionNameFor(idOf('job-a', key), 2)}`, 'SUCCEEDED'));
  await new Promise((r) => setTimeout(r, 1_100));
  const idempotentBefore = sfnStandin.counters.idempotent;
  const rerun = await invoke({ max: 10 });
  expect(rerun).toMatchObject({ started: 0, alreadyStarted: 10, remaining: 0 });
  expect(sfnStandin.counters.idempotent - idempotentBefore).toBe(5);
  for (const key of ks) expect(startsOf(executionNameFor(idOf('job-a', key), 2))).toBe(1);
  expect(sfnStandin.counters.duplicates).toBe(0);
});

test('a held dependency: its messages stay in the spool, counted held; unhold, then replay starts them (the two-command recovery)', async () => {
  const [held1, held2, after] = keys(3, 'h');
  await send([
    task(spoolMessage({ key: held1 })), // resumes at CallApi, which depends on orders-api
    task(spoolMessage({ key: held2, failedState: 'Fetch', stepInput: null })), // starts over: runs CallApi too
    task(spoolMessage({ key: after, failedState: 'Publish', stepInput: { called: true } })), // resumes after CallApi
    task(spoolMessage({ job: 'job-b', key: `b${queueSeq}` })), // no dependency
  ]);
  await hold('orders-api');
  const s = await invoke({ max: 10 });
  expect(s).toMatchObject({ held: 2, started: 2, remaining: 2 });
  const q = await sqsEmu.inspectQueue(spoolName);
  expect({ ready: q.ready, inflight: q.inflight }).toEqual({ ready: 2, inflight: 0 });
  expect(q.readyBodies.map((b) => (JSON.parse(b) as SpoolMessage).taskId).sort()).toEqual([held1, held2].map((k) => idOf('job-a', k)).sort());
  expect(s.items.filter((i) => i.outcome === 'held').map((i) => i.reason)).toEqual([expect.stringMatching(/orders-api" is on hold/), expect.stringMatching(/orders-api" is on hold/)]);
  for (const k of [held1, held2]) expect(startsOf(executionNameFor(idOf('job-a', k), 2))).toBe(0);

  // The recovery: `unhold orders-api`, then replay.
  await unhold('orders-api');
  const again = await invoke({ max: 10 });
  expect(again).toMatchObject({ held: 0, started: 2, remaining: 0 });
  for (const k of [held1, held2]) expect(startsOf(executionNameFor(idOf('job-a', k), 2))).toBe(1);
  const resumed = [...sfnStandin.executions.values()].find((e) => e.name === executionNameFor(idOf('job-a', held1), 2))!;
  expect(JSON.parse(resumed.input).resume).toEqual({ step: 'CallApi', input: FETCHED });
});

test('ExecutionEnded: one redriven from the console (running again) is deleted as already handled; one still failed is replayed', async () => {
  const [redriven, still] = keys(2, 'e');
  const ended = (key: string) => sfnStandin.seed({ stateMachineArn: SM_A, name: executionNameFor(idOf('job-a', key), 1), input: '{}', status: 'TIMED_OUT' });
  const r = ended(redriven);
  const f = ended(still);
  await send([redriven, still].map((key, i) => task(spoolMessage({ key, kind: 'ExecutionEnded', error: 'ExecutionTimedOut', executionArn: [r, f][i].executionArn }))));
  // Someone redrives one from the console (the console calls RedriveExecution) after it was spooled.
  await new SFNClient({}).send(new RedriveExecutionCommand({ executionArn: r.executionArn }));
  expect(sfnStandin.executions.get(r.executionArn)).toMatchObject({ status: 'RUNNING', redriveCount: 1 });
  const describesBefore = sfnStandin.counters.calls.DescribeExecution ?? 0;
  const s = await invoke({});
  expect(s).toMatchObject({ alreadyHandled: 1, started: 1, remaining: 0 });
  expect((sfnStandin.counters.calls.DescribeExecution ?? 0) - describesBefore).toBe(2);
  expect(startsOf(executionNameFor(idOf('job-a', redriven), 2))).toBe(0);
  expect(startsOf(executionNameFor(idOf('job-a', still), 2))).toBe(1);
});

test('observability: the Lambda context goes into the logger, the summary counts become metrics (not for a dry run)', async () => {
  await send(keys(3, 'o').map((key) => task(spoolMessage({ key }))));
  const added: Array<[string, number]> = [];
  const addMetric = jest.spyOn(metrics, 'addMetric').mockImplementation((name, _unit, value) => (added.push([name, value]), metrics));
  const publish = jest.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
  const addContext = jest.spyOn(logger, 'addContext');
  try {
    await handlerModule.handler({ dryRun: true }, { getRemainingTimeInMillis: () => 60_000 });
    expect(addMetric).not.toHaveBeenCalled();
    const context = { getRemainingTimeInMillis: () => 60_000, awsRequestId: 'req-1', functionName: 'reprocess' };
    const s = (await handlerModule.handler({}, context as never)) as ReprocessSummary;
    expect(addContext).toHaveBeenCalledWith(context);
    expect(Object.fromEntries(added)).toMatchObject({ ReprocessStarted: s.started, ReprocessResumed: 3, ReprocessHeld: 0, ReprocessInvalid: 0, ReprocessAlreadyHandled: 0 });
    expect(s.started).toBe(3);
    expect(publish).toHaveBeenCalledTimes(1);
    // Counts, ids and names only: the params (an e-mail address here) are in no summary.
    expect(JSON.stringify(s)).not.toContain('@example.com');
  } finally {
    addMetric.mockRestore();
    publish.mockRestore();
    addContext.mockRestore();
  }
});
