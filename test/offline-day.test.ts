import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { OfflineReport, runOfflineDay } from '../local/offline-day/run';
import { executionsOk, renderHtml, renderText, reportOk } from '../local/offline-day/report';
import { asExpected, expectedFromPlan } from './support/fault-expectations';
import { fixtureConfig } from './support/fixture-config';

/**
 * The offline day, smaller: 00:00-05:00 of one day in the app time zone, both example jobs, default
 * faults: the maintenance window 01:00-04:00 with the operator's hold, the fan-out job's failing part
 * at 00:15, and the slow API call moved from noon to 04:30 so the step-timeout path runs too. The
 * report's numbers must match what the seeded fault plan implies for every task of every job.
 */
describe('offline run (5 simulated hours, default faults, the operator holds the API for its window)', () => {
  const run = { seed: 7, hours: 5, day: '2026-11-25', overrides: { slowAt: '04:30' } } as const;
  let out: string;
  let report: OfflineReport;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'offline-'));
    report = await runOfflineDay({ projectRoot: resolve(__dirname, '..'), appConfig: fixtureConfig, outDir: out, hours: run.hours, seed: run.seed, faults: 'default', startDay: run.day, faultPlanOverrides: run.overrides });
  }, 240_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  const expected = () => expectedFromPlan(run);

  it('accounts for every task of each job as the fault plan implies', () => {
    const e = expected();
    expect(e.replayed).toBeGreaterThan(100); // the window really was in the run
    expect(e.jobs['example-fanout'].replayed).toBe(1); // and the fan-out job's failing part
    expect(asExpected(report.jobs['example-api'])).toEqual(e.jobs['example-api']);
    expect(asExpected(report.jobs['example-fanout'])).toEqual(e.jobs['example-fanout']);
    expect(report).toMatchObject({ ticks: e.ticks, tasks: e.tasks, succeededFirstTry: e.firstTry, recoveredByRetry: e.recovered, replayed: e.replayed, lost: 0, duplicates: 0, quarantined: 0 });
    for (const c of [report.jobs['example-api'], report.jobs['example-fanout']]) {
      expect(c.succeededFirstTry + c.recoveredByRetry + c.replayed + c.stillSpooled.total).toBe(c.tasks);
      expect(c).toMatchObject({ lost: 0, duplicates: 0 });
    }
    expect(executionsOk(report)).toBe(true);
    // What users feel (issue 17): nothing lost or hidden. The fan-out replay that resumes at the map
    // re-runs the parts that had succeeded: those are the only side effects applied twice, until steps
    // keep an idempotency record (issue 17 item 3); RESULT is OK exactly when there are none.
    expect(report.usersFeel).toMatchObject({ lost: 0, hidden: 0 });
    expect(report.usersFeel.sideEffects.duplicatedKeys.filter((k) => !/\|ProcessPart\|\d+$/.test(k))).toEqual([]);
    expect(reportOk(report)).toBe(report.usersFeel.duplicatedSideEffects === 0);
  });

  it('holds the API for its window: no call into it, no retry during it; the tasks wait in the spool and resume at CallApi after it', () => {
    const e = expected();
    expect(report.window).toMatchObject({ window: '01:00-04:00', hold: 'operator', dependencies: ['orders-api'], callsIntoWindow: 0, retriesDuringWindow: 0, heldHours: 3 });
    expect(report.api.maintenance).toBe(0);
    expect(e.window.held).toBe(108);
    expect(report.jobs['example-api'].spooledByError.DependencyOnHold).toBe(e.window.held);
    expect(report.operator.holds).toEqual([
      { dependency: 'orders-api', on: true, at: `${run.day} 01:00` },
      { dependency: 'orders-api', on: false, at: `${run.day} 04:00` },
    ]);
    const held = report.replayRounds.filter((r) => r.errorType === 'DependencyOnHold');
    expect(held.reduce((n, r) => n + r.started, 0)).toBe(e.window.held);
    // Resumed at the failed step (CallApi), not started over: Fetch's output came from the spool.
    expect(held.every((r) => r.resumed === r.started && r.held === 0)).toBe(true);
    expect(report.replayRounds.every((r) => r.at >= `${run.day} 04:00`)).toBe(true);
    const hours = report.hourly.map((h) => [h.hour.slice(11), h.maintenance, h.held, h.retries]);
    expect(hours.filter(([, m]) => m)).toEqual([
      ['01', true, true, 0],
      ['02', true, true, 0],
      ['03', true, true, 0],
    ]);
    expect(hours.filter(([, m, h]) => !m && h)).toEqual([]);
  });

  it('replays the fan-out job\'s failed map at the map, and the step timeout at CallApi', () => {
    expect(report.jobs['example-fanout'].spooledByError).toEqual({ TransientError: 1 });
    expect(report.replayRounds.some((r) => r.errorType === 'TransientError' && r.started === 1 && r.resumed === 1)).toBe(true);
    expect(report.jobs['example-api'].spooledByError['States.Timeout']).toBe(1);
    expect(report.replayRounds.some((r) => r.errorType === 'States.Timeout' && r.started === 1 && r.resumed === 1)).toBe(true);
    const timedOut = Number(report.queries.dailyCounts.find((r) => r.type === 'worker' && r.result === 'TimedOut')?.records ?? 0);
    expect(timedOut).toBe(1);
  });

  it('delivers every FAILED end to the status-change capture, which spools none of them again', () => {
    const failed = report.executions - (report.succeededFirstTry + report.recoveredByRetry + report.replayed);
    expect(failed).toBeGreaterThan(100);
    expect(report.outside.captures).toEqual({ alreadySpooled: failed });
    expect(report.outside).toMatchObject({ stopped: 0, aborted: 0, timedOut: 0, captureFailures: 0, failedTicks: [] });
    expect(report.unfinished).toEqual([]);
  });

  it('writes the parameter log as Firehose would and the saved queries find nothing lost', () => {
    const parts = Object.keys(report.filesPerPartition).sort();
    expect(parts).toEqual(['client/year=2026/month=11/day=25', 'worker/year=2026/month=11/day=25']);
    // Buffered: far fewer objects than records.
    expect(report.filesPerPartition[parts[1]]).toBeLessThan(report.records.worker / 3);
    expect(report.queries.lostTasksByDay).toEqual([{ day: run.day, lost: 0 }]);
    const count = (job: string, type: string, result: string): number =>
      Number(report.queries.dailyCounts.find((r) => r.job === job && r.type === type && r.result === result)?.records ?? 0);
    for (const [job, c] of Object.entries(report.jobs)) {
      // One Started client record per execution: the starter's for each task's first attempt, reprocess's for each
      // replay it started (the lost-task monitor counts per attempt).
      expect(count(job, 'client', 'Started')).toBe(c.executions);
      expect(c.executions).toBeGreaterThan(c.tasks);
      expect(count(job, 'worker', 'Success')).toBe(c.succeededFirstTry + c.recoveredByRetry + c.replayed);
      expect(count(job, 'worker', 'Failure') + count(job, 'worker', 'TimedOut')).toBe(c.executions - count(job, 'worker', 'Success'));
    }
  });

  it('shows per-job counts and the window in the text and the page', () => {
    const text = renderText(report);
    expect(text).toMatch(/^ {2}tasks +\d+ +\d+ +\d+$/m);
    expect(text).toContain('example-fanout');
    expect(text).toContain('calls into the window 0, retries during it 0');
    const html = renderHtml(report);
    expect(html).toContain('<table class="jobs">');
    expect(html).toContain(`<th>example-fanout</th>`);
    expect(html.match(/dependency on hold<\/title>/g)?.length).toBe(3 * 5); // three held hours on each of the five charts
  });
});
