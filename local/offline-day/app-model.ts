import { App, CfnElement, Stack } from 'aws-cdk-lib';
import { lambdaStepsOf, ResolvedAppConfig, ResolvedJob } from '../../lib/config/types';
import { ScheduledJobsStack } from '../../lib/scheduled-jobs-stack';
import { AslDefinition, definitionOf, Json, placeholderRef as placeholders, RefResolver, resolveIntrinsics } from '../asl';

export type { RefResolver };

/**
 * What the offline run needs from the REAL app: the synthesized template (state machine
 * definitions, Lambda environments, schedules) and, from the construct tree, which handler file
 * each function runs. Nothing here re-describes the app; a change in the constructs changes the run.
 */

/** Account id used in placeholder ARNs. */
export const LOCAL_ACCOUNT = '000000000000';

type Resource = { Type: string; Properties?: Record<string, Json>; Metadata?: Record<string, Json> };

/** The app synthesized in-process with bundling and CloudFormation validation skipped (fast). */
export interface SynthesizedApp {
  readonly stack: ScheduledJobsStack;
  readonly template: { Resources: Record<string, Resource> };
  readonly region: string;
  /** Handler entry (relative to the project root) of each Lambda function, by logical id. */
  readonly entries: ReadonlyMap<string, string>;
  /** Logical id of each job's state machine. */
  readonly stateMachines: ReadonlyMap<string, string>;
  /** Logical id of each high-volume job's parent state machine (lib/high-volume-workflow.ts). */
  readonly parents: ReadonlyMap<string, string>;
}

/** Entry of the shared worker-record Lambda (fixed in lib/workflow.ts's WorkerRecordFunction). */
export const RECORD_OUTCOME_ENTRY = 'lambdas/record-outcome/handler.ts';
/** Entry of the shared lock Lambda (lib/workflow.ts's LockFunction). */
export const LOCK_ENTRY = 'lambdas/lock/handler.ts';
/** Entry of the tick starter (lib/tick-starter.ts). */
export const STARTER_ENTRY = 'lambdas/starter/handler.ts';
/** Entry of the status-change capture (lib/execution-capture.ts). */
export const CAPTURE_ENTRY = 'lambdas/execution-capture/handler.ts';
/** Entries of the high-volume mode's functions (lib/tick-starter.ts, lib/high-volume-workflow.ts). */
export const HIGH_VOLUME_ENTRIES = {
  starter: 'lambdas/batch-starter/handler.ts',
  batchRecord: 'lambdas/batch-record/handler.ts',
  mapFailures: 'lambdas/map-failures/handler.ts',
} as const;
/** Entry of reprocess (lib/reprocess.ts). */
export const REPROCESS_ENTRY = 'lambdas/reprocess/handler.ts';

function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

/**
 * The logical ids (the local table names) of the app's two tables: the coordination table (outside
 * the read lock: holds, locks, ledger) and the step-results table (inside it: steps' outputs, under
 * the params key). By construct, not by template order.
 */
export function tableIds(model: Pick<SynthesizedApp, 'stack'>): { readonly coordination: string; readonly stepResults: string } {
  return { coordination: logicalId(model.stack, model.stack.coordination.table), stepResults: logicalId(model.stack, model.stack.stepResults.table) };
}

