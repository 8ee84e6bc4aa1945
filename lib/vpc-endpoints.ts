import { Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { lambdaStepsOf, ResolvedAppConfig, ResolvedFunctionSettings, VpcEndpointsConfig } from './config/types';
import { EndpointService } from './config/vpc-endpoints';
import { secretArnPattern, ssmParameterArn } from './function-settings';

/** What one VPC-attached function calls, by endpoint: the actions and resources of its grants. */
export interface EndpointNeed {
  readonly service: EndpointService;
  readonly actions: ReadonlyArray<string>;
  readonly resources: ReadonlyArray<string>;
}

/** A function that runs in a VPC, with what it calls through the endpoints. */
export interface VpcFunction {
  readonly fn: lambda.Function;
  readonly needs: ReadonlyArray<EndpointNeed>;
}

/** IAM action prefix of each endpoint's service (a config statement on it goes into the endpoint's policy). */
const ACTION_PREFIX: Record<EndpointService, string> = {
  sqs: 'sqs',
  kms: 'kms',
  firehose: 'firehose',
  dynamodb: 'dynamodb',
  secretsmanager: 'secretsmanager',
  ssm: 'ssm',
  xray: 'xray',
  states: 'states',
  logs: 'logs',
};

const INTERFACE_SERVICES: Record<Exclude<EndpointService, 'dynamodb'>, ec2.InterfaceVpcEndpointAwsService> = {
  sqs: ec2.InterfaceVpcEndpointAwsService.SQS,
  kms: ec2.InterfaceVpcEndpointAwsService.KMS,
  firehose: ec2.InterfaceVpcEndpointAwsService.KINESIS_FIREHOSE,
  secretsmanager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
  ssm: ec2.InterfaceVpcEndpointAwsService.SSM,
  xray: ec2.InterfaceVpcEndpointAwsService.XRAY,
  states: ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS,
  logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
};

/** X-Ray calls of active tracing; none has resource-level permissions. */
const XRAY_ACTIONS = ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'];

/**
 * What a job function's own settings make it call: its secrets, its config statements on a service
 * with an endpoint, and X-Ray (every function traces). The platform's own calls (the producer's
 * queues, stream and ledger; a step's hold switch) are added by the caller.
 */
export function settingsNeeds(stack: Stack, s: ResolvedFunctionSettings): EndpointNeed[] {
  const needs: EndpointNeed[] = [{ service: 'xray', actions: XRAY_ACTIONS, resources: ['*'] }];
  if (s.secrets.ssmParameters.length > 0) needs.push({ service: 'ssm', actions: ['ssm:GetParameter', 'ssm:GetParameters'], resources: s.secrets.ssmParameters.map((p) => ssmParameterArn(stack, p)) });
  if (s.secrets.secretsManager.length > 0) {
    needs.push({ service: 'secretsmanager', actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], resources: s.secrets.secretsManager.map((n) => secretArnPattern(stack, n)) });
  }
  for (const st of s.iam.statements) {
    if (st.effect !== 'Allow') continue;
    for (const [service, prefix] of Object.entries(ACTION_PREFIX) as Array<[EndpointService, string]>) {
      const actions = st.actions.filter((a) => a.split(':')[0] === prefix);
      if (actions.length > 0) needs.push({ service, actions, resources: st.resources });
    }
  }
  return needs;
}

/** Props of {@link JobVpcEndpoints}. */
export interface JobVpcEndpointsProps {
  readonly config: Required<VpcEndpointsConfig>;
  /** Every function of the app that runs in a VPC. */
  readonly functions: ReadonlyArray<VpcFunction>;
}

/**
 * The VPC endpoints the app's VPC-attached functions need (docs/vpc.md): an interface endpoint per
 * service they call (private DNS, so the SDK's default endpoints resolve to it) and the DynamoDB
 * gateway endpoint on the subnets' route tables. Each endpoint's policy allows exactly those
 * functions' roles, exactly the actions and resources they are granted, so the endpoint cannot be
 * used to reach another account's queue or bucket (data exfiltration through an endpoint).
 * Services in `existing` are skipped: that VPC already has an endpoint (and its own policy).
 */
export class JobVpcEndpoints extends Construct {
  /** The endpoints made, by service. */
  public readonly endpoints: ReadonlyMap<EndpointService, ec2.IVpcEndpoint>;

