import * as iam from 'aws-cdk-lib/aws-iam';
import { IamModel, Principal } from './support/iam-harness';
import { withHighVolumeJob } from './support/fixture-config';
import { synthApp } from './support/synth-app';

/**
 * Who can read the newer stores of task params (issue 18's lock): the step-results table (steps'
 * outputs) and the high-volume Map Run results bucket (children's inputs: task envelopes). Reading
 * either takes the data-plane read AND kms:Decrypt of the params key through that service (DynamoDB
 * with the table's name as encryption context; S3 for SSE-KMS objects). Every role the stack
 * synthesizes is put through the IAM engine with its own identity policies and the key policy: only
 * the roles whose job it is may do both. A new grant (a broad `grantDecrypt`, a `dynamodb:*`, an
 * `s3:GetObject` on the bucket) that would let another of the app's roles in fails here by name.
 */
const { stack, template } = synthApp(withHighVolumeJob, 'ParamsStoresReaders');
const m = new IamModel(stack, template);
const REGION = m.region;
const ACC = m.account;
const paramsKey = m.value(stack.paramsKey.key.keyArn);
const table = m.value(stack.stepResults.table.tableArn);
const tableName = m.value(stack.stepResults.table.tableName);

const roleIds = Object.entries(template.Resources)
  .filter(([, r]) => r.Type === 'AWS::IAM::Role')
  .map(([id]) => id);
const roles = new Map(stack.node.findAll().filter((c): c is iam.Role => c instanceof iam.Role).map((r) => [m.logicalId(r), r]));
const principalOf = (id: string): Principal => {
  const r = roles.get(id);
  if (!r) throw new Error(`role ${id} of the template is no iam.Role construct: model it here`);
  return m.role(r);
};

const stepRoleIds = new Set([...stack.workflows.values()].flatMap((w) => [...w.stepFunctions.values()].map((fn) => m.logicalId(fn.role!))));

async function allowed(p: Principal, action: string, resource: string, context: Record<string, string | string[]>): Promise<boolean> {
  return (await m.evaluate(p, action, resource, context)).result === 'Allowed';
}

test('the fixture has step roles and a high-volume job to check', () => {
  expect(stepRoleIds.size).toBeGreaterThan(1);
  expect(stack.highVolume.size).toBeGreaterThan(0);
  expect(roleIds.length).toBeGreaterThan(stepRoleIds.size);
});

test('of all the stack\'s roles, only the step roles can both GetItem a step record and decrypt it through DynamoDB', async () => {
  const readers: string[] = [];
  for (const id of roleIds) {
    const p = principalOf(id);
    // Any job's record: each step role reads its own job's (test/step-results-table.test.ts).
    const jobs = [...stack.workflows.keys()];
    let get = false;
    for (const job of jobs) get ||= await allowed(p, 'dynamodb:GetItem', table, { 'dynamodb:LeadingKeys': [`idem#${job}#AbC+/0=`] });
    const decrypt = await allowed(p, 'kms:Decrypt', paramsKey, { 'kms:ViaService': `dynamodb.${REGION}.amazonaws.com`, 'kms:EncryptionContext:aws:dynamodb:tableName': tableName });
    if (get && decrypt) readers.push(id);
  }
  expect(readers.sort()).toEqual([...stepRoleIds].sort());
});

