import { PauseSwitch } from '../../lambdas/shared/pauses';
import { OPERATOR_OUTPUTS } from '../../lib/operator-outputs';
import { ResolvedJob } from '../../lib/config/types';
import { UsageError } from '../errors';
import { localTime, table } from '../format';
import { CliDeps, CliIo } from '../io';
import { describeSchedule, jobNamed, jobTimeZone, nextRun, recentTicks, ticksBetween } from '../job-schedule';
import { getPause, putPause, tickOutcome, tickStates, TickState } from '../job-state';
import { CommonOptions, Session } from '../session';

/** Options of `jobs`. */
export interface JobsOptions extends CommonOptions {
  /** `table` (default) or `json` (same as --json). */
  readonly output?: string;
}

/** Options of `pause` and `resume`. */
export interface PauseOptions extends CommonOptions {
  readonly reason?: string;
}

/** Due ticks looked at for a job's last tick (newest first, within 8 days). */
const LAST_TICK_LOOKBACK = 12;
/** A due tick younger than this may still be planning: it is not counted as missing. */
const MISSING_GRACE_MS = 5 * 60_000;

/** One row of `jobs`. */
export interface JobView {
  readonly job: string;
  readonly schedule: string;
  readonly timeZone: string;
  /** The config's `enabled` for the stage (false: the schedule is off in CloudFormation). */
  readonly enabled: boolean;
  /** The stack has the job (its state machine output). */
  readonly deployed: boolean;
  readonly pause: PauseSwitch;
  readonly nextRun: string | null;
  /** The newest due tick with a ledger item among the last ones (null: none found). */
  readonly lastTick: { readonly scheduledTime: string; readonly state: string; readonly outcome: string } | null;
  /** Due ticks newer than the last one found (and older than 5 minutes) that have no ledger item: not run. */
  readonly missedSinceLastTick: number;
}

/** The `jobs` view of one job (reads: its pause item, then its recent ticks' ledger items newest first). */
async function viewOf(session: Session, tableName: string, job: ResolvedJob, deployed: boolean, now: Date): Promise<JobView> {
  const tz = jobTimeZone(session.config, job);
  const pause = await getPause(session.clients.dynamo, tableName, job.name);
  let last: TickState | null = null;
  let missed = 0;
  // A job not deployed has no ledger; one whose schedule is off in the config fires no ticks to miss.
  for (const t of deployed ? recentTicks(job, tz, now, LAST_TICK_LOOKBACK) : []) {
    const [s] = await tickStates(session.clients.dynamo, tableName, job.name, [t]);
    if (s.ledger) {
      last = s;
      break;
    }
    if (job.enabled && now.getTime() - t.getTime() > MISSING_GRACE_MS) missed++;
  }
  const next = nextRun(job, tz, now);
  return {
    job: job.name,
    schedule: describeSchedule(job),
    timeZone: tz,
    enabled: job.enabled,
    deployed,
    pause,
    nextRun: next ? next.toISOString() : null,
    lastTick: last?.ledger ? { scheduledTime: last.scheduledTime, state: last.ledger.state, outcome: tickOutcome(last.ledger) } : null,
    missedSinceLastTick: missed,
  };
}

/** The view of every job of the stage's config (the `jobs` command, the report). */
export async function jobViews(session: Session, tableName: string, deployed: ReadonlyMap<string, string>, now: Date): Promise<JobView[]> {
  const views: JobView[] = [];
  for (const job of session.config.jobs) views.push(await viewOf(session, tableName, job, deployed.has(job.name), now));
  return views;
}

function stateCell(v: JobView): string {
  if (!v.deployed) return 'not deployed';
  if (v.pause.paused) return 'PAUSED';
  return v.enabled ? 'active' : 'disabled (config)';
}

/** The `jobs` table. */
export function formatJobs(views: ReadonlyArray<JobView>): string {
  let out = table(
    ['JOB', 'SCHEDULE', 'TIME ZONE', 'STATE', 'NEXT RUN', 'LAST TICK', 'OUTCOME'],
    views.map((v) => [
      v.job,
      v.schedule,
      v.timeZone,
      stateCell(v),
      v.nextRun ? `${localTime(new Date(v.nextRun), v.timeZone).replace(` ${v.timeZone}`, '')}${v.pause.paused ? ' (skipped: paused)' : !v.enabled ? ' (schedule off)' : ''}` : null,
      v.lastTick ? localTime(new Date(v.lastTick.scheduledTime), v.timeZone).replace(` ${v.timeZone}`, '') : null,
      v.lastTick ? `${v.lastTick.outcome}${v.missedSinceLastTick ? `; ${v.missedSinceLastTick} later tick(s) not run` : ''}` : v.missedSinceLastTick ? `none of the last ${v.missedSinceLastTick} due tick(s) ran` : null,
    ]),
  );
  const paused = views.filter((v) => v.pause.paused);
  if (paused.length) {
    out += '\nPaused:\n' + table(['JOB', 'BY', 'SINCE', 'REASON'], paused.map((v) => [v.job, v.pause.by, v.pause.since ? localTime(new Date(v.pause.since), v.timeZone) : null, v.pause.reason]));
  }
  return out;
}

