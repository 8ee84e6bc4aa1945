import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { errorMessage, errorName } from './errors';
import { executionArnFor } from './names';
import { AdaptiveRateGate, realSleep } from './rate-gate';

/**
 * One StartExecution under a deterministic name, paced by the shared {@link AdaptiveRateGate}: the
 * one implementation of "start without hammering the token bucket" that the tick starters and
 * reprocess both call. Throttling is waited out (never reported as a failure) until `stopAtMs`;
 * transient errors are retried a bounded number of times; an existing name is reported as
 * `alreadyStarted` (a Standard workflow's name is unique for 90 days: the same name + same input
 * while RUNNING answers 200 with the original execution, otherwise `ExecutionAlreadyExists`; AWS
 * Step Functions API reference, "StartExecution").
 */

/** What one paced start came to. `calls` counts StartExecution requests made (throttled ones included). */
export type StartOutcome =
  | { readonly outcome: 'started'; readonly executionArn: string; readonly calls: number }
  | { readonly outcome: 'alreadyStarted'; readonly executionArn: string; readonly calls: number }
  /** Step Functions refused the request itself (bad name, input, ARN): it can never start as is. */
  | { readonly outcome: 'refused'; readonly error: string; readonly reason: string; readonly calls: number }
  /** Another error, after the bounded retries. */
  | { readonly outcome: 'failed'; readonly error: string; readonly reason: string; readonly calls: number }
  /** The gate's next slot came after `stopAtMs`: not attempted (or given up while throttled). */
  | { readonly outcome: 'notAttempted'; readonly calls: number };

/** Error names Step Functions answers when the bucket is empty. */
const THROTTLE_NAMES: ReadonlySet<string> = new Set(['ThrottlingException', 'TooManyRequestsException', 'Throttling', 'RequestLimitExceeded']);
/** StartExecution errors that say the request itself can never succeed. */
export const UNSTARTABLE: ReadonlySet<string> = new Set(['InvalidExecutionInput', 'InvalidName', 'InvalidArn', 'StateMachineDoesNotExist']);
/**
 * Errors worth a few quick retries besides network and 5xx ones: the open-executions limit
 * (1,000,000 per account and region, AWS Step Functions "Service quotas") frees up as executions end.
 */
const RETRYABLE_NAMES: ReadonlySet<string> = new Set(['ExecutionLimitExceeded', 'TimeoutError', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ServiceUnavailable', 'InternalFailure']);

/** True for a throttling answer (by name, or HTTP 429). */
export function isThrottle(e: unknown): boolean {
  const meta = (e as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return THROTTLE_NAMES.has(errorName(e)) || meta?.httpStatusCode === 429;
}

/** True for an error a prompt retry may fix (SDK-retryable, 5xx, network, listed names). */
export function isTransient(e: unknown): boolean {
  const x = e as { $retryable?: unknown; $metadata?: { httpStatusCode?: number }; code?: string };
  return (
    Boolean(x.$retryable) ||
    (x.$metadata?.httpStatusCode ?? 0) >= 500 ||
    RETRYABLE_NAMES.has(errorName(e)) ||
    ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'].includes(x.code ?? '')
  );
}

/** What {@link startPaced} needs. */
export interface PacedStartDeps {
  readonly sfn: SFNClient;
  readonly gate: AdaptiveRateGate;
  /** No new attempt is made at or after this time (epoch ms). */
  readonly stopAtMs: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Retries of transient errors. @default 3 */
  readonly transientRetries?: number;
}

/** One start request. */
export interface StartRequest {
  readonly stateMachineArn: string;
  readonly name: string;
  /** The execution input as sent (JSON text): the same text on every attempt, so a running start is answered idempotently. */
  readonly input: string;
}

/** Starts `req`, waiting out throttling through the gate and retrying transient errors. Never throws for an API error. */
export async function startPaced(deps: PacedStartDeps, req: StartRequest): Promise<StartOutcome> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? realSleep;
  const maxTransient = deps.transientRetries ?? 3;
  let transient = 0;
  let calls = 0;
  for (;;) {
    if (!(await deps.gate.acquire(deps.stopAtMs))) return { outcome: 'notAttempted', calls };
    const calledAt = now();
    calls++;
    try {
      const res = await deps.sfn.send(new StartExecutionCommand({ stateMachineArn: req.stateMachineArn, name: req.name, input: req.input }));
      deps.gate.onSuccess();
      const executionArn = res.executionArn ?? executionArnFor(req.stateMachineArn, req.name);
      // Same name + same input while still running answers 200 with the ORIGINAL start date (an
      // earlier attempt started it, then died before recording it). A new start is dated after
      // our call; 1 s allows for clock skew between Lambda and Step Functions.
      if (res.startDate && res.startDate.getTime() < calledAt - 1_000) return { outcome: 'alreadyStarted', executionArn, calls };
      return { outcome: 'started', executionArn, calls };
    } catch (e) {
      const name = errorName(e);
      if (name === 'ExecutionAlreadyExists') {
        // A refused duplicate still took a token from the bucket.
        deps.gate.onSuccess();
        return { outcome: 'alreadyStarted', executionArn: executionArnFor(req.stateMachineArn, req.name), calls };
      }
      if (isThrottle(e)) {
        deps.gate.onThrottle();
        continue;
      }
      if (UNSTARTABLE.has(name)) return { outcome: 'refused', error: name, reason: `StartExecution refused it: ${name}`, calls };
      if (isTransient(e) && ++transient <= maxTransient) {
        await sleep(Math.random() * 200 * 2 ** transient);
        continue;
      }
      return { outcome: 'failed', error: name, reason: `StartExecution: ${name}: ${errorMessage(e).slice(0, 200)}`, calls };
    }
  }
}
