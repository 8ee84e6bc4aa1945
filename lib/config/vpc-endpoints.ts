import { lambdaStepsOf, ResolvedJob, VpcEndpointsConfig } from './types';

/**
 * The AWS services a VPC-attached function of this app may call, by the endpoint that serves it
 * (docs/vpc.md has the table of which function needs which).
 */
export const ENDPOINT_SERVICES = ['sqs', 'kms', 'firehose', 'dynamodb', 'secretsmanager', 'ssm', 'xray', 'states', 'logs'] as const;
export type EndpointService = (typeof ENDPOINT_SERVICES)[number];

const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** True when any function of these jobs runs in a VPC. */
export function jobsUseVpc(jobs: ReadonlyArray<ResolvedJob>): boolean {
  return jobs.some((j) => j.producer.vpc !== null || lambdaStepsOf(j).some((s) => s.vpc !== null));
}

/**
 * Validates `vpcEndpoints` (app level or the stage's). Returns the resolved setting, or null when it
 * is not set or no deployed job runs in a VPC (no endpoint is billed for nothing).
 */
export function resolveVpcEndpoints(where: string, c: VpcEndpointsConfig | undefined, jobs: ReadonlyArray<ResolvedJob>, problems: string[]): Required<VpcEndpointsConfig> | null {
  if (c === undefined) return null;
  if (typeof c !== 'object' || c === null) {
    problems.push(`${where} must be { vpcId, subnets, securityGroupIds }`);
    return null;
  }
  const before = problems.length;
  if (typeof c.vpcId !== 'string' || !/^vpc-[0-9a-f]{8,17}$/.test(c.vpcId)) problems.push(`${where}.vpcId must be a VPC id (vpc-0123abcd...), got ${JSON.stringify(c.vpcId)}`);
  const check = (field: 'securityGroupIds', re: RegExp, example: string): string[] => {
    const v = list(c[field]);
    if (!Array.isArray(c[field]) || v.length === 0) problems.push(`${where}.${field} must list at least one id (${example})`);
    for (const s of v) if (!re.test(s)) problems.push(`${where}.${field}: ${JSON.stringify(s)} is not an id like ${example}`);
    return v;
  };
  const securityGroupIds = check('securityGroupIds', /^sg-[0-9a-f]{8,17}$/, 'sg-0123abcd...');
  const subnets = Array.isArray(c.subnets) ? c.subnets : [];
  if (subnets.length === 0) problems.push(`${where}.subnets must list the jobs' private subnets, one per Availability Zone: [{ subnetId, availabilityZone, routeTableId }]`);
  const zones = new Set<string>();
  subnets.forEach((sn, i) => {
    const w = `${where}.subnets[${i}]`;
    if (typeof sn?.subnetId !== 'string' || !/^subnet-[0-9a-f]{8,17}$/.test(sn.subnetId)) problems.push(`${w}.subnetId: ${JSON.stringify(sn?.subnetId)} is not an id like subnet-0123abcd...`);
    if (typeof sn?.routeTableId !== 'string' || !/^rtb-[0-9a-f]{8,17}$/.test(sn.routeTableId)) problems.push(`${w}.routeTableId: ${JSON.stringify(sn?.routeTableId)} is not an id like rtb-0123abcd...`);
    if (typeof sn?.availabilityZone !== 'string' || !/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/.test(sn.availabilityZone)) {
      problems.push(`${w}.availabilityZone: ${JSON.stringify(sn?.availabilityZone)} is not an Availability Zone such as "ap-northeast-1a"`);
    } else if (zones.has(sn.availabilityZone)) {
      problems.push(`${w}: a second subnet in ${sn.availabilityZone}; an interface endpoint takes one subnet per Availability Zone`);
    } else zones.add(sn.availabilityZone);
  });
  const existing = list(c.existing);
  for (const s of existing) {
    if (!(ENDPOINT_SERVICES as ReadonlyArray<string>).includes(s)) problems.push(`${where}.existing: "${s}" is not one of ${ENDPOINT_SERVICES.join(', ')}`);
  }
  if (problems.length > before || !jobsUseVpc(jobs)) return null;
  return { vpcId: c.vpcId, subnets: subnets.map((x) => ({ subnetId: x.subnetId, availabilityZone: x.availabilityZone, routeTableId: x.routeTableId })), securityGroupIds, existing };
}
