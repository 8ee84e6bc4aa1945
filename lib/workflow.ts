import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AppFunction } from './app-function';
import { ResolvedJob, ResolvedStep } from './config/types';
import { LOG_RETENTION } from './defaults';
import { ParamLog } from './param-log';

/** Internal state names (keep in sync with RESERVED_STATE_NAMES in lib/config/validate.ts). */
export const STATE_NAMES = {
  recordSuccess: 'RecordSuccess',
  recordFailure: 'RecordFailure',
  spoolFailure: 'SpoolFailure',
  succeeded: 'Succeeded',
  failed: 'Failed',
} as const;

/**
 * Name of the Pass state that notes which step failed. Step names are PascalCase letters and
 * digits, so a name with a dash can never collide with a step.
 */
export function caughtStateName(step: string): string {
  return `${step}-Caught`;
}

/** Seconds a step Lambda may run beyond its state's TimeoutSeconds, so States.Timeout fires first. */
export const LAMBDA_TIMEOUT_MARGIN_SECONDS = 5;

/** Props of {@link WorkerRecordFunction}. */
export interface WorkerRecordFunctionProps {
  readonly projectRoot: string;
  readonly paramLog: ParamLog;
  /** IANA time zone of record times. */
  readonly timeZone: string;
}

/**
 * The worker-record Lambda shared by every job's workflow: writes one worker record (Success,
 * Failure, TimedOut) to the worker stream at the end of each execution.
 */
export class WorkerRecordFunction extends AppFunction {
  constructor(scope: Construct, id: string, props: WorkerRecordFunctionProps) {
    super(scope, id, {
      projectRoot: props.projectRoot,
      entry: 'lambdas/record-outcome/handler.ts',
      serviceName: 'record-outcome',
      description: 'Writes the worker record of a finished execution to the parameter log',
      timeout: Duration.seconds(30),
      environment: {
        WORKER_LOG_STREAM: props.paramLog.workerStream.deliveryStreamName,
        APP_TIME_ZONE: props.timeZone,
      },
    });
    props.paramLog.grantWriteWorker(this);
  }
}

/** Props of {@link JobWorkflow}. */
export interface JobWorkflowProps {
  readonly job: ResolvedJob;
  readonly projectRoot: string;
  /** The error spool every final failure is sent to. */
  readonly spoolQueue: sqs.IQueue;
  /** The worker-record Lambda (shared by all jobs). */
  readonly recordFunction: WorkerRecordFunction;
  /** IANA time zone (passed to step Lambdas as APP_TIME_ZONE). */
  readonly timeZone: string;
}

/**
 * One job's workflow: a Lambda per step and a Standard state machine (JSONPath, so the
 * synthesized definition runs in aws-local-stepfunctions) that runs the steps in order with each
 * step's Retry, spools every caught failure with the original input, writes a worker record on
 * every path, and ends FAILED after a failure.
 */
export class JobWorkflow extends Construct {
  /** The job's state machine; its input is the task envelope. */
  public readonly stateMachine: sfn.StateMachine;
  /** Step Lambdas by step (state) name. */
  public readonly stepFunctions: ReadonlyMap<string, AppFunction>;
  /** The worker-record Lambda this workflow invokes. */
  public readonly recordFunction: WorkerRecordFunction;

