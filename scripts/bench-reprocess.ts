/**
 * Benchmark: drain 10,000 spooled messages with the REAL reprocess handler (invoked repeatedly
 * as an operator would, `{"max": 10000}` and a 15-minute remaining time, until the spool is
 * empty) against fauxqs, with StartExecution answered by the stand-in enforcing Step Functions'
 * default token bucket (burst 800, refill 150/s, ThrottlingException beyond) and 20 ms latency,
 * and the hold switches in dynalite (job-a's CallApi depends on a dependency: every replay that
 * resumes there is checked against its hold).
 *
 *   npm run bench:reprocess            (N=10000; BENCH_N=2000 for a quick run; BENCH_MAX=1000 for 10 invocations)
 *   BENCH_KIND=ExecutionEnded BENCH_N=300 npm run bench:reprocess   (every replay looks at its ended execution first)
 *
 * Every SQS, SFN and DynamoDB request the handler's clients send is counted (SDK middleware inside
 * the retry loop, so retries count), cross-checked with the stand-in's own per-API counters.
 * Spooling the messages beforehand is not counted.
 */
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { ReprocessSummary } from '../lambdas/reprocess/drain';
import { executionNameFor, taskIdFor } from '../lambdas/shared/names';
import { SpoolKind } from '../lambdas/shared/spool-message';
import { executionArnOf, jobsEnv, spoolAttributes, spoolMessage, SM_A, TICK } from '../test/reprocess-fixtures';
import { startLocalDynamo } from '../local/dynamodb-local';
import { startSfnStandin } from '../local/sfn-standin';
import { startSqsEmulator } from '../local/sqs-emulator';

const N = Number(process.env.BENCH_N ?? 10_000);
/** `max` of each invocation (BENCH_MAX=1000 drains in ten invocations, as a cautious operator would). */
const MAX = Number(process.env.BENCH_MAX ?? 10_000);
const BURST = 800;
const REFILL = 150;
const LATENCY_MS = 20;
/** ExecutionFailed (no look needed: the default) or ExecutionEnded (a paced DescribeExecution before each start). */
const KIND = (process.env.BENCH_KIND ?? 'ExecutionFailed') as SpoolKind;

