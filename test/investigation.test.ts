import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { resolve } from 'node:path';
import { Investigation, ATHENA_ENGINE } from '../lib/investigation';
import { ParamLog } from '../lib/param-log';
import { Alerts } from '../lib/alerts';
import { PARAM_LOG_COLUMNS } from '../lambdas/shared/param-log';
import { SAVED_QUERIES } from '../lambdas/shared/queries';
import { KEY_DECRYPT_ACTIONS, OBJECT_READ_ACTIONS } from '../lib/param-log-access';

const READER = 'arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/us-east-1/AWSReservedSSO_SREReadOnly_0123456789abcdef';
const SETTINGS = {
  bytesScannedCutoffPerQuery: 2_000_000_000,
  resultsExpirationDays: 9,
  firstLogYear: 2025,
  lostTaskMonitorSchedule: 'cron(30 6 * * ? *)',
};

function synth(): { template: Template; stack: Stack; inv: Investigation; log: ParamLog; alerts: Alerts } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new Stack(app, 'InvTest', { env: { account: '123456789012', region: 'ap-northeast-1' } });
  const log = new ParamLog(stack, 'ParamLog', { timeZone: 'Asia/Tokyo', bufferSeconds: 60, bufferMiB: 64 });
  const alerts = new Alerts(stack, 'Alerts', { alerts: { emails: ['oncall@example.com', 'lead@example.com'], topicArn: null, notifyOk: true } });
  const inv = new Investigation(stack, 'Investigation', {
    projectRoot: resolve(__dirname, '..'),
    timeZone: 'Asia/Tokyo',
    bucket: log.bucket,
    key: log.key,
    recordMacKey: log.macKey,
    writerRoles: log.writerRoles,
    clientPrefix: log.clientPrefix,
    workerPrefix: log.workerPrefix,
    readerRoleArnPatterns: [READER],
    alerts,
    settings: SETTINGS,
  });
  return { template: Template.fromStack(stack, { skipCyclicalDependenciesCheck: false }), stack, inv, log, alerts };
}

const { template, stack, inv, log, alerts } = synth();
const logBucketRef = stack.resolve(log.bucket.bucketName);

describe('Glue tables', () => {
  test('database name derives from the stack name (deploys twice), tables are in it', () => {
    template.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: { Name: 'invtest_param_log' } });
    expect(inv.databaseName).toBe('invtest_param_log');
  });

  test.each([
    ['client_log', 'client/'],
    ['worker_log', 'worker/'],
  ])('%s declares every record column in order, OpenX SerDe, string partitions and projection on %s', (name, prefix) => {
    const tables = template.findResources('AWS::Glue::Table', { Properties: { TableInput: { Name: name } } });
    const [table] = Object.values(tables);
    expect(table).toBeDefined();
    const input = table.Properties.TableInput;
    expect(input.StorageDescriptor.Columns.map((c: { Name: string }) => c.Name)).toEqual([...PARAM_LOG_COLUMNS]);
    expect(input.StorageDescriptor.Columns.find((c: { Name: string }) => c.Name === 'time').Type).toBe('timestamp');
    expect(input.StorageDescriptor.Columns.find((c: { Name: string }) => c.Name === 'attempt').Type).toBe('int');
    expect(input.StorageDescriptor.SerdeInfo.SerializationLibrary).toBe('org.openx.data.jsonserde.JsonSerDe');
    expect(input.PartitionKeys).toEqual([
      { Name: 'year', Type: 'string' },
      { Name: 'month', Type: 'string' },
      { Name: 'day', Type: 'string' },
    ]);
    const p = input.Parameters;
    expect(p['projection.enabled']).toBe('true');
    expect(p['projection.year.range']).toBe('2025,NOW+1DAYS');
    expect(p['projection.year.format']).toBe('yyyy');
    expect(p['projection.month.digits']).toBe('2');
    expect(p['projection.day.digits']).toBe('2');
    expect(p['projection.month.range']).toBe('1,12');
    expect(p['projection.day.range']).toBe('1,31');
    expect(p['storage.location.template']).toEqual({
      'Fn::Join': ['', ['s3://', logBucketRef, `/${prefix}year=\${year}/month=\${month}/day=\${day}/`]],
    });
    expect(input.StorageDescriptor.Location).toEqual({ 'Fn::Join': ['', ['s3://', logBucketRef, `/${prefix}`]] });
  });
});

