import '../local/polyfills';
import { DynamoDBProvider } from '@aws-lambda-powertools/parameters/dynamodb';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fixtureConfig } from './support/fixture-config';
import { writeSwitch } from '../cli/holds';
import { resolveConfig } from '../lib/config/validate';
import { dynamoHoldSwitch, HOLD_VALUE_ATTR, TABLE_KEY_ATTR } from '../lambdas/shared/holds';
import { ParamLogRecord } from '../lambdas/shared/param-log';
import { startLocalDynamo } from '../local/dynamodb-local';
import { statusChangeEvent, StandinExecution } from '../local/sfn-standin';
import { ExecutionSeen, keepBooks } from '../local/offline-day/accounting';
import { eventRules, placeholderRef, synthesizeApp } from '../local/offline-day/app-model';
import { matchesEventPattern } from '../local/offline-day/eventbridge';
import { AsyncInvoker, onFailureRecord, OnFailureRecord } from '../local/offline-day/lambda-async';
import { apiDependencies } from '../local/offline-day/run';
import { listParts, parseAccount, processPart, produceAccounts } from '../lambdas/jobs/example-fanout/logic';
import { SimClock, Timeline } from '../local/offline-day/sim-clock';

/** The offline day's parts, each on its own: the books, simulated time, Lambda's async retries, EventBridge matching. */

const record = (over: Partial<ParamLogRecord>): ParamLogRecord => ({
  time: '2026-11-25 00:00:00.000',
  type: 'client',
  task_id: 't',
  module: 'job-a',
  params: '{}',
  result: 'Started',
  error: null,
  cause: null,
  execution_arn: null,
  attempt: 1,
  scheduled_time: '2026-11-24T15:00:00.000Z',
  failed_state: null,
  ...over,
});
const exec = (over: Partial<ExecutionSeen> & Pick<ExecutionSeen, 'taskId'>): ExecutionSeen => ({
  executionArn: `arn:exec:${over.taskId}-a${over.attempt ?? 1}`,
  name: `${over.taskId}-a${over.attempt ?? 1}`,
  job: 'job-a',
  attempt: 1,
  status: 'SUCCEEDED',
  retries: {},
  ...over,
});
const workerOf = (e: ExecutionSeen, result: ParamLogRecord['result']): ParamLogRecord => record({ type: 'worker', task_id: e.taskId, module: e.job, result, execution_arn: e.executionArn, attempt: e.attempt });

