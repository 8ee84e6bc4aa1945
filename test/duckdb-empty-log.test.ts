import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DAILY_COUNTS, LOST_TASK_COUNT_SQL, lostTaskParams } from '../lambdas/shared/queries';
import { ParamLogDb } from '../local/duckdb-sql';

/** An offline run whose only tick failed writes no record: its log reads as empty tables (as Athena reads an empty prefix), not as an error. */
test('the saved queries over a log folder with no file answer nothing lost and no counts', async () => {
  const root = mkdtempSync(join(tmpdir(), 'empty-log-'));
  const db = await ParamLogDb.open(root);
  try {
    expect(Number((await db.query(LOST_TASK_COUNT_SQL, lostTaskParams('2026-11-25')))[0].lost)).toBe(0);
    expect(await db.query(DAILY_COUNTS.sql, ['2026-11-25', '2026-11-26'])).toEqual([]);
  } finally {
    db.close();
    rmSync(root, { recursive: true, force: true });
  }
});
