/**
 * Reprocess rules, one by one, against aws-sdk-client-mock: an in-memory queue behind the mocked
 * SQS client (so visibility, delete and release are observable) and a scripted StartExecution.
 * Time is a fake clock, so "time running low" and backoff are deterministic and instant.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand, StartExecutionCommandInput } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { drain, DrainDeps, QUARANTINE_ATTR_REASON } from '../lambdas/reprocess/drain';
import { DescribePacer } from '../lambdas/reprocess/execution-check';
import { ReplayHolds } from '../lambdas/reprocess/holds';
import { FUTURE_TICK_ALLOWANCE_MS } from '../lambdas/reprocess/message';
import { parsePayload, ReprocessPayload } from '../lambdas/reprocess/payload';
import { AdaptiveRateGate } from '../lambdas/shared/rate-gate';
import { executionNameFor, taskIdFor } from '../lambdas/shared/names';
import { envelope, executionArnOf, FETCHED, JOBS, SM_A, SM_B, SM_UNKNOWN, spoolAttributes, spoolMessage } from './reprocess-fixtures';
import { FakeQueueMessage, FakeSqs } from './support/fake-sqs';

const SPOOL = 'https://sqs.us-east-1.amazonaws.com/123456789012/spool';
const QUARANTINE = 'https://sqs.us-east-1.amazonaws.com/123456789012/quarantine';
const sqsMock = mockClient(SQSClient);
const sfnMock = mockClient(SFNClient);
const sqs = new SQSClient({ region: 'us-east-1' });
const sfn = new SFNClient({ region: 'us-east-1' });

let clock = 0;
let fake: FakeSqs;
let queue: FakeQueueMessage[];
/** What reprocess sent to the quarantine: each body with its reason attribute. */
const quarantined = () => fake.messages(QUARANTINE).map((m) => ({ body: m.body, reason: m.attrs[QUARANTINE_ATTR_REASON]?.StringValue }));
/** The hold switches' state ('on' = held), read by the hold checks of the tests that pass `holds`. */
let switches: Map<string, string>;

function spool(body: string | object, opts: { attrs?: FakeQueueMessage['attrs']; sentAt?: number } = {}): FakeQueueMessage {
  return fake.add(SPOOL, body, { id: `m${queue.length}`, attrs: opts.attrs, sentAt: opts.sentAt });
}

function spoolTask(opts: Parameters<typeof spoolMessage>[0], extra: { firstSentAt?: number; sentAt?: number } = {}): FakeQueueMessage {
  const s = spoolMessage(opts);
  return spool(s, { attrs: spoolAttributes(s, extra.firstSentAt), sentAt: extra.sentAt });
}

beforeEach(() => {
  clock = 1_800_000_000_000;
  fake = new FakeSqs(() => clock);
  queue = fake.messages(SPOOL);
  switches = new Map();
  sqsMock.reset();
  sfnMock.reset();
  fake.install(sqsMock);
  sfnMock.on(StartExecutionCommand).callsFake((input: StartExecutionCommandInput) => ({
    executionArn: `${input.stateMachineArn!.replace(':stateMachine:', ':execution:')}:${input.name}`,
    startDate: new Date(clock),
  }));
});

function deps(over: Partial<DrainDeps> = {}): DrainDeps {
  return {
    sqs,
    sfn,
    spoolQueueUrl: SPOOL,
    quarantineQueueUrl: QUARANTINE,
    rules: { jobs: JOBS, maxReplays: 5 },
    remainingMs: 900_000,
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
    ...over,
  };
}

const run = (payload: ReprocessPayload, over: Partial<DrainDeps> = {}) => drain(deps(over), parsePayload(payload, 10, clock));
/** Hold checks reading {@link switches}, on the fake clock, with job-a's CallApi depending on orders-api (fixtures). */
const holds = (windows: ConstructorParameters<typeof ReplayHolds>[0]['windows'] = {}) =>
  new ReplayHolds({ readSwitch: async (d) => switches.get(d) === 'on', windows, timeZone: 'Asia/Tokyo', now: () => clock });
const describes = () => sfnMock.commandCalls(DescribeExecutionCommand).map((c) => c.args[0].input);
const taskOf = (job: string, key: string) => taskIdFor(job, new Date('2026-11-25T03:00:00Z'), key);
const starts = () => sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input);
const sqsCalls = (cmd: Parameters<typeof sqsMock.commandCalls>[0]) => sqsMock.commandCalls(cmd).map((c) => c.args[0].input);

