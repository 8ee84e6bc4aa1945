import { FirehoseClient } from '@aws-sdk/client-firehose';
import type { Context } from 'aws-lambda';
import { requireEnv } from '../shared/env';
import { FirehoseParamLogSink } from '../shared/firehose-sink';
import { KmsMac } from '../shared/kms-mac';
import { RECORD_MAC_KEY_ENV } from '../shared/mac-env';
import { logger, tracer } from '../shared/powertools';
import { BatchRecordEvent, BatchRecordResult, recordBatch } from './logic';

const sink = new FirehoseParamLogSink(tracer.captureAWSv3Client(new FirehoseClient({})), requireEnv('WORKER_LOG_STREAM'), new KmsMac(requireEnv(RECORD_MAC_KEY_ENV)));
const timeZone = requireEnv('APP_TIME_ZONE');

/** Writes the worker records of one high-volume child's items. Logs counts only. */
export async function handler(event: BatchRecordEvent, context?: Context): Promise<BatchRecordResult> {
  if (context) logger.addContext(context);
  const out = await recordBatch(event, { sink, timeZone });
  if (out.recordError) logger.warn('worker records not all written: the child fails with its report so that its unspooled items reach the parent', { ...out });
  else logger.info('worker records written', { ...out });
  return out;
}
