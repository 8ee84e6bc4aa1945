/**
 * Fault matrix, faults inside the workflow: the shipped definitions run in aws-local-stepfunctions
 * with the real step, lock and record handlers, started by the real producer and starter, and every
 * spooled task replayed by the real reprocess handler (./world.ts, ./expect-end.ts).
 */
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { TransientError } from '../../lambdas/shared/errors';
import { IamModel } from '../support/iam-harness';
import { synthApp } from '../support/synth-app';
import { expectCanaryInside, expectNothingLost, expectTaskEnd } from './expect-end';
import { faultCase } from './matrix';
import { startWorld, TIME_SCALE, World } from './world';
import { account, order } from './specs';

let world: World;
beforeAll(async () => {
  world = await startWorld();
}, 60_000);
afterAll(() => world?.close());


/** One task through a tick (producer, starter) and its execution(s) to their end. */
async function runTask(job: string, spec: { key: string; params: unknown }): Promise<string> {
  const t = await world.tick(job, [spec as never]);
  expect(t.producer.succeeded).toBe(true);
  await world.settle();
  return t.taskIds[0];
}

faultCase('retryable-error', async () => {
  world.api.script('ord-retry', [503, 503]);
  const id = await runTask('example-api', order('ord-retry'));
  const end = await expectTaskEnd(world, id, { succeeded: true });
  expect(end.executions).toHaveLength(1);
  expect(world.calls('CallApi', id)).toBe(3);
  expect(world.api.accepted('ord-retry')).toBe(1);
});

faultCase('non-retryable-error', async () => {
  world.api.script('ord-reject', [422]);
  const id = await runTask('example-api', order('ord-reject'));
  const end = await expectTaskEnd(world, id, {
    spooled: { error: 'ExternalApiRejectedError', kind: 'ExecutionFailed', failedState: 'CallApi', replayed: (s) => expect(s.resumed).toBe(1) },
  });
  // Not retried; the replay resumed at CallApi: Fetch ran once in all, the order was accepted once.
  expect(world.calls('CallApi', id)).toBe(2);
  expect(world.calls('Fetch', id)).toBe(1);
  expect(world.api.accepted('ord-reject')).toBe(1);
  expect(world.workerRecords().filter((r) => r.task_id === id).map((r) => r.result)).toEqual(['Failure', 'Success']);
  expect(end.executions.map((e) => e.status)).toEqual(['FAILED', 'SUCCEEDED']);
});

faultCase('map-item-failure', async () => {
  const t = await world.tick('example-fanout', [account('acct-map', 4) as never]);
  const id = t.taskIds[0];
  // The store behind part 2 is down during the first attempt: every retry of that item fails.
  const removeFault = world.onStep({
    state: 'ProcessPart',
    task: id,
    attempt: 1,
    handle: (c) => {
      if (c.payload.index === 2) throw new TransientError('part store unavailable');
      return c.real();
    },
  });
  await world.settle();
  removeFault();
  await expectTaskEnd(world, id, {
    spooled: { error: 'TransientError', failedState: 'ProcessParts', replayed: (s) => expect(s.resumed).toBe(1) },
  });
  // Spooled once, resumed at the map: ListParts ran once in all, and each part was applied once.
  expect(world.calls('ListParts', id)).toBe(1);
  expect([0, 1, 2, 3].map((i) => world.sideEffects.count(`${id}#ProcessPart#${i}`))).toEqual([1, 1, 1, 1]);
});

faultCase('step-timeout', async () => {
  const id = await (async () => {
    const t = await world.tick('example-api', [order('ord-stall') as never], { drain: false });
    // CallApi's Lambda never answers within the state's TimeoutSeconds (a stalled invoke); the
    // execution's timeouts are compressed so that this costs seconds, not the synthesized 35 s.
    world.onExecution(t.taskIds[0], 1, { timeScale: TIME_SCALE });
    world.onStep({ state: 'CallApi', task: t.taskIds[0], attempt: 1, handle: () => new Promise((r) => setTimeout(() => r({ late: true }), 4_000).unref()) });
    await world.drainTicks();
    await world.settle();
    return t.taskIds[0];
  })();
  await expectTaskEnd(world, id, { spooled: { error: 'States.Timeout', failedState: 'CallApi' } });
  expect(world.workerRecords().filter((r) => r.task_id === id).map((r) => r.result)).toEqual(['TimedOut', 'Success']);
  expect(world.calls('CallApi', id)).toBe(2);
});

