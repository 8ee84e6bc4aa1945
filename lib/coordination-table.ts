import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/**
 * Small shared state of the app in one DynamoDB table (key `pk`, TTL attribute `expiresAt`):
 * - `hold#<dependency>`: an operator's hold switch (`value` = `on`), see lambdas/shared/holds.ts;
 * - `lock#<job>#<key hash>`: exclusive-key locks, owner = execution ARN, expiry checked in the
 *   condition (TTL only collects expired items days later);
 * - `tick#<job>#<tick>` and `batch#...`: the producers' tick ledger and the starters' progress;
 * - `idem#<job>#<hash>`: a step call's recorded result (idempotent steps,
 *   lambdas/shared/step-idempotency.ts), expiring after the replay window.
 * No params are stored here (lock keys are hashed). Each grant is limited to its item kind with
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

  /** Take, release and keep (an ended execution's, until its step Lambdas ran out) exclusive-key locks (the lock function, the status-change capture). */
  grantLocks(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, ['lock#'], ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']);
  }

  /**
   * A job's step records (Powertools Idempotency: get, conditional put, update, delete), and only
   * that job's: the key prefix is `stepRecordPrefix(job)` of lambdas/shared/step-idempotency.ts.
   */
  grantStepResults(grantee: iam.IGrantable, job: string): iam.Grant {
    return this.grantItems(grantee, [`idem#${job}#`], ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']);
  }

  /** The tick ledger and batch progress (producers, starters). */
  grantTickLedger(grantee: iam.IGrantable): iam.Grant {
    return this.grantItems(grantee, ['tick#', 'batch#'], ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
  }
}
