import { SQSClient } from '@aws-sdk/client-sqs';
import { SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { InvalidPayloadError, MAX_MAX, parsePayload, parseRequest } from '../lambdas/reprocess/payload';
import { jobsEnv, SM_A, SM_B } from './reprocess-fixtures';

const NOW = Date.parse('2026-11-25T12:00:00Z');

function fieldOf(payload: unknown): string {
  try {
    parsePayload(payload, 10, NOW);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidPayloadError);
    expect((e as Error).message).toContain(`"${(e as InvalidPayloadError).field}"`);
    return (e as InvalidPayloadError).field;
  }
  throw new Error('expected an InvalidPayloadError');
}

describe('parsePayload', () => {
  test('empty payloads (CLI {} and the console test event null) take the defaults', () => {
    for (const p of [undefined, null, {}]) {
      expect(parsePayload(p, 7, NOW)).toMatchObject({ max: 7, dryRun: false, concurrency: 10, from: 'failed-step' });
    }
  });

  test.each<[string, unknown, string]>([
    ['unknown field (a typo must not turn a dry run into a real one)', { dryrun: true }, 'dryrun'],
    ['max above the upper bound', { max: MAX_MAX + 1 }, 'max'],
    ['max zero', { max: 0 }, 'max'],
    ['max not an integer', { max: 2.5 }, 'max'],
    ['max as a string', { max: '10' }, 'max'],
    ['dryRun as a string', { dryRun: 'yes' }, 'dryRun'],
    ['empty job', { job: '' }, 'job'],
    ['errorType not a string', { errorType: 3 }, 'errorType'],
    ['taskIds not a list', { taskIds: 'a' }, 'taskIds'],
    ['taskIds with an empty id', { taskIds: ['a', ''] }, 'taskIds[1]'],
    ['olderThan garbage', { olderThan: 'yesterday' }, 'olderThan'],
    ['olderThan a zone-less local time', { olderThan: '2026-11-25T03:00:00' }, 'olderThan'],
    ['newerThan after olderThan', { olderThan: '2h', newerThan: '1h' }, 'newerThan'],
    ['concurrency above 50', { concurrency: 51 }, 'concurrency'],
    ['from unknown', { from: 'middle' }, 'from'],
    ['not an object', [1], 'payload'],
  ])('%s names the field', (_name, payload, field) => {
    expect(fieldOf(payload)).toBe(field);
  });

  test('times: ISO with a zone, and ages in s/m/h/d', () => {
    const o = parsePayload({ olderThan: '2026-11-25T03:00:00+09:00', newerThan: '7d' }, 10, NOW);
    expect(o.sentBeforeMs).toBe(Date.parse('2026-11-24T18:00:00Z'));
    expect(o.sentAfterMs).toBe(NOW - 7 * 86_400_000);
    expect(parsePayload({ olderThan: '90s' }, 10, NOW).sentBeforeMs).toBe(NOW - 90_000);
    expect(parsePayload({ olderThan: '30m' }, 10, NOW).sentBeforeMs).toBe(NOW - 1_800_000);
  });

  test('from: failed-step (the default) or start', () => {
    expect(parsePayload({ from: 'start' }, 10, NOW).from).toBe('start');
    expect(parsePayload({ from: 'failed-step' }, 10, NOW).from).toBe('failed-step');
  });

  test('mode (the removed redrive mode) is refused with why, and points to from', () => {
    for (const mode of ['redrive', 'start']) {
      expect(() => parsePayload({ mode }, 10, NOW)).toThrow(
        expect.objectContaining({ field: 'mode', message: expect.stringMatching(/was removed: .*redrive .*Fail state.*"from": "failed-step"/) }),
      );
    }
  });

  test('the default max from env is capped at the upper bound', () => {
    expect(parsePayload({}, MAX_MAX * 2, NOW).max).toBe(MAX_MAX);
  });
});

