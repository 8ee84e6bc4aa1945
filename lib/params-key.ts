import { ArnFormat, Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { assertExact, deployRoleArnOf } from './principals';

/** Props of {@link ParamsKey}. */
export interface ParamsKeyProps {
  /** Config `paramLog.readerRoleArnPatterns` (exact role ARNs): people who may read task params. */
  readonly readerRoleArnPatterns: ReadonlyArray<string>;
  /**
   * Exact ARN of the CloudFormation execution role that deploys the stack. Step Functions
   * encrypts a state machine's definition with the key too, and DescribeStateMachine (what
   * CloudFormation reads a state machine with) needs kms:Decrypt (AWS Step Functions developer
   * guide, "Data at rest encryption"). This role may decrypt through Step Functions only.
   * @default the stack synthesizer's execution role, `cdk-<qualifier>-cfn-exec-role-<account>-<region>` (lib/principals.ts)
   */
  readonly deployRoleArn?: string;
}

/** KMS's limit on a key policy, bytes (AWS KMS developer guide, "Quotas": key policy document size). */
export const KEY_POLICY_MAX_BYTES = 32_768;

/**
 * Bytes a role ARN of the stack takes in the deployed key policy: `arn:aws:iam::<12 digits>:role/`
 * and a CloudFormation-generated role name (64 characters at most), quoted, with its comma.
 */
const ROLE_ARN_BYTES = 13 + 12 + 6 + 64 + 3;

/** Key uses that reveal plaintext; ReEncryptFrom would move data under a key the caller controls. Key administration is never denied. */
export const PARAMS_KEY_DECRYPT_ACTIONS = ['kms:Decrypt', 'kms:ReEncryptFrom'];

/**
 * The customer managed key of every place outside the parameter-log bucket where task params sit:
 * the spool, the quarantine, the tick queue, failed invocations, the state machines' execution
 * data (input, history) and the step records (steps' outputs, lib/step-results-table.ts).
 *
 * Its key policy denies kms:Decrypt and kms:ReEncryptFrom to every principal that is not a role
 * recorded through {@link grantDecrypt} / {@link grantSend} / {@link grantTableData}, a reader role
 * (config) or the deploy role (through Step Functions only). The lists are read at synth, so roles granted after this
 * construct was made are included. AWS services acting as themselves (a service principal, e.g.
 * CloudWatch Logs delivery) are outside that deny: they get nothing unless a statement names them.
 * Readers get kms:Decrypt through SQS and Step Functions from the key policy itself (their roles
 * live outside the stack): reading an execution's input or history and a spooled message needs it.
 */
export class ParamsKey extends Construct {
  public readonly key: kms.Key;
  /** Roles allowed to decrypt (the key policy denies everyone else). */
  public readonly decrypters: iam.IRole[] = [];
  /** Reader role ARNs (config), exact. */
  public readonly readerRoleArnPatterns: ReadonlyArray<string>;
  /** The deploy (CloudFormation execution) role's exact ARN. */
  public readonly deployRoleArn: string;

  constructor(scope: Construct, id: string, readonly props: ParamsKeyProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.readerRoleArnPatterns = assertExact('ParamsKey: readerRoleArnPatterns', props.readerRoleArnPatterns);
    this.deployRoleArn = assertExact('ParamsKey: deployRoleArn', [props.deployRoleArn ?? deployRoleArnOf(this)])[0];
    this.key = new kms.Key(this, 'Key', {
      description: 'Task params outside the parameter log: spool, quarantine, tick queue, execution data, step records',
      enableKeyRotation: true,
      // Spooled messages and execution history encrypted with it outlive a stack deletion.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const service = (name: string) => `${name}.${stack.region}.amazonaws.com`;
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyDecryptExceptNamedRoles',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: PARAMS_KEY_DECRYPT_ACTIONS,
        resources: ['*'],
        conditions: {
          // StringNotEquals: exact ARNs, no wildcard a role created later could match.
          StringNotEquals: { 'aws:PrincipalArn': Lazy.list({ produce: () => this.exemptPrincipalArns() }) },
          // A service principal has no aws:PrincipalArn, so the NotLike above would match it:
          // services acting as themselves are governed by the statements that name them.
          BoolIfExists: { 'aws:PrincipalIsAWSService': 'false' },
        },
      }),
    );
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyDeployRoleDecryptOutsideStepFunctions',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: PARAMS_KEY_DECRYPT_ACTIONS,
        resources: ['*'],
        conditions: { StringEquals: { 'aws:PrincipalArn': this.deployRoleArn }, StringNotEquals: { 'kms:ViaService': service('states') } },
      }),
    );
    if (this.readerRoleArnPatterns.length > 0) {
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowReaderRolesDecryptThroughSqsAndStepFunctions',
          principals: [new iam.AnyPrincipal()],
          actions: ['kms:Decrypt'],
          resources: ['*'],
          // Same-account reader roles only, by their exact ARNs.
          conditions: {
            StringEquals: { 'aws:PrincipalArn': this.readerRoleArnPatterns, 'aws:PrincipalAccount': stack.account, 'kms:ViaService': [service('sqs'), service('states')] },
          },
        }),
      );
    }
    // A state machine with a customer managed key and logging gets a key-policy Allow for CloudWatch
    // Logs delivery from the CDK (kms:Decrypt*, unconditioned; AWS Step Functions developer guide,
    // "Data at rest encryption", CloudWatch Logs). Keep that service to this account's deliveries
    // where it says whose they are.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyLogDeliveryForOtherAccounts',
        effect: iam.Effect.DENY,
        principals: [new iam.ServicePrincipal('delivery.logs.amazonaws.com')],
        actions: ['kms:*'],
        resources: ['*'],
        conditions: { StringNotEqualsIfExists: { 'aws:SourceAccount': stack.account } },
      }),
    );
  }

  /**
   * The deployed key policy's size, estimated from the synthesized one: each role of the stack
   * (`Fn::GetAtt` of its Arn) counted at its longest deployed length. Every named role adds to it
   * (each step Lambda of every job is one, for the step records), but a stack cannot name enough to
   * pass {@link KEY_POLICY_MAX_BYTES}: each role brings at least itself and its policy, and a stack
   * holds 500 resources (test/step-results-table.test.ts measures the worst case).
   */
  estimatedPolicyBytes(): number {
    const text = JSON.stringify(Stack.of(this).resolve((this.key.node.defaultChild as kms.CfnKey).keyPolicy));
    const roleRefs = text.match(/\{"Fn::GetAtt":\["[^"]+","Arn"\]\},?/g) ?? [];
    return text.length - roleRefs.reduce((n, r) => n + r.length, 0) + roleRefs.length * ROLE_ARN_BYTES;
  }

  /** Role ARNs the decrypt deny exempts: recorded roles, readers, the deploy role. */
  private exemptPrincipalArns(): string[] {
    const stack = Stack.of(this);
    const seen = new Set<string>();
    const roles: string[] = [];
    for (const r of this.decrypters) {
      const k = JSON.stringify(stack.resolve(r.roleArn));
      if (!seen.has(k)) {
        seen.add(k);
        roles.push(r.roleArn);
      }
    }
    return [...roles, ...this.readerRoleArnPatterns, this.deployRoleArn];
  }

  private record(role: iam.IRole): void {
    if (!this.decrypters.includes(role)) this.decrypters.push(role);
  }

  /** Lets `role` decrypt data under the key (read a queue, describe an execution). */
  grantDecrypt(role: iam.IRole): iam.Grant {
    this.record(role);
    return this.key.grantDecrypt(role);
  }

  /**
   * Lets `role` send to a queue encrypted with the key: SendMessage needs kms:GenerateDataKey and
   * kms:Decrypt (AWS SQS developer guide, "Key management": producers), and only through SQS
   * (kms:ViaService; AWS KMS developer guide, "kms:ViaService", which lists Amazon SQS): a sender
   * cannot use the key for anything else, an execution's data included.
   */
  grantSend(role: iam.IRole): iam.Grant {
    this.record(role);
    return iam.Grant.addToPrincipal({
      grantee: role,
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      resourceArns: [this.key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `sqs.${Stack.of(this).region}.amazonaws.com` } },
    });
  }

  /**
   * Lets `role` read and write items of a DynamoDB table encrypted with the key: DynamoDB calls KMS
   * with the caller's permission, through DynamoDB (kms:ViaService), with the table's name in the
   * encryption context (AWS KMS developer guide, "How Amazon DynamoDB uses AWS KMS": Decrypt of the
   * table key on access, Encrypt and GenerateDataKey as the example key policy lists them). Both are
   * conditions here: the role cannot use the key outside DynamoDB, nor through another table.
   */
  grantTableData(role: iam.IRole, tableName: string): iam.Grant {
    this.record(role);
    return iam.Grant.addToPrincipal({
      grantee: role,
      actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
      resourceArns: [this.key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Stack.of(this).region}.amazonaws.com`, 'kms:EncryptionContext:aws:dynamodb:tableName': tableName } },
    });
  }

  /**
   * Lets `role` use the key for S3 objects encrypted with it (SSE-KMS: a write needs
   * kms:GenerateDataKey, a read kms:Decrypt; AWS S3 user guide, "Using server-side encryption with
   * AWS KMS keys"), only through S3 (kms:ViaService). Used for the high-volume Map Run results.
   */
  grantS3Data(role: iam.IRole, actions: ReadonlyArray<'kms:Decrypt' | 'kms:GenerateDataKey'>): iam.Grant {
    if (actions.includes('kms:Decrypt')) this.record(role);
    return iam.Grant.addToPrincipal({
      grantee: role,
      actions: [...actions],
      resourceArns: [this.key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
    });
  }

  /**
   * Lets a state machine's execution role encrypt and read its executions' data: the role calls KMS
   * itself with the encryption context `aws:states:stateMachineArn` (AWS Step Functions developer
   * guide, "Data at rest encryption"), which must not be narrowed with kms:ViaService there (it
   * can keep executions from starting). Limited to state machines of this account and region: the
   * CDK's own statement for this names the state machine with an empty name (it has no physical
   * name) and never matches.
   */
  grantExecutionData(role: iam.IRole): iam.Grant {
    this.record(role);
    const machines = Stack.of(this).formatArn({ service: 'states', resource: 'stateMachine', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    return iam.Grant.addToPrincipal({
      grantee: role,
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      resourceArns: [this.key.keyArn],
      conditions: { StringLike: { 'kms:EncryptionContext:aws:states:stateMachineArn': machines } },
    });
  }
}
