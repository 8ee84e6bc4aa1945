import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { SpoolMessage } from '../lambdas/shared/spool-message';
import { LocalDynamo, startLocalDynamo } from '../local/dynamodb-local';
import { FirehoseStandin, startFirehoseStandin } from '../local/firehose-standin';
import { KmsStandin, startKmsStandin } from '../local/kms-standin';
import { SfnStandin, startSfnStandin, statusChangeEvent } from '../local/sfn-standin';
import { SqsEmulator, startSqsEmulator } from '../local/sqs-emulator';

/**
 * The reconciler's thin handler as Lambda loads it: its settings only from the environment the
 * construct sets (the capture's CAPTURE_ENV, RECONCILE_MACHINES, CAPTURE_FAILURES_QUEUE_URL), its
 * module-scope clients pointed only by AWS_ENDPOINT_URL_* at the Step Functions stand-in, fauxqs,
 * dynalite and the Firehose stand-in. Events are never delivered: the handler alone spools.
 */
const REGION = 'us-east-1';
const SM = 'arn:aws:states:us-east-1:111122223333:stateMachine:orders';
let sfn: SfnStandin;
let sqsEmu: SqsEmulator;
let dynamo: LocalDynamo;
let firehose: FirehoseStandin;
let kms: KmsStandin;
let outDir: string;
let failuresUrl: string;
let handler: typeof import('../lambdas/reconciler/handler').handler;
const events: Array<ReturnType<typeof statusChangeEvent>> = [];
const context = (ms: number) => ({ getRemainingTimeInMillis: () => ms, awsRequestId: 'r-1' }) as unknown as Context;

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'reconciler-handler-'));
  [sfn, sqsEmu, dynamo, firehose, kms] = await Promise.all([
    startSfnStandin({ onStatusChange: (e) => void events.push(statusChangeEvent(e)) }),
    startSqsEmulator({ region: REGION }),
    startLocalDynamo(REGION),
    startFirehoseStandin({ outDir, streams: { worker: 'worker' }, timeZone: 'Asia/Tokyo' }),
    startKmsStandin(),
  ]);
  await dynamo.createTable('coordination');
  const spoolUrl = await sqsEmu.createQueue('spool');
  failuresUrl = await sqsEmu.createQueue('capture-failures');
  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_SQS: sqsEmu.endpoint,
    AWS_ENDPOINT_URL_SFN: sfn.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_FIREHOSE: firehose.endpoint,
    AWS_ENDPOINT_URL_KMS: kms.endpoint,
    RECORD_MAC_KEY_ID: 'record-key',
    SPOOL_QUEUE_URL: spoolUrl,
    WORKER_LOG_STREAM: 'worker',
    COORDINATION_TABLE: 'coordination',
    APP_TIME_ZONE: 'Asia/Tokyo',
    JOB_STEPS: JSON.stringify({ orders: ['Charge'] }),
    JOB_EXCLUSIVE: '{}',
    RECONCILE_MACHINES: JSON.stringify([{ arn: SM, maxRunSeconds: 3600 }]),
    CAPTURE_FAILURES_QUEUE_URL: failuresUrl,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
  });
  ({ handler } = await import('../lambdas/reconciler/handler'));
});
afterAll(async () => {
  await Promise.all([sfn?.stop(), sqsEmu?.stop(), dynamo?.stop(), firehose?.close(), kms?.stop()]);
  rmSync(outDir, { recursive: true, force: true });
});

const envelope = (key: string): TaskEnvelope => ({ v: 1, taskId: `orders-20261206T0300Z-${key}`, job: 'orders', key, params: { n: 1 }, attempt: 1, scheduledTime: '2026-12-06T03:00:00.000Z' });
const spooled = async () => (await sqsEmu.inspectQueue('spool')).all.map((m) => JSON.parse(m.body) as SpoolMessage);

test('spools an aborted execution whose event never came; a second run spools nothing more', async () => {
  const e = sfn.seed({ stateMachineArn: SM, name: 'k1', input: JSON.stringify(envelope('k1')) });
  sfn.complete(e.executionArn, 'ABORTED');
  const first = await handler({}, context(300_000));
  expect(first).toMatchObject({ ended: 1, captured: { spooled: 1 }, failed: 0 });
  expect((await spooled()).map((m) => [m.kind, m.executionArn])).toEqual([['ExecutionEnded', e.executionArn]]);
  expect(await handler({}, context(300_000))).toMatchObject({ ended: 1, alreadyCaptured: 1 });
  expect(await spooled()).toHaveLength(1);
});

test('drains the capture\'s failures queue; an execution it cannot capture fails the run (ReconcileIncomplete) and stays', async () => {
  const e = sfn.seed({ stateMachineArn: SM, name: 'k2', input: JSON.stringify(envelope('k2')) });
  sfn.complete(e.executionArn, 'TIMED_OUT');
  const ev = events.find((x) => x.detail.executionArn === e.executionArn && x.detail.status === 'TIMED_OUT')!;
  const sqs = new SQSClient({});
  await sqs.send(new SendMessageCommand({ QueueUrl: failuresUrl, MessageBody: JSON.stringify({ requestPayload: ev, responsePayload: { errorType: 'X' } }) }));
  // An execution of a job this deployment does not know: the capture refuses it (UnknownJobError).
  const other = sfn.seed({ stateMachineArn: SM, name: 'k3', input: JSON.stringify({ ...envelope('k3'), job: 'removed-job', taskId: 'removed-job-20261206T0300Z-k3' }) });
  sfn.complete(other.executionArn, 'ABORTED');
  await expect(handler({}, context(300_000))).rejects.toMatchObject({ name: 'ReconcileIncomplete', summary: { failed: 1, failures: [{ executionArn: other.executionArn, error: 'UnknownJobError' }] } });
  // The timed-out one was spooled once (by the listing; the failures record found it captured and was deleted).
  expect((await spooled()).filter((m) => m.executionArn === e.executionArn)).toHaveLength(1);
  expect((await sqsEmu.inspectQueue('capture-failures')).all).toHaveLength(0);
});
