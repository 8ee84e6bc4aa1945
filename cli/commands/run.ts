import { tickStamp } from '../../lambdas/shared/names';
import { LEDGER_TTL_SECONDS } from '../../lambdas/shared/tick-ledger';
import { OPERATOR_OUTPUTS } from '../../lib/operator-outputs';
import { ResolvedJob } from '../../lib/config/types';
import { CliError, EXIT_FAILED, UsageError } from '../errors';
import { localTime, table } from '../format';
import { CliDeps, CliIo } from '../io';
import { jobNamed, jobTimeZone, parseTimeArg, scheduleOf, ticksBetween } from '../job-schedule';
import { getPause, tickOutcome, tickStates, TickState } from '../job-state';
import { invokeReprocess, Summary } from '../reprocess';
import { CommonOptions, Session } from '../session';
import { checkDeployed } from './replay';

/** Options of `run`. */
export interface RunOptions extends CommonOptions {
  readonly dryRun?: boolean;
  readonly ignorePause?: boolean;
}

/** Options of `backfill`. */
export interface BackfillOptions extends CommonOptions {
  readonly from?: string;
  readonly to?: string;
  readonly dryRun?: boolean;
  readonly max?: string;
  readonly pace?: string;
  readonly ignorePause?: boolean;
}

/** Ticks a backfill runs without --max: more is refused, so a typo in a date cannot start a month of ticks. */
export const BACKFILL_DEFAULT_LIMIT = 50;
/** The most --max allows in one run (one reprocess invocation each, paced). */
export const BACKFILL_MAX = 1000;
/** Seconds between two ticks of a backfill by default. */
export const BACKFILL_DEFAULT_PACE_SECONDS = 2;
/**
 * How far back a backfill may reach: the ledger forgets a tick after LEDGER_TTL_SECONDS (35 days),
 * and a tick it forgot would be planned again (its tasks refused by execution name only within 90
 * days). A day of margin for TTL's own schedule.
 */
export const BACKFILL_MAX_AGE_DAYS = Math.floor(LEDGER_TTL_SECONDS / 86_400) - 1;

/** What one tick of a run or backfill did. */
export interface TickRun {
  readonly tick: string;
  readonly scheduledTime: string;
  /** The ledger before: `none`, `paused`, `planning`, `planned`. */
  readonly before: string;
  /** `skipped` (already planned), `wouldRun` (dry run), else the producer's outcome (`planned`, `alreadyPlanned`, `busy`, `paused`), or `failed`. */
  readonly outcome: string;
  readonly tasks?: number;
  readonly rejected?: number;
  readonly error?: string;
}

async function refuseIfPaused(session: Session, tableName: string, job: ResolvedJob, o: { ignorePause?: boolean; dryRun?: boolean }, command: string): Promise<boolean> {
  const p = await getPause(session.clients.dynamo, tableName, job.name);
  if (p.paused && !o.ignorePause && !o.dryRun) {
    throw new CliError(
      `${job.name} is paused (by ${p.by ?? 'unknown'} since ${p.since ?? 'unknown'}: ${p.reason ?? 'no reason'}); ${command} would plan nothing`,
      `Resume it first (scheduled-jobs resume ${job.name}), or add --ignore-pause to run it anyway.`,
    );
  }
  return p.paused;
}

/** Runs one tick through reprocess (which invokes the producer synchronously) and reads the answer. */
async function runTick(session: Session, fn: string, job: string, at: Date, ignorePause: boolean): Promise<Pick<TickRun, 'outcome' | 'tasks' | 'rejected' | 'error'> & { summary: Summary }> {
  const summary = await invokeReprocess(session.clients.lambda, fn, { source: 'tick', job, tick: at.toISOString(), ...(ignorePause ? { ignorePause: true } : {}) });
  const p = (summary.producer ?? null) as Record<string, unknown> | null;
  if (summary.outcome !== 'invoked' || !p) return { outcome: 'failed', error: String(summary.error ?? 'unknown error'), summary };
  return { outcome: String(p.outcome), tasks: typeof p.tasks === 'number' ? p.tasks : undefined, rejected: typeof p.rejected === 'number' ? p.rejected : undefined, summary };
}

