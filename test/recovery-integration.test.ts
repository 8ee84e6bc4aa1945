/**
 * The recovery routines end to end with no AWS: the REAL reprocess handler and the REAL producer
 * handler (createProducerHandler, its own module-scope clients) run on the Lambda stand-in
 * (local/lambda-standin.ts: synchronous and asynchronous Invoke, Lambda's retries and on-failure
 * record to the failed-invocations queue), against fauxqs (tick queue, spool, quarantine, failed
 * invocations), the Step Functions stand-in (name uniqueness: a second start of a name is refused),
 * dynalite (the tick ledger) and the Firehose stand-in (client records), with the tick starter
 * driven as its event source would (local/sqs-esm.ts).
 *
 * - a task quarantined for too many replays is replayed with force under the next attempt's name;
 * - a producer tick that failed after Lambda's retries is re-run from its failed-invocation record,
 *   which is deleted (and a re-run that fails again leaves a new record: nothing lost);
 * - a tick whose spec was rejected by a producer bug is re-planned after the fix: the rejected task
 *   starts exactly once, the others are refused by name (Duplicate), none runs twice.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { ProduceFn, TaskSpec } from '../lambdas/producer/logic';
import type { ReprocessPayload } from '../lambdas/reprocess/payload';
import { executionNameFor, taskIdFor, tickStamp } from '../lambdas/shared/names';
import { SpoolMessage } from '../lambdas/shared/spool-message';
import { tickLedgerKey } from '../lambdas/shared/tick-batch';
import { createStarterHandler } from '../lambdas/starter/logic';
import type { LambdaStandin } from '../local/lambda-standin';
import { driveEventSource } from '../local/sqs-esm';
import { RECOVERY_ACCOUNT, RECOVERY_PRODUCER, RECOVERY_PRODUCER_ARN, RECOVERY_REPROCESS, RecoveryRig, startRecoveryRig } from './support/recovery-rig';
import { RIG_REGION, RIG_STATE_MACHINE, TickRig } from '../local/tick-rig';

jest.setTimeout(60_000);

const ACCOUNT = RECOVERY_ACCOUNT;
const PRODUCER = RECOVERY_PRODUCER;
const REPROCESS = RECOVERY_REPROCESS;
const PRODUCER_ARN = RECOVERY_PRODUCER_ARN;
/** What the deployed producer's `produce` does right now (a bug, a fix). */
let produce: ProduceFn = () => [];
let minute = 0;

let world: RecoveryRig;
let rig: TickRig;
let lambda: LambdaStandin;
let client: LambdaClient;
let failedInvocationsUrl: string;

beforeAll(async () => {
  world = await startRecoveryRig((ctx) => produce(ctx));
  ({ rig, lambda, client, failedInvocationsUrl } = world);
});

afterAll(() => world?.stop());

/** A tick of its own per test, a few hours ago (replans are refused for ticks in the future or older than 30 days). */
function nextTick(): Date {
  const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  return new Date(hour - 3 * 3_600_000 + minute++ * 60_000);
}

async function invoke(name: string, payload: unknown, type: 'RequestResponse' | 'Event' = 'RequestResponse'): Promise<Record<string, any>> {
  const r = await client.send(new InvokeCommand({ FunctionName: name, InvocationType: type, Payload: Buffer.from(JSON.stringify(payload)) }));
  const text = Buffer.from(r.Payload ?? new Uint8Array()).toString('utf8');
  if (r.FunctionError) throw new Error(`${name} failed: ${text}`);
  return type === 'Event' ? { StatusCode: r.StatusCode } : JSON.parse(text);
}
const reprocess = (payload: ReprocessPayload) => invoke(REPROCESS, payload);
/** The schedule's asynchronous invoke of the producer, and Lambda's retries and on-failure record. */
async function scheduleTick(tick: Date): Promise<void> {
  expect(await invoke(PRODUCER, { scheduledTime: tick.toISOString() }, 'Event')).toEqual({ StatusCode: 202 });
  await lambda.idle();
}
const startTicks = () =>
  driveEventSource({ sqs: rig.sqs, queueUrl: rig.queues.tick, maxConcurrency: 2, timeoutMs: 20_000, container: () => createStarterHandler(rig.starterDeps({ safetyMs: 500 })) });
const executionsOf = (tick: Date) => [...rig.sfn.executions.values()].filter((e) => e.name.includes(tickStamp(tick)));
const failedRecords = async () => (await rig.sqsEmulator.inspectQueue('failed-invocations')).all.map((m) => JSON.parse(m.body));
const quarantinedTasks = async () => (await rig.sqsEmulator.inspectQueue('quarantine')).all.map((m) => (JSON.parse(m.body) as SpoolMessage).taskId);

