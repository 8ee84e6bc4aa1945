import { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/** Props of {@link ParamsKey}. */
export interface ParamsKeyProps {
  /** Config `paramLog.readerRoleArnPatterns`: people who may read task params. */
  readonly readerRoleArnPatterns: ReadonlyArray<string>;
}

/**
 * The customer managed key of every place outside the parameter-log bucket where task params sit:
 * the spool, the quarantine, the tick queue, failed invocations and the state machines' execution
 * data (input, history). Its key policy lets only the roles the app names decrypt (plus the reader
 * roles); see {@link grantDecrypt}.
 */
export class ParamsKey extends Construct {
  public readonly key: kms.Key;
  /** Roles allowed to decrypt (the key policy denies everyone else). */
  protected readonly decrypters: iam.IRole[] = [];

  constructor(scope: Construct, id: string, readonly props: ParamsKeyProps) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'Task params outside the parameter log: spool, quarantine, tick queue, execution data',
      enableKeyRotation: true,
      // Spooled messages and execution history encrypted with it outlive a stack deletion.
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** Lets `role` decrypt data under the key (read a queue, describe an execution). */
  grantDecrypt(role: iam.IRole): iam.Grant {
    this.decrypters.push(role);
    return this.key.grantDecrypt(role);
  }

  /**
   * Lets `role` send to a queue encrypted with the key: SendMessage needs kms:GenerateDataKey and
   * kms:Decrypt (AWS SQS developer guide, "Key management": producers).
   */
  grantSend(role: iam.IRole): iam.Grant {
    this.decrypters.push(role);
    return this.key.grant(role, 'kms:GenerateDataKey', 'kms:Decrypt');
  }
}
