/**
 * `source: "tick"`: reprocess invokes the job's producer (only the allow-listed one) synchronously
 * and returns its answer; a function error comes back by its error name only. Lambda mocked with
 * aws-sdk-client-mock (the integration with the real producer is in recovery-integration.test.ts).
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { parseRequest, TickOptions } from '../lambdas/reprocess/payload';
import { rerunTick } from '../lambdas/reprocess/tick';

const lambdaMock = mockClient(LambdaClient);
const PRODUCER = 'arn:aws:lambda:us-east-1:123456789012:function:App-ProducerOrders-1';
const functions = new Map([
  ['producer:orders', PRODUCER],
  ['sweeper', 'arn:aws:lambda:us-east-1:123456789012:function:App-Sweeper-1'],
]);
const NOW = Date.parse('2026-11-26T00:00:00Z');
const options = (p: Record<string, unknown>) => parseRequest({ source: 'tick', job: 'orders', tick: '20261125T0300Z', ...p }, 10, NOW, { producerJobs: new Set(['orders']) }) as TickOptions;
const run = (p: Record<string, unknown> = {}) => rerunTick({ lambda: new LambdaClient({ region: 'us-east-1' }), functions, now: () => NOW }, options(p));
const answer = (o: unknown) => ({ StatusCode: 200, Payload: Buffer.from(JSON.stringify(o)) as unknown as Uint8Array & { transformToString: () => string } });

beforeEach(() => lambdaMock.reset());

test('replan: the producer of the job is invoked synchronously with the tick and replan, and its answer is returned', async () => {
  const producerAnswer = { tick: '20261125T0300Z', outcome: 'planned', replanned: 1, tasks: 3, rejected: 0, batches: 1, enqueued: 1, planChanged: false };
  lambdaMock.on(InvokeCommand).resolves(answer(producerAnswer) as never);
  const s = await run({ replan: true });
  expect(lambdaMock.commandCalls(InvokeCommand).map((c) => c.args[0].input)).toEqual([
    { FunctionName: PRODUCER, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify({ scheduledTime: '2026-11-25T03:00:00.000Z', replan: true })) },
  ]);
  expect(s).toMatchObject({ source: 'tick', job: 'orders', tick: '2026-11-25T03:00:00.000Z', replan: true, function: 'producer:orders', outcome: 'invoked', producer: producerAnswer });
});

test('a plain re-run sends the tick alone (what the schedule sends)', async () => {
  lambdaMock.on(InvokeCommand).resolves(answer({ outcome: 'alreadyPlanned' }) as never);
  const s = await run();
  expect(JSON.parse(Buffer.from(lambdaMock.commandCalls(InvokeCommand)[0].args[0].input.Payload as Uint8Array).toString())).toEqual({ scheduledTime: '2026-11-25T03:00:00.000Z' });
  expect(s.producer).toEqual({ outcome: 'alreadyPlanned' });
});

test('ignorePause (scheduled-jobs run/backfill --ignore-pause) is passed to the producer; without it the event does not carry it', async () => {
  lambdaMock.on(InvokeCommand).resolves(answer({ outcome: 'planned' }) as never);
  await run({ ignorePause: true });
  expect(JSON.parse(Buffer.from(lambdaMock.commandCalls(InvokeCommand)[0].args[0].input.Payload as Uint8Array).toString())).toEqual({ scheduledTime: '2026-11-25T03:00:00.000Z', ignorePause: true });
});

test('a producer that fails: outcome failed with its error NAME only (its message may hold what produce read)', async () => {
  lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, FunctionError: 'Unhandled', Payload: Buffer.from(JSON.stringify({ errorType: 'InvalidProducerOutput', errorMessage: 'customer jane@example.com broke it' })) } as never);
  const s = await run({ replan: true });
  expect(s).toMatchObject({ outcome: 'failed', error: 'InvalidProducerOutput', producer: null });
  expect(JSON.stringify(s)).not.toContain('jane@example.com');
});

test('an invoke refused (e.g. access denied) is a failed outcome naming the error', async () => {
  lambdaMock.on(InvokeCommand).rejects(Object.assign(new Error('no'), { name: 'AccessDeniedException' }));
  expect(await run()).toMatchObject({ outcome: 'failed', error: 'Invoke: AccessDeniedException' });
});

test('dry run invokes nothing', async () => {
  const s = await run({ dryRun: true, replan: true });
  expect(s).toMatchObject({ outcome: 'wouldInvoke', producer: null });
  expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(0);
});
