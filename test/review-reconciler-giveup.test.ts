/**
 * The reconciler stops holding its watermark for an execution it has FAILED to capture for
 * `giveUpAfterMs` (6 h): the comment and the docs say "still failing after this long". It measured
 * from the execution's END instead, so an execution the reconciler first looks at more than 6 h
 * after it ended (the reconciler itself was failing for a while, or its first run after a deploy
 * looks back 24 h) was given up after ONE failed capture (a throttle, a spool blip): the watermark
 * moved past it and no later run listed it again, so it was never spooled. The Step Functions
 * stand-in, the real capture, the SQS emulator and dynalite, as in test/reconciler.test.ts.
 */
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { CaptureDeps, captureExecutionEnd } from '../lambdas/execution-capture/logic';
import { reconcile, ReconcileDeps } from '../lambdas/reconciler/logic';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { SpoolMessage } from '../lambdas/shared/spool-message';
import { LocalDynamo, startLocalDynamo } from '../local/dynamodb-local';
import { SfnStandin, startSfnStandin } from '../local/sfn-standin';
import { SqsEmulator, startSqsEmulator } from '../local/sqs-emulator';

const REGION = 'us-east-1';
const TABLE = 'coordination';
const HOUR = 3_600_000;
let sfnStandin: SfnStandin;
let sqsEmu: SqsEmulator;
let dynamo: LocalDynamo;
let captureDeps: CaptureDeps;
let seq = 0;

beforeAll(async () => {
  [sfnStandin, sqsEmu, dynamo] = await Promise.all([startSfnStandin(), startSqsEmulator({ region: REGION }), startLocalDynamo(REGION)]);
  await dynamo.createTable(TABLE);
});
afterAll(async () => {
  await Promise.all([sfnStandin?.stop(), sqsEmu?.stop(), dynamo?.stop()]);
});

beforeEach(async () => {
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  captureDeps = {
    sfn: new SFNClient({ region: REGION, endpoint: sfnStandin.endpoint, credentials }),
    sqs: new SQSClient({ region: REGION, endpoint: sqsEmu.endpoint, credentials }),
    ddb: dynamo.client,
    sink: { put: async () => undefined },
    spoolQueueUrl: await sqsEmu.createQueue(`spool-giveup-${++seq}`),
    coordinationTable: TABLE,
    timeZone: 'Asia/Tokyo',
    jobs: new Map([['orders', { steps: ['Charge', 'Notify'], exclusiveBy: null }]]),
  };
});

/** An execution of its own state machine that was aborted now (the stand-in's clock is real time). */
function abortedNow(): { sm: string; arn: string } {
  const sm = `arn:aws:states:us-east-1:111122223333:stateMachine:giveup-${seq}`;
  const envelope: TaskEnvelope = { v: 1, taskId: 'orders-20261206T0300Z-x', job: 'orders', key: 'x', params: { customer: 'c-1' }, attempt: 1, scheduledTime: '2026-12-06T03:00:00.000Z' };
  const e = sfnStandin.seed({ stateMachineArn: sm, name: 'x', input: JSON.stringify(envelope) });
  sfnStandin.complete(e.executionArn, 'ABORTED', {});
  return { sm, arn: e.executionArn };
}

/** The reconciler running `offsetMs` after the stand-in's now, with a capture that fails while `broken()`. */
function deps(sm: string, offsetMs: number, broken: () => boolean): ReconcileDeps {
  return {
    sfn: captureDeps.sfn,
    ddb: dynamo.client,
    coordinationTable: TABLE,
    machines: [{ arn: sm, maxRunSeconds: 3600 }],
    now: () => Date.now() + offsetMs,
    capture: (a) => (broken() ? Promise.reject(Object.assign(new Error('throttled'), { name: 'ThrottlingException' })) : captureExecutionEnd(a, captureDeps)),
  };
}
const spooled = async () => (await sqsEmu.inspectQueue(`spool-giveup-${seq}`)).all.map((m) => (JSON.parse(m.body) as SpoolMessage).executionArn);

test('an execution first seen 7 h after its end is not given up after one failed capture: the next run spools it', async () => {
  const { sm, arn } = abortedNow();
  let broken = true;
  // The reconciler's first look comes 7 h after the end (it was failing itself until then).
  const first = await reconcile(deps(sm, 7 * HOUR, () => broken));
  expect(first).toMatchObject({ ended: 1, failed: 1, gaveUp: 0 });
  broken = false;
  const second = await reconcile(deps(sm, 7 * HOUR + 5 * 60_000, () => broken));
  expect(second).toMatchObject({ captured: { spooled: 1 } });
  expect(await spooled()).toEqual([arn]);
});

test('an execution still failing to capture 6 h after the first failure is given up (the watermark moves on)', async () => {
  const { sm, arn } = abortedNow();
  const first = await reconcile(deps(sm, 5 * 60_000, () => true));
  expect(first).toMatchObject({ failed: 1, gaveUp: 0 });
  const later = await reconcile(deps(sm, 5 * 60_000 + 6 * HOUR + 60_000, () => true));
  expect(later).toMatchObject({ failed: 0, gaveUp: 1, failures: [{ executionArn: arn }] });
  expect(later.watermarks[sm]).toBeGreaterThan(Date.now() + 6 * HOUR);
});
