import { CloudFormationClient, DescribeStacksCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { mockClient } from 'aws-sdk-client-mock';
import { runCli } from '../cli/main';
import { buildGuardrails, GUARDED_ACTIONS, GuardrailTargets, REPROCESS_INVOKE_ACTIONS, resourcesOf, SCP_MAX_CHARS } from '../lib/guardrails';
import { appResourcesOf } from '../lib/tamper-alarms';
import { GUARDRAIL_OUTPUTS } from '../lib/tamper-outputs';
import { fixtureConfig } from './support/fixture-config';
import { IamModel } from './support/iam-harness';
import { synthApp } from './support/synth-app';

/**
 * The guardrails evaluated by the IAM policy engine (@cloud-copilot/iam-simulate, which evaluates
 * SCPs and permission boundaries with the identity and resource policies): each guarded change is
 * Denied to an administrator and to a role named like the deploy role, Allowed to the deploy role;
 * reprocess may be invoked by the operator roles only.
 */

const { stack, template, config } = synthApp(undefined, 'GuardTest');
const m = new IamModel(stack, template);
const ACC = m.account;
const REGION = m.region;
const v = (token: string) => m.value(token);
const r = appResourcesOf(stack);
const DEPLOY = `arn:aws:iam::${ACC}:role/cdk-hnb659fds-cfn-exec-role-${ACC}-${REGION}`;
const OPERATOR = config.operators.roleArns[0];
const targets: GuardrailTargets = {
  partition: 'aws',
  account: ACC,
  region: REGION,
  stackName: stack.stackName,
  deployRoleArn: DEPLOY,
  operatorRoleArns: config.operators.roleArns,
  reprocessFunctionArn: v(stack.reprocess.function.functionArn),
  functionArns: r.functions.map((f) => v(f.functionArn)),
  roleArns: r.roles.map((x) => v(x.roleArn)),
  keyArns: r.keys.map((k) => v(k.keyArn)),
  bucketNames: r.buckets.map((b) => v(b.bucketName)),
  queueArns: r.queues.map((q) => v(q.queueArn)),
  deliveryStreamArns: r.deliveryStreams.map((d) => v(d.deliveryStreamArn)),
  stateMachineArns: r.stateMachines.map((s) => v(s.stateMachineArn)),
  topicArns: [v(stack.alerts.topic.topicArn)],
  trailArns: [`arn:aws:cloudtrail:${REGION}:${ACC}:trail/StageTrail`],
  boundaryPolicyName: 'ScheduledJobsGuardrail-dev',
};
const g = buildGuardrails(targets);
const ADMIN_POLICY = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';
interface Controls {
  readonly scp?: boolean;
  readonly boundary?: boolean;
}

/** One request by a role with AdministratorAccess of its own, under the SCP and/or the boundary. */
async function decide(principalArn: string, action: string, resource: string, controls: Controls, context: Record<string, string> = {}): Promise<{ result: Decision; ignored: string[] }> {
  const resourcePolicy = m.resourcePolicyFor(resource);
  const res = await runSimulation(
    {
      request: {
        principal: principalArn,
        action,
        resource: { resource, accountId: resource.split(':')[4] || ACC },
        contextVariables: { 'aws:PrincipalArn': principalArn, 'aws:PrincipalAccount': ACC, 'aws:PrincipalIsAWSService': 'false', 'aws:SecureTransport': 'true', ...context },
      },
      identityPolicies: [{ name: 'AdministratorAccess', policy: ADMIN_POLICY }],
      // One level (the account), with AWS's default FullAWSAccess next to the guardrail, as Organizations attaches it.
      serviceControlPolicies: [{ orgIdentifier: ACC, policies: [{ name: 'FullAWSAccess', policy: ADMIN_POLICY }, ...(controls.scp ? [{ name: 'Guardrail', policy: g.serviceControlPolicy }] : [])] }],
      resourceControlPolicies: [],
      ...(controls.boundary ? { permissionBoundaryPolicies: [{ name: 'Guardrail', policy: g.permissionsBoundary }] } : {}),
      ...(resourcePolicy ? { resourcePolicy } : {}),
    },
    {},
  );
  if (res.resultType !== 'single') throw new Error(`${action} ${resource}: ${JSON.stringify((res as { errors?: unknown }).errors ?? res.resultType)}`);
  return { result: res.overallResult as Decision, ignored: res.result.ignoredContextKeys ?? [] };
}

const ADMIN = `arn:aws:iam::${ACC}:role/Admin`;
const DEPLOY_LOOK_ALIKE = `arn:aws:iam::${ACC}:role/cdk-anything-cfn-exec-role-${ACC}-${REGION}`;
const OPERATOR_LOOK_ALIKE = OPERATOR.replace('AWSReservedSSO_SREOperator_', 'AWSReservedSSO_SREOperator_Admins_');

// One resource of each kind, every guarded action on it.
const samples: Array<[keyof typeof GUARDED_ACTIONS, string]> = [
  ['functions', targets.reprocessFunctionArn],
  ['roles', v(stack.reprocess.function.role!.roleArn)],
  ['keys', v(stack.paramsKey.key.keyArn)],
  ['buckets', `arn:aws:s3:::${v(stack.paramLog.bucket.bucketName)}`],
  ['queues', v(stack.spool.queue.queueArn)],
  ['deliveryStreams', v(stack.paramLog.clientStream.deliveryStreamArn)],
  ['stateMachines', v([...stack.workflows.values()][0].stateMachine.stateMachineArn)],
  ['alarmRules', `arn:aws:events:${REGION}:${ACC}:rule/${stack.stackName}-TamperAlarmsKeys44FDAFA1-1A2B3C4D5E6F`],
  ['topics', v(stack.alerts.topic.topicArn)],
  ['trails', `arn:aws:cloudtrail:${REGION}:${ACC}:trail/StageTrail`],
];
const guarded = samples.flatMap(([kind, resource]) => GUARDED_ACTIONS[kind].map((action) => [`${action} on the app's ${kind}`, action, resource] as const));

describe.each([
  ['the SCP', { scp: true }],
  ['the permissions boundary', { boundary: true }],
] as const)('%s', (_name, controls) => {
  test.each(guarded)('%s: Denied to an administrator and to a role named like the deploy role, Allowed to the deploy role', async (_n, action, resource) => {
    expect(await decide(ADMIN, action, resource, controls)).toEqual({ result: 'ExplicitlyDenied', ignored: [] });
    expect((await decide(DEPLOY_LOOK_ALIKE, action, resource, controls)).result).toBe('ExplicitlyDenied');
    // The deploy role is exempt from the guardrail: with the SCP alone it is Allowed.
    if ('scp' in controls) expect((await decide(DEPLOY, action, resource, controls)).result).toBe('Allowed');
  });

  test.each(REPROCESS_INVOKE_ACTIONS)('%s of reprocess: operators only', async (action) => {
    expect((await decide(OPERATOR, action, targets.reprocessFunctionArn, controls)).result).toBe('Allowed');
    for (const who of [ADMIN, OPERATOR_LOOK_ALIKE, DEPLOY]) expect((await decide(who, action, targets.reprocessFunctionArn, controls)).result).toBe('ExplicitlyDenied');
    expect((await decide(ADMIN, action, `${targets.reprocessFunctionArn}:1`, controls)).result).toBe('ExplicitlyDenied');
  });

  test('a grant an AWS service makes for the caller is not refused; one a person makes directly is', async () => {
    const key = v(stack.paramsKey.key.keyArn);
    expect((await decide(ADMIN, 'kms:CreateGrant', key, controls, { 'kms:GrantIsForAWSResource': 'true' })).result).toBe('Allowed');
    expect((await decide(ADMIN, 'kms:CreateGrant', key, controls, { 'kms:GrantIsForAWSResource': 'false' })).result).toBe('ExplicitlyDenied');
  });

  test('everything else stays as the role\'s own policies allow', async () => {
    expect((await decide(ADMIN, 'lambda:UpdateFunctionCode', `arn:aws:lambda:${REGION}:${ACC}:function:SomebodyElses`, controls)).result).toBe('Allowed');
    expect((await decide(ADMIN, 's3:PutBucketPolicy', 'arn:aws:s3:::somebody-elses-bucket', controls)).result).toBe('Allowed');
  });
});

test('controls: without the guardrails the administrator may do each of these (the denial is the guardrail\'s)', async () => {
  for (const [, action, resource] of guarded.filter((_, i) => i % 5 === 0)) expect((await decide(ADMIN, action, resource, {})).result).toBe('Allowed');
  expect((await decide(ADMIN, 'lambda:InvokeFunction', targets.reprocessFunctionArn, {})).result).toBe('Allowed');
});

describe('the boundary keeps itself', () => {
  const boundary = { boundary: true };
  test('a bounded person cannot make a role without the boundary, nor remove or edit it', async () => {
    const role = `arn:aws:iam::${ACC}:role/Escape`;
    expect((await decide(ADMIN, 'iam:CreateRole', role, boundary, { 'iam:PermissionsBoundary': `arn:aws:iam::${ACC}:policy/Other` })).result).toBe('ExplicitlyDenied');
    expect((await decide(ADMIN, 'iam:CreateRole', role, boundary, { 'iam:PermissionsBoundary': g.boundaryPolicyArn })).result).toBe('Allowed');
    expect((await decide(ADMIN, 'iam:DeleteRolePermissionsBoundary', role, boundary)).result).toBe('ExplicitlyDenied');
    expect((await decide(ADMIN, 'iam:CreatePolicyVersion', g.boundaryPolicyArn, boundary)).result).toBe('ExplicitlyDenied');
  });
});

describe('size and shape', () => {
  test('deployed names (`<stack>-<logical id>-<suffix>`) fold into one prefix per kind, so the SCP fits Organizations\' limit', () => {
    const name = (id: string) => `ScheduledJobs-prod-${id}-AbCdEfGh1234`;
    const many = Array.from({ length: 40 }, (_, i) => `Fn${i}`);
    const deployed: GuardrailTargets = {
      ...targets,
      stackName: 'ScheduledJobs-prod',
      functionArns: many.map((id) => `arn:aws:lambda:${REGION}:${ACC}:function:${name(id)}`),
      roleArns: many.map((id) => `arn:aws:iam::${ACC}:role/${name(id)}`),
      bucketNames: ['a', 'b'].map((id) => name(id).toLowerCase()),
      queueArns: many.map((id) => `arn:aws:sqs:${REGION}:${ACC}:${name(id)}`),
      deliveryStreamArns: ['C', 'W'].map((id) => `arn:aws:firehose:${REGION}:${ACC}:deliverystream/${name(id)}`),
    };
    const scp = buildGuardrails(deployed).serviceControlPolicy;
    expect(JSON.stringify(scp).length).toBeLessThanOrEqual(SCP_MAX_CHARS);
    expect(scp.Statement.find((s) => s.Sid === 'DenyAppChangesExceptDeployRole')!.Resource).toEqual(expect.arrayContaining([`arn:aws:lambda:${REGION}:${ACC}:function:ScheduledJobs-prod-*`, `arn:aws:iam::${ACC}:role/ScheduledJobs-prod-*`]));
  });

  test('a name that does not carry the stack prefix is listed, never widened to match anything', () => {
    expect(resourcesOf(['arn:x:ScheduledJobs-prod-a', 'arn:x:Other'], 'arn:x:ScheduledJobs-prod-')).toEqual(['arn:x:ScheduledJobs-prod-a', 'arn:x:Other']);
    expect(resourcesOf(['arn:x:f'], null, true)).toEqual(['arn:x:f', 'arn:x:f:*']);
  });

  test('the exemptions are exact ARNs compared with StringNotEquals, never a pattern', () => {
    const exemptions = g.serviceControlPolicy.Statement.flatMap((s) => Object.values((s.Condition ?? {}) as Record<string, Record<string, unknown>>).flatMap((c) => (c['aws:PrincipalArn'] as string[] | undefined) ?? []));
    expect(new Set(exemptions)).toEqual(new Set([DEPLOY, OPERATOR]));
    for (const s of g.serviceControlPolicy.Statement) expect(Object.keys((s.Condition ?? {}) as object).filter((op) => /Like/.test(op))).toEqual([]);
  });

  test('with no operator configured nobody passes the reprocess guardrail', () => {
    const none = buildGuardrails({ ...targets, operatorRoleArns: [] }).serviceControlPolicy.Statement.find((s) => s.Sid === 'DenyReprocessInvokeExceptOperators')!;
    expect(none.Condition).toBeUndefined();
  });
});

describe('scheduled-jobs guardrails (CLI, mocked AWS)', () => {
  const cfn = mockClient(CloudFormationClient);
  const sts = mockClient(STSClient);
  afterAll(() => {
    cfn.restore();
    sts.restore();
  });

  test('prints the SCP, the boundary and the data-event selector with the deployed ARNs', async () => {
    const stackName = 'ScheduledJobs-dev';
    const deploy = `arn:aws:iam::111111111111:role/cdk-hnb659fds-cfn-exec-role-111111111111-ap-northeast-1`;
    const reprocessArn = `arn:aws:lambda:ap-northeast-1:111111111111:function:${stackName}-ReprocessFunction-AbC`;
    sts.on(GetCallerIdentityCommand).resolves({ Account: '111111111111', Arn: 'arn:aws:sts::111111111111:assumed-role/Admin/me' });
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: stackName, CreationTime: new Date(), StackStatus: 'UPDATE_COMPLETE', Outputs: [{ OutputKey: GUARDRAIL_OUTPUTS.deployRoleArn, OutputValue: deploy }, { OutputKey: GUARDRAIL_OUTPUTS.reprocessFunctionArn, OutputValue: reprocessArn }] }],
    });
    const res = (type: string, id: string) => ({ ResourceType: type, PhysicalResourceId: id, LogicalResourceId: id, ResourceStatus: 'CREATE_COMPLETE' as const, LastUpdatedTimestamp: new Date() });
    cfn.on(ListStackResourcesCommand).resolves({
      StackResourceSummaries: [
        res('AWS::Lambda::Function', `${stackName}-ReprocessFunction-AbC`),
        res('AWS::IAM::Role', `${stackName}-ReprocessRole-AbC`),
        res('AWS::KMS::Key', '1234abcd-12ab-34cd-56ef-1234567890ab'),
        res('AWS::S3::Bucket', 'scheduledjobs-dev-paramlogbucket-abc'),
        res('AWS::SQS::Queue', `https://sqs.ap-northeast-1.amazonaws.com/111111111111/${stackName}-ErrorSpoolQueue-AbC`),
        res('AWS::KinesisFirehose::DeliveryStream', `${stackName}-ClientStream-AbC`),
        res('AWS::StepFunctions::StateMachine', 'arn:aws:states:ap-northeast-1:111111111111:stateMachine:JobStateMachine-AbC'),
        res('AWS::SNS::Topic', `arn:aws:sns:ap-northeast-1:111111111111:${stackName}-AlertsTopic-AbC`),
        res('AWS::CloudTrail::Trail', `${stackName}-TamperAlarmsTrail-AbC`),
      ],
    });
    let out = '';
    let err = '';
    const config = { ...fixtureConfig, operators: { roleArns: ['arn:aws:iam::111111111111:role/Operator'] } };
    const code = await runCli(['guardrails', '--stage', 'dev', '--region', 'ap-northeast-1', '--output', 'json'], { out: (s) => (out += s), err: (s) => (err += s) }, { config, env: {} });
    expect({ code, err }).toEqual({ code: 0, err: '' });
    const printed = JSON.parse(out);
    expect(printed.deployRoleArn).toBe(deploy);
    const byId = Object.fromEntries(printed.serviceControlPolicy.Statement.map((s: { Sid: string }) => [s.Sid, s]));
    expect(byId.DenyAppChangesExceptDeployRole.Condition).toEqual({ StringNotEquals: { 'aws:PrincipalArn': [deploy] } });
    expect(byId.DenyAppChangesExceptDeployRole.Resource).toEqual([
      `arn:aws:lambda:ap-northeast-1:111111111111:function:${stackName}-*`,
      `arn:aws:iam::111111111111:role/${stackName}-*`,
      'arn:aws:kms:ap-northeast-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      'arn:aws:s3:::scheduledjobs-dev-*',
      `arn:aws:sqs:ap-northeast-1:111111111111:${stackName}-*`,
      `arn:aws:firehose:ap-northeast-1:111111111111:deliverystream/${stackName}-*`,
      'arn:aws:states:ap-northeast-1:111111111111:stateMachine:JobStateMachine-AbC',
      'arn:aws:states:ap-northeast-1:111111111111:stateMachine:JobStateMachine-AbC:*',
      `arn:aws:events:ap-northeast-1:111111111111:rule/${stackName}-TamperAlarms*`,
      `arn:aws:sns:ap-northeast-1:111111111111:${stackName}-AlertsTopic-AbC`,
      `arn:aws:cloudtrail:ap-northeast-1:111111111111:trail/${stackName}-TamperAlarmsTrail-AbC`,
    ]);
    expect(byId.DenyReprocessInvokeExceptOperators).toEqual(expect.objectContaining({ Resource: [reprocessArn, `${reprocessArn}:*`], Condition: { StringNotEquals: { 'aws:PrincipalArn': ['arn:aws:iam::111111111111:role/Operator'] } } }));
    expect(printed.permissionsBoundary.Statement[0]).toEqual({ Sid: 'AllowWhatTheRolesOwnPoliciesAllow', Effect: 'Allow', Action: '*', Resource: '*' });
    expect(printed.dataEventSelector.FieldSelectors).toContainEqual({ Field: 'resources.ARN', Equals: [reprocessArn] });
  });
});
