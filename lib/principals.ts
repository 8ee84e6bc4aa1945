import { DefaultStackSynthesizer, Stack, Token } from 'aws-cdk-lib';
import { Construct } from 'constructs';
export { exactRoleArnProblems, FIND_SSO_ROLE_ARNS } from './config/principals';

/**
 * Exact principals: every lock of the app names the roles it exempts by their exact ARN, never by a
 * pattern, so that a role an administrator creates later (`cdk-anything-cfn-exec-role-...`,
 * `AWSReservedSSO_SREReadOnly_Admins_...`) cannot match. The policies compare `aws:PrincipalArn`
 * with StringEquals / StringNotEquals, which take no wildcards at all (ArnLike and ArnEquals both
 * match `*` and `?`: IAM user guide, "Amazon Resource Name (ARN) condition operators"), and the
 * config refuses a pattern at synth with the way to find the exact ARN.
 */

/**
 * The exact ARN of the CloudFormation execution role that deploys `scope`'s stack: the stack
 * synthesizer's (a DefaultStackSynthesizer: `cdk-<qualifier>-cfn-exec-role-<account>-<region>`,
 * qualifier `hnb659fds` unless the app sets another, or its `cloudFormationExecutionRole`).
 * Another synthesizer has no such role: pass the ARN explicitly.
 */
export function deployRoleArnOf(scope: Construct): string {
  const stack = Stack.of(scope);
  const synth = stack.synthesizer;
  if (!(synth instanceof DefaultStackSynthesizer)) {
    throw new Error(`${stack.stackName}: its synthesizer (${synth.constructor.name}) names no CloudFormation execution role; pass the deploy role's exact ARN (deployRoleArn)`);
  }
  const template = synth.cloudFormationExecutionRole ?? DefaultStackSynthesizer.DEFAULT_CLOUDFORMATION_ROLE_ARN.replace('${Qualifier}', synth.bootstrapQualifier ?? DefaultStackSynthesizer.DEFAULT_QUALIFIER);
  // The synthesizer keeps `${AWS::...}` placeholders for an environment-agnostic stack (it hands
  // them to CloudFormation's Fn::Sub); in a policy they must be the stack's own values.
  const arn = template.replace(/\$\{AWS::Partition\}/g, stack.partition).replace(/\$\{AWS::AccountId\}/g, stack.account).replace(/\$\{AWS::Region\}/g, stack.region);
  if (!Token.isUnresolved(arn) && /[*?]/.test(arn)) throw new Error(`${stack.stackName}: the deploy role ARN "${arn}" is a pattern; name the exact role`);
  return arn;
}

/**
 * `arns` unchanged, after refusing any that is a pattern (a concrete string with `*` or `?`): a
 * construct used outside the validated config must not let a look-alike role in either.
 */
export function assertExact(where: string, arns: ReadonlyArray<string>): string[] {
  const patterns = arns.filter((a) => !Token.isUnresolved(a) && /[*?]/.test(a));
  if (patterns.length > 0) throw new Error(`${where}: ${patterns.join(', ')} ${patterns.length > 1 ? 'are patterns' : 'is a pattern'}; name each role by its exact ARN (lib/config/principals.ts)`);
  return [...arns];
}
