import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { placeholderRef, PLACEHOLDER, resolveIntrinsics } from '../local/asl';
import { changePattern, chunkValues, EVENT_PATTERN_MAX_CHARS, WatchedChange } from '../lib/tamper-patterns';
import { matchesPattern } from './support/event-filters';
import { IamModel } from './support/iam-harness';
import { synthApp } from './support/synth-app';

/**
 * The tamper alarm: its rules' patterns (CDK assertions), and what they match, evaluated against
 * sample CloudTrail events shaped as AWS documents them (CloudTrail user guide, "CloudTrail record
 * contents"; EventBridge user guide, "Events from AWS services delivered via CloudTrail").
 */

const { stack, template } = synthApp((c) => ({ ...c, audit: { trail: true } }), 'TamperTest');
const t = Template.fromJSON(template);
const m = new IamModel(stack, template);
const ACC = PLACEHOLDER.account;
const REGION = PLACEHOLDER.region;
const DEPLOY_ROLE = `arn:aws:iam::${ACC}:role/cdk-hnb659fds-cfn-exec-role-${ACC}-${REGION}`;
const OPERATOR = `arn:aws:iam::${ACC}:role/aws-reserved/sso.amazonaws.com/us-east-1/AWSReservedSSO_SREOperator_fedcba9876543210`;

const env = { region: REGION, account: ACC, stackName: stack.stackName };
const rules = Object.entries(template.Resources)
  .filter(([id, r]) => r.Type === 'AWS::Events::Rule' && id.startsWith('TamperAlarms'))
  .map(([id, r]) => ({ id, pattern: resolveIntrinsics(r.Properties!.EventPattern, template.Resources, placeholderRef(env), env) }));
const matching = (event: object) => rules.filter((r) => matchesPattern(r.pattern, event)).map((r) => r.id.replace(/^TamperAlarms/, '').replace(/[0-9A-F]{8}$/, '').replace(/\d+$/, ''));

// ---- sample CloudTrail events
const roleSession = (roleArn: string, extra: object = {}) => ({
  type: 'AssumedRole',
  arn: roleArn.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/').replace(/\/[^/]*\/?$/, (s) => `${s}/session`),
  accountId: ACC,
  sessionContext: { sessionIssuer: { type: 'Role', arn: roleArn, accountId: ACC } },
  ...extra,
});
const admin = roleSession(`arn:aws:iam::${ACC}:role/Admin`);
const cloudFormation = roleSession(DEPLOY_ROLE, { invokedBy: 'cloudformation.amazonaws.com' });
const lookAlike = roleSession(`arn:aws:iam::${ACC}:role/cdk-anything-cfn-exec-role-${ACC}-${REGION}`);
const root = { type: 'Root', arn: `arn:aws:iam::${ACC}:root`, accountId: ACC };
const iamUser = { type: 'IAMUser', arn: `arn:aws:iam::${ACC}:user/dev`, accountId: ACC, userName: 'dev' };
const operator = roleSession(OPERATOR);
const call = (source: string, eventName: string, requestParameters: object, userIdentity: object) => ({
  version: '0',
  source: `aws.${source}`,
  'detail-type': 'AWS API Call via CloudTrail',
  account: ACC,
  region: REGION,
  detail: { eventVersion: '1.09', eventSource: `${source}.amazonaws.com`, eventName, eventTime: '2026-01-01T00:00:00Z', eventID: 'e-1', requestParameters, userIdentity },
});

const value = (token: string) => m.value(token);
const reprocessName = value(stack.reprocess.function.functionName);
const reprocessArn = value(stack.reprocess.function.functionArn);
const appRoleArn = value(stack.reprocess.function.role!.roleArn);
const appRoleName = appRoleArn.split('/').pop()!;

