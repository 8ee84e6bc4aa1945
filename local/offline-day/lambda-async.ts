import { randomUUID } from 'node:crypto';
import { AsyncInvokeModel } from './app-model';
import { Timeline } from './sim-clock';

/**
 * Lambda's asynchronous invocation (what EventBridge Scheduler and EventBridge rules do), in
 * simulated time: a function error is retried twice, one minute and then two minutes later, and
 * after the last attempt the event goes to the function's on-failure destination as an invocation
 * record (AWS Lambda developer guide, "Error handling for asynchronous invocation" and "Capturing
 * records of Lambda asynchronous invocations"). The retries and the destination come from the
 * function's `AWS::Lambda::EventInvokeConfig` in the template (app-model.ts `asyncInvokeConfig`).
 * Duplicate deliveries: `deliverTwice`. Not modelled: throttling and Lambda's own 5xx (retried for up to 6 hours).
 */

/** Minutes Lambda waits before the 2nd and the 3rd attempt (same page). */
export const ASYNC_RETRY_DELAYS_MINUTES: ReadonlyArray<number> = [1, 2];

/** The on-failure record Lambda writes (the body of the SQS message in the destination queue). */
export interface OnFailureRecord {
  readonly version: '1.0';
  readonly timestamp: string;
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: 'RetriesExhausted';
    readonly approximateInvokeCount: number;
  };
  readonly requestPayload: unknown;
  readonly responseContext: { readonly statusCode: 200; readonly executedVersion: '$LATEST'; readonly functionError: 'Unhandled' };
  readonly responsePayload: { readonly errorMessage: string; readonly errorType: string; readonly stackTrace: string[] };
}

/** The record of an invocation whose attempts all failed (the last error is the one reported). */
export function onFailureRecord(o: { functionArn: string; requestId: string; event: unknown; error: unknown; invokeCount: number; at: Date }): OnFailureRecord {
  const e = o.error instanceof Error ? o.error : new Error(String(o.error));
  return {
    version: '1.0',
    timestamp: o.at.toISOString(),
    requestContext: { requestId: o.requestId, functionArn: `${o.functionArn}:$LATEST`, condition: 'RetriesExhausted', approximateInvokeCount: o.invokeCount },
    requestPayload: o.event,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    // The stack stays out: it could name paths and is no help to whoever re-runs the event.
    responsePayload: { errorMessage: e.message, errorType: e.name, stackTrace: [] },
  };
}

/** One asynchronous invocation, as it went. */
export interface AsyncInvocation {
  readonly functionId: string;
  readonly requestId: string;
  readonly event: unknown;
  /** Attempts made so far. */
  attempts: number;
  /** `succeeded` (at some attempt), `pending` (a retry is scheduled), `kept` (record in the destination), `dropped` (no destination). */
  outcome: 'pending' | 'succeeded' | 'kept' | 'dropped';
  /** Error names of the failed attempts. */
  readonly errors: string[];
  /** What the succeeding attempt returned (e.g. a producer's tick summary). */
  result?: unknown;
}

export interface AsyncInvokerDeps {
  readonly timeline: Timeline;
  readonly now: () => Date;
  readonly config: (functionId: string) => AsyncInvokeModel;
  readonly functionArn: (functionId: string) => string;
  /** Runs the function once (its handler, with its own environment); throws its error. */
  readonly invoke: (functionId: string, event: unknown) => Promise<unknown>;
  /** After every attempt, whatever it started (drain the tick queue, run executions). */
  readonly settle: () => Promise<void>;
  /** Writes an on-failure record to the destination queue (logical id). */
  readonly keep: (queueId: string, record: OnFailureRecord) => Promise<void>;
  /** Told each attempt's result or error (e.g. the capture's results for the report). */
  readonly onAttempt?: (invocation: AsyncInvocation, result: { ok: true; value: unknown } | { ok: false; error: unknown }) => void;
  /**
   * Whether Lambda delivers this event a second time (asynchronous invocation is at least once: a
   * function may receive the same event more than once even without an error; Lambda developer
   * guide, "Invoking a Lambda function asynchronously"). The copy is its own invocation, after the first.
   */
  readonly deliverTwice?: (functionId: string, event: unknown) => boolean;
}

/** Invokes functions asynchronously; `invocations` keeps every one for the report. */
export class AsyncInvoker {
  readonly invocations: AsyncInvocation[] = [];

  constructor(private readonly deps: AsyncInvokerDeps) {}

  /**
   * The first attempt now; retries and the record follow in simulated time. `settle` replaces the
   * default for this invocation (a function that starts nothing needs none).
   */
  async invoke(functionId: string, event: unknown, settle?: () => Promise<void>): Promise<AsyncInvocation> {
    const inv: AsyncInvocation = { functionId, requestId: randomUUID(), event, attempts: 0, outcome: 'pending', errors: [] };
    this.invocations.push(inv);
    await this.attempt(inv, settle ?? this.deps.settle);
    if (this.deps.deliverTwice?.(functionId, event)) {
      const copy: AsyncInvocation = { functionId, requestId: inv.requestId, event, attempts: 0, outcome: 'pending', errors: [] };
      this.invocations.push(copy);
      await this.attempt(copy, settle ?? this.deps.settle);
    }
    return inv;
  }

  private async attempt(inv: AsyncInvocation, settle: () => Promise<void>): Promise<void> {
    inv.attempts += 1;
    let error: unknown;
    try {
      const value = await this.deps.invoke(inv.functionId, inv.event);
      inv.outcome = 'succeeded';
      inv.result = value;
      this.deps.onAttempt?.(inv, { ok: true, value });
    } catch (e) {
      error = e;
      inv.errors.push(e instanceof Error ? e.name : 'Error');
      this.deps.onAttempt?.(inv, { ok: false, error: e });
    }
    await settle();
    if (inv.outcome === 'succeeded') return;
    const cfg = this.deps.config(inv.functionId);
    if (inv.attempts <= cfg.retryAttempts) {
      const waitMin = ASYNC_RETRY_DELAYS_MINUTES[inv.attempts - 1] ?? ASYNC_RETRY_DELAYS_MINUTES[ASYNC_RETRY_DELAYS_MINUTES.length - 1];
      this.deps.timeline.at(new Date(this.deps.now().getTime() + waitMin * 60_000), `retry ${inv.attempts + 1} of ${inv.functionId}`, () => this.attempt(inv, settle));
      return;
    }
    if (!cfg.onFailureQueue) {
      inv.outcome = 'dropped';
      return;
    }
    await this.deps.keep(
      cfg.onFailureQueue,
      onFailureRecord({ functionArn: this.deps.functionArn(inv.functionId), requestId: inv.requestId, event: inv.event, error, invokeCount: inv.attempts, at: this.deps.now() }),
    );
    inv.outcome = 'kept';
  }
}
