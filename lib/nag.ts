import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { IConstruct } from 'constructs';
// cdk-nag renders a finding's resource with this; used so each acknowledgement names exactly its resource.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';

/** One cdk-nag finding acknowledged, with the reason it is acceptable. */
export interface NagAcknowledgement {
  /** The finding id as cdk-nag reports it, e.g. `AwsSolutions-IAM5[Resource::*]`. */
  readonly id: string;
  /** Why this finding is acceptable here. Must be true of this resource. */
  readonly reason: string;
}

/**
 * The CloudFormation resource a finding is made on: the construct itself when it is one, else its
 * default child. Acknowledging on a parent would let every child (a role's future policy, say)
 * inherit the acknowledgement, so a new wildcard statement would pass silently.
 */
export function cfnResourceOf(construct: IConstruct): CfnResource {
  if (CfnResource.isCfnResource(construct)) return construct;
  const child = construct.node.defaultChild;
  if (child && CfnResource.isCfnResource(child)) return child;
  throw new Error(`${construct.node.path} is not a CloudFormation resource and has no default child resource to acknowledge a finding on`);
}

/** Acknowledges cdk-nag findings on exactly one CloudFormation resource (see {@link cfnResourceOf}). */
export function acknowledgeOn(construct: IConstruct, ...acks: NagAcknowledgement[]): void {
  Validations.of(cfnResourceOf(construct)).acknowledge(...acks);
}

/**
 * The `AWS::IAM::Policy` where grants to `role` land (its `DefaultPolicy`): cdk-nag makes IAM5
 * findings there, so that is where they are acknowledged. Throws when nothing was granted yet.
 */
export function defaultPolicyOf(role: iam.IRole): CfnResource {
  const policy = role.node.tryFindChild('DefaultPolicy');
  if (!policy) throw new Error(`${role.node.path} has no DefaultPolicy yet: acknowledge after the grants are made`);
  return cfnResourceOf(policy);
}

/** Acknowledges IAM5 findings on `role`'s default policy (where its grants are). */
export function acknowledgeOnPolicyOf(role: iam.IRole, ...acks: NagAcknowledgement[]): void {
  Validations.of(defaultPolicyOf(role)).acknowledge(...acks);
}

/**
 * The resource part of an IAM5 finding id for an ARN built from tokens, as cdk-nag renders it
 * (e.g. `<FnLogicalId.Arn>:*`).
 */
export function nagResource(scope: IConstruct, arn: string): string {
  return flattenCfnReference(Stack.of(scope).resolve(arn));
}
