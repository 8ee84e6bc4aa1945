import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Alerts } from '../lib/alerts';
import { ErrorSpool } from '../lib/error-spool';
import { NONCURRENT_VERSION_DAYS, ParamLog } from '../lib/param-log';
import { ParamsKey } from '../lib/params-key';
import { synthApp } from './support/synth-app';

/** Template-level facts of the locks that the IAM wiring test (test/iam-wiring.test.ts) does not see: lifecycle, lazily read lists, shapes. */

const READER = 'arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/us-east-1/AWSReservedSSO_SREReadOnly_0123456789abcdef';

function bareStack(): Stack {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  return new Stack(app, 'SecTest', { env: { account: '123456789012', region: 'ap-northeast-1' } });
}

describe('parameter log retention', () => {
  const rulesOf = (t: Template) => Object.values(t.findResources('AWS::S3::Bucket')).find((b) => b.Properties.VersioningConfiguration)!.Properties.LifecycleConfiguration.Rules;

  test('records expire after the configured days, their versions NONCURRENT_VERSION_DAYS later, expired delete markers go', () => {
    const { stack } = synthApp((c) => ({ ...c, paramLog: { ...c.paramLog, retentionDays: 45 } }), 'RetentionTest');
    const rules = rulesOf(Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }));
    expect(rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Id: 'expire-records', ExpirationInDays: 45, Status: 'Enabled' }),
        expect.objectContaining({ Id: 'expire-noncurrent-versions', NoncurrentVersionExpiration: { NoncurrentDays: NONCURRENT_VERSION_DAYS }, Status: 'Enabled' }),
        expect.objectContaining({ Id: 'remove-expired-delete-markers', ExpiredObjectDeleteMarker: true }),
      ]),
    );
  });

  test('default: 400 days (a year and a month)', () => {
    const stack = bareStack();
    new ParamLog(stack, 'ParamLog', { timeZone: 'UTC', bufferSeconds: 60, bufferMiB: 64 });
    expect(rulesOf(Template.fromStack(stack))).toEqual(expect.arrayContaining([expect.objectContaining({ Id: 'expire-records', ExpirationInDays: 400 })]));
  });

  test('the delete deny names the break-glass patterns, or nobody', () => {
    const stack = bareStack();
    new ParamLog(stack, 'ParamLog', { timeZone: 'UTC', bufferSeconds: 60, bufferMiB: 64, breakGlassRoleArnPatterns: ['arn:aws:iam::123456789012:role/Erasure'] });
    Template.fromStack(stack).hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Sid: 'DenyDeleteExceptBreakGlass', Effect: 'Deny', Condition: { StringNotEquals: { 'aws:PrincipalArn': ['arn:aws:iam::123456789012:role/Erasure'] } } })]) },
    });
  });

  test('each delivery stream starts only after its role may write', () => {
    const stack = bareStack();
    const log = new ParamLog(stack, 'ParamLog', { timeZone: 'UTC', bufferSeconds: 60, bufferMiB: 64 });
    const t = Template.fromStack(stack).toJSON();
    for (const s of [log.clientStream, log.workerStream]) {
      const deps = t.Resources[stack.getLogicalId(s.node.defaultChild as never)].DependsOn as string[];
      expect(deps.some((d) => t.Resources[d].Type === 'AWS::IAM::Policy')).toBe(true);
    }
  });
});

describe('lists read at synth: a role granted after the constructs were made is in every lock', () => {
  const stack = bareStack();
  const key = new ParamsKey(stack, 'ParamsKey', { readerRoleArnPatterns: [READER] });
  const spool = new ErrorSpool(stack, 'ErrorSpool', { retentionDays: 14, paramsKey: key });
  const late = new iam.Role(stack, 'LateCapture', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  spool.grantSend(late, 'spool');
  spool.grantConsume(late, 'failedInvocations');
  const t = Template.fromStack(stack).toJSON();
  const lateArn = { 'Fn::GetAtt': [stack.getLogicalId(late.node.defaultChild as never), 'Arn'] };
  const queuePolicy = (q: 'queue' | 'failedInvocations') =>
    Object.values(t.Resources).find((r: any) => r.Type === 'AWS::SQS::QueuePolicy' && r.Properties.Queues[0].Ref === stack.getLogicalId(spool[q].node.defaultChild as never)) as any;
  const statement = (q: 'queue' | 'failedInvocations', sid: string) => queuePolicy(q).Properties.PolicyDocument.Statement.find((s: any) => s.Sid === sid);

  test('the params key exempts it from the decrypt deny', () => {
    const keyPolicy = t.Resources[stack.getLogicalId(key.key.node.defaultChild as never)].Properties.KeyPolicy.Statement;
    const deny = keyPolicy.find((s: any) => s.Sid === 'DenyDecryptExceptNamedRoles');
    expect(deny.Condition.StringNotEquals['aws:PrincipalArn']).toContainEqual(lateArn);
  });

  test('the spool lets it send, the failed-invocations queue lets it consume', () => {
    expect(statement('queue', 'DenySendExceptSenders').Condition.StringNotEquals['aws:PrincipalArn']).toEqual([lateArn]);
    expect(statement('failedInvocations', 'DenyDeleteExceptConsumers').Condition.StringNotEquals['aws:PrincipalArn']).toEqual([lateArn]);
  });

  test('with no recorded sender the send deny covers every principal (no empty list)', () => {
    expect(statement('failedInvocations', 'DenySendExceptSenders').Condition).toEqual({ BoolIfExists: { 'aws:PrincipalIsAWSService': 'false' } });
  });
});

describe('roles', () => {
  const { template } = synthApp();
  const roles = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::IAM::Role');

  test('no role carries an AWS managed policy (each function writes its own log group only)', () => {
    expect(roles.filter(([, r]) => r.Properties?.ManagedPolicyArns).map(([id]) => id)).toEqual([]);
  });

  test('every service role trusts its service on behalf of this account only', () => {
    const unconditioned = roles.flatMap(([id, r]) =>
      (r.Properties!.AssumeRolePolicyDocument.Statement as Array<{ Principal: { Service?: string }; Condition?: unknown }>)
        .filter((s) => s.Principal.Service && s.Principal.Service !== 'lambda.amazonaws.com' && !s.Condition)
        .map(() => id),
    );
    expect(unconditioned).toEqual([]);
  });
});

test('alarm topic: CloudWatch may publish and use the key for alarms of this account and region only', () => {
  const stack = bareStack();
  const alerts = new Alerts(stack, 'Alerts', { alerts: { emails: ['oncall@example.com'], topicArn: null, notifyOk: true } });
  const t = Template.fromStack(stack);
  const conditions = {
    StringEquals: { 'aws:SourceAccount': '123456789012' },
    ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:ap-northeast-1:123456789012:alarm:*']] } },
  };
  t.hasResourceProperties('AWS::SNS::TopicPolicy', {
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish', Condition: conditions })]) },
  });
  const keyPolicy = t.toJSON().Resources[stack.getLogicalId(alerts.topicKey.node.defaultChild as never)].Properties.KeyPolicy.Statement;
  expect(keyPolicy).toContainEqual(expect.objectContaining({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Condition: conditions }));
});
