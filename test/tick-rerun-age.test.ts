/**
 * Re-running a producer tick obeys the replay age rule (lambdas/shared/tick-age.ts): a tick older
 * than 42 days is not run again unless an operator forces it. A failed producer invocation stays in
 * the failed-invocations queue for as long as nobody acts (the sweeper re-sends it before SQS's
 * retention ends). Its re-run, months later, finds the tick ledger expired (LEDGER_TTL_SECONDS) and
 * the names of the tasks it had started forgotten by Step Functions (unique for 90 days after the
 * execution closes: AWS Step Functions API reference, StartExecution,
 * https://docs.aws.amazon.com/step-functions/latest/apigw/API_StartExecution.html), so it would
 * plan the tick again and start those tasks a second time.
 *
 * Everything real but AWS: the REAL reprocess and producer handlers on the Lambda stand-in (its
 * asynchronous retries and on-failure records), fauxqs, the Step Functions stand-in, dynalite (the
 * tick ledger), the Firehose and KMS stand-ins, the tick starter driven as its event source would.
 * The real clock: ticks are computed from it (a fixed date would cross the limit as time passes).
 */
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { ProduceFn } from '../lambdas/producer/logic';
import type { ReprocessPayload } from '../lambdas/reprocess/payload';
import { MAX_REPLAY_TICK_AGE_MS } from '../lambdas/reprocess/message';
import { tickStamp } from '../lambdas/shared/names';
import { DEFAULT_RECORD_DAYS } from '../lambdas/shared/step-idempotency';
import { MAX_TICK_AGE_MS, TICK_TOO_OLD } from '../lambdas/shared/tick-age';
import { tickLedgerKey } from '../lambdas/shared/tick-batch';
import { createStarterHandler } from '../lambdas/starter/logic';
import type { LambdaStandin } from '../local/lambda-standin';
import { driveEventSource } from '../local/sqs-esm';
import { RECOVERY_PRODUCER, RECOVERY_REPROCESS, RecoveryRig, startRecoveryRig } from './support/recovery-rig';
import type { TickRig } from '../local/tick-rig';

jest.setTimeout(60_000);

const PRODUCER = RECOVERY_PRODUCER;
const REPROCESS = RECOVERY_REPROCESS;
const DAY_MS = 86_400_000;
let produce: ProduceFn = () => [];
let offset = 0;

let world: RecoveryRig;
let rig: TickRig;
let lambda: LambdaStandin;
let client: LambdaClient;

beforeAll(async () => {
  world = await startRecoveryRig((ctx) => produce(ctx));
  ({ rig, lambda, client } = world);
});

afterAll(() => world?.stop());

/** A whole-minute tick `days` before now, its own per call. */
function tickDaysAgo(days: number): Date {
  const hour = Math.floor((Date.now() - days * DAY_MS) / 3_600_000) * 3_600_000;
  return new Date(hour + offset++ * 60_000);
}

/** Invokes `name`; a function error comes back as `{ error: {errorType, errorMessage} }`. */
async function invoke(name: string, payload: unknown, type: 'RequestResponse' | 'Event' = 'RequestResponse'): Promise<Record<string, any>> {
  const r = await client.send(new InvokeCommand({ FunctionName: name, InvocationType: type, Payload: Buffer.from(JSON.stringify(payload)) }));
  const text = Buffer.from(r.Payload ?? new Uint8Array()).toString('utf8');
  if (r.FunctionError) return { error: JSON.parse(text) };
  return type === 'Event' ? { StatusCode: r.StatusCode } : JSON.parse(text);
}
const reprocess = (payload: ReprocessPayload) => invoke(REPROCESS, payload);
const startTicks = () =>
  driveEventSource({ sqs: rig.sqs, queueUrl: rig.queues.tick, maxConcurrency: 2, timeoutMs: 20_000, container: () => createStarterHandler(rig.starterDeps({ safetyMs: 500 })) });
const executionsOf = (tick: Date) => [...rig.sfn.executions.values()].filter((e) => e.name.includes(tickStamp(tick)));
const failedRecords = async () => (await rig.sqsEmulator.inspectQueue('failed-invocations')).all;
const ledgerOf = (tick: Date) => rig.ledger.getTick(tickLedgerKey('orders', tickStamp(tick)));
const twoTasks: ProduceFn = () => [{ key: 'a', params: {} }, { key: 'b', params: {} }];

test('the limit is the replay rule\'s: one age for replaying a task and re-running a tick', () => {
  expect(MAX_TICK_AGE_MS).toBe((DEFAULT_RECORD_DAYS - 3) * DAY_MS);
  expect(MAX_REPLAY_TICK_AGE_MS).toBe(MAX_TICK_AGE_MS);
});