faultCase('step-keeps-running', async () => {
  // The API hangs: without its own deadline the step would run on past the state's timeout. The
  // execution's timeouts are compressed together (the Lambda's 20 s to 1 s, the state's 35 s to 2 s).
  world.api.script('ord-hang', ['hang']);
  const t = await world.tick('example-api', [order('ord-hang') as never], { drain: false });
  const id = t.taskIds[0];
  world.onExecution(id, 1, { timeScale: TIME_SCALE });
  await world.drainTicks();
  await world.settle();
  await expectTaskEnd(world, id, { spooled: { error: 'StepTimeoutError', failedState: 'CallApi' } });
  // The handler's deadline (before the Lambda's timeout, itself before the state's) aborted the
  // call: the API saw it abandoned; the replay's call is the only accepted one.
  expect(world.api.abandoned('ord-hang')).toBe(1);
  expect(world.api.accepted('ord-hang')).toBe(1);
  expect(world.workerRecords().filter((r) => r.task_id === id).map((r) => r.result)).toEqual(['TimedOut', 'Success']);
});

faultCase('dependency-on-hold', async () => {
  await world.hold('orders-api');
  // A new hold reaches a step container within the 5 s its "not held" is cached: a fresh container
  // stands for that wait.
  world.coldStart(world.functions.step('example-api', 'CallApi'));
  const id = await runTask('example-api', order('ord-held'));
  // Held: no call into the dependency, no retry.
  expect(world.api.calls('ord-held')).toBe(0);
  expect(world.calls('CallApi', id)).toBe(1);
  // A replay while it is held leaves it in the spool (counted held), starting nothing.
  const whileHeld = await world.reprocess({ taskIds: [id] });
  expect(whileHeld).toMatchObject({ held: 1, started: 0, invalid: 0 });
  expect(world.executionsOf(id)).toHaveLength(1);
  await expectTaskEnd(world, id, {
    spooled: {
      error: 'DependencyOnHold',
      failedState: 'CallApi',
      // `unhold`, then the replay at once, in the same warm step container that saw the hold.
      fix: () => world.unhold('orders-api'),
    },
  });
  expect(world.api.accepted('ord-held')).toBe(1);
});

faultCase('lock-busy', async () => {
  // Task A of account acct-lock is slow in ListParts and holds the account's lock meanwhile.
  let release!: () => void;
  const slow = new Promise<void>((r) => (release = r));
  let aInListParts!: () => void;
  const aStarted = new Promise<void>((r) => (aInListParts = r));
  const a = await world.tick('example-fanout', [account('acct-lock', 4, 'acct-lock-a') as never], { drain: false });
  world.onStep({ state: 'ListParts', task: a.taskIds[0], attempt: 1, handle: async (c) => (aInListParts(), await slow, c.real()) });
  await world.drainTicks();
  const settlingA = world.settle();
  // Awaited below; should an expectation fail first, A is still let go (finally) and its settling observed.
  settlingA.catch(() => undefined);
  let b!: Awaited<ReturnType<typeof world.tick>>;
  try {
    await aStarted;
    expect((await world.coordinationItem(await world.lockKeyOf('example-fanout', { account: 'acct-lock' }, 'account')))?.owner).toBe(world.executionsOf(a.taskIds[0])[0].executionArn);
    // Task B of the same account waits for the lock up to exclusiveWaitSeconds, then is spooled.
    b = await world.tick('example-fanout', [account('acct-lock', 4, 'acct-lock-b') as never]);
    await world.settle();
    const [bExecution] = world.executionsOf(b.taskIds[0]);
    expect(bExecution.status).toBe('FAILED');
    expect(world.calls('AcquireLock', b.taskIds[0])).toBeGreaterThan(1);
    expect(world.calls('ListParts', b.taskIds[0])).toBe(0);
  } finally {
    // A finishes and releases the lock; then B is replayed.
    release();
  }
  await settlingA;
  await expectTaskEnd(world, a.taskIds[0], { succeeded: true });
  await expectTaskEnd(world, b.taskIds[0], { spooled: { error: 'LockBusy', failedState: 'AcquireLock' } });
  expect(await world.coordinationItem(await world.lockKeyOf('example-fanout', { account: 'acct-lock' }, 'account'))).toBeNull();
});

