import { canaryOk, renderCanary } from './canary';
import { formatRecordTime } from '../../lambdas/shared/param-log';
import { JobCounts } from './accounting';
import { OfflineReport } from './run';
import { usersFeelOk } from './users-feel';

/**
 * True when the run kept its promise: nothing lost, nothing run twice, no tick failed but those the
 * fault profile broke on purpose. A producer invocation Lambda dropped after its retries (no
 * on-failure destination) is a lost tick: its tasks never existed. A tick that failed on its own (a
 * secret it cannot read, a bug) is a failure even when its record is kept for a re-run: offline,
 * nothing but the profile should fail.
 */
export function reportOk(r: Omit<OfflineReport, 'usersFeel'> & Partial<Pick<OfflineReport, 'usersFeel'>>): boolean {
  // What users feel (users-feel.ts) on top of the executions' books; a report written before it existed has none.
  return executionsOk(r) && (r.usersFeel === undefined || usersFeelOk(r.usersFeel));
}

/**
 * The executions' books: no task lost, no execution run twice, no tick dropped, no tick failed
 * that the fault profile did not inject, no HTTP call without a stub, and with --canary no param
 * outside the lock (local/offline-day/canary.ts).
 */
export function executionsOk(r: Pick<OfflineReport, 'lost' | 'duplicates' | 'queries' | 'outside'> & Partial<Pick<OfflineReport, 'stubs' | 'canary'>>): boolean {
  return (
    r.lost === 0 &&
    r.duplicates === 0 &&
    r.queries.lostTasksByDay.every((d) => d.lost === 0) &&
    r.outside.failedTicks.every((t) => t.outcome !== 'dropped' && t.injected !== false) &&
    (r.stubs?.unhandledHttp.length ?? 0) === 0 &&
    (r.canary === undefined || canaryOk(r.canary))
  );
}

/** Why `reportOk` is false, one reason a line (empty when it is true). */
export function failureReasons(r: Omit<OfflineReport, 'usersFeel'> & Partial<Pick<OfflineReport, 'usersFeel'>>): string[] {
  const out: string[] = [];
  if (r.lost > 0) out.push(`${r.lost} task(s) lost: ${r.lostTaskIds.slice(0, 5).map((t) => (r.lostWhy?.[t] ? `${t} (${r.lostWhy[t]})` : t)).join(', ')}`);
  if (r.duplicates > 0) out.push(`${r.duplicates} duplicate(s)`);
  for (const d of r.queries.lostTasksByDay) if (d.lost > 0) out.push(`the lost-task query finds ${d.lost} on ${d.day}`);
  for (const t of r.outside.failedTicks) {
    if (t.outcome === 'dropped') out.push(`${t.job} tick ${t.tick} dropped after ${t.attempts} attempts`);
    else if (t.injected === false) out.push(`${t.job} tick ${t.tick} failed (${t.attempts} attempts, ${t.outcome}), not a fault the profile injected`);
  }
  for (const u of r.stubs?.unhandledHttp ?? []) out.push(`HTTP call with no stub: ${u}`);
  if (r.canary && !canaryOk(r.canary)) out.push('the canary left the lock (see the canary section)');
  if (r.usersFeel && !usersFeelOk(r.usersFeel)) out.push(`users feel: lost ${r.usersFeel.lost}, duplicatedSideEffects ${r.usersFeel.duplicatedSideEffects}, hidden ${r.usersFeel.hidden}`);
  return out;
}

const pad = (s: string | number, n: number): string => String(s).padStart(n);
const kv = (o: Record<string, number>): string =>
  Object.entries(o)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none';

/** The simulated period in the app's time zone, e.g. `2026-11-25 00:00 .. 2026-11-25 23:59 Asia/Tokyo`. */
export function period(r: OfflineReport): string {
  const local = (d: Date) => formatRecordTime(d, r.timeZone).slice(0, 16);
  return `${local(new Date(r.from))} .. ${local(new Date(Date.parse(r.to) - 60_000))} ${r.timeZone}`;
}

/** Every task in exactly one class: first try, recovered, replayed, still spooled, quarantined, lost. */
export function accountedFor(c: Pick<JobCounts, 'succeededFirstTry' | 'recoveredByRetry' | 'replayed' | 'stillSpooled' | 'quarantined' | 'lost'>): number {
  return c.succeededFirstTry + c.recoveredByRetry + c.replayed + c.stillSpooled.total + c.quarantined + c.lost;
}

