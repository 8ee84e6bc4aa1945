import { resolve } from 'node:path';
import { AppConfig } from '../lib/config/types';
import { resolveConfig } from '../lib/config/validate';
import { buildCostModel, DEFAULT_ARGS } from '../scripts/cost-model';
import { PRICES } from '../scripts/cost/prices';
import { fixtureConfig } from './support/fixture-config';

/**
 * The cost model prices the interface VPC endpoints the template has (AWS PrivateLink pricing: per
 * endpoint per AZ per hour, plus per GB processed), read from the synthesized template.
 */
const projectRoot = resolve(__dirname, '..');
const VPC = { subnetIds: ['subnet-0123456789abcdef0'], securityGroupIds: ['sg-0123456789abcdef0'] };
const withVpcProducer: AppConfig = {
  ...fixtureConfig,
  jobs: fixtureConfig.jobs.map((j) => (j.name === 'example-fanout' ? { ...j, producer: { ...j.producer, vpc: VPC } } : j)),
  vpcEndpoints: {
    vpcId: 'vpc-0123456789abcdef0',
    subnets: [
      { subnetId: 'subnet-0123456789abcdef0', availabilityZone: 'us-east-1a', routeTableId: 'rtb-0123456789abcdef0' },
      { subnetId: 'subnet-0123456789abcdef1', availabilityZone: 'us-east-1b', routeTableId: 'rtb-0123456789abcdef1' },
    ],
    securityGroupIds: ['sg-0fedcba9876543210'],
  },
};
const ARGS = { ...DEFAULT_ARGS, volumes: [] };

test('interface endpoints are billed per endpoint, per AZ, per hour, plus the bytes the VPC producer sends through them', () => {
  const model = buildCostModel(resolveConfig(withVpcProducer, { allJobs: true }), ARGS, projectRoot);
  // The producer calls SQS, Firehose and X-Ray through interface endpoints (DynamoDB: the free gateway), in 2 AZs.
  expect(model.shape.interfaceEndpointAzs).toBe(3 * 2);
  const month = model.months.find((m) => m.tasksPerDay === 1000)!;
  const row = month.components.find((c) => c.component.startsWith('VPC interface endpoints'))!;
  const hours = 3 * 2 * 24 * 30 * PRICES.vpcInterfaceEndpointHour.usd;
  expect(row.usd).toBeGreaterThan(hours);
  // Data processed is small beside the hours at this volume, but it is counted.
  expect(month.usage.endpointBytes).toBeGreaterThan(0);
  expect(row.usd).toBeCloseTo(hours + (month.usage.endpointBytes * 30 * PRICES.vpcEndpointDataGb.usd) / 1024 ** 3, 6);
});

test('without vpcEndpoints there is no endpoint row and no endpoint bytes', () => {
  const model = buildCostModel(resolveConfig(fixtureConfig, { allJobs: true }), ARGS, projectRoot);
  expect(model.shape.interfaceEndpointAzs).toBe(0);
  expect(model.months[0].components.map((c) => c.component)).not.toContain('VPC interface endpoints (hours per AZ + data)');
  expect(model.months[0].usage.endpointBytes).toBe(0);
});
