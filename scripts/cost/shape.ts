import { CfnElement, Stack } from 'aws-cdk-lib';
import { ExecutionMode, highVolumeChildShape, HighVolumeShapeError } from '../../lib/config/execution-mode';
import { ResolvedAppConfig, ResolvedJob, ResolvedStep } from '../../lib/config/types';
import { HIGH_VOLUME_DEFAULTS, MAP_FAILURES_MEMORY_MIB } from '../../lib/high-volume-workflow';
import { parseSchedule, scheduleTicks } from '../../lib/config/schedule';
import { STEP_ENV } from '../../lambdas/shared/workflow-contract';
import { schedules, stateMachineDefinition, SynthesizedApp, placeholderRef } from '../../local/offline-day/app-model';
import { AslScope, AslState, PathCounts, walkExecution } from './transitions';

/**
 * The app's shape as the cost model needs it, read from the SYNTHESIZED template (and, where the
 * template cannot say which construct is which, from the construct tree): per job the billed path
 * of one task, per function its memory and architecture, the schedules, the queues Lambda polls,
 * the rules on execution status changes, keys, alarms and the parameter-log settings.
 * Nothing here is priced; see model.ts.
 */

/** How a replayed task runs again. */
export type ReplayMode = 'start' | 'resume';

/** Scenario choices that shape a task's path. */
export interface ShapeOptions {
  /** Items each Map state iterates over (capped by the job's `maxItems`). */
  readonly mapItems: number;
  /** `resume`: at the failed step (reprocess's default, `from: "failed-step"`); `start`: from the first step (`from: "start"`). */
  readonly replay: ReplayMode;
}

/**
 * How an Express child of a job's high-volume mode runs its items: the number the stack puts in
 * the Distributed Map's ItemBatcher (MaxItemsPerBatch), chosen from the job's worst case.
 */
export interface HighVolumeChild {
  /** Tasks per child (ItemBatcher MaxItemsPerBatch). */
  readonly itemsPerChild: number;
  /** Items a child runs at once (its inline Map's MaxConcurrency). */
  readonly childConcurrency: number;
  /** One task's worst case in a child, seconds (lib/config/execution-mode.ts highVolumeWorstCase). */
  readonly perItemSeconds: number;
  /**
   * `synthesized`: read from the job's HighVolumeWorkflow in the synthesized stack (the job is
   * deployed in the mode); `chosen`: what the stack would choose (highVolumeChildShape with the
   * construct's defaults); `one-wave`: synth refuses the mode (not even one item fits five
   * minutes), priced as if it fit at one wave (childConcurrency items), the fewest the stack chooses.
   */
  readonly source: 'synthesized' | 'chosen' | 'one-wave';
}

/** The child of `job` in the high-volume mode, exactly as the stack chooses it (see {@link HighVolumeChild}). */
export function highVolumeChildOf(job: Pick<ResolvedJob, 'steps'>, deployed?: { readonly childShape: { readonly itemsPerChild: number; readonly childConcurrency: number; readonly perItemSeconds: number } }): HighVolumeChild {
  if (deployed) {
    const c = deployed.childShape;
    return { itemsPerChild: c.itemsPerChild, childConcurrency: c.childConcurrency, perItemSeconds: c.perItemSeconds, source: 'synthesized' };
  }
  const max = { itemsPerChild: HIGH_VOLUME_DEFAULTS.itemsPerChild, childConcurrency: HIGH_VOLUME_DEFAULTS.childConcurrency };
  try {
    const c = highVolumeChildShape(job.steps, max);
    return { itemsPerChild: c.itemsPerChild, childConcurrency: c.childConcurrency, perItemSeconds: c.perItemSeconds, source: 'chosen' };
  } catch (e) {
    if (!(e instanceof HighVolumeShapeError)) throw e;
    return { itemsPerChild: max.childConcurrency, childConcurrency: max.childConcurrency, perItemSeconds: Number.NaN, source: 'one-wave' };
  }
}

