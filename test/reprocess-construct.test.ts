import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { resolve } from 'node:path';
import { appConfig } from '../bin/config';
import { resolveConfig } from '../lib/config/validate';
import { Reprocess } from '../lib/reprocess';
import { ErrorSpool } from '../lib/error-spool';
import { ParamsKey } from '../lib/params-key';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';

const projectRoot = resolve(__dirname, '..');

function build(extra: Partial<ConstructorParameters<typeof Reprocess>[2]> = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new Stack(app, 'ReprocessTest', { env: { account: '123456789012', region: 'ap-northeast-1' } });
  const errorSpool = new ErrorSpool(stack, 'ErrorSpool', { retentionDays: 14, paramsKey: new ParamsKey(stack, 'ParamsKey', { readerRoleArnPatterns: [] }) });
  const spool = errorSpool.queue;
  const machines = ['A', 'B'].map((n) => new sfn.StateMachine(stack, `Sm${n}`, { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, `P${n}`)) }));
  const other = new sfn.StateMachine(stack, 'NotOurs', { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'PX')) });
  const reprocess = new Reprocess(stack, 'Reprocess', { projectRoot, spool: errorSpool, stateMachines: machines, defaultMax: 25, maxReplays: 4, ...extra });
  return { stack, spool, machines, other, reprocess, template: Template.fromStack(stack) };
}

const ids = (stack: Stack, c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);

describe('Reprocess construct', () => {
  const { stack, spool, machines, other, reprocess, template } = build();
  const fnId = ids(stack, reprocess.function);
  const quarantineId = ids(stack, reprocess.quarantineQueue);
  const spoolId = ids(stack, spool);

  test('function: 15-minute timeout, reserved concurrency 1, env from config and the wiring', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 900,
      ReservedConcurrentExecutions: 1,
      Environment: {
        Variables: Match.objectLike({
          MAX_REPROCESS: '25',
          MAX_REPLAYS: '4',
          SPOOL_QUEUE_URL: { Ref: spoolId },
          QUARANTINE_QUEUE_URL: { Ref: quarantineId },
          ALLOWED_STATE_MACHINE_ARNS: { 'Fn::Join': [',', machines.map((m) => ({ Ref: ids(stack, m) }))] },
        }),
      },
    });
  });

  test('quarantine queue is encrypted, TLS-only, kept 14 days and retained; no physical name', () => {
    const q = template.toJSON().Resources[quarantineId];
    expect(q.Properties).toMatchObject({ KmsMasterKeyId: expect.anything(), MessageRetentionPeriod: 14 * 86400 });
    expect(q.Properties.QueueName).toBeUndefined();
    expect(q.DeletionPolicy).toBe('Retain');
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: quarantineId }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('least privilege: exactly these actions, on exactly these resources', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === stack.getLogicalId(reprocess.function.role!.node.defaultChild as never)),
    );
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>);
    const byAction = new Map<string, unknown[]>();
    for (const s of statements) for (const a of [s.Action].flat()) byAction.set(a, [...(byAction.get(a) ?? []), ...[s.Resource].flat()]);
    const spoolArn = { 'Fn::GetAtt': [spoolId, 'Arn'] };
    for (const a of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes']) expect(byAction.get(a)).toEqual([spoolArn]);
    expect(byAction.get('sqs:SendMessage')).toEqual([{ 'Fn::GetAtt': [quarantineId, 'Arn'] }]);
    expect(byAction.get('states:StartExecution')).toEqual(machines.map((m) => ({ Ref: ids(stack, m) })));
    const execResources = JSON.stringify(byAction.get('states:RedriveExecution'));
    expect(execResources).toContain(':execution:');
    for (const m of machines) expect(execResources).toContain(ids(stack, m));
    expect(execResources).not.toContain(ids(stack, other));
    expect(byAction.get('states:DescribeExecution')).toEqual(byAction.get('states:RedriveExecution'));
    const allowed = new Set([
      'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes',
      'sqs:SendMessage', 'sqs:GetQueueUrl', 'states:StartExecution', 'states:RedriveExecution', 'states:DescribeExecution',
      'xray:PutTraceSegments', 'xray:PutTelemetryRecords',
      // The params key of the spool and quarantine (receive: Decrypt; send: GenerateDataKey + Decrypt).
      'kms:Decrypt', 'kms:GenerateDataKey',
      // Its own log group only (no AWSLambdaBasicExecutionRole).
      'logs:CreateLogStream', 'logs:PutLogEvents',
    ]);
    expect([...byAction.keys()].filter((a) => !allowed.has(a))).toEqual([]);
    const logGroupArn = { 'Fn::GetAtt': [Object.keys(template.findResources('AWS::Logs::LogGroup')).find((id) => id.startsWith('ReprocessFunctionLogs'))!, 'Arn'] };
    expect(byAction.get('logs:PutLogEvents')).toEqual([logGroupArn]);
    expect(byAction.get('logs:CreateLogStream')).toEqual([logGroupArn]);
    // Nothing but X-Ray on "*".
    for (const [a, rs] of byAction) if (!a.startsWith('xray:')) expect(rs).not.toContain('*');
    // The spool is never a send target, and the quarantine is never read.
    expect(byAction.get('sqs:ReceiveMessage')).not.toContainEqual({ 'Fn::GetAtt': [quarantineId, 'Arn'] });
  });

  test('outputs the function name for aws lambda invoke', () => {
    const outputs = template.findOutputs('*');
    const out = Object.values(outputs).find((o) => JSON.stringify(o.Value) === JSON.stringify({ Ref: fnId }));
    expect(out?.Description).toContain('aws lambda invoke');
  });

  test('invalid props are all reported at once with the fix', () => {
    expect(() => build({ stateMachines: [], defaultMax: 0 })).toThrow(/stateMachines: pass.*defaultMax: must be an integer from 1/);
  });

  test('reservedConcurrency null leaves the function unreserved', () => {
    const { template: t } = build({ reservedConcurrency: null });
    expect(JSON.stringify(t.findResources('AWS::Lambda::Function'))).not.toContain('ReservedConcurrentExecutions');
  });
});

