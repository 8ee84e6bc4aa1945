/**
 * Idempotent steps (lambdas/shared/step-idempotency.ts) through the real step wrapper, Powertools'
 * real DynamoDB persistence layer and dynalite (local/dynamodb-local.ts): what a replay, a resume
 * inside a map, a redelivery and an overlap with a still-running Lambda find.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { TransientError } from '../lambdas/shared/errors';
import { JsonValue } from '../lambdas/shared/json';
import { createStepHandler, StepContext } from '../lambdas/shared/step';
import { DEFAULT_RECORD_DAYS, dynamoStepIdempotency, StepIdempotency, stepIdempotencyFromEnv, stepIdempotencyKey } from '../lambdas/shared/step-idempotency';
import { LocalDynamo, startLocalDynamo } from '../local/dynamodb-local';

const TABLE = 'coordination';
let dynamo: LocalDynamo;
let records: StepIdempotency;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
  await dynamo.createTable(TABLE);
  records = dynamoStepIdempotency({ tableName: TABLE, client: dynamo.client, pollMs: 20 });
});
afterAll(() => dynamo?.stop());

let n = 0;
/** A fresh task per test (its records do not meet another test's). */
const newTask = (attempt = 1): TaskEnvelope => ({ v: 1, taskId: `j-20260101T0000Z-k${++n}`, job: 'j', key: `k${n}`, params: { email: 'hanako@example.com' }, attempt, scheduledTime: '2026-01-01T00:00:00.000Z' });
const quiet = new Logger({ serviceName: 't', logLevel: 'SILENT' });
/** A Lambda context whose remaining time counts down from `ms`. */
const lambdaContext = (ms: number) => {
  const end = Date.now() + ms;
  return { getRemainingTimeInMillis: () => Math.max(0, end - Date.now()), awsRequestId: `r-${Math.random()}`, functionName: 'f' };
};
const handlerOf = (fn: (ctx: StepContext) => JsonValue | Promise<JsonValue>, stepName = 'CallApi', idempotency: StepIdempotency | null = records) =>
  createStepHandler(fn, { logger: quiet, stepName, holds: null, dependency: null, items: null, env: {}, idempotency });

test('a replay (attempt 2) gets the recorded result: the step does not run again', async () => {
  const task = newTask();
  let runs = 0;
  const h = handlerOf(() => ({ confirmation: `c-${++runs}` }));
  expect(await h({ task, previous: { orderId: 'o' } }, lambdaContext(5_000))).toEqual({ confirmation: 'c-1' });
  expect(await h({ task: { ...task, attempt: 2 }, previous: { orderId: 'o' } }, lambdaContext(5_000))).toEqual({ confirmation: 'c-1' });
  expect(runs).toBe(1);
});

test('the step context carries the key (task, step, map item), the same on every attempt', async () => {
  const task = newTask();
  const seen: string[] = [];
  const h = handlerOf(({ idempotencyKey }) => (seen.push(idempotencyKey), null), 'ProcessPart', null);
  await h({ task, previous: 1, index: 3 }, lambdaContext(5_000));
  await h({ task: { ...task, attempt: 4 }, previous: 1, index: 3 }, lambdaContext(5_000));
  await h({ task, previous: null }, lambdaContext(5_000));
  expect(seen).toEqual([`${task.taskId}#ProcessPart#3`, `${task.taskId}#ProcessPart#3`, `${task.taskId}#ProcessPart`]);
  expect(stepIdempotencyKey(task.taskId, 'ProcessPart', 0)).toBe(`${task.taskId}#ProcessPart#0`);
});

test('a failure is not recorded: the failed step runs again on the replay, and its success is then recorded', async () => {
  const task = newTask();
  let runs = 0;
  const h = handlerOf(() => {
    runs++;
    if (runs === 1) throw new TransientError('503');
    return { ok: runs };
  });
  await expect(h({ task, previous: null }, lambdaContext(5_000))).rejects.toMatchObject({ name: 'TransientError' });
  expect(await h({ task: { ...task, attempt: 2 }, previous: null }, lambdaContext(5_000))).toEqual({ ok: 2 });
  expect(await h({ task: { ...task, attempt: 3 }, previous: null }, lambdaContext(5_000))).toEqual({ ok: 2 });
  expect(runs).toBe(2);
});

