import { CfnOutput } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { createHash } from 'node:crypto';
import { ErrorSpool } from './error-spool';

/**
 * Stack output keys the operator CLI (cli/) reads with DescribeStacks. Fixed keys (CfnOutput `key`),
 * not construct-path logical ids with a hash, so that the CLI finds them after any refactoring of
 * the construct tree; renaming one is a breaking change for every deployed stack's operators.
 */
export const OPERATOR_OUTPUTS = {
  reprocessFunctionName: 'OperatorReprocessFunctionName',
  spoolQueueUrl: 'OperatorSpoolQueueUrl',
  quarantineQueueUrl: 'OperatorQuarantineQueueUrl',
  failedInvocationsQueueUrl: 'OperatorFailedInvocationsQueueUrl',
  coordinationTableName: 'OperatorCoordinationTableName',
  athenaWorkGroup: 'OperatorAthenaWorkGroup',
  athenaDatabase: 'OperatorAthenaDatabase',
} as const;

/** Prefix of the per-job state machine outputs; see {@link stateMachineOutputKey}. */
export const STATE_MACHINE_OUTPUT_PREFIX = 'OperatorStateMachine';

/**
 * Output key of one job's state machine ARN: readable (`OperatorStateMachineExampleApi...`) and
 * unique, since job names may differ only in dashes (`a-1` and `a1` both read `A1` in PascalCase):
 * a short hash of the exact job name is appended. The CLI computes the same key from the job name.
 */
export function stateMachineOutputKey(job: string): string {
  const pascal = job
    .split(/[^A-Za-z0-9]+/)
    .filter((s) => s !== '')
    .map((s) => s[0].toUpperCase() + s.slice(1))
    .join('');
  return `${STATE_MACHINE_OUTPUT_PREFIX}${pascal}${createHash('sha256').update(job).digest('hex').slice(0, 8)}`;
}

/** Props of {@link OperatorOutputs}. */
export interface OperatorOutputsProps {
  /** The reprocess Lambda (replay, dry runs). */
  readonly reprocessFunction: lambda.IFunction;
  /** Spool, quarantine and failed-invocations queues. */
  readonly spool: ErrorSpool;
  /** The coordination table (hold switches). */
  readonly coordinationTable: dynamodb.ITable;
  /** Athena workgroup and Glue database of the parameter log (saved queries run there). */
  readonly athena: { readonly workGroupName: string; readonly databaseName: string };
  /** Each job's state machine, by job name. */
  readonly stateMachines: ReadonlyMap<string, sfn.IStateMachine>;
}

/**
 * What the operator CLI needs to find the deployed resources, as stack outputs: physical names are
 * generated (the app deploys twice into one account), so the CLI discovers them from the stack of
 * its stage (`ScheduledJobs-<stage>`) instead of guessing. Alarms are not listed here: the CLI finds
 * them with ListStackResources (every AWS::CloudWatch::Alarm of the stack), which stays complete as
 * constructs add alarms and costs no output (a template holds at most 200: CloudFormation user
 * guide, "Understand CloudFormation quotas").
 */
export class OperatorOutputs extends Construct {
  constructor(scope: Construct, id: string, props: OperatorOutputsProps) {
    super(scope, id);
    const out = (key: string, value: string, description: string) => new CfnOutput(this, key, { key, value, description });
    out(OPERATOR_OUTPUTS.reprocessFunctionName, props.reprocessFunction.functionName, 'Reprocess Lambda (scheduled-jobs replay / tick / status / task)');
    out(OPERATOR_OUTPUTS.spoolQueueUrl, props.spool.queue.queueUrl, 'Error spool: failed tasks waiting for a replay');
    out(OPERATOR_OUTPUTS.quarantineQueueUrl, props.spool.quarantine.queueUrl, 'Quarantine: replay or drop through reprocess (scheduled-jobs replay --source quarantine)');
    out(OPERATOR_OUTPUTS.failedInvocationsQueueUrl, props.spool.failedInvocations.queueUrl, 'Invocations that failed after Lambda retries: re-run or drop through reprocess (scheduled-jobs replay --source failed-invocations)');
    out(OPERATOR_OUTPUTS.coordinationTableName, props.coordinationTable.tableName, 'Coordination table (hold switches hold#<dependency>)');
    out(OPERATOR_OUTPUTS.athenaWorkGroup, props.athena.workGroupName, 'Athena workgroup of the saved parameter-log queries');
    out(OPERATOR_OUTPUTS.athenaDatabase, props.athena.databaseName, 'Glue database of the parameter log');
    const keys = new Map<string, string>();
    for (const [job, sm] of props.stateMachines) {
      const key = stateMachineOutputKey(job);
      const clash = keys.get(key);
      if (clash !== undefined) throw new Error(`OperatorOutputs: jobs "${clash}" and "${job}" map to one output key ${key}; rename one of them`);
      keys.set(key, job);
      out(key, sm.stateMachineArn, `State machine of job ${job}`);
    }
  }
}
