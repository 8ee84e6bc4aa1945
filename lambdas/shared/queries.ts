/**
 * The saved Athena queries over the parameter log: ONE source used by the CDK named queries
 * (lib/investigation), the lost-task monitor Lambda and the tests (which run them on DuckDB).
 *
 * Queries are Trino SQL (Athena engine v3) with positional `?` parameters. The Athena console
 * asks for each `?` in order when a saved query is run; the monitor passes them as
 * `ExecutionParameters`. Athena substitutes parameters as SQL literals, so string values must be
 * sent quoted (see {@link sqlStringLiteral}); DuckDB binds the raw values instead.
 *
 * Days are `yyyy-MM-dd` in the app's time zone, the same calendar as the `year=/month=/day=`
 * partitions. Every query filters on the partition columns (directly, or through
 * {@link PARTITION_DAY}) so that Athena reads only the days asked for.
 */

/** Glue table names of the two record types (client = producer side, worker = workflow side). */
export const CLIENT_TABLE = 'client_log';
export const WORKER_TABLE = 'worker_log';

/** The partition day as `yyyy-MM-dd`, built from the partition columns only (so it prunes). */
export const PARTITION_DAY = "concat(year, '-', month, '-', day)";

/** One positional parameter of a saved query. */
export interface QueryParam {
  /** What the console user types, e.g. `first_day`. */
  readonly name: string;
  /** Example value as typed in the Athena console (a quoted SQL literal). */
  readonly example: string;
}

/** A saved query: its console name, what it answers, its SQL and its parameters in order. */
export interface SavedQuery {
  /** Stable id (construct id of the named query, test names). */
  readonly id: string;
  /** Console name. */
  readonly name: string;
  readonly description: string;
  /** Trino SQL with `?` placeholders. */
  readonly sql: string;
  /** The `?` parameters, in the order they appear in `sql`. */
  readonly params: ReadonlyArray<QueryParam>;
}

const DAY = (name: string, example: string): QueryParam => ({ name, example: `'${example}'` });

// Both tables have the same columns, so one UNION ALL lets a query read "all records of a task"
// with one set of parameters; Trino pushes the outer WHERE (incl. the partition filter) into
// both branches, so each table is still pruned.
const BOTH_TABLES = `(
  SELECT * FROM ${CLIENT_TABLE}
  UNION ALL
  SELECT * FROM ${WORKER_TABLE}
)`;

/** Params and outcome of one task: every client and worker record of it, oldest first. */
export const TASK_BY_ID: SavedQuery = {
  id: 'TaskById',
  name: 'param-log: task by id',
  description:
    'Params and outcome of one task: all its client (start) and worker (end) records. Parameters: task_id, first_day, last_day (yyyy-MM-dd, app time zone).',
  sql: `SELECT "time", type, result, attempt, module AS job, task_id, error, cause, failed_state, execution_arn, scheduled_time, params, mac
FROM ${BOTH_TABLES} AS r
WHERE task_id = ?
  AND ${PARTITION_DAY} BETWEEN ? AND ?
ORDER BY "time", type`,
  params: [{ name: 'task_id', example: "'example-api-20261125T0305Z-order-42'" }, DAY('first_day', '2026-11-25'), DAY('last_day', '2026-11-26')],
};

/** Failures of one job over a day range: failed, timed-out or aborted executions, failed starts and refused specs. */
export const JOB_FAILURES: SavedQuery = {
  id: 'JobFailures',
  name: 'param-log: failures of a job',
  description:
    'Failures of one job over a day range: worker Failure/TimedOut/Aborted and client StartFailed/Rejected records. Parameters: job, first_day, last_day (yyyy-MM-dd).',
  sql: `SELECT "time", type, result, task_id, attempt, error, failed_state, cause, execution_arn, params, mac
FROM ${BOTH_TABLES} AS r
WHERE module = ?
  AND ${PARTITION_DAY} BETWEEN ? AND ?
  AND result IN ('Failure', 'TimedOut', 'Aborted', 'StartFailed', 'Rejected')
ORDER BY "time"`,
  params: [{ name: 'job', example: "'example-api'" }, DAY('first_day', '2026-11-01'), DAY('last_day', '2026-11-30')],
};

