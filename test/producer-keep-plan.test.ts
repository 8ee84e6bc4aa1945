import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { planTick, ProduceFn, TickDeps, TickEnqueueError } from '../lambdas/producer/logic';
import { tickStamp } from '../lambdas/shared/names';
import { parseTickBatch, tickLedgerKey } from '../lambdas/shared/tick-batch';
import { TickLedger } from '../lambdas/shared/tick-ledger';
import { startLedger } from './support/ledger';

/**
 * Keep the plan (issue 17, item 5): a tick's batch boundaries are fixed when it is planned. A retry
 * that resumes after the batches already in the tick queue must cut the list exactly as the failed
 * attempt did, even if the batch size the deployment computes changed in between (a new
 * `startExecutionQuota`, another starter concurrency). Before the fix, a retry re-cut with the new
 * size and resumed at the old batch index: 166 of 1,000 tasks were never enqueued.
 */
const sqsMock = mockClient(SQSClient);
let ledgerEnv: Awaited<ReturnType<typeof startLedger>>;
let ledger: TickLedger;
let minute = 0;
let tick: Date;

beforeAll(async () => {
  ledgerEnv = await startLedger();
  ledger = ledgerEnv.ledger;
});
afterAll(() => ledgerEnv.stop());
beforeEach(() => {
  sqsMock.reset();
  tick = new Date(Date.UTC(2026, 3, 1, 0, minute++));
});

function deps(over: Partial<TickDeps>): TickDeps {
  return {
    job: 'orders',
    stateMachineArn: 'arn:aws:states:ap-northeast-1:111122223333:stateMachine:orders',
    tickQueueUrl: 'https://sqs.local/tick',
    quarantineQueueUrl: 'https://sqs.local/quarantine',
    timeZone: 'Asia/Tokyo',
    tasksPerBatch: 1000,
    starterConcurrency: 2,
    sqs: new SQSClient({ region: 'us-east-1' }),
    sink: { put: async () => undefined },
    ledger,
    owner: 'invocation-1',
    remainingMs: 60_000,
    ...over,
  };
}
const tasks = (n: number): ProduceFn => () => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, params: { i } }));

/** Keys in the batch messages the tick queue accepted (entries SQS did not report as failed). */
function acceptedKeys(accepted: string[][]): void {
  sqsMock.on(SendMessageBatchCommand).callsFake((input: { Entries: Array<{ Id: string; MessageBody: string }> }) => {
    accepted.push(input.Entries.flatMap((e) => parseTickBatch(e.MessageBody).tasks.map((t) => t.key)));
    return { Failed: [] };
  });
}

describe('a retried planning keeps the batch boundaries of the failed attempt', () => {
  test('batch size 167 -> 250 between failure and retry: all 1,000 tasks are enqueued, none twice', async () => {
    const sent: string[] = [];
    // First attempt: 167 tasks a batch (6 batches); the queue takes batches 0 and 1 and refuses the rest.
    sqsMock.on(SendMessageBatchCommand).callsFake((input: { Entries: Array<{ Id: string; MessageBody: string }> }) => {
      const ok = input.Entries.filter((e) => Number(e.Id) < 2);
      sent.push(...ok.flatMap((e) => parseTickBatch(e.MessageBody).tasks.map((t) => t.key)));
      return { Failed: input.Entries.filter((e) => Number(e.Id) >= 2).map((e) => ({ Id: e.Id, Code: 'InternalError', SenderFault: false })) };
    });
    await expect(planTick({ scheduledTime: tick.toISOString() }, tasks(1000), deps({ tasksPerBatch: 167 }))).rejects.toBeInstanceOf(TickEnqueueError);
    const key = tickLedgerKey('orders', tickStamp(tick));
    expect(await ledger.getTick(key)).toMatchObject({ state: 'planning', enqueued: 2, batches: 6, batchSize: 167 });
    expect(sent).toHaveLength(334);

    // The quota was raised and redeployed before Lambda's retry: the deployment now computes 250.
    sqsMock.reset();
    const retried: string[][] = [];
    acceptedKeys(retried);
    const retry = await planTick({ scheduledTime: tick.toISOString() }, tasks(1000), deps({ tasksPerBatch: 250, owner: 'invocation-2' }));
    const all = [...sent, ...retried.flat()];
    const expected = Array.from({ length: 1000 }, (_, i) => `k${i}`);
    // Before the fix: 166 tasks (k334..k499) never reached the tick queue.
    expect(expected.filter((k) => !all.includes(k))).toHaveLength(0);
    expect(new Set(all).size).toBe(all.length);
    expect(retry).toMatchObject({ outcome: 'planned', batches: 6, enqueued: 4, planChanged: false });
    expect(all.sort()).toEqual(expected.sort());
  });

  test('batch size 250 -> 100 between failure and retry: nothing enqueued twice, nothing skipped', async () => {
    const sent: string[] = [];
    sqsMock.on(SendMessageBatchCommand).callsFake((input: { Entries: Array<{ Id: string; MessageBody: string }> }) => {
      const ok = input.Entries.filter((e) => Number(e.Id) < 1);
      sent.push(...ok.flatMap((e) => parseTickBatch(e.MessageBody).tasks.map((t) => t.key)));
      return { Failed: input.Entries.filter((e) => Number(e.Id) >= 1).map((e) => ({ Id: e.Id, Code: 'InternalError', SenderFault: false })) };
    });
    await expect(planTick({ scheduledTime: tick.toISOString() }, tasks(1000), deps({ tasksPerBatch: 250 }))).rejects.toBeInstanceOf(TickEnqueueError);
    sqsMock.reset();
    const retried: string[][] = [];
    acceptedKeys(retried);
    await planTick({ scheduledTime: tick.toISOString() }, tasks(1000), deps({ tasksPerBatch: 100, starterConcurrency: 8, owner: 'invocation-2' }));
    const all = [...sent, ...retried.flat()];
    expect(all).toHaveLength(1000);
    expect(new Set(all).size).toBe(1000);
  });

  test('a replan (a new plan id) cuts with the batch size of the current deployment', async () => {
    const first: string[][] = [];
    acceptedKeys(first);
    await planTick({ scheduledTime: tick.toISOString() }, tasks(1000), deps({ tasksPerBatch: 250 }));
    expect(first.flat()).toHaveLength(1000);
    const again: string[][] = [];
    sqsMock.reset();
    acceptedKeys(again);
    const summary = await planTick({ scheduledTime: tick.toISOString(), replan: true }, tasks(1000), deps({ tasksPerBatch: 100, owner: 'invocation-2', now: () => new Date(tick.getTime() + 60_000) }));
    expect(summary).toMatchObject({ outcome: 'planned', replanned: 1, batches: 10 });
    expect(await ledger.getTick(tickLedgerKey('orders', tickStamp(tick)))).toMatchObject({ batchSize: 100 });
  });
});
