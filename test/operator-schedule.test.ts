/**
 * The schedule arithmetic behind `jobs` and `backfill` (cli/job-schedule.ts): it must fire exactly
 * the ticks of lambdas/shared/schedule.ts (the offline run's and the hold windows' evaluation), in
 * every time zone, including the hours a daylight-saving change skips or repeats.
 */
import { planBackfill } from '../cli/commands/run';
import { UsageError } from '../cli/errors';
import { cronTicks, jobTimeZone, nextRun, parseTimeArg, recentTicks, ticksBetween } from '../cli/job-schedule';
import { parseSchedule, scheduleTicks } from '../lambdas/shared/schedule';
import { AppConfig, ResolvedJob } from '../lib/config/types';
import { resolveConfig } from '../lib/config/validate';
import { fixtureConfig } from './support/fixture-config';

const cron = (e: string) => {
  const s = parseSchedule(e);
  if (s.kind !== 'cron') throw new Error('not cron');
  return s.fields;
};

describe('cronTicks fires what scheduleTicks fires', () => {
  test.each([
    ['cron(0/5 * * * ? *)', 'Asia/Tokyo', '2026-11-25T00:00:00Z', '2026-11-25T06:00:00Z'],
    ['cron(30 2 * * ? *)', 'America/New_York', '2026-03-07T00:00:00Z', '2026-03-10T00:00:00Z'], // 02:30 does not exist on 8 March
    ['cron(30 1 * * ? *)', 'America/New_York', '2026-10-31T00:00:00Z', '2026-11-03T00:00:00Z'], // 01:30 happens twice on 1 November
    ['cron(15,45 9-17 ? * MON-FRI *)', 'Asia/Kolkata', '2026-11-20T00:00:00Z', '2026-11-27T00:00:00Z'], // +05:30
    ['cron(0 0 1 * ? *)', 'Australia/Lord_Howe', '2026-09-25T00:00:00Z', '2026-11-05T00:00:00Z'], // +10:30 / +11, 30-minute DST
    ['cron(7 3 ? * SUN *)', 'Asia/Kathmandu', '2026-11-01T00:00:00Z', '2026-11-20T00:00:00Z'], // +05:45
  ])('%s in %s', (expr, tz, from, to) => {
    const a = cronTicks(cron(expr), tz, new Date(from), new Date(Date.parse(to) - 1)).map((d) => d.toISOString());
    const b = scheduleTicks(parseSchedule(expr), tz, new Date(from), new Date(to)).map((d) => d.toISOString());
    expect(a.length).toBeGreaterThan(0);
    expect(a).toEqual(b);
  });
});

const config = resolveConfig(fixtureConfig, { stage: 'dev' });
const job = (over: Partial<ResolvedJob>): ResolvedJob => ({ ...config.jobs[0], ...over });

test('nextRun looks far enough ahead for a yearly job; a rate schedule has no knowable next run', () => {
  const now = new Date('2026-11-25T00:00:00Z');
  expect(nextRun(job({ schedule: 'cron(0 9 1 1 ? *)' }), 'Asia/Tokyo', now)?.toISOString()).toBe('2027-01-01T00:00:00.000Z');
  expect(nextRun(job({ schedule: 'rate(5 minutes)' }), 'Asia/Tokyo', now)).toBeNull();
  expect(nextRun(job({ schedule: 'cron(0 9 1 1 ? 2020)' }), 'Asia/Tokyo', now)).toBeNull();
});

test('recentTicks: newest first, at or before now, across days for a daily job', () => {
  const now = new Date('2026-11-25T01:00:00Z'); // 10:00 in Tokyo
  expect(recentTicks(job({ schedule: 'cron(0 9 * * ? *)' }), 'Asia/Tokyo', now, 3).map((d) => d.toISOString())).toEqual([
    '2026-11-25T00:00:00.000Z',
    '2026-11-24T00:00:00.000Z',
    '2026-11-23T00:00:00.000Z',
  ]);
});

test('a job\'s own timeZone wins over the app\'s', () => {
  expect(jobTimeZone(config, job({}))).toBe('Asia/Tokyo');
  expect(jobTimeZone(config, { ...job({}), timeZone: 'Europe/Paris' } as ResolvedJob)).toBe('Europe/Paris');
});

test('parseTimeArg: ISO with a zone, ticks as in task ids, ages, now; a time without a zone is refused with the fix', () => {
  const now = new Date('2026-11-25T12:00:00Z');
  expect(parseTimeArg('--from', '2026-11-25T02:00+09:00', now).toISOString()).toBe('2026-11-24T17:00:00.000Z');
  expect(parseTimeArg('--from', '20261124T1700Z', now).toISOString()).toBe('2026-11-24T17:00:00.000Z');
  expect(parseTimeArg('--from', '90m', now).toISOString()).toBe('2026-11-25T10:30:00.000Z');
  expect(parseTimeArg('--to', 'now', now)).toEqual(now);
  expect(() => parseTimeArg('--from', '2026-11-25', now)).toThrow(UsageError);
  expect(() => parseTimeArg('--from', '2026-11-25', now)).toThrow(/not a time/);
});

test('planBackfill refuses a rate schedule (its ticks are anchored at deploy time) and counts both ends of the range', () => {
  const now = new Date('2026-11-25T12:00:00Z');
  const withRate: AppConfig = { ...fixtureConfig, jobs: fixtureConfig.jobs.map((j) => (j.name === 'example-api' ? { ...j, schedule: 'rate(5 minutes)' } : j)) };
  const session = { config: resolveConfig(withRate, { stage: 'dev' }) };
  expect(() => planBackfill(session, 'example-api', { from: '1h', to: 'now' }, now)).toThrow(/rate schedule/);
  const plan = planBackfill({ config }, 'example-api', { from: '2026-11-25T11:00Z', to: '2026-11-25T11:20Z' }, now);
  expect(plan.ticks.map((d) => d.toISOString().slice(11, 16))).toEqual(['11:00', '11:05', '11:10', '11:15', '11:20']);
  expect(ticksBetween(config.jobs[0], 'Asia/Tokyo', new Date('2026-11-25T11:00Z'), new Date('2026-11-25T11:00Z')).ticks).toHaveLength(1);
});