describe('replay', () => {
  test('starts each message with attempt + 1 under its deterministic name, then deletes it in one batch', async () => {
    for (let i = 0; i < 3; i++) spoolTask({ key: `k${i}`, attempt: 2 });
    const s = await run({ max: 10 });
    expect(s).toMatchObject({ started: 3, resumed: 3, alreadyStarted: 0, invalid: 0, failed: 0, remaining: 0, stoppedBecause: 'empty', from: 'failed-step' });
    const st = starts();
    expect(st.map((x) => x.name).sort()).toEqual(['k0', 'k1', 'k2'].map((k) => executionNameFor(`job-a-20261125T0300Z-${k}`, 3)).sort());
    expect(JSON.parse(st[0].input!)).toMatchObject({ attempt: 3, params: { email: expect.stringContaining('@example.com') } });
    expect(st.every((x) => x.stateMachineArn === SM_A)).toBe(true);
    const deletes = sqsCalls(DeleteMessageBatchCommand);
    expect(deletes).toHaveLength(1);
    expect(deletes[0].Entries).toHaveLength(3);
    expect(queue).toHaveLength(0);
    expect(s.items[0]).toEqual({
      taskId: expect.stringMatching(/^job-a-/),
      job: 'job-a',
      error: 'ExternalApiUnavailableError',
      outcome: 'started',
      resumeAt: 'CallApi',
      spooledAt: new Date(clock).toISOString(),
    });
  });

  test('StartFailed is replayed under the SAME attempt name with the input unchanged', async () => {
    spoolTask({ key: 'sf', kind: 'StartFailed', attempt: 1 });
    await run({});
    const [st] = starts();
    expect(st.name).toBe(executionNameFor('job-a-20261125T0300Z-sf', 1));
    expect(JSON.parse(st.input!).attempt).toBe(1);
  });

  test('receives in batches of 10 with a visibility timeout that covers the whole invocation', async () => {
    for (let i = 0; i < 25; i++) spoolTask({ key: `k${i}` });
    await run({ max: 25 }, { remainingMs: 600_000 });
    const receives = sqsCalls(ReceiveMessageCommand);
    expect(Math.max(...receives.map((r) => r.MaxNumberOfMessages!))).toBe(10);
    expect(receives.every((r) => r.VisibilityTimeout! >= 600)).toBe(true);
  });

  test('max: 10 of 25 starts 10, receives no more than it needs, leaves 15', async () => {
    for (let i = 0; i < 25; i++) spoolTask({ key: `k${i}` });
    const s = await run({ max: 10 });
    expect(s).toMatchObject({ started: 10, remaining: 15, stoppedBecause: 'max' });
    expect(queue.every((m) => m.visible)).toBe(true);
    expect(queue.every((m) => m.receives === 0)).toBe(true);
  });

  test('ExecutionAlreadyExists means started by an earlier run: counted alreadyStarted and deleted', async () => {
    spoolTask({ key: 'done' });
    spoolTask({ key: 'new' });
    const doneName = executionNameFor('job-a-20261125T0300Z-done', 2);
    sfnMock
      .on(StartExecutionCommand, { name: doneName })
      .rejects(Object.assign(new Error('Execution Already Exists'), { name: 'ExecutionAlreadyExists' }));
    const s = await run({});
    expect(s).toMatchObject({ started: 1, alreadyStarted: 1, remaining: 0 });
    expect(queue).toHaveLength(0);
  });

  test('a 200 for a same-name running execution started long before counts as alreadyStarted', async () => {
    spoolTask({ key: 'running' });
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: 'arn:x', startDate: new Date(clock - 600_000) });
    const s = await run({});
    expect(s).toMatchObject({ started: 0, alreadyStarted: 1 });
  });

  test('a failed start is not deleted: released, counted failed, still in the spool', async () => {
    spoolTask({ key: 'ok' });
    spoolTask({ key: 'denied' });
    sfnMock
      .on(StartExecutionCommand, { name: executionNameFor('job-a-20261125T0300Z-denied', 2) })
      .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }));
    const s = await run({});
    expect(s).toMatchObject({ started: 1, failed: 1, remaining: 1 });
    expect(queue).toHaveLength(1);
    expect(JSON.parse(queue[0].body).taskId).toContain('denied');
    expect(queue[0].visible).toBe(true);
    // Delete carried only the started message.
    expect(sqsCalls(DeleteMessageBatchCommand).flatMap((d) => d.Entries)).toHaveLength(1);
  });

  test('nothing is deleted before its start has answered', async () => {
    spoolTask({ key: 'a' });
    const order: string[] = [];
    sfnMock.on(StartExecutionCommand).callsFake(async () => {
      order.push('start-called');
      await new Promise((r) => setTimeout(r, 20));
      order.push('start-answered');
      return { executionArn: 'arn:x', startDate: new Date(clock) };
    });
    sqsMock.on(DeleteMessageBatchCommand).callsFake((input) => {
      order.push('delete');
      return { Successful: input.Entries.map((e: { Id: string }) => ({ Id: e.Id })) };
    });
    await run({});
    expect(order).toEqual(['start-called', 'start-answered', 'delete']);
  });

  test('starts run with bounded concurrency', async () => {
    for (let i = 0; i < 30; i++) spoolTask({ key: `k${i}` });
    let inFlight = 0;
    let peak = 0;
    sfnMock.on(StartExecutionCommand).callsFake(async () => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return { executionArn: 'arn:x', startDate: new Date(clock) };
    });
    const s = await run({ max: 30, concurrency: 3 });
    expect(s.started).toBe(30);
    expect(peak).toBe(3);
  });
});

