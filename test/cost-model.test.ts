import { resolve } from 'node:path';
import { AppConfig } from '../lib/config/types';
import { resolveConfig } from '../lib/config/validate';
import { AslDefinition } from '../local/asl';
import { synthesizeApp, stateMachineDefinition, placeholderRef } from '../local/offline-day/app-model';
import { EngineEvent, runLocal } from '../local/run-state-machine';
import { DEFAULT_FROM } from '../lambdas/reprocess/payload';
import { buildCostModel, CostArgs, DEFAULT_ARGS, foldPath, jobMix, parseArgs } from '../scripts/cost-model';
import { dailyUsage, firehoseBilled, LEDGER_WRITES_PER_BATCH, LEDGER_WRITES_PER_TICK, sampledPerSecond, sqsBilled, tasksPerMessage } from '../scripts/cost/model';
import { AslScope, walkExecution } from '../scripts/cost/transitions';

const projectRoot = resolve(__dirname, '..');

// ---------------------------------------------------------------------------------------------
// The walk, on a definition written by hand: every count below is worked out from the states.

const lambda = (fn: string, extra: Record<string, unknown> = {}) => ({
  Type: 'Task',
  Resource: 'arn:aws:states:::lambda:invoke',
  Parameters: { FunctionName: `arn:aws:lambda:us-east-1:123456789012:function:${fn}`, 'Payload.$': '$' },
  ResultPath: null,
  ...extra,
});
const MY_RETRY = (n: number) => [
  { ErrorEquals: ['Lambda.ServiceException', 'Lambda.AWSLambdaException'], IntervalSeconds: 2, MaxAttempts: 6, BackoffRate: 2 },
  { ErrorEquals: ['MyError'], IntervalSeconds: 1, MaxAttempts: n, BackoffRate: 2 },
];
const CATCH = (next: string) => [{ ErrorEquals: ['States.ALL'], ResultPath: '$.caught', Next: next }];

/**
 * Route (Choice) -> A -> G (Parallel: [P1 -> P1-End], [P2]) -> M (Map over $.items: I -> I-End)
 * -> B -> Rec -> Done; B-Resume -> B for a replay; any Catch -> X-Caught -> Spool (SQS) -> Failed.
 */
const HAND: AslScope = {
  StartAt: 'Route',
  States: {
    Route: {
      Type: 'Choice',
      Choices: [{ And: [{ Variable: '$.resume.step', IsPresent: true }, { Variable: '$.resume.step', StringEquals: 'B' }], Next: 'B-Resume' }],
      Default: 'A',
    },
    A: lambda('FnA', { Retry: MY_RETRY(1), Catch: CATCH('A-Caught'), Next: 'G' }),
    G: {
      Type: 'Parallel',
      ResultPath: null,
      Branches: [
        { StartAt: 'P1', States: { P1: lambda('FnP', { Next: 'P1-End' }), 'P1-End': { Type: 'Pass', End: true } } },
        { StartAt: 'P2', States: { P2: lambda('FnQ', { End: true }) } },
      ],
      Catch: CATCH('G-Caught'),
      Next: 'M',
    },
    M: {
      Type: 'Map',
      ItemsPath: '$.items',
      ResultPath: null,
      ItemProcessor: { StartAt: 'I', States: { I: lambda('FnI', { Retry: MY_RETRY(2), Next: 'I-End' }), 'I-End': { Type: 'Pass', End: true } } },
      Catch: CATCH('M-Caught'),
      Next: 'B',
    },
    'B-Resume': { Type: 'Pass', Next: 'B' },
    B: lambda('FnB', { Retry: MY_RETRY(3), Catch: CATCH('B-Caught'), Next: 'Rec' }),
    Rec: lambda('FnRec', { Next: 'Done' }),
    Done: { Type: 'Succeed' },
    'A-Caught': { Type: 'Pass', Next: 'Spool' },
    'G-Caught': { Type: 'Pass', Next: 'Spool' },
    'M-Caught': { Type: 'Pass', Next: 'Spool' },
    'B-Caught': { Type: 'Pass', Next: 'Spool' },
    Spool: { Type: 'Task', Resource: 'arn:aws:states:::sqs:sendMessage', Parameters: { QueueUrl: 'q', 'MessageBody.$': '$' }, ResultPath: null, Next: 'Failed' },
    Failed: { Type: 'Fail', Error: 'Failed' },
  },
};
const INPUT = { items: [1, 2, 3] };
const three = () => 3;

