import { CfnOutput, Duration, Stack, TimeZone } from 'aws-cdk-lib';
import { acknowledgeOn, acknowledgeOnPolicyOf } from './nag';
import { schedulerRole } from './service-roles';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { APP_METRIC_NAMESPACE } from '../lambdas/shared/metric-names';
import { SWEEPER_ENV } from '../lambdas/sweeper/env';
import { OLDEST_AGE_METRIC, QUEUE_DIMENSION, SWEEPER_SERVICE } from '../lambdas/sweeper/metrics';
import { Alerts } from './alerts';
import { AppFunction } from './app-function';
import { secureQueueProps } from './defaults';
import { ErrorSpool, SpoolQueueName } from './error-spool';

/** What every swept queue entry has. */
interface SweptQueueBase {
  /** Short name for construct ids and alarm texts, e.g. `spool`, `Producer-example-api`. Letters, digits, `-`; unique. */
  readonly label: string;
  /**
   * The queue's MessageRetentionPeriod.
   * @default read from the queue's CloudFormation resource (SQS's 4-day default when it sets
   * none); required for a queue imported from elsewhere. The function also reads the live value
   * and uses the shorter.
   */
  readonly retention?: Duration;
  /** What the on-call engineer does when this queue holds a failure for too long. @default a generic instruction */
  readonly action?: string;
}

/** A queue of the {@link ErrorSpool}: access through its grants (params key, recorded roles). */
export interface SweptSpoolQueue extends SweptQueueBase {
  readonly spoolQueue: SpoolQueueName;
}

/** Any other queue (e.g. a schedule's dead-letter queue): access through plain queue grants. */
export interface SweptOtherQueue extends SweptQueueBase {
  readonly queue: sqs.IQueue;
}

/** One queue the sweeper keeps from expiring. Add a queue to the system: add one entry. */
export type SweptQueue = SweptSpoolQueue | SweptOtherQueue;

/** Props of {@link Sweeper}. */
export interface SweeperProps {
  readonly projectRoot: string;
  /** The app's IANA time zone: the schedule's. */
  readonly timeZone: string;
  readonly alerts: Alerts;
  /** The error spool: its queues are swept through its grants, and failed sweeps land in its `failedInvocations`. */
  readonly spool: ErrorSpool;
  /**
   * Every queue to sweep (the sweeper's own schedule dead-letter queue is added by itself).
   * {@link Sweeper.spoolQueues} gives the spool's three.
   */
  readonly queues: ReadonlyArray<SweptQueue>;
  /** Alarm when a queue's oldest message was first sent this many days ago (config `spool.alertAfterDays`). */
  readonly alertAfterDays: number;
  /** Time between sweeps, in the app's time zone. Whole minutes dividing an hour, or whole hours dividing a day. @default 1 hour */
  readonly interval?: Duration;
  /**
   * A message is re-sent once it is this close to its queue's retention. At least 6 intervals
   * (so 6 runs can try before anything expires) and at most half the shortest retention.
   * @default 1 day (24 hourly runs)
   */
  readonly margin?: Duration;
  /** Alarm when the function has not been invoked for this long. At least 2 intervals. @default 3 intervals, at least 3 hours */
  readonly notRunningAfter?: Duration;
  /** Function timeout; the sweep stops 15 s before it. @default 5 minutes */
  readonly timeout?: Duration;
}

/** Runs that can still re-send a message before it expires, at the least. */
const MIN_RUNS_IN_MARGIN = 6;
/** SQS's MessageRetentionPeriod when a queue sets none (AWS SQS API reference, "CreateQueue"). */
const SQS_DEFAULT_RETENTION = Duration.days(4);

/**
 * An on-failure destination that does not grant itself: `SqsDestination` grants
 * `grantSendMessages` (GetQueueUrl, GetQueueAttributes, kms:ReEncrypt*), while the spool's own
 * {@link ErrorSpool.grantSend} grants only what a send needs and records the sender.
 */
class QueueArnDestination implements lambda.IDestination {
  constructor(private readonly queue: sqs.IQueue) {}
  bind(): lambda.DestinationConfig {
    return { destination: this.queue.queueArn };
  }
}

function isSpoolEntry(q: SweptQueue): q is SweptSpoolQueue {
  return (q as SweptSpoolQueue).spoolQueue !== undefined;
}

