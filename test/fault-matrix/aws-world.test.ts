/**
 * Fault matrix, a world no kinder than AWS (issue 17 item 1, docs/aws-promises.md): each fault AWS
 * documents for the services the design relies on, driven on the real handlers and the synthesized
 * definitions (./world.ts), with side effects counted per task, step and item. Each row names the
 * building block it relies on; switching it off makes the row fail (docs/fault-matrix.md):
 *
 *   FAULT_MATRIX_RECONCILER=off     npx jest test/fault-matrix/aws-world.test.ts
 *   FAULT_MATRIX_CAPTURE_MARKS=off  npx jest test/fault-matrix/aws-world.test.ts
 *   FAULT_MATRIX_STEP_RECORDS=off   npx jest test/fault-matrix/aws-world.test.ts
 *   FAULT_MATRIX_DETERMINISTIC_NAMES=off npx jest test/fault-matrix/aws-world.test.ts
 *   FAULT_MATRIX_RETRY_JITTER=off   npx jest test/fault-matrix/aws-world.test.ts
 *   FAULT_MATRIX_LEDGER_LEASES=off FAULT_MATRIX_DETERMINISTIC_NAMES=off npx jest test/fault-matrix/aws-world.test.ts
 *   FAULT_MATRIX_TICK_LEDGER=off FAULT_MATRIX_DETERMINISTIC_NAMES=off npx jest test/fault-matrix/aws-world.test.ts
 *   FAULT_MATRIX_TICK_LEDGER=off FAULT_MATRIX_LEDGER_LEASES=off FAULT_MATRIX_DETERMINISTIC_NAMES=off npx jest test/fault-matrix/aws-world.test.ts
 */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { TransientError } from '../../lambdas/shared/errors';
import { taskIdFor } from '../../lambdas/shared/names';
import { historyBudgetFindings } from '../../lib/config/history-budget';
import type { ResolvedJob } from '../../lib/config/types';
import { FIREHOSE_S3_RETRY_MS } from '../../local/firehose-standin';
import { retriersByState } from '../../local/offline-day/aws-faults';
import { expectCanaryInside, expectNothingLost, expectTaskEnd } from './expect-end';
import { faultCase } from './matrix';
import { account, order } from './specs';
import { withoutRetryJitter } from './aws-switches';
import { startWorld, World } from './world';

let world: World;
beforeAll(async () => {
  // FAULT_MATRIX_RETRY_JITTER=off: the app configured without jitter on its retries (the jitter row then fails).
  world = await startWorld(process.env.FAULT_MATRIX_RETRY_JITTER === 'off' ? { edit: withoutRetryJitter } : {});
}, 60_000);
afterAll(() => world?.close());

const applied = (taskId: string, step: string, index?: number) => world.sideEffects.count(index === undefined ? `${taskId}#${step}` : `${taskId}#${step}#${index}`);
const spooledFor = async (id: string) => (await world.spool()).filter((m) => m.body?.taskId === id);
/** An api order whose execution an operator stops in CallApi (before the call): it ends ABORTED, outside the Catch. */
async function stoppedOrder(key: string): Promise<string> {
  const t = await world.tick('example-api', [order(key)], { drain: false });
  const id = t.taskIds[0];
  world.onStep({
    state: 'CallApi',
    task: id,
    attempt: 1,
    handle: async (c) => {
      await world.stop(c.executionArn, 'Operator', 'looked stuck');
      throw new Error('the call never completed');
    },
  });
  await world.drainTicks();
  return id;
}

faultCase('status-event-dropped', async () => {
  world.onStatusEvent((ev) => (ev.detail.status === 'ABORTED' ? 'drop' : 'once'));
  const id = await stoppedOrder('ord-dropped');
  await world.settle();
  world.onStatusEvent(null);
  expect(world.executionsOf(id).map((e) => e.status)).toEqual(['ABORTED']);
  // No event: the capture never ran, nothing is spooled. The reconciler's next run lists it.
  expect(await spooledFor(id)).toHaveLength(0);
  await world.reconcile();
  await expectTaskEnd(world, id, { spooled: { error: 'ExecutionAborted', kind: 'ExecutionEnded', failedState: 'CallApi', replayed: (s) => expect(s.resumed).toBe(1) } });
  expect(world.api.accepted('ord-dropped')).toBe(1);
  expect(world.sideEffects.duplicatedSideEffects(id)).toBe(0);
});

