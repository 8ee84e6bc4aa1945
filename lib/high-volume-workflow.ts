import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { AppFunction } from './app-function';
import { ResolvedJob, ResolvedLambdaStep } from './config/types';
import { LOG_RETENTION } from './defaults';
import { ErrorSpool } from './error-spool';
import { acknowledgeOn, acknowledgeOnPolicyOf } from './nag';
import { ParamLog } from './param-log';
import { ParamsKey } from './params-key';
import { JobWorkflow, THROTTLE_RETRY } from './workflow';
import { LAMBDA_THROTTLED } from '../lambdas/shared/errors';
import { caughtStateName, STATE_TIMEOUT_MARGIN_SECONDS } from '../lambdas/shared/workflow-contract';

/** A JSONPath value that is JSON null (the CDK drops literal nulls from Parameters). */
const JSON_NULL = "States.StringToJson('null')";

/** State names of the high-volume parent and child (a step may not take one: the construct refuses it). */
export const HIGH_VOLUME_STATES = {
  /** The parent's Distributed Map over the batch's tasks. */
  children: 'Children',
  /** The child's inline Map over its items. */
  items: 'Items',
  itemSucceeded: 'ItemSucceeded',
  spoolItem: 'SpoolItem',
  itemSpooled: 'ItemSpooled',
  itemNotSpooled: 'ItemNotSpooled',
  recordBatch: 'RecordBatch',
  childDone: 'ChildDone',
  parentDone: 'ParentDone',
} as const;

/** Defaults of the mode's shape (the cost model prices the same: scripts/cost/high-volume.ts). */
export const HIGH_VOLUME_DEFAULTS = {
  /** Tasks per Express child (ItemBatcher MaxItemsPerBatch). */
  itemsPerChild: 100,
  /** Items a child runs at once (its inline Map's MaxConcurrency; Step Functions allows 40 inline). */
  childConcurrency: 10,
  /** Children of one Map Run at once (Step Functions allows up to 10,000). */
  maxChildren: 1000,
} as const;

/**
 * The spool send of an item: short retries, because an Express child ends at five minutes
 * (lib/config/execution-mode.ts counts 30 s for the failure path). ~15 s in all.
 */
export const HIGH_VOLUME_SPOOL_RETRY = { intervalSeconds: 1, backoffRate: 2, maxDelaySeconds: 8, maxAttempts: 3 } as const;

/** The parent's execution timeout the app deploys (children run at most 5 minutes each, maxChildren at once). */
export const HIGH_VOLUME_PARENT_TIMEOUT = Duration.hours(1);

/** Props of {@link HighVolumeWorkflow}. */
export interface HighVolumeWorkflowProps {
  /** A job with `executionMode: 'high-volume'` whose steps are Lambda steps. */
  readonly job: ResolvedJob;
  /** The job's standard workflow: its step Lambdas are reused, and replays run there. */
  readonly standard: JobWorkflow;
  readonly projectRoot: string;
  readonly spool: ErrorSpool;
  readonly paramLog: ParamLog;
  readonly paramsKey: ParamsKey;
  readonly timeZone: string;
  /** @default HIGH_VOLUME_DEFAULTS.itemsPerChild */
  readonly itemsPerChild?: number;
  /** @default HIGH_VOLUME_DEFAULTS.childConcurrency */
  readonly childConcurrency?: number;
  /** @default HIGH_VOLUME_DEFAULTS.maxChildren */
  readonly maxChildren?: number;
  /** The parent's execution timeout (the reconciler pages ListExecutions this far back). @default 1 hour */
  readonly parentTimeout?: Duration;
}

/** The Lambda that writes a child's worker records in one put (lambdas/batch-record). */
export class BatchRecordFunction extends AppFunction {
  constructor(scope: Construct, id: string, props: { readonly projectRoot: string; readonly paramLog: ParamLog; readonly timeZone: string }) {
    super(scope, id, {
      projectRoot: props.projectRoot,
      entry: 'lambdas/batch-record/handler.ts',
      serviceName: 'batch-record',
      description: 'Writes the worker records of a high-volume child to the parameter log',
      timeout: Duration.seconds(30),
      environment: { WORKER_LOG_STREAM: props.paramLog.workerStream.deliveryStreamName, APP_TIME_ZONE: props.timeZone },
    });
    props.paramLog.grantWriteWorker(this);
  }
}

