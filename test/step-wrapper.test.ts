import { Logger } from '@aws-lambda-powertools/logger';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { DependencyOnHold, InvalidStepOutputError, StepTimeoutError, TransientError } from '../lambdas/shared/errors';
import { HoldChecker } from '../lambdas/shared/holds';
import { MAX_ERROR_CAUSE_BYTES, MAX_ERROR_MESSAGE_CHARS } from '../lambdas/shared/limits';
import { newSealKey } from '../lambdas/shared/safe-error';
import { createStepHandler } from '../lambdas/shared/step';

const task: TaskEnvelope = { v: 1, taskId: 'j-20260101T0000Z-k', job: 'j', key: 'k', params: { secret: 'hanako@example.com' }, attempt: 1, scheduledTime: '2026-01-01T00:00:00.000Z' };
const quiet = new Logger({ serviceName: 't', logLevel: 'SILENT' });
const base = { logger: quiet, stepName: 'S', holds: null, dependency: null, items: null, env: {} };
const ctx = (ms: number) => ({ getRemainingTimeInMillis: () => ms, awsRequestId: 'r-1', functionName: 'f' });

describe('deadline', () => {
  test('a step still working at its deadline is aborted through its signal and fails with StepTimeoutError', async () => {
    let aborted = false;
    const h = createStepHandler(
      ({ signal }) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            reject(new Error('fetch aborted'));
          });
        }),
      { ...base, deadlineMarginMs: () => 50 },
    );
    const err = await h({ task, previous: null }, ctx(200)).catch((e) => e);
    expect(err).toBeInstanceOf(StepTimeoutError);
    expect(err.name).toBe('StepTimeoutError');
    expect(aborted).toBe(true);
    // It gives up at the Lambda's remaining time minus the margin, i.e. before the Lambda and the state time out.
    expect(err.message).toContain('(150 ms)');
  });

  test('a step that ignores the signal still ends with StepTimeoutError at the deadline', async () => {
    const h = createStepHandler(() => new Promise(() => undefined), { ...base, deadlineMarginMs: () => 20 });
    await expect(h({ task, previous: null }, ctx(100))).rejects.toBeInstanceOf(StepTimeoutError);
  });

  test('a step that finishes in time returns its output and no timer is left behind', async () => {
    const h = createStepHandler(({ remainingMs }) => ({ left: remainingMs() > 0 }), base);
    expect(await h({ task, previous: null }, ctx(10_000))).toEqual({ left: true });
  });
});

describe('holds', () => {
  test('while the dependency is on hold the step is not called: DependencyOnHold', async () => {
    let reads = 0;
    const holds = new HoldChecker({ readSwitch: async () => (reads++, true), windows: {}, timeZone: 'UTC' });
    const fn = jest.fn(() => ({ ok: true }));
    const h = createStepHandler(fn, { ...base, holds, dependency: 'orders-api' });
    const err = await h({ task, previous: null }).catch((e) => e);
    expect(err).toBeInstanceOf(DependencyOnHold);
    expect(err.name).toBe('DependencyOnHold');
    expect(fn).not.toHaveBeenCalled();
    expect(reads).toBe(1);
  });

  test('a planned window holds the dependency with no switch read at all', async () => {
    const read = jest.fn(async () => false);
    // Every day 02:00 for 3 h in Tokyo; 03:30 JST is inside.
    const holds = new HoldChecker({ readSwitch: read, windows: { 'orders-api': [{ cron: 'cron(0 2 * * ? *)', durationMinutes: 180 }] }, timeZone: 'Asia/Tokyo', now: () => new Date('2026-11-25T18:30:00Z') });
    const h = createStepHandler(() => ({ ok: true }), { ...base, holds, dependency: 'orders-api' });
    await expect(h({ task, previous: null })).rejects.toBeInstanceOf(DependencyOnHold);
    expect(read).not.toHaveBeenCalled();
  });

  test('outside the window and with the switch off the step runs; an unreadable switch counts as off and is reported', async () => {
    const errors: string[] = [];
    const holds = new HoldChecker({
      readSwitch: async () => {
        throw new Error('table unavailable');
      },
      windows: { 'orders-api': [{ cron: 'cron(0 2 * * ? *)', durationMinutes: 180 }] },
      timeZone: 'Asia/Tokyo',
      now: () => new Date('2026-11-25T21:30:00Z'), // 06:30 JST
      onReadError: (dep) => errors.push(dep),
    });
    const h = createStepHandler(() => ({ ok: true }), { ...base, holds, dependency: 'orders-api' });
    expect(await h({ task, previous: null })).toEqual({ ok: true });
    expect(errors).toEqual(['orders-api']);
  });
});

