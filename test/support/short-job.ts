import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AppConfig, JobConfig } from '../../lib/config/types';
import { OfflineReport, runOfflineDay } from '../../local/offline-day/run';
import type { OfflineRunOptions } from '../../local/offline-day/run-options';
import { fixtureConfig } from './fixture-config';

/** The short two-step example (lambdas/jobs/example-short) in the high-volume mode, as bin/config.ts has it. */
export const SHORT_JOB = 'example-short';

/** `c` with the short high-volume job added (every 4 hours at :30). */
export function withShortHighVolumeJob(c: AppConfig): AppConfig {
  const step = (name: string, file: string): JobConfig['steps'][number] => ({ name, entry: `lambdas/jobs/example-short/${file}.ts`, timeoutSeconds: 10, retry: { maxAttempts: 2, intervalSeconds: 1, retryableErrors: ['TransientError'] } });
  return {
    ...c,
    jobs: [
      ...c.jobs,
      {
        name: SHORT_JOB,
        description: 'Example: price and post meter readings in the high-volume mode.',
        schedule: 'cron(30 1/4 * * ? *)',
        optIn: true,
        executionMode: 'high-volume',
        producer: { entry: 'lambdas/jobs/example-short/producer.ts' },
        params: { schema: 'lambdas/jobs/example-short/params.ts' },
        steps: [step('Price', 'price'), step('Post', 'post')],
      },
    ],
  };
}

/**
 * One offline tick of 45 tasks of the short high-volume job (fixture config, seed 1) in the `aws`
 * world with the given Express-child faults; the caller removes `out`.
 */
export async function runShortHighVolumeTick(prefix: string, options: Pick<OfflineRunOptions, 'awsFaultOverrides' | 'postMapStep'>): Promise<{ out: string; report: OfflineReport }> {
  const out = mkdtempSync(join(tmpdir(), prefix));
  const report = await runOfflineDay({
    projectRoot: resolve(__dirname, '..', '..'),
    outDir: out,
    appConfig: withShortHighVolumeJob(fixtureConfig),
    singleTick: { jobs: [SHORT_JOB] },
    tasksPerTick: 45,
    seed: 1,
    awsFaults: 'aws',
    ...options,
  });
  return { out, report };
}
