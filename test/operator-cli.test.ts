/**
 * The operator CLI end to end with no AWS: its real SDK clients (default credential chain, endpoints
 * from AWS_ENDPOINT_URL_<SERVICE>) against the synthesized stack's outputs and the local engines of
 * test/support/operator-world.ts. Every command's table and --json output, --help of every command,
 * and the errors an operator meets first.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { fixtureConfig } from './support/fixture-config';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { dynamoHoldSwitch, HoldChecker } from '../lambdas/shared/holds';
import { executionNameFor, taskIdFor, tickStamp } from '../lambdas/shared/names';
import { buildClientRecord, buildWorkerRecord, ParamLogRecord } from '../lambdas/shared/param-log';
import { TASK_BY_ID } from '../lambdas/shared/queries';
import { SPOOL_ATTR_ERROR, SPOOL_ATTR_FIRST_SENT, SPOOL_ATTR_JOB, SPOOL_ATTR_KIND, SpoolMessage } from '../lambdas/shared/spool-message';
import { AppConfig } from '../lib/config/types';
import { writeLogObject } from '../local/param-log-fixture';
import { OPENED_MARK } from '../lambdas/shared/safe-error';
import { runCli } from '../cli/main';
import { CliDeps } from '../cli/io';
import { ACCOUNT, OPERATOR_ARN, OperatorWorld, REGION, REPROCESS_FUNCTION, STACK, startOperatorWorld, TABLE } from './support/operator-world';

const TZ = fixtureConfig.timeZone;
const DAY_MS = 86_400_000;
/**
 * The tick of the seeded tasks (hh:05, three to four hours before the run). Relative to the real
 * clock because the reprocess function behind `replay` and `task` quarantines ticks older than
 * MAX_REPLAY_TICK_AGE_MS on the real clock: a fixed date here stops being replayable as the calendar moves.
 */
const TICK = new Date(Math.floor((Date.now() - 2 * 3_600_000) / 3_600_000) * 3_600_000 - 55 * 60_000);
const STAMP = tickStamp(TICK);
const TASK = `example-api-${STAMP}-order-42`;
const TASK_Q = `example-api-${STAMP}-order-7`;
const SECRET = 'Jane Doe, 1-2-3 Shibuya';
/** A date (yyyy-MM-dd) and time (HH:mm) in the app's time zone, as the CLI prints them. */
const dayIn = (d: Date) => new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
const timeIn = (d: Date) => new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(d);
/** The tick of the seeded failed producer invocation: recent (a replan needs a tick of the last 30 days). */
const FAILED_TICK = new Date(Math.floor((Date.now() - 2 * 3_600_000) / 300_000) * 300_000).toISOString();

let world: OperatorWorld;
let logRoot: string;
let sqs: SQSClient;

/** Runs the CLI in-process on the fixture config (unless `deps` names another) and captures its output. */
async function cli(args: string[], deps: Partial<CliDeps> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => (out += s), err: (s) => (err += s) }, { config: fixtureConfig, ...deps });
  return { code, out, err };
}

/** The envelope a producer made for `taskId` (`<job>-<yyyyMMddTHHmmZ>-<key>`): reprocess refuses any other (forged). */
const envelope = (taskId: string, job: string, attempt = 1): TaskEnvelope => {
  const stamp = taskId.slice(job.length + 1, job.length + 15);
  const scheduledTime = `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:00.000Z`;
  const key = taskId.slice(job.length + 16);
  expect(taskIdFor(job, new Date(scheduledTime), key)).toBe(taskId);
  return { v: 1, taskId, job, key, params: { customer: SECRET }, attempt, scheduledTime };
};

function spoolBody(taskId: string, job: string, error: string, attempt = 1): SpoolMessage {
  const sm = world.stateMachines.get(job) as string;
  // A step of the job (reprocess refuses to resume at a step the job no longer has).
  const failedState = job === 'example-fanout' ? 'ProcessParts' : 'CallApi';
  return {
    version: 1,
    kind: 'ExecutionFailed',
    job,
    taskId,
    input: envelope(taskId, job, attempt),
    error,
    cause: '{"errorMessage":"503"}',
    failedState,
    // What the failed step was given (for CallApi, Fetch's output): a replay resumes there.
    stepInput: { orderId: 'o-1', amountMinor: 100, currency: 'JPY' },
    executionArn: `${sm.replace(':stateMachine:', ':execution:')}:${executionNameFor(taskId, attempt)}`,
    stateMachineArn: sm,
  };
}

async function send(queueUrl: string, body: string, attrs: Record<string, string>): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: body,
      MessageAttributes: Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, { DataType: 'String', StringValue: v }])),
    }),
  );
}

const spoolAttrs = (m: SpoolMessage, extra: Record<string, string> = {}) => ({ [SPOOL_ATTR_JOB]: m.job, [SPOOL_ATTR_ERROR]: m.error, [SPOOL_ATTR_KIND]: m.kind, ...extra });

