/**
 * Fault matrix, faults around the spool and its replay: the real reprocess handler (its module-scope
 * clients, the environment its construct synthesizes) and the real sweeper against fauxqs, the Step
 * Functions stand-in running the shipped definitions, dynalite and the Firehose stand-in (./world.ts).
 * What the operator does with a quarantined message is reprocess's routine too (replay with force,
 * drop by message id), through the same handler.
 */
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, Message, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { TaskEnvelope } from '../../lambdas/shared/envelope';
import { PermanentError } from '../../lambdas/shared/errors';
import { executionNameFor, taskIdFor } from '../../lambdas/shared/names';
import { SPOOL_ATTR_FIRST_SENT, SPOOL_ATTR_SWEEPS, SpoolMessage } from '../../lambdas/shared/spool-message';
import { AppConfig } from '../../lib/config/types';
import { spoolAttributes } from '../reprocess-fixtures';
import { expectCanaryInside, expectNothingLost, expectTaskEnd } from './expect-end';
import { faultCase } from './matrix';
import { startWorld, World } from './world';
import { order } from './specs';

let world: World;
beforeAll(async () => {
  world = await startWorld();
}, 60_000);
afterAll(() => world?.close());


/** A task of the example job whose API call is refused (422, not retried): spooled as ExecutionFailed at CallApi. */
async function failedTask(key: string): Promise<string> {
  world.api.script(key, [422]);
  const t = await world.tick('example-api', [order(key)]);
  await world.settle();
  expect(world.executionsOf(t.taskIds[0]).map((e) => e.status)).toEqual(['FAILED']);
  return t.taskIds[0];
}

/** Receives the spool messages (all attributes) of a task, releasing every other one at once. */
async function receiveOf(taskId: string): Promise<Message> {
  const out = await world.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: world.queues.spool.url, MaxNumberOfMessages: 10, VisibilityTimeout: 30, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }),
  );
  let mine: Message | undefined;
  for (const m of out.Messages ?? []) {
    if (!mine && m.Body?.includes(`"taskId":"${taskId}"`)) mine = m;
    else await world.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: world.queues.spool.url, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
  }
  if (!mine) throw new Error(`no spool message of ${taskId}`);
  return mine;
}

faultCase('reprocess-crash', async () => {
  const id = await failedTask('ord-crash');
  // The run dies after StartExecution: its delete never reaches SQS (the connection drops).
  const crash = world.sqsFaults.fault({ operation: 'DeleteMessageBatch', when: (b) => b.QueueUrl === world.queues.spool.url, fault: { reset: true } });
  const first = await world.reprocess({ taskIds: [id], max: 1 });
  crash.remove();
  expect(first).toMatchObject({ started: 1, deleteFailed: 1 });
  await world.settle();
  // Its message comes back once the run's visibility timeout passes (compressed here).
  const handles = crash.hits.flatMap((b) => (b.Entries as Array<{ ReceiptHandle: string }>).map((e) => e.ReceiptHandle));
  await world.expireVisibility('spool', [...new Set(handles)]);
  const again = await world.reprocess({ taskIds: [id], max: 1 });
  expect(again).toMatchObject({ started: 0, alreadyStarted: 1, invalid: 0, failed: 0 });
  const end = await expectTaskEnd(world, id, { succeeded: true });
  expect(end.executions.map((e) => e.status)).toEqual(['FAILED', 'SUCCEEDED']);
  expect(world.api.accepted('ord-crash')).toBe(1);
});

faultCase('reprocess-concurrent', async () => {
  const ids = [await failedTask('ord-two-1'), await failedTask('ord-two-2'), await failedTask('ord-two-3')];
  // Two invocations at once, each in its own container (reserved concurrency 1 makes this rare, not impossible).
  const [a, b] = await Promise.all([world.reprocess({ taskIds: ids }), world.reprocess({ taskIds: ids }, { container: 'second-container' })]);
  expect(a.started + b.started).toBe(3);
  expect(a.failed + b.failed + a.invalid + b.invalid).toBe(0);
  await world.settle();
  for (const id of ids) await expectTaskEnd(world, id, { succeeded: true });
  for (const key of ['ord-two-1', 'ord-two-2', 'ord-two-3']) expect(world.api.accepted(key)).toBe(1);
});

