import { App } from 'aws-cdk-lib';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import { resolve } from 'node:path';
import { fixtureConfig } from './support/fixture-config';
import { resolveConfig } from '../lib/config/validate';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';
import { aslFromTemplate } from '../local/asl';
import { lambdaStepsOf } from '../lib/config/types';
import { STATE_TIMEOUT_MARGIN_SECONDS } from '../lambdas/shared/workflow-contract';

const config = resolveConfig(fixtureConfig, { allJobs: true });
let stack: ScheduledJobsStack;
let template: Template;
beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  stack = new ScheduledJobsStack(app, 'ConstructsTest', { config, projectRoot: resolve(__dirname, '..') });
  template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true });
});

const job = config.jobs.find((j) => j.name === 'example-api')!;

describe('ScheduledProducer', () => {
  test('schedule runs in the app time zone, flexible window off, with retries and a DLQ', () => {
    const dlq = new Capture();
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: job.schedule,
      ScheduleExpressionTimezone: 'Asia/Tokyo',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: job.enabled ? 'ENABLED' : 'DISABLED',
      Target: Match.objectLike({
        Input: JSON.stringify({ scheduledTime: '<aws.scheduler.scheduled-time>' }),
        RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
      }),
    });
    const q = template.toJSON().Resources[dlq.asString()];
    expect(q.Type).toBe('AWS::SQS::Queue');
    expect(q.Properties.SqsManagedSseEnabled).toBe(true);
  });

  test('producer starts no execution itself: it may only write its tick to the tick queue (the tick starter starts, see tick-starter-construct.test.ts)', () => {
    const producer = stack.node.findChild(`Producer-${job.name}`).node.findChild('Function') as import('aws-cdk-lib/aws-lambda').Function;
    const roleId = stack.getLogicalId(producer.role!.node.defaultChild as never);
    const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } });
    expect(Object.keys(policies)).toHaveLength(1);
    const starts = Object.values(policies).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>).filter((s) => [s.Action].flat().includes('states:StartExecution')),
    );
    expect(starts).toHaveLength(0);
    const sends = Object.values(policies).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>).filter((s) => [s.Action].flat().includes('sqs:SendMessage')),
    );
    expect(sends.map((s) => JSON.stringify(s.Resource))).toContainEqual(expect.stringContaining('TickStarterTickQueue'));
  });
});

describe('ErrorSpool', () => {
  test('encrypted, retention from config, 15 min visibility, TLS-only', () => {
    const spoolId = stack.getLogicalId(stack.spool.queue.node.defaultChild as never);
    const q = template.toJSON().Resources[spoolId];
    // The params key (a customer managed key), not SQS-managed encryption: see issue 9.
    expect(q.Properties).toMatchObject({ KmsMasterKeyId: { 'Fn::GetAtt': [stack.getLogicalId(stack.paramsKey.key.node.defaultChild as never), 'Arn'] }, MessageRetentionPeriod: config.spool.retentionDays * 86400, VisibilityTimeout: 900 });
    expect(q.DeletionPolicy).toBe('Retain');
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: spoolId }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });
});

describe('ParamLog', () => {
  test('bucket: KMS CMK with rotation, public access blocked, versioned, retained, TLS-only', () => {
    const key = new Capture();
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BucketEncryption: { ServerSideEncryptionConfiguration: [Match.objectLike({ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [key, 'Arn'] } } })] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        VersioningConfiguration: { Status: 'Enabled' },
      }),
    });
    expect(template.toJSON().Resources[key.asString()].Properties.EnableKeyRotation).toBe(true);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test.each([
    ['client/', 'clientStream'],
    ['worker/', 'workerStream'],
  ] as const)('%s stream: gzip, day partitions in the app time zone, error prefix, buffering from config, SSE', (prefix, field) => {
    const id = stack.getLogicalId(stack.paramLog[field].node.defaultChild as never);
    const props = template.toJSON().Resources[id].Properties;
    expect(props.DeliveryStreamEncryptionConfigurationInput).toEqual({ KeyType: 'AWS_OWNED_CMK' });
    expect(props.ExtendedS3DestinationConfiguration).toMatchObject({
      CompressionFormat: 'GZIP',
      Prefix: `${prefix}year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/`,
      ErrorOutputPrefix: expect.stringMatching(new RegExp(`^errors/${prefix}!\\{firehose:error-output-type\\}/`)),
      CustomTimeZone: 'Asia/Tokyo',
      BufferingHints: { IntervalInSeconds: config.paramLog.bufferSeconds, SizeInMBs: config.paramLog.bufferMiB },
    });
  });

  test('writerRoles are the delivery roles the streams use', () => {
    const roleIds = stack.paramLog.writerRoles.map((r) => stack.getLogicalId(r.node.defaultChild as never));
    const streams = template.findResources('AWS::KinesisFirehose::DeliveryStream');
    const used = Object.values(streams).map((s) => s.Properties.ExtendedS3DestinationConfiguration.RoleARN['Fn::GetAtt'][0]);
    expect(used.sort()).toEqual([...roleIds].sort());
  });
});

