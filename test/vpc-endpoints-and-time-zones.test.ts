import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { resolve } from 'node:path';
import { AppConfig, JobConfig, VpcEndpointsConfig } from '../lib/config/types';
import { resolveConfig } from '../lib/config/validate';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';
import { parseSchedule, scheduleTicks } from '../lib/config/schedule';
import { functionEnvironment, schedules, synthesizeApp } from '../local/offline-day/app-model';
import { fixtureConfig } from './support/fixture-config';

/**
 * CDK assertions on the synthesized template: a job's own time zone moves its schedule and what its
 * producer is told, never the parameter log's partitions; `vpcEndpoints` creates the endpoints the
 * VPC-attached functions need, each with a policy that names only their roles, actions and resources;
 * cdk-nag stays clean with them.
 */

const VPC = { subnetIds: ['subnet-0123456789abcdef0'], securityGroupIds: ['sg-0123456789abcdef0'] };
const ENDPOINTS: VpcEndpointsConfig = {
  vpcId: 'vpc-0123456789abcdef0',
  subnets: [
    { subnetId: 'subnet-0123456789abcdef0', availabilityZone: 'ap-northeast-1a', routeTableId: 'rtb-0123456789abcdef0' },
    { subnetId: 'subnet-0123456789abcdef1', availabilityZone: 'ap-northeast-1c', routeTableId: 'rtb-0123456789abcdef1' },
  ],
  securityGroupIds: ['sg-0fedcba9876543210'],
};

function synth(config: AppConfig, nag = false): { template: Template; stack: ScheduledJobsStack; error: unknown } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new ScheduledJobsStack(app, 'EndpointsTest', { config: resolveConfig(config, { allJobs: true }), projectRoot: resolve(__dirname, '..'), env: { account: '111122223333', region: 'ap-northeast-1' } });
  let error: unknown;
  try {
    app.synth();
  } catch (e) {
    error = e;
  }
  return { template: Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }), stack, error };
}

const editJobs = (edit: (j: JobConfig) => JobConfig, over: Partial<AppConfig> = {}): AppConfig => ({ ...fixtureConfig, jobs: fixtureConfig.jobs.map(edit), ...over });

describe('per-job time zone', () => {
  const { template, stack } = synth(editJobs((j) => (j.name === 'example-api' ? { ...j, timeZone: 'Europe/Berlin' } : j)));

  test("the job's schedule runs in its own zone; the other job keeps the app's", () => {
    const schedules = template.findResources('AWS::Scheduler::Schedule');
    const zones = Object.values(schedules).map((r) => [String(r.Properties.Description).split(':')[0], r.Properties.ScheduleExpressionTimezone]);
    expect(zones).toEqual(expect.arrayContaining([['example-api', 'Europe/Berlin'], ['example-fanout', 'Asia/Tokyo']]));
  });

  test("the producer is told the job's zone; parameter-log partitions and records stay in the app's", () => {
    const fn = stack.resolve((stack.producers.get('example-api')!.function.node.defaultChild as unknown as { environment: unknown }).environment) as { variables: Record<string, string> };
    expect(fn.variables).toMatchObject({ JOB_TIME_ZONE: 'Europe/Berlin', APP_TIME_ZONE: 'Asia/Tokyo' });
    template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', { ExtendedS3DestinationConfiguration: Match.objectLike({ CustomTimeZone: 'Asia/Tokyo' }) });
  });
});

describe('per-job time zone in the offline day', () => {
  test("the offline day evaluates each schedule in its job's zone, read from the synthesized schedule", () => {
    const config = resolveConfig(
      editJobs((j) => (j.name === 'example-api' ? { ...j, timeZone: 'Europe/Berlin', schedule: 'cron(0 2 * * ? *)' } : { ...j, schedule: 'cron(0 2 * * ? *)' })),
      { allJobs: true },
    );
    const model = synthesizeApp(config, resolve(__dirname, '..'));
    const byJob = new Map(schedules(model).map((s) => [functionEnvironment(model, s.targetFunction, () => 'x').JOB_NAME, s]));
    const day = [new Date('2027-01-15T00:00:00Z'), new Date('2027-01-16T00:00:00Z')] as const;
    const ticks = (job: string) => scheduleTicks(parseSchedule(byJob.get(job)!.expression), byJob.get(job)!.timeZone, ...day).map((d) => d.toISOString());
    // 02:00 in Berlin (UTC+1 in January) and 02:00 in Tokyo (UTC+9, the previous UTC day's 17:00 falls outside).
    expect(ticks('example-api')).toEqual(['2027-01-15T01:00:00.000Z']);
    expect(ticks('example-fanout')).toEqual(['2027-01-15T17:00:00.000Z']);
  });
});

