import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { resolve } from 'node:path';
import { fixtureConfig } from './support/fixture-config';
import { ResolvedDependency } from '../lib/config/types';
import { resolveConfig } from '../lib/config/validate';
import { CoordinationTable } from '../lib/coordination-table';
import { Reprocess, reprocessJobEnv } from '../lib/reprocess';
import { ErrorSpool } from '../lib/error-spool';
import { ParamsKey } from '../lib/params-key';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';
import { readEnv } from '../lambdas/reprocess/env';
import { placeholderRef, resolveIntrinsics } from '../local/asl';

const projectRoot = resolve(__dirname, '..');
/** The shipped jobs: example-api (Fetch -> CallApi[orders-api] -> Publish) and example-fanout (a map and a group). */
const shipped = resolveConfig(fixtureConfig, { allJobs: true });
const windowed: ResolvedDependency[] = [{ name: 'orders-api', description: '', windows: [{ cron: 'cron(0 2 ? * SUN *)', durationMinutes: 180 }] }];

function build(extra: Partial<ConstructorParameters<typeof Reprocess>[2]> = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new Stack(app, 'ReprocessTest', { env: { account: '123456789012', region: 'ap-northeast-1' } });
  const paramsKey = new ParamsKey(stack, 'ParamsKey', { readerRoleArnPatterns: [] });
  const errorSpool = new ErrorSpool(stack, 'ErrorSpool', { retentionDays: 14, paramsKey });
  const coordination = new CoordinationTable(stack, 'Coordination');
  const spool = errorSpool.queue;
  const machines = ['A', 'B'].map((n) => new sfn.StateMachine(stack, `Sm${n}`, { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, `P${n}`)) }));
  const other = new sfn.StateMachine(stack, 'NotOurs', { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'PX')) });
  const fn = (id: string) => new lambda.Function(stack, id, { runtime: lambda.Runtime.NODEJS_20_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => null') });
  const producers = shipped.jobs.map((j) => fn(`Producer${j.name.replace(/-/g, '')}`));
  const sweeperFn = fn('Sweeper');
  const notInvocable = fn('NotInvocable');
  const reprocess = new Reprocess(stack, 'Reprocess', {
    projectRoot,
    spool: errorSpool,
    jobs: shipped.jobs.map((job, i) => ({ job, stateMachine: machines[i] })),
    dependencies: windowed,
    coordination,
    timeZone: 'Asia/Tokyo',
    defaultMax: 25,
    maxReplays: 4,
    invocableFunctions: [...shipped.jobs.map((j, i) => ({ label: Reprocess.producerLabel(j.name), function: producers[i] })), { label: 'sweeper', function: sweeperFn }],
    ...extra,
  });
  return { stack, spool, machines, other, reprocess, coordination, paramsKey, errorSpool, producers, sweeperFn, notInvocable, template: Template.fromStack(stack) };
}

const ids = (stack: Stack, c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);

describe('Reprocess construct', () => {
  const { stack, spool, machines, other, reprocess, coordination, paramsKey, errorSpool, producers, sweeperFn, notInvocable, template } = build();
  const failedInvocationsId = ids(stack, errorSpool.failedInvocations);
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
          COORDINATION_TABLE: { Ref: ids(stack, coordination.table) },
          APP_TIME_ZONE: 'Asia/Tokyo',
          JOB_STEPS: JSON.stringify({ 'example-api': ['Fetch', 'CallApi', 'Publish'], 'example-fanout': ['ListParts', 'ProcessParts', 'Summarize'] }),
          JOB_DEPENDENCIES: JSON.stringify({ 'example-api': { CallApi: ['orders-api'] } }),
          HOLD_WINDOWS: JSON.stringify({ 'orders-api': [{ cron: 'cron(0 2 ? * SUN *)', durationMinutes: 180 }] }),
        }),
      },
    });
  });

  test('JOB_STATE_MACHINES maps each job to its own state machine, and the handler reads the env the construct writes', () => {
    const t = template.toJSON();
    const vars = t.Resources[fnId].Properties.Environment.Variables;
    // Resolve the tokens as CloudFormation would (Ref of a state machine = its ARN, of a function = its name).
    const arnOf = (logicalId: string) => `arn:aws:states:ap-northeast-1:123456789012:stateMachine:${logicalId}`;
    const env = readEnv(resolveIntrinsics(vars, t.Resources, placeholderRef({ region: 'ap-northeast-1', account: '123456789012' }), { region: 'ap-northeast-1', account: '123456789012' }) as Record<string, string>);
    expect(env.jobs.get('example-api')).toEqual({ stateMachineArn: arnOf(ids(stack, machines[0])), steps: ['Fetch', 'CallApi', 'Publish'], dependencies: { CallApi: ['orders-api'] } });
    expect(env.jobs.get('example-fanout')?.stateMachineArn).toBe(arnOf(ids(stack, machines[1])));
    expect(env.holdWindows).toEqual({ 'orders-api': [{ cron: 'cron(0 2 ? * SUN *)', durationMinutes: 180 }] });
    // The allow-list: names completed with the prefix into the functions' ARNs, as a record names them.
    expect(env.invocableFunctions.get('sweeper')).toBe(`arn:aws:lambda:ap-northeast-1:123456789012:function:${ids(stack, sweeperFn)}`);
    expect(env.invocableFunctions.get('producer:example-api')).toBe(`arn:aws:lambda:ap-northeast-1:123456789012:function:${ids(stack, producers[0])}`);
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
    // Consumes the spool, the quarantine and the failed invocations (the routines people run through it).
    const consumed = [spoolArn, { 'Fn::GetAtt': [quarantineId, 'Arn'] }, { 'Fn::GetAtt': [failedInvocationsId, 'Arn'] }];
    for (const a of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes']) expect(byAction.get(a)).toEqual(consumed);
    expect(byAction.get('sqs:SendMessage')).toEqual([{ 'Fn::GetAtt': [quarantineId, 'Arn'] }]);
    // Invokes exactly the functions it was given, unqualified (no versions, no other function).
    expect(byAction.get('lambda:InvokeFunction')).toEqual([...producers, sweeperFn].map((f) => ({ 'Fn::GetAtt': [ids(stack, f), 'Arn'] })));
    expect(JSON.stringify(byAction.get('lambda:InvokeFunction'))).not.toContain(ids(stack, notInvocable));
    expect(byAction.get('states:StartExecution')).toEqual(machines.map((m) => ({ Ref: ids(stack, m) })));
    const execResources = JSON.stringify(byAction.get('states:DescribeExecution'));
    expect(execResources).toContain(':execution:');
    for (const m of machines) expect(execResources).toContain(ids(stack, m));
    expect(execResources).not.toContain(ids(stack, other));
    // Redrive was removed: a redrive of a caught failure re-enters the Fail state.
    expect(byAction.has('states:RedriveExecution')).toBe(false);
    // Hold switches only: GetItem on the coordination table, hold# items only.
    expect(byAction.get('dynamodb:GetItem')).toEqual([{ 'Fn::GetAtt': [ids(stack, coordination.table), 'Arn'] }]);
    const holdStatement = statements.find((s) => [s.Action].flat().includes('dynamodb:GetItem')) as unknown as { Condition: unknown };
    expect(holdStatement.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['hold#*'] } });
    // The params key: Decrypt (receive from the spool; DescribeExecution of CMK-encrypted executions).
    expect(byAction.get('kms:Decrypt')).toContainEqual({ 'Fn::GetAtt': [ids(stack, paramsKey.key), 'Arn'] });
    const allowed = new Set([
      'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes',
      'sqs:SendMessage', 'states:StartExecution', 'states:DescribeExecution', 'dynamodb:GetItem', 'lambda:InvokeFunction',
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
    // The spool and the failed invocations are never a send target.
    expect(byAction.get('sqs:SendMessage')).not.toContainEqual(spoolArn);
  });

  test('the locks record reprocess as a consumer of the quarantine and the failed invocations (and as no sender of the spool)', () => {
    const role = reprocess.function.role!;
    expect(errorSpool.consumers.quarantine).toContain(role);
    expect(errorSpool.consumers.failedInvocations).toContain(role);
    expect(errorSpool.senders.spool).not.toContain(role);
    expect(errorSpool.senders.failedInvocations).not.toContain(role);
  });

  test('env: the failed-invocations queue and the allow-list {label: function ARN} the handler reads', () => {
    const vars = template.toJSON().Resources[fnId].Properties.Environment.Variables;
    expect(vars.FAILED_INVOCATIONS_QUEUE_URL).toEqual({ Ref: failedInvocationsId });
    const list = JSON.stringify(vars.INVOCABLE_FUNCTIONS);
    for (const j of shipped.jobs) expect(list).toContain(`producer:${j.name}`);
    expect(list).toContain(ids(stack, sweeperFn));
    expect(list).not.toContain(ids(stack, notInvocable));
  });

  test('allow-list labels: each once, plain characters', () => {
    expect(() => build({ invocableFunctions: [{ label: 'sweeper', function: sweeperFn }, { label: 'sweeper', function: sweeperFn }, { label: 'no spaces', function: sweeperFn }] })).toThrow(
      /invocableFunctions: each label once; sweeper given more than once; invocableFunctions: labels are .*"no spaces"/,
    );
  });

  test('outputs the function name for aws lambda invoke', () => {
    const outputs = template.findOutputs('*');
    const out = Object.values(outputs).find((o) => JSON.stringify(o.Value) === JSON.stringify({ Ref: fnId }));
    expect(out?.Description).toContain('aws lambda invoke');
  });

  test('invalid props are all reported at once with the fix', () => {
    expect(() => build({ jobs: [], defaultMax: 0 })).toThrow(/jobs: pass.*defaultMax: must be an integer from 1/);
    expect(() => build({ dependencies: [] })).toThrow(/dependencies: orders-api used by a step's dependsOn but not passed/);
  });

  test('an environment that could pass Lambda\'s 4 KB is refused at synth, with the reason', () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ ...shipped.jobs[0], name: `job-${i}` }));
    expect(() => {
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
      const st = new Stack(app, 'Big');
      const sm = new sfn.StateMachine(st, 'Sm', { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(st, 'P')) });
      new Reprocess(st, 'Reprocess', {
        projectRoot,
        spool: new ErrorSpool(st, 'ErrorSpool', { retentionDays: 14, paramsKey: new ParamsKey(st, 'ParamsKey', { readerRoleArnPatterns: [] }) }),
        jobs: many.map((job) => ({ job, stateMachine: sm })),
        dependencies: windowed,
        coordination: new CoordinationTable(st, 'Coordination'),
        timeZone: 'UTC',
        defaultMax: 10,
        maxReplays: 5,
      });
    }).toThrow(/may pass Lambda's 4 KB limit/);
  });

  test('eight jobs with their producers and the app\'s three other functions still fit in the environment', () => {
    const eight = Array.from({ length: 8 }, (_, i) => ({ ...shipped.jobs[0], name: `job-${i}` }));
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
    const st = new Stack(app, 'Eight');
    const sm = new sfn.StateMachine(st, 'Sm', { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(st, 'P')) });
    const f = new lambda.Function(st, 'F', { runtime: lambda.Runtime.NODEJS_20_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => null') });
    expect(
      () =>
        new Reprocess(st, 'Reprocess', {
          projectRoot,
          spool: new ErrorSpool(st, 'ErrorSpool', { retentionDays: 14, paramsKey: new ParamsKey(st, 'ParamsKey', { readerRoleArnPatterns: [] }) }),
          jobs: eight.map((job) => ({ job, stateMachine: sm })),
          dependencies: windowed,
          coordination: new CoordinationTable(st, 'Coordination'),
          timeZone: 'UTC',
          defaultMax: 10,
          maxReplays: 5,
          invocableFunctions: [...eight.map((j) => ({ label: Reprocess.producerLabel(j.name), function: f })), ...['executionCapture', 'sweeper', 'lostTaskMonitor'].map((label) => ({ label, function: f }))],
        }),
    ).not.toThrow();
  });

  test('reservedConcurrency null leaves the function unreserved', () => {
    const { template: t } = build({ reservedConcurrency: null });
    expect(JSON.stringify(t.findResources('AWS::Lambda::Function'))).not.toContain('ReservedConcurrentExecutions');
  });
});

