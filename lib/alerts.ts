import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
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
 *
 * A topic policy replaces SNS's default policy, so CloudWatch alarm actions are refused unless the
 * policy allows cloudwatch.amazonaws.com to publish; on a topic encrypted with a customer managed
 * key, CloudWatch must also be allowed to use the key (Amazon SNS developer guide, "Key management",
 * compatibility with AWS services; AWS re:Post "CloudWatch alarm does not send SNS notifications").
 * Both allows are limited to alarms of this account and region (aws:SourceAccount, aws:SourceArn).
 * An existing topic's policy is its owner's: what it must allow is in docs/security.md.
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
    const alarmsOfThisAccount = {
      StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
      ArnLike: { 'aws:SourceArn': alarmArnPattern(this) },
    };
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: alarmsOfThisAccount,
      }),
    );
    this.topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsUseKey',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: alarmsOfThisAccount,
      }),
    );
    for (const email of props.alerts.emails) this.topic.addSubscription(new subs.EmailSubscription(email));
    this.externalTopic = props.alerts.topicArn ? sns.Topic.fromTopicArn(this, 'ExternalTopic', props.alerts.topicArn) : null;
    this.actions = [new cwActions.SnsAction(this.topic), ...(this.externalTopic ? [new cwActions.SnsAction(this.externalTopic)] : [])];
  }

  /**
   * An alarm in `scope` that fires when `metric` is at least 1 in one period (a failure happened, a
   * message waits); no data is not a breach. Notifies the destinations.
   */
  atLeastOne(scope: Construct, id: string, metric: cloudwatch.IMetric, description: string): cloudwatch.Alarm {
    return this.notify(
      new cloudwatch.Alarm(scope, id, {
        alarmDescription: description,
        metric,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }

  /** Notifies the destinations when `alarm` goes to ALARM, and back to OK unless disabled. */
  notify(alarm: cloudwatch.Alarm): cloudwatch.Alarm {
    this.alarms.push(alarm);
    alarm.addAlarmAction(...this.actions);
    if (this.props.alerts.notifyOk) alarm.addOkAction(...this.actions);
    return alarm;
  }
}

/** ARN pattern of every CloudWatch alarm of the stack's account and region. */
export function alarmArnPattern(scope: Construct): string {
  return Stack.of(scope).formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME });
}