describe('vpcEndpoints', () => {
  // The fan-out job's producer and the API job's CallApi step (dependsOn, a secret) run in a VPC.
  const inVpc = editJobs(
    (j) => {
      if (j.name === 'example-fanout') return { ...j, producer: { ...j.producer, vpc: VPC } };
      return { ...j, steps: j.steps.map((s) => ('entry' in s && s.name === 'CallApi' ? { ...s, vpc: VPC, secrets: { secretsManager: ['orders/api-credentials'] } } : s)) };
    },
    { vpcEndpoints: ENDPOINTS },
  );
  const { template, stack, error } = synth(inVpc, true);
  const endpoints = () => Object.values(template.findResources('AWS::EC2::VPCEndpoint')).map((r) => r.Properties as Record<string, any>);
  // The service's last name part: `com.amazonaws.<region>.sqs`, also when the region is a token (Fn::Join).
  const serviceOf = (p: Record<string, any>): string => JSON.stringify(p.ServiceName).replace(/[^a-z.-]/g, ' ').trim().split(/[ .]+/).pop()!;
  const roleOf = (fn: { role?: { roleArn: string } }) => stack.resolve(fn.role!.roleArn);

  test('cdk-nag finds nothing unacknowledged with the endpoints', () => {
    expect(error).toBeUndefined();
  });

  test('one interface endpoint per service called from the VPC, private DNS, in the given subnets and security groups; the DynamoDB gateway on their route tables; none for KMS, Step Functions or Logs', () => {
    const made = endpoints().map((p) => [serviceOf(p), p.VpcEndpointType]).sort();
    expect(made).toEqual([
      ['dynamodb', 'Gateway'],
      ['kinesis-firehose', 'Interface'],
      ['secretsmanager', 'Interface'],
      ['sqs', 'Interface'],
      ['xray', 'Interface'],
    ]);
    for (const p of endpoints().filter((x) => x.VpcEndpointType === 'Interface')) {
      expect(p).toMatchObject({ VpcId: 'vpc-0123456789abcdef0', PrivateDnsEnabled: true, SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'], SecurityGroupIds: ['sg-0fedcba9876543210'] });
    }
    expect(endpoints().find((p) => p.VpcEndpointType === 'Gateway')).toMatchObject({ RouteTableIds: ['rtb-0123456789abcdef0', 'rtb-0123456789abcdef1'] });
    // The operator's security groups are not changed.
    expect(template.findResources('AWS::EC2::SecurityGroupIngress')).toEqual({});
  });

  test("each endpoint policy names only the VPC functions' roles, their actions and resources", () => {
    const producerRole = roleOf(stack.producers.get('example-fanout')!.function);
    const callApiRole = roleOf(stack.workflows.get('example-api')!.stepFunctions.get('CallApi')!);
    const policy = (service: string) => endpoints().find((p) => serviceOf(p) === service)!.PolicyDocument.Statement as Array<Record<string, any>>;

    expect(policy('sqs')).toEqual([
      {
        Effect: 'Allow',
        Principal: { AWS: producerRole },
        Action: 'sqs:SendMessage',
        Resource: [stack.resolve(stack.tickStarter.tickQueue.queueArn), stack.resolve(stack.spool.quarantine.queueArn)],
      },
    ]);
    expect(policy('kinesis-firehose')).toEqual([{ Effect: 'Allow', Principal: { AWS: producerRole }, Action: ['firehose:PutRecord', 'firehose:PutRecordBatch'], Resource: stack.resolve(stack.paramLog.clientStream.deliveryStreamArn) }]);
    const table = stack.resolve(stack.coordination.table.tableArn);
    expect(policy('dynamodb')).toEqual([
      { Effect: 'Allow', Principal: { AWS: callApiRole }, Action: 'dynamodb:GetItem', Resource: table },
      // Its step records (idempotent steps): without them the step fails before it runs.
      { Effect: 'Allow', Principal: { AWS: callApiRole }, Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], Resource: stack.resolve(stack.stepResults.table.tableArn) },
      { Effect: 'Allow', Principal: { AWS: producerRole }, Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], Resource: table },
    ]);
    expect(policy('secretsmanager')).toEqual([
      {
        Effect: 'Allow',
        Principal: { AWS: callApiRole },
        Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':secretsmanager:ap-northeast-1:111122223333:secret:orders/api-credentials-??????']] },
      },
    ]);
    // No statement anywhere for a principal that is not one of the two roles.
    for (const p of endpoints()) for (const st of p.PolicyDocument.Statement) expect([producerRole, callApiRole]).toContainEqual(st.Principal.AWS);
  });

  test('services listed in existing get no endpoint; no VPC job, no endpoint', () => {
    const existing = synth({ ...inVpc, vpcEndpoints: { ...ENDPOINTS, existing: ['xray', 'sqs'] } }).template;
    const services = Object.values(existing.findResources('AWS::EC2::VPCEndpoint')).map((r) => serviceOf(r.Properties));
    expect(services.sort()).toEqual(['dynamodb', 'kinesis-firehose', 'secretsmanager']);
    expect(synth({ ...fixtureConfig, vpcEndpoints: ENDPOINTS }).template.findResources('AWS::EC2::VPCEndpoint')).toEqual({});
  });

  test('a config statement on a service with an endpoint goes into that endpoint policy (e.g. the job reads its own table)', () => {
    const withTable = editJobs(
      (j) => (j.name === 'example-fanout' ? { ...j, producer: { ...j.producer, vpc: VPC, iam: { statements: [{ actions: ['dynamodb:Query'], resources: ['arn:aws:dynamodb:ap-northeast-1:111122223333:table/accounts'] }] } } } : j),
      { vpcEndpoints: ENDPOINTS },
    );
    const t = synth(withTable);
    const gw = Object.values(t.template.findResources('AWS::EC2::VPCEndpoint')).find((r) => r.Properties.VpcEndpointType === 'Gateway')!;
    expect(gw.Properties.PolicyDocument.Statement).toEqual(expect.arrayContaining([expect.objectContaining({ Action: 'dynamodb:Query', Resource: 'arn:aws:dynamodb:ap-northeast-1:111122223333:table/accounts' })]));
    expect(Stack.of(t.stack).region).toBe('ap-northeast-1');
  });
});
