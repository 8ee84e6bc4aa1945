import { CfnOutput, Duration, Fn, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { StartPlan, startPlan, StartQuota } from '../lambdas/shared/start-plan';
import { HIGH_VOLUME_STARTERS } from '../lambdas/batch-starter/logic';
import { PARENT_ROUTES_ENV } from '../lambdas/batch-starter/env';
import { Alerts } from './alerts';
import { AppFunction } from './app-function';
import { CoordinationTable } from './coordination-table';
import { secureQueueProps } from './defaults';
import { ErrorSpool } from './error-spool';
import { ParamLog } from './param-log';
import { ParamsKey } from './params-key';
import { lockParamsQueue } from './queue-lock';

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
  /** Alarm when the tick queue has held batches without a break for this long. @default 1 hour */
  readonly backlogAlarmAfter?: Duration;
  /**
   * The high-volume starters (lambdas/batch-starter) instead of the standard ones: each route maps
   * a high-volume job's standard state machine (what its tick messages name, and where reprocess
   * replays) to its HighVolumeWorkflow parent. The starter may start the parents only; `stateMachines`
   * must then be the routes' standard ones. docs/big-ticks.md, "High-volume mode (deployed)".
   */
  readonly highVolume?: ReadonlyArray<{ readonly standard: sfn.IStateMachine; readonly parent: sfn.IStateMachine }>;
}

