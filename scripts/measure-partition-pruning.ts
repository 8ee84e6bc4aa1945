/**
 * Partition pruning, measured: writes a parameter log of 35 days in the core's layout (hourly
 * Firehose objects, gzip JSON lines, made with the project's record builders), then runs saved
 * queries for ONE day and for the whole table on DuckDB and prints the files and bytes each read.
 *
 * Files read come from DuckDB's own EXPLAIN ANALYZE ("Total Files Read" of every READ_JSON scan);
 * bytes are the sizes of the files in the partitions the query's day filter selects, and the script
 * checks that DuckDB's file count equals the count of those files (so the bytes are the bytes read).
 * Exits 1 if a one-day query reads more than the partitions it names. Athena prunes the same
 * partitions through projection; its bytes scanned is the compressed size of those objects.
 *
 *   npm run measure:pruning
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { taskIdFor } from '../lambdas/shared/names';
import { buildClientRecord, buildWorkerRecord, ParamLogRecord } from '../lambdas/shared/param-log';
import { DAILY_COUNTS, LOST_TASK_COUNT_SQL, lostTaskParams, nextDay, previousDay } from '../lambdas/shared/queries';
import { ParamLogDb } from '../local/duckdb-sql';
import { writeLogObject } from '../local/param-log-fixture';

const TZ = 'Asia/Tokyo';
const FIRST_DAY = '2026-03-01';
const DAYS = 35;
const TASKS_PER_HOUR = 20;

function days(): string[] {
  const out = [FIRST_DAY];
  while (out.length < DAYS) out.push(nextDay(out[out.length - 1]));
  return out;
}

function writeFixture(root: string): void {
  for (const day of days()) {
    for (let hour = 0; hour < 24; hour++) {
      const tick = new Date(`${day}T${String(hour).padStart(2, '0')}:00:00+09:00`);
      const clients: ParamLogRecord[] = [];
      const workers: ParamLogRecord[] = [];
      for (let i = 0; i < TASKS_PER_HOUR; i++) {
        const key = `order-${i}`;
        const envelope: TaskEnvelope = { v: 1, taskId: taskIdFor('example-api', tick, key), job: 'example-api', key, params: { orderId: i, customer: `customer-${i}`, note: 'x'.repeat(80) }, attempt: 1, scheduledTime: tick.toISOString() };
        clients.push(buildClientRecord({ envelope, result: 'Started', now: new Date(tick.getTime() + 1000), timeZone: TZ, executionArn: `arn:aws:states:ap-northeast-1:123456789012:execution:x:${i}` }));
        // One task in 50 is lost (no worker record), one in 10 fails.
        if (i % 50 === 7) continue;
        workers.push(buildWorkerRecord({ envelope, now: new Date(tick.getTime() + 60_000), timeZone: TZ, executionArn: `arn:x:${i}`, error: i % 10 === 3 ? 'ExternalApiUnavailableError' : null, failedState: 'CallApi' }));
      }
      // One Firehose object per hour and stream, delivered 5 minutes after the hour.
      const arrival = new Date(tick.getTime() + 5 * 60_000);
      writeLogObject(root, clients, arrival, TZ, `client-${hour}`);
      writeLogObject(root, workers, arrival, TZ, `worker-${hour}`);
    }
  }
}

interface FileInfo {
  readonly prefix: string;
  readonly day: string;
  readonly bytes: number;
}

function listFiles(root: string): FileInfo[] {
  const out: FileInfo[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const m = /^(client|worker)\/year=(\d{4})\/month=(\d{2})\/day=(\d{2})\//.exec(relative(root, p).split(sep).join('/'));
        if (m) out.push({ prefix: m[1], day: `${m[2]}-${m[3]}-${m[4]}`, bytes: statSync(p).size });
      }
    }
  };
  walk(root);
  return out;
}

async function filesReadByDuckDb(db: ParamLogDb, sql: string, params: string[]): Promise<number> {
  const reader = await db.connection.runAndReadAll(`EXPLAIN ANALYZE ${sql}`, params);
  const plan = reader.getRows().map((r) => String(r[1])).join('\n');
  return [...plan.matchAll(/Total Files Read: (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'param-log-pruning-'));
  try {
    writeFixture(root);
    const files = listFiles(root);
    const total = { files: files.length, bytes: files.reduce((n, f) => n + f.bytes, 0) };
    const all = days();
    const day = all[10];
    const select = (want: Array<[string, string[]]>) => files.filter((f) => want.some(([prefix, ds]) => f.prefix === prefix && ds.includes(f.day)));
    const cases: Array<{ name: string; sql: string; params: string[]; expected: FileInfo[] }> = [
      { name: `daily counts, one day (${day})`, sql: DAILY_COUNTS.sql, params: [day, day], expected: select([['client', [day]], ['worker', [day]]]) },
      { name: `lost-task count, one day (${day})`, sql: LOST_TASK_COUNT_SQL, params: lostTaskParams(day), expected: select([['client', [day]], ['worker', [previousDay(day), day, nextDay(day)]]]) },
      { name: `daily counts, whole table (${all[0]}..${all[all.length - 1]})`, sql: DAILY_COUNTS.sql, params: [all[0], all[all.length - 1]], expected: files },
    ];
    const db = await ParamLogDb.open(root);
    let ok = true;
    console.log(`fixture: ${DAYS} days, ${total.files} objects, ${total.bytes} bytes (gzip), ${TASKS_PER_HOUR * 24} tasks/day`);
    console.log('query | files read (DuckDB) | bytes read | share of table');
    for (const c of cases) {
      const read = await filesReadByDuckDb(db, c.sql, c.params);
      const bytes = c.expected.reduce((n, f) => n + f.bytes, 0);
      const share = ((100 * bytes) / total.bytes).toFixed(2);
      console.log(`${c.name} | ${read}/${total.files} | ${bytes}/${total.bytes} | ${share}%`);
      if (read !== c.expected.length) {
        ok = false;
        console.error(`  PRUNING BROKEN: DuckDB read ${read} files, the day filter selects ${c.expected.length}`);
      }
    }
    db.close();
    if (!ok) process.exitCode = 1;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