/** One job's billed paths. */
export interface JobShape {
  readonly job: string;
  /** The job's configured execution mode (how the headline prices it). @default 'standard' */
  readonly mode?: ExecutionMode;
  /** Its child in the high-volume mode, as the stack chooses it (absent on hand-made shapes). */
  readonly child?: HighVolumeChild;
  /** The deployed high-volume workflow's own functions (logical ids), when the job is deployed in the mode. */
  readonly highVolumeFunctions?: HighVolumeFunctions;
  /** Logical id of the tick queue its producer sends to; absent: its ticks are split over every polled queue. */
  readonly tickQueue?: string;
  /** StartExecution calls per task (one per parent in high-volume). @default the assumptions' startsPerTask, else 1 */
  readonly startsPerTask?: number;
  /** Client records per sink put (a whole tick message in high-volume). @default the assumptions' clientRecordsPerPut */
  readonly clientRecordsPerPut?: number;
  /** Express usage per task (high-volume children): requests and billed GB-seconds. */
  readonly express?: { readonly requests: number; readonly gbSeconds: number };
  /** Logical id of the job's producer function. */
  readonly producer: string;
  /** Producer schedule fires a day (averaged over 30 days); 0 when the expression never fires. */
  readonly ticksPerDay: number;
  /** The schedule's state in this stage (a DISABLED one is still costed as if it ran). */
  readonly scheduleState: string;
  /** A task that succeeds first time. */
  readonly success: PathCounts;
  /** A task whose last step fails after its configured retries, then is spooled. */
  readonly failure: PathCounts;
  /** The replay of that task (succeeds). */
  readonly replay: PathCounts;
  /** The state the failure path fails in, and its retries. */
  readonly failState: string;
  readonly failRetries: number;
  /** The first Lambda step's function (extra retries are billed to it). */
  readonly firstStepFunction: string;
  /**
   * Worker records per task written by an invocation that writes several (the high-volume mode's
   * one record invocation per Express child), beyond the record function's invocations. @default 0
   */
  readonly batchedWorkerRecordsPerTask?: number;
}

/** The functions of a job's high-volume workflow (lib/high-volume-workflow.ts), by logical id. */
export interface HighVolumeFunctions {
  /** Writes a child's worker records in one put (lambdas/batch-record). */
  readonly batchRecord: string;
  /** The parent's post-map step (lambdas/map-failures), once per parent. */
  readonly mapFailures: string;
}

/** One Lambda function of the template. */
export interface FunctionShape {
  readonly memoryMiB: number;
  readonly arch: 'arm64' | 'x86_64';
  /** Reads a dependency's hold switch from the coordination table (a step with `dependsOn`). */
  readonly readsHolds: boolean;
  readonly traced: boolean;
  /** Runs in a VPC (its AWS calls go through the app's interface endpoints when they are configured). */
  readonly inVpc: boolean;
}

/** A schedule that invokes a Lambda function (producers, the monitor, a sweeper...). */
export interface ScheduledInvocation {
  readonly id: string;
  /** EventBridge Scheduler (billed per invocation) or an EventBridge rule with a schedule. */
  readonly kind: 'scheduler' | 'events-rule';
  readonly target: string;
  readonly perDay: number;
  readonly state: string;
}

/** An SQS queue a Lambda polls through an event source mapping (the tick queue of the target design). */
export interface PolledQueue {
  readonly queue: string;
  readonly target: string;
  readonly batchSize: number;
  readonly cmk: boolean;
}