test('the app stack wires Reprocess to every job workflow and the spool', () => {
  const config = resolveConfig(fixtureConfig);
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, 'ReprocessWiring', { config, projectRoot });
  expect(stack.reprocess.node.id).toContain('Reprocess');
  const template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true });
  const fn = template.toJSON().Resources[stack.getLogicalId(stack.reprocess.function.node.defaultChild as never)];
  const env = fn.Properties.Environment.Variables;
  expect(env.SPOOL_QUEUE_URL).toEqual({ Ref: stack.getLogicalId(stack.spool.queue.node.defaultChild as never) });
  const allowed = JSON.stringify(env.JOB_STATE_MACHINES);
  for (const w of stack.workflows.values()) expect(allowed).toContain(stack.getLogicalId(w.stateMachine.node.defaultChild as never));
  expect(stack.workflows.size).toBe(config.jobs.length);
  expect(env.MAX_REPROCESS).toBe(String(config.reprocess.defaultMax));
  expect(env.MAX_REPLAYS).toBe(String(config.spool.maxReplays));
});

test('reprocessJobEnv: dependencies of a group\'s branches and a map\'s steps count for the top-level step', () => {
  const api = shipped.jobs.find((j) => j.name === 'example-api')!;
  const fan = shipped.jobs.find((j) => j.name === 'example-fanout')!;
  const lambda = (name: string, dependsOn: string | null) => ({ ...(api.steps[0] as Extract<typeof api.steps[0], { kind: 'lambda' }>), name, dependsOn });
  const job = {
    ...fan,
    steps: [
      fan.steps[0],
      { ...(fan.steps[1] as Extract<typeof fan.steps[1], { kind: 'map' }>), steps: [lambda('Part', 'parts-db')] },
      { kind: 'parallel' as const, name: 'Summarize', branches: [[lambda('Aggregate', 'ledger')], [lambda('Audit', 'ledger'), lambda('Notify', 'mailer')]] },
    ],
  };
  const env = reprocessJobEnv([job], []);
  expect(JSON.parse(env.JOB_DEPENDENCIES)).toEqual({ 'example-fanout': { ProcessParts: ['parts-db'], Summarize: ['ledger', 'mailer'] } });
  expect(JSON.parse(env.JOB_STEPS)).toEqual({ 'example-fanout': ['ListParts', 'ProcessParts', 'Summarize'] });
  expect(JSON.parse(env.HOLD_WINDOWS)).toEqual({});
});

