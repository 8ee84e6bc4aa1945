import './quiet';
import { installHandlerEnv } from '../handler-env';
import { SFNClient } from '@aws-sdk/client-sfn';
import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { appConfig as defaultAppConfig } from '../../bin/config';
import { AppConfig, lambdaStepsOf, ResolvedAppConfig } from '../../lib/config/types';
import { resolveConfig } from '../../lib/config/validate';
import type { CaptureResult } from '../../lambdas/execution-capture/logic';
import type { ReprocessResult } from '../../lambdas/reprocess/handler';
import { readEnv as readReprocessEnv } from '../../lambdas/reprocess/env';
import { parseEnvelope } from '../../lambdas/shared/envelope';
import { activeWindow } from '../../lambdas/shared/holds';
import { startJobStubs } from '../job-stubs';
import { faultPlan, FaultPlan, inMaintenance, startFakeExternalApi, TaskRef } from '../fake-external-api';
import { startSfnStandin, StandinExecution, statusChangeEvent } from '../sfn-standin';
import { driveEventSource } from '../sqs-esm';
import { asyncInvokeConfig, AsyncInvokeModel, eventRules, eventSources, REPROCESS_ENTRY, synthesizeApp, tableIds } from './app-model';
import { CANARY_PROCESS_ENV, CanaryRecorder } from './canary';
import { queuesOutsideLock } from './canary-queues';
import { matchesEventPattern } from './eventbridge';
import { createHandlerHost, installBaseEnvironment } from './handler-host';
import { DayBooks } from './day-books';
import { planTicks } from './tick-plan';
import { apiDependencies, withPlannedWindows } from './hold-config';
import { AsyncInvoker } from './lambda-async';
import { hhmm, localDay, localHour, localMidnight, localMinuteText } from './local-time';
import { AcceptedInvocation, Operator } from './operator';
import { errorsWaiting, OperatorDesk, replayableErrors } from './operator-desk';
import { createJobRunners } from './job-runners';
import { asyncEventKey, awsFaultRates, AwsFaults, dispatchStatusEvent, limitHistory, simulatedRetryWaitSeconds } from './aws-faults';
import { findReconciler, reconcileTimes } from './reconciler-hook';
import type { OfflineReport } from './report-types';
import { EXECUTION_CONCURRENCY, LOCAL_EXECUTION_TIMEOUT_SECONDS, LOCAL_STALL_MS, LOCAL_STEP_TIMEOUT_SECONDS, OfflineRunOptions } from './run-options';
import { assembleReport } from './assemble-report';
import { startServices, stopServices } from './services';
import { SideEffectLog } from './side-effects';
import { SimClock, Timeline } from './sim-clock';
import { restrictToJobs } from './single-tick';
import { createMapRuns } from './map-run-hook';

export { EXECUTION_CONCURRENCY, HOLD_MODES, LOCAL_EXECUTION_TIMEOUT_SECONDS, LOCAL_STALL_MS, LOCAL_STEP_TIMEOUT_SECONDS } from './run-options';
export type { HoldMode, OfflineRunOptions } from './run-options';
export type { FailedTick, HourRow, OfflineReport, OutsideReport, WindowReport } from './report-types';
export { localMidnight } from './local-time';
export { apiDependencies, withPlannedWindows } from './hold-config';

const DEFAULT_START_DAY = '2026-11-25';
/** The example jobs the fault plan is about (bin/config.ts). */
const API_JOB = 'example-api';
const FANOUT_JOB = 'example-fanout';

