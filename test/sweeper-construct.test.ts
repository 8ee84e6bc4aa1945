import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { resolve } from 'node:path';
import { Alerts } from '../lib/alerts';
import { ErrorSpool } from '../lib/error-spool';
import { ParamsKey } from '../lib/params-key';
import { Sweeper, SweeperProps } from '../lib/sweeper';

const projectRoot = resolve(__dirname, '..');

function build(extra: Partial<SweeperProps> = {}, queues?: (stack: Stack) => SweeperProps['queues']) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'SweeperTest', { env: { account: '123456789012', region: 'ap-northeast-1' } });
  const paramsKey = new ParamsKey(stack, 'ParamsKey', { readerRoleArnPatterns: [] });
  const spool = new ErrorSpool(stack, 'ErrorSpool', { retentionDays: 10, paramsKey });
  const alerts = new Alerts(stack, 'Alerts', { alerts: { emails: ['oncall@example.com'], topicArn: null, notifyOk: true } });
  const tickDlq = new sqs.Queue(stack, 'TickDlq', { enforceSSL: true, encryption: sqs.QueueEncryption.SQS_MANAGED, retentionPeriod: Duration.days(14) });
  Validations.of(tickDlq).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'test dead-letter queue' });
  const sweeper = new Sweeper(stack, 'Sweeper', {
    projectRoot,
    timeZone: 'Asia/Tokyo',
    alerts,
    spool,
    alertAfterDays: 3,
    queues: queues ? queues(stack) : [...Sweeper.spoolQueues(), { label: 'TickDeadLetters', queue: tickDlq }],
    ...extra,
  });
  let synthError: unknown;
  try {
    app.synth();
  } catch (e) {
    synthError = e;
  }
  return { stack, spool, sweeper, tickDlq, paramsKey, template: Template.fromStack(stack), synthError };
}

/** A synthesized Fn::Join as a string, with QueueName attributes and queue URLs (Ref) replaced by placeholders. */
function joinToString(v: unknown): string {
  const parts = (v as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
  return parts
    .map((p) => {
      if (typeof p === 'string') return p;
      const o = p as { 'Fn::GetAtt'?: [string, string]; Ref?: string };
      if (o['Fn::GetAtt']?.[1] === 'QueueName') return `name-of-${o['Fn::GetAtt'][0]}`;
      if (o.Ref) return `url-of-${o.Ref}`;
      throw new Error(`unexpected token ${JSON.stringify(p)}`);
    })
    .join('');
}

const id = (stack: Stack, c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);

describe('Sweeper construct', () => {
  const { stack, spool, sweeper, tickDlq, paramsKey, template, synthError } = build();
  const fnId = id(stack, sweeper.function);

  test('cdk-nag finds nothing unacknowledged', () => {
    expect(synthError).toBeUndefined();
  });

  test('hourly schedule in the app time zone, no flexible window, its own dead-letter queue and retries', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(7 0/1 * * ? *)',
      ScheduleExpressionTimezone: 'Asia/Tokyo',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [fnId, 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [id(stack, sweeper.deadLetterQueue), 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
      }),
    });
    // The dead-letter queue holds tick times only: SQS-managed encryption, TLS only.
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });

  test('a sweep failing after Lambda\'s retries lands in the spool\'s failed-invocations queue', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fnId },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [id(stack, spool.failedInvocations), 'Arn'] } } },
    });
  });

  test('the environment lists every queue with its physical name, URL and retention (read from the queue), and the margin', () => {
    const env = template.findResources('AWS::Lambda::Function')[fnId].Properties.Environment.Variables;
    expect(env.SWEEP_MARGIN_SECONDS).toBe('86400');
    expect(JSON.parse(joinToString(env.SWEEP_QUEUES))).toEqual(
      (
        [
          [spool.queue, 10],
          [spool.quarantine, 14],
          [spool.failedInvocations, 14],
          [tickDlq, 14],
          [sweeper.deadLetterQueue, 14],
        ] as const
      ).map(([q, days]) => ({ name: `name-of-${id(stack, q)}`, url: `url-of-${id(stack, q)}`, retentionSeconds: days * 86_400 })),
    );
  });

  test('least privilege: spool queues through the ErrorSpool grants (recorded), the other queues by plain queue grants, no GetQueueUrl', () => {
    const role = sweeper.function.role!;
    for (const name of ['spool', 'quarantine', 'failedInvocations'] as const) {
      expect(spool.consumers[name]).toContain(role);
      expect(spool.senders[name].filter((r) => r === role)).toHaveLength(1);
    }
    const roleId = id(stack, role);
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>);
    const actionsOn = (resource: unknown) =>
      statements.filter((s) => JSON.stringify(s.Resource) === JSON.stringify(resource)).flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();
    const consumeAndSend = ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage', 'sqs:SendMessage'];
    for (const q of [spool.queue, spool.quarantine, spool.failedInvocations, tickDlq, sweeper.deadLetterQueue]) {
      expect(actionsOn({ 'Fn::GetAtt': [id(stack, q), 'Arn'] })).toEqual(consumeAndSend);
    }
    expect(JSON.stringify(statements)).not.toContain('GetQueueUrl');
    // The params key: decrypt to receive, generate data keys to re-send (AWS SQS "Key management").
    const keyActions = actionsOn({ 'Fn::GetAtt': [id(stack, paramsKey.key), 'Arn'] });
    expect(new Set(keyActions)).toEqual(new Set(['kms:Decrypt', 'kms:GenerateDataKey']));
  });

  test('alarms: oldest failure per queue at alertAfterDays by first send time, not running for 3 hours, errors two periods in a row', () => {
    expect([...sweeper.oldestFailureAlarms.keys()].sort()).toEqual(['SweeperDeadLetters', 'TickDeadLetters', 'failedInvocations', 'quarantine', 'spool']);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'ScheduledJobs',
      MetricName: 'OldestMessageAgeSeconds',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [id(stack, spool.queue), 'QueueName'] } }, { Name: 'service', Value: 'sweeper' }],
      Statistic: 'Maximum',
      Period: 3600,
      Threshold: 3 * 86_400,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: id(stack, (stack.node.findChild('Alerts') as Alerts).topic) }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Invocations',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }],
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      Period: 3600,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: 'breaching',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }],
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      TreatMissingData: 'notBreaching',
    });
  });
});