describe('JobWorkflow', () => {
  test('state machine logs errors only, never execution data, and traces', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      LoggingConfiguration: Match.objectLike({ Level: 'ERROR', IncludeExecutionData: false }),
      TracingConfiguration: { Enabled: true },
    });
  });

  test('each step has a throttle retrier, exactly its configured Retry, and a catch-all Catch into its Caught state', () => {
    const { definition } = aslFromTemplate(template.toJSON() as never, { job: job.name });
    for (const step of lambdaStepsOf(job)) {
      const state = definition.States[step.name] as unknown as { Retry: Array<Record<string, unknown>>; Catch: unknown; TimeoutSeconds: number };
      const own = state.Retry.filter((r) => !(r.ErrorEquals as string[]).every((e) => e.startsWith('Lambda.')));
      expect(own).toEqual([
        {
          ErrorEquals: step.retry.retryableErrors,
          IntervalSeconds: step.retry.intervalSeconds,
          MaxAttempts: step.retry.maxAttempts,
          BackoffRate: step.retry.backoffRate,
          MaxDelaySeconds: step.retry.maxDelaySeconds,
          JitterStrategy: 'FULL',
        },
      ]);
      // Throttling has its own retrier (its own attempt count), separate from the step's budget.
      expect(state.Retry).toContainEqual(expect.objectContaining({ ErrorEquals: ['Lambda.TooManyRequestsException'], JitterStrategy: 'FULL' }));
      for (const r of state.Retry) expect(r.ErrorEquals).not.toEqual(expect.arrayContaining(['States.Timeout']));
      expect(state.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.caught', Next: `${step.name}-Caught` }]);
      expect(state.TimeoutSeconds).toBe(step.timeoutSeconds + STATE_TIMEOUT_MARGIN_SECONDS);
      expect(definition.States[`${step.name}-Caught`]).toMatchObject({ Type: 'Pass', Next: 'SpoolFailure' });
    }
    expect(definition.States.Failed).toEqual({ Type: 'Fail', ErrorPath: '$.fail.Error', CausePath: '$.fail.Cause' });
    expect(definition.States.SpoolUnavailable).toEqual({ Type: 'Fail', Error: 'SpoolUnavailable', CausePath: '$.fail.Cause' });
  });

  test('step Lambdas stop at the step timeout, and the state times out only after it (so nothing runs on after a spool)', () => {
    for (const step of lambdaStepsOf(job)) {
      const fn = stack.workflows.get(job.name)!.stepFunctions.get(step.name)!;
      const props = template.toJSON().Resources[stack.getLogicalId(fn.node.defaultChild as never)].Properties;
      expect(props.Timeout).toBe(step.timeoutSeconds);
    }
  });

  test('every step records its calls in the coordination table (idempotent steps), under its own job\'s keys only', () => {
    for (const w of [...stack.workflows.values()]) {
      for (const fn of w.stepFunctions.values()) {
        const props = template.toJSON().Resources[stack.getLogicalId(fn.node.defaultChild as never)].Properties;
        expect(props.Environment.Variables.STEP_RESULTS_TABLE).toEqual({ Ref: stack.getLogicalId(stack.stepResults.table.node.defaultChild as never) });
      }
    }
  });

  test('every execution has a timeout derived from its steps', () => {
    const { definition } = aslFromTemplate(template.toJSON() as never, { job: job.name });
    expect(definition.TimeoutSeconds).toBe(job.executionTimeoutSeconds);
    expect(job.executionTimeoutSeconds).toBeGreaterThan(lambdaStepsOf(job).reduce((n, s) => n + s.timeoutSeconds * (1 + s.retry.maxAttempts), 0));
  });
});

