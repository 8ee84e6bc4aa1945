import { CfnOutput, Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { secureQueueProps } from './defaults';
import { acknowledgeOn } from './nag';
import { ParamsKey } from './params-key';
import { lockParamsQueue } from './queue-lock';

/** Props of {@link ErrorSpool}. */
export interface ErrorSpoolProps {
  /** Days a message waits in the spool before SQS would delete it (7-14, from config; the sweeper re-sends older ones). */
  readonly retentionDays: number;
  /**
   * How long a message received by the reprocess Lambda stays hidden from other readers.
   * @default 15 minutes: the Lambda maximum, so a message being replayed by a reprocess run that
   * uses its whole timeout is never handed to a second run at the same time.
   */
  readonly visibilityTimeout?: Duration;
  /** The params key: every queue here holds task params. */
  readonly paramsKey: ParamsKey;
}

/** Which queue of the spool. */
export type SpoolQueueName = 'spool' | 'quarantine' | 'failedInvocations';

/**
 * Where every task that did not succeed waits, with its params, encrypted with the params key and
 * TLS-only, retained on stack deletion:
 * - `queue` (the spool): failed executions and starts, with the original input, until replayed;
 * - `quarantine`: what cannot be replayed as is (malformed, rejected specs, may be forged, too many
 *   replays), with a `reason` attribute, for a person, who replays or drops it through reprocess;
 * - `failedInvocations`: the on-failure destination of the app's asynchronously invoked functions
 *   (producers, the status-change capture, the sweeper, the lost-task monitor): the request payload
 *   of an invocation that failed after Lambda's retries (a tick to re-run, an execution end to
 *   capture again), which reprocess re-runs or drops.
 *
 * Access goes through {@link grantSend} / {@link grantConsume}, which also record the roles: each
 * queue is locked to them by {@link lockParamsQueue}, the lists read at synth (so roles granted
 * after construction count). A Lambda on-failure destination sends with the function's own role
 * (AWS Lambda developer guide, "Retaining records of asynchronous invocations"): grant that role.
 */
export class ErrorSpool extends Construct {
  /** The spool queue. Messages are `SpoolMessage` JSON (lambdas/shared/spool-message.ts). */
  public readonly queue: sqs.Queue;
  /** Messages that can never be replayed as is, each with a `reason` attribute. */
  public readonly quarantine: sqs.Queue;
  /** Lambda on-failure destination records (requestPayload = the failed invocation's event). */
  public readonly failedInvocations: sqs.Queue;
  public readonly paramsKey: ParamsKey;
  /** Roles that send to each queue (recorded by grantSend). */
  public readonly senders: Record<SpoolQueueName, iam.IRole[]> = { spool: [], quarantine: [], failedInvocations: [] };
  /** Roles that receive from each queue (recorded by grantConsume). */
  public readonly consumers: Record<SpoolQueueName, iam.IRole[]> = { spool: [], quarantine: [], failedInvocations: [] };

  constructor(scope: Construct, id: string, props: ErrorSpoolProps) {
    super(scope, id);
    this.paramsKey = props.paramsKey;
    const encrypted = { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: props.paramsKey.key };
    this.queue = new sqs.Queue(
      this,
      'Queue',
      secureQueueProps({ retentionPeriod: Duration.days(props.retentionDays), visibilityTimeout: props.visibilityTimeout ?? Duration.minutes(15), ...encrypted }),
    );
    this.quarantine = new sqs.Queue(this, 'Quarantine', secureQueueProps({ retentionPeriod: Duration.days(14), ...encrypted }));
    this.failedInvocations = new sqs.Queue(this, 'FailedInvocations', secureQueueProps({ retentionPeriod: Duration.days(14), ...encrypted }));
    acknowledgeOn(this.queue, {
      id: 'AwsSolutions-SQS3',
      reason: 'The spool is itself the dead-letter store of the workflow; reprocess moves messages it cannot replay to the quarantine instead of a redrive policy, and the sweeper re-sends what would expire.',
    });
    acknowledgeOn(this.quarantine, { id: 'AwsSolutions-SQS3', reason: 'The quarantine is the end of the line for messages that can never be replayed: people read it, nothing redrives from it.' });
    acknowledgeOn(this.failedInvocations, { id: 'AwsSolutions-SQS3', reason: 'This queue is itself a dead-letter store: the on-failure destination of the asynchronously invoked functions.' });
    for (const name of ['spool', 'quarantine', 'failedInvocations'] as const) {
      lockParamsQueue(this.queueOf(name), { senders: () => this.senders[name], consumers: () => this.consumers[name], readerRoleArnPatterns: this.paramsKey.readerRoleArnPatterns });
    }
    new CfnOutput(this, 'QuarantineQueueUrl', { value: this.quarantine.queueUrl, description: 'Quarantined messages, each with a "reason" attribute: replay or drop them through reprocess (docs/runbook.md, "Read the quarantine")' });
    new CfnOutput(this, 'FailedInvocationsQueueUrl', { value: this.failedInvocations.queueUrl, description: 'Invocations that failed after Lambda retries: re-run or drop them through reprocess (docs/runbook.md, "Re-run a failed invocation")' });
  }

  /** The queue called `name`. */
  queueOf(name: SpoolQueueName): sqs.Queue {
    return name === 'spool' ? this.queue : name === 'quarantine' ? this.quarantine : this.failedInvocations;
  }

  /** Lets `role` send to the queue (SendMessage; the key's GenerateDataKey + Decrypt). */
  grantSend(role: iam.IRole, name: SpoolQueueName = 'spool'): void {
    if (!this.senders[name].includes(role)) this.senders[name].push(role);
    // Not grantSendMessages: it also grants GetQueueUrl/GetQueueAttributes and kms:ReEncrypt*, never needed.
    this.queueOf(name).grant(role, 'sqs:SendMessage');
    this.paramsKey.grantSend(role);
  }

  /**
   * Lets `role` receive from the queue: Receive, Delete, ChangeMessageVisibility, GetQueueAttributes
   * and kms:Decrypt (AWS SQS "Key management": consumers).
   */
  grantConsume(role: iam.IRole, name: SpoolQueueName = 'spool'): void {
    if (!this.consumers[name].includes(role)) this.consumers[name].push(role);
    // Not grantConsumeMessages: it adds GetQueueUrl, which the handlers never call.
    this.queueOf(name).grant(role, 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes');
    this.paramsKey.grantDecrypt(role);
  }
}
