/**
 * Benchmark: one tick of N tasks, as a user would measure it, through the REAL producer handler
 * (lambdas/producer/runtime.ts) and the REAL starter handler (lambdas/starter/handler.ts, one per
 * simulated Lambda container) with their real SDK clients, against local services: fauxqs (tick
 * queue, spool, quarantine), dynalite (the tick ledger), the Firehose stand-in (client records)
 * and the Step Functions stand-in enforcing StartExecution's default token bucket (burst 800,
 * refill 150/s, ThrottlingException beyond) with 20 ms per call.
 *
 *   npm run bench:producer -- --tasks 100000        (default 100,000; ~11 minutes at 150/s)
 *   npm run bench:producer -- --tasks 3000 --burst 1300 --refill 300
 *   npm run bench:producer -- --tasks 100000 --mode high-volume [--starters 10]   (lambdas/batch-starter: parents per batch)
 *
 * Simulated: the scheduler's invocation of the producer (its timeout as the deadline) and the SQS
 * event source mapping (local/sqs-esm.ts: the quota's maximum concurrency, batch size 1, the
 * starter's 120 s timeout as each invocation's deadline, deletes on success). It starts polling
 * when the producer is invoked, as the mapping polls all the time. Not simulated: Lambda cold
 * starts, network latency other than the 20 ms per StartExecution, the SDK clients' connection
 * pools (shared by the simulated containers of this one process).
 *
 * Prints: tasks, wall time (tick invoked -> last task started), the bucket's floor for N starts,
 * the floor / wall ratio, StartExecution calls per task (throttled calls included), started,
 * spooled, duplicates, lost, client records, and the longest producer and starter invocations
 * against their timeouts.
 */
