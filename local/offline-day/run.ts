import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { appConfig as defaultAppConfig } from '../../bin/config';
import { AppConfig, lambdaStepsOf, ResolvedAppConfig } from '../../lib/config/types';
import { parseSchedule, scheduleTicks } from '../../lib/config/schedule';
import { resolveConfig } from '../../lib/config/validate';
import { parseEnvelope, TaskEnvelope } from '../../lambdas/shared/envelope';
import { ParamLogRecord, parseJsonLines, zonedParts } from '../../lambdas/shared/param-log';
import { SPOOL_ATTR_ERROR } from '../../lambdas/shared/spool-message';
import { DAILY_COUNTS, LOST_TASK_COUNT_SQL, lostTaskParams, nextDay } from '../../lambdas/shared/queries';
import { ParamLogDb } from '../duckdb-sql';
import { FakeApiStats, faultPlan, FaultPlan, FaultProfile, inMaintenance, startFakeExternalApi, TaskRef } from '../fake-external-api';
import { startFirehoseStandin } from '../firehose-standin';
import { startSfnStandin, StandinExecution } from '../sfn-standin';
import { startSqsEmulator } from '../sqs-emulator';
import { startLocalDynamo } from '../dynamodb-local';
import { driveEventSource } from '../sqs-esm';
import {
  eventSources,
  functionEnvironment,
  LOCAL_ACCOUNT,
  placeholderRef,
  RefResolver,
  schedules,
  stateMachineDefinition,
  synthesizeApp,
} from './app-model';
import { createExecutionRunner, ExecutionOutcome, LocalHandler } from './executions';
import { SimClock } from './sim-clock';

/**
 * Every Task's TimeoutSeconds is capped at this in the offline run (time compression, like the
 * skipped retry waits): the engine really waits, and the example's 20 s CallApi timeout would cost
 * 20 s of wall time per timeout. Local handlers answer in milliseconds, so only the fake API's slow
 * reply (one second past it) reaches it.
 */
export const LOCAL_STEP_TIMEOUT_SECONDS = 3;

/** Options of one offline run (the CLI's flags). */
export interface OfflineRunOptions {
  /** Project root (handler entries in the config are relative to it). */
  readonly projectRoot: string;
  /** Output folder: the parameter log (`client/`, `worker/`), report.json, report.html. */
  readonly outDir: string;
  /** Simulated days. @default 1 */
  readonly days?: number;
  /** Simulated hours instead of whole days (tests). */
  readonly hours?: number;
  /** First simulated day, `yyyy-MM-dd` in the app time zone. @default 2026-11-25 (fixed: same seed, same run) */
  readonly startDay?: string;
  readonly seed?: number;
  readonly faults?: FaultProfile;
  /** Changes to the profile's plan (tests move the slow tick into a short window). */
  readonly faultPlanOverrides?: Partial<Omit<FaultPlan, 'profile' | 'seed'>>;
  /** Tasks per tick of the example job (its EXAMPLE_TASKS_PER_TICK knob). @default the job's own default */
  readonly tasksPerTick?: number;
  /** Delete the output folder before the run. @default true */
  readonly clean?: boolean;
  /** The app config. @default bin/config.ts */
  readonly appConfig?: AppConfig;
  /** Progress lines. @default none */
  readonly progress?: (line: string) => void;
  /** Keep the handlers' own (Powertools) logs. @default false (errors only) */
  readonly verbose?: boolean;
}

/** One hour of the picture. */
export interface HourRow {
  /** `yyyy-MM-dd HH` in the app time zone. */
  readonly hour: string;
  tasks: number;
  retries: number;
  spooled: number;
  replayed: number;
  /** Spool depth at the end of the hour (ready + in flight). */
  spoolDepth: number;
  maintenance: boolean;
  /** A dependency was on hold during the hour (an operator's hold or a planned window). */
  held: boolean;
}

