import { TaskEnvelope } from './envelope';
import { EXECUTION_END_ERRORS, TIMEOUT_ERRORS } from './errors';

/**
 * The parameter-log record: one JSON line per event, written by the producer when a task starts
 * (client) and by the workflow when it ends (worker). This module is the only place records are
 * built; the Athena table DDL (lib/investigation) declares exactly these columns.
 */
/**
 * Client results: `Started`; `Duplicate` (the deterministic name already ran or runs: a redelivered
 * tick, a retried batch); `StartFailed` (spooled for replay); `Rejected` (an invalid task spec,
 * quarantined with its reason, never started).
 */
export type ClientResult = 'Started' | 'Duplicate' | 'StartFailed' | 'Rejected';
/**
 * Worker results: `Success`; `Failure` (a step failed, or the execution failed with an error no
 * Catch takes); `TimedOut` (a step ran out of time, or the execution passed its timeout);
 * `Aborted` (the execution was stopped).
 */
export type WorkerResult = 'Success' | 'Failure' | 'TimedOut' | 'Aborted';
export type RecordType = 'client' | 'worker';

export interface ParamLogRecord {
  /** `yyyy-MM-dd HH:mm:ss.SSS` in the app's time zone. */
  time: string;
  type: RecordType;
  task_id: string;
  /** The job name. */
  module: string;
  /** The complete params as JSON text: never truncated, never masked. */
  params: string;
  result: ClientResult | WorkerResult;
  /** Error name (the retry contract), or null. */
  error: string | null;
  /** Error detail (a Lambda error's message, a start failure's reason), or null. */
  cause: string | null;
  execution_arn: string | null;
  attempt: number;
  /** The schedule tick, ISO-8601 UTC. */
  scheduled_time: string;
  /** Worker records of failures: the state that failed. Null otherwise. */
  failed_state: string | null;
  /**
   * MAC of the other fields (lambdas/shared/record-mac.ts), made by the writer with the log's KMS
   * HMAC key as the record is sent: version 1 a base64 HMAC of this record, version 2 (`v2.`...,
   * at most 439 characters) a batch's HMAC with this record's place in its Merkle tree. The
   * builders leave it out; the sink adds it.
   */
  mac?: string;
}

/** Column names in order, for DDL and tests that must follow the record format. */
export const PARAM_LOG_COLUMNS: ReadonlyArray<keyof ParamLogRecord> = [
  'time',
  'type',
  'task_id',
  'module',
  'params',
  'result',
  'error',
  'cause',
  'execution_arn',
  'attempt',
  'scheduled_time',
  'failed_state',
  'mac',
];

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Calendar fields of `date` in `timeZone`. */
export function zonedParts(date: Date, timeZone: string): { year: string; month: string; day: string; hour: string; minute: string; second: string } {
  const parts: Record<string, string> = {};
  for (const p of formatterFor(timeZone).formatToParts(date)) parts[p.type] = p.value;
  return { year: parts.year, month: parts.month, day: parts.day, hour: parts.hour, minute: parts.minute, second: parts.second };
}

/** `yyyy-MM-dd HH:mm:ss.SSS` in `timeZone`: the format Athena's OpenX SerDe reads as a timestamp. */
export function formatRecordTime(date: Date, timeZone: string): string {
  const p = zonedParts(date, timeZone);
  const ms = String(date.getUTCMilliseconds()).padStart(3, '0');
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}.${ms}`;
}

/** The `year=/month=/day=` partition path of `date` in `timeZone`, as Firehose writes it. */
export function partitionPath(date: Date, timeZone: string): string {
  const p = zonedParts(date, timeZone);
  return `year=${p.year}/month=${p.month}/day=${p.day}`;
}

/** Client record: written by the producer for each task of a tick. */
export function buildClientRecord(args: {
  envelope: TaskEnvelope;
  result: ClientResult;
  now: Date;
  timeZone: string;
  executionArn?: string | null;
  error?: string | null;
  cause?: string | null;
}): ParamLogRecord {
  return {
    time: formatRecordTime(args.now, args.timeZone),
    type: 'client',
    task_id: args.envelope.taskId,
    module: args.envelope.job,
    params: JSON.stringify(args.envelope.params ?? null),
    result: args.result,
    error: args.error ?? null,
    cause: args.cause ?? null,
    execution_arn: args.executionArn ?? null,
    attempt: args.envelope.attempt,
    scheduled_time: args.envelope.scheduledTime,
    failed_state: null,
  };
}

/** Worker result for an error name: timeouts (step or execution) are TimedOut, an abort Aborted, any other error Failure. */
export function workerResultFor(error: string | null | undefined): WorkerResult {
  if (!error) return 'Success';
  if (TIMEOUT_ERRORS.has(error) || error === EXECUTION_END_ERRORS.timedOut) return 'TimedOut';
  if (error === EXECUTION_END_ERRORS.aborted) return 'Aborted';
  return 'Failure';
}

/** Worker record: written by the workflow when an execution ends, on every path. */
export function buildWorkerRecord(args: {
  envelope: TaskEnvelope;
  now: Date;
  timeZone: string;
  executionArn: string | null;
  error?: string | null;
  cause?: string | null;
  failedState?: string | null;
}): ParamLogRecord {
  return {
    time: formatRecordTime(args.now, args.timeZone),
    type: 'worker',
    task_id: args.envelope.taskId,
    module: args.envelope.job,
    params: JSON.stringify(args.envelope.params ?? null),
    result: workerResultFor(args.error),
    error: args.error ?? null,
    cause: args.cause ?? null,
    execution_arn: args.executionArn,
    attempt: args.envelope.attempt,
    scheduled_time: args.envelope.scheduledTime,
    failed_state: args.error ? (args.failedState ?? null) : null,
  };
}

/** One record as a Firehose record body: a JSON line (Firehose concatenates records as-is). */
export function toJsonLine(record: ParamLogRecord): string {
  return `${JSON.stringify(record)}\n`;
}

/** Parses records back (tests, the offline run). */
export function parseJsonLines(text: string): ParamLogRecord[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as ParamLogRecord);
}

/** Where records go. Production: Firehose; the interface lets logic be tested without AWS. */
export interface ParamLogSink {
  put(records: ReadonlyArray<ParamLogRecord>): Promise<void>;
}
