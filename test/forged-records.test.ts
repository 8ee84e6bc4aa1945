import { AthenaClient } from '@aws-sdk/client-athena';
import { FirehoseClient, PutRecordCommand } from '@aws-sdk/client-firehose';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { checkLostTasks, MonitorSettings } from '../lambdas/lost-task-monitor/logic';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { FirehoseParamLogSink } from '../lambdas/shared/firehose-sink';
import { KmsMac } from '../lambdas/shared/kms-mac';
import { buildClientRecord, buildWorkerRecord, ClientResult, ParamLogRecord, toJsonLine } from '../lambdas/shared/param-log';
import { LOST_TASK_COUNT_SQL, lostTaskParams } from '../lambdas/shared/queries';
import { AthenaStandin, startAthenaStandin } from '../local/athena-standin';
import { ParamLogDb } from '../local/duckdb-sql';
import { FirehoseStandin, startFirehoseStandin } from '../local/firehose-standin';
import { KmsStandin, startKmsStandin } from '../local/kms-standin';

/**
 * End to end, as deployed: the record writers' real sink MACs records through the real KMS client
 * (against the KMS stand-in) into Firehose (the stand-in writes the S3 layout); an attacker who may
 * `firehose:PutRecord` but not `kms:GenerateMac` adds records of their own; the monitor's real logic
 * runs its real candidate query through the real Athena client (the stand-in runs it on DuckDB) and
 * verifies each record with VerifyMac.
 */
const REGION = 'ap-northeast-1';
const TZ = 'Asia/Tokyo';
const RECORD_KEY = 'arn:aws:kms:ap-northeast-1:123456789012:key/record-mac';
const credentials = async () => ({ accessKeyId: 'local', secretAccessKey: 'local' });
const D = '2026-03-31';
const CLEAN_DAY = '2026-04-02';
const SETTINGS: MonitorSettings = { workGroup: 'wg', database: 'db', timeZone: TZ, deadlineMs: 30_000, initialPollMs: 1, maxPollMs: 5 };

let root: string;
let kms: KmsStandin;
let firehose: FirehoseStandin;
let athenaStandin: AthenaStandin;
let firehoseClient: FirehoseClient;
let athena: AthenaClient;
let clock = new Date(`${D}T10:00:00+09:00`);
let writerMac: KmsMac;
let clientSink: FirehoseParamLogSink;
let workerSink: FirehoseParamLogSink;

const env = (taskId: string, attempt = 1): TaskEnvelope => ({
  v: 1,
  taskId,
  job: 'example-api',
  key: taskId,
  params: { customer: 'Jane Doe', taskId },
  attempt,
  scheduledTime: `${D}T00:00:00.000Z`,
});
const startedRecord = (taskId: string, result: ClientResult = 'Started', attempt = 1): ParamLogRecord =>
  buildClientRecord({ envelope: env(taskId, attempt), result, now: clock, timeZone: TZ, executionArn: `arn:exec:${taskId}` });
const endRecord = (taskId: string, error?: string): ParamLogRecord =>
  buildWorkerRecord({ envelope: env(taskId), now: clock, timeZone: TZ, executionArn: `arn:exec:${taskId}`, error, cause: error ? 'boom' : null, failedState: error ? 'CallApi' : null });
/** What the writers do (the real sink: MAC, then PutRecordBatch). */
const write = (sink: FirehoseParamLogSink, ...records: ParamLogRecord[]) => sink.put(records);
/** What someone with firehose:PutRecord alone can do: any JSON line, any `mac`. */
const forge = (stream: 'clientStream' | 'workerStream', record: object) =>
  firehoseClient.send(new PutRecordCommand({ DeliveryStreamName: stream, Record: { Data: Buffer.from(toJsonLine(record as ParamLogRecord)) } }));
const at = (day: string, hhmm: string) => (clock = new Date(`${day}T${hhmm}:00.250+09:00`));