test('a producer tick that failed 95 days ago is not re-run from its failed-invocation record (its ledger and its tasks\' names are gone); named with force it is', async () => {
  const tick = tickDaysAgo(95);
  // The tick's invocation failed after Lambda's retries; its on-failure record is what the sweeper has kept since.
  produce = () => Promise.reject(Object.assign(new Error('orders db unreachable'), { name: 'DatabaseDown' }));
  expect(await invoke(PRODUCER, { scheduledTime: tick.toISOString() }, 'Event')).toEqual({ StatusCode: 202 });
  await lambda.idle();
  const [record] = await failedRecords();
  expect(JSON.parse(record.body)).toMatchObject({ requestPayload: { scheduledTime: tick.toISOString() } });
  // 95 days on: DynamoDB's TTL has deleted the tick's ledger item, if the failed run left one (LEDGER_TTL_SECONDS,
  // 35 days), and Step Functions has forgotten the names of any task it started (90 days): no execution of it here.
  await rig.ddb.send(new DeleteItemCommand({ TableName: rig.tableName, Key: { pk: { S: tickLedgerKey('orders', tickStamp(tick)) } } }));
  expect(executionsOf(tick)).toHaveLength(0);
  produce = twoTasks; // the database is back

  // An unforced re-run of the queue leaves it, says why, invokes nothing.
  const invokesBefore = lambda.invocations.filter((i) => i.functionName === PRODUCER).length;
  const plain = await reprocess({ source: 'failedInvocations' });
  expect(plain).toMatchObject({ reinvoked: 0, invalid: 1, remaining: 1 });
  expect(plain.items[0]).toMatchObject({ function: 'producer:orders', tick: tick.toISOString(), outcome: 'invalid', reason: expect.stringMatching(new RegExp(`^${TICK_TOO_OLD}: the tick ${tick.toISOString().replace(/\./g, '\\.')} is more than 42 days old.*re-run it with force and its message id$`)) });
  await lambda.idle();
  expect(lambda.invocations.filter((i) => i.functionName === PRODUCER)).toHaveLength(invokesBefore);
  await startTicks();
  expect(executionsOf(tick)).toHaveLength(0);
  expect(await ledgerOf(tick)).toBeNull();

  // Force needs the record's id: nothing old is re-run in bulk.
  expect(await reprocess({ source: 'failedInvocations', force: true })).toMatchObject({ error: { errorType: 'InvalidPayloadError' } });

  // Named with force: re-run with `force` (which the producer requires), planned and started, the record deleted.
  // The operator takes the record's id from the listing, as from a dry run.
  const forced = await reprocess({ source: 'failedInvocations', force: true, messageIds: [plain.items[0].messageId] });
  expect(forced).toMatchObject({ reinvoked: 1, invalid: 0 });
  expect(forced.items[0]).toMatchObject({ outcome: 'reinvoked', forced: true });
  await lambda.idle();
  expect(lambda.invocations.filter((i) => i.functionName === PRODUCER).at(-1)).toMatchObject({ invocationType: 'Event', payload: { scheduledTime: tick.toISOString(), force: true } });
  expect(await failedRecords()).toEqual([]);
  expect(await ledgerOf(tick)).toMatchObject({ state: 'planned', tasks: 2 });
  await startTicks();
  expect(executionsOf(tick)).toHaveLength(2);
});

test('tick rerun through reprocess: 41 days runs; 43 days is refused with the fix in the message; with force it runs', async () => {
  produce = twoTasks;
  const recent = tickDaysAgo(41);
  expect(await reprocess({ source: 'tick', job: 'orders', tick: recent.toISOString() })).toMatchObject({ outcome: 'invoked', producer: { outcome: 'planned', tasks: 2 } });

  const old = tickDaysAgo(43);
  const refused = await reprocess({ source: 'tick', job: 'orders', tick: old.toISOString() });
  expect(refused.error).toMatchObject({ errorType: 'InvalidPayloadError' });
  expect(refused.error.errorMessage).toMatch(new RegExp(`${TICK_TOO_OLD}: the tick ${old.toISOString().replace(/\./g, '\\.')} is more than 42 days old.*add "force": true$`));
  expect(await ledgerOf(old)).toBeNull();

  const forced = await reprocess({ source: 'tick', job: 'orders', tick: old.toISOString(), force: true });
  expect(forced).toMatchObject({ outcome: 'invoked', force: true, producer: { outcome: 'planned', tasks: 2 } });
  await startTicks();
  expect(executionsOf(old)).toHaveLength(2);
});

test('the producer itself refuses a tick older than 42 days without force (any path: a hand invoke, a Scheduler dead letter re-sent), before touching the ledger', async () => {
  produce = twoTasks;
  const old = tickDaysAgo(43);
  const r = await invoke(PRODUCER, { scheduledTime: old.toISOString() });
  expect(r.error).toMatchObject({ errorType: 'TickTooOldError' });
  expect(await ledgerOf(old)).toBeNull();
  expect(await invoke(PRODUCER, { scheduledTime: old.toISOString(), force: 'yes' })).toMatchObject({ error: { errorType: 'InvalidTickEventError' } });
  expect(await invoke(PRODUCER, { scheduledTime: old.toISOString(), force: true })).toMatchObject({ outcome: 'planned', tasks: 2 });
});