describe('filters', () => {
  beforeEach(() => {
    spoolTask({ job: 'job-a', key: 'a1', error: 'ExternalApiUnavailableError' });
    spoolTask({ job: 'job-a', key: 'a2', error: 'States.Timeout' });
    spoolTask({ job: 'job-b', key: 'b1', error: 'ExternalApiUnavailableError', stateMachineArn: SM_B });
  });

  test('job: only that job is started; the others are released (visible again) before returning', async () => {
    const s = await run({ job: 'job-b' });
    expect(s).toMatchObject({ started: 1, skipped: 2, remaining: 2 });
    expect(starts().map((x) => x.stateMachineArn)).toEqual([SM_B]);
    expect(queue.every((m) => m.visible)).toBe(true);
    const released = sqsCalls(ChangeMessageVisibilityBatchCommand).flatMap((c) => c.Entries!);
    expect(released).toHaveLength(2);
    expect(released.every((e) => e.VisibilityTimeout === 0)).toBe(true);
  });

  test('skipped messages do not use up max, and each is looked at once per run', async () => {
    const s = await run({ job: 'job-b', max: 1 });
    expect(s.started).toBe(1);
    expect(queue.every((m) => m.receives <= 1)).toBe(true);
  });

  test('errorType and taskIds', async () => {
    expect((await run({ errorType: 'States.Timeout' })).started).toBe(1);
    expect(starts()[0].name).toContain('a2');
    sfnMock.resetHistory();
    const s = await run({ taskIds: ['job-b-20261125T0300Z-b1', 'nope'] });
    expect(s).toMatchObject({ started: 1, skipped: 1 });
    expect(starts()[0].name).toContain('b1');
  });

  test('olderThan / newerThan on the SQS SentTimestamp (relative ages)', async () => {
    queue[0].sentAt = clock - 3 * 3_600_000; // 3 h old
    queue[1].sentAt = clock - 30 * 60_000; // 30 min old
    queue[2].sentAt = clock - 10 * 60_000; // 10 min old
    expect((await run({ olderThan: '2h' })).started).toBe(1);
    expect(starts()[0].name).toContain('a1');
    sfnMock.resetHistory();
    const s = await run({ newerThan: '1h', olderThan: '20m' });
    expect(s).toMatchObject({ started: 1, skipped: 1 });
    expect(starts()[0].name).toContain('a2');
  });

  test('a malformed message of another job (by attribute) is skipped, not quarantined', async () => {
    spool('not json {', { attrs: spoolAttributes({ job: 'job-a', error: 'X', kind: 'ExecutionFailed' }) });
    const s = await run({ job: 'job-b' });
    expect(s).toMatchObject({ started: 1, invalid: 0, skipped: 3 });
    expect(quarantined()).toHaveLength(0);
  });
});

test('a receive that fails (e.g. access denied) stops the run with the reason, having released what it held', async () => {
  for (let i = 0; i < 3; i++) spoolTask({ key: `k${i}` });
  let n = 0;
  // First receive hands out one (skipped) message, then access is denied.
  sqsMock.on(ReceiveMessageCommand).callsFake(() => {
    if (n++ > 0) throw Object.assign(new Error('not authorized'), { name: 'AccessDenied' });
    return fake.receive(SPOOL, 1);
  });
  const s = await run({ job: 'other-job' });
  expect(s.stoppedBecause).toBe('receiveFailed');
  expect(s.receiveError).toMatch(/^AccessDenied/);
  expect(queue.every((m) => m.visible)).toBe(true);
});