async function sqlCount(day: string): Promise<number> {
  const db = await ParamLogDb.open(root);
  try {
    return Number((await db.query(LOST_TASK_COUNT_SQL, lostTaskParams(day)))[0].lost);
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'forged-'));
  kms = await startKmsStandin();
  firehose = await startFirehoseStandin({ outDir: root, streams: { clientStream: 'client', workerStream: 'worker' }, timeZone: TZ, now: () => clock });
  athenaStandin = await startAthenaStandin({ region: REGION, workGroup: 'wg', database: 'db', logRoot: root });
  firehoseClient = new FirehoseClient({ region: REGION, endpoint: firehose.endpoint, credentials });
  athena = new AthenaClient({ region: REGION, endpoint: athenaStandin.endpoint, credentials });
  writerMac = new KmsMac(RECORD_KEY, { region: REGION, endpoint: kms.endpoint, credentials });
  clientSink = new FirehoseParamLogSink(firehoseClient, 'clientStream', writerMac);
  workerSink = new FirehoseParamLogSink(firehoseClient, 'workerStream', writerMac);

  // ---- day D: genuine work, and forgeries
  at(D, '10:00');
  await write(clientSink, ...['t-ok', 't-hidden', 't-copied-mac', 't-tampered', 't-lost'].map((t) => startedRecord(t)));
  at(D, '10:05');
  await write(workerSink, endRecord('t-ok'), endRecord('t-tampered', 'ExternalApiRejectedError'));
  // 1. A Success for a task that never ended, with no MAC at all.
  await forge('workerStream', endRecord('t-hidden'));
  // 2. A Success with a genuine MAC copied from another task's record.
  const genuineOk = firehoseRecords('worker').find((r) => r.task_id === 't-ok')!;
  await forge('workerStream', { ...endRecord('t-copied-mac'), mac: genuineOk.mac });
  // 3. A genuine Failure record, replayed with its result changed to Success (its MAC kept).
  const genuineFailed = firehoseRecords('worker').find((r) => r.task_id === 't-tampered')!;
  await forge('workerStream', { ...genuineFailed, result: 'Success', error: null, cause: null, failed_state: null });
  // 4. A start that never happened (no MAC): noise the attacker could add to bury real alarms.
  await forge('clientStream', startedRecord('t-invented'));
  // 5. A genuine client record put into the worker stream (its MAC is genuine, its table is not).
  const genuineLostStart = firehoseRecords('client').find((r) => r.task_id === 't-lost')!;
  await forge('workerStream', genuineLostStart);

  // ---- a clean day: the monitor's rule must count as the saved query does
  at(CLEAN_DAY, '09:00');
  await write(clientSink, startedRecord('c-ok'), startedRecord('c-late'), startedRecord('c-lost'), startedRecord('c-dup', 'Duplicate'), startedRecord('c-retry', 'Started', 1), startedRecord('c-retry', 'Started', 2));
  await write(clientSink, startedRecord('c-failed-start', 'StartFailed'));
  at(CLEAN_DAY, '09:10');
  await write(workerSink, endRecord('c-ok'), endRecord('c-dup'));
  at('2026-04-03', '00:20'); // ends after midnight: the next day's partition
  await write(workerSink, endRecord('c-late'));
  firehose.flushAll();
}, 60_000);

afterAll(async () => {
  firehoseClient?.destroy();
  athena?.destroy();
  await Promise.all([firehose?.close(), athenaStandin?.stop(), kms?.stop()]);
  if (root) rmSync(root, { recursive: true, force: true });
});

/** Records as delivered so far (flushes first). */
function firehoseRecords(prefix: 'client' | 'worker'): ParamLogRecord[] {
  firehose.flushAll();
  return firehose.delivered
    .filter((f) => f.partition.startsWith(`${prefix}/`))
    .flatMap((f) => gunzipSync(readFileSync(join(root, ...f.key.split('/')))).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ParamLogRecord));
}

test('every record the writers send carries a MAC made with the KMS key', () => {
  const all = [...firehoseRecords('client'), ...firehoseRecords('worker')].filter((r) => !['t-hidden', 't-invented'].includes(r.task_id));
  expect(all.length).toBeGreaterThan(10);
  // Record MAC version 2: the batch's MAC (43 base64url characters) and the record's audit path.
  for (const r of all) expect(r.mac).toMatch(/^v2\.\d+\.\d+\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]*$/);
  // One GenerateMac per put (six puts in beforeAll), not one per record.
  expect(kms.calls.GenerateMac).toBe(6);
  expect(all.length).toBeGreaterThan(6 + 3); // the three forged copies reuse genuine MACs
});

test('a forged Success hides no lost task: the monitor counts them lost and counts every forgery', async () => {
  const verifier = new KmsMac(RECORD_KEY, { region: REGION, endpoint: kms.endpoint, credentials });
  const out = await checkLostTasks(athena, verifier, SETTINGS, D);
  // t-hidden, t-copied-mac (forged ends) and t-lost (no end); t-tampered has its genuine Failure end.
  expect(out.lost).toBe(3);
  // The five forgeries: no MAC, a copied MAC, a changed result, an invented start, a record in the wrong table.
  expect(out.forged).toBe(5);
  expect(out.forgedTaskIds).toEqual(['t-copied-mac', 't-hidden', 't-invented', 't-lost', 't-tampered']);
  expect(athenaStandin.started.at(-1)?.parameters).toEqual(["'2026-03-31'", "'2026-03-30'", "'2026-03-31'", "'2026-04-01'", "'2026-03-31'"]);
});

test('the control: the saved SQL count alone is fooled (it cannot check MACs), which is why only the monitor\'s count is authoritative', async () => {
  // SQL sees ends for t-hidden, t-copied-mac and t-lost (the record in the wrong table), and counts the invented start.
  expect(await sqlCount(D)).toBe(1);
});

test('a verifier with another key accepts nothing: every record is forged to it', async () => {
  const other = new KmsMac('arn:aws:kms:ap-northeast-1:123456789012:key/another', { region: REGION, endpoint: kms.endpoint, credentials });
  const out = await checkLostTasks(athena, other, SETTINGS, CLEAN_DAY);
  expect(out.lost).toBe(0);
  expect(out.forged).toBe(out.checked);
  expect(out.checked).toBeGreaterThan(0);
});

test('with no forgery the monitor counts exactly what the saved lost-task query counts (same rule: Duplicate is started, a next-day end counts, per attempt row)', async () => {
  const verifier = new KmsMac(RECORD_KEY, { region: REGION, endpoint: kms.endpoint, credentials });
  const out = await checkLostTasks(athena, verifier, SETTINGS, CLEAN_DAY);
  expect(out.forged).toBe(0);
  // c-lost, and c-retry's two attempts (no end at all)
  expect(out.lost).toBe(3);
  expect(await sqlCount(CLEAN_DAY)).toBe(out.lost);
  // One VerifyMac per batch MAC read, not per record: the six starts were one put, the ends two.
  expect(out.checked).toBe(9);
  expect(verifier.requests).toBe(3);
});
