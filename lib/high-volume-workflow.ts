import { Aws, CfnElement, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { AppFunction } from './app-function';
import { highVolumeChildShape, HighVolumeChildShape } from './config/execution-mode';
import { ResolvedJob, ResolvedLambdaStep } from './config/types';
import { LOG_RETENTION } from './defaults';
import { ErrorSpool } from './error-spool';
import { acknowledgeOn, acknowledgeOnPolicyOf, nagResource } from './nag';
import { ParamLog } from './param-log';
import { ParamsKey } from './params-key';
import { JobWorkflow, THROTTLE_RETRY } from './workflow';
import { ITEMS_NOT_SPOOLED } from '../lambdas/shared/child-report';
import { LAMBDA_SANDBOX_TIMEOUT, LAMBDA_THROTTLED } from '../lambdas/shared/errors';
import { HIGH_VOLUME_BATCH_MAX_BYTES, HIGH_VOLUME_MAX_ITEMS_PER_CHILD } from '../lambdas/shared/limits';
import { caughtStateName, STATE_TIMEOUT_MARGIN_SECONDS } from '../lambdas/shared/workflow-contract';

/** The CDK feature flag under which a Distributed Map renders `resultWriterV2`. */
const RESULT_WRITER_V2_FLAG = '@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2';

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
  /** The child's check after RecordBatch: were all its failed items spooled? */
  allSpooled: 'AllSpooled',
  /** The child fails with its report, so the Map Run counts it failed and the parent spools those items. */
  itemsNotSpooled: ITEMS_NOT_SPOOLED,
  childDone: 'ChildDone',
  /** The parent's post-map step (lambdas/map-failures). */
  spoolFailedChildren: 'SpoolFailedChildren',
  /** The parent fails when the post-map step cannot spool: the status-change capture sees it. */
  failedChildrenNotSpooled: 'FailedChildrenNotSpooled',
  parentDone: 'ParentDone',
} as const;

/** Defaults of the mode's shape (the cost model prices the same: scripts/cost/high-volume.ts). */
export const HIGH_VOLUME_DEFAULTS = {
  /** Tasks per Express child at most (ItemBatcher MaxItemsPerBatch): fewer for a job whose worst case needs it. */
  itemsPerChild: 100,
  /** Items a child runs at once (its inline Map's MaxConcurrency; Step Functions allows 40 inline). */
  childConcurrency: 10,
  /** Children of one Map Run at once (Step Functions allows up to 10,000). */
  maxChildren: 1000,
  /** Days the Map Run result files (children's inputs: task params) are kept in the results bucket. */
  resultsRetentionDays: 14,
} as const;

/**
 * Retry of the post-map step on its own transient errors (S3 reads, spool sends, worker-record
 * puts, a Lambda timeout); the Lambda service's errors are retried by LambdaInvoke itself. Its
 * other errors (the result files unreadable) are not retried: the parent fails.
 */
export const MAP_FAILURES_RETRY = {
  errors: ['MapResultsUnavailableError', 'SpoolSendError', 'ParamLogWriteError', LAMBDA_SANDBOX_TIMEOUT],
  intervalSeconds: 2,
  backoffRate: 2,
  maxDelaySeconds: 60,
  maxAttempts: 6,
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
  /**
   * Tasks per Express child. Set, it is refused when its waves at the job's worst case would not
   * fit five minutes (lib/config/execution-mode.ts highVolumeChildShape).
   * @default HIGH_VOLUME_DEFAULTS.itemsPerChild, lowered to as many waves as fit five minutes
   */
  readonly itemsPerChild?: number;
  /** @default HIGH_VOLUME_DEFAULTS.childConcurrency */
  readonly childConcurrency?: number;
  /** @default HIGH_VOLUME_DEFAULTS.maxChildren */
  readonly maxChildren?: number;
  /**
   * Where the Distributed Map's ResultWriter writes the Map Run's results (children's inputs: task
   * params). It must be encrypted with the params key (SSE-KMS), or reads will fail.
   * @default a bucket of this construct: SSE-KMS with the params key, TLS only, no public access,
   * objects expire after HIGH_VOLUME_DEFAULTS.resultsRetentionDays
   */
  readonly resultsBucket?: s3.IBucket;
  /** The parent's execution timeout (the reconciler pages ListExecutions this far back). @default 1 hour */
  readonly parentTimeout?: Duration;
}

/** Memory of the post-map step's function (the cost model prices it for jobs not yet deployed in the mode). */
export const MAP_FAILURES_MEMORY_MIB = 512;

