import { writeFileSync } from 'node:fs';
import { zonedParts } from '../../lambdas/shared/param-log';
import { DAILY_COUNTS, LOST_TASKS, lostTaskParams, nextDay } from '../../lambdas/shared/queries';
import { OPERATOR_OUTPUTS } from '../../lib/operator-outputs';
import { runSavedQuery } from '../athena';
import { CliError, UsageError } from '../errors';
import { CliDeps, CliIo } from '../io';
import { parseTimeArg } from '../job-schedule';
import { LiveReport, renderLiveHtml, renderLiveText } from '../live-report';
import { hourlySeries } from '../metrics';
import { queueCounts } from '../queues';
import { CommonOptions, Session } from '../session';
import { jobViews } from './jobs';
import { alarmsInAlarm } from './status';

/** Options of `report`. */
export interface ReportOptions extends CommonOptions {
  readonly since?: string;
  readonly out?: string;
  readonly athenaTimeout?: string;
}

/** Longest period a report covers: each day is one lost-tasks query (Athena bills each). */
export const REPORT_MAX_DAYS = 31;
/** Task ids listed per day in the lost-tasks table. */
const LOST_IDS_SHOWN = 20;

function dayOf(d: Date, timeZone: string): string {
  const p = zonedParts(d, timeZone);
  return `${p.year}-${p.month}-${p.day}`;
}

/**
 * `report --since 24h [--out file.html]`: the offline report's page from the live system. The log
 * days are the app time zone's days from `--since` to now (the parameter log is partitioned by
 * them). Without --out the HTML goes to stdout; --json prints the data instead.
 */
export async function report(session: Session, o: ReportOptions, io: CliIo, deps: CliDeps): Promise<number> {
  const now = deps.now();
  const since = parseTimeArg('--since', o.since ?? '24h', now);
  if (since.getTime() >= now.getTime()) throw new UsageError(`--since ${since.toISOString()} is not in the past`, 'e.g. --since 24h, --since 7d, or an ISO time with a zone.');
  const tz = session.config.timeZone;
  const days: string[] = [];
  for (let d = dayOf(since, tz); d <= dayOf(now, tz); d = nextDay(d)) days.push(d);
  if (days.length > REPORT_MAX_DAYS) throw new UsageError(`--since covers ${days.length} days; a report covers at most ${REPORT_MAX_DAYS}`, 'Each day is an Athena query over that day\'s partition: use a shorter --since.');
  const timeoutMs = (o.athenaTimeout === undefined ? 120 : Number(o.athenaTimeout)) * 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--athena-timeout must be a number of seconds, got "${o.athenaTimeout}"`);

  // The stack first, as before: an unknown stack is reported before anything else is said.
  await session.stack();
  if (!o.json && o.out) io.err(`Reporting on ${session.stackName}: ${days.length + 1} saved Athena queries over ${days[0]} to ${days[days.length - 1]} ...\n`);
  const r = await collectLiveReport(session, { since, now, timeoutMs, deps });
  if (o.json) {
    io.out(`${JSON.stringify(r, null, 2)}\n`);
    return 0;
  }
  const html = renderLiveHtml(r);
  if (!o.out) {
    io.out(html);
    return 0;
  }
  try {
    writeFileSync(o.out, html);
  } catch (e) {
    throw new CliError(`Could not write ${o.out}: ${(e as Error).message}`, 'Pick a writable path with --out.');
  }
  io.out(`${renderLiveText(r)}Report written to ${o.out}\n`);
  return 0;
}

/**
 * The live report's data for `since` to `now` (the log days of the app time zone in between): the
 * saved queries, queue depths, alarms, the spool's hourly metrics and the jobs. `report` renders it;
 * so does `prove --html`, over the period of its run.
 */
export async function collectLiveReport(session: Session, o: { since: Date; now: Date; timeoutMs: number; deps: Pick<CliDeps, 'sleep' | 'now'> }): Promise<LiveReport> {
  const { since, now, timeoutMs, deps } = o;
  const tz = session.config.timeZone;
  const days: string[] = [];
  for (let d = dayOf(since, tz); d <= dayOf(now, tz); d = nextDay(d)) days.push(d);
  const stack = await session.stack();
  const who = await session.identity();
  const run = { workGroup: stack.need(OPERATOR_OUTPUTS.athenaWorkGroup), database: stack.need(OPERATOR_OUTPUTS.athenaDatabase), timeoutMs, sleep: deps.sleep, now: () => deps.now().getTime() };
  const dailyCounts = await runSavedQuery(session.clients.athena, DAILY_COUNTS, [days[0], days[days.length - 1]], run);
  const today = dayOf(now, tz);
  const lostTasksByDay = [];
  for (const day of days) {
    const rows = await runSavedQuery(session.clients.athena, LOST_TASKS, lostTaskParams(day), run);
    lostTasksByDay.push({ day, lost: rows.length, taskIds: rows.slice(0, LOST_IDS_SHOWN).map((r) => r.task_id ?? '?'), today: day === today });
  }
  const queues = [];
  for (const [queue, key] of [
    ['spool', OPERATOR_OUTPUTS.spoolQueueUrl],
    ['quarantine', OPERATOR_OUTPUTS.quarantineQueueUrl],
    ['failedInvocations', OPERATOR_OUTPUTS.failedInvocationsQueueUrl],
  ] as const) {
    const c = await queueCounts(session.clients.sqs, stack.need(key), queue);
    queues.push({ queue, visible: c.visible, inFlight: c.inFlight });
  }
  const alarms = await alarmsInAlarm(session);
  // The spool's SQS metrics (AWS/SQS, dimension QueueName: SQS developer guide, "Available CloudWatch metrics for Amazon SQS").
  const spoolQueue = { QueueName: stack.need(OPERATOR_OUTPUTS.spoolQueueUrl).split('/').pop() ?? '' };
  const charts = [
    {
      title: 'Messages sent to the spool per hour (failed tasks, and the sweeper\'s re-sends)',
      color: '#c0392b',
      bars: await hourlySeries(session.clients.cloudWatch, { namespace: 'AWS/SQS', metricName: 'NumberOfMessagesSent', dimensions: spoolQueue, stat: 'Sum' }, since, now, tz),
    },
    {
      title: 'Spool depth (messages), highest in the hour',
      color: '#7a4fa0',
      bars: await hourlySeries(session.clients.cloudWatch, { namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesVisible', dimensions: spoolQueue, stat: 'Maximum' }, since, now, tz),
    },
  ];
  const jobs = await jobViews(session, stack.need(OPERATOR_OUTPUTS.coordinationTableName), stack.stateMachines, now);
  return {
    stack: stack.name,
    region: await session.region(),
    account: who.account,
    timeZone: tz,
    at: now.toISOString(),
    since: since.toISOString(),
    days: { first: days[0], last: days[days.length - 1] },
    dailyCounts,
    lostTasksByDay,
    queues,
    alarms,
    jobs,
    charts,
  };
}