describe('dry run', () => {
  test('starts nothing, deletes nothing, quarantines nothing, and releases everything it received', async () => {
    for (let i = 0; i < 12; i++) spoolTask({ key: `k${i}` });
    spool('garbage');
    const s = await run({ dryRun: true, max: 100 });
    expect(s).toMatchObject({ dryRun: true, started: 0, wouldStart: 12, invalid: 1, remaining: 13 });
    expect(s.items.find((i) => i.outcome === 'wouldQuarantine')?.reason).toBe('body is not JSON');
    expect(sfnMock.calls()).toHaveLength(0);
    expect(sqsMock.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
    expect(queue).toHaveLength(13);
    expect(queue.every((m) => m.visible)).toBe(true);
  });
});

describe('quarantine', () => {
  const cases: Array<[string, () => void, RegExp]> = [
    ['not JSON', () => spool('{oops'), /not JSON/],
    ['not an object', () => spool('[1,2]'), /not a JSON object/],
    ['no input', () => spool({ ...spoolMessage({ key: 'x' }), input: null }), /no input/],
    ['input not an envelope', () => spool({ ...spoolMessage({ key: 'x' }), input: { ...spoolMessage({ key: 'x' }).input, attempt: 0 } }), /attempt/],
    ['unknown job (removed or renamed)', () => spoolTask({ job: 'job-gone', key: 'x', stateMachineArn: SM_UNKNOWN }), /unknown job "job-gone"/],
    ['unknown kind', () => spool({ ...spoolMessage({ key: 'x' }), kind: 'Weird' }), /unknown kind/],
    ['ProducerFailed (legacy)', () => spoolTask({ key: 'x', kind: 'ProducerFailed' }), /^ProducerFailed.*re-run the tick/],
    ['Rejected (a spec error that reached the spool)', () => spoolTask({ key: 'x', kind: 'Rejected', error: 'DuplicateTaskKey' }), /^Rejected: the producer refused this task spec \(DuplicateTaskKey\); a spec error is never replayable/],
    ['too many replays (attempt > MAX_REPLAYS)', () => spoolTask({ key: 'x', attempt: 6 }), /too many replays/],
  ];
  test.each(cases)('%s: moved to quarantine with the original body and a reason, never started', async (_name, add, reason) => {
    add();
    const original = queue[0].body;
    const s = await run({});
    expect(s).toMatchObject({ invalid: 1, started: 0, remaining: 0 });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(quarantined()).toEqual([{ body: original, reason: expect.stringMatching(reason) }]);
    expect(s.items[0].reason).toMatch(reason);
  });

  test('a Rejected message keeps the producer\'s cause in its body, never in the reason attribute (SQS encryption leaves attributes in clear) nor the summary', async () => {
    spool({ ...spoolMessage({ key: 'x', kind: 'Rejected', error: 'InvalidTaskSpec' }), cause: 'params.orderId must be a string' });
    const s = await run({});
    expect(quarantined()[0].reason).toMatch(/^Rejected: /);
    expect(quarantined()[0].reason).not.toContain('params.orderId');
    expect(JSON.parse(quarantined()[0].body).cause).toBe('params.orderId must be a string');
    expect(s.items[0].reason).not.toContain('params.orderId');
  });

  test('attempt == MAX_REPLAYS is still replayed', async () => {
    spoolTask({ key: 'x', attempt: 5 });
    expect((await run({})).started).toBe(1);
  });

  test('a message whose quarantine send fails is NOT deleted', async () => {
    spool('{oops');
    sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [{ Id: '0', SenderFault: false, Code: 'InternalError' }] });
    const s = await run({});
    expect(s).toMatchObject({ invalid: 0, failed: 1, remaining: 1 });
    expect(queue).toHaveLength(1);
    expect(sqsMock.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
  });
});

describe('throttling and time', () => {
  const throttle = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

  test('StartExecution throttling is retried after a pause until it goes through', async () => {
    for (let i = 0; i < 5; i++) spoolTask({ key: `k${i}` });
    let n = 0;
    sfnMock.on(StartExecutionCommand).callsFake(() => {
      n++;
      if (n === 2 || n === 3) throw throttle();
      return { executionArn: 'arn:x', startDate: new Date(clock) };
    });
    const t0 = clock;
    const s = await run({ concurrency: 1 });
    expect(s).toMatchObject({ started: 5, failed: 0, throttleEvents: 2 });
    expect(n).toBe(7);
    expect(clock - t0).toBeGreaterThanOrEqual(1000); // paused, did not hammer
  });

  test('the pace learned from throttles is the refill rate between them', async () => {
    let t = 0;
    const gate = new AdaptiveRateGate({ now: () => t, sleep: async (ms) => void (t += ms) });
    gate.onThrottle(); // bucket empty at t=0
    for (let i = 0; i < 150; i++) {
      await gate.acquire(Infinity);
      gate.onSuccess();
    }
    t = 1_500;
    gate.onThrottle(); // 150 successes in 1.5 s: refill 100/s
    expect(gate.currentRate).toBeCloseTo(95, 0);
  });

  test('when time runs low it stops cleanly: unstarted messages are released and reported', async () => {
    for (let i = 0; i < 30; i++) spoolTask({ key: `k${i}` });
    // Every call takes 1 s of the Lambda's time; 10 s remain and 3 s are kept for finishing.
    sfnMock.on(StartExecutionCommand).callsFake(() => {
      clock += 1_000;
      return { executionArn: 'arn:x', startDate: new Date(clock) };
    });
    const s = await run({ max: 30, concurrency: 1 }, { remainingMs: 10_000, safetyMs: 3_000 });
    expect(s.stoppedBecause).toBe('time');
    expect(s.started).toBeGreaterThan(0);
    expect(s.started).toBeLessThan(30);
    expect(s.started + s.remaining!).toBe(30);
    expect(queue.every((m) => m.visible)).toBe(true);
  });

  test('throttled until the deadline: nothing lost, the message is released as notAttempted', async () => {
    spoolTask({ key: 'k' });
    sfnMock.on(StartExecutionCommand).rejects(throttle());
    const s = await run({}, { remainingMs: 10_000, safetyMs: 3_000 });
    expect(s).toMatchObject({ started: 0, notAttempted: 1, remaining: 1 });
    expect(queue[0].visible).toBe(true);
  });
});


