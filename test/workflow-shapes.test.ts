import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { resolve } from 'node:path';
import { fixtureConfig } from './support/fixture-config';
import { resolveConfig } from '../lib/config/validate';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';
import { lockRetryAttempts } from '../lib/workflow';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { DependencyOnHold, PermanentError, TransientError } from '../lambdas/shared/errors';
import { HoldChecker } from '../lambdas/shared/holds';
import { acquireLock, lockKey, releaseLock } from '../lambdas/shared/locks';
import { LocalHmac } from '../lambdas/shared/record-mac';
import { createStepHandler } from '../lambdas/shared/step';
import { aggregate, audit, listParts, processPart } from '../lambdas/jobs/example-fanout/logic';
import { callApi, fetchOrder, publishSummary } from '../lambdas/jobs/example-api/logic';
import { aslFromTemplate, ResolvedStateMachine } from '../local/asl';
import { LocalDynamo, startLocalDynamo } from '../local/dynamodb-local';
import { LocalLambda, runLocal } from '../local/run-state-machine';
import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The shipped jobs' SYNTHESIZED definitions run in aws-local-stepfunctions: parallel groups, maps,
 * throttling, resume, holds and exclusive keys as the state machine really wires them.
 */
const config = resolveConfig(fixtureConfig, { allJobs: true });
let fanout: ResolvedStateMachine;
let api: ResolvedStateMachine;
beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, 'ShapesTest', { config, projectRoot: resolve(__dirname, '..') });
  const template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }).toJSON() as never;
  fanout = aslFromTemplate(template, { job: 'example-fanout' });
  api = aslFromTemplate(template, { job: 'example-api' });
});

