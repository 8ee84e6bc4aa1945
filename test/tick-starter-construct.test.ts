import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { resolve } from 'node:path';
import { fixtureConfig } from './support/fixture-config';
import { AppConfig } from '../lib/config/types';
import { resolveConfig } from '../lib/config/validate';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';

/**
 * The tick queue, the starter and the producers as synthesized, with a raised StartExecution quota
 * (us-east-1's 1,300 / 300) and producer settings in the config. cdk-nag runs in app.test.ts.
 */
const config: AppConfig = {
  ...fixtureConfig,
  startExecutionQuota: { burst: 1300, refillPerSecond: 300 },
  jobs: fixtureConfig.jobs.map((j, i) =>
    i === 0
      ? {
          ...j,
          producer: {
            ...j.producer,
            memoryMiB: 1024,
            iam: { statements: [{ actions: ['dynamodb:Query'], resources: ['arn:aws:dynamodb:ap-northeast-1:111122223333:table/orders'] }] },
          },
        }
      : j,
  ),
};
const resolved = resolveConfig(config, { allJobs: true });
let stack: ScheduledJobsStack;
let template: Template;
beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  stack = new ScheduledJobsStack(app, 'TickTest', { config: resolved, projectRoot: resolve(__dirname, '..') });
  template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true });
});

const id = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);
const arnOf = (c: { node: { defaultChild?: unknown } }) => ({ 'Fn::GetAtt': [id(c), 'Arn'] });
const producer = () => stack.producers.get('example-api')!;

/** Every Allow statement of the inline policies attached to a role, with its actions as a list. */
function statementsOf(roleId: string): Array<{ Action: string[]; Resource: unknown }> {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Effect: string; Action: string | string[]; Resource: unknown }>)
    .filter((s) => s.Effect === 'Allow')
    .map((s) => ({ Action: ([] as string[]).concat(s.Action), Resource: s.Resource }));
}
const roleIdOf = (fn: { role?: { node: { defaultChild?: unknown } } }) => stack.getLogicalId(fn.role!.node.defaultChild as never);

test('the tick queue holds params: encrypted with the params key, retained 14 days, visibility 6x the starter timeout, dead-letter queue after 5 receives', () => {
  template.hasResourceProperties('AWS::SQS::Queue', {
    KmsMasterKeyId: arnOf(stack.paramsKey.key),
    MessageRetentionPeriod: 14 * 86_400,
    VisibilityTimeout: 720,
    RedrivePolicy: { deadLetterTargetArn: arnOf(stack.tickStarter.deadLetterQueue), maxReceiveCount: 5 },
  });
  expect(template.toJSON().Resources[id(stack.tickStarter.deadLetterQueue)].Properties.KmsMasterKeyId).toEqual(arnOf(stack.paramsKey.key));
});

test('the starter is invoked one batch at a time, as many at once as the quota calls for, reporting failed records only', () => {
  expect(stack.tickStarter.plan).toEqual({ starterConcurrency: 3, inFlightPerStarter: 20, tasksPerBatch: 3000, starterTimeoutSeconds: 120, paceHintPerStarter: 100 });
  template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
    EventSourceArn: arnOf(stack.tickStarter.tickQueue),
    FunctionName: { Ref: id(stack.tickStarter.function) },
    BatchSize: 1,
    ScalingConfig: { MaximumConcurrency: 3 },
    FunctionResponseTypes: ['ReportBatchItemFailures'],
  });
  template.hasResourceProperties('AWS::Lambda::Function', {
    Timeout: 120,
    Environment: { Variables: Match.objectLike({ IN_FLIGHT: '20', PACE_HINT: '100', TICK_QUEUE_URL: { Ref: id(stack.tickStarter.tickQueue) }, ALLOWED_STATE_MACHINE_ARNS: Match.anyValue() }) },
  });
});

test('the starter may start the app\'s state machines only; producers start nothing themselves', () => {
  const starts = (roleId: string) => statementsOf(roleId).filter((s) => s.Action.includes('states:StartExecution'));
  const starter = starts(roleIdOf(stack.tickStarter.function));
  expect(starter.map((s) => s.Resource)).toEqual(expect.arrayContaining([...stack.workflows.values()].map((w) => ({ Ref: id(w.stateMachine) }))));
  expect(starter.flatMap((s) => ([] as unknown[]).concat(s.Resource))).toHaveLength(stack.workflows.size);
  for (const p of stack.producers.values()) expect(starts(roleIdOf(p.function))).toEqual([]);
});

test('producers send to the tick queue, the quarantine and the failed-invocations queue, not to the spool; the starter to the spool, the quarantine and back to the tick queue', () => {
  const sendsTo = (roleId: string) =>
    statementsOf(roleId)
      .filter((s) => s.Action.includes('sqs:SendMessage'))
      .map((s) => (s.Resource as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0])
      .sort();
  expect(sendsTo(roleIdOf(producer().function))).toEqual([id(stack.spool.failedInvocations), id(stack.spool.quarantine), id(stack.tickStarter.tickQueue)].sort());
  expect(sendsTo(roleIdOf(stack.tickStarter.function))).toEqual([id(stack.spool.queue), id(stack.spool.quarantine), id(stack.tickStarter.tickQueue)].sort());
  // Recorded for the queue and key policies (issue 9).
  expect(stack.spool.senders.failedInvocations).toContain(producer().function.role);
  expect(stack.tickStarter.senders).toEqual(expect.arrayContaining([producer().function.role, stack.tickStarter.function.role]));
  expect(stack.tickStarter.consumers).toEqual([stack.tickStarter.function.role]);
});

