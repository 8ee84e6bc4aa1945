import { FirehoseClient, PutRecordCommand } from '@aws-sdk/client-firehose';
import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIREHOSE_S3_RETRY_MS, startFirehoseStandin } from '../local/firehose-standin';
import { AslDefinition } from '../local/asl';
import { createLocalRunner } from '../local/run-state-machine';
import { startSqsEmulator } from '../local/sqs-emulator';
import { driveEventSource } from '../local/sqs-esm';
import { asyncEventKey, AwsFaults, awsFaultRates, dispatchStatusEvent, limitHistory, retriersByState, retryWaitSeconds, simulatedRetryWaitSeconds } from '../local/offline-day/aws-faults';
import { AsyncInvoker } from '../local/offline-day/lambda-async';
import { parseStepKey, SideEffectLog } from '../local/offline-day/side-effects';
import { sideEffectApplied } from '../lambdas/shared/side-effects';
import { SimClock, Timeline } from '../local/offline-day/sim-clock';
import { usersFeel, usersFeelOk } from '../local/offline-day/users-feel';
import { findReconciler, RECONCILER_ENTRY, reconcileTimes } from '../local/offline-day/reconciler-hook';

/** Each fault knob of the world no kinder than AWS (docs/aws-promises.md), against its stand-in. */

const kind = awsFaultRates('kind');
const ev = (arn: string, status = 'ABORTED') => ({ detail: { executionArn: arn, status, redriveCount: 0 } });

function timeline(): { clock: SimClock; timeline: Timeline; later: (m: number, l: string, run: () => Promise<void>) => void } {
  const clock = new SimClock(new Date('2026-11-25T00:00:00Z'));
  const tl = new Timeline(clock);
  return { clock, timeline: tl, later: (m, l, run) => tl.at(new Date(clock.now().getTime() + m * 60_000), l, run) };
}

describe('status-change events (EventBridge, best effort)', () => {
  it('a dropped event is not delivered', async () => {
    const f = new AwsFaults('aws', 1, { ...kind, eventDrop: 1 });
    const got: unknown[] = [];
    const t = timeline();
    await dispatchStatusEvent(f, ev('arn:1'), async (e) => void got.push(e), t.later);
    await t.timeline.runDue(new Date('2026-11-26T00:00:00Z'));
    expect(got).toHaveLength(0);
    expect(f.counts.eventsDropped).toBe(1);
  });

  it('a duplicated event is delivered twice', async () => {
    const f = new AwsFaults('aws', 1, { ...kind, eventDuplicate: 1 });
    const got: unknown[] = [];
    await dispatchStatusEvent(f, ev('arn:1'), async (e) => void got.push(e), timeline().later);
    expect(got).toEqual([ev('arn:1'), ev('arn:1')]);
  });

  it('a late event arrives after its delay on the simulated clock, not before', async () => {
    const f = new AwsFaults('aws', 1, { ...kind, eventLate: 1, eventLateMinutes: 7 });
    const got: string[] = [];
    const t = timeline();
    // The simulated clock also moves with the wall time the test takes (milliseconds; seconds on a loaded
    // machine): the dispatch's simulated time is known to lie between these two readings, not at 00:00:00.
    const before = t.clock.nowMs();
    await dispatchStatusEvent(f, ev('arn:1'), async () => void got.push(t.clock.now().toISOString()), t.later);
    const after = t.clock.nowMs();
    const SEVEN_MINUTES = 7 * 60_000;
    expect(got).toEqual([]);
    await t.timeline.runDue(new Date(before + SEVEN_MINUTES - 1));
    expect(got).toEqual([]);
    await t.timeline.runDue(new Date(after + SEVEN_MINUTES));
    expect(got).toHaveLength(1);
    expect(Date.parse(got[0])).toBeGreaterThanOrEqual(before + SEVEN_MINUTES);
    expect(Date.parse(got[0])).toBeLessThan(after + SEVEN_MINUTES + 60_000);
  });

  it('drops a seeded, stable share of events: the same seed drops the same ones', () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `arn:${i}|FAILED|0`);
    const a = new AwsFaults('aws', 3);
    const b = new AwsFaults('aws', 3);
    const fa = keys.map((k) => a.statusEvent(k).copies);
    expect(keys.map((k) => b.statusEvent(k).copies)).toEqual(fa);
    const dropped = fa.filter((c) => c === 0).length / keys.length;
    expect(dropped).toBeGreaterThan(0.03);
    expect(dropped).toBeLessThan(0.07);
    expect(keys.map((k) => new AwsFaults('aws', 4).statusEvent(k).copies)).not.toEqual(fa);
  });

  it('keys a status change by execution, status and redrive, not by its id or time (the same seed, the same faults)', () => {
    const a = { id: 'x', time: '2026-11-25T00:00:01Z', detail: { executionArn: 'arn:1', status: 'FAILED', redriveCount: 0 } };
    expect(asyncEventKey(a)).toBe(asyncEventKey({ ...a, id: 'y', time: '2026-11-25T00:00:02Z' }));
    expect(asyncEventKey(a)).not.toBe(asyncEventKey({ ...a, detail: { ...a.detail, status: 'TIMED_OUT' } }));
    expect(asyncEventKey({ scheduledTime: 't' })).toBe('{"scheduledTime":"t"}');
  });

  it('refuses a rate outside [0, 1] and says which', () => {
    expect(() => new AwsFaults('aws', 1, { ...kind, eventDrop: 1.5 })).toThrow(/eventDrop must be a probability/);
  });
});

