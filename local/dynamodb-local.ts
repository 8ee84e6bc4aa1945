/**
 * DynamoDB for tests and the offline run: dynalite (a DynamoDB-compatible engine on LevelDB,
 * in memory) on 127.0.0.1, reached by the handlers' real `@aws-sdk/client-dynamodb` through
 * AWS_ENDPOINT_URL_DYNAMODB. It answers conditional writes with ConditionalCheckFailedException as
 * DynamoDB does; it does not enforce TTL (nor does DynamoDB promptly: the lock code checks expiry
 * in its conditions). Never bundled into Lambdas.
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { AddressInfo } from 'node:net';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => import('node:http').Server;

export interface LocalDynamo {
  /** `http://127.0.0.1:<port>`: the value for AWS_ENDPOINT_URL_DYNAMODB. */
  readonly endpoint: string;
  /** A client pointed at it (fake credentials). */
  readonly client: DynamoDBClient;
  /** Creates a table keyed by a string `pk` (the coordination table's shape). */
  createTable(name: string): Promise<void>;
  /** GetItem calls answered so far (e.g. to show that hold reads are cached). */
  readonly requests: { count: number; byTarget: Record<string, number> };
  stop(): Promise<void>;
}

/** Starts dynalite in memory on a random port. */
export async function startLocalDynamo(region = 'ap-northeast-1'): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const requests = { count: 0, byTarget: {} as Record<string, number> };
  server.on('request', (req: import('node:http').IncomingMessage) => {
    requests.count++;
    const target = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
    requests.byTarget[target] = (requests.byTarget[target] ?? 0) + 1;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ region, endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  return {
    endpoint,
    client,
    requests,
    async createTable(name) {
      await client.send(
        new CreateTableCommand({ TableName: name, AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }], BillingMode: 'PAY_PER_REQUEST' }),
      );
    },
    async stop() {
      client.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