  constructor(scope: Construct, id: string, props: JobWorkflowProps) {
    super(scope, id);
    const { job } = props;
    this.recordFunction = props.recordFunction;

    const fns = new Map<string, AppFunction>();
    for (const step of job.steps) {
      fns.set(
        step.name,
        new AppFunction(this, `${step.name}Function`, {
          projectRoot: props.projectRoot,
          entry: step.entry,
          serviceName: job.name,
          description: `${job.name}: step ${step.name}`,
          memorySize: step.memoryMiB,
          timeout: Duration.seconds(Math.min(900, step.timeoutSeconds + LAMBDA_TIMEOUT_MARGIN_SECONDS)),
          environment: { ...step.environment, JOB_NAME: job.name, STEP_NAME: step.name, APP_TIME_ZONE: props.timeZone },
        }),
      );
    }
    this.stepFunctions = fns;

    // ---- failure path: <Step>-Caught -> SpoolFailure -> RecordFailure -> Failed
    const failed = new sfn.Fail(this, STATE_NAMES.failed, {
      stateName: STATE_NAMES.failed,
      errorPath: '$.caught.Error',
      causePath: '$.caught.Cause',
    });
    const recordFailure = new tasks.LambdaInvoke(this, STATE_NAMES.recordFailure, {
      stateName: STATE_NAMES.recordFailure,
      lambdaFunction: props.recordFunction,
      payload: sfn.TaskInput.fromObject({
        task: sfn.JsonPath.objectAt('$$.Execution.Input'),
        error: sfn.JsonPath.stringAt('$.caught.Error'),
        cause: sfn.JsonPath.stringAt('$.caught.Cause'),
        failedState: sfn.JsonPath.stringAt('$.failedState'),
        executionArn: sfn.JsonPath.stringAt('$$.Execution.Id'),
      }),
      resultPath: sfn.JsonPath.DISCARD,
    });
    recordFailure.addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(2), maxAttempts: 3, backoffRate: 2 });
    // A lost worker record must not change the outcome; the lost-task monitor notices the gap.
    recordFailure.addCatch(failed, { errors: ['States.ALL'], resultPath: '$.recordError' });
    recordFailure.next(failed);

    const spoolFailure = new sfn.CustomState(this, STATE_NAMES.spoolFailure, {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Aws.PARTITION}:states:::sqs:sendMessage`,
        Parameters: {
          QueueUrl: props.spoolQueue.queueUrl,
          // The SpoolMessage of lambdas/shared/spool-message.ts, kind ExecutionFailed.
          MessageBody: {
            version: 1,
            kind: 'ExecutionFailed',
            job: job.name,
            'taskId.$': '$$.Execution.Input.taskId',
            'input.$': '$$.Execution.Input',
            'error.$': '$.caught.Error',
            'cause.$': '$.caught.Cause',
            'failedState.$': '$.failedState',
            'executionArn.$': '$$.Execution.Id',
            'stateMachineArn.$': '$$.StateMachine.Id',
          },
          MessageAttributes: {
            job: { DataType: 'String', StringValue: job.name },
            'errorType': { DataType: 'String', 'StringValue.$': '$.caught.Error' },
            kind: { DataType: 'String', StringValue: 'ExecutionFailed' },
          },
        },
        ResultPath: null,
      },
    });
    // Spooling is what makes "nothing is lost" true: retry hard (about 10 minutes in all).
    spoolFailure.addRetry({
      errors: ['States.ALL'],
      interval: Duration.seconds(1),
      maxAttempts: 10,
      backoffRate: 2,
      maxDelay: Duration.seconds(120),
      jitterStrategy: sfn.JitterType.FULL,
    });
    // If SQS stays down, still record and fail: the FAILED execution itself keeps the input (redrive).
    spoolFailure.addCatch(recordFailure, { errors: ['States.ALL'], resultPath: '$.spoolError' });
    spoolFailure.next(recordFailure);

    // ---- success path: RecordSuccess -> Succeeded
    const succeeded = new sfn.Succeed(this, STATE_NAMES.succeeded, { stateName: STATE_NAMES.succeeded });
    const recordSuccess = new tasks.LambdaInvoke(this, STATE_NAMES.recordSuccess, {
      stateName: STATE_NAMES.recordSuccess,
      lambdaFunction: props.recordFunction,
      payload: sfn.TaskInput.fromObject({
        task: sfn.JsonPath.objectAt('$$.Execution.Input'),
        executionArn: sfn.JsonPath.stringAt('$$.Execution.Id'),
      }),
      resultPath: sfn.JsonPath.DISCARD,
    });
    recordSuccess.addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(2), maxAttempts: 3, backoffRate: 2 });
    recordSuccess.addCatch(succeeded, { errors: ['States.ALL'], resultPath: sfn.JsonPath.DISCARD });
    recordSuccess.next(succeeded);

    // ---- steps
    let chain: sfn.INextable | undefined;
    let start: sfn.IChainable | undefined;
    job.steps.forEach((step, i) => {
      const task = this.stepTask(step, fns.get(step.name)!, i === 0);
      const caught = new sfn.Pass(this, caughtStateName(step.name), {
        stateName: caughtStateName(step.name),
        parameters: {
          failedState: step.name,
          // A caught error always has Error; Cause can be missing (e.g. some States.* errors), and a
          // JSONPath to a missing field would fail the run with an uncatchable States.Runtime.
          'caught.$': `States.JsonMerge(States.StringToJson('{"Error":"States.Unknown","Cause":""}'), $.caught, false)`,
        },
      });
      caught.next(spoolFailure);
      task.addCatch(caught, { errors: ['States.ALL'], resultPath: '$.caught' });
      if (chain) chain.next(task);
      else start = task;
      chain = task;
    });
    chain!.next(recordSuccess);

    const logGroup = new logs.LogGroup(this, 'StateMachineLogs', {
      retention: LOG_RETENTION,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(start!),
      comment: `${job.name}: ${job.description || 'scheduled job'}`,
      tracingEnabled: true,
      // Params may hold personal data: errors only, and never execution data.
      logs: { destination: logGroup, level: sfn.LogLevel.ERROR, includeExecutionData: false },
    });
    props.spoolQueue.grantSendMessages(this.stateMachine);

    Validations.of(this.stateMachine).acknowledge(
      { id: 'AwsSolutions-SF1', reason: 'Level ERROR on purpose: failures are logged, the execution history holds the rest, and execution data (params, possibly personal) is never logged.' },
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'X-Ray tracing of the state machine has no resource-level permissions.' },
      ...[...fns.values(), props.recordFunction].map((fn) => ({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).resolve((fn.node.defaultChild as lambda.CfnFunction).logicalId)}.Arn>:*]`,
        reason: 'lambda:InvokeFunction on this step function and its versions, as LambdaInvoke grants it.',
      })),
    );
  }

  /** One step: LambdaInvoke with the step contract, its Retry, TimeoutSeconds; keeps only the Payload. */
  private stepTask(step: ResolvedStep, fn: AppFunction, first: boolean): tasks.LambdaInvoke {
    const task = new tasks.LambdaInvoke(this, step.name, {
      stateName: step.name,
      lambdaFunction: fn,
      payload: sfn.TaskInput.fromObject({
        task: sfn.JsonPath.objectAt('$$.Execution.Input'),
        previous: first ? null : sfn.JsonPath.objectAt('$.output'),
      }),
      // State data is { output: <step's return> }: small, and the next step's `previous`.
      resultSelector: { output: sfn.JsonPath.objectAt('$.Payload') },
      taskTimeout: sfn.Timeout.duration(Duration.seconds(step.timeoutSeconds)),
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