test('success path: every state entered is one transition (Choice, Pass, Succeed, branches, each map item)', () => {
  const c = walkExecution(HAND, { input: INPUT, mapItems: three });
  // Route, A, G, P1, P1-End, P2, M, 3 x (I, I-End), B, Rec, Done = 1+1+1+1+1+1+1+6+1+1+1
  expect(c.transitions).toBe(16);
  expect(Object.fromEntries(c.lambda)).toEqual({ FnA: 1, FnP: 1, FnQ: 1, FnI: 3, FnB: 1, FnRec: 1 });
  expect(c.tasks.size).toBe(0);
  expect(c.status).toBe('SUCCEEDED');
});

test('failure path: the failing step and its retries, then the Catch chain to Fail', () => {
  const c = walkExecution(HAND, { input: INPUT, mapItems: three, fail: { state: 'B', retries: 3 } });
  // the 13 states before B (as above), B entered once + 3 retries, then B-Caught, Spool, Failed
  expect(c.transitions).toBe(13 + 4 + 3);
  expect(c.lambda.get('FnB')).toBe(4);
  expect(c.lambda.get('FnRec')).toBeUndefined();
  expect(Object.fromEntries(c.tasks)).toEqual({ 'arn:aws:states:::sqs:sendMessage': 1 });
  expect(c.status).toBe('FAILED');
});

test('a failure inside one map item: that item stops, the others finish, the Map catches', () => {
  const c = walkExecution(HAND, { input: INPUT, mapItems: three, fail: { state: 'I', retries: 2 } });
  // Route, A, G+3, M, item 0: I + 2 retries (no I-End), items 1-2: I, I-End each, M-Caught, Spool, Failed
  expect(c.transitions).toBe(1 + 1 + 4 + 1 + 3 + 4 + 3);
  expect(c.lambda.get('FnI')).toBe(3 + 2);
  expect(c.lambda.get('FnB')).toBeUndefined();
  expect(c.status).toBe('FAILED');
});

test('a replay resumed at B enters through its Resume state only', () => {
  const c = walkExecution(HAND, { input: { resume: { step: 'B', input: {} } }, mapItems: three });
  expect(c.entered).toEqual(['Route', 'B-Resume', 'B', 'Rec', 'Done']);
  expect(c.transitions).toBe(5);
});

test('the walk refuses what it cannot count rather than guessing', () => {
  const numeric: AslScope = { StartAt: 'C', States: { C: { Type: 'Choice', Choices: [{ Variable: '$.n', NumericGreaterThan: 1, Next: 'D' }], Default: 'D' }, D: { Type: 'Succeed' } } };
  expect(() => walkExecution(numeric, { input: { n: 2 }, mapItems: three })).toThrow(/NumericGreaterThan is not evaluated/);
  const loop: AslScope = { StartAt: 'P', States: { P: { Type: 'Pass', Next: 'P' } } };
  expect(() => walkExecution(loop, { input: {}, mapItems: three })).toThrow(/loops/);
  expect(() => walkExecution(HAND, { input: INPUT, mapItems: three, fail: { state: 'Nope', retries: 0 } })).toThrow(/not on the walked path/);
  expect(() => walkExecution(HAND, { input: { resume: { step: 'B' } }, mapItems: three, fail: { state: 'B-Resume', retries: 0 } })).toThrow(/cannot fail/);
});