/**
 * `run <job>`: one tick now. The tick is the current minute (ticks are minutes: a task id holds
 * `yyyyMMddTHHmmZ`), run through reprocess like `tick rerun` (people may invoke only reprocess), so
 * the tick ledger dedupes it: a second `run` in the same minute, or the schedule's own tick of that
 * minute, plans nothing twice.
 */
export async function run(session: Session, name: string | undefined, o: RunOptions, io: CliIo, deps: CliDeps): Promise<number> {
  const job = jobNamed(session.config, name, 'run');
  const at = new Date(Math.floor(deps.now().getTime() / 60_000) * 60_000);
  const stack = await session.stack();
  checkDeployed(job.name, stack.name, stack.stateMachines);
  const tableName = stack.need(OPERATOR_OUTPUTS.coordinationTableName);
  const tz = jobTimeZone(session.config, job);
  const paused = await refuseIfPaused(session, tableName, job, o, 'run');
  const payload = { source: 'tick', job: job.name, tick: at.toISOString(), ...(o.ignorePause ? { ignorePause: true } : {}) };
  if (o.dryRun) {
    const out = { stack: stack.name, job: job.name, tick: tickStamp(at), scheduledTime: at.toISOString(), dryRun: true, paused, payload };
    io.out(o.json ? `${JSON.stringify(out, null, 2)}\n` : `Dry run: would run tick ${tickStamp(at)} (${localTime(at, tz)}) of ${job.name} on ${stack.name} through the reprocess function with ${JSON.stringify(payload)}${paused ? ` (${job.name} is paused: add --ignore-pause)` : ''}\n`);
    return 0;
  }
  if (!o.json) io.err(`Running tick ${tickStamp(at)} of ${job.name} on ${stack.name} ...\n`);
  const r = await runTick(session, stack.need(OPERATOR_OUTPUTS.reprocessFunctionName), job.name, at, o.ignorePause === true);
  const result = { stack: stack.name, job: job.name, tick: tickStamp(at), scheduledTime: at.toISOString(), outcome: r.outcome, tasks: r.tasks ?? null, rejected: r.rejected ?? null, error: r.error ?? null, producer: r.summary.producer ?? null };
  if (o.json) io.out(`${JSON.stringify(result, null, 2)}\n`);
  else {
    const what: Record<string, string> = {
      planned: `planned ${r.tasks ?? '?'} task(s)${r.rejected ? `, ${r.rejected} rejected to the quarantine` : ''}; the starters start them within seconds`,
      alreadyPlanned: 'already planned in this minute (a run or the schedule): nothing planned twice',
      busy: 'another invocation is planning this tick right now',
      paused: 'the job is paused: nothing planned',
      failed: `the producer failed: ${r.error}. Its log says why; running again resumes the tick`,
    };
    io.out(`Tick ${tickStamp(at)} (${localTime(at, tz)}) of ${job.name}: ${what[r.outcome] ?? r.outcome}\nFollow it: scheduled-jobs jobs, or scheduled-jobs task ${job.name}-${tickStamp(at)}-<key>\n`);
  }
  return r.outcome === 'failed' ? EXIT_FAILED : 0;
}

