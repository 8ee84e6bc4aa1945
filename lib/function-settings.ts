import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ResolvedFunctionSettings } from './config/types';

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

/** Applies IAM statements, managed policies, secret read grants and VPC placement to `fn`. */
export function applyFunctionSettings(fn: lambda.Function, s: ResolvedFunctionSettings): void {
  const stack = Stack.of(fn);
  for (const st of s.iam.statements) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        effect: st.effect === 'Deny' ? iam.Effect.DENY : iam.Effect.ALLOW,
        actions: [...st.actions],
        resources: [...st.resources],
        ...(st.conditions ? { conditions: st.conditions as Record<string, unknown> } : {}),
      }),
    );
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
    // then needs to manage its network interfaces (AWS Lambda "Giving Lambda functions access to
    // resources in an Amazon VPC": these EC2 actions have no resource-level form for Describe*).
    (fn.node.defaultChild as lambda.CfnFunction).vpcConfig = { subnetIds: [...s.vpc.subnetIds], securityGroupIds: [...s.vpc.securityGroupIds] };
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
        resources: ['*'],
      }),
    );
    Validations.of(fn).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: 'A Lambda in a VPC manages its network interfaces; these EC2 actions have no resource-level permissions.' });
  }
}

/** Seconds secrets are cached in a handler (lambdas/shared/secrets.ts); documented for operators rotating them. */
export const SECRET_CACHE = Duration.minutes(5);
