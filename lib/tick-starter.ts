import { CfnOutput, Duration, Fn, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { StartPlan, startPlan, StartQuota } from '../lambdas/shared/start-plan';
import { Alerts } from './alerts';
import { AppFunction } from './app-function';
import { CoordinationTable } from './coordination-table';
import { secureQueueProps } from './defaults';
import { ErrorSpool } from './error-spool';
import { ParamLog } from './param-log';
import { ParamsKey } from './params-key';

/** Props of {@link TickStarter}. */
export interface TickStarterProps {
  readonly projectRoot: string;
  /** The app's state machines: the only ones the starter may start. At least one. */
  readonly stateMachines: ReadonlyArray<sfn.IStateMachine>;
  /** Real start failures go to its spool, tasks Step Functions refuses to its quarantine. */
  readonly spool: ErrorSpool;
  /** The tick queue holds task params: encrypted with this key. */
  readonly paramsKey: ParamsKey;
  /** Client records (Started, Duplicate, StartFailed, Rejected). */
  readonly paramLog: ParamLog;
  /** The tick ledger (batch progress). */
  readonly coordination: CoordinationTable;
  /** The app's time zone (record times). */
  readonly timeZone: string;
  /** The account's StartExecution token bucket in the region (config `startExecutionQuota`). */
  readonly quota: StartQuota;
  readonly alerts: Alerts;
  /** Receives of one batch message before it is moved to the dead-letter queue. @default 5 */
  readonly maxReceiveCount?: number;
  /** Alarm when the oldest batch message has waited this long. @default 1 hour */
  readonly backlogAlarmAge?: Duration;
}

/**
 * The second half of every job's ticks: the tick queue (batches of task envelopes written by the
 * producers, encrypted with the params key, TLS-only), its dead-letter queue (redrive policy), and
 * the starter Lambda that the queue's event source invokes with one batch at a time, at most
 * `plan.starterConcurrency` at once, each pacing its StartExecution calls to the shared token
 * bucket (see docs/big-ticks.md). One per app: the quota is per account and region, so one fleet
 * of starters for every job keeps the app's own starts from competing with each other.
 *
 * Access goes through {@link grantSendTicks}; senders and consumers are recorded (like the error
 * spool's) so queue and key policies can deny every other principal.
 */
export class TickStarter extends Construct {
  /** Batch messages (lambdas/shared/tick-batch.ts). */
  public readonly tickQueue: sqs.Queue;
  /** Batch messages that failed `maxReceiveCount` times: tasks NOT started. Redrive them after the fix. */
  public readonly deadLetterQueue: sqs.Queue;
  public readonly function: AppFunction;
  public readonly eventSource: lambda.EventSourceMapping;
  /** The sizing derived from the quota. */
  public readonly plan: StartPlan;
  /** Roles that send to the tick queue (producers; the starter itself for hand-overs). */
  public readonly senders: iam.IRole[] = [];
  /** Roles that receive from the tick queue (the starter). */
  public readonly consumers: iam.IRole[] = [];
  public readonly deadLetterAlarm: cloudwatch.Alarm;
  public readonly backlogAlarm: cloudwatch.Alarm;
  public readonly errorsAlarm: cloudwatch.Alarm;
  private readonly paramsKey: ParamsKey;

  constructor(scope: Construct, id: string, props: TickStarterProps) {
    super(scope, id);
    const problems: string[] = [];
    if (props.stateMachines.length === 0) problems.push('stateMachines: pass the app\'s state machines (at least one)');
    if (!Number.isInteger(props.quota.burst) || props.quota.burst < 1) problems.push(`quota.burst must be a positive integer, got ${props.quota.burst}`);
    if (!Number.isInteger(props.quota.refillPerSecond) || props.quota.refillPerSecond < 1) problems.push(`quota.refillPerSecond must be a positive integer, got ${props.quota.refillPerSecond}`);
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) problems.push(`maxReceiveCount must be an integer 1-1000, got ${maxReceiveCount}`);
    if (problems.length) throw new Error(`TickStarter ${id}: ${problems.join('; ')}`);

    this.paramsKey = props.paramsKey;
    this.plan = startPlan(props.quota);
    const timeout = Duration.seconds(this.plan.starterTimeoutSeconds);
    const encrypted = { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: props.paramsKey.key };

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', secureQueueProps({ retentionPeriod: Duration.days(14), ...encrypted }));
    Validations.of(this.deadLetterQueue).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue of the tick queue.' });
    this.tickQueue = new sqs.Queue(
      this,
      'TickQueue',
      secureQueueProps({
        retentionPeriod: Duration.days(14),
        // At least six times the function timeout (AWS Lambda developer guide, "Configuring an
        // Amazon SQS queue to trigger a Lambda function"), so a throttled retry of the batch never
        // finds it visible while an invocation still works on it.
        visibilityTimeout: Duration.seconds(6 * this.plan.starterTimeoutSeconds),
        deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
        ...encrypted,
      }),
    );

    this.function = new AppFunction(this, 'Function', {
      projectRoot: props.projectRoot,
      entry: 'lambdas/starter/handler.ts',
      serviceName: 'tick-starter',
      description: 'Starts the tasks of tick batches at the pace the StartExecution quota allows (see docs/big-ticks.md)',
      timeout,
      // More memory is more CPU: one starter signs and parses ~100-300 requests/s.
      memorySize: 512,
      environment: {
        TICK_QUEUE_URL: this.tickQueue.queueUrl,
        SPOOL_QUEUE_URL: props.spool.queue.queueUrl,
        QUARANTINE_QUEUE_URL: props.spool.quarantine.queueUrl,
        CLIENT_LOG_STREAM: props.paramLog.clientStream.deliveryStreamName,
        APP_TIME_ZONE: props.timeZone,
        COORDINATION_TABLE: props.coordination.table.tableName,
        ALLOWED_STATE_MACHINE_ARNS: Fn.join(',', props.stateMachines.map((s) => s.stateMachineArn)),
        IN_FLIGHT: String(this.plan.inFlightPerStarter),
        PACE_HINT: String(this.plan.paceHintPerStarter),
      },
    });
    const role = this.function.role!;
    // The event source reads with the function's role (AWS Lambda developer guide, "Using Lambda
    // with Amazon SQS": ReceiveMessage, DeleteMessage, GetQueueAttributes; kms:Decrypt on the key).
    this.tickQueue.grant(role, 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility');
    this.consumers.push(role);
    props.paramsKey.grantDecrypt(role);
    this.grantSendTicks(role); // hand-over of a batch's rest at the deadline
    props.spool.grantSend(role, 'spool');
    props.spool.grantSend(role, 'quarantine');
    props.paramLog.grantWriteClient(this.function);
    props.coordination.grantTickLedger(this.function);
    for (const sm of props.stateMachines) sm.grantStartExecution(this.function);

    this.eventSource = new lambda.EventSourceMapping(this, 'EventSource', {
      target: this.function,
      eventSourceArn: this.tickQueue.queueArn,
      // One batch message per invocation: its deadline and lease are its own.
      batchSize: 1,
      // Caps the starters of the account's bucket (2 is the API's minimum).
      maxConcurrency: this.plan.starterConcurrency,
      reportBatchItemFailures: true,
    });

    new CfnOutput(this, 'TickDeadLetterQueueArn', { value: this.deadLetterQueue.queueArn, description: 'Tick batches that failed 5 times (tasks not started): redrive to the tick queue after the fix, see docs/big-ticks.md' });
    new CfnOutput(this, 'TickQueueArn', { value: this.tickQueue.queueArn, description: 'The tick queue (destination of a dead-letter redrive)' });
    new CfnOutput(this, 'StarterFunctionName', { value: this.function.functionName, description: 'The tick starter (its logs: "batch done", "batch failed")' });

    const alarm = (alarmId: string, metric: cloudwatch.IMetric, threshold: number, description: string): cloudwatch.Alarm =>
      props.alerts.notify(
        new cloudwatch.Alarm(this, alarmId, {
          alarmDescription: description,
          metric,
          threshold,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    this.deadLetterAlarm = alarm(
      'DeadLetterAlarm',
      this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
      1,
      `Tick batches failed ${maxReceiveCount} times and went to the tick dead-letter queue: their tasks have NOT started. Read the starter's "batch failed" log lines for the error, fix it, then redrive the dead-letter queue to the tick queue (docs/big-ticks.md, "Runbook"); the ledger starts only what is missing.`,
    );
    const backlogAge = props.backlogAlarmAge ?? Duration.hours(1);
    this.backlogAlarm = alarm(
      'BacklogAlarm',
      this.tickQueue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
      backlogAge.toSeconds(),
      `A tick batch has waited ${backlogAge.toHumanString()} to be started: the starters are throttled (other workloads share the account's StartExecution quota) or failing. Check the starter's StartThrottleEvents and errors (docs/big-ticks.md, "Runbook").`,
    );
    this.errorsAlarm = alarm(
      'ErrorsAlarm',
      this.function.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      1,
      'The tick starter failed outside a batch (crash or timeout): its batch returns to the queue and resumes at its checkpoint. If it repeats, batches end in the tick dead-letter queue (docs/big-ticks.md, "Runbook").',
    );
  }

  /** Lets `role` write batch messages: SendMessage and the key's GenerateDataKey + Decrypt (AWS SQS developer guide, "Key management": producers). */
  grantSendTicks(role: iam.IRole): void {
    this.senders.push(role);
    this.tickQueue.grant(role, 'sqs:SendMessage');
    this.paramsKey.grantSend(role);
  }
}