/** The run's report (also written as report.json). */
export interface OfflineReport {
  readonly from: string;
  readonly to: string;
  readonly timeZone: string;
  readonly seed: number;
  readonly faults: FaultProfile;
  readonly plan: FaultPlan;
  readonly wallMs: number;
  readonly ticks: number;
  readonly tasks: number;
  readonly executions: number;
  readonly succeededFirstTry: number;
  readonly recoveredByRetry: number;
  readonly retries: number;
  /** Executions that ended in the spool, by error name (replays included). */
  readonly spooledByError: Record<string, number>;
  readonly replayed: number;
  readonly replayRounds: ReadonlyArray<{ at: string; errorType: string; started: number; alreadyStarted: number; invalid: number; remaining: number | null }>;
  readonly stillSpooled: { readonly total: number; readonly byError: Record<string, number>; readonly taskIds: string[] };
  readonly quarantined: number;
  readonly lost: number;
  readonly lostTaskIds: string[];
  readonly duplicates: number;
  readonly startFailed: number;
  readonly records: { readonly client: number; readonly worker: number };
  /** Objects the Firehose stand-in wrote, per partition. */
  readonly filesPerPartition: Record<string, number>;
  readonly queries: {
    /** The saved lost-task query, per simulated day. */
    readonly lostTasksByDay: ReadonlyArray<{ day: string; lost: number }>;
    /** The saved daily-counts query. */
    readonly dailyCounts: ReadonlyArray<Record<string, unknown>>;
  };
  readonly api: FakeApiStats;
  readonly hourly: HourRow[];
}

const DEFAULT_START_DAY = '2026-11-25';

/** The UTC instant of local midnight of `day` in `timeZone`. */
export function localMidnight(day: string, timeZone: string): Date {
  const [y, m, d] = day.split('-').map(Number);
  let guess = Date.UTC(y, m - 1, d);
  for (let i = 0; i < 3; i++) {
    const p = zonedParts(new Date(guess), timeZone);
    const asUtc = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
    guess -= asUtc - Date.UTC(y, m - 1, d);
  }
  return new Date(guess);
}

const localHour = (at: Date, tz: string): string => {
  const p = zonedParts(at, tz);
  return `${p.year}-${p.month}-${p.day} ${p.hour}`;
};
const localDay = (at: Date, tz: string): string => {
  const p = zonedParts(at, tz);
  return `${p.year}-${p.month}-${p.day}`;
};

async function mapLimit<T>(items: ReadonlyArray<T>, limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? listFiles(p) : [p];
  });
}

let alreadyRan = false;

/**
 * Runs the whole system over simulated time and returns the report. See docs/offline-day.md.
 * Once per process: it points the process's `Date` and AWS endpoint variables at this run, and the
 * handlers build their SDK clients once at module load (as at a Lambda cold start), so a second run
 * would talk to the first run's endpoints. Tests run it once per test file.
 */
