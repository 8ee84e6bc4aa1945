import { Duration, TimeZone } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AppFunction } from './app-function';
import { ResolvedJob } from './config/types';
import { secureQueueProps } from './defaults';
import { ErrorSpool } from './error-spool';
import { acknowledgeOn, acknowledgeOnPolicyOf, nagResource } from './nag';
import { ParamLog } from './param-log';
import { schedulerRole } from './service-roles';

/** Props of {@link ScheduledProducer}. */
export interface ScheduledProducerProps {
  readonly job: ResolvedJob;
  readonly projectRoot: string;
  /** IANA time zone of the schedule (the app's). */
  readonly timeZone: string;
  /** The job's state machine: the only one the producer may start. */
  readonly stateMachine: sfn.IStateMachine;
  /** The error spool (tasks that could not be started go there). */
  readonly spool: ErrorSpool;
  readonly paramLog: ParamLog;
  /**
   * Scheduler retries of an invocation that fails (e.g. the spool could not be reached).
   * Safe because starts are idempotent. @default 10
   */
  readonly retryAttempts?: number;
  /** How long Scheduler keeps trying one tick before it goes to the DLQ. @default 1 hour */
  readonly maxEventAge?: Duration;
}

/**
 * One job's producer: a Lambda (the job's `produce` wrapped by lambdas/producer/runtime.ts) and an
 * EventBridge Scheduler schedule in the app's time zone that invokes it with the tick time.
 * Invocations that never succeed land in an encrypted dead-letter queue.
 */
export class ScheduledProducer extends Construct {
  /** The producer Lambda. */
  public readonly function: AppFunction;
  /** The job's schedule. */
  public readonly schedule: scheduler.Schedule;
  /** Ticks Scheduler could not deliver after all retries (the event holds only the tick time). */
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: ScheduledProducerProps) {
    super(scope, id);
    const { job } = props;
    this.function = new AppFunction(this, 'Function', {
      projectRoot: props.projectRoot,
      entry: job.producer.entry,
      serviceName: job.name,
      description: `${job.name}: producer (starts one execution per task of a tick)`,
      timeout: Duration.seconds(job.producer.timeoutSeconds),
      environment: {
        ...job.producer.environment,
        JOB_NAME: job.name,
        STATE_MACHINE_ARN: props.stateMachine.stateMachineArn,
        SPOOL_QUEUE_URL: props.spool.queue.queueUrl,
        CLIENT_LOG_STREAM: props.paramLog.clientStream.deliveryStreamName,
        APP_TIME_ZONE: props.timeZone,
      },
    });
    props.stateMachine.grantStartExecution(this.function);
    props.spool.grantSend(this.function.role!);
    props.paramLog.grantWriteClient(this.function);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', secureQueueProps());
    acknowledgeOn(this.deadLetterQueue, { id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue of the schedule.' });
    // Our own role (instead of the stack-wide one the target would create) so its findings stay here.
    const role = schedulerRole(this, 'ScheduleRole', `Invokes the ${job.name} producer on its schedule`);
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `${job.name}: ${job.schedule} (${props.timeZone})`,
      schedule: scheduler.ScheduleExpression.expression(job.schedule, TimeZone.of(props.timeZone)),
      // Ticks are the unit of idempotency; a flexible window would move them.
      timeWindow: scheduler.TimeWindow.off(),
      enabled: job.enabled,
      target: new targets.LambdaInvoke(this.function, {
        input: scheduler.ScheduleTargetInput.fromObject({ scheduledTime: scheduler.ContextAttribute.scheduledTime }),
        retryAttempts: props.retryAttempts ?? 10,
        maxEventAge: props.maxEventAge ?? Duration.hours(1),
        deadLetterQueue: this.deadLetterQueue,
        role,
      }),
    });
    acknowledgeOnPolicyOf(role, {
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, this.function.functionArn)}:*]`,
      reason: 'lambda:InvokeFunction on the producer and its versions, as the aws-scheduler-targets L2 grants it.',
    });
  }
}
