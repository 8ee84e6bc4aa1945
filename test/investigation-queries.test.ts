import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { buildClientRecord, buildWorkerRecord, ClientResult, ParamLogRecord } from '../lambdas/shared/param-log';
import {
  DAILY_COUNTS,
  JOB_FAILURES,
  LOST_TASK_CANDIDATES_SQL,
  LOST_TASK_COUNT_SQL,
  LOST_TASKS,
  lostTaskParams,
  nextDay,
  SAVED_QUERIES,
  START_FAILURES,
  TASK_BY_ID,
} from '../lambdas/shared/queries';
import { createTableDdl } from '../lib/investigation/schema';
import { ParamLogDb, toDuckDb, UntranslatableSqlError } from '../local/duckdb-sql';
import { writeLogObject } from '../local/param-log-fixture';

const TZ = 'Asia/Tokyo';
// A day whose next day is in the next month: the "day or the next" logic and two-digit partitions both show.
const D = '2026-03-31';
const D1 = '2026-04-01';
const D2 = '2026-04-02';
const D0 = '2026-03-30';

/** A local (app time zone, +09:00) wall-clock time. */
const at = (day: string, hhmm: string): Date => new Date(`${day}T${hhmm}:00.250+09:00`);
const env = (taskId: string, job = 'example-api'): TaskEnvelope => ({
  v: 1,
  taskId,
  job,
  key: taskId,
  params: { customer: 'Jane Doe', taskId },
  attempt: 1,
  scheduledTime: '2026-03-31T00:00:00.000Z',
});

let root: string;
let db: ParamLogDb;
let n = 0;
function client(taskId: string, result: ClientResult, when: Date, job?: string): void {
  const rec = buildClientRecord({ envelope: env(taskId, job), result, now: when, timeZone: TZ, executionArn: result === 'Started' ? `arn:exec:${taskId}` : null, error: result === 'StartFailed' ? 'ThrottlingException' : null });
  put(rec, when);
}
function worker(taskId: string, when: Date, error?: string, job?: string): void {
  const rec = buildWorkerRecord({ envelope: env(taskId, job), now: when, timeZone: TZ, executionArn: `arn:exec:${taskId}`, error, cause: error ? 'boom' : null, failedState: error ? 'CallApi' : null });
  put(rec, when);
}
function put(rec: ParamLogRecord, when: Date): void {
  // Firehose delivers a little after the record is made; the partition is the arrival time.
  writeLogObject(root, [rec], new Date(when.getTime() + 30_000), TZ, `obj-${n++}`);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'param-log-'));
  client('t-prev', 'Started', at(D0, '22:00')); // lost on D0, not on D
  client('t-ok', 'Started', at(D, '10:00'));
  worker('t-ok', at(D, '10:01'));
  client('t-ok', 'Duplicate', at(D, '10:00'));
  client('t-midnight', 'Started', at(D, '23:58'));
  worker('t-midnight', at(D, '23:59')); // arrives 23:59:30 -> still D
  client('t-after-midnight', 'Started', at(D, '23:59'));
  worker('t-after-midnight', at(D1, '00:03')); // ends after midnight -> D+1 partition: NOT lost
  client('t-startfail', 'StartFailed', at(D, '11:00')); // failed to start: NOT lost
  client('t-lost', 'Started', at(D, '12:00')); // never ends: LOST
  client('t-too-late', 'Started', at(D, '13:00'));
  worker('t-too-late', at(D2, '09:00')); // beyond the next day: LOST for D
  client('t-fail', 'Started', at(D, '14:00'));
  worker('t-fail', at(D, '14:05'), 'ExternalApiUnavailableError');
  // A starter whose checkpoint failed after the start: the retried batch recorded Duplicate only.
  client('t-dup-only', 'Duplicate', at(D, '16:00')); // never ends: LOST
  client('t-twice', 'Started', at(D, '17:00'));
  client('t-twice', 'Duplicate', at(D, '17:01')); // never ends: LOST, one row
  client('t-dup-ended', 'Duplicate', at(D, '18:00'));
  worker('t-dup-ended', at(D, '18:05')); // ended: NOT lost
  client('t-other', 'Started', at(D, '15:00'), 'other-job');
  worker('t-other', at(D, '15:10'), 'States.Timeout', 'other-job');
  db = await ParamLogDb.open(root);
});

