/**
 * What the app costs a month for your config, at 1,000 / 100,000 / 1,000,000 tasks a day (and any
 * volume you add), per component, in total and per task, with the formula and what it assumes.
 *
 *   npm run cost
 *   npm run cost -- --stage dev --tasks-per-day 250000 --failure-rate 0.02 --duration-ms 400
 *   npm run cost -- --help
 *
 * It synthesizes the app for the config (bin/config.ts, one stage; bundling and CloudFormation
 * validation skipped, as the tests do) and reads the synthesized template: each job's state
 * machine definition is walked to count the state transitions and Lambda invocations of one task
 * (success path; failure path; replay), function memory and architecture, schedules, keys, alarms
 * and the parameter-log buffering come from the template. See docs/cost.md.
 *
 * List prices, us-east-1, most of them not confirmed on an AWS page here: see scripts/cost/prices.ts.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { appConfig } from '../bin/config';
import { ResolvedAppConfig } from '../lib/config/types';
import { resolveConfig } from '../lib/config/validate';
import { synthesizeApp } from '../local/offline-day/app-model';
import { Assumptions, invocationsPerTask, MonthlyCost, monthlyCost, retainedDays, standardClientRecordsPerPut, transitionsPerTask } from './cost/model';
import { DAYS_PER_MONTH, PRICES } from './cost/prices';
import { recordSizes, RecordSizes } from './cost/records';
import { AppShape, appShape, ReplayMode } from './cost/shape';
import { DEFAULT_FROM } from '../lambdas/reprocess/payload';
import { DEFAULT_HIGH_VOLUME, HighVolumeOptions, jobInMode, tasksPerParent } from './cost/high-volume';
import { describeChild, formatModes, JobModes, jobModes } from './cost/modes-report';

/** Tasks per tick message when neither the flag nor the template says (the producer runtime's own default). */
export const FALLBACK_TASKS_PER_MESSAGE = 1000;

/** The volumes every run prices. */
export const STANDARD_VOLUMES = [1_000, 100_000, 1_000_000] as const;

/** Parsed command line. */
export interface CostArgs {
  readonly stage?: string;
  readonly allJobs: boolean;
  readonly volumes: number[];
  readonly failureRate: number;
  readonly retriesPerTask: number;
  readonly durationMs: number;
  readonly mapItems: number;
  readonly replay: ReplayMode;
  readonly paramsBytes: number;
  readonly stepOutputBytes: number;
  /** @default the producers' TASKS_PER_BATCH in the template, else {@link FALLBACK_TASKS_PER_MESSAGE} */
  readonly tasksPerTickMessage?: number;
  readonly logBytesPerInvocation: number;
  readonly idleReceivesPerDay: number;
  readonly gzipRatio?: number;
  readonly mix?: Record<string, number>;
  readonly json: boolean;
}

export const DEFAULT_ARGS: CostArgs = {
  allJobs: false,
  volumes: [],
  failureRate: 0.01,
  retriesPerTask: 0,
  durationMs: 200,
  mapItems: 10,
  // What reprocess does when the payload says nothing: `from: "failed-step"` enters at the failed step.
  replay: DEFAULT_FROM === 'failed-step' ? 'resume' : 'start',
  paramsBytes: 512,
  stepOutputBytes: 1024,
  logBytesPerInvocation: 1000,
  // Lambda's SQS pollers long-poll (20 s) while the queue is empty: 5 pollers x 3 calls a minute.
  idleReceivesPerDay: 5 * 3 * 60 * 24,
  json: false,
};