beforeAll(async () => {
  // The parameter log of TASK as Firehose would have written it: started, failed in CallApi, replayed, failed again.
  logRoot = mkdtempSync(join(tmpdir(), 'operator-cli-log-'));
  const put = (rec: ParamLogRecord, when: Date, name: string) => writeLogObject(logRoot, [rec], new Date(when.getTime() + 30_000), TZ, name);
  const t0 = new Date(TICK.getTime() + 10_000);
  world = await startOperatorWorld({ logRoot });
  const sm = world.stateMachines.get('example-api') as string;
  // Execution ARNs as the workflow records them: the job's state machine, deterministic names.
  const arn = (attempt: number) => `${sm.replace(':stateMachine:', ':execution:')}:${executionNameFor(TASK, attempt)}`;
  put(buildClientRecord({ envelope: envelope(TASK, 'example-api'), result: 'Started', now: t0, timeZone: TZ, executionArn: arn(1) }), t0, 'c1');
  put(buildWorkerRecord({ envelope: envelope(TASK, 'example-api'), now: new Date(t0.getTime() + 60_000), timeZone: TZ, executionArn: arn(1), error: 'ExternalApiUnavailableError', cause: `503${OPENED_MARK}API down for ${SECRET}`, failedState: 'CallApi' }), t0, 'w1');
  put(buildWorkerRecord({ envelope: envelope(TASK, 'example-api', 2), now: new Date(t0.getTime() + 3_600_000), timeZone: TZ, executionArn: arn(2), error: 'States.Timeout', cause: 'timeout', failedState: 'Publish' }), t0, 'w2');
  put(buildClientRecord({ envelope: envelope(`example-api-${STAMP}-other`, 'example-api'), result: 'Started', now: t0, timeZone: TZ, executionArn: null }), t0, 'c-other');
  sqs = new SQSClient({});

  // Executions of TASK: attempt 1 and 2 failed; the spool holds attempt 2's failure.
  world.sfn.seed({ stateMachineArn: sm, name: executionNameFor(TASK, 1), input: '{}', status: 'FAILED' });
  world.sfn.seed({ stateMachineArn: sm, name: executionNameFor(TASK, 2), input: '{}', status: 'FAILED' });
}, 120_000);

afterAll(async () => {
  await world?.stop();
  rmSync(logRoot, { recursive: true, force: true });
});

/** A fresh spool, quarantine and failed-invocations content for each test that needs messages. */
async function seedQueues(): Promise<void> {
  const now = Date.now();
  const api = (i: number) => spoolBody(`example-api-${STAMP}-k${i}`, 'example-api', 'ExternalApiUnavailableError');
  for (let i = 0; i < 3; i++) await send(world.queues.urls.spool, JSON.stringify(api(i)), spoolAttrs(api(i)));
  // Re-sent by the sweeper: its first spooling was 3 days ago (its SentTimestamp is now).
  const old = spoolBody(`example-fanout-${tickStamp(new Date(TICK.getTime() - 3 * DAY_MS + 10 * 60_000))}-acct-1`, 'example-fanout', 'States.Timeout');
  await send(world.queues.urls.spool, JSON.stringify(old), spoolAttrs(old, { [SPOOL_ATTR_FIRST_SENT]: String(now - 3 * DAY_MS) }));
  const mine = spoolBody(TASK, 'example-api', 'States.Timeout', 2);
  await send(world.queues.urls.spool, JSON.stringify(mine), spoolAttrs(mine));
  const q = spoolBody(TASK_Q, 'example-api', 'ExternalApiUnavailableError', 6);
  await send(world.queues.urls.quarantine, JSON.stringify(q), { ...spoolAttrs(q), reason: 'too many replays: attempt 6 > MAX_REPLAYS 5; investigate before replaying by hand' });
  await send(
    world.queues.urls.failedInvocations,
    JSON.stringify({ requestContext: { functionArn: `${world.producer.functionArn}:$LATEST`, condition: 'RetriesExhausted', approximateInvokeCount: 3 }, requestPayload: { scheduledTime: FAILED_TICK } }),
    {},
  );
}

async function drainAll(): Promise<void> {
  for (const url of Object.values(world.queues.urls)) {
    for (;;) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      if (!r.Messages?.length) break;
      for (const m of r.Messages) await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
    }
  }
}

describe('--help', () => {
  test.each(['replay', 'hold', 'unhold', 'task', 'status', 'tick rerun'])('%s --help lists its own and the common options, exit 0', async (cmd) => {
    const r = await cli([...cmd.split(' '), '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Usage: scheduled-jobs ${cmd}`);
    for (const opt of ['--stage <stage>', '--region <region>', '--profile <profile>', '--json']) expect(r.out).toContain(opt);
  });

  test('the program lists every command', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const cmd of ['replay', 'tick', 'hold', 'unhold', 'task', 'status']) expect(r.out).toMatch(new RegExp(`\\n  ${cmd} `));
  });

  test('an unknown option is a usage error (exit 2) with the help hint', async () => {
    const r = await cli(['replay', '--dryrun']);
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown option '--dryrun'");
  });
});