test('a resume inside a map: items that succeeded return their records, only the failed item runs again', async () => {
  const task = newTask();
  const runs = new Map<number, number>();
  const failing = new Set([2]);
  const h = handlerOf(({ index }) => {
    runs.set(index!, (runs.get(index!) ?? 0) + 1);
    if (failing.has(index!)) throw new TransientError('part failed');
    return { part: index! };
  }, 'ProcessPart');
  const items = [0, 1, 2, 3];
  await Promise.allSettled(items.map((i) => h({ task, previous: { part: i }, index: i }, lambdaContext(5_000))));
  failing.clear();
  const replay = await Promise.all(items.map((i) => h({ task: { ...task, attempt: 2 }, previous: { part: i }, index: i }, lambdaContext(5_000))));
  expect(replay).toEqual(items.map((part) => ({ part })));
  expect([...runs.entries()].sort()).toEqual([[0, 1], [1, 1], [2, 2], [3, 1]]);
});

test("an operator's start-over (rerunFrom) runs the step again; later replays of that attempt find its new record", async () => {
  const task = newTask();
  let runs = 0;
  const seen: string[] = [];
  const h = handlerOf(({ idempotencyKey }) => (seen.push(idempotencyKey), { run: ++runs }));
  await h({ task, previous: null }, lambdaContext(5_000));
  expect(await h({ task: { ...task, attempt: 2, rerunFrom: 2 }, previous: null }, lambdaContext(5_000))).toEqual({ run: 2 });
  expect(await h({ task: { ...task, attempt: 3, rerunFrom: 2 }, previous: null }, lambdaContext(5_000))).toEqual({ run: 2 });
  expect(seen).toEqual([`${task.taskId}#CallApi`, `${task.taskId}#r2#CallApi`]);
});

test('the same key with other input is an error (IdempotencyValidationError), not a silent replay', async () => {
  const task = newTask();
  let runs = 0;
  const h = handlerOf(({ previous }) => (runs++, { echo: previous }));
  await h({ task, previous: { orderId: 'a' } }, lambdaContext(5_000));
  await expect(h({ task: { ...task, attempt: 2 }, previous: { orderId: 'b' } }, lambdaContext(5_000))).rejects.toMatchObject({ name: 'IdempotencyValidationError' });
  expect(runs).toBe(1);
});

test('a redelivered invocation while the first still runs waits for it and returns its result: the side effect happens once', async () => {
  const task = newTask();
  let applied = 0;
  const h = handlerOf(async () => {
    await new Promise((r) => setTimeout(r, 300));
    return { applied: ++applied };
  });
  const [a, b] = await Promise.all([h({ task, previous: null }, lambdaContext(5_000)), h({ task, previous: null }, lambdaContext(5_000))]);
  expect([a, b]).toEqual([{ applied: 1 }, { applied: 1 }]);
  expect(applied).toBe(1);
});

test('a call that finds another in progress past its own deadline fails with StepInProgressError, and nothing runs twice', async () => {
  const task = newTask();
  let applied = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const firstRunning = new Promise<void>((r) => (entered = r));
  const h = handlerOf(async () => {
    entered();
    await gate;
    return { applied: ++applied };
  });
  const first = h({ task, previous: null }, lambdaContext(10_000));
  // Should an expectation below fail, the gate stays shut: the first call then ends at its own deadline, unobserved.
  first.catch(() => undefined);
  // The step function runs only once its in-progress record is written: the second call must find it.
  await firstRunning;
  await expect(h({ task: { ...task, attempt: 2 }, previous: null }, lambdaContext(600))).rejects.toMatchObject({ name: 'StepInProgressError' });
  release();
  expect(await first).toEqual({ applied: 1 });
  expect(applied).toBe(1);
});