/** Transitions as the local engine reports them: states entered plus retries. */
async function engineTransitions(definition: AslDefinition, input: unknown, lambdas: Record<string, (p: unknown) => unknown>, tasks: Record<string, (p: unknown) => unknown>) {
  let n = 0;
  const result = await runLocal({
    definition,
    input,
    lambdas,
    tasks,
    onEvent: (e: EngineEvent) => {
      if (e.type === 'StateEntered' || e.type === 'StateRetried') n++;
    },
  });
  return { transitions: n, status: result.status };
}

const failWith = (name: string) => () => {
  const e = new Error('boom');
  e.name = name;
  throw e;
};

test('the local engine running the hand-written definition agrees with the walk (success and failure in B)', async () => {
  const ok = () => ({});
  const lambdas = { A: ok, P1: ok, P2: ok, I: ok, B: ok, Rec: ok };
  const tasks = { Spool: () => ({ MessageId: 'm' }) };
  const success = await engineTransitions(HAND as unknown as AslDefinition, INPUT, lambdas, tasks);
  expect(success).toEqual({ transitions: walkExecution(HAND, { input: INPUT, mapItems: three }).transitions, status: 'SUCCEEDED' });
  const failure = await engineTransitions(HAND as unknown as AslDefinition, INPUT, { ...lambdas, B: failWith('MyError') }, tasks);
  expect(failure).toEqual({ transitions: walkExecution(HAND, { input: INPUT, mapItems: three, fail: { state: 'B', retries: 3 } }).transitions, status: 'FAILED' });
});

// ---------------------------------------------------------------------------------------------
// The model on tiny synthetic configs, synthesized as `npm run cost` synthesizes the app.

const base = {
  timeZone: 'Asia/Tokyo',
  paramLog: { readerRoleArnPatterns: ['arn:aws:iam::123456789012:role/reader'] },
  alerts: { emails: ['oncall@example.com'] },
} as const;

/** One job, two steps, hourly: small enough to price by hand. */
const TINY: AppConfig = {
  ...base,
  jobs: [
    {
      name: 'tiny',
      schedule: 'rate(1 hour)',
      producer: { entry: 'lambdas/jobs/example-api/producer.ts' },
      steps: [
        { name: 'A', entry: 'lambdas/jobs/example-api/fetch.ts', timeoutSeconds: 10, memoryMiB: 512, retry: { maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['TransientError'] } },
        { name: 'B', entry: 'lambdas/jobs/example-api/publish.ts', timeoutSeconds: 10, memoryMiB: 1024, retry: { maxAttempts: 1, intervalSeconds: 1, retryableErrors: ['TransientError'] } },
      ],
    },
  ],
};

// Replays from the first step: the hand-worked figures below count A again on the replay.
const ARGS: CostArgs = { ...DEFAULT_ARGS, failureRate: 0.1, gzipRatio: 0.1, volumes: [], replay: 'start' };