describe('status', () => {
  beforeAll(seedQueues);
  afterAll(drainAll);

  test('table: queues with the oldest first-spooled age, spool by job and error, quarantine by reason, failed invocations by function, holds, alarms in ALARM', async () => {
    const alarm = world.alarmNames.find((n) => n.includes('SpoolNotEmpty')) as string;
    world.cloudWatch.alarms.get(alarm)!.StateValue = 'ALARM';
    try {
      const r = await cli(['status']);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toContain(`${STACK} in ${REGION} (account ${ACCOUNT})`);
      expect(r.out).toMatch(/spool\s+5\s+0\s+0\s+3d/);
      expect(r.out).toMatch(/quarantine\s+1\s+0\s+0\s+\d+s/);
      expect(r.out).toMatch(/failedInvocations\s+1\s+0\s+0/);
      expect(r.out).toMatch(/example-api\s+ExternalApiUnavailableError\s+3\s/);
      expect(r.out).toMatch(/example-fanout\s+States\.Timeout\s+1\s+3d/);
      expect(r.out).toMatch(/example-api\s+States\.Timeout\s+1\s/);
      expect(r.out).toContain('too many replays: attempt 6 > MAX_REPLAYS 5');
      expect(r.out).toMatch(new RegExp(`${world.producer.functionName.slice(0, 30)}\\S*\\s+1`));
      expect(r.out).toMatch(/orders-api\s+no\s+off/);
      expect(r.out).toContain(`Alarms: 1 of ${world.alarmNames.length} in ALARM`);
      expect(r.out).toContain(alarm);
      expect(r.out).not.toContain(SECRET);
    } finally {
      world.cloudWatch.alarms.get(alarm)!.StateValue = 'OK';
    }
    // Every message looked at was released at once: all ready again, none in flight.
    for (const [name, n] of [[world.queues.spool, 5], [world.queues.quarantine, 1], [world.queues.failedInvocations, 1]] as const) {
      const s = await world.sqs.inspectQueue(name);
      expect({ name, ready: s.ready, inflight: s.inflight }).toEqual({ name, ready: n, inflight: 0 });
    }
  });

  test('--json: the same figures for scripts', async () => {
    const r = await cli(['status', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s).toMatchObject({ stack: STACK, region: REGION, account: ACCOUNT, caller: OPERATOR_ARN });
    const spool = s.queues.find((q: { queue: string }) => q.queue === 'spool');
    expect(spool.counts).toEqual({ visible: 5, inFlight: 0, delayed: 0 });
    expect(spool.groups).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ job: 'example-api', error: 'ExternalApiUnavailableError', count: 3 }),
        expect.objectContaining({ job: 'example-fanout', error: 'States.Timeout', count: 1 }),
      ]),
    );
    expect(spool.oldestAgeMs).toBeGreaterThanOrEqual(3 * DAY_MS - 60_000);
    expect(spool.oldestAgeMs).toBeLessThan(3 * DAY_MS + 60_000);
    expect(s.alarms).toEqual({ total: world.alarmNames.length, inAlarm: [] });
    expect(s.holds).toEqual([expect.objectContaining({ dependency: 'orders-api', heldBy: null })]);
    expect(r.out).not.toContain(SECRET);
  });

  test('flags alarm subscriptions nobody confirmed (SNS lists them PendingConfirmation), and says nothing when all are confirmed', async () => {
    const [topic, subs] = [...world.sns.topics][0];
    const ok = await cli(['status']);
    expect(ok.out).not.toContain('Alarm subscriptions');
    expect(JSON.parse((await cli(['status', '--json'])).out).subscriptions).toEqual([{ topicArn: topic, confirmed: 1, pending: [], error: null }]);
    subs.push({ Protocol: 'email', Endpoint: 'new-oncall@example.com', SubscriptionArn: 'PendingConfirmation' });
    try {
      const r = await cli(['status']);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`UNCONFIRMED: email new-oncall@example.com on ${topic}`);
      subs[0].SubscriptionArn = 'PendingConfirmation';
      expect((await cli(['status'])).out).toContain(`NOBODY: ${topic} has no confirmed subscription`);
    } finally {
      subs.pop();
      subs[0].SubscriptionArn = `${topic}:confirmed`;
    }
  });

  test('--no-peek reads no message: counts only', async () => {
    const before = await world.sqs.inspectQueue(world.queues.spool);
    const r = await cli(['status', '--no-peek', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.queues.map((q: { groups: unknown }) => q.groups)).toEqual([null, null, null]);
    expect(s.queues[0].counts.visible).toBe(5);
    expect((await world.sqs.inspectQueue(world.queues.spool)).ready).toBe(before.ready);
  });
});

