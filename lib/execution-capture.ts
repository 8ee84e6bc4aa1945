import { Arn, ArnFormat, CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Alerts } from './alerts';
import { AppFunction } from './app-function';
import { lambdaStepsOf, ResolvedJob } from './config/types';
import { CoordinationTable } from './coordination-table';
import { secureQueueProps } from './defaults';
import { ErrorSpool } from './error-spool';
import { ParamLog } from './param-log';
import { acknowledgeOn, acknowledgeOnPolicyOf, nagResource } from './nag';
import { ParamsKey } from './params-key';
import { CAPTURE_ENV, CAPTURED_STATUSES, STATES_EVENT_SOURCE, STATUS_CHANGE_DETAIL_TYPE } from '../lambdas/execution-capture/logic';
import { STATE_TIMEOUT_MARGIN_SECONDS } from '../lambdas/shared/workflow-contract';

/** The longest Lambda timeout of a job's steps (groups and maps included). */
export function maxStepTimeoutSeconds(job: Pick<ResolvedJob, 'steps'>): number {
  return Math.max(0, ...lambdaStepsOf(job).map((s) => s.timeoutSeconds));
}

/** One job and its state machine. */
export interface CapturedJob {
  readonly job: ResolvedJob;
  readonly stateMachine: sfn.IStateMachine;
  /**
   * Set for a high-volume parent (lib/high-volume-workflow.ts): the job's standard state machine,
   * which its items' spool messages name (reprocess replays there; lambdas/execution-capture/parent.ts).
   */
  readonly replayStateMachine?: sfn.IStateMachine;
}

/** Props of {@link ExecutionCapture}. */
export interface ExecutionCaptureProps {
  readonly projectRoot: string;
  /** The app's jobs and their state machines: the only executions captured. At least one. */
  readonly jobs: ReadonlyArray<CapturedJob>;
  /** Where ended executions are spooled; its `failedInvocations` keeps events the function could not handle. */
  readonly spool: ErrorSpool;
  /** The worker stream the records go to. */
  readonly paramLog: ParamLog;
  /** Exclusive locks to release. */
  readonly coordination: CoordinationTable;
  /** The key of the executions' data: DescribeExecution / GetExecutionHistory decrypt with it. */
  readonly paramsKey: ParamsKey;
  readonly alerts: Alerts;
  /** IANA time zone of record times (the app's). */
  readonly timeZone: string;
  /**
   * Reserved concurrency: a burst of ends (an operator stopping hundreds of executions) queues in
   * Lambda's async queue instead of draining DescribeExecution's token bucket (refill 10/s in most
   * regions, AWS Step Functions quotas) all at once. `null` leaves it unreserved.
   * @default 2
   */
  readonly reservedConcurrency?: number | null;
  /**
   * How long Lambda keeps an event it could not run yet (throttled) or that failed, before it goes
   * to the failed-invocations queue. 60 s to 6 h (AWS Lambda, "Configuring error handling for
   * asynchronous invocation").
   * @default 6 hours
   */
  readonly maxEventAge?: Duration;
}

/**
 * Lambda's limit on a function's environment variables is 4 KB in all (AWS Lambda quotas); the
 * job shapes must leave room for the rest.
 */
export const MAX_JOB_ENV_BYTES = 3_000;

/**
 * The status-change capture: an EventBridge rule on the default bus for "Step Functions Execution
 * Status Change" events with status FAILED, TIMED_OUT or ABORTED of the app's state machines, and
 * the Lambda (lambdas/execution-capture) that spools each end the workflow's Catch path did not
 * (see docs/execution-capture.md). EventBridge invokes it asynchronously: Lambda retries a failed
 * invocation twice, then sends the event to the capture's failures queue (AWS Lambda, "Configuring
 * destinations for asynchronous invocation"), which the reconciler drains (lib/reconciler.ts). Alarm: events EventBridge could not
 * deliver at all (the function's own errors are watched by FunctionAlarms with every function's).
 */
