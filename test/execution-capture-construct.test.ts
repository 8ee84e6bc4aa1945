import { App, Stack } from 'aws-cdk-lib';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import { resolve } from 'node:path';
import { fixtureConfig } from './support/fixture-config';
import { resolveConfig } from '../lib/config/validate';
import { ExecutionCapture, MAX_JOB_ENV_BYTES, maxStepTimeoutSeconds } from '../lib/execution-capture';
import { STATE_TIMEOUT_MARGIN_SECONDS } from '../lambdas/shared/workflow-contract';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';

const config = resolveConfig(fixtureConfig, { allJobs: true });
let stack: ScheduledJobsStack;
let template: Template;
let fnId: string;
let roleId: string;

beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  stack = new ScheduledJobsStack(app, 'CaptureConstruct', { config, projectRoot: resolve(__dirname, '..') });
  template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true });
  fnId = Stack.of(stack).getLogicalId(stack.executionCapture.function.node.defaultChild as never);
  roleId = Stack.of(stack).getLogicalId(stack.executionCapture.function.role!.node.defaultChild as never);
});

const smIds = () => [...stack.workflows.values()].map((w) => Stack.of(stack).getLogicalId(w.stateMachine.node.defaultChild as never));
const logicalId = (c: { node: { defaultChild?: unknown } }) => Stack.of(stack).getLogicalId(c.node.defaultChild as never);

/** Every statement of the capture role's policies. */
function statements(): Array<{ Action: string | string[]; Resource: unknown; Condition?: unknown; Effect: string }> {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}
const actionsOf = (s: { Action: string | string[] }) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

test('the rule matches status changes FAILED / TIMED_OUT / ABORTED of exactly the app\'s state machines, on the default bus', () => {
  template.hasResourceProperties('AWS::Events::Rule', {
    EventPattern: {
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: smIds().map((id) => ({ Ref: id })) },
    },
    State: 'ENABLED',
    EventBusName: Match.absent(),
    Targets: [{ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] }, Id: Match.anyValue(), RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 } }],
  });
  expect(smIds()).toHaveLength(config.jobs.length);
  template.hasResourceProperties('AWS::Lambda::Permission', { Action: 'lambda:InvokeFunction', Principal: 'events.amazonaws.com', FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] } });
});

test('failed invocations go to the capture\'s own failures queue (SQS-managed key, not the params key) after two Lambda retries', () => {
  template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
    FunctionName: { Ref: fnId },
    MaximumRetryAttempts: 2,
    MaximumEventAgeInSeconds: 6 * 3600,
    DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(stack.executionCapture.failuresQueue), 'Arn'] } } },
  });
  const q = template.toJSON().Resources[logicalId(stack.executionCapture.failuresQueue)].Properties;
  expect(q).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 86400 });
  expect(q.KmsMasterKeyId).toBeUndefined();
  expect(stack.spool.senders.failedInvocations).not.toContain(stack.executionCapture.function.role);
  expect(stack.spool.senders.spool).toContain(stack.executionCapture.function.role);
});

test('the function: job shapes and endpoints in its environment, reserved concurrency', () => {
  const env = new Capture();
  template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: env }, ReservedConcurrentExecutions: 2, Timeout: 120 });
  const vars = env.asObject();
  expect(JSON.parse(vars.JOB_STEPS)).toEqual({ 'example-api': ['Fetch', 'CallApi', 'Publish'], 'example-fanout': ['ListParts', 'ProcessParts', 'Summarize'] });
  expect(JSON.parse(vars.JOB_EXCLUSIVE)).toEqual({ 'example-fanout': 'account' });
  // The lock of an execution stopped in a step is kept this long after the end: its longest step timeout + the cold-start margin.
  const fanout = config.jobs.find((j) => j.name === 'example-fanout')!;
  expect(JSON.parse(vars.JOB_LOCK_LEASE)).toEqual({ 'example-fanout': maxStepTimeoutSeconds(fanout) + STATE_TIMEOUT_MARGIN_SECONDS });
  expect(maxStepTimeoutSeconds(fanout)).toBe(30);
  expect(vars.SPOOL_QUEUE_URL).toEqual({ Ref: logicalId(stack.spool.queue) });
  expect(vars.WORKER_LOG_STREAM).toEqual({ Ref: logicalId(stack.paramLog.workerStream) });
  expect(vars.COORDINATION_TABLE).toEqual({ Ref: logicalId(stack.coordination.table) });
  expect(vars.APP_TIME_ZONE).toBe(config.timeZone);
});

