import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { OfflineReport, runOfflineDay, withPlannedWindows } from '../local/offline-day/run';
import { faultPlan } from '../local/fake-external-api';
import { asExpected, expectedFromPlan } from './support/fault-expectations';
import { fixtureConfig } from './support/fixture-config';

/**
 * `--planned-windows`: the API's maintenance (moved to 00:30-01:30 of a two-hour run) is declared
 * in the config as a planned hold window of `orders-api`, and nobody operates the run: no hold is
 * written, nothing is replayed. CallApi reads the window from its environment (HOLD_WINDOWS, from
 * the synthesized template) on the simulated clock, so no call reaches the API in it; the held tasks
 * wait in the spool for the one replay after the window (docs/reprocess.md).
 */
describe('offline run with the window planned in the config and no operator (2 simulated hours)', () => {
  const run = { seed: 5, hours: 2, day: '2026-11-25', hold: 'planned-windows', overrides: { maintenance: { startMinute: 30, endMinute: 90 } } } as const;
  let out: string;
  let report: OfflineReport;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'offline-planned-'));
    report = await runOfflineDay({ projectRoot: resolve(__dirname, '..'), appConfig: fixtureConfig, outDir: out, hours: run.hours, seed: run.seed, hold: run.hold, startDay: run.day, faultPlanOverrides: run.overrides });
  }, 180_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('declares the window as a cron in the app time zone', () => {
    const plan = { ...faultPlan('default', 5), ...run.overrides };
    expect(withPlannedWindows(fixtureConfig, ['orders-api'], plan).dependencies!['orders-api'].windows).toEqual([{ cron: 'cron(30 0 * * ? *)', durationMinutes: 60 }]);
  });

  it('makes no call into the window and no retry during it, with no operator at all', () => {
    const e = expectedFromPlan(run);
    expect(report.window).toMatchObject({ hold: 'planned-windows', callsIntoWindow: 0, retriesDuringWindow: 0 });
    expect(report.api.maintenance).toBe(0);
    expect(report.operator).toEqual({ holds: [], stops: [], failedInvocationRuns: [], reruns: [] });
    expect(report.replayRounds).toEqual([]);
    // 00:30-01:30 touches the hours 00 and 01.
    expect(report.hourly.map((h) => [h.hour.slice(11), h.held])).toEqual([
      ['00', true],
      ['01', true],
    ]);
    expect(report.jobs['example-api'].stillSpooled.byError.DependencyOnHold).toBe(e.window.held);
  });

  it('ends every task succeeded or spooled: lost 0, duplicated 0', () => {
    const e = expectedFromPlan(run);
    expect(asExpected(report.jobs['example-api'])).toEqual(e.jobs['example-api']);
    expect(asExpected(report.jobs['example-fanout'])).toEqual(e.jobs['example-fanout']);
    expect(report).toMatchObject({ replayed: 0, lost: 0, duplicates: 0, quarantined: 0 });
  });
});