test('tiny config: transitions, Lambda, SQS, Firehose and Scheduler match the figures worked out by hand', () => {
  const model = buildCostModel(resolveConfig(TINY, { fileExists: () => true }), ARGS, projectRoot);
  const [job] = model.shape.jobs;
  // Success: Route, A, B, RecordSuccess, Succeeded. Failure in B (last step) after its 1 retry:
  // Route, A, B, B(retry), B-Caught, SpoolFailure, RecordFailure, MarkSpooled, Failed. Replay: as success.
  expect(job.success.entered).toEqual(['Route', 'A', 'B', 'RecordSuccess', 'Succeeded']);
  expect([job.success.transitions, job.failure.transitions, job.replay.transitions]).toEqual([5, 9, 5]);
  expect(job.ticksPerDay).toBe(24);

  const month = model.months.find((m) => m.tasksPerDay === 1000)!;
  const row = (name: string) => month.components.find((c) => c.component.startsWith(name))!.usd;
  // 1,000 tasks/day, f = 0.1: 0.9 x 5 + 0.1 x (9 + 5) = 5.9 transitions a task
  // -> 5,900 a day -> 177,000 a month x $0.025/1,000
  expect(month.usage.transitions).toBeCloseTo(5900, 6);
  expect(row('Step Functions')).toBeCloseTo(4.425, 9);

  // Invocations a day: A 1,100 (once on each path: 0.9 + 0.1 + 0.1), B 1,200 (0.9 + 0.1 x 2 + 0.1),
  // record 1,100 (one per execution), producer 24, tick starter 24 (41.7 tasks a tick: one batch
  // message), reprocess ceil(100/10) = 10, monitor 1, status-change capture 100 (one per failed
  // execution), sweeper 24 (hourly), reconciler 96 (every 15 minutes) = 3,679.
  expect(month.usage.invocations.get(model.shape.recordFunction)).toBeCloseTo(1100, 6);
  const [tickQueue] = model.shape.polledQueues;
  expect(tickQueue).toMatchObject({ batchSize: 1, cmk: true });
  expect(month.usage.invocations.get(tickQueue.target)).toBeCloseTo(24, 6);
  // GB-s a day at 200 ms: A 1,100 x 0.2 x 0.5 = 110; B 1,200 x 0.2 x 1 = 240; record 1,100 x 0.2 x 0.25 = 55;
  // producer 24 x 0.2 x 0.25 = 1.2; starter 24 x 0.2 x 0.5 = 2.4 + 1,000/150 s of paced starts x 0.5;
  // reprocess 10 x 0.2 x 0.5 = 1 + 100/150 s x 0.5; monitor 0.2 x 0.25 = 0.05; capture 100 x 0.2 x 0.5 = 10;
  // sweeper 24 x 0.2 x 0.25 = 1.2; reconciler 96 x 0.2 x 0.5 = 9.6.
  const gbs = 110 + 240 + 55 + 1.2 + 2.4 + (1000 / 150) * 0.5 + 1 + (100 / 150) * 0.5 + 0.05 + 10 + 1.2 + 9.6;
  expect(month.usage.gbSecondsArm).toBeCloseTo(gbs, 6);
  expect(row('Lambda')).toBeCloseTo((3679 * 30 * 0.2) / 1e6 + gbs * 30 * 0.0000133334, 9);

  // SQS: 100 failures a day: 100 sends + 10 receives + 10 batch deletes + 2 calls per reprocess run (10 runs);
  // the tick queue: per tick 1 send, 1 receive, 1 delete, plus the event source's idle polls.
  const ticks = 24 * 3 + ARGS.idleReceivesPerDay;
  expect(month.usage.sqsRequests).toEqual({ spool: 140, ticks: expect.closeTo(ticks, 9) });
  expect(row('SQS')).toBeCloseTo(((140 + ticks) * 30 * 0.4) / 1e6, 12);

  // Firehose: 1,000 client + 1,100 worker records a day, 5 KB each.
  expect(month.usage.firehoseRecords).toEqual({ client: 1000, worker: expect.closeTo(1100, 6) });
  expect(row('Firehose')).toBeCloseTo(((2100 * 5120 * 30) / 1024 ** 3) * 0.029, 9);

  // Scheduler: 24 producer ticks + 1 monitor run + 24 sweeps a day.
  expect(row('EventBridge Scheduler')).toBeCloseTo((49 * 30 * 1) / 1e6, 12);
  // No lock, no hold: DynamoDB is the tick ledger only.
  expect(month.usage.dynamoWrites).toBe(LEDGER_WRITES_PER_TICK * 24 + LEDGER_WRITES_PER_BATCH * 24);
  expect(row('DynamoDB')).toBeCloseTo(((LEDGER_WRITES_PER_TICK + LEDGER_WRITES_PER_BATCH) * 24 * 30 * 0.625) / 1e6, 12);
  expect(month.total).toBeCloseTo(month.components.reduce((s, c) => s + c.usd, 0), 9);
  expect(month.perTask).toBeCloseTo(month.total / 30_000, 12);

  // The same shape with another function standing in for the starter and 100 tasks per message:
  // 1,000 tasks over 24 ticks = 41.7 a tick: one message a tick, well under one 64 KB chunk; each
  // tick: 1 send, 1 receive, 1 delete.
  const starter = model.shape.recordFunction; // any function of the template stands in for the starter
  const capture = model.shape.reprocessFunction;
  const target = {
    ...model.shape,
    polledQueues: [{ queue: 'TickQueue', target: starter, batchSize: 1, cmk: true }],
    tickLedger: true,
    statusChangeTargets: [capture],
  };
  expect(41.7 * model.sizes.envelopeBytes).toBeLessThan(64 * 1024);
  const u = dailyUsage(target, model.sizes, { ...model.assumptions, tasksPerTickMessage: 100 }, 1000);
  expect(u.sqsRequests.ticks).toBeCloseTo(24 * 3 + ARGS.idleReceivesPerDay, 9);
  expect(u.sqsRequests.spool).toBe(140);
  // starter: 24 invocations on top of its own 1,100 record invocations; capture: 100 failures + 10 reprocess runs
  expect(u.invocations.get(starter)).toBeCloseTo(1100 + 24, 6);
  expect(u.invocations.get(capture)).toBeCloseTo(10 + 100, 6);
  expect(u.dynamoWrites).toBe(LEDGER_WRITES_PER_TICK * 24 + LEDGER_WRITES_PER_BATCH * 24);
  // A tick message never carries more tasks than fit in one SQS message (1 MiB less room for attributes).
  expect(tasksPerMessage(100_000, 1000)).toBe(1038);
});

