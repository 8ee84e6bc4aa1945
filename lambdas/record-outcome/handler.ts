import { withSafeErrors } from '../shared/safe-error';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import type { Context } from 'aws-lambda';
import { requireEnv } from '../shared/env';
import { FirehoseParamLogSink } from '../shared/firehose-sink';
import { KmsMac } from '../shared/kms-mac';
import { RECORD_MAC_KEY_ENV } from '../shared/mac-env';
import { logger, tracer } from '../shared/powertools';
import { recordOutcome, RecordOutcomeEvent, RecordOutcomeResult } from './logic';

const sink = new FirehoseParamLogSink(tracer.captureAWSv3Client(new FirehoseClient({})), requireEnv('WORKER_LOG_STREAM'), new KmsMac(requireEnv(RECORD_MAC_KEY_ENV)));
const timeZone = requireEnv('APP_TIME_ZONE');

/** Writes the worker record of a finished execution. Logs the task id and result only. */
async function handle(event: RecordOutcomeEvent, context?: Context): Promise<RecordOutcomeResult> {
  if (context) logger.addContext(context);
  const out = await recordOutcome(event, { sink, timeZone });
  logger.info('worker record written', { taskId: out.taskId, result: out.result, failedState: event.failedState ?? undefined });
  return out;
}

/** The handler: what it throws leaves without its message (lambdas/shared/safe-error.ts). */
export const handler = withSafeErrors(handle);