faultCase('malformed-message', async () => {
  const id = await failedTask('ord-cut');
  // Its message is cut in half on the way back to the spool (a hand edit, a broken tool).
  const m = await receiveOf(id);
  await world.sqs.send(new SendMessageCommand({ QueueUrl: world.queues.spool.url, MessageBody: m.Body!.slice(0, Math.floor(m.Body!.length / 2)), MessageAttributes: m.MessageAttributes }));
  await world.sqs.send(new DeleteMessageCommand({ QueueUrl: world.queues.spool.url, ReceiptHandle: m.ReceiptHandle }));
  const s = await world.reprocess({ taskIds: [id], max: 1 });
  expect(s).toMatchObject({ invalid: 1, started: 0 });
  const end = await expectTaskEnd(world, id, { quarantined: /^body is not JSON/ });
  expect(end.executions.map((e) => e.status)).toEqual(['FAILED']);
  // The runbook ("Read the quarantine"): it can never run as is. A dry run lists it with its message
  // id (a cut body is selected by its job and error attributes); read it, then drop it by that id.
  const look = await world.reprocess({ source: 'quarantine', job: 'example-api', errorType: 'ExternalApiRejectedError', max: 1, drop: true, dryRun: true });
  expect(look).toMatchObject({ wouldDrop: 1, dropped: 0 });
  expect(look.items[0]).toMatchObject({ taskId: null, outcome: 'wouldDrop', reason: expect.stringMatching(/^body is not JSON/) });
  expect(await world.reprocess({ source: 'quarantine', messageIds: [look.items[0].messageId!], drop: true })).toMatchObject({ dropped: 1, started: 0 });
  expect((await world.quarantine()).filter((q) => q.raw.includes(id))).toEqual([]);
  expect(world.executionsOf(id).map((e) => e.status)).toEqual(['FAILED']);
});

faultCase('forged-message', async () => {
  // Someone who can send to the spool asks for a task that has not run yet: tomorrow's tick, so
  // that the real task would later find its name taken.
  const tomorrow = new Date(Math.floor(Date.now() / 60_000) * 60_000 + 86_400_000);
  const key = 'ord-forged';
  const input: TaskEnvelope = { v: 1, taskId: taskIdFor('example-api', tomorrow, key), job: 'example-api', key, params: order(key).params, attempt: 1, scheduledTime: tomorrow.toISOString() };
  const forged: SpoolMessage = {
    version: 1,
    kind: 'ExecutionFailed',
    job: 'example-api',
    taskId: input.taskId,
    input,
    error: 'ExternalApiUnavailableError',
    cause: '503',
    failedState: 'CallApi',
    stepInput: { orderId: key, amountMinor: 120000, currency: 'JPY' },
    executionArn: null,
    stateMachineArn: world.stateMachines.get('example-api')!,
  };
  await world.sqs.send(new SendMessageCommand({ QueueUrl: world.queues.spool.url, MessageBody: JSON.stringify(forged), MessageAttributes: spoolAttributes(forged) }));
  const s = await world.reprocess({ max: 1 });
  expect(s).toMatchObject({ invalid: 1, started: 0 });
  await expectTaskEnd(world, input.taskId, { quarantined: /^may be forged: its tick .* is in the future/ });
  expect(world.executionsOf(input.taskId)).toHaveLength(0);
  // The runbook: find who can send to the spool; the message can never run: list it, then drop it by its id.
  const look = await world.reprocess({ source: 'quarantine', taskIds: [input.taskId], drop: true, dryRun: true });
  expect(look).toMatchObject({ wouldDrop: 1, dropped: 0 });
  expect(look.items[0]).toMatchObject({ taskId: input.taskId, outcome: 'wouldDrop', reason: expect.stringMatching(/^may be forged/) });
  expect(await world.reprocess({ source: 'quarantine', messageIds: [look.items[0].messageId!], drop: true })).toMatchObject({ dropped: 1, started: 0 });
  expect((await world.quarantine()).filter((q) => q.body?.taskId === input.taskId)).toEqual([]);
  expect(world.executionsOf(input.taskId)).toHaveLength(0);
});

