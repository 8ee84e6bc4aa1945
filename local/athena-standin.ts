/**
 * An Athena stand-in for the operator CLI's tests: StartQueryExecution / GetQueryExecution /
 * GetQueryResults over AWS JSON 1.1 (target `AmazonAthena`), for the real `@aws-sdk/client-athena`
 * pointed at it (AWS_ENDPOINT_URL_ATHENA). The query text it is sent runs on DuckDB over a local copy
 * of the parameter-log bucket (local/duckdb-sql.ts, the same translation the saved-query tests use),
 * so the CLI's real SQL and parameters are executed, not matched.
 *
 * Modelled as Athena does it (AWS Athena API reference and user guide):
 * - the query runs asynchronously: QUEUED/RUNNING, then SUCCEEDED or FAILED with a StateChangeReason;
 * - `ExecutionParameters` are substituted as SQL literals (a string must be sent quoted, as
 *   `sqlStringLiteral` does); the stand-in reads each literal back and binds its value for DuckDB, and
 *   refuses an unquoted string as Athena's analyzer would (a bare word is a column name);
 * - the workgroup and the database must exist (`InvalidRequestException` otherwise);
 * - results: the first row of the first page holds the column names; a null is a Datum without
 *   `VarCharValue`; pages of `MaxResults` (at most 1000) with NextToken.
 * Never bundled into Lambda code.
 */
import { randomUUID } from 'node:crypto';
import { ParamLogDb, toDuckDb } from './duckdb-sql';
import { sendJsonError, StandinServer, startStandinServer } from './standin-http';

const CONTENT_TYPE = 'application/x-amz-json-1.1';

interface Execution {
  readonly id: string;
  readonly query: string;
  readonly workGroup: string;
  readonly database: string;
  state: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  reason?: string;
  columns: string[];
  rows: Array<Array<string | null>>;
  readonly submitted: Date;
  completed?: Date;
}

export interface AthenaStandin extends StandinServer {
  /** Queries started, in order (text and raw ExecutionParameters). */
  readonly started: Array<{ query: string; parameters: string[]; workGroup: string; database: string }>;
  /** Requests per operation. */
  readonly calls: Record<string, number>;
}

export interface AthenaStandinOptions {
  /** The region the workgroup lives in. */
  readonly region: string;
  readonly workGroup: string;
  readonly database: string;
  /** Local copy of the log bucket (`client/`, `worker/` as Firehose writes them). */
  readonly logRoot: string;
  /** Polls answered RUNNING before the result is visible (to exercise the caller's polling). @default 1 */
  readonly runningPolls?: number;
}

/** A parameter as Athena reads it: a quoted string literal, or a number. */
export function literalValue(literal: string): string {
  const s = literal.trim();
  if (/^'(?:[^']|'')*'$/.test(s)) return s.slice(1, -1).replace(/''/g, "'");
  if (/^-?\d+(\.\d+)?$/.test(s)) return s;
  throw new Error(`COLUMN_NOT_FOUND: line 1:1: Column '${s}' cannot be resolved (an ExecutionParameters string must be a quoted SQL literal)`);
}