faultCase('spool-unreachable', async () => {
  world.api.script('ord-nospool', [422]);
  const t = await world.tick('example-api', [order('ord-nospool') as never]);
  const id = t.taskIds[0];
  // Every SendMessage of SpoolFailure is refused (all its retrier's attempts), then the spool is back.
  const retry = (world.definition('example-api').States.SpoolFailure as unknown as { Retry: Array<{ MaxAttempts: number }> }).Retry;
  const attempts = 1 + retry.reduce((n, r) => n + r.MaxAttempts, 0);
  const outage = world.sqsFaults.fault({
    operation: 'SendMessage',
    when: (b) => b.QueueUrl === world.queues.spool.url,
    times: attempts,
    fault: { error: 'KmsAccessDenied', message: 'The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.' },
  });
  await world.settle();
  outage.remove();
  expect(outage.hits).toHaveLength(attempts);
  const [first] = world.executionsOf(id);
  expect(first).toMatchObject({ status: 'FAILED', error: 'SpoolUnavailable' });
  // The status-change capture spooled it once the spool could be reached, with the step's own error.
  await expectTaskEnd(world, id, { spooled: { error: 'ExternalApiRejectedError', kind: 'ExecutionEnded', failedState: 'CallApi' } });
  expect(world.workerRecords().filter((r) => r.task_id === id).map((r) => r.result)).toEqual(['Failure', 'Success']);
});

faultCase('alarm-reaches-nobody', async () => {
  world.api.script('ord-page', [422]);
  const id = await runTask('example-api', order('ord-page'));
  // The alarm watching the queue the task waits in, as synthesized, on the queue's real depth.
  const resources = world.model.template.Resources;
  const [alarmId, alarm] = Object.entries(resources).find(
    ([, r]) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties?.Namespace === 'AWS/SQS' && JSON.stringify(r.Properties?.Dimensions ?? []).includes(`"${world.queues.spool.name}"`),
  )!;
  const p = alarm.Properties as { MetricName: string; Statistic: string; ComparisonOperator: string; Threshold: number; AlarmActions: Array<{ Ref: string }> };
  expect([p.MetricName, p.Statistic, p.ComparisonOperator]).toEqual(['ApproximateNumberOfMessagesVisible', 'Maximum', 'GreaterThanOrEqualToThreshold']);
  const attrs = await world.sqs.send(new GetQueueAttributesCommand({ QueueUrl: world.queues.spool.url, AttributeNames: ['ApproximateNumberOfMessages'] }));
  expect(Number(attrs.Attributes?.ApproximateNumberOfMessages)).toBeGreaterThanOrEqual(p.Threshold);
  // Its action is the alarm topic, and CloudWatch may publish there for this alarm (the IAM engine
  // on the same app's topic policy and topic key policy).
  const app = synthApp();
  const iam = new IamModel(app.stack, app.template);
  expect(p.AlarmActions).toEqual([{ Ref: iam.logicalId(app.stack.alerts.topic) }]);
  const cloudwatch = iam.service('cloudwatch.amazonaws.com', { account: iam.account, arn: `arn:aws:cloudwatch:${iam.region}:${iam.account}:alarm:${alarmId}` });
  const topic = iam.value(app.stack.alerts.topic.topicArn);
  const key = iam.value(app.stack.alerts.topicKey.keyArn);
  for (const [action, resource] of [['sns:Publish', topic], ['kms:GenerateDataKey', key], ['kms:Decrypt', key]]) {
    const v = await iam.evaluate(cloudwatch, action, resource);
    expect({ action, result: v.result, ignored: v.ignored }).toEqual({ action, result: 'Allowed', ignored: [] });
  }
  await expectTaskEnd(world, id, { spooled: { error: 'ExternalApiRejectedError', failedState: 'CallApi' } });
});

test('after every case above: the lost-task query finds nothing, no execution name was created twice, no task succeeded twice', () => expectNothingLost(world));

test('after every case above: the params canary occurs in no line outside the lock (logs, the runtime\'s uncaught-error lines, traces, task failures)', () => expectCanaryInside(world));