import type { SQSBatchResponse } from 'aws-lambda';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { executionNameFor, taskIdFor } from '../lambdas/shared/names';
import { parseJsonLines } from '../lambdas/shared/param-log';
import { bucketFloorSeconds, startPlan } from '../lambdas/shared/start-plan';
import { driveEventSource } from '../local/sqs-esm';
import { HIGH_VOLUME_STARTERS } from '../lambdas/batch-starter/logic';
import { RIG_RECORD_MAC_KEY, RIG_STATE_MACHINE, RIG_TIME_ZONE, startTickRig } from '../local/tick-rig';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i >= 0 ? process.argv[i + 1] : undefined;
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${raw}`);
  return n;
}

const TASKS = flag('tasks', 100_000);
const BURST = flag('burst', 800);
const REFILL = flag('refill', 150);
const LATENCY_MS = flag('latency', 20);
const PRODUCER_TIMEOUT_S = flag('producer-timeout', 60);
const TICK = '2026-11-25T18:00:00Z';
// `--mode high-volume`: the starter starts the batch's parent executions (lambdas/batch-starter), not one per task.
const MODE = (() => {
  const i = process.argv.indexOf('--mode');
  const m = i >= 0 ? process.argv[i + 1] : 'standard';
  if (m !== 'standard' && m !== 'high-volume') throw new Error(`--mode must be standard or high-volume, got ${m}`);
  return m;
})();
const PARENT_STATE_MACHINE = `${RIG_STATE_MACHINE}-hv`;
/** High-volume starters at once (the event source's maximum concurrency). */
const HV_STARTERS = flag('starters', HIGH_VOLUME_STARTERS);

function listGz(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? listGz(p) : p.endsWith('.gz') ? [p] : [];
  });
}

async function main(): Promise<void> {
  const quota = { burst: BURST, refillPerSecond: REFILL };
  const plan = startPlan(quota);
  const startTimes: number[] = [];
  const rig = await startTickRig({ sfn: { latencyMs: LATENCY_MS, onStart: () => void startTimes.push(Date.now()) } });
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_SQS: rig.sqsEmulator.endpoint,
    AWS_ENDPOINT_URL_SFN: rig.sfn.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: rig.dynamo.endpoint,
    AWS_ENDPOINT_URL_FIREHOSE: rig.firehose.endpoint,
    AWS_ENDPOINT_URL_KMS: rig.kms.endpoint,
    RECORD_MAC_KEY_ID: RIG_RECORD_MAC_KEY,
    JOB_NAME: 'orders',
    STATE_MACHINE_ARN: RIG_STATE_MACHINE,
    ALLOWED_STATE_MACHINE_ARNS: RIG_STATE_MACHINE,
    TICK_QUEUE_URL: rig.queues.tick,
    SPOOL_QUEUE_URL: rig.queues.spool,
    QUARANTINE_QUEUE_URL: rig.queues.quarantine,
    CLIENT_LOG_STREAM: 'clientStream',
    APP_TIME_ZONE: RIG_TIME_ZONE,
    COORDINATION_TABLE: rig.tableName,
    TASKS_PER_BATCH: String(plan.tasksPerBatch),
    STARTER_CONCURRENCY: String(plan.starterConcurrency),
    IN_FLIGHT: String(plan.inFlightPerStarter),
    PACE_HINT: String(plan.paceHintPerStarter),
    POWERTOOLS_LOG_LEVEL: 'WARN',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
    PARENT_ROUTES: JSON.stringify({ [RIG_STATE_MACHINE]: PARENT_STATE_MACHINE }),
  });
  const { createProducerHandler } = await import('../lambdas/producer/runtime');
  const starter = MODE === 'standard' ? await import('../lambdas/starter/handler') : await import('../lambdas/batch-starter/handler');
  let calls = 0;
  type Next = (args: unknown) => Promise<unknown>;
  // The deserialize step runs inside the SDK's retry loop: every attempt counts.
  starter.sfnClient.middlewareStack.add(((next: Next) => async (args: unknown) => {
    calls++;
    return next(args);
  }) as never, { step: 'deserialize', name: 'benchCount' });

  // A nightly fan-out over a table: one small row per task.
  const produce = () => Array.from({ length: TASKS }, (_, i) => ({ key: `order-${i}`, params: { customerId: `c-${(i * 7919) % 50_000}`, orderId: `o-${i}`, day: '2026-11-25' } }));
  const producer = createProducerHandler(produce);

  console.log(`tick of ${TASKS} tasks, mode ${MODE}; bucket ${BURST} burst, ${REFILL}/s; ${LATENCY_MS} ms per StartExecution`);
  console.log(
    MODE === 'standard'
      ? `plan from the quota: ${plan.starterConcurrency} starters x ${plan.inFlightPerStarter} in flight, ${plan.tasksPerBatch} tasks per batch, starter timeout ${plan.starterTimeoutSeconds} s`
      : `high-volume: ${HV_STARTERS} starters, ${plan.tasksPerBatch} tasks per batch as parents of at most 255 KiB input, starter timeout ${plan.starterTimeoutSeconds} s`,
  );
  rig.sfn.setThrottle(quota); // full bucket now
  const t0 = Date.now();
  let producerDone = false;
  let producerMs = 0;
  const progress = setInterval(() => console.log(`  ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s: ${startTimes.length} started`), 30_000);
  const producing = (async () => {
    const deadline = Date.now() + PRODUCER_TIMEOUT_S * 1000;
    try {
      return await producer({ scheduledTime: TICK }, { getRemainingTimeInMillis: () => deadline - Date.now(), awsRequestId: 'bench-producer' });
    } finally {
      producerMs = Date.now() - t0;
      producerDone = true;
    }
  })();
  const [summary, esm] = await Promise.all([
    producing,
    driveEventSource({
      sqs: rig.sqs,
      queueUrl: rig.queues.tick,
      maxConcurrency: MODE === 'standard' ? plan.starterConcurrency : HV_STARTERS,
      timeoutMs: plan.starterTimeoutSeconds * 1000,
      container: () => {
        const handler = starter.newContainer();
        return (event, context) => handler(event, context) as Promise<SQSBatchResponse>;
      },
      stopWhenEmpty: () => producerDone,
    }),
  ]);
  clearInterval(progress);
  const drainedS = (Date.now() - t0) / 1000;
  const wallS = ((startTimes[startTimes.length - 1] ?? t0) - t0) / 1000;

  // Outcome, task by task. In high-volume a task began when a started parent carries it.
  const names = new Set([...rig.sfn.executions.values()].map((e) => e.name));
  const carried = new Map<string, number>();
  for (const e of rig.sfn.executions.values()) {
    if (e.stateMachineArn !== PARENT_STATE_MACHINE) continue;
    for (const t of (JSON.parse(e.input) as { tasks: Array<{ taskId: string }> }).tasks) carried.set(t.taskId, (carried.get(t.taskId) ?? 0) + 1);
  }
  const tick = new Date(TICK);
  let lost = 0;
  const taskIds: string[] = [];
  for (let i = 0; i < TASKS; i++) {
    const id = taskIdFor('orders', tick, `order-${i}`);
    taskIds.push(id);
    if (MODE === 'standard' ? !names.has(executionNameFor(id, 1)) : !carried.has(id)) lost++;
  }
  const carriedTwice = [...carried.values()].filter((n) => n > 1).length;
  const spooled = await rig.depth('spool');
  const quarantined = await rig.depth('quarantine');
  const deadLettered = await rig.depth('deadLetter');
  lost -= spooled; // a spooled task is kept for replay, not lost
  rig.firehose.flushAll();
  const records = listGz(join(rig.outDir, 'client')).flatMap((f) => parseJsonLines(gunzipSync(readFileSync(f)).toString('utf8')));
  const recorded = new Set(records.filter((r) => r.result === 'Started' || r.result === 'Duplicate').map((r) => r.task_id));
  const withoutRecord = taskIds.filter((id) => !recorded.has(id)).length;
  const c = rig.sfn.counters;
  const floor = bucketFloorSeconds(TASKS, quota);
  const starterTimeoutMs = plan.starterTimeoutSeconds * 1000;

  console.log('');
  console.log(`tasks                      ${TASKS}`);
  console.log(`wall time                  ${wallS.toFixed(1)} s (tick invoked -> last ${MODE === 'standard' ? 'task' : 'parent (every task handed to a started parent)'} started; queue drained at ${drainedS.toFixed(1)} s)`);
  console.log(`bucket floor               ${floor.toFixed(1)} s ((${TASKS} - ${BURST}) / ${REFILL}/s)`);
  if (MODE === 'standard') console.log(`ratio to the floor         ${(floor / wallS).toFixed(3)}`);
  else console.log(`(the floor above binds standard: one StartExecution per task; here ${rig.sfn.executions.size} calls' worth of tokens)`);
  console.log(`StartExecution calls/task  ${(calls / TASKS).toFixed(4)} (${calls} calls, ${c.throttled} throttled; stand-in counted ${c.calls.StartExecution ?? 0})`);
  console.log(`started                    ${MODE === 'standard' ? `${rig.sfn.executions.size} executions` : `${carried.size} tasks in ${rig.sfn.executions.size} parent executions (in 2 parents: ${carriedTwice})`}`);
  console.log(`spooled                    ${spooled} (StartFailed; quarantined ${quarantined}; tick dead-letter queue ${deadLettered})`);
  console.log(`duplicates                 ${c.duplicates} executions started twice; ${c.idempotent + c.alreadyExists} calls spent on tasks already started`);
  console.log(`lost                       ${lost}`);
  console.log(`client records             ${records.length} (tasks without a Started/Duplicate record: ${withoutRecord})`);
  console.log(`producer invocation        ${(producerMs / 1000).toFixed(1)} s of ${PRODUCER_TIMEOUT_S} s (${summary.outcome}, ${summary.batches} batches)`);
  console.log(
    `longest starter invocation ${(esm.longestMs / 1000).toFixed(1)} s of ${plan.starterTimeoutSeconds} s (${esm.invocations.length} invocations, ${esm.invocations.filter((i) => i.ms > starterTimeoutMs).length} past the timeout, ${esm.failed} failed)`,
  );
  await rig.stop();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
