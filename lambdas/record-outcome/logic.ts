import { parseEnvelope } from '../shared/envelope';
import { buildWorkerRecord, ParamLogRecord, ParamLogSink } from '../shared/param-log';
import { OPENED_MARK, openSealedText } from '../shared/safe-error';

/** Input of the record-outcome Lambda, built by the state machine (RecordSuccess / RecordFailure). */
export interface RecordOutcomeEvent {
  /** The execution input (task envelope). */
  readonly task: unknown;
  /** Error name; absent on success. */
  readonly error?: string | null;
  readonly cause?: string | null;
  readonly failedState?: string | null;
  readonly executionArn: string;
  /** Set when the spool could not be written (the SpoolUnavailable path): kept in the record's cause. */
  readonly spoolError?: string | null;
}

/** Result returned to the state machine: only what is safe to keep in state data (no params). */
export interface RecordOutcomeResult {
  readonly taskId: string;
  readonly result: ParamLogRecord['result'];
}

/** Builds the worker record (the one record builder) and writes it. Throws if it cannot be written. */
export async function recordOutcome(
  event: RecordOutcomeEvent,
  deps: { sink: ParamLogSink; timeZone: string; now?: () => Date },
): Promise<RecordOutcomeResult> {
  const envelope = parseEnvelope(event.task);
  // A step's message left its Lambda sealed under the task's key (lambdas/shared/safe-error.ts): the
  // worker record, inside the lock, keeps the full text in clear after the Cause as it came.
  const opened = openSealedText(event.cause, envelope.seal);
  const cause = opened === null ? (event.cause ?? null) : `${event.cause ?? ''}${OPENED_MARK}${opened}`;
  const record = buildWorkerRecord({
    envelope,
    now: (deps.now ?? (() => new Date()))(),
    timeZone: deps.timeZone,
    executionArn: event.executionArn ?? null,
    error: event.error ?? null,
    cause: event.spoolError ? `${cause ?? ''} [not spooled: ${event.spoolError}; the status-change capture spools it]` : cause,
    failedState: event.failedState ?? null,
  });
  await deps.sink.put([record]);
  return { taskId: record.task_id, result: record.result };
}
