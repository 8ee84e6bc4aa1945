import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { intEnv, requireEnv } from '../shared/env';
import { FirehoseParamLogSink } from '../shared/firehose-sink';
import { logger, metrics, tracer } from '../shared/powertools';
import { withSafeErrors } from '../shared/safe-error';
import { TickLedger } from '../shared/tick-ledger';
import { planTick, ProduceFn, TickEvent, TickSummary } from './logic';

export type { ProduceFn, ProducerContext, TaskSpec } from './logic';

// Built once per container, with default config: the offline run and the tests redirect them
// through the standard AWS_ENDPOINT_URL_<SERVICE> variables, so this code never branches on "local".
const sqs = tracer.captureAWSv3Client(new SQSClient({}));
const firehose = tracer.captureAWSv3Client(new FirehoseClient({}));
const ddb = tracer.captureAWSv3Client(new DynamoDBClient({}));

/** The context the handler uses (a real Lambda context, or what a local driver passes). */
export type ProducerInvocationContext = Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId'> & Partial<Context>;

/**
 * The producer Lambda handler of a job. The job author writes only `produce`:
 * `export const handler = createProducerHandler(({ scheduledTime }) => [...tasks]);`
 * Env (set by the ScheduledProducer construct): JOB_NAME, STATE_MACHINE_ARN, TICK_QUEUE_URL,
 * QUARANTINE_QUEUE_URL, CLIENT_LOG_STREAM, APP_TIME_ZONE, COORDINATION_TABLE, TASKS_PER_BATCH,
 * STARTER_CONCURRENCY.
 * A `produce` that throws fails the invocation on purpose: Lambda retries it, then the function's
 * on-failure destination keeps the tick for a re-run (docs/big-ticks.md).
 */
export function createProducerHandler(produce: ProduceFn): (event: TickEvent, context?: ProducerInvocationContext) => Promise<TickSummary> {
  let sink: FirehoseParamLogSink | undefined;
  let ledger: TickLedger | undefined;
  // `produce` is the job author's code: its errors may quote the data it read. Lambda logs what
  // leaves and keeps it in the on-failure record, so it leaves without its message.
  return withSafeErrors(async (event: TickEvent, context?: ProducerInvocationContext) => {
    if (context) logger.addContext(context as Context);
    sink ??= new FirehoseParamLogSink(firehose, requireEnv('CLIENT_LOG_STREAM'));
    ledger ??= new TickLedger(ddb, requireEnv('COORDINATION_TABLE'));
    const job = requireEnv('JOB_NAME');
    metrics.addDimension('job', job);
    try {
      return await planTick(event, produce, {
        job,
        stateMachineArn: requireEnv('STATE_MACHINE_ARN'),
        tickQueueUrl: requireEnv('TICK_QUEUE_URL'),
        quarantineQueueUrl: requireEnv('QUARANTINE_QUEUE_URL'),
        timeZone: requireEnv('APP_TIME_ZONE'),
        tasksPerBatch: Math.max(1, intEnv('TASKS_PER_BATCH', 1000)),
        starterConcurrency: Math.max(1, intEnv('STARTER_CONCURRENCY', 2)),
        sqs,
        sink,
        ledger,
        owner: context?.awsRequestId ?? `local-${process.pid}-${Date.now()}`,
        // Without a context (a hand-run), assume the default 60 s timeout.
        remainingMs: context?.getRemainingTimeInMillis() ?? 60_000,
        log: (message, fields) => logger.info(message, fields),
        metric: (name, value) => metrics.addMetric(name, MetricUnit.Count, value),
      });
    } finally {
      metrics.publishStoredMetrics();
    }
  });
}