const envelope = (job: string, key: string, params: unknown, extra: Partial<TaskEnvelope> = {}): TaskEnvelope => ({
  v: 1,
  taskId: `${job}-20261125T0015Z-${key}`,
  job,
  key,
  params: params as TaskEnvelope['params'],
  attempt: 1,
  scheduledTime: '2026-11-25T00:15:00.000Z',
  ...extra,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A fallback wait that loses its race most of the time: unref'd, it keeps nothing alive after the test. */
const fallback = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());
const named = (name: string, message = name) => Object.assign(new Error(message), { name });

/** Local Lambdas of the fan-out job: the real step logic, records and spool collected. */
function fanoutLambdas(over: Partial<Record<string, LocalLambda>> = {}) {
  const seen = { spool: [] as Array<Record<string, unknown>>, records: [] as string[], calls: {} as Record<string, number>, lock: [] as string[] };
  const count = (s: string) => (seen.calls[s] = (seen.calls[s] ?? 0) + 1);
  const p = (x: unknown) => x as { task: TaskEnvelope; previous: unknown; index?: number; action?: string };
  const lambdas: Record<string, LocalLambda> = {
    AcquireLock: (x) => (seen.lock.push(`acquire:${p(x).action}`), { locked: true }),
    ReleaseLock: () => (seen.lock.push('release'), { released: true }),
    ReleaseLockAfterFailure: () => (seen.lock.push('release-after-failure'), { released: true }),
    ListParts: (x) => (count('ListParts'), listParts(p(x).task.params)),
    ProcessPart: (x) => (count('ProcessPart'), processPart(p(x).previous as never, p(x).index)),
    Aggregate: (x) => (count('Aggregate'), aggregate(p(x).task.params, p(x).previous as never)),
    Audit: (x) => (count('Audit'), audit(p(x).previous as never)),
    RecordSuccess: () => (seen.records.push('Success'), {}),
    RecordFailure: (x) => (seen.records.push(`Failure:${(x as { error: string }).error}`), {}),
    RecordSpoolUnavailable: () => (seen.records.push('SpoolUnavailable'), {}),
    ...(over as Record<string, LocalLambda>),
  };
  const tasks = { SpoolFailure: (x: unknown) => (seen.spool.push((x as { MessageBody: Record<string, unknown> }).MessageBody), { MessageId: `m-${seen.spool.length}` }) };
  return { lambdas, tasks, seen };
}

describe('parallel group (a chord)', () => {
  test('the group gets the map\'s results and its output is the array of its branches\' outputs', async () => {
    const h = fanoutLambdas();
    const r = await runLocal({ definition: fanout.definition, input: envelope('example-fanout', 'acct-001', { account: 'acct-001', parts: 4 }), stateMachineArn: fanout.arn, ...h });
    expect(r.status).toBe('SUCCEEDED');
    expect(h.seen.calls).toEqual({ ListParts: 1, ProcessPart: 4, Aggregate: 1, Audit: 1 });
    expect((r.output as { output: unknown[] }).output).toEqual([expect.objectContaining({ account: 'acct-001', parts: 4 }), { audited: 4 }]);
    expect(h.seen.lock).toEqual(['acquire:acquire', 'release']);
    expect(h.seen.records).toEqual(['Success']);
  });

  test('one failing branch spools the whole task once, with the group as the failed step and its input to resume from', async () => {
    const h = fanoutLambdas({
      Audit: () => {
        throw new PermanentError('audit store refused');
      },
    });
    const r = await runLocal({ definition: fanout.definition, input: envelope('example-fanout', 'acct-002', { account: 'acct-002', parts: 3 }), stateMachineArn: fanout.arn, ...h });
    expect(r.status).toBe('FAILED');
    expect(r.error).toBe('PermanentError');
    expect(h.seen.spool).toHaveLength(1);
    expect(h.seen.spool[0]).toMatchObject({ kind: 'ExecutionFailed', error: 'PermanentError', failedState: 'Summarize', input: expect.objectContaining({ key: 'acct-002' }) });
    expect((h.seen.spool[0].stepInput as unknown[]).map((x) => (x as { part: number }).part)).toEqual([0, 1, 2]);
    expect(h.seen.records).toEqual(['Failure:PermanentError']);
    expect(h.seen.lock).toEqual(['acquire:acquire', 'release-after-failure']);
  });
});

describe('map', () => {
  test('50 items with maxConcurrency 5: never more than 5 in flight, results in item order', async () => {
    let inFlight = 0;
    let most = 0;
    // The first items wait until five are in flight together (or 2 s pass: a limit below 5 then
    // shows as most < 5), so the peak does not depend on how fast the engine hands items out.
    let openGate!: () => void;
    const fiveInFlight = new Promise<void>((r) => (openGate = r));
    const h = fanoutLambdas({
      ProcessPart: async (x) => {
        inFlight++;
        most = Math.max(most, inFlight);
        if (inFlight >= 5) openGate();
        await Promise.race([fiveInFlight, fallback(2_000)]);
        await sleep(5);
        inFlight--;
        const p = x as { previous: unknown; index: number };
        return processPart(p.previous as never, p.index);
      },
    });
    const r = await runLocal({ definition: fanout.definition, input: envelope('example-fanout', 'acct-003', { account: 'acct-003', parts: 50 }), stateMachineArn: fanout.arn, ...h });
    expect(r.status).toBe('SUCCEEDED');
    expect(most).toBe(5);
    expect((r.output as { output: Array<{ parts: number }> }).output[0].parts).toBe(50);
  });

  test('an item that keeps failing fails the task as a whole: spooled once with the map as the failed step', async () => {
    const h = fanoutLambdas();
    const r = await runLocal({ definition: fanout.definition, input: envelope('example-fanout', 'acct-004', { account: 'acct-004', parts: 6, failPart: 4 }), stateMachineArn: fanout.arn, ...h });
    expect(r.status).toBe('FAILED');
    expect(r.retries.ProcessPart).toBe(3); // its own Retry (TransientError, 3 attempts), then the Catch of the map
    expect(h.seen.spool).toHaveLength(1);
    expect(h.seen.spool[0]).toMatchObject({ error: 'TransientError', failedState: 'ProcessParts' });
    expect(h.seen.spool[0].stepInput).toEqual(listParts({ account: 'acct-004', parts: 6, failPart: 4 }));
  });

  test('a throttled step waits and retries on its own retrier: it succeeds without spooling and keeps its own retry budget', async () => {
    const attempts: Record<number, number> = {};
    const h = fanoutLambdas({
      ProcessPart: (x) => {
        const p = x as { previous: unknown; index: number };
        const n = (attempts[p.index] = (attempts[p.index] ?? 0) + 1);
        // Part 1: throttled five times, then three transient failures (its Retry allows 3), then fine.
        if (p.index === 1 && n <= 5) throw named('Lambda.TooManyRequestsException', 'Rate Exceeded.');
        if (p.index === 1 && n <= 8) throw new TransientError('flaky');
        return processPart(p.previous as never, p.index);
      },
    });
    const r = await runLocal({ definition: fanout.definition, input: envelope('example-fanout', 'acct-005', { account: 'acct-005', parts: 3 }), stateMachineArn: fanout.arn, ...h });
    expect(r.status).toBe('SUCCEEDED');
    expect(attempts[1]).toBe(9);
    expect(h.seen.spool).toHaveLength(0);
  });
});

describe('resume at the failed step', () => {
  test('a replay resumed at CallApi runs CallApi and Publish only, with Fetch\'s output as CallApi\'s input', async () => {
    const order = { orderId: 'ord-1', customer: { name: 'A', email: 'a@example.com' }, amount: 10 };
    const fetched = fetchOrder(order);
    const calls: string[] = [];
    const given: unknown[] = [];
    const ok = (async () => new Response(JSON.stringify({ confirmation: 'c-1' }), { status: 200 })) as unknown as typeof fetch;
    const r = await runLocal({
      definition: api.definition,
      input: envelope('example-api', 'ord-1', order, { attempt: 2, resume: { step: 'CallApi', input: fetched } }),
      stateMachineArn: api.arn,
      lambdas: {
        Fetch: () => (calls.push('Fetch'), fetched),
        CallApi: async (x) => (calls.push('CallApi'), given.push((x as { previous: unknown }).previous), callApi(order, { url: 'http://api', fetch: ok, timeoutMs: 1000 })),
        Publish: (x) => (calls.push('Publish'), publishSummary(order, (x as { previous: never }).previous)),
        RecordSuccess: () => ({}),
        RecordFailure: () => ({}),
        RecordSpoolUnavailable: () => ({}),
      },
      tasks: { SpoolFailure: () => ({ MessageId: 'm' }) },
    });
    expect(r.status).toBe('SUCCEEDED');
    expect(calls).toEqual(['CallApi', 'Publish']);
    expect(given).toEqual([fetched]);
  });
});

describe('holds', () => {
  test('while orders-api is on hold, CallApi does not call it: spooled at once with DependencyOnHold, no retry spent', async () => {
    let apiCalls = 0;
    const quiet = new Logger({ serviceName: 't', logLevel: 'SILENT' });
    const held = new HoldChecker({ readSwitch: async (dep) => dep === 'orders-api', windows: {}, timeZone: 'Asia/Tokyo' });
    const callApiStep = createStepHandler(() => (apiCalls++, { ok: true }), { logger: quiet, holds: held, dependency: 'orders-api', env: {} });
    const spooled: Array<Record<string, unknown>> = [];
    const order = { orderId: 'ord-2', customer: { name: 'A', email: 'a@example.com' }, amount: 10 };
    const r = await runLocal({
      definition: api.definition,
      input: envelope('example-api', 'ord-2', order),
      stateMachineArn: api.arn,
      lambdas: {
        Fetch: () => fetchOrder(order),
        CallApi: (x) => callApiStep(x as never),
        Publish: () => ({}),
        RecordSuccess: () => ({}),
        RecordFailure: () => ({}),
        RecordSpoolUnavailable: () => ({}),
      },
      tasks: { SpoolFailure: (x) => (spooled.push((x as { MessageBody: Record<string, unknown> }).MessageBody), { MessageId: 'm' }) },
    });
    expect(r.status).toBe('FAILED');
    expect(r.error).toBe(new DependencyOnHold('orders-api').name);
    expect(r.retries.CallApi ?? 0).toBe(0);
    expect(apiCalls).toBe(0);
    expect(spooled).toEqual([expect.objectContaining({ error: 'DependencyOnHold', failedState: 'CallApi', stepInput: fetchOrder(order) })]);
  });
});

describe('exclusive key (real locks in a local DynamoDB engine)', () => {
  let db: LocalDynamo;
  const lockMac = new LocalHmac(Buffer.alloc(32, 3));
  beforeAll(async () => {
    db = await startLocalDynamo();
    await db.createTable('Coordination');
  });
  afterAll(() => db.stop());

  /** The lock states backed by the real lock logic (lambdas/shared/locks.ts). */
  const lockLambdas = (onRefused: () => void = () => undefined) => {
    const deps = { ddb: db.client, tableName: 'Coordination' };
    const act = async (x: unknown) => {
      const p = x as { action: string; task: TaskEnvelope; job: string; field: string; owner: string; ttlSeconds: number };
      const key = await lockKey(p.job, p.task.params, p.field, lockMac);
      if (p.action === 'acquire') await acquireLock(deps, key, p.owner, p.ttlSeconds).catch((e: unknown) => (onRefused(), Promise.reject(e)));
      else await releaseLock(deps, key, p.owner);
      return {};
    };
    return { AcquireLock: act, ReleaseLock: act, ReleaseLockAfterFailure: act };
  };

  test('two tasks of one account never overlap: the second waits for the first to release', async () => {
    const intervals: Array<{ exec: string; from: number; to: number }> = [];
    // The lock's holder stays in ListParts until the other task has been refused once (or 5 s
    // pass: two holders at once then show as overlapping intervals), however the two interleave.
    let refused!: () => void;
    const otherRefused = new Promise<void>((r) => (refused = r));
    const run = (exec: string) => {
      const h = fanoutLambdas({
        ...lockLambdas(() => refused()),
        ListParts: async (x) => {
          const from = Date.now();
          await Promise.race([otherRefused, fallback(5_000)]);
          await sleep(60);
          intervals.push({ exec, from, to: Date.now() });
          return listParts((x as { task: TaskEnvelope }).task.params);
        },
      });
      return runLocal({
        definition: fanout.definition,
        input: envelope('example-fanout', 'acct-010', { account: 'acct-010', parts: 2 }, { taskId: `example-fanout-${exec}-acct-010` }),
        stateMachineArn: fanout.arn,
        executionName: exec,
        retryWaitMs: { AcquireLock: 25 },
        ...h,
      });
    };
    const [a, b] = await Promise.all([run('exec-a'), run('exec-b')]);
    expect([a.status, b.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect((a.retries.AcquireLock ?? 0) + (b.retries.AcquireLock ?? 0)).toBeGreaterThan(0);
    const [first, second] = intervals.sort((x, y) => x.from - y.from);
    expect(second.from).toBeGreaterThanOrEqual(first.to);
  });

  test('a task that cannot get the lock waits up to its limit, then is spooled with LockBusy (never dropped)', async () => {
    const params = { account: 'acct-011', parts: 2 };
    await acquireLock({ ddb: db.client, tableName: 'Coordination' }, await lockKey('example-fanout', params, 'account', lockMac), 'someone-else', 3600);
    const h = fanoutLambdas(lockLambdas());
    const r = await runLocal({ definition: fanout.definition, input: envelope('example-fanout', 'acct-011', params), stateMachineArn: fanout.arn, ...h });
    expect(r.status).toBe('FAILED');
    expect(r.error).toBe('LockBusy');
    expect(r.retries.AcquireLock).toBe(lockRetryAttempts(config.jobs.find((j) => j.name === 'example-fanout')!.exclusiveWaitSeconds));
    expect(h.seen.calls.ListParts).toBeUndefined();
    expect(h.seen.spool).toEqual([expect.objectContaining({ error: 'LockBusy', failedState: 'AcquireLock', stepInput: null })]);
  });
});