describe('at-least-once deliveries', () => {
  it('an asynchronous invocation delivered twice runs the function twice with the same event', async () => {
    const f = new AwsFaults('aws', 1, { ...kind, asyncDuplicate: 1 });
    const t = timeline();
    const runs: unknown[] = [];
    const inv = new AsyncInvoker({
      timeline: t.timeline,
      now: () => t.clock.now(),
      config: () => ({ retryAttempts: 2, onFailureQueue: null }),
      functionArn: (id) => `arn:aws:lambda:us-east-1:000000000000:function:${id}`,
      invoke: async (_id, e) => void runs.push(e),
      settle: async () => undefined,
      keep: async () => undefined,
      deliverTwice: (id, e) => f.asyncTwice(id, JSON.stringify(e)),
    });
    await inv.invoke('Producer', { scheduledTime: '2026-11-25T00:00:00Z' });
    expect(runs).toEqual([{ scheduledTime: '2026-11-25T00:00:00Z' }, { scheduledTime: '2026-11-25T00:00:00Z' }]);
    expect(inv.invocations.map((i) => i.outcome)).toEqual(['succeeded', 'succeeded']);
    expect(f.counts.asyncDuplicated).toBe(1);
  });

  it('an SQS message delivered twice reaches the event source mapping function twice', async () => {
    const emu = await startSqsEmulator({ region: 'us-east-1' });
    try {
      const sqs = new SQSClient({ region: 'us-east-1', endpoint: emu.endpoint, credentials: { accessKeyId: 'l', secretAccessKey: 'l' } });
      const url = (await sqs.send(new CreateQueueCommand({ QueueName: 'ticks' }))).QueueUrl!;
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'batch-1' }));
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'batch-2' }));
      const f = new AwsFaults('aws', 1, { ...kind, sqsDuplicate: 1 });
      const seen: Array<[string, string]> = [];
      await driveEventSource({
        sqs,
        queueUrl: url,
        maxConcurrency: 1,
        timeoutMs: 5000,
        redeliver: (m) => m.Body === 'batch-1' && f.sqsTwice(m.Body),
        container: () => async (event) => void seen.push([event.Records[0].body, event.Records[0].attributes.ApproximateReceiveCount]),
      });
      expect(seen).toEqual([
        ['batch-1', '1'],
        ['batch-1', '2'],
        ['batch-2', '1'],
      ]);
      expect((await emu.inspectQueue('ticks')).all).toHaveLength(0);
      sqs.destroy();
    } finally {
      await emu.stop();
    }
  });

  it('Scheduler delivers a seeded share of ticks twice, the same ones for the same seed', () => {
    const ticks = Array.from({ length: 1000 }, (_, i) => `{"scheduledTime":"t${i}"}`);
    const twice = (seed: number) => ticks.filter((t) => new AwsFaults('aws', seed).schedulerTwice('Producer', t));
    expect(twice(1)).toEqual(twice(1));
    expect(twice(1).length).toBeGreaterThan(10);
    expect(twice(1).length).toBeLessThan(60);
    expect(ticks.filter((t) => new AwsFaults('kind', 1).schedulerTwice('Producer', t))).toEqual([]);
  });
});