  constructor(scope: Construct, id: string, props: JobVpcEndpointsProps) {
    super(scope, id);
    const { config } = props;
    // Imported by id with the subnets' zones and route tables: synth stays offline (no VPC lookup).
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: config.vpcId,
      availabilityZones: config.subnets.map((s) => s.availabilityZone),
      privateSubnetIds: config.subnets.map((s) => s.subnetId),
      privateSubnetRouteTableIds: config.subnets.map((s) => s.routeTableId),
    });
    const securityGroups = config.securityGroupIds.map((sg, i) => ec2.SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, sg, { mutable: false }));

    const byService = new Map<EndpointService, Array<{ role: iam.IRole; need: EndpointNeed }>>();
    for (const f of props.functions) {
      for (const need of f.needs) {
        if (config.existing.includes(need.service)) continue;
        const list = byService.get(need.service) ?? [];
        list.push({ role: f.fn.role!, need });
        byService.set(need.service, list);
      }
    }

    const endpoints = new Map<EndpointService, ec2.IVpcEndpoint>();
    for (const [service, grants] of [...byService].sort(([a], [b]) => a.localeCompare(b))) {
      const endpoint =
        service === 'dynamodb'
          ? new ec2.GatewayVpcEndpoint(this, 'DynamoDb', { vpc, service: ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets: [{ subnets: vpc.privateSubnets }] })
          : new ec2.InterfaceVpcEndpoint(this, `Endpoint-${service}`, {
              vpc,
              service: INTERFACE_SERVICES[service],
              subnets: { subnets: vpc.privateSubnets },
              securityGroups,
              privateDnsEnabled: true,
              // The security groups are the operator's: no ingress rule from the VPC's CIDR is added.
              open: false,
            });
      for (const { role, need } of grants) {
        endpoint.addToPolicy(new iam.PolicyStatement({ principals: [new iam.ArnPrincipal(role.roleArn)], actions: [...need.actions], resources: [...need.resources] }));
      }
      endpoints.set(service, endpoint);
    }
    this.endpoints = endpoints;
  }
}

/** What {@link appVpcFunctions} reads of the stack. */
export interface AppVpcResources {
  readonly producers: ReadonlyMap<string, { readonly function: lambda.Function }>;
  readonly workflows: ReadonlyMap<string, { readonly stepFunctions: ReadonlyMap<string, lambda.Function> }>;
  /** Queues a producer sends to (the tick queue, the quarantine). */
  readonly producerQueueArns: ReadonlyArray<string>;
  /** The client-record stream a producer writes. */
  readonly clientStreamArn: string;
  /** The coordination table (tick ledger, hold switches). */
  readonly coordinationTableArn: string;
  /** The step-results table (every step records its calls there: lambdas/shared/step-idempotency.ts). */
  readonly stepResultsTableArn: string;
}

/**
 * Every VPC-attached function of the app with what it calls: a producer sends to the tick queue and
 * the quarantine, writes client records and the tick ledger; every step keeps its step records and
 * a step with `dependsOn` reads its hold switch; each its own secrets and config statements, and
 * X-Ray. (DynamoDB calls KMS itself for the step-results table's key, `kms:ViaService`.) (KMS for the queues and the stream
 * is called by SQS and Firehose themselves, `kms:ViaService`: no KMS endpoint is needed for it.)
 */
export function appVpcFunctions(config: ResolvedAppConfig, r: AppVpcResources, stack: Stack): VpcFunction[] {
  const out: VpcFunction[] = [];
  for (const job of config.jobs) {
    const producer = r.producers.get(job.name);
    if (job.producer.vpc && producer) {
      out.push({
        fn: producer.function,
        needs: [
          { service: 'sqs', actions: ['sqs:SendMessage'], resources: r.producerQueueArns },
          { service: 'firehose', actions: ['firehose:PutRecord', 'firehose:PutRecordBatch'], resources: [r.clientStreamArn] },
          { service: 'dynamodb', actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], resources: [r.coordinationTableArn] },
          ...settingsNeeds(stack, job.producer),
        ],
      });
    }
    for (const step of lambdaStepsOf(job)) {
      const fn = r.workflows.get(job.name)?.stepFunctions.get(step.name);
      if (!step.vpc || !fn) continue;
      out.push({
        fn,
        needs: [
          ...(step.dependsOn ? [{ service: 'dynamodb' as const, actions: ['dynamodb:GetItem'], resources: [r.coordinationTableArn] }] : []),
          // Without it a VPC step could not reach its records and would fail before it runs.
          { service: 'dynamodb', actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], resources: [r.stepResultsTableArn] },
          ...settingsNeeds(stack, step),
        ],
      });
    }
  }
  return out;
}
