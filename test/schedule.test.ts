import { parseSchedule, scheduleTicks, ScheduleError } from '../lib/config/schedule';

const day = (iso: string) => new Date(iso);

describe('parseSchedule', () => {
  it('reads rate expressions in minutes, hours and days', () => {
    expect(parseSchedule('rate(5 minutes)')).toMatchObject({ kind: 'rate', minutes: 5 });
    expect(parseSchedule('rate(1 hour)')).toMatchObject({ kind: 'rate', minutes: 60 });
    expect(parseSchedule('rate(2 days)')).toMatchObject({ kind: 'rate', minutes: 2880 });
  });

  it.each([
    ['rate(1 minutes)', /rate\(1 minute\)/],
    ['rate(5 minute)', /rate\(5 minutes\)/],
    ['cron(0 12 * * *)', /6 fields/],
    ['cron(0 12 * * * *)', /exactly one of day-of-month/],
    ['cron(0 12 ? * ? *)', /exactly one of day-of-month/],
    ['cron(61 12 * * ? *)', /minutes: 61 is out of range 0-59/],
    ['cron(0 25 * * ? *)', /hours: 25 is out of range/],
    ['cron(0 12 L * ? *)', /L, W or #/],
    ['cron(0 12 ? * MON#2 *)', /L, W or #/],
    ['every 5 minutes', /neither cron/],
  ])('refuses %s with a message that says how to fix it', (expr, message) => {
    expect(() => parseSchedule(expr)).toThrow(ScheduleError);
    expect(() => parseSchedule(expr)).toThrow(message);
  });
});

describe('scheduleTicks', () => {
  it('fires a 5-minute cron 288 times in a day', () => {
    const s = parseSchedule('cron(0/5 * * * ? *)');
    expect(scheduleTicks(s, 'Asia/Tokyo', day('2026-11-24T15:00:00Z'), day('2026-11-25T15:00:00Z'))).toHaveLength(288);
  });

  it('evaluates hours in the app time zone, not UTC', () => {
    // 09:30 in Tokyo is 00:30 UTC.
    const s = parseSchedule('cron(30 9 * * ? *)');
    const ticks = scheduleTicks(s, 'Asia/Tokyo', day('2026-11-24T15:00:00Z'), day('2026-11-26T15:00:00Z'));
    expect(ticks.map((t) => t.toISOString())).toEqual(['2026-11-25T00:30:00.000Z', '2026-11-26T00:30:00.000Z']);
  });

  it('uses AWS day-of-week numbering (1 = SUN) and names', () => {
    const byName = parseSchedule('cron(0 8 ? * MON-FRI *)');
    const byNumber = parseSchedule('cron(0 8 ? * 2-6 *)');
    const from = day('2026-11-22T00:00:00Z'); // a Sunday
    const to = day('2026-11-29T00:00:00Z');
    const names = scheduleTicks(byName, 'UTC', from, to);
    expect(names).toHaveLength(5);
    expect(names.map((t) => t.getUTCDay())).toEqual([1, 2, 3, 4, 5]);
    expect(scheduleTicks(byNumber, 'UTC', from, to)).toEqual(names);
  });

  it('skips the local hour that does not exist when clocks go forward', () => {
    // New York, 2026-03-08: 02:00-02:59 local does not exist.
    const s = parseSchedule('cron(30 2 * * ? *)');
    const ticks = scheduleTicks(s, 'America/New_York', day('2026-03-07T00:00:00Z'), day('2026-03-10T00:00:00Z'));
    expect(ticks.map((t) => t.toISOString())).toEqual(['2026-03-07T07:30:00.000Z', '2026-03-09T06:30:00.000Z']);
  });

  it('anchors a rate schedule at the start of the window', () => {
    const s = parseSchedule('rate(2 hours)');
    const ticks = scheduleTicks(s, 'UTC', day('2026-11-25T00:00:00Z'), day('2026-11-25T06:00:00Z'));
    expect(ticks.map((t) => t.getUTCHours())).toEqual([0, 2, 4]);
  });
});
