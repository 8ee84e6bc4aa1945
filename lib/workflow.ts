import { Annotations, Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { Alerts } from './alerts';
import { AppFunction } from './app-function';
import { watchErrors } from './error-watch';
import { LOCK_FAILURES_METRIC } from '../lambdas/lock/metrics';
import { APP_METRIC_NAMESPACE } from '../lambdas/shared/metric-names';
import { ResolvedDependency, ResolvedJob, ResolvedLambdaStep, ResolvedStep } from './config/types';
import { CoordinationTable } from './coordination-table';
import { ErrorSpool } from './error-spool';
import { LOG_RETENTION } from './defaults';
import { acknowledgeOn, acknowledgeOnPolicyOf } from './nag';
import { applyFunctionSettings, functionSettingsProps } from './function-settings';
import { THROTTLE_RETRY } from './config/timeouts';
import { historyBudgetFindings } from './config/history-budget';
import { ParamLog } from './param-log';
import { ParamsKey } from './params-key';
import { StepResultsTable } from './step-results-table';
import { LAMBDA_THROTTLED, SPOOL_UNAVAILABLE } from '../lambdas/shared/errors';
import { MAX_STEP_OUTPUT_BYTES, stepOutputBudget } from '../lambdas/shared/limits';
import { caughtStateName, resumeStateName, STATE_NAMES, STATE_TIMEOUT_MARGIN_SECONDS, STEP_ENV } from '../lambdas/shared/workflow-contract';

export { caughtStateName, STATE_NAMES };

/**
 * The retrier every Lambda state gets for a throttled invoke (reserved concurrency reached, see a
 * step's `maxConcurrency`): its own attempt count, so throttling never uses the step's retry budget;
 * about 18 minutes of waiting before the task would be spooled. The CDK's LambdaInvoke service
 * retrier does not cover `Lambda.TooManyRequestsException` (AWS Step Functions developer guide,
 * "Handling Lambda service exceptions"; CDK LambdaInvoke `retryOnServiceExceptions`). Defined with
 * the execution timeouts (lib/config/timeouts.ts), which allow for it.
 */
export { THROTTLE_RETRY };

/** A JSONPath value that is JSON null (the CDK drops literal nulls from Parameters). */
const JSON_NULL = "States.StringToJson('null')";

/** Adds the throttle retrier (its own attempt count) to a Lambda task. */
function addThrottleRetry(task: tasks.LambdaInvoke): void {
  task.addRetry({
    errors: [LAMBDA_THROTTLED],
    interval: Duration.seconds(THROTTLE_RETRY.intervalSeconds),
    backoffRate: THROTTLE_RETRY.backoffRate,
    maxDelay: Duration.seconds(THROTTLE_RETRY.maxDelaySeconds),
    maxAttempts: THROTTLE_RETRY.maxAttempts,
    jitterStrategy: sfn.JitterType.FULL,
  });
}

/** Wait between attempts to take a busy exclusive lock. */
export const LOCK_RETRY = { intervalSeconds: 2, backoffRate: 2, maxDelaySeconds: 60 } as const;

/** Attempts of the LockBusy retrier so that its waits add up to at least `waitSeconds`. */
export function lockRetryAttempts(waitSeconds: number): number {
  let total = 0;
  let n = 0;
  while (total < waitSeconds) {
    total += Math.min(LOCK_RETRY.intervalSeconds * LOCK_RETRY.backoffRate ** n, LOCK_RETRY.maxDelaySeconds);
    n++;
  }
  return n;
}

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

/** Props of {@link LockFunction}. */
export interface LockFunctionProps {
  readonly projectRoot: string;
  readonly coordination: CoordinationTable;
  /** Where its failure alarm notifies. */
  readonly alerts: Alerts;
}

/** The exclusive-key lock Lambda shared by every job with `exclusiveBy` (lambdas/lock). */
export class LockFunction extends AppFunction {
  constructor(scope: Construct, id: string, props: LockFunctionProps) {
    super(scope, id, {
      projectRoot: props.projectRoot,
      entry: 'lambdas/lock/handler.ts',
      serviceName: 'lock',
      description: 'Takes and releases the exclusive-key locks of jobs with exclusiveBy',
      timeout: Duration.seconds(10),
      environment: { COORDINATION_TABLE: props.coordination.table.tableName },
    });
    props.coordination.grantLocks(this);
    // A busy lock is an error of this function by design (LockBusy, retried by the state): alarm on
    // the failures its handler counts apart instead (lambdas/lock/handler.ts).
    watchErrors(this, 'own');
    this.failuresAlarm = props.alerts.atLeastOne(
      this,
      'FailuresAlarm',
      new cloudwatch.Metric({
        namespace: APP_METRIC_NAMESPACE,
        metricName: LOCK_FAILURES_METRIC,
        dimensionsMap: { service: 'lock', FunctionName: this.functionName },
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.SUM,
      }),
      'The exclusive-key lock function failed for another reason than a busy lock (coordination table unreachable, a task without its exclusive key): those tasks are spooled with the error. Read the lock function\'s log.',
    );
  }

  /** Failures of the lock function other than busy locks. */
  public readonly failuresAlarm: cloudwatch.Alarm;
}

/** Props of {@link JobWorkflow}. */
export interface JobWorkflowProps {
  readonly job: ResolvedJob;
  readonly projectRoot: string;
  /** The error spool every final failure is sent to. */
  readonly spool: ErrorSpool;
  /** The worker-record Lambda (shared by all jobs). */
  readonly recordFunction: WorkerRecordFunction;
  /** The lock Lambda (shared); required when the job has `exclusiveBy`. */
  readonly lockFunction?: LockFunction;
  /** Holds, locks. */
  readonly coordination: CoordinationTable;
  /** Where every step call's result is recorded (idempotent steps), inside the read lock. */
  readonly stepResults: StepResultsTable;
  /** The app's dependencies (planned hold windows of the steps' `dependsOn`). */
  readonly dependencies: ReadonlyArray<ResolvedDependency>;
  /** Encrypts the executions' data (input, history): params only behind the read lock. */
  readonly paramsKey: ParamsKey;
  /** IANA time zone (passed to step Lambdas as APP_TIME_ZONE). */
  readonly timeZone: string;
}

type StepPayloadStyle = { readonly kind: 'top'; readonly first: boolean } | { readonly kind: 'nested'; readonly index: boolean; readonly last: boolean };

/**
 * One job's workflow: a Lambda per step and a Standard state machine (JSONPath, so the
 * synthesized definition runs in aws-local-stepfunctions):
 *
 * ```
 * [AcquireLock] -> [Route] -> step 1 -> step 2 ... -> [ReleaseLock] -> RecordSuccess -> Succeeded
 *                    `-> <Step>-Resume -> step k (a replay resumed at its failed step)
 * any step --Catch--> <Step>-Caught -> [ReleaseLockAfterFailure] -> SpoolFailure -> RecordFailure -> MarkSpooled -> Failed
 *                                                          SpoolFailure --Catch--> ... -> SpoolUnavailable (no marker)
 * ```
 * A step is a Lambda (its Retry on the config's error names, a throttle retrier, its state timeout
 * beyond the handler's deadline), a parallel group (branches of Lambda steps; output: the array of
 * branch outputs) or a map (a chain per item; output: the array of item results). Every failure is
 * spooled with the original input, the failed step and what it was given, and the execution ends
 * FAILED with a cause marked `[spooled ...]`; executions that end any other way (timeout, abort,
 * uncatchable error, spool unreachable) are spooled by the status-change capture.
 */
export class JobWorkflow extends Construct {
  /** The job's state machine; its input is the task envelope. */
  public readonly stateMachine: sfn.StateMachine;
  /** Step Lambdas by step (state) name, nested ones included. */
  public readonly stepFunctions: ReadonlyMap<string, AppFunction>;
  /** The worker-record Lambda this workflow invokes. */
  public readonly recordFunction: WorkerRecordFunction;
  /** Steps with maxConcurrency: throttles are their design (they wait on their own retrier). */
  public readonly throttledSteps = new Set<string>();

  private readonly fns = new Map<string, AppFunction>();

  constructor(scope: Construct, id: string, private readonly props: JobWorkflowProps) {
    super(scope, id);
    const { job } = props;
    this.recordFunction = props.recordFunction;
    if (job.exclusiveBy && !props.lockFunction) throw new Error(`JobWorkflow ${job.name}: exclusiveBy needs the lock function (props.lockFunction)`);
    // A history that overflows only when steps retry a lot is allowed, with the numbers at synth.
    for (const w of historyBudgetFindings(`job ${job.name}`, job).warnings) Annotations.of(this).addWarningV2('scheduled-jobs:history-budget', w);
    // Checked and priced, not deployed yet (docs/big-ticks.md, "High-volume mode"): say so at every synth.
    if (job.executionMode === 'high-volume') {
      Annotations.of(this).addWarningV2('scheduled-jobs:high-volume-not-deployed', `job ${job.name}: executionMode "high-volume" is checked and priced but not deployed yet; it runs as "standard" (one Standard execution per task) with the same guarantees`);
    }

    // ---- step Lambdas
    job.steps.forEach((step, i) => {
      const next = job.steps[i + 1];
      const items = next?.kind === 'map' ? { field: next.itemsField ?? '', max: next.maxItems } : null;
      if (step.kind === 'lambda') this.stepFunction(step, MAX_STEP_OUTPUT_BYTES, items);
      else if (step.kind === 'parallel') step.branches.flat().forEach((s) => this.stepFunction(s, stepOutputBudget(step.branches.length), null));
      else step.steps.forEach((s) => this.stepFunction(s, stepOutputBudget(step.maxItems), null));
    });
    this.stepFunctions = this.fns;

    // ---- failure path
    const failed = new sfn.Fail(this, STATE_NAMES.failed, { stateName: STATE_NAMES.failed, errorPath: '$.fail.Error', causePath: '$.fail.Cause' });
    // aws-local-stepfunctions does not evaluate intrinsics in CausePath (AWS does): build the cause in a Pass.
    const markSpooled = new sfn.Pass(this, STATE_NAMES.markSpooled, {
      stateName: STATE_NAMES.markSpooled,
      parameters: {
        fail: {
          'Error.$': '$.caught.Error',
          'Cause.$': "States.Format('[spooled {}] {}', $.spooled.MessageId, $.caught.Cause)",
        },
      },
    });
    markSpooled.next(failed);
    const recordFailure = this.recordTask(STATE_NAMES.recordFailure, {
      task: sfn.JsonPath.objectAt('$$.Execution.Input'),
      error: sfn.JsonPath.stringAt('$.caught.Error'),
      cause: sfn.JsonPath.stringAt('$.caught.Cause'),
      failedState: sfn.JsonPath.stringAt('$.failedState'),
      executionArn: sfn.JsonPath.stringAt('$$.Execution.Id'),
    });
    // A lost worker record must not change the outcome; the lost-task monitor notices the gap.
    recordFailure.addCatch(markSpooled, { errors: ['States.ALL'], resultPath: '$.recordError' });
    recordFailure.next(markSpooled);

    // The spool unreachable after ~8 minutes of retries: its own end, without the marker, so that
    // the status-change capture spools the task later. The capture reads the failure (error, cause,
    // failed step and its input) from the SpoolFailure-Caught state's output in the execution
    // history; the cause here is for people.
    const spoolUnavailable = new sfn.Fail(this, STATE_NAMES.spoolUnavailable, { stateName: STATE_NAMES.spoolUnavailable, error: SPOOL_UNAVAILABLE, causePath: '$.fail.Cause' });
    const markUnavailable = new sfn.Pass(this, STATE_NAMES.markSpoolUnavailable, {
      stateName: STATE_NAMES.markSpoolUnavailable,
      parameters: {
        fail: { 'Cause.$': "States.Format('{} in {} could not be spooled ({}: {}); the status-change capture spools it', $.caught.Error, $.failedState, $.spoolError.Error, $.spoolError.Cause)" },
      },
    });
    markUnavailable.next(spoolUnavailable);
    const recordUnavailable = this.recordTask(STATE_NAMES.recordSpoolUnavailable, {
      task: sfn.JsonPath.objectAt('$$.Execution.Input'),
      error: sfn.JsonPath.stringAt('$.caught.Error'),
      cause: sfn.JsonPath.stringAt('$.caught.Cause'),
      failedState: sfn.JsonPath.stringAt('$.failedState'),
      executionArn: sfn.JsonPath.stringAt('$$.Execution.Id'),
      spoolError: sfn.JsonPath.format('{}: {}', sfn.JsonPath.stringAt('$.spoolError.Error'), sfn.JsonPath.stringAt('$.spoolError.Cause')),
    });
    recordUnavailable.addCatch(markUnavailable, { errors: ['States.ALL'], resultPath: '$.recordError' });
    recordUnavailable.next(markUnavailable);
    const spoolCaught = new sfn.Pass(this, caughtStateName(STATE_NAMES.spoolFailure), {
      stateName: caughtStateName(STATE_NAMES.spoolFailure),
      parameters: {
        'failedState.$': '$.failedState',
        'stepInput.$': '$.stepInput',
        'caught.$': '$.caught',
        'spoolError.$': `States.JsonMerge(States.StringToJson('{"Error":"States.Unknown","Cause":""}'), $.spoolError, false)`,
      },
    });
    spoolCaught.next(recordUnavailable);

    const spoolFailure = new sfn.CustomState(this, STATE_NAMES.spoolFailure, {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Aws.PARTITION}:states:::sqs:sendMessage`,
        Parameters: {
          QueueUrl: props.spool.queue.queueUrl,
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
            'stepInput.$': '$.stepInput',
            'executionArn.$': '$$.Execution.Id',
            'stateMachineArn.$': '$$.StateMachine.Id',
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
    // Spooling is what makes "nothing is lost" true: retry hard (about 8 minutes in all).
    spoolFailure.addRetry({ errors: ['States.ALL'], interval: Duration.seconds(1), maxAttempts: 10, backoffRate: 2, maxDelay: Duration.seconds(120), jitterStrategy: sfn.JitterType.FULL });
    spoolFailure.addCatch(spoolCaught, { errors: ['States.ALL'], resultPath: '$.spoolError' });
    spoolFailure.next(recordFailure);

    let failureEntry: sfn.IChainable = spoolFailure;
    if (job.exclusiveBy) {
      // The step is over: free the key before spooling (a replay will take it again).
      const releaseAfterFailure = this.lockTask(STATE_NAMES.releaseLockAfterFailure, 'release');
      releaseAfterFailure.addCatch(spoolFailure, { errors: ['States.ALL'], resultPath: sfn.JsonPath.DISCARD });
      releaseAfterFailure.next(spoolFailure);
      failureEntry = releaseAfterFailure;
    }

    const caught = (name: string, stepInputPath: string | null): sfn.Pass => {
      const c = new sfn.Pass(this, caughtStateName(name), {
        stateName: caughtStateName(name),
        parameters: {
          failedState: name,
          // What the failed step was given, so a replay can resume there (null for the first step).
          // (A literal null would be dropped by the CDK: the intrinsic yields JSON null.)
          'stepInput.$': stepInputPath ?? JSON_NULL,
          // A caught error always has Error; Cause can be missing (some States.* errors), and a
          // JSONPath to a missing field fails the run with an uncatchable States.Runtime.
          'caught.$': `States.JsonMerge(States.StringToJson('{"Error":"States.Unknown","Cause":""}'), $.caught, false)`,
        },
      });
      c.next(failureEntry);
      return c;
    };

    // ---- success path
    const succeeded = new sfn.Succeed(this, STATE_NAMES.succeeded, { stateName: STATE_NAMES.succeeded });
    const recordSuccess = this.recordTask(STATE_NAMES.recordSuccess, { task: sfn.JsonPath.objectAt('$$.Execution.Input'), executionArn: sfn.JsonPath.stringAt('$$.Execution.Id') });
    recordSuccess.addCatch(succeeded, { errors: ['States.ALL'], resultPath: sfn.JsonPath.DISCARD });
    recordSuccess.next(succeeded);
    let successEntry: sfn.IChainable = recordSuccess;
    if (job.exclusiveBy) {
      const release = this.lockTask(STATE_NAMES.releaseLock, 'release');
      release.addCatch(recordSuccess, { errors: ['States.ALL'], resultPath: sfn.JsonPath.DISCARD });
      release.next(recordSuccess);
      successEntry = release;
    }

    // ---- steps
    const stepStates: sfn.State[] = job.steps.map((step, i) => {
      const state = this.topLevelState(step, i === 0);
      (state as sfn.TaskStateBase | sfn.Parallel | sfn.Map).addCatch(caught(step.name, i === 0 ? null : '$.output'), { errors: ['States.ALL'], resultPath: '$.caught' });
      return state;
    });
    stepStates.forEach((s, i) => (s as sfn.TaskStateBase).next(stepStates[i + 1] ?? successEntry));

    // ---- entry: [AcquireLock] -> [Route]
    let start: sfn.IChainable = stepStates[0];
    if (job.steps.length > 1) {
      const route = new sfn.Choice(this, STATE_NAMES.route, { stateName: STATE_NAMES.route, comment: 'A replay resumed at its failed step enters there (envelope.resume)' });
      job.steps.slice(1).forEach((step, k) => {
        const enter = new sfn.Pass(this, resumeStateName(step.name), { stateName: resumeStateName(step.name), parameters: { 'output.$': '$.resume.input' } });
        enter.next(stepStates[k + 1]);
        // IsPresent first: a StringEquals on a missing path fails the run (States.Runtime).
        route.when(sfn.Condition.and(sfn.Condition.isPresent('$.resume.step'), sfn.Condition.stringEquals('$.resume.step', step.name)), enter);
      });
      route.otherwise(stepStates[0]);
      start = route;
    }
    if (job.exclusiveBy) {
      const acquire = this.lockTask(STATE_NAMES.acquireLock, 'acquire');
      const attempts = lockRetryAttempts(job.exclusiveWaitSeconds);
      if (attempts > 0) {
        acquire.addRetry({
          errors: ['LockBusy'],
          interval: Duration.seconds(LOCK_RETRY.intervalSeconds),
          backoffRate: LOCK_RETRY.backoffRate,
          maxDelay: Duration.seconds(LOCK_RETRY.maxDelaySeconds),
          maxAttempts: attempts,
          jitterStrategy: sfn.JitterType.FULL,
        });
      }
      acquire.addCatch(caught(STATE_NAMES.acquireLock, null), { errors: ['States.ALL'], resultPath: '$.caught' });
      acquire.next(start);
      start = acquire;
    }

    const logGroup = new logs.LogGroup(this, 'StateMachineLogs', { retention: LOG_RETENTION, removalPolicy: RemovalPolicy.DESTROY });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(start),
      comment: `${job.name}: ${job.description || 'scheduled job'}`,
      // Past it the execution ends TIMED_OUT and the status-change capture spools it.
      timeout: Duration.seconds(job.executionTimeoutSeconds),
      tracingEnabled: true,
      // Params may hold personal data: errors only, and never execution data.
      logs: { destination: logGroup, level: sfn.LogLevel.ERROR, includeExecutionData: false },
      // Execution input and history under the params key (AWS Step Functions "Data at rest encryption").
      encryptionConfiguration: new sfn.CustomerManagedEncryptionConfiguration(props.paramsKey.key, Duration.minutes(5)),
    });
    props.spool.grantSend(this.stateMachine.role);
    // Execution data under the params key: the execution role encrypts and reads it (AWS Step
    // Functions "Data at rest encryption": the execution role needs Decrypt and GenerateDataKey).
    props.paramsKey.grantExecutionData(this.stateMachine.role);

    acknowledgeOn(this.stateMachine, { id: 'AwsSolutions-SF1', reason: 'Level ERROR on purpose: failures are logged, the execution history holds the rest, and execution data (params, possibly personal) is never logged.' });
    acknowledgeOnPolicyOf(
      this.stateMachine.role,
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'X-Ray tracing and CloudWatch Logs delivery of the state machine (log deliveries, resource policies) have no resource-level permissions (test/iam-star.test.ts holds every Resource "*" statement to such actions).' },
      ...[...this.fns.values(), props.recordFunction, ...(job.exclusiveBy && props.lockFunction ? [props.lockFunction] : [])].map((fn) => ({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).resolve((fn.node.defaultChild as lambda.CfnFunction).logicalId)}.Arn>:*]`,
        reason: 'lambda:InvokeFunction on this function and its versions, as LambdaInvoke grants it.',
      })),
    );
  }

  /** The Lambda of one step: the config's settings, its deadline, budget, hold and items contract. */
  private stepFunction(step: ResolvedLambdaStep, maxOutputBytes: number, items: { field: string; max: number } | null): AppFunction {
    const { job } = this.props;
    const env: Record<string, string> = {
      ...step.environment,
      [STEP_ENV.job]: job.name,
      [STEP_ENV.step]: step.name,
      [STEP_ENV.timeZone]: this.props.timeZone,
      [STEP_ENV.maxOutputBytes]: String(maxOutputBytes),
      // Every step call's completed result is recorded there (idempotent steps, lambdas/shared/step-idempotency.ts).
      [STEP_ENV.stepResultsTable]: this.props.stepResults.table.tableName,
    };
    if (items) {
      env[STEP_ENV.itemsField] = items.field;
      env[STEP_ENV.maxItems] = String(items.max);
    }
    if (step.dependsOn) {
      env[STEP_ENV.dependency] = step.dependsOn;
      env[STEP_ENV.holdWindows] = JSON.stringify(this.props.dependencies.find((d) => d.name === step.dependsOn)?.windows ?? []);
      env[STEP_ENV.coordinationTable] = this.props.coordination.table.tableName;
    }
    const fn = new AppFunction(this, `${step.name}Function`, {
      projectRoot: this.props.projectRoot,
      entry: step.entry,
      serviceName: job.name,
      description: `${job.name}: step ${step.name}`,
      ...functionSettingsProps(this, `${step.name}Function`, step),
      // The Lambda stops at the step's timeout; its handler gives up just before (StepTimeoutError);
      // the state's own timeout is later, so a timed-out step never runs on after it is spooled.
      timeout: Duration.seconds(step.timeoutSeconds),
      ...(step.maxConcurrency ? { reservedConcurrentExecutions: step.maxConcurrency } : {}),
      environment: env,
    });
    applyFunctionSettings(fn, step);
    if (step.dependsOn) this.props.coordination.grantReadHolds(fn);
    this.props.stepResults.grantJobRecords(fn.role!, job.name);
    if (step.maxConcurrency) this.throttledSteps.add(step.name);
    this.fns.set(step.name, fn);
    return fn;
  }

  /** A Lambda task of a step, with the throttle retrier, the step's Retry and state timeout. */
  private lambdaTask(step: ResolvedLambdaStep, style: StepPayloadStyle): tasks.LambdaInvoke {
    const payload =
      style.kind === 'top'
        ? { task: sfn.JsonPath.objectAt('$$.Execution.Input'), previous: style.first ? null : sfn.JsonPath.objectAt('$.output') }
        : {
            // Inside a map or a group: the envelope travels in the state data (aws-local-stepfunctions
            // gives iterations and branches their own $$.Execution.Input; AWS gives the execution's).
            task: sfn.JsonPath.objectAt('$.task'),
            previous: sfn.JsonPath.objectAt('$.output.value'),
            ...(style.index ? { index: sfn.JsonPath.numberAt('$.index') } : {}),
          };
    const task = new tasks.LambdaInvoke(this, step.name, {
      stateName: step.name,
      lambdaFunction: this.fns.get(step.name)!,
      payload: sfn.TaskInput.fromObject(payload),
      ...(style.kind === 'top'
        ? // State data is { output: <step's return> }: small, and the next step's `previous`.
          { resultSelector: { output: sfn.JsonPath.objectAt('$.Payload') } }
        : { resultSelector: { value: sfn.JsonPath.objectAt('$.Payload') }, resultPath: '$.output', ...(style.last ? { outputPath: '$.output.value' } : {}) }),
      taskTimeout: sfn.Timeout.duration(Duration.seconds(step.timeoutSeconds + STATE_TIMEOUT_MARGIN_SECONDS)),
    });
    addThrottleRetry(task);
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

  /**
   * A chain of Lambda steps inside a map item or a group branch. The last step's OutputPath keeps only
   * its output, which becomes the item's (or branch's) result: no extra Pass state, which would be a
   * billed state transition per item (Step Functions pricing counts every state entered).
   */
  private nestedChain(steps: ReadonlyArray<ResolvedLambdaStep>, index: boolean): sfn.IChainable {
    const states = steps.map((s, i) => this.lambdaTask(s, { kind: 'nested', index, last: i === steps.length - 1 }));
    states.forEach((s, i) => {
      if (states[i + 1]) s.next(states[i + 1]);
    });
    return states[0];
  }

  private topLevelState(step: ResolvedStep, first: boolean): sfn.State {
    if (step.kind === 'lambda') return this.lambdaTask(step, { kind: 'top', first });
    if (step.kind === 'parallel') {
      const group = new sfn.Parallel(this, step.name, {
        stateName: step.name,
        parameters: { task: sfn.JsonPath.objectAt('$$.Execution.Input'), output: { 'value.$': first ? JSON_NULL : '$.output' } },
        resultSelector: { output: sfn.JsonPath.objectAt('$') },
      });
      step.branches.forEach((b) => group.branch(this.nestedChain(b, false)));
      return group;
    }
    const map = new sfn.Map(this, step.name, {
      stateName: step.name,
      itemsPath: step.itemsField ? `$.output.${step.itemsField}` : '$.output',
      maxConcurrency: step.maxConcurrency,
      itemSelector: {
        task: sfn.JsonPath.objectAt('$$.Execution.Input'),
        index: sfn.JsonPath.numberAt('$$.Map.Item.Index'),
        output: { value: sfn.JsonPath.objectAt('$$.Map.Item.Value') },
      },
      resultSelector: { output: sfn.JsonPath.objectAt('$') },
    });
    map.itemProcessor(this.nestedChain(step.steps, true));
    return map;
  }

  private recordTask(name: string, payload: Record<string, unknown>): tasks.LambdaInvoke {
    const t = new tasks.LambdaInvoke(this, name, {
      stateName: name,
      lambdaFunction: this.props.recordFunction,
      payload: sfn.TaskInput.fromObject(payload),
      resultPath: sfn.JsonPath.DISCARD,
      taskTimeout: sfn.Timeout.duration(Duration.seconds(60)),
    });
    t.addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(2), maxAttempts: 3, backoffRate: 2 });
    return t;
  }

  private lockTask(name: string, action: 'acquire' | 'release'): tasks.LambdaInvoke {
    const { job } = this.props;
    const t = new tasks.LambdaInvoke(this, name, {
      stateName: name,
      lambdaFunction: this.props.lockFunction!,
      payload: sfn.TaskInput.fromObject({
        action,
        task: sfn.JsonPath.objectAt('$$.Execution.Input'),
        job: job.name,
        field: job.exclusiveBy,
        owner: sfn.JsonPath.stringAt('$$.Execution.Id'),
        ttlSeconds: job.executionTimeoutSeconds,
      }),
      resultPath: sfn.JsonPath.DISCARD,
      taskTimeout: sfn.Timeout.duration(Duration.seconds(30)),
    });
    addThrottleRetry(t);
    if (action === 'release') t.addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(1), maxAttempts: 3, backoffRate: 2 });
    return t;
  }
}