describe('which changes page (sample CloudTrail events against the synthesized patterns)', () => {
  test.each([
    ['an administrator replaces the code of reprocess (by name)', call('lambda', 'UpdateFunctionCode20150331v2', { functionName: reprocessName }, admin), ['LambdaFunctions']],
    ['an administrator replaces the code of reprocess (by ARN)', call('lambda', 'UpdateFunctionCode20150331v2', { functionName: reprocessArn }, admin), ['LambdaFunctions']],
    ['the root user changes reprocess\'s configuration', call('lambda', 'UpdateFunctionConfiguration20150331v2', { functionName: reprocessName }, root), ['LambdaFunctions']],
    ['an IAM user publishes a version', call('lambda', 'PublishVersion20150331', { functionName: reprocessName }, iamUser), ['LambdaFunctions']],
    ['a role named like the deploy role changes code', call('lambda', 'UpdateFunctionCode20150331v2', { functionName: reprocessName }, lookAlike), ['LambdaFunctions']],
    ['someone creates a function that runs as an app role', call('lambda', 'CreateFunction20150331', { functionName: 'mine', role: appRoleArn }, admin), ['LambdaRoles']],
    ['someone creates a state machine that runs as an app role', call('states', 'CreateStateMachine', { name: 'mine', roleArn: appRoleArn }, admin), ['StateMachineRoles']],
    ['the params key policy is replaced', call('kms', 'PutKeyPolicy', { keyId: value(stack.paramsKey.key.keyId), policyName: 'default' }, admin), ['Keys']],
    ['a grant is made on the log key (by ARN)', call('kms', 'CreateGrant', { keyId: value(stack.paramLog.key.keyArn) }, admin), ['Keys']],
    ['the params key is scheduled for deletion', call('kms', 'ScheduleKeyDeletion', { keyId: value(stack.paramsKey.key.keyId) }, admin), ['Keys']],
    ['the log bucket policy is replaced', call('s3', 'PutBucketPolicy', { bucketName: value(stack.paramLog.bucket.bucketName) }, admin), ['Buckets']],
    ['the log bucket gets replication', call('s3', 'PutBucketReplication', { bucketName: value(stack.paramLog.bucket.bucketName) }, admin), ['Buckets']],
    ['the spool policy is changed', call('sqs', 'SetQueueAttributes', { queueUrl: value(stack.spool.queue.queueUrl) }, admin), ['Queues']],
    ['a Firehose destination is redirected', call('firehose', 'UpdateDestination', { deliveryStreamName: value(stack.paramLog.clientStream.deliveryStreamName) }, admin), ['DeliveryStreams']],
    ['a workflow is rewritten', call('states', 'UpdateStateMachine', { stateMachineArn: value([...stack.workflows.values()][0].stateMachine.stateMachineArn) }, admin), ['StateMachines']],
    ['an app role gets a new inline policy', call('iam', 'PutRolePolicy', { roleName: appRoleName, policyName: 'x' }, admin), ['Roles']],
    ['an app role trusts someone new', call('iam', 'UpdateAssumeRolePolicy', { roleName: appRoleName }, admin), ['Roles']],
    ['an administrator invokes reprocess', call('lambda', 'Invoke', { functionName: reprocessArn }, admin), ['ReprocessInvoke']],
    // what would blind the alarm
    ['someone stops the logging of a trail (any trail: it may be the organization\'s)', call('cloudtrail', 'StopLogging', { name: 'org-trail' }, admin), ['Trails']],
    ['someone narrows a trail\'s event selectors', call('cloudtrail', 'PutEventSelectors', { trailName: 'org-trail' }, admin), ['Trails']],
    ['someone deletes one of the alarm rules', call('events', 'DeleteRule', { name: `${stack.stackName}-TamperAlarmsKeys44FDAFA1-1A2B3C4D5E6F` }, admin), ['AlarmRules']],
    ['someone removes the alert topic as a target', call('events', 'RemoveTargets', { rule: `${stack.stackName}-TamperAlarmsBuckets9B27ABA4-1A2B3C4D5E6F`, ids: ['Target0'] }, admin), ['AlarmTargets']],
    ['someone rewrites the alert topic\'s policy', call('sns', 'SetTopicAttributes', { topicArn: value(stack.alerts.topic.topicArn), attributeName: 'Policy' }, admin), ['AlertTopic']],
  ])('%s: pages', (_what, event, expected) => {
    expect(matching(event)).toEqual(expected);
  });

  test.each([
    ['CloudFormation (the deploy role) updates code', call('lambda', 'UpdateFunctionCode20150331v2', { functionName: reprocessName }, cloudFormation)],
    ['CloudFormation replaces the key policy', call('kms', 'PutKeyPolicy', { keyId: value(stack.paramsKey.key.keyId) }, cloudFormation)],
    ['CloudFormation changes a role policy', call('iam', 'PutRolePolicy', { roleName: appRoleName }, cloudFormation)],
    ['CloudFormation updates the stage\'s trail', call('cloudtrail', 'PutEventSelectors', { trailName: 'x' }, cloudFormation)],
    ['somebody deletes a rule that is not the alarm\'s', call('events', 'DeleteRule', { name: 'SomebodyElsesRule' }, admin)],
    ['an operator invokes reprocess', call('lambda', 'Invoke', { functionName: reprocessArn }, operator)],
    ['somebody changes a function that is not the app\'s', call('lambda', 'UpdateFunctionCode20150331v2', { functionName: 'SomebodyElses' }, admin)],
    ['somebody reads a function', call('lambda', 'GetFunction20150331v2', { functionName: reprocessName }, admin)],
    ['somebody changes another bucket\'s policy', call('s3', 'PutBucketPolicy', { bucketName: 'other-bucket' }, admin)],
    ['somebody creates a function with a role of their own', call('lambda', 'CreateFunction20150331', { functionName: 'mine', role: `arn:aws:iam::${ACC}:role/Mine` }, admin)],
  ])('%s: does not page', (_what, event) => {
    expect(matching(event)).toEqual([]);
  });
});