/**
 * The second half of every job's ticks: the tick queue (batches of task envelopes written by the
 * producers, encrypted with the params key, TLS-only), its dead-letter queue (redrive policy), and
 * the starter Lambda that the queue's event source invokes with one batch at a time, at most
 * `plan.starterConcurrency` at once, each pacing its StartExecution calls to the shared token
 * bucket (see docs/big-ticks.md). One per app: the quota is per account and region, so one fleet
 * of starters for every job keeps the app's own starts from competing with each other.
 *
 * Both queues hold task params: encrypted with the params key, TLS-only, and locked like the
 * spool's queues (lib/queue-lock.ts) to the roles recorded by {@link grantSendTicks} and
 * {@link grantSweepDeadLetters} and the starter itself; reader roles may look. The starter also
 * moves the dead-letter queue back on an operator's request (docs/big-ticks.md, "Runbook").
 * Errors and throttles of the starter are watched by the app's FunctionAlarms.
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
  /** Starters at once (the event source's maximum concurrency): the producers spread a tick's batches over them. */
  public readonly starterConcurrency: number;
  /** Roles that send to the tick queue (producers; the starter itself for hand-overs and redrives). */
  public readonly senders: iam.IRole[] = [];
  /** Roles that receive from the tick queue (the starter). */
  public readonly consumers: iam.IRole[] = [];
  /** Roles that receive from the dead-letter queue: the starter (redrive), the sweeper. */
  public readonly deadLetterConsumers: iam.IRole[] = [];
  /** Roles that send to the dead-letter queue: the sweeper (its re-sends). SQS's own redrive needs no grant. */
  public readonly deadLetterSenders: iam.IRole[] = [];
  public readonly deadLetterAlarm: cloudwatch.Alarm;
  public readonly backlogAlarm: cloudwatch.Alarm;
  private readonly paramsKey: ParamsKey;

  constructor(scope: Construct, id: string, props: TickStarterProps) {
    super(scope, id);
    const problems: string[] = [];
    if (props.stateMachines.length === 0) problems.push('stateMachines: pass the app\'s state machines (at least one)');
    if (!Number.isInteger(props.quota.burst) || props.quota.burst < 1) problems.push(`quota.burst must be a positive integer, got ${props.quota.burst}`);
    if (!Number.isInteger(props.quota.refillPerSecond) || props.quota.refillPerSecond < 1) problems.push(`quota.refillPerSecond must be a positive integer, got ${props.quota.refillPerSecond}`);
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) problems.push(`maxReceiveCount must be an integer 1-1000, got ${maxReceiveCount}`);
    if (props.highVolume && props.highVolume.length === 0) problems.push('highVolume: pass at least one route, or leave it out for the standard starters');
    if (problems.length) throw new Error(`TickStarter ${id}: ${problems.join('; ')}`);
    const hv = props.highVolume;

    this.paramsKey = props.paramsKey;
    this.plan = startPlan(props.quota);
    this.starterConcurrency = hv ? HIGH_VOLUME_STARTERS : this.plan.starterConcurrency;
    const timeout = Duration.seconds(this.plan.starterTimeoutSeconds);
    const encrypted = { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: props.paramsKey.key };

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', secureQueueProps({ retentionPeriod: Duration.days(14), ...encrypted }));
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
      entry: hv ? 'lambdas/batch-starter/handler.ts' : 'lambdas/starter/handler.ts',
      serviceName: hv ? 'batch-starter' : 'tick-starter',
      description: hv
        ? 'Starts the tick batches of high-volume jobs as parent executions (a Distributed Map of Express children; see docs/big-ticks.md)'
        : 'Starts the tasks of tick batches at the pace the StartExecution quota allows (see docs/big-ticks.md)',
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
        DEAD_LETTER_QUEUE_URL: this.deadLetterQueue.queueUrl,
        IN_FLIGHT: String(this.plan.inFlightPerStarter),
        PACE_HINT: String(this.plan.paceHintPerStarter),
        ...(hv ? { [PARENT_ROUTES_ENV]: Stack.of(this).toJsonString(Object.fromEntries(hv.map((r) => [r.standard.stateMachineArn, r.parent.stateMachineArn]))) } : {}),
      },
    });
    const role = this.function.role!;
    // The event source reads with the function's role (AWS Lambda developer guide, "Using Lambda
    // with Amazon SQS": ReceiveMessage, DeleteMessage, GetQueueAttributes; kms:Decrypt on the key).
    this.tickQueue.grant(role, 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility');
    this.consumers.push(role);
    props.paramsKey.grantDecrypt(role);
    this.grantSendTicks(role); // hand-over of a batch's rest at the deadline, redrives
    // The operator's redrive: receive and delete from the dead-letter queue.
    this.deadLetterConsumers.push(role);
    this.deadLetterQueue.grant(role, 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes');
    props.spool.grantSend(role, 'spool');
    props.spool.grantSend(role, 'quarantine');
    props.paramLog.grantWriteClient(this.function);
    props.coordination.grantTickLedger(this.function);
    // The high-volume starter starts parents only; a StartFailed it spools names the standard
    // state machine, which reprocess (not this starter) starts.
    for (const sm of hv ? hv.map((r) => r.parent) : props.stateMachines) sm.grantStartExecution(this.function);

    this.eventSource = new lambda.EventSourceMapping(this, 'EventSource', {
      target: this.function,
      eventSourceArn: this.tickQueue.queueArn,
      // One batch message per invocation: its deadline and lease are its own.
      batchSize: 1,
      // Caps the starters of the account's bucket (2 is the API's minimum). High-volume starters
      // spend one StartExecution per ~800 tasks: the client records size them instead.
      maxConcurrency: this.starterConcurrency,
      reportBatchItemFailures: true,
    });

    const access = { readerRoleArnPatterns: props.paramsKey.readerRoleArnPatterns };
    lockParamsQueue(this.tickQueue, { senders: () => this.senders, consumers: () => this.consumers, ...access });
    lockParamsQueue(this.deadLetterQueue, { senders: () => this.deadLetterSenders, consumers: () => this.deadLetterConsumers, ...access });

    new CfnOutput(this, 'TickDeadLetterQueueUrl', { value: this.deadLetterQueue.queueUrl, description: 'Tick batches that failed 5 times (tasks not started): after the fix, invoke the starter with {"redriveDeadLetters": true} (docs/big-ticks.md)' });
    new CfnOutput(this, 'StarterFunctionName', { value: this.function.functionName, description: 'The tick starter (its logs: "batch done", "batch failed"; {"redriveDeadLetters": true} moves the dead letters back)' });

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
      `Tick batches failed ${maxReceiveCount} times and went to the tick dead-letter queue: their tasks have NOT started. Read the starter's "batch failed" log lines for the error, fix it, then invoke the starter with {"redriveDeadLetters": true} (docs/big-ticks.md, "Runbook"); the ledger starts only what is missing.`,
    );
    // Not ApproximateAgeOfOldestMessage: it skips messages received three times or more (AWS SQS
    // developer guide, "Available CloudWatch metrics for Amazon SQS"). A queue that never empties
    // for an hour is behind: a 100,000-task tick takes ~11 minutes at the default quota.
    const backlogAfter = props.backlogAlarmAfter ?? Duration.hours(1);
    this.backlogAlarm = props.alerts.notify(
      new cloudwatch.Alarm(this, 'BacklogAlarm', {
        alarmDescription: `The tick queue has held batches without a break for ${backlogAfter.toHumanString()}: the starters are throttled (other workloads share the account's StartExecution quota) or failing. Check the starter's StartThrottleEvents and errors (docs/big-ticks.md, "Runbook").`,
        metric: this.tickQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MINIMUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: Math.max(1, Math.round(backlogAfter.toMinutes() / 5)),
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }

  /** Lets `role` write batch messages: SendMessage and the key's GenerateDataKey + Decrypt (AWS SQS developer guide, "Key management": producers). */
  grantSendTicks(role: iam.IRole): void {
    this.senders.push(role);
    this.tickQueue.grant(role, 'sqs:SendMessage');
    this.paramsKey.grantSend(role);
  }

  /**
   * Lets `role` receive from, delete from and re-send to the dead-letter queue (the sweeper keeps
   * its messages from expiring; the starter moves them back), with the params key: recorded, so the
   * queue's and the key's locks let it through.
   */
  grantSweepDeadLetters(role: iam.IRole): void {
    this.deadLetterConsumers.push(role);
    this.deadLetterSenders.push(role);
    this.deadLetterQueue.grant(role, 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes', 'sqs:SendMessage');
    this.paramsKey.grantSend(role);
  }
}