/** The Lambda that spools the items of a Map Run's failed children (lambdas/map-failures). */
export class MapFailuresFunction extends AppFunction {
  constructor(scope: Construct, id: string, props: { readonly projectRoot: string; readonly paramLog: ParamLog; readonly spool: ErrorSpool; readonly timeZone: string }) {
    super(scope, id, {
      projectRoot: props.projectRoot,
      entry: 'lambdas/map-failures/handler.ts',
      serviceName: 'map-failures',
      description: 'Spools the items of high-volume children that the Map Run counts failed',
      // A Map Run's failed children: up to 10,000 result entries of <= 256 KiB each, read one file at a time.
      timeout: Duration.minutes(5),
      memorySize: MAP_FAILURES_MEMORY_MIB,
      environment: { WORKER_LOG_STREAM: props.paramLog.workerStream.deliveryStreamName, SPOOL_QUEUE_URL: props.spool.queue.queueUrl, APP_TIME_ZONE: props.timeZone },
    });
    props.paramLog.grantWriteWorker(this);
    props.spool.grantSend(this.role!);
  }
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
  public readonly mapFailuresFunction: MapFailuresFunction;
  /** Where the Map Run's results are written (see {@link HighVolumeWorkflowProps.resultsBucket}). */
  public readonly resultsBucket: s3.IBucket;
  /** Key prefix of this job's Map Run results in {@link resultsBucket}. */
  public readonly resultsPrefix: string;
  /** How a child runs its items (items per child chosen from the job's worst case) and its worst case. */
  public readonly childShape: HighVolumeChildShape;

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
    const childConcurrency = props.childConcurrency ?? HIGH_VOLUME_DEFAULTS.childConcurrency;
    if (!Number.isInteger(childConcurrency) || childConcurrency < 1 || childConcurrency > 40) problems.push(`childConcurrency must be 1-40 (an inline Map's limit), got ${childConcurrency}`);
    if (props.itemsPerChild !== undefined && (!Number.isInteger(props.itemsPerChild) || props.itemsPerChild < 1 || props.itemsPerChild > HIGH_VOLUME_MAX_ITEMS_PER_CHILD)) {
      // More outcomes than the child's state budget holds (lambdas/shared/limits.ts).
      problems.push(`itemsPerChild must be an integer from 1 to ${HIGH_VOLUME_MAX_ITEMS_PER_CHILD} (a child's outcomes must fit its 256 KiB state), got ${props.itemsPerChild}`);
    }
    if (problems.length) throw new Error(`HighVolumeWorkflow: ${problems.join('; ')}`);
    // A child runs its items in waves of childConcurrency and ends at five minutes: the items per
    // child are chosen so that its waves at the job's worst case fit (or, set here, refused if not).
    let shape: HighVolumeChildShape;
    try {
      shape = highVolumeChildShape(job.steps, { itemsPerChild: props.itemsPerChild ?? HIGH_VOLUME_DEFAULTS.itemsPerChild, childConcurrency }, props.itemsPerChild !== undefined);
    } catch (e) {
      throw new Error(`HighVolumeWorkflow: job ${job.name}: ${(e as Error).message}`);
    }
    this.childShape = shape;
    const { itemsPerChild } = shape;
    const steps = job.steps as ReadonlyArray<ResolvedLambdaStep>;

    this.batchRecordFunction = new BatchRecordFunction(this, 'BatchRecord', { projectRoot: props.projectRoot, paramLog: props.paramLog, timeZone: props.timeZone });