/**
 * The sweeper: a Lambda run by EventBridge Scheduler (hourly by default, app time zone) that
 * keeps every message of the listed queues from expiring unseen. SQS deletes a message at the end
 * of retention, and ApproximateAgeOfOldestMessage skips messages received three times or more
 * (AWS SQS developer guide, "Available CloudWatch metrics for Amazon SQS"), so an alarm on it goes
 * blind after a few dry runs. The sweeper re-sends messages `margin` before expiry (first send
 * time and receive history kept in attributes) and publishes each queue's oldest age by first
 * send, with alarms: a failure older than `alertAfterDays` (per queue), the sweeper not running,
 * and sweeper errors (incomplete sweeps fail the invocation). See docs/sweeper.md.
 */
export class Sweeper extends Construct {
  /** The spool's three queues, as entries of {@link SweeperProps.queues}. */
  static spoolQueues(): SweptSpoolQueue[] {
    return [
      {
        label: 'spool',
        spoolQueue: 'spool',
        action: 'A failed task has waited that long in the error spool. Dry-run the Reprocess function to see it by job and error, fix the cause, replay it (docs/reprocess.md).',
      },
      {
        label: 'quarantine',
        spoolQueue: 'quarantine',
        action: 'A quarantined message has waited that long. Read it (its "reason" attribute says why), then replay it (force, for too many replays), re-plan its tick (Rejected) or drop it through reprocess: scheduled-jobs replay --source quarantine (docs/runbook.md, "Read the quarantine").',
      },
      {
        label: 'failedInvocations',
        spoolQueue: 'failedInvocations',
        action: 'An invocation failed after Lambda\'s retries and waits in the failed-invocations queue. Fix the cause, then re-run it through reprocess, which invokes the function again with its payload and deletes the record: scheduled-jobs replay --source failed-invocations (docs/runbook.md, "Re-run a failed invocation").',
      },
    ];
  }