afterAll(() => {
  db?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('queries run on DuckDB over files in the core layout', () => {
  test('the habitual partition query works as written (string partitions, two digits)', async () => {
    const rows = await db.query("SELECT task_id FROM worker_log WHERE year = '2026' AND month = '04' AND day = '01'");
    expect(rows.map((r) => r.task_id)).toEqual(['t-after-midnight']);
  });

  test('lost tasks of a day: a never-ended task and one ended two days later; not one ended after midnight, not a start failure', async () => {
    const rows = await db.query(LOST_TASKS.sql, lostTaskParams(D));
    expect(rows.map((r) => r.task_id)).toEqual(['t-lost', 't-too-late', 't-dup-only', 't-twice']);
    expect(rows[0]).toMatchObject({ job: 'example-api', attempt: 1, execution_arn: 'arn:exec:t-lost', time: expect.stringMatching(/^2026-03-31 12:00:00\.25/) });
    expect(await db.query(LOST_TASK_COUNT_SQL, lostTaskParams(D))).toEqual([{ lost: '4' }]);
    // The day before has its own lost task, and D's tasks do not leak into it.
    expect((await db.query(LOST_TASKS.sql, lostTaskParams(D0))).map((r) => r.task_id)).toEqual(['t-prev']);
    // A day with no records counts 0 (one row), which is what the monitor then publishes.
    expect(await db.query(LOST_TASK_COUNT_SQL, lostTaskParams('2026-05-01'))).toEqual([{ lost: '0' }]);
  });

  test('lost tasks count a task whose only client record is Duplicate, and a task with Started and Duplicate once', async () => {
    const rows = await db.query(LOST_TASKS.sql, lostTaskParams(D));
    expect(rows.filter((r) => r.task_id === 't-twice')).toHaveLength(1);
    // The earliest record's time, and the execution of the Started record.
    expect(rows.find((r) => r.task_id === 't-twice')).toMatchObject({ time: expect.stringMatching(/^2026-03-31 17:00:00\.25/), execution_arn: 'arn:exec:t-twice' });
    expect(rows.map((r) => r.task_id)).toContain('t-dup-only');
    expect(rows.map((r) => r.task_id)).not.toContain('t-dup-ended');
  });

  test('task by id: its start and its end, in order, with params', async () => {
    const rows = await db.query(TASK_BY_ID.sql, ['t-after-midnight', D, D1]);
    expect(rows.map((r) => [r.type, r.result])).toEqual([
      ['client', 'Started'],
      ['worker', 'Success'],
    ]);
    expect(JSON.parse(rows[0].params as string)).toEqual({ customer: 'Jane Doe', taskId: 't-after-midnight' });
    // The day range limits what is read: D alone misses the end.
    expect(await db.query(TASK_BY_ID.sql, ['t-after-midnight', D, D])).toHaveLength(1);
  });

  test('failures of a job over a day range: worker failures and start failures of that job only', async () => {
    const rows = await db.query(JOB_FAILURES.sql, ['example-api', D0, D2]);
    expect(rows.map((r) => [r.task_id, r.result, r.error, r.failed_state])).toEqual([
      ['t-startfail', 'StartFailed', 'ThrottlingException', null],
      ['t-fail', 'Failure', 'ExternalApiUnavailableError', 'CallApi'],
    ]);
    const other = await db.query(JOB_FAILURES.sql, ['other-job', D, D]);
    expect(other.map((r) => [r.task_id, r.result, r.error])).toEqual([['t-other', 'TimedOut', 'States.Timeout']]);
  });

  test('tasks that failed to start', async () => {
    const rows = await db.query(START_FAILURES.sql, [D0, D2]);
    expect(rows.map((r) => [r.task_id, r.error])).toEqual([['t-startfail', 'ThrottlingException']]);
  });

  test('daily counts by job, type and result', async () => {
    const rows = await db.query(DAILY_COUNTS.sql, [D, D1]);
    expect(rows.map((r) => `${r.log_day} ${r.job} ${r.type} ${r.result} ${r.records}`)).toEqual([
      '2026-03-31 example-api client Duplicate 4',
      '2026-03-31 example-api client StartFailed 1',
      '2026-03-31 example-api client Started 7',
      '2026-03-31 example-api worker Failure 1',
      '2026-03-31 example-api worker Success 3',
      '2026-03-31 other-job client Started 1',
      '2026-03-31 other-job worker TimedOut 1',
      '2026-04-01 example-api worker Success 1',
    ]);
  });

  test('every saved query runs with its documented example parameters', async () => {
    for (const q of SAVED_QUERIES) {
      await expect(db.query(q.sql, q.params.map((p) => p.example.slice(1, -1)))).resolves.toBeInstanceOf(Array);
    }
  });
});

describe('Trino to DuckDB', () => {
  test('a row compared to a subquery is refused, not mistranslated', () => {
    expect(() => toDuckDb('SELECT 1 FROM t WHERE (a, b) = (SELECT a, b FROM u)')).toThrow(UntranslatableSqlError);
  });
  test('next day crosses month and year ends', () => {
    expect(nextDay(D)).toBe(D1);
    expect(nextDay('2026-12-31')).toBe('2027-01-01');
    expect(nextDay('2028-02-28')).toBe('2028-02-29');
    expect(() => lostTaskParams('2026-02-30')).toThrow(/yyyy-MM-dd/);
  });
});

test('saved queries are valid Trino SQL and the table DDL is valid Hive SQL (dt-sql-parser, via tsx)', () => {
  const items = [
    ...SAVED_QUERIES.map((q) => ({ dialect: 'trino', sql: q.sql })),
    { dialect: 'trino', sql: LOST_TASK_COUNT_SQL },
    { dialect: 'trino', sql: LOST_TASK_CANDIDATES_SQL },
    { dialect: 'hive', sql: createTableDdl('client_log', 's3://bucket/client/', { firstYear: 2026 }) },
    { dialect: 'hive', sql: createTableDdl('worker_log', 's3://bucket/worker/', { firstYear: 2026 }) },
    // Controls: the validator must reject broken SQL, or the checks above prove nothing.
    { dialect: 'trino', sql: 'SELECT task_id FROM client_log WHERE' },
    { dialect: 'hive', sql: 'CREATE EXTERNAL TABLE x (a string PARTITIONED BY' },
  ];
  const out = execFileSync('npx', ['tsx', 'scripts/validate-sql.ts'], { cwd: resolve(__dirname, '..'), input: JSON.stringify(items), encoding: 'utf8' });
  const errors = JSON.parse(out) as string[][];
  expect(errors.slice(0, -2)).toEqual(items.slice(0, -2).map(() => []));
  expect(errors.at(-2)!.length).toBeGreaterThan(0);
  expect(errors.at(-1)!.length).toBeGreaterThan(0);
});
