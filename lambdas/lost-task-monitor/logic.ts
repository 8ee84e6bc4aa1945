import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  QueryExecutionState,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { zonedParts } from '../shared/param-log';
import { LOST_TASK_CANDIDATES_SQL, LOST_TASK_COUNT_SQL, lostTaskCandidateParams, lostTaskParams, parseDay, previousDay, sqlStringLiteral } from '../shared/queries';
import { MacVerifier } from '../shared/record-mac';
import { candidateRows, verifiedLostTasks } from './verified';

/**
 * The lost-task monitor's logic: which day to check, running the saved lost-task query (counted)
 * in the investigation workgroup and reading the count. Every way of not knowing the count throws
 * a typed error, so the Lambda fails, its errors alarm fires, and 0 is never reported by mistake.
 */

/** The Scheduler's payload (`scheduledTime`), or a manual run's `day` (`yyyy-MM-dd`) to re-check a day. */
export interface MonitorEvent {
  readonly scheduledTime?: string;
  readonly day?: string;
}

export interface MonitorSettings {
  readonly workGroup: string;
  readonly database: string;
  /** The app's time zone: the calendar of the partitions. */
  readonly timeZone: string;
  /** Give up (and stop the query) this many ms after starting; keep it below the Lambda timeout. */
  readonly deadlineMs: number;
  /** First wait between polls, ms; doubles up to `maxPollMs`. */
  readonly initialPollMs: number;
  readonly maxPollMs: number;
}

/** Clock and sleep, injected so tests do not wait. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** The query ended FAILED or CANCELLED: the count is unknown. */
export class LostTaskQueryFailedError extends Error {
  constructor(
    readonly queryExecutionId: string,
    readonly state: string,
    reason: string,
  ) {
    super(`lost-task query ${queryExecutionId} ended ${state}: ${reason}`);
    this.name = 'LostTaskQueryFailedError';
  }
}

/** The query did not finish before the deadline (it was stopped): the count is unknown. */
export class LostTaskQueryTimeoutError extends Error {
  constructor(
    readonly queryExecutionId: string,
    deadlineMs: number,
  ) {
    super(`lost-task query ${queryExecutionId} did not finish within ${deadlineMs} ms; it was stopped`);
    this.name = 'LostTaskQueryTimeoutError';
  }
}

/** The query succeeded but its result is not one non-negative integer count. */
export class LostTaskResultError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LostTaskResultError';
  }
}

/** Thrown for a bad event (a `day` that is not yyyy-MM-dd, a bad scheduledTime). */
export class InvalidMonitorEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidMonitorEventError';
  }
}

/**
 * The day to check: the event's `day` when given, else the day BEFORE the schedule tick (or now)
 * in the app's time zone, so that its worker records of "the next day" have had time to land.
 */
export function dayToCheck(event: MonitorEvent | null | undefined, now: Date, timeZone: string): string {
  if (event?.day !== undefined) {
    try {
      return parseDay(event.day);
    } catch (e) {
      throw new InvalidMonitorEventError(e instanceof Error ? e.message : String(e));
    }
  }
  let at = now;
  if (event?.scheduledTime !== undefined) {
    at = new Date(event.scheduledTime);
    if (Number.isNaN(at.getTime())) throw new InvalidMonitorEventError(`scheduledTime "${event.scheduledTime}" is not a time`);
  }
  const p = zonedParts(at, timeZone);
  return previousDay(`${p.year}-${p.month}-${p.day}`);
}

/** Reads the single count of a `SELECT count(*)` result (first row is the header). */
export function parseCount(rows: ReadonlyArray<{ Data?: ReadonlyArray<{ VarCharValue?: string }> }> | undefined): number {
  const dataRows = (rows ?? []).slice(1);
  if (dataRows.length !== 1) throw new LostTaskResultError(`expected one result row with the count, got ${dataRows.length}`);
  const raw = dataRows[0].Data?.[0]?.VarCharValue;
  if (raw === undefined || !/^\d+$/.test(raw)) throw new LostTaskResultError(`the count is not a non-negative integer: ${JSON.stringify(raw ?? null)}`);
  return Number(raw);
}

/** Result of one check. */
export interface LostTaskCount {
  readonly day: string;
  readonly lost: number;
  readonly queryExecutionId: string;
}

/**
 * Runs `sql` with `params` in the workgroup and waits for it with a bounded, backing-off poll;
 * returns the query execution id once it SUCCEEDED. Throws when the query fails, is cancelled or
 * times out (then it is stopped).
 */
