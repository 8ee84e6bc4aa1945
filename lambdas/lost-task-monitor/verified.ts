import { ParamLogRecord } from '../shared/param-log';
import { mapLimit, MacVerifier, normalizeRecordTime, RecordFields, RecordVerifier } from '../shared/record-mac';

/**
 * Lost tasks from records whose MAC verifies. The monitor cannot leave this to Athena (it cannot
 * call KMS), so it reads the candidates (LOST_TASK_CANDIDATES_SQL: the day's client Started /
 * Duplicate records and those tasks' worker records of the day before, the day and the next) and decides here:
 * - a record whose `mac` is missing or does not verify, or that sits in the other record type's
 *   table, is treated as ABSENT and counted as forged;
 * - lost = the started records (grouped as the saved lost-task query groups them: job, task,
 *   attempt, tick) with no genuine worker record of the same task and attempt (a replay, attempt
 *   N+1, that never ends is lost even when attempt N's failure was recorded).
 * So a `Success` worker record put with `firehose:PutRecord` by someone without `kms:GenerateMac`
 * hides nothing: the task is still lost, and the forgery is counted.
 */

/** One candidate row: the table it came from and its fields as read. */
export interface CandidateRow {
  readonly source: 'client' | 'worker';
  readonly fields: RecordFields;
}

/** The outcome of one check. */
export interface VerifiedLostTasks {
  /** Lost tasks (started, no genuine end), counted as the saved lost-task query counts them. */
  readonly lost: number;
  /** Records that failed verification (missing or bad MAC, wrong table). */
  readonly forged: number;
  /** Records checked. */
  readonly checked: number;
  /** Task ids of forged records (ids are not params; for the log line an operator starts from). */
  readonly forgedTaskIds: ReadonlyArray<string>;
}

/** Thrown when the candidate result does not have the columns the check needs. */
export class CandidateFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CandidateFormatError';
  }
}

/**
 * Rows of an Athena result (header row first, a null is a Datum without VarCharValue) as
 * candidates. Text goes back to the written types: `attempt` a number, `time` the writer's
 * `yyyy-MM-dd HH:mm:ss.SSS`; any other value stays text (a tampered value then fails to verify).
 */
export function candidateRows(rows: ReadonlyArray<ReadonlyArray<string | null>>): CandidateRow[] {
  if (rows.length === 0) throw new CandidateFormatError('the candidate query returned no header row');
  const header = rows[0];
  const at = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new CandidateFormatError(`the candidate query returned no column ${name}`);
    return i;
  };
  const sourceAt = at('source');
  const columns = (['time', 'type', 'task_id', 'module', 'params', 'result', 'error', 'cause', 'execution_arn', 'attempt', 'scheduled_time', 'failed_state', 'mac'] as const).map(
    (c) => [c, at(c)] as const,
  );
  return rows.slice(1).map((row) => {
    const source = row[sourceAt];
    if (source !== 'client' && source !== 'worker') throw new CandidateFormatError(`unknown source ${JSON.stringify(source)}`);
    const fields: Partial<Record<keyof ParamLogRecord, string | number | null>> = {};
    for (const [c, i] of columns) {
      const v = row[i] ?? null;
      if (v === null) fields[c] = null;
      else if (c === 'attempt' && /^-?\d+$/.test(v)) fields[c] = Number(v);
      else if (c === 'time') fields[c] = normalizeRecordTime(v);
      else fields[c] = v;
    }
    return { source, fields };
  });
}

/**
 * Verifies every candidate (at most `concurrency` KMS requests in flight: one per version 1 record,
 * one per distinct batch MAC of version 2 records, cached for this run) and counts lost tasks
 * among the genuine ones. VerifyMac shares the account's "Cryptographic operations (symmetric)"
 * request quota with every Decrypt and GenerateDataKey of the account (AWS KMS developer guide,
 * "Request quotas"; 5,500 a second or more by region): 10 in flight is about 1,000 a second at
 * KMS's usual latency, leaving the rest to the app's queues, buckets and executions.
 */
export async function verifiedLostTasks(rows: ReadonlyArray<CandidateRow>, verifier: MacVerifier, concurrency = 10): Promise<VerifiedLostTasks> {
  const records = new RecordVerifier(verifier);
  const genuine = await mapLimit(rows, concurrency, async (r) => r.fields.type === r.source && (await records.verify(r.fields)));
  const ended = new Set<string>();
  const started = new Map<string, string>(); // group key -> task id + attempt
  const forgedTaskIds = new Set<string>();
  let forged = 0;
  rows.forEach((r, i) => {
    const taskId = String(r.fields.task_id ?? '');
    if (!genuine[i]) {
      forged++;
      forgedTaskIds.add(taskId);
      return;
    }
    const attemptKey = JSON.stringify([taskId, r.fields.attempt]);
    if (r.source === 'worker') ended.add(attemptKey);
    else if (r.fields.result === 'Started' || r.fields.result === 'Duplicate') {
      started.set(JSON.stringify([r.fields.module, taskId, r.fields.attempt, r.fields.scheduled_time]), attemptKey);
    }
  });
  const lost = [...started.values()].filter((t) => !ended.has(t)).length;
  return { lost, forged, checked: rows.length, forgedTaskIds: [...forgedTaskIds].sort() };
}
