import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ResolvedFunctionSettings } from './config/types';
import { acknowledgeOn, nagResource } from './nag';

/**
 * A job function's settings from the config (memory, architecture, layers) as function props, and
 * its extra permissions, secrets and VPC applied after creation: everything a real job needs
 * without a change under lib/.
 */
export function functionSettingsProps(scope: Construct, id: string, s: ResolvedFunctionSettings): Pick<lambda.FunctionProps, 'memorySize' | 'architecture' | 'layers'> {
  return {
    memorySize: s.memoryMiB,
    architecture: s.architecture === 'x86_64' ? lambda.Architecture.X86_64 : lambda.Architecture.ARM_64,
    layers: s.layers.map((arn, i) => lambda.LayerVersion.fromLayerVersionArn(scope, `${id}Layer${i}`, arn)),
  };
}

/** Full ARN of an SSM parameter given by name (or ARN). */
export function ssmParameterArn(stack: Stack, nameOrArn: string): string {
  if (nameOrArn.startsWith('arn:')) return nameOrArn;
  return stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: nameOrArn.replace(/^\//, ''), arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
}

/**
 * ARN pattern of a Secrets Manager secret given by name: Secrets Manager appends `-` and six random
 * characters to a secret's ARN, so the grant names the secret and exactly that suffix shape.
 */
export function secretArnPattern(stack: Stack, nameOrArn: string): string {
  if (nameOrArn.startsWith('arn:')) return nameOrArn;
  return stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${nameOrArn}-??????`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
}

/**
 * Applies IAM statements, managed policies, secret read grants and VPC placement to `fn`.
 * The config's statements go into a policy of their own: a `Resource: "*"` statement there (only
 * allowed with `allowAnyResource`) is acknowledged for that policy alone, never hidden by the
 * acknowledgement of the function's tracing statement.
 */
export function applyFunctionSettings(fn: lambda.Function, s: ResolvedFunctionSettings): void {
  const stack = Stack.of(fn);
  if (s.iam.statements.length > 0) {
    const policy = new iam.Policy(fn, 'ConfigPolicy', {
      roles: [fn.role!],
      statements: s.iam.statements.map(
        (st) =>
          new iam.PolicyStatement({
            effect: st.effect === 'Deny' ? iam.Effect.DENY : iam.Effect.ALLOW,
            actions: [...st.actions],
            resources: [...st.resources],
            ...(st.conditions ? { conditions: st.conditions as Record<string, unknown> } : {}),
          }),
      ),
    });
    const anyResource = s.iam.statements.filter((st) => st.effect === 'Allow' && st.resources.includes('*')).flatMap((st) => st.actions);
    if (anyResource.length > 0) {
      acknowledgeOn(policy, { id: 'AwsSolutions-IAM5[Resource::*]', reason: `Declared in the config with allowAnyResource (actions without resource-level permissions): ${anyResource.join(', ')}.` });
    }
  }
  for (const arn of s.iam.managedPolicyArns) fn.role?.addManagedPolicy(iam.ManagedPolicy.fromManagedPolicyArn(fn, `Managed${arn.replace(/[^A-Za-z0-9]/g, '')}`, arn));
  if (s.secrets.ssmParameters.length > 0) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['ssm:GetParameter', 'ssm:GetParameters'], resources: s.secrets.ssmParameters.map((p) => ssmParameterArn(stack, p)) }),
    );
  }
  if (s.secrets.secretsManager.length > 0) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], resources: s.secrets.secretsManager.map((n) => secretArnPattern(stack, n)) }),
    );
  }
  if (s.vpc) {
    // By id, with no VPC lookup: synth stays offline and needs no account context. The function
    // then manages its network interfaces (AWS Lambda developer guide, "Giving Lambda functions
    // access to resources in an Amazon VPC", required permissions): the Describe actions work only
    // on "*"; the others are limited to EC2 resources of this account and region, the form the
    // guide gives for DeleteNetworkInterface.
    (fn.node.defaultChild as lambda.CfnFunction).vpcConfig = { subnetIds: [...s.vpc.subnetIds], securityGroupIds: [...s.vpc.securityGroupIds] };
    const ec2InAccount = stack.formatArn({ service: 'ec2', resource: '*', resourceName: '*', arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
    const policy = new iam.Policy(fn, 'VpcPolicy', {
      roles: [fn.role!],
      statements: [
        new iam.PolicyStatement({ actions: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'], resources: ['*'] }),
        new iam.PolicyStatement({
          actions: ['ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
          resources: [ec2InAccount],
        }),
      ],
    });
    acknowledgeOn(
      policy,
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets have no resource-level permissions.' },
      {
        id: `AwsSolutions-IAM5[Resource::${nagResource(fn, ec2InAccount)}]`,
        reason: 'Lambda creates and deletes the function\'s network interfaces with ids it chooses: only a wildcard over this account\'s EC2 resources in the region can name them.',
      },
    );
  }
}

/** Seconds secrets are cached in a handler (lambdas/shared/secrets.ts); documented for operators rotating them. */
export const SECRET_CACHE = Duration.minutes(5);
