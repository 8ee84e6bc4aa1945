import { CfnOutput } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { PROOF_JOB } from './config/proof-job';
import { CoordinationTable } from './coordination-table';
import { PROOF_PREFIX, PROOF_TABLE_ENV } from '../lambdas/jobs/proof/ledger';

/**
 * Stack output naming the proof job's producer function: `prove` delivers a tick to it directly, as
 * EventBridge Scheduler does, to prove that a duplicate delivery starts nothing.
 */
export const PROOF_PRODUCER_OUTPUT = 'OperatorProofProducerFunctionName';

/** Props of {@link ProofJobAccess}. */
export interface ProofJobAccessProps {
  readonly coordination: CoordinationTable;
  /** The proof job's producer (its name becomes the {@link PROOF_PRODUCER_OUTPUT} output). */
  readonly producer: lambda.IFunction;
  /** The proof job's producer and step functions. */
  readonly functions: ReadonlyArray<lambda.Function>;
}

/**
 * Wires the proof job of a sandbox stage (lib/config/proof-job.ts) to its bookkeeping: each of its
 * functions learns the coordination table's name and may read and count items under `proof#` only
 * (IAM `dynamodb:LeadingKeys`), so the proof job cannot touch holds, locks or the tick ledger.
 */
export class ProofJobAccess extends Construct {
  /** Name of the job it wires. */
  static readonly job = PROOF_JOB;

  constructor(scope: Construct, id: string, props: ProofJobAccessProps) {
    super(scope, id);
    new CfnOutput(this, 'ProducerFunctionName', { key: PROOF_PRODUCER_OUTPUT, value: props.producer.functionName, description: 'The proof job\'s producer: scheduled-jobs prove delivers ticks to it as the schedule does' });
    for (const fn of props.functions) {
      fn.addEnvironment(PROOF_TABLE_ENV, props.coordination.table.tableName);
      iam.Grant.addToPrincipal({
        grantee: fn,
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resourceArns: [props.coordination.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${PROOF_PREFIX}*`] } },
      });
    }
  }
}
