import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { OfflineReport, runOfflineDay } from '../local/offline-day/run';
import { asExpected, expectedFromPlan } from './support/fault-expectations';
import { fixtureConfig } from './support/fixture-config';

/**
 * A run that ends inside the maintenance window (00:00-02:00; the default window is 01:00-04:00):
 * the operator holds the API at 01:00 and, the window not being over, neither releases it nor
 * replays. A replay would be held by reprocess (or, without the hold, fail again and spend the
 * task's replay budget until reprocess quarantined it); the failures must wait in the spool, whole,
 * for after the window. (Its own file: the offline run is once per process.)
 */
describe('offline run ending in the maintenance window', () => {
  const run = { seed: 7, hours: 2, day: '2026-11-25' } as const;
  let out: string;
  let report: OfflineReport;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'offline-maint-'));
    report = await runOfflineDay({ projectRoot: resolve(__dirname, '..'), appConfig: fixtureConfig, outDir: out, hours: run.hours, seed: run.seed, faults: 'default', startDay: run.day });
  }, 180_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('replays nothing while the API is in maintenance and keeps every failure in the spool', () => {
    const e = expectedFromPlan(run);
    expect(e.window.held).toBeGreaterThan(20); // the hour 01:00-02:00 really was in maintenance
    expect(report.replayRounds).toEqual([]);
    expect(report.replayed).toBe(0);
    expect(report.executions).toBe(report.tasks); // no replay execution was started
    expect(report.stillSpooled.byError.DependencyOnHold).toBe(e.window.held);
    // The fan-out job's failed map (00:15) waits too: the operator's last look fell in the window.
    expect(report.jobs['example-fanout'].stillSpooled.byError).toEqual({ TransientError: 1 });
    expect(asExpected(report.jobs['example-api'])).toEqual(e.jobs['example-api']);
    expect(asExpected(report.jobs['example-fanout'])).toEqual(e.jobs['example-fanout']);
    expect(report).toMatchObject({ quarantined: 0, lost: 0, duplicates: 0 });
  });

  it('leaves the hold on at the end: the window is not over', () => {
    expect(report.operator.holds).toEqual([{ dependency: 'orders-api', on: true, at: `${run.day} 01:00` }]);
    expect(report.window).toMatchObject({ callsIntoWindow: 0, retriesDuringWindow: 0, heldHours: 1 });
  });

  it('refuses a second run in the same process instead of talking to the first run\'s endpoints', async () => {
    await expect(runOfflineDay({ projectRoot: resolve(__dirname, '..'), appConfig: fixtureConfig, outDir: out, hours: 1 })).rejects.toThrow(/once per process/);
  });
});