    // ---- item: the job's steps, their Catch spooling the item
    // An item's outcome is names only (lambdas/batch-record BatchItemResult): the child keeps every
    // outcome beside its Items until RecordBatch, so neither the task (Items[i] has it) nor the
    // cause (the spool message has it) may be in it, or 100 of them pass the 256 KiB state quota
    // (States.DataLimitExceeded, which no Catch takes; lambdas/shared/limits.ts).
    const itemSucceeded = new sfn.Pass(this, HIGH_VOLUME_STATES.itemSucceeded, { stateName: HIGH_VOLUME_STATES.itemSucceeded, result: sfn.Result.fromObject({}) });
    const itemSpooled = new sfn.Pass(this, HIGH_VOLUME_STATES.itemSpooled, {
      stateName: HIGH_VOLUME_STATES.itemSpooled,
      parameters: { 'error.$': '$.caught.Error', 'failedState.$': '$.failedState', 'spooled.$': '$.spooled.MessageId' },
    });
    // The spool unreachable: the record says so; the item's task has a Started client record and a
    // failure worker record, and stays visible to operators (docs/big-ticks.md: not yet re-spooled by the parent).
    const itemNotSpooled = new sfn.Pass(this, HIGH_VOLUME_STATES.itemNotSpooled, {
      stateName: HIGH_VOLUME_STATES.itemNotSpooled,
      // The send's error name only: its cause is unbounded, and the item's record says it was not spooled.
      parameters: { 'error.$': '$.caught.Error', 'failedState.$': '$.failedState', 'spoolError.$': '$.spoolError.Error' },
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
            // Reprocess replays in the job's standard state machine and refuses a message naming
            // any other (message.ts, forged-replay checks): not the child's own `$$.StateMachine.Id`.
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
    // Its input is RecordBatch's counts, or its error (the Catch below): both replace the state.
    const childDone = new sfn.Succeed(this, HIGH_VOLUME_STATES.childDone, { stateName: HIGH_VOLUME_STATES.childDone });
    const recordBatch = new tasks.LambdaInvoke(this, HIGH_VOLUME_STATES.recordBatch, {
      stateName: HIGH_VOLUME_STATES.recordBatch,
      lambdaFunction: this.batchRecordFunction,
      // The tasks once (Items) and their outcomes in the same order (the Map keeps it).
      payload: sfn.TaskInput.fromObject({ executionArn: sfn.JsonPath.stringAt('$$.Execution.Id'), items: sfn.JsonPath.objectAt('$.Items'), results: sfn.JsonPath.objectAt('$.results') }),
      // Counts and item positions only in the parent's results: no params leave the child. The
      // state is replaced (no ResultPath: "$", which aws-local-stepfunctions 3 misreads as a key):
      // Items and results are not carried past RecordBatch.
      resultSelector: { 'written.$': '$.Payload.written', 'failures.$': '$.Payload.failures', 'notSpooled.$': '$.Payload.notSpooled', 'report.$': '$.Payload.report' },
      taskTimeout: sfn.Timeout.duration(Duration.seconds(60)),
    });
    recordBatch.addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(2), maxAttempts: 3, backoffRate: 2 });
    // A lost worker record must not change the outcome; the lost-task monitor notices the gap.
    recordBatch.addCatch(childDone, { errors: ['States.ALL'] });
    items.next(recordBatch);
    // An item whose spool send failed must reach the parent: the child fails with the report
    // (positions and error names), the Map Run counts it failed, and SpoolFailedChildren spools
    // exactly those items from the ResultWriter output.
    const itemsNotSpooled = new sfn.Fail(this, HIGH_VOLUME_STATES.itemsNotSpooled, {
      stateName: HIGH_VOLUME_STATES.itemsNotSpooled,
      error: ITEMS_NOT_SPOOLED,
      causePath: '$.report',
    });
    recordBatch.next(
      new sfn.Choice(this, HIGH_VOLUME_STATES.allSpooled, { stateName: HIGH_VOLUME_STATES.allSpooled })
        .when(sfn.Condition.and(sfn.Condition.isPresent('$.notSpooled'), sfn.Condition.numberGreaterThan('$.notSpooled', 0)), itemsNotSpooled)
        .otherwise(childDone),
    );

    // ---- parent
    this.resultsPrefix = `map-runs/${job.name}`;
    this.resultsBucket = props.resultsBucket ?? this.defaultResultsBucket();
    // The CDK renders `resultWriterV2` only under this feature flag (false in this app's cdk.json,
    // for the stacks made before it) and the deprecated `resultWriter` otherwise: the flag is set
    // for this state alone, which no deployed state machine depends on (no CloudFormation resource
    // lives under this scope).
    const mapScope = new Construct(this, 'MapState');
    mapScope.node.setContext(RESULT_WRITER_V2_FLAG, true);
    const children = new sfn.DistributedMap(mapScope, HIGH_VOLUME_STATES.children, {
      stateName: HIGH_VOLUME_STATES.children,
      itemsPath: '$.tasks',
      mapExecutionType: sfn.StateMachineType.EXPRESS,
      // Bytes bounded too: the child keeps its Items until RecordBatch (lambdas/shared/limits.ts).
      itemBatcher: new sfn.ItemBatcher({ maxItemsPerBatch: itemsPerChild, maxInputBytesPerBatch: HIGH_VOLUME_BATCH_MAX_BYTES }),
      maxConcurrency: props.maxChildren ?? HIGH_VOLUME_DEFAULTS.maxChildren,
      // One failing child never fails the batch: its items were spooled by their Catch or are
      // reported by the Map Run (docs/big-ticks.md).
      toleratedFailurePercentage: 100,
      label: 'Tasks',
      // Every child's end, its input included, goes to the bucket (params key), not the parent's
      // state: the post-map step reads the failed ones (lambdas/map-failures/result-writer.ts).
      resultWriterV2: new sfn.ResultWriterV2({ bucket: this.resultsBucket, prefix: this.resultsPrefix }),
      // `{MapRunArn, ResultWriterDetails: {Bucket, Key}}`: no params.
      resultPath: '$.children',
    });
    children.itemProcessor(items);
    const parentDone = new sfn.Succeed(this, HIGH_VOLUME_STATES.parentDone, { stateName: HIGH_VOLUME_STATES.parentDone, outputPath: '$.spooled' });

