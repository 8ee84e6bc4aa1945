import { zonedParts } from './param-log';

/**
 * EventBridge Scheduler expressions: parsing (so a bad cron fails at synth, not at deploy) and
 * evaluation in a time zone (so the offline run fires the ticks the real schedule would).
 * Supported: `rate(N minute(s)|hour(s)|day(s))` and `cron(min hour dom month dow year)` with
 * `*`, `?`, lists, ranges, steps and month/day names. `L`, `W` and `#` are refused with a message.
 */
export type Schedule =
  | { readonly kind: 'rate'; readonly minutes: number; readonly expression: string }
  | { readonly kind: 'cron'; readonly fields: CronFields; readonly expression: string };

export interface CronFields {
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  /** null when `?` */
  readonly daysOfMonth: ReadonlySet<number> | null;
  readonly months: ReadonlySet<number>;
  /** 1 = SUN ... 7 = SAT as in AWS; null when `?` */
  readonly daysOfWeek: ReadonlySet<number> | null;
  readonly years: ReadonlySet<number>;
}

export class ScheduleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleError';
  }
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

function parseField(raw: string, label: string, min: number, max: number, names: string[] = []): Set<number> {
  const out = new Set<number>();
  const value = (token: string): number => {
    const byName = names.indexOf(token.toUpperCase());
    if (byName >= 0) return byName + min;
    if (!/^\d+$/.test(token)) {
      throw new ScheduleError(`${label}: "${token}" is not a number${names.length ? ` or one of ${names.join(',')}` : ''}`);
    }
    const n = Number(token);
    if (n < min || n > max) throw new ScheduleError(`${label}: ${n} is out of range ${min}-${max}`);
    return n;
  };
  for (const part of raw.split(',')) {
    const withoutNames = names.reduce((acc, n) => acc.split(n).join(''), part.toUpperCase());
    if (/[LW#]/.test(withoutNames)) {
      throw new ScheduleError(`${label}: "${part}" uses L, W or #, which this app does not support; list the days instead`);
    }
    const [range, stepRaw] = part.split('/');
    let step = 1;
    if (stepRaw !== undefined) {
      if (!/^\d+$/.test(stepRaw) || Number(stepRaw) < 1) throw new ScheduleError(`${label}: bad step "/${stepRaw}"`);
      step = Number(stepRaw);
    }
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = min;
      hi = max;
    } else if (range.includes('-')) {
      const [a, b] = range.split('-');
      lo = value(a);
      hi = value(b);
      if (lo > hi) throw new ScheduleError(`${label}: range ${range} runs backwards`);
    } else {
      lo = value(range);
      hi = stepRaw !== undefined ? max : lo;
    }
    for (let n = lo; n <= hi; n += step) out.add(n);
  }
  return out;
}

/** Parses a Scheduler expression; throws ScheduleError saying what is wrong and how it should look. */
export function parseSchedule(expression: string): Schedule {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression.trim());
  if (rate) {
    const n = Number(rate[1]);
    const unit = rate[2];
    if (n < 1) throw new ScheduleError(`rate must be at least 1, got ${n}`);
    if ((n === 1) !== !unit.endsWith('s')) {
      throw new ScheduleError(`write "rate(1 ${unit.replace(/s$/, '')})" for one and "rate(${n} ${unit.replace(/s?$/, 's')})" for more`);
    }
    const minutes = unit.startsWith('minute') ? n : unit.startsWith('hour') ? n * 60 : n * 1440;
    return { kind: 'rate', minutes, expression };
  }
  const cron = /^cron\((.*)\)$/.exec(expression.trim());
  if (!cron) {
    throw new ScheduleError(`"${expression}" is neither cron(min hour day-of-month month day-of-week year) nor rate(N minutes|hours|days)`);
  }
  const parts = cron[1].trim().split(/\s+/);
  if (parts.length !== 6) {
    throw new ScheduleError(`cron needs 6 fields (min hour day-of-month month day-of-week year), got ${parts.length} in "${expression}"`);
  }
  const [mi, h, dom, mo, dow, y] = parts;
  if ((dom === '?') === (dow === '?')) {
    throw new ScheduleError(`cron: exactly one of day-of-month ("${dom}") and day-of-week ("${dow}") must be "?"`);
  }
  return {
    kind: 'cron',
    expression,
    fields: {
      minutes: parseField(mi, 'cron minutes', 0, 59),
      hours: parseField(h, 'cron hours', 0, 23),
      daysOfMonth: dom === '?' ? null : parseField(dom, 'cron day-of-month', 1, 31),
      months: parseField(mo, 'cron month', 1, 12, MONTHS),
      daysOfWeek: dow === '?' ? null : parseField(dow, 'cron day-of-week', 1, 7, DAYS),
      years: parseField(y, 'cron year', 1970, 2199),
    },
  };
}

/** True when a cron schedule fires at the minute that starts at `instant`, in `timeZone`. */
export function cronMatches(fields: CronFields, instant: Date, timeZone: string): boolean {
  const p = zonedParts(instant, timeZone);
  const [year, month, day, hour, minute] = [p.year, p.month, p.day, p.hour, p.minute].map(Number);
  if (!fields.minutes.has(minute) || !fields.hours.has(hour) || !fields.months.has(month) || !fields.years.has(year)) return false;
  if (fields.daysOfMonth && !fields.daysOfMonth.has(day)) return false;
  if (fields.daysOfWeek) {
    const dow = new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1;
    if (!fields.daysOfWeek.has(dow)) return false;
  }
  return true;
}

/**
 * The instants in [from, to) at which the schedule fires, in `timeZone`. A rate schedule is
 * anchored at `from` (Scheduler anchors it at creation time).
 */
export function scheduleTicks(schedule: Schedule, timeZone: string, from: Date, to: Date): Date[] {
  const ticks: Date[] = [];
  const start = Math.ceil(from.getTime() / 60_000) * 60_000;
  if (schedule.kind === 'rate') {
    for (let t = start; t < to.getTime(); t += schedule.minutes * 60_000) ticks.push(new Date(t));
    return ticks;
  }
  for (let t = start; t < to.getTime(); t += 60_000) {
    const d = new Date(t);
    if (cronMatches(schedule.fields, d, timeZone)) ticks.push(d);
  }
  return ticks;
}
