import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { join } from 'node:path';
import { HiveType, PARTITION_KEYS, tableColumns } from '../lib/investigation/schema';
import { CLIENT_TABLE, WORKER_TABLE } from '../lambdas/shared/queries';

/**
 * The ONE place that turns the saved Trino (Athena engine v3) queries into SQL DuckDB runs, so
 * that tests run the real query text over files laid out as in S3. The saved queries stay Trino.
 *
 * Differences, each handled here:
 * 1. Tables. Athena reads Glue tables with partition projection; DuckDB gets views of the same
 *    names over `read_json(..., hive_partitioning = true)` with the columns declared from the
 *    table schema and the partition keys typed VARCHAR (DuckDB would guess `month = 01` as an
 *    integer and lose the leading zero the projection's `digits = 2` keeps).
 * 2. Timestamps. The OpenX SerDe reads `yyyy-MM-dd HH:mm:ss.SSS` as a timestamp; DuckDB's JSON
 *    reader does too when the column is declared TIMESTAMP (`timestampformat` pinned below).
 * 3. Parameters. Athena substitutes `ExecutionParameters` as SQL literals (strings sent quoted,
 *    see `sqlStringLiteral`); DuckDB binds the raw values to the same `?` placeholders.
 * 4. A row compared to a subquery, `(a, b) = (SELECT ...)`, is Trino-only; write it as `IN`.
 *    The saved queries do not use it; {@link toDuckDb} refuses it rather than mistranslating.
 * Everything else the saved queries use (`concat`, `NOT EXISTS`, `UNION ALL`, `count(*)`,
 * `BETWEEN` on strings, double-quoted `"time"`) means the same in both.
 */
export const TRINO_DUCKDB_DIFFERENCES = [
  'tables: Glue tables with projection -> read_json views with declared columns and VARCHAR partition keys',
  "timestamps: OpenX reads 'yyyy-MM-dd HH:mm:ss.SSS' -> DuckDB column TIMESTAMP with that timestampformat",
  'parameters: Athena quoted SQL literals -> DuckDB bound values',
  'row = (subquery): Trino only -> refused (write IN)',
] as const;

/** Thrown when a query uses a Trino construct DuckDB would read differently. */
export class UntranslatableSqlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UntranslatableSqlError';
  }
}

/** Trino query text -> DuckDB query text (see the list above). */
export function toDuckDb(trinoSql: string): string {
  if (/\)\s*=\s*\(\s*SELECT\b/i.test(trinoSql)) {
    throw new UntranslatableSqlError('a row compared to a subquery, (a, b) = (SELECT ...), runs on Trino only: write it with IN');
  }
  return trinoSql;
}

const DUCKDB_TYPES: Record<HiveType, string> = { string: 'VARCHAR', int: 'INTEGER', bigint: 'BIGINT', timestamp: 'TIMESTAMP' };

const sqlString = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** The `read_json` source of one table over `<root>/<prefix>`, as Athena would read it. */
export function readJsonSource(root: string, prefix: 'client' | 'worker'): string {
  const columns = tableColumns()
    .map((c) => `${sqlString(c.name)}: ${sqlString(DUCKDB_TYPES[c.type])}`)
    .join(', ');
  const hiveTypes = PARTITION_KEYS.map((k) => `${sqlString(k)}: 'VARCHAR'`).join(', ');
  const glob = join(root, prefix, 'year=*', 'month=*', 'day=*', '*.gz');
  return `read_json(${sqlString(glob)}, format = 'newline_delimited', compression = 'gzip', hive_partitioning = true, hive_types = {${hiveTypes}}, columns = {${columns}}, timestampformat = '%Y-%m-%d %H:%M:%S.%g')`;
}

/** The columns of the log tables and their partition keys as typed NULLs (an empty table's select list). */
function emptyColumns(): string {
  return [...tableColumns().map((c) => `CAST(NULL AS ${DUCKDB_TYPES[c.type]}) AS "${c.name}"`), ...PARTITION_KEYS.map((k) => `CAST(NULL AS VARCHAR) AS "${k}"`)].join(', ');
}

/** An in-memory DuckDB with `client_log` and `worker_log` views over a local copy of the log bucket. */
export class ParamLogDb {
  private constructor(
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
  ) {}

  /** Opens DuckDB over `root` (which holds `client/` and `worker/` as in the bucket). */
  static async open(root: string): Promise<ParamLogDb> {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    for (const [table, prefix] of [
      [CLIENT_TABLE, 'client'],
      [WORKER_TABLE, 'worker'],
    ] as const) {
      // An empty prefix (no tick planned yet) is an empty table, as Athena reads it; read_json refuses a glob that matches nothing.
      const glob = join(root, prefix, 'year=*', 'month=*', 'day=*', '*.gz');
      const files = Number((await connection.runAndReadAll(`SELECT count(*) AS n FROM glob(${sqlString(glob)})`)).getRowObjectsJson()[0]?.n ?? 0);
      const source = files > 0 ? readJsonSource(root, prefix) : `(SELECT ${emptyColumns()} WHERE false)`;
      await connection.run(`CREATE VIEW ${table} AS SELECT * FROM ${source}`);
    }
    return new ParamLogDb(instance, connection);
  }

  /** Runs a saved (Trino) query with raw parameter values; rows as plain JSON-safe objects. */
  async query(trinoSql: string, params: ReadonlyArray<string> = []): Promise<Array<Record<string, unknown>>> {
    const reader = await this.connection.runAndReadAll(toDuckDb(trinoSql), [...params]);
    return reader.getRowObjectsJson() as Array<Record<string, unknown>>;
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