test('cdk-nag AwsSolutions: no unacknowledged finding inside Reprocess (each acknowledgment names its exact resource)', () => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'NagTest');
  const spool = new ErrorSpool(stack, 'ErrorSpool', { retentionDays: 14, paramsKey: new ParamsKey(stack, 'ParamsKey', { readerRoleArnPatterns: [] }) });
  const machines = ['A', 'B'].map((n) => new sfn.StateMachine(stack, `Sm${n}`, { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, `P${n}`)) }));
  new Reprocess(stack, 'Reprocess', {
    projectRoot,
    spool,
    jobs: shipped.jobs.map((job, i) => ({ job, stateMachine: machines[i] })),
    dependencies: shipped.dependencies,
    coordination: new CoordinationTable(stack, 'Coordination'),
    timeZone: shipped.timeZone,
    defaultMax: 10,
    maxReplays: 5,
  });
  let report = '';
  try {
    app.synth();
  } catch (e) {
    report = String(e); // findings of the test's own bare queue and state machines
  }
  expect(report).not.toContain('NagTest/Reprocess/');
});

test('every asynchronously invoked function of the app (schedules, the status-change rule) keeps its failures in the failed-invocations queue, and reprocess may re-invoke exactly those', () => {
  const config = resolveConfig(fixtureConfig, { allJobs: true });
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, 'AsyncWiring', { config, projectRoot });
  const t = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }).toJSON() as { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };
  const fnOf = (arn: unknown): string | null => {
    const getAtt = (arn as { 'Fn::GetAtt'?: [string, string] })?.['Fn::GetAtt'];
    return getAtt && t.Resources[getAtt[0]]?.Type === 'AWS::Lambda::Function' ? getAtt[0] : null;
  };
  const targets = new Set<string>();
  for (const r of Object.values(t.Resources)) {
    if (r.Type === 'AWS::Scheduler::Schedule') targets.add(fnOf(r.Properties.Target.Arn)!);
    if (r.Type === 'AWS::Events::Rule') for (const target of r.Properties.Targets ?? []) if (fnOf(target.Arn)) targets.add(fnOf(target.Arn)!);
  }
  targets.delete(null as never);
  // The reconciler keeps nothing: a failed run leaves its watermark where it was, and the next run
  // (15 minutes later) does the same work again.
  const reconciler = stack.getLogicalId(stack.reconciler.function.node.defaultChild as never);
  expect(targets.delete(reconciler)).toBe(true);
  // Producers, the lost-task monitor, the sweeper, the capture.
  expect(targets.size).toBe(config.jobs.length + 3);
  const failedInvocations = { 'Fn::GetAtt': [stack.getLogicalId(stack.spool.failedInvocations.node.defaultChild as never), 'Arn'] };
  const kept = new Set(
    Object.values(t.Resources)
      .filter((r) => r.Type === 'AWS::Lambda::EventInvokeConfig' && JSON.stringify(r.Properties.DestinationConfig?.OnFailure?.Destination) === JSON.stringify(failedInvocations))
      .map((r) => (r.Properties.FunctionName as { Ref: string }).Ref),
  );
  // The capture keeps its failures in its own ARN-only queue (SQS-managed key), drained by the reconciler.
  const capture = stack.getLogicalId(stack.executionCapture.function.node.defaultChild as never);
  const captureConfig = Object.values(t.Resources).find((r) => r.Type === 'AWS::Lambda::EventInvokeConfig' && r.Properties.FunctionName?.Ref === capture)!;
  expect(captureConfig.Properties.DestinationConfig.OnFailure.Destination).toEqual({ 'Fn::GetAtt': [stack.getLogicalId(stack.executionCapture.failuresQueue.node.defaultChild as never), 'Arn'] });
  kept.add(capture);
  expect([...targets].filter((f) => !kept.has(f))).toEqual([]);
  const reprocessEnv = t.Resources[stack.getLogicalId(stack.reprocess.function.node.defaultChild as never)].Properties.Environment.Variables;
  const allowed = JSON.stringify(reprocessEnv.INVOCABLE_FUNCTIONS);
  for (const f of targets) expect(allowed).toContain(`"${f}"`);
  expect((allowed.match(/"Ref"/g) ?? []).length).toBe(targets.size);
});
