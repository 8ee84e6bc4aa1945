/**
 * A spooled failure waits as long as nobody replays it (the sweeper re-sends it before SQS's
 * retention ends), but a step's record (idempotent steps) is kept DEFAULT_RECORD_DAYS from the
 * step's run, which is never before the task's tick. A replay after that finds no records: map items
 * and group branches that had completed run again, and a start-over fallback runs every step again.
 * The real reprocess handler (its own clients) against the SQS emulator and the Step Functions
 * stand-in: such a replay is not started; it goes to the quarantine with the reason, and the
 * operator who has checked what the task already did replays it from there with force.
 */
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { ReprocessSummary } from '../lambdas/reprocess/drain';
import { MAX_REPLAY_TICK_AGE_MS, TOO_OLD } from '../lambdas/reprocess/message';
import type { ReprocessPayload } from '../lambdas/reprocess/payload';
import { executionNameFor } from '../lambdas/shared/names';
import { logger } from '../lambdas/shared/powertools';
import { DEFAULT_RECORD_DAYS } from '../lambdas/shared/step-idempotency';
import { LocalDynamo, startLocalDynamo } from '../local/dynamodb-local';
import { SfnStandin, startSfnStandin } from '../local/sfn-standin';
import { SqsEmulator, startSqsEmulator } from '../local/sqs-emulator';
import { jobsEnv, spoolAttributes, spoolMessage, tickDaysAgo } from './reprocess-fixtures';

let sqsEmu: SqsEmulator;
let sfnStandin: SfnStandin;
let dynamo: LocalDynamo;
let handlerModule: typeof import('../lambdas/reprocess/handler');

beforeAll(async () => {
  [sqsEmu, sfnStandin, dynamo] = await Promise.all([startSqsEmulator(), startSfnStandin({ latencyMs: 2 }), startLocalDynamo('us-east-1')]);
  await dynamo.createTable('coordination');
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_SQS: sqsEmu.endpoint,
    AWS_ENDPOINT_URL_SFN: sfnStandin.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    ...jobsEnv(),
    COORDINATION_TABLE: 'coordination',
    APP_TIME_ZONE: 'Asia/Tokyo',
    MAX_REPLAYS: '5',
    MAX_REPROCESS: '10',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    SPOOL_QUEUE_URL: await sqsEmu.createQueue('spool-age'),
    QUARANTINE_QUEUE_URL: await sqsEmu.createQueue('quarantine-age'),
  });
  logger.setLogLevel('SILENT');
  handlerModule = await import('../lambdas/reprocess/handler');
});

afterAll(async () => {
  await Promise.all([sqsEmu?.stop(), sfnStandin?.stop(), dynamo?.stop()]);
});

const invoke = (payload: ReprocessPayload) => handlerModule.handler(payload, { getRemainingTimeInMillis: () => 60_000 }) as Promise<ReprocessSummary>;

test('a failure whose tick is older than the step records is quarantined, not replayed; force replays it', async () => {
  const old = spoolMessage({ key: 'old', scheduledTime: tickDaysAgo(DEFAULT_RECORD_DAYS + 1) });
  const recent = spoolMessage({ key: 'recent', scheduledTime: tickDaysAgo(2) });
  await new SQSClient({}).send(
    new SendMessageBatchCommand({
      QueueUrl: process.env.SPOOL_QUEUE_URL,
      Entries: [old, recent].map((m, i) => ({ Id: String(i), MessageBody: JSON.stringify(m), MessageAttributes: spoolAttributes(m) })),
    }),
  );
  const startsOf = (taskId: string) => [...sfnStandin.executions.values()].filter((e) => e.name === executionNameFor(taskId, 2)).length;

  const s = await invoke({});
  expect(s).toMatchObject({ started: 1, invalid: 1, remaining: 0 });
  expect(startsOf(recent.taskId)).toBe(1);
  expect(startsOf(old.taskId)).toBe(0);
  const q = await sqsEmu.inspectQueue('quarantine-age');
  expect(q.all.map((m) => JSON.parse(m.body).taskId)).toEqual([old.taskId]);
  expect(q.all[0].attributes.reason).toMatch(new RegExp(`^${TOO_OLD}`));

  // Without force a quarantine replay leaves it there; with force and its task id it starts.
  expect(await invoke({ source: 'quarantine', taskIds: [old.taskId] })).toMatchObject({ started: 0, invalid: 1 });
  expect(await invoke({ source: 'quarantine', taskIds: [old.taskId], force: true })).toMatchObject({ started: 1 });
  expect(startsOf(old.taskId)).toBe(1);
});

test('the limit is MAX_REPLAY_TICK_AGE_MS on the real clock: a tick 41 days old is replayed, one 43 days old is quarantined', async () => {
  // Pins the boundary itself (42 days), so a test elsewhere that drives the handler with a fixed date
  // is known to fail once that date is 42 days in the past: such tests compute their ticks from the clock.
  expect(MAX_REPLAY_TICK_AGE_MS).toBe(42 * 86_400_000);
  Object.assign(process.env, { SPOOL_QUEUE_URL: await sqsEmu.createQueue('spool-age-edge'), QUARANTINE_QUEUE_URL: await sqsEmu.createQueue('quarantine-age-edge') });
  const inside = spoolMessage({ key: 'day41', scheduledTime: tickDaysAgo(41) });
  const outside = spoolMessage({ key: 'day43', scheduledTime: tickDaysAgo(43) });
  await new SQSClient({}).send(
    new SendMessageBatchCommand({
      QueueUrl: process.env.SPOOL_QUEUE_URL,
      Entries: [inside, outside].map((m, i) => ({ Id: String(i), MessageBody: JSON.stringify(m), MessageAttributes: spoolAttributes(m) })),
    }),
  );
  const s = await invoke({});
  expect(s).toMatchObject({ started: 1, invalid: 1, remaining: 0 });
  expect([...sfnStandin.executions.values()].filter((e) => e.name === executionNameFor(inside.taskId, 2))).toHaveLength(1);
  expect([...sfnStandin.executions.values()].filter((e) => e.name === executionNameFor(outside.taskId, 2))).toHaveLength(0);
  const q = await sqsEmu.inspectQueue('quarantine-age-edge');
  expect(q.all.map((m) => JSON.parse(m.body).taskId)).toEqual([outside.taskId]);
  expect(q.all[0].attributes.reason).toMatch(new RegExp(`^${TOO_OLD}: its tick ${outside.input!.scheduledTime.replace(/\./g, '\\.')} is more than 42 days old`));
});
