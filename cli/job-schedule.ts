import { zonedParts } from '../lambdas/shared/param-log';
import { CronFields, parseSchedule, Schedule } from '../lambdas/shared/schedule';
import { ResolvedAppConfig, ResolvedJob } from '../lib/config/types';
import { UsageError } from './errors';

/**
 * What the operator commands need of a job's schedule, checked and computed before any AWS call:
 * the job named on the command line, its time zone, the ticks its schedule fires in a range (the
 * same evaluation as lambdas/shared/schedule.ts, which the offline run and the hold windows use),
 * its next run, and the times an operator types.
 */

/** The job named on the command line, or a UsageError listing the stage's jobs (no AWS call). */
export function jobNamed(config: ResolvedAppConfig, name: string | undefined, command: string): ResolvedJob {
  const names = config.jobs.map((j) => j.name);
  if (name === undefined || name.trim() === '') throw new UsageError(`${command} needs a job`, `Jobs of stage ${config.stage}: ${names.join(', ') || '(none)'}.`);
  const job = config.jobs.find((j) => j.name === name);
  if (!job) throw new UsageError(`Unknown job "${name}"`, `Jobs of stage ${config.stage}: ${names.join(', ') || '(none)'}.`);
  return job;
}

/** The job's schedule time zone: its own `timeZone` when the config gives one, else the app's. */
export function jobTimeZone(config: Pick<ResolvedAppConfig, 'timeZone'>, job: ResolvedJob): string {
  const own = (job as ResolvedJob & { readonly timeZone?: string | null }).timeZone;
  return typeof own === 'string' && own !== '' ? own : config.timeZone;
}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };
const AGE = /^(\d+)\s*([mhd])$/;
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const TICK_STAMP = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})Z$/;

/**
 * A time typed on the command line: an ISO-8601 time with a zone (`2026-11-25T02:00+09:00`), a tick
 * as in task ids (`20261125T1700Z`), or an age before now (`90m`, `6h`, `2d`). A time without a zone
 * is refused: read in the laptop's zone it would surprise someone on call in another one.
 */
export function parseTimeArg(flag: string, value: string | undefined, now: Date): Date {
  const text = (value ?? '').trim();
  if (text === '') throw new UsageError(`${flag} needs a time`, 'An ISO time with a zone (2026-11-25T02:00+09:00), a tick as in task ids (20261125T1700Z), or an age (90m, 6h, 2d), or now.');
  if (text === 'now') return now;
  const age = AGE.exec(text);
  if (age) return new Date(now.getTime() - Number(age[1]) * UNIT_MS[age[2]]);
  const stamp = TICK_STAMP.exec(text);
  const ms = stamp ? Date.UTC(+stamp[1], +stamp[2] - 1, +stamp[3], +stamp[4], +stamp[5]) : ISO_WITH_ZONE.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) {
    throw new UsageError(
      `${flag} "${text}" is not a time this CLI reads`,
      /^\d{4}-\d{2}-\d{2}(T[\d:.]+)?$/.test(text)
        ? `Add the zone, e.g. ${text.includes('T') ? text : `${text}T00:00`}Z or ${text.includes('T') ? text : `${text}T00:00`}+09:00.`
        : 'An ISO time with a zone (2026-11-25T02:00+09:00), a tick as in task ids (20261125T1700Z), or an age (90m, 6h, 2d).',
    );
  }
  return new Date(ms);
}

/** The schedule parsed (the config validator parsed it at synth already; this cannot fail for a valid config). */
export function scheduleOf(job: ResolvedJob): Schedule {
  return parseSchedule(job.schedule);
}

const QUARTER_MS = 15 * 60_000;

function matchesDay(f: CronFields, year: number, month: number, day: number): boolean {
  if (!f.years.has(year) || !f.months.has(month)) return false;
  if (f.daysOfMonth && !f.daysOfMonth.has(day)) return false;
  if (f.daysOfWeek && !f.daysOfWeek.has(new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1)) return false;
  return true;
}