test('least privilege: describe/history of the app\'s executions only, decrypt with the params key, send, worker stream, locks', () => {
  const all = statements();
  const states = all.filter((s) => actionsOf(s).some((a) => a.startsWith('states:')));
  expect(states).toHaveLength(1);
  expect(actionsOf(states[0]).sort()).toEqual(['states:DescribeExecution', 'states:GetExecutionHistory']);
  // arn:...:execution:<state machine name>:* for each state machine, never a bare *.
  const resources = JSON.stringify(states[0].Resource);
  for (const id of smIds()) expect(resources).toContain(id);
  expect(resources).toContain(':execution:');
  expect(all.some((s) => s.Resource === '*' && actionsOf(s).some((a) => !a.startsWith('xray:')))).toBe(false);

  // MACs: GenerateMac on the record key (it writes worker records) and on the lock-key key (it names locks), nothing else.
  const macs = all.filter((s) => actionsOf(s).includes('kms:GenerateMac'));
  expect(macs.map((s) => [actionsOf(s), s.Resource])).toEqual(
    expect.arrayContaining([
      [['kms:GenerateMac'], { 'Fn::GetAtt': [logicalId(stack.paramLog.macKey.key), 'Arn'] }],
      [['kms:GenerateMac'], { 'Fn::GetAtt': [logicalId(stack.coordination.lockKeyMac!.key), 'Arn'] }],
    ]),
  );
  expect(macs).toHaveLength(2);
  const kms = all.filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')) && !actionsOf(s).includes('kms:GenerateMac'));
  expect(new Set(kms.flatMap(actionsOf))).toEqual(new Set(['kms:Decrypt', 'kms:GenerateDataKey']));
  for (const s of kms) expect(s.Resource).toEqual({ 'Fn::GetAtt': [logicalId(stack.paramsKey.key), 'Arn'] });

  const sqsResources = all.filter((s) => actionsOf(s).some((a) => a.startsWith('sqs:'))).map((s) => [actionsOf(s), s.Resource]);
  expect(sqsResources).toEqual(
    expect.arrayContaining([
      [['sqs:SendMessage'], { 'Fn::GetAtt': [logicalId(stack.executionCapture.failuresQueue), 'Arn'] }],
      [['sqs:SendMessage'], { 'Fn::GetAtt': [logicalId(stack.spool.queue), 'Arn'] }],
    ]),
  );
  expect(sqsResources).toHaveLength(2);

  const firehose = all.filter((s) => actionsOf(s).some((a) => a.startsWith('firehose:')));
  expect(firehose).toHaveLength(1);
  expect(firehose[0].Resource).toEqual({ 'Fn::GetAtt': [logicalId(stack.paramLog.workerStream), 'Arn'] });

  const ddb = all.filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
  // Locks, and the capture marks (one capture per ended execution): each by its leading key.
  expect(ddb).toHaveLength(2);
  expect(ddb.map((s) => s.Condition)).toEqual([
    { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['lock#*'] } },
    { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['capture#*'] } },
  ]);
  expect(actionsOf(ddb[0]).sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
  expect(actionsOf(ddb[1]).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:UpdateItem']);
});

test('alarms: the function\'s errors with every function\'s (once), events EventBridge could not deliver here; all notify the alerts', () => {
  const undelivered = stack.executionCapture.undeliveredAlarm;
  expect(stack.alerts.alarms).toContain(undelivered);
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'FailedInvocations',
    Namespace: 'AWS/Events',
    Dimensions: [{ Name: 'RuleName', Value: { Ref: logicalId(stack.executionCapture.rule) } }],
    TreatMissingData: 'notBreaching',
    AlarmActions: Match.anyValue(),
  });
  // Watched once, by FunctionAlarms (a second alarm on the same metric would page twice).
  expect(stack.functionAlarms.watched.some((w) => w.fn === stack.executionCapture.function && !w.step)).toBe(true);
  const errorAlarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
    (a) => a.Properties.MetricName === 'Errors' && JSON.stringify(a.Properties.Dimensions) === JSON.stringify([{ Name: 'FunctionName', Value: { Ref: fnId } }]),
  );
  expect(errorAlarms).toHaveLength(1);
  expect(errorAlarms[0].Properties.Threshold).toBe(1);
});

test('refused at synth: no jobs, job shapes too large for the environment, a bad reserved concurrency', () => {
  const make = (jobs: typeof config.jobs, reservedConcurrency?: number) => () =>
    new ExecutionCapture(stack, `Other${Math.random()}`, {
      projectRoot: resolve(__dirname, '..'),
      jobs: jobs.map((job) => ({ job, stateMachine: stack.workflows.get(config.jobs[0].name)!.stateMachine })),
      spool: stack.spool,
      paramLog: stack.paramLog,
      coordination: stack.coordination,
      paramsKey: stack.paramsKey,
      alerts: stack.alerts,
      timeZone: config.timeZone,
      reservedConcurrency,
    });
  expect(make([])).toThrow(/jobs: pass the app's jobs/);
  const many = Array.from({ length: 40 }, (_, i) => ({ ...config.jobs[1], name: `a-rather-long-job-name-${i}` }));
  expect(make(many)).toThrow(new RegExp(`at most ${MAX_JOB_ENV_BYTES}`));
  expect(make(config.jobs, 0)).toThrow(/reservedConcurrency/);
});