const text = (v: unknown): string | null => (v === null || v === undefined ? null : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** Starts the stand-in; `stop()` also closes DuckDB. */
export async function startAthenaStandin(o: AthenaStandinOptions): Promise<AthenaStandin> {
  // Opened at the first query, so a test can write the log after starting the stand-in.
  let db: Promise<ParamLogDb> | null = null;
  const executions = new Map<string, Execution>();
  const polls = new Map<string, number>();
  const started: AthenaStandin['started'] = [];
  const calls: Record<string, number> = {};

  const run = async (e: Execution, parameters: string[]): Promise<void> => {
    try {
      const values = parameters.map(literalValue);
      db ??= ParamLogDb.open(o.logRoot);
      const reader = await (await db).connection.runAndReadAll(toDuckDb(e.query), values);
      e.columns = reader.columnNames();
      e.rows = (reader.getRowObjectsJson() as Array<Record<string, unknown>>).map((r) => e.columns.map((c) => text(r[c])));
      e.state = 'SUCCEEDED';
    } catch (err) {
      e.state = 'FAILED';
      e.reason = err instanceof Error ? err.message : String(err);
    }
    e.completed = new Date();
  };

  const server = await startStandinServer(async ({ req, body, scope }, res) => {
    const op = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
    calls[op] = (calls[op] ?? 0) + 1;
    const fail = (type: string, message: string, status = 400) => sendJsonError(res, status, CONTENT_TYPE, type, message);
    const ok = (payload: unknown) => res.writeHead(200, { 'content-type': CONTENT_TYPE }).end(JSON.stringify(payload));
    if (!scope) return fail('MissingAuthenticationTokenException', 'Missing Authentication Token', 403);
    const p = JSON.parse(body || '{}') as Record<string, unknown>;
    if (op === 'StartQueryExecution') {
      const workGroup = String(p.WorkGroup ?? 'primary');
      const database = String((p.QueryExecutionContext as { Database?: string } | undefined)?.Database ?? 'default');
      if (scope.region !== o.region || workGroup !== o.workGroup) return fail('InvalidRequestException', `WorkGroup ${workGroup} is not found.`);
      if (database !== o.database) return fail('InvalidRequestException', `SCHEMA_NOT_FOUND: Schema '${database}' does not exist`);
      const parameters = (p.ExecutionParameters as string[] | undefined) ?? [];
      const e: Execution = { id: randomUUID(), query: String(p.QueryString ?? ''), workGroup, database, state: 'RUNNING', columns: [], rows: [], submitted: new Date() };
      executions.set(e.id, e);
      polls.set(e.id, 0);
      started.push({ query: e.query, parameters, workGroup, database });
      void run(e, parameters);
      return ok({ QueryExecutionId: e.id });
    }
    const e = executions.get(String(p.QueryExecutionId ?? ''));
    if (!e) return fail('InvalidRequestException', `QueryExecution ${String(p.QueryExecutionId)} was not found`);
    if (op === 'GetQueryExecution') {
      const n = (polls.get(e.id) ?? 0) + 1;
      polls.set(e.id, n);
      const state = n <= (o.runningPolls ?? 1) ? 'RUNNING' : e.state;
      return ok({
        QueryExecution: {
          QueryExecutionId: e.id,
          Query: e.query,
          StatementType: 'DML',
          WorkGroup: e.workGroup,
          QueryExecutionContext: { Database: e.database, Catalog: 'AwsDataCatalog' },
          Status: {
            State: state,
            ...(state === 'FAILED' ? { StateChangeReason: e.reason } : {}),
            SubmissionDateTime: e.submitted.getTime() / 1000,
            ...(state !== 'RUNNING' && e.completed ? { CompletionDateTime: e.completed.getTime() / 1000 } : {}),
          },
        },
      });
    }
    if (op === 'GetQueryResults') {
      if (e.state !== 'SUCCEEDED') return fail('InvalidRequestException', `Query has not yet finished. Current state: ${e.state}`);
      const max = Number(p.MaxResults ?? 1000);
      if (!Number.isInteger(max) || max < 1 || max > 1000) return fail('InvalidRequestException', 'MaxResults must be 1-1000');
      const all = [e.columns, ...e.rows];
      const start = Number(p.NextToken ?? '0');
      const page = all.slice(start, start + max);
      return ok({
        ResultSet: {
          Rows: page.map((r) => ({ Data: r.map((v) => (v === null ? {} : { VarCharValue: v })) })),
          ResultSetMetadata: { ColumnInfo: e.columns.map((c) => ({ Name: c, Label: c, Type: 'varchar' })) },
        },
        ...(start + max < all.length ? { NextToken: String(start + max) } : {}),
      });
    }
    return fail('UnknownOperationException', `not served by the stand-in: ${op}`);
  });
  return {
    ...server,
    started,
    calls,
    async stop() {
      await server.stop();
      if (db) (await db.catch(() => null))?.close();
    },
  };
}