export async function runQuery(athena: AthenaClient, settings: MonitorSettings, sql: string, params: ReadonlyArray<string>, clock: Clock = realClock): Promise<string> {
  const started = clock.now();
  const start = await athena.send(
    new StartQueryExecutionCommand({
      QueryString: sql,
      QueryExecutionContext: { Catalog: 'AwsDataCatalog', Database: settings.database },
      WorkGroup: settings.workGroup,
      // Athena substitutes parameters as SQL literals: strings go quoted.
      ExecutionParameters: params.map(sqlStringLiteral),
    }),
  );
  const id = start.QueryExecutionId;
  if (!id) throw new LostTaskResultError('StartQueryExecution returned no QueryExecutionId');

  let wait = settings.initialPollMs;
  for (;;) {
    const { QueryExecution: qe } = await athena.send(new GetQueryExecutionCommand({ QueryExecutionId: id }));
    const state = qe?.Status?.State;
    if (state === QueryExecutionState.SUCCEEDED) return id;
    if (state === QueryExecutionState.FAILED || state === QueryExecutionState.CANCELLED) {
      throw new LostTaskQueryFailedError(id, state, qe?.Status?.AthenaError?.ErrorMessage ?? qe?.Status?.StateChangeReason ?? 'no reason given');
    }
    const left = settings.deadlineMs - (clock.now() - started);
    if (left <= 0) {
      // Stop it so a runaway query does not keep scanning (and billing) after we gave up.
      await athena.send(new StopQueryExecutionCommand({ QueryExecutionId: id })).catch(() => undefined);
      throw new LostTaskQueryTimeoutError(id, settings.deadlineMs);
    }
    await clock.sleep(Math.min(wait, left));
    wait = Math.min(wait * 2, settings.maxPollMs);
  }
}

/**
 * Runs the lost-task count for `day` (the saved query, counted in SQL: it does not check MACs).
 * Throws (never returns 0) when the query fails, is cancelled, times out or returns no count.
 */
export async function countLostTasks(athena: AthenaClient, settings: MonitorSettings, day: string, clock: Clock = realClock): Promise<LostTaskCount> {
  const id = await runQuery(athena, settings, LOST_TASK_COUNT_SQL, lostTaskParams(day), clock);
  const results = await athena.send(new GetQueryResultsCommand({ QueryExecutionId: id, MaxResults: 10 }));
  return { day, lost: parseCount(results.ResultSet?.Rows), queryExecutionId: id };
}

/** Every row of a finished query (header first), page by page; a null is null. */
export async function readAllRows(athena: AthenaClient, queryExecutionId: string): Promise<Array<Array<string | null>>> {
  const rows: Array<Array<string | null>> = [];
  let token: string | undefined;
  do {
    const page = await athena.send(new GetQueryResultsCommand({ QueryExecutionId: queryExecutionId, MaxResults: 1000, NextToken: token }));
    for (const r of page.ResultSet?.Rows ?? []) rows.push((r.Data ?? []).map((d) => d.VarCharValue ?? null));
    token = page.NextToken;
  } while (token);
  return rows;
}

/** Result of a verified check. */
export interface VerifiedLostTaskCount extends LostTaskCount {
  /** Records with a missing or bad MAC (treated as absent). */
  readonly forged: number;
  /** Records checked with VerifyMac. */
  readonly checked: number;
  readonly forgedTaskIds: ReadonlyArray<string>;
}

/**
 * The monitor's check of `day`: reads the candidate records (LOST_TASK_CANDIDATES_SQL), verifies
 * each record's MAC with `verifier` (KMS VerifyMac) and counts lost tasks among the genuine ones
 * (./verified.ts). The count is authoritative; the saved query's count is not (it cannot check MACs).
 */
export async function checkLostTasks(athena: AthenaClient, verifier: MacVerifier, settings: MonitorSettings, day: string, clock: Clock = realClock): Promise<VerifiedLostTaskCount> {
  const id = await runQuery(athena, settings, LOST_TASK_CANDIDATES_SQL, lostTaskCandidateParams(day), clock);
  const rows = candidateRows(await readAllRows(athena, id));
  const v = await verifiedLostTasks(rows, verifier);
  return { day, lost: v.lost, forged: v.forged, checked: v.checked, forgedTaskIds: v.forgedTaskIds, queryExecutionId: id };
}
