/**
 * A Lambda stand-in for the operator CLI's and reprocess's tests: Invoke (REST JSON,
 * `POST /2015-03-31/functions/<name>/invocations`) that runs a REAL handler in this process, for the
 * real `@aws-sdk/client-lambda` pointed at it (AWS_ENDPOINT_URL_LAMBDA). What the callers depend on
 * is modelled as Lambda does it (AWS Lambda API reference, Invoke): the handler's return value is the
 * payload; a thrown error is still HTTP 200, with `X-Amz-Function-Error: Unhandled` and the payload
 * `{errorType, errorMessage, trace}`; an unknown function is 404 `ResourceNotFoundException`.
 *
 * `InvocationType: Event` (asynchronous) answers 202 with an empty body at once and runs the
 * handler later, after the synchronous invocations in progress (AWS Lambda developer guide,
 * "Asynchronous invocation"). A handler that throws is run again `retryAttempts` times (Lambda's
 * default is 2; the waits between them, 1 and 2 minutes in Lambda, are not modelled), then its
 * on-failure record, in the shape Lambda gives it ("Capturing records of asynchronous invocations":
 * requestContext.functionArn/condition/approximateInvokeCount, requestPayload, responseContext,
 * responsePayload), goes to `onFailure`. `idle()` waits until no asynchronous event is left.
 *
 * The function's environment (as its construct sets it) is put into `process.env` for the duration
 * of each invocation and restored after, so the caller's own settings (e.g. credentials from a
 * profile) are not changed by it. Handlers are loaded on first invoke, after that environment is set,
 * as Lambda loads them. Never bundled into Lambda code.
 */
import { invokeErrorLogLine } from './lambda-runtime-log';
import { StandinServer, startStandinServer } from './standin-http';

/** The part of the Lambda context the app's handlers use. */
export interface StandinContext {
  readonly functionName: string;
  readonly awsRequestId: string;
  getRemainingTimeInMillis(): number;
}

export type StandinHandler = (event: unknown, context: StandinContext) => Promise<unknown>;

export interface StandinFunction {
  /** Loads the handler module's `handler` (called once, at the first invoke). */
  readonly load: () => Promise<StandinHandler>;
  /** Environment variables of the function. */
  readonly environment: Readonly<Record<string, string>>;
  /** Function timeout, ms (the context's remaining time at the start). @default 900000 */
  readonly timeoutMs?: number;
  /** Retries of a failed asynchronous invocation before its on-failure record. @default 2 */
  readonly retryAttempts?: number;
  /** The on-failure destination of asynchronous invocations (e.g. send the record to a queue). @default the record is dropped, as without a destination */
  readonly onFailure?: (record: AsyncFailureRecord) => Promise<void>;
  /**
   * The function's log group, for the runtime's own line about an uncaught error
   * (local/lambda-runtime-log.ts: type, message, every enumerable property, stack). @default not kept
   */
  readonly runtimeLog?: (line: string) => void;
}

/** Lambda's on-failure record of an asynchronous invocation. */
export interface AsyncFailureRecord {
  readonly version: '1.0';
  readonly timestamp: string;
  readonly requestContext: { readonly requestId: string; readonly functionArn: string; readonly condition: 'RetriesExhausted'; readonly approximateInvokeCount: number };
  readonly requestPayload: unknown;
  readonly responseContext: { readonly statusCode: 200; readonly executedVersion: '$LATEST'; readonly functionError: 'Unhandled' };
  readonly responsePayload: { readonly errorType: string; readonly errorMessage: string };
}

export interface LambdaStandin extends StandinServer {
  /** Payloads received, in order, by function name, with the invocation type. */
  readonly invocations: Array<{ functionName: string; payload: unknown; invocationType: 'RequestResponse' | 'Event' }>;
  /** Resolves when every asynchronous event has run (and its on-failure record, if any, was delivered). */
  idle(): Promise<void>;
}

const CONTENT_TYPE = 'application/json';

