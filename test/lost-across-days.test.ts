/**
 * Lost tasks whose records straddle midnight. A task is lost per (task, attempt) when a client record
 * of a day says it was started and no worker record of that attempt is found; the partition of each
 * record is its Firehose ARRIVAL day, so the start and the end of one attempt can sit on different
 * days in EITHER order:
 * - the end after the start's day: a replay started at 23:59 ends at 00:01 (the next day's partition);
 * - the end BEFORE the start's day: reprocess started the replay at 23:58 but could not write its
 *   client record (Firehose refused it), the message stayed in the spool, the execution ended at
 *   23:59, and the next drain after midnight met the existing name (`ExecutionAlreadyExists`) and
 *   recorded it `Duplicate`: the only client record of that attempt is on the next day, its end on
 *   the day before. (A start record buffered longer than its end's crosses midnight the same way.)
 *
 * The chain is real: the reprocess drain (SQS and Step Functions mocked) writes its client records
 * through the writers' sink (MAC by the real KMS client against the KMS stand-in) into the Firehose
 * stand-in, which lays out partitions by arrival; worker records go the same way; the monitor's own
 * logic runs the SAVED lost-task count and its verified check (candidate query + VerifyMac) through
 * the Athena stand-in (DuckDB over the files).
 */
import { AthenaClient } from '@aws-sdk/client-athena';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { SFNClient, StartExecutionCommand, StartExecutionCommandInput } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkLostTasks, countLostTasks, MonitorSettings } from '../lambdas/lost-task-monitor/logic';
import { drain, ReprocessSummary } from '../lambdas/reprocess/drain';
import { parsePayload } from '../lambdas/reprocess/payload';
import { FirehoseParamLogSink } from '../lambdas/shared/firehose-sink';
import { KmsMac } from '../lambdas/shared/kms-mac';
import { buildClientRecord, buildWorkerRecord, ParamLogRecord, ParamLogSink } from '../lambdas/shared/param-log';
import { AthenaStandin, startAthenaStandin } from '../local/athena-standin';
import { FirehoseStandin, startFirehoseStandin } from '../local/firehose-standin';
import { KmsStandin, startKmsStandin } from '../local/kms-standin';
import { envelope, JOBS, spoolAttributes, spoolMessage } from './reprocess-fixtures';
import { FakeSqs } from './support/fake-sqs';

const REGION = 'ap-northeast-1';
const TZ = 'Asia/Tokyo';
const RECORD_KEY = 'arn:aws:kms:ap-northeast-1:123456789012:key/record-mac';
const SPOOL = 'https://sqs.us-east-1.amazonaws.com/123456789012/spool';
const QUARANTINE = 'https://sqs.us-east-1.amazonaws.com/123456789012/quarantine';
const credentials = async () => ({ accessKeyId: 'local', secretAccessKey: 'local' });
const SETTINGS: MonitorSettings = { workGroup: 'wg', database: 'db', timeZone: TZ, deadlineMs: 30_000, initialPollMs: 1, maxPollMs: 5 };
const CLOCK = { now: Date.now, sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) };
// The fixtures' tick (2026-11-25T03:00Z) is 12:00 on D in Tokyo.
const D = '2026-11-25';
const D1 = '2026-11-26';
const D2 = '2026-11-27';
const at = (day: string, hms: string) => new Date(`${day}T${hms}.250+09:00`);

const sqsMock = mockClient(SQSClient);
const sfnMock = mockClient(SFNClient);
let root: string;
let kms: KmsStandin;
let firehose: FirehoseStandin;
let athenaStandin: AthenaStandin;
let firehoseClient: FirehoseClient;
let athena: AthenaClient;
let clientSink: FirehoseParamLogSink;
let workerSink: FirehoseParamLogSink;
let clock = at(D, '12:00:00');