describe('the books (keepBooks)', () => {
  it('classifies each task once, per job, from what was observed', () => {
    const execs = [
      exec({ taskId: 'a1' }),
      exec({ taskId: 'a2', retries: { CallApi: 2 } }),
      exec({ taskId: 'a3', status: 'FAILED', error: 'DependencyOnHold', cause: '[spooled m-1] held' }),
      exec({ taskId: 'a3', attempt: 2 }),
      exec({ taskId: 'b1', job: 'job-b', status: 'ABORTED' }),
    ];
    const books = keepBooks({
      jobs: ['job-a', 'job-b'],
      ticks: { 'job-a': 1, 'job-b': 1 },
      client: [record({ task_id: 'a1' }), record({ task_id: 'a2' }), record({ task_id: 'a3' }), record({ task_id: 'b1', module: 'job-b' })],
      worker: [workerOf(execs[0], 'Success'), workerOf(execs[1], 'Success'), workerOf(execs[2], 'Failure'), workerOf(execs[3], 'Success'), workerOf(execs[4], 'Aborted')],
      executions: execs,
      spooled: new Map([['b1', 'ExecutionAborted']]),
      quarantined: new Set(),
      starts: new Map(execs.map((e) => [e.name, { job: e.job, count: 1 }])),
      captures: [
        { executionArn: execs[2].executionArn, outcome: 'alreadySpooled', error: null },
        { executionArn: execs[4].executionArn, outcome: 'spooled', error: 'ExecutionAborted' },
      ],
    });
    expect(books.perJob['job-a']).toMatchObject({ tasks: 3, succeededFirstTry: 1, recoveredByRetry: 1, replayed: 1, retries: 2, spooledByError: { DependencyOnHold: 1 }, lost: 0, duplicates: 0 });
    expect(books.perJob['job-b']).toMatchObject({ tasks: 1, aborted: 1, spooledByError: { ExecutionAborted: 1 }, stillSpooled: { total: 1, byError: { ExecutionAborted: 1 } }, lost: 0 });
    expect(books.total).toMatchObject({ tasks: 4, ticks: 2, lost: 0, duplicates: 0, aborted: 1 });
  });

  it('counts an execution spooled by the workflow AND the capture as a duplicate, and an end nobody spooled as lost', () => {
    const failed = exec({ taskId: 'x', status: 'FAILED', error: 'E', cause: '[spooled m-1] boom' });
    const stopped = exec({ taskId: 'y', status: 'ABORTED' });
    const books = keepBooks({
      jobs: ['job-a'],
      ticks: {},
      client: [record({ task_id: 'x' }), record({ task_id: 'y' })],
      worker: [workerOf(failed, 'Failure'), workerOf(stopped, 'Aborted')],
      executions: [failed, stopped],
      // y's message is in the spool, but no one wrote it for this execution: the books trust the writers.
      spooled: new Map([
        ['x', 'E'],
        ['y', 'ExecutionAborted'],
      ]),
      quarantined: new Set(),
      starts: new Map(),
      captures: [{ executionArn: failed.executionArn, outcome: 'spooled', error: 'E' }],
    });
    expect(books.total).toMatchObject({ duplicates: 1, lost: 1, lostTaskIds: ['y'], lostWhy: { y: 'attempt 1 ABORTED, never spooled (by the Catch or the capture)' } });
  });

  it('an Express child run twice whose last run failed and was spooled: the replay\'s Success is no duplicate; a standard task succeeding twice still is', () => {
    const child = 'arn:aws:states:us-east-1:1:express:short-hv/Children:ab12:ab12-0';
    const item = exec({ taskId: 'i', executionArn: child, name: 'ab12-0', status: 'FAILED', error: 'States.Timeout', cause: '[spooled SpoolFailedChildren] States.Timeout' });
    const replay = exec({ taskId: 'i', attempt: 2 });
    const s1 = exec({ taskId: 's' });
    const s2 = exec({ taskId: 's', attempt: 2 });
    const books = keepBooks({
      jobs: ['job-a'],
      ticks: {},
      client: [record({ task_id: 'i' }), record({ task_id: 's' })],
      // The child's first run recorded the item's Success; its second run was killed and the item spooled.
      worker: [workerOf(item, 'Success'), workerOf(item, 'TimedOut'), workerOf(replay, 'Success'), workerOf(s1, 'Success'), workerOf(s2, 'Success')],
      executions: [item, replay, s1, s2],
      spooled: new Map(),
      quarantined: new Set(),
      starts: new Map(),
      captures: [],
    });
    expect(books.total).toMatchObject({ lost: 0, replayed: 1 });
    // s: two attempts succeeded (two executions and two Success records); i: none.
    expect(books.total.duplicates).toBe(2);
  });

  it('says why each lost task is lost: a start with no execution, or an end in neither spool nor quarantine', () => {
    const failed = exec({ taskId: 'f', status: 'FAILED', error: 'E', cause: '[spooled m-1] boom' });
    const books = keepBooks({
      jobs: ['job-a'],
      ticks: {},
      client: [record({ task_id: 'n' }), record({ task_id: 'f' })],
      worker: [workerOf(failed, 'Failure')],
      executions: [failed],
      spooled: new Map(),
      quarantined: new Set(),
      starts: new Map(),
      captures: [],
    });
    expect(books.total.lostWhy).toEqual({
      n: 'a Started client record, no execution',
      f: 'attempt 1 FAILED, no success and not in the spool or the quarantine',
    });
  });

  it('counts a task started twice, an execution without a worker record and a second success', () => {
    const a = exec({ taskId: 'a' });
    const b = exec({ taskId: 'b' });
    const b2 = exec({ taskId: 'b', attempt: 2 });
    const books = keepBooks({
      jobs: ['job-a'],
      ticks: {},
      client: [record({ task_id: 'a' }), record({ task_id: 'b' })],
      worker: [workerOf(b, 'Success'), workerOf(b2, 'Success')],
      executions: [a, b, b2],
      spooled: new Map(),
      quarantined: new Set(),
      starts: new Map([[a.name, { job: 'job-a', count: 2 }]]),
      captures: [],
    });
    // a: started twice (1) and no worker record (lost); b: two successes (1 + 1 for the worker records).
    expect(books.total).toMatchObject({ lost: 1, lostTaskIds: ['a'], duplicates: 3 });
    expect(books.total.lostWhy.a).toMatch(/^attempt 1 SUCCEEDED, no worker record/);
  });
});

