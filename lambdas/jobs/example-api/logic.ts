import { InvalidTaskError } from '../../shared/errors';
import { JsonObject, JsonValue } from '../../shared/json';
import { TaskSpec } from '../../producer/logic';
import { ExternalApiRejectedError, ExternalApiUnavailableError } from './errors';

/** How the fake API (local/) is asked to behave; the real API ignores it. */
export type Simulate = 'transient' | 'permanent' | 'slow';
const SIMULATE: ReadonlyArray<Simulate> = ['transient', 'permanent', 'slow'];

/** Params of one example task. */
export interface OrderParams {
  readonly orderId: string;
  readonly customer: { readonly name: string; readonly email: string };
  readonly amount: number;
  readonly simulate?: Simulate;
}

/**
 * Producer: `count` orders for the tick, keyed by order id (stable across a redelivered tick).
 * `simulate` (e.g. `['', 'transient', 'permanent']`) is cycled over the tasks so that every path of
 * the workflow can be exercised against the fake API; an empty entry means a normal order.
 */
export function produceOrders(scheduledTime: Date, count: number, simulate: ReadonlyArray<string> = [], canary = ''): TaskSpec[] {
  const stamp = scheduledTime.toISOString().slice(0, 16).replace(/\D/g, '');
  return Array.from({ length: count }, (_, i) => {
    const orderId = `ord-${stamp}-${String(i + 1).padStart(3, '0')}`;
    const params: JsonObject = {
      orderId,
      customer: { name: customerName(i + 1, canary), email: `customer${i + 1}@example.com` },
      amount: 1000 + i * 250,
    };
    const mode = simulate.length > 0 ? simulate[i % simulate.length] : '';
    if (mode) params.simulate = mode;
    return { key: orderId, params };
  });
}

/**
 * The example customer's name; `canary` (the offline day's `--canary`, docs/offline-day.md) is put
 * into it so that every place the name reaches can be searched for.
 */
export function customerName(n: number, canary = ''): string {
  return canary ? `Customer ${n} ${canary}` : `Customer ${n}`;
}

/** Validates params; throws InvalidTaskError (never retried) naming the field, never echoing values. */
export function parseOrder(params: JsonValue): OrderParams {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new InvalidTaskError('params must be an object');
  const p = params as Record<string, JsonValue>;
  if (typeof p.orderId !== 'string' || p.orderId === '') throw new InvalidTaskError('params.orderId must be a non-empty string');
  const c = p.customer as Record<string, JsonValue> | null;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new InvalidTaskError('params.customer must be an object');
  if (typeof c.name !== 'string' || c.name === '') throw new InvalidTaskError('params.customer.name must be a non-empty string');
  if (typeof c.email !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(c.email)) throw new InvalidTaskError('params.customer.email must be an email address');
  if (typeof p.amount !== 'number' || !Number.isFinite(p.amount) || p.amount <= 0) throw new InvalidTaskError('params.amount must be a positive number');
  if (p.simulate !== undefined && !SIMULATE.includes(p.simulate as Simulate)) throw new InvalidTaskError(`params.simulate must be one of ${SIMULATE.join(', ')}`);
  return { orderId: p.orderId, customer: { name: c.name, email: c.email }, amount: p.amount, simulate: p.simulate as Simulate | undefined };
}

/** Fetch step: validates and normalises the order (what a real job would load from a store). */
export function fetchOrder(params: JsonValue): JsonObject {
  const order = parseOrder(params);
  return { orderId: order.orderId, amountMinor: Math.round(order.amount * 100), currency: 'JPY' };
}

/** Result of the API call kept in state data: ids only, never the customer. */
export interface CallResult extends JsonObject {
  orderId: string;
  confirmation: string;
  status: number;
}

/**
 * Calls the external API: POST the params as JSON with a timeout. 5xx, 429, 409 and network errors
 * or timeouts are ExternalApiUnavailableError (retryable); other 4xx are ExternalApiRejectedError.
 * 409 is the answer of APIs with idempotency keys (Stripe's, the fake API's) while a request with
 * the same key is still being answered: a replay that overlaps the call a timed-out attempt left
 * running gets it, and must retry (then receive the stored answer), not park the task as rejected.
 */
export async function callApi(
  params: JsonValue,
  deps: { url: string; fetch: typeof fetch; timeoutMs: number; signal?: AbortSignal; idempotencyKey?: string },
): Promise<CallResult> {
  const order = parseOrder(params);
  let res: Response;
  try {
    res = await deps.fetch(deps.url, {
      method: 'POST',
      // The step call's key (task, step: the same on every attempt and replay); the order id without one.
      headers: { 'content-type': 'application/json', 'idempotency-key': deps.idempotencyKey ?? order.orderId },
      body: JSON.stringify(params),
      // The step's own deadline (StepContext.signal) or the client timeout, whichever comes first.
      signal: deps.signal ? AbortSignal.any([deps.signal, AbortSignal.timeout(deps.timeoutMs)]) : AbortSignal.timeout(deps.timeoutMs),
    });
  } catch (e) {
    // The step's deadline passed: let the wrapper report it as the StepTimeoutError it is.
    if (deps.signal?.aborted) throw deps.signal.reason;
    throw new ExternalApiUnavailableError(`request for the order of ${order.customer.name} failed: ${e instanceof Error ? e.name : 'error'}`, { cause: e });
  }
  // The messages name the customer, as real code often does: the step wrapper seals them
  // (lambdas/shared/safe-error.ts), so the name never reaches a log.
  if (res.status === 409 || res.status === 429 || res.status >= 500) throw new ExternalApiUnavailableError(`API answered ${res.status} for the order of ${order.customer.name}`);
  if (res.status >= 400) throw new ExternalApiRejectedError(`API refused the order of ${order.customer.name} with ${res.status}`);
  let confirmation = '';
  try {
    const body = (await res.json()) as { confirmation?: unknown };
    confirmation = typeof body?.confirmation === 'string' ? body.confirmation : '';
  } catch {
    // A 2xx without a JSON body still means accepted; the confirmation stays empty.
  }
  return { orderId: order.orderId, confirmation, status: res.status };
}

/** Publish step: checks the previous step's output and returns a summary (no personal data). */
export function publishSummary(params: JsonValue, previous: JsonValue | null): JsonObject {
  const order = parseOrder(params);
  const prev = previous as Partial<CallResult> | null;
  if (!prev || typeof prev !== 'object' || prev.orderId !== order.orderId) {
    throw new InvalidTaskError('previous step output does not belong to this order');
  }
  return { orderId: order.orderId, confirmation: prev.confirmation ?? '', published: true };
}