test('the deadline falling while the call waits on another (a slow record read) is that call still running: StepInProgressError, retryable, not a step timeout', async () => {
  let ran = 0;
  // The records find another call in progress, then the next read outlasts this call's deadline.
  const slowRecords: StepIdempotency = {
    run: (call) => (call.onInProgress?.(), new Promise(() => undefined)),
  };
  const h = handlerOf(() => (ran++, null), 'CallApi', slowRecords);
  await expect(h({ task: newTask(), previous: null }, lambdaContext(200))).rejects.toMatchObject({ name: 'StepInProgressError' });
  // Without another call in progress, the same hang is the step's own timeout.
  const hung: StepIdempotency = { run: () => new Promise(() => undefined) };
  await expect(handlerOf(() => null, 'CallApi', hung)({ task: newTask(), previous: null }, lambdaContext(200))).rejects.toMatchObject({ name: 'StepTimeoutError' });
  expect(ran).toBe(0);
});

test("an in-progress record expires with its Lambda's remaining time: a crashed call does not block its key", async () => {
  const task = newTask();
  let runs = 0;
  // The first Lambda has 300 ms left and never returns (it is frozen or killed at its timeout).
  let entered!: () => void;
  const crashedRunning = new Promise<void>((r) => (entered = r));
  const crashed = handlerOf(() => (runs++, entered(), new Promise<JsonValue>(() => undefined)));
  void crashed({ task, previous: null }, lambdaContext(300)).catch(() => undefined);
  // Its record is written (its step function runs), then its 300 ms pass, however slow the machine.
  await crashedRunning;
  await new Promise((r) => setTimeout(r, 500));
  const h = handlerOf(() => (runs++, { done: true }));
  expect(await h({ task, previous: null }, lambdaContext(5_000))).toEqual({ done: true });
  expect(runs).toBe(2);
});

test('records live under idem#<job>#, expire after the replay window, and hold hashes, never the input', async () => {
  const task = newTask();
  const h = handlerOf(() => ({ orderId: 'o-1' }));
  const before = Math.floor(Date.now() / 1000);
  await h({ task, previous: { email: 'hanako@example.com' } }, lambdaContext(5_000));
  const items = (await dynamo.client.send(new ScanCommand({ TableName: TABLE }))).Items ?? [];
  const mine = items.filter((i) => JSON.stringify(i).includes('o-1'));
  expect(mine).toHaveLength(1);
  expect(mine[0].pk.S).toMatch(/^idem#j#[A-Za-z0-9+/]{43}=$/);
  expect(mine[0].status.S).toBe('COMPLETED');
  expect(Number(mine[0].expiresAt.N)).toBeGreaterThanOrEqual(before + DEFAULT_RECORD_DAYS * 86_400);
  // Neither the key (task id) nor what the step was given is stored in clear.
  expect(JSON.stringify(mine[0])).not.toContain('hanako');
  expect(JSON.stringify(mine[0])).not.toContain(task.taskId);
  const again = await dynamo.client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: mine[0].pk }, ConsistentRead: true }));
  // The result itself is what a repeat gets back.
  expect(again.Item?.data).toEqual({ M: { orderId: { S: 'o-1' } } });
});

test('an output that fails its check is not recorded (the replay runs the step again)', async () => {
  const task = newTask();
  let runs = 0;
  const h = createStepHandler(() => (runs++, runs === 1 ? { parts: 'not a list' } : { parts: [1] }), {
    logger: quiet,
    stepName: 'ListParts',
    holds: null,
    dependency: null,
    items: { field: 'parts', max: 5 },
    env: {},
    idempotency: records,
  });
  await expect(h({ task, previous: null }, lambdaContext(5_000))).rejects.toMatchObject({ name: 'InvalidStepOutputError' });
  expect(await h({ task, previous: null }, lambdaContext(5_000))).toEqual({ parts: [1] });
  expect(runs).toBe(2);
});

test('from the environment: the table the construct sets, or none outside the stack', () => {
  expect(stepIdempotencyFromEnv({})).toBeNull();
  expect(stepIdempotencyFromEnv({ STEP_RESULTS_TABLE: TABLE }, dynamo.client)).not.toBeNull();
});
