/**
 * What the Lambda Node.js runtime writes to the function's log group when a handler throws (or its
 * promise rejects): one line `<time>\t<request id>\tERROR\tInvoke Error \t<JSON>`, where the JSON is
 * the error with `errorType` (its name), `errorMessage`, `code`, EVERY enumerable own property, and
 * `stack` split into lines; nested errors among those properties are expanded the same way. The
 * invocation's error payload (what Step Functions keeps as the Cause, what an on-failure record
 * holds) is `{errorType, errorMessage, trace}` with the stack's lines as `trace`.
 *
 * Sources: AWS Lambda developer guide, "AWS Lambda function errors in Node.js" (the error document
 * "appears in the invocation log"); the runtime interface client the Node.js runtimes run,
 * aws/aws-lambda-nodejs-runtime-interface-client `src/Errors.js` (`toFormatted`,
 * `_withEnumerableProperties`, `toRapidResponse`). With active tracing the same error (type, message,
 * stack) is recorded on the invocation's X-Ray segment. Never bundled into Lambda code.
 */

import { types } from 'node:util';

/** As the runtime tells an error: a native error of any realm (jest runs tests in another one), or an Error. */
const isError = (v: unknown): v is Error => v instanceof Error || types.isNativeError(v);

function withEnumerableProperties(v: unknown): unknown {
  if (!isError(v)) return v;
  const out: Record<string, unknown> = { errorType: v.name, errorMessage: v.message, code: (v as { code?: unknown }).code, ...v };
  if (typeof v.stack === 'string') out.stack = v.stack.split('\n');
  return out;
}

/** The JSON part of the runtime's `Invoke Error` log line for a thrown value. */
export function invokeErrorJson(thrown: unknown): string {
  const e = isError(thrown) ? thrown : new Error(String(thrown));
  try {
    return JSON.stringify(e, (_k, v: unknown) => withEnumerableProperties(v));
  } catch {
    return JSON.stringify(invokeErrorPayload(e));
  }
}

/** The runtime's log line for an uncaught error of one invocation. */
export function invokeErrorLogLine(thrown: unknown, requestId: string, at: Date = new Date()): string {
  return `${at.toISOString()}\t${requestId}\tERROR\tInvoke Error \t${invokeErrorJson(thrown)}`;
}

/** The invocation's error payload: Step Functions' Cause of a Lambda task, the on-failure record's responsePayload. */
export function invokeErrorPayload(thrown: unknown): { errorType: string; errorMessage: string; trace: string[] } {
  if (isError(thrown)) return { errorType: thrown.name, errorMessage: thrown.message, trace: typeof thrown.stack === 'string' ? thrown.stack.split('\n') : [] };
  return { errorType: typeof thrown, errorMessage: String(thrown), trace: [] };
}

/** A handler as the runtime calls it. */
export type RuntimeHandler = (event: unknown, context: unknown) => Promise<unknown>;

/**
 * Wraps a handler the way the runtime treats it: an error it throws is written as the runtime's
 * log line (to `write`, with the request id of the context) and then passed on unchanged.
 */
export function withRuntimeErrorLog(handler: RuntimeHandler, write: (line: string, thrown: unknown) => void): RuntimeHandler {
  return async (event, context) => {
    try {
      return await handler(event, context);
    } catch (e) {
      const requestId = String((context as { awsRequestId?: unknown } | null)?.awsRequestId ?? 'unknown');
      write(invokeErrorLogLine(e, requestId), e);
      throw e;
    }
  };
}
