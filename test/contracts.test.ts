import { envelopeBytes, EnvelopeError, parseEnvelope, TaskEnvelope } from '../lambdas/shared/envelope';
import { isPlainJson } from '../lambdas/shared/json';
import { executionNameFor, MAX_EXECUTION_NAME, taskIdFor } from '../lambdas/shared/names';
import { buildClientRecord, buildWorkerRecord, formatRecordTime, parseJsonLines, partitionPath, PARAM_LOG_COLUMNS, toJsonLine } from '../lambdas/shared/param-log';

const tick = new Date('2026-11-25T03:05:00.000Z');
const envelope: TaskEnvelope = {
  v: 1,
  taskId: 'example-api-20261125T0305Z-order-1',
  job: 'example-api',
  key: 'order-1',
  params: { orderId: 'order-1', customer: { name: 'Hanako', address: { city: 'Tokyo', lines: [{ n: 1, deep: { deeper: { deepest: 'x' } } }] } } },
  attempt: 1,
  scheduledTime: tick.toISOString(),
};

describe('execution names', () => {
  it('are the same for the same job, tick and key: a duplicate tick cannot start twice', () => {
    expect(taskIdFor('example-api', tick, 'order-1')).toBe('example-api-20261125T0305Z-order-1');
    expect(executionNameFor(taskIdFor('example-api', new Date(tick), 'order-1'), 1)).toBe('example-api-20261125T0305Z-order-1-a1');
  });

  it('differ per attempt, so a replay is a new execution', () => {
    expect(executionNameFor('t', 1)).not.toBe(executionNameFor('t', 2));
  });

  it('keep unsafe keys distinct after replacing their characters', () => {
    const a = taskIdFor('j', tick, 'a/b');
    const b = taskIdFor('j', tick, 'a:b');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('stay within 80 legal characters for long ids, and stay distinct', () => {
    const long1 = taskIdFor('example-api', tick, 'x'.repeat(120) + '1');
    const long2 = taskIdFor('example-api', tick, 'x'.repeat(120) + '2');
    const n1 = executionNameFor(long1, 3);
    expect(n1.length).toBeLessThanOrEqual(MAX_EXECUTION_NAME);
    expect(n1).toMatch(/^[A-Za-z0-9_-]+-a3$/);
    expect(n1).not.toBe(executionNameFor(long2, 3));
  });
});

describe('task envelope', () => {
  it('round-trips through JSON unchanged', () => {
    expect(parseEnvelope(JSON.parse(JSON.stringify(envelope)))).toEqual(envelope);
  });

  it("keeps an operator's start-over (rerunFrom) through JSON", () => {
    const over = { ...envelope, attempt: 3, rerunFrom: 2 };
    expect(parseEnvelope(JSON.parse(JSON.stringify(over)))).toEqual(over);
  });

  it('reads an envelope without a version as version 1 (old payloads still run)', () => {
    const { v: _v, ...old } = envelope;
    expect(parseEnvelope(old).v).toBe(1);
  });

  it.each([
    ['taskId', { ...envelope, taskId: '' }],
    ['attempt', { ...envelope, attempt: 0 }],
    ['params', { ...envelope, params: undefined }],
    ['scheduledTime', { ...envelope, scheduledTime: 'yesterday' }],
    ['v', { ...envelope, v: 2 }],
    ['rerunFrom', { ...envelope, rerunFrom: envelope.attempt + 1 }],
    ['rerunFrom', { ...envelope, rerunFrom: 0 }],
  ])('names the bad field %s', (field, value) => {
    expect(() => parseEnvelope(value)).toThrow(EnvelopeError);
    try {
      parseEnvelope(value);
    } catch (e) {
      expect((e as EnvelopeError).field).toBe(field);
    }
  });

  it('measures its size in UTF-8 bytes, as the 256 KiB limit does', () => {
    const ascii = envelopeBytes({ ...envelope, params: 'a'.repeat(1000) });
    const kanji = envelopeBytes({ ...envelope, params: '東'.repeat(1000) });
    expect(kanji - ascii).toBe(2000);
  });

  it('accepts plain JSON params only', () => {
    expect(isPlainJson({ a: [1, 'x', null, { b: true }] })).toBe(true);
    expect(isPlainJson({ when: new Date() })).toBe(false);
    expect(isPlainJson({ n: Number.NaN })).toBe(false);
    expect(isPlainJson({ f: () => 1 })).toBe(false);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(isPlainJson(cyclic)).toBe(false);
  });
});

describe('parameter-log records', () => {
  it('format time in the app time zone with milliseconds', () => {
    expect(formatRecordTime(new Date('2026-11-25T14:59:59.007Z'), 'Asia/Tokyo')).toBe('2026-11-25 23:59:59.007');
    expect(formatRecordTime(new Date('2026-11-25T15:00:00.000Z'), 'Asia/Tokyo')).toBe('2026-11-26 00:00:00.000');
    expect(formatRecordTime(new Date('2026-11-25T15:00:00.000Z'), 'UTC')).toBe('2026-11-25 15:00:00.000');
  });

  it('partition by the calendar day of the app time zone', () => {
    expect(partitionPath(new Date('2026-12-31T15:30:00Z'), 'Asia/Tokyo')).toBe('year=2027/month=01/day=01');
    expect(partitionPath(new Date('2026-12-31T15:30:00Z'), 'UTC')).toBe('year=2026/month=12/day=31');
  });

  it('keep the complete params as JSON text, at any depth', () => {
    const r = buildClientRecord({ envelope, result: 'Started', now: tick, timeZone: 'Asia/Tokyo', executionArn: 'arn:x' });
    expect(JSON.parse(r.params)).toEqual(envelope.params);
    expect(r).toMatchObject({ type: 'client', task_id: envelope.taskId, module: 'example-api', result: 'Started', execution_arn: 'arn:x', attempt: 1, error: null });
  });

  it('give the worker result from the error: none is Success, States.Timeout is TimedOut, others Failure', () => {
    const base = { envelope, now: tick, timeZone: 'UTC', executionArn: 'arn:x' };
    expect(buildWorkerRecord(base)).toMatchObject({ result: 'Success', failed_state: null });
    expect(buildWorkerRecord({ ...base, error: 'States.Timeout', failedState: 'CallApi' })).toMatchObject({ result: 'TimedOut', failed_state: 'CallApi' });
    expect(buildWorkerRecord({ ...base, error: 'ExternalApiRejectedError', cause: 'HTTP 422', failedState: 'CallApi' })).toMatchObject({
      result: 'Failure',
      error: 'ExternalApiRejectedError',
      cause: 'HTTP 422',
    });
  });

  it('serialize as one JSON line each with exactly the declared columns', () => {
    const r = buildWorkerRecord({ envelope, now: tick, timeZone: 'UTC', executionArn: null });
    const line = toJsonLine(r);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.trimEnd()).not.toContain('\n');
    // The builders leave `mac` out: the sink adds it as it sends (lambdas/shared/record-mac.ts).
    expect(Object.keys(JSON.parse(line))).toEqual(PARAM_LOG_COLUMNS.filter((c) => c !== 'mac'));
    expect(PARAM_LOG_COLUMNS[PARAM_LOG_COLUMNS.length - 1]).toBe('mac');
    expect(parseJsonLines(line + toJsonLine(r))).toEqual([r, r]);
  });
});
