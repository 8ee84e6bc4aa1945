import { parseEnvelope } from '../shared/envelope';
import { errorName } from '../shared/errors';
import { formatNotSpooledReport } from '../shared/child-report';
import { buildWorkerRecord, ParamLogRecord, ParamLogSink } from '../shared/param-log';

/**
 * One item's end in a high-volume child (lib/high-volume-workflow.ts): the task envelope and, for
 * a failure, what the item's Catch path saw.
 */
export interface BatchItemOutcome {
  readonly task: unknown;
  readonly error?: string | null;
  readonly cause?: string | null;
  readonly failedState?: string | null;
  /** Set when the item's spool send failed: kept in the record's cause. */
  readonly spoolError?: string | null;
}

/** Input of the batch-record Lambda: the child's items and the child's execution. */
export interface BatchRecordEvent {
  readonly executionArn: string;
  readonly items: ReadonlyArray<BatchItemOutcome>;
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
  const records: ParamLogRecord[] = event.items.map((item) =>
    buildWorkerRecord({
      envelope: parseEnvelope(item.task),
      now,
      timeZone: deps.timeZone,
      executionArn: event.executionArn ?? null,
      error: item.error ?? null,
      cause: item.spoolError ? `${item.cause ?? ''} [not spooled: ${item.spoolError}]` : (item.cause ?? null),
      failedState: item.failedState ?? null,
    }),
  );
  // Positions in the child's Items: the Map keeps the input order in its results.
  const notSpooled = event.items.flatMap((item, i) => (item.spoolError ? [{ i, error: item.error ?? null, failedState: item.failedState ?? null }] : []));
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
