import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { OfflineReport, runOfflineDay } from '../local/offline-day/run';
import { executionsOk, renderText, reportOk } from '../local/offline-day/report';
import { asExpected, expectedFromPlan } from './support/fault-expectations';
import { fixtureConfig } from './support/fixture-config';

/**
 * `--faults outside` over three simulated hours, its faults moved close together: the operator
 * stops an execution stuck on a hanging API call (00:10), an execution's CallApi retries outlast its
 * execution timeout (00:20), the API producer fails its ticks from 00:30 until its fix at 00:40, the
 * fan-out job's map fails at 00:15, and the API's maintenance window is 01:00-02:00 (held). The
 * status-change capture gets every FAILED / ABORTED / TIMED_OUT end as EventBridge would deliver it.
 */
describe('offline run with the outside-the-Catch faults (3 simulated hours)', () => {
  const run = {
    seed: 3,
    hours: 3,
    day: '2026-11-25',
    faults: 'outside',
    overrides: { maintenance: { startMinute: 60, endMinute: 120 }, slowAt: null, stopAt: '00:10', stallAt: '00:20', producerFailAt: '00:30' },
  } as const;
  let out: string;
  let report: OfflineReport;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'offline-outside-'));
    report = await runOfflineDay({ projectRoot: resolve(__dirname, '..'), appConfig: fixtureConfig, outDir: out, hours: run.hours, seed: run.seed, faults: run.faults, startDay: run.day, faultPlanOverrides: run.overrides });
  }, 240_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  const expected = () => expectedFromPlan(run);

  it('accounts for every task of each job as the plan implies: lost 0, duplicated 0', () => {
    const e = expected();
    expect(e.jobs['example-api']).toMatchObject({ aborted: 1, timedOut: 1 });
    expect(asExpected(report.jobs['example-api'])).toEqual(e.jobs['example-api']);
    expect(asExpected(report.jobs['example-fanout'])).toEqual(e.jobs['example-fanout']);
    expect(report).toMatchObject({ tasks: e.tasks, lost: 0, duplicates: 0, quarantined: 0 });
    expect(report.queries.lostTasksByDay).toEqual([{ day: run.day, lost: 0 }]);
    expect(executionsOk(report)).toBe(true);
    // What users feel (issue 17): nothing lost or hidden. The fan-out replay that resumes at the map
    // re-runs the parts that had succeeded: those are the only side effects applied twice, until steps
    // keep an idempotency record (issue 17 item 3); RESULT is OK exactly when there are none.
    expect(report.usersFeel).toMatchObject({ lost: 0, hidden: 0 });
    expect(report.usersFeel.sideEffects.duplicatedKeys.filter((k) => !/\|ProcessPart\|\d+$/.test(k))).toEqual([]);
    expect(reportOk(report)).toBe(report.usersFeel.duplicatedSideEffects === 0);
  });

  it('spools the stopped and the timed-out execution through the capture, once each, and a later replay resumes them at CallApi', () => {
    expect(report.outside).toMatchObject({ stopped: 1, aborted: 1, timedOut: 1, captureFailures: 0 });
    expect(report.operator.stops.map((s) => s.at)).toEqual([`${run.day} 00:10`]);
    expect(report.jobs['example-api'].spooledByError).toMatchObject({ ExecutionAborted: 1, ExecutionTimedOut: 1 });
    expect(report.outside.captures.spooled).toBe(2);
    for (const errorType of ['ExecutionAborted', 'ExecutionTimedOut']) {
      const rounds = report.replayRounds.filter((r) => r.errorType === errorType);
      expect(rounds).toEqual([expect.objectContaining({ at: `${run.day} 02:00`, started: 1, resumed: 1 })]);
    }
    const count = (result: string): number => Number(report.queries.dailyCounts.find((r) => r.job === 'example-api' && r.type === 'worker' && r.result === result)?.records ?? 0);
    // The capture wrote these worker records (the workflow never reached its record states).
    expect(count('Aborted')).toBe(1);
    expect(count('TimedOut')).toBe(1);
    expect(report.api.hung).toBe(1);
    expect(report.api.stalled).toBeGreaterThanOrEqual(2); // slow 503s, retried, until the execution timed out
  });

  it('delivers every FAILED end to the capture, which ignores the ones the workflow spooled: nothing is spooled twice', () => {
    const notSucceeded = report.executions - (report.succeededFirstTry + report.recoveredByRetry + report.replayed);
    expect(report.outside.captures).toEqual({ spooled: 2, alreadySpooled: notSucceeded - 2 });
    const spooled = Object.values(report.spooledByError).reduce((a, b) => a + b, 0);
    expect(spooled).toBe(notSucceeded); // one spool message per execution that did not succeed
  });

  it('keeps the failed ticks after Lambda\'s two retries and the operator re-runs them through reprocess, as the runbook says: every task started once', () => {
    const e = expected();
    const ticks = e.failedTicks.map((t) => t.tick.toISOString().replace('.000Z', 'Z'));
    expect(ticks).toEqual(['2026-11-24T15:30:00Z', '2026-11-24T15:35:00Z']);
    // docs/runbook.md, "Re-run a failed invocation": a dry run lists both records, then a re-run of the
    // producer's records re-invokes both and deletes them (nothing is left in the queue).
    expect(report.operator.failedInvocationRuns).toEqual([
      { at: `${run.day} 00:40`, payload: { source: 'failedInvocations', dryRun: true, max: 2 }, dryRun: true, wouldReinvoke: 2, reinvoked: 0, invalid: 0, failed: 0, skipped: 0, remaining: 2 },
      { at: `${run.day} 00:40`, payload: { source: 'failedInvocations', functions: ['producer:example-api'], max: 2 }, dryRun: false, wouldReinvoke: 0, reinvoked: 2, invalid: 0, failed: 0, skipped: 0, remaining: 0 },
    ]);
    expect(report.outside.failedInvocationsLeft).toBe(0);
    expect(report.outside.failedTicks).toEqual(
      ticks.map((tick) => ({
        job: 'example-api',
        tick,
        attempts: 3,
        outcome: 'kept',
        // Re-invoked by reprocess (one Lambda attempt, the fix deployed): the producer's own answer.
        rerun: expect.objectContaining({
          function: 'producer:example-api',
          tick,
          event: expect.objectContaining({ scheduledTime: tick }),
          at: `${run.day} 00:40`,
          via: { source: 'failedInvocations', messageId: expect.any(String) },
          attempts: 1,
          outcome: 'planned',
          tasks: 3,
        }),
        startedOnce: 3,
        startedTwice: 0,
        // The profile broke them: the run is still OK (a tick failing on its own is not).
        injected: true,
        errors: ['TransientError', 'TransientError', 'TransientError'],
      })),
    );
    expect(new Set(report.operator.reruns.map((r) => r.via.messageId)).size).toBe(2);
    for (const tick of ticks) expect(renderText(report)).toContain(`(${tick}): 3 attempts, kept, re-run ${run.day} 00:40 through reprocess (failedInvocations) -> planned (3 tasks); tasks started once 3, twice 0`);
    expect(renderText(report)).toContain('failed-invocation records left 0');
    expect(report.unfinished).toEqual([]);
  });

  it('holds the API for its window as in the default day', () => {
    expect(report.window).toMatchObject({ window: '01:00-02:00', callsIntoWindow: 0, retriesDuringWindow: 0, heldHours: 1 });
  });
});