/**
 * The high-volume mode of one job (docs/big-ticks.md, "High-volume mode"): a Standard parent whose
 * input is a batch of task envelopes (`{tasks: [...]}`, one starter batch) runs a Distributed Map
 * of Express children, `itemsPerChild` tasks each (ItemBatcher), tolerating any failed child so one
 * item never fails the batch. A child runs its items through the job's steps with the same Retry
 * (the config's error names, the throttle retrier) and state timeouts as standard; a step's Catch
 * spools the item's task with the failed step and what it was given (the resume point), exactly the
 * standard `ExecutionFailed` message, so reprocess replays it as a standard execution resumed there.
 * Then one invocation writes the child's worker records.
 *
 * ```
 * parent (STANDARD): Children (Distributed Map, EXPRESS, ItemBatcher) -> ParentDone
 * child  (EXPRESS):  Items (inline Map) -> RecordBatch -> ChildDone
 *   item: step 1 -> step 2 ... -> ItemSucceeded
 *         any step --Catch--> <Step>-Caught -> SpoolItem -> ItemSpooled   (SpoolItem --Catch--> ItemNotSpooled)
 * ```
 */
export class HighVolumeWorkflow extends Construct {
  /** The parent state machine (Standard); its input is `{tasks: TaskEnvelope[]}`. */
  public readonly stateMachine: sfn.StateMachine;
  public readonly batchRecordFunction: BatchRecordFunction;