test('workgroup: engine v3, enforced encrypted result location, cutoff from config', () => {
  template.hasResourceProperties('AWS::Athena::WorkGroup', {
    Name: 'InvTest-investigation',
    WorkGroupConfiguration: {
      EnforceWorkGroupConfiguration: true,
      BytesScannedCutoffPerQuery: SETTINGS.bytesScannedCutoffPerQuery,
      EngineVersion: { SelectedEngineVersion: ATHENA_ENGINE },
      ResultConfiguration: {
        OutputLocation: { 'Fn::Join': ['', ['s3://', { Ref: Match.stringLikeRegexp('ResultsBucket') }, '/athena/']] },
        EncryptionConfiguration: { EncryptionOption: 'SSE_KMS', KmsKey: stack.resolve(log.key.keyArn) },
      },
    },
  });
});

test('results bucket: KMS, public access blocked, TLS only, objects expire after the configured days', () => {
  const id = stack.getLogicalId(inv.resultsBucket.node.defaultChild as never);
  const bucket = template.toJSON().Resources[id];
  expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
  expect(bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('aws:kms');
  expect(bucket.Properties.LifecycleConfiguration.Rules).toEqual(expect.arrayContaining([expect.objectContaining({ ExpirationInDays: 9, Status: 'Enabled' })]));
  template.hasResourceProperties('AWS::S3::BucketPolicy', {
    Bucket: { Ref: id },
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
  });
});

test('every saved query is a named query in the workgroup and database, with its exact SQL', () => {
  const queries = template.findResources('AWS::Athena::NamedQuery');
  expect(Object.keys(queries)).toHaveLength(SAVED_QUERIES.length);
  for (const q of SAVED_QUERIES) {
    template.hasResourceProperties('AWS::Athena::NamedQuery', {
      Name: q.name,
      QueryString: q.sql,
      Database: 'invtest_param_log',
      WorkGroup: { Ref: Match.stringLikeRegexp('WorkGroup') },
    });
    // The console user needs to know what each `?` is.
    expect(q.description).toMatch(/Parameters: /);
    expect(q.sql.split('?').length - 1).toBe(q.params.length);
  }
});

test('monitor schedule runs in the app time zone with the configured cron and passes the tick', () => {
  template.hasResourceProperties('AWS::Scheduler::Schedule', {
    ScheduleExpression: 'cron(30 6 * * ? *)',
    ScheduleExpressionTimezone: 'Asia/Tokyo',
    Target: {
      Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('LostTaskMonitorFunction'), 'Arn'] },
      Input: JSON.stringify({ scheduledTime: '<aws.scheduler.scheduled-time>' }),
      RetryPolicy: { MaximumRetryAttempts: 2 },
      DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('LostTaskMonitorDeadLetterQueue'), 'Arn'] } },
    },
    FlexibleTimeWindow: { Mode: 'OFF' },
  });
  template.hasResourceProperties('AWS::Lambda::Function', {
    Timeout: 900, // the query's 240 s deadline, then reading and verifying the day's records
    Environment: { Variables: Match.objectLike({ QUERY_DEADLINE_SECONDS: '240', APP_TIME_ZONE: 'Asia/Tokyo', WORKGROUP: 'InvTest-investigation', DATABASE: 'invtest_param_log' }) },
  });
});

test('alarms: lost count > 0 on the metric the handler publishes, and monitor errors, both to the encrypted TLS-only topic with the operator emails', () => {
  const topicId = stack.getLogicalId(alerts.topic.node.defaultChild as never);
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'LostTasks',
    Namespace: 'ScheduledJobs/ParamLog',
    Dimensions: Match.arrayWith([{ Name: 'WorkGroup', Value: 'InvTest-investigation' }, { Name: 'service', Value: 'lost-task-monitor' }]),
    ComparisonOperator: 'GreaterThanThreshold',
    Threshold: 0,
    Period: 86400,
    AlarmActions: [{ Ref: topicId }],
  });
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'Errors',
    Namespace: 'AWS/Lambda',
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    Threshold: 1,
    AlarmActions: [{ Ref: topicId }],
  });
  // A monitor that never runs would report nothing, which is not the same as 0 lost.
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'Invocations',
    Namespace: 'AWS/Lambda',
    ComparisonOperator: 'LessThanThreshold',
    Threshold: 1,
    Period: 86400,
    EvaluationPeriods: 2,
    TreatMissingData: 'breaching',
    AlarmActions: [{ Ref: topicId }],
  });
  template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  template.hasResourceProperties('AWS::SNS::TopicPolicy', {
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
  });
  const emails = Object.values(template.findResources('AWS::SNS::Subscription')).map((s) => s.Properties.Endpoint);
  expect(emails.sort()).toEqual(['lead@example.com', 'oncall@example.com']);
});