describe('simulated time', () => {
  it('runs timed actions in order, each at its instant, including ones added while running', async () => {
    const clock = new SimClock(new Date('2026-11-25T00:00:00Z'));
    const timeline = new Timeline(clock);
    const seen: string[] = [];
    const at = (iso: string, label: string) =>
      timeline.at(new Date(iso), label, async () => {
        seen.push(`${label}@${clock.now().toISOString().slice(11, 19)}`);
        if (label === 'b') at('2026-11-25T00:02:30Z', 'b+');
      });
    at('2026-11-25T00:03:00Z', 'c');
    at('2026-11-25T00:01:00Z', 'a');
    at('2026-11-25T00:02:00Z', 'b');
    await timeline.runDue(new Date('2026-11-25T00:02:59Z'));
    expect(seen).toEqual(['a@00:01:00', 'b@00:02:00', 'b+@00:02:30']);
    expect(timeline.pending()).toEqual(['c']);
  });

  it('expires the steps\' cached hold switch (Powertools maxAge 5 s) on the simulated clock: a hold set between ticks is seen by the next tick', async () => {
    const dynamo = await startLocalDynamo('ap-northeast-1');
    const clock = new SimClock(new Date('2026-11-25T01:00:00Z'));
    try {
      await dynamo.createTable('coordination');
      const provider = new DynamoDBProvider({ tableName: 'coordination', keyAttr: TABLE_KEY_ATTR, valueAttr: HOLD_VALUE_ATTR, awsSdkV3Client: dynamo.client });
      const isHeld = dynamoHoldSwitch('coordination', 5, provider); // what CallApi's HoldChecker reads
      const gets = () => dynamo.requests.byTarget.GetItem ?? 0;
      clock.install();
      await writeSwitch(dynamo.client, 'coordination', 'orders-api', false, { by: 'test', reason: null, now: clock.now() });
      expect(await isHeld('orders-api')).toBe(false);
      const before = gets();
      // The operator sets the hold one second later: within maxAge the step still sees the old value.
      clock.set(new Date('2026-11-25T01:00:01Z'));
      await writeSwitch(dynamo.client, 'coordination', 'orders-api', true, { by: 'test', reason: 'maintenance', now: clock.now() });
      expect(await isHeld('orders-api')).toBe(false);
      expect(gets()).toBe(before);
      // The next tick (5 simulated minutes on): the cache has expired in simulated time, not wall time.
      clock.set(new Date('2026-11-25T01:05:00Z'));
      expect(await isHeld('orders-api')).toBe(true);
      // The expired cache is read, and a "held" is confirmed by a fresh read (so an unhold is seen at once).
      expect(gets()).toBe(before + 2);
      await writeSwitch(dynamo.client, 'coordination', 'orders-api', false, { by: 'test', reason: null, now: clock.now() });
      clock.set(new Date('2026-11-25T01:10:00Z'));
      expect(await isHeld('orders-api')).toBe(false);
    } finally {
      clock.uninstall();
      await dynamo.stop();
    }
  });
});

