import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
// The one test that reads your config: every other test runs on test/support/fixture-config.ts.
import { appConfig } from '../bin/config';
import { resolveConfig } from '../lib/config/validate';
import { failureReasons } from '../local/offline-day/report';
import { OfflineReport, runOfflineDay } from '../local/offline-day/run';
import { synthApp } from './support/synth-app';

/**
 * YOUR config (bin/config.ts), whatever jobs it has: it validates for every stage,
 * each stage synthesizes (cdk-nag included, as `cdk synth` runs it), and each job runs one tick
 * offline (`npx scheduled-jobs local <job>` for all of them at once) with nothing lost and no tick
 * failed. When this fails after you changed the config or a job, the message says which. With no
 * job at all, it checks only that synth refuses the config with its fix (the platform needs a job).
 */

const root = resolve(__dirname, '..');
const fileExists = (p: string) => existsSync(join(root, p));
const stageNames = Object.keys(appConfig.stages ?? {});
/** The stages to check; a config without stages is checked as `cdk synth` without `-c stage=` builds it. */
const stages: Array<string | undefined> = stageNames.length > 0 ? stageNames : [undefined];
const jobs = appConfig.jobs.map((j) => j.name);

if (jobs.length === 0) {
  // lib/config/validate.ts refuses an app without jobs (reprocess and the status-change capture serve
  // the jobs' state machines): `cdk synth` stops with this message, and so there is nothing else to test.
  test('no jobs are configured: synth refuses the config with its fix (add one with `npx scheduled-jobs new-job <name>`)', () => {
    expect(() => resolveConfig(appConfig, { allJobs: true, fileExists })).toThrow(/jobs is empty: declare at least one job/);
  });
} else {
  describe.each(stages.map((s) => [s ?? '(default stage)', s] as const))('stage %s', (_label, stage) => {
    test('the config validates (every problem listed with its fix otherwise)', () => {
      expect(() => resolveConfig(appConfig, { stage, fileExists })).not.toThrow();
    });

    test('the app synthesizes with a workflow and a schedule for each deployed job, and cdk-nag finds nothing unacknowledged', () => {
      const { app, stack, config } = synthApp((c) => c, `UserConfig${stage ?? ''}`, { base: appConfig, stage: stage ?? appConfig.defaultStage });
      for (const job of config.jobs) {
        expect(stack.workflows.get(job.name)).toBeDefined();
        expect(stack.producers.get(job.name)).toBeDefined();
      }
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      expect(() => app.synth({ force: true })).not.toThrow();
    });
  });

  test('every job validates when all are deployed at once (the offline run deploys them all)', () => {
    expect(() => resolveConfig(appConfig, { allJobs: true, fileExists })).not.toThrow();
  });

  describe('one offline tick of each job (local stand-ins, each job\'s stubs.ts)', () => {
    let out: string;
    let report: OfflineReport;
    beforeAll(async () => {
      out = mkdtempSync(join(tmpdir(), 'user-config-'));
      report = await runOfflineDay({ projectRoot: root, outDir: out, appConfig, singleTick: {}, hours: 1, faults: 'none' });
    }, 180_000);
    afterAll(() => rmSync(out, { recursive: true, force: true }));

    test.each(jobs)('%s: its tick planned, every task accounted for, nothing lost or duplicated', (job) => {
      const reasons = failureReasons(report).filter((r) => r.startsWith(`${job} `) || r.startsWith('HTTP call'));
      expect(reasons).toEqual([]);
      expect(report.outside.failedTicks.filter((t) => t.job === job)).toEqual([]);
      const c = report.jobs[job];
      expect(c.ticks).toBe(1);
      expect(c.lostWhy).toEqual({}); // on failure: each lost task with what the books found of it
      expect(c).toMatchObject({ lost: 0, duplicates: 0, lostTaskIds: [] });
      expect(c.succeededFirstTry + c.recoveredByRetry + c.stillSpooled.total + c.quarantined).toBe(c.tasks);
    });

    test('the run as a whole is OK', () => {
      expect(failureReasons(report)).toEqual([]);
    });
  });
}
