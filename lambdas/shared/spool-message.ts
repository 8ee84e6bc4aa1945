import { TaskEnvelope } from './envelope';

/**
 * The error-spool message: the contract between whatever spools (the state machine's Catch, the
 * producer) and the reprocess Lambda that replays. Version it; never remove a field a deployed
 * writer still sends, because messages wait up to 14 days in the queue.
 *
 * kinds:
 * - `ExecutionFailed`: the state machine caught a step failure (written by the ASL, see lib/workflow).
 * - `StartFailed`: the producer could not start the execution (StartExecution error, envelope too large).
 *   Replayed under the SAME attempt's execution name, so a start that in fact went through is not run twice.
 * - `ProducerFailed`: the job's producer threw or returned bad output; there is no task to replay.
 *   `input` is null; reprocess quarantines it with the reason (re-run the tick by hand).
 */
export type SpoolKind = 'ExecutionFailed' | 'StartFailed' | 'ProducerFailed';

export interface SpoolMessage {
  readonly version: 1;
  readonly kind: SpoolKind;
  readonly job: string;
  /** Task id; for ProducerFailed, the tick id `<job>-<tick>-producer`. */
  readonly taskId: string;
  /** The original execution input, unchanged; null for ProducerFailed. */
  readonly input: TaskEnvelope | null;
  /** Error name (the retry contract), e.g. `ExternalApiUnavailableError`, `States.Timeout`. */
  readonly error: string;
  /** Error detail: a Lambda error's Cause (a JSON string in AWS) or the start failure's reason. */
  readonly cause: string;
  /** State that failed; `Producer` for producer-side failures. */
  readonly failedState: string;
  /** The failed execution, or null when none was started. */
  readonly executionArn: string | null;
  /** The job's state machine: reprocess starts the replay there (and refuses unknown ones). */
  readonly stateMachineArn: string;
}

/** SQS message attribute names set on every spool message, for filtering without parsing bodies. */
export const SPOOL_ATTR_JOB = 'job';
export const SPOOL_ATTR_ERROR = 'errorType';
export const SPOOL_ATTR_KIND = 'kind';

/** SQS limit on a message body. A spool body holds an envelope (<= 256 KiB) plus metadata. */
export const MAX_SQS_MESSAGE_BYTES = 1024 * 1024;