export class ExecutionCapture extends Construct {
  public readonly function: AppFunction;
  public readonly rule: events.Rule;
  public readonly undeliveredAlarm: cloudwatch.Alarm;
  /**
   * The capture's last resort: on-failure records of captures that failed after Lambda's retries.
   * SQS-managed encryption, not the params key: a record holds the status-change event (the
   * execution ARN; no input or output with a customer managed key), so a params-key problem cannot
   * drop it. The reconciler drains it (lambdas/reconciler/capture-failures.ts).
   */
  public readonly failuresQueue: sqs.Queue;
  /** Failures that stayed in {@link failuresQueue} for an hour (the reconciler could not capture them). */
  public readonly failuresWaitingAlarm: cloudwatch.Alarm;
  /** The function's capture settings (CAPTURE_ENV), shared with the reconciler so both capture alike. */
  public readonly environment: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: ExecutionCaptureProps) {
    super(scope, id);
    const problems: string[] = [];
    if (props.jobs.length === 0) problems.push('jobs: pass the app\'s jobs and state machines (at least one)');
    const jobSteps = JSON.stringify(Object.fromEntries(props.jobs.map(({ job }) => [job.name, job.steps.map((s) => s.name)])));
    const jobExclusive = JSON.stringify(Object.fromEntries(props.jobs.filter(({ job }) => job.exclusiveBy).map(({ job }) => [job.name, job.exclusiveBy])));
    // How long a step Lambda may run on after its execution ended: the longest step timeout, plus
    // the cold start the state's own timeout allows for (lambdas/shared/workflow-contract.ts).
    const jobLockLease = JSON.stringify(
      Object.fromEntries(props.jobs.filter(({ job }) => job.exclusiveBy).map(({ job }) => [job.name, maxStepTimeoutSeconds(job) + STATE_TIMEOUT_MARGIN_SECONDS])),
    );
    const envBytes = Buffer.byteLength(jobSteps + jobExclusive + jobLockLease, 'utf8');
    if (envBytes > MAX_JOB_ENV_BYTES) {
      problems.push(`the jobs' step names take ${envBytes} bytes of the capture function's environment (at most ${MAX_JOB_ENV_BYTES}; Lambda allows 4 KB in all): shorten job and step names, or split the jobs over two stages`);
    }
    const reserved = props.reservedConcurrency === undefined ? 2 : props.reservedConcurrency;
    if (reserved !== null && (!Number.isInteger(reserved) || reserved < 1)) problems.push(`reservedConcurrency: must be an integer >= 1 or null, got ${reserved}`);
    if (problems.length) throw new Error(`ExecutionCapture ${id}: ${problems.join('; ')}`);

    this.environment = {
      [CAPTURE_ENV.spoolQueueUrl]: props.spool.queue.queueUrl,
      [CAPTURE_ENV.workerStream]: props.paramLog.workerStream.deliveryStreamName,
      [CAPTURE_ENV.coordinationTable]: props.coordination.table.tableName,
      [CAPTURE_ENV.timeZone]: props.timeZone,
      [CAPTURE_ENV.jobSteps]: jobSteps,
      [CAPTURE_ENV.jobExclusive]: jobExclusive,
      [CAPTURE_ENV.jobLockLease]: jobLockLease,
      ...(props.jobs.some((j) => j.replayStateMachine)
        ? { [CAPTURE_ENV.replayStateMachines]: Stack.of(this).toJsonString(Object.fromEntries(props.jobs.filter((j) => j.replayStateMachine).map((j) => [j.job.name, j.replayStateMachine!.stateMachineArn]))) }
        : {}),
    };
    this.function = new AppFunction(this, 'Function', {
      projectRoot: props.projectRoot,
      entry: 'lambdas/execution-capture/handler.ts',
      serviceName: 'execution-capture',
      description: 'Spools executions that ended outside the workflow\'s Catch (aborted, timed out, uncatchable error, spool unreachable)',
      // A long history is read a page at a time (100 events, each up to a 256 KiB state input).
      timeout: Duration.minutes(2),
      memorySize: 512,
      ...(reserved === null ? {} : { reservedConcurrentExecutions: reserved }),
      environment: { ...this.environment },
    });
    const role = this.function.role!;

    // Not SqsDestination: its bind calls queue.grantSendMessages, which grants more than SendMessage
    // (the destination sends with the function's role). Not the failed-invocations queue either: it
    // is encrypted with the params key, the very key whose failure may be why the capture failed.
    this.failuresQueue = new sqs.Queue(this, 'Failures', secureQueueProps());
    acknowledgeOn(this.failuresQueue, { id: 'AwsSolutions-SQS3', reason: 'This queue is itself the last resort (the capture function\'s on-failure destination); the reconciler drains it every run.' });
    const failuresQueue = this.failuresQueue;
    this.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: props.maxEventAge ?? Duration.hours(6),
      onFailure: { bind: () => ({ destination: failuresQueue.queueArn }) },
    });
    failuresQueue.grant(role, 'sqs:SendMessage');
    props.spool.grantSend(role);
    props.paramLog.grantWriteWorker(this.function);
    props.coordination.grantLocks(this.function);
    props.coordination.grantCaptureMarks(this.function);
    // Execution data is encrypted with the params key: DescribeExecution and GetExecutionHistory
    // callers need kms:Decrypt (AWS Step Functions developer guide, "Data at rest encryption").
    props.paramsKey.grantDecrypt(role);

    const stack = Stack.of(this);
    const executionArns = props.jobs.map(({ stateMachine }) =>
      stack.formatArn({
        service: 'states',
        resource: 'execution',
        resourceName: `${Arn.split(stateMachine.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME).resourceName}:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    );
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['states:DescribeExecution', 'states:GetExecutionHistory'], resources: executionArns }));
    acknowledgeOnPolicyOf(
      role,
      ...executionArns.map((arn) => ({
        id: `AwsSolutions-IAM5[Resource::${nagResource(this, arn)}]`,
        reason: 'Describe and read the history of executions of the app\'s own state machines: execution names are per task, so only a per-state-machine wildcard can name them.',
      })),
    );

    // Step Functions sends status-change events of Standard workflows to the default bus (AWS Step
    // Functions developer guide, "Step Functions events in EventBridge"): best effort, maybe out of order.
    this.rule = new events.Rule(this, 'Rule', {
      description: 'Ends of the app\'s executions outside SUCCEEDED: the capture spools those the workflow did not',
      eventPattern: {
        source: [STATES_EVENT_SOURCE],
        detailType: [STATUS_CHANGE_DETAIL_TYPE],
        detail: { status: [...CAPTURED_STATUSES], stateMachineArn: props.jobs.map(({ stateMachine }) => stateMachine.stateMachineArn) },
      },
    });
    // EventBridge retries the Invoke call itself (0-185 attempts, up to 24 h: EventBridge API
    // reference, "RetryPolicy"); function errors are Lambda's async retries above.
    this.rule.addTarget(new targets.LambdaFunction(this.function, { retryAttempts: 185, maxEventAge: Duration.hours(24) }));

    // Its errors and throttles are watched with every other function's (lib/observability.ts).
    // Sent only when not zero (Amazon EventBridge user guide, "Monitoring Amazon EventBridge").
    this.undeliveredAlarm = props.alerts.atLeastOne(
      this,
      'UndeliveredAlarm',
      new cloudwatch.Metric({ namespace: 'AWS/Events', metricName: 'FailedInvocations', dimensionsMap: { RuleName: this.rule.ruleName }, period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      'EventBridge gave up invoking the status-change capture: some ended executions were not captured. Find them and capture each by hand: see "Lost events" in docs/execution-capture.md.',
    );

    // The reconciler drains the queue every 15 minutes: a record visible through four periods in a
    // row is one it could not capture. (Not ApproximateAgeOfOldestMessage: it skips messages received
    // three times or more, which every reconciler run does: AWS SQS developer guide, CloudWatch metrics.)
    this.failuresWaitingAlarm = props.alerts.notify(
      new cloudwatch.Alarm(this, 'FailuresWaitingAlarm', {
        alarmDescription: 'A status-change capture failed and the reconciler could not capture it again for an hour: that execution is not spooled. Read the reconciler\'s log ("reconciled", captureFailures) and capture it by hand (docs/runbook.md, "Capture an execution by hand").',
        metric: this.failuresQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(15), statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 4,
        datapointsToAlarm: 4,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    new CfnOutput(this, 'FunctionName', {
      value: this.function.functionName,
      description: 'Capture one ended execution by hand: aws lambda invoke --function-name <this> --cli-binary-format raw-in-base64-out --payload \'{"executionArn":"..."}\' out.json',
    });
  }
}
