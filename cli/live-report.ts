import { dailyCountsTable, esc, HourBar, hourlyChart, REPORT_STYLE } from '../local/offline-day/report';
import { localTime } from './format';
import type { JobView } from './commands/jobs';

/**
 * The live system's report (`scheduled-jobs report`): the offline report's page (its stylesheet,
 * escaping and saved-query table from local/offline-day/report.ts) filled from the deployed stack:
 * the saved Athena queries over the parameter log (daily counts, lost tasks per day), the stack's
 * CloudWatch alarms and the spool's hourly metrics (drawn with the offline report's chart), the
 * error queues' depths, and each job's pause, next run and last tick.
 * Counts and ids only: no params (the saved queries used here select none).
 */

/** Everything the page shows. */
export interface LiveReport {
  readonly stack: string;
  readonly region: string;
  readonly account: string;
  readonly timeZone: string;
  /** When the report was made, and the period it covers (ISO-8601). */
  readonly at: string;
  readonly since: string;
  /** The log days searched (app time zone), first to last. */
  readonly days: { readonly first: string; readonly last: string };
  /** Saved query "daily counts by job and result". */
  readonly dailyCounts: ReadonlyArray<Record<string, string | null>>;
  /** Saved query "lost tasks of a day", per day: the count and the first task ids. `today` is still open. */
  readonly lostTasksByDay: ReadonlyArray<{ readonly day: string; readonly lost: number; readonly taskIds: ReadonlyArray<string>; readonly today: boolean }>;
  readonly queues: ReadonlyArray<{ readonly queue: string; readonly visible: number; readonly inFlight: number }>;
  readonly alarms: { readonly total: number; readonly inAlarm: ReadonlyArray<{ readonly name: string; readonly since: string | null; readonly reason: string | null }> };
  readonly jobs: ReadonlyArray<JobView>;
  /** CloudWatch series per hour, drawn as the offline report's charts. */
  readonly charts: ReadonlyArray<{ readonly title: string; readonly color: string; readonly bars: ReadonlyArray<HourBar> }>;
}

/** Records per job and result, summed over the days (client: Started, Rejected...; worker: Success, Failure...). */
export function totalsByJob(rows: LiveReport['dailyCounts']): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const r of rows) {
    const job = String(r.job);
    const key = `${r.type} ${r.result}`;
    out[job] ??= {};
    out[job][key] = (out[job][key] ?? 0) + Number(r.records ?? 0);
  }
  return out;
}

/** Lost tasks in closed days (today's count includes tasks still running). */
export function lostInClosedDays(r: Pick<LiveReport, 'lostTasksByDay'>): number {
  return r.lostTasksByDay.filter((d) => !d.today).reduce((n, d) => n + d.lost, 0);
}

/** True when nothing is lost in closed days, no alarm is in ALARM and nothing waits in the quarantine or the failed invocations. */
export function liveOk(r: LiveReport): boolean {
  return lostInClosedDays(r) === 0 && r.alarms.inAlarm.length === 0 && r.queues.filter((q) => q.queue !== 'spool').every((q) => q.visible + q.inFlight === 0);
}

const RESULT_COLUMNS = ['client Started', 'client Duplicate', 'client Rejected', 'client StartFailed', 'worker Success', 'worker Failure', 'worker TimedOut', 'worker Aborted'];

/**
 * A self-contained HTML page (no scripts, no external files), as the offline report. `section` (HTML)
 * goes right under the verdict: `prove --html` puts its scenarios there.
 */