export async function runOfflineDay(options: OfflineRunOptions): Promise<OfflineReport> {
  if (alreadyRan) throw new Error('runOfflineDay runs once per process (handlers keep the SDK clients of the first run); start a new process');
  alreadyRan = true;
  const wallStart = Date.now();
  const progress = options.progress ?? (() => undefined);
  const seed = options.seed ?? 1;
  const profile = options.faults ?? 'default';
  const config: ResolvedAppConfig = resolveConfig(options.appConfig ?? defaultAppConfig, {
    fileExists: (p) => existsSync(join(options.projectRoot, p)),
    // Every job of the config, the opt-in examples included, whatever the stages say.
    allJobs: true,
  });
  const tz = config.timeZone;
  const plan: FaultPlan = { ...faultPlan(profile, seed), ...options.faultPlanOverrides };
  const from = localMidnight(options.startDay ?? DEFAULT_START_DAY, tz);
  const to = new Date(from.getTime() + (options.hours ?? 24 * (options.days ?? 1)) * 3_600_000);

  if (options.clean ?? true) rmSync(options.outDir, { recursive: true, force: true });
  mkdirSync(options.outDir, { recursive: true });

  progress(`synthesizing the app (bundling and template validation skipped) ...`);
  const model = synthesizeApp(config, options.projectRoot);
  const region = model.region;
  const resources = model.template.Resources;

  // ---- local services
  const clock = new SimClock(from);
  const savedEnv = { ...process.env };
  const sqsEmulator = await startSqsEmulator({ region });
  // The coordination table(s) of the template (holds, locks, tick ledger) in a local DynamoDB engine.
  const dynamo = await startLocalDynamo(region);
  for (const [id, r] of Object.entries(resources)) if (r.Type === 'AWS::DynamoDB::Table') await dynamo.createTable(id);
  const queueUrls = new Map<string, string>();
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type === 'AWS::SQS::Queue') queueUrls.set(id, await sqsEmulator.createQueue(id));
  }
  const basePlaceholder = placeholderRef(region);
  const ref: RefResolver = (id, type, attribute) => {
    if (type === 'AWS::SQS::Queue' && attribute === undefined) return queueUrls.get(id)!;
    if (type === 'AWS::SQS::Queue' && attribute === 'Arn') return `arn:aws:sqs:${region}:${LOCAL_ACCOUNT}:${id}`;
    return basePlaceholder(id, type, attribute);
  };

  // Firehose streams: name, prefix, buffering and time zone as synthesized.
  const streams: Record<string, string> = {};
  let bufferSeconds = config.paramLog.bufferSeconds;
  let bufferMiB = config.paramLog.bufferMiB;
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type !== 'AWS::KinesisFirehose::DeliveryStream') continue;
    const s3 = (r.Properties?.ExtendedS3DestinationConfiguration ?? {}) as { Prefix?: string; BufferingHints?: { IntervalInSeconds?: number; SizeInMBs?: number } };
    streams[id] = String(s3.Prefix ?? id).split('/')[0];
    bufferSeconds = s3.BufferingHints?.IntervalInSeconds ?? bufferSeconds;
    bufferMiB = s3.BufferingHints?.SizeInMBs ?? bufferMiB;
  }
  const firehose = await startFirehoseStandin({
    outDir: options.outDir,
    streams,
    timeZone: tz,
    now: () => clock.now(),
    bufferSeconds,
    bufferBytes: bufferMiB * 1024 * 1024,
  });

  // The fake API learns which task a call is about from the executions the run starts.
  const taskRefs = new Map<string, TaskRef>();
  const tickKeys = new Map<string, string[]>();
  const api = await startFakeExternalApi({
    plan,
    timeZone: tz,
    now: () => clock.now(),
    taskOf: (body) => taskRefs.get(String((body as { orderId?: unknown } | null)?.orderId ?? '')),
    // Past the (compressed) step timeout, so the slow call ends in States.Timeout as in AWS.
    slowMs: (LOCAL_STEP_TIMEOUT_SECONDS + 1) * 1000,
  });

  const smArns = new Map<string, string>(); // job -> arn
  for (const [job, id] of model.stateMachines) smArns.set(job, ref(id, 'AWS::StepFunctions::StateMachine'));
  const pending: StandinExecution[] = [];
  const startCounts = new Map<string, number>();
  // Every accepted StartExecution (producer or reprocess) is queued and run after the call returns.
  const sfnEndpoint = await startSfnStandin({
    onStart: (e) => {
      startCounts.set(e.name, (startCounts.get(e.name) ?? 0) + 1);
      pending.push(e);
    },
  });

  // ---- environment of the handlers: only the standard endpoint variables and fake credentials.
  Object.assign(process.env, {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_SESSION_TOKEN: 'local',
    AWS_ENDPOINT_URL_SQS: sqsEmulator.endpoint,
    AWS_ENDPOINT_URL_SFN: sfnEndpoint.endpoint,
    AWS_ENDPOINT_URL_FIREHOSE: firehose.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: options.verbose ? 'INFO' : 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
  });
  delete process.env.AWS_PROFILE;
  // Each handler sees exactly its own function's environment on top of this (as in its own Lambda):
  // variables of another function (e.g. a map contract) must not leak into it.
  const baseEnv = { ...process.env };
  const useEnvOf = (logicalId: string): void => {
    const wanted: NodeJS.ProcessEnv = { ...baseEnv, ...envFor(logicalId) };
    for (const k of Object.keys(process.env)) if (!(k in wanted)) delete process.env[k];
    Object.assign(process.env, wanted);
  };

  // Local overrides of settings (documented in docs/offline-day.md): the fake API instead of the
  // real one, the run's tasks per tick.
  const overrides = (env: Record<string, string>): Record<string, string> => {
    const out = { ...env };
    if ('EXAMPLE_API_URL' in out) {
      out.EXAMPLE_API_URL = api.url;
    }
    if (options.tasksPerTick !== undefined) out.EXAMPLE_TASKS_PER_TICK = String(options.tasksPerTick);
    return out;
  };
  const envOf = new Map<string, Record<string, string>>();
  const envFor = (logicalId: string): Record<string, string> => {
    let env = envOf.get(logicalId);
    if (!env) {
      env = overrides(functionEnvironment(model, logicalId, ref));
      delete env.NODE_OPTIONS;
      envOf.set(logicalId, env);
    }
    return env;
  };
  const handlers = new Map<string, LocalHandler>();
  const loadHandler = (logicalId: string, entry: string): LocalHandler => {
    let h = handlers.get(logicalId);
    if (!h) {
      // Module-scope code (clients, requireEnv) reads the environment at import: set it first.
      useEnvOf(logicalId);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(join(options.projectRoot, entry)) as { handler?: LocalHandler };
      if (typeof mod.handler !== 'function') throw new Error(`${entry} does not export a handler`);
      h = mod.handler;
      handlers.set(logicalId, h);
    }
    return h;
  };
  /** Calls a handler that reads its environment at call time, with its own environment. */
  const invokeWithEnv = async (logicalId: string, entry: string, event: unknown): Promise<unknown> => {
    const handler = loadHandler(logicalId, entry);
    useEnvOf(logicalId);
    return handler(event, { getRemainingTimeInMillis: () => 600_000, functionName: logicalId, awsRequestId: `local-${Date.now()}` });
  };

  const runSqs = new SQSClient({ region, endpoint: sqsEmulator.endpoint });
  const runners = new Map<string, ReturnType<typeof createExecutionRunner>>();
  for (const job of config.jobs) {
    const definition = stateMachineDefinition(model, job, ref);
    runners.set(
      smArns.get(job.name)!,
      createExecutionRunner({
        definition,
        sqs: runSqs,
        stepTimeoutSeconds: LOCAL_STEP_TIMEOUT_SECONDS,
        handlerFor: (functionName) => {
          const id = functionName.split(':').pop()!;
          const entry = model.entries.get(id);
          if (!entry) throw new Error(`No handler entry known for function ${id}`);
          return loadHandler(id, entry);
        },
      }),
    );
  }

  // Producers: the schedules of the template, their target functions and inputs.
  const producerSchedules = schedules(model).filter((s) => s.state === 'ENABLED');
  const tickPlan: Array<{ at: Date; fn: string; entry: string; input: string; job: string }> = [];
  for (const s of producerSchedules) {
    const jobName = functionEnvironment(model, s.targetFunction, ref).JOB_NAME;
    const job = config.jobs.find((j) => j.name === jobName);
    if (!job) continue;
    for (const at of scheduleTicks(parseSchedule(s.expression), s.timeZone, from, to)) {
      const iso = at.toISOString().replace(/\.000Z$/, 'Z');
      tickPlan.push({ at, fn: s.targetFunction, entry: job.producer.entry, input: (s.input ?? '{}').replaceAll('<aws.scheduler.scheduled-time>', iso), job: job.name });
    }
  }
  tickPlan.sort((a, b) => a.at.getTime() - b.at.getTime());

  // The tick queue's event source: its starter is driven as the mapping would drive it, one batch
  // message at a time, in order, after each producer invocation (see local/sqs-esm.ts).
  const tickSources = eventSources(model).map((es) => ({ ...es, entry: model.entries.get(es.functionId) }));
  const drainTickQueues = async (): Promise<void> => {
    for (const es of tickSources) {
      if (!es.entry) throw new Error(`No handler entry known for the event source function ${es.functionId}`);
      const run = await driveEventSource({
        sqs: runSqs,
        queueUrl: queueUrls.get(es.queueId)!,
        maxConcurrency: 1,
        timeoutMs: es.timeoutSeconds * 1000,
        region,
        functionName: es.functionId,
        maxInvocations: 1_000,
        container: () => async (event, context) => {
          const handler = loadHandler(es.functionId, es.entry!);
          useEnvOf(es.functionId);
          return (await handler(event, context)) as never;
        },
      });
      if (run.failed > 0) progress(`  ${run.failed} batch invocation(s) of ${es.functionId} failed and were retried`);
    }
  };

  // Reprocess: the template's function if the stack has one (env with MAX_REPLAYS; producers and the starter also name the quarantine).
  let reprocessFn = Object.entries(resources).find(
    ([, r]) => r.Type === 'AWS::Lambda::Function' && JSON.stringify(r.Properties?.Environment ?? {}).includes('MAX_REPLAYS'),
  )?.[0];
  const spoolId = Object.entries(resources).find(([id, r]) => r.Type === 'AWS::SQS::Queue' && /ErrorSpool/.test(id) && !/Dlq|Dead|Quarantine/i.test(id))?.[0];
  const spoolUrl = reprocessFn ? envFor(reprocessFn).SPOOL_QUEUE_URL : queueUrls.get(spoolId ?? '');
  if (!spoolUrl) throw new Error('The template has no error spool queue');
  const spoolName = spoolUrl.split('/').pop()!;
  let quarantineUrl = reprocessFn ? envFor(reprocessFn).QUARANTINE_QUEUE_URL : undefined;
  // Until the stack defines the reprocess function, run its handler with the environment its
  // construct documents (lambdas/reprocess/handler.ts readEnv) and a local quarantine queue.
  const REPROCESS_LOCAL_ID = 'LocalReprocess';
  if (!reprocessFn && existsSync(join(options.projectRoot, 'lambdas/reprocess/handler.ts'))) {
    quarantineUrl = await sqsEmulator.createQueue('LocalQuarantine');
    envOf.set(REPROCESS_LOCAL_ID, {
      POWERTOOLS_SERVICE_NAME: 'reprocess',
      SPOOL_QUEUE_URL: spoolUrl,
      QUARANTINE_QUEUE_URL: quarantineUrl,
      ALLOWED_STATE_MACHINE_ARNS: [...smArns.values()].join(','),
      MAX_REPLAYS: String(config.spool.maxReplays),
      MAX_REPROCESS: String(config.reprocess.defaultMax),
    });
    reprocessFn = REPROCESS_LOCAL_ID;
  }

  // ---- bookkeeping
  const outcomes = new Map<string, ExecutionOutcome & { envelope: TaskEnvelope; at: Date }>();
  const hourly = new Map<string, HourRow>();
  const row = (when: Date): HourRow => {
    // The final replay runs at the end of the period: count it in the period's last hour, not in
    // an hour past it.
    const at = when.getTime() >= to.getTime() ? new Date(to.getTime() - 1) : when;
    const hour = localHour(at, tz);
    let r = hourly.get(hour);
    if (!r) {
      r = { hour, tasks: 0, retries: 0, spooled: 0, replayed: 0, spoolDepth: 0, maintenance: inMaintenance(plan, at, tz), held: false };
      hourly.set(hour, r);
    }
    return r;
  };
  for (let t = from.getTime(); t < to.getTime(); t += 3_600_000) row(new Date(t));

  const runPending = async (): Promise<void> => {
    while (pending.length > 0) {
      const batch = pending.splice(0, pending.length);
      for (const e of batch) {
        const env = parseEnvelope(JSON.parse(e.input));
        const tickIso = env.scheduledTime;
        const keys = tickKeys.get(`${env.job}|${tickIso}`) ?? [];
        if (!keys.includes(env.key)) keys.push(env.key);
        tickKeys.set(`${env.job}|${tickIso}`, keys);
        taskRefs.set(env.key, { tick: new Date(tickIso), key: env.key, tickKeys: keys });
      }
      await mapLimit(batch, 64, async (e) => {
        const envelope = parseEnvelope(JSON.parse(e.input));
        const at = clock.now();
        const out = await runners.get(e.stateMachineArn)!({ executionArn: e.executionArn, name: e.name, stateMachineArn: e.stateMachineArn, input: envelope, startDate: e.startDate });
        sfnEndpoint.complete(e.executionArn, out.status);
        outcomes.set(e.executionArn, { ...out, envelope, at });
        const r = row(at);
        r.retries += Object.values(out.retries).reduce((a, b) => a + b, 0);
        if (out.status === 'FAILED') r.spooled += 1;
        else if (envelope.attempt > 1) r.replayed += 1;
      });
    }
  };

  const spoolDepth = async (): Promise<number> => {
    const out = await runSqs.send(new GetQueueAttributesCommand({ QueueUrl: spoolUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
  };

  // The operator's replay: after the API is back, replay the failures a retry can fix (the
  // retryable error names of the config, and step timeouts), in batches of 100, until none is left.
  const replayable = [...new Set(config.jobs.flatMap((j) => lambdaStepsOf(j).flatMap((s) => s.retry.retryableErrors)).concat('States.Timeout'))];
  const replayRounds: OfflineReport['replayRounds'][number][] = [];
  const operatorReplay = async (): Promise<void> => {
    if (!reprocessFn) {
      progress('  (no reprocess function in the template: replay skipped)');
      return;
    }
    // An operator does not replay into a maintenance window: every replay would fail again and
    // spend the task's replay budget (spool.maxReplays) until reprocess quarantines it.
    if (inMaintenance(plan, clock.now(), tz)) {
      progress('  the API is in maintenance: the operator waits, nothing replayed');
      return;
    }
    // A second pass picks up replays that failed with another error (e.g. a timeout); a third is
    // as far as a person at 3 a.m. goes before looking closer.
    for (let pass = 0; pass < 3; pass++) {
      let startedThisPass = 0;
      // What an operator sees first (console, or a dry run): which errors wait in the spool.
      const waiting = new Map<string, number>();
      for (const m of (await sqsEmulator.inspectQueue(spoolName)).all) {
        const e = m.attributes[SPOOL_ATTR_ERROR] ?? '';
        waiting.set(e, (waiting.get(e) ?? 0) + 1);
      }
      for (const errorType of replayable.filter((e) => waiting.has(e))) {
        for (let batch = 0; batch < 1000; batch++) {
          const summary = (await invokeWithEnv(reprocessFn, 'lambdas/reprocess/handler.ts', { max: 100, errorType })) as {
            started: number;
            alreadyStarted: number;
            invalid: number;
            remaining: number | null;
            stoppedBecause: string;
          };
          if (summary.started + summary.alreadyStarted + summary.invalid > 0) {
            replayRounds.push({ at: localHour(clock.now(), tz), errorType, started: summary.started, alreadyStarted: summary.alreadyStarted, invalid: summary.invalid, remaining: summary.remaining });
            progress(`  replay {"max":100,"errorType":"${errorType}"}: started ${summary.started}, already started ${summary.alreadyStarted}, quarantined ${summary.invalid}, left in spool ~${summary.remaining ?? '?'}`);
          }
          startedThisPass += summary.started + summary.alreadyStarted;
          await runPending();
          // 'max': there may be more of this error; anything else: none left that matches.
          if (summary.stoppedBecause !== 'max') break;
        }
      }
      if (startedThisPass === 0) return;
    }
  };

  // ---- the simulated day(s)
  clock.install();
  let lastHour = '';
  let wasInMaintenance = false;
  try {
    progress(`simulating ${localDay(from, tz)} 00:00 to ${localHour(to, tz)}:00 ${tz}: ${tickPlan.length} ticks, faults ${profile}, seed ${seed}`);
    for (const tick of tickPlan) {
      clock.set(tick.at);
      firehose.flushDue();
      const maintenance = inMaintenance(plan, tick.at, tz);
      if (wasInMaintenance && !maintenance) {
        progress(`${localHour(tick.at, tz)}:${zonedParts(tick.at, tz).minute} the API is back: operator replays the spool`);
        await operatorReplay();
      }
      wasInMaintenance = maintenance;
      await invokeWithEnv(tick.fn, tick.entry, JSON.parse(tick.input));
      await drainTickQueues();
      // What the starters started for this tick (replays run in operatorReplay).
      row(tick.at).tasks += pending.length;
      await runPending();
      const r = row(tick.at);
      r.spoolDepth = await spoolDepth();
      const hour = localHour(tick.at, tz);
      if (hour !== lastHour) {
        lastHour = hour;
        const done = [...outcomes.values()];
        progress(
          `${hour}:00 ${maintenance ? '[API maintenance] ' : ''}executions ${done.length}, failed ${done.filter((o) => o.status === 'FAILED').length}, spool depth ${r.spoolDepth}`,
        );
      }
    }
    clock.set(to);
    progress(`end of the simulated period: final replay`);
    await operatorReplay();
    // Let Firehose deliver what it holds (its buffer interval passes).
    clock.set(new Date(to.getTime() + bufferSeconds * 1000));
    firehose.flushAll();
  } catch (e) {
    // Do not leave the emulator's worker thread running (a test process would hang on it).
    await sqsEmulator.stop().catch(() => undefined);
    throw e;
  } finally {
    clock.uninstall();
    await dynamo.stop();
    await api.close();
    await sfnEndpoint.stop();
    await firehose.close();
  }

  // ---- the report
  const spoolSnapshot = await sqsEmulator.inspectQueue(spoolName);
  const quarantineSnapshot = quarantineUrl ? await sqsEmulator.inspectQueue(quarantineUrl.split('/').pop()!) : { all: [] };
  await sqsEmulator.stop();
  runSqs.destroy();
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);

  const spooledTasks = new Map<string, string>();
  for (const m of spoolSnapshot.all) {
    try {
      const body = JSON.parse(m.body) as { taskId?: string; error?: string };
      if (body.taskId) spooledTasks.set(body.taskId, body.error ?? 'Unknown');
    } catch {
      spooledTasks.set(`malformed-${spooledTasks.size}`, 'Malformed');
    }
  }
  const quarantinedTasks = new Set<string>();
  for (const m of quarantineSnapshot.all) {
    try {
      const body = JSON.parse(m.body) as { taskId?: string; original?: { taskId?: string } };
      quarantinedTasks.add(body.taskId ?? body.original?.taskId ?? `q-${quarantinedTasks.size}`);
    } catch {
      quarantinedTasks.add(`q-${quarantinedTasks.size}`);
    }
  }

  // The parameter log as written.
  const files = listFiles(options.outDir).filter((f) => f.endsWith('.gz'));
  const filesPerPartition: Record<string, number> = {};
  const client: ParamLogRecord[] = [];
  const worker: ParamLogRecord[] = [];
  for (const f of files) {
    const rel = relative(options.outDir, f).split(/[\\/]/);
    const partition = rel.slice(0, -1).join('/');
    filesPerPartition[partition] = (filesPerPartition[partition] ?? 0) + 1;
    const recs = parseJsonLines(gunzipSync(readFileSync(f)).toString('utf8'));
    (rel[0] === 'client' ? client : worker).push(...recs);
  }

  const byTask = new Map<string, Array<ExecutionOutcome & { envelope: TaskEnvelope }>>();
  for (const o of outcomes.values()) {
    const list = byTask.get(o.envelope.taskId) ?? [];
    list.push(o);
    byTask.set(o.envelope.taskId, list);
  }
  const startedTasks = [...new Set(client.filter((r) => r.result === 'Started').map((r) => r.task_id))];
  let firstTry = 0;
  let recovered = 0;
  let replayed = 0;
  let duplicates = 0;
  const lostTaskIds: string[] = [];
  const stillSpooled: string[] = [];
  for (const taskId of startedTasks) {
    const list = (byTask.get(taskId) ?? []).sort((a, b) => a.envelope.attempt - b.envelope.attempt);
    const successes = list.filter((o) => o.status === 'SUCCEEDED');
    if (successes.length > 1) duplicates += successes.length - 1;
    const first = list[0];
    if (first?.status === 'SUCCEEDED' && first.envelope.attempt === 1) {
      if (Object.values(first.retries).some((n) => n > 0)) recovered += 1;
      else firstTry += 1;
    } else if (successes.length > 0) replayed += 1;
    else if (spooledTasks.has(taskId)) stillSpooled.push(taskId);
    else if (!quarantinedTasks.has(taskId)) lostTaskIds.push(taskId);
  }
  for (const n of startCounts.values()) if (n > 1) duplicates += n - 1;
  duplicates += sfnEndpoint.counters.duplicates;
  const workerSuccess = new Map<string, number>();
  for (const r of worker) if (r.result === 'Success') workerSuccess.set(r.task_id, (workerSuccess.get(r.task_id) ?? 0) + 1);
  for (const n of workerSuccess.values()) if (n > 1) duplicates += n - 1;
  // Every execution must have left a worker record (what the lost-task query relies on).
  const recordedExecutions = new Set(worker.map((r) => r.execution_arn));
  for (const o of outcomes.values()) if (!recordedExecutions.has(o.executionArn) && !lostTaskIds.includes(o.envelope.taskId)) lostTaskIds.push(o.envelope.taskId);

  const spooledByError: Record<string, number> = {};
  for (const o of outcomes.values()) if (o.status === 'FAILED') spooledByError[o.error ?? 'Unknown'] = (spooledByError[o.error ?? 'Unknown'] ?? 0) + 1;
  const stillByError: Record<string, number> = {};
  for (const id of stillSpooled) stillByError[spooledTasks.get(id)!] = (stillByError[spooledTasks.get(id)!] ?? 0) + 1;

  // The saved Athena queries, on DuckDB over the folder.
  progress('running the saved Athena queries on DuckDB over the output folder ...');
  const days: string[] = [];
  for (let d = localDay(from, tz); d <= localDay(new Date(to.getTime() - 1), tz); d = nextDay(d)) days.push(d);
  const db = await ParamLogDb.open(options.outDir);
  let lostTasksByDay: Array<{ day: string; lost: number }>;
  let dailyCounts: Array<Record<string, unknown>>;
  try {
    lostTasksByDay = [];
    for (const day of days) {
      const [r] = await db.query(LOST_TASK_COUNT_SQL, lostTaskParams(day));
      lostTasksByDay.push({ day, lost: Number(r?.lost ?? 0) });
    }
    dailyCounts = await db.query(DAILY_COUNTS.sql, [days[0], nextDay(days[days.length - 1])]);
  } finally {
    db.close();
  }

  const hourRows = [...hourly.values()].sort((a, b) => a.hour.localeCompare(b.hour));
  // Spool depth is sampled at ticks; carry it through hours without ticks.
  for (let i = 1; i < hourRows.length; i++) if (hourRows[i].tasks === 0 && hourRows[i].spoolDepth === 0) hourRows[i].spoolDepth = hourRows[i - 1].spoolDepth;

  return {
    from: from.toISOString(),
    to: to.toISOString(),
    timeZone: tz,
    seed,
    faults: profile,
    plan,
    wallMs: Date.now() - wallStart,
    ticks: tickPlan.length,
    tasks: startedTasks.length,
    executions: outcomes.size,
    succeededFirstTry: firstTry,
    recoveredByRetry: recovered,
    retries: [...outcomes.values()].reduce((n, o) => n + Object.values(o.retries).reduce((a, b) => a + b, 0), 0),
    spooledByError,
    replayed,
    replayRounds,
    stillSpooled: { total: stillSpooled.length, byError: stillByError, taskIds: stillSpooled },
    quarantined: quarantinedTasks.size,
    lost: lostTaskIds.length,
    lostTaskIds,
    duplicates,
    startFailed: client.filter((r) => r.result === 'StartFailed').length,
    records: { client: client.length, worker: worker.length },
    filesPerPartition,
    queries: { lostTasksByDay, dailyCounts },
    api: { ...api.stats },
    hourly: hourRows,
  };
}