faultCase('status-event-late-and-twice', async () => {
  world.onStatusEvent((ev) => (ev.detail.status === 'ABORTED' ? 'late' : 'once'));
  const id = await stoppedOrder('ord-late');
  await world.settle();
  world.onStatusEvent(null);
  // The reconciler runs first and captures it; then the late event arrives, twice (EventBridge may repeat it).
  await world.reconcile();
  const late = await world.deliverLate(2);
  expect(late.map((r) => r.succeeded)).toEqual([true, true]);
  expect((await spooledFor(id)).map((m) => m.body?.error)).toEqual(['ExecutionAborted']);
  await expectTaskEnd(world, id, { spooled: { error: 'ExecutionAborted', kind: 'ExecutionEnded', failedState: 'CallApi' } });
  expect(world.api.accepted('ord-late')).toBe(1);
  expect(world.workerRecords().filter((r) => r.task_id === id).map((r) => r.result)).toEqual(['Aborted', 'Success']);
});

faultCase('producer-invoked-twice', async () => {
  // The first run, and the starter's run of its batch: its tasks are started.
  const t = await world.tick('example-api', [order('ord-async-1'), order('ord-async-2')]);
  // Lambda's asynchronous invocation is at least once: the same event again, after the first run ended
  // and its batch was started (a copy arriving while the first run's batch waits is scheduler-tick-twice's race).
  const again = await world.invokeProducer('example-api', { scheduledTime: t.scheduledTime.toISOString() });
  expect([t.producer.succeeded, again.succeeded]).toEqual([true, true]);
  await world.drainTicks();
  await world.settle();
  for (const [i, id] of t.taskIds.entries()) {
    await expectTaskEnd(world, id, { succeeded: true });
    expect(world.api.accepted(`ord-async-${i + 1}`)).toBe(1);
    expect(world.sideEffects.duplicatedSideEffects(id)).toBe(0);
  }
});

faultCase('scheduler-tick-twice', async () => {
  const scheduledTime = new Date(Date.UTC(2026, 10, 25, 6, 0));
  const specs = [order('ord-sched-1'), order('ord-sched-2'), order('ord-sched-3')];
  world.produce('example-api', specs);
  // EventBridge Scheduler delivers at least once: two invocations of one tick, at the same time. Their
  // claims of the tick meet on its lease; batches both enqueued reach the starter at once (the
  // mapping's concurrency) and meet on the batch's lease.
  const runs = await Promise.all([0, 1].map(() => world.invokeProducer('example-api', { scheduledTime: scheduledTime.toISOString() })));
  expect(runs.map((r) => r.succeeded)).toEqual([true, true]);
  await world.drainTicks();
  await world.settle();
  for (const s of specs) {
    const id = taskIdFor('example-api', scheduledTime, s.key);
    await expectTaskEnd(world, id, { succeeded: true });
    expect(world.api.accepted(s.key)).toBe(1);
    expect(world.sideEffects.duplicatedSideEffects(id)).toBe(0);
  }
});

faultCase('tick-batch-delivered-twice', async () => {
  const t = await world.tick('example-fanout', [account('acct-sqs-1', 2), account('acct-sqs-2', 2)], { drain: false });
  // SQS standard queues deliver at least once: every batch of the tick queue reaches the starter twice.
  const esm = await world.drainTicks({ redeliver: () => true });
  expect(esm.invocations.length).toBeGreaterThan(0);
  await world.settle();
  for (const id of t.taskIds) {
    await expectTaskEnd(world, id, { succeeded: true });
    expect([0, 1].map((i) => applied(id, 'ProcessPart', i))).toEqual([1, 1]);
    expect(world.sideEffects.duplicatedSideEffects(id)).toBe(0);
  }
});

faultCase('spool-message-delivered-twice', async () => {
  world.api.script('ord-spool-twice', [422]);
  const t = await world.tick('example-api', [order('ord-spool-twice')]);
  const id = t.taskIds[0];
  await world.settle();
  const [message] = await spooledFor(id);
  expect(message.body).toMatchObject({ kind: 'ExecutionFailed', failedState: 'CallApi' });
  // SQS delivers a copy of the message (at least once): the same body and attributes a second time.
  const attrs = Object.fromEntries(Object.entries(message.attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]));
  await world.sqs.send(new SendMessageCommand({ QueueUrl: world.queues.spool.url, MessageBody: message.raw, MessageAttributes: attrs }));
  expect(await spooledFor(id)).toHaveLength(2);
  const summary = await world.reprocess({ taskIds: [id] });
  // Both starts name the one execution of attempt 2 (Step Functions answers the same name and input with the running execution).
  expect({ started: summary.started, invalid: summary.invalid, failed: summary.failed }).toEqual({ started: 2, invalid: 0, failed: 0 });
  await world.settle();
  // One replay ran: the copy asked for the same deterministic name.
  expect(world.executionsOf(id).map((e) => e.status)).toEqual(['FAILED', 'SUCCEEDED']);
  expect(await spooledFor(id)).toHaveLength(0);
  await expectTaskEnd(world, id, { succeeded: true });
  expect(world.api.accepted('ord-spool-twice')).toBe(1);
  expect(world.sideEffects.duplicatedSideEffects(id)).toBe(0);
});

