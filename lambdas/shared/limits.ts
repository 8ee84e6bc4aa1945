/**
 * Size budget of the workflow's state data, so that no path raises `States.DataLimitExceeded`,
 * which no Catch can take (AWS: "States.DataLimitExceeded ... terminal", Step Functions
 * developer guide, "Error names"; payload quota 256 KiB, "Step Functions service quotas").
 *
 * Largest payloads, all checked by test/state-size.test.ts on the synthesized definitions:
 * - a step's Payload: `{ task: envelope (+ resume), previous: <previous output> }`;
 * - the spool message (SpoolFailure's Parameters): envelope (+ resume) + the failed step's input +
 *   error + cause + metadata;
 * - the worker record request: envelope (+ resume) + error + cause.
 *
 * So: envelope <= MAX_ENVELOPE_BYTES, resume input and every step output <= MAX_STEP_OUTPUT_BYTES,
 * a Lambda error's Cause <= MAX_ERROR_CAUSE_BYTES (the step wrapper truncates messages and stacks),
 * and the rest fits in the overhead.
 */

/** Step Functions' payload quota: state input, output and a Task's resolved parameters (256 KiB). */
export const STATE_PAYLOAD_MAX_BYTES = 256 * 1024;

/** A task envelope as the producer admits it (params included, no resume point). */
export const MAX_ENVELOPE_BYTES = 96 * 1024;

/** What one top-level step may return (a map's items and a group's branches share it). */
export const MAX_STEP_OUTPUT_BYTES = 64 * 1024;

/** A Lambda error's Cause (errorType + errorMessage + trace, JSON) after the step wrapper's truncation. */
export const MAX_ERROR_CAUSE_BYTES = 8 * 1024;
/** Error messages are cut to this many characters before they are sealed (lambdas/shared/safe-error.ts, which also keeps at most 20 stack locations). */
export const MAX_ERROR_MESSAGE_CHARS = 1_000;

/** Metadata of the spool message (ids, ARNs, names, attributes) and JSON framing. */
export const SPOOL_OVERHEAD_BYTES = 16 * 1024;

/** UTF-8 size of a value as JSON. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value ?? null), 'utf8');
}

/**
 * Output budget of a Lambda step: the whole budget for a top-level step, a share of it for a step
 * inside a map (per item) or a parallel group (per branch), since their outputs are gathered into
 * one array.
 */
export function stepOutputBudget(sharedBy: number): number {
  return Math.floor(MAX_STEP_OUTPUT_BYTES / Math.max(1, sharedBy));
}

// The worst case must fit: checked here once, at module load, so a change of one figure that
// breaks the budget fails every test at once.
const worstSpoolMessage = MAX_ENVELOPE_BYTES + 2 * MAX_STEP_OUTPUT_BYTES + MAX_ERROR_CAUSE_BYTES + SPOOL_OVERHEAD_BYTES;
if (worstSpoolMessage > STATE_PAYLOAD_MAX_BYTES) {
  throw new Error(`limits.ts: the worst spool message (${worstSpoolMessage} bytes) exceeds the state payload quota`);
}

/**
 * The high-volume child (lib/high-volume-workflow.ts) holds its whole batch (`{Items}`) and one
 * outcome per item in its state after the inline map, and both go to RecordBatch's payload. The
 * outcome carries names only (error, failed step, spool error, message id), never the task or the
 * cause (the spool message has the full cause), so the child's largest state is bounded by:
 * batch bytes + items x outcome bytes + RecordBatch's framing.
 */
/** ItemBatcher MaxInputBytesPerBatch: the child's input at most (a single admitted envelope must fit it). */
export const HIGH_VOLUME_BATCH_MAX_BYTES = 128 * 1024;
/** Items per child at most (ItemBatcher MaxItemsPerBatch; the construct refuses more). */
export const HIGH_VOLUME_MAX_ITEMS_PER_CHILD = 100;
/**
 * One item's outcome at most: an error name and a spool error name of up to 256 characters each
 * (Step Functions' limit on an error name, API reference "TaskFailedEventDetails"), a step name
 * (40 characters, lib/config/validate.ts), an SQS MessageId (100 characters), as ASCII JSON.
 */
export const HIGH_VOLUME_OUTCOME_MAX_BYTES = 1024;
/** RecordBatch's payload framing (execution ARN, keys) and the child's report kept beside it. */
export const HIGH_VOLUME_CHILD_OVERHEAD_BYTES = 8 * 1024;

const worstChildState = HIGH_VOLUME_BATCH_MAX_BYTES + HIGH_VOLUME_MAX_ITEMS_PER_CHILD * HIGH_VOLUME_OUTCOME_MAX_BYTES + HIGH_VOLUME_CHILD_OVERHEAD_BYTES;
if (worstChildState > STATE_PAYLOAD_MAX_BYTES || HIGH_VOLUME_BATCH_MAX_BYTES < MAX_ENVELOPE_BYTES + 1024) {
  throw new Error(`limits.ts: the high-volume child's worst state (${worstChildState} bytes) exceeds the state payload quota, or one envelope does not fit a batch`);
}
