import { AthenaClient } from '@aws-sdk/client-athena';
import { SFNClient, StartExecutionCommand, StartExecutionCommandInput } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countLostTasks, MonitorSettings } from '../lambdas/lost-task-monitor/logic';
import { drain, DrainDeps } from '../lambdas/reprocess/drain';
import { parsePayload } from '../lambdas/reprocess/payload';
import { buildClientRecord, buildWorkerRecord, ParamLogRecord } from '../lambdas/shared/param-log';
import { AthenaStandin, startAthenaStandin } from '../local/athena-standin';
import { writeLogObject } from '../local/param-log-fixture';
import { envelope, JOBS, spoolAttributes, spoolMessage } from './reprocess-fixtures';
import { FakeSqs } from './support/fake-sqs';

/**
 * Lost tasks per attempt (issue 17, item 4). A replay is attempt N+1 of its task: reprocess writes
 * its client record (the shared builder, as the tick starter does) when it starts it, and the
 * lost-task monitor counts per (task_id, attempt). The chain is real: the reprocess drain (SQS and
 * Step Functions mocked) writes the replay's client record; the records are laid out as Firehose
 * writes them; the monitor's own logic runs the SAVED lost-task query on the Athena stand-in
 * (DuckDB over the files). Before: the replay wrote no client record and the query joined on
 * task_id only, so a replay that never ended counted 0 lost.
 */
const TZ = 'Asia/Tokyo';
const SPOOL = 'https://sqs.us-east-1.amazonaws.com/123456789012/spool';
const QUARANTINE = 'https://sqs.us-east-1.amazonaws.com/123456789012/quarantine';
const sqsMock = mockClient(SQSClient);
const sfnMock = mockClient(SFNClient);
let athena: AthenaStandin;
let root: string;
let n = 0;
const put = (rec: ParamLogRecord, when: Date) => writeLogObject(root, [rec], new Date(when.getTime() + 30_000), TZ, `obj-${n++}`);

beforeAll(() => {
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
});
beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'lost-attempt-'));
  athena = await startAthenaStandin({ region: 'ap-northeast-1', workGroup: 'wg', database: 'db', logRoot: root, runningPolls: 0 });
});
afterEach(async () => {
  await athena.stop();
  rmSync(root, { recursive: true, force: true });
});

const settings: MonitorSettings = { workGroup: 'wg', database: 'db', timeZone: TZ, deadlineMs: 30_000, initialPollMs: 1, maxPollMs: 5 };
const lostOn = async (day: string) =>
  (await countLostTasks(new AthenaClient({ region: 'ap-northeast-1', endpoint: athena.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }), settings, day, { now: Date.now, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) })).lost;

/** Reprocess replays one spooled failure of attempt 1 at `when`; returns the client records it wrote. */
async function replayAt(when: Date): Promise<ParamLogRecord[]> {
  sqsMock.reset();
  sfnMock.reset();
  const fake = new FakeSqs(() => when.getTime());
  fake.install(sqsMock);
  sfnMock.on(StartExecutionCommand).callsFake((input: StartExecutionCommandInput) => ({ executionArn: `${input.stateMachineArn!.replace(':stateMachine:', ':execution:')}:${input.name}`, startDate: when }));
  const msg = spoolMessage({ key: 'k1', attempt: 1 });
  fake.add(SPOOL, msg, { id: 'm1', attrs: spoolAttributes(msg) });
  const written: ParamLogRecord[] = [];
  const deps: DrainDeps = {
    sqs: new SQSClient({ region: 'us-east-1' }),
    sfn: new SFNClient({ region: 'us-east-1' }),
    spoolQueueUrl: SPOOL,
    quarantineQueueUrl: QUARANTINE,
    rules: { jobs: JOBS, maxReplays: 5 },
    remainingMs: 900_000,
    now: () => when.getTime(),
    sleep: async () => undefined,
    clientLog: { sink: { put: async (r) => void written.push(...r) }, timeZone: TZ },
  };
  const summary = await drain(deps, parsePayload({ max: 10 }, 10, when.getTime()));
  expect(summary.started).toBe(1);
  return written;
}

describe('a replay that never ends is one lost task', () => {
  const t0 = new Date('2026-11-25T04:00:00.000Z'); // 13:00 in Tokyo, day 2026-11-25, after the tick
  const first = envelope('job-a', 'k1', 1);

  beforeEach(() => {
    // Attempt 1: started by the starter, failed (its worker record), spooled.
    put(buildClientRecord({ envelope: first, result: 'Started', now: t0, timeZone: TZ, executionArn: 'arn:exec:a1' }), t0);
    put(buildWorkerRecord({ envelope: first, now: new Date(t0.getTime() + 60_000), timeZone: TZ, executionArn: 'arn:exec:a1', error: 'ExternalApiUnavailableError', cause: '503', failedState: 'CallApi' }), t0);
  });

  test('reprocess writes the replay\'s client record (attempt 2, Started, its execution); with no worker record of attempt 2 the monitor counts 1', async () => {
    expect(await lostOn('2026-11-25')).toBe(0);
    const replayed = new Date(t0.getTime() + 3_600_000);
    const records = await replayAt(replayed);
    expect(records).toEqual([expect.objectContaining({ type: 'client', task_id: first.taskId, attempt: 2, result: 'Started', execution_arn: expect.stringContaining(':execution:') })]);
    for (const r of records) put(r, replayed);
    expect(await lostOn('2026-11-25')).toBe(1);
  });

  test('the replay\'s own worker record (attempt 2) clears it', async () => {
    const replayed = new Date(t0.getTime() + 3_600_000);
    for (const r of await replayAt(replayed)) put(r, replayed);
    put(buildWorkerRecord({ envelope: envelope('job-a', 'k1', 2), now: new Date(replayed.getTime() + 60_000), timeZone: TZ, executionArn: 'arn:exec:a2' }), replayed);
    expect(await lostOn('2026-11-25')).toBe(0);
  });

  test('a client record that cannot be written keeps the message in the spool (the next drain records it Duplicate)', async () => {
    sqsMock.reset();
    sfnMock.reset();
    const fake = new FakeSqs(() => t0.getTime());
    fake.install(sqsMock);
    sfnMock.on(StartExecutionCommand).callsFake((input: StartExecutionCommandInput) => ({ executionArn: `${input.stateMachineArn!.replace(':stateMachine:', ':execution:')}:${input.name}`, startDate: t0 }));
    const msg = spoolMessage({ key: 'k1', attempt: 1 });
    fake.add(SPOOL, msg, { id: 'm1', attrs: spoolAttributes(msg) });
    const summary = await drain(
      {
        sqs: new SQSClient({ region: 'us-east-1' }),
        sfn: new SFNClient({ region: 'us-east-1' }),
        spoolQueueUrl: SPOOL,
        quarantineQueueUrl: QUARANTINE,
        rules: { jobs: JOBS, maxReplays: 5 },
        remainingMs: 900_000,
        now: () => t0.getTime(),
        sleep: async () => undefined,
        clientLog: { sink: { put: async () => Promise.reject(Object.assign(new Error('x'), { name: 'ServiceUnavailableException' })) }, timeZone: TZ },
      },
      parsePayload({ max: 10 }, 10, t0.getTime()),
    );
    expect(summary).toMatchObject({ started: 0, failed: 1 });
    expect(fake.messages(SPOOL)).toHaveLength(1);
  });
});