faultCase('replay-limit', async () => {
  const maxReplays = world.config.spool.maxReplays;
  // Every attempt up to the last allowed replay is refused; the API accepts it after that (the cause fixed).
  world.api.script('ord-never', Array(maxReplays + 1).fill(422));
  const t = await world.tick('example-api', [order('ord-never')]);
  const id = t.taskIds[0];
  await world.settle();
  // Each replay fails again and is spooled again, one attempt higher.
  for (let attempt = 2; attempt <= maxReplays + 1; attempt++) {
    expect(await world.reprocess({ taskIds: [id], max: 1 })).toMatchObject({ started: 1 });
    await world.settle();
  }
  const last = await world.reprocess({ taskIds: [id], max: 1 });
  expect(last).toMatchObject({ started: 0, invalid: 1 });
  const end = await expectTaskEnd(world, id, { quarantined: new RegExp(`^too many replays: attempt ${maxReplays + 1} > MAX_REPLAYS ${maxReplays}`) });
  expect(end.executions.map((e) => e.status)).toEqual(Array(maxReplays + 1).fill('FAILED'));
  expect(world.workerRecords().filter((r) => r.task_id === id).map((r) => r.attempt)).toEqual(Array.from({ length: maxReplays + 1 }, (_, i) => i + 1));
  // The runbook ("Read the quarantine", too many replays): once the cause is found and fixed, replay it with force.
  const forced = await world.reprocess({ source: 'quarantine', taskIds: [id], force: true });
  expect(forced).toMatchObject({ started: 1, forced: 1, resumed: 1, invalid: 0, failed: 0 });
  await world.settle();
  // It succeeds once, under the next attempt's name, resumed at the step that failed.
  const after = await expectTaskEnd(world, id, { succeeded: true });
  expect(after.executions.map((e) => e.status)).toEqual([...Array(maxReplays + 1).fill('FAILED'), 'SUCCEEDED']);
  expect(after.executions.at(-1)!.name).toBe(executionNameFor(id, maxReplays + 2));
  expect([world.calls('Fetch', id), world.calls('CallApi', id)]).toEqual([1, maxReplays + 2]);
  expect(world.api.accepted('ord-never')).toBe(1);
});

faultCase('redrive-mode', async () => {
  const id = await failedTask('ord-mode');
  const calls = JSON.stringify(world.sfn.counters.calls);
  // A redrive of a caught failure re-enters the Fail state and fails again (AWS Step Functions
  // developer guide, "Redriving executions"): the mode was removed, and asking for it touches nothing.
  await expect(world.reprocess({ mode: 'redrive' } as never)).rejects.toMatchObject({ name: 'InvalidPayloadError', message: expect.stringMatching(/"mode"/) });
  expect(JSON.stringify(world.sfn.counters.calls)).toBe(calls);
  expect(world.sfn.counters.calls.RedriveExecution ?? 0).toBe(0);
  await expectTaskEnd(world, id, { spooled: { error: 'ExternalApiRejectedError', failedState: 'CallApi', replayed: (s) => expect(s.resumed).toBe(1) } });
});

faultCase('spool-expiry', async () => {
  const id = await failedTask('ord-old');
  const original = await receiveOf(id);
  await world.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: world.queues.spool.url, ReceiptHandle: original.ReceiptHandle, VisibilityTimeout: 0 }));
  const sentAt = Number(original.Attributes!.SentTimestamp);
  // Half a day before SQS would delete it (the spool's retention, the sweeper's margin: both from
  // the template). fauxqs never expires messages, so the sweep's clock moves instead.
  const sweeperEnv = world.functionEnv(world.functions.sweeper);
  const retention = (JSON.parse(sweeperEnv.SWEEP_QUEUES) as Array<{ name: string; retentionSeconds: number }>).find((q) => q.name === world.queues.spool.name)!.retentionSeconds;
  const at = new Date(sentAt + (retention - 43_200) * 1000);
  // Inside the sweeper's margin before expiry, so this run must re-send it.
  expect(Number(sweeperEnv.SWEEP_MARGIN_SECONDS)).toBeGreaterThan(43_200);
  const summary = await world.sweep(['spool'], at);
  expect(summary.queues[0]).toMatchObject({ complete: true, resent: 1 });
  const [copy] = (await world.spool()).filter((m) => m.body?.taskId === id);
  expect(copy.attributes[SPOOL_ATTR_FIRST_SENT]).toBe(String(sentAt));
  expect(copy.attributes[SPOOL_ATTR_SWEEPS]).toBe('1');
  await expectTaskEnd(world, id, {
    spooled: { error: 'ExternalApiRejectedError', failedState: 'CallApi', replayed: (s) => expect(s.items[0].spooledAt).toBe(new Date(sentAt).toISOString()) },
  });
});

