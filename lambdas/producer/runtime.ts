import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { intEnv, requireEnv } from '../shared/env';
import { FirehoseParamLogSink } from '../shared/firehose-sink';
import { KmsMac } from '../shared/kms-mac';
import { RECORD_MAC_KEY_ENV } from '../shared/mac-env';
import { logger, metrics, tracer } from '../shared/powertools';
import { readPause } from '../shared/pauses';
import { withSafeErrors } from '../shared/safe-error';
import { TickLedger } from '../shared/tick-ledger';
import { ParamsModule, paramsModuleProblems, versionOf } from '../shared/params';
import { checkTickAge, planTick, ProduceFn, TickEvent, TickSummary, TickTooOldError } from './logic';

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
 * STARTER_CONCURRENCY, RECORD_MAC_KEY_ID.
 * A `produce` that throws fails the invocation on purpose: Lambda retries it, then the function's
 * on-failure destination keeps the tick for a re-run (docs/big-ticks.md).
 */
export function createProducerHandler(produce: ProduceFn, options: ProducerHandlerOptions = {}): (event: TickEvent, context?: ProducerInvocationContext) => Promise<TickSummary> {
  let sink: FirehoseParamLogSink | undefined;
  let ledger: TickLedger | undefined;
  // `produce` is the job author's code: its errors may quote the data it read. Lambda logs what
  // leaves and keeps it in the on-failure record, so it leaves without its message.
  return withSafeErrors(async (event: TickEvent, context?: ProducerInvocationContext) => {
    if (context) logger.addContext(context as Context);
    sink ??= new FirehoseParamLogSink(firehose, requireEnv('CLIENT_LOG_STREAM'), new KmsMac(requireEnv(RECORD_MAC_KEY_ENV)));
    ledger ??= new TickLedger(ddb, requireEnv('COORDINATION_TABLE'));
    const job = requireEnv('JOB_NAME');
    checkParamsWiring(options.params, process.env[PARAMS_VERSION_ENV]);
    const table = requireEnv('COORDINATION_TABLE');
    metrics.addDimension('job', job);
    try {
      try {
        checkTickAge(event, Date.now());
      } catch (e) {
        if (e instanceof TickTooOldError) metrics.addMetric('TickTooOld', MetricUnit.Count, 1);
        throw e;
      }
      return await planTick(event, produce, {
        job,
        stateMachineArn: requireEnv('STATE_MACHINE_ARN'),
        tickQueueUrl: requireEnv('TICK_QUEUE_URL'),
        quarantineQueueUrl: requireEnv('QUARANTINE_QUEUE_URL'),
        timeZone: requireEnv('APP_TIME_ZONE'),
        jobTimeZone: process.env.JOB_TIME_ZONE || undefined,
        ...(options.params ? { params: options.params } : {}),
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
        // One GetItem per tick (scheduled-jobs pause): a failed read fails the tick, which Lambda retries.
        isPaused: async () => (await readPause(ddb, table, job)).paused,
      });
    } finally {
      metrics.publishStoredMetrics();
    }
  });
}

/** Options of {@link createProducerHandler}. */
export interface ProducerHandlerOptions {
  /**
   * The job's params module (`import * as params from './params'`), the one its config names in
   * `params.schema`: specs whose params fail it are quarantined with the path of the problem.
   */
  readonly params?: ParamsModule;
}

/** Env var the ScheduledProducer sets to the version of the schema synth read (absent: no schema declared). */
export const PARAMS_VERSION_ENV = 'JOB_PARAMS_VERSION';

/**
 * The config declares a schema but the handler was not given it (or another version of it): the
 * producer would let unchecked params through. Fails the invocation (Lambda retries, then the
 * failed-invocations queue keeps the tick) with the fix, rather than plan unchecked tasks.
 */
export function checkParamsWiring(params: ParamsModule | undefined, declaredVersion: string | undefined): void {
  if (declaredVersion === undefined || declaredVersion === '') return;
  if (!params) {
    throw new Error(`the job's config declares a params schema but its producer does not use it: pass it, createProducerHandler(produce, { params }) with import * as params from './params'`);
  }
  const problems = paramsModuleProblems(params);
  if (problems.length > 0) throw new Error(`the producer's params module is not usable: ${problems.join('; ')}`);
  if (String(versionOf(params)) !== declaredVersion) {
    throw new Error(`the producer's params module is version ${versionOf(params)} but synth read version ${declaredVersion} from the module the config names: pass that module`);
  }
}