const oneTask = (timeoutSeconds?: number): AslDefinition =>
  ({
    StartAt: 'Work',
    ...(timeoutSeconds ? { TimeoutSeconds: timeoutSeconds } : {}),
    States: { Work: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: 'work', 'Payload.$': '$' }, End: true } },
  }) as unknown as AslDefinition;

describe('a stopped or timed-out execution leaves its Lambda running', () => {
  // A step that publishes at its end (it reports the side effect under its idempotency key, as the example steps do).
  // The step publishes once `publish` resolves, after the test has seen the execution end: no real
  // timer decides whether the end or the side effect comes first. `running` says it has started.
  const slowStep = (log: SideEffectLog, ended: () => boolean, publish: Promise<void>, taskId = 't1', running: () => void = () => undefined) =>
    log.wrapStep(async () => (running(), await publish, sideEffectApplied(`${taskId}#Publish`), { ok: true }), ended);
  const gate = () => {
    let open!: () => void;
    const opened = new Promise<void>((r) => (open = r));
    return { opened, open };
  };
  let unobserve: () => void = () => undefined;
  afterEach(() => unobserve());

  it('StopExecution: the execution ends ABORTED and the step still applies its side effect afterwards', async () => {
    const log = new SideEffectLog();
    unobserve = log.observeSteps();
    let ended = false;
    const publish = gate();
    let abort: () => void = () => undefined;
    // The operator stops the execution while its step runs.
    const step = slowStep(log, () => ended, publish.opened, 't1', () => setImmediate(() => abort()));
    const run = createLocalRunner({ definition: oneTask() });
    const out = await run({ input: { task: { taskId: 't1', attempt: 1 } }, lambdas: { Work: (p, c) => step(p, c) }, onStarted: (a) => (abort = a) });
    ended = true;
    expect(out.status).toBe('ABORTED');
    expect(log.summary().keys).toBe(0);
    publish.open();
    await log.idle();
    expect(log.all()).toEqual([{ task: 't1', step: 'Publish', item: '-', applied: 1, requested: 0 }]);
    expect(log.summary().ranAfterExecutionEnded).toBe(1);
    // No task of the ended execution starts (the local engine would retry one).
    await expect(step({ task: { taskId: 't1', attempt: 1 } }, {})).rejects.toMatchObject({ name: 'ExecutionEnded' });
    expect(log.summary()).toMatchObject({ keys: 1, refusedAfterExecutionEnded: 1 });
  });

  it('execution timeout: TIMED_OUT, and the side effect lands after it', async () => {
    const log = new SideEffectLog();
    unobserve = log.observeSteps();
    let ended = false;
    const publish = gate();
    const step = slowStep(log, () => ended, publish.opened, 't2');
    const out = await createLocalRunner({ definition: oneTask(1) })({ input: { task: { taskId: 't2', attempt: 1 } }, lambdas: { Work: (p, c) => step(p, c) } });
    ended = true;
    expect(out.status).toBe('TIMED_OUT');
    expect(log.summary().keys).toBe(0);
    publish.open();
    await log.idle();
    expect(log.summary()).toMatchObject({ keys: 1, ranAfterExecutionEnded: 1 });
  });
});