describe('Sweeper construct refuses settings that could let a message expire, saying how to fix them', () => {
  test('a margin shorter than 6 intervals, an interval cron cannot express, a too-short not-running window', () => {
    expect(() => build({ interval: Duration.hours(6), margin: Duration.days(1), notRunningAfter: Duration.hours(6) })).toThrow(
      /margin: must be at least 6 intervals.*notRunningAfter: must be at least 2 alarm periods/,
    );
    expect(() => build({ interval: Duration.minutes(45) })).toThrow(/interval: use whole minutes dividing an hour/);
  });

  test('a margin over half a queue\'s retention (messages would be re-sent over and over)', () => {
    expect(() => build({ margin: Duration.days(6) })).toThrow(/margin: 6 days is more than half of spool's retention \(10 days\)/);
  });

  test('a queue with a redrive policy (each sweep receive would count toward maxReceiveCount), a FIFO queue, an imported queue without retention, a label twice', () => {
    expect(() =>
      build({}, (stack) => {
        const dlq = new sqs.Queue(stack, 'Dlq');
        const source = new sqs.Queue(stack, 'Source', { deadLetterQueue: { queue: dlq, maxReceiveCount: 3 } });
        const fifo = new sqs.Queue(stack, 'Fifo', { fifo: true });
        const imported = sqs.Queue.fromQueueArn(stack, 'Imported', 'arn:aws:sqs:ap-northeast-1:123456789012:elsewhere');
        return [
          { label: 'source', queue: source },
          { label: 'fifo', queue: fifo },
          { label: 'imported', queue: imported },
          { label: 'spool', spoolQueue: 'spool' },
          { label: 'spool', spoolQueue: 'quarantine' },
        ];
      }),
    ).toThrow(/source has a redrive policy.*after 3 runs.*fifo is a FIFO queue.*imported is not defined in this app; pass its retention.*label "spool" is used twice/);
  });

  test('a queue created without a retention is swept with SQS\'s 4-day default', () => {
    const { stack, template } = build({}, (s) => {
      const plain = new sqs.Queue(s, 'Plain', { enforceSSL: true });
      Validations.of(plain).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'test queue' });
      return [{ label: 'plain', queue: plain }];
    });
    const fn = Object.values(template.findResources('AWS::Lambda::Function')).find((f) => f.Properties.Environment?.Variables?.SWEEP_QUEUES);
    const listed = JSON.parse(joinToString(fn?.Properties.Environment.Variables.SWEEP_QUEUES)) as Array<{ name: string; retentionSeconds: number }>;
    expect(listed[0]).toEqual({ name: `name-of-${id(stack, stack.node.findChild('Plain') as sqs.Queue)}`, url: expect.any(String), retentionSeconds: 4 * 86_400 });
  });
});
