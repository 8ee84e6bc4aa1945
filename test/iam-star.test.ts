import { isWildcardOnlyAction } from '@cloud-copilot/iam-simulate';
import { AppConfig } from '../lib/config/types';
import { synthApp, SynthesizedApp } from './support/synth-app';

/**
 * Every action the app's identity policies grant on `Resource: "*"`, with why it cannot be
 * narrowed. An action is allowed here only if IAM itself gives it no resource type (checked
 * against the IAM action data the simulator ships, so the list cannot claim otherwise).
 */
const WILDCARD_ONLY: Record<string, string> = {
  'xray:PutTraceSegments': 'Lambda active tracing and Step Functions tracing send trace segments',
  'xray:PutTelemetryRecords': 'the X-Ray SDK/daemon reports telemetry for the same traces',
  'xray:GetSamplingRules': 'Step Functions tracing reads the sampling rules',
  'xray:GetSamplingTargets': 'Step Functions tracing reads the sampling targets',
  'logs:CreateLogDelivery': 'Step Functions logging is a vended log delivery the state machine role sets up',
  'logs:GetLogDelivery': 'same log delivery',
  'logs:UpdateLogDelivery': 'same log delivery',
  'logs:DeleteLogDelivery': 'same log delivery',
  'logs:ListLogDeliveries': 'same log delivery',
  'logs:PutResourcePolicy': 'the log delivery writes the log group resource policy',
  'logs:DescribeResourcePolicies': 'the log delivery reads it',
  'logs:DescribeLogGroups': 'the log delivery checks the target log group',
  'ec2:DescribeNetworkInterfaces': 'a function in a VPC (config `vpc`) looks up its network interfaces',
  'ec2:DescribeSubnets': 'a function in a VPC looks up its subnets',
};

interface Statement {
  readonly Effect: string;
  readonly Action?: string | string[];
  readonly Resource?: unknown;
}

/** Every identity-policy statement of the template with where it is: inline policies, role policies, managed policies. */
function identityStatements(template: SynthesizedApp['template']): Array<{ where: string; statement: Statement }> {
  const out: Array<{ where: string; statement: Statement }> = [];
  for (const [id, r] of Object.entries(template.Resources)) {
    const docs: unknown[] =
      r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy'
        ? [r.Properties?.PolicyDocument]
        : r.Type === 'AWS::IAM::Role'
          ? (r.Properties?.Policies ?? []).map((p: { PolicyDocument: unknown }) => p.PolicyDocument)
          : [];
    for (const doc of docs) for (const statement of (doc as { Statement: Statement[] }).Statement) out.push({ where: id, statement });
  }
  return out;
}

/** Problems of `Resource: "*"` Allow statements: an action not known to be wildcard-only, or not in the list with its reason. */
async function starProblems(template: SynthesizedApp['template']): Promise<string[]> {
  const problems: string[] = [];
  for (const { where, statement } of identityStatements(template)) {
    if (statement.Effect !== 'Allow' || ![statement.Resource].flat().includes('*')) continue;
    for (const action of [statement.Action ?? []].flat()) {
      const [service, name] = action.split(':');
      if (/[*?]/.test(action)) problems.push(`${where}: ${action} is a wildcard action on Resource "*"`);
      else if (!(await isWildcardOnlyAction(service, name))) problems.push(`${where}: ${action} has a resource-level form: name the resource`);
      else if (!(action in WILDCARD_ONLY)) problems.push(`${where}: ${action} on Resource "*" is not in the allowlist of test/iam-star.test.ts: add it with its reason`);
    }
  }
  return problems;
}

describe('Resource "*" statements hold only actions that have no resource-level form', () => {
  test('the shipped app', async () => {
    const { template } = synthApp();
    const starActions = identityStatements(template).filter(({ statement }) => [statement.Resource].flat().includes('*'));
    // The check below must have something to check (tracing alone puts X-Ray on "*").
    expect(starActions.length).toBeGreaterThan(0);
    expect(await starProblems(template)).toEqual([]);
  });

  test('a job step in a VPC: network-interface writes are not on "*"', async () => {
    const withVpc = (c: AppConfig): AppConfig => ({
      ...c,
      jobs: c.jobs.map((j, i) =>
        i === 0 ? { ...j, steps: j.steps.map((s, k) => (k === 0 ? { ...s, vpc: { subnetIds: ['subnet-0123abcd'], securityGroupIds: ['sg-0123abcd'] } } : s)) } : j,
      ),
    });
    const { template } = synthApp(withVpc, 'VpcTest');
    const vpcStatements = identityStatements(template).filter(({ statement }) => [statement.Action].flat().some((a) => String(a).startsWith('ec2:')));
    expect(vpcStatements.length).toBe(2);
    expect(await starProblems(template)).toEqual([]);
  });

  test('the check fails for an action that has a resource-level form', async () => {
    const { template } = synthApp();
    const [policyId] = Object.keys(template.Resources).filter((id) => template.Resources[id].Type === 'AWS::IAM::Policy');
    const tampered = structuredClone(template);
    tampered.Resources[policyId].Properties!.PolicyDocument.Statement.push({ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: '*' });
    expect(await starProblems(tampered)).toEqual([`${policyId}: sqs:SendMessage has a resource-level form: name the resource`]);
  });
});
