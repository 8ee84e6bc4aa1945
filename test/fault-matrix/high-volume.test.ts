import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { OfflineReport, OfflineRunOptions } from '../../local/offline-day/run';
import { reportOk } from '../../local/offline-day/report';
import type { AppConfig } from '../../lib/config/types';
import { STEP_ENV } from '../../lambdas/shared/workflow-contract';
import { withForgetfulTickLedger, withoutLedgerLeases } from './aws-switches';
import { faultCase } from './matrix';
import { fixtureConfig } from '../support/fixture-config';
import { SHORT_JOB, withShortHighVolumeJob } from '../support/short-job';

/**
 * Fault-matrix rows of the HIGH-VOLUME mode (lib/high-volume-workflow.ts). The standard rows run in
 * ./world.ts; a high-volume parent's Distributed Map has no local engine there, so each row here is a
 * small focused offline run (as test/offline-high-volume.test.ts): the short two-step job alone, its
 * real producer, the real batch starter on the high-volume tick queue, the SYNTHESIZED parent run by
 * the Map Run stand-in (local/offline-day/map-run.ts: the synthesized child definition per batch with
 * the real step handlers, ResultWriter files in S3, then the real map-failures handler as
 * SpoolFailedChildren), the real reprocess for replays. Each row sets one AWS fault to certain (rate
 * 1) and asserts what users feel: lost 0, no side effect applied twice, nothing hidden.
 *
 * The building block each row relies on (docs/fault-matrix.md, "The high-volume mode"):
 * - hv-child-twice: the steps' idempotent step records (lambdas/shared/step.ts);
 * - hv-child-timeout: the parent's post-map step SpoolFailedChildren;
 * - hv-parent-start-503: the batch starter's StartFailed spool and the replay of a 5xx;
 * - hv-batch-twice: the tick ledger, else the deterministic parent names.
 */

/**
 * Building blocks switched off, to show which row depends on which (each as its own jest process):
 * - `FAULT_MATRIX_STEP_RECORDS=off`: every function runs without its STEP_RESULTS_TABLE (the step
 *   wrapper without its records, as ./world.ts does for the standard rows);
 * - `FAULT_MATRIX_POST_MAP_STEP=off`: the parent ends after its map (`postMapStep: false`);
 * - `FAULT_MATRIX_TICK_LEDGER=off`: a tick ledger that forgets between deliveries (./aws-switches.ts);
 * - `FAULT_MATRIX_LEDGER_LEASES=off`: a tick ledger whose leases hold nobody off (./aws-switches.ts).
 */
const STEP_RECORDS_OFF = process.env.FAULT_MATRIX_STEP_RECORDS === 'off';
const POST_MAP_STEP_OFF = process.env.FAULT_MATRIX_POST_MAP_STEP === 'off';
if (process.env.FAULT_MATRIX_TICK_LEDGER === 'off') withForgetfulTickLedger();
if (process.env.FAULT_MATRIX_LEDGER_LEASES === 'off') withoutLedgerLeases();
if (STEP_RECORDS_OFF) {
  const APP_MODEL = resolve(__dirname, '../../local/offline-day/app-model.ts');
  jest.doMock(APP_MODEL, () => {
    const actual = jest.requireActual<typeof import('../../local/offline-day/app-model')>(APP_MODEL);
    return {
      ...actual,
      functionEnvironment: (...a: Parameters<typeof actual.functionEnvironment>) => {
        const env = actual.functionEnvironment(...a);
        delete env[STEP_ENV.stepResultsTable];
        return env;
      },
    };
  });
}

const TASKS = 45;
/** MaxItemsPerBatch of the short job's parent (lib/high-volume-workflow.ts): 45 items make 3 children. */
const CHILDREN = 3;