export interface AppShape {
  readonly jobs: ReadonlyArray<JobShape>;
  readonly functions: ReadonlyMap<string, FunctionShape>;
  readonly recordFunction: string;
  readonly lockFunction: string | null;
  readonly reprocessFunction: string;
  /** The lost-task monitor (one Athena query per run). */
  readonly monitorFunction: string;
  /** The error spool queue. */
  readonly spoolQueue: string;
  /** Messages one reprocess invocation handles by default (its MAX_REPROCESS). */
  readonly reprocessBatch: number;
  readonly scheduled: ReadonlyArray<ScheduledInvocation>;
  readonly polledQueues: ReadonlyArray<PolledQueue>;
  /** Functions an EventBridge rule on Step Functions status changes invokes (the capture). */
  readonly statusChangeTargets: ReadonlyArray<string>;
  /** Some role may write the tick ledger (`tick#` items): the producers of the target design record ticks. */
  readonly tickLedger: boolean;
  /** Tasks per tick-queue message the producers are configured with (their `TASKS_PER_BATCH`), if any. */
  readonly tasksPerBatch: number | null;
  readonly kmsKeys: number;
  /** Interface VPC endpoints times the Availability Zones each is in (each pair is billed an hour at a time). */
  readonly interfaceEndpointAzs: number;
  /** CMK-encrypted queues and their data key reuse period, seconds. */
  readonly cmkQueues: ReadonlyArray<{ readonly id: string; readonly reuseSeconds: number }>;
  /** CMK-encrypted state machines and their data key reuse period, seconds. */
  readonly cmkStateMachines: ReadonlyArray<{ readonly id: string; readonly reuseSeconds: number }>;
  readonly stateMachinesTraced: boolean;
  /** Alarm metrics billed (a metric-math alarm bills each metric it reads). */
  readonly alarmMetrics: number;
  readonly compositeAlarms: number;
  readonly dashboards: number;
  readonly paramLog: {
    readonly bufferSeconds: number;
    readonly bufferMiB: number;
    /** Days after which the template expires current records; null when it has no such rule. */
    readonly expirationDays: number | null;
    /** The config's `paramLog.retentionDays` (used when the template has no expiration rule). */
    readonly configuredRetentionDays: number;
  };
  readonly startExecutionRefillPerSecond: number;
  /** Logical ids of the standard starters' tick queue and the high-volume starters' one (null when no job is deployed in the mode). */
  readonly tickQueues: { readonly standard: string | null; readonly highVolume: string | null };
  /**
   * Functions a job priced in high-volume uses when it is not deployed in the mode (the "what if"
   * table): a deployed high-volume job's, else stand-ins added to {@link functions} with the
   * construct's memory (named `what-if:`).
   */
  readonly highVolumeStandIns: HighVolumeFunctions;
}

/** Stand-in function ids for the high-volume functions when no job is deployed in the mode. */
export const WHAT_IF_FUNCTIONS: HighVolumeFunctions = { batchRecord: 'what-if:BatchRecord', mapFailures: 'what-if:MapFailures' };

type Resource = { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string };

function logicalIdOf(stack: Stack, construct: { node: { defaultChild?: unknown } } | undefined): string {
  if (!construct) throw new Error('construct not found in the stack');
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

/** Logical id named by `{Ref: id}` or `{Fn::GetAtt: [id, attr]}`, if the value is one. */
export function referencedId(value: unknown): string | undefined {
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if (typeof v.Ref === 'string') return v.Ref;
    const att = v['Fn::GetAtt'];
    if (Array.isArray(att)) return String(att[0]);
    if (typeof att === 'string') return att.split('.')[0];
  }
  return undefined;
}

/** Fires a day of a Scheduler/Events expression, averaged over 30 days from a fixed date. */
export function firesPerDay(expression: string, timeZone: string): number {
  const from = new Date(Date.UTC(2027, 0, 4));
  const to = new Date(from.getTime() + 30 * 86_400_000);
  return scheduleTicks(parseSchedule(expression), timeZone, from, to).length / 30;
}

