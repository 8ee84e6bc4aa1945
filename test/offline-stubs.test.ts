import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { failureReasons, renderText, reportOk } from '../local/offline-day/report';
import { OfflineReport, runOfflineDay } from '../local/offline-day/run';
import { stubbedConfig } from './support/stubbed-jobs';

/**
 * One offline tick of four test jobs (test/support/stubbed-jobs.ts), no injected fault: the job
 * whose stubs.ts answers its parameter, secret and API succeeds; a producer that cannot read its
 * parameter (no stub; not granted) fails its tick, and a step calling a URL no stub answers is
 * named; each fails the run, which no fault profile excuses.
 */
describe('offline tick with per-job stubs', () => {
  let out: string;
  let report: OfflineReport;
  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'offline-stubs-'));
    report = await runOfflineDay({
      projectRoot: resolve(__dirname, '..'),
      outDir: out,
      appConfig: stubbedConfig,
      singleTick: { jobs: ['stubbed', 'unstubbed', 'undeclared', 'leak'] },
      hours: 1,
      faults: 'none',
    });
  }, 240_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs only the named jobs, one tick each', () => {
    expect(Object.keys(report.jobs).sort()).toEqual(['leak', 'stubbed', 'undeclared', 'unstubbed']);
    expect(report.ticks).toBe(4);
  });

  it('the stubbed job: its producer read the stubbed parameter, each step the secret and the stubbed API (which checks the key)', () => {
    expect(report.jobs.stubbed).toMatchObject({ ticks: 1, tasks: 2, succeededFirstTry: 2, lost: 0, stillSpooled: { total: 0 } });
    expect(report.stubs.jobs).toEqual(['stubbed']);
    expect(report.stubs.httpCalls).toEqual({ 'POST https://items.example.com/v1/items': 2 });
    expect(report.stubs.secretReads).toMatchObject({ 'ssm:/stubbed/token:ok': expect.any(Number), 'secretsmanager:stubbed/key:ok': expect.any(Number) });
  });

  it('a producer whose parameter has no stub, or is granted to no function, fails its tick after Lambda\'s retries: not injected, so the run fails', () => {
    for (const job of ['unstubbed', 'undeclared']) {
      const ticks = report.outside.failedTicks.filter((t) => t.job === job);
      expect(ticks).toEqual([expect.objectContaining({ attempts: 3, outcome: 'kept', injected: false, startedOnce: 0 })]);
      expect(report.jobs[job].tasks).toBe(0);
    }
    expect(report.stubs.secretReads).toMatchObject({ 'ssm:/unstubbed/token:missing': expect.any(Number), 'ssm:/undeclared/token:denied': expect.any(Number) });
    expect(reportOk(report)).toBe(false);
    const reasons = failureReasons(report);
    expect(reasons.filter((r) => /^(unstubbed|undeclared) tick .* failed \(3 attempts, kept\), not a fault the profile injected$/.test(r))).toHaveLength(2);
    expect(renderText(report)).toContain('RESULT: FAILED: ');
    expect(renderText(report)).toContain('NOT INJECTED by the fault profile');
  });

  it('a call no stub answers never leaves the process: the step fails, the task is spooled (not lost), the call is named and fails the run', () => {
    expect(report.jobs.leak).toMatchObject({ tasks: 2, succeededFirstTry: 0, lost: 0, stillSpooled: { total: 2 } });
    expect(report.stubs.unhandledHttp).toEqual(['POST https://elsewhere.example.com/v1/items', 'POST https://elsewhere.example.com/v1/items']);
    expect(failureReasons(report)).toContain('HTTP call with no stub: POST https://elsewhere.example.com/v1/items');
  });
});
