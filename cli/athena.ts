import { AthenaClient, GetQueryExecutionCommand, GetQueryResultsCommand, StartQueryExecutionCommand, StopQueryExecutionCommand } from '@aws-sdk/client-athena';
import { SavedQuery, sqlStringLiteral } from '../lambdas/shared/queries';
import { CliError, explain } from './errors';

/** Where and how long a saved query runs. */
export interface QueryRun {
  readonly workGroup: string;
  readonly database: string;
  /** Give up (and stop the query) after this long, ms. */
  readonly timeoutMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  /** Told the query execution id once Athena accepted the query (evidence for `prove`). */
  readonly onQueryId?: (id: string) => void;
}

/** Rows of a finished query as objects keyed by column; SQL NULL is null. */
export type Row = Record<string, string | null>;

/**
 * Runs a saved query (lambdas/shared/queries.ts) in the stack's workgroup with its parameters, waits
 * for it, and reads every result page. Parameters are sent as SQL literals: Athena substitutes
 * ExecutionParameters as SQL text (AWS Athena user guide, "Querying with parameterized queries").
 */
export async function runSavedQuery(athena: AthenaClient, query: SavedQuery, values: ReadonlyArray<string>, run: QueryRun): Promise<Row[]> {
  if (values.length !== query.params.length) throw new Error(`${query.id} takes ${query.params.length} parameters, got ${values.length}`);
  let id: string;
  try {
    const r = await athena.send(
      new StartQueryExecutionCommand({
        QueryString: query.sql,
        QueryExecutionContext: { Database: run.database },
        WorkGroup: run.workGroup,
        ExecutionParameters: values.map(sqlStringLiteral),
      }),
    );
    id = r.QueryExecutionId as string;
    run.onQueryId?.(id);
  } catch (e) {
    throw explain(e, `start the saved query "${query.name}" (athena:StartQueryExecution in workgroup ${run.workGroup})`);
  }
  const deadline = run.now() + run.timeoutMs;
  let wait = 200;
  for (;;) {
    let state: string | undefined;
    let reason: string | undefined;
    try {
      const r = await athena.send(new GetQueryExecutionCommand({ QueryExecutionId: id }));
      state = r.QueryExecution?.Status?.State;
      reason = r.QueryExecution?.Status?.StateChangeReason;
    } catch (e) {
      throw explain(e, `follow query ${id} (athena:GetQueryExecution)`);
    }
    if (state === 'SUCCEEDED') break;
    if (state === 'FAILED' || state === 'CANCELLED') throw new CliError(`Athena query ${id} ${state}: ${reason ?? 'no reason given'}`, 'See the query in the Athena console (workgroup history).');
    if (run.now() >= deadline) {
      await athena.send(new StopQueryExecutionCommand({ QueryExecutionId: id })).catch(() => undefined);
      throw new CliError(`Athena query ${id} did not finish within ${Math.round(run.timeoutMs / 1000)} s; it was stopped`, 'Narrow the days (--first-day/--last-day) or raise --athena-timeout.');
    }
    await run.sleep(wait);
    wait = Math.min(2_000, wait * 2);
  }
  const rows: Row[] = [];
  let columns: string[] | null = null;
  let token: string | undefined;
  try {
    do {
      const r = await athena.send(new GetQueryResultsCommand({ QueryExecutionId: id, NextToken: token, MaxResults: 1000 }));
      const page = r.ResultSet?.Rows ?? [];
      let start = 0;
      if (columns === null) {
        columns = (r.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []).map((c) => c.Name ?? '');
        start = 1; // the first row of the first page is the header
      }
      for (const row of page.slice(start)) {
        rows.push(Object.fromEntries((columns ?? []).map((c, i) => [c, row.Data?.[i]?.VarCharValue ?? null])));
      }
      token = r.NextToken;
    } while (token);
  } catch (e) {
    throw explain(e, `read the results of query ${id} (athena:GetQueryResults, s3:GetObject and kms:Decrypt on the results bucket)`);
  }
  return rows;
}