    this.mapFailuresFunction = new MapFailuresFunction(this, 'MapFailures', { projectRoot: props.projectRoot, paramLog: props.paramLog, spool: props.spool, timeZone: props.timeZone });
    const spoolFailedChildren = new tasks.LambdaInvoke(this, HIGH_VOLUME_STATES.spoolFailedChildren, {
      stateName: HIGH_VOLUME_STATES.spoolFailedChildren,
      lambdaFunction: this.mapFailuresFunction,
      payload: sfn.TaskInput.fromObject({
        mapRun: sfn.JsonPath.objectAt('$.children'),
        job: job.name,
        replayStateMachineArn: props.standard.stateMachine.stateMachineArn,
        firstStep: steps[0].name,
      }),
      // Counts only (lambdas/map-failures/logic.ts MapFailuresResult).
      resultSelector: { 'failedChildren.$': '$.Payload.failedChildren', 'spooled.$': '$.Payload.spooled', 'recorded.$': '$.Payload.recorded' },
      resultPath: '$.spooled',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(6)),
    });
    spoolFailedChildren.addRetry({
      errors: [...MAP_FAILURES_RETRY.errors],
      interval: Duration.seconds(MAP_FAILURES_RETRY.intervalSeconds),
      backoffRate: MAP_FAILURES_RETRY.backoffRate,
      maxDelay: Duration.seconds(MAP_FAILURES_RETRY.maxDelaySeconds),
      maxAttempts: MAP_FAILURES_RETRY.maxAttempts,
      jitterStrategy: sfn.JitterType.FULL,
    });
    // Ending in a Fail (not Succeed) makes the parent FAILED: its status-change event reaches the
    // capture, and the reconciler finds it if the event is lost (docs/big-ticks.md).
    const notSpooled = new sfn.Fail(this, HIGH_VOLUME_STATES.failedChildrenNotSpooled, {
      stateName: HIGH_VOLUME_STATES.failedChildrenNotSpooled,
      error: HIGH_VOLUME_STATES.failedChildrenNotSpooled,
      causePath: '$.mapFailuresError.Cause',
    });
    spoolFailedChildren.addCatch(notSpooled, { errors: ['States.ALL'], resultPath: '$.mapFailuresError' });
    children.next(spoolFailedChildren);
    spoolFailedChildren.next(parentDone);

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
    this.grantResults();

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
      ...[...steps.map((s) => props.standard.stepFunctions.get(s.name)!), this.batchRecordFunction, this.mapFailuresFunction].map((fn) => ({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).resolve((fn.node.defaultChild as lambda.CfnFunction).logicalId)}.Arn>:*]`,
        reason: 'lambda:InvokeFunction on this function and its versions, as LambdaInvoke grants it.',
      })),
    );
  }

  /** The default results bucket: the children's inputs are task params, so it is locked like the spool. */
  private defaultResultsBucket(): s3.Bucket {
    const bucket = new s3.Bucket(this, 'MapResults', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.props.paramsKey.key,
      // One data key per bucket instead of a KMS call per object (the Map Run writes many).
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      removalPolicy: RemovalPolicy.RETAIN,
      // The failures are in the spool (and the worker records) once the post-map step ran: the
      // result files are kept only for an operator's look.
      lifecycleRules: [
        { id: 'expire-map-results', expiration: Duration.days(HIGH_VOLUME_DEFAULTS.resultsRetentionDays) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    acknowledgeOn(bucket, {
      id: 'AwsSolutions-S1',
      reason: 'Map Run result files, written by this state machine and read by its post-map Lambda only (least-privilege grants, params key); access logs would need another bucket.',
    });
    return bucket;
  }

  /**
   * The ResultWriter's writes (the CDK grants the S3 actions) and the post-map step's reads, with
   * the params key usable through S3 only.
   */
  private grantResults(): void {
    const { paramsKey } = this.props;
    paramsKey.grantS3Data(this.stateMachine.role, ['kms:GenerateDataKey', 'kms:Decrypt']);
    acknowledgeOnPolicyOf(this.stateMachine.role, {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::<${Stack.of(this).resolve((this.resultsBucket.node.defaultChild as CfnElement | undefined)?.logicalId ?? '')}>/*]`,
      reason: 'The ResultWriter (granted by the CDK) writes the Map Run files, whose keys Step Functions makes at run time, in the bucket that holds only Map Run results.',
    });
    const reader = this.mapFailuresFunction.role!;
    reader.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [this.resultsBucket.arnForObjects(`${this.resultsPrefix}/*`)] }));
    paramsKey.grantS3Data(reader, ['kms:Decrypt']);
    acknowledgeOnPolicyOf(reader, {
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, this.resultsBucket.arnForObjects(`${this.resultsPrefix}/*`))}]`,
      reason: "s3:GetObject on this job's Map Run results only: their keys (map run id, file names) are made by Step Functions at run time.",
    });
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
