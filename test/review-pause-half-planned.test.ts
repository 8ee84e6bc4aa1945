/**
 * A pause stops ticks from the next one on; it must not swallow the retry of a tick whose planning
 * began before the pause and failed half-way. That retry is the only thing that enqueues the rest of
 * the tick's batches (the ledger keeps `planning`, not `paused`, so neither `jobs` nor the resume
 * message lists it as skipped): answering it `paused` ends the invocation successfully, so Lambda
 * neither retries it nor hands it to the on-failure destination, and the rest of the tick is lost.
 * The producer's logic with SQS mocked and the tick ledger on dynalite (as test/producer.test.ts).
 */
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { planTick, ProduceFn, TickDeps } from '../lambdas/producer/logic';
import { tickStamp } from '../lambdas/shared/names';
import { parseTickBatch, tickLedgerKey } from '../lambdas/shared/tick-batch';
import { TickLedger } from '../lambdas/shared/tick-ledger';
import { startLedger } from './support/ledger';

const sqsMock = mockClient(SQSClient);
const TICK_QUEUE = 'https://sqs.local/tick';
let ledgerEnv: Awaited<ReturnType<typeof startLedger>>;
let ledger: TickLedger;
const tick = new Date(Date.UTC(2026, 2, 2, 0, 5));

beforeAll(async () => {
  ledgerEnv = await startLedger();
  ledger = ledgerEnv.ledger;
});
afterAll(() => ledgerEnv.stop());

function deps(over: Partial<TickDeps> = {}): TickDeps {
  return {
    job: 'orders',
    stateMachineArn: 'arn:aws:states:ap-northeast-1:111122223333:stateMachine:orders',
    tickQueueUrl: TICK_QUEUE,
    quarantineQueueUrl: 'https://sqs.local/quarantine',
    timeZone: 'Asia/Tokyo',
    tasksPerBatch: 4,
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
const batchIndexes = () =>
  sqsMock
    .commandCalls(SendMessageBatchCommand)
    .filter((c) => c.args[0].input.QueueUrl === TICK_QUEUE)
    .flatMap((c) => c.args[0].input.Entries!)
    .map((e) => parseTickBatch(e.MessageBody!).index);

test('a tick half-planned before the pause is finished by its retry during the pause, not answered "paused"', async () => {
  // The first invocation writes 10 of 12 batches, then the tick queue fails: Lambda will retry it.
  sqsMock.on(SendMessageBatchCommand).resolvesOnce({ Failed: [] }).rejects(new Error('queue down'));
  await expect(planTick({ scheduledTime: tick.toISOString() }, tasks(4 * 12), deps())).rejects.toThrow('queue down');
  expect(sqsMock.commandCalls(SendMessageBatchCommand)[0].args[0].input.Entries).toHaveLength(10);

  // The operator pauses the job; then Lambda's retry of that tick arrives.
  sqsMock.reset();
  sqsMock.on(SendMessageBatchCommand).resolves({ Failed: [] });
  const retry = await planTick({ scheduledTime: tick.toISOString() }, tasks(4 * 12), deps({ owner: 'invocation-2', isPaused: async () => true }));
  expect(retry).toMatchObject({ outcome: 'planned', batches: 12, enqueued: 2 });
  expect(batchIndexes()).toEqual([10, 11]);
  expect(await ledger.getTick(tickLedgerKey('orders', tickStamp(tick)))).toMatchObject({ state: 'planned' });
});