/**
 * The instants in [from, to] at which a cron schedule fires in `timeZone`, at most `limit` of them.
 * Same answers as lambdas/shared/schedule.ts `scheduleTicks` (a test compares them), but it reads
 * the local time once per UTC quarter-hour instead of once a minute: every IANA offset is a whole
 * number of quarter-hours and changes only at a quarter-hour, so within one the local clock runs
 * straight. That makes a year ahead (a monthly job's next run) cheap.
 */
export function cronTicks(fields: CronFields, timeZone: string, from: Date, to: Date, limit = Number.POSITIVE_INFINITY): Date[] {
  const out: Date[] = [];
  const firstMinute = Math.ceil(from.getTime() / 60_000) * 60_000;
  for (let block = Math.floor(firstMinute / QUARTER_MS) * QUARTER_MS; block <= to.getTime() && out.length < limit; block += QUARTER_MS) {
    const p = zonedParts(new Date(block), timeZone);
    const hour = Number(p.hour);
    if (!fields.hours.has(hour) || !matchesDay(fields, Number(p.year), Number(p.month), Number(p.day))) continue;
    const m0 = Number(p.minute);
    for (let i = 0; i < 15 && out.length < limit; i++) {
      const t = block + i * 60_000;
      if (t < firstMinute || t > to.getTime()) continue;
      if (fields.minutes.has(m0 + i)) out.push(new Date(t));
    }
  }
  return out;
}

/**
 * The ticks the job's schedule fires in [from, to] (both ends included), at most `limit`. A rate
 * schedule is anchored when Scheduler creates it, which the CLI cannot know: its ticks are counted
 * from `from` (as the offline run does), and `anchored` says so.
 */
export function ticksBetween(job: ResolvedJob, timeZone: string, from: Date, to: Date, limit?: number): { ticks: Date[]; anchored: boolean } {
  const s = scheduleOf(job);
  if (s.kind === 'rate') {
    const ticks: Date[] = [];
    const start = Math.ceil(from.getTime() / 60_000) * 60_000;
    for (let t = start; t <= to.getTime() && ticks.length < (limit ?? Number.POSITIVE_INFINITY); t += s.minutes * 60_000) ticks.push(new Date(t));
    return { ticks, anchored: false };
  }
  return { ticks: cronTicks(s.fields, timeZone, from, to, limit), anchored: true };
}

/** The next run after `now` within 400 days (null: none, e.g. a year field in the past; rate schedules: unknown anchor). */
export function nextRun(job: ResolvedJob, timeZone: string, now: Date): Date | null {
  const s = scheduleOf(job);
  if (s.kind === 'rate') return null;
  return cronTicks(s.fields, timeZone, new Date(now.getTime() + 1), new Date(now.getTime() + 400 * 86_400_000), 1)[0] ?? null;
}

/**
 * The schedule's last `count` ticks at or before `now`, newest first, looked for within `days`
 * (for the last tick's ledger item). Empty for a rate schedule (its ticks depend on its anchor).
 */
export function recentTicks(job: ResolvedJob, timeZone: string, now: Date, count: number, days = 8): Date[] {
  const s = scheduleOf(job);
  if (s.kind === 'rate') return [];
  // Walk back a day at a time so a 5-minute job costs one day of search, a weekly one eight.
  const out: Date[] = [];
  let to = now;
  for (let d = 0; d < days && out.length < count; d++) {
    const from = new Date(to.getTime() - 86_400_000);
    const got = cronTicks(s.fields, timeZone, from, to).filter((t) => t.getTime() <= now.getTime() && !out.some((o) => o.getTime() === t.getTime()));
    out.push(...got.reverse());
    to = new Date(from.getTime() - 1);
  }
  return out.slice(0, count);
}

/** `every 5 minutes` style description of a rate schedule, else the expression. */
export function describeSchedule(job: ResolvedJob): string {
  const s = scheduleOf(job);
  return s.kind === 'rate' ? `${job.schedule} (anchored at deploy)` : job.schedule;
}