/** The rows of the per-job table: label and the value of a job's counts. */
const JOB_ROWS: ReadonlyArray<readonly [string, (c: JobCounts) => string | number]> = [
  ['ticks', (c) => c.ticks],
  ['tasks', (c) => c.tasks],
  ['executions', (c) => c.executions],
  ['succeeded first try', (c) => c.succeededFirstTry],
  ['recovered by retry', (c) => c.recoveredByRetry],
  ['retries', (c) => c.retries],
  ['spooled (messages)', (c) => Object.values(c.spooledByError).reduce((a, b) => a + b, 0)],
  ['replayed and succeeded', (c) => c.replayed],
  ['still spooled', (c) => c.stillSpooled.total],
  ['quarantined', (c) => c.quarantined],
  ['aborted / timed out', (c) => `${c.aborted} / ${c.timedOut}`],
  ['LOST', (c) => c.lost],
  ['DUPLICATED', (c) => c.duplicates],
  ['accounted for', (c) => `${accountedFor(c)} of ${c.tasks}`],
];

/** The report's totals as a JobCounts row (the top-level fields). */
function totals(r: OfflineReport): JobCounts {
  const j = Object.values(r.jobs);
  return {
    ticks: r.ticks,
    tasks: r.tasks,
    executions: r.executions,
    succeededFirstTry: r.succeededFirstTry,
    recoveredByRetry: r.recoveredByRetry,
    retries: r.retries,
    spooledByError: r.spooledByError,
    replayed: r.replayed,
    stillSpooled: { ...r.stillSpooled, taskIds: [...r.stillSpooled.taskIds] },
    quarantined: r.quarantined,
    lost: r.lost,
    lostTaskIds: r.lostTaskIds,
    lostWhy: r.lostWhy ?? {},
    duplicates: r.duplicates,
    aborted: j.reduce((n, c) => n + c.aborted, 0),
    timedOut: j.reduce((n, c) => n + c.timedOut, 0),
    startFailed: r.startFailed,
  };
}

/** One line on the maintenance window: who held it and what reached the API. */
export function windowLine(r: OfflineReport): string | null {
  const w = r.window;
  if (!w) return null;
  const who = w.hold === 'operator' ? 'held by the operator' : w.hold === 'planned-windows' ? 'held by a planned window (no operator)' : 'not held';
  return `maintenance window ${w.window} (${w.dependencies.join(', ') || 'no dependency declared'}), ${who}: calls into the window ${w.callsIntoWindow}, retries during it ${w.retriesDuringWindow}, executions in it ${w.executionsInWindow}, hours on hold ${w.heldHours}`;
}

/** Lines on the ends outside the workflow's Catch and the failed ticks. */
export function outsideLines(r: OfflineReport): string[] {
  const o = r.outside;
  const lines = [
    `stopped by the operator ${o.stopped}; executions aborted ${o.aborted}, timed out ${o.timedOut}; status changes delivered to the capture: ${kv(o.captures)}${o.captureFailures ? `, FAILED ${o.captureFailures}` : ''}`,
  ];
  const kept = o.failedTicks.filter((t) => t.outcome === 'kept');
  const rerun = o.failedTicks.filter((t) => t.rerun && t.rerun.outcome === 'planned');
  lines.push(
    `producer ticks that failed: ${o.failedTicks.length} (recovered by Lambda's retry ${o.failedTicks.filter((t) => t.outcome === 'succeeded').length}, kept in failed invocations ${kept.length}, re-run by the operator ${rerun.length}); failed-invocation records left ${o.failedInvocationsLeft}`,
  );
  for (const t of o.failedTicks) {
    lines.push(
      `  ${t.job} tick ${formatRecordTime(new Date(t.tick), r.timeZone).slice(0, 16)} (${t.tick}): ${t.attempts} attempts, ${t.outcome}${t.rerun ? `, re-run ${t.rerun.at} through reprocess (${t.rerun.via.source}) -> ${t.rerun.outcome} (${t.rerun.tasks ?? '?'} tasks)` : ', not re-run'}; tasks started once ${t.startedOnce}, twice ${t.startedTwice}${t.injected === false ? '; NOT INJECTED by the fault profile: a failure of the run' : ''}`,
    );
  }
  return lines;
}