export function renderLiveHtml(r: LiveReport, extra: { readonly section?: string } = {}): string {
  const ok = liveOk(r);
  const totals = totalsByJob(r.dailyCounts);
  const jobs = Object.keys(totals).sort();
  const cols = [...RESULT_COLUMNS, ...[...new Set(jobs.flatMap((j) => Object.keys(totals[j])))].filter((k) => !RESULT_COLUMNS.includes(k)).sort()];
  const perJob = `<table><tr><th>job</th>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>${jobs
    .map((j) => `<tr><th>${esc(j)}</th>${cols.map((c) => `<td>${totals[j][c] ?? 0}</td>`).join('')}</tr>`)
    .join('')}</table>`;
  const jobRows = r.jobs
    .map(
      (j) =>
        `<tr><th>${esc(j.job)}</th><td>${esc(j.schedule)}</td><td>${esc(j.timeZone)}</td><td${j.pause.paused ? ' class="bad"' : ''}>${esc(j.pause.paused ? `PAUSED by ${j.pause.by ?? '?'}: ${j.pause.reason ?? ''}` : !j.deployed ? 'not deployed' : j.enabled ? 'active' : 'disabled (config)')}</td><td>${esc(j.nextRun ? localTime(new Date(j.nextRun), j.timeZone) : '-')}</td><td>${esc(j.lastTick ? `${localTime(new Date(j.lastTick.scheduledTime), j.timeZone)}: ${j.lastTick.outcome}` : '-')}</td><td${j.missedSinceLastTick ? ' class="bad"' : ''}>${j.missedSinceLastTick}</td></tr>`,
    )
    .join('');
  const lost = r.lostTasksByDay
    .map((d) => `<tr><td>${esc(d.day)}${d.today ? ' (today: tasks still running count here)' : ''}</td><td${d.lost && !d.today ? ' class="bad"' : ''}><b>${d.lost}</b></td><td>${esc(d.taskIds.join(', '))}${d.lost > d.taskIds.length ? ' ...' : ''}</td></tr>`)
    .join('');
  const alarms = r.alarms.inAlarm.map((a) => `<tr><td>${esc(a.name)}</td><td>${esc(a.since ?? '-')}</td><td>${esc(a.reason ?? '-')}</td></tr>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(r.stack)} since ${esc(r.since)}</title>
<style>${REPORT_STYLE}</style></head><body>
<h1>Scheduled jobs: ${esc(r.stack)}</h1>
<p>Account ${esc(r.account)}, ${esc(r.region)}. From ${esc(localTime(new Date(r.since), r.timeZone))} to ${esc(localTime(new Date(r.at), r.timeZone))} (log days ${esc(r.days.first)} to ${esc(r.days.last)}).</p>
<h2 class="${ok ? 'ok' : 'bad'}">${ok ? 'OK: no lost task in closed days, no alarm, nothing quarantined or failed' : 'ATTENTION: see the red lines below'}</h2>
${extra.section ?? ''}
<h2>Alarms: ${r.alarms.inAlarm.length} of ${r.alarms.total} in ALARM</h2>
${alarms ? `<table><tr><th>alarm</th><th>since</th><th>reason</th></tr>${alarms}</table>` : ''}
<h2>Error queues now</h2>
<table><tr><th>queue</th><th>waiting</th><th>in flight</th></tr>${r.queues.map((q) => `<tr><td>${esc(q.queue)}</td><td${q.visible && q.queue !== 'spool' ? ' class="bad"' : ''}>${q.visible}</td><td>${q.inFlight}</td></tr>`).join('')}</table>
<h2>Jobs</h2>
<table><tr><th>job</th><th>schedule</th><th>time zone</th><th>state</th><th>next run</th><th>last tick</th><th>due ticks not run since</th></tr>${jobRows}</table>
<h2>The period, per hour (CloudWatch)</h2>
${r.charts.map((c) => hourlyChart(c.bars, c.title, c.color)).join('\n')}
<h2>Per job (parameter log, ${esc(r.days.first)} to ${esc(r.days.last)})</h2>
${perJob}
<h2>Saved Athena queries</h2>
<h3>Lost tasks (started, no worker record the day before, that day or the next)</h3>
<table><tr><th>day</th><th>lost</th><th>task ids</th></tr>${lost}</table>
<h3>Daily counts by job and result</h3>
${dailyCountsTable(r.dailyCounts)}
</body></html>
`;
}

/** A few lines for the terminal beside the page. */
export function renderLiveText(r: LiveReport): string {
  const t = totalsByJob(r.dailyCounts);
  const lines = [
    `${r.stack} from ${localTime(new Date(r.since), r.timeZone)} to ${localTime(new Date(r.at), r.timeZone)}: ${liveOk(r) ? 'OK' : 'ATTENTION'}`,
    `  alarms in ALARM: ${r.alarms.inAlarm.length} of ${r.alarms.total}; ${r.queues.map((q) => `${q.queue} ${q.visible}`).join(', ')}`,
    `  lost tasks: ${r.lostTasksByDay.map((d) => `${d.day} ${d.lost}${d.today ? ' (today, open)' : ''}`).join(', ')}`,
    ...Object.keys(t)
      .sort()
      .map((j) => `  ${j}: ${Object.entries(t[j]).map(([k, v]) => `${k} ${v}`).join(', ')}`),
  ];
  return `${lines.join('\n')}\n`;
}