async function main(): Promise<void> {
  const startTimes: number[] = [];
  let firstThrottleAt = 0;
  const [sqsEmu, sfn, dynamo] = await Promise.all([
    startSqsEmulator(),
    startSfnStandin({ latencyMs: LATENCY_MS, onStart: () => void startTimes.push(Date.now()), onThrottle: () => void (firstThrottleAt ||= Date.now()) }),
    startLocalDynamo('us-east-1'),
  ]);
  await dynamo.createTable('bench-coordination');
  const spoolUrl = await sqsEmu.createQueue('bench-spool');
  const quarantineUrl = await sqsEmu.createQueue('bench-quarantine');
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_SQS: sqsEmu.endpoint,
    AWS_ENDPOINT_URL_SFN: sfn.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    SPOOL_QUEUE_URL: spoolUrl,
    QUARANTINE_QUEUE_URL: quarantineUrl,
    ...jobsEnv(),
    COORDINATION_TABLE: 'bench-coordination',
    APP_TIME_ZONE: 'Asia/Tokyo',
    POWERTOOLS_METRICS_DISABLED: 'true',
    MAX_REPLAYS: '5',
    MAX_REPROCESS: '10',
    POWERTOOLS_LOG_LEVEL: 'WARN',
  });

  process.stdout.write(`spooling ${N} messages... `);
  const loader = new SQSClient({});
  const keys = Array.from({ length: N }, (_, i) => `b${i}`);
  const failedArn = (key: string) => executionArnOf(SM_A, executionNameFor(taskIdFor('job-a', new Date(TICK), key), 1));
  // ExecutionEnded: the ended executions exist (TIMED_OUT), so each look answers "not redriven".
  if (KIND === 'ExecutionEnded') for (const key of keys) sfn.seed({ stateMachineArn: SM_A, name: failedArn(key).split(':').pop()!, input: '{}', status: 'TIMED_OUT' });
  for (let i = 0; i < N; i += 100) {
    await Promise.all(
      Array.from({ length: 10 }, (_, b) => keys.slice(i + b * 10, i + b * 10 + 10)).filter((k) => k.length).map((batch) =>
        loader.send(
          new SendMessageBatchCommand({
            QueueUrl: spoolUrl,
            Entries: batch.map((key, j) => {
              const m = spoolMessage({ key, kind: KIND, ...(KIND === 'ExecutionEnded' ? { executionArn: failedArn(key) } : {}) });
              return { Id: String(j), MessageBody: JSON.stringify(m), MessageAttributes: spoolAttributes(m) };
            }),
          }),
        ),
      ),
    );
  }
  console.log('done');

  const { handler, sqsClient, sfnClient, dynamoClient } = await import('../lambdas/reprocess/handler');
  const calls: Record<string, number> = {};
  type Next = (args: unknown) => Promise<unknown>;
  const countEveryAttempt = (next: Next, context: { commandName?: string }) => async (args: unknown) => {
    calls[context.commandName ?? '?'] = (calls[context.commandName ?? '?'] ?? 0) + 1;
    return next(args);
  };
  // The deserialize step runs inside the SDK's retry loop: every attempt counts.
  sqsClient.middlewareStack.add(countEveryAttempt as never, { step: 'deserialize', name: 'benchCount' });
  sfnClient.middlewareStack.add(countEveryAttempt as never, { step: 'deserialize', name: 'benchCount' });
  dynamoClient.middlewareStack.add(countEveryAttempt as never, { step: 'deserialize', name: 'benchCount' });

  if (!process.env.BENCH_NO_THROTTLE) sfn.setThrottle({ burst: BURST, refillPerSecond: REFILL }); // full bucket now
  const t0 = Date.now();
  const totals = { started: 0, resumed: 0, alreadyStarted: 0, alreadyHandled: 0, held: 0, invalid: 0, failed: 0, notAttempted: 0, throttleEvents: 0, invocations: 0 };
  for (;;) {
    const s = (await handler({ max: MAX }, { getRemainingTimeInMillis: () => 900_000 })) as ReprocessSummary;
    totals.invocations++;
    for (const k of ['started', 'resumed', 'alreadyStarted', 'alreadyHandled', 'held', 'invalid', 'failed', 'notAttempted', 'throttleEvents'] as const) totals[k] += s[k];
    if (s.remaining === 0 || totals.invocations >= Math.ceil(N / MAX) + 10) break;
  }
  const elapsed = (Date.now() - t0) / 1000;

  const q = await sqsEmu.inspectQueue('bench-spool');
  const names = new Set([...sfn.executions.values()].map((e) => e.name));
  let lost = 0;
  for (const key of keys) if (!names.has(executionNameFor(`job-a-20261125T0300Z-${key}`, 2))) lost++;
  lost -= q.ready + q.inflight + q.delayed; // still spooled is not lost
  const totalCalls = Object.values(calls).reduce((a, b) => a + b, 0);
  // Steady state: from the first throttle (the burst is spent) to the last start.
  const afterBurst = startTimes.filter((t) => t >= firstThrottleAt);
  const steady = firstThrottleAt && afterBurst.length > 1 ? afterBurst.length / ((afterBurst[afterBurst.length - 1] - firstThrottleAt) / 1000) : NaN;
  const lastStart = (startTimes[startTimes.length - 1] - t0) / 1000;
  const idealSeconds = Math.max(0, N - BURST) / REFILL;
  const idealRate = N / idealSeconds;

  console.log(JSON.stringify({ N, kind: KIND, totals, calls, standinCalls: sfn.counters.calls, standinThrottled: sfn.counters.throttled, dynamoCalls: dynamo.requests.byTarget }, null, 1));
  console.log(`elapsed                 ${elapsed.toFixed(1)} s (${totals.invocations} invocation(s))`);
  console.log(`messages/s overall      ${(N / elapsed).toFixed(1)}  (ideal with burst ${BURST} + ${REFILL}/s: ${idealRate.toFixed(1)}/s = ${N} in ${idealSeconds.toFixed(1)} s; ${((N / elapsed / idealRate) * 100).toFixed(1)}% of it)`);
  console.log(`last start after        ${lastStart.toFixed(1)} s (${((idealSeconds / lastStart) * 100).toFixed(1)}% of ideal; the rest is the final empty receive and summary)`);
  console.log(`starts/s after burst    ${steady.toFixed(1)}  (first throttle to last start; refill ${REFILL}/s; ${((steady / REFILL) * 100).toFixed(1)}% of it)`);
  console.log(`API calls / message     ${(totalCalls / N).toFixed(3)}  (${totalCalls} calls; SFN server-side ${Object.values(sfn.counters.calls).reduce((a, b) => a + b, 0)})`);
  console.log(`duplicates              ${sfn.counters.duplicates + sfn.counters.idempotent}`);
  console.log(`lost                    ${lost}`);
  console.log(`left in spool           ${q.ready + q.inflight + q.delayed}`);
  await Promise.all([sqsEmu.stop(), sfn.stop(), dynamo.stop()]);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
