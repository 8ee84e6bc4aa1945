import { Duration, TimeZone } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Alerts } from './alerts';
import { AppFunction } from './app-function';
import { ResolvedJob } from './config/types';
import { CoordinationTable } from './coordination-table';
import { secureQueueProps } from './defaults';
import { ErrorSpool } from './error-spool';
import { applyFunctionSettings, functionSettingsProps } from './function-settings';
import { acknowledgeOn, acknowledgeOnPolicyOf, nagResource } from './nag';
import { ParamLog } from './param-log';
import { schedulerRole } from './service-roles';
import { TickStarter } from './tick-starter';

/** Props of {@link ScheduledProducer}. */
export interface ScheduledProducerProps {
  readonly job: ResolvedJob;
  readonly projectRoot: string;
  /** The app's IANA time zone (parameter-log partitions); the schedule uses the job's `timeZone`, which defaults to it. */
  readonly timeZone: string;
  /** The job's state machine (named in the batch messages; the starter starts it). */
  readonly stateMachine: sfn.IStateMachine;
  /** The error spool: rejected specs go to its quarantine, failed invocations to its failedInvocations queue. */
  readonly spool: ErrorSpool;
  readonly paramLog: ParamLog;
  /** Where the tick's batches go. */
  readonly tickStarter: TickStarter;
  /** The tick ledger. */
  readonly coordination: CoordinationTable;
  readonly alerts: Alerts;
  /**
   * Scheduler retries of an Invoke call that fails (e.g. throttled, function missing). They cover
   * delivery only: Scheduler invokes asynchronously, so a function error is retried by Lambda.
   * @default 10
   */
  readonly retryAttempts?: number;
  /** How long Scheduler keeps trying to deliver one tick before it goes to the DLQ. @default 1 hour */
  readonly maxEventAge?: Duration;
  /**
   * How long Lambda keeps a tick event it could not run yet (throttling) before it goes to the
   * on-failure destination (AWS Lambda developer guide, "Error handling for asynchronous invocation": 60 s - 6 h).
   * @default 6 hours
   */
  readonly asyncMaxEventAge?: Duration;
}

/**
 * One job's producer: a Lambda (the job's `produce` wrapped by lambdas/producer/runtime.ts) and an
 * EventBridge Scheduler schedule in the app's time zone that invokes it with the tick time. The
 * producer plans the tick into the tick queue; the {@link TickStarter} starts it.
 *
 * Nothing of a tick is dropped:
 * - Scheduler invokes asynchronously (AWS Lambda developer guide, "Invoking a Lambda function with
 *   EventBridge Scheduler"), so its retry policy and DLQ see only delivery failures (the DLQ here);
 * - a function error is retried twice by Lambda ("Error handling for asynchronous invocation") and
 *   then kept by the on-failure destination, the spool's failedInvocations queue, with the request
 *   payload (the tick) for a re-run. The function's Errors alarm (FunctionAlarms, lib/observability.ts,
 *   for every function of the app) pages at the first failure; this construct adds one on
 *   DestinationDeliveryFailures (a failed tick that could not even be kept).
 */