describe('output contract', () => {
  test('an output over the step budget fails with InvalidStepOutputError (not a terminal States.DataLimitExceeded later)', async () => {
    const h = createStepHandler(() => ({ blob: 'x'.repeat(2000) }), { ...base, maxOutputBytes: 1000 });
    const err = await h({ task, previous: null }).catch((e) => e);
    expect(err).toBeInstanceOf(InvalidStepOutputError);
    expect(err.message).toMatch(/at most 1000/);
  });

  test('before a map, the items field must be an array within maxItems', async () => {
    const items = { field: 'parts', max: 3 };
    await expect(createStepHandler(() => ({ parts: [1, 2, 3] }), { ...base, items })({ task, previous: null })).resolves.toEqual({ parts: [1, 2, 3] });
    await expect(createStepHandler(() => ({ parts: [1, 2, 3, 4] }), { ...base, items })({ task, previous: null })).rejects.toThrow(/at most 3 items/);
    await expect(createStepHandler(() => ({ other: [] }), { ...base, items })({ task, previous: null })).rejects.toThrow(/output.parts must be an array/);
    await expect(createStepHandler(() => [1], { ...base, items: { field: '', max: 5 } })({ task, previous: null })).resolves.toEqual([1]);
  });
});

describe('errors and logs', () => {
  test('error names reach Step Functions unchanged; long messages and stacks are cut so the Cause stays small', async () => {
    const boom = new TransientError('x'.repeat(5000));
    const h = createStepHandler(() => {
      throw boom;
    }, base);
    const err = await h({ task: { ...task, seal: newSealKey() }, previous: null }).catch((e) => e);
    // A copy without the original text (lambdas/shared/safe-error.ts; test/safe-errors.test.ts).
    expect(err).not.toBe(boom);
    expect(err).toBeInstanceOf(TransientError);
    expect(err.name).toBe('TransientError');
    expect(err.message).not.toContain('x'.repeat(MAX_ERROR_MESSAGE_CHARS));
    const cause = JSON.stringify({ errorType: err.name, errorMessage: err.message, trace: String(err.stack).split('\n') });
    expect(Buffer.byteLength(cause)).toBeLessThan(MAX_ERROR_CAUSE_BYTES);
  });

  test('the step gets the envelope without a resume point, and logs carry ids but never params', async () => {
    const lines: string[] = [];
    const logger = new Logger({ serviceName: 't' });
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((s) => (lines.push(String(s)), true));
    let seen: TaskEnvelope | undefined;
    const h = createStepHandler(({ task: t }) => ((seen = t), null), { ...base, logger });
    await h({ task: { ...task, resume: { step: 'S', input: { a: 1 } } }, previous: null }, ctx(5000));
    spy.mockRestore();
    expect(seen).toEqual(task);
    const all = lines.join('');
    expect(all).toContain('"taskId":"j-20260101T0000Z-k"');
    expect(all).toContain('"function_request_id":"r-1"');
    expect(all).not.toContain('hanako');
  });
});

describe('Powertools in every handler', () => {
  test('every Lambda handler module (and the step and producer wrappers) traces its SDK clients and logs with the Lambda context', () => {
    const root = join(__dirname, '..', 'lambdas');
    const handlers = readdirSync(root)
      .map((d) => join(root, d, 'handler.ts'))
      .filter((f) => existsSync(f))
      .concat([join(root, 'producer', 'runtime.ts'), join(root, 'shared', 'step.ts')]);
    expect(handlers.length).toBeGreaterThanOrEqual(9);
    for (const f of handlers) {
      const src = readFileSync(f, 'utf8');
      const clients = (src.match(/new [A-Z][A-Za-z]+Client\(/g) ?? []).length;
      const traced = (src.match(/captureAWSv3Client\(new [A-Z][A-Za-z]+Client\(/g) ?? []).length;
      const name = f.slice(root.length + 1);
      expect({ name, untraced: clients - traced }).toEqual({ name, untraced: 0 });
      expect({ name, context: /addContext\(|injectLambdaContext/.test(src) }).toEqual({ name, context: true });
    }
  });
});