const HELP = `npm run cost -- [options]
  --tasks-per-day N        also price N tasks a day (repeatable; 1,000 / 100,000 / 1,000,000 are always priced)
  --stage S                config stage (default: the config's defaultStage)
  --all-jobs               include opt-in jobs the stage does not deploy
  --mix job=w,job=w        share of tasks per job (default: equal shares of the stage's jobs)
  --failure-rate r         share of tasks that fail, are spooled and replayed once (default ${DEFAULT_ARGS.failureRate})
  --retries-per-task r     extra attempts per task that then succeed, on average (default ${DEFAULT_ARGS.retriesPerTask})
  --duration-ms d          average Lambda invocation duration (default ${DEFAULT_ARGS.durationMs})
  --map-items n            items per Map step (capped by the step's maxItems; default ${DEFAULT_ARGS.mapItems})
  --replay resume|start    how a spooled task is replayed: resume = at its failed step (reprocess's from: failed-step),
                           start = from the first step (from: start); default ${DEFAULT_ARGS.replay}, as reprocess's default
  --params-bytes b         size of a task's params JSON (default ${DEFAULT_ARGS.paramsBytes})
  --step-output-bytes b    size of a step's output, carried by spool messages (default ${DEFAULT_ARGS.stepOutputBytes})
  --tasks-per-message n    tasks per tick-queue message, if the template has a polled queue (default: the producers' TASKS_PER_BATCH, else ${FALLBACK_TASKS_PER_MESSAGE}; capped at what fits in 1 MiB)
  --log-bytes b            CloudWatch Logs bytes per invocation (default ${DEFAULT_ARGS.logBytesPerInvocation})
  --idle-receives n        empty SQS receives a day per polled queue (default ${DEFAULT_ARGS.idleReceivesPerDay})
  --gzip-ratio r           compressed/raw size of records (default: measured on synthetic records)
  --json                   print the model as JSON`;

