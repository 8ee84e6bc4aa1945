/**
 * The recovery tests' world (test/recovery-integration.test.ts, test/tick-rerun-age.test.ts): the
 * REAL producer and reprocess handlers on the Lambda stand-in (synchronous and asynchronous Invoke,
 * Lambda's two retries and the on-failure record to a failed-invocations queue, as the
 * ScheduledProducer construct configures them) over the tick rig (fauxqs, the Step Functions,
 * Firehose and KMS stand-ins, dynalite). The handlers' module-scope clients find the local services
 * through the standard `AWS_ENDPOINT_URL_*` variables only.
 */
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { ProduceFn } from '../../lambdas/producer/logic';
import { LambdaStandin, StandinHandler, startLambdaStandin } from '../../local/lambda-standin';
import { RIG_RECORD_MAC_KEY, RIG_REGION, RIG_STATE_MACHINE, RIG_TIME_ZONE, startTickRig, TickRig } from '../../local/tick-rig';

export const RECOVERY_ACCOUNT = '000000000000';
export const RECOVERY_PRODUCER = 'orders-producer';
export const RECOVERY_REPROCESS = 'reprocess';
export const RECOVERY_PRODUCER_ARN = `arn:aws:lambda:${RIG_REGION}:${RECOVERY_ACCOUNT}:function:${RECOVERY_PRODUCER}`;

export interface RecoveryRig {
  readonly rig: TickRig;
  readonly lambda: LambdaStandin;
  /** A Lambda client of the stand-in (the operator's). */
  readonly client: LambdaClient;
  readonly failedInvocationsUrl: string;
  stop(): Promise<void>;
}

/** Starts the world; `produce` is what the deployed producer's job code does at each call (tests swap it). */
export async function startRecoveryRig(produce: ProduceFn): Promise<RecoveryRig> {
  const rig = await startTickRig({ tasksPerBatch: 50 });
  const failedInvocationsUrl = await rig.sqsEmulator.createQueue('failed-invocations');
  const lambda = await startLambdaStandin(
    RIG_REGION,
    {
      [RECOVERY_PRODUCER]: {
        load: async () => {
          const { createProducerHandler } = await import('../../lambdas/producer/runtime');
          return createProducerHandler(produce) as unknown as StandinHandler;
        },
        environment: {
          JOB_NAME: 'orders',
          STATE_MACHINE_ARN: RIG_STATE_MACHINE,
          TICK_QUEUE_URL: rig.queues.tick,
          QUARANTINE_QUEUE_URL: rig.queues.quarantine,
          CLIENT_LOG_STREAM: 'clientStream',
          RECORD_MAC_KEY_ID: RIG_RECORD_MAC_KEY,
          APP_TIME_ZONE: RIG_TIME_ZONE,
          COORDINATION_TABLE: rig.tableName,
          TASKS_PER_BATCH: '50',
          STARTER_CONCURRENCY: '2',
        },
        timeoutMs: 60_000,
        // As the ScheduledProducer construct configures it: two retries, then the on-failure destination.
        retryAttempts: 2,
        onFailure: async (record) => void (await rig.sqs.send(new SendMessageCommand({ QueueUrl: failedInvocationsUrl, MessageBody: JSON.stringify(record) }))),
      },
      [RECOVERY_REPROCESS]: {
        load: async () => (await import('../../lambdas/reprocess/handler')).handler as unknown as StandinHandler,
        environment: {
          SPOOL_QUEUE_URL: rig.queues.spool,
          QUARANTINE_QUEUE_URL: rig.queues.quarantine,
          FAILED_INVOCATIONS_QUEUE_URL: failedInvocationsUrl,
          JOB_STATE_MACHINES: JSON.stringify({ orders: RIG_STATE_MACHINE }),
          JOB_STEPS: JSON.stringify({ orders: ['Fetch', 'CallApi', 'Publish'] }),
          INVOCABLE_FUNCTIONS: JSON.stringify({ 'producer:orders': RECOVERY_PRODUCER_ARN }),
          APP_TIME_ZONE: RIG_TIME_ZONE,
          MAX_REPLAYS: '5',
          MAX_REPROCESS: '10',
        },
        timeoutMs: 60_000,
      },
    },
    RECOVERY_ACCOUNT,
  );
  Object.assign(process.env, {
    AWS_REGION: RIG_REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_SQS: rig.sqsEmulator.endpoint,
    AWS_ENDPOINT_URL_SFN: rig.sfn.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: rig.dynamo.endpoint,
    AWS_ENDPOINT_URL_FIREHOSE: rig.firehose.endpoint,
    AWS_ENDPOINT_URL_KMS: rig.kms.endpoint,
    AWS_ENDPOINT_URL_LAMBDA: lambda.endpoint,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  const client = new LambdaClient({ region: RIG_REGION, endpoint: lambda.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  return {
    rig,
    lambda,
    client,
    failedInvocationsUrl,
    async stop() {
      client.destroy();
      await lambda.stop();
      await rig.stop();
    },
  };
}
