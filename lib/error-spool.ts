import { Duration, Validations } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { secureQueueProps } from './defaults';

/** Props of {@link ErrorSpool}. */
export interface ErrorSpoolProps {
  /** Days a failure waits in the spool (7-14, from config). */
  readonly retentionDays: number;
  /**
   * How long a message received by the reprocess Lambda stays hidden from other readers.
   * @default 15 minutes: the Lambda maximum, so a message being replayed by a reprocess run that
   * uses its whole timeout is never handed to a second run at the same time.
   */
  readonly visibilityTimeout?: Duration;
  /** The params key (spooled messages hold task params). */
  readonly encryptionKey: kms.IKey;
}

/**
 * The error spool: every task that did not succeed (a failed execution, a start that failed, a
 * producer that failed) waits here with its original input until it is replayed. Encrypted,
 * TLS-only, retained on stack deletion.
 */
export class ErrorSpool extends Construct {
  /** The spool queue. Messages are `SpoolMessage` JSON (lambdas/shared/spool-message.ts). */
  public readonly queue: sqs.Queue;

  constructor(scope: Construct, id: string, props: ErrorSpoolProps) {
    super(scope, id);
    this.queue = new sqs.Queue(
      this,
      'Queue',
      secureQueueProps({
        retentionPeriod: Duration.days(props.retentionDays),
        visibilityTimeout: props.visibilityTimeout ?? Duration.minutes(15),
        encryption: sqs.QueueEncryption.KMS,
        encryptionMasterKey: props.encryptionKey,
      }),
    );
    Validations.of(this.queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'The spool is itself the dead-letter store of the workflow; reprocess moves messages it cannot replay to its quarantine queue instead of a redrive policy, so nothing expires unseen after a few receives.',
    });
  }
}
