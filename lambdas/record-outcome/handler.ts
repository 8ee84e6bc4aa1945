import { Logger } from '@aws-lambda-powertools/logger';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { requireEnv } from '../shared/env';
import { FirehoseParamLogSink } from '../shared/firehose-sink';
import { recordOutcome, RecordOutcomeEvent, RecordOutcomeResult } from './logic';

const logger = new Logger();
const sink = new FirehoseParamLogSink(new FirehoseClient({}), requireEnv('WORKER_LOG_STREAM'));
const timeZone = requireEnv('APP_TIME_ZONE');

/** Writes the worker record of a finished execution. Logs the task id and result only. */
export async function handler(event: RecordOutcomeEvent): Promise<RecordOutcomeResult> {
  const out = await recordOutcome(event, { sink, timeZone });
  logger.info('worker record written', { taskId: out.taskId, result: out.result, failedState: event.failedState ?? undefined });
  return out;
}
