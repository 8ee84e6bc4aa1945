import { FirehoseClient } from '@aws-sdk/client-firehose';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { requireEnv } from '../shared/env';
import { FirehoseParamLogSink } from '../shared/firehose-sink';
import { KmsMac } from '../shared/kms-mac';
import { RECORD_MAC_KEY_ENV } from '../shared/mac-env';
import { logger, tracer } from '../shared/powertools';
import { sendSpoolMessages } from '../shared/spool-send';
import { MapFailuresEvent, MapFailuresResult, spoolFailedChildren } from './logic';

const s3 = tracer.captureAWSv3Client(new S3Client({}));
const sqs = tracer.captureAWSv3Client(new SQSClient({}));
const sink = new FirehoseParamLogSink(tracer.captureAWSv3Client(new FirehoseClient({})), requireEnv('WORKER_LOG_STREAM'), new KmsMac(requireEnv(RECORD_MAC_KEY_ENV)));
const queueUrl = requireEnv('SPOOL_QUEUE_URL');
const timeZone = requireEnv('APP_TIME_ZONE');

/** Reads an S3 object's text (the Map Run's result files: task params, never logged). */
export async function readObject(client: S3Client, bucket: string, key: string): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!out.Body) throw new Error(`s3://${bucket}/${key} has no body`);
  return out.Body.transformToString('utf-8');
}

/** Spools the items of a high-volume Map Run's failed children. Logs counts only. */
export async function handler(event: MapFailuresEvent, context?: Context): Promise<MapFailuresResult> {
  if (context) logger.addContext(context);
  const out = await spoolFailedChildren(event, { read: (b, k) => readObject(s3, b, k), spool: (m) => sendSpoolMessages(sqs, queueUrl, m), sink, timeZone });
  logger.info('failed children spooled', { ...out });
  return out;
}
