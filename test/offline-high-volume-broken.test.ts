import { rmSync } from 'node:fs';
import type { OfflineReport } from '../local/offline-day/run';
import { failureReasons, reportOk } from '../local/offline-day/report';
import { runShortHighVolumeTick, SHORT_JOB } from './support/short-job';

/**
 * The same tick as test/offline-high-volume.test.ts (every Express child ended at its five minutes),
 * but the parent ends after its map without its post-map step (`postMapStep: false`, as a
 * deployment without SpoolFailedChildren would): nothing spools the killed children's items, so
 * the run must FAIL with those tasks lost. What keeps the other test green is that step.
 */
describe('offline run of a high-volume job without the post-map step', () => {
  let out: string;
  let report: OfflineReport;

  beforeAll(async () => {
    ({ out, report } = await runShortHighVolumeTick('offline-hv-broken-', { awsFaultOverrides: { expressChildTwice: 0, expressChildTimeout: 1 }, postMapStep: false }));
  }, 180_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("loses the killed children's items and FAILS", () => {
    expect(report.world.mapRuns!.childrenTimedOut).toBe(3);
    expect(report.jobs[SHORT_JOB].lost).toBe(45);
    expect(report.usersFeel.lost).toBe(45);
    expect(report.usersFeel.lostTaskIds.every((t) => t.startsWith(`${SHORT_JOB}-`))).toBe(true);
    expect(reportOk(report)).toBe(false);
    expect(failureReasons(report).join('\n')).toMatch(/45 task\(s\) lost: example-short-/);
  });
});
