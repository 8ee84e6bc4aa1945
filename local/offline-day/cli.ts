import './canary-env';
import '../polyfills';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FAULT_PROFILES, FaultProfile } from '../fake-external-api';
import { checkCanary } from './canary';
import { AWS_WORLDS, AwsWorld } from './aws-faults';
import { renderHtml, renderText, reportOk } from './report';
import { HoldMode, runOfflineDay } from './run';

/**
 * `npm start -- [flags]`: one simulated day of every configured job, locally. See docs/offline-day.md.
 * Exit code 0 when nothing was lost or duplicated, 1 when something was, 2 on bad flags.
 */
const USAGE = `Usage: npm start -- [--days N | --hours N] [--seed N] [--faults none|default|heavy|outside|aws]
                    [--aws-faults kind|default|aws] [--no-reconciler] [--api-ignores-keys]
                    [--planned-windows | --no-hold] [--out DIR] [--keep|--clean]
                    [--tasks-per-tick N] [--date yyyy-MM-dd] [--verbose] [--canary TEXT]
  --days N            simulated days (default 1)
  --hours N           simulated hours instead (from 00:00 of --date)
  --seed N            random seed of the fault plan: same seed, same run (default 1)
  --faults P          none | default | heavy | outside (default default; outside = default plus an
                      execution the operator stops, one past its execution timeout and a producer
                      that fails its ticks; aws = outside in a world no kinder than AWS:
                      --aws-faults aws, docs/aws-promises.md)
  --aws-faults W      kind | default | aws: status changes dropped/late/twice, async invokes, tick
                      messages and schedule ticks twice, the history quota (default default)
  --no-reconciler     do not run the app's reconciler (what a dropped status change then costs)
  --api-ignores-keys  the fake API applies every accepted call, ignoring the idempotency key (what a
                      step that ran on after its execution ended, then its replay, then cost)
  --planned-windows   declare the API's maintenance as a planned hold window in the config and run
                      with no operator at all (default: the operator holds the API for the window)
  --no-hold           no hold at all: calls and retries go into the maintenance window (as before holds)
  --out DIR           output folder: parameter log, report.json, report.html (default offline-out)
  --clean / --keep    empty the output folder first (default) / keep what is there
  --tasks-per-tick N  tasks per tick of the example job (default: the job's own, 3), and TASKS_PER_TICK
                      of every producer (the knob new-job's producers read)
  --date D            first simulated day in the app time zone (default 2026-11-25)
  --verbose           show the handlers' own logs
  --canary TEXT       put TEXT into every task's params (and so into the example steps' error
                      messages), record every sink outside the read lock under OUT/outside/ and
                      fail the run if TEXT occurs there (docs/offline-day.md, "The canary")`;

function parseArgs(argv: string[]): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"`);
    const [k, inline] = a.slice(2).split('=', 2);
    if (['keep', 'clean', 'verbose', 'help', 'planned-windows', 'no-hold', 'no-reconciler', 'api-ignores-keys'].includes(k)) out[k] = true;
    else {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`--${k} needs a value`);
      out[k] = v;
    }
  }
  return out;
}

const positiveInt = (name: string, v: string | boolean | undefined, fallback: number | undefined): number | undefined => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${String(v)}`);
  return n;
};

async function main(): Promise<number> {
  let args: Record<string, string | boolean>;
  let opts: Parameters<typeof runOfflineDay>[0];
  try {
    args = parseArgs(process.argv.slice(2));
    if (args.help) {
      console.log(USAGE);
      return 0;
    }
    const known = new Set(['days', 'hours', 'seed', 'faults', 'out', 'keep', 'clean', 'tasks-per-tick', 'date', 'verbose', 'help', 'planned-windows', 'no-hold', 'aws-faults', 'no-reconciler', 'api-ignores-keys', 'canary']);
    for (const k of Object.keys(args)) if (!known.has(k)) throw new Error(`unknown flag --${k}`);
    // `--faults aws`: the outside profile's faults in a world no kinder than AWS.
    const awsProfile = args.faults === 'aws';
    const faults = (awsProfile ? 'outside' : (args.faults ?? 'default')) as FaultProfile;
    const awsFaults = (args['aws-faults'] ?? (awsProfile ? 'aws' : 'default')) as AwsWorld;
    if (!AWS_WORLDS.includes(awsFaults)) throw new Error(`--aws-faults must be one of ${AWS_WORLDS.join(', ')}`);
    if (!FAULT_PROFILES.includes(faults)) throw new Error(`--faults must be one of ${[...FAULT_PROFILES, 'aws'].join(', ')}`);
    if (args.date !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(String(args.date))) throw new Error('--date must be yyyy-MM-dd');
    if (args['planned-windows'] && args['no-hold']) throw new Error('--planned-windows and --no-hold exclude each other');
    if (args.days !== undefined && args.hours !== undefined) throw new Error('--days and --hours exclude each other');
    const hold: HoldMode = args['planned-windows'] ? 'planned-windows' : args['no-hold'] ? 'none' : 'operator';
    const projectRoot = resolve(__dirname, '..', '..');
    opts = {
      projectRoot,
      outDir: resolve(String(args.out ?? 'offline-out')),
      days: positiveInt('days', args.days, 1),
      hours: positiveInt('hours', args.hours, undefined),
      hold,
      seed: Number.isInteger(Number(args.seed ?? 1)) ? Number(args.seed ?? 1) : NaN,
      faults,
      tasksPerTick: positiveInt('tasks-per-tick', args['tasks-per-tick'], undefined),
      clean: !args.keep,
      startDay: args.date as string | undefined,
      verbose: !!args.verbose,
      ...(args.canary !== undefined ? { canary: checkCanary(String(args.canary)) } : {}),
      awsFaults,
      reconciler: !args['no-reconciler'],
      apiHonoursIdempotencyKeys: !args['api-ignores-keys'],
    };
    if (Number.isNaN(opts.seed)) throw new Error('--seed must be an integer');
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : String(e)}\n\n${USAGE}`);
    return 2;
  }
  // Wall time for progress lines: the run replaces Date with the simulated clock.
  const t0 = performance.now();
  const report = await runOfflineDay({ ...opts, progress: (line) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${line}`) });
  writeFileSync(join(opts.outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(opts.outDir, 'report.html'), renderHtml(report));
  console.log(renderText(report));
  console.log(`  report: ${join(opts.outDir, 'report.html')} (and report.json); parameter log under ${opts.outDir}/client, /worker`);
  return reportOk(report) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