/** Each put is delivered at once, so its partition is the day of `clock`. */
async function write(sink: ParamLogSink, ...records: ParamLogRecord[]): Promise<void> {
  await sink.put(records);
  firehose.flushAll();
}
const started = (key: string, attempt: number) => buildClientRecord({ envelope: envelope('job-a', key, attempt), result: 'Started', now: clock, timeZone: TZ, executionArn: `arn:exec:${key}:${attempt}` });
const ended = (key: string, attempt: number, error?: string) =>
  buildWorkerRecord({ envelope: envelope('job-a', key, attempt), now: clock, timeZone: TZ, executionArn: `arn:exec:${key}:${attempt}`, error, cause: error ? '503' : null, failedState: error ? 'CallApi' : null });

/**
 * Reprocess drains the spooled failure of `key`'s attempt 1 at `clock`: Step Functions answers a new
 * start (`fresh`) or the name's existing execution (`ExecutionAlreadyExists`); the client record goes
 * through the real sink unless `sinkDown` (then it fails, and the message stays in the spool).
 */
async function drainAt(key: string, sfnAnswer: 'fresh' | 'exists', sinkDown = false): Promise<ReprocessSummary> {
  sqsMock.reset();
  sfnMock.reset();
  const when = clock;
  const fake = new FakeSqs(() => when.getTime());
  fake.install(sqsMock);
  if (sfnAnswer === 'fresh') {
    sfnMock.on(StartExecutionCommand).callsFake((input: StartExecutionCommandInput) => ({ executionArn: `${input.stateMachineArn!.replace(':stateMachine:', ':execution:')}:${input.name}`, startDate: when }));
  } else {
    sfnMock.on(StartExecutionCommand).rejects(Object.assign(new Error('Execution Already Exists'), { name: 'ExecutionAlreadyExists' }));
  }
  const msg = spoolMessage({ key, attempt: 1 });
  fake.add(SPOOL, msg, { id: `m-${key}`, attrs: spoolAttributes(msg) });
  const sink: ParamLogSink = sinkDown ? { put: () => Promise.reject(Object.assign(new Error('down'), { name: 'ServiceUnavailableException' })) } : { put: (r) => write(clientSink, ...r) };
  const summary = await drain(
    {
      sqs: new SQSClient({ region: 'us-east-1' }),
      sfn: new SFNClient({ region: 'us-east-1' }),
      spoolQueueUrl: SPOOL,
      quarantineQueueUrl: QUARANTINE,
      rules: { jobs: JOBS, maxReplays: 5 },
      remainingMs: 900_000,
      now: () => when.getTime(),
      sleep: async () => undefined,
      clientLog: { sink, timeZone: TZ },
    },
    parsePayload({ max: 10 }, 10, when.getTime()),
  );
  // A failed client record leaves the message in the spool for the next drain.
  expect(fake.messages(SPOOL)).toHaveLength(sinkDown ? 1 : 0);
  return summary;
}

/** The monitor's two counts of `day`: the saved query's (SQL) and its verified one (what it publishes). */
async function lostOn(day: string): Promise<{ sql: number; verified: number }> {
  const sql = (await countLostTasks(athena, SETTINGS, day, CLOCK)).lost;
  const v = await checkLostTasks(athena, new KmsMac(RECORD_KEY, { region: REGION, endpoint: kms.endpoint, credentials }), SETTINGS, day, CLOCK);
  expect(v.forged).toBe(0);
  return { sql, verified: v.lost };
}

beforeAll(() => {
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
});
beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'lost-days-'));
  kms = await startKmsStandin();
  firehose = await startFirehoseStandin({ outDir: root, streams: { clientStream: 'client', workerStream: 'worker' }, timeZone: TZ, now: () => clock });
  athenaStandin = await startAthenaStandin({ region: REGION, workGroup: 'wg', database: 'db', logRoot: root, runningPolls: 0 });
  firehoseClient = new FirehoseClient({ region: REGION, endpoint: firehose.endpoint, credentials });
  athena = new AthenaClient({ region: REGION, endpoint: athenaStandin.endpoint, credentials });
  const writerMac = new KmsMac(RECORD_KEY, { region: REGION, endpoint: kms.endpoint, credentials });
  clientSink = new FirehoseParamLogSink(firehoseClient, 'clientStream', writerMac);
  workerSink = new FirehoseParamLogSink(firehoseClient, 'workerStream', writerMac);
});
afterEach(async () => {
  firehoseClient.destroy();
  athena.destroy();
  await Promise.all([firehose.close(), athenaStandin.stop(), kms.stop()]);
  rmSync(root, { recursive: true, force: true });
});

