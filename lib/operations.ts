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
  /** New failures arrived in the spool in the last 5 minutes: pages on each new burst, while the level alarm stays in ALARM. */
  public readonly spoolNewFailuresAlarm: cloudwatch.Alarm;
  /** New messages arrived in the quarantine in the last 5 minutes. */
  public readonly quarantineNewMessagesAlarm: cloudwatch.Alarm;
  public readonly deadLetterAlarms: ReadonlyMap<string, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: OperationsAlarmsProps) {
    super(scope, id);
    const visible = (q: sqs.IQueue) => q.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM });
    const atLeastOne = (alarmId: string, metric: cloudwatch.IMetric, description: string): cloudwatch.Alarm => props.alerts.atLeastOne(this, alarmId, metric, description);

    this.spoolNotEmptyAlarm = atLeastOne(
      'SpoolNotEmptyAlarm',
      visible(props.spoolQueue),
      'Failed tasks wait in the error spool. Find the cause (scheduled-jobs replay --dry-run shows them by job and error), fix it, then replay: docs/runbook.md, "Replay the spool".',
    );

    this.quarantineNotEmptyAlarm = atLeastOne(
      'QuarantineNotEmptyAlarm',
      visible(props.quarantineQueue),
      'A message was quarantined: a task spec the producer or Step Functions refused (Rejected), or a spool message reprocess cannot replay (malformed, unknown job, may be forged, too many replays). Each carries a reason attribute (scheduled-jobs status). Replay it (force, for too many replays), re-plan its tick (Rejected) or drop it, all through reprocess: docs/runbook.md, "Read the quarantine".',
    );

    // Rate alarms. An alarm notifies on state changes only (Amazon CloudWatch user guide, "Alarm
    // actions"): the level alarms above stay in ALARM while anything waits, so a second burst of
    // failures would never page. These go back to OK after 5 quiet minutes and page on the next
    // burst. NumberOfMessagesSent counts every send: the sweeper's re-send of a message near its
    // retention end (docs/sweeper.md) counts too, at most once per message every ~13 days.
    const sent = (q: sqs.IQueue) => q.metricNumberOfMessagesSent({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM });
    this.spoolNewFailuresAlarm = atLeastOne(
      'SpoolNewFailuresAlarm',
      sent(props.spoolQueue),
      'New failures were spooled in the last 5 minutes (this pages on every new burst, while SpoolNotEmptyAlarm stays in ALARM). Look at the new ones: scheduled-jobs replay --dry-run; docs/runbook.md, "Replay the spool".',
    );
    this.quarantineNewMessagesAlarm = atLeastOne(
      'QuarantineNewMessagesAlarm',
      sent(props.quarantineQueue),
      'New messages were quarantined in the last 5 minutes (this pages on every new burst, while QuarantineNotEmptyAlarm stays in ALARM): scheduled-jobs status; docs/runbook.md, "Read the quarantine".',
    );

    const dlqAlarms = new Map<string, cloudwatch.Alarm>();
    for (const [name, queue] of props.scheduleDeadLetterQueues) {
      dlqAlarms.set(
        name,
        atLeastOne(
          `DeadLetter${name}Alarm`,
          visible(queue),
          `The scheduler could not invoke ${name} after its retries: those ticks did not run. Each message holds the tick; re-run it (a producer's: scheduled-jobs tick rerun), then delete the message: docs/runbook.md, "Re-run a tick the scheduler could not deliver".`,
        ),
      );
    }
    this.deadLetterAlarms = dlqAlarms;

  }
}