test('the app stack wires Reprocess to every job workflow and the spool', () => {
  const config = resolveConfig(appConfig);
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, 'ReprocessWiring', { config, projectRoot });
  expect(stack.reprocess.node.id).toContain('Reprocess');
  const template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true });
  const fn = template.toJSON().Resources[stack.getLogicalId(stack.reprocess.function.node.defaultChild as never)];
  const env = fn.Properties.Environment.Variables;
  expect(env.SPOOL_QUEUE_URL).toEqual({ Ref: stack.getLogicalId(stack.spool.queue.node.defaultChild as never) });
  const allowed = JSON.stringify(env.ALLOWED_STATE_MACHINE_ARNS);
  for (const w of stack.workflows.values()) expect(allowed).toContain(stack.getLogicalId(w.stateMachine.node.defaultChild as never));
  expect(stack.workflows.size).toBe(config.jobs.length);
  expect(env.MAX_REPROCESS).toBe(String(config.reprocess.defaultMax));
  expect(env.MAX_REPLAYS).toBe(String(config.spool.maxReplays));
});

test('cdk-nag AwsSolutions: no unacknowledged finding inside Reprocess (each acknowledgment names its exact resource)', () => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'NagTest');
  const spool = new ErrorSpool(stack, 'ErrorSpool', { retentionDays: 14, paramsKey: new ParamsKey(stack, 'ParamsKey', { readerRoleArnPatterns: [] }) });
  const machines = ['A', 'B'].map((n) => new sfn.StateMachine(stack, `Sm${n}`, { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, `P${n}`)) }));
  new Reprocess(stack, 'Reprocess', { projectRoot, spool, stateMachines: machines, defaultMax: 10, maxReplays: 5 });
  let report = '';
  try {
    app.synth();
  } catch (e) {
    report = String(e); // findings of the test's own bare queue and state machines
  }
  expect(report).not.toContain('NagTest/Reprocess/');
});