/** The report as plain text for the terminal. */
export function renderText(r: OfflineReport): string {
  const lines: string[] = [];
  const jobs = Object.keys(r.jobs);
  const cols: Array<[string, JobCounts]> = [['all jobs', totals(r)], ...jobs.map((j) => [j, r.jobs[j]] as [string, JobCounts])];
  const width = Math.max(10, ...cols.map(([n]) => n.length)) + 2;
  lines.push('', `OFFLINE RUN ${period(r)}, faults ${r.faults}, seed ${r.seed}, hold ${r.hold}`, '');
  lines.push(`  ${''.padEnd(24)}${cols.map(([n]) => pad(n, width)).join('')}`);
  for (const [label, f] of JOB_ROWS) lines.push(`  ${label.padEnd(24)}${cols.map(([, c]) => pad(f(c), width)).join('')}`);
  lines.push('');
  lines.push(`  spooled by error: ${kv(r.spooledByError)}`);
  lines.push(`  still spooled by error: ${kv(r.stillSpooled.byError)} (kept with their input until an operator replays or drops them)`);
  lines.push(`  replays: ${r.replayRounds.length} reprocess invocations; start failures ${r.startFailed}`);
  const w = windowLine(r);
  if (w) lines.push(`  ${w}`);
  for (const l of outsideLines(r)) lines.push(`  ${l}`);
  lines.push('', `  parameter log: ${r.records.client} client + ${r.records.worker} worker records; files per partition:`);
  for (const [p, n] of Object.entries(r.filesPerPartition).sort()) lines.push(`    ${p}  ${n} files`);
  lines.push('', '  saved Athena queries (on DuckDB over the output folder):');
  for (const d of r.queries.lostTasksByDay) lines.push(`    lost tasks of ${d.day}: ${d.lost}`);
  lines.push('    daily counts by job and result:');
  for (const row of r.queries.dailyCounts) lines.push(`      ${row.log_day}  ${String(row.job).padEnd(15)} ${String(row.type).padEnd(6)} ${String(row.result).padEnd(11)} ${pad(String(row.records), 6)}`);
  lines.push('', `  fake API calls: ${kv(r.api as unknown as Record<string, number>)}`);
  if (r.unfinished.length) lines.push(`  still scheduled at the end: ${r.unfinished.join('; ')}`);
  lines.push(`  wall time ${(r.wallMs / 1000).toFixed(1)} s`, '');
  const stubs = r.stubs;
  if (stubs && stubs.jobs.length + Object.keys(stubs.secretReads).length > 0) {
    lines.push(`  stubs (lambdas/jobs/<job>/stubs.ts) of ${stubs.jobs.join(', ') || 'no job'}: HTTP ${kv(stubs.httpCalls)}; secret reads ${kv(stubs.secretReads)}`);
  }
  if (r.canary) lines.push(...renderCanary(r.canary), '');
  for (const l of usersFeelLines(r)) lines.push(`  ${l}`);
  lines.push(reportOk(r) ? `  RESULT: OK (nothing lost, no side effect duplicated, nothing hidden, no tick failed${r.canary ? ', the canary stayed inside the lock' : ''})` : `  RESULT: FAILED: ${failureReasons(r).join('; ')} (see report.json)`, '');
  return lines.join('\n');
}

/** `8 (ExternalApiRejectedError)`, or `10 (A 8, B 2)`: the count once, the errors after it. */
export function stillSpooledCell(r: Pick<OfflineReport, 'stillSpooled'>): string {
  const by = Object.entries(r.stillSpooled.byError);
  if (by.length === 0) return String(r.stillSpooled.total);
  const detail = by.length === 1 ? by[0][0] : by.map(([k, v]) => `${k} ${v}`).join(', ');
  return `${r.stillSpooled.total} (${detail})`;
}

/** HTML-escapes text (the live report, cli/live-report.ts, renders with the same helpers). */
export const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** The report pages' stylesheet. */
export const REPORT_STYLE =
  'body{font-family:system-ui,sans-serif;margin:24px;max-width:960px}table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}th{background:#f6f6f6}.ok{color:#156a15}.bad{color:#b00}h3{margin:14px 0 2px}';

/** The saved query "daily counts by job and result" as an HTML table. */
export function dailyCountsTable(rows: ReadonlyArray<Record<string, unknown>>): string {
  const body = rows
    .map((x) => `<tr><td>${esc(String(x.log_day))}</td><td>${esc(String(x.job))}</td><td>${esc(String(x.type))}</td><td>${esc(String(x.result))}</td><td>${esc(String(x.records))}</td></tr>`)
    .join('');
  return `<table><tr><th>day</th><th>job</th><th>type</th><th>result</th><th>records</th></tr>${body}</table>`;
}

/** One bar of {@link hourlyChart}: the hour (`yyyy-MM-dd HH`, local), its value, and the hour's bands. */
export interface HourBar {
  readonly hour: string;
  readonly value: number;
  readonly maintenance?: boolean;
  readonly held?: boolean;
}