test('replan: a spec a producer bug rejected starts after the fix, exactly once; the tasks started before are refused by name (Duplicate); the old quarantined spec is then dropped', async () => {
  const tick = nextTick();
  const id = (key: string) => taskIdFor('orders', tick, key);
  // The bug: k1's params hold a Date, which is not plain JSON, so the producer rejects the spec.
  const buggy: ProduceFn = (): TaskSpec[] => [{ key: 'k0', params: { n: 0 } }, { key: 'k1', params: { at: new Date(0) } as never }, { key: 'k2', params: { n: 2 } }];
  const fixed: ProduceFn = (): TaskSpec[] => [{ key: 'k0', params: { n: 0 } }, { key: 'k1', params: { at: '1970-01-01T00:00:00.000Z' } }, { key: 'k2', params: { n: 2 } }];
  produce = buggy;
  await scheduleTick(tick);
  await startTicks();
  expect(executionsOf(tick).map((e) => e.name).sort()).toEqual([executionNameFor(id('k0'), 1), executionNameFor(id('k2'), 1)]);
  expect(await quarantinedTasks()).toContain(id('k1'));
  // By the time the bug is found, the tick's executions have ended.
  for (const e of executionsOf(tick)) e.status = 'SUCCEEDED';

  // Re-running the tick the ordinary way plans nothing: the ledger says planned.
  produce = fixed;
  const plain = await reprocess({ source: 'tick', job: 'orders', tick: tickStamp(tick) });
  expect(plain).toMatchObject({ outcome: 'invoked', producer: { outcome: 'alreadyPlanned' } });

  const refusedBefore = rig.sfn.counters.alreadyExists;
  const replan = await reprocess({ source: 'tick', job: 'orders', tick: tickStamp(tick), replan: true });
  expect(replan).toMatchObject({ source: 'tick', outcome: 'invoked', replan: true, producer: { outcome: 'planned', replanned: 1, tasks: 3, rejected: 0 } });
  await startTicks();
  // k1 started now; k0 and k2 were attempted again and refused by Step Functions (ExecutionAlreadyExists): nothing ran twice.
  expect(executionsOf(tick).map((e) => e.name).sort()).toEqual(['k0', 'k1', 'k2'].map((k) => executionNameFor(id(k), 1)));
  expect(rig.sfn.counters.duplicates).toBe(0);
  expect(rig.sfn.counters.alreadyExists - refusedBefore).toBe(2);
  const records = rig.clientRecords().filter((r) => r.task_id.includes(tickStamp(tick)));
  expect(records.filter((r) => r.task_id === id('k1')).map((r) => r.result)).toEqual(['Rejected', 'Started']);
  expect(records.filter((r) => r.task_id === id('k0')).map((r) => r.result)).toEqual(['Started', 'Duplicate']);
  expect(await rig.ledger.getTick(tickLedgerKey('orders', tickStamp(tick)))).toMatchObject({ state: 'planned', replans: 1 });

  // The old Rejected message is obsolete: look, then drop it.
  const look = await reprocess({ source: 'quarantine', taskIds: [id('k1')], drop: true, dryRun: true });
  expect(look).toMatchObject({ wouldDrop: 1, dropped: 0 });
  expect(look.items[0]).toMatchObject({ taskId: id('k1'), error: 'InvalidTaskSpec', outcome: 'wouldDrop', messageId: expect.any(String) });
  expect(await reprocess({ source: 'quarantine', messageIds: [look.items[0].messageId], drop: true })).toMatchObject({ dropped: 1 });
  expect(await quarantinedTasks()).not.toContain(id('k1'));
});