const runs: string[] = [];
afterAll(() => runs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** One focused offline run of the short high-volume job alone, no API faults, the `aws` world with `overrides`. */
async function run(overrides: OfflineRunOptions['awsFaultOverrides'], extra: Partial<OfflineRunOptions> = {}): Promise<OfflineReport> {
  const out = mkdtempSync(join(tmpdir(), 'fm-hv-'));
  runs.push(out);
  const withShort = withShortHighVolumeJob(fixtureConfig);
  // runOfflineDay runs once per module registry (the handlers keep the SDK clients of their run):
  // each row loads it, and the handlers it requires, afresh.
  let report: OfflineReport | undefined;
  await jest.isolateModulesAsync(async () => {
    const { runOfflineDay } = require('../../local/offline-day/run') as typeof import('../../local/offline-day/run');
    report = await runOfflineDay({
    projectRoot: resolve(__dirname, '../..'),
    outDir: out,
    appConfig: extra.singleTick ? withShort : shortJobAlone(withShort),
    tasksPerTick: TASKS,
    seed: 1,
    faults: 'none',
    awsFaults: 'aws',
    // Only the fault of the row: every other at-least-once repeat and loss of the `aws` world off.
    awsFaultOverrides: { eventDrop: 0, eventDuplicate: 0, eventLate: 0, asyncDuplicate: 0, sqsDuplicate: 0, schedulerDuplicate: 0, expressChildTwice: 0, expressChildTimeout: 0, bucketOutage: null, ...overrides },
    ...extra,
    });
  });
  return report!;
}

/** The client records of a run's parameter log (gzip NDJSON files under `client/`). */
function clientRecords(out: string): Array<{ task_id: string; result: string; execution_arn: string | null }> {
  const dir = join(out, 'client');
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.gz'))
    .flatMap((f) => gunzipSync(readFileSync(join(dir, f))).toString('utf8').split('\n').filter(Boolean))
    .map((l) => JSON.parse(l) as { task_id: string; result: string; execution_arn: string | null });
}

/** `c` with the short job only (a run of hours ticks only it): the stages name no other job. */
function shortJobAlone(c: AppConfig): AppConfig {
  return { ...c, jobs: c.jobs.filter((j) => j.name === SHORT_JOB), stages: Object.fromEntries(Object.entries(c.stages ?? {}).map(([k, s]) => [k, { ...s, jobs: {} }])) };
}

/** The row's common promise: every task of the tick ended, none lost, none hidden, no side effect twice. */
function expectNothingLostOrDoubled(report: OfflineReport): void {
  const job = report.jobs[SHORT_JOB];
  expect(job.tasks).toBe(TASKS);
  expect(job.lost).toBe(0);
  expect(report.usersFeel.lost).toBe(0);
  expect(report.usersFeel.hidden).toBe(0);
  expect(report.usersFeel.sideEffects.keys).toBe(TASKS);
  expect(report.usersFeel.sideEffects.duplicated).toBe(0);
  expect(report.usersFeel.duplicatedSideEffects).toBe(0);
}

faultCase('hv-child-twice', async () => {
  const report = await run({ expressChildTwice: 1 }, { singleTick: { jobs: [SHORT_JOB] } });
  const m = report.world.mapRuns!;
  expect(m.childrenRepeated).toBe(CHILDREN);
  expect(m.children).toBe(2 * CHILDREN);
  expectNothingLostOrDoubled(report);
  // Both runs of each child succeeded: every task succeeded, nothing spooled.
  expect(report.jobs[SHORT_JOB].stillSpooled.byError).toEqual({}); // on failure: the errors they were spooled with
  expect(report.jobs[SHORT_JOB].duplicates).toBe(0);
  expect(reportOk(report)).toBe(true);
}, 120_000);

faultCase('hv-child-timeout', async () => {
  // Two simulated hours: the tick at 01:30, then the operator's round at the end replays the spool.
  const report = await run({ expressChildTimeout: 1 }, { hours: 2, postMapStep: !POST_MAP_STEP_OFF });
  const m = report.world.mapRuns!;
  expect(m.childrenTimedOut).toBe(CHILDREN);
  const job = report.jobs[SHORT_JOB];
  // Each item spooled once (the books name the child's error; the spool message says ExecutionTimedOut)...
  expect(Object.values(job.spooledByError).reduce((a, b) => a + b, 0)).toBe(TASKS);
  // ...and the operator's replay started each once, in the standard workflow.
  const rounds = report.replayRounds.filter((r) => r.errorType === 'ExecutionTimedOut');
  expect(rounds.reduce((a, r) => a + r.started, 0)).toBe(TASKS);
  expect(rounds.reduce((a, r) => a + r.alreadyStarted, 0)).toBe(0);
  expect(job.replayed).toBe(TASKS);
  expect(job.stillSpooled.byError).toEqual({}); // on failure: the errors they were spooled with
  expectNothingLostOrDoubled(report);
  expect(job.duplicates).toBe(0);
  expect(reportOk(report)).toBe(true);
}, 120_000);

faultCase('hv-parent-start-503', async () => {
  const report = await run({ parentStartUnavailable: 1 }, { hours: 2 });
  // The starter's bounded retries (the SDK's own under them) all met the 503.
  expect(report.world.counts.parentStartsUnavailable).toBeGreaterThan(1);
  expect(report.world.mapRuns!.parents).toBe(0);
  const job = report.jobs[SHORT_JOB];
  expect(job.startFailed).toBe(TASKS);
  const rounds = report.replayRounds.filter((r) => r.errorType === 'ServiceUnavailable');
  expect(rounds.reduce((a, r) => a + r.started, 0)).toBe(TASKS);
  expect(rounds.reduce((a, r) => a + r.alreadyStarted, 0)).toBe(0);
  expect(job.stillSpooled.byError).toEqual({}); // on failure: the errors they were spooled with
  expectNothingLostOrDoubled(report);
  expect(job.duplicates).toBe(0);
  expect(reportOk(report)).toBe(true);
}, 120_000);

faultCase('hv-batch-twice', async () => {
  const report = await run({ sqsDuplicate: 1 }, { singleTick: { jobs: [SHORT_JOB] } });
  expect(report.world.counts.sqsDuplicated).toBeGreaterThanOrEqual(1);
  // One parent per task: the ledger refuses the second delivery before any start; without it
  // (FAULT_MATRIX_TICK_LEDGER=off) the same parent names come back: Step Functions answers a
  // running execution's name with that execution (recorded Started again, same ARN) and a closed
  // one's with ExecutionAlreadyExists (recorded Duplicate). Never a second parent.
  const client = clientRecords(runs[runs.length - 1]);
  expect(new Set(client.map((r) => r.task_id)).size).toBe(TASKS);
  const parentsOf = new Map<string, Set<string | null>>();
  for (const r of client) {
    expect(['Started', 'Duplicate']).toContain(r.result);
    parentsOf.set(r.task_id, (parentsOf.get(r.task_id) ?? new Set()).add(r.execution_arn));
  }
  expect([...parentsOf.values()].every((p) => p.size === 1)).toBe(true);
  expect(report.world.mapRuns!.parents).toBe(new Set(client.map((r) => r.execution_arn)).size);
  expect(report.world.mapRuns!.items).toBe(TASKS);
  expect(report.world.mapRuns!.children).toBe(CHILDREN);
  const job = report.jobs[SHORT_JOB];
  expect(job.duplicates).toBe(0);
  expect(job.stillSpooled.byError).toEqual({}); // on failure: the errors they were spooled with
  expectNothingLostOrDoubled(report);
  expect(reportOk(report)).toBe(true);
}, 120_000);