/** One series of the offline run, per hour. */
function chart(r: OfflineReport, key: 'tasks' | 'retries' | 'spooled' | 'spoolDepth' | 'replayed', title: string, color: string): string {
  return hourlyChart(
    r.hourly.map((x) => ({ hour: x.hour, value: x[key], maintenance: x.maintenance, held: x.held })),
    title,
    color,
  );
}

/**
 * An SVG bar chart, one bar per hour (the offline run's series, and the live report's CloudWatch
 * metrics). Maintenance hours get a translucent band over the bars and a solid strip along the top
 * (so they show even where the bars fill the chart); hours with a dependency on hold get a strip of their own.
 */
export function hourlyChart(rows: ReadonlyArray<HourBar>, title: string, color: string): string {
  const w = 900;
  const h = 130;
  const left = 40;
  const top = 14;
  const bw = (w - left - 10) / Math.max(1, rows.length);
  const max = Math.max(1, ...rows.map((x) => x.value));
  const plot = h - 20 - top;
  const bars = rows
    .map((x, i) => {
      const bh = (plot * x.value) / max;
      return `<rect x="${(left + i * bw + 1).toFixed(1)}" y="${(h - 20 - bh).toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${bh.toFixed(1)}" fill="${color}"><title>${esc(x.hour)}:00  ${x.value}</title></rect>`;
    })
    .join('');
  const bands = rows
    .map((x, i) => {
      const at = (left + i * bw).toFixed(1);
      const width = bw.toFixed(1);
      const maint = x.maintenance
        ? `<rect x="${at}" y="${top}" width="${width}" height="${plot}" fill="#e74c3c" fill-opacity="0.18"><title>${esc(x.hour)}:00 API maintenance</title></rect><rect x="${at}" y="2" width="${width}" height="5" fill="#e74c3c"/>`
        : '';
      const held = x.held ? `<rect x="${at}" y="8" width="${width}" height="5" fill="#2c6fbb"><title>${esc(x.hour)}:00 dependency on hold</title></rect>` : '';
      return maint + held;
    })
    .join('');
  const labels = rows
    .map((x, i) => (i % Math.max(1, Math.round(rows.length / 12)) === 0 ? `<text x="${left + i * bw}" y="${h - 5}" font-size="10">${esc(x.hour.slice(5))}</text>` : ''))
    .join('');
  return `<h3>${esc(title)}</h3><svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" role="img" aria-label="${esc(title)}">
<line x1="${left}" y1="${h - 20}" x2="${w - 10}" y2="${h - 20}" stroke="#999"/><text x="0" y="${top + 8}" font-size="10">${max}</text><text x="0" y="${h - 20}" font-size="10">0</text>${bars}${bands}${labels}</svg>`;
}

/** The per-job counts as an HTML table: one column per job and one for all. */
export function jobTable(r: OfflineReport): string {
  const cols: Array<[string, JobCounts]> = [['all jobs', totals(r)], ...Object.entries(r.jobs)];
  const head = `<tr><th></th>${cols.map(([n]) => `<th>${esc(n)}</th>`).join('')}</tr>`;
  const body = JOB_ROWS.map(([label, f]) => `<tr><th>${esc(label)}</th>${cols.map(([, c]) => `<td>${esc(String(f(c)))}</td>`).join('')}</tr>`).join('');
  return `<table class="jobs">${head}${body}</table>`;
}