export class ScheduledProducer extends Construct {
  /** The producer Lambda. */
  public readonly function: AppFunction;
  /** The job's schedule. */
  public readonly schedule: scheduler.Schedule;
  /** Ticks Scheduler could not deliver after all retries (the event holds only the tick time). */
  public readonly deadLetterQueue: sqs.Queue;
  /** A failed tick could not be written to the on-failure destination. */
  public readonly destinationFailuresAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ScheduledProducerProps) {
    super(scope, id);
    const { job } = props;
    // A job's own time zone moves its schedule (and what `produce` is told), never the log's partitions.
    const scheduleTimeZone = job.timeZone ?? props.timeZone;
    this.function = new AppFunction(this, 'Function', {
      projectRoot: props.projectRoot,
      entry: job.producer.entry,
      serviceName: job.name,
      description: `${job.name}: producer (plans each tick into the tick queue)`,
      ...functionSettingsProps(this, 'Function', job.producer),
      timeout: Duration.seconds(job.producer.timeoutSeconds),
      environment: {
        ...job.producer.environment,
        JOB_NAME: job.name,
        STATE_MACHINE_ARN: props.stateMachine.stateMachineArn,
        TICK_QUEUE_URL: props.tickStarter.tickQueue.queueUrl,
        QUARANTINE_QUEUE_URL: props.spool.quarantine.queueUrl,
        CLIENT_LOG_STREAM: props.paramLog.clientStream.deliveryStreamName,
        APP_TIME_ZONE: props.timeZone,
        JOB_TIME_ZONE: scheduleTimeZone,
        // The producer refuses to plan unchecked params when the config declares a schema it was not given.
        ...(job.params ? { JOB_PARAMS_VERSION: String(job.params.version) } : {}),
        COORDINATION_TABLE: props.coordination.table.tableName,
        TASKS_PER_BATCH: String(props.tickStarter.plan.tasksPerBatch),
        STARTER_CONCURRENCY: String(props.tickStarter.starterConcurrency),
      },
    });
    applyFunctionSettings(this.function, job.producer);
    const role = this.function.role!;
    props.tickStarter.grantSendTicks(role);
    props.spool.grantSend(role, 'quarantine');
    props.spool.grantSend(role, 'failedInvocations');
    props.paramLog.grantWriteClient(this.function);
    props.coordination.grantTickLedger(this.function);
    props.coordination.grantReadPause(this.function, job.name);

    // The destination sends with the function's role (AWS Lambda developer guide, "Capturing records
    // of asynchronous invocations"), granted above through the spool. Not the L2 SqsDestination: it
    // would add grantSendMessages (GetQueueUrl, GetQueueAttributes) the spool's policy refuses.
    const onFailure: lambda.IDestination = { bind: () => ({ destination: props.spool.failedInvocations.queueArn }) };
    this.function.configureAsyncInvoke({
      // Planning is idempotent (the tick ledger): both retries are safe.
      retryAttempts: 2,
      maxEventAge: props.asyncMaxEventAge ?? Duration.hours(6),
      onFailure,
    });

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', secureQueueProps());
    acknowledgeOn(this.deadLetterQueue, { id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue of the schedule.' });
    // Our own role (instead of the stack-wide one the target would create) so its findings stay here.
    const scheduleRole = schedulerRole(this, 'ScheduleRole', `Invokes the ${job.name} producer on its schedule`);
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `${job.name}: ${job.schedule} (${scheduleTimeZone})`,
      schedule: scheduler.ScheduleExpression.expression(job.schedule, TimeZone.of(scheduleTimeZone)),
      // Ticks are the unit of idempotency; a flexible window would move them.
      timeWindow: scheduler.TimeWindow.off(),
      enabled: job.enabled,
      target: new targets.LambdaInvoke(this.function, {
        input: scheduler.ScheduleTargetInput.fromObject({ scheduledTime: scheduler.ContextAttribute.scheduledTime }),
        retryAttempts: props.retryAttempts ?? 10,
        maxEventAge: props.maxEventAge ?? Duration.hours(1),
        deadLetterQueue: this.deadLetterQueue,
        role: scheduleRole,
      }),
    });
    acknowledgeOnPolicyOf(scheduleRole, {
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, this.function.functionArn)}:*]`,
      reason: 'lambda:InvokeFunction on the producer and its versions, as the aws-scheduler-targets L2 grants it.',
    });

    const alarm = (alarmId: string, metric: cloudwatch.IMetric, description: string): cloudwatch.Alarm => props.alerts.atLeastOne(this, alarmId, metric, description);
    this.destinationFailuresAlarm = alarm(
      'DestinationFailuresAlarm',
      this.function.metric('DestinationDeliveryFailures', { period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      `A failed ${job.name} tick could not be written to the failed-invocations queue: it is kept nowhere. Find its tick in the producer's "tick planning" log lines and re-run it: scheduled-jobs tick rerun --job ${job.name} --tick <tick> (docs/runbook.md, "Re-run a tick").`,
    );
  }
}