function intFlag(flag: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got "${v}"`);
  return Number(v);
}

/** The ticks of a backfill, validated with no AWS call: the range, the limit, the pace. */
export function planBackfill(session: Pick<Session, 'config'>, name: string | undefined, o: BackfillOptions, now: Date): { job: ResolvedJob; timeZone: string; from: Date; to: Date; ticks: Date[]; more: boolean; paceMs: number } {
  const job = jobNamed(session.config, name, 'backfill');
  if (o.from === undefined || o.to === undefined) throw new UsageError('backfill needs --from and --to', `e.g. scheduled-jobs backfill ${job.name} --from 2026-11-25T02:00+09:00 --to 2026-11-25T06:00+09:00 --dry-run`);
  const from = parseTimeArg('--from', o.from, now);
  const to = parseTimeArg('--to', o.to, now);
  if (from.getTime() > to.getTime()) throw new UsageError(`--from ${from.toISOString()} is after --to ${to.toISOString()}`, 'Swap them: --from is the earlier time.');
  if (to.getTime() > now.getTime()) throw new UsageError(`--to ${to.toISOString()} is in the future`, 'A backfill runs ticks that were due; the schedule runs the later ones. Use --to with a past time (or `now`-like ages: --to 0m).');
  if (now.getTime() - from.getTime() > BACKFILL_MAX_AGE_DAYS * 86_400_000) {
    throw new UsageError(
      `--from ${from.toISOString()} is more than ${BACKFILL_MAX_AGE_DAYS} days ago`,
      'The tick ledger forgets a tick after 35 days, so an older tick could run a second time. Run such a tick on purpose with scheduled-jobs tick rerun.',
    );
  }
  const max = intFlag('--max', o.max, 1, BACKFILL_MAX);
  const pace = intFlag('--pace', o.pace, 0, 300) ?? BACKFILL_DEFAULT_PACE_SECONDS;
  if (scheduleOf(job).kind === 'rate') {
    throw new UsageError(
      `${job.name} runs on a rate schedule (${job.schedule}), whose ticks are anchored at its creation time, which the CLI cannot know`,
      'A backfill of guessed ticks would plan ticks the schedule never fired. Run the ticks you need with scheduled-jobs tick rerun --job <job> --tick <tick>.',
    );
  }
  const limit = max ?? BACKFILL_DEFAULT_LIMIT;
  const { ticks } = ticksBetween(job, jobTimeZone(session.config, job), from, to, limit + 1);
  if (max === undefined && ticks.length > limit) {
    throw new UsageError(
      `${job.schedule} fires more than ${limit} times from ${from.toISOString()} to ${to.toISOString()}`,
      `Narrow the range, or pass --max <n> (at most ${BACKFILL_MAX}) to run the first n ticks of it; a dry run shows them.`,
    );
  }
  return { job, timeZone: jobTimeZone(session.config, job), from, to, ticks: ticks.slice(0, limit), more: ticks.length > limit, paceMs: pace * 1000 };
}

/** The backfill table. */
export function formatBackfill(rows: ReadonlyArray<TickRun>, timeZone: string): string {
  return table(
    ['TICK', 'LOCAL TIME', 'LEDGER BEFORE', 'OUTCOME', 'TASKS'],
    rows.map((r) => [r.tick, localTime(new Date(r.scheduledTime), timeZone).replace(` ${timeZone}`, ''), r.before, r.error ? `${r.outcome}: ${r.error}` : r.outcome, r.tasks === undefined ? null : `${r.tasks}${r.rejected ? ` (+${r.rejected} rejected)` : ''}`]),
  );
}

/**
 * `backfill <job> --from --to`: the ticks the schedule would have fired in the range, each run
 * through reprocess (the producer plans it), one at a time with `--pace` seconds between, oldest
 * first. Idempotent through the tick ledger: a tick it already planned is skipped and reported (and
 * the producer would answer alreadyPlanned anyway); a tick recorded `paused` runs. Stops at the
 * first failure: running the same command again resumes.
 */
export async function backfill(session: Session, name: string | undefined, o: BackfillOptions, io: CliIo, deps: CliDeps): Promise<number> {
  const plan = planBackfill(session, name, o, deps.now());
  const { job, timeZone } = plan;
  const stack = await session.stack();
  checkDeployed(job.name, stack.name, stack.stateMachines);
  const tableName = stack.need(OPERATOR_OUTPUTS.coordinationTableName);
  const paused = await refuseIfPaused(session, tableName, job, o, 'backfill');
  const states: TickState[] = await tickStates(session.clients.dynamo, tableName, job.name, plan.ticks);
  const rows: TickRun[] = [];
  const fn = o.dryRun ? '' : stack.need(OPERATOR_OUTPUTS.reprocessFunctionName);
  const head = `${o.dryRun ? 'Dry run of a backfill' : 'Backfill'} of ${job.name} on ${stack.name}: ${plan.ticks.length} tick(s) of ${job.schedule} (${timeZone}) from ${localTime(plan.from, timeZone)} to ${localTime(plan.to, timeZone)}${plan.more ? `, the first ${plan.ticks.length} (--max)` : ''}`;
  if (!o.json) io.err(`${head} ...\n`);
  let failed = false;
  let ran = 0;
  for (const s of states) {
    const before = s.ledger ? s.ledger.state : 'none';
    if (s.ledger?.state === 'planned') {
      rows.push({ tick: s.tick, scheduledTime: s.scheduledTime, before: tickOutcome(s.ledger), outcome: 'skipped' });
      continue;
    }
    if (o.dryRun || failed) {
      rows.push({ tick: s.tick, scheduledTime: s.scheduledTime, before, outcome: o.dryRun ? 'wouldRun' : 'notRun' });
      continue;
    }
    if (ran > 0 && plan.paceMs > 0) await deps.sleep(plan.paceMs);
    const r = await runTick(session, fn, job.name, new Date(s.scheduledTime), o.ignorePause === true);
    ran++;
    rows.push({ tick: s.tick, scheduledTime: s.scheduledTime, before, outcome: r.outcome, ...(r.tasks !== undefined ? { tasks: r.tasks } : {}), ...(r.rejected !== undefined ? { rejected: r.rejected } : {}), ...(r.error ? { error: r.error } : {}) });
    if (r.outcome === 'failed') failed = true;
  }
  const count = (k: string) => rows.filter((r) => r.outcome === k).length;
  const totals = { ticks: rows.length, skipped: count('skipped'), wouldRun: count('wouldRun'), planned: count('planned'), alreadyPlanned: count('alreadyPlanned'), busy: count('busy'), paused: count('paused'), failed: count('failed'), notRun: count('notRun') };
  const nextFrom = plan.more ? ticksBetween(job, timeZone, new Date(plan.ticks[plan.ticks.length - 1].getTime() + 60_000), plan.to, 1).ticks[0] : undefined;
  if (o.json) {
    io.out(`${JSON.stringify({ stack: stack.name, job: job.name, timeZone, dryRun: o.dryRun === true, paused, from: plan.from.toISOString(), to: plan.to.toISOString(), more: plan.more, ...(nextFrom ? { continueFrom: nextFrom.toISOString() } : {}), totals, ticks: rows }, null, 2)}\n`);
  } else {
    let out = `${head}\n\n${formatBackfill(rows, timeZone)}\n`;
    out += `${Object.entries(totals).filter(([k, v]) => v > 0 || k === 'ticks').map(([k, v]) => `${k} ${v}`).join(', ')}\n`;
    if (totals.skipped) out += 'Skipped: planned already (by the schedule or an earlier run); the ledger keeps each tick once.\n';
    if (o.dryRun && totals.wouldRun) out += `Run them: the same command without --dry-run (${plan.paceMs / 1000} s between ticks; --pace to change).\n`;
    if (paused && o.dryRun) out += `${job.name} is paused: resume it first, or add --ignore-pause.\n`;
    if (failed) out += 'A tick failed; the ticks after it were not run. Its producer log says why; the same command again resumes (ticks planned are skipped).\n';
    if (nextFrom) out += `More ticks in the range: continue with --from ${nextFrom.toISOString()}.\n`;
    io.out(out);
  }
  return failed ? EXIT_FAILED : 0;
}
