import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KEY_POLICY_MAX_BYTES, ParamsKey } from '../lib/params-key';
import { StepResultsTable } from '../lib/step-results-table';
import { Context, IamModel, Principal } from './support/iam-harness';
import { synthApp } from './support/synth-app';

/**
 * The step records (a step's returned output, which may hold personal data) are inside the read lock
 * (issue 18, "params never leave the lock"): their table is encrypted with the params key, expires
 * records by TTL, and each job's step roles reach their own job's records only. Reading a record
 * is DynamoDB's GetItem plus kms:Decrypt of the table key, which DynamoDB asks for with the caller's
 * permission, through DynamoDB, with the table name as encryption context (AWS KMS developer guide,
 * "How Amazon DynamoDB uses AWS KMS"): both are evaluated here by the IAM engine against the
 * synthesized identity and key policies.
 */
const { stack, template } = synthApp();
const t = Template.fromJSON(template);
const m = new IamModel(stack, template);
const ACC = m.account;
const REGION = m.region;
const tableId = m.logicalId(stack.stepResults.table);
const paramsKeyId = m.logicalId(stack.paramsKey.key);
const table = m.value(stack.stepResults.table.tableArn);
const tableName = m.value(stack.stepResults.table.tableName);
const paramsKey = m.value(stack.paramsKey.key.keyArn);
const coordination = m.value(stack.coordination.table.tableArn);
const viaDynamo = (name = tableName): Context => ({ 'kms:ViaService': `dynamodb.${REGION}.amazonaws.com`, 'kms:EncryptionContext:aws:dynamodb:tableName': name });
const stepRoles = [...stack.workflows.entries()].flatMap(([job, w]) => [...w.stepFunctions.entries()].map(([step, fn]) => ({ job, step, fn: fn as lambda.Function })));
const jobs = [...stack.workflows.keys()];
const otherJob = (job: string) => jobs.find((j) => j !== job)!;
const record = (job: string) => [`idem#${job}#AbC+/0=`];
const ADMINISTRATOR_ACCESS = [{ Effect: 'Allow', Action: '*', Resource: '*' }];
const admin = m.outsideRole(`arn:aws:iam::${ACC}:role/Admin`, ADMINISTRATOR_ACCESS, 'account administrator (AdministratorAccess)');
const firstStepArn = m.value(stepRoles[0].fn.role!.roleArn);
const lookAlike = m.outsideRole(`${firstStepArn}-copy`, ADMINISTRATOR_ACCESS, 'a role named like a step role, with AdministratorAccess');

test('the fixture has step roles of at least two jobs', () => {
  expect(new Set(stepRoles.map((s) => s.job)).size).toBeGreaterThanOrEqual(2);
});

describe('the table', () => {
  test('is encrypted with the params key, keeps point-in-time recovery, expires records by TTL on expiresAt', () => {
    t.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [paramsKeyId, 'Arn'] } },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      },
      // Replay cache of 45 days: nothing needs it once the stack is gone (lib/step-results-table.ts).
      DeletionPolicy: 'Delete',
    });
    expect(template.Resources[tableId].Properties!.SSESpecification.KMSMasterKeyId).toEqual({ 'Fn::GetAtt': [paramsKeyId, 'Arn'] });
  });

  test('keeps its logical id: a new one would replace the table and lose the records of live tasks', () => {
    expect(tableId).toBe('StepResultsTableD3ED6287');
  });

  test('every step is pointed at it, and the coordination table holds no step records any more', () => {
    for (const { fn } of stepRoles) {
      const props = template.Resources[m.logicalId(fn)].Properties!;
      expect(props.Environment.Variables.STEP_RESULTS_TABLE).toEqual({ Ref: tableId });
    }
    const coordinationGrants = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap((r) => r.Properties!.PolicyDocument.Statement as Array<{ Condition?: unknown }>)
      .filter((s) => JSON.stringify(s.Condition ?? {}).includes('idem#'));
    expect(coordinationGrants.length).toBeGreaterThan(0);
    for (const s of coordinationGrants) expect(JSON.stringify(s)).toContain(tableId);
  });

  test('grants name the job by leading key: `idem#<job>#*` for each step of that job', () => {
    for (const { job, fn } of stepRoles) {
      t.hasResourceProperties('AWS::IAM::Policy', {
        Roles: Match.arrayWith([{ Ref: m.logicalId(fn.role!) }]),
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
              Resource: { 'Fn::GetAtt': [paramsKeyId, 'Arn'] },
              Condition: { StringEquals: { 'kms:ViaService': Match.anyValue(), 'kms:EncryptionContext:aws:dynamodb:tableName': { Ref: tableId } } },
            }),
            Match.objectLike({
              Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
              Resource: { 'Fn::GetAtt': [tableId, 'Arn'] },
              Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`idem#${job}#*`] } },
            }),
          ]),
        },
      });
    }
  });
});