describe('record MACs', () => {
  const keyId = () => stack.getLogicalId(log.macKey.key.node.defaultChild as never);
  const monitorRoleArn = () => stack.resolve(inv.monitor.function.role!.roleArn);

  test('the record key is a KMS HMAC_256 key for GenerateMac/VerifyMac, retained with the log', () => {
    template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }),
      DeletionPolicy: 'Retain',
    });
  });

  test('the monitor may VerifyMac (never GenerateMac) on that key, and gets its ARN in its environment', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [stack.resolve(inv.monitor.function.role!.roleName)],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'kms:VerifyMac', Effect: 'Allow', Resource: { 'Fn::GetAtt': [keyId(), 'Arn'] } })]) },
    });
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([stack.resolve(inv.monitor.function.role!.roleName)]));
    expect(JSON.stringify(policies)).not.toContain('kms:GenerateMac');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ RECORD_MAC_KEY_ID: { 'Fn::GetAtt': [keyId(), 'Arn'] } }) },
    });
  });

  test('the key policy denies VerifyMac to every principal but the monitor role (exact ARN, no pattern)', () => {
    const key = template.findResources('AWS::KMS::Key')[keyId()];
    const deny = key.Properties.KeyPolicy.Statement.find((s: { Sid?: string }) => s.Sid === 'DenyVerifyMacExceptVerifiers');
    expect(deny).toMatchObject({ Effect: 'Deny', Action: 'kms:VerifyMac', Principal: { AWS: '*' } });
    expect(deny.Condition.StringNotEquals['aws:PrincipalArn']).toEqual([monitorRoleArn()]);
    // No writer function in this stack: nobody is exempt from the GenerateMac deny.
    const gen = key.Properties.KeyPolicy.Statement.find((s: { Sid?: string }) => s.Sid === 'DenyGenerateMacExceptWriters');
    expect(JSON.stringify(gen.Condition.StringNotEquals['aws:PrincipalArn'])).toContain('key/no-principal');
  });

  test('forged records page: ForgedRecords > 0 on the metric the handler publishes, to the alert topic', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ForgedRecords',
      Namespace: 'ScheduledJobs/ParamLog',
      Dimensions: Match.arrayWith([{ Name: 'WorkGroup', Value: 'InvTest-investigation' }, { Name: 'service', Value: 'lost-task-monitor' }]),
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      AlarmActions: [{ Ref: stack.getLogicalId(alerts.topic.node.defaultChild as never) }],
    });
  });
});