/** A map, a parallel group and an exclusive lock, to compare the walk with the engine on the real workflow. */
const SHAPES: AppConfig = {
  ...base,
  jobs: [
    {
      name: 'shapes',
      schedule: 'cron(0 * * * ? *)',
      exclusiveBy: 'account',
      producer: { entry: 'lambdas/jobs/example-fanout/producer.ts' },
      steps: [
        { name: 'List', entry: 'lambdas/jobs/example-fanout/list-parts.ts', timeoutSeconds: 10, retry: { maxAttempts: 1, intervalSeconds: 1, retryableErrors: ['TransientError'] } },
        {
          name: 'Each',
          map: { itemsField: 'parts', maxItems: 20, maxConcurrency: 5, steps: [{ name: 'Part', entry: 'lambdas/jobs/example-fanout/process-part.ts', timeoutSeconds: 10, retry: { maxAttempts: 1, intervalSeconds: 1, retryableErrors: ['TransientError'] } }] },
        },
        {
          name: 'Both',
          parallel: [
            [{ name: 'Left', entry: 'lambdas/jobs/example-fanout/aggregate.ts', timeoutSeconds: 10, retry: { maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['TransientError'] } }],
            [{ name: 'Right', entry: 'lambdas/jobs/example-fanout/audit.ts', timeoutSeconds: 10, retry: { maxAttempts: 1, intervalSeconds: 1, retryableErrors: ['TransientError'] } }],
          ],
        },
      ],
    },
  ],
};

