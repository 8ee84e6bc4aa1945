/**
 * Reprocess rules, one by one, against aws-sdk-client-mock: an in-memory queue behind the mocked
 * SQS client (so visibility, delete and release are observable) and a scripted StartExecution.
 * Time is a fake clock, so "time running low" and backoff are deterministic and instant.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DescribeExecutionCommand, RedriveExecutionCommand, SFNClient, StartExecutionCommand, StartExecutionCommandInput } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { drain, DrainDeps, QUARANTINE_ATTR_REASON } from '../lambdas/reprocess/drain';
import { parsePayload, ReprocessPayload } from '../lambdas/reprocess/payload';
import { AdaptiveRateGate } from '../lambdas/reprocess/rate-gate';
import { executionNameFor } from '../lambdas/shared/names';
import { SM_A, SM_B, SM_UNKNOWN, spoolAttributes, spoolMessage } from './reprocess-fixtures';

const SPOOL = 'https://sqs.us-east-1.amazonaws.com/123456789012/spool';
const QUARANTINE = 'https://sqs.us-east-1.amazonaws.com/123456789012/quarantine';
const sqsMock = mockClient(SQSClient);
const sfnMock = mockClient(SFNClient);
const sqs = new SQSClient({ region: 'us-east-1' });
const sfn = new SFNClient({ region: 'us-east-1' });

interface FakeMessage {
  id: string;
  body: string;
  attrs: Record<string, { DataType: string; StringValue: string }>;
  sentAt: number;
  visible: boolean;
  receipt?: string;
  receives: number;
}

let clock = 0;
let queue: FakeMessage[];
let quarantined: Array<{ body: string; reason: string | undefined }>;
let receiptSeq = 0;

function spool(body: string | object, opts: { attrs?: FakeMessage['attrs']; sentAt?: number } = {}): FakeMessage {
  const m: FakeMessage = {
    id: `m${queue.length}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attrs: opts.attrs ?? {},
    sentAt: opts.sentAt ?? clock,
    visible: true,
    receives: 0,
  };
  queue.push(m);
  return m;
}

function spoolTask(opts: Parameters<typeof spoolMessage>[0]): FakeMessage {
  const s = spoolMessage(opts);
  return spool(s, { attrs: spoolAttributes(s) });
}

const visible = () => queue.filter((m) => m.visible).length;

beforeEach(() => {
  clock = 1_800_000_000_000;
  queue = [];
  quarantined = [];
  sqsMock.reset();
  sfnMock.reset();
  sqsMock.on(ReceiveMessageCommand).callsFake((input) => {
    const out = queue.filter((m) => m.visible).slice(0, input.MaxNumberOfMessages ?? 1);
    for (const m of out) {
      m.visible = false;
      m.receipt = `r${receiptSeq++}`;
      m.receives++;
    }
    return {
      Messages: out.map((m) => ({
        MessageId: m.id,
        ReceiptHandle: m.receipt,
        Body: m.body,
        Attributes: { SentTimestamp: String(m.sentAt), ApproximateReceiveCount: String(m.receives) },
        MessageAttributes: m.attrs,
      })),
    };
  });
  sqsMock.on(DeleteMessageBatchCommand).callsFake((input) => {
    for (const e of input.Entries) queue = queue.filter((m) => m.receipt !== e.ReceiptHandle || m.visible);
    return { Successful: input.Entries.map((e: { Id: string }) => ({ Id: e.Id })), Failed: [] };
  });
  sqsMock.on(ChangeMessageVisibilityBatchCommand).callsFake((input) => {
    for (const e of input.Entries) {
      const m = queue.find((x) => x.receipt === e.ReceiptHandle);
      if (m && e.VisibilityTimeout === 0) m.visible = true;
    }
    return { Successful: input.Entries.map((e: { Id: string }) => ({ Id: e.Id })), Failed: [] };
  });
  sqsMock.on(SendMessageBatchCommand).callsFake((input) => {
    for (const e of input.Entries) quarantined.push({ body: e.MessageBody, reason: e.MessageAttributes?.[QUARANTINE_ATTR_REASON]?.StringValue });
    return { Successful: input.Entries.map((e: { Id: string }) => ({ Id: e.Id })), Failed: [] };
  });
  sqsMock.on(GetQueueAttributesCommand).callsFake(() => ({
    Attributes: { ApproximateNumberOfMessages: String(visible()), ApproximateNumberOfMessagesNotVisible: String(queue.length - visible()), ApproximateNumberOfMessagesDelayed: '0' },
  }));
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
    rules: { allowedStateMachineArns: new Set([SM_A, SM_B]), maxReplays: 5 },
    remainingMs: 900_000,
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
    ...over,
  };
}

const run = (payload: ReprocessPayload, over: Partial<DrainDeps> = {}) => drain(deps(over), parsePayload(payload, 10, clock));
const starts = () => sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input);
const sqsCalls = (cmd: Parameters<typeof sqsMock.commandCalls>[0]) => sqsMock.commandCalls(cmd).map((c) => c.args[0].input);

describe('replay', () => {
  test('starts each message with attempt + 1 under its deterministic name, then deletes it in one batch', async () => {
    for (let i = 0; i < 3; i++) spoolTask({ key: `k${i}`, attempt: 2 });
    const s = await run({ max: 10 });
    expect(s).toMatchObject({ started: 3, alreadyStarted: 0, invalid: 0, failed: 0, remaining: 0, stoppedBecause: 'empty' });
    const st = starts();
    expect(st.map((x) => x.name).sort()).toEqual(['k0', 'k1', 'k2'].map((k) => executionNameFor(`job-a-20261125T0300Z-${k}`, 3)).sort());
    expect(JSON.parse(st[0].input!)).toMatchObject({ attempt: 3, params: { email: expect.stringContaining('@example.com') } });
    expect(st.every((x) => x.stateMachineArn === SM_A)).toBe(true);
    const deletes = sqsCalls(DeleteMessageBatchCommand);
    expect(deletes).toHaveLength(1);
    expect(deletes[0].Entries).toHaveLength(3);
    expect(queue).toHaveLength(0);
    expect(s.items[0]).toEqual({ taskId: expect.stringMatching(/^job-a-/), job: 'job-a', error: 'ExternalApiUnavailableError', outcome: 'started' });
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
    expect(quarantined).toHaveLength(0);
  });
});

test('a receive that fails (e.g. access denied) stops the run with the reason, having released what it held', async () => {
  for (let i = 0; i < 3; i++) spoolTask({ key: `k${i}` });
  let n = 0;
  // First receive hands out one (skipped) message, then access is denied.
  sqsMock.on(ReceiveMessageCommand).callsFake(() => {
    if (n++ > 0) throw Object.assign(new Error('not authorized'), { name: 'AccessDenied' });
    const out = queue.filter((m) => m.visible).slice(0, 1);
    for (const m of out) {
      m.visible = false;
      m.receipt = `r${receiptSeq++}`;
    }
    return { Messages: out.map((m) => ({ MessageId: m.id, ReceiptHandle: m.receipt, Body: m.body, Attributes: { SentTimestamp: String(m.sentAt) }, MessageAttributes: m.attrs })) };
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
    ['unknown state machine', () => spoolTask({ key: 'x', stateMachineArn: SM_UNKNOWN }), /unknown state machine/],
    ['unknown kind', () => spool({ ...spoolMessage({ key: 'x' }), kind: 'Weird' }), /unknown kind/],
    ['ProducerFailed', () => spoolTask({ key: 'x', kind: 'ProducerFailed' }), /ProducerFailed.*re-run the tick/],
    ['too many replays (attempt > MAX_REPLAYS)', () => spoolTask({ key: 'x', attempt: 6 }), /too many replays/],
  ];
  test.each(cases)('%s: moved to quarantine with the original body and a reason, never started', async (_name, add, reason) => {
    add();
    const original = queue[0].body;
    const s = await run({});
    expect(s).toMatchObject({ invalid: 1, started: 0, remaining: 0 });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(quarantined).toEqual([{ body: original, reason: expect.stringMatching(reason) }]);
    expect(s.items[0].reason).toMatch(reason);
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

describe('redrive mode', () => {
  const execArn = (name: string) => `${SM_A.replace(':stateMachine:', ':execution:')}:${name}`;

  test('redrives the failed execution instead of starting a new one', async () => {
    spoolTask({ key: 'r', executionArn: execArn('job-a-20261125T0300Z-r-a1') });
    sfnMock.on(RedriveExecutionCommand).resolves({ redriveDate: new Date(clock) });
    const s = await run({ mode: 'redrive' });
    expect(s).toMatchObject({ redriven: 1, started: 0, remaining: 0 });
    expect(sfnMock.commandCalls(RedriveExecutionCommand)[0].args[0].input).toMatchObject({ executionArn: execArn('job-a-20261125T0300Z-r-a1'), clientToken: 'm0' });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  test('falls back to a new start where redrive is refused', async () => {
    spoolTask({ key: 'old', executionArn: execArn('job-a-20261125T0300Z-old-a1') });
    sfnMock.on(RedriveExecutionCommand).rejects(Object.assign(new Error('older than 14 days'), { name: 'ExecutionNotRedrivable' }));
    sfnMock.on(DescribeExecutionCommand).resolves({ status: 'FAILED', redriveCount: 0 });
    const s = await run({ mode: 'redrive' });
    expect(s).toMatchObject({ redriven: 0, started: 1 });
    expect(starts()[0].name).toBe(executionNameFor('job-a-20261125T0300Z-old', 2));
  });

  test('refused because an earlier (crashed) run already redrove it: alreadyStarted, no new start', async () => {
    spoolTask({ key: 'again', executionArn: execArn('job-a-20261125T0300Z-again-a1') });
    sfnMock.on(RedriveExecutionCommand).rejects(Object.assign(new Error('running'), { name: 'ExecutionNotRedrivable' }));
    sfnMock.on(DescribeExecutionCommand).resolves({ status: 'RUNNING', redriveCount: 1, redriveDate: new Date(clock + 1) });
    const s = await run({ mode: 'redrive' });
    expect(s).toMatchObject({ alreadyStarted: 1, started: 0 });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  test('StartFailed messages (no execution) are started even in redrive mode', async () => {
    spoolTask({ key: 'sf', kind: 'StartFailed' });
    const s = await run({ mode: 'redrive' });
    expect(s).toMatchObject({ started: 1 });
    expect(sfnMock.commandCalls(RedriveExecutionCommand)).toHaveLength(0);
  });
});
