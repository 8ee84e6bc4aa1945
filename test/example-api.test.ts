import { Logger } from '@aws-lambda-powertools/logger';
import { callApi, fetchOrder, produceOrders, publishSummary } from '../lambdas/jobs/example-api/logic';
import { ExternalApiRejectedError, ExternalApiUnavailableError } from '../lambdas/jobs/example-api/errors';
import { InvalidTaskError } from '../lambdas/shared/errors';
import { createStepHandler } from '../lambdas/shared/step';
import { TaskEnvelope } from '../lambdas/shared/envelope';

const params = { orderId: 'o-1', customer: { name: 'Hanako', email: 'hanako@example.com' }, amount: 12.5, simulate: 'transient' };
const ok = (status: number, body: unknown = {}) => (async () => new Response(JSON.stringify(body), { status })) as unknown as typeof fetch;

test('producer: count tasks with unique keys, simulate cycled', () => {
  const specs = produceOrders(new Date('2026-01-01T00:05:00Z'), 4, ['', 'transient']);
  expect(new Set(specs.map((s) => s.key)).size).toBe(4);
  expect(specs.map((s) => (s.params as { simulate?: string }).simulate)).toEqual([undefined, 'transient', undefined, 'transient']);
});

test.each([
  [503, ExternalApiUnavailableError],
  [429, ExternalApiUnavailableError],
  // 409: a request with the same Idempotency-Key is still being answered (a replay overlapping a
  // call its timed-out attempt left running): retry later, never a permanent refusal.
  [409, ExternalApiUnavailableError],
  [400, ExternalApiRejectedError],
  [404, ExternalApiRejectedError],
])('CallApi maps HTTP %i to %p', async (status, cls) => {
  await expect(callApi(params, { url: 'http://x', fetch: ok(status), timeoutMs: 100 })).rejects.toBeInstanceOf(cls);
});

test('CallApi: a network error is retryable and the error name is the class name (the retry contract)', async () => {
  const err = await callApi(params, { url: 'http://x', fetch: (async () => { throw new TypeError('fetch failed'); }) as never, timeoutMs: 100 }).catch((e) => e);
  expect(err.name).toBe('ExternalApiUnavailableError');
  expect(err.message).not.toContain('hanako');
});

test('CallApi posts the params with simulate and returns ids only', async () => {
  let sent: unknown;
  const f = (async (_: string, init: RequestInit) => ((sent = JSON.parse(String(init.body))), new Response(JSON.stringify({ confirmation: 'c-9' }), { status: 200 }))) as never;
  expect(await callApi(params, { url: 'http://x', fetch: f, timeoutMs: 100 })).toEqual({ orderId: 'o-1', confirmation: 'c-9', status: 200 });
  expect(sent).toEqual(params);
});

test("CallApi sends the step call's idempotency key as the API's Idempotency-Key (the same on every attempt and replay)", async () => {
  const keys: Array<string | null> = [];
  const f = (async (_: string, init: RequestInit) => (keys.push(new Headers(init.headers).get('idempotency-key')), new Response('{}', { status: 200 }))) as never;
  await callApi(params, { url: 'http://x', fetch: f, timeoutMs: 100, idempotencyKey: 'example-api-20261125T0305Z-o-1#CallApi' });
  await callApi(params, { url: 'http://x', fetch: f, timeoutMs: 100 });
  expect(keys).toEqual(['example-api-20261125T0305Z-o-1#CallApi', 'o-1']);
});

test('Fetch and Publish validate params with InvalidTaskError', () => {
  expect(() => fetchOrder({ orderId: 'o-1' })).toThrow(InvalidTaskError);
  expect(fetchOrder(params)).toEqual({ orderId: 'o-1', amountMinor: 1250, currency: 'JPY' });
  expect(() => publishSummary(params, { orderId: 'other' })).toThrow(InvalidTaskError);
  expect(publishSummary(params, { orderId: 'o-1', confirmation: 'c' })).toEqual({ orderId: 'o-1', confirmation: 'c', published: true });
});

test('step handler logs task keys but never params, and rethrows errors under their name without their message', async () => {
  const lines: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((s) => (lines.push(String(s)), true));
  const spyErr = jest.spyOn(process.stderr, 'write').mockImplementation((s) => (lines.push(String(s)), true));
  const logger = new Logger({ serviceName: 't' });
  const task: TaskEnvelope = { v: 1, taskId: 't-1', job: 'j', key: 'k', params, attempt: 2, scheduledTime: '2026-01-01T00:00:00.000Z' };
  const boom = new ExternalApiUnavailableError('503');
  const h = createStepHandler(() => { throw boom; }, { logger, stepName: 'CallApi' });
  const err = (await h({ task, previous: null }).catch((e: Error) => e)) as Error;
  expect(err).toBeInstanceOf(ExternalApiUnavailableError);
  expect(err.name).toBe('ExternalApiUnavailableError');
  expect(err.message).not.toContain('503');
  spy.mockRestore();
  spyErr.mockRestore();
  const all = lines.join('');
  expect(all).toContain('"taskId":"t-1"');
  expect(all).toContain('ExternalApiUnavailableError');
  expect(all).not.toContain('hanako');
});

test('step handler refuses a bad envelope', async () => {
  await expect(createStepHandler(() => 1)({ task: { nope: true } as never, previous: null })).rejects.toThrow(/envelope/);
});