async function mapLimit<T>(items: ReadonlyArray<T>, limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
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
  const holdMode = options.hold ?? 'operator';
  const withOperator = holdMode !== 'planned-windows' && !options.singleTick;
  const plan: FaultPlan = { ...faultPlan(profile, seed), ...options.faultPlanOverrides };
  const { dropEventWhen, ...rateOverrides } = options.awsFaultOverrides ?? {};
  const awsFaults = new AwsFaults(options.awsFaults ?? 'kind', seed, { ...awsFaultRates(options.awsFaults ?? 'kind'), ...rateOverrides }, dropEventWhen);
  const sideEffects = new SideEffectLog();
  // The steps report where they apply a side effect (sideEffectApplied); removed at the end of the run.
  const unobserveSideEffects = sideEffects.observeSteps();
  /** `tick|key` -> task id, so the API's applications are keyed by task like the steps'. */
  const taskIdOfKey = new Map<string, string>();
  /** `taskId|attempt` of executions that have ended (a step still running after it ran on past its execution). */
  const endedAttempts = new Set<string>();
  let retryWaitSeconds = 0;
  let firehoseDiscarded = 0;
  let firehoseRetrying = 0;
  const resolve = (c: AppConfig): ResolvedAppConfig =>
    resolveConfig(c, {
      fileExists: (p) => existsSync(join(options.projectRoot, p)),
      // Every job of the config, the opt-in examples included, whatever the stages say.
      allJobs: true,
    });
  const appConfig = restrictToJobs(options.appConfig ?? defaultAppConfig, options.singleTick?.jobs);
  let config = resolve(appConfig);
  const heldDependencies = apiDependencies(config);
  if (holdMode === 'planned-windows') config = resolve(withPlannedWindows(appConfig, heldDependencies, plan));
  const tz = config.timeZone;
  const from = localMidnight(options.startDay ?? DEFAULT_START_DAY, tz);
  const to = new Date(from.getTime() + (options.hours ?? 24 * (options.days ?? 1)) * 3_600_000);
  const windowsOf = Object.fromEntries(config.dependencies.map((d) => [d.name, d.windows]));
  /** Steps (state names) that call a held dependency: their retries are the window's. */
  const dependentStates = new Set(config.jobs.flatMap((j) => lambdaStepsOf(j).filter((s) => s.dependsOn && heldDependencies.includes(s.dependsOn)).map((s) => s.name)));

  if (options.clean ?? true) rmSync(options.outDir, { recursive: true, force: true });
  mkdirSync(options.outDir, { recursive: true });
  const canary = options.canary ? new CanaryRecorder(options.canary, options.outDir) : null;
  canary?.start();

  progress(`synthesizing the app (bundling and template validation skipped) ...`);
  const model = synthesizeApp(config, options.projectRoot);
  const region = model.region;
  // The jobs' own stubs (secrets always served locally, HTTP, environment): loaded first, so a bad stubs.ts stops the run before any service starts.
  const stubs = await startJobStubs({ projectRoot: options.projectRoot, config, model, region });

  // ---- local services
  const clock = new SimClock(from);
  const timeline = new Timeline(clock);
  const savedEnv = { ...process.env };
  // Each handler invocation gets its own process.env, carried across its awaits (every Lambda
  // function has its own process): swapping the one process.env let a handler that read its
  // environment after an await see another function's, differently on a slower machine.
  const handlerEnv = installHandlerEnv();
  const services = await startServices({ model, config, outDir: options.outDir, now: () => clock.now(), bucketDown: (at) => awsFaults.bucketDown(at, from) });
  const { sqs: sqsEmulator, dynamo, tables, queueUrls, ref, functionArn, firehose, bufferSeconds, invocable, lambda: lambdaEndpoint } = services;

  // The fake API learns which task a call is about from the executions the run starts.
  const taskRefs = new Map<string, TaskRef>();
  const tickKeys = new Map<string, string[]>();
  /** Execution running for a task key now (the operator stops the one stuck on a hanging call). */
  const runningByKey = new Map<string, string>();
  /** Operator actions started from inside a request (a stop), awaited before the batch counts as done. */
  const background: Array<Promise<void>> = [];
  let operator: Operator | undefined;
  const api = await startFakeExternalApi({
    plan,
    timeZone: tz,
    now: () => clock.now(),
    taskOf: (body) => taskRefs.get(String((body as { orderId?: unknown } | null)?.orderId ?? '')),
    // Past the (compressed) step timeout, so the slow call ends in States.Timeout as in AWS.
    slowMs: (LOCAL_STEP_TIMEOUT_SECONDS + 1) * 1000,
    stallMs: LOCAL_STALL_MS,
    // The operator sees the execution stuck in CallApi (console, or the step's duration) and stops it.
    onHang: (t) => {
      const arn = runningByKey.get(t.key);
      if (arn && operator) background.push(operator.stop(arn, `stuck waiting for the orders API (order ${t.key})`));
    },
    honourIdempotencyKeys: options.apiHonoursIdempotencyKeys ?? true,
    onApplied: (t, key) => sideEffects.apiSideEffect(taskIdOfKey.get(`${t.tick.toISOString()}|${t.key}`) ?? t.key, key, options.apiHonoursIdempotencyKeys ?? true),
  });

  const smArns = new Map<string, string>(); // job -> arn
  for (const [job, id] of model.stateMachines) smArns.set(job, ref(id, 'AWS::StepFunctions::StateMachine'));
  const pending: StandinExecution[] = [];
  const starts = new Map<string, { job: string; count: number }>();
  const statusEvents: Array<ReturnType<typeof statusChangeEvent>> = [];
  // Every accepted StartExecution (starter or reprocess) is queued and run after the call returns;
  // every status change is queued for EventBridge (delivered when the batch has run).
  const sfnEndpoint = await startSfnStandin({
    onStart: (e) => {
      const prior = starts.get(e.name);
      // A high-volume parent's input is {tasks: [...]}: its job is its tasks'.
      const input = JSON.parse(e.input) as { job?: unknown; tasks?: Array<{ job?: unknown }> };
      starts.set(e.name, { job: prior?.job ?? String(input.job ?? input.tasks?.[0]?.job ?? ''), count: (prior?.count ?? 0) + 1 });
      pending.push(e);
    },
    onStatusChange: (e) => void statusEvents.push(statusChangeEvent(e)),
    // A high-volume parent's start answered 503 (the `parentStartUnavailable` knob; mapRuns is built below, asked only during the run).
    unavailableStart: (arn, name) => mapRuns.isParent(arn) && awsFaults.parentStartUnavailable(name),
  });

  // ---- environment of the handlers: only the standard endpoint variables and fake credentials.
  const baseEnv = installBaseEnvironment({
    region,
    endpoints: {
      ...stubs.endpoints,
      AWS_ENDPOINT_URL_SQS: sqsEmulator.endpoint,
      AWS_ENDPOINT_URL_SFN: sfnEndpoint.endpoint,
      AWS_ENDPOINT_URL_FIREHOSE: firehose.endpoint,
      AWS_ENDPOINT_URL_KMS: services.kms.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_LAMBDA: lambdaEndpoint.endpoint,
      // The S3 API of the same emulator (an IP host: path-style), where the Map Run stand-in writes its results.
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${sqsEmulator.port}`,
    },
    verbose: options.verbose ?? false,
    extra: canary ? CANARY_PROCESS_ENV : {},
  });

  // Producers: the schedules of the template, their target functions, and the period's ticks.
  const { producerOf, jobOfFunction, ticks: tickPlan, ticksByJob } = planTicks(model, ref, config, from, to, options.singleTick !== undefined);

  const host = createHandlerHost({
    projectRoot: options.projectRoot,
    model,
    ref,
    baseEnv,
    stubEnv: (id) => stubs.environmentFor(id),
    canary,
    apiUrl: api.url,
    tasksPerTick: options.tasksPerTick,
    plan,
    timeZone: tz,
    now: () => clock.now(),
    producerOf,
    apiJob: API_JOB,
    fanoutJob: FANOUT_JOB,
    handlerEnv,
  });
  const { envFor, loadHandler } = host;
  const invokeWithEnv = (logicalId: string, event: unknown): Promise<unknown> => host.invoke(logicalId, event);

  const runSqs = new SQSClient({ region, endpoint: sqsEmulator.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const runSfn = new SFNClient({ region, endpoint: sfnEndpoint.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const stepHandler = (id: string) =>
    sideEffects.wrapStep(host.withContext(id, loadHandler(id)), (ev) => {
      const t = (ev as { task?: { taskId?: unknown; attempt?: unknown } } | null)?.task;
      return endedAttempts.has(`${String(t?.taskId)}|${String(t?.attempt)}`);
    });
  const { runners, retriersOf } = createJobRunners({
    config,
    model,
    ref,
    smArns,
    sqs: runSqs,
    stepTimeoutSeconds: LOCAL_STEP_TIMEOUT_SECONDS,
    executionTimeoutSeconds: LOCAL_EXECUTION_TIMEOUT_SECONDS,
    // Tracked to its end: a stopped execution's step Lambda runs on, and its side effects land late.
    // Each call gets its function's Lambda context (its timeout's countdown), as Lambda gives it.
    handlerFor: (id) => stepHandler(id),
  });
  // High-volume parents: their Distributed Map runs in the Map Run stand-in (map-run.ts); each item is booked as it ends.
  const mapRuns = createMapRuns({ model, ref, sqs: runSqs, s3Endpoint: `http://127.0.0.1:${sqsEmulator.port}`, handlerFor: (id) => stepHandler(id), awsFaults, postMapStep: options.postMapStep,
    onItem: (end) => (endedAttempts.add(`${end.envelope.taskId}|${end.envelope.attempt}`), dayBooks.record(end.childArn, end.childArn.split(':').pop()!, end.envelope, { status: end.status, error: end.error, cause: end.cause, retries: {} }, clock.now(), false, `${end.childArn}#${end.envelope.taskId}`)) });

  // The tick queue's event source: its starter is driven as the mapping would drive it, one batch
  // message at a time, in order, after each producer invocation (see local/sqs-esm.ts).
  const tickSources = eventSources(model);
  const drainTickQueues = async (): Promise<void> => {
    for (const es of tickSources) {
      // An empty queue has nothing to hand over (asked of the emulator directly: no SQS request per settle).
      const q = await sqsEmulator.inspectQueue(queueUrls.get(es.queueId)!.split('/').pop()!);
      if (q.ready + q.inflight + q.delayed === 0) continue;
      const run = await driveEventSource({
        sqs: runSqs,
        queueUrl: queueUrls.get(es.queueId)!,
        maxConcurrency: 1,
        timeoutMs: es.timeoutSeconds * 1000,
        region,
        functionName: es.functionId,
        maxInvocations: 1_000,
        redeliver: (m) => awsFaults.sqsTwice(m.Body ?? m.MessageId ?? ''),
        container: () => async (event, context) => {
          const handler = loadHandler(es.functionId);
          return (await host.inEnvOf(es.functionId, () => handler(event, context))) as never;
        },
      });
      if (run.failed > 0) progress(`  ${run.failed} batch invocation(s) of ${es.functionId} failed and were retried`);
    }
  };

  // Reprocess and the status-change capture: the template's functions, with their environment.
  const reprocessFn = [...model.entries].find(([, e]) => e === REPROCESS_ENTRY)?.[0];
  if (!reprocessFn) throw new Error('The template has no reprocess function');
  const spoolUrl = envFor(reprocessFn).SPOOL_QUEUE_URL;
  const quarantineUrl = envFor(reprocessFn).QUARANTINE_QUEUE_URL;
  if (!spoolUrl || !quarantineUrl) throw new Error('The reprocess function names no spool or quarantine queue');
  const spoolName = spoolUrl.split('/').pop()!;
  const rules = eventRules(model, ref);
  const asyncConfigs = new Map<string, AsyncInvokeModel>();
  const asyncConfig = (id: string): AsyncInvokeModel => {
    let c = asyncConfigs.get(id);
    if (!c) asyncConfigs.set(id, (c = asyncInvokeConfig(model, id)));
    return c;
  };
  const failedInvocationsQueue = [...producerOf.values()].map((id) => asyncConfig(id).onFailureQueue).find((q) => q !== null) ?? null;
  const failedInvocationsName = failedInvocationsQueue ? queueUrls.get(failedInvocationsQueue)!.split('/').pop()! : null;

  // ---- bookkeeping
  const dayBooks = new DayBooks(plan, tz, from, to, dependentStates);
  const { outcomes } = dayBooks;
  const captures: CaptureResult[] = [];
  let captureFailures = 0;

  const runPending = async (): Promise<void> => {
    while (pending.length > 0) {
      const batch = pending.splice(0, pending.length);
      for (const e of batch) {
        if (mapRuns.isParent(e.stateMachineArn)) continue;
        const env = parseEnvelope(JSON.parse(e.input));
        const tickIso = env.scheduledTime;
        const keys = tickKeys.get(`${env.job}|${tickIso}`) ?? [];
        if (!keys.includes(env.key)) keys.push(env.key);
        tickKeys.set(`${env.job}|${tickIso}`, keys);
        taskRefs.set(env.key, { tick: new Date(tickIso), key: env.key, tickKeys: keys });
        taskIdOfKey.set(`${new Date(tickIso).toISOString()}|${env.key}`, env.taskId);
      }
      await mapLimit(batch, EXECUTION_CONCURRENCY, async (e) => {
        if (mapRuns.isParent(e.stateMachineArn)) return void (await mapRuns.runParent(e, sfnEndpoint));
        const envelope = parseEnvelope(JSON.parse(e.input));
        const at = clock.now();
        const maintenance = inMaintenance(plan, at, tz);
        runningByKey.set(envelope.key, e.executionArn);
        const limited = limitHistory(sfnEndpoint.localRun(e.executionArn), awsFaults.rates.historyEventLimit);
        let out = await runners.get(e.stateMachineArn)!({
          executionArn: e.executionArn,
          name: e.name,
          stateMachineArn: e.stateMachineArn,
          input: envelope,
          startDate: e.startDate,
          hooks: limited.hooks,
        });
        // Past the history quota Step Functions fails the execution itself: no Catch runs.
        if (limited.exceeded()) {
          awsFaults.counts.historyExceeded += 1;
          out = { ...out, status: 'FAILED', error: 'States.Runtime', cause: `the execution history passed ${awsFaults.rates.historyEventLimit} events` };
        }
        endedAttempts.add(`${envelope.taskId}|${envelope.attempt}`);
        retryWaitSeconds += simulatedRetryWaitSeconds(retriersOf.get(e.stateMachineArn) ?? (() => []), out.retries, seed, e.name);
        if (runningByKey.get(envelope.key) === e.executionArn) runningByKey.delete(envelope.key);
        // Ends it in the stand-in (a stopped execution stays ABORTED), which emits its status change.
        sfnEndpoint.complete(e.executionArn, out.status, { error: out.error, cause: out.cause });
        // Only the ends the capture reads keep their history (memory: a big tick runs 100,000s).
        if (out.status === 'SUCCEEDED') sfnEndpoint.dropHistory(e.executionArn);
        dayBooks.record(e.executionArn, e.name, envelope, out, at, maintenance);
      });
      await Promise.all(background.splice(0, background.length));
    }
  };

  /**
   * Asynchronous Invokes the Lambda stand-in accepted (reprocess's re-invokes), waiting for Lambda
   * to run them. The stand-in is the Invoke API only (202 at once): what Lambda then does with the
   * event is the same model Scheduler's invocations go through (lambda-async.ts: retries 1 and 2
   * simulated minutes later, the record to the template's on-failure destination), so the re-invoke
   * keeps the simulated clock, and it runs only when `runAcceptedInvocations` lets it, never in the
   * middle of the reprocess call that invoked it (handlers share this process's environment).
   */
  const accepted: Array<{ label: string; functionId: string; event: unknown }> = [];
  // The functions reprocess resolves from its template environment (INVOCABLE_FUNCTIONS +
  // FUNCTION_ARN_PREFIX, read by its own env reader), each served under its name when the run has
  // its handler (the producers, the status-change capture); any other answers 404 as an unknown
  // function, and reprocess leaves its record (`failed`).
  for (const [label, arn] of readReprocessEnv(envFor(reprocessFn)).invocableFunctions) {
    const functionId = [...model.entries.keys()].find((id) => functionArn(id) === arn);
    if (!functionId) continue;
    invocable[arn.split(':')[6]] = {
      load: async () => async (event) => void accepted.push({ label, functionId, event }),
      environment: {},
      // The hand-off never fails; Lambda's retries are the model's (above).
      retryAttempts: 0,
    };
  }

  const asyncInvoker = new AsyncInvoker({
    timeline,
    now: () => clock.now(),
    config: asyncConfig,
    functionArn,
    invoke: invokeWithEnv,
    settle: () => settle(),
    deliverTwice: (functionId, event) => awsFaults.asyncTwice(functionId, asyncEventKey(event)),
    keep: async (queueId, record) => {
      await runSqs.send(new SendMessageCommand({ QueueUrl: queueUrls.get(queueId)!, MessageBody: JSON.stringify(record) }));
    },
    onAttempt: (inv, result) => {
      if (!rules.some((r) => r.targetFunction === inv.functionId)) return;
      if (result.ok) captures.push(result.value as CaptureResult);
      else if (inv.attempts > asyncConfig(inv.functionId).retryAttempts) captureFailures += 1;
    },
  });

  /**
   * EventBridge: each queued status change the synthesized rule matches goes to its target,
   * asynchronously. The capture starts nothing, so nothing needs to settle after it.
   */
  const deliverStatusChanges = async (): Promise<void> => {
    for (const ev of statusEvents.splice(0, statusEvents.length)) {
      for (const rule of rules) {
        if (!matchesEventPattern(rule.pattern, ev)) continue;
        // Best effort (aws-faults.ts): dropped, late (on the timeline) or twice.
        await dispatchStatusEvent(
          awsFaults,
          ev,
          async (x) => void (await asyncInvoker.invoke(rule.targetFunction, x, async () => undefined)),
          (minutes, label, run) => timeline.at(new Date(clock.now().getTime() + minutes * 60_000), label, run),
        );
      }
    }
  };

  /** Runs everything the last action started: tick batches, executions, status changes, captures. */
  async function settle(): Promise<void> {
    for (let round = 0; round < 1000; round++) {
      await drainTickQueues();
      await runPending();
      if (statusEvents.length === 0) return;
      await deliverStatusChanges();
      if (pending.length === 0 && statusEvents.length === 0) return;
    }
    throw new Error('the run did not settle after 1000 rounds');
  }

  /** Lambda runs the invocations it accepted (each settles what it started); resolves with them. */
  const runAcceptedInvocations = async (): Promise<AcceptedInvocation[]> => {
    await lambdaEndpoint.idle();
    const ran: AcceptedInvocation[] = [];
    for (const a of accepted.splice(0, accepted.length)) ran.push({ label: a.label, invocation: await asyncInvoker.invoke(a.functionId, a.event) });
    return ran;
  };

  const spoolDepth = async (): Promise<number> => {
    const out = await runSqs.send(new GetQueueAttributesCommand({ QueueUrl: spoolUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
  };

  // ---- the operator: replays what a retry (or the dependency's return) can fix.
  operator = withOperator
    ? new Operator({
        now: () => clock.now(),
        localTime: (at) => localMinuteText(at, tz),
        progress,
        ddb: dynamo.client,
        coordinationTable: tableIds(model).coordination,
        sfn: runSfn,
        spoolErrors: () => errorsWaiting(sqsEmulator, spoolName),
        failedInvocationsWaiting: async () => (failedInvocationsName ? (await sqsEmulator.inspectQueue(failedInvocationsName)).all.length : 0),
        reprocess: async (payload) => (await invokeWithEnv(reprocessFn, payload)) as ReprocessResult,
        runAcceptedInvocations,
        settle,
        replayable: replayableErrors(config),
      })
    : undefined;
  const desk = operator ? new OperatorDesk({ operator, heldDependencies, plan, timeZone: tz, now: () => clock.now(), progress }) : undefined;
  desk?.scheduleProducerFixes(timeline, from, to);

  // The operator's reconciler, when the app has one (reconciler-hook.ts): Scheduler invokes it
  // asynchronously every period; whatever it captures settles like any invocation.
  const reconcilerModel = findReconciler(model, options.projectRoot);
  let reconcilerRuns = 0;
  if (reconcilerModel && options.reconciler !== false) {
    for (const at of reconcileTimes(from, to, reconcilerModel.everyMinutes)) {
      timeline.at(at, 'reconciler', async () => {
        reconcilerRuns += 1;
        await asyncInvoker.invoke(reconcilerModel.functionId, JSON.parse(reconcilerModel.input));
      });
    }
  }

  // ---- the simulated day(s)
  clock.install();
  let lastHour = '';
  let wasInMaintenance = false;
  try {
    progress(
      `simulating ${localDay(from, tz)} 00:00 to ${localHour(to, tz)}:00 ${tz}: ${tickPlan.length} ticks, faults ${profile}, seed ${seed}, hold ${holdMode}` +
        (plan.maintenance ? ` (API maintenance ${hhmm(plan.maintenance.startMinute)}-${hhmm(plan.maintenance.endMinute)})` : ''),
    );
    for (const tick of tickPlan) {
      await timeline.runDue(tick.at);
      clock.set(tick.at);
      firehose.flushDue();
      const maintenance = inMaintenance(plan, tick.at, tz);
      if (maintenance && !wasInMaintenance && holdMode === 'operator' && operator) {
        progress(`${localMinuteText(tick.at, tz)} the API's maintenance window starts: the operator holds ${heldDependencies.join(', ')}`);
        await desk?.holdAll('planned API maintenance');
      }
      if (wasInMaintenance && !maintenance) {
        progress(`${localMinuteText(tick.at, tz)} the API is back: the operator ${desk?.holdOn ? 'releases the hold and ' : ''}replays the spool`);
        await desk?.round();
      }
      wasInMaintenance = maintenance;
      const r = dayBooks.row(tick.at);
      r.held ||= (desk?.holdOn ?? false) || heldDependencies.some((d) => activeWindow(windowsOf[d] ?? [], tick.at, tz) !== null);
      // EventBridge Scheduler invokes the producer asynchronously (its failures: Lambda's retries).
      await asyncInvoker.invoke(tick.fn, JSON.parse(tick.input));
      // Scheduler delivers at least once: sometimes the same tick twice.
      if (awsFaults.schedulerTwice(tick.fn, tick.input)) await asyncInvoker.invoke(tick.fn, JSON.parse(tick.input));
      r.spoolDepth = await spoolDepth();
      const hour = localHour(tick.at, tz);
      if (hour !== lastHour) {
        lastHour = hour;
        progress(`${hour}:00 ${maintenance ? `[API maintenance${r.held ? ', held' : ''}] ` : ''}executions ${outcomes.size}, not succeeded ${dayBooks.notSucceeded}, spool depth ${r.spoolDepth}`);
      }
    }
    await timeline.runDue(to);
    clock.set(to);
    progress(`end of the simulated period: ${operator ? 'final replay' : 'no operator'}`);
    await desk?.round();
    // A stopped or timed-out execution's step Lambda runs to its own end: wait for it, and for
    // whatever its late status changes and side effects start.
    await sideEffects.idle();
    await settle();
    // Late status changes (and what they start) arrive after the period: let them.
    await timeline.runDue(new Date(clock.now().getTime() + (2 * awsFaults.rates.eventLateMinutes + 1) * 60_000));
    // Let Firehose deliver what it holds (its buffer interval passes).
    clock.set(new Date(to.getTime() + bufferSeconds * 1000));
    firehose.flushAll();
    await canary?.snapshot({
      dynamo: dynamo.client,
      // The step records are inside the lock (params key): counted there, not searched as a sink outside.
      tables: tables.filter((t) => t !== tableIds(model).stepResults),
      insideTables: [tableIds(model).stepResults],
      sqs: sqsEmulator,
      queueNames: [...queueUrls.values()].map((u) => u.split('/').pop()!),
      outsideQueueNames: queuesOutsideLock(model),
      executions: [...outcomes.values()],
      childEnds: mapRuns.childEnds,
      events: asyncInvoker.invocations.map((i) => ({ functionId: i.functionId, event: i.event })),
    });
  } catch (e) {
    canary?.stop();
    // Do not leave the emulator's worker thread running (a test process would hang on it).
    await sqsEmulator.stop().catch(() => undefined);
    throw e;
  } finally {
    handlerEnv.restore();
    unobserveSideEffects();
    clock.uninstall();
    await api.close();
    await sfnEndpoint.stop();
    firehoseDiscarded = [...firehose.discarded.values()].reduce((a, b) => a + b, 0);
    firehoseRetrying = firehose.retrying();
    await stopServices(services);
    await stubs.stop();
  }

  // ---- the report
  const spoolSnapshot = await sqsEmulator.inspectQueue(spoolName);
  const quarantineSnapshot = await sqsEmulator.inspectQueue(quarantineUrl.split('/').pop()!);
  const failedInvocationsLeft = failedInvocationsName ? (await sqsEmulator.inspectQueue(failedInvocationsName)).all.length : 0;
  await sqsEmulator.stop();
  runSqs.destroy();
  runSfn.destroy();
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);

  const report = await assembleReport({
    outDir: options.outDir,
    from,
    to,
    timeZone: tz,
    seed,
    profile,
    holdMode,
    plan,
    wallStart,
    jobs: config.jobs.map((j) => j.name),
    ticks: tickPlan.length,
    ticksByJob,
    heldDependencies,
    spool: spoolSnapshot,
    quarantine: quarantineSnapshot,
    failedInvocationsLeft,
    day: dayBooks,
    starts,
    captures,
    captureFailures,
    sfnDuplicates: sfnEndpoint.counters.duplicates,
    invocations: asyncInvoker.invocations,
    jobOfFunction,
    apiJob: API_JOB,
    operator,
    apiStats: api.stats,
    // An Invoke reprocess made that Lambda never ran would be a tick silently dropped: it shows here.
    unfinished: [...timeline.pending(), ...accepted.map((a) => `accepted invoke of ${a.label} never run`)],
    stubs: stubs.stats(),
    world: {
      profile: awsFaults.world,
      counts: awsFaults.counts,
      reconciler: !reconcilerModel ? 'absent' : options.reconciler === false ? 'off' : 'ran',
      reconcilerRuns,
      mapRuns: mapRuns.counts,
      paramLog: { discarded: firehoseDiscarded, retrying: firehoseRetrying },
    },
    neverEnded: pending.map((e) => parseEnvelope(JSON.parse(e.input)).taskId),
    sideEffects: sideEffects.summary(),
    retryWaitSeconds,
    progress,
  });
  // The report is what the operator reads (report.json, the text): searched for the canary too.
  return canary ? { ...report, canary: canary.finish(report) } : report;
}
