/**
 * The local services of a tick, for the producer benchmark and the tick tests: fauxqs (tick queue
 * with its dead-letter queue and redrive policy, spool, quarantine), the Step Functions stand-in
 * (optionally with the StartExecution token bucket and latency), dynalite (the coordination table)
 * and the Firehose stand-in (client records as gzip JSON lines in a folder). The producer and
 * starter logic run unchanged against them through real SDK clients. Never bundled into Lambdas.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FirehoseParamLogSink } from '../lambdas/shared/firehose-sink';
import { ParamLogRecord, parseJsonLines } from '../lambdas/shared/param-log';
import { AdaptiveRateGate } from '../lambdas/shared/rate-gate';
import { TickLedger } from '../lambdas/shared/tick-ledger';
import type { TickDeps } from '../lambdas/producer/logic';
import type { StarterDeps } from '../lambdas/starter/logic';
import { startLocalDynamo, LocalDynamo } from './dynamodb-local';
import { FirehoseStandin, startFirehoseStandin } from './firehose-standin';
import { KmsStandin, startKmsStandin } from './kms-standin';
import { SfnStandin, SfnStandinOptions, startSfnStandin } from './sfn-standin';
import { SqsEmulator, startSqsEmulator } from './sqs-emulator';

export const RIG_REGION = 'us-east-1';
export const RIG_STATE_MACHINE = `arn:aws:states:${RIG_REGION}:000000000000:stateMachine:orders`;
export const RIG_TIME_ZONE = 'Asia/Tokyo';
/** Receives before the tick queue moves a message to its dead-letter queue (as lib/tick-starter.ts). */
export const RIG_MAX_RECEIVES = 5;

export interface TickRig {
  readonly sqsEmulator: SqsEmulator;
  readonly sfn: SfnStandin;
  readonly dynamo: LocalDynamo;
  readonly firehose: FirehoseStandin;
  readonly outDir: string;
  /** KMS (HMAC keys) for the records' MACs: set AWS_ENDPOINT_URL_KMS to its endpoint and RECORD_MAC_KEY_ID to {@link RIG_RECORD_MAC_KEY}. */
  readonly kms: KmsStandin;
  readonly queues: { readonly tick: string; readonly deadLetter: string; readonly spool: string; readonly quarantine: string };
  readonly tableName: string;
  readonly sqs: SQSClient;
  /** One attempt per send, as the starter's client. */
  readonly sfnClient: SFNClient;
  readonly ddb: DynamoDBClient;
  readonly firehoseClient: FirehoseClient;
  readonly ledger: TickLedger;
  /** Producer dependencies for job `orders` (an invocation's owner and remaining time added by the caller). */
  producerDeps(overrides?: Partial<TickDeps>): Omit<TickDeps, 'owner' | 'remainingMs'>;
  /** Starter dependencies: a new container (its own gate). */
  starterDeps(overrides?: Partial<StarterDeps>): StarterDeps;
  /** Every client record delivered so far (flushes the Firehose stand-in first). */
  clientRecords(): ParamLogRecord[];
  /** Messages in a queue (ready, in flight, delayed). */
  depth(name: 'tick' | 'deadLetter' | 'spool' | 'quarantine'): Promise<number>;
  stop(): Promise<void>;
}

function listGz(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? listGz(p) : p.endsWith('.gz') ? [p] : [];
  });
}

/** Key id of the records' HMAC key in the rig's KMS stand-in. */
export const RIG_RECORD_MAC_KEY = 'arn:aws:kms:us-east-1:000000000000:key/rig-record-mac';

/** Starts the services and creates the queues and the table. */
export async function startTickRig(o: { sfn?: SfnStandinOptions; tasksPerBatch?: number; inFlight?: number } = {}): Promise<TickRig> {
  const [sqsEmulator, sfn, dynamo] = await Promise.all([startSqsEmulator({ region: RIG_REGION }), startSfnStandin(o.sfn ?? {}), startLocalDynamo(RIG_REGION)]);
  const outDir = mkdtempSync(join(tmpdir(), 'tick-rig-'));
  const firehose = await startFirehoseStandin({ outDir, streams: { clientStream: 'client' }, timeZone: RIG_TIME_ZONE, bufferSeconds: 900 });
  const kms = await startKmsStandin();
  // The deps' sinks MAC in memory with the stand-in's own key (the same HMAC): the rig measures the
  // tick pipeline's timing with Lambda timeouts compressed to seconds, which an HTTP round trip per
  // record on a loaded machine would distort. Handlers run through the rig's env use KMS over HTTP.
  const recordMac = kms.keyOf(RIG_RECORD_MAC_KEY);
  const deadLetter = await sqsEmulator.createQueue('tick-dlq');
  const tick = await sqsEmulator.createQueue('tick', {
    VisibilityTimeout: '720',
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: `arn:aws:sqs:${RIG_REGION}:000000000000:tick-dlq`, maxReceiveCount: RIG_MAX_RECEIVES }),
  });
  const spool = await sqsEmulator.createQueue('spool');
  const quarantine = await sqsEmulator.createQueue('quarantine');
  const tableName = 'Coordination';
  await dynamo.createTable(tableName);
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const sqs = new SQSClient({ region: RIG_REGION, endpoint: sqsEmulator.endpoint, credentials });
  const sfnClient = new SFNClient({ region: RIG_REGION, endpoint: sfn.endpoint, credentials, maxAttempts: 1 });
  const firehoseClient = new FirehoseClient({ region: RIG_REGION, endpoint: firehose.endpoint, credentials });
  const ddb = dynamo.client;
  const ledger = new TickLedger(ddb, tableName);
  const queues = { tick, deadLetter, spool, quarantine };
  return {
    sqsEmulator,
    sfn,
    dynamo,
    firehose,
    outDir,
    kms,
    queues,
    tableName,
    sqs,
    sfnClient,
    ddb,
    firehoseClient,
    ledger,
    producerDeps: (overrides = {}) => ({
      job: 'orders',
      stateMachineArn: RIG_STATE_MACHINE,
      tickQueueUrl: tick,
      quarantineQueueUrl: quarantine,
      timeZone: RIG_TIME_ZONE,
      tasksPerBatch: o.tasksPerBatch ?? 100,
      sqs,
      sink: new FirehoseParamLogSink(firehoseClient, 'clientStream', recordMac),
      ledger,
      ...overrides,
    }),
    starterDeps: (overrides = {}) => ({
      sfn: sfnClient,
      sqs,
      sink: new FirehoseParamLogSink(firehoseClient, 'clientStream', recordMac),
      ledger,
      gate: new AdaptiveRateGate(),
      allowedStateMachineArns: new Set([RIG_STATE_MACHINE]),
      tickQueueUrl: tick,
      spoolQueueUrl: spool,
      quarantineQueueUrl: quarantine,
      timeZone: RIG_TIME_ZONE,
      inFlight: o.inFlight ?? 10,
      ...overrides,
    }),
    clientRecords: () => {
      firehose.flushAll();
      return listGz(join(outDir, 'client')).flatMap((f) => parseJsonLines(gunzipSync(readFileSync(f)).toString('utf8')));
    },
    depth: async (name) => {
      const q = await sqsEmulator.inspectQueue(queues[name].split('/').pop()!);
      return q.ready + q.inflight + q.delayed;
    },
    stop: async () => {
      sqs.destroy();
      sfnClient.destroy();
      firehoseClient.destroy();
      await Promise.all([sqsEmulator.stop(), sfn.stop(), dynamo.stop(), firehose.close(), kms.stop()]);
      rmSync(outDir, { recursive: true, force: true });
    },
  };
}
