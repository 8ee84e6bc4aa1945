import { ParamLogRecord, PARAM_LOG_COLUMNS } from '../../lambdas/shared/param-log';
import { CLIENT_TABLE, WORKER_TABLE } from '../../lambdas/shared/queries';

/**
 * The Athena table schema of the parameter log, derived from the record contract
 * (lambdas/shared/param-log.ts). The `Record<keyof ParamLogRecord, ...>` type makes a new record
 * field a compile error here until the table declares it.
 */
export type HiveType = 'string' | 'int' | 'bigint' | 'timestamp';

/** Hive type of every record field. `time` is `yyyy-MM-dd HH:mm:ss.SSS` (java.sql.Timestamp text), which the OpenX SerDe reads as a timestamp. */
export const PARAM_LOG_COLUMN_TYPES: Readonly<Record<keyof ParamLogRecord, HiveType>> = {
  time: 'timestamp',
  type: 'string',
  task_id: 'string',
  module: 'string',
  params: 'string',
  result: 'string',
  error: 'string',
  cause: 'string',
  execution_arn: 'string',
  attempt: 'int',
  scheduled_time: 'string',
  failed_state: 'string',
  mac: 'string',
};

/** Table columns in record order: `{ name, type }`. */
export function tableColumns(): Array<{ name: string; type: HiveType }> {
  return PARAM_LOG_COLUMNS.map((name) => ({ name, type: PARAM_LOG_COLUMN_TYPES[name] }));
}

/** Partition keys, all strings, exactly as Firehose writes them: `year=2026/month=01/day=05`. */
export const PARTITION_KEYS = ['year', 'month', 'day'] as const;

/** The OpenX JSON SerDe class (Athena's JSON SerDe that tolerates unknown keys and reads Hive timestamps). */
export const OPENX_JSON_SERDE = 'org.openx.data.jsonserde.JsonSerDe';

/** Which table reads which prefix of the log bucket. */
export const TABLE_PREFIXES = { [CLIENT_TABLE]: 'client/', [WORKER_TABLE]: 'worker/' } as const;

/** Options of the partition projection. */
export interface ProjectionOptions {
  /** First year with data (config `investigation.firstLogYear`). */
  readonly firstYear: number;
}

/**
 * Partition projection properties: Athena computes partitions from these (no crawler, no MSCK
 * REPAIR). The year is a `date` projection from the first log year to `NOW+1DAYS`, so the range
 * grows by itself with no decades of empty future years, and a record written in the first hours
 * of January 1st in a time zone ahead of UTC (Firehose partitions in the app time zone, Athena's
 * NOW is UTC) is still in range. Month and day are two-digit integers, as Firehose writes `MM`/`dd`.
 */
export function projectionProperties(location: string, opts: ProjectionOptions): Record<string, string> {
  return {
    'projection.enabled': 'true',
    'projection.year.type': 'date',
    'projection.year.format': 'yyyy',
    'projection.year.range': `${opts.firstYear},NOW+1DAYS`,
    'projection.year.interval': '1',
    'projection.year.interval.unit': 'YEARS',
    'projection.month.type': 'integer',
    'projection.month.range': '1,12',
    'projection.month.digits': '2',
    'projection.day.type': 'integer',
    'projection.day.range': '1,31',
    'projection.day.digits': '2',
    'storage.location.template': `${location}year=\${year}/month=\${month}/day=\${day}/`,
  };
}

/** Table properties besides the projection. */
export const TABLE_PROPERTIES = { classification: 'json', compressionType: 'gzip', EXTERNAL: 'TRUE' } as const;

/**
 * `CREATE EXTERNAL TABLE` DDL of one table, from the same column list and properties as the CDK
 * table: for the docs (recreate a table by hand) and for the Hive-syntax test.
 * @param location `s3://bucket/client/` (with trailing slash)
 */
export function createTableDdl(table: string, location: string, opts: ProjectionOptions): string {
  const cols = tableColumns()
    .map((c) => `  \`${c.name}\` ${c.type}`)
    .join(',\n');
  const parts = PARTITION_KEYS.map((k) => `  \`${k}\` string`).join(',\n');
  const props = { ...projectionProperties(location, opts), classification: TABLE_PROPERTIES.classification, compressionType: TABLE_PROPERTIES.compressionType };
  const tblprops = Object.entries(props)
    .map(([k, v]) => `  '${k}' = '${v}'`)
    .join(',\n');
  return `CREATE EXTERNAL TABLE IF NOT EXISTS \`${table}\` (
${cols}
)
PARTITIONED BY (
${parts}
)
ROW FORMAT SERDE '${OPENX_JSON_SERDE}'
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${location}'
TBLPROPERTIES (
${tblprops}
)`;
}