/** The example job with a step added after Publish (a deploy). */
const withNotify = (c: AppConfig): AppConfig => ({
  ...c,
  jobs: c.jobs.map((j) =>
    j.name !== 'example-api' ? j : { ...j, steps: [...j.steps, { name: 'Notify', entry: 'lambdas/jobs/example-api/publish.ts', timeoutSeconds: 30, retry: { maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['TransientError'] } }] },
  ),
});
/** The example job with CallApi renamed (a deploy). */
const renamedCallApi = (c: AppConfig): AppConfig => ({
  ...c,
  jobs: c.jobs.map((j) => (j.name !== 'example-api' ? j : { ...j, steps: j.steps.map((s) => ('name' in s && s.name === 'CallApi' ? { ...s, name: 'CallOrdersApi' } : s)) })),
});

faultCase('deploy-while-waiting', async () => {
  const t = await world.tick('example-api', [order('ord-deploy')], { drain: false });
  const id = t.taskIds[0];
  world.onStep({
    state: 'Publish',
    task: id,
    attempt: 1,
    handle: () => {
      throw new PermanentError('the publication target refused the summary');
    },
  });
  await world.drainTicks();
  await world.settle();
  const arn = world.stateMachines.get('example-api');
  // A deploy adds a step after Publish while the failure waits; the state machine stays the same.
  world.deploy(withNotify);
  expect(world.stateMachines.get('example-api')).toBe(arn);
  expect(Object.keys(world.definition('example-api').States)).toContain('Notify');
  await expectTaskEnd(world, id, { spooled: { error: 'PermanentError', failedState: 'Publish', replayed: (s) => expect(s.resumed).toBe(1) } });
  // The replay ran the definition deployed now, from the failed step: Publish, then the new Notify.
  expect([world.calls('Fetch', id), world.calls('CallApi', id), world.calls('Publish', id), world.calls('Notify', id)]).toEqual([1, 1, 2, 1]);
  expect(world.api.accepted('ord-deploy')).toBe(1);
});

faultCase('step-removed-by-deploy', async () => {
  const id = await failedTask('ord-renamed');
  // A deploy renames CallApi while the failure waits: its failed step no longer exists.
  world.deploy(renamedCallApi);
  expect(Object.keys(world.definition('example-api').States)).not.toContain('CallApi');
  // The dry run names the step; a real run does not start it over silently: left in the spool, counted.
  const look = await world.reprocess({ taskIds: [id], dryRun: true });
  expect(look).toMatchObject({ wouldStart: 0, unknownResumeStep: 1 });
  expect(look.items[0]).toMatchObject({ taskId: id, outcome: 'unknownResumeStep', unknownResumeStep: 'CallApi', reason: expect.stringMatching(/step "CallApi" is not a top-level step of job "example-api" now/) });
  expect(await world.reprocess({ taskIds: [id] })).toMatchObject({ started: 0, unknownResumeStep: 1 });
  expect(world.executionsOf(id)).toHaveLength(1);
  // The operator decides the earlier steps may run again: from start.
  await expectTaskEnd(world, id, {
    spooled: { error: 'ExternalApiRejectedError', failedState: 'CallApi', replay: { from: 'start' }, replayed: (s) => expect(s).toMatchObject({ resumed: 0, unknownResumeStep: 0 }) },
  });
  // Started over as asked: Fetch ran again (a new run of every step, not its old record), then the renamed step.
  expect([world.calls('Fetch', id), world.calls('CallApi', id), world.calls('CallOrdersApi', id)]).toEqual([2, 1, 1]);
  expect(world.api.accepted('ord-renamed')).toBe(1);
});

test('after every case above: the lost-task query finds nothing, no execution name was created twice, no task succeeded twice', () => expectNothingLost(world));

test('after every case above: the params canary occurs in no line outside the lock (logs, the runtime\'s uncaught-error lines, traces, task failures)', () => expectCanaryInside(world));