describe('side effects per (task, step, item)', () => {
  it('counts a second application of one key as a duplicate, not one an operator asked for; a step reports by its idempotency key', () => {
    const log = new SideEffectLog();
    const unobserve = log.observeSteps();
    log.apply('t1', 'ProcessPart', '0');
    log.apply('t1', 'ProcessPart', '1');
    log.apply('t1', 'ProcessPart', '0');
    log.apply('t2', 'Publish', '-');
    log.apply('t2', 'Publish', '-', true);
    sideEffectApplied('t3#Aggregate');
    sideEffectApplied('t3#ProcessPart#4');
    sideEffectApplied('t3#ProcessPart#4');
    // A start-over (from: start) is another run of the task, asked for by the operator.
    sideEffectApplied('t3#r2#ProcessPart#4');
    unobserve();
    sideEffectApplied('t3#Aggregate');
    expect(log.summary()).toMatchObject({ keys: 6, duplicated: 2, duplicatedKeys: ['t1|ProcessPart|0', 't3|ProcessPart|4'] });
    expect(parseStepKey('t3#r2#ProcessPart#4')).toEqual({ task: 't3#r2', step: 'ProcessPart', item: '4' });
  });

  it('an API that honours idempotency keys applies an order once per key; one that does not, per call', () => {
    const honours = new SideEffectLog();
    honours.apiSideEffect('t1', 'order-1', true);
    honours.apiSideEffect('t1', 'order-1', true);
    expect(honours.summary().duplicated).toBe(0);
    const ignores = new SideEffectLog();
    ignores.apiSideEffect('t1', 'order-1', false);
    ignores.apiSideEffect('t1', 'order-1', false);
    expect(ignores.summary().duplicated).toBe(1);
  });
});

describe('history quota and retry waits', () => {
  it('past the history quota the run is aborted and reported exceeded', async () => {
    const chain = {
      StartAt: 'A',
      States: { A: { Type: 'Pass', Next: 'B' }, B: { Type: 'Pass', Next: 'C' }, C: { Type: 'Pass', Next: 'D' }, D: { Type: 'Wait', Seconds: 2, End: true } },
    } as unknown as AslDefinition;
    const limited = limitHistory({ onStarted: () => undefined, onEvent: () => undefined }, 3);
    const out = await createLocalRunner({ definition: chain })({ input: {}, onStarted: limited.hooks.onStarted, onEvent: limited.hooks.onEvent });
    expect(limited.exceeded()).toBe(true);
    expect(out.status).toBe('ABORTED');
    const roomy = limitHistory({ onStarted: () => undefined, onEvent: () => undefined }, 100);
    const ok = await createLocalRunner({ definition: { ...chain, States: { ...chain.States, D: { Type: 'Pass', End: true } } } as unknown as AslDefinition })({ input: {}, ...roomy.hooks });
    expect([ok.status, roomy.exceeded()]).toEqual(['SUCCEEDED', false]);
  });

  it('computes Retry waits with BackoffRate, MaxDelaySeconds and FULL jitter', () => {
    expect([1, 2, 3, 4].map((n) => retryWaitSeconds({ IntervalSeconds: 2, BackoffRate: 2 }, n, 0.5))).toEqual([2, 4, 8, 16]);
    expect([1, 2, 3, 4].map((n) => retryWaitSeconds({ IntervalSeconds: 2, BackoffRate: 2, MaxDelaySeconds: 5 }, n, 0.5))).toEqual([2, 4, 5, 5]);
    expect(retryWaitSeconds({ IntervalSeconds: 2, BackoffRate: 2, MaxDelaySeconds: 5, JitterStrategy: 'FULL' }, 3, 0.5)).toBe(2.5);
    const def = { States: { M: { Type: 'Map', ItemProcessor: { States: { P: { Type: 'Task', Retry: [{ IntervalSeconds: 1, MaxDelaySeconds: 3, JitterStrategy: 'FULL' }] } } } } } };
    const retriers = retriersByState(def);
    const wait = simulatedRetryWaitSeconds((s) => retriers.get(s) ?? [], { P: 3 }, 1, 'exec-1');
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThan(1 + 2 + 3);
    expect(simulatedRetryWaitSeconds((s) => retriers.get(s) ?? [], { P: 3 }, 1, 'exec-1')).toBe(wait);
  });
});

