import { DependencyOnHold, TransientError } from '../lambdas/shared/errors';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { JsonValue } from '../lambdas/shared/json';
import { ParamLogRecord } from '../lambdas/shared/param-log';
import { markParamFree, newSealKey, openSealedText, safeError, stackLocations, withSafeErrors } from '../lambdas/shared/safe-error';
import { createStepHandler, StepFn } from '../lambdas/shared/step';
import { recordOutcome } from '../lambdas/record-outcome/logic';
import { invokeErrorJson, invokeErrorLogLine, invokeErrorPayload } from '../local/lambda-runtime-log';

/**
 * A step (or any handler) never lets an error out with a param value in it: the Lambda runtime logs
 * what leaves (type, message, every enumerable property, stack: local/lambda-runtime-log.ts) and
 * Step Functions keeps it as the Cause. Each case first shows that the raw error WOULD leak the
 * canary into the runtime's log line, so the test fails if a step rethrows it raw.
 */
// Short: Node quotes at most 10 characters of a text JSON.parse refuses.
const CANARY = 'k9canary';
const seal = newSealKey();
const task: TaskEnvelope = { v: 1, taskId: 'j-20260101T0000Z-k', job: 'j', key: 'k', params: { email: CANARY, note: CANARY }, attempt: 1, scheduledTime: '2026-01-01T00:00:00.000Z', seal };
const base = { holds: null, dependency: null, stepName: 'S', env: {} };
const params = task.params as { email: string; note: string };

/** Runs a step that fails with `fn` and returns what leaves the handler, and the raw error. */
async function leaving(fn: () => JsonValue, envelope: TaskEnvelope = task): Promise<{ out: Error; raw: Error }> {
  let raw: Error | undefined;
  const step: StepFn = () => {
    try {
      return fn();
    } catch (e) {
      raw = e as Error;
      throw e;
    }
  };
  const out = (await createStepHandler(step, base)({ task: envelope, previous: null }).catch((e: Error) => e)) as Error;
  if (!raw) throw new Error('the step did not fail');
  return { out, raw };
}

/** Everything of an error that leaves the function: the runtime's log line and the invocation's error payload. */
const leaked = (e: Error): string => `${invokeErrorLogLine(e, 'r-1')}\n${JSON.stringify(invokeErrorPayload(e))}\n${String(e.stack)}`;

const cases: Array<[string, () => JsonValue, string]> = [
  ['a step that throws new Error(param)', () => { throw new Error(`no account for ${params.email}`); }, 'Error'],
  ['a typed error with a param in its message', () => { throw new TransientError(`API down for ${params.email}`); }, 'TransientError'],
  ['JSON.parse of a param (Node echoes the text)', () => JSON.parse(params.note) as JsonValue, 'SyntaxError'],
  ['BigInt of a param (Node echoes the value)', () => String(BigInt(params.email)), 'SyntaxError'],
  // Node's ERR_INVALID_URL carries the input in an ENUMERABLE property: the runtime logs those too.
  ['new URL(param): a TypeError whose enumerable `input` holds the value', () => new URL(params.email).href, 'TypeError'],
  [
    'a function named after a param (a computed name appears in stack frames)',
    () => {
      const o: Record<string, () => never> = { [params.email]: () => { throw new Error('boom'); } };
      return o[params.email]();
    },
    'Error',
  ],
];

describe.each(cases)('%s', (_label, fn, name) => {
  test('leaves with its name (the retry contract) and no param value in message, properties or stack', async () => {
    const { out, raw } = await leaving(fn);
    expect(leaked(raw)).toContain(CANARY); // the raw error would leak: this test can fail
    expect(out.name).toBe(name);
    expect(invokeErrorPayload(out).errorType).toBe(name);
    expect(leaked(out)).not.toContain(CANARY);
    expect(out.message).toMatch(/^\[[0-9a-f]{12}\] message withheld/);
    // Stack lines are code locations; the first repeats the new message.
    const lines = String(out.stack).split('\n');
    expect(lines[0]).toBe(`${name}: ${out.message}`);
    for (const l of lines.slice(1)) expect(l).toMatch(/^ {4}at (\S+:\d+:\d+|native)$/);
  });

  test('its full text opens only with the task key (the envelope, inside the lock)', async () => {
    const { out, raw } = await leaving(fn);
    expect(openSealedText(out.message, seal)).toBe(raw.message);
    expect(openSealedText(out.message, newSealKey())).toBeNull();
  });
});

test('the worker record holds the full text, opened with the envelope key; the Cause as Step Functions keeps it does not', async () => {
  const { out } = await leaving(() => { throw new Error(`no account for ${params.email}`); });
  const cause = JSON.stringify(invokeErrorPayload(out)); // as AWS puts it in the Catch's $.caught.Cause
  expect(cause).not.toContain(CANARY);
  const records: ParamLogRecord[] = [];
  await recordOutcome(
    { task, error: out.name, cause, failedState: 'S', executionArn: 'arn:aws:states:r:1:execution:sm:x' },
    { sink: { put: async (r) => void records.push(...r) }, timeZone: 'UTC', now: () => new Date('2026-01-01T00:00:01Z') },
  );
  expect(records[0].cause).toContain(`[opened] no account for ${CANARY}`);
  // The spool message holds the same Cause next to the envelope: it opens with the envelope's key.
  const spooled = { input: task, cause };
  expect(openSealedText(spooled.cause, spooled.input.seal)).toBe(`no account for ${CANARY}`);
});

