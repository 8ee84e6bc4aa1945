import { TaskEnvelope } from './envelope';
import { JsonValue } from './json';

/**
 * The error-spool message: the contract between whatever spools (the state machine's Catch, the
 * producer) and the reprocess Lambda that replays. Version it; never remove a field a deployed
 * writer still sends, because messages wait up to 14 days in the queue.
 *
 * kinds:
 * - `ExecutionFailed`: the state machine caught a step failure (written by the ASL, see lib/workflow).
 * - `ExecutionEnded`: the execution ended outside every Catch (aborted, timed out, an uncatchable
 *   error, or the spool was unreachable from the workflow); written by the status-change capture
 *   (lambdas/execution-capture) with the input read back from the execution.
 * - `StartFailed`: the execution could not be started (a StartExecution error other than throttling,
 *   after the tick starter's bounded retries; lambdas/starter). Replayed under the SAME attempt's
 *   execution name, so a start that in fact went through is not run twice.
 * - `Rejected`: the producer returned a task spec that can never run (duplicate key in one tick,
 *   invalid spec, envelope too large), or Step Functions refused the start itself (invalid input or
 *   name; written by the tick starter). Sent straight to the QUARANTINE with a `reason` attribute,
 *   never to the spool: replaying it would run a key twice or fail again.
 * - `ProducerFailed`: written by earlier versions when a producer threw; reprocess quarantines
 *   it. Producers now fail the invocation instead, and the tick is kept by the function's on-failure
 *   destination (see docs/big-ticks.md, "Re-running a tick").
 */
export type SpoolKind = 'ExecutionFailed' | 'ExecutionEnded' | 'StartFailed' | 'Rejected' | 'ProducerFailed';

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
  /**
   * What the failed step was given (its `previous`: the output of the step before it), so a replay
   * can resume there. Null when it failed in the first step, or unknown; absent in older messages.
   */
  readonly stepInput?: JsonValue | null;
  /** ExecutionEnded only: the execution's final status (FAILED, TIMED_OUT, ABORTED). */
  readonly status?: string;
}

/** SQS message attribute names set on every spool message, for filtering without parsing bodies. */
export const SPOOL_ATTR_JOB = 'job';
export const SPOOL_ATTR_ERROR = 'errorType';
export const SPOOL_ATTR_KIND = 'kind';

/** SQS limit on a message body. A spool body holds an envelope (<= 256 KiB) plus metadata. */
export const MAX_SQS_MESSAGE_BYTES = 1024 * 1024;

/**
 * Set by the sweeper when it re-sends a message before SQS retention would delete it: the epoch
 * milliseconds of the message's FIRST send. Re-sending gives a message a new SentTimestamp (AWS SQS
 * developer guide), so every reader of "how old is this failure" (reprocess's age filters, alarms)
 * uses this attribute when present, else SentTimestamp.
 */
export const SPOOL_ATTR_FIRST_SENT = 'firstSentAt';
/** Set by the sweeper: how many times the message was re-sent. */
export const SPOOL_ATTR_SWEEPS = 'sweeps';
/** Set by the sweeper: receives the message had before its re-sends (ApproximateReceiveCount restarts at 0). */
export const SPOOL_ATTR_PRIOR_RECEIVES = 'priorReceives';

/** Quarantine attribute holding why the message can never be replayed (reprocess and the producer both set it). */
export const QUARANTINE_ATTR_REASON = 'reason';