describe('what users feel', () => {
  it('lost = no success and not parked; hidden = lost and not listed by the lost-task monitor', () => {
    const u = usersFeel({
      executions: [
        { taskId: 'ok', status: 'SUCCEEDED' },
        { taskId: 'spooled', status: 'FAILED' },
        { taskId: 'gone', status: 'ABORTED' },
        { taskId: 'replay', status: 'FAILED' },
        { taskId: 'replay', status: 'TIMED_OUT' },
      ],
      spooled: new Set(['spooled']),
      quarantined: new Set(),
      droppedTicks: [],
      monitored: new Set(['gone']),
      duplicatedSideEffects: 0,
    });
    expect(u).toMatchObject({ lost: 2, lostTaskIds: ['gone', 'replay'], hidden: 1, hiddenTaskIds: ['replay'] });
    expect(usersFeelOk(u)).toBe(false);
    expect(usersFeelOk({ lost: 0, hidden: 0, duplicatedSideEffects: 1 })).toBe(false);
    expect(usersFeelOk({ lost: 0, hidden: 0, duplicatedSideEffects: 0 })).toBe(true);
  });
});

describe('Firehose to S3: failed deliveries retried for 24 hours, then discarded', () => {
  const run = async (outageHours: number) => {
    const dir = mkdtempSync(join(tmpdir(), 'fh-outage-'));
    let clock = new Date('2026-11-25T00:00:00Z');
    const start = clock.getTime();
    const f = new AwsFaults('aws', 1, { ...kind, bucketOutage: { startMinute: 0, minutes: outageHours * 60 } });
    const standin = await startFirehoseStandin({ outDir: dir, streams: { s: 'client' }, timeZone: 'UTC', now: () => clock, bufferSeconds: 60, bucketDown: (at) => f.bucketDown(at, new Date(start)) });
    const client = new FirehoseClient({ endpoint: standin.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'l', secretAccessKey: 'l' } });
    const seen: Array<[number, number, number]> = [];
    // Closed in a finally: a failed send must not leave the stand-in listening for the rest of the run.
    try {
      await client.send(new PutRecordCommand({ DeliveryStreamName: 's', Record: { Data: Buffer.from('{"n":1}\n') } }));
      for (const h of [1, 2, 23, 24.5, 26]) {
        clock = new Date(start + h * 3_600_000);
        standin.flushDue();
        seen.push([standin.delivered.length, standin.retrying(), standin.discarded.get('s') ?? 0]);
      }
    } finally {
      client.destroy();
      await standin.close();
      rmSync(dir, { recursive: true, force: true });
    }
    return { seen, partitions: standin.delivered.map((d) => d.partition) };
  };

  it('a 2-hour outage: the record is retried and delivered late, in the partition of its arrival', async () => {
    const r = await run(2);
    expect(r.seen).toEqual([
      [0, 1, 0],
      [1, 0, 0],
      [1, 0, 0],
      [1, 0, 0],
      [1, 0, 0],
    ]);
    expect(r.partitions).toEqual(['client/year=2026/month=11/day=25']);
  });

  it('an outage past 24 hours: the record is discarded, never delivered', async () => {
    expect(FIREHOSE_S3_RETRY_MS).toBe(24 * 3_600_000);
    const r = await run(30);
    expect(r.seen).toEqual([
      [0, 1, 0],
      [0, 1, 0],
      [0, 1, 0],
      [0, 0, 1],
      [0, 0, 1],
    ]);
  });
});

