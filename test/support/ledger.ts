import { LocalDynamo, startLocalDynamo } from '../../local/dynamodb-local';
import { TickLedger } from '../../lambdas/shared/tick-ledger';

/** A tick ledger on dynalite (the real DynamoDB client, conditional writes as DynamoDB answers them). */
export async function startLedger(now?: () => number): Promise<{ dynamo: LocalDynamo; ledger: TickLedger; tableName: string; at(now: () => number): TickLedger; stop(): Promise<void> }> {
  const dynamo = await startLocalDynamo('us-east-1');
  const tableName = 'Coordination';
  await dynamo.createTable(tableName);
  return {
    dynamo,
    tableName,
    ledger: new TickLedger(dynamo.client, tableName, now),
    at: (clock) => new TickLedger(dynamo.client, tableName, clock),
    stop: () => dynamo.stop(),
  };
}