/** Synthesizes the app from its validated config, as `cdk synth` would minus bundling. */
export function synthesizeApp(config: ResolvedAppConfig, projectRoot: string, region = 'ap-northeast-1'): SynthesizedApp {
  const app = new App({
    context: { 'aws:cdk:bundling-stacks': [] },
    // Validation costs ~10 s per synth; `cdk synth` and the test suite run it.
    builtinCloudFormationValidation: false,
  } as ConstructorParameters<typeof App>[0]);
  const stack = new ScheduledJobsStack(app, 'ScheduledJobs', {
    config,
    projectRoot,
    env: { account: LOCAL_ACCOUNT, region },
  });
  const template = app.synth().getStackByName(stack.stackName).template as SynthesizedApp['template'];

  const entries = new Map<string, string>();
  const stateMachines = new Map<string, string>();
  for (const job of config.jobs) {
    const wf = stack.workflows.get(job.name);
    if (!wf) throw new Error(`The stack has no workflow for job ${job.name}`);
    stateMachines.set(job.name, logicalId(stack, wf.stateMachine));
    for (const step of lambdaStepsOf(job)) {
      const fn = wf.stepFunctions.get(step.name);
      if (fn) entries.set(logicalId(stack, fn), step.entry);
    }
    entries.set(logicalId(stack, wf.recordFunction), RECORD_OUTCOME_ENTRY);
  }
  const lock = stack.node.tryFindChild('Lock');
  if (lock) entries.set(logicalId(stack, lock as never), LOCK_ENTRY);
  entries.set(logicalId(stack, stack.tickStarter.function), STARTER_ENTRY);
  entries.set(logicalId(stack, stack.executionCapture.function), CAPTURE_ENTRY);
  entries.set(logicalId(stack, stack.reprocess.function), REPROCESS_ENTRY);
  // The high-volume pieces (their handlers as the constructs name them).
  const parents = new Map<string, string>();
  if (stack.highVolumeStarter) entries.set(logicalId(stack, stack.highVolumeStarter.function), HIGH_VOLUME_ENTRIES.starter);
  for (const [job, hv] of stack.highVolume) {
    parents.set(job, logicalId(stack, hv.stateMachine));
    entries.set(logicalId(stack, hv.batchRecordFunction), HIGH_VOLUME_ENTRIES.batchRecord);
    entries.set(logicalId(stack, hv.mapFailuresFunction), HIGH_VOLUME_ENTRIES.mapFailures);
  }
  for (const job of config.jobs) {
    const producer = stack.producers.get(job.name);
    if (producer) entries.set(logicalId(stack, producer.function), job.producer.entry);
  }
  return { stack, template, region, entries, stateMachines, parents };
}

/** The job's state machine definition as runnable ASL. */
export function stateMachineDefinition(model: SynthesizedApp, job: ResolvedJob, ref: RefResolver): AslDefinition {
  return definitionOf(model.template, model.stateMachines.get(job.name)!, ref, localEnv(model.region));
}

/** Where the offline run's resolved values pretend to live. */
export function localEnv(region: string): { region: string; account: string } {
  return { region, account: LOCAL_ACCOUNT };
}

/** Placeholder ARNs/names for resources the run does not replace with a local endpoint. */
export function placeholderRef(region: string): RefResolver {
  return placeholders(localEnv(region));
}

/** A Lambda function's environment variables, resolved. */
export function functionEnvironment(model: SynthesizedApp, logicalId_: string, ref: RefResolver): Record<string, string> {
  const res = model.template.Resources[logicalId_];
  if (!res || res.Type !== 'AWS::Lambda::Function') throw new Error(`${logicalId_} is not a Lambda function of the template`);
  const vars = (res.Properties?.Environment as { Variables?: Json } | undefined)?.Variables ?? {};
  const resolved = resolveIntrinsics(vars, model.template.Resources, ref, localEnv(model.region)) as Record<string, Json>;
  return Object.fromEntries(Object.entries(resolved).map(([k, v]) => [k, String(v)]));
}

/** A schedule of the template: the Scheduler resource, its target function and input. */
export interface ScheduleModel {
  readonly logicalId: string;
  readonly expression: string;
  readonly timeZone: string;
  readonly targetFunction: string;
  /** Target input with Scheduler's context placeholders left in (`<aws.scheduler.scheduled-time>`). */
  readonly input: string | undefined;
  readonly state: string;
}

/** Every EventBridge Scheduler schedule of the template whose target is a Lambda function of the stack. */
export function schedules(model: SynthesizedApp): ScheduleModel[] {
  const out: ScheduleModel[] = [];
  for (const [id, res] of Object.entries(model.template.Resources)) {
    if (res.Type !== 'AWS::Scheduler::Schedule') continue;
    const p = res.Properties as Record<string, Json>;
    const target = p.Target as Record<string, Json>;
    const arn = target.Arn as Json;
    let fn: string | undefined;
    if (arn && typeof arn === 'object' && !Array.isArray(arn) && 'Fn::GetAtt' in arn) {
      const att = arn['Fn::GetAtt'];
      fn = Array.isArray(att) ? String(att[0]) : String(att).split('.')[0];
    }
    if (!fn || model.template.Resources[fn]?.Type !== 'AWS::Lambda::Function') continue;
    out.push({
      logicalId: id,
      expression: String(p.ScheduleExpression),
      timeZone: String(p.ScheduleExpressionTimezone ?? 'UTC'),
      targetFunction: fn,
      input: target.Input === undefined ? undefined : String(target.Input),
      state: String(p.State ?? 'ENABLED'),
    });
  }
  return out;
}

/** An SQS event source mapping of the template: the queue, the function it invokes and how. */
export interface EventSourceModel {
  readonly logicalId: string;
  readonly queueId: string;
  readonly functionId: string;
  readonly batchSize: number;
  readonly maxConcurrency: number;
  /** The function's timeout, seconds. */
  readonly timeoutSeconds: number;
}

