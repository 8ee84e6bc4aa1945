import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Alerts } from './alerts';

/** Props of {@link OperationsAlarms}. */
export interface OperationsAlarmsProps {
  /** Where alarms notify. */
  readonly alerts: Alerts;
  /** The error spool. */
  readonly spoolQueue: sqs.IQueue;
  /** Reprocess's quarantine queue. */
  readonly quarantineQueue: sqs.IQueue;
  /** Dead-letter queues of schedules (name shown in the alarm → queue). */
  readonly scheduleDeadLetterQueues: ReadonlyMap<string, sqs.IQueue>;
}

/**
 * What pages the on-call engineer about the jobs themselves, each alarm saying what to do:
 * failures waiting in the spool, quarantined messages, and schedule invocations that never
 * reached a producer (the dashboard is lib/observability.ts). Failures waiting too long (and
 * kept from expiring) are the sweeper's alarms (lib/sweeper.ts): SQS's own age metric cannot see them.
 */
export class OperationsAlarms extends Construct {
  public readonly spoolNotEmptyAlarm: cloudwatch.Alarm;
  public readonly quarantineNotEmptyAlarm: cloudwatch.Alarm;
  public readonly deadLetterAlarms: ReadonlyMap<string, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: OperationsAlarmsProps) {
    super(scope, id);
    const visible = (q: sqs.IQueue) => q.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM });
    const atLeastOne = (alarmId: string, metric: cloudwatch.IMetric, description: string): cloudwatch.Alarm => props.alerts.atLeastOne(this, alarmId, metric, description);

    this.spoolNotEmptyAlarm = atLeastOne(
      'SpoolNotEmptyAlarm',
      visible(props.spoolQueue),
      'Failed tasks wait in the error spool. Find the cause (dry run of the Reprocess function shows them by job and error), fix it, then replay: see "Runbook" in the README.',
    );

    this.quarantineNotEmptyAlarm = atLeastOne(
      'QuarantineNotEmptyAlarm',
      visible(props.quarantineQueue),
      'Reprocess quarantined spool messages it cannot replay (malformed, unknown state machine, too many replays, producer failures). Each carries a reason attribute: see "Quarantine" in docs/reprocess.md.',
    );

    const dlqAlarms = new Map<string, cloudwatch.Alarm>();
    for (const [name, queue] of props.scheduleDeadLetterQueues) {
      dlqAlarms.set(
        name,
        atLeastOne(
          `DeadLetter${name}Alarm`,
          visible(queue),
          `The scheduler could not invoke ${name} after its retries: those ticks did not run. Each message holds the tick; re-run it by invoking the function with that payload.`,
        ),
      );
    }
    this.deadLetterAlarms = dlqAlarms;

  }
}
