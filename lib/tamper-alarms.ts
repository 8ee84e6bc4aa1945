import { CfnOutput, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct, IConstruct } from 'constructs';
import { Alerts } from './alerts';
import { acknowledgeOn, acknowledgeOnPolicyOf } from './nag';
import { GUARDRAIL_OUTPUTS } from './tamper-outputs';
import {
  changePattern,
  chunkValues,
  FIREHOSE_STREAM_CHANGES,
  IAM_ROLE_CHANGES,
  KMS_KEY_CHANGES,
  LAMBDA_FUNCTION_CHANGES,
  LAMBDA_ROLE_USES,
  S3_BUCKET_CHANGES,
  SQS_QUEUE_CHANGES,
  STATES_MACHINE_CHANGES,
  STATES_ROLE_USES,
  ALARM_RULE_CHANGES,
  ALARM_TARGET_CHANGES,
  TOPIC_CHANGES,
  TRAIL_CHANGES,
  WatchedChange,
} from './tamper-patterns';


/** The app's resources whose change would let someone read params or run code as the app. */
export interface AppResources {
  readonly functions: ReadonlyArray<lambda.IFunction>;
  readonly roles: ReadonlyArray<iam.IRole>;
  readonly keys: ReadonlyArray<kms.IKey>;
  readonly buckets: ReadonlyArray<s3.IBucket>;
  readonly queues: ReadonlyArray<sqs.IQueue>;
  readonly deliveryStreams: ReadonlyArray<firehose.IDeliveryStream>;
  readonly stateMachines: ReadonlyArray<sfn.IStateMachine>;
}

/** Every resource of `scope`'s stack the tamper alarm watches (call it after the stack's constructs are made). */
export function appResourcesOf(scope: IConstruct): AppResources {
  const all = Stack.of(scope).node.findAll();
  const of = <T>(cls: abstract new (...a: never[]) => T): T[] => all.filter((c) => c instanceof cls) as unknown as T[];
  return {
    functions: of(lambda.Function),
    roles: of(iam.Role),
    keys: of(kms.Key),
    buckets: of(s3.Bucket),
    queues: of(sqs.Queue),
    deliveryStreams: of(firehose.DeliveryStream),
    stateMachines: of(sfn.StateMachine),
  };
}

/** Props of {@link TamperAlarms}. */
export interface TamperAlarmsProps {
  readonly alerts: Alerts;
  /** Exact ARN of the CloudFormation execution role: its changes are deploys, not tampering. */
  readonly deployRoleArn: string;
  /** Exact ARNs of the roles that may invoke reprocess (config `operators.roleArns`). */
  readonly operatorRoleArns: ReadonlyArray<string>;
  /** The reprocess function (invokes by anyone else page). */
  readonly reprocessFunction: lambda.IFunction;
  readonly resources: AppResources;
  /**
   * Create a trail (management events; reprocess invocations as data events). EventBridge receives
   * CloudTrail events only while some trail logs them. @default false
   */
  readonly trail?: boolean;
}

/**
 * Pages the alert topic when anyone but the deploy role changes what runs as the app or where
 * params go (docs/security.md, "Tamper alarms and guardrails"), and when anyone but an operator
 * invokes reprocess. EventBridge rules on CloudTrail events, one per kind of change, split to stay
 * under the pattern size quota. They see events only while a trail logs them (`trail`, or the
 * account's or organization's trail); the IAM rule fires only in us-east-1, where IAM's events are
 * delivered; invocations are data events, logged only with the trail's data-event selector.
 */
export class TamperAlarms extends Construct {
  /** Every rule, by construct id. */
  public readonly rules: events.Rule[] = [];
  /** The trail, when created. */
  public readonly trail?: cloudtrail.Trail;
  /** The role EventBridge publishes to the topics with. */
  public readonly publishRole: iam.Role;