describe('handler with an invalid payload', () => {
  const sqsMock = mockClient(SQSClient);
  const sfnMock = mockClient(SFNClient);
  beforeAll(() => {
    Object.assign(process.env, {
      AWS_REGION: 'us-east-1',
      SPOOL_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/spool',
      QUARANTINE_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/q',
      ...jobsEnv(),
      COORDINATION_TABLE: 'coordination',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });
  });

  test('throws InvalidPayloadError naming the field and touches nothing', async () => {
    const { handler } = await import('../lambdas/reprocess/handler');
    await expect(handler({ max: 100_000 }, { getRemainingTimeInMillis: () => 60_000 })).rejects.toMatchObject({ name: 'InvalidPayloadError', field: 'max' });
    expect(sqsMock.calls()).toHaveLength(0);
    expect(sfnMock.calls()).toHaveLength(0);
  });

  test('a missing or malformed env var is named', async () => {
    const { readEnv } = await import('../lambdas/reprocess/handler');
    const base = { SPOOL_QUEUE_URL: 'x', QUARANTINE_QUEUE_URL: 'y' };
    expect(() => readEnv(base)).toThrow(/JOB_STATE_MACHINES/);
    expect(() => readEnv({ ...base, ...jobsEnv(), JOB_STEPS: '{"job-a": "Fetch"}' })).toThrow(/JOB_STEPS must be/);
    expect(() => readEnv({ ...base, ...jobsEnv(), JOB_DEPENDENCIES: 'not json' })).toThrow(/JOB_DEPENDENCIES is not valid JSON/);
    // job-a's CallApi depends on orders-api: the hold switches' table is required.
    expect(() => readEnv({ ...base, ...jobsEnv() })).toThrow(/COORDINATION_TABLE/);
    expect(() => readEnv({ ...base, ...jobsEnv(), COORDINATION_TABLE: 't', HOLD_WINDOWS: '{"orders-api":[{"cron":"cron(0 2 * * ? *)","durationMinutes":60}]}' })).toThrow(/APP_TIME_ZONE/);
    // Names (as the construct writes them, to save Lambda's 4 KB) need their ARN prefix.
    const names = { ...base, COORDINATION_TABLE: 't', JOB_STEPS: '{}', JOB_STATE_MACHINES: '{"job-a":"JobA"}', INVOCABLE_FUNCTIONS: '{"sweeper":"App-Sweeper-1"}' };
    expect(() => readEnv(names)).toThrow(/STATE_MACHINE_ARN_PREFIX must be/);
    expect(() => readEnv({ ...names, STATE_MACHINE_ARN_PREFIX: 'arn:aws:states:us-east-1:123456789012:stateMachine:' })).toThrow(/FUNCTION_ARN_PREFIX must be/);
    const named = readEnv({ ...names, STATE_MACHINE_ARN_PREFIX: 'arn:aws:states:us-east-1:123456789012:stateMachine:', FUNCTION_ARN_PREFIX: 'arn:aws:lambda:us-east-1:123456789012:function:' });
    expect(named.jobs.get('job-a')?.stateMachineArn).toBe(SM_A);
    expect(named.invocableFunctions).toEqual(new Map([['sweeper', 'arn:aws:lambda:us-east-1:123456789012:function:App-Sweeper-1']]));
    const env = readEnv({ ...base, ...jobsEnv(), COORDINATION_TABLE: 't' });
    expect(env.jobs.get('job-a')).toEqual({ stateMachineArn: SM_A, steps: ['Fetch', 'CallApi', 'Publish'], dependencies: { CallApi: ['orders-api'] } });
    expect(env.jobs.get('job-b')?.stateMachineArn).toBe(SM_B);
  });
});

