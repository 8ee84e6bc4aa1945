import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { types } from 'node:util';
import { MAX_ERROR_MESSAGE_CHARS } from './limits';

/**
 * Errors that leave a Lambda without params.
 *
 * Whatever a handler throws, the Lambda Node.js runtime writes to the function's log group as
 * `Invoke Error {"errorType", "errorMessage", "stack", ...every enumerable property}`, and with active
 * tracing to X-Ray; the same error becomes the invocation's error payload, which Step Functions keeps
 * as the state's Cause (AWS Lambda developer guide, "AWS Lambda function errors in Node.js": "Lambda
 * generates a JSON representation of the error. This error document appears in the invocation log").
 * Log groups and traces are outside the read lock, and Node's own errors echo their input
 * (`JSON.parse("alice@example.com")` names the text). So a handler never lets its original error out:
 * it throws {@link safeError}'s copy instead:
 * - `name` unchanged: it is the retry contract the state machine's Retry and Catch match on;
 * - the message holds no text of the original: a fingerprint (an HMAC of the original message) and,
 *   when the task's seal key is known, the original message SEALED (AES-256-GCM) under that key;
 * - the stack is rebuilt: its first line (which repeats the message) from the new message, then only
 *   the code locations of the original frames (a frame's function name can be computed from input);
 * - no other property (the runtime logs enumerable ones; `cause` chains are dropped).
 *
 * The seal key is random per task (lambdas/producer `validateSpecs`) and travels only in the task
 * envelope, i.e. inside the lock (tick queue, execution input, spool, under the params key). Whoever
 * reads the envelope can open the text ({@link openSealedText}): the worker record gets it in clear
 * (lambdas/record-outcome), and a spool message holds the sealed text next to its envelope. A log
 * reader sees a random-key ciphertext and a keyed fingerprint: neither can be tested against a guess.
 * Without a seal key (a handler with no task: producer, starter, sweeper, ...) the text is dropped,
 * and only the fingerprint under a per-container key (to group repeats in one container) is left.
 */

/** Marker of messages the platform builds from its own values only (names, counts, limits): kept as is. */
const PARAM_FREE = Symbol.for('scheduled-jobs.paramFreeMessage');

/** Marks an error whose message the platform built without any task or event value, so it is kept. Returns it. */
export function markParamFree<E extends Error>(e: E): E {
  Object.defineProperty(e, PARAM_FREE, { value: true, enumerable: false });
  return e;
}

/** True when the error's message was marked param-free by the platform. */
export function isParamFree(e: unknown): boolean {
  return e !== null && typeof e === 'object' && (e as Record<symbol, unknown>)[PARAM_FREE] === true;
}

/** Prefix of a sealed message in an error message or a Cause. */
export const SEALED_PREFIX = 'sealed:v1:';
/** A sealed text inside any string (a Cause is a JSON string; base64url needs no JSON escaping). */
const SEALED_RE = /sealed:v1:([A-Za-z0-9_-]+)/;

/** A new random seal key (32 bytes, base64url), one per task. */
export function newSealKey(): string {
  return randomBytes(32).toString('base64url');
}

const keyBytes = (key: string): Buffer | null => {
  const b = Buffer.from(key, 'base64url');
  return b.length === 32 ? b : null;
};

/** Seals `text` under the task's key (AES-256-GCM, random IV): `sealed:v1:<base64url(iv|tag|ciphertext)>`. */
export function sealText(text: string, key: string): string {
  const k = keyBytes(key);
  if (!k) throw new Error('a seal key must be 32 bytes, base64url');
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', k, iv);
  const ct = Buffer.concat([c.update(text, 'utf8'), c.final()]);
  return `${SEALED_PREFIX}${Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64url')}`;
}

