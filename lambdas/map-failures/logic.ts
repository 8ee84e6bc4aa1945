import { ITEMS_NOT_SPOOLED, NotSpooledItem, parseNotSpooledReport } from '../shared/child-report';
import { parseEnvelope, TaskEnvelope } from '../shared/envelope';
import { errorMessage, errorName, EXECUTION_END_ERRORS } from '../shared/errors';
import { buildWorkerRecord, ParamLogRecord, ParamLogSink } from '../shared/param-log';
import { SpoolMessage } from '../shared/spool-message';
import { OutgoingSpoolMessage } from '../shared/spool-send';
import { ChildExecutionResult, parseManifest, parseMapRunOutput, parseResultFile, ResultFormatError } from './result-writer';

/**
 * The high-volume parent's post-map step (lib/high-volume-workflow.ts, docs/big-ticks.md): the
 * items of every child the Map Run counts failed (FAILED, TIMED_OUT, ABORTED, or never run) are
 * spooled as `ExecutionFailed`, the way the child's own Catch would have, so that no item is lost
 * when its Express child dies (Express children send no status-change event).
 *
 * Which items, and why none is replayed twice:
 * - A child that failed with `ItemsNotSpooled` ran to its end: it wrote every item's worker record
 *   and spooled every item but those its report names (lambdas/shared/child-report.ts). Only those
 *   are spooled here, and no record is written (the child wrote theirs).
 * - Any other failed child died with nothing known of its items: each may have succeeded, been
 *   spooled by its Catch, or never run. All are spooled and given a worker record. A message for an
 *   item the child had spooled too is harmless: both carry the item's envelope unchanged, so
 *   reprocess maps both to the one replay name `executionNameFor(taskId, attempt + 1)` and Step
 *   Functions refuses the second start (ExecutionAlreadyExists; reprocess counts it already
 *   started). A message for an item that had succeeded replays it once, from the first step: its
 *   idempotent steps (lambdas/shared/step-idempotency.ts, keyed without the attempt) return their
 *   recorded results instead of running their side effects again.
 * A Lambda retry of this step re-sends the same messages: the same names hold.
 *
 * The resume point is the first step (what a failed step was given died with the child): a replay
 * starts over, and the steps that had completed return their records.
 */

/** The step's input, built by the parent's ASL. */
export interface MapFailuresEvent {
  /** The Distributed Map's output: `{MapRunArn, ResultWriterDetails: {Bucket, Key}}`. */
  readonly mapRun: unknown;
  /** The job: items of another job are refused (reprocess would quarantine them as forged). */
  readonly job: string;
  /** The job's standard state machine, where reprocess replays (it refuses any other). */
  readonly replayStateMachineArn: string;
  /** The job's first step: the resume point of an item whose child died. */
  readonly firstStep: string;
}

/** Counts only: the step's result stays in the parent's state data and logs, never params. */
export interface MapFailuresResult {
  /** Failed (or never run) children read from the result files. */
  readonly failedChildren: number;
  readonly spooled: number;
  readonly recorded: number;
  /** Items that could not be spooled: the child's input was not in the result file, or was not a task. */
  readonly unreadable: number;
}

/** S3 could not be read (throttling, a network fault): the parent's Retry runs the step again. */
export class MapResultsUnavailableError extends Error {
  constructor(what: string, cause: unknown) {
    super(`could not read ${what}: ${errorName(cause)}: ${errorMessage(cause).slice(0, 200)}`);
    this.name = 'MapResultsUnavailableError';
  }
}

/**
 * Items were left unspooled because their child's input could not be read: not retried; the
 * parent fails, so the status-change capture and the operator see it (the items' tasks keep their
 * Started client records, and the lost-task monitor lists them).
 */
export class MapResultsUnreadableError extends Error {
  constructor(readonly counts: MapFailuresResult) {
    super(`${counts.unreadable} item(s) of ${counts.failedChildren} failed child(ren) could not be read from the Map Run's result files; ${counts.spooled} spooled`);
    this.name = 'MapResultsUnreadableError';
  }
}

export interface MapFailuresDeps {
  /** Reads an object's text (S3 GetObject); throws on failure. */
  readonly read: (bucket: string, key: string) => Promise<string>;
  /** Sends spool messages (lambdas/shared/spool-send.ts); throws SpoolSendError. */
  readonly spool: (messages: ReadonlyArray<OutgoingSpoolMessage>) => Promise<void>;
  readonly sink: ParamLogSink;
  readonly timeZone: string;
  readonly now?: () => Date;
}

/** Error name of an item whose child was never started (a PENDING entry). */
export const CHILD_NOT_RUN = 'ChildNotRun';

/** The error name the item's message carries: the capture's names for an ended execution. */
export function childError(c: ChildExecutionResult): string {
  if (c.Status === 'TIMED_OUT') return EXECUTION_END_ERRORS.timedOut;
  if (c.Status === 'ABORTED') return EXECUTION_END_ERRORS.aborted;
  if (c.Status === 'PENDING') return CHILD_NOT_RUN;
  return c.Error || EXECUTION_END_ERRORS.failed;
}

/** The child's items (`{"Items": [...]}` from the ItemBatcher), or null when the input is not in the file. */
export function childItems(c: ChildExecutionResult): unknown[] | null {
  if (c.InputDetails?.Included === false || typeof c.Input !== 'string') return null;
  try {
    const input = JSON.parse(c.Input) as { Items?: unknown };
    return Array.isArray(input?.Items) ? input.Items : null;
  } catch {
    return null;
  }
}

