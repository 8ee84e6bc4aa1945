import { candidateRows, VerifiedLostTasks, verifiedLostTasks } from '../lambdas/lost-task-monitor/verified';
import { LOST_TASK_CANDIDATES_SQL, lostTaskCandidateParams } from '../lambdas/shared/queries';
import { MacVerifier } from '../lambdas/shared/record-mac';
import { ParamLogDb, toDuckDb } from './duckdb-sql';

const text = (v: unknown): string | null => (v === null || v === undefined ? null : typeof v === 'object' ? JSON.stringify(v) : String(v));

/**
 * The lost-task monitor's verified count of `day` over a local copy of the log: its candidate query
 * on DuckDB, the rows as Athena returns them (text, header first), then the monitor's own rule and
 * MAC checks (lambdas/lost-task-monitor/verified.ts). For local runs that must show every record
 * their writers made verifies. Never bundled into Lambda code.
 */
export async function verifiedLostTasksOf(db: ParamLogDb, day: string, verifier: MacVerifier): Promise<VerifiedLostTasks> {
  const reader = await db.connection.runAndReadAll(toDuckDb(LOST_TASK_CANDIDATES_SQL), lostTaskCandidateParams(day));
  const columns = reader.columnNames();
  const rows = (reader.getRowObjectsJson() as Array<Record<string, unknown>>).map((r) => columns.map((c) => text(r[c])));
  return verifiedLostTasks(candidateRows([columns, ...rows]), verifier);
}
