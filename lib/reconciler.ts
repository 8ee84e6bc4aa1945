import { Arn, ArnFormat, CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { CAPTURE_ENV } from '../lambdas/execution-capture/logic';
import { RECONCILE_ENV } from '../lambdas/reconciler/env';
import { APP_METRIC_NAMESPACE } from '../lambdas/shared/metric-names';
import { Alerts } from './alerts';
import { AppFunction } from './app-function';
import { CoordinationTable } from './coordination-table';
import { ErrorSpool } from './error-spool';
import { CapturedJob, ExecutionCapture } from './execution-capture';
import { acknowledgeOnPolicyOf, nagResource } from './nag';
import { ParamLog } from './param-log';
import { ParamsKey } from './params-key';

/** Props of {@link Reconciler}. */
export interface ReconcilerProps {
  readonly projectRoot: string;
  /** The app's jobs and state machines (each job's `executionTimeoutSeconds` bounds how far back a listing pages). */
  readonly jobs: ReadonlyArray<CapturedJob>;
  /** The capture whose logic and settings the reconciler shares (its environment is copied). */
  readonly capture: ExecutionCapture;
  readonly spool: ErrorSpool;
  readonly paramLog: ParamLog;
  readonly coordination: CoordinationTable;
  readonly paramsKey: ParamsKey;
  readonly alerts: Alerts;
  /** How often it runs. @default 15 minutes */
  readonly interval?: Duration;
}

/**
 * The reconciler (lambdas/reconciler, docs/execution-capture.md "Reconciler"): every `interval` an
 * EventBridge rule runs a Lambda that lists the ended executions (FAILED, TIMED_OUT, ABORTED) of
 * each job's state machine since a watermark and captures those the status-change events did not
 * (events are best effort: Amazon EventBridge events reference, "Step Functions events"). Least
 * privilege: ListExecutions on the job state machines, DescribeExecution / GetExecutionHistory on
 * their executions (as the capture), send to the spool, write worker records, release locks,
 * capture marks and its watermarks. Alarms: its errors (FunctionAlarms, with every function's) and
 * not running for three intervals.
 */
export class Reconciler extends Construct {
  public readonly function: AppFunction;
  public readonly rule: events.Rule;
  public readonly notRunningAlarm: cloudwatch.Alarm;
  public readonly gaveUpAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ReconcilerProps) {
    super(scope, id);
    const interval = props.interval ?? Duration.minutes(15);
    const problems: string[] = [];
    if (props.jobs.length === 0) problems.push('jobs: pass the app\'s jobs and state machines (at least one)');
    if (interval.toMinutes() < 5 || interval.toMinutes() > 60) problems.push(`interval: 5 to 60 minutes, got ${interval.toHumanString()}`);
    if (problems.length) throw new Error(`Reconciler ${id}: ${problems.join('; ')}`);

    // Only the settings the capture has (a high-volume job's replay machines are set only when there is one).
    const captureEnv = Object.fromEntries(Object.values(CAPTURE_ENV).filter((name) => props.capture.environment[name] !== undefined).map((name) => [name, props.capture.environment[name]]));
    const stack = Stack.of(this);
    this.function = new AppFunction(this, 'Function', {
      projectRoot: props.projectRoot,
      entry: 'lambdas/reconciler/handler.ts',
      serviceName: 'reconciler',
      description: 'Captures ended executions whose status-change event never came (events are best effort); docs/execution-capture.md',
      timeout: Duration.minutes(5),
      memorySize: 512,
      // One run at a time: two would list and capture the same executions (harmless, marks dedupe, but wasteful).
      reservedConcurrentExecutions: 1,
      environment: {
        ...captureEnv,
        [RECONCILE_ENV.captureFailuresQueueUrl]: props.capture.failuresQueue.queueUrl,
        [RECONCILE_ENV.machines]: stack.toJsonString(props.jobs.map(({ job, stateMachine }) => ({ arn: stateMachine.stateMachineArn, maxRunSeconds: job.executionTimeoutSeconds }))),
      },
    });
    const role = this.function.role!;
    // A failed run is not retried: the next run starts from the same watermark.
    this.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(Math.max(1, interval.toMinutes() - 1)) });
    props.spool.grantSend(role);
    // Batch actions are authorized by the single ones (AWS SQS developer guide, "Amazon SQS batch actions").
    props.capture.failuresQueue.grant(role, 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility');
    props.paramLog.grantWriteWorker(this.function);
    props.coordination.grantLocks(this.function);
    props.coordination.grantCaptureMarks(this.function);
    props.coordination.grantReconcileWatermarks(this.function);
    // Execution data is encrypted with the params key (AWS Step Functions developer guide, "Data at rest encryption").
    props.paramsKey.grantDecrypt(role);
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['states:ListExecutions'], resources: props.jobs.map(({ stateMachine }) => stateMachine.stateMachineArn) }));
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

    this.rule = new events.Rule(this, 'Schedule', {
      description: `Reconciler: every ${interval.toHumanString()}, captures ended executions whose event was lost`,
      schedule: events.Schedule.rate(interval),
    });
    this.rule.addTarget(new targets.LambdaFunction(this.function, { retryAttempts: 2, maxEventAge: Duration.minutes(Math.max(1, interval.toMinutes() - 1)) }));

    // "Not running": no invocation for three intervals (a disabled rule, a deleted permission).
    const window = Duration.minutes(Math.max(interval.toMinutes() * 3, 60));
    this.notRunningAlarm = props.alerts.notify(
      new cloudwatch.Alarm(this, 'NotRunningAlarm', {
        alarmDescription: `The reconciler has not run for ${window.toHumanString()}: an execution whose status-change event is lost stays unspooled. Check its rule and the function (docs/runbook.md, "Reconciler not running").`,
        metric: this.function.metricInvocations({ period: window, statistic: cloudwatch.Stats.SUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
    );
    this.gaveUpAlarm = props.alerts.atLeastOne(
      this,
      'GaveUpAlarm',
      new cloudwatch.Metric({ namespace: APP_METRIC_NAMESPACE, metricName: 'ReconcileGaveUp', dimensionsMap: { service: 'reconciler' }, period: Duration.minutes(15), statistic: cloudwatch.Stats.SUM }),
      'The reconciler could not capture an ended execution for 6 hours: capture it by hand (docs/runbook.md, "Reconciler gave up").',
    );
    new CfnOutput(this, 'FunctionName', { value: this.function.functionName, description: 'The reconciler: invoke it with {} to reconcile now (docs/execution-capture.md)' });
  }
}
