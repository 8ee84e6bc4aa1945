import { FirehoseClient } from '@aws-sdk/client-firehose';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { intEnv, requireEnv } from '../shared/env';
import { FirehoseParamLogSink } from '../shared/firehose-sink';
import { KmsMac } from '../shared/kms-mac';
import { RECORD_MAC_KEY_ENV } from '../shared/mac-env';
import { logger, tracer } from '../shared/powertools';
import { AdaptiveRateGate } from '../shared/rate-gate';
import { parseTickBatch } from '../shared/tick-batch';
import { startParents } from './logic';

/**
 * The high-volume starter (./logic.ts): the tick queue's event source gives it one batch message;
 * it starts the batch's parent executions. Thin: clients and pacing built once per container.
 * Env: PARENT_STATE_MACHINE_ARN, CLIENT_LOG_STREAM, APP_TIME_ZONE, RECORD_MAC_KEY_ID, PACE_HINT.
 */

// Throttling is paced by the gate: one SDK attempt per send, as the standard starter.
export const sfnClient = tracer.captureAWSv3Client(new SFNClient({ maxAttempts: 1, requestHandler: { requestTimeout: 10_000, connectionTimeout: 3_000 } }));
const firehose = tracer.captureAWSv3Client(new FirehoseClient({}));

/** One container's handler (the benchmark builds one per simulated container). */
export function newContainer(env: NodeJS.ProcessEnv = process.env): (event: SQSEvent, context: Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId'>) => Promise<SQSBatchResponse> {
  const gate = new AdaptiveRateGate({ hintRate: intEnv('PACE_HINT', 0, env) });
  const sink = new FirehoseParamLogSink(firehose, requireEnv('CLIENT_LOG_STREAM', env), new KmsMac(requireEnv(RECORD_MAC_KEY_ENV, env), { endpoint: env.AWS_ENDPOINT_URL_KMS }));
  const parentStateMachineArn = requireEnv('PARENT_STATE_MACHINE_ARN', env);
  const timeZone = requireEnv('APP_TIME_ZONE', env);
  return async (event, context) => {
    if ((context as Context).functionName) logger.addContext(context as Context);
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of event.Records) {
      try {
        const out = await startParents(parseTickBatch(record.body), { sfn: sfnClient, gate, sink, timeZone, parentStateMachineArn, stopAtMs: Date.now() + context.getRemainingTimeInMillis() - 10_000 });
        logger.info('batch started as parent executions', { ...out });
      } catch (e) {
        // Counts and the error's name only: a message may carry params.
        logger.error('batch not started; it comes back', { error: (e as Error).name });
        failures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
}

export const handler = newContainer();
