import { FirehoseClient } from '@aws-sdk/client-firehose';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { requireEnv } from '../shared/env';
import { FirehoseParamLogSink } from '../shared/firehose-sink';
import { KmsMac } from '../shared/kms-mac';
import { RECORD_MAC_KEY_ENV } from '../shared/mac-env';
import { logger, tracer } from '../shared/powertools';
import { sendSpoolMessages } from '../shared/spool-send';
import { MapFailuresEvent, MapFailuresResult, spoolFailedChildren } from './logic';
import { readObject } from './read-object';

const s3 = tracer.captureAWSv3Client(new S3Client({}));
const sqs = tracer.captureAWSv3Client(new SQSClient({}));
const sink = new FirehoseParamLogSink(tracer.captureAWSv3Client(new FirehoseClient({})), requireEnv('WORKER_LOG_STREAM'), new KmsMac(requireEnv(RECORD_MAC_KEY_ENV)));
const queueUrl = requireEnv('SPOOL_QUEUE_URL');
const timeZone = requireEnv('APP_TIME_ZONE');

/** Spools the items of a high-volume Map Run's failed children. Logs counts only. */
export async function handler(event: MapFailuresEvent, context?: Context): Promise<MapFailuresResult> {
  if (context) logger.addContext(context);
  const out = await spoolFailedChildren(event, { read: (b, k) => readObject(s3, b, k), spool: (m) => sendSpoolMessages(sqs, queueUrl, m), sink, timeZone });
  logger.info('failed children spooled', { ...out });
  return out;
}
