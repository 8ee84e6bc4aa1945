/**
 * Reprocess acting on the quarantine (`source: "quarantine"`), rule by rule, against
 * aws-sdk-client-mock: one in-memory queue per queue URL behind the mocked SQS client (so it is
 * visible which queue was read, deleted from or sent to), a scripted StartExecution and
 * DescribeExecution, and a fake clock.
 */
import { DeleteMessageBatchCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand, StartExecutionCommandInput } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { drain, DrainDeps } from '../lambdas/reprocess/drain';
import { ReplayHolds } from '../lambdas/reprocess/holds';
import { parsePayload, ReprocessPayload } from '../lambdas/reprocess/payload';
import { executionNameFor, taskIdFor } from '../lambdas/shared/names';
import { QUARANTINE_ATTR_REASON, SpoolMessage } from '../lambdas/shared/spool-message';
import { executionArnOf, JOBS, SM_A, spoolAttributes, spoolMessage } from './reprocess-fixtures';
import { FakeQueueMessage, FakeSqs } from './support/fake-sqs';

const SPOOL = 'https://sqs.us-east-1.amazonaws.com/123456789012/spool';
const QUARANTINE = 'https://sqs.us-east-1.amazonaws.com/123456789012/quarantine';
const sqsMock = mockClient(SQSClient);
const sfnMock = mockClient(SFNClient);
const sqs = new SQSClient({ region: 'us-east-1' });
const sfn = new SFNClient({ region: 'us-east-1' });

let clock = 0;
let fake: FakeSqs;
let seq = 0;
let switches: Map<string, string>;

const q = (url: string) => fake.messages(url);
const taskOf = (key: string, job = 'job-a') => taskIdFor(job, new Date('2026-11-25T03:00:00Z'), key);

/** A message in the quarantine, as reprocess or a producer put it there (body unchanged, reason attribute). */
function quarantined(body: string | SpoolMessage, reason: string, attrs: Partial<Record<'job' | 'errorType' | 'kind', string>> = {}): FakeQueueMessage {
  const s = typeof body === 'string' ? null : body;
  return fake.add(QUARANTINE, body, {
    id: `q${seq++}`,
    attrs: {
      ...(s ? spoolAttributes(s) : {}),
      ...Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, { DataType: 'String', StringValue: v as string }])),
      [QUARANTINE_ATTR_REASON]: { DataType: 'String', StringValue: reason },
    },
  });
}
const tooMany = (key: string, attempt = 6, extra: Partial<Parameters<typeof spoolMessage>[0]> = {}) =>
  quarantined(spoolMessage({ key, attempt, ...extra }), `too many replays: attempt ${attempt} > MAX_REPLAYS 5; find the cause`);

beforeEach(() => {
  clock = 1_800_000_000_000;
  seq = 0;
  fake = new FakeSqs(() => clock);
  switches = new Map();
  sqsMock.reset();
  sfnMock.reset();
  fake.install(sqsMock);
  sfnMock.on(StartExecutionCommand).callsFake((input: StartExecutionCommandInput) => ({ executionArn: executionArnOf(input.stateMachineArn!, input.name!), startDate: new Date(clock) }));
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
const run = (payload: ReprocessPayload, over: Partial<DrainDeps> = {}) => drain(deps(over), parsePayload({ source: 'quarantine', ...payload }, 10, clock));
const starts = () => sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input);
const sends = () => sqsMock.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input);
const calledOn = (url: string) => sqsMock.calls().filter((c) => (c.args[0].input as { QueueUrl?: string }).QueueUrl === url);