async function readText(deps: MapFailuresDeps, bucket: string, key: string, what: string): Promise<string> {
  try {
    return await deps.read(bucket, key);
  } catch (e) {
    throw new MapResultsUnavailableError(what, e);
  }
}

/** What to do with one item. */
interface Target {
  readonly envelope: TaskEnvelope;
  readonly child: ChildExecutionResult;
  /** Set when the child reported the item not spooled (its record is written). */
  readonly reported: NotSpooledItem | null;
}

/**
 * Reads the Map Run's manifest and its non-SUCCEEDED result files, spools every item as above,
 * then writes the worker records of the items whose child died. Throws
 * {@link MapResultsUnavailableError} (retryable), SpoolSendError (retryable), ResultFormatError or
 * {@link MapResultsUnreadableError} (the parent fails).
 */
export async function spoolFailedChildren(event: MapFailuresEvent, deps: MapFailuresDeps): Promise<MapFailuresResult> {
  if (!event || typeof event.job !== 'string' || typeof event.replayStateMachineArn !== 'string' || typeof event.firstStep !== 'string') {
    throw new TypeError('map-failures: the event needs mapRun, job, replayStateMachineArn and firstStep (set by the high-volume parent)');
  }
  const out = parseMapRunOutput(event.mapRun);
  const manifest = parseManifest(await readText(deps, out.ResultWriterDetails.Bucket, out.ResultWriterDetails.Key, 'the Map Run manifest'));
  const bucket = manifest.DestinationBucket || out.ResultWriterDetails.Bucket;

  let failedChildren = 0;
  let unreadable = 0;
  // One message per task attempt, even if a child were listed twice.
  const targets = new Map<string, Target>();
  for (const [status, files] of Object.entries(manifest.ResultFiles)) {
    if (status === 'SUCCEEDED') continue;
    for (const file of files) {
      const children = parseResultFile(await readText(deps, bucket, file.Key, `result file ${file.Key}`), file.Key);
      for (const child of children) {
        if (child.Status === 'SUCCEEDED' || child.Status === 'RUNNING') continue;
        failedChildren++;
        const items = childItems(child);
        if (items === null) {
          // Nothing says how many items it held: counted once, the parent fails below.
          unreadable++;
          continue;
        }
        const report = child.Error === ITEMS_NOT_SPOOLED ? parseNotSpooledReport(child.Cause) : null;
        const chosen: Array<[unknown, NotSpooledItem | null]> = report ? report.notSpooled.map((r) => [items[r.i], r]) : items.map((it) => [it, null]);
        for (const [item, reported] of chosen) {
          let envelope: TaskEnvelope;
          try {
            envelope = parseEnvelope(item);
          } catch {
            unreadable++;
            continue;
          }
          if (envelope.job !== event.job) {
            unreadable++;
            continue;
          }
          targets.set(`${envelope.taskId}#${envelope.attempt}`, { envelope, child, reported });
        }
      }
    }
  }

  const messages: OutgoingSpoolMessage[] = [...targets.values()].map((t) => ({ message: messageFor(t, event) }));
  if (messages.length > 0) await deps.spool(messages);

  const now = (deps.now ?? (() => new Date()))();
  const records: ParamLogRecord[] = [...targets.values()]
    .filter((t) => t.reported === null)
    .map((t) => {
      const m = messageFor(t, event);
      return buildWorkerRecord({ envelope: t.envelope, now, timeZone: deps.timeZone, executionArn: t.child.ExecutionArn, error: m.error, cause: m.cause, failedState: null });
    });
  if (records.length > 0) await deps.sink.put(records);

  const result: MapFailuresResult = { failedChildren, spooled: messages.length, recorded: records.length, unreadable };
  if (unreadable > 0) throw new MapResultsUnreadableError(result);
  return result;
}

/** The item's spool message: the standard `ExecutionFailed` contract, resumed at the first step. */
export function messageFor(t: Target, event: Pick<MapFailuresEvent, 'job' | 'replayStateMachineArn' | 'firstStep'>): SpoolMessage {
  const childEnd = `${t.child.Status}${t.child.Error ? ` (${t.child.Error})` : ''}`;
  const cause = t.reported
    ? `step ${t.reported.failedState ?? '(unknown)'} failed with ${t.reported.error ?? '(unknown)'} and the high-volume child could not spool the item; spooled by the parent from the Map Run's results; resumes at the first step`
    : `the high-volume child ${t.child.Name ?? t.child.ExecutionArn} ended ${childEnd} before this item's outcome was known; spooled by the parent from the Map Run's results; resumes at the first step`;
  return {
    version: 1,
    kind: 'ExecutionFailed',
    job: event.job,
    taskId: t.envelope.taskId,
    // Unchanged (same attempt): the replay's name is the one the child's own message would map to.
    input: t.envelope,
    error: t.reported ? (t.reported.error ?? ITEMS_NOT_SPOOLED) : childError(t.child),
    cause,
    failedState: event.firstStep,
    stepInput: null,
    executionArn: t.child.ExecutionArn,
    stateMachineArn: event.replayStateMachineArn,
  };
}

export { ResultFormatError };
