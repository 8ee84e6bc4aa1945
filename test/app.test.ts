import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { resolve } from 'node:path';
import { fixtureConfig } from './support/fixture-config';
import { resolveConfig } from '../lib/config/validate';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';

/** The whole app as bin/app.ts builds it, cdk-nag included (bundling skipped to stay fast). */
const config = resolveConfig(fixtureConfig, { allJobs: true });
let stack: ScheduledJobsStack;
let template: Template;
let synthError: unknown;
beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  stack = new ScheduledJobsStack(app, 'AppTest', { config, projectRoot: resolve(__dirname, '..') });
  try {
    app.synth();
  } catch (e) {
    synthError = e;
  }
  template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true });
});

const resourcesOf = (type: string) => Object.entries(template.findResources(type));

test('cdk-nag AwsSolutions finds nothing unacknowledged (synth fails otherwise)', () => {
  expect(synthError).toBeUndefined();
});

test('no hard-coded physical names, so the app deploys twice into one account', () => {
  const named: string[] = [];
  const nameProps: Record<string, string> = {
    'AWS::SQS::Queue': 'QueueName',
    'AWS::Lambda::Function': 'FunctionName',
    'AWS::S3::Bucket': 'BucketName',
    'AWS::StepFunctions::StateMachine': 'StateMachineName',
    'AWS::SNS::Topic': 'TopicName',
    'AWS::KinesisFirehose::DeliveryStream': 'DeliveryStreamName',
    'AWS::Scheduler::Schedule': 'Name',
  };
  for (const [type, prop] of Object.entries(nameProps)) {
    for (const [id, r] of resourcesOf(type)) if (r.Properties?.[prop] !== undefined) named.push(`${id}.${prop}`);
  }
  expect(named).toEqual([]);
});