describe('parameter-log access', () => {
  const logBucketId = stack.getLogicalId(log.bucket.node.defaultChild as never);
  const policyOf = (bucketId: string) => {
    const [p] = Object.values(template.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: { Ref: bucketId } } }));
    return p.Properties.PolicyDocument.Statement as Array<Record<string, any>>;
  };
  const roleArn = (r: { roleArn: string }) => stack.resolve(r.roleArn);
  const monitorRoleArn = () => roleArn(inv.monitor.function.role!);

  test('log bucket denies object reads to every principal that is not a reader pattern, a Firehose writer or the monitor', () => {
    const deny = policyOf(logBucketId).find((s) => s.Sid === 'DenyReadParamLogExceptNamedRoles')!;
    expect(deny).toBeDefined();
    expect(deny.Effect).toBe('Deny');
    expect(deny.Principal).toEqual({ AWS: '*' });
    expect(deny.Action).toEqual(expect.arrayContaining(['s3:GetObject', 's3:GetObjectVersion']));
    // Only reads: CloudFormation must still manage the bucket and its policy.
    expect(deny.Action).not.toContain('s3:*');
    expect(deny.Action.some((a: string) => /Policy|Put|Delete/.test(a))).toBe(false);
    const exempt = deny.Condition.StringNotEquals['aws:PrincipalArn'];
    expect(exempt).toEqual(expect.arrayContaining([READER, ...log.writerRoles.map(roleArn), monitorRoleArn()]));
    expect(exempt).toHaveLength(1 + log.writerRoles.length + 1);
  });

  test('reader roles get read on the log prefixes, only from this account', () => {
    const allow = policyOf(logBucketId).find((s) => s.Sid === 'AllowReaderRolesRead')!;
    expect(allow.Effect).toBe('Allow');
    expect(allow.Condition).toEqual({ StringEquals: { 'aws:PrincipalArn': [READER], 'aws:PrincipalAccount': '123456789012' } });
  });

  test('results bucket: same deny (results hold params), readers may write and read their results', () => {
    const id = stack.getLogicalId(inv.resultsBucket.node.defaultChild as never);
    const stmts = policyOf(id);
    const deny = stmts.find((s) => s.Sid === 'DenyReadResultsExceptNamedRoles')!;
    expect(deny.Action).toEqual(OBJECT_READ_ACTIONS);
    expect(deny.Condition.StringNotEquals['aws:PrincipalArn']).toEqual(expect.arrayContaining([READER, monitorRoleArn()]));
    expect(stmts.find((s) => s.Sid === 'AllowReaderRolesQueryResults')!.Action).toEqual(expect.arrayContaining(['s3:PutObject', 's3:GetObject']));
  });

  test('key policy denies decrypt to the same non-exempt principals and keeps the account root administering the key', () => {
    const keyId = stack.getLogicalId(log.key.node.defaultChild as never);
    const stmts = template.toJSON().Resources[keyId].Properties.KeyPolicy.Statement as Array<Record<string, any>>;
    const deny = stmts.find((s) => s.Sid === 'DenyDecryptExceptNamedRoles')!;
    expect(deny.Effect).toBe('Deny');
    expect(deny.Action).toEqual(KEY_DECRYPT_ACTIONS);
    expect(deny.Condition.StringNotEquals['aws:PrincipalArn']).toEqual(expect.arrayContaining([READER, ...log.writerRoles.map(roleArn), monitorRoleArn()]));
    // Root keeps kms:* (administration, CloudFormation updates) and the deny never covers admin actions.
    expect(stmts.some((s) => s.Effect === 'Allow' && s.Action === 'kms:*')).toBe(true);
    expect(deny.Action.some((a: string) => /PutKeyPolicy|\*|ScheduleKeyDeletion/.test(a))).toBe(false);
    const allow = stmts.find((s) => s.Sid === 'AllowReaderRolesDecryptThroughS3')!;
    expect(allow.Condition.StringEquals).toEqual({ 'aws:PrincipalArn': [READER], 'aws:PrincipalAccount': '123456789012', 'kms:ViaService': 's3.ap-northeast-1.amazonaws.com' });
  });

  test('monitor role: athena only in its workgroup, glue read only, s3 read only on the log prefixes', () => {
    const roleId = stack.getLogicalId(inv.monitor.function.role!.node.defaultChild as never);
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId));
    const stmts = policies.flatMap((p) => p.Properties.PolicyDocument.Statement) as Array<Record<string, any>>;
    const actions = (s: Record<string, any>) => ([] as string[]).concat(s.Action);
    const athena = stmts.find((s) => actions(s).includes('athena:StartQueryExecution'))!;
    expect(JSON.stringify(athena.Resource)).toContain(':workgroup/InvTest-investigation');
    expect(stmts.flatMap(actions).filter((a) => a.startsWith('glue:')).sort()).toEqual(['glue:GetDatabase', 'glue:GetTable']);
    const logRead = stmts.find((s) => actions(s).length === 1 && actions(s)[0] === 's3:GetObject')!;
    const res = JSON.stringify(logRead.Resource);
    expect(res).toContain('/client/*');
    expect(res).toContain('/worker/*');
    expect(stmts.flatMap(actions).some((a) => a === 's3:*' || a === 'athena:*' || a === 'glue:*')).toBe(false);
  });
});
