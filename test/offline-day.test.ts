import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { OfflineReport, runOfflineDay } from '../local/offline-day/run';
import { reportOk } from '../local/offline-day/report';
import { expectedFromPlan } from './support/fault-expectations';
import { appConfig } from '../bin/config';

// The fault plan below is the API example's; the fan-out example has its own tests.
const apiOnly = { ...appConfig, jobs: appConfig.jobs.filter((j) => j.name === 'example-api'), stages: undefined, defaultStage: undefined };

/**
 * The offline day, smaller: 00:00-05:00 of one day in the app time zone, which holds the default
 * profile's maintenance window (01:00-04:00) and the operator's replay when it ends. The slow API
 * call is moved from noon to 04:30 so the step-timeout path runs too. The report's numbers must
 * match what the seeded fault plan implies for every task.
 */
describe('offline run (5 simulated hours, default faults)', () => {
  const seed = 7;
  const hours = 5;
  const day = '2026-11-25';
  const slowAt = '04:30';
  let out: string;
  let report: OfflineReport;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'offline-'));
    report = await runOfflineDay({ projectRoot: resolve(__dirname, '..'), outDir: out, hours, seed, faults: 'default', startDay: day, faultPlanOverrides: { slowAt }, appConfig: apiOnly });
  }, 60_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  const expected = () => expectedFromPlan({ seed, hours, day, slowAt });

  it('accounts for every task as the fault plan implies: first try, recovered by retry, replayed, or still spooled', () => {
    const e = expected();
    expect(e.replayed).toBeGreaterThan(100); // the window really was in the run
    expect(report).toMatchObject({
      ticks: e.ticks,
      tasks: e.tasks,
      succeededFirstTry: e.firstTry,
      recoveredByRetry: e.recovered,
      replayed: e.replayed,
      stillSpooled: { total: e.rejected },
      lost: 0,
      duplicates: 0,
      quarantined: 0,
    });
    if (e.rejected > 0) expect(report.stillSpooled.byError).toEqual({ ExternalApiRejectedError: e.rejected });
    expect(report.succeededFirstTry + report.recoveredByRetry + report.replayed + report.stillSpooled.total).toBe(report.tasks);
    expect(reportOk(report)).toBe(true);
  });

  it('spools every maintenance-window execution with the retryable error and replays them after the window', () => {
    const e = expected();
    expect(report.spooledByError.ExternalApiUnavailableError).toBe(e.replayed - e.timedOut);
    expect(report.replayRounds.length).toBeGreaterThan(0);
    expect(report.replayRounds.every((r) => r.at >= `${day} 04`)).toBe(true);
    const maint = report.hourly.filter((h) => h.maintenance);
    expect(maint.map((h) => h.hour)).toEqual([`${day} 01`, `${day} 02`, `${day} 03`]);
    expect(maint.every((h) => h.spooled > 0 && h.retries > 0)).toBe(true);
    // The maintenance failures are replayed when the window ends, the timed-out task at the final
    // replay at the end of the period, which counts in the period's last hour (04).
    expect(report.hourly.map((h) => h.hour)).toEqual([0, 1, 2, 3, 4].map((h) => `${day} 0${h}`));
    expect(report.hourly.find((h) => h.hour === `${day} 04`)!.replayed).toBe(e.replayed);
    expect(report.hourly.reduce((n, h) => n + h.replayed, 0)).toBe(e.replayed);
  });

  it('ends the slow call in States.Timeout without a retry, spools it, and the final replay recovers it', () => {
    const e = expected();
    expect(e.timedOut).toBe(1);
    expect(report.spooledByError['States.Timeout']).toBe(1);
    expect(report.replayRounds.some((r) => r.errorType === 'States.Timeout' && r.started === 1)).toBe(true);
    const timedOut = Number(report.queries.dailyCounts.find((r) => r.type === 'worker' && r.result === 'TimedOut')?.records ?? 0);
    expect(timedOut).toBe(1);
  });

  it('writes the parameter log as Firehose would and the saved queries find nothing lost', () => {
    const parts = Object.keys(report.filesPerPartition).sort();
    expect(parts).toEqual(['client/year=2026/month=11/day=25', 'worker/year=2026/month=11/day=25']);
    // Buffered: far fewer objects than records.
    expect(report.filesPerPartition[parts[1]]).toBeLessThan(report.records.worker / 3);
    expect(report.queries.lostTasksByDay).toEqual([{ day, lost: 0 }]);
    const count = (type: string, result: string): number =>
      Number(report.queries.dailyCounts.find((r) => r.type === type && r.result === result)?.records ?? 0);
    expect(count('client', 'Started')).toBe(report.tasks);
    expect(count('worker', 'Success')).toBe(report.succeededFirstTry + report.recoveredByRetry + report.replayed);
    expect(count('worker', 'Failure') + count('worker', 'TimedOut')).toBe(report.executions - count('worker', 'Success'));
  });
});