describe('IAM engine: reading and writing step records', () => {
  const expectVerdict = async (principal: Principal, action: string, resource: string, context: Context, result: string) => {
    const v = await m.evaluate(principal, action, resource, context);
    expect({ request: `${principal.label} ${action}`, result: v.result, ignored: v.ignored }).toEqual({ request: `${principal.label} ${action}`, result, ignored: [] });
  };

  test.each(stepRoles.map((s) => [`${s.job}/${s.step}`, s] as const))('step %s keeps its own job\'s records: Allowed', async (_name, { job, fn }) => {
    const role = m.role(fn.role!);
    for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']) {
      await expectVerdict(role, action, table, { 'dynamodb:LeadingKeys': record(job) }, 'Allowed');
    }
    for (const action of ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey']) await expectVerdict(role, action, paramsKey, viaDynamo(), 'Allowed');
  });

  test.each(stepRoles.map((s) => [`${s.job}/${s.step}`, s] as const))('step %s reads another job\'s record, scans, or uses the key elsewhere: denied', async (_name, { job, fn }) => {
    const role = m.role(fn.role!);
    for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem']) {
      expect((await m.evaluate(role, action, table, { 'dynamodb:LeadingKeys': record(otherJob(job)) })).result).not.toBe('Allowed');
    }
    expect((await m.evaluate(role, 'dynamodb:Scan', table)).result).not.toBe('Allowed');
    expect((await m.evaluate(role, 'dynamodb:Query', table, { 'dynamodb:LeadingKeys': record(job) })).result).not.toBe('Allowed');
    // The same key through another table, through SQS, or directly: not this grant.
    expect((await m.evaluate(role, 'kms:Decrypt', paramsKey, viaDynamo('SomeOtherTable'))).result).not.toBe('Allowed');
    expect((await m.evaluate(role, 'kms:Decrypt', paramsKey, { 'kms:ViaService': `sqs.${REGION}.amazonaws.com`, 'kms:EncryptionContext:aws:sqs:arn': m.value(stack.spool.queue.queueArn) })).result).not.toBe('Allowed');
    expect((await m.evaluate(role, 'kms:Decrypt', paramsKey)).result).not.toBe('Allowed');
    // And the coordination table: no step record (nor anything else of a step's) there.
    expect((await m.evaluate(role, 'dynamodb:PutItem', coordination, { 'dynamodb:LeadingKeys': record(job) })).result).not.toBe('Allowed');
  });

  test.each([
    ['an account administrator', () => admin],
    ['a role named like a step role, with AdministratorAccess', () => lookAlike],
  ] as const)('%s cannot read a step record: GetItem passes IAM, the table key\'s Decrypt through DynamoDB is denied by the key policy', async (_name, who) => {
    // DynamoDB has no resource policy here: the key is the lock, as for the queues.
    expect((await m.evaluate(who(), 'dynamodb:GetItem', table, { 'dynamodb:LeadingKeys': record(jobs[0]) })).result).toBe('Allowed');
    expect((await m.evaluate(who(), 'dynamodb:Scan', table)).result).toBe('Allowed');
    await expectVerdict(who(), 'kms:Decrypt', paramsKey, viaDynamo(), 'ExplicitlyDenied');
    await expectVerdict(who(), 'kms:ReEncryptFrom', paramsKey, viaDynamo(), 'ExplicitlyDenied');
  });

  test('control: without the key policy\'s deny, the administrator\'s Decrypt through DynamoDB is Allowed (the deny is what stops it)', async () => {
    const tpl = structuredClone(template);
    const doc = tpl.Resources[paramsKeyId].Properties!.KeyPolicy;
    const before = doc.Statement.length;
    doc.Statement = doc.Statement.filter((s: { Sid?: string }) => s.Sid !== 'DenyDecryptExceptNamedRoles');
    expect(doc.Statement.length).toBe(before - 1);
    expect((await new IamModel(stack, tpl).evaluate(admin, 'kms:Decrypt', paramsKey, viaDynamo())).result).toBe('Allowed');
  });
});

describe('the params key policy stays under KMS\'s size limit as step roles are named in it', () => {
  test('the fixture\'s estimate counts every named role at its longest deployed length', () => {
    const bytes = stack.paramsKey.estimatedPolicyBytes();
    const named = template.Resources[paramsKeyId].Properties!.KeyPolicy.Statement.find((s: { Sid?: string }) => s.Sid === 'DenyDecryptExceptNamedRoles').Condition.StringNotEquals['aws:PrincipalArn'].length;
    expect(named).toBeGreaterThanOrEqual(stepRoles.length);
    // Each role ARN at most 98 bytes deployed: more than the template's GetAtt, never less than a real ARN.
    expect(bytes).toBeGreaterThan(named * 60);
    expect(bytes).toBeLessThan(KEY_POLICY_MAX_BYTES);
  });

  test('a stack that names as many roles as CloudFormation\'s 500 resources allow still fits the key policy', () => {
    // Each named role brings at least itself and its policy: 248 roles + 496 + the key and table = 498 resources.
    const app = new App();
    const st = new Stack(app, 'Crowded', { env: { account: '111111111111', region: 'ap-northeast-1' } });
    const key = new ParamsKey(st, 'ParamsKey', { readerRoleArnPatterns: [`arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/ap-northeast-1/AWSReservedSSO_SREReadOnly_0123456789abcdef`] });
    const results = new StepResultsTable(st, 'StepResults', { paramsKey: key });
    for (let i = 0; i < 248; i++) results.grantJobRecords(new iam.Role(st, `Step${i}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') }), `job-${i % 30}`);
    expect(() => app.synth()).not.toThrow();
    expect(key.decrypters).toHaveLength(248);
    expect(key.estimatedPolicyBytes()).toBeGreaterThan(248 * 98);
    expect(key.estimatedPolicyBytes()).toBeLessThan(KEY_POLICY_MAX_BYTES);
  });
});