describe('parseRequest: sources', () => {
  const field = (payload: unknown, known = {}) => {
    try {
      parseRequest(payload, 10, NOW, known);
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidPayloadError);
      return (e as InvalidPayloadError).field;
    }
    return null;
  };

  test('no source is the spool, as before; an unknown source is named', () => {
    expect(parseRequest({}, 10, NOW)).toMatchObject({ source: 'spool', drop: false, force: false });
    expect(field({ source: 'dlq' })).toBe('source');
  });

  test('a field of another source is refused, saying which source takes it', () => {
    expect(() => parseRequest({ drop: true }, 10, NOW)).toThrow(/"drop": not used with source "spool" \(it applies to source "quarantine", "failedInvocations"\)/);
    expect(field({ source: 'quarantine', taskIds: ['t'], replan: true })).toBe('replan');
    expect(field({ source: 'tick', job: 'j', tick: '20261125T0300Z', max: 3 })).toBe('max');
  });

  test('quarantine: an explicit selection is required; job + errorType also needs max', () => {
    expect(field({ source: 'quarantine' })).toBe('selection');
    expect(field({ source: 'quarantine', job: 'job-a' })).toBe('selection');
    expect(field({ source: 'quarantine', job: 'job-a', errorType: 'E' })).toBe('max');
    expect(parseRequest({ source: 'quarantine', job: 'job-a', errorType: 'E', max: 7 }, 10, NOW)).toMatchObject({ max: 7 });
    // With ids, max defaults to how many were named.
    expect(parseRequest({ source: 'quarantine', taskIds: ['a', 'b', 'c'] }, 1, NOW)).toMatchObject({ source: 'quarantine', max: 3 });
    expect(parseRequest({ source: 'quarantine', messageIds: ['m1'] }, 10, NOW)).toMatchObject({ max: 1, messageIds: new Set(['m1']) });
  });

  test('quarantine: force only with taskIds and never with drop; from only with a replay', () => {
    expect(field({ source: 'quarantine', messageIds: ['m'], force: true })).toBe('force');
    expect(field({ source: 'quarantine', taskIds: ['t'], force: true, drop: true })).toBe('force');
    expect(field({ source: 'quarantine', taskIds: ['t'], drop: true, from: 'start' })).toBe('from');
    expect(field({ source: 'quarantine', taskIds: ['t'], force: 'yes' })).toBe('force');
    expect(parseRequest({ source: 'quarantine', taskIds: ['t'], force: true }, 10, NOW)).toMatchObject({ force: true, taskIds: new Set(['t']) });
  });

  test('tick: job and tick required, as in task ids or ISO with a zone; future ticks and old replans refused; unknown producers named', () => {
    const known = { producerJobs: new Set(['example-api']) };
    expect(parseRequest({ source: 'tick', job: 'example-api', tick: '20261125T0300Z' }, 10, NOW, known)).toEqual({
      source: 'tick',
      dryRun: false,
      job: 'example-api',
      scheduledTime: '2026-11-25T03:00:00.000Z',
      replan: false,
      ignorePause: false,
      force: false,
    });
    expect(parseRequest({ source: 'tick', job: 'example-api', tick: '20261125T0300Z', ignorePause: true }, 10, NOW, known)).toMatchObject({ ignorePause: true });
    expect(field({ source: 'tick', job: 'example-api', tick: '20261125T0300Z', ignorePause: 'yes' }, known)).toBe('ignorePause');
    expect(field({ source: 'spool', ignorePause: true }, known)).toBe('ignorePause');
    expect(parseRequest({ source: 'tick', job: 'example-api', tick: '2026-11-25T12:00:00+09:00', replan: true }, 10, NOW, known)).toMatchObject({ scheduledTime: '2026-11-25T03:00:00.000Z', replan: true });
    expect(field({ source: 'tick', tick: '20261125T0300Z' }, known)).toBe('job');
    expect(field({ source: 'tick', job: 'nope', tick: '20261125T0300Z' }, known)).toBe('job');
    expect(field({ source: 'tick', job: 'example-api' }, known)).toBe('tick');
    expect(field({ source: 'tick', job: 'example-api', tick: '2026-11-25' }, known)).toBe('tick');
    expect(field({ source: 'tick', job: 'example-api', tick: '20261125T1300Z' }, known)).toBe('tick'); // an hour ahead of NOW
    expect(field({ source: 'tick', job: 'example-api', tick: '20261001T0000Z', replan: true }, known)).toBe('tick'); // past REPLAN_MAX_AGE_DAYS
    // A plain re-run of a tick older than 42 days is refused too (its ledger may have expired: it would be planned again); force runs it.
    expect(field({ source: 'tick', job: 'example-api', tick: '20261001T0000Z' }, known)).toBe('tick');
    expect(parseRequest({ source: 'tick', job: 'example-api', tick: '20261001T0000Z', force: true }, 10, NOW, known)).toMatchObject({ force: true });
    expect(field({ source: 'tick', job: 'example-api', tick: '20261015T0000Z' }, known)).toBeNull(); // 41 days
    expect(field({ source: 'tick', job: 'example-api', tick: '20261125T0300Z', force: 'yes' }, known)).toBe('force');
  });
});
