import { parseEnvelope } from '../shared/envelope';
import { errorName } from '../shared/errors';
import { formatNotSpooledReport } from '../shared/child-report';
import { buildWorkerRecord, ParamLogRecord, ParamLogSink } from '../shared/param-log';

/**
 * One item's end as the high-volume child keeps it (lib/high-volume-workflow.ts: ItemSucceeded,
 * ItemSpooled, ItemNotSpooled): names only, so that a child's outcomes stay small whatever its
 * tasks and error causes (lambdas/shared/limits.ts, HIGH_VOLUME_OUTCOME_MAX_BYTES). The task is
 * the child's `Items[i]`; the full cause is in the item's spool message.
 */
export interface BatchItemResult {
  /** The error name, absent or null for a success. */
  readonly error?: string | null;
  readonly failedState?: string | null;
  /** The spool message's id (SpoolItem's result) when the item was spooled. */
  readonly spooled?: string | null;
  /** The spool send's error name when it was not. */
  readonly spoolError?: string | null;
}

/**
 * One item's end as children deployed before outcomes were slimmed sent it (the task and the
 * full cause in each item): still read, so that a child started before a deploy is recorded.
 */
export interface BatchItemOutcome {
  readonly task: unknown;
  readonly error?: string | null;
  readonly cause?: string | null;
  readonly failedState?: string | null;
  /** Set when the item's spool send failed: kept in the record's cause. */
  readonly spoolError?: string | null;
}

/**
 * Input of the batch-record Lambda: the child's execution, its batch (`items`: the task envelopes,
 * `Items` of the child's input) and one result per item in the same order (`results`). Without
 * `results`, `items` are {@link BatchItemOutcome}s (the former shape).
 */
export interface BatchRecordEvent {
  readonly executionArn: string;
  readonly items: ReadonlyArray<unknown>;
  readonly results?: ReadonlyArray<BatchItemResult>;
}

/** The worker record's cause of an item of the current shape: where the full cause is. */
export function recordCause(r: BatchItemResult): string | null {
  if (!r.error) return null;
  if (r.spoolError) return `${r.error} in a high-volume child; not spooled: ${r.spoolError}`;
  return `${r.error} in a high-volume child; the cause is in spool message ${r.spooled ?? '(unknown)'}`;
}

/** The items as outcomes, whichever shape the child sent. */
function outcomesOf(event: BatchRecordEvent): BatchItemOutcome[] {
  const { items, results } = event;
  if (results === undefined) return items as BatchItemOutcome[];
  if (!Array.isArray(results) || results.length !== items.length) {
    throw new TypeError(`batch-record: results (${Array.isArray(results) ? results.length : typeof results}) must be one per item (${items.length}), in the items' order`);
  }
  return items.map((task, i) => {
    const r = results[i] ?? {};
    return { task, error: r.error ?? null, cause: recordCause(r), failedState: r.failedState ?? null, spoolError: r.spoolError ?? null };
  });
}

/** Safe to keep in state data: counts only (no params, no task ids of people's data). */
export interface BatchRecordResult {
  readonly written: number;
  readonly failures: number;
  /** Items whose spool send failed: the child then fails with this report (lambdas/shared/child-report.ts). */
  readonly notSpooled: number;
  /** The child's report (positions and error names, no params), the cause of its `ItemsNotSpooled` Fail state. */
  readonly report: string;
  /** Set when the records could not all be written but the report is returned anyway: the error's name. */
  readonly recordError?: string;
}

/**
 * Builds the worker record of every item of a child (the one record builder, as the standard
 * mode's RecordSuccess / RecordFailure) and writes them in one put. Throws if they cannot be
 * written: the child's Retry sends them again (the records are at least once, as in standard),
 * unless an item was not spooled: then the report is returned (`written` 0) so that the child
 * still fails with it and the parent spools those items.
 */
export async function recordBatch(event: BatchRecordEvent, deps: { sink: ParamLogSink; timeZone: string; now?: () => Date }): Promise<BatchRecordResult> {
  if (!event || !Array.isArray(event.items)) throw new TypeError('batch-record: the event needs items (an array of item outcomes)');
  const now = (deps.now ?? (() => new Date()))();
  const items = outcomesOf(event);
  const current = event.results !== undefined;
  const records: ParamLogRecord[] = items.map((item) =>
    buildWorkerRecord({
      envelope: parseEnvelope(item.task),
      now,
      timeZone: deps.timeZone,
      executionArn: event.executionArn ?? null,
      error: item.error ?? null,
      cause: item.spoolError && !current ? `${item.cause ?? ''} [not spooled: ${item.spoolError}]` : (item.cause ?? null),
      failedState: item.failedState ?? null,
    }),
  );
  // Positions in the child's Items: the Map keeps the input order in its results.
  const notSpooled = items.flatMap((item, i) => (item.spoolError ? [{ i, error: item.error ?? null, failedState: item.failedState ?? null }] : []));
  const failures = records.filter((r) => r.result !== 'Success').length;
  try {
    if (records.length > 0) await deps.sink.put(records);
  } catch (e) {
    // Firehose may have taken some of the records (PutRecordBatch answers per record): an item
    // not spooled whose failure record got through would be in no spool and, having a worker
    // record, not listed by the lost-task monitor once the child's Catch ends it SUCCEEDED. The
    // report must reach the parent instead (its post-map step spools those items); a record that
    // did not get through is then seen by the monitor, which is the visible side.
    if (notSpooled.length === 0) throw e;
    return { written: 0, failures, notSpooled: notSpooled.length, report: formatNotSpooledReport(notSpooled), recordError: errorName(e) };
  }
  return { written: records.length, failures, notSpooled: notSpooled.length, report: formatNotSpooledReport(notSpooled) };
}
