import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { OfflineReport, runOfflineDay } from '../local/offline-day/run';
import { renderText, reportOk } from '../local/offline-day/report';

/**
 * A short `--faults aws` day (docs/aws-promises.md) with the reconciler off: one task meets an API
 * that stalls for the whole run (00:10), so its execution times out; the capture spools it, the
 * operator replays it at the end, and the replay times out too. The replay's TIMED_OUT status change
 * is dropped (best effort, aimed at it here): nothing captures it, so users feel a lost task and
 * RESULT must not be OK. It is not hidden: reprocess wrote a client record for the replay (attempt
 * 2) and the lost-task monitor counts per attempt, so the monitor lists it. The fan-out job's map
 * fails at 00:15 and its replay resumes at the map: the parts that had succeeded answer from their
 * step records, so no side effect is applied twice.
 */
describe('offline run in a world no kinder than AWS, without a reconciler (1 simulated hour)', () => {
  let out: string;
  let report: OfflineReport;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'offline-aws-'));
    report = await runOfflineDay({
      projectRoot: resolve(__dirname, '..'),
      outDir: out,
      hours: 1,
      seed: 1,
      faults: 'outside',
      awsFaults: 'aws',
      reconciler: false,
      startDay: '2026-11-25',
      faultPlanOverrides: { maintenance: null, slowAt: null, stopAt: null, stallAt: '00:10', stallMinutes: 600, producerFailAt: null },
      awsFaultOverrides: { dropEventWhen: (key) => key.endsWith('-a2|TIMED_OUT|0') },
    });
  }, 180_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('reports what users feel and the world it ran in', () => {
    expect(report.world.profile).toBe('aws');
    expect(['off', 'absent']).toContain(report.world.reconciler);
    expect(report.world.reconcilerRuns).toBe(0);
    expect(report.world.counts.eventsDropped).toBe(1);
    for (const k of ['lost', 'duplicatedSideEffects', 'hidden'] as const) expect(typeof report.usersFeel[k]).toBe('number');
    expect(report.simulatedRetryWaitSeconds).toBeGreaterThan(0);
    expect(renderText(report)).toMatch(/WHAT USERS FEEL: lost \d+, duplicatedSideEffects \d+ \(of \d+ side effects\), hidden \d+/);
  });

  it('the replay that timed out unseen is lost (nothing captured it) but not hidden (the monitor counts attempts): RESULT is not OK', () => {
    const stalled = report.usersFeel.lostTaskIds.filter((t) => t.startsWith('example-api-'));
    expect(stalled).toHaveLength(1);
    expect(report.usersFeel.hiddenTaskIds).not.toContain(stalled[0]);
    expect(report.usersFeel.hidden).toBe(0);
    // The execution books saw the first timeout spooled and replayed; only the users' view shows the loss.
    expect(report.outside.timedOut).toBeGreaterThanOrEqual(2);
    expect(reportOk(report)).toBe(false);
    expect(renderText(report)).toContain('RESULT: FAILED');
  });

  it('the fan-out replay resumed at the map applies no part twice (the parts answer from their step records)', () => {
    expect(report.usersFeel.sideEffects.keys).toBeGreaterThan(0);
    expect(report.usersFeel.duplicatedSideEffects).toBe(0);
  });
});