/** Starts the stand-in serving `functions` (by function name) in `region` of `account`. */
export async function startLambdaStandin(region: string, functions: Record<string, StandinFunction>, account = '000000000000'): Promise<LambdaStandin> {
  const loaded = new Map<string, StandinHandler>();
  const invocations: LambdaStandin['invocations'] = [];
  let seq = 0;

  /** Runs a handler with the function's environment in process.env (restored after). */
  const run = async (name: string, fn: StandinFunction, payload: unknown): Promise<{ result?: unknown; failed: Error | null }> => {
    const saved: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(fn.environment)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    const deadline = Date.now() + (fn.timeoutMs ?? 900_000);
    const requestId = `standin-${++seq}`;
    try {
      let handler = loaded.get(name);
      if (!handler) {
        handler = await fn.load();
        loaded.set(name, handler);
      }
      const result = await handler(payload, { functionName: name, awsRequestId: requestId, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) });
      return { result, failed: null };
    } catch (e) {
      // What the Node.js runtime writes to the log group for an uncaught error, before answering.
      fn.runtimeLog?.(invokeErrorLogLine(e, requestId));
      return { failed: e instanceof Error ? e : new Error(String(e)) };
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  };

  // Handlers share this process's environment, so an asynchronous event runs only while no
  // synchronous invocation does (nested synchronous ones, a handler invoking another, run inside it).
  let syncDepth = 0;
  const pending: Array<{ name: string; fn: StandinFunction; payload: unknown; requestId: string }> = [];
  let asyncRun: Promise<void> | null = null;
  let idleWaiters: Array<() => void> = [];
  const drainAsync = (): void => {
    if (asyncRun || syncDepth > 0) return;
    const next = pending.shift();
    if (!next) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
      return;
    }
    asyncRun = (async () => {
      const attempts = 1 + (next.fn.retryAttempts ?? 2);
      let failed: Error | null = null;
      for (let i = 0; i < attempts; i++) {
        failed = (await run(next.name, next.fn, next.payload)).failed;
        if (!failed) break;
      }
      if (failed && next.fn.onFailure) {
        // A destination that cannot be written is Lambda's DestinationDeliveryFailures: the record is lost, the run goes on.
        await next.fn.onFailure({
          version: '1.0',
          timestamp: new Date().toISOString(),
          requestContext: { requestId: next.requestId, functionArn: `arn:aws:lambda:${region}:${account}:function:${next.name}:$LATEST`, condition: 'RetriesExhausted', approximateInvokeCount: attempts },
          requestPayload: next.payload,
          responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
          responsePayload: { errorType: failed.name, errorMessage: failed.message },
        }).catch((e) => console.error(`lambda stand-in: the on-failure destination of ${next.name} failed: ${e instanceof Error ? e.message : String(e)}`));
      }
    })().finally(() => {
      asyncRun = null;
      setImmediate(drainAsync);
    });
  };

  const server = await startStandinServer(async ({ req, body, scope }, res) => {
    const error = (status: number, type: string, message: string) =>
      res.writeHead(status, { 'content-type': CONTENT_TYPE, 'x-amzn-errortype': type }).end(JSON.stringify({ Type: 'User', message }));
    if (!scope) return error(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
    const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url ?? '');
    if (req.method !== 'POST' || !m) return error(400, 'UnknownOperationException', `not served by the stand-in: ${req.method} ${req.url}`);
    const requested = decodeURIComponent(m[1]);
    // A name, or an ARN ending in the name, as Invoke accepts.
    const name = requested.startsWith('arn:') ? (requested.split(':function:')[1] ?? '').split(':')[0] : requested;
    const fn = scope.region === region ? functions[name] : undefined;
    if (!fn) return error(404, 'ResourceNotFoundException', `Function not found: arn:aws:lambda:${scope.region}:${account}:function:${name}`);
    const invocationType = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    if (invocationType !== 'RequestResponse' && invocationType !== 'Event') {
      return error(400, 'InvalidParameterValueException', `the stand-in serves RequestResponse and Event invocations, not ${invocationType}`);
    }
    let payload: unknown;
    try {
      payload = body === '' ? {} : JSON.parse(body);
    } catch {
      return error(400, 'InvalidRequestContentException', 'Could not parse request body into json');
    }
    invocations.push({ functionName: name, payload, invocationType });
    if (invocationType === 'Event') {
      const requestId = `standin-event-${++seq}`;
      pending.push({ name, fn, payload, requestId });
      setImmediate(drainAsync);
      res.writeHead(202, { 'content-type': CONTENT_TYPE, 'x-amzn-requestid': requestId }).end();
      return undefined;
    }
    // A new top-level invocation waits for an asynchronous one in progress (their environments would mix).
    if (syncDepth === 0 && asyncRun) await asyncRun;
    syncDepth++;
    let outcome: { result?: unknown; failed: Error | null };
    try {
      outcome = await run(name, fn, payload);
    } finally {
      syncDepth--;
      if (syncDepth === 0) setImmediate(drainAsync);
    }
    const { result, failed } = outcome;
    if (failed) {
      res
        .writeHead(200, { 'content-type': CONTENT_TYPE, 'x-amz-function-error': 'Unhandled', 'x-amz-executed-version': '$LATEST' })
        .end(JSON.stringify({ errorType: failed.name, errorMessage: failed.message, trace: [] }));
      return undefined;
    }
    return res.writeHead(200, { 'content-type': CONTENT_TYPE, 'x-amz-executed-version': '$LATEST' }).end(JSON.stringify(result ?? null));
  });
  return {
    ...server,
    invocations,
    idle: () =>
      new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        setImmediate(drainAsync);
      }),
  };
}