  public readonly function: AppFunction;
  public readonly schedule: scheduler.Schedule;
  /** Ticks Scheduler could not deliver to the sweeper (SSE-SQS: they hold tick times only). */
  public readonly deadLetterQueue: sqs.Queue;
  /** Oldest failure older than `alertAfterDays`, by queue label. */
  public readonly oldestFailureAlarms: ReadonlyMap<string, cloudwatch.Alarm>;
  public readonly notRunningAlarm: cloudwatch.Alarm;
  public readonly errorsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: SweeperProps) {
    super(scope, id);
    const interval = props.interval ?? Duration.hours(1);
    const margin = props.margin ?? Duration.days(1);
    const timeout = props.timeout ?? Duration.minutes(5);
    const alarmPeriod = interval.toSeconds() >= 3600 ? interval : Duration.hours(1);
    const notRunningAfter = props.notRunningAfter ?? Duration.seconds(alarmPeriod.toSeconds() * 3);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', secureQueueProps());
    acknowledgeOn(this.deadLetterQueue, { id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue of the sweeper schedule.' });
    const queues: SweptQueue[] = [
      ...props.queues,
      { label: 'SweeperDeadLetters', queue: this.deadLetterQueue, action: 'The scheduler could not invoke the sweeper: see the SweeperNotRunning alarm. Delete the message once sweeps run again.' },
    ];

    // Validate everything first and report all problems at once.
    const problems: string[] = [];
    const minutes = interval.toMinutes({ integral: false });
    const cron = Number.isInteger(minutes) && minutes >= 1 && minutes < 60 && 60 % minutes === 0
      ? { minute: `${7 % minutes}/${minutes}` }
      : Number.isInteger(minutes / 60) && minutes / 60 >= 1 && 24 % (minutes / 60) === 0
        ? { minute: '7', hour: `0/${minutes / 60}` }
        : null;
    if (!cron) problems.push(`interval: use whole minutes dividing an hour (e.g. 15 minutes) or whole hours dividing a day (e.g. 1 or 6 hours), got ${interval.toHumanString()}`);
    if (margin.toSeconds() < MIN_RUNS_IN_MARGIN * interval.toSeconds()) {
      problems.push(`margin: must be at least ${MIN_RUNS_IN_MARGIN} intervals (${MIN_RUNS_IN_MARGIN} runs can then try before a message expires), got ${margin.toHumanString()} for an interval of ${interval.toHumanString()}`);
    }
    if (notRunningAfter.toSeconds() < 2 * alarmPeriod.toSeconds()) problems.push(`notRunningAfter: must be at least 2 alarm periods (${2 * alarmPeriod.toHours({ integral: false })} hours), got ${notRunningAfter.toHumanString()}`);
    if (!Number.isInteger(props.alertAfterDays) || props.alertAfterDays < 1) problems.push(`alertAfterDays: must be an integer >= 1, got ${props.alertAfterDays}`);
    if (timeout.toSeconds() < 60 || timeout.toSeconds() > 900) problems.push(`timeout: must be 1 to 15 minutes, got ${timeout.toHumanString()}`);
    const labels = new Set<string>();
    const resolved = queues.map((q) => {
      if (!/^[A-Za-z0-9-]+$/.test(q.label)) problems.push(`queues: label "${q.label}" may hold letters, digits and "-" only`);
      if (labels.has(q.label)) problems.push(`queues: label "${q.label}" is used twice`);
      labels.add(q.label);
      const queue = isSpoolEntry(q) ? props.spool.queueOf(q.spoolQueue) : q.queue;
      if (queue.fifo) problems.push(`queues: ${q.label} is a FIFO queue; the sweeper re-sends without a message group and supports standard queues only`);
      // Every sweep receive counts toward maxReceiveCount: after that many runs SQS would move the message to the DLQ.
      if (queue instanceof sqs.Queue && queue.deadLetterQueue) {
        problems.push(`queues: ${q.label} has a redrive policy; sweeping it would move its messages to its dead-letter queue after ${queue.deadLetterQueue.maxReceiveCount} runs. Sweep its dead-letter queue instead`);
      }
      let retention = q.retention;
      if (!retention) {
        const cfn = queue.node.defaultChild as sqs.CfnQueue | undefined;
        if (!(cfn instanceof sqs.CfnQueue)) problems.push(`queues: ${q.label} is not defined in this app; pass its retention`);
        else if (cfn.messageRetentionPeriod === undefined) retention = SQS_DEFAULT_RETENTION;
        else if (typeof cfn.messageRetentionPeriod === 'number') retention = Duration.seconds(cfn.messageRetentionPeriod);
        else problems.push(`queues: ${q.label}'s retention is not known at synth time; pass it`);
      }
      if (retention && margin.toSeconds() > retention.toSeconds() / 2) {
        problems.push(`margin: ${margin.toHumanString()} is more than half of ${q.label}'s retention (${retention.toHumanString()}): messages would be re-sent over and over`);
      }
      return { entry: q, queue, retentionSeconds: retention?.toSeconds() ?? 0 };
    });
    if (problems.length) throw new Error(`Sweeper ${id}: ${problems.join('; ')}`);

    this.function = new AppFunction(this, 'Function', {
      projectRoot: props.projectRoot,
      entry: 'lambdas/sweeper/handler.ts',
      serviceName: SWEEPER_SERVICE,
      description: `Re-sends queued failures before SQS retention deletes them and measures their age (every ${interval.toHumanString()}; docs/sweeper.md)`,
      timeout,
      environment: {
        [SWEEPER_ENV.queues]: Stack.of(this).toJsonString(resolved.map((r) => ({ name: r.queue.queueName, url: r.queue.queueUrl, retentionSeconds: r.retentionSeconds }))),
        [SWEEPER_ENV.marginSeconds]: String(margin.toSeconds()),
      },
      // A failed sweep is retried twice by Lambda; a sweep failing after that is kept for a person.
      retryAttempts: 2,
      onFailure: new QueueArnDestination(props.spool.failedInvocations),
    });
    new CfnOutput(this, 'FunctionName', { value: this.function.functionName, description: 'The sweeper: invoke it by hand to sweep now (docs/sweeper.md)' });
    const role = this.function.role!;
    props.spool.grantSend(role, 'failedInvocations');
    const sendGranted = new Set<SpoolQueueName>(['failedInvocations']);
    for (const { entry, queue } of resolved) {
      if (isSpoolEntry(entry)) {
        props.spool.grantConsume(role, entry.spoolQueue);
        if (!sendGranted.has(entry.spoolQueue)) props.spool.grantSend(role, entry.spoolQueue);
        sendGranted.add(entry.spoolQueue);
      } else {
        // Batch actions are authorized by the single ones (AWS SQS developer guide, "Amazon SQS batch actions").
        queue.grant(role, 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes', 'sqs:SendMessage');
        // A CMK-encrypted queue: receiving needs Decrypt, re-sending GenerateDataKey too (AWS SQS developer guide, "Key management").
        queue.encryptionMasterKey?.grant(role, 'kms:Decrypt', 'kms:GenerateDataKey');
      }
    }

    // Its own role (not the stack-wide one the target would create) so its findings stay here;
    // trusted by the scheduler for this account's schedule group only.
    const scheduleRole = schedulerRole(this, 'ScheduleRole', 'EventBridge Scheduler invoking the sweeper');
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `Sweeper: every ${interval.toHumanString()} (${props.timeZone}); docs/sweeper.md`,
      schedule: scheduler.ScheduleExpression.cron({ ...cron, timeZone: TimeZone.of(props.timeZone) }),
      timeWindow: scheduler.TimeWindow.off(),
      target: new targets.LambdaInvoke(this.function, {
        input: scheduler.ScheduleTargetInput.fromObject({ scheduledTime: scheduler.ContextAttribute.scheduledTime }),
        retryAttempts: 2,
        // A tick older than an interval is overtaken by the next one.
        maxEventAge: Duration.seconds(Math.max(60, Math.min(interval.toSeconds(), 86_400))),
        deadLetterQueue: this.deadLetterQueue,
        role: scheduleRole,
      }),
    });
    acknowledgeOnPolicyOf(scheduleRole, {
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).resolve((this.function.node.defaultChild as lambda.CfnFunction).logicalId)}.Arn>:*]`,
      reason: 'lambda:InvokeFunction on the sweeper and its versions, as the aws-scheduler-targets L2 grants it.',
    });

    const alarms = new Map<string, cloudwatch.Alarm>();
    for (const { entry, queue } of resolved) {
      const alarm = new cloudwatch.Alarm(this, `OldestFailure-${entry.label}Alarm`, {
        alarmDescription:
          `${entry.label}: a message first sent more than ${props.alertAfterDays} days ago is still waiting (the sweeper keeps it from expiring, but it needs a person). ` +
          (entry.action ?? 'Read the queue, handle the message, then delete it.') +
          ' See docs/sweeper.md.',
        metric: new cloudwatch.Metric({
          namespace: APP_METRIC_NAMESPACE,
          metricName: OLDEST_AGE_METRIC,
          dimensionsMap: { service: SWEEPER_SERVICE, [QUEUE_DIMENSION]: queue.queueName },
          statistic: cloudwatch.Stats.MAXIMUM,
          period: alarmPeriod,
        }),
        threshold: props.alertAfterDays * 86_400,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        // No point: the sweeper did not run or did not finish that queue; the two alarms below say so.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarms.set(entry.label, props.alerts.notify(alarm));
    }
    this.oldestFailureAlarms = alarms;

    const periods = Math.ceil(notRunningAfter.toSeconds() / alarmPeriod.toSeconds());
    this.notRunningAlarm = props.alerts.notify(
      new cloudwatch.Alarm(this, 'NotRunningAlarm', {
        alarmDescription:
          `The sweeper has not run for ${notRunningAfter.toHumanString()}: nothing keeps queued failures from expiring and their age alarms see no data. ` +
          'Check the sweeper schedule (enabled?), its dead-letter queue and the function\'s throttles; invoke the function by hand to sweep now. See docs/sweeper.md.',
        metric: this.function.metricInvocations({ period: alarmPeriod, statistic: cloudwatch.Stats.SUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: periods,
        datapointsToAlarm: periods,
        // No invocation means no data point: that is exactly the breach.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
    );
    this.errorsAlarm = props.alerts.notify(
      new cloudwatch.Alarm(this, 'ErrorsAlarm', {
        alarmDescription:
          'Sweeps failed in two periods in a row: some queue was not swept completely (time ran out, a receive or re-send failed). ' +
          'The function log ("queue swept" lines and the SweepIncompleteError) names the queue and why. Messages near expiry are at risk. See docs/sweeper.md.',
        metric: this.function.metricErrors({ period: alarmPeriod, statistic: cloudwatch.Stats.SUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // One failed run (e.g. a reprocess run holding messages) is retried and leaves many more runs within the margin.
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }
}
