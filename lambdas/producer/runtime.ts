import { Logger } from '@aws-lambda-powertools/logger';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { requireEnv } from '../shared/env';
import { FirehoseParamLogSink } from '../shared/firehose-sink';
import { ProduceFn, runTick, TickEvent, TickSummary } from './logic';

export type { ProduceFn, ProducerContext, TaskSpec } from './logic';

// Built once per container, with default config: the offline run redirects them through the
// standard AWS_ENDPOINT_URL_<SERVICE> variables, so this code never branches on "local".
const sfn = new SFNClient({});
const sqs = new SQSClient({});
const firehose = new FirehoseClient({});
const logger = new Logger();

/**
 * The producer Lambda handler of a job. The job author writes only `produce`:
 * `export const handler = createProducerHandler(({ scheduledTime }) => [...tasks]);`
 * Env (set by the ScheduledProducer construct): JOB_NAME, STATE_MACHINE_ARN, SPOOL_QUEUE_URL,
 * CLIENT_LOG_STREAM, APP_TIME_ZONE.
 */
export function createProducerHandler(produce: ProduceFn): (event: TickEvent) => Promise<TickSummary> {
  let sink: FirehoseParamLogSink | undefined;
  return async (event: TickEvent): Promise<TickSummary> => {
    sink ??= new FirehoseParamLogSink(firehose, requireEnv('CLIENT_LOG_STREAM'));
    return runTick(event, produce, {
      job: requireEnv('JOB_NAME'),
      stateMachineArn: requireEnv('STATE_MACHINE_ARN'),
      spoolQueueUrl: requireEnv('SPOOL_QUEUE_URL'),
      timeZone: requireEnv('APP_TIME_ZONE'),
      sfn,
      sqs,
      sink,
      log: (message, fields) => logger.info(message, fields),
    });
  };
}