/** Attempt 1 of `key`: started by the tick starter on D, failed (its worker record), spooled. */
async function firstAttemptFailed(key: string): Promise<void> {
  clock = at(D, '12:00:01');
  await write(clientSink, started(key, 1));
  clock = at(D, '12:01:00');
  await write(workerSink, ended(key, 1, 'ExternalApiUnavailableError'));
}

test('a replay started at 23:59 whose end lands after midnight (next day\'s partition) is not lost; one that never ends is', async () => {
  await firstAttemptFailed('late-end');
  await firstAttemptFailed('never-ends');
  clock = at(D, '23:59:00');
  expect(await drainAt('late-end', 'fresh')).toMatchObject({ started: 1 });
  expect(await drainAt('never-ends', 'fresh')).toMatchObject({ started: 1 });
  expect(firehose.delivered.filter((f) => f.partition === 'client/year=2026/month=11/day=25')).toHaveLength(4);
  clock = at(D1, '00:01:00');
  await write(workerSink, ended('late-end', 2));
  expect(firehose.delivered.at(-1)?.partition).toBe('worker/year=2026/month=11/day=26');

  // The monitor's run for D (06:30 on D+1): only the replay that never ended.
  expect(await lostOn(D)).toEqual({ sql: 1, verified: 1 });
  expect(await lostOn(D1)).toEqual({ sql: 0, verified: 0 });
});

test('a replay recorded Duplicate after midnight whose end was written before midnight is not lost; a Duplicate with no end is', async () => {
  const keys = ['dup-ended', 'dup-never', 'dup-much-later'];
  for (const k of keys) await firstAttemptFailed(k);
  // 23:58: the replays start, but their client records cannot be written: they stay in the spool.
  clock = at(D, '23:58:00');
  for (const k of keys) expect(await drainAt(k, 'fresh', true)).toMatchObject({ started: 0, failed: 1 });
  // 23:59: two of the replays (attempt 2) end; their worker records land on D.
  clock = at(D, '23:59:00');
  await write(workerSink, ended('dup-ended', 2), ended('dup-much-later', 2));
  expect(firehose.delivered.at(-1)?.partition).toBe('worker/year=2026/month=11/day=25');
  // 00:05 on D+1: the next drain meets both names existing and records them Duplicate, on D+1.
  clock = at(D1, '00:05:00');
  expect(await drainAt('dup-ended', 'exists')).toMatchObject({ alreadyStarted: 1 });
  expect(await drainAt('dup-never', 'exists')).toMatchObject({ alreadyStarted: 1 });
  expect(firehose.delivered.filter((f) => f.partition === 'client/year=2026/month=11/day=26')).toHaveLength(2);

  // D has no client record of attempt 2: nothing lost there (attempt 1 ended, as a failure).
  expect(await lostOn(D)).toEqual({ sql: 0, verified: 0 });
  // D+1: dup-ended's attempt 2 ended (on D) - not lost; dup-never's attempt 2 never ended - lost.
  expect(await lostOn(D1)).toEqual({ sql: 1, verified: 1 });

  // The scan stays bounded (the day before, the day, the day after): a Duplicate recorded two days
  // after its end (here the client sink stayed down all of D+1) is counted lost on D+2.
  clock = at(D2, '00:05:00');
  expect(await drainAt('dup-much-later', 'exists')).toMatchObject({ alreadyStarted: 1 });
  expect(await lostOn(D2)).toEqual({ sql: 1, verified: 1 });
});
