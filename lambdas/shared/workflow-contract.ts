/**
 * Names and markers shared by the state machine (lib/workflow), the handlers that read what it
 * leaves behind (execution capture, reprocess) and the config validation. One place, so a renamed
 * state cannot silently break a reader.
 */

/** Internal state names. A step may not take one (lib/config/validate.ts refuses them). */
export const STATE_NAMES = {
  acquireLock: 'AcquireLock',
  route: 'Route',
  releaseLock: 'ReleaseLock',
  recordSuccess: 'RecordSuccess',
  succeeded: 'Succeeded',
  spoolFailure: 'SpoolFailure',
  releaseLockAfterFailure: 'ReleaseLockAfterFailure',
  recordFailure: 'RecordFailure',
  markSpooled: 'MarkSpooled',
  failed: 'Failed',
  recordSpoolUnavailable: 'RecordSpoolUnavailable',
  markSpoolUnavailable: 'MarkSpoolUnavailable',
  spoolUnavailable: 'SpoolUnavailable',
} as const;

/**
 * The Pass state entered when SpoolFailure gave up. Its output in the execution history is a
 * {@link SpoolUnavailableState}: what the status-change capture spools later.
 */
export const SPOOL_UNAVAILABLE_CAUGHT_STATE = 'SpoolFailure-Caught';

export const RESERVED_STATE_NAMES: ReadonlySet<string> = new Set(Object.values(STATE_NAMES));

/**
 * Name of the Pass state that notes which step failed. Step names are PascalCase letters and
 * digits, so a name with a dash can never collide with a step.
 */
export function caughtStateName(step: string): string {
  return `${step}-Caught`;
}

/** Name of the Pass state a resumed execution enters a step through. */
export function resumeStateName(step: string): string {
  return `${step}-Resume`;
}

/**
 * The Cause of the `Failed` state starts with this when the task WAS spooled by the Catch path:
 * `[spooled <message id>] <original cause>`. The status-change capture spools every failed
 * execution without it. Only the MarkSpooled state (after a successful SendMessage) writes it.
 */
export const SPOOLED_CAUSE_PREFIX = '[spooled ';

/** True when a FAILED execution's cause says the Catch path already spooled it. */
export function wasSpooledByWorkflow(cause: string | null | undefined): boolean {
  return typeof cause === 'string' && cause.startsWith(SPOOLED_CAUSE_PREFIX);
}

/** Output of the {@link SPOOL_UNAVAILABLE_CAUGHT_STATE} Pass state (read back from the execution history). */
export interface SpoolUnavailableState {
  readonly failedState: string;
  readonly stepInput: unknown;
  readonly caught: { readonly Error: string; readonly Cause: string };
  readonly spoolError: { readonly Error: string; readonly Cause: string };
}

/**
 * Seconds the state's TimeoutSeconds is set beyond the step's `timeoutSeconds` (the Lambda's
 * timeout): a Lambda init runs up to 10 s before the handler (AWS Lambda "execution environment
 * lifecycle"), plus invoke latency. So the state never times out while the Lambda still works.
 */
export const STATE_TIMEOUT_MARGIN_SECONDS = 15;

/** Environment variables the JobWorkflow construct sets on every step Lambda (read by lambdas/shared/step.ts). */
export const STEP_ENV = {
  job: 'JOB_NAME',
  step: 'STEP_NAME',
  timeZone: 'APP_TIME_ZONE',
  /** Bytes the step may return (its share of the state budget). */
  maxOutputBytes: 'STEP_MAX_OUTPUT_BYTES',
  /** Set on the step before a map: the field of its output that holds the items ('' = the output itself). */
  itemsField: 'STEP_ITEMS_FIELD',
  /** With itemsField: the map's maxItems. */
  maxItems: 'STEP_MAX_ITEMS',
  /** The step's dependency (holds), if any. */
  dependency: 'HOLD_DEPENDENCY',
  /** JSON array of the dependency's planned windows ({cron, durationMinutes}). */
  holdWindows: 'HOLD_WINDOWS',
  /** The coordination table (holds, locks, tick ledger). */
  coordinationTable: 'COORDINATION_TABLE',
  /** The table of the step records (idempotency, lambdas/shared/step-idempotency.ts): the coordination table. */
  stepResultsTable: 'STEP_RESULTS_TABLE',
  /** Days a completed step's record is kept (optional). */
  stepResultsDays: 'STEP_RESULTS_DAYS',
} as const;