test('the synthesized workflow run in the local engine takes exactly the transitions the model counts (map, group, lock, failure)', async () => {
  const config = resolveConfig(SHAPES, { fileExists: () => true });
  const model = buildCostModel(config, { ...ARGS, mapItems: 4 }, projectRoot);
  const [job] = model.shape.jobs;
  // AcquireLock, Route, List, Each, 4 x Part, Both, Left, Right, ReleaseLock, RecordSuccess, Succeeded
  // (an item's or a branch's last step keeps its own output: no extra Pass state per item)
  expect(job.success.transitions).toBe(2 + 1 + 1 + 4 + 3 + 3);
  // The failure is modelled in Left (first step of the last group) after its 2 retries.
  expect([job.failState, job.failRetries]).toEqual(['Left', 2]);

  const synthesized = synthesizeApp(config, projectRoot, 'us-east-1');
  const definition = stateMachineDefinition(synthesized, config.jobs[0], placeholderRef('us-east-1'));
  const envelope = { v: 1, taskId: 'shapes-t', job: 'shapes', key: 'k', params: { account: 'a-1' }, attempt: 1, scheduledTime: '2027-01-04T00:00:00.000Z' };
  const ok = () => ({ done: true });
  const lambdas = {
    AcquireLock: ok,
    ReleaseLock: ok,
    ReleaseLockAfterFailure: ok,
    List: () => ({ parts: [1, 2, 3, 4] }),
    Part: ok,
    Left: ok,
    Right: ok,
    RecordSuccess: ok,
    RecordFailure: ok,
    RecordSpoolUnavailable: ok,
  };
  const tasks = { SpoolFailure: () => ({ MessageId: 'm-1' }) };
  const success = await engineTransitions(definition, envelope, lambdas, tasks);
  expect(success).toEqual({ transitions: job.success.transitions, status: 'SUCCEEDED' });
  const failure = await engineTransitions(definition, envelope, { ...lambdas, Left: failWith('TransientError') }, tasks);
  expect(failure).toEqual({ transitions: job.failure.transitions, status: 'FAILED' });
  // Two lock writes per successful task (acquire, release), priced as DynamoDB writes, and the tick
  // ledger's writes (one batch message a tick).
  const month = model.months.find((m) => m.tasksPerDay === 1000)!;
  const ticks = model.shape.jobs[0].ticksPerDay;
  expect(month.usage.dynamoWrites).toBeCloseTo(1000 * (0.9 * 2 + 0.1 * 2 + 0.1 * 2) + (LEDGER_WRITES_PER_TICK + LEDGER_WRITES_PER_BATCH) * ticks, 6);
});

test('billing units: SQS 64 KB chunks, Firehose 5 KB records, X-Ray default sampling', () => {
  expect([sqsBilled(1), sqsBilled(64 * 1024), sqsBilled(64 * 1024 + 1), sqsBilled(1024 * 1024)]).toEqual([1, 1, 2, 16]);
  expect([firehoseBilled(1), firehoseBilled(5120), firehoseBilled(5121)]).toEqual([5120, 5120, 10240]);
  expect(sampledPerSecond(0.5)).toBe(0.5);
  expect(sampledPerSecond(21)).toBeCloseTo(1 + 0.05 * 20, 12);
});

test('a replay is costed the way reprocess replays by default (from: failed-step = resume at the failed step)', () => {
  expect(DEFAULT_FROM).toBe('failed-step');
  expect(DEFAULT_ARGS.replay).toBe('resume');
  expect(parseArgs([])).toMatchObject({ replay: 'resume' });
});

test('command line: volumes are added to the standard three, bad values name the flag, mix is normalized', () => {
  const a = parseArgs(['--tasks-per-day', '250000', '--failure-rate', '0.02', '--replay', 'resume']);
  expect(a).toMatchObject({ volumes: [250000], failureRate: 0.02, replay: 'resume' });
  expect(() => parseArgs(['--failure-rate', '2'])).toThrow(/--failure-rate needs a number from 0 to 1/);
  expect(() => parseArgs(['--replay', 'later'])).toThrow(/--replay takes start or resume/);
  expect(parseArgs(['--replay', 'failed-step'])).toMatchObject({ replay: 'resume' });
  expect(() => parseArgs(['--frobnicate'])).toThrow(/unknown option --frobnicate/);
  expect(parseArgs(['--help'])).toBe('help');
  expect(Object.fromEntries(jobMix(['a', 'b'], { a: 3, b: 1 }))).toEqual({ a: 0.75, b: 0.25 });
  expect(() => jobMix(['a'], { z: 1 })).toThrow(/does not deploy: z/);
  expect(foldPath(['A', 'I', 'E', 'I', 'E', 'I', 'E', 'B'])).toBe('A > (I > E) x3 > B');
});
