import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { LOCK_MAC_KEY_ENV } from '../lambdas/shared/mac-env';
import { HmacKey } from './hmac-key';
import { pauseKey } from '../lambdas/shared/pauses';

/**
 * Small shared state of the app in one DynamoDB table (key `pk`, TTL attribute `expiresAt`):
 * - `hold#<dependency>`: an operator's hold switch (`value` = `on`), see lambdas/shared/holds.ts;
 * - `lock#<job>#<key HMAC>`: exclusive-key locks, owner = execution ARN, expiry checked in the
 *   condition (TTL only collects expired items days later);
 * - `tick#<job>#<tick>` and `batch#...`: the producers' tick ledger and the starters' progress;
 * - `pause#<job>`: an operator's pause of a job (`value` = `on`), read by its producer at each tick
 *   (lambdas/shared/pauses.ts);
 * - `capture#<execution ARN>`: the status-change capture's mark (one capture per ended execution);
 * - `reconcile#<state machine name>`: the reconciler's watermark; `reconcile#failing#<execution ARN>#r<n>`: when
 *   its capture of an execution first failed (the give-up clock, lambdas/reconciler/logic.ts).
 * Step calls' recorded results are not here: a step's output may hold personal data, so they live
 * inside the read lock (lib/step-results-table.ts).
 * No params are stored here (lock keys are HMACs with a KMS key only the lock holders may use). Each grant is limited to its item kind with
 * `dynamodb:LeadingKeys`.
 */
export class CoordinationTable extends Construct {
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      // Holds, locks and ledger entries are operational state, not users' records: safe to drop
      // with the stack (a redeploy starts with no holds and no locks).
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }

  private grantItems(grantee: iam.IGrantable, prefixes: ReadonlyArray<string>, actions: ReadonlyArray<string>): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [...actions],
      resourceArns: [this.table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': prefixes.map((p) => `${p}*`) } },
    });
  }

  /** Read hold switches (steps, reprocess). */
  grantReadHolds(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, ['hold#'], ['dynamodb:GetItem']);
  }

  /** Set and clear hold switches (operators). */
  grantWriteHolds(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, ['hold#'], ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']);
  }

  /**
   * Take, release and keep (an ended execution's, until its step Lambdas ran out) exclusive-key
   * locks (the lock function, the status-change capture, the reconciler): the
   * `lock#` items, and GenerateMac on the lock-key HMAC key ({@link lockKeyMac}, made with the
   * first grant; its ARN goes into the function's environment as LOCK_MAC_KEY_ID), which names a
   * lock by an HMAC of its exclusiveBy value (lambdas/shared/locks.ts).
   */
  grantLocks(fn: lambda.Function): iam.Grant {
    this.lockKeyMac ??= new HmacKey(this, 'LockKeyMac', {
      description: 'Names exclusive-key locks: HMAC of the exclusiveBy value (a dictionary of account numbers or e-mails cannot reverse it)',
      verifiable: false,
      // Nothing outlives the stack that needs it: a lock lives no longer than its execution.
      removalPolicy: RemovalPolicy.DESTROY,
      environmentVariable: LOCK_MAC_KEY_ENV,
    });
    this.lockKeyMac.grantGenerateTo(fn);
    return this.grantItems(fn, ['lock#'], ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']);
  }

  /** The lock-key HMAC key, once a function was granted locks. */
  public lockKeyMac?: HmacKey;

  /** Read one job's pause switch, `pause#<job>` exactly (its producer). */
  grantReadPause(grantee: iam.IGrantable, job: string): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:GetItem'],
      resourceArns: [this.table.tableArn],
      conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [pauseKey(job)] } },
    });
  }

  /** Capture marks (the status-change capture, the reconciler): lambdas/execution-capture/marker.ts. */
  grantCaptureMarks(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, ['capture#'], ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
  }

  /** The reconciler's watermarks (lambdas/reconciler). */
  grantReconcileWatermarks(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, ['reconcile#'], ['dynamodb:GetItem', 'dynamodb:PutItem']);
  }

  /** The tick ledger and batch progress (producers, starters). */
  grantTickLedger(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, ['tick#', 'batch#'], ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
  }
}
