import { Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** Props of {@link HmacKey}. */
export interface HmacKeyProps {
  /** Key description (what its MACs stand for). */
  readonly description: string;
  /**
   * Whether anyone may verify MACs with it. False for a key whose MACs are only compared for
   * equality (lock keys): then VerifyMac is denied to every principal.
   */
  readonly verifiable: boolean;
  /** RETAIN when data that outlives the stack must still verify (the parameter log). */
  readonly removalPolicy: RemovalPolicy;
  /** Environment variable that names the key for a function granted through {@link HmacKey.grantGenerateTo}. */
  readonly environmentVariable: string;
}

/**
 * A KMS HMAC key (HMAC_256, GENERATE_VERIFY_MAC). KMS never exports it, so a MAC can only be made
 * by calling `kms:GenerateMac`, and this key's policy denies that call to every principal but the
 * roles recorded through {@link grantGenerate}; `kms:VerifyMac` likewise to all but the roles
 * recorded through {@link grantVerify}. The lists hold exact role ARNs (`aws:PrincipalArn`
 * StringNotEquals), read at synth so roles granted later are included: no pattern that a role
 * created later could match. A generator cannot verify and a verifier cannot generate, unless
 * granted both. Key administration stays with the account (the CDK's default key policy), so an
 * administrator may still rewrite this policy: docs/security.md, "Record MACs".
 */
export class HmacKey extends Construct {
  public readonly key: kms.Key;
  /** Roles that may make MACs (kms:GenerateMac). */
  public readonly generators: iam.IRole[] = [];
  /** Roles that may check MACs (kms:VerifyMac). */
  public readonly verifiers: iam.IRole[] = [];

  constructor(
    scope: Construct,
    id: string,
    private readonly props: HmacKeyProps,
  ) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: props.description,
      keySpec: kms.KeySpec.HMAC_256,
      keyUsage: kms.KeyUsage.GENERATE_VERIFY_MAC,
      removalPolicy: props.removalPolicy,
    });
    this.denyAllBut('DenyGenerateMacExceptWriters', 'kms:GenerateMac', this.generators);
    if (props.verifiable) this.denyAllBut('DenyVerifyMacExceptVerifiers', 'kms:VerifyMac', this.verifiers);
    else {
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({ sid: 'DenyVerifyMac', effect: iam.Effect.DENY, principals: [new iam.AnyPrincipal()], actions: ['kms:VerifyMac'], resources: ['*'] }),
      );
    }
  }

  private denyAllBut(sid: string, action: string, roles: iam.IRole[]): void {
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid,
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [action],
        resources: ['*'],
        conditions: {
          // With no role recorded, a KMS ARN stands in: no principal ARN is one, so nobody is
          // exempt (an empty list would make the policy malformed).
          StringNotEquals: { 'aws:PrincipalArn': Lazy.list({ produce: () => (roles.length > 0 ? uniqueArns(this, roles) : [NO_PRINCIPAL(this)]) }) },
          // A service principal has no aws:PrincipalArn; no service is given this key.
          BoolIfExists: { 'aws:PrincipalIsAWSService': 'false' },
        },
      }),
    );
  }

  /** Lets `role` make MACs with the key (and nothing else). */
  grantGenerate(role: iam.IRole): iam.Grant {
    if (!this.generators.includes(role)) this.generators.push(role);
    return iam.Grant.addToPrincipal({ grantee: role, actions: ['kms:GenerateMac'], resourceArns: [this.key.keyArn] });
  }

  /** Lets `role` check MACs with the key (and nothing else). */
  grantVerify(role: iam.IRole): iam.Grant {
    if (!this.props.verifiable) throw new Error(`HmacKey ${this.node.path} is not verifiable: nobody may verify its MACs`);
    if (!this.verifiers.includes(role)) this.verifiers.push(role);
    return iam.Grant.addToPrincipal({ grantee: role, actions: ['kms:VerifyMac'], resourceArns: [this.key.keyArn] });
  }

  /** {@link grantGenerate} for a function's role, and the key's ARN in its environment. */
  grantGenerateTo(fn: lambda.Function): iam.Grant {
    if (!fn.role) throw new Error(`HmacKey: function ${fn.node.path} has no role`);
    fn.addEnvironment(this.props.environmentVariable, this.key.keyArn);
    return this.grantGenerate(fn.role);
  }

  /** {@link grantVerify} for a function's role, and the key's ARN in its environment. */
  grantVerifyTo(fn: lambda.Function): iam.Grant {
    if (!fn.role) throw new Error(`HmacKey: function ${fn.node.path} has no role`);
    fn.addEnvironment(this.props.environmentVariable, this.key.keyArn);
    return this.grantVerify(fn.role);
  }
}

const NO_PRINCIPAL = (scope: Construct): string => Stack.of(scope).formatArn({ service: 'kms', resource: 'key', resourceName: 'no-principal' });

function uniqueArns(scope: Construct, roles: ReadonlyArray<iam.IRole>): string[] {
  const stack = Stack.of(scope);
  const seen = new Set<string>();
  const out: string[] = [];
  for (const r of roles) {
    const k = JSON.stringify(stack.resolve(r.roleArn));
    if (!seen.has(k)) {
      seen.add(k);
      out.push(r.roleArn);
    }
  }
  return out;
}