/** Daily counts by job, record type and result over a day range. */
export const DAILY_COUNTS: SavedQuery = {
  id: 'DailyCounts',
  name: 'param-log: daily counts by job and result',
  description: 'Records per day, job, type and result (Started/Duplicate/StartFailed/Rejected, Success/Failure/TimedOut/Aborted). Parameters: first_day, last_day (yyyy-MM-dd).',
  sql: `SELECT ${PARTITION_DAY} AS log_day, module AS job, type, result, count(*) AS records
FROM ${BOTH_TABLES} AS r
WHERE ${PARTITION_DAY} BETWEEN ? AND ?
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4`,
  params: [DAY('first_day', '2026-11-01'), DAY('last_day', '2026-11-30')],
};

/** Tasks the tick starter could not start (StartExecution failed; spooled as StartFailed for replay). */
export const START_FAILURES: SavedQuery = {
  id: 'StartFailures',
  name: 'param-log: tasks that failed to start',
  description: 'Client StartFailed records (they were spooled for replay). Parameters: first_day, last_day (yyyy-MM-dd).',
  sql: `SELECT "time", module AS job, task_id, attempt, error, cause, scheduled_time, params, mac
FROM ${CLIENT_TABLE}
WHERE ${PARTITION_DAY} BETWEEN ? AND ?
  AND result = 'StartFailed'
ORDER BY "time"`,
  params: [DAY('first_day', '2026-11-01'), DAY('last_day', '2026-11-30')],
};

/**
 * Lost tasks of one day, per attempt: (task, attempt) pairs with a client record of that day saying
 * they were started (the starter's for attempt 1, reprocess's for each replay, attempt N+1), and no
 * worker record of that attempt on the day before, that day or the next (a replay that never ends is
 * lost even when the first attempt's failure was recorded). Partitions are Firehose ARRIVAL days, so
 * one attempt's records straddle midnight either way: an execution that ends after midnight (or
 * whose end Firehose delivers after it) has its end on the next day; a start recorded `Duplicate`
 * after midnight (its first client record failed and the retry met the existing name) or buffered
 * past midnight has its end on the day before. The same (task, attempt) is the same execution name,
 * so an end on the day before is that execution's end. Three days keep the scan bounded (partition
 * pruning); an end further away counts as lost. "Started" includes
 * `Duplicate`: when a starter's checkpoint fails after its starts went through (e.g. Firehose
 * refused the records), the retried batch finds those executions existing and records them as
 * Duplicate, so for such a task Duplicate is the only client record there is. One row per task
 * (a task can have both). Params are not selected: the monitor only counts, and the console user
 * can look a task up with {@link TASK_BY_ID}.
 */
export const LOST_TASKS: SavedQuery = {
  id: 'LostTasks',
  name: 'param-log: lost tasks of a day',
  description:
    'Tasks started on a day (client Started or Duplicate) that have no worker record of that attempt on the day before, that day or the next (the workflow never recorded an end). Parameters: day, previous_day, day, next_day (yyyy-MM-dd).',
  sql: `SELECT min(c."time") AS "time", c.module AS job, c.task_id, c.attempt, max(c.execution_arn) AS execution_arn, c.scheduled_time
FROM ${CLIENT_TABLE} AS c
WHERE concat(c.year, '-', c.month, '-', c.day) = ?
  AND c.result IN ('Started', 'Duplicate')
  AND NOT EXISTS (
    SELECT 1 FROM ${WORKER_TABLE} AS w
    WHERE concat(w.year, '-', w.month, '-', w.day) IN (?, ?, ?)
      AND w.task_id = c.task_id
      AND w.attempt = c.attempt
  )
GROUP BY c.module, c.task_id, c.attempt, c.scheduled_time
ORDER BY 1`,
  params: [DAY('day', '2026-11-25'), DAY('previous_day', '2026-11-24'), DAY('day', '2026-11-25'), DAY('next_day', '2026-11-26')],
};

