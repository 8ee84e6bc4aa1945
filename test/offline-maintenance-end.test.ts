import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { OfflineReport, runOfflineDay } from '../local/offline-day/run';
import { expectedFromPlan } from './support/fault-expectations';
import { appConfig } from '../bin/config';

// The fault plan below is the API example's; the fan-out example has its own tests.
const apiOnly = { ...appConfig, jobs: appConfig.jobs.filter((j) => j.name === 'example-api'), stages: undefined, defaultStage: undefined };

/**
 * A run that ends inside the maintenance window (00:00-02:00; the default window is 01:00-04:00):
 * the operator does not replay into it. A replay would fail again and spend the task's replay
 * budget until reprocess quarantined it; the failures must wait in the spool, whole, for after the
 * window. (Its own file: the offline run is once per process.)
 */
describe('offline run ending in the maintenance window', () => {
  const seed = 7;
  const hours = 2;
  const day = '2026-11-25';
  let out: string;
  let report: OfflineReport;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'offline-maint-'));
    report = await runOfflineDay({ projectRoot: resolve(__dirname, '..'), outDir: out, hours, seed, faults: 'default', startDay: day, appConfig: apiOnly });
  }, 60_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('replays nothing while the API is in maintenance and keeps every failure in the spool', () => {
    const e = expectedFromPlan({ seed, hours, day });
    expect(e.replayed).toBeGreaterThan(20); // the hour 01:00-02:00 really was in maintenance
    expect(report.replayRounds).toEqual([]);
    expect(report.replayed).toBe(0);
    expect(report.executions).toBe(report.tasks); // no replay execution was started
    expect(report.stillSpooled.byError.ExternalApiUnavailableError).toBe(e.replayed);
    expect(report).toMatchObject({ quarantined: 0, lost: 0, duplicates: 0, succeededFirstTry: e.firstTry, recoveredByRetry: e.recovered });
  });

  it('refuses a second run in the same process instead of talking to the first run\'s endpoints', async () => {
    await expect(runOfflineDay({ projectRoot: resolve(__dirname, '..'), outDir: out, hours: 1 })).rejects.toThrow(/once per process/);
  });
});