test('an envelope without a seal key (older than it): the text is withheld, nothing sealed, the name kept', async () => {
  const { seal: _seal, ...old } = task;
  const { out } = await leaving(() => { throw new TransientError(`API down for ${params.email}`); }, old);
  expect(out.name).toBe('TransientError');
  expect(out.message).toMatch(/^\[[0-9a-f]{12}\] message withheld \(may hold params\)$/);
  expect(leaked(out)).not.toContain(CANARY);
});

test("the platform's own messages (names, limits) are kept: an operator reads why", async () => {
  const held = await createStepHandler(() => 1, { ...base, dependency: 'orders-api', holds: { reason: async () => ({ source: 'switch' }) } as never })({ task, previous: null }).catch((e: Error) => e);
  expect(held).toBeInstanceOf(DependencyOnHold);
  expect((held as Error).message).toBe('dependency "orders-api" is on hold: the step did not call it');
  const big = await createStepHandler(() => ({ x: 'y'.repeat(2000) }), { ...base, maxOutputBytes: 1000 })({ task, previous: null }).catch((e: Error) => e);
  expect((big as Error).name).toBe('InvalidStepOutputError');
  expect((big as Error).message).toMatch(/at most 1000 fit/);
  // A bad envelope names the field, never the value.
  const bad = await createStepHandler(() => 1, base)({ task: { ...task, v: CANARY } as never, previous: null }).catch((e: Error) => e);
  expect((bad as Error).name).toBe('EnvelopeError');
  expect(leaked(bad as Error)).not.toContain(CANARY);
});

test('withSafeErrors (every other handler): a batch body that does not parse leaves without its text', async () => {
  const starterLike = withSafeErrors(async (event: { body: string }) => JSON.parse(event.body) as unknown);
  const out = (await starterLike({ body: `{"params": ${CANARY}` }).catch((e: Error) => e)) as Error;
  expect(out.name).toBe('SyntaxError');
  expect(invokeErrorJson(out)).not.toContain(CANARY);
  expect(out.message).toMatch(/message withheld/);
});

test('safeError: no enumerable property survives, a cause chain is dropped, param-free marks are honoured', () => {
  const e = Object.assign(new Error(`x ${CANARY}`, { cause: new Error(CANARY) }), { detail: CANARY, code: CANARY });
  expect(invokeErrorJson(e)).toContain(CANARY);
  const s = safeError(e, { sealKey: seal });
  expect(Object.keys(s)).toEqual([]);
  expect(invokeErrorJson(s)).not.toContain(CANARY);
  expect(safeError(markParamFree(new Error('limit 5 reached'))).message).toBe('limit 5 reached');
  // A fingerprint under the task key is stable for one text (group repeats), and tells nothing without the key.
  expect(safeError(new Error('same'), { sealKey: seal }).message.slice(0, 14)).toBe(safeError(new Error('same'), { sealKey: seal }).message.slice(0, 14));
  expect(safeError(new Error('same'), { sealKey: newSealKey() }).message.slice(0, 14)).not.toBe(safeError(new Error('same'), { sealKey: seal }).message.slice(0, 14));
});

test('stackLocations keeps file:line:col only', () => {
  expect(stackLocations(`Error: x ${CANARY}\n    at Object.${CANARY} [as ${CANARY}] (/var/task/index.js:3:9)\n    at /var/task/a.js:1:2\n    at new Promise (<anonymous>)`)).toEqual([
    '/var/task/index.js:3:9',
    '/var/task/a.js:1:2',
    'native',
  ]);
});

test('the Cause stays within its budget for the longest message, multibyte included (the sealed text is cut first)', () => {
  const { MAX_ERROR_CAUSE_BYTES } = jest.requireActual<typeof import('../lambdas/shared/limits')>('../lambdas/shared/limits');
  for (const text of ['x'.repeat(50_000), '漢'.repeat(50_000), '😀'.repeat(50_000)]) {
    const e = new Error(text);
    e.stack = [`Error: ${text}`, ...Array.from({ length: 50 }, (_, i) => `    at f${i} (/var/task/node_modules/some-long-package-name/dist/cjs/module-${i}.js:12345:67)`)].join('\n');
    const s = safeError(e, { sealKey: seal });
    expect(Buffer.byteLength(JSON.stringify(invokeErrorPayload(s)))).toBeLessThan(MAX_ERROR_CAUSE_BYTES);
    expect(openSealedText(s.message, seal)).toMatch(/\.\.\. \(truncated\)$/);
  }
});