/** `jobs`: every job of the stage with its schedule, time zone, pause, next run, last tick and outcome. */
export async function jobs(session: Session, o: JobsOptions, io: CliIo, deps: CliDeps): Promise<number> {
  if (o.output !== undefined && o.output !== 'json' && o.output !== 'table') throw new UsageError(`--output must be json or table, got "${o.output}"`);
  const json = o.json || o.output === 'json';
  const stack = await session.stack();
  const tableName = stack.need(OPERATOR_OUTPUTS.coordinationTableName);
  const now = deps.now();
  const views = await jobViews(session, tableName, stack.stateMachines, now);
  if (json) io.out(`${JSON.stringify({ stack: stack.name, at: now.toISOString(), jobs: views }, null, 2)}\n`);
  else io.out(`Jobs of ${stack.name} at ${localTime(now, session.config.timeZone)}\n\n${formatJobs(views)}`);
  return 0;
}

/** `pause <job> --reason`: the producer skips the job's ticks (recorded `paused` in the ledger) until `resume`. */
export async function pause(session: Session, name: string | undefined, o: PauseOptions, io: CliIo, deps: CliDeps): Promise<number> {
  const job = jobNamed(session.config, name, 'pause');
  if (!o.reason || o.reason.trim() === '') {
    throw new UsageError('A pause needs a reason (--reason "..."), so the next person on call knows why', `e.g. scheduled-jobs pause ${job.name} --reason "orders DB migration, INC-1234"`);
  }
  const stack = await session.stack();
  const who = await session.identity();
  const tableName = stack.need(OPERATOR_OUTPUTS.coordinationTableName);
  const tz = jobTimeZone(session.config, job);
  const was = await getPause(session.clients.dynamo, tableName, job.name);
  const now = deps.now();
  const state = await putPause(session.clients.dynamo, tableName, job.name, true, { by: who.arn, reason: o.reason.trim(), now });
  const next = nextRun(job, tz, now);
  if (o.json) {
    io.out(`${JSON.stringify({ stack: stack.name, job: job.name, pause: state, wasPaused: was.paused, nextRun: next?.toISOString() ?? null }, null, 2)}\n`);
    return 0;
  }
  io.out(
    `${job.name} is paused${was.paused ? ' (it was already; by, since and reason updated)' : ''} on ${stack.name}.\n` +
      `From its next tick${next ? ` (${localTime(next, tz)})` : ''} the producer plans nothing and records the tick as paused. Executions already started run on.\n` +
      table(['JOB', 'BY', 'SINCE', 'REASON'], [[job.name, state.by, localTime(now, tz), state.reason]]) +
      `Resume with: scheduled-jobs resume ${job.name}\n`,
  );
  return 0;
}

/** `resume <job>`: lifts the pause and says which ticks were skipped (and how to backfill them). */
export async function resume(session: Session, name: string | undefined, o: PauseOptions, io: CliIo, deps: CliDeps): Promise<number> {
  const job = jobNamed(session.config, name, 'resume');
  const stack = await session.stack();
  const who = await session.identity();
  const tableName = stack.need(OPERATOR_OUTPUTS.coordinationTableName);
  const tz = jobTimeZone(session.config, job);
  const was = await getPause(session.clients.dynamo, tableName, job.name);
  const now = deps.now();
  const state = await putPause(session.clients.dynamo, tableName, job.name, false, { by: who.arn, reason: o.reason?.trim() || null, now });
  // The ticks fired while it was paused (within the ledger's memory), so the operator can decide on a backfill.
  let skipped: TickState[] = [];
  if (was.paused && was.since) {
    // From 6 hours before the pause: a tick due before it can still be delivered during it (Scheduler
    // retries for up to maxEventAge, Lambda keeps an async event up to 6 hours). Only `paused` items count.
    const from = new Date(Math.max(Date.parse(was.since) - 6 * 3_600_000, now.getTime() - 30 * 86_400_000));
    const { ticks, anchored } = ticksBetween(job, tz, from, now, 1000);
    if (anchored) skipped = (await tickStates(session.clients.dynamo, tableName, job.name, ticks)).filter((t) => t.ledger?.state === 'paused');
  }
  if (o.json) {
    io.out(`${JSON.stringify({ stack: stack.name, job: job.name, pause: state, wasPaused: was.paused, pausedSince: was.since, skippedTicks: skipped.map((t) => t.scheduledTime) }, null, 2)}\n`);
    return 0;
  }
  let out = was.paused ? `${job.name} is resumed on ${stack.name} (paused since ${was.since ? localTime(new Date(was.since), tz) : 'unknown'} by ${was.by ?? 'unknown'}: ${was.reason ?? 'no reason'}).\n` : `${job.name} was not paused; the switch is off.\n`;
  const next = nextRun(job, tz, now);
  if (next) out += `Its next tick runs as scheduled: ${localTime(next, tz)}.\n`;
  if (skipped.length) {
    const first = skipped[0].scheduledTime;
    const last = skipped[skipped.length - 1].scheduledTime;
    out += `${skipped.length} tick(s) were skipped while paused, ${localTime(new Date(first), tz)} to ${localTime(new Date(last), tz)}. They are not run unless you backfill them:\n`;
    out += `  scheduled-jobs backfill ${job.name} --from ${first} --to ${last} --dry-run\n`;
  }
  io.out(out);
  return 0;
}