/** The lost-task count the monitor runs: the same query, counted. */
export const LOST_TASK_COUNT_SQL = `SELECT count(*) AS lost FROM (\n${LOST_TASKS.sql.replace(/\nORDER BY[^\n]*$/, '')}\n) AS lost_tasks`;

/** Every record column, in record order (the MAC covers all but `mac`): what a verifier must read. */
const RECORD_COLUMNS = 'type, "time", task_id, module, params, result, error, cause, execution_arn, attempt, scheduled_time, failed_state, mac';

/**
 * What the lost-task monitor reads to decide lost tasks itself, since Athena cannot check a MAC
 * (lambdas/shared/record-mac.ts): every client `Started`/`Duplicate` record of the day, and every
 * worker record of the day before, that day or the next of those tasks, each with all its fields and its `mac`,
 * as `source` ('client' or 'worker': the table it was read from) and the record columns. The
 * monitor verifies each record (KMS VerifyMac), drops those that fail (counting them as forged)
 * and applies {@link LOST_TASKS}'s rule to the rest (lambdas/lost-task-monitor/verified.ts); a
 * test runs both over the same log and requires the same count. Not a console query (it returns
 * params of a whole day); parameters: day, previous_day, day, next_day, day.
 */
export const LOST_TASK_CANDIDATES_SQL = `SELECT 'client' AS source, ${RECORD_COLUMNS}
FROM ${CLIENT_TABLE} AS c
WHERE concat(c.year, '-', c.month, '-', c.day) = ?
  AND c.result IN ('Started', 'Duplicate')
UNION ALL
SELECT 'worker' AS source, ${RECORD_COLUMNS}
FROM ${WORKER_TABLE} AS w
WHERE concat(w.year, '-', w.month, '-', w.day) IN (?, ?, ?)
  AND w.task_id IN (
    SELECT c2.task_id FROM ${CLIENT_TABLE} AS c2
    WHERE concat(c2.year, '-', c2.month, '-', c2.day) = ?
      AND c2.result IN ('Started', 'Duplicate')
  )`;

/** Raw parameter values of {@link LOST_TASK_CANDIDATES_SQL} for `day`, in `?` order. */
export function lostTaskCandidateParams(day: string): string[] {
  return [parseDay(day), previousDay(day), day, nextDay(day), day];
}

/** Every saved query, in console order. */
export const SAVED_QUERIES: ReadonlyArray<SavedQuery> = [TASK_BY_ID, JOB_FAILURES, DAILY_COUNTS, START_FAILURES, LOST_TASKS];

const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Thrown for a day that is not a real `yyyy-MM-dd` date. */
export class InvalidDayError extends Error {
  constructor(value: string) {
    super(`"${value}" is not a day in the form yyyy-MM-dd`);
    this.name = 'InvalidDayError';
  }
}

/** Validates `yyyy-MM-dd` (a real calendar day) and returns it. */
export function parseDay(value: string): string {
  const m = DAY_RE.exec(value);
  if (!m) throw new InvalidDayError(value);
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  if (d.toISOString().slice(0, 10) !== value) throw new InvalidDayError(value);
  return value;
}

/** The calendar day after `day` (`yyyy-MM-dd`); plain date arithmetic, no time zone involved. */
export function nextDay(day: string): string {
  const [y, m, d] = parseDay(day).split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

/** The calendar day before `day`. */
export function previousDay(day: string): string {
  const [y, m, d] = parseDay(day).split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d - 1)).toISOString().slice(0, 10);
}

/** Raw parameter values of the lost-task query for `day`, in `?` order. */
export function lostTaskParams(day: string): string[] {
  return [parseDay(day), previousDay(day), day, nextDay(day)];
}

/** A string as a Trino SQL literal, for Athena `ExecutionParameters` (which are substituted as SQL). */
export function sqlStringLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