test('every queue is encrypted and refuses requests without TLS', () => {
  const queues = resourcesOf('AWS::SQS::Queue');
  expect(queues.length).toBeGreaterThanOrEqual(4); // spool, quarantine, producer DLQ, monitor DLQ
  const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy'));
  for (const [id, q] of queues) {
    expect(q.Properties.SqsManagedSseEnabled === true || q.Properties.KmsMasterKeyId !== undefined).toBe(true);
    const tlsOnly = policies.some(
      (p) =>
        JSON.stringify(p.Properties.Queues).includes(id) &&
        p.Properties.PolicyDocument.Statement.some((s: { Effect: string; Condition?: { Bool?: Record<string, string> } }) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false'),
    );
    expect({ id, tlsOnly }).toEqual({ id, tlsOnly: true });
  }
});

test('every bucket blocks public access, is encrypted, and refuses requests without TLS', () => {
  const policies = Object.values(template.findResources('AWS::S3::BucketPolicy'));
  for (const [id, b] of resourcesOf('AWS::S3::Bucket')) {
    expect(b.Properties.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(b.Properties.BucketEncryption).toBeDefined();
    const tlsOnly = policies.some(
      (p) =>
        JSON.stringify(p.Properties.Bucket).includes(id) &&
        p.Properties.PolicyDocument.Statement.some((s: { Effect: string; Condition?: { Bool?: Record<string, string> } }) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false'),
    );
    expect({ id, tlsOnly }).toEqual({ id, tlsOnly: true });
  }
});

test('no state machine logs execution data (params stay out of CloudWatch)', () => {
  const machines = resourcesOf('AWS::StepFunctions::StateMachine');
  expect(machines).toHaveLength(config.jobs.length);
  for (const [, sm] of machines) expect(sm.Properties.LoggingConfiguration.IncludeExecutionData).toBe(false);
});

describe('operations alarms', () => {
  const topic = () => ({ Ref: stack.getLogicalId(stack.alerts.topic.node.defaultChild as never) });

  test('fire when failures wait in the spool', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [stack.getLogicalId(stack.spool.queue.node.defaultChild as never), 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [topic()],
    });
  });

  test('no alarm reads ApproximateAgeOfOldestMessage: it skips messages received three times or more (AWS SQS docs), so it goes blind after dry runs', () => {
    const blind = resourcesOf('AWS::CloudWatch::Alarm').filter(([, a]) => a.Properties.MetricName === 'ApproximateAgeOfOldestMessage');
    expect(blind.map(([id]) => id)).toEqual([]);
  });

  test('watch the quarantine, every schedule dead-letter queue, the tick dead-letter queue and the tick backlog', () => {
    const watched = resourcesOf('AWS::CloudWatch::Alarm')
      .filter(([, a]) => a.Properties.MetricName === 'ApproximateNumberOfMessagesVisible')
      .map(([, a]) => a.Properties.Dimensions[0].Value['Fn::GetAtt'][0] as string);
    const expected = [
      stack.spool.queue,
      stack.reprocess.quarantineQueue,
      stack.investigation.monitor.deadLetterQueue,
      stack.sweeper.deadLetterQueue,
      stack.tickStarter.deadLetterQueue,
      stack.tickStarter.tickQueue, // its backlog: not emptied for an hour
      stack.executionCapture.failuresQueue, // captures the reconciler could not redo for an hour
      ...config.jobs.map((j) => (stack.node.findChild(`Producer-${j.name}`) as import('../lib/scheduled-producer').ScheduledProducer).deadLetterQueue),
    ].map((q) => stack.getLogicalId(q.node.defaultChild as never));
    expect(watched.sort()).toEqual(expected.sort());
  });

  test('nothing the system holds can expire unseen: the sweeper sweeps every queue (a queue with a redrive policy through its dead-letter queue)', () => {
    const fn = template.findResources('AWS::Lambda::Function')[stack.getLogicalId(stack.sweeper.function.node.defaultChild as never)];
    const swept = JSON.stringify(fn.Properties.Environment.Variables.SWEEP_QUEUES);
    const unswept = resourcesOf('AWS::SQS::Queue')
      .filter(([, q]) => q.Properties.RedrivePolicy === undefined)
      .map(([id]) => id)
      .filter((id) => !swept.includes(`"${id}"`));
    expect(unswept).toEqual([]);
  });

  test('every swept queue has an age alarm by first send time at spool.alertAfterDays, notifying the operators', () => {
    const ageAlarms = resourcesOf('AWS::CloudWatch::Alarm').filter(([, a]) => a.Properties.MetricName === 'OldestMessageAgeSeconds');
    const queues = resourcesOf('AWS::SQS::Queue').filter(([, q]) => q.Properties.RedrivePolicy === undefined);
    expect(ageAlarms).toHaveLength(queues.length);
    for (const [, a] of ageAlarms) {
      expect(a.Properties).toMatchObject({
        Namespace: 'ScheduledJobs',
        Threshold: config.spool.alertAfterDays * 86_400,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        AlarmActions: [topic()],
      });
    }
    const watched = ageAlarms.map(([, a]) => (a.Properties.Dimensions as Array<{ Name: string; Value: { 'Fn::GetAtt': string[] } }>).find((d) => d.Name === 'QueueName')?.Value['Fn::GetAtt'][0]);
    expect(watched.sort()).toEqual(queues.map(([id]) => id).sort());
  });

  test('the dashboard shows every alarm of the app, the failure queues by first-send age, and every function', () => {
    const [dashboard] = resourcesOf('AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard[1].Properties.DashboardBody);
    for (const [id] of resourcesOf('AWS::CloudWatch::Alarm')) expect({ id, shown: body.includes(id) }).toEqual({ id, shown: true });
    expect(body).toContain('OldestMessageAgeSeconds');
    expect(body).not.toContain('ApproximateAgeOfOldestMessage');
    for (const [id] of resourcesOf('AWS::Lambda::Function')) if (!id.startsWith('LogRetention')) expect({ id, shown: body.includes(id) }).toEqual({ id, shown: true });
  });
});

describe('function and delivery alarms', () => {
  const alarms = () => resourcesOf('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  const fnIdsWith = (metric: string) =>
    alarms()
      .filter((a) => a.MetricName === metric && a.Namespace === 'AWS/Lambda')
      .map((a) => a.Dimensions.find((d: { Name: string }) => d.Name === 'FunctionName').Value.Ref as string);

  test('every app function alarms on any error, except where errors are normal (a step: an error rate) or better watched (lock, sweeper, monitor, reprocess); all notify the alert topic', () => {
    const idOf = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);
    const steps = new Set([...stack.workflows.values()].flatMap((w) => [...w.stepFunctions.values()].map(idOf)));
    const lock = stack.node.findChild('Lock') as import('../lib/workflow').LockFunction;
    const watchedElsewhere = new Set([idOf(lock), idOf(stack.sweeper.function), idOf(stack.investigation.monitor.function), idOf(stack.reprocess.function)]);
    const all = resourcesOf('AWS::Lambda::Function').map(([id]) => id).filter((id) => !id.startsWith('LogRetention') && !id.includes('CustomResource') && !id.startsWith('AWS'));
    // The any-error alarms FunctionAlarms makes (the monitor's and the sweeper's own alarms read Errors too).
    const fa = new Set(stack.functionAlarms.alarms.map((a) => stack.getLogicalId(a.node.defaultChild as never)));
    const withErrors = new Set(
      resourcesOf('AWS::CloudWatch::Alarm')
        .filter(([id, a]) => fa.has(id) && a.Properties.MetricName === 'Errors')
        .map(([, a]) => a.Properties.Dimensions.find((d: { Name: string }) => d.Name === 'FunctionName').Value.Ref as string),
    );
    const rate = alarms().filter((a) => a.Metrics?.some((m: { Expression?: string }) => m.Expression?.includes('errors / invocations')));
    for (const id of all) {
      if (steps.has(id)) expect(rate.some((a) => JSON.stringify(a.Metrics).includes(id))).toBe(true);
      else expect({ id, anyErrorAlarms: withErrors.has(id) }).toEqual({ id, anyErrorAlarms: !watchedElsewhere.has(id) });
    }
    // Those have their own: busy locks are the lock's normal errors, so it alarms on its other failures.
    expect(alarms().some((a) => a.MetricName === 'LockFailures' && JSON.stringify(a.Dimensions).includes(idOf(lock)))).toBe(true);
    expect(stack.sweeper.errorsAlarm).toBeDefined();
    expect(stack.investigation.monitorErrorsAlarm).toBeDefined();
    const topic = { Ref: stack.getLogicalId(stack.alerts.topic.node.defaultChild as never) };
    for (const a of alarms()) expect(a.AlarmActions).toContainEqual(topic);
  });

  test('throttles alarm, except for steps whose maxConcurrency makes them expected', () => {
    const throttled = new Set(fnIdsWith('Throttles'));
    const fanout = stack.workflows.get('example-fanout')!;
    const processPart = stack.getLogicalId(fanout.stepFunctions.get('ProcessPart')!.node.defaultChild as never);
    const aggregate = stack.getLogicalId(fanout.stepFunctions.get('Aggregate')!.node.defaultChild as never);
    expect(throttled.has(processPart)).toBe(false);
    expect(throttled.has(aggregate)).toBe(true);
  });

  test('Firehose delivery failing or late alarms, for both streams', () => {
    for (const metric of ['DeliveryToS3.Success', 'DeliveryToS3.DataFreshness']) {
      expect(alarms().filter((a) => a.MetricName === metric && a.Namespace === 'AWS/Firehose')).toHaveLength(2);
    }
  });
});
