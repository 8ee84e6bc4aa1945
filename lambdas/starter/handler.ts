import { withSafeErrors } from '../shared/safe-error';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { intEnv, requireEnv } from '../shared/env';
import { FirehoseParamLogSink } from '../shared/firehose-sink';
import { KmsMac } from '../shared/kms-mac';
import { RECORD_MAC_KEY_ENV } from '../shared/mac-env';
import { logger, metrics, tracer } from '../shared/powertools';
import { AdaptiveRateGate } from '../shared/rate-gate';
import { TickLedger } from '../shared/tick-ledger';
import { createStarterHandler, StarterDeps } from './logic';
import { answerRedrive, isRedriveRequest, RedriveRequest, RedriveSummary } from './redrive';

/**
 * The tick starter Lambda (lib/tick-starter.ts): the SQS event source of the tick queue invokes it
 * with one batch message at a time. Thin: builds the clients and the pacing once per container.
 * Env: TICK_QUEUE_URL, SPOOL_QUEUE_URL, QUARANTINE_QUEUE_URL, CLIENT_LOG_STREAM, APP_TIME_ZONE,
 * COORDINATION_TABLE, ALLOWED_STATE_MACHINE_ARNS, IN_FLIGHT, PACE_HINT, DEAD_LETTER_QUEUE_URL,
 * RECORD_MAC_KEY_ID.
 * An operator's `{"redriveDeadLetters": true}` moves the dead-letter queue back (./redrive.ts).
 */

// StartExecution throttling is paced and retried by the shared gate: SDK retries on top would
// multiply the calls that hit an empty token bucket, so the SFN client makes one attempt per send.
export const sfnClient = tracer.captureAWSv3Client(new SFNClient({ maxAttempts: 1, requestHandler: { requestTimeout: 10_000, connectionTimeout: 3_000 } }));
export const sqsClient = tracer.captureAWSv3Client(new SQSClient({}));
const firehose = tracer.captureAWSv3Client(new FirehoseClient({}));
const ddb = tracer.captureAWSv3Client(new DynamoDBClient({}));

/**
 * One Lambda container's handler: its own pacing (kept across its invocations) and its own clients'
 * settings from the environment. The module's `handler` is one; the benchmark and the local
 * event-source driver build one per simulated container, so concurrent invocations never share
 * what separate Lambda containers would not.
 */
export function newContainer(
  env: NodeJS.ProcessEnv = process.env,
): (event: SQSEvent | RedriveRequest, context: Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId'>) => Promise<SQSBatchResponse | RedriveSummary> {
  let run: ReturnType<typeof createStarterHandler> | undefined;
  let dimensionJob: string | null = null;
  // A batch body that does not parse, a task that cannot start: what leaves carries no params.
  return withSafeErrors(async (event: SQSEvent | RedriveRequest, context: Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId'>) => {
    logger.addContext(context as Context);
    if (isRedriveRequest(event)) {
      // An operator's request (docs/big-ticks.md, "Runbook"), not the event source.
      const summary = await answerRedrive(event, { sqs: sqsClient, deadLetterQueueUrl: requireEnv('DEAD_LETTER_QUEUE_URL', env), tickQueueUrl: requireEnv('TICK_QUEUE_URL', env) }, context.getRemainingTimeInMillis());
      logger.info('dead letters redriven', { ...summary });
      return summary;
    }
    run ??= createStarterHandler({
      ...depsFromEnv(env),
      metric: (name, value, job) => {
        // One batch (one job) per invocation: the dimension is set once, cleared by the publish.
        if (dimensionJob !== job) {
          metrics.addDimension('job', job);
          dimensionJob = job;
        }
        metrics.addMetric(name, MetricUnit.Count, value);
      },
    });
    try {
      return await run(event as SQSEvent, context);
    } finally {
      metrics.publishStoredMetrics();
      dimensionJob = null;
    }
  });
}

/** Reads the environment into the starter's dependencies (a new gate: one per container). */
export function depsFromEnv(env: NodeJS.ProcessEnv = process.env): StarterDeps {
  return {
    sfn: sfnClient,
    sqs: sqsClient,
    sink: new FirehoseParamLogSink(firehose, requireEnv('CLIENT_LOG_STREAM', env), new KmsMac(requireEnv(RECORD_MAC_KEY_ENV, env), { endpoint: env.AWS_ENDPOINT_URL_KMS })),
    ledger: new TickLedger(ddb, requireEnv('COORDINATION_TABLE', env)),
    // The quota's share of this starter as the first pace; the gate measures the real one.
    gate: new AdaptiveRateGate({ hintRate: intEnv('PACE_HINT', 0, env) }),
    allowedStateMachineArns: new Set(
      requireEnv('ALLOWED_STATE_MACHINE_ARNS', env)
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    ),
    tickQueueUrl: requireEnv('TICK_QUEUE_URL', env),
    spoolQueueUrl: requireEnv('SPOOL_QUEUE_URL', env),
    quarantineQueueUrl: requireEnv('QUARANTINE_QUEUE_URL', env),
    timeZone: requireEnv('APP_TIME_ZONE', env),
    inFlight: Math.max(1, intEnv('IN_FLIGHT', 10, env)),
    log: (message, fields) => logger.info(message, fields),
  };
}

export const handler = newContainer();