faultCase('step-outlives-execution-timeout', async () => {
  const t = await world.tick('example-fanout', [account('acct-outlive', 3)], { drain: false });
  const id = t.taskIds[0];
  world.onExecution(id, 1, { definition: (d) => ({ ...d, TimeoutSeconds: 2 }) });
  let late: Promise<unknown> = Promise.resolve();
  // Part 1's Lambda is slow: the execution times out while it runs, and it runs on (StopExecution and
  // execution timeouts do not stop a Lambda) and applies its side effect after the end.
  world.onStep({
    state: 'ProcessPart',
    task: id,
    attempt: 1,
    handle: (c) => {
      if (c.payload.index !== 1) return c.real();
      late = (async () => {
        // Bounded: if the execution never ended, this Lambda must not poll on into later tests.
        const giveUpAt = Date.now() + 60_000;
        while (world.sfn.executions.get(c.executionArn)?.status === 'RUNNING') {
          if (Date.now() > giveUpAt) throw new Error('the execution never ended');
          await new Promise((r) => setTimeout(r, 20));
        }
        return c.real();
      })();
      late.catch(() => undefined); // awaited below; observed meanwhile, should an expectation fail first
      return late;
    },
  });
  await world.drainTicks();
  await world.settle();
  const [ended] = world.executionsOf(id);
  expect(ended.status).toBe('TIMED_OUT');
  await late;
  expect(applied(id, 'ProcessPart', 1)).toBe(1);
  // The lock was kept for the Lambda that ran on; once its time has passed the replay takes it.
  expect(await world.coordinationItem(await world.lockKeyOf('example-fanout', { account: 'acct-outlive' }, 'account'))).toMatchObject({ owner: ended.executionArn, leasedAfterEnd: true });
  expect(await world.passLockLeases()).toBe(1);
  await expectTaskEnd(world, id, { spooled: { error: 'ExecutionTimedOut', kind: 'ExecutionEnded', failedState: 'ProcessParts', replayed: (s) => expect(s.resumed).toBe(1) } });
  // The replay called every part again; part 1's late side effect was recorded and not applied again.
  expect(world.calls('ProcessPart', id)).toBe(6);
  expect([0, 1, 2].map((i) => applied(id, 'ProcessPart', i))).toEqual([1, 1, 1]);
  expect(world.sideEffects.duplicatedSideEffects(id)).toBe(0);
});

