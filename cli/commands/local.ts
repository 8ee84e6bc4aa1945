import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AppConfig } from '../../lib/config/types';
import type { OfflineReport } from '../../local/offline-day/run';
import { EXIT_FAILED, UsageError } from '../errors';
import { CliIo } from '../io';

/** Options of `local <job>`. */
export interface LocalOptions {
  /** Tasks the producer makes (TASKS_PER_TICK; the example-api job: EXAMPLE_TASKS_PER_TICK). */
  readonly tasks?: string;
  readonly json?: boolean;
  /** Keep the run's folder (parameter log, report.json) here instead of a temporary one. */
  readonly out?: string;
  readonly verbose?: boolean;
}

/** What `local` needs besides its options: the config, and where the project is (handler entries are relative to it). */
export interface LocalDeps {
  readonly config: AppConfig;
  /** @default the project this CLI belongs to */
  readonly projectRoot?: string;
}

/** What `local --json` prints: the offline report's counts for the one job and its tick. */
export interface LocalResult {
  readonly job: string;
  readonly ok: boolean;
  readonly reasons: string[];
  readonly tick: string;
  readonly tasks: number;
  readonly succeeded: number;
  readonly retries: number;
  readonly spooled: Record<string, number>;
  readonly quarantined: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly failedTick: { readonly attempts: number; readonly outcome: string; readonly errors: string[] } | null;
  readonly stubs: OfflineReport['stubs'];
}

/** The one-job summary of an offline report. */
export function localResult(job: string, r: OfflineReport, reasons: string[]): LocalResult {
  const c = r.jobs[job];
  const failed = r.outside.failedTicks.find((t) => t.job === job);
  return {
    job,
    ok: reasons.length === 0,
    reasons,
    tick: r.from,
    tasks: c?.tasks ?? 0,
    succeeded: (c?.succeededFirstTry ?? 0) + (c?.recoveredByRetry ?? 0),
    retries: c?.retries ?? 0,
    spooled: c?.stillSpooled.byError ?? {},
    quarantined: c?.quarantined ?? 0,
    lost: c?.lost ?? 0,
    duplicates: c?.duplicates ?? 0,
    failedTick: failed ? { attempts: failed.attempts, outcome: failed.outcome, errors: failed.errors } : null,
    stubs: r.stubs,
  };
}

const count = (o: Record<string, number>): string =>
  Object.entries(o)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none';

/** The result for people. */
export function renderLocal(x: LocalResult): string {
  const spooled = Object.values(x.spooled).reduce((a, b) => a + b, 0);
  const lines = [
    `local run of ${x.job}: one tick at ${x.tick}, on the offline stand-ins (no AWS)`,
    `  tasks        ${x.tasks}`,
    `  succeeded    ${x.succeeded}${x.retries ? ` (${x.retries} retries)` : ''}`,
    `  spooled      ${spooled}${spooled ? ` (${count(x.spooled)})` : ''}`,
    `  quarantined  ${x.quarantined}`,
    `  lost         ${x.lost}`,
    `  tick         ${x.failedTick ? `FAILED after ${x.failedTick.attempts} attempts (${x.failedTick.errors.join(', ')}), ${x.failedTick.outcome}` : 'planned'}`,
  ];
  if (x.stubs.jobs.includes(x.job) || Object.keys(x.stubs.secretReads).length > 0) {
    lines.push(`  stub calls   HTTP ${count(x.stubs.httpCalls)}; secrets ${count(x.stubs.secretReads)}`);
  }
  lines.push(x.ok ? 'RESULT: OK' : `RESULT: FAILED: ${x.reasons.join('; ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * `npx scheduled-jobs local <job>`: one tick of the job on the offline stand-ins (the offline day's
 * machinery, restricted to the job and one tick, no operator, no faults), the job's stubs.ts
 * applied. Exit 0 when the tick planned and every task ended with nothing lost; 1 otherwise.
 */
export async function localJob(job: string, o: LocalOptions, io: CliIo, deps: LocalDeps): Promise<number> {
  const names = deps.config.jobs.map((j) => j.name);
  if (!names.includes(job)) {
    throw new UsageError(`Unknown job "${job}"`, names.length > 0 ? `Jobs in bin/config.ts: ${names.join(', ')}.` : 'bin/config.ts has no jobs: add one with `npx scheduled-jobs new-job <name>`.');
  }
  let tasksPerTick: number | undefined;
  if (o.tasks !== undefined) {
    tasksPerTick = Number(o.tasks);
    if (!Number.isInteger(tasksPerTick) || tasksPerTick < 1 || tasksPerTick > 100_000) throw new UsageError(`--tasks must be an integer from 1 to 100000, got "${o.tasks}"`);
  }
  // Loaded only for this command (the offline machinery is heavy); the engine needs the polyfills
  // on Node 20. require, not import(): cli/bin.js registers tsx for CommonJS only.
  /* eslint-disable @typescript-eslint/no-require-imports */
  require('../../local/polyfills');
  const { runOfflineDay } = require('../../local/offline-day/run') as typeof import('../../local/offline-day/run');
  const { failureReasons } = require('../../local/offline-day/report') as typeof import('../../local/offline-day/report');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const outDir = o.out ? resolve(o.out) : mkdtempSync(join(tmpdir(), `local-${job}-`));
  try {
    const report = await runOfflineDay({
      projectRoot: deps.projectRoot ?? resolve(__dirname, '..', '..'),
      outDir,
      appConfig: deps.config,
      singleTick: { jobs: [job] },
      hours: 1,
      faults: 'none',
      tasksPerTick,
      verbose: o.verbose,
      progress: o.json ? undefined : (line) => io.err(`${line}\n`),
    });
    const result = localResult(job, report, failureReasons(report));
    io.out(o.json ? `${JSON.stringify(result, null, 2)}\n` : renderLocal(result));
    return result.ok ? 0 : EXIT_FAILED;
  } finally {
    if (!o.out) rmSync(outDir, { recursive: true, force: true });
  }
}