/** Finds a state anywhere in a definition (nested scopes included). */
export function findState(scope: AslScope, name: string): AslState | undefined {
  for (const [n, s] of Object.entries(scope.States)) {
    if (n === name) return s;
    for (const inner of [...(s.Branches ?? []), ...(s.ItemProcessor ? [s.ItemProcessor] : []), ...(s.Iterator ? [s.Iterator] : [])]) {
      const found = findState(inner, name);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * Retries a failing step uses before it is caught: the MaxAttempts (ASL default 3) of its first
 * retrier that is not the Lambda service or throttle retrier, i.e. the job's own retry policy.
 */
export function configuredRetries(state: AslState): number {
  const own = (state.Retry ?? []).find((r) => !r.ErrorEquals.every((e) => e.startsWith('Lambda.')));
  return own ? (own.MaxAttempts ?? 3) : 0;
}

/** The first Lambda state of a step: the step itself, or the first step inside a group or map. */
function entryLambdaOf(step: ResolvedStep): string {
  if (step.kind === 'lambda') return step.name;
  if (step.kind === 'parallel') return step.branches[0][0].name;
  return step.steps[0].name;
}

/** The three billed paths of one job's task, from its synthesized definition. */
export function jobPaths(definition: AslScope, job: ResolvedJob, options: ShapeOptions): Pick<JobShape, 'success' | 'failure' | 'replay' | 'failState' | 'failRetries'> {
  const maps = new Map(job.steps.filter((s) => s.kind === 'map').map((s) => [s.name, s.kind === 'map' ? s.maxItems : 0]));
  const mapItems = (name: string): number => Math.min(options.mapItems, maps.get(name) ?? options.mapItems);
  const envelope = { v: 1, taskId: `${job.name}-t`, job: job.name, key: 'k', params: {}, attempt: 1, scheduledTime: '2027-01-04T00:00:00.000Z' };
  const last = job.steps[job.steps.length - 1];
  // A failure is modelled in the last step (the most work done before it), in its first Lambda state.
  const failState = entryLambdaOf(last);
  const state = findState(definition, failState);
  if (!state) throw new Error(`job ${job.name}: state ${failState} is not in the synthesized definition`);
  const failRetries = configuredRetries(state);
  const success = walkExecution(definition, { input: envelope, mapItems });
  const failure = walkExecution(definition, { input: envelope, mapItems, fail: { state: failState, retries: failRetries } });
  const resumable = options.replay === 'resume' && job.steps.length > 1;
  const replayInput = resumable ? { ...envelope, attempt: 2, resume: { step: last.name, input: {} } } : { ...envelope, attempt: 2 };
  const replay = walkExecution(definition, { input: replayInput, mapItems });
  return { success, failure, replay, failState, failRetries };
}

/** Reads the app's shape from a synthesized app (see synthesizeApp in local/offline-day/app-model.ts). */
export function appShape(model: SynthesizedApp, config: ResolvedAppConfig, options: ShapeOptions): AppShape {
  const { stack } = model;
  const resources = model.template.Resources as Record<string, Resource>;
  const byType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

  const functions = new Map<string, FunctionShape>();
  for (const [id, r] of byType('AWS::Lambda::Function')) {
    const p = r.Properties ?? {};
    const env = ((p.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<string, unknown>;
    functions.set(id, {
      memoryMiB: typeof p.MemorySize === 'number' ? p.MemorySize : 128,
      arch: Array.isArray(p.Architectures) && p.Architectures.includes('arm64') ? 'arm64' : 'x86_64',
      readsHolds: STEP_ENV.dependency in env,
      traced: (p.TracingConfig as { Mode?: string } | undefined)?.Mode === 'Active',
      inVpc: p.VpcConfig !== undefined,
    });
  }

  const scheduled: ScheduledInvocation[] = schedules(model).map((s) => ({ id: s.logicalId, kind: 'scheduler' as const, target: s.targetFunction, perDay: firesPerDay(s.expression, s.timeZone), state: s.state }));
  // EventBridge rules: a schedule (a sweeper, say) or a pattern on Step Functions status changes.
  const statusChangeTargets: string[] = [];
  for (const [id, r] of byType('AWS::Events::Rule')) {
    const p = r.Properties ?? {};
    const targets = ((p.Targets as Array<{ Arn?: unknown }> | undefined) ?? []).map((t) => referencedId(t.Arn)).filter((t): t is string => !!t && resources[t]?.Type === 'AWS::Lambda::Function');
    if (typeof p.ScheduleExpression === 'string') {
      for (const t of targets) scheduled.push({ id, kind: 'events-rule', target: t, perDay: firesPerDay(p.ScheduleExpression, 'UTC'), state: String(p.State ?? 'ENABLED') });
    }
    const source = (p.EventPattern as { source?: unknown } | undefined)?.source;
    if (Array.isArray(source) && source.includes('aws.states')) statusChangeTargets.push(...targets);
  }

  const polledQueues: PolledQueue[] = [];
  for (const [, r] of byType('AWS::Lambda::EventSourceMapping')) {
    const p = r.Properties ?? {};
    const queue = referencedId(p.EventSourceArn);
    const target = referencedId(p.FunctionName);
    if (!queue || resources[queue]?.Type !== 'AWS::SQS::Queue' || !target) continue;
    polledQueues.push({ queue, target, batchSize: typeof p.BatchSize === 'number' ? p.BatchSize : 10, cmk: resources[queue].Properties?.KmsMasterKeyId !== undefined });
  }

  const jobs: JobShape[] = config.jobs.map((job) => {
    const wf = stack.workflows.get(job.name);
    const producer = stack.producers.get(job.name);
    if (!wf || !producer) throw new Error(`the stack has no workflow/producer for job ${job.name}`);
    const producerId = logicalIdOf(stack, producer.function);
    const definition = stateMachineDefinition(model, job, placeholderRef(model.region)) as unknown as AslScope;
    const sched = scheduled.find((s) => s.target === producerId);
    const firstFn = wf.stepFunctions.get(entryLambdaOf(job.steps[0]));
    const hv = stack.highVolume.get(job.name);
    const starter = hv ? stack.highVolumeStarter : stack.tickStarter;
    return {
      job: job.name,
      mode: job.executionMode,
      child: highVolumeChildOf(job, hv),
      ...(hv ? { highVolumeFunctions: { batchRecord: logicalIdOf(stack, hv.batchRecordFunction), mapFailures: logicalIdOf(stack, hv.mapFailuresFunction) } } : {}),
      ...(starter ? { tickQueue: logicalIdOf(stack, starter.tickQueue) } : {}),
      producer: producerId,
      ticksPerDay: sched?.perDay ?? 0,
      scheduleState: sched?.state ?? 'NONE',
      firstStepFunction: logicalIdOf(stack, firstFn),
      ...jobPaths(definition, job, options),
    };
  });

  const firstWorkflow = [...stack.workflows.values()][0];
  if (!firstWorkflow) throw new Error('the stage deploys no job: nothing to cost (pick a stage with jobs, or --all-jobs)');
  const lock = stack.node.tryFindChild('Lock') as { node: { defaultChild?: unknown } } | undefined;
  const reprocessFn = resources[logicalIdOf(stack, stack.reprocess.function)];
  const reprocessEnv = ((reprocessFn.Properties?.Environment as { Variables?: Record<string, unknown> }).Variables ?? {}) as Record<string, unknown>;

  const producerBatch = jobs
    .map((j) => Number((((resources[j.producer]?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<string, unknown>).TASKS_PER_BATCH))
    .find((n) => Number.isFinite(n) && n > 0);
  const tickLedger = byType('AWS::IAM::Policy').some(([, r]) => JSON.stringify(r.Properties?.PolicyDocument ?? {}).includes('tick#'));

  const cmkQueues = byType('AWS::SQS::Queue')
    .filter(([, r]) => r.Properties?.KmsMasterKeyId !== undefined)
    .map(([id, r]) => ({ id, reuseSeconds: Number(r.Properties?.KmsDataKeyReusePeriodSeconds ?? 300) }));
  const machines = byType('AWS::StepFunctions::StateMachine');
  for (const [id, r] of machines) {
    if (r.Properties?.StateMachineType === 'EXPRESS') throw new Error(`state machine ${id} is EXPRESS: this model prices Standard workflows only`);
  }
  const cmkStateMachines = machines
    .filter(([, r]) => (r.Properties?.EncryptionConfiguration as { Type?: string } | undefined)?.Type === 'CUSTOMER_MANAGED_KMS_KEY')
    .map(([id, r]) => ({ id, reuseSeconds: Number((r.Properties?.EncryptionConfiguration as { KmsDataKeyReusePeriodSeconds?: number }).KmsDataKeyReusePeriodSeconds ?? 300) }));

  let alarmMetrics = 0;
  for (const [, r] of byType('AWS::CloudWatch::Alarm')) {
    const metrics = r.Properties?.Metrics as Array<{ MetricStat?: unknown }> | undefined;
    alarmMetrics += metrics ? Math.max(1, metrics.filter((m) => m.MetricStat).length) : 1;
  }

  // The parameter-log bucket: the one the client stream delivers to.
  const clientStream = resources[logicalIdOf(stack, stack.paramLog.clientStream)];
  const s3conf = (clientStream.Properties?.ExtendedS3DestinationConfiguration ?? {}) as { BucketARN?: unknown; BufferingHints?: { IntervalInSeconds?: number; SizeInMBs?: number } };
  const bucket = resources[referencedId(s3conf.BucketARN) ?? ''];
  const rules = ((bucket?.Properties?.LifecycleConfiguration as { Rules?: Array<{ ExpirationInDays?: number; Status?: string; Prefix?: string }> } | undefined)?.Rules ?? []).filter(
    (rule) => rule.Status !== 'Disabled' && typeof rule.ExpirationInDays === 'number',
  );
  const expirationDays = rules.length ? Math.max(...rules.map((rule) => rule.ExpirationInDays!)) : null;

  const recordId = logicalIdOf(stack, firstWorkflow.recordFunction);
  const deployedHv = jobs.find((j) => j.highVolumeFunctions)?.highVolumeFunctions;
  if (!deployedHv) {
    // Same construct defaults as the deployed functions: the record function's (AppFunction) and the post-map step's memory.
    const rec = functions.get(recordId)!;
    functions.set(WHAT_IF_FUNCTIONS.batchRecord, rec);
    functions.set(WHAT_IF_FUNCTIONS.mapFailures, { ...rec, memoryMiB: MAP_FAILURES_MEMORY_MIB });
  }

  return {
    jobs,
    functions,
    recordFunction: recordId,
    lockFunction: lock ? logicalIdOf(stack, lock) : null,
    reprocessFunction: logicalIdOf(stack, stack.reprocess.function),
    monitorFunction: logicalIdOf(stack, stack.investigation.monitor.function),
    spoolQueue: logicalIdOf(stack, stack.spool.queue),
    reprocessBatch: Number(reprocessEnv.MAX_REPROCESS ?? config.reprocess.defaultMax),
    scheduled,
    polledQueues,
    statusChangeTargets,
    tickLedger,
    tasksPerBatch: producerBatch ?? null,
    kmsKeys: byType('AWS::KMS::Key').length,
    interfaceEndpointAzs: byType('AWS::EC2::VPCEndpoint')
      .filter(([, r]) => r.Properties?.VpcEndpointType === 'Interface')
      .reduce((s, [, r]) => s + (Array.isArray(r.Properties?.SubnetIds) ? r.Properties.SubnetIds.length : 1), 0),
    cmkQueues,
    cmkStateMachines,
    stateMachinesTraced: machines.some(([, r]) => (r.Properties?.TracingConfiguration as { Enabled?: boolean } | undefined)?.Enabled === true),
    alarmMetrics,
    compositeAlarms: byType('AWS::CloudWatch::CompositeAlarm').length,
    dashboards: byType('AWS::CloudWatch::Dashboard').length,
    paramLog: {
      bufferSeconds: s3conf.BufferingHints?.IntervalInSeconds ?? config.paramLog.bufferSeconds,
      bufferMiB: s3conf.BufferingHints?.SizeInMBs ?? config.paramLog.bufferMiB,
      expirationDays,
      configuredRetentionDays: config.paramLog.retentionDays,
    },
    startExecutionRefillPerSecond: config.startExecutionQuota.refillPerSecond,
    tickQueues: { standard: logicalIdOf(stack, stack.tickStarter.tickQueue), highVolume: stack.highVolumeStarter ? logicalIdOf(stack, stack.highVolumeStarter.tickQueue) : null },
    highVolumeStandIns: deployedHv ?? WHAT_IF_FUNCTIONS,
  };
}