describe('Lambda asynchronous invocation (AsyncInvoker)', () => {
  const setup = (failures: number, retryAttempts = 2, onFailureQueue: string | null = 'FailedInvocations') => {
    const clock = new SimClock(new Date('2026-11-25T00:30:00Z'));
    const timeline = new Timeline(clock);
    const attempts: string[] = [];
    const kept: Array<{ queue: string; record: OnFailureRecord }> = [];
    const invoker = new AsyncInvoker({
      timeline,
      now: () => clock.now(),
      config: () => ({ retryAttempts, onFailureQueue }),
      functionArn: (id) => `arn:aws:lambda:ap-northeast-1:000000000000:function:${id}`,
      invoke: async () => {
        attempts.push(clock.now().toISOString().slice(11, 16));
        if (attempts.length <= failures) throw Object.assign(new Error('the order source did not answer'), { name: 'TransientError' });
        return { outcome: 'planned' };
      },
      settle: async () => undefined,
      keep: async (queue, r) => void kept.push({ queue, record: r }),
    });
    return { clock, timeline, invoker, attempts, kept };
  };

  it('retries a failing invocation a minute, then two minutes later, then keeps the record Lambda writes', async () => {
    const t = setup(3);
    const inv = await t.invoker.invoke('Producer', { scheduledTime: '2026-11-25T00:30:00Z' });
    expect(inv.outcome).toBe('pending');
    await t.timeline.runDue(new Date('2026-11-25T01:00:00Z'));
    expect(t.attempts).toEqual(['00:30', '00:31', '00:33']);
    expect(inv).toMatchObject({ attempts: 3, outcome: 'kept', errors: ['TransientError', 'TransientError', 'TransientError'] });
    expect(t.kept).toHaveLength(1);
    expect(t.kept[0].queue).toBe('FailedInvocations');
    expect(t.kept[0].record).toEqual({
      version: '1.0',
      timestamp: expect.stringMatching(/^2026-11-25T00:33:0\d/), // the third attempt's end (the clock runs at wall speed between jumps: seconds on a loaded machine)
      requestContext: { requestId: inv.requestId, functionArn: 'arn:aws:lambda:ap-northeast-1:000000000000:function:Producer:$LATEST', condition: 'RetriesExhausted', approximateInvokeCount: 3 },
      requestPayload: { scheduledTime: '2026-11-25T00:30:00Z' },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: { errorMessage: 'the order source did not answer', errorType: 'TransientError', stackTrace: [] },
    });
  });

  it('stops at the first attempt that works; without a destination a failed event is dropped', async () => {
    const ok = setup(1);
    const a = await ok.invoker.invoke('Producer', {});
    await ok.timeline.runDue(new Date('2026-11-25T01:00:00Z'));
    expect(ok.attempts).toEqual(['00:30', '00:31']);
    expect(a.outcome).toBe('succeeded');
    expect(ok.kept).toEqual([]);
    const none = setup(9, 0, null);
    const b = await none.invoker.invoke('Producer', {});
    expect(b).toMatchObject({ attempts: 1, outcome: 'dropped' });
  });

  it('writes the error, never the stack, into the record', () => {
    const e = new Error('boom');
    e.stack = 'Error: boom\n    at /var/task/index.js:1:1';
    expect(onFailureRecord({ functionArn: 'arn:f', requestId: 'r', event: {}, error: e, invokeCount: 3, at: new Date(0) }).responsePayload).toEqual({ errorMessage: 'boom', errorType: 'Error', stackTrace: [] });
  });
});

