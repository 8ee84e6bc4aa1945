import { rmSync } from 'node:fs';
import type { OfflineReport } from '../local/offline-day/run';
import { reportOk } from '../local/offline-day/report';
import { runShortHighVolumeTick, SHORT_JOB } from './support/short-job';

/**
 * One tick of a two-step job in the high-volume mode, through the real path: its producer, the
 * high-volume tick queue, the real batch starter, the synthesized parent run by the Map Run stand-in
 * (local/offline-day/map-run.ts: 45 items in children of MaxItemsPerBatch, the synthesized child
 * definition per batch, the ResultWriter files in the S3 stand-in, then SpoolFailedChildren with the
 * real map-failures handler). The world is no kinder than AWS documents for Express children: every
 * child runs twice (at least once) and its second run is ended at its five minutes after its first
 * step. No operator (one tick): a task ends succeeded or parked in the spool.
 */
describe('offline run of a high-volume job whose Express children run twice and time out', () => {
  let out: string;
  let report: OfflineReport;

  beforeAll(async () => {
    ({ out, report } = await runShortHighVolumeTick('offline-hv-', { awsFaultOverrides: { expressChildTwice: 1, expressChildTimeout: 1 } }));
  }, 180_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('ran the parent through the Map Run stand-in: children per batch, each run twice, the second killed', () => {
    const m = report.world.mapRuns!;
    expect(m.parents).toBeGreaterThanOrEqual(1);
    expect(m.items).toBe(45);
    // 45 items in batches of MaxItemsPerBatch (20 for this job): 3 children, each run twice.
    expect(m.childrenRepeated).toBe(3);
    expect(m.children).toBe(6);
    expect(m.childrenTimedOut).toBe(3);
    expect(report.world.counts.expressChildrenTimedOut).toBe(3);
  });

  it("every task ended: the killed children's items spooled by SpoolFailedChildren (worker TimedOut), none lost, none hidden", () => {
    const job = report.jobs[SHORT_JOB];
    expect(job.tasks).toBe(45);
    expect(job.lost).toBe(0);
    expect(job.stillSpooled.total).toBe(45);
    expect(job.stillSpooled.byError).toEqual({ ExecutionTimedOut: 45 });
    const daily = report.queries.dailyCounts.filter((r) => r.job === SHORT_JOB || r.module === SHORT_JOB);
    expect(daily.length).toBeGreaterThan(0);
    expect(report.usersFeel.lost).toBe(0);
    expect(report.usersFeel.hidden).toBe(0);
  });

  it("no side effect applied twice: the repeated child's steps answer from their records", () => {
    const posted = report.usersFeel.sideEffects;
    expect(posted.keys).toBe(45);
    expect(posted.duplicated).toBe(0);
    expect(report.usersFeel.duplicatedSideEffects).toBe(0);
    expect(reportOk(report)).toBe(true);
  });
});