describe('the rules (CDK assertions)', () => {
  test('every rule reads CloudTrail management events and exempts exactly the deploy role (or the operators)', () => {
    expect(rules.length).toBeGreaterThanOrEqual(10);
    for (const r of rules) {
      const p = r.pattern as { 'detail-type': string[]; detail: { userIdentity: { $or: unknown[] } } };
      expect(JSON.stringify(p).length).toBeLessThan(EVENT_PATTERN_MAX_CHARS);
      expect(p['detail-type']).toEqual(['AWS API Call via CloudTrail']);
      expect(p.detail.userIdentity.$or).toEqual([
        { type: [{ 'anything-but': ['AssumedRole'] }] },
        { sessionContext: { sessionIssuer: { arn: [{ 'anything-but': [r.id.includes('ReprocessInvoke') ? OPERATOR : DEPLOY_ROLE] }] } } },
      ]);
    }
  });

  test('each rule publishes to the alert topic with a role only EventBridge of this account assumes', () => {
    const topic = m.logicalId(stack.alerts.topic);
    const role = m.logicalId(stack.tamperAlarms.publishRole);
    for (const r of rules) {
      expect(template.Resources[r.id].Properties!.Targets).toEqual([expect.objectContaining({ Arn: { Ref: topic }, RoleArn: { 'Fn::GetAtt': [role, 'Arn'] }, InputTransformer: expect.anything() })]);
    }
    t.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'events.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } })] },
    });
  });

  test('the trail logs management events and the reprocess function\'s invocations (data events), nothing else', () => {
    t.resourceCountIs('AWS::CloudTrail::Trail', 1);
    const trail = Object.values(template.Resources).find((r) => r.Type === 'AWS::CloudTrail::Trail')!.Properties!;
    expect(trail.EventSelectors).toBeUndefined();
    expect(trail.AdvancedEventSelectors).toEqual([
      { Name: 'Management events', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }] },
      {
        Name: 'Reprocess invocations',
        FieldSelectors: [
          { Field: 'eventCategory', Equals: ['Data'] },
          { Field: 'resources.type', Equals: ['AWS::Lambda::Function'] },
          { Field: 'resources.ARN', Equals: [{ 'Fn::GetAtt': [m.logicalId(stack.reprocess.function), 'Arn'] }] },
        ],
      },
    ]);
    expect(trail.IncludeGlobalServiceEvents).toBe(true);
  });

  test('without audit.trail no trail is made (an existing trail is expected to log)', () => {
    const plain = synthApp(undefined, 'NoTrail');
    expect(Object.values(plain.template.Resources).filter((r) => r.Type === 'AWS::CloudTrail::Trail')).toEqual([]);
    expect(Object.keys(plain.template.Resources).filter((id) => id.startsWith('TamperAlarms') && plain.template.Resources[id].Type === 'AWS::Events::Rule').length).toBe(rules.length);
  });

  test('cdk-nag finds nothing unacknowledged with the trail', () => {
    const report = new AwsSolutionsChecks().validateScope(stack) as unknown as { violations: Array<{ ruleName: string; violatingResources: Array<{ constructPath: string }> }> };
    expect(report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} @ ${r.constructPath}`))).toEqual([]);
  });
});

test('with no operator configured, every invoke of reprocess pages (no empty anything-but, which EventBridge refuses)', () => {
  const none = synthApp((c) => ({ ...c, operators: {} }), 'NoOperators');
  const [id, rule] = Object.entries(none.template.Resources).find(([k, r]) => r.Type === 'AWS::Events::Rule' && k.includes('ReprocessInvoke'))!;
  const pattern = resolveIntrinsics(rule.Properties!.EventPattern, none.template.Resources, placeholderRef(env), env) as { detail: Record<string, unknown> };
  expect(id).toMatch(/^TamperAlarmsReprocessInvoke/);
  expect(pattern.detail.userIdentity).toBeUndefined();
  const name = new IamModel(none.stack, none.template).value(none.stack.reprocess.function.functionName);
  expect(matchesPattern(pattern, call('lambda', 'Invoke', { functionName: name }, operator))).toBe(true);
  expect(JSON.stringify(none.template)).not.toContain('"anything-but":[]');
});

describe('patterns stay under the EventBridge size quota once deployed', () => {
  const change: WatchedChange = {
    id: 'X',
    source: 'aws.lambda',
    eventSource: 'lambda.amazonaws.com',
    eventNames: ['UpdateFunctionCode*'],
    field: 'functionName',
    match: 'suffix',
    values: Array.from({ length: 40 }, (_, i) => `fn-${i}`),
    valueMaxLength: 64,
    exempt: [DEPLOY_ROLE],
  };

  test('values are split so that each pattern, with every value at its longest, fits', () => {
    const chunks = chunkValues(change);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.flat()).toEqual(change.values);
    for (const c of chunks) {
      const longest = JSON.stringify(changePattern({ ...change, exempt: ['x'.repeat(120)] }, c.map(() => 'x'.repeat(64))));
      expect(longest.length).toBeLessThanOrEqual(EVENT_PATTERN_MAX_CHARS);
    }
  });

  test('the synthesized lambda rules hold every function of the app between them', () => {
    const names = rules.filter((r) => /LambdaFunctions/.test(r.id)).flatMap((r) => (r.pattern as { detail: { requestParameters: { functionName: Array<{ suffix: string }> } } }).detail.requestParameters.functionName.map((f) => f.suffix));
    expect(names.length).toBe(Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function').length);
  });
});

describe('code signing (config audit.codeSigningProfileVersionArn)', () => {
  const PROFILE = `arn:aws:signer:${REGION}:${ACC}:/signing-profiles/ScheduledJobs/abcdef0123`;
  const signed = synthApp((c) => ({ ...c, audit: { codeSigningProfileVersionArn: PROFILE } }), 'SignedTest');

  test('one configuration trusts exactly the profile and refuses unsigned or foreign code', () => {
    Template.fromJSON(signed.template).resourcePropertiesCountIs('AWS::Lambda::CodeSigningConfig', { AllowedPublishers: { SigningProfileVersionArns: [PROFILE] }, CodeSigningPolicies: { UntrustedArtifactOnDeployment: 'Enforce' } }, 1);
  });

  test('every function of the stack requires it', () => {
    const csc = Object.keys(signed.template.Resources).find((id) => signed.template.Resources[id].Type === 'AWS::Lambda::CodeSigningConfig')!;
    const functions = Object.values(signed.template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(10);
    for (const f of functions) expect(f.Properties!.CodeSigningConfigArn).toEqual({ 'Fn::GetAtt': [csc, 'CodeSigningConfigArn'] });
  });

  test('cdk-nag finds nothing unacknowledged with code signing', () => {
    const report = new AwsSolutionsChecks().validateScope(signed.stack) as unknown as { violations: Array<{ ruleName: string; violatingResources: Array<{ constructPath: string }> }> };
    expect(report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} @ ${r.constructPath}`))).toEqual([]);
  });

  test('without it no function requires signed code', () => {
    expect(Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function' && r.Properties!.CodeSigningConfigArn)).toEqual([]);
  });
});
