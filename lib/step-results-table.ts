import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { stepRecordPrefix } from '../lambdas/shared/step-idempotency';
import { ParamsKey } from './params-key';

/** Props of {@link StepResultsTable}. */
export interface StepResultsTableProps {
  /** The read lock: the table is encrypted with it, and only the roles granted here may decrypt through DynamoDB. */
  readonly paramsKey: ParamsKey;
}

/**
 * The recorded results of step calls (idempotent steps, lambdas/shared/step-idempotency.ts): key
 * `pk` = `idem#<job>#<hash>`, TTL attribute `expiresAt`.
 *
 * A result is what a step returned, and a step's output can hold personal data, so the records sit
 * inside the read lock, not in the coordination table (AWS managed key, readable by any role with
 * dynamodb:GetItem): the table is encrypted with the params key, whose key policy denies kms:Decrypt
 * to every principal but the roles it names. DynamoDB decrypts a table's key with the caller's own
 * permission on the KMS key (AWS KMS developer guide, "How Amazon DynamoDB uses AWS KMS": the
 * caller's Decrypt, through DynamoDB, with the encryption context `aws:dynamodb:tableName`), so
 * an administrator's GetItem or Scan fails on the key policy.
 *
 * Removal: DESTROY. The records are a replay cache, not anyone's record of truth: each expires
 * after the replay window (45 days, DEFAULT_RECORD_DAYS), and once the stack is gone no execution,
 * spool or replay of it can ask for one. Keeping them would only keep possible personal data past
 * its use. The construct id is a contract: a new logical id would replace the table and lose the
 * records of live tasks (their replays would run their steps again); test/step-results-table.test.ts
 * pins it.
 */
export class StepResultsTable extends Construct {
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, private readonly props: StepResultsTableProps) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.paramsKey.key,
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }

  /**
   * A job's step records (Powertools Idempotency: get, conditional put, update, delete), and only
   * that job's (`dynamodb:LeadingKeys` under `stepRecordPrefix(job)#`), with the params key through
   * DynamoDB for this table only ({@link ParamsKey.grantTableData}, which names the role in the
   * key policy). No Query or Scan: a step reads its own record by key.
   */
  grantJobRecords(role: iam.IRole, job: string): iam.Grant {
    this.props.paramsKey.grantTableData(role, this.table.tableName);
    return iam.Grant.addToPrincipal({
      grantee: role,
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      resourceArns: [this.table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${stepRecordPrefix(job)}#*`] } },
    });
  }
}