/** A self-contained HTML page (inline SVG, no scripts, no external files). */
export function renderHtml(r: OfflineReport): string {
  const ok = reportOk(r);
  const cell = (label: string, value: string | number, strong = false): string =>
    `<tr><th>${esc(label)}</th><td>${strong ? `<b>${esc(String(value))}</b>` : esc(String(value))}</td></tr>`;
  const files = Object.entries(r.filesPerPartition)
    .sort()
    .map(([p, n]) => `<tr><td>${esc(p)}</td><td>${n}</td></tr>`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Offline run ${esc(period(r))}</title>
<style>${REPORT_STYLE}</style></head><body>
<h1>Scheduled jobs: offline run</h1>
<p>${esc(period(r))} (UTC ${esc(r.from)} to ${esc(r.to)}), fault profile <b>${esc(r.faults)}</b>, hold <b>${esc(r.hold)}</b>, seed ${r.seed}, wall time ${(r.wallMs / 1000).toFixed(1)} s.
Red band: the external API's maintenance window. Blue strip: a dependency on hold.</p>
<h2 class="${ok ? 'ok' : 'bad'}">${ok ? 'OK: nothing lost, no side effect duplicated, nothing hidden, no tick failed' : `FAILED: ${esc(failureReasons(r).join('; '))}`}</h2>
${usersFeelLines(r).map((l) => `<p>${esc(l)}</p>`).join('\n')}
<table>${cell('ticks', r.ticks)}${cell('tasks', r.tasks)}${cell('succeeded first try', r.succeededFirstTry)}${cell('recovered by retry', `${r.recoveredByRetry} (${r.retries} retries)`)}${cell(
    'spooled by error',
    Object.entries(r.spooledByError)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none',
  )}${cell('replayed and succeeded', r.replayed)}${cell('still spooled', stillSpooledCell(r))}${cell('quarantined', r.quarantined)}${cell('lost', r.lost, true)}${cell('duplicated executions', r.duplicates, true)}</table>
<h2>Per job</h2>
${jobTable(r)}
${r.window ? `<h2>Maintenance window</h2><p>${esc(windowLine(r)!)}</p>` : ''}
<h2>Ends outside the Catch, failed ticks</h2>
<ul>${outsideLines(r)
    .map((l) => `<li>${esc(l.trim())}</li>`)
    .join('')}</ul>
<h2>The day, per hour</h2>
${chart(r, 'tasks', 'Tasks started per hour', '#3b6fb6')}
${chart(r, 'retries', 'Retries per hour', '#d08a1e')}
${chart(r, 'spooled', 'Executions spooled per hour', '#c0392b')}
${chart(r, 'replayed', 'Replays that succeeded per hour', '#2e8b57')}
${chart(r, 'spoolDepth', 'Spool depth (messages) at the end of the hour', '#7a4fa0')}
<h2>Saved Athena queries (run on DuckDB over the output folder)</h2>
<p>Lost tasks: ${r.queries.lostTasksByDay.map((d) => `${esc(d.day)}: <b>${d.lost}</b>`).join(', ')}</p>
${dailyCountsTable(r.queries.dailyCounts)}
<h2>Parameter log files per partition</h2>
<table><tr><th>partition</th><th>files</th></tr>${files}</table>
</body></html>
`;
}

/** The world the run lived in and what users feel (report.json `world`, `usersFeel`). */
export function usersFeelLines(r: Partial<Pick<OfflineReport, 'world' | 'usersFeel' | 'simulatedRetryWaitSeconds'>>): string[] {
  if (!r.world || !r.usersFeel) return [];
  const c = r.world.counts;
  const u = r.usersFeel;
  return [
    `AWS world ${r.world.profile}: status changes dropped ${c.eventsDropped}, late ${c.eventsLate}, twice ${c.eventsDuplicated}; async invokes twice ${c.asyncDuplicated}; ` +
      `tick messages twice ${c.sqsDuplicated}; schedule ticks twice ${c.schedulerDuplicated}; past the history quota ${c.historyExceeded}; reconciler ${r.world.reconciler}` +
      (r.world.reconcilerRuns ? ` (${r.world.reconcilerRuns} runs)` : '') +
      (r.world.paramLog ? `; parameter-log records discarded after 24 h ${r.world.paramLog.discarded}, still retried ${r.world.paramLog.retrying}` : ''),
    ...(r.world.mapRuns?.parents
      ? [`high-volume Map Runs (local/offline-day/map-run.ts): parents ${r.world.mapRuns.parents}, items ${r.world.mapRuns.items}, child runs ${r.world.mapRuns.children} (run twice ${r.world.mapRuns.childrenRepeated}, ended at five minutes ${r.world.mapRuns.childrenTimedOut}, failed ${r.world.mapRuns.childrenFailed})`]
      : []),
    `retry waits AWS would have spent (jitter applied): ${r.simulatedRetryWaitSeconds ?? 0} s; step Lambdas that ran on after their execution ended: ${u.sideEffects.ranAfterExecutionEnded} (task starts refused after the end: ${u.sideEffects.refusedAfterExecutionEnded ?? 0})`,
    `WHAT USERS FEEL: lost ${u.lost}, duplicatedSideEffects ${u.duplicatedSideEffects} (of ${u.sideEffects.keys} side effects), hidden ${u.hidden}`,
    ...(u.lostTaskIds.length ? [`  lost: ${u.lostTaskIds.slice(0, 10).join(', ')}${u.lostTaskIds.length > 10 ? ', ...' : ''}`] : []),
    ...(u.sideEffects.duplicatedKeys.length ? [`  applied twice: ${u.sideEffects.duplicatedKeys.slice(0, 10).join(', ')}${u.sideEffects.duplicatedKeys.length > 10 ? ', ...' : ''}`] : []),
    ...(u.hiddenTaskIds.length ? [`  hidden: ${u.hiddenTaskIds.slice(0, 10).join(', ')}${u.hiddenTaskIds.length > 10 ? ', ...' : ''}`] : []),
  ];
}