describe('EventBridge matching of the synthesized status-change rule', () => {
  const config = resolveConfig(fixtureConfig, { allJobs: true });
  const model = synthesizeApp(config, resolve(__dirname, '..'));
  const ref = placeholderRef(model.region);
  const rules = eventRules(model, ref);
  const smArn = ref(model.stateMachines.get('example-api')!, 'AWS::StepFunctions::StateMachine');
  const event = (status: StandinExecution['status'], stateMachineArn = smArn) =>
    statusChangeEvent({ executionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:t-a1`, stateMachineArn, name: 't-a1', input: '{}', startDate: new Date(0), status, redriveCount: 0, history: [] });

  it('finds the capture rule and its target function', () => {
    expect(rules).toHaveLength(1);
    expect(model.entries.get(rules[0].targetFunction)).toBe('lambdas/execution-capture/handler.ts');
  });

  it('delivers FAILED, TIMED_OUT and ABORTED ends of the app\'s executions only', () => {
    const m = (ev: unknown) => matchesEventPattern(rules[0].pattern, ev);
    expect(['FAILED', 'TIMED_OUT', 'ABORTED'].map((s) => m(event(s as never)))).toEqual([true, true, true]);
    expect(['RUNNING', 'SUCCEEDED'].map((s) => m(event(s as never)))).toEqual([false, false]);
    expect(m(event('FAILED', smArn.replace(/stateMachine:.*/, 'stateMachine:SomeoneElses')))).toBe(false);
  });

  it('refuses content filters it does not model', () => {
    expect(() => matchesEventPattern({ detail: { status: [{ prefix: 'F' }] } }, {})).toThrow(/not modelled/);
  });

  it('holds the dependency of the steps that call the example API', () => {
    expect(apiDependencies(config)).toEqual(['orders-api']);
  });
});

describe('the fan-out example\'s failing part (FANOUT_FAIL_EVERY, FANOUT_FAIL_ATTEMPTS)', () => {
  const failingTick = new Date('2026-11-24T15:15:00Z'); // 00:15 Tokyo: its minute count divides by 165

  it('fails one part of one task on the first attempt only, so the resumed replay succeeds', () => {
    const [first, ...rest] = produceAccounts(failingTick, 3, 165, 1);
    expect(rest.every((t) => (t.params as { failPart?: number }).failPart === undefined)).toBe(true);
    const params = parseAccount(first.params);
    expect(params.failAttempts).toBe(1);
    const failing = listParts(first.params).parts.find((p) => p.fail)!;
    expect(() => processPart(failing, failing.part, { attempt: 1, failAttempts: params.failAttempts })).toThrow(expect.objectContaining({ name: 'TransientError' }));
    expect(processPart(failing, failing.part, { attempt: 2, failAttempts: params.failAttempts })).toMatchObject({ part: failing.part });
  });

  it('keeps failing on every attempt without FANOUT_FAIL_ATTEMPTS (as before)', () => {
    const [first] = produceAccounts(failingTick, 3, 165);
    expect(parseAccount(first.params).failAttempts).toBeUndefined();
    const failing = listParts(first.params).parts.find((p) => p.fail)!;
    expect(() => processPart(failing, failing.part, { attempt: 5 })).toThrow(expect.objectContaining({ name: 'TransientError' }));
    expect(() => parseAccount({ ...(first.params as object), failAttempts: 0 })).toThrow(/failAttempts/);
  });
});

describe('npm start flags', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(__dirname, '..', 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(__dirname, '..', 'local', 'offline-day', 'cli.ts'), ...args], { encoding: 'utf8', timeout: 60_000 });

  it('refuses contradictory hold flags and unknown profiles with exit code 2, and names the profiles', () => {
    const both = cli('--planned-windows', '--no-hold');
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('--planned-windows and --no-hold exclude each other');
    const bogus = cli('--faults', 'bogus');
    expect(bogus.status).toBe(2);
    expect(bogus.stderr).toContain('--faults must be one of none, default, heavy, outside');
  }, 180_000);

  it('refuses a --canary that would not survive JSON, URLs or e-mail addresses unchanged, saying what it may be', () => {
    const r = cli('--canary', 'has space');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--canary must be 6-64 letters, digits, '.', '_' or '-'");
    expect(cli('--help').stdout).toContain('--canary TEXT');
  }, 180_000);
});