test('a failed producer invocation is retried twice by Lambda, then kept in the failed-invocations queue with its tick', () => {
  template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
    FunctionName: { Ref: id(producer().function) },
    MaximumRetryAttempts: 2,
    MaximumEventAgeInSeconds: 6 * 3600,
    DestinationConfig: { OnFailure: { Destination: arnOf(stack.spool.failedInvocations) } },
  });
  for (const p of stack.producers.values()) {
    const configs = Object.values(template.findResources('AWS::Lambda::EventInvokeConfig')).filter((c) => JSON.stringify(c.Properties.FunctionName) === JSON.stringify({ Ref: id(p.function) }));
    expect(configs).toHaveLength(1);
  }
});

test('an alarm on each producer\'s Errors (the app\'s FunctionAlarms) and on failed-destination deliveries notifies the operators', () => {
  const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
  const on = (metric: string, fnId: string) =>
    alarms.filter((a) => a.Properties.MetricName === metric && a.Properties.Namespace === 'AWS/Lambda' && JSON.stringify(a.Properties.Dimensions).includes(fnId));
  for (const p of stack.producers.values()) {
    const [errors] = on('Errors', id(p.function));
    expect(errors.Properties).toMatchObject({ Threshold: 1, EvaluationPeriods: 1, AlarmActions: [{ Ref: id(stack.alerts.topic) }] });
    const destination = on('DestinationDeliveryFailures', id(p.function));
    expect(destination).toHaveLength(1);
    expect(destination[0].Properties.AlarmActions).toEqual([{ Ref: id(stack.alerts.topic) }]);
    // It says how to re-run the tick: through reprocess (people may invoke nothing else), with the runbook.
    expect(destination[0].Properties.AlarmDescription).toMatch(/scheduled-jobs tick rerun --job [a-z-]+ --tick .*docs\/runbook\.md/);
  }
  expect(on('Errors', id(stack.tickStarter.function))).toHaveLength(1);
});

test('the tick queue pages when it has not emptied for an hour, and its dead-letter queue at the first message', () => {
  const queueDimension = (q: { node: { defaultChild?: unknown } }) => [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [id(q), 'QueueName'] } }];
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'ApproximateNumberOfMessagesVisible',
    Statistic: 'Minimum',
    Period: 300,
    EvaluationPeriods: 12,
    Threshold: 1,
    Dimensions: queueDimension(stack.tickStarter.tickQueue),
    AlarmActions: [{ Ref: id(stack.alerts.topic) }],
  });
  template.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'ApproximateNumberOfMessagesVisible',
    EvaluationPeriods: 1,
    Threshold: 1,
    Dimensions: queueDimension(stack.tickStarter.deadLetterQueue),
    AlarmDescription: Match.stringLikeRegexp('redriveDeadLetters'),
  });
});

test('both queues are locked to their roles, and the sweeper keeps the dead letters from expiring', () => {
  const sweeper = stack.sweeper.function.role!;
  expect(stack.tickStarter.consumers).toEqual([stack.tickStarter.function.role]);
  expect(stack.tickStarter.deadLetterConsumers).toEqual(expect.arrayContaining([stack.tickStarter.function.role, sweeper]));
  expect(stack.tickStarter.deadLetterSenders).toEqual([sweeper]);
  for (const q of [stack.tickStarter.tickQueue, stack.tickStarter.deadLetterQueue]) {
    const policy = Object.values(template.findResources('AWS::SQS::QueuePolicy')).find((p) => JSON.stringify(p.Properties.Queues).includes(id(q)))!;
    const sids = (policy.Properties.PolicyDocument.Statement as Array<{ Sid?: string }>).map((st) => st.Sid);
    expect(sids).toEqual(expect.arrayContaining(['DenyReceiveExceptConsumersAndReaders', 'DenyDeleteExceptConsumers', 'DenySendExceptSenders']));
  }
  const swept = JSON.stringify(template.toJSON().Resources[id(stack.sweeper.function)].Properties.Environment.Variables.SWEEP_QUEUES);
  expect(swept).toContain(id(stack.tickStarter.deadLetterQueue));
});

test('producers get the job\'s function settings and the quota\'s batch sizing, and no spool URL', () => {
  const fn = template.toJSON().Resources[id(producer().function)].Properties;
  expect(fn.MemorySize).toBe(1024);
  expect(fn.Environment.Variables).toMatchObject({ TASKS_PER_BATCH: '3000', STARTER_CONCURRENCY: '3', QUARANTINE_QUEUE_URL: { Ref: id(stack.spool.quarantine) }, COORDINATION_TABLE: { Ref: id(stack.coordination.table) } });
  expect(fn.Environment.Variables.SPOOL_QUEUE_URL).toBeUndefined();
  expect(statementsOf(roleIdOf(producer().function)).some((s) => s.Action.includes('dynamodb:Query') && s.Resource === 'arn:aws:dynamodb:ap-northeast-1:111122223333:table/orders')).toBe(true);
});

test('the stack has one tick starter for all jobs', () => {
  expect(Object.keys(template.findResources('AWS::Lambda::EventSourceMapping'))).toHaveLength(1);
  expect(Stack.of(stack.tickStarter).stackName).toBe(stack.stackName);
});