/** Every SQS event source mapping of the template whose function is one of the stack's. */
export function eventSources(model: SynthesizedApp): EventSourceModel[] {
  const out: EventSourceModel[] = [];
  for (const [id, res] of Object.entries(model.template.Resources)) {
    if (res.Type !== 'AWS::Lambda::EventSourceMapping') continue;
    const p = res.Properties as Record<string, Json>;
    const arn = p.EventSourceArn as Json;
    const fn = p.FunctionName as Json;
    const att = arn && typeof arn === 'object' && !Array.isArray(arn) ? arn['Fn::GetAtt'] : undefined;
    const queueId = Array.isArray(att) ? String(att[0]) : undefined;
    const functionId = fn && typeof fn === 'object' && !Array.isArray(fn) && 'Ref' in fn ? String(fn.Ref) : undefined;
    if (!queueId || !functionId || model.template.Resources[queueId]?.Type !== 'AWS::SQS::Queue') continue;
    const scaling = (p.ScalingConfig ?? {}) as Record<string, Json>;
    out.push({
      logicalId: id,
      queueId,
      functionId,
      batchSize: Number(p.BatchSize ?? 10),
      maxConcurrency: Number(scaling.MaximumConcurrency ?? 2),
      timeoutSeconds: Number(model.template.Resources[functionId]?.Properties?.Timeout ?? 3),
    });
  }
  return out;
}

/** An EventBridge rule of the template that targets a Lambda function of the stack. */
export interface RuleModel {
  readonly logicalId: string;
  /** The event pattern, intrinsics resolved (state machine ARNs as the run names them). */
  readonly pattern: Json;
  readonly targetFunction: string;
}

/** Every enabled EventBridge rule with an event pattern and a Lambda target (the status-change capture's). */
export function eventRules(model: SynthesizedApp, ref: RefResolver): RuleModel[] {
  const out: RuleModel[] = [];
  for (const [id, res] of Object.entries(model.template.Resources)) {
    if (res.Type !== 'AWS::Events::Rule') continue;
    const p = res.Properties as Record<string, Json>;
    if (p.EventPattern === undefined || (p.State !== undefined && p.State !== 'ENABLED')) continue;
    for (const target of (p.Targets ?? []) as Array<Record<string, Json>>) {
      const fn = getAttTarget(target.Arn);
      if (!fn || model.template.Resources[fn]?.Type !== 'AWS::Lambda::Function') continue;
      out.push({ logicalId: id, pattern: resolveIntrinsics(p.EventPattern, model.template.Resources, ref, localEnv(model.region)), targetFunction: fn });
    }
  }
  return out;
}

/** How Lambda invokes a function asynchronously, from its `AWS::Lambda::EventInvokeConfig`. */
export interface AsyncInvokeModel {
  /** Retries after a function error (0-2). */
  readonly retryAttempts: number;
  /** Logical id of the on-failure destination queue, if it is an SQS queue of the stack. */
  readonly onFailureQueue: string | null;
}

/** The asynchronous invoke config of a function; Lambda's defaults (2 retries, no destination) without one. */
export function asyncInvokeConfig(model: SynthesizedApp, functionId: string): AsyncInvokeModel {
  for (const res of Object.values(model.template.Resources)) {
    if (res.Type !== 'AWS::Lambda::EventInvokeConfig') continue;
    const p = res.Properties as Record<string, Json>;
    const fn = p.FunctionName as Json;
    if (!(fn && typeof fn === 'object' && !Array.isArray(fn) && fn.Ref === functionId)) continue;
    const dest = ((p.DestinationConfig as Record<string, Json> | undefined)?.OnFailure as Record<string, Json> | undefined)?.Destination;
    const queue = getAttTarget(dest);
    return {
      retryAttempts: Number(p.MaximumRetryAttempts ?? 2),
      onFailureQueue: queue && model.template.Resources[queue]?.Type === 'AWS::SQS::Queue' ? queue : null,
    };
  }
  // AWS Lambda developer guide, "Error handling for asynchronous invocation": two retries by default.
  return { retryAttempts: 2, onFailureQueue: null };
}

/** The logical id in `{"Fn::GetAtt": [id, ...]}` (or `id.Attr`), else undefined. */
function getAttTarget(v: Json | undefined): string | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v) || !('Fn::GetAtt' in v)) return undefined;
  const att = v['Fn::GetAtt'];
  return Array.isArray(att) ? String(att[0]) : String(att).split('.')[0];
}