  constructor(scope: Construct, id: string, private readonly props: HighVolumeWorkflowProps) {
    super(scope, id);
    const { job } = props;
    const problems: string[] = [];
    if (job.executionMode !== 'high-volume') problems.push(`job ${job.name} is not in the high-volume mode (executionMode "${job.executionMode}")`);
    const nested = job.steps.filter((s) => s.kind !== 'lambda').map((s) => s.name);
    if (nested.length) problems.push(`job ${job.name}: groups and maps (${nested.join(', ')}) are not built in the high-volume child yet; keep the job on "standard"`);
    const taken = job.steps.filter((s) => (Object.values(HIGH_VOLUME_STATES) as string[]).includes(s.name)).map((s) => s.name);
    if (taken.length) problems.push(`job ${job.name}: step names ${taken.join(', ')} are states of the high-volume workflow; rename them`);
    if (job.exclusiveBy) problems.push(`job ${job.name}: exclusiveBy cannot be kept in the high-volume mode (lib/config/execution-mode.ts)`);
    const itemsPerChild = props.itemsPerChild ?? HIGH_VOLUME_DEFAULTS.itemsPerChild;
    const childConcurrency = props.childConcurrency ?? HIGH_VOLUME_DEFAULTS.childConcurrency;
    if (!Number.isInteger(childConcurrency) || childConcurrency < 1 || childConcurrency > 40) problems.push(`childConcurrency must be 1-40 (an inline Map's limit), got ${childConcurrency}`);
    if (problems.length) throw new Error(`HighVolumeWorkflow: ${problems.join('; ')}`);
    const steps = job.steps as ReadonlyArray<ResolvedLambdaStep>;

    this.batchRecordFunction = new BatchRecordFunction(this, 'BatchRecord', { projectRoot: props.projectRoot, paramLog: props.paramLog, timeZone: props.timeZone });

    // ---- item: the job's steps, their Catch spooling the item
    const itemSucceeded = new sfn.Pass(this, HIGH_VOLUME_STATES.itemSucceeded, { stateName: HIGH_VOLUME_STATES.itemSucceeded, parameters: { 'task.$': '$.task' } });
    const itemSpooled = new sfn.Pass(this, HIGH_VOLUME_STATES.itemSpooled, {
      stateName: HIGH_VOLUME_STATES.itemSpooled,
      parameters: { 'task.$': '$.task', 'error.$': '$.caught.Error', 'cause.$': '$.caught.Cause', 'failedState.$': '$.failedState' },
    });
    // The spool unreachable: the record says so; the item's task has a Started client record and a
    // failure worker record, and stays visible to operators (docs/big-ticks.md: not yet re-spooled by the parent).
    const itemNotSpooled = new sfn.Pass(this, HIGH_VOLUME_STATES.itemNotSpooled, {
      stateName: HIGH_VOLUME_STATES.itemNotSpooled,
      parameters: {
        'task.$': '$.task',
        'error.$': '$.caught.Error',
        'cause.$': '$.caught.Cause',
        'failedState.$': '$.failedState',
        'spoolError.$': "States.Format('{}: {}', $.spoolError.Error, $.spoolError.Cause)",
      },
    });
    const spoolItem = new sfn.CustomState(this, HIGH_VOLUME_STATES.spoolItem, {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Aws.PARTITION}:states:::sqs:sendMessage`,
        Parameters: {
          QueueUrl: props.spool.queue.queueUrl,
          // The SpoolMessage of lambdas/shared/spool-message.ts, kind ExecutionFailed, as in standard.
          MessageBody: {
            version: 1,
            kind: 'ExecutionFailed',
            job: job.name,
            'taskId.$': '$.task.taskId',
            'input.$': '$.task',
            'error.$': '$.caught.Error',
            'cause.$': '$.caught.Cause',
            'failedState.$': '$.failedState',
            'stepInput.$': '$.stepInput',
            'executionArn.$': '$$.Execution.Id',
            // Where reprocess replays it (it refuses any other state machine as forged).
            stateMachineArn: props.standard.stateMachine.stateMachineArn,
          },
          MessageAttributes: {
            job: { DataType: 'String', StringValue: job.name },
            errorType: { DataType: 'String', 'StringValue.$': '$.caught.Error' },
            kind: { DataType: 'String', StringValue: 'ExecutionFailed' },
          },
        },
        ResultSelector: { 'MessageId.$': '$.MessageId' },
        ResultPath: '$.spooled',
      },
    });
    spoolItem.addRetry({
      errors: ['States.ALL'],
      interval: Duration.seconds(HIGH_VOLUME_SPOOL_RETRY.intervalSeconds),
      backoffRate: HIGH_VOLUME_SPOOL_RETRY.backoffRate,
      maxDelay: Duration.seconds(HIGH_VOLUME_SPOOL_RETRY.maxDelaySeconds),
      maxAttempts: HIGH_VOLUME_SPOOL_RETRY.maxAttempts,
      jitterStrategy: sfn.JitterType.FULL,
    });
    spoolItem.addCatch(itemNotSpooled, { errors: ['States.ALL'], resultPath: '$.spoolError' });
    spoolItem.next(itemSpooled);

    const stepStates = steps.map((step, i) => {
      const t = this.stepTask(step, i === 0);
      const caught = new sfn.Pass(this, caughtStateName(step.name), {
        stateName: caughtStateName(step.name),
        parameters: {
          'task.$': '$.task',
          failedState: step.name,
          // The resume point: what the failed step was given (null for the first step).
          'stepInput.$': i === 0 ? JSON_NULL : '$.output.value',
          'caught.$': `States.JsonMerge(States.StringToJson('{"Error":"States.Unknown","Cause":""}'), $.caught, false)`,
        },
      });
      caught.next(spoolItem);
      t.addCatch(caught, { errors: ['States.ALL'], resultPath: '$.caught' });
      return t;
    });
    stepStates.forEach((s, i) => s.next(stepStates[i + 1] ?? itemSucceeded));

    // ---- child: its items, then their worker records in one invocation
    const items = new sfn.Map(this, HIGH_VOLUME_STATES.items, {
      stateName: HIGH_VOLUME_STATES.items,
      itemsPath: '$.Items',
      maxConcurrency: childConcurrency,
      itemSelector: { task: sfn.JsonPath.objectAt('$$.Map.Item.Value') },
      resultPath: '$.results',
    });
    items.itemProcessor(stepStates[0]);
    const childDone = new sfn.Succeed(this, HIGH_VOLUME_STATES.childDone, { stateName: HIGH_VOLUME_STATES.childDone, outputPath: '$.recorded' });
    const recordBatch = new tasks.LambdaInvoke(this, HIGH_VOLUME_STATES.recordBatch, {
      stateName: HIGH_VOLUME_STATES.recordBatch,
      lambdaFunction: this.batchRecordFunction,
      payload: sfn.TaskInput.fromObject({ executionArn: sfn.JsonPath.stringAt('$$.Execution.Id'), items: sfn.JsonPath.objectAt('$.results') }),
      // Counts only in the parent's results: no params leave the child.
      resultSelector: { 'written.$': '$.Payload.written', 'failures.$': '$.Payload.failures' },
      resultPath: '$.recorded',
      taskTimeout: sfn.Timeout.duration(Duration.seconds(60)),
    });
    recordBatch.addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(2), maxAttempts: 3, backoffRate: 2 });
    // A lost worker record must not change the outcome; the lost-task monitor notices the gap.
    recordBatch.addCatch(childDone, { errors: ['States.ALL'], resultPath: '$.recorded' });
    items.next(recordBatch);
    recordBatch.next(childDone);

    // ---- parent
    const children = new sfn.DistributedMap(this, HIGH_VOLUME_STATES.children, {
      stateName: HIGH_VOLUME_STATES.children,
      itemsPath: '$.tasks',
      mapExecutionType: sfn.StateMachineType.EXPRESS,
      itemBatcher: new sfn.ItemBatcher({ maxItemsPerBatch: itemsPerChild }),
      maxConcurrency: props.maxChildren ?? HIGH_VOLUME_DEFAULTS.maxChildren,
      // One failing child never fails the batch: its items were spooled by their Catch or are
      // reported by the Map Run (docs/big-ticks.md).
      toleratedFailurePercentage: 100,
      label: 'Tasks',
      // The children's results are counts (RecordBatch's): returned to the parent, no params.
      resultPath: '$.children',
    });
    children.itemProcessor(items);
    const parentDone = new sfn.Succeed(this, HIGH_VOLUME_STATES.parentDone, { stateName: HIGH_VOLUME_STATES.parentDone, outputPath: '$.children' });
    children.next(parentDone);

    const logGroup = new logs.LogGroup(this, 'StateMachineLogs', { retention: LOG_RETENTION, removalPolicy: RemovalPolicy.DESTROY });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(children),
      comment: `${job.name} (high-volume): a batch of tasks as a Distributed Map of Express children`,
      // A batch's children run at most 5 minutes each, at maxChildren at once: an hour is far beyond it.
      timeout: props.parentTimeout ?? HIGH_VOLUME_PARENT_TIMEOUT,
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ERROR, includeExecutionData: false },
      encryptionConfiguration: new sfn.CustomerManagedEncryptionConfiguration(props.paramsKey.key, Duration.minutes(5)),
    });
    props.spool.grantSend(this.stateMachine.role);
    props.paramsKey.grantExecutionData(this.stateMachine.role);

    // The Distributed Map's own policy (made by the CDK): describe and stop its child executions,
    // whose names Step Functions makes (<parent execution>/<Map Run label>:<id>), so only a wildcard
    // under this state machine's executions can name them.
    const smLogicalId = Stack.of(this).resolve((this.stateMachine.node.defaultChild as sfn.CfnStateMachine).logicalId);
    const executions = `arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${smLogicalId}"}]}]}`;
    acknowledgeOn(
      this.stateMachine.node.findChild('DistributedMapPolicy'),
      ...[`${executions}:*`, `${executions}/Tasks:*`].map((r) => ({
        id: `AwsSolutions-IAM5[Resource::${r}]`,
        reason: "The Distributed Map's child executions of this state machine only: their names are made by Step Functions at run time.",
      })),
    );
    acknowledgeOn(this.stateMachine, { id: 'AwsSolutions-SF1', reason: 'Level ERROR on purpose: failures are logged, and execution data (params, possibly personal) is never logged.' });
    acknowledgeOnPolicyOf(
      this.stateMachine.role,
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'X-Ray tracing and CloudWatch Logs delivery of the state machine (log deliveries, resource policies) have no resource-level permissions.' },
      ...[...steps.map((s) => props.standard.stepFunctions.get(s.name)!), this.batchRecordFunction].map((fn) => ({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).resolve((fn.node.defaultChild as lambda.CfnFunction).logicalId)}.Arn>:*]`,
        reason: 'lambda:InvokeFunction on this function and its versions, as LambdaInvoke grants it.',
      })),
    );
  }

  /** A step of the item: the standard step's Lambda, Retry and state timeout; state data `{task, output: {value}}`. */
  private stepTask(step: ResolvedLambdaStep, first: boolean): tasks.LambdaInvoke {
    const fn = this.props.standard.stepFunctions.get(step.name);
    if (!fn) throw new Error(`HighVolumeWorkflow: the standard workflow has no function for step ${step.name}`);
    const task = new tasks.LambdaInvoke(this, step.name, {
      stateName: step.name,
      lambdaFunction: fn,
      // The step contract of standard: the envelope, and the previous step's output.
      payload: sfn.TaskInput.fromObject({ task: sfn.JsonPath.objectAt('$.task'), previous: first ? null : sfn.JsonPath.objectAt('$.output.value') }),
      resultSelector: { value: sfn.JsonPath.objectAt('$.Payload') },
      resultPath: '$.output',
      taskTimeout: sfn.Timeout.duration(Duration.seconds(step.timeoutSeconds + STATE_TIMEOUT_MARGIN_SECONDS)),
    });
    task.addRetry({
      errors: [LAMBDA_THROTTLED],
      interval: Duration.seconds(THROTTLE_RETRY.intervalSeconds),
      backoffRate: THROTTLE_RETRY.backoffRate,
      maxDelay: Duration.seconds(THROTTLE_RETRY.maxDelaySeconds),
      // An Express child lives five minutes: a few throttle retries, then the item is spooled.
      maxAttempts: 5,
      jitterStrategy: sfn.JitterType.FULL,
    });
    const r = step.retry;
    if (r.maxAttempts > 0 && r.retryableErrors.length > 0) {
      task.addRetry({
        errors: [...r.retryableErrors],
        interval: Duration.seconds(r.intervalSeconds),
        maxAttempts: r.maxAttempts,
        backoffRate: r.backoffRate,
        maxDelay: Duration.seconds(r.maxDelaySeconds),
        jitterStrategy: r.jitter ? sfn.JitterType.FULL : undefined,
      });
    }
    return task;
  }
}