describe('replay from the quarantine', () => {
  test('a task past spool.maxReplays stays quarantined without force: counted invalid with the reason, released, never started or sent anywhere', async () => {
    tooMany('k1');
    const s = await run({ taskIds: [taskOf('k1')] });
    expect(s).toMatchObject({ source: 'quarantine', started: 0, invalid: 1, remaining: 1, forced: 0 });
    expect(s.items[0]).toMatchObject({ messageId: 'q0', taskId: taskOf('k1'), outcome: 'invalid', reason: expect.stringMatching(/^too many replays: attempt 6 > MAX_REPLAYS 5; .*force/) });
    expect(starts()).toHaveLength(0);
    expect(sends()).toHaveLength(0);
    expect(q(QUARANTINE)).toHaveLength(1);
    expect(q(QUARANTINE)[0].visible).toBe(true);
    // The spool is never touched by a quarantine run.
    expect(calledOn(SPOOL)).toHaveLength(0);
  });

  test('force + taskIds: replayed under the next attempt\'s name (attempt 7), resuming at the failed step, then deleted from the quarantine', async () => {
    tooMany('k1');
    tooMany('k2');
    // max 10: k2 is looked at too (and skipped); without it max would be the number of ids.
    const s = await run({ taskIds: [taskOf('k1')], force: true, max: 10 });
    expect(s).toMatchObject({ started: 1, forced: 1, resumed: 1, skipped: 1, invalid: 0, remaining: 1 });
    const [st] = starts();
    expect(st).toMatchObject({ stateMachineArn: SM_A, name: executionNameFor(taskOf('k1'), 7) });
    expect(JSON.parse(st.input!)).toMatchObject({ taskId: taskOf('k1'), attempt: 7, resume: { step: 'CallApi' } });
    expect(s.items.find((i) => i.outcome === 'started')).toMatchObject({ taskId: taskOf('k1'), forced: true, resumeAt: 'CallApi' });
    // k2 was not named: it stays, untouched.
    expect(q(QUARANTINE).map((m) => JSON.parse(m.body).taskId)).toEqual([taskOf('k2')]);
    expect(sends()).toHaveLength(0);
  });

  test('force does not lift the forged-replay checks: a task id its job, tick and key do not derive stays quarantined', async () => {
    const forged = spoolMessage({ key: 'k3', attempt: 6 });
    const bad = { ...forged, taskId: 'job-a-20261125T0300Z-someone-else', input: { ...forged.input!, taskId: 'job-a-20261125T0300Z-someone-else' } };
    quarantined(bad, 'too many replays: attempt 6 > MAX_REPLAYS 5');
    const s = await run({ taskIds: ['job-a-20261125T0300Z-someone-else'], force: true });
    expect(s).toMatchObject({ started: 0, invalid: 1 });
    expect(s.items[0].reason).toMatch(/^may be forged/);
    expect(starts()).toHaveLength(0);
    expect(q(QUARANTINE)).toHaveLength(1);
  });

  test('force does not replay into a held dependency: counted held, left in the quarantine', async () => {
    tooMany('k4');
    switches.set('orders-api', 'on');
    const holds = new ReplayHolds({ readSwitch: async (d) => switches.get(d) === 'on', windows: {}, timeZone: 'Asia/Tokyo', now: () => clock });
    const s = await run({ taskIds: [taskOf('k4')], force: true }, { holds });
    expect(s).toMatchObject({ started: 0, held: 1, forced: 0 });
    expect(s.items[0].reason).toMatch(/orders-api/);
    expect(q(QUARANTINE)).toHaveLength(1);
  });

  test('an ended execution is looked at first: RUNNING again (redriven) is deleted as already handled, not replayed', async () => {
    const arn = executionArnOf(SM_A, executionNameFor(taskOf('k5'), 6));
    tooMany('k5', 6, { kind: 'ExecutionEnded', executionArn: arn, error: 'ExecutionTimedOut' });
    sfnMock.on(DescribeExecutionCommand).resolves({ status: 'RUNNING', redriveCount: 1 });
    const s = await run({ taskIds: [taskOf('k5')], force: true });
    expect(s).toMatchObject({ started: 0, alreadyHandled: 1 });
    expect(sfnMock.commandCalls(DescribeExecutionCommand)[0].args[0].input).toMatchObject({ executionArn: arn, includedData: 'METADATA_ONLY' });
    expect(q(QUARANTINE)).toHaveLength(0);
  });

  test('a name that already exists (an earlier forced replay) counts alreadyStarted and leaves the quarantine', async () => {
    tooMany('k6');
    sfnMock.on(StartExecutionCommand).rejects(Object.assign(new Error('exists'), { name: 'ExecutionAlreadyExists' }));
    const s = await run({ taskIds: [taskOf('k6')], force: true });
    expect(s).toMatchObject({ started: 0, alreadyStarted: 1 });
    expect(q(QUARANTINE)).toHaveLength(0);
  });

  test('a rejected spec is never replayed: it stays, and the reason points to a replan of its tick', async () => {
    quarantined(spoolMessage({ key: 'k7', kind: 'Rejected', error: 'InvalidTaskSpec' }), 'InvalidTaskSpec: task #3: params must be plain JSON');
    const s = await run({ job: 'job-a', errorType: 'InvalidTaskSpec', max: 5 });
    expect(s).toMatchObject({ started: 0, invalid: 1 });
    expect(s.items[0].reason).toMatch(/re-plan its tick \(tick rerun --replan\)/);
    expect(q(QUARANTINE)).toHaveLength(1);
  });

  test('a replayable message (e.g. its state machine check passes now) is replayed from the quarantine without force', async () => {
    quarantined(spoolMessage({ key: 'k8', attempt: 2 }), 'StartExecution refused it: StateMachineDoesNotExist');
    const s = await run({ messageIds: ['q0'] });
    expect(s).toMatchObject({ started: 1, forced: 0 });
    expect(starts()[0].name).toBe(executionNameFor(taskOf('k8'), 3));
    expect(q(QUARANTINE)).toHaveLength(0);
  });

  test('a Step Functions refusal on the replay leaves the message where it is (never a second copy)', async () => {
    tooMany('k9');
    sfnMock.on(StartExecutionCommand).rejects(Object.assign(new Error('bad'), { name: 'InvalidExecutionInput' }));
    const s = await run({ taskIds: [taskOf('k9')], force: true });
    expect(s).toMatchObject({ started: 0, invalid: 1 });
    expect(q(QUARANTINE)).toHaveLength(1);
    expect(sends()).toHaveLength(0);
  });

  test('dry run: says what would start, starts and deletes nothing', async () => {
    tooMany('k10');
    const s = await run({ taskIds: [taskOf('k10')], force: true, dryRun: true });
    expect(s).toMatchObject({ dryRun: true, wouldStart: 1, started: 0 });
    expect(starts()).toHaveLength(0);
    expect(sqsMock.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
    expect(q(QUARANTINE)[0].visible).toBe(true);
  });
});

describe('drop from the quarantine', () => {
  test('by message id: exactly those are deleted; the summary lists ids, names and the reason without its detail, never params', async () => {
    quarantined('not json at all {', 'body is not JSON', { job: 'job-a', errorType: 'ExternalApiUnavailableError' });
    tooMany('d1');
    quarantined(spoolMessage({ key: 'd2', kind: 'Rejected', error: 'InvalidTaskSpec' }), 'InvalidTaskSpec: task #2: params must be plain JSON -- {"email":"d2@example.com"}');
    const s = await run({ messageIds: ['q0', 'q2'], drop: true });
    expect(s).toMatchObject({ dropped: 2, wouldDrop: 0, skipped: 1, started: 0, remaining: 1 });
    expect(q(QUARANTINE).map((m) => m.id)).toEqual(['q1']);
    expect(s.items.filter((i) => i.outcome === 'dropped')).toEqual([
      expect.objectContaining({ messageId: 'q0', taskId: null, job: 'job-a', reason: 'body is not JSON' }),
      expect.objectContaining({ messageId: 'q2', taskId: taskOf('d2'), error: 'InvalidTaskSpec', reason: 'InvalidTaskSpec: task #2: params must be plain JSON' }),
    ]);
    expect(JSON.stringify(s)).not.toContain('@example.com');
    expect(starts()).toHaveLength(0);
  });

  test('dry run of a drop lists what would go and deletes nothing', async () => {
    tooMany('d3');
    const s = await run({ taskIds: [taskOf('d3')], drop: true, dryRun: true });
    expect(s).toMatchObject({ wouldDrop: 1, dropped: 0 });
    expect(sqsMock.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
    expect(q(QUARANTINE)).toHaveLength(1);
  });

  test('by job + errorType + max: only matching messages, at most max, malformed bodies selected by their attributes', async () => {
    quarantined('{', 'body is not JSON', { job: 'job-a', errorType: 'InvalidTaskSpec' });
    for (const k of ['e1', 'e2', 'e3']) quarantined(spoolMessage({ key: k, kind: 'Rejected', error: 'InvalidTaskSpec' }), 'InvalidTaskSpec: x');
    quarantined(spoolMessage({ key: 'e4', job: 'job-b', kind: 'Rejected', error: 'InvalidTaskSpec' }), 'InvalidTaskSpec: x');
    const s = await run({ job: 'job-a', errorType: 'InvalidTaskSpec', max: 3, drop: true });
    expect(s).toMatchObject({ dropped: 3, stoppedBecause: 'max' });
    // The job-b message is never dropped; one job-a message is left by max.
    expect(q(QUARANTINE).map((m) => JSON.parse(m.body === '{' ? '{"job":"job-a"}' : m.body).job).sort()).toEqual(['job-a', 'job-b']);
  });
});
