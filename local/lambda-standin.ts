/**
 * A Lambda stand-in for the operator CLI's tests: synchronous Invoke (REST JSON,
 * `POST /2015-03-31/functions/<name>/invocations`) that runs a REAL handler in this process, for the
 * real `@aws-sdk/client-lambda` pointed at it (AWS_ENDPOINT_URL_LAMBDA). What the CLI depends on is
 * modelled as Lambda does it (AWS Lambda API reference, Invoke): the handler's return value is the
 * payload; a thrown error is still HTTP 200, with `X-Amz-Function-Error: Unhandled` and the payload
 * `{errorType, errorMessage, trace}`; an unknown function is 404 `ResourceNotFoundException`.
 *
 * The function's environment (as its construct sets it) is put into `process.env` for the duration
 * of each invocation and restored after, so the caller's own settings (e.g. credentials from a
 * profile) are not changed by it. Handlers are loaded on first invoke, after that environment is set,
 * as Lambda loads them. Never bundled into Lambda code.
 */
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
}

export interface LambdaStandin extends StandinServer {
  /** Payloads received, in order, by function name. */
  readonly invocations: Array<{ functionName: string; payload: unknown }>;
}

const CONTENT_TYPE = 'application/json';

/** Starts the stand-in serving `functions` (by function name) in `region`. */
export async function startLambdaStandin(region: string, functions: Record<string, StandinFunction>): Promise<LambdaStandin> {
  const loaded = new Map<string, StandinHandler>();
  const invocations: Array<{ functionName: string; payload: unknown }> = [];
  let seq = 0;
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
    if (!fn) return error(404, 'ResourceNotFoundException', `Function not found: arn:aws:lambda:${scope.region}:000000000000:function:${name}`);
    if (String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse') !== 'RequestResponse') {
      return error(400, 'InvalidParameterValueException', 'the stand-in serves RequestResponse invocations only');
    }
    let payload: unknown;
    try {
      payload = body === '' ? {} : JSON.parse(body);
    } catch {
      return error(400, 'InvalidRequestContentException', 'Could not parse request body into json');
    }
    invocations.push({ functionName: name, payload });
    const saved: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(fn.environment)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    const deadline = Date.now() + (fn.timeoutMs ?? 900_000);
    let result: unknown;
    let failed: Error | null = null;
    try {
      let handler = loaded.get(name);
      if (!handler) {
        handler = await fn.load();
        loaded.set(name, handler);
      }
      result = await handler(payload, { functionName: name, awsRequestId: `standin-${++seq}`, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) });
    } catch (e) {
      failed = e instanceof Error ? e : new Error(String(e));
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    if (failed) {
      res
        .writeHead(200, { 'content-type': CONTENT_TYPE, 'x-amz-function-error': 'Unhandled', 'x-amz-executed-version': '$LATEST' })
        .end(JSON.stringify({ errorType: failed.name, errorMessage: failed.message, trace: [] }));
      return undefined;
    }
    return res.writeHead(200, { 'content-type': CONTENT_TYPE, 'x-amz-executed-version': '$LATEST' }).end(JSON.stringify(result ?? null));
  });
  return { ...server, invocations };
}
