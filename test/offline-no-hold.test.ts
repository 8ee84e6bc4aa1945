import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { OfflineReport, runOfflineDay } from '../local/offline-day/run';
import { asExpected, callApiAttempts, expectedFromPlan } from './support/fault-expectations';
import { fixtureConfig } from './support/fixture-config';

/**
 * `--no-hold`: the behaviour before holds, kept for comparison. The maintenance window is moved to
 * 00:30-01:30 of a two-hour run: every call of every task in it reaches the API (503) and CallApi
 * retries each one up to its limit; the tasks are spooled as ExternalApiUnavailableError and the
 * operator replays them when the window ends. The held runs (offline-day, offline-planned-windows)
 * show the same window with no call and no retry.
 */
describe('offline run without a hold (2 simulated hours)', () => {
  const run = { seed: 11, hours: 2, day: '2026-11-25', hold: 'none', overrides: { maintenance: { startMinute: 30, endMinute: 90 } } } as const;
  let out: string;
  let report: OfflineReport;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'offline-nohold-'));
    report = await runOfflineDay({ projectRoot: resolve(__dirname, '..'), appConfig: fixtureConfig, outDir: out, hours: run.hours, seed: run.seed, hold: run.hold, startDay: run.day, faultPlanOverrides: run.overrides });
  }, 180_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('sends every attempt into the window and retries each', () => {
    const e = expectedFromPlan(run);
    expect(e.window.tasks).toBe(12 * 3); // 12 API ticks of 3 tasks (the fan-out job depends on nothing)
    expect(report.window).toMatchObject({ hold: 'none', callsIntoWindow: e.window.calls, retriesDuringWindow: e.window.retries, heldHours: 0 });
    expect(e.window.calls).toBe(e.window.tasks * callApiAttempts());
    expect(report.api.maintenance).toBe(e.window.calls);
    expect(report.operator.holds).toEqual([]);
    expect(report.hourly.every((h) => !h.held)).toBe(true);
  });

  it('spools them as unavailable and replays them after the window; lost 0, duplicated 0', () => {
    const e = expectedFromPlan(run);
    expect(report.jobs['example-api'].spooledByError.ExternalApiUnavailableError).toBe(e.window.tasks);
    expect(report.jobs['example-api'].spooledByError.DependencyOnHold).toBeUndefined();
    expect(asExpected(report.jobs['example-api'])).toEqual(e.jobs['example-api']);
    expect(asExpected(report.jobs['example-fanout'])).toEqual(e.jobs['example-fanout']);
    expect(report).toMatchObject({ lost: 0, duplicates: 0, quarantined: 0 });
  });
});