describe('replay', () => {
  beforeEach(seedQueues);
  afterEach(drainAll);

  test('--dry-run: the reprocess function\'s summary as a table; nothing moves', async () => {
    const n = world.lambda.invocations.length;
    const r = await cli(['replay', '--dry-run', '--max', '100']);
    expect(r.code).toBe(0);
    expect(world.lambda.invocations.slice(n)).toEqual([{ functionName: REPROCESS_FUNCTION, payload: { dryRun: true, max: 100 }, invocationType: 'RequestResponse' }]);
    expect(r.out).toContain('Dry run (nothing started, deleted or moved)');
    expect(r.out).toMatch(/wouldStart\s+5/);
    expect(r.out).toMatch(/Left in the spool: 5/);
    expect(r.out).toMatch(new RegExp(`example-api-${STAMP}-k0\\s+example-api\\s+ExternalApiUnavailableError\\s+wouldStart`));
    expect(r.out).not.toContain(SECRET);
    expect((await world.sqs.inspectQueue(world.queues.spool)).ready).toBe(5);
  });

  test('--json with --job and --max: starts that job\'s failures only, attempt + 1', async () => {
    const r = await cli(['replay', '--job', 'example-api', '--error-type', 'ExternalApiUnavailableError', '--max', '2', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s).toMatchObject({ dryRun: false, started: 2, stoppedBecause: 'max' });
    expect(world.lambda.invocations.at(-1)?.payload).toEqual({ job: 'example-api', errorType: 'ExternalApiUnavailableError', max: 2 });
    const started = [...world.sfn.executions.values()].filter((e) => /-k\d-a2$/.test(e.name));
    expect(started).toHaveLength(2);
  });

  test('--task-id and --from are passed through as payload fields', async () => {
    await cli(['replay', '--task-id', `${TASK},x-20261125T0305Z-y`, '--task-id', 'z-20261125T0305Z-w', '--from', 'failed-step', '--dry-run']);
    expect(world.lambda.invocations.at(-1)?.payload).toEqual({ dryRun: true, taskIds: [TASK, 'x-20261125T0305Z-y', 'z-20261125T0305Z-w'], from: 'failed-step' });
  });

  test('--mode is gone (the function refuses it): an unknown option, nothing invoked (exit 2)', async () => {
    const n = world.lambda.invocations.length;
    const r = await cli(['replay', '--mode', 'redrive']);
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown option '--mode'");
    expect(world.lambda.invocations.length).toBe(n);
  });

  test('a payload the function refuses: its message, exit 1, nothing touched', async () => {
    const r = await cli(['replay', '--older-than', 'yesterday']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('The reprocess function failed: InvalidPayloadError: payload field "olderThan"');
    expect(r.err).toContain('Nothing was touched');
    expect((await world.sqs.inspectQueue(world.queues.spool)).ready).toBe(5);
  });

  test('an unknown job is refused before anything is invoked (exit 2)', async () => {
    const n = world.lambda.invocations.length;
    const r = await cli(['replay', '--job', 'exampel-api']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('Unknown job "exampel-api"');
    expect(r.err).toContain('example-api, example-fanout');
    expect(world.lambda.invocations.length).toBe(n);
  });
});

describe('replay --source quarantine', () => {
  beforeEach(seedQueues);
  afterEach(drainAll);
  const quarantinedIds = async () => (await world.sqs.inspectQueue(world.queues.quarantine)).all.map((m) => (JSON.parse(m.body) as SpoolMessage).taskId);

  test('without a selection the function refuses it (nothing leaves the quarantine by accident)', async () => {
    const r = await cli(['replay', '--source', 'quarantine']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('payload field "selection"');
    expect(await quarantinedIds()).toEqual([TASK_Q]);
  });

  test('a task past maxReplays: a replay leaves it (why in the table); --force with its --task-id starts it as attempt 7 and it leaves the quarantine', async () => {
    const kept = await cli(['replay', '--source', 'quarantine', '--task-id', TASK_Q]);
    expect(kept.code).toBe(0);
    expect(world.lambda.invocations.at(-1)?.payload).toEqual({ source: 'quarantine', taskIds: [TASK_Q] });
    expect(kept.out).toContain('Replay from the quarantine');
    expect(kept.out).toMatch(/invalid\s+1/);
    expect(kept.out).toMatch(new RegExp(`${TASK_Q}\\s+example-api\\s+ExternalApiUnavailableError\\s+invalid\\s+too many replays`));
    expect(kept.out).toContain('Left in the quarantine: 1');
    const forced = await cli(['replay', '--source', 'quarantine', '--task-id', TASK_Q, '--force']);
    expect(forced.code).toBe(0);
    expect(world.lambda.invocations.at(-1)?.payload).toEqual({ source: 'quarantine', force: true, taskIds: [TASK_Q] });
    expect(forced.out).toMatch(/started\s+1/);
    expect(forced.out).toMatch(/forced\s+1/);
    expect(world.sfn.executions.has(`${world.stateMachines.get('example-api')!.replace(':stateMachine:', ':execution:')}:${executionNameFor(TASK_Q, 7)}`)).toBe(true);
    expect(await quarantinedIds()).toEqual([]);
    expect(forced.out).not.toContain(SECRET);
  });

  test('--drop --dry-run lists the message ids; --drop --message-id deletes exactly that one', async () => {
    const look = await cli(['replay', '--source', 'quarantine', '--task-id', TASK_Q, '--drop', '--dry-run', '--json']);
    expect(look.code).toBe(0);
    const s = JSON.parse(look.out);
    expect(s).toMatchObject({ source: 'quarantine', dryRun: true, wouldDrop: 1, dropped: 0 });
    const messageId = s.items[0].messageId as string;
    expect(await quarantinedIds()).toEqual([TASK_Q]);
    const r = await cli(['replay', '--source', 'quarantine', '--message-id', messageId, '--drop']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Drop from the quarantine');
    expect(r.out).toMatch(/dropped\s+1/);
    expect(r.out).toContain(messageId);
    expect(await quarantinedIds()).toEqual([]);
  });

  test('flags of another source are usage errors, before anything is invoked (exit 2)', async () => {
    const n = world.lambda.invocations.length;
    for (const args of [['replay', '--force', '--task-id', TASK], ['replay', '--source', 'quarantine', '--force', '--job', 'example-api'], ['replay', '--drop'], ['replay', '--source', 'quarantine', '--function', 'sweeper', '--task-id', TASK]]) {
      const r = await cli(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
    }
    expect(world.lambda.invocations.length).toBe(n);
  });
});

describe('replay --source failed-invocations', () => {
  beforeEach(seedQueues);
  afterEach(async () => {
    await world.lambda.idle();
    await drainAll();
  });
  const records = async () => (await world.sqs.inspectQueue(world.queues.failedInvocations)).all.length;

  test('--dry-run lists the record (function, condition, the tick); re-running invokes the real producer asynchronously, which plans the tick, and deletes the record', async () => {
    const look = await cli(['replay', '--source', 'failed-invocations', '--dry-run']);
    expect(look.code).toBe(0);
    expect(world.lambda.invocations.at(-1)?.payload).toEqual({ source: 'failedInvocations', dryRun: true });
    expect(look.out).toContain('Dry run of the re-run of failed invocations');
    expect(look.out).toMatch(new RegExp(`producer:example-api\\s+RetriesExhausted\\s+-\\s+${FAILED_TICK.replace(/[.]/g, '\\.')}\\s+wouldReinvoke`));
    expect(await records()).toBe(1);

    const tickBefore = (await world.sqs.inspectQueue(world.queues.tick)).all.length;
    const r = await cli(['replay', '--source', 'failed-invocations', '--job', 'example-api']);
    expect(r.code).toBe(0);
    expect(world.lambda.invocations.filter((i) => i.functionName === REPROCESS_FUNCTION).at(-1)?.payload).toEqual({ source: 'failedInvocations', job: 'example-api' });
    expect(r.out).toMatch(/reinvoked\s+1/);
    await world.lambda.idle();
    expect(world.lambda.invocations.filter((i) => i.functionName === world.producer.functionName).at(-1)).toEqual({ functionName: world.producer.functionName, payload: { scheduledTime: FAILED_TICK }, invocationType: 'Event' });
    expect(await records()).toBe(0);
    // The producer planned the tick: its batch is in the tick queue for the starters.
    const batches = (await world.sqs.inspectQueue(world.queues.tick)).all.slice(tickBefore).map((m) => JSON.parse(m.body));
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({ job: 'example-api', tick: FAILED_TICK.replace(/[-:]/g, '').slice(0, 13) + 'Z' });
  });

  test('--drop needs --message-id (or a function and --max): the function refuses a bare drop; with the id it deletes the record and invokes nothing', async () => {
    const bare = await cli(['replay', '--source', 'failed-invocations', '--drop']);
    expect(bare.code).toBe(1);
    expect(bare.err).toContain('payload field "drop"');
    const look = JSON.parse((await cli(['replay', '--source', 'failed-invocations', '--dry-run', '--json'])).out);
    const n = world.lambda.invocations.length;
    const r = await cli(['replay', '--source', 'failed-invocations', '--drop', '--message-id', look.items[0].messageId]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/dropped\s+1/);
    expect(world.lambda.invocations.slice(n).map((i) => i.functionName)).toEqual([REPROCESS_FUNCTION]);
    expect(await records()).toBe(0);
  });
});

describe('tick rerun', () => {
  afterEach(async () => {
    await world.lambda.idle();
    await drainAll();
  });
  const tick = () => new Date(Math.floor((Date.now() - 3 * 3_600_000) / 300_000) * 300_000);
  const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').slice(0, 13) + 'Z';

  test('a tick not planned yet is planned; run again it plans nothing (and says how to replan); --replan plans it again as a new plan', async () => {
    const t = tick();
    const first = await cli(['tick', 'rerun', '--job', 'example-api', '--tick', stamp(t)]);
    expect(first.code).toBe(0);
    expect(world.lambda.invocations.find((i) => i.functionName === REPROCESS_FUNCTION && (i.payload as { source?: string }).source === 'tick' && !(i.payload as { replan?: boolean }).replan)?.payload).toEqual({
      source: 'tick',
      job: 'example-api',
      tick: stamp(t),
    });
    expect(first.out).toContain(`Re-run of tick ${t.toISOString()} of example-api (producer:example-api): invoked`);
    expect(first.out).toMatch(/outcome\s+planned/);
    const again = await cli(['tick', 'rerun', '--job', 'example-api', '--tick', stamp(t)]);
    expect(again.out).toMatch(/outcome\s+alreadyPlanned/);
    expect(again.out).toContain('add --replan');
    const before = (await world.sqs.inspectQueue(world.queues.tick)).all.length;
    const replan = await cli(['tick', 'rerun', '--job', 'example-api', '--tick', t.toISOString(), '--replan', '--json']);
    expect(replan.code).toBe(0);
    expect(JSON.parse(replan.out)).toMatchObject({ source: 'tick', outcome: 'invoked', replan: true, producer: { outcome: 'planned', replanned: 1, tasks: 3 } });
    const batches = (await world.sqs.inspectQueue(world.queues.tick)).all.slice(before).map((m) => JSON.parse(m.body));
    expect(batches).toHaveLength(1);
    expect(batches[0].batchId).toMatch(/r1#0$/);
  });

  test('--dry-run invokes no producer; missing --job or --tick and a tick in the future are refused', async () => {
    const n = world.lambda.invocations.length;
    const dry = await cli(['tick', 'rerun', '--job', 'example-api', '--tick', stamp(tick()), '--replan', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain('Dry run: replan not sent');
    expect(world.lambda.invocations.slice(n).map((i) => i.functionName)).toEqual([REPROCESS_FUNCTION]);
    expect((await cli(['tick', 'rerun', '--tick', stamp(tick())])).code).toBe(2);
    expect((await cli(['tick', 'rerun', '--job', 'example-api'])).code).toBe(2);
    expect((await cli(['tick', 'rerun', '--job', 'nope', '--tick', stamp(tick())])).code).toBe(2);
    const future = await cli(['tick', 'rerun', '--job', 'example-api', '--tick', stamp(new Date(Date.now() + 2 * 3_600_000))]);
    expect(future.code).toBe(1);
    expect(future.err).toContain('payload field "tick"');
  });

  test('a tick older than 42 days is refused with the fix (its ledger may have expired: its tasks could start again); --force runs it', async () => {
    const old = new Date(Math.floor((Date.now() - 43 * 86_400_000) / 300_000) * 300_000);
    const refused = await cli(['tick', 'rerun', '--job', 'example-api', '--tick', stamp(old)]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('too old to re-run safely');
    expect(refused.err).toContain('add "force": true');
    const forced = await cli(['tick', 'rerun', '--job', 'example-api', '--tick', stamp(old), '--force', '--json']);
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.out)).toMatchObject({ source: 'tick', outcome: 'invoked', force: true, producer: { outcome: 'planned', tasks: 3 } });
  });
});

describe('hold / unhold', () => {
  const item = async () => (await world.dynamo.client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'hold#orders-api' } } }))).Item;
  const NOW = new Date('2026-11-25T18:00:00.000Z');

  test('hold <dependency> --reason: the switch the steps read is on, with who, why and since; listed as an operator hold', async () => {
    const r = await cli(['hold', 'orders-api', '--reason', 'API down, INC-1234'], { now: () => NOW });
    expect(r.code).toBe(0);
    expect(await item()).toEqual({
      pk: { S: 'hold#orders-api' },
      value: { S: 'on' },
      by: { S: OPERATOR_ARN },
      since: { S: NOW.toISOString() },
      reason: { S: 'API down, INC-1234' },
    });
    expect(r.out).toMatch(/orders-api\s+yes \(operator\)\s+on\s+arn:aws:sts::111111111111:assumed-role\/SREOperator\/jane\s+2026-11-26 03:00 Asia\/Tokyo\s+API down, INC-1234/);
    expect(r.err).toContain('orders-api is on hold');
    // The steps' own reader (Powertools DynamoDBProvider through the shared HoldChecker) sees it.
    const checker = new HoldChecker({ readSwitch: dynamoHoldSwitch(TABLE, 0), windows: {}, timeZone: TZ });
    expect(await checker.reason('orders-api')).toEqual({ source: 'operator' });
  });

  test('hold (no argument) --json lists every dependency', async () => {
    const r = await cli(['hold', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({
      stack: STACK,
      holds: [{ dependency: 'orders-api', heldBy: 'operator', switch: { on: true, reason: 'API down, INC-1234', by: OPERATOR_ARN, since: NOW.toISOString() }, window: null, nextWindow: null }],
    });
  });

  test('unhold: the switch is off (who released it is kept) and the operator is told to replay', async () => {
    const r = await cli(['unhold', 'orders-api'], { now: () => new Date(NOW.getTime() + 3_600_000) });
    expect(r.code).toBe(0);
    expect(await item()).toMatchObject({ value: { S: 'off' }, by: { S: OPERATOR_ARN } });
    expect(r.out).toMatch(/orders-api\s+no\s+off/);
    expect(r.err).toContain('replay --error-type DependencyOnHold');
    const checker = new HoldChecker({ readSwitch: dynamoHoldSwitch(TABLE, 0), windows: {}, timeZone: TZ });
    expect(await checker.reason('orders-api')).toBeNull();
  });

  test('a planned window shows as such, and unhold says it still holds until its end', async () => {
    // Sundays 02:00 Tokyo for 3 hours; 2026-11-29 03:00 Tokyo is inside it.
    const config: AppConfig = { ...fixtureConfig, dependencies: { 'orders-api': { windows: [{ cron: 'cron(0 2 ? * SUN *)', durationMinutes: 180 }] } } };
    const inWindow = new Date('2026-11-28T18:00:00.000Z');
    const list = await cli(['hold'], { config, now: () => inWindow });
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/orders-api\s+yes \(planned window\)\s+off/);
    expect(list.out).toContain('until 2026-11-29 05:00 Asia/Tokyo');
    expect(list.out).toContain('2026-12-06 02:00 Asia/Tokyo (180 min)');
    const r = await cli(['unhold', 'orders-api'], { config, now: () => inWindow });
    expect(r.err).toContain('stays held by its planned window until 2026-11-29 05:00 Asia/Tokyo');
  });

  test('a hold needs a reason; an unknown dependency lists the declared ones (exit 2)', async () => {
    const noReason = await cli(['hold', 'orders-api']);
    expect(noReason.code).toBe(2);
    expect(noReason.err).toContain('A hold needs a reason');
    const unknown = await cli(['hold', 'payments-api', '--reason', 'x']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('Unknown dependency "payments-api"');
    expect(unknown.err).toContain('Dependencies in bin/config.ts: orders-api.');
    const noDeps: AppConfig = { ...fixtureConfig, dependencies: {}, jobs: fixtureConfig.jobs.filter((j) => j.name === 'example-fanout'), stages: { dev: { jobs: { 'example-fanout': { deploy: true } } } } };
    const none = await cli(['unhold', 'orders-api'], { config: noDeps });
    expect(none.code).toBe(2);
    expect(none.err).toContain('declares no dependencies');
  });
});

describe('task <id>', () => {
  beforeAll(seedQueues);
  afterAll(drainAll);

  test('table: param-log records, executions with their failed step, waiting in the spool; no params', async () => {
    const n = world.athena.started.length;
    const r = await cli(['task', TASK]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    // The saved query itself ran in the stack's workgroup, parameters as SQL literals.
    expect(world.athena.started.slice(n)).toEqual([
      { query: TASK_BY_ID.sql, parameters: [`'${TASK}'`, `'${dayIn(TICK)}'`, `'${dayIn(new Date(TICK.getTime() + 14 * DAY_MS))}'`], workGroup: 'ScheduledJobs-dev-investigation', database: 'scheduledjobs_dev_param_log' },
    ]);
    expect(r.out).toContain(`job example-api, scheduled ${dayIn(TICK)} ${timeIn(TICK)} ${TZ}`);
    expect(r.out).toContain('3 record(s)');
    expect(r.out).toMatch(/client\s+Started\s+1/);
    expect(r.out).toMatch(/worker\s+Failure\s+1\s+ExternalApiUnavailableError\s+CallApi/);
    expect(r.out).toMatch(/worker\s+TimedOut\s+2\s+States\.Timeout\s+Publish/);
    expect(r.out).toMatch(new RegExp(`1\\s+${executionNameFor(TASK, 1)}\\s+FAILED\\s.*CallApi`));
    expect(r.out).toMatch(new RegExp(`2\\s+${executionNameFor(TASK, 2)}\\s+FAILED\\s.*Publish`));
    expect(r.out).toContain('Executions (attempts 1 to 6): 2 found');
    expect(r.out).toContain('waiting in the spool (States.Timeout): a replay would start it again');
    expect(r.out).toContain('not in the quarantine');
    expect(r.out).not.toContain(SECRET);
    // Looked at, not taken: the spool and the quarantine are as they were.
    expect((await world.sqs.inspectQueue(world.queues.spool)).ready).toBe(5);
    expect((await world.sqs.inspectQueue(world.queues.quarantine)).ready).toBe(1);
  });

  test('--json without --show-params: no params, and a worker record\'s cause without the opened error text', async () => {
    const r = await cli(['task', TASK, '--json']);
    expect(r.code).toBe(0);
    expect(r.out).not.toContain(SECRET);
    const t = JSON.parse(r.out) as { paramLog: { records: Array<{ cause: string | null; params?: string }> } };
    expect(t.paramLog.records.map((x) => x.cause)).toContain('503');
    expect(t.paramLog.records.every((x) => x.params === undefined)).toBe(true);
  });

  test('--json --show-params: the params only when asked for', async () => {
    const r = await cli(['task', TASK, '--json', '--show-params']);
    expect(r.code).toBe(0);
    const t = JSON.parse(r.out);
    expect(t.paramLog.records.map((x: { cause: string | null }) => x.cause)).toContain(`503${OPENED_MARK}API down for ${SECRET}`);
    expect(t.paramLog.records).toHaveLength(3);
    expect(t.paramLog.records[0].params).toContain(SECRET);
    expect(t.spool).toEqual({ waiting: true, messages: 1, outcome: 'wouldStart', error: 'States.Timeout', reason: null });
    expect(t.executions.map((e: { attempt: number; status: string; failedStep: string }) => [e.attempt, e.status, e.failedStep])).toEqual([
      [1, 'FAILED', 'CallApi'],
      [2, 'FAILED', 'Publish'],
    ]);
    const plain = await cli(['task', TASK, '--json']);
    expect(JSON.parse(plain.out).paramLog.records[0]).not.toHaveProperty('params');
    expect(plain.out).not.toContain(SECRET);
  });

  test('a quarantined task says why', async () => {
    const r = await cli(['task', TASK_Q]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('in the quarantine: too many replays: attempt 6 > MAX_REPLAYS 5');
    expect(r.out).toContain('not in the spool');
  });

  test('an id that is not a task id needs the days (exit 2)', async () => {
    const r = await cli(['task', 'not-a-task']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--first-day');
  });
});

describe('clear errors', () => {
  test('unknown stage (exit 2), before any AWS call', async () => {
    const calls = world.sts.regions.length;
    const r = await cli(['status', '--stage', 'prod']);
    expect(r.code).toBe(2);
    expect(r.err).toBe('Error: Unknown stage "prod"\nStages in bin/config.ts: dev.\n');
    expect(world.sts.regions.length).toBe(calls);
  });

  test('SCHEDULED_JOBS_STAGE names the stage when --stage is not given; --stage wins; a wrong one is named with its source (exit 2, no AWS call)', async () => {
    const config: AppConfig = { ...fixtureConfig, stages: { ...fixtureConfig.stages, prod: { jobs: { 'example-fanout': { deploy: true } } } } };
    const fromEnv = await cli(['status'], { config, env: { SCHEDULED_JOBS_STAGE: 'prod' } });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.err).toContain('Stack ScheduledJobs-prod not found');
    const flagWins = await cli(['status', '--stage', 'dev', '--json'], { config, env: { SCHEDULED_JOBS_STAGE: 'prod' } });
    expect(flagWins.code).toBe(0);
    const calls = world.sts.regions.length;
    const wrong = await cli(['replay', '--dry-run'], { env: { SCHEDULED_JOBS_STAGE: 'prdo' } });
    expect(wrong.code).toBe(2);
    expect(wrong.err).toBe('Error: Unknown stage "prdo" (from SCHEDULED_JOBS_STAGE)\nStages in bin/config.ts: dev. Fix SCHEDULED_JOBS_STAGE or pass --stage.\n');
    expect(world.sts.regions.length).toBe(calls);
  });

  test('stack not found: names the stack, account and region, and how to deploy it', async () => {
    const config: AppConfig = { ...fixtureConfig, stages: { ...fixtureConfig.stages, prod: { jobs: { 'example-fanout': { deploy: true } } } } };
    const r = await cli(['status', '--stage', 'prod'], { config });
    expect(r.code).toBe(1);
    expect(r.err).toContain(`Stack ScheduledJobs-prod not found in account ${ACCOUNT}, region ${REGION}`);
    expect(r.err).toContain('npx cdk deploy -c stage=prod');
    // Another region: the stack is not there either (stacks are regional).
    const other = await cli(['hold', '--region', 'eu-west-1']);
    expect(other.code).toBe(1);
    expect(other.err).toContain('region eu-west-1');
  });

  test('credentials for another account than the stage\'s are refused before anything is read', async () => {
    // Roles are per account: a stage of another account names its own readers (and operators).
    const config: AppConfig = { ...fixtureConfig, stages: { dev: { ...fixtureConfig.stages!.dev, account: '999999999999', readerRoleArnPatterns: ['arn:aws:iam::999999999999:role/Reader'], operators: {} } } };
    const r = await cli(['status'], { config });
    expect(r.code).toBe(1);
    expect(r.err).toContain(`The credentials are for account ${ACCOUNT}, but stage "dev" is deployed to account 999999999999`);
  });

  test('credentials and region from a shared-config profile (--profile), the SDK\'s standard way', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aws-profile-'));
    writeFileSync(join(dir, 'config'), `[profile oncall]\nregion = ${REGION}\n`);
    writeFileSync(join(dir, 'credentials'), '[oncall]\naws_access_key_id = AKIAONCALL\naws_secret_access_key = local\n');
    world.sts.identities.set('AKIAONCALL', { Arn: `arn:aws:sts::${ACCOUNT}:assumed-role/OnCall/kim`, Account: ACCOUNT, UserId: 'AROAONCALL:kim' });
    const saved = { ...process.env };
    try {
      for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) delete process.env[k];
      process.env.AWS_CONFIG_FILE = join(dir, 'config');
      process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'credentials');
      const r = await cli(['hold', 'orders-api', '--reason', 'profile test', '--profile', 'oncall', '--json']);
      expect(r.err).toBe('');
      expect(JSON.parse(r.out).holds[0].switch.by).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/OnCall/kim`);
    } finally {
      process.env = saved;
      rmSync(dir, { recursive: true, force: true });
      await cli(['unhold', 'orders-api']);
    }
  });
});

describe('the installed entry (cli/bin.js), as `npx scheduled-jobs` runs it', () => {
  const run = promisify(execFile);
  const bin = resolve(__dirname, '..', 'cli', 'bin.js');

  test('--help of a command, exit 0', async () => {
    const r = await run(process.execPath, [bin, 'task', '--help'], { env: { ...process.env } });
    expect(r.stdout).toContain('Usage: scheduled-jobs task [options] <task-id>');
    expect(r.stdout).toContain('--show-params');
  }, 30_000);

  test('missing credentials, in a fresh process with no AWS settings: a clear error and how to log in, exit 1', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'no-aws-'));
    try {
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: empty,
        AWS_REGION: REGION,
        AWS_CONFIG_FILE: join(empty, 'config'),
        AWS_SHARED_CREDENTIALS_FILE: join(empty, 'credentials'),
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_ENDPOINT_URL_STS: process.env.AWS_ENDPOINT_URL_STS,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      };
      // The CLI as bin.js starts it (tsx, runCli, process.exitCode), on the fixture config: bin/config.ts
      // is the team's (it may have no job yet, which the CLI would report before looking for credentials).
      const script = [
        "require('tsx/cjs/api').register();",
        `const { runCli } = require(${JSON.stringify(resolve(__dirname, '..', 'cli', 'main.ts'))});`,
        `const { fixtureConfig } = require(${JSON.stringify(resolve(__dirname, 'support', 'fixture-config.ts'))});`,
        "runCli(['status'], { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }, { config: fixtureConfig }).then((c) => { process.exitCode = c; });",
      ].join('\n');
      const r = await run(process.execPath, ['-e', script], { env, cwd: resolve(__dirname, '..') }).catch((e: { code: number; stdout: string; stderr: string }) => e);
      expect((r as { code: number }).code).toBe(1);
      expect(r.stderr).toContain('Error: No AWS credentials');
      expect(r.stderr).toContain('aws sso login');
      expect(r.stderr).not.toContain('    at '); // no stack trace
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  }, 30_000);
});
