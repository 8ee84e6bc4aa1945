import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { ResolvedAlerts } from './config/types';

/** Props of {@link Alerts}. */
export interface AlertsProps {
  /** Config `alerts` of the stage: at least one destination (validated). */
  readonly alerts: ResolvedAlerts;
}

/**
 * Where every alarm of the app notifies: the app's own encrypted topic with the configured email
 * subscriptions, and/or an existing topic (config `alerts.topicArn`, e.g. the one Chatbot, Slack or
 * PagerDuty hang off). `notify(alarm)` wires ALARM (and OK, unless `notifyOk: false`) to both.
 */
export class Alerts extends Construct {
  /** The app's own topic. */
  public readonly topic: sns.Topic;
  /** Its key (CloudWatch must be allowed to use it, or alarm actions are refused). */
  public readonly topicKey: kms.Key;
  /** The existing topic of the config, if any. */
  public readonly externalTopic: sns.ITopic | null;
  /** Every alarm wired through {@link notify} (the dashboard shows them all). */
  public readonly alarms: cloudwatch.Alarm[] = [];
  private readonly actions: cloudwatch.IAlarmAction[];

  constructor(scope: Construct, id: string, readonly props: AlertsProps) {
    super(scope, id);
    this.topicKey = new kms.Key(this, 'TopicKey', { description: 'Operators alarm topic', enableKeyRotation: true });
    this.topic = new sns.Topic(this, 'Topic', { masterKey: this.topicKey, enforceSSL: true, displayName: 'Scheduled jobs alarms' });
    for (const email of props.alerts.emails) this.topic.addSubscription(new subs.EmailSubscription(email));
    this.externalTopic = props.alerts.topicArn ? sns.Topic.fromTopicArn(this, 'ExternalTopic', props.alerts.topicArn) : null;
    this.actions = [new cwActions.SnsAction(this.topic), ...(this.externalTopic ? [new cwActions.SnsAction(this.externalTopic)] : [])];
  }

  /** Notifies the destinations when `alarm` goes to ALARM, and back to OK unless disabled. */
  notify(alarm: cloudwatch.Alarm): cloudwatch.Alarm {
    this.alarms.push(alarm);
    alarm.addAlarmAction(...this.actions);
    if (this.props.alerts.notifyOk) alarm.addOkAction(...this.actions);
    return alarm;
  }
}