test('a producer tick that failed after Lambda\'s retries is re-run from its failed-invocation record, which is then deleted; a re-run that fails again leaves a new record', async () => {
  const tick = nextTick();
  produce = () => Promise.reject(Object.assign(new Error('orders db unreachable'), { name: 'DatabaseDown' }));
  await scheduleTick(tick);
  const [record] = await failedRecords();
  // What Lambda's on-failure destination keeps (three attempts: the invoke and two retries).
  expect(record).toMatchObject({
    requestContext: { functionArn: `${PRODUCER_ARN}:$LATEST`, condition: 'RetriesExhausted', approximateInvokeCount: 3 },
    requestPayload: { scheduledTime: tick.toISOString() },
    responsePayload: { errorType: 'DatabaseDown' },
  });

  const look = await reprocess({ source: 'failedInvocations', dryRun: true });
  expect(look).toMatchObject({ wouldReinvoke: 1, reinvoked: 0, remaining: 1 });
  expect(look.items[0]).toMatchObject({ function: 'producer:orders', condition: 'RetriesExhausted', errorType: 'DatabaseDown', tick: tick.toISOString(), outcome: 'wouldReinvoke' });

  // Still broken: the re-run is accepted and the record deleted, and the failure comes back as a new record.
  const again = await reprocess({ source: 'failedInvocations' });
  expect(again).toMatchObject({ reinvoked: 1, remaining: 0 });
  await lambda.idle();
  expect(await failedRecords()).toEqual([expect.objectContaining({ requestPayload: { scheduledTime: tick.toISOString() } })]);

  // Fixed: the re-run plans the tick and the record is gone for good.
  produce = () => [{ key: 'a', params: {} }, { key: 'b', params: {} }];
  expect(await reprocess({ source: 'failedInvocations', functions: ['producer:orders'] })).toMatchObject({ reinvoked: 1 });
  await lambda.idle();
  expect(await failedRecords()).toEqual([]);
  expect(await rig.ledger.getTick(tickLedgerKey('orders', tickStamp(tick)))).toMatchObject({ state: 'planned', tasks: 2 });
  await startTicks();
  expect(executionsOf(tick)).toHaveLength(2);
  // Reprocess invoked the producer asynchronously, by the allow-listed ARN, with the record's payload.
  expect(lambda.invocations.filter((i) => i.functionName === PRODUCER && i.invocationType === 'Event').map((i) => i.payload)).toContainEqual({ scheduledTime: tick.toISOString() });

  // A record of a function reprocess may not invoke is left for a person, then dropped by its id.
  await rig.sqs.send(new SendMessageCommand({ QueueUrl: failedInvocationsUrl, MessageBody: JSON.stringify({ ...record, requestContext: { ...record.requestContext, functionArn: `arn:aws:lambda:${RIG_REGION}:${ACCOUNT}:function:not-ours:$LATEST` } }) }));
  const refused = await reprocess({ source: 'failedInvocations' });
  expect(refused).toMatchObject({ reinvoked: 0, invalid: 1, remaining: 1 });
  expect(lambda.invocations.filter((i) => i.functionName === 'not-ours')).toHaveLength(0);
  expect(await reprocess({ source: 'failedInvocations', drop: true, messageIds: [refused.items[0].messageId] })).toMatchObject({ dropped: 1, remaining: 0 });
});

test('a task quarantined for too many replays stays there until an operator names it with force; then it starts under the next attempt\'s name, resuming at its failed step', async () => {
  const tick = nextTick();
  const taskId = taskIdFor('orders', tick, 'stubborn');
  const message: SpoolMessage = {
    version: 1,
    kind: 'ExecutionFailed',
    job: 'orders',
    taskId,
    input: { v: 1, taskId, job: 'orders', key: 'stubborn', params: { customer: 'Jane Doe' }, attempt: 6, scheduledTime: tick.toISOString() },
    error: 'ExternalApiUnavailableError',
    cause: '503',
    failedState: 'CallApi',
    stepInput: { fetched: true },
    executionArn: `${RIG_STATE_MACHINE.replace(':stateMachine:', ':execution:')}:${executionNameFor(taskId, 6)}`,
    stateMachineArn: RIG_STATE_MACHINE,
  };
  const attrs = { job: 'orders', errorType: message.error, kind: message.kind };
  await rig.sqs.send(
    new SendMessageCommand({ QueueUrl: rig.queues.spool, MessageBody: JSON.stringify(message), MessageAttributes: Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, { DataType: 'String', StringValue: v }])) }),
  );
  expect(await reprocess({ taskIds: [taskId] })).toMatchObject({ source: 'spool', invalid: 1, started: 0 });
  expect(await quarantinedTasks()).toContain(taskId);

  expect(await reprocess({ source: 'quarantine', taskIds: [taskId] })).toMatchObject({ invalid: 1, started: 0 });
  const forced = await reprocess({ source: 'quarantine', taskIds: [taskId], force: true });
  expect(forced).toMatchObject({ started: 1, forced: 1, resumed: 1 });
  const [execution] = executionsOf(tick);
  expect(execution.name).toBe(executionNameFor(taskId, 7));
  expect(JSON.parse(execution.input)).toMatchObject({ attempt: 7, resume: { step: 'CallApi', input: { fetched: true } } });
  expect(await quarantinedTasks()).not.toContain(taskId);
  // Nothing left to replay: a second forced run finds nothing and starts nothing.
  expect(await reprocess({ source: 'quarantine', taskIds: [taskId], force: true })).toMatchObject({ started: 0, stoppedBecause: 'empty' });
});