describe('the reconciler hook', () => {
  const model = (withReconciler: boolean, expression?: string) =>
    ({
      entries: new Map(withReconciler ? [['ReconcilerFn', RECONCILER_ENTRY]] : [['StarterFn', 'lambdas/starter/handler.ts']]),
      template: {
        Resources: {
          ReconcilerFn: { Type: 'AWS::Lambda::Function', Properties: {} },
          ...(expression
            ? { Sched: { Type: 'AWS::Scheduler::Schedule', Properties: { ScheduleExpression: expression, Target: { Arn: { 'Fn::GetAtt': ['ReconcilerFn', 'Arn'] }, Input: '{"lookbackMinutes":60}' } } } }
            : {}),
        },
      },
    }) as unknown as Parameters<typeof findReconciler>[0];

  it('runs the app reconciler at its schedule rate, with the schedule input', () => {
    expect(findReconciler(model(true, 'rate(5 minutes)'), '/nonexistent')).toEqual({ functionId: 'ReconcilerFn', everyMinutes: 5, input: '{"lookbackMinutes":60}' });
    expect(findReconciler(model(true), '/nonexistent')).toEqual({ functionId: 'ReconcilerFn', everyMinutes: 15, input: '{}' });
    expect(reconcileTimes(new Date('2026-11-25T00:00:00Z'), new Date('2026-11-25T00:31:00Z'), 15).map((d) => d.toISOString())).toEqual([
      '2026-11-25T00:15:00.000Z',
      '2026-11-25T00:30:00.000Z',
    ]);
  });

  it('has none when the app has none, and refuses a schedule it would misread', () => {
    expect(findReconciler(model(false), '/nonexistent')).toBeNull();
    expect(() => findReconciler(model(true, 'cron(0/5 * * * ? *)'), '/nonexistent')).toThrow(/not a rate\(\)/);
  });
});

describe("a high-volume parent's start answered 503", () => {
  it('the SFN stand-in answers the chosen starts 503 ServiceUnavailable (the SDK sees a retryable 5xx) and starts the rest', async () => {
    const { startSfnStandin } = await import('../local/sfn-standin');
    const { SFNClient, StartExecutionCommand } = await import('@aws-sdk/client-sfn');
    const faults = new AwsFaults('kind', 1, { ...awsFaultRates('kind'), parentStartUnavailable: 1 });
    const parent = 'arn:aws:states:ap-northeast-1:000000000000:stateMachine:Parent';
    const sfn = await startSfnStandin({ unavailableStart: (arn, name) => arn === parent && faults.parentStartUnavailable(name) });
    const client = new SFNClient({ region: 'ap-northeast-1', endpoint: sfn.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
    try {
      const err = await client.send(new StartExecutionCommand({ stateMachineArn: parent, name: 'p1', input: '{}' })).catch((e: unknown) => e as { name?: string; $metadata?: { httpStatusCode?: number } });
      expect(err).toMatchObject({ name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } });
      const other = await client.send(new StartExecutionCommand({ stateMachineArn: parent.replace('Parent', 'Standard'), name: 'p1', input: '{}' }));
      expect(other.executionArn).toContain(':Standard:p1');
      expect(faults.counts.parentStartsUnavailable).toBe(1);
    } finally {
      client.destroy();
      await sfn.stop();
    }
  });

  it('draws per call (a retry is a new draw), seeded: the same seed fails the same calls', () => {
    const draws = (seed: number) => {
      const f = new AwsFaults('kind', seed, { ...awsFaultRates('kind'), parentStartUnavailable: 0.5 });
      return Array.from({ length: 40 }, () => f.parentStartUnavailable('p1'));
    };
    expect(draws(3)).toEqual(draws(3));
    expect(new Set(draws(3)).size).toBe(2);
    expect(new AwsFaults('kind', 3).parentStartUnavailable('p1')).toBe(false);
  });
});