describe('forged replays (issue 9): quarantined, never started', () => {
  const future = new Date(1_800_000_000_000 + 3_600_000).toISOString();
  const cases: Array<[string, () => object, RegExp]> = [
    ['the task id is not the one job, tick and key derive (a key swapped in)', () => {
      const m = spoolMessage({ key: 'real' });
      return { ...m, input: { ...m.input!, key: 'other' } };
    }, /may be forged: the task id is not the one its job, tick and key derive/],
    ['the input belongs to another job', () => {
      const m = spoolMessage({ key: 'x' });
      return { ...m, input: { ...envelope('job-b', 'x'), taskId: m.taskId } };
    }, /may be forged: the input's job is not the message's job "job-a"/],
    ['job-a\'s message names job-b\'s state machine', () => spoolMessage({ key: 'x', stateMachineArn: SM_B }), /may be forged: the state machine is not job "job-a"'s/],
    ['message taskId and input taskId differ', () => ({ ...spoolMessage({ key: 'x' }), taskId: taskOf('job-a', 'y') }), /may be forged: input\.taskId differs/],
    ['a StartFailed for a tick that has not come (it would take the producer\'s future name)', () => spoolMessage({ key: 'x', kind: 'StartFailed', scheduledTime: future }), /may be forged: its tick .* is in the future/],
    ['an ExecutionEnded naming another state machine\'s execution', () => spoolMessage({ key: 'x', kind: 'ExecutionEnded', executionArn: executionArnOf(SM_B, 'x-a1') }), /may be forged: executionArn is not an execution of job "job-a"/],
  ];
  test.each(cases)('%s', async (_name, body, reason) => {
    const m = body() as { job: string; error: string; kind: string };
    spool(m, { attrs: spoolAttributes(m) });
    const s = await run({});
    expect(s).toMatchObject({ invalid: 1, started: 0 });
    expect(sfnMock.calls()).toHaveLength(0);
    expect(quarantined()).toEqual([{ body: JSON.stringify(m), reason: expect.stringMatching(reason) }]);
  });

  test('a tick within the clock-skew allowance is replayed', async () => {
    spoolTask({ key: 'skew', kind: 'StartFailed', scheduledTime: new Date(clock + FUTURE_TICK_ALLOWANCE_MS - 60_000).toISOString() });
    expect(await run({})).toMatchObject({ started: 1, invalid: 0 });
  });
});

describe('where a replay starts (`from`)', () => {
  const inputOf = (i = 0) => JSON.parse(starts()[i].input!);

  test('default failed-step: the envelope + attempt + 1 + resume at the failed step with what it was given', async () => {
    spoolTask({ key: 'r', attempt: 1 });
    const s = await run({});
    expect(s).toMatchObject({ from: 'failed-step', started: 1, resumed: 1, resumeFallbacks: 0 });
    expect(inputOf()).toEqual({ ...envelope('job-a', 'r', 2), resume: { step: 'CallApi', input: FETCHED } });
    expect(starts()[0].name).toBe(executionNameFor(taskOf('job-a', 'r'), 2));
  });

  test('from start: no resume point, and the SAME name as a resume would use (one name per message and attempt)', async () => {
    spoolTask({ key: 'r', attempt: 1 });
    const s = await run({ from: 'start' });
    expect(s).toMatchObject({ started: 1, resumed: 0 });
    // rerunFrom: the operator asked for every step again, so no earlier step record is reused.
    expect(inputOf()).toEqual({ ...envelope('job-a', 'r', 2), rerunFrom: 2 });
    expect(starts()[0].name).toBe(executionNameFor(taskOf('job-a', 'r'), 2));
  });

  test('a resume and a start-over of one message never both run: the second meets ExecutionAlreadyExists', async () => {
    const m = spoolTask({ key: 'once' });
    const seen = new Map<string, string>();
    sfnMock.on(StartExecutionCommand).callsFake((input: StartExecutionCommandInput) => {
      if (seen.has(input.name!) && seen.get(input.name!) !== input.input) throw Object.assign(new Error('exists'), { name: 'ExecutionAlreadyExists' });
      seen.set(input.name!, input.input!);
      return { executionArn: executionArnOf(SM_A, input.name!), startDate: new Date(clock) };
    });
    await run({});
    queue.push({ ...m, visible: true }); // the same message again (a second copy, or a crash before the delete)
    const s = await run({ from: 'start' });
    expect(s).toMatchObject({ started: 0, alreadyStarted: 1 });
    expect(seen.size).toBe(1);
  });

  test('an earlier resume point in the spooled input is replaced, not kept', async () => {
    const m = spoolMessage({ key: 'again', attempt: 2, failedState: 'Publish', stepInput: { called: 1 } });
    spool({ ...m, input: { ...m.input!, resume: { step: 'CallApi', input: FETCHED } } }, { attrs: spoolAttributes(m) });
    await run({});
    expect(inputOf()).toEqual({ ...envelope('job-a', 'again', 3), resume: { step: 'Publish', input: { called: 1 } } });
  });

  test.each<[string, Parameters<typeof spoolMessage>[0], RegExp | null]>([
    ['failed in the first step: starting over is the same thing, no reason', { key: 'f', failedState: 'Fetch', stepInput: null }, null],
    ['failed taking the lock', { key: 'l', failedState: 'AcquireLock', stepInput: null }, null],
    ['a message from before resume existed (no stepInput field)', { key: 'o', stepInput: undefined }, /does not carry what step "CallApi" was given/],
    ['an ExecutionEnded whose step input the capture could not read', { key: 'e', kind: 'ExecutionEnded', stepInput: null }, /what step "CallApi" was given is unknown/],
  ])('starts over when it cannot resume: %s', async (_name, opts, reason) => {
    spoolTask(opts);
    const s = await run({});
    expect(s).toMatchObject({ started: 1, resumed: 0, resumeFallbacks: reason ? 1 : 0 });
    expect(inputOf().resume).toBeUndefined();
    expect(inputOf().attempt).toBe(2);
    if (reason) expect(s.items[0]).toMatchObject({ outcome: 'started', reason: expect.stringMatching(reason) });
    else expect(s.items[0].reason).toBeUndefined();
  });

  test('a failed step that no longer exists (renamed or removed by a deploy) is not replayed: left in the spool, counted, not toward max', async () => {
    spoolTask({ key: 'g', failedState: 'OldCallApi' });
    spoolTask({ key: 'ok' });
    const s = await run({ max: 1 });
    expect(s).toMatchObject({ started: 1, unknownResumeStep: 1, resumeFallbacks: 0 });
    expect(starts()).toHaveLength(1);
    expect(inputOf()).toMatchObject({ key: 'ok' });
    const item = s.items.find((i) => i.outcome === 'unknownResumeStep')!;
    expect(item).toMatchObject({ taskId: taskOf('job-a', 'g'), unknownResumeStep: 'OldCallApi', reason: expect.stringMatching(/step "OldCallApi" is not a top-level step of job "job-a" now .*from "start"/) });
    // Still in the spool, visible again for the next run.
    expect(queue.filter((m) => m.visible && m.body.includes('"key":"g"'))).toHaveLength(1);
  });

  test('...and with from "start" it runs from the first step (the operator asked for it)', async () => {
    spoolTask({ key: 'g', failedState: 'OldCallApi' });
    const s = await run({ from: 'start' });
    expect(s).toMatchObject({ started: 1, resumed: 0, unknownResumeStep: 0 });
    expect(inputOf()).toEqual({ ...envelope('job-a', 'g', 2), rerunFrom: 2 });
  });

  test('a step input larger than the step budget starts over instead of risking the state quota', async () => {
    spoolTask({ key: 'big', stepInput: { blob: 'x'.repeat(70 * 1024) } });
    const s = await run({});
    expect(s.resumeFallbacks).toBe(1);
    expect(inputOf().resume).toBeUndefined();
    expect(s.items[0].reason).toMatch(/exceeds the 65536-byte step budget/);
  });

  test('StartFailed keeps its input and attempt (the producer\'s own name), whatever `from` says', async () => {
    spoolTask({ key: 'sf', kind: 'StartFailed', failedState: 'StartExecution' });
    await run({ from: 'failed-step' });
    expect(inputOf()).toEqual(envelope('job-a', 'sf', 1));
  });

  test('dry run reports where each replay would enter', async () => {
    spoolTask({ key: 'a' });
    spoolTask({ key: 'b', failedState: 'Gone' });
    spoolTask({ key: 'c', stepInput: undefined });
    const s = await run({ dryRun: true });
    expect(s).toMatchObject({ wouldStart: 2, resumed: 1, resumeFallbacks: 1, unknownResumeStep: 1 });
    expect(s.items.map((i) => [i.outcome, i.resumeAt ?? null, i.unknownResumeStep ?? null, Boolean(i.reason)])).toEqual([
      ['wouldStart', 'CallApi', null, false],
      ['unknownResumeStep', null, 'Gone', true],
      ['wouldStart', null, null, true],
    ]);
    expect(starts()).toHaveLength(0);
  });
});

describe('ExecutionEnded: a look at the ended execution before replaying it', () => {
  const ended = (key: string) => spoolTask({ key, kind: 'ExecutionEnded', error: 'ExecutionTimedOut', executionArn: executionArnOf(SM_A, executionNameFor(taskOf('job-a', key), 1)) });

  test.each(['RUNNING', 'PENDING_REDRIVE', 'SUCCEEDED'])('%s again (redriven from the console): already handled, deleted, nothing started', async (status) => {
    ended('redriven');
    sfnMock.on(DescribeExecutionCommand).resolves({ status: status as never, redriveCount: 1 });
    const s = await run({});
    expect(s).toMatchObject({ alreadyHandled: 1, started: 0, remaining: 0 });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(queue).toHaveLength(0);
    expect(describes()).toEqual([{ executionArn: executionArnOf(SM_A, executionNameFor(taskOf('job-a', 'redriven'), 1)), includedData: 'METADATA_ONLY' }]);
    expect(s.items[0]).toMatchObject({ outcome: 'alreadyHandled', reason: expect.stringContaining(status) });
  });

  test.each(['FAILED', 'TIMED_OUT', 'ABORTED'])('still %s (not redriven, or redriven and ended again): replayed as attempt + 1', async (status) => {
    ended('still');
    sfnMock.on(DescribeExecutionCommand).resolves({ status: status as never, redriveCount: 0 });
    const s = await run({});
    expect(s).toMatchObject({ alreadyHandled: 0, started: 1 });
    expect(starts()[0].name).toBe(executionNameFor(taskOf('job-a', 'still'), 2));
  });

  test('an execution whose history is gone is replayed', async () => {
    ended('gone');
    sfnMock.on(DescribeExecutionCommand).rejects(Object.assign(new Error('gone'), { name: 'ExecutionDoesNotExist' }));
    expect(await run({})).toMatchObject({ started: 1 });
  });

  test('a look that fails (e.g. access denied) leaves the message in the spool: never replayed blind', async () => {
    ended('denied');
    sfnMock.on(DescribeExecutionCommand).rejects(Object.assign(new Error('no'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }));
    const s = await run({});
    expect(s).toMatchObject({ started: 0, failed: 1, remaining: 1 });
    expect(queue[0].visible).toBe(true);
    expect(s.items[0].reason).toMatch(/^DescribeExecution: AccessDeniedException/);
  });

  test('ExecutionFailed (caught, ended in the Fail state: a redrive fails again at once) is replayed without a look', async () => {
    spoolTask({ key: 'caught', executionArn: executionArnOf(SM_A, executionNameFor(taskOf('job-a', 'caught'), 1)) });
    spoolTask({ key: 'sf', kind: 'StartFailed' });
    expect(await run({})).toMatchObject({ started: 2 });
    expect(describes()).toHaveLength(0);
  });

  test('looks are paced on their own (5/s after a burst of 20), and a throttled look waits and retries', async () => {
    for (let i = 0; i < 30; i++) ended(`p${i}`);
    let n = 0;
    sfnMock.on(DescribeExecutionCommand).callsFake(() => {
      if (++n === 25) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      return { status: 'FAILED' };
    });
    const t0 = clock;
    const s = await run({ max: 30 });
    expect(s).toMatchObject({ started: 30, failed: 0 });
    expect(n).toBe(31);
    expect(s.throttleEvents).toBe(1);
    // 10 beyond the burst at <= 5/s, and a pause and a halved pace after the throttle: at least 2 s.
    expect(clock - t0).toBeGreaterThanOrEqual(2_000);
  });

  test('the pacer: a burst, then one call per interval; a throttle halves the pace and pauses a second', async () => {
    let t = 0;
    const slots: number[] = [];
    const pacer = new DescribePacer({ ratePerSecond: 10, burst: 3, now: () => t, sleep: async (ms) => void (t += ms) });
    for (let i = 0; i < 5; i++) {
      await pacer.acquire(Infinity);
      slots.push(t);
    }
    expect(slots).toEqual([0, 0, 0, 100, 200]);
    pacer.onThrottle();
    expect(pacer.currentRate).toBe(5);
    await pacer.acquire(Infinity);
    expect(t).toBe(1_200);
    expect(await pacer.acquire(t + 100)).toBe(false); // the next slot (200 ms later) is past the deadline
  });
});

describe('holds: never replay into a held dependency', () => {
  test('a replay that would run a step of a held dependency stays in the spool, counted held, not against max', async () => {
    switches.set('orders-api', 'on');
    spoolTask({ key: 'h1' }); // resumes at CallApi (orders-api)
    spoolTask({ key: 'h2', failedState: 'Fetch', stepInput: null }); // starts over: runs CallApi too
    spoolTask({ key: 'p', failedState: 'Publish', stepInput: { called: true } }); // resumes after CallApi: not held
    spoolTask({ job: 'job-b', key: 'b' }); // job-b has no dependency
    const s = await run({ max: 2 }, { holds: holds() });
    expect(s).toMatchObject({ held: 2, started: 2, stoppedBecause: 'max' });
    expect(starts().map((x) => x.name).sort()).toEqual([executionNameFor(taskOf('job-a', 'p'), 2), executionNameFor(taskOf('job-b', 'b'), 2)].sort());
    expect(queue.map((m) => JSON.parse(m.body).taskId).sort()).toEqual([taskOf('job-a', 'h1'), taskOf('job-a', 'h2')].sort());
    expect(queue.every((m) => m.visible && m.receives === 1)).toBe(true); // released, and looked at once
    expect(s.items.find((i) => i.outcome === 'held')?.reason).toMatch(/dependency "orders-api" is on hold \(operator's switch\): release it with unhold/);
  });

  test('released: the same messages replay', async () => {
    switches.set('orders-api', 'on');
    spoolTask({ key: 'h' });
    const h = holds();
    expect(await run({}, { holds: h })).toMatchObject({ held: 1, started: 0 });
    switches.set('orders-api', 'off');
    clock += 10_000; // past the in-run cache
    expect(await run({}, { holds: h })).toMatchObject({ held: 0, started: 1 });
  });

  test('a planned window of the dependency holds too', async () => {
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Tokyo', hour: 'numeric', hourCycle: 'h23' }).format(new Date(clock));
    spoolTask({ key: 'w' });
    const s = await run({}, { holds: holds({ 'orders-api': [{ cron: `cron(0 ${Number(local)} * * ? *)`, durationMinutes: 120 }] }) });
    expect(s).toMatchObject({ held: 1, started: 0 });
    expect(s.items[0].reason).toMatch(/planned hold window/);
  });

  test('a switch that cannot be read holds (an operator is there; nothing is lost)', async () => {
    spoolTask({ key: 'u' });
    const h = new ReplayHolds({ readSwitch: async () => { throw Object.assign(new Error('denied'), { name: 'AccessDeniedException' }); }, windows: {}, timeZone: 'UTC', now: () => clock });
    const s = await run({}, { holds: h });
    expect(s).toMatchObject({ held: 1, started: 0 });
    expect(s.items[0].reason).toMatch(/could not be read/);
  });

  test('dry run counts held ones as held', async () => {
    switches.set('orders-api', 'on');
    spoolTask({ key: 'h' });
    expect(await run({ dryRun: true }, { holds: holds() })).toMatchObject({ held: 1, wouldStart: 0 });
  });
});

describe('ages: the first spooling counts, across the sweeper\'s re-sends', () => {
  test('olderThan / newerThan read firstSentAt when the sweeper set it, else SentTimestamp', async () => {
    spoolTask({ key: 'swept' }, { firstSentAt: clock - 10 * 86_400_000, sentAt: clock - 60_000 }); // failed 10 days ago, re-sent a minute ago
    spoolTask({ key: 'fresh' }, { sentAt: clock - 60_000 });
    const s = await run({ olderThan: '7d' });
    expect(s).toMatchObject({ started: 1, skipped: 1 });
    expect(starts()[0].name).toContain('swept');
    expect(s.items.find((i) => i.outcome === 'started')?.spooledAt).toBe(new Date(clock - 10 * 86_400_000).toISOString());
    sfnMock.resetHistory();
    expect(await run({ newerThan: '1h' })).toMatchObject({ started: 1 });
    expect(starts()[0].name).toContain('fresh');
  });
});