  constructor(scope: Construct, id: string, props: TamperAlarmsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const r = props.resources;
    const deploy = [props.deployRoleArn];
    // Only this account's rules may use the role (confused deputy; the rule ARNs would make a cycle).
    this.publishRole = new iam.Role(this, 'PublishRole', {
      description: 'EventBridge publishes tamper alarms to the alert topic',
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': stack.account } } }),
    });
    const topics = [props.alerts.topic, ...(props.alerts.externalTopic ? [props.alerts.externalTopic] : [])];
    for (const t of topics) t.grantPublish(this.publishRole);
    acknowledgeOnPolicyOf(this.publishRole, {
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason: 'Publishing to a topic encrypted with a customer managed key needs kms:GenerateDataKey* and kms:Decrypt on that key (Amazon SNS developer guide, "Key management"); the statement names the topic key only.',
    });

    const fnNames = r.functions.map((f) => f.functionName);
    const roleArns = r.roles.map((x) => x.roleArn);
    const changes: WatchedChange[] = [
      { id: 'LambdaFunctions', source: 'aws.lambda', eventSource: 'lambda.amazonaws.com', eventNames: LAMBDA_FUNCTION_CHANGES, field: 'functionName', match: 'suffix', values: fnNames, valueMaxLength: 64, exempt: deploy },
      { id: 'LambdaRoles', source: 'aws.lambda', eventSource: 'lambda.amazonaws.com', eventNames: LAMBDA_ROLE_USES, field: 'role', match: 'exact', values: roleArns, valueMaxLength: 110, exempt: deploy },
      { id: 'Keys', source: 'aws.kms', eventSource: 'kms.amazonaws.com', eventNames: KMS_KEY_CHANGES, field: 'keyId', match: 'exact', values: r.keys.flatMap((k) => [k.keyId, k.keyArn]), valueMaxLength: 90, exempt: deploy },
      { id: 'Buckets', source: 'aws.s3', eventSource: 's3.amazonaws.com', eventNames: S3_BUCKET_CHANGES, field: 'bucketName', match: 'exact', values: r.buckets.map((b) => b.bucketName), valueMaxLength: 63, exempt: deploy },
      { id: 'Queues', source: 'aws.sqs', eventSource: 'sqs.amazonaws.com', eventNames: SQS_QUEUE_CHANGES, field: 'queueUrl', match: 'exact', values: r.queues.map((q) => q.queueUrl), valueMaxLength: 140, exempt: deploy },
      { id: 'DeliveryStreams', source: 'aws.firehose', eventSource: 'firehose.amazonaws.com', eventNames: FIREHOSE_STREAM_CHANGES, field: 'deliveryStreamName', match: 'exact', values: r.deliveryStreams.map((d) => d.deliveryStreamName), valueMaxLength: 64, exempt: deploy },
      { id: 'StateMachines', source: 'aws.states', eventSource: 'states.amazonaws.com', eventNames: STATES_MACHINE_CHANGES, field: 'stateMachineArn', match: 'exact', values: r.stateMachines.map((m) => m.stateMachineArn), valueMaxLength: 140, exempt: deploy },
      { id: 'StateMachineRoles', source: 'aws.states', eventSource: 'states.amazonaws.com', eventNames: STATES_ROLE_USES, field: 'roleArn', match: 'exact', values: roleArns, valueMaxLength: 110, exempt: deploy },
      // IAM is a global service: its events reach EventBridge in us-east-1 only (docs/security.md).
      { id: 'Roles', source: 'aws.iam', eventSource: 'iam.amazonaws.com', eventNames: IAM_ROLE_CHANGES, field: 'roleName', match: 'exact', values: r.roles.map((x) => x.roleName), valueMaxLength: 64, exempt: deploy },
      // A data event: seen only with the trail's data-event selector on the reprocess function.
      { id: 'ReprocessInvoke', source: 'aws.lambda', eventSource: 'lambda.amazonaws.com', eventNames: ['Invoke'], field: 'functionName', match: 'suffix', values: [props.reprocessFunction.functionName], valueMaxLength: 64, exempt: [...props.operatorRoleArns] },
    ];
    // What would blind the alarm: the trails it reads, its own rules, the topic it pages.
    changes.push(
      { id: 'Trails', source: 'aws.cloudtrail', eventSource: 'cloudtrail.amazonaws.com', eventNames: TRAIL_CHANGES, field: null, match: 'exact', values: [], valueMaxLength: 0, exempt: deploy },
      // Rule names are generated from the stack's: `<stack>-TamperAlarms...` (this rule's own too).
      { id: 'AlarmRules', source: 'aws.events', eventSource: 'events.amazonaws.com', eventNames: ALARM_RULE_CHANGES, field: 'name', match: 'prefix', values: [`${stack.stackName}-${this.node.id}`], valueMaxLength: 64, exempt: deploy },
      { id: 'AlarmTargets', source: 'aws.events', eventSource: 'events.amazonaws.com', eventNames: ALARM_TARGET_CHANGES, field: 'rule', match: 'prefix', values: [`${stack.stackName}-${this.node.id}`], valueMaxLength: 64, exempt: deploy },
      { id: 'AlertTopic', source: 'aws.sns', eventSource: 'sns.amazonaws.com', eventNames: TOPIC_CHANGES, field: 'topicArn', match: 'exact', values: topics.map((x) => x.topicArn), valueMaxLength: 330, exempt: deploy },
    );
    for (const change of changes) {
      if (change.values.length === 0 && change.field !== null) continue;
      chunkValues(change).forEach((values, i) => {
        const rule = new events.Rule(this, `${change.id}${i === 0 ? '' : i + 1}`, {
          description: `Tamper alarm: ${change.eventSource} ${change.id} changed by someone other than ${change.id === 'ReprocessInvoke' ? 'an operator role' : 'the deploy role'} (docs/security.md)`,
          eventPattern: changePattern(change, values) as events.EventPattern,
        });
        const message = events.RuleTargetInput.fromText(
          `Tamper alarm (${change.id}): ${events.EventField.fromPath('$.detail.userIdentity.arn')} called ${events.EventField.fromPath('$.detail.eventName')} ` +
            `on ${change.field === null ? 'a trail' : events.EventField.fromPath(`$.detail.requestParameters.${change.field}`)} at ${events.EventField.fromPath('$.detail.eventTime')} ` +
            `(CloudTrail event ${events.EventField.fromPath('$.detail.eventID')}). Not the deploy role: find out who and why (docs/security.md, "Tamper alarms and guardrails").`,
        );
        for (const t of topics) rule.addTarget(new targets.SnsTopic(t, { role: this.publishRole, message }));
        this.rules.push(rule);
      });
    }

    if (props.trail) {
      const bucket = new s3.Bucket(this, 'TrailBucket', {
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        versioned: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      acknowledgeOn(bucket, { id: 'AwsSolutions-S1', reason: 'The trail bucket holds CloudTrail logs (no params); its reads are themselves management events of the trail; access logs would need another bucket.' });
      this.trail = new cloudtrail.Trail(this, 'Trail', { bucket, includeGlobalServiceEvents: true, isMultiRegionTrail: false, enableFileValidation: true });
      // Advanced selectors: every management event (what the rules read), and the reprocess
      // function's invocations as data events (who operated). A trail takes basic or advanced
      // selectors, not both (CloudTrail user guide, "Logging data events").
      const cfnTrail = this.trail.node.defaultChild as cloudtrail.CfnTrail;
      cfnTrail.addPropertyDeletionOverride('EventSelectors');
      cfnTrail.addPropertyOverride('AdvancedEventSelectors', [
        { Name: 'Management events', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }] },
        {
          Name: 'Reprocess invocations',
          FieldSelectors: [
            { Field: 'eventCategory', Equals: ['Data'] },
            { Field: 'resources.type', Equals: ['AWS::Lambda::Function'] },
            { Field: 'resources.ARN', Equals: [props.reprocessFunction.functionArn] },
          ],
        },
      ]);
    }

    new CfnOutput(this, 'DeployRoleArn', { key: GUARDRAIL_OUTPUTS.deployRoleArn, value: props.deployRoleArn, description: 'The deploy role the guardrails and tamper alarms exempt (scheduled-jobs guardrails)' });
    new CfnOutput(this, 'ReprocessFunctionArn', { key: GUARDRAIL_OUTPUTS.reprocessFunctionArn, value: props.reprocessFunction.functionArn, description: 'Reprocess: only operator roles may invoke it (scheduled-jobs guardrails)' });
  }
}
