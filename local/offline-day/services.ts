import { ResolvedAppConfig } from '../../lib/config/types';
import { LocalDynamo, startLocalDynamo } from '../dynamodb-local';
import { FirehoseStandin, startFirehoseStandin } from '../firehose-standin';
import { KmsStandin, startKmsStandin } from '../kms-standin';
import { LambdaStandin, StandinFunction, startLambdaStandin } from '../lambda-standin';
import { SqsEmulator, startSqsEmulator } from '../sqs-emulator';
import { LOCAL_ACCOUNT, placeholderRef, RefResolver, SynthesizedApp } from './app-model';

/**
 * The local stand-ins for the template's own resources, started from the synthesized template: its
 * queues in the SQS emulator, its tables in the local DynamoDB engine, its Firehose streams (name,
 * prefix and buffering as synthesized), the KMS HMAC keys, and Lambda's Invoke API for what
 * reprocess may invoke. The Step Functions stand-in and the fake external API stay with the run
 * (run.ts): their callbacks are the run's bookkeeping.
 */
export interface LocalServices {
  readonly sqs: SqsEmulator;
  readonly dynamo: LocalDynamo;
  /** Logical ids of the template's DynamoDB tables (the local table names). */
  readonly tables: ReadonlyArray<string>;
  /** Queue URL by the queue's logical id. */
  readonly queueUrls: ReadonlyMap<string, string>;
  /** Refs and GetAtts of the template resolved to the local services (placeholders for the rest). */
  readonly ref: RefResolver;
  readonly functionArn: (logicalId: string) => string;
  readonly firehose: FirehoseStandin;
  /** The streams' buffer interval, seconds (the template's hints; the config's when none). */
  readonly bufferSeconds: number;
  readonly kms: KmsStandin;
  readonly lambda: LambdaStandin;
  /** The functions Lambda's Invoke API serves, by function name (filled in by the run). */
  readonly invocable: Record<string, StandinFunction>;
}

export interface LocalServicesOptions {
  readonly model: SynthesizedApp;
  readonly config: ResolvedAppConfig;
  readonly outDir: string;
  readonly now: () => Date;
  /** Whether the bucket behind the streams is unreachable at `at` (aws-faults.ts). */
  readonly bucketDown: (at: Date) => boolean;
}

/** Starts the stand-ins of the template's resources; stop them with {@link stopServices}. */
export async function startServices(o: LocalServicesOptions): Promise<LocalServices> {
  const region = o.model.region;
  const resources = o.model.template.Resources;
  const sqs = await startSqsEmulator({ region });
  // The coordination table(s) of the template (holds, locks, tick ledger) in a local DynamoDB engine.
  const dynamo = await startLocalDynamo(region);
  const tables = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::DynamoDB::Table').map(([id]) => id);
  for (const id of tables) await dynamo.createTable(id);
  const queueUrls = new Map<string, string>();
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type === 'AWS::SQS::Queue') queueUrls.set(id, await sqs.createQueue(id));
  }
  const basePlaceholder = placeholderRef(region);
  const ref: RefResolver = (id, type, attribute) => {
    if (type === 'AWS::SQS::Queue' && attribute === undefined) return queueUrls.get(id)!;
    if (type === 'AWS::SQS::Queue' && attribute === 'Arn') return `arn:aws:sqs:${region}:${LOCAL_ACCOUNT}:${id}`;
    return basePlaceholder(id, type, attribute);
  };
  const functionArn = (id: string): string => ref(id, 'AWS::Lambda::Function', 'Arn');

  // Firehose streams: name, prefix, buffering and time zone as synthesized.
  const streams: Record<string, string> = {};
  let bufferSeconds = o.config.paramLog.bufferSeconds;
  let bufferMiB = o.config.paramLog.bufferMiB;
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type !== 'AWS::KinesisFirehose::DeliveryStream') continue;
    const s3 = (r.Properties?.ExtendedS3DestinationConfiguration ?? {}) as { Prefix?: string; BufferingHints?: { IntervalInSeconds?: number; SizeInMBs?: number } };
    streams[id] = String(s3.Prefix ?? id).split('/')[0];
    bufferSeconds = s3.BufferingHints?.IntervalInSeconds ?? bufferSeconds;
    bufferMiB = s3.BufferingHints?.SizeInMBs ?? bufferMiB;
  }
  const firehose = await startFirehoseStandin({
    outDir: o.outDir,
    streams,
    timeZone: o.config.timeZone,
    now: o.now,
    bufferSeconds,
    bufferBytes: bufferMiB * 1024 * 1024,
    bucketDown: o.bucketDown,
  });
  // KMS HMAC keys: the record writers' MACs and the lock keys (docs/security.md, "Record MACs").
  const kms = await startKmsStandin();
  // Lambda's Invoke API, for what reprocess invokes (a re-run of a failed invocation): the functions
  // it may invoke, by the names its template environment gives (filled in by the run, once the
  // template's reprocess environment is read).
  const invocable: Record<string, StandinFunction> = {};
  const lambda = await startLambdaStandin(region, invocable, LOCAL_ACCOUNT);
  return { sqs, dynamo, tables, queueUrls, ref, functionArn, firehose, bufferSeconds, kms, lambda, invocable };
}

/** Stops the services the run no longer needs (the SQS emulator is stopped after the report's reads). */
export async function stopServices(s: LocalServices): Promise<void> {
  await s.dynamo.stop();
  await s.firehose.close();
  await s.kms.stop();
  await s.lambda.stop();
}