function num(flag: string, raw: string | undefined, min: number, max = Number.POSITIVE_INFINITY): number {
  const n = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new Error(`${flag} needs a number from ${min}${Number.isFinite(max) ? ` to ${max}` : ''}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** Parses the command line (throws a message naming the flag and what it takes). */
export function parseArgs(argv: ReadonlyArray<string>): CostArgs | 'help' {
  const a: { -readonly [K in keyof CostArgs]: CostArgs[K] } = { ...DEFAULT_ARGS, volumes: [] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = () => argv[++i];
    switch (flag) {
      case '--help':
      case '-h':
        return 'help';
      case '--tasks-per-day':
        a.volumes.push(Math.round(num(flag, next(), 1)));
        break;
      case '--stage':
        a.stage = next();
        if (!a.stage) throw new Error('--stage needs a stage name');
        break;
      case '--all-jobs':
        a.allJobs = true;
        break;
      case '--failure-rate':
        a.failureRate = num(flag, next(), 0, 1);
        break;
      case '--retries-per-task':
        a.retriesPerTask = num(flag, next(), 0);
        break;
      case '--duration-ms':
        a.durationMs = num(flag, next(), 1, 900_000);
        break;
      case '--map-items':
        a.mapItems = Math.round(num(flag, next(), 0, 1000));
        break;
      case '--replay': {
        const v = next();
        // `failed-step` is reprocess's own word for resume.
        if (v !== 'start' && v !== 'resume' && v !== 'failed-step') throw new Error(`--replay takes start or resume (or failed-step), got ${JSON.stringify(v)}`);
        a.replay = v === 'failed-step' ? 'resume' : v;
        break;
      }
      case '--params-bytes':
        a.paramsBytes = Math.round(num(flag, next(), 2, 96 * 1024));
        break;
      case '--step-output-bytes':
        a.stepOutputBytes = Math.round(num(flag, next(), 0, 256 * 1024));
        break;
      case '--tasks-per-message':
        a.tasksPerTickMessage = Math.round(num(flag, next(), 1, 10_000));
        break;
      case '--log-bytes':
        a.logBytesPerInvocation = num(flag, next(), 0);
        break;
      case '--idle-receives':
        a.idleReceivesPerDay = num(flag, next(), 0);
        break;
      case '--gzip-ratio':
        a.gzipRatio = num(flag, next(), 0.001, 1);
        break;
      case '--mix': {
        const raw = next() ?? '';
        const mix: Record<string, number> = {};
        for (const part of raw.split(',')) {
          const [job, w] = part.split('=');
          if (!job || w === undefined) throw new Error(`--mix takes job=weight,job=weight, got ${JSON.stringify(raw)}`);
          mix[job.trim()] = num(`--mix ${job}`, w, 0);
        }
        a.mix = mix;
        break;
      }
      case '--json':
        a.json = true;
        break;
      default:
        throw new Error(`unknown option ${flag} (npm run cost -- --help)`);
    }
  }
  return a;
}

/** Shares of the jobs: the --mix weights normalized, or equal shares. */
export function jobMix(jobs: ReadonlyArray<string>, weights?: Record<string, number>): Map<string, number> {
  if (!weights) return new Map(jobs.map((j) => [j, 1 / jobs.length]));
  const unknown = Object.keys(weights).filter((j) => !jobs.includes(j));
  if (unknown.length) throw new Error(`--mix names jobs this stage does not deploy: ${unknown.join(', ')} (deployed: ${jobs.join(', ')})`);
  const total = jobs.reduce((s, j) => s + (weights[j] ?? 0), 0);
  if (total <= 0) throw new Error('--mix weights add up to 0');
  return new Map(jobs.map((j) => [j, (weights[j] ?? 0) / total]));
}

/** Everything one run computes. */
export interface CostModel {
  readonly config: ResolvedAppConfig;
  readonly args: CostArgs;
  /** The app as the template has it: every job's standard paths (its replay machine), its configured mode and child. */
  readonly shape: AppShape;
  /** The app as deployed and priced in the headline: each job in its configured mode ({@link jobInMode}). */
  readonly priced: AppShape;
  /** The high-volume mode's shape (per job, items per child are the stack's: optionsFor). */
  readonly highVolume: HighVolumeOptions;
  readonly sizes: RecordSizes;
  readonly assumptions: Assumptions;
  readonly months: ReadonlyArray<MonthlyCost>;
  /** Every job priced alone in the standard and the high-volume mode, side by side. */
  readonly modes: ReadonlyArray<JobModes>;
  readonly warnings: ReadonlyArray<string>;
}

/** Synthesizes the app for `config` and prices it. */
export function buildCostModel(config: ResolvedAppConfig, args: CostArgs, projectRoot = resolve(__dirname, '..')): CostModel {
  if (config.jobs.length === 0) throw new Error(`stage ${config.stage} deploys no job: nothing to cost (pick another --stage, or --all-jobs)`);
  // The placeholder region only names ARNs; prices are us-east-1 list prices whatever the stage's region.
  const synthesized = synthesizeApp(config, projectRoot, 'us-east-1');
  const shape = appShape(synthesized, config, { mapItems: args.mapItems, replay: args.replay });
  const measured = recordSizes(args.paramsBytes);
  const sizes: RecordSizes = args.gzipRatio === undefined ? measured : { ...measured, gzipRatio: args.gzipRatio };
  const assumptions: Assumptions = {
    failureRate: args.failureRate,
    retriesPerTask: args.retriesPerTask,
    durationMs: args.durationMs,
    tasksPerTickMessage: args.tasksPerTickMessage ?? shape.tasksPerBatch ?? FALLBACK_TASKS_PER_MESSAGE,
    logBytesPerInvocation: args.logBytesPerInvocation,
    stepOutputBytes: args.stepOutputBytes,
    idleReceivesPerDay: args.idleReceivesPerDay,
    mix: jobMix(config.jobs.map((j) => j.name), args.mix),
  };
  const volumes = [...new Set([...STANDARD_VOLUMES, ...args.volumes])].sort((x, y) => x - y);
  const highVolume: HighVolumeOptions = { ...DEFAULT_HIGH_VOLUME, tasksPerParent: tasksPerParent(assumptions.tasksPerTickMessage, sizes.envelopeBytes) };
  // The bill of the config as deployed: each job in its configured mode.
  const priced: AppShape = { ...shape, jobs: shape.jobs.map((j) => jobInMode(shape, j, j.mode ?? 'standard', sizes, assumptions, highVolume)) };
  const months = volumes.map((n) => monthlyCost(priced, sizes, assumptions, n));

  const warnings: string[] = [];
  for (const j of shape.jobs) {
    if (j.scheduleState !== 'ENABLED') warnings.push(`job ${j.job}: its schedule is ${j.scheduleState} in stage ${config.stage}; costed as if it ran.`);
    if (j.ticksPerDay === 0) warnings.push(`job ${j.job}: its schedule never fires in the sampled month, so no producer runs are costed.`);
  }
  if (shape.paramLog.expirationDays === null) {
    warnings.push(
      `the parameter-log bucket has no expiration rule in the template: records are kept until deleted, so storage grows every month. ` +
        `The S3 row shows storage at the configured paramLog.retentionDays (${shape.paramLog.configuredRetentionDays} days) as if it expired them.`,
    );
  }
  if (shape.polledQueues.length === 0) warnings.push('no queue is polled by a Lambda in this template (no tick queue): producers start executions themselves, so the SQS row is the spool only.');
  if (shape.statusChangeTargets.length === 0) warnings.push('no EventBridge rule on Step Functions status changes in this template (no status-change capture): its invocations are not costed.');
  const modes = jobModes(config, shape, sizes, assumptions, volumes, highVolume);
  return { config, args, shape, priced, highVolume, sizes, assumptions, months, modes, warnings };
}

// ---------------------------------------------------------------------------------------------
// Printing

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const dec = (n: number, d = 2) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

/** Dollars: whole dollars from $1,000, cents from $1, four decimals below. */
export function usd(n: number): string {
  if (n === 0) return '$0';
  if (n >= 1000) return `$${int(n)}`;
  if (n >= 1) return `$${dec(n)}`;
  return `$${n.toFixed(4)}`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** A path of state names with repeats folded: `(ProcessPart > ProcessParts-End) x10`. */
export function foldPath(entered: ReadonlyArray<string>): string {
  const out: string[] = [];
  const same = (i: number, j: number, u: number) => entered.slice(i, i + u).join('>') === entered.slice(j, j + u).join('>');
  for (let i = 0; i < entered.length; ) {
    let unit = 1;
    let reps = 1;
    for (let u = 1; u <= 4 && i + u <= entered.length; u++) {
      let r = 1;
      while (i + (r + 1) * u <= entered.length && same(i, i + r * u, u)) r++;
      if (r > 1 && r * u > reps * unit) {
        unit = u;
        reps = r;
      }
    }
    const seg = entered.slice(i, i + unit).join(' > ');
    out.push(reps > 1 ? `(${seg}) x${reps}` : seg);
    i += unit * reps;
  }
  return out.join(' > ');
}

/** The human-readable report (what docs/cost.md shows). */
export function formatReport(model: CostModel): string {
  const { config, shape, sizes, assumptions: a, months } = model;
  const out: string[] = [];
  // Priced as deployed: each job in its configured mode.
  const jobs = model.priced.jobs;
  const standardOf = (job: string) => shape.jobs.find((j) => j.job === job)!;
  const isHv = (j: (typeof jobs)[number]) => j.mode === 'high-volume';
  const childOf = (job: string) => model.modes.find((m) => m.job === job)!.child;
  const transitions = (n: number) => (Number.isInteger(n) ? String(n) : dec(n, 3));
  out.push(`Cost model: stack ScheduledJobs-${config.stage}, jobs ${jobs.map((j) => `${j.job} (${j.mode ?? 'standard'})`).join(', ')}`);
  out.push('LIST PRICES, us-east-1, free tiers ignored. Only the Step Functions and KMS key prices were read on an AWS');
  out.push('pricing page here; the others are unconfirmed list prices (rows marked * are not in the research notes at all).');
  out.push('Verify in the AWS Pricing Calculator before quoting. A month is 30 days.');
  out.push('');

  out.push('Per task, derived from the synthesized state machines, each job in its configured mode (billed Standard transitions):');
  const perTaskRows = jobs.map((j) => {
    const inv = [...invocationsPerTask(j, a).values()].reduce((s, n) => s + n, 0);
    return [
      j.job,
      isHv(j) ? `high-volume, ${childOf(j.job).itemsPerChild}/child` : 'standard',
      `${dec(100 * (a.mix.get(j.job) ?? 0), 0)}%`,
      dec(j.ticksPerDay, 0),
      transitions(j.success.transitions),
      `${transitions(j.failure.transitions)} + ${j.replay.transitions}`,
      dec(transitionsPerTask(j, a), isHv(j) ? 3 : 2),
      j.express ? dec(j.express.requests, 3) : '-',
      dec(inv),
      `${j.failState} (${j.failRetries} retries)`,
    ];
  });
  out.push(table(['job', 'mode', 'share', 'ticks/day', 'transitions ok', 'failed + replay', 'expected', 'Express req.', 'Lambda inv.', 'failure modelled in'], perTaskRows));
  out.push('');
  for (const j of jobs) {
    if (isHv(j)) {
      out.push(
        `  ${j.job} (high-volume): a Standard parent per ${int(model.highVolume.tasksPerParent)} tasks (Children > SpoolFailedChildren > ParentDone), ` +
          `Express children of ${describeChild(childOf(j.job))}; each item runs the job's steps, and a failed task's replay runs its standard state machine:`,
      );
    }
    const std = standardOf(j.job);
    out.push(`  ${j.job} ${isHv(j) ? 'standard (replay) ' : ''}success path: ${foldPath(std.success.entered)}`);
    out.push(`  ${j.job} ${isHv(j) ? 'standard (replay) ' : ''}failure path: ${foldPath(std.failure.entered)}`);
  }
  out.push('');

  out.push('Monthly cost by component (the config as deployed: each job in its configured mode):');
  const header = ['component', ...months.map((m) => `${int(m.tasksPerDay)}/day`)];
  const rows = months[0].components.map((c, i) => [c.component, ...months.map((m) => usd(m.components[i].usd))]);
  rows.push(['TOTAL per month', ...months.map((m) => usd(m.total))]);
  rows.push(['per task', ...months.map((m) => `$${m.perTask.toPrecision(3)}`)]);
  rows.push(['per 1,000 tasks', ...months.map((m) => usd(m.perTask * 1000))]);
  out.push(table(header, rows));
  out.push('');
  out.push('What dominates:');
  for (const m of months) {
    const top = [...m.components].sort((x, y) => y.usd - x.usd).slice(0, 2);
    out.push(`  ${int(m.tasksPerDay)}/day: ${top.map((c) => `${c.component} ${dec((100 * c.usd) / m.total, 0)}%`).join(', ')}`);
  }
  out.push('');

  out.push(...formatModes(model.modes, model.highVolume, { usd, int, dec, table }));
  out.push('');

  out.push('Formula (N tasks a day, job shares w_j, failure rate f, 30 days):');
  out.push('  transitions/day   = N * sum_j w_j * [(1-f)*T_ok_j + f*(T_fail_j + T_replay_j) + r]');
  out.push('                      a high-volume job: T_ok = T_fail = parent transitions/tasks per parent + 1/items per child; T_replay its standard replay');
  out.push('  Step Functions    = 30 * transitions/day * $0.025/1,000');
  out.push('  Express           = 30 * N * sum_j(high-volume) w_j * (1/items per child_j * $1/1M + child GB-s/items per child_j * $0.00001667)');
  out.push('  Lambda            = 30 * sum_fn inv_fn * ($0.20/1M + d * mem_fn/1024 * $/GB-s) + start pacing N/refill s * mem/1024 * $/GB-s');
  out.push('                      inv_fn: per task from the definition walk, + 1 per tick (producer), + capture/reprocess per failure');
  out.push('  SQS               = 30 * [f*N*(1 send + 0.1 receive + 0.1 delete) * chunks(64 KB) + tick-queue traffic] * $0.40/1M');
  out.push('  Firehose          = 30 * (N client + worker records) * ceil(size/5 KB)*5 KB / GB * $0.029');
  out.push('  S3                = 30 * objects * ($0.005/1,000 PUT, $0.0004/1,000 GET) + raw bytes/day * gzip * retention days / GB * $0.023');
  out.push('  Athena            = 30 * max(10 MB, client day + 2 worker days compressed) / TB * $5');
  out.push('  KMS               = keys * $1 + 30 * requests * $0.03/10,000 (requests: per data-key reuse period and per object, an upper bound; a GenerateMac per lock action; record MACs: a GenerateMac per sink put of up to 512 records, a VerifyMac per batch MAC the monitor reads)');
  out.push(`                      record puts: standard starter checkpoints of ${int(standardClientRecordsPerPut(shape))} client records (400 or 1 s of starts), one worker record per record-outcome; high-volume: a tick message's client records, a child's worker records`);
  out.push('  DynamoDB          = 30 * (lock writes + ledger writes) * $0.625/1M + hold reads * $0.125/1M');
  out.push('  Scheduler         = 30 * schedule fires * $1/1M;  alarms = alarm metrics * $0.10;  dashboard $3');
  out.push('  Logs              = 30 * invocations * log bytes / GB * $0.50;  X-Ray = 30 * sampled traces * $5/1M');
  out.push('with, for this config:');
  for (const j of jobs) {
    const inv = invocationsPerTask(j, a);
    const fns = [...inv].map(([fn, n]) => `${fn}=${dec(n, 3)}`).join(', ');
    const express = j.express ? `; Express/task: ${dec(j.express.requests, 3)} requests, ${dec(j.express.gbSeconds, 5)} GB-s (a child of ${childOf(j.job).itemsPerChild} tasks)` : '';
    out.push(`  ${j.job} (${j.mode ?? 'standard'}): w=${dec(a.mix.get(j.job) ?? 0, 3)} T_ok=${transitions(j.success.transitions)} T_fail=${transitions(j.failure.transitions)} T_replay=${j.replay.transitions}; inv/task: ${fns}${express}`);
  }
  const mem = [...shape.functions.values()].map((f) => `${f.memoryMiB} MiB ${f.arch}`);
  out.push(`  functions: ${[...new Set(mem)].join(', ')} (from the template); d=${a.durationMs} ms (assumed); refill=${shape.startExecutionRefillPerSecond}/s`);
  out.push(
    `  sizes (the project's builders, params ~${int(model.args.paramsBytes)} B): envelope ${int(sizes.envelopeBytes)} B, client record ${int(sizes.clientRecordBytes)} B, ` +
      `worker record ${int(sizes.workerRecordBytes)} B (each billed as 5 KB by Firehose); gzip ratio ${dec(sizes.gzipRatio, 3)}${model.args.gzipRatio === undefined ? ' (measured on synthetic records)' : ' (given)'}`,
  );
  out.push(
    `  Firehose buffer ${shape.paramLog.bufferSeconds} s / ${shape.paramLog.bufferMiB} MiB; retention ${retainedDays(shape)} days${shape.paramLog.expirationDays === null ? ' (configured, not in the template)' : ''}; ` +
      `${shape.kmsKeys} KMS keys, ${shape.alarmMetrics} alarm metrics, ${shape.dashboards} dashboard(s)`,
  );
  out.push('');

  out.push('Assumptions (flags):');
  out.push(`  --failure-rate ${a.failureRate}: a failure happens in the last step after its configured retries, is spooled, and is replayed once (--replay ${model.args.replay})`);
  out.push(`  --retries-per-task ${a.retriesPerTask}; --duration-ms ${a.durationMs} for every invocation; --map-items ${model.args.mapItems}; --log-bytes ${a.logBytesPerInvocation}`);
  out.push(`  --tasks-per-message ${a.tasksPerTickMessage} and --idle-receives ${int(a.idleReceivesPerDay)} (used only when the template has a queue a Lambda polls)`);
  out.push('Throughput (averages; ticks are bursts):');
  const last = months[months.length - 1];
  out.push(`  at ${int(last.tasksPerDay)} tasks/day: ${dec(last.usage.transitions / 86_400, 0)} state transitions/s on average (StateTransition quota: 5,000/s in us-east-1, us-west-2, eu-west-1; 800/s elsewhere)`);
  for (const j of jobs) {
    if (j.ticksPerDay === 0) continue;
    const perTick = (last.tasksPerDay * (a.mix.get(j.job) ?? 0)) / j.ticksPerDay;
    const starts = perTick * (j.startsPerTask ?? 1);
    const what = isHv(j) ? `tasks per tick are ${int(Math.ceil(starts))} parents, which take` : 'tasks per tick take';
    out.push(`  ${j.job}: ${int(perTick)} ${what} ${dec(starts / shape.startExecutionRefillPerSecond, 0)} s to start at ${shape.startExecutionRefillPerSecond} StartExecution/s (tick every ${dec(1440 / j.ticksPerDay, 0)} min)`);
  }
  out.push('');
  out.push('Prices (source; confidence):');
  for (const [name, p] of Object.entries(PRICES)) out.push(`  ${name.padEnd(20)} $${p.usd} per ${int(p.per)} ${p.unit} (${p.source}; ${p.confidence})`);
  if (model.warnings.length) {
    out.push('');
    out.push('Warnings:');
    for (const w of model.warnings) out.push(`  - ${w}`);
  }
  out.push('');
  out.push(`Not priced: Step Functions/Lambda/SQS free tiers; EventBridge events of AWS services; CloudWatch custom metrics (Powertools); NAT/VPC; data transfer; Athena queries people run; S3 requests of Athena results; the ${DAYS_PER_MONTH}-day month vs calendar months.`);
  return out.join('\n');
}

function main(): void {
  let args: CostArgs | 'help';
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  if (args === 'help') {
    console.log(HELP);
    return;
  }
  const projectRoot = resolve(__dirname, '..');
  let model: CostModel;
  try {
    const config = resolveConfig(appConfig, { stage: args.stage, allJobs: args.allJobs, fileExists: (p) => existsSync(join(projectRoot, p)) });
    model = buildCostModel(config, args, projectRoot);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
  if (args.json) {
    const plain = JSON.stringify(model, (_k, v) => (v instanceof Map ? Object.fromEntries(v) : v), 2);
    console.log(plain);
  } else {
    console.log(formatReport(model));
  }
}

if (require.main === module) main();