/** Opens the first sealed text found in `s` (an error message, a Cause) with the task's key; null when none or it does not open. */
export function openSealedText(s: string | null | undefined, key: string | null | undefined): string | null {
  if (!s || !key) return null;
  const m = SEALED_RE.exec(s);
  const k = keyBytes(key);
  if (!m || !k) return null;
  try {
    const raw = Buffer.from(m[1], 'base64url');
    const d = createDecipheriv('aes-256-gcm', k, raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
  } catch {
    return null;
  }
}

/**
 * Where a worker record's cause holds the opened (full) text of a sealed message: after this mark.
 * Whoever shows a record without `--show-params` cuts it off ({@link withoutOpenedText}).
 */
export const OPENED_MARK = '\n[opened] ';

/** A worker record's cause without its opened text (what may be shown where params may not). */
export function withoutOpenedText(cause: string | null | undefined): string | null {
  if (cause === null || cause === undefined) return null;
  const i = cause.indexOf(OPENED_MARK);
  return i === -1 ? cause : cause.slice(0, i);
}

/** Key of fingerprints when no task key is known: random per container, so a fingerprint cannot be tested against a guess. */
const containerKey = randomBytes(32);

/** 12 hex digits of HMAC-SHA256(key, text). */
export function fingerprint(text: string, key?: string | null): string {
  return createHmac('sha256', (key && keyBytes(key)) || containerKey)
    .update(text, 'utf8')
    .digest('hex')
    .slice(0, 12);
}

/** Code locations of a stack's frames (`file:line:col`), nothing else of them. */
export function stackLocations(stack: string | undefined): string[] {
  if (typeof stack !== 'string') return [];
  const out: string[] = [];
  for (const line of stack.split('\n')) {
    if (!/^\s+at\s/.test(line)) continue;
    const loc = /\(?((?:file:\/\/)?[^\s()]+:\d+:\d+)\)?\s*$/.exec(line);
    if (loc && !/\s/.test(loc[1])) out.push(loc[1]);
    else if (/\(native\)\s*$|<anonymous>\)?\s*$/.test(line)) out.push('native');
    if (out.length >= 20) break;
  }
  return out;
}

/**
 * The thrown value as an error, as the Lambda runtime recognises one (a native error of any realm,
 * or anything with string name, message and stack), else null.
 */
function asError(v: unknown): Error | null {
  if (v instanceof Error || types.isNativeError(v)) return v as Error;
  const o = v as { name?: unknown; message?: unknown; stack?: unknown } | null;
  return o && typeof o === 'object' && typeof o.name === 'string' && typeof o.message === 'string' && typeof o.stack === 'string' ? (o as Error) : null;
}

/** Bytes of the original message kept (sealed): with the stack's locations the Cause stays within MAX_ERROR_CAUSE_BYTES. */
export const MAX_SEALED_TEXT_BYTES = 1_500;

function cutText(s: string): string {
  let t = s.length > MAX_ERROR_MESSAGE_CHARS ? s.slice(0, MAX_ERROR_MESSAGE_CHARS) : s;
  while (Buffer.byteLength(t, 'utf8') > MAX_SEALED_TEXT_BYTES) t = t.slice(0, Math.floor(t.length * 0.9));
  return t.length < s.length ? `${t}... (truncated)` : t;
}

/** Options of {@link safeError}. */
export interface SafeErrorOptions {
  /** The task's seal key (its envelope's `seal`): the original message is sealed into the new one. */
  readonly sealKey?: string | null;
}

/**
 * The error to throw instead of `e`: same `name` and class, a message without the original text, a
 * stack of code locations only, no other properties. An error {@link markParamFree} marked is
 * returned itself, its stack rebuilt the same way.
 */
export function safeError(thrown: unknown, options: SafeErrorOptions = {}): Error {
  const e = asError(thrown);
  const name = e ? e.name : typeof thrown === 'object' && thrown !== null ? 'Error' : typeof thrown;
  const original = e ? e.message : String(thrown);
  if (e && isParamFree(e)) {
    // The platform's own error: kept, properties and all (they name fields, queues, counts), with a
    // stack of code locations only (a frame's function name can be computed from input).
    Object.defineProperty(e, 'stack', { value: [`${name}: ${original}`, ...stackLocations(e.stack).map((f) => `    at ${f}`)].join('\n'), enumerable: false, writable: true, configurable: true });
    return e;
  }
  const text = cutText(original);
  const fp = fingerprint(text, options.sealKey);
  const message = options.sealKey
    ? `[${fp}] message withheld (may hold params); full text sealed with the task's key, opened in the worker record and from the spool message: ${sealText(text, options.sealKey)}`
    : `[${fp}] message withheld (may hold params)`;
  // The original's class (instanceof still holds for callers in the same process), none of its own
  // properties: the runtime's log line takes every enumerable one. Own ones are non-enumerable, as Error's.
  const out = new Error(message);
  if (e) Object.setPrototypeOf(out, Object.getPrototypeOf(e));
  const own = (k: string, value: string): void => void Object.defineProperty(out, k, { value, enumerable: false, writable: true, configurable: true });
  own('name', name);
  const frames = stackLocations(e?.stack);
  own('stack', [`${name}: ${message}`, ...frames.map((f) => `    at ${f}`)].join('\n'));
  return markParamFree(out);
}

/**
 * Wraps a Lambda handler so that nothing it throws leaves with the original message or stack:
 * every error is replaced by {@link safeError} (without a seal key: these handlers have no task).
 */
export function withSafeErrors<A extends unknown[], R>(handler: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A): Promise<R> => {
    try {
      return await handler(...args);
    } catch (e) {
      throw safeError(e);
    }
  };
}