faultCase('retry-waits-with-jitter', async () => {
  // CallApi as synthesized: its retrier for the API being down, with backoff, cap and full jitter.
  const def = world.definition('example-api') as unknown as { States: Record<string, unknown> };
  const retrier = retriersByState(def).get('CallApi')!.find((r) => (r as { ErrorEquals?: string[] }).ErrorEquals?.includes('ExternalApiUnavailableError'))!;
  expect(retrier).toMatchObject({ JitterStrategy: 'FULL' });
  const bound = (n: number) => Math.min((retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** (n - 1), retrier.MaxDelaySeconds ?? Infinity) * 1000;
  world.api.script('ord-jitter', [503, 503, 503]);
  const t = await world.tick('example-api', [order('ord-jitter')], { drain: false });
  const id = t.taskIds[0];
  const waits: number[] = [];
  let warped = 0;
  const sim = () => Date.now() + warped;
  const calledAt: number[] = [];
  world.onExecution(id, 1, { retryWaits: (ms) => void (waits.push(ms), (warped += ms)) });
  world.onStep({ state: 'CallApi', task: id, handle: (c) => (calledAt.push(sim()), c.real()) });
  await world.drainTicks();
  await world.settle();
  await expectTaskEnd(world, id, { succeeded: true });
  // Three retries; each waited within its documented bound (IntervalSeconds x BackoffRate^(n-1), capped), jittered below it.
  expect(waits).toHaveLength(3);
  waits.forEach((w, i) => expect({ retry: i + 1, inBound: w >= 0 && w <= bound(i + 1) }).toEqual({ retry: i + 1, inBound: true }));
  expect(waits.some((w, i) => w < bound(i + 1) * 0.999)).toBe(true);
  // On the simulated clock, each call came at least its wait after the one before.
  expect(calledAt).toHaveLength(4);
  for (let i = 1; i < 4; i++) expect(calledAt[i] - calledAt[i - 1]).toBeGreaterThanOrEqual(waits[i - 1]);
  expect(world.api.accepted('ord-jitter')).toBe(1);
});

faultCase('history-limit-overflow', async () => {
  // The budget at synth: the fixture's map fits without retries (a map that never fits is refused).
  const fanout = world.config.jobs.find((j) => j.name === 'example-fanout')! as ResolvedJob;
  expect(historyBudgetFindings('example-fanout', fanout).problems).toEqual([]);
  const bigger = { steps: fanout.steps.map((s) => (s.kind === 'map' ? { ...s, maxItems: 5_000 } : s)) } as Pick<ResolvedJob, 'steps'>;
  expect(historyBudgetFindings('example-fanout', bigger).problems).toHaveLength(1);
  // The quota, scaled: a clean run of this shape measures its events; the limit is that many.
  const clean = await world.tick('example-fanout', [account('acct-hist-clean', 8)]);
  await world.settle();
  const cleanHistory = world.executionsOf(clean.taskIds[0])[0].history;
  const limit = cleanHistory.length;
  const t = await world.tick('example-fanout', [account('acct-hist', 8)], { drain: false });
  const id = t.taskIds[0];
  world.onExecution(id, 1, { historyLimit: limit });
  world.onExecution(id, 2, { historyLimit: limit });
  // Every part fails three times (a transient fault; its Retry allows 3): the retries' events pass the limit inside the map.
  const failures = new Map<unknown, number>();
  world.onStep({ state: 'ProcessPart', task: id, attempt: 1, handle: (c) => {
    const n = failures.get(c.payload.index) ?? 0;
    failures.set(c.payload.index, n + 1);
    return n < 3 ? Promise.reject(new TransientError('busy')) : c.real();
  } });
  await world.drainTicks();
  await world.settle();
  expect(world.executionsOf(id)[0]).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
  // Captured (outside the Catch), replayed at the map under the same limit: it does not overflow again.
  await world.passLockLeases();
  await expectTaskEnd(world, id, { spooled: { error: 'States.Runtime', kind: 'ExecutionEnded', failedState: 'ProcessParts', replayed: (s) => expect(s.resumed).toBe(1) } });
  expect([0, 1, 2, 3, 4, 5, 6, 7].map((i) => applied(id, 'ProcessPart', i))).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
  expect(world.executionsOf(id)[1].history.length).toBeLessThanOrEqual(limit);
  expect(world.sideEffects.duplicatedSideEffects(id)).toBe(0);
});

faultCase('firehose-discards-after-24h', async () => {
  // The parameter log's bucket refuses deliveries (a broken key policy, say) for more than 24 hours.
  world.paramLogDelivery.flush();
  world.paramLogDelivery.bucketDown(true);
  const t = await world.tick('example-api', [order('ord-discarded')]);
  const id = t.taskIds[0];
  await world.settle();
  world.paramLogDelivery.flush();
  // The delivery-age alarm (DeliveryToS3.DataFreshness, from the template) fires long before the records go.
  const freshness = Object.values(world.model.template.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties?.MetricName === 'DeliveryToS3.DataFreshness');
  expect(freshness.length).toBeGreaterThan(0);
  // Age over the threshold for EvaluationPeriods periods: in ALARM within the first hour of a 24-hour retry window.
  for (const a of freshness) expect(Number(a.Properties!.Threshold) + Number(a.Properties!.EvaluationPeriods ?? 1) * Number(a.Properties!.Period ?? 300)).toBeLessThan(3_600);
  world.paramLogDelivery.advance(FIREHOSE_S3_RETRY_MS + 60_000);
  world.paramLogDelivery.flush();
  world.paramLogDelivery.bucketDown(false);
  // Discarded: the task's client and worker records never reach the log. The task itself ran once.
  expect([...world.paramLogDelivery.discarded.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  expect(world.clientRecords().filter((r) => r.task_id === id)).toEqual([]);
  expect(world.executionsOf(id).map((e) => e.status)).toEqual(['SUCCEEDED']);
  expect(world.api.accepted('ord-discarded')).toBe(1);
  expect(await spooledFor(id)).toHaveLength(0);
});

test('after every case above: the lost-task query finds nothing, no execution name was created twice, no side effect was applied twice', () => expectNothingLost(world));

test("after every case above: the params canary occurs in no line outside the lock", () => expectCanaryInside(world));