describe.each([...stack.highVolume.entries()])('Map Run results of %s', (job, hv) => {
  const object = m.value(hv.resultsBucket.arnForObjects(`${hv.resultsPrefix}/run-1/FAILED_0.json`));
  const viaS3 = { 'kms:ViaService': `s3.${REGION}.amazonaws.com`, 'kms:EncryptionContext:aws:s3:arn': m.value(hv.resultsBucket.bucketArn) };

  // The parent's own role is the ResultWriter (the CDK grants it the S3 actions, GetObject among
  // them): it held the same envelopes as its execution data already.
  test('only its post-map Lambda and the parent itself can both GetObject a result file and decrypt it through S3', async () => {
    const readers: string[] = [];
    for (const id of roleIds) {
      const p = principalOf(id);
      if ((await allowed(p, 's3:GetObject', object, {})) && (await allowed(p, 'kms:Decrypt', paramsKey, viaS3))) readers.push(id);
    }
    expect(readers.sort()).toEqual([m.logicalId(hv.mapFailuresFunction.role!), m.logicalId(hv.stateMachine.role)].sort());
  });

  test('an administrator of the account, or a role named like the post-map Lambda\'s in another account, cannot decrypt a result file', async () => {
    const admin = m.outsideRole(`arn:aws:iam::${ACC}:role/Admin`, [{ Effect: 'Allow', Action: '*', Resource: '*' }], 'account administrator');
    const reader = m.value(hv.mapFailuresFunction.role!.roleArn);
    const lookAlike = m.outsideRole(reader.replace(`:${ACC}:`, ':999999999999:'), [{ Effect: 'Allow', Action: '*', Resource: '*' }], `${job}: look-alike of the post-map role, other account`);
    expect((await m.evaluate(admin, 'kms:Decrypt', paramsKey, viaS3)).result).toBe('ExplicitlyDenied');
    expect((await m.evaluate(lookAlike, 'kms:Decrypt', paramsKey, viaS3)).result).not.toBe('Allowed');
    expect((await m.evaluate(lookAlike, 's3:GetObject', object, {})).result).not.toBe('Allowed');
  });
});

describe('reader roles (config) and their look-alikes in another account', () => {
  const ADMIN = [{ Effect: 'Allow', Action: '*', Resource: '*' }];
  const readerArn = stack.paramsKey.readerRoleArnPatterns[0];
  const viaDynamo = { 'kms:ViaService': `dynamodb.${REGION}.amazonaws.com`, 'kms:EncryptionContext:aws:dynamodb:tableName': tableName };

  test('a role named like a reader in another account cannot decrypt a step record or a Map Run result, whatever its own policies', async () => {
    const lookAlike = m.outsideRole(readerArn.replace(`:${ACC}:`, ':999999999999:'), ADMIN, 'reader look-alike, other account');
    expect(lookAlike.id).not.toBe(readerArn);
    expect((await m.evaluate(lookAlike, 'kms:Decrypt', paramsKey, viaDynamo)).result).not.toBe('Allowed');
    for (const hv of stack.highVolume.values()) {
      expect((await m.evaluate(lookAlike, 'kms:Decrypt', paramsKey, { 'kms:ViaService': `s3.${REGION}.amazonaws.com`, 'kms:EncryptionContext:aws:s3:arn': m.value(hv.resultsBucket.bucketArn) })).result).not.toBe('Allowed');
    }
  });

  test('a reader with no kms:Decrypt of its own cannot decrypt a step record (the key policy lets readers through SQS and Step Functions only)', async () => {
    const reader = m.outsideRole(readerArn, [{ Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:Scan', 's3:GetObject', 'states:*', 'sqs:*'], Resource: '*' }], 'reader (read-only permission set)');
    expect((await m.evaluate(reader, 'kms:Decrypt', paramsKey, viaDynamo)).result).not.toBe('Allowed');
    expect((await m.evaluate(reader, 'kms:Decrypt', paramsKey, { 'kms:ViaService': `sqs.${REGION}.amazonaws.com` })).result).toBe('Allowed');
  });

  test('a reader whose own permission set allows kms:Decrypt (AdministratorAccess) can decrypt a step record: the key policy exempts readers from its deny (docs/security.md says so)', async () => {
    const reader = m.outsideRole(readerArn, ADMIN, 'reader (AdministratorAccess)');
    expect((await m.evaluate(reader, 'kms:Decrypt', paramsKey, viaDynamo)).result).toBe('Allowed');
  });
});
