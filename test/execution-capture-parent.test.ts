import { GetExecutionHistoryCommand, HistoryEventType, SFNClient } from '@aws-sdk/client-sfn';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { CaptureDeps, captureExecutionEnd } from '../lambdas/execution-capture/logic';
import { mapRunSucceeded, parentTasksOf, parseReplayStateMachines } from '../lambdas/execution-capture/parent';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { taskIdFor } from '../lambdas/shared/names';
import { ParamLogRecord } from '../lambdas/shared/param-log';
import { classify } from '../lambdas/reprocess/message';
import { LocalDynamo, startLocalDynamo } from '../local/dynamodb-local';
import { SfnStandin, startSfnStandin } from '../local/sfn-standin';
import { SqsEmulator, startSqsEmulator } from '../local/sqs-emulator';

/**
 * The status-change capture of a high-volume parent (lambdas/execution-capture/parent.ts) with real
 * SDK clients against the stand-ins: the parent's DescribeExecution and history from the Step
 * Functions stand-in, the spool on fauxqs, the capture marks on dynalite.
 */

const REGION = 'us-east-1';
const JOB = 'orders';
const STANDARD = `arn:aws:states:${REGION}:123456789012:stateMachine:orders`;
const PARENT = `arn:aws:states:${REGION}:123456789012:stateMachine:orders-hv`;
const TICK = '2026-11-25T18:00:00.000Z';
const creds = { accessKeyId: 'x', secretAccessKey: 'x' };
let sfnStandin: SfnStandin;
let emu: SqsEmulator;
let dynamo: LocalDynamo;
let spoolUrl: string;
let n = 0;

beforeAll(async () => {
  [sfnStandin, emu, dynamo] = await Promise.all([startSfnStandin(), startSqsEmulator({ region: REGION }), startLocalDynamo(REGION)]);
  await dynamo.createTable('Coordination');
});
afterAll(async () => {
  await Promise.all([sfnStandin.stop(), emu.stop(), dynamo.stop()]);
});
beforeEach(async () => {
  spoolUrl = await emu.createQueue(`spool-${n++}`);
});

const envelope = (i: number): TaskEnvelope => ({ v: 1, taskId: taskIdFor(JOB, new Date(TICK), `o-${i}`), job: JOB, key: `o-${i}`, params: { orderId: `o-${i}`, email: 'a@example.com' }, attempt: 1, scheduledTime: TICK });

function deps(records: ParamLogRecord[], sfn = new SFNClient({ region: REGION, endpoint: sfnStandin.endpoint, credentials: creds })): CaptureDeps {
  return {
    sfn,
    sqs: new SQSClient({ region: REGION, endpoint: emu.endpoint, credentials: creds }),
    ddb: dynamo.client,
    sink: { put: async (r) => void records.push(...r) },
    spoolQueueUrl: spoolUrl,
    coordinationTable: 'Coordination',
    timeZone: 'UTC',
    jobs: new Map([[JOB, { steps: ['Fetch', 'CallApi', 'Publish'], exclusiveBy: null }]]),
    replayStateMachines: new Map([[JOB, STANDARD]]),
  };
}
async function drain(): Promise<Array<Record<string, any>>> {
  const sqs = new SQSClient({ region: REGION, endpoint: emu.endpoint, credentials: creds });
  const out: Array<Record<string, any>> = [];
  for (;;) {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: spoolUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 300 }));
    if (!r.Messages?.length) return out;
    out.push(...r.Messages.map((m) => JSON.parse(m.Body!)));
  }
}

test('reads a parent\'s input as its tasks, and leaves a single task\'s input to the standard capture', () => {
  expect(parentTasksOf({ tasks: [envelope(1), envelope(2)] })!.map((t) => t.key)).toEqual(['o-1', 'o-2']);
  expect(parentTasksOf(envelope(1))).toBeNull();
  expect(() => parentTasksOf({ tasks: [{ taskId: 'x' }] })).toThrow();
  expect(parseReplayStateMachines(undefined).size).toBe(0);
  expect(() => parseReplayStateMachines('[1]')).toThrow(/job -> state machine ARN/);
});

test('a parent stopped while its Map Run ran: every item is spooled once, for a standard replay from its first step, with a worker record', async () => {
  const tasks = [envelope(1), envelope(2), envelope(3)];
  const e = sfnStandin.seed({ stateMachineArn: PARENT, name: `${JOB}-20261125T1800Z-b0-t0-a1`, input: JSON.stringify({ tasks }) });
  sfnStandin.complete(e.executionArn, 'ABORTED');
  const records: ParamLogRecord[] = [];
  const r = await captureExecutionEnd(e.executionArn, deps(records));
  expect(r).toMatchObject({ outcome: 'spooled', itemsSpooled: 3, job: JOB, taskId: null, error: 'ExecutionAborted', failedState: 'Fetch' });
  const spooled = await drain();
  expect(spooled.map((s) => s.taskId).sort()).toEqual(tasks.map((t) => t.taskId).sort());
  expect(spooled[0]).toMatchObject({ version: 1, kind: 'ExecutionEnded', job: JOB, failedState: 'Fetch', stepInput: null, executionArn: null, stateMachineArn: STANDARD, status: 'ABORTED' });
  expect(spooled.find((s) => s.taskId === tasks[1].taskId)!.input).toEqual(tasks[1]);
  // No params in the cause.
  expect(JSON.stringify(spooled.map((s) => s.cause))).not.toContain('a@example.com');
  expect(records.map((x) => [x.task_id, x.result, x.failed_state]).sort()).toEqual(tasks.map((t) => [t.taskId, 'Aborted', 'Fetch']).sort()); // the result an aborted execution's record has in standard
  // Reprocess takes each as a replay of the task on the job's standard state machine.
  const plan = classify(
    { MessageId: 'm', Body: JSON.stringify(spooled[0]) },
    { source: 'spool', max: 10, dryRun: true, concurrency: 1, from: 'failed', drop: false, force: false } as never,
    { jobs: new Map([[JOB, { stateMachineArn: STANDARD, steps: ['Fetch', 'CallApi', 'Publish'], dependencies: {} }]]), maxReplays: 5 },
    Date.parse(TICK) + 60_000,
  );
  expect(plan).toMatchObject({ action: 'replay', kind: 'ExecutionEnded', stateMachineArn: STANDARD, resumeAt: null, input: { attempt: 2 } }); // the first step: a whole run, no resume point
  // Captured once: the event again (or the reconciler) spools nothing more.
  expect(await captureExecutionEnd(e.executionArn, deps(records))).toMatchObject({ outcome: 'alreadyCaptured' });
  expect(await drain()).toHaveLength(0);
});

/** A client whose GetExecutionHistory answers `events` (newest first); DescribeExecution goes to the stand-in. */
function withHistory(events: Array<{ id: number; type: HistoryEventType }>): SFNClient {
  const real = new SFNClient({ region: REGION, endpoint: sfnStandin.endpoint, credentials: creds });
  const history = { events: events.map((e) => ({ ...e, timestamp: new Date() })) };
  return { send: (c: unknown) => (c instanceof GetExecutionHistoryCommand ? Promise.resolve(history) : real.send(c as never)) } as unknown as SFNClient;
}

test('a parent that failed after its post-map step succeeded spools nothing: every item ended in a child or was spooled by that step', async () => {
  const tasks = [envelope(4), envelope(5)];
  const e = sfnStandin.seed({ stateMachineArn: PARENT, name: `${JOB}-20261125T1800Z-b1-t0-a1`, input: JSON.stringify({ tasks }) });
  sfnStandin.complete(e.executionArn, 'FAILED', { error: 'States.Runtime', cause: 'x' });
  // The stand-in records no Map Run events: the parent's history is answered here (newest first,
  // as AWS pages it with reverseOrder); DescribeExecution still goes to the stand-in.
  const sfn = withHistory([
    { id: 10, type: HistoryEventType.ExecutionFailed },
    { id: 9, type: HistoryEventType.TaskStateExited },
    { id: 8, type: HistoryEventType.TaskSucceeded },
    { id: 7, type: HistoryEventType.TaskStarted },
    { id: 6, type: HistoryEventType.TaskScheduled },
    { id: 5, type: HistoryEventType.MapStateExited },
    { id: 4, type: HistoryEventType.MapRunSucceeded },
    { id: 3, type: HistoryEventType.MapRunStarted },
  ]);
  const records: ParamLogRecord[] = [];
  const r = await captureExecutionEnd(e.executionArn, deps(records, sfn));
  expect(r).toMatchObject({ outcome: 'alreadySpooled', itemsSpooled: 0 });
  expect(await drain()).toHaveLength(0);
  expect(records).toHaveLength(0);
});

// The Map Run succeeds with failed children (ToleratedFailurePercentage 100): their items are
// spooled only by the post-map step SpoolFailedChildren. A child that failed with ItemsNotSpooled
// wrote a failure worker record for each item, so the lost-task monitor does not list them: if
// the post-map step did not succeed, the capture is the only place left to spool them.
test.each([
  ['FAILED in FailedChildrenNotSpooled (the post-map step could not spool)', 'FAILED' as const, { error: 'FailedChildrenNotSpooled', cause: 'SpoolSendError' }, [
    { id: 9, type: HistoryEventType.ExecutionFailed },
    { id: 8, type: HistoryEventType.FailStateEntered },
    { id: 7, type: HistoryEventType.TaskFailed },
    { id: 6, type: HistoryEventType.TaskScheduled },
    { id: 5, type: HistoryEventType.TaskStateEntered },
  ]],
  ['ABORTED while the post-map step ran', 'ABORTED' as const, undefined, [
    { id: 8, type: HistoryEventType.ExecutionAborted },
    { id: 7, type: HistoryEventType.TaskStarted },
    { id: 6, type: HistoryEventType.TaskScheduled },
    { id: 5, type: HistoryEventType.TaskStateEntered },
  ]],
  ['FAILED leaving the map (before the post-map step ran)', 'FAILED' as const, { error: 'States.DataLimitExceeded', cause: 'x' }, [
    { id: 6, type: HistoryEventType.ExecutionFailed },
  ]],
])('a parent whose Map Run succeeded but that ended %s: every item is spooled', async (_what, status, failure, newest) => {
  const tasks = [envelope(6), envelope(7), envelope(8)];
  const e = sfnStandin.seed({ stateMachineArn: PARENT, name: `${JOB}-20261125T1800Z-b2-t0-${status}-${newest.length}-a1`, input: JSON.stringify({ tasks }) });
  sfnStandin.complete(e.executionArn, status, failure);
  const sfn = withHistory([...newest, { id: 4, type: HistoryEventType.MapStateExited }, { id: 3, type: HistoryEventType.MapRunSucceeded }, { id: 2, type: HistoryEventType.MapRunStarted }]);
  const records: ParamLogRecord[] = [];
  const r = await captureExecutionEnd(e.executionArn, deps(records, sfn));
  expect(r).toMatchObject({ outcome: 'spooled', itemsSpooled: 3 });
  const spooled = await drain();
  expect(spooled.map((s) => s.taskId).sort()).toEqual(tasks.map((t) => t.taskId).sort());
  expect(spooled[0]).toMatchObject({ kind: 'ExecutionEnded', failedState: 'Fetch', stateMachineArn: STANDARD });
  expect(JSON.stringify(spooled.map((s) => s.cause))).not.toContain('a@example.com');
  expect(records).toHaveLength(3);
});

test('mapRunSucceeded stops at the Map Run\'s start or at the execution\'s start', async () => {
  const sfn = new SFNClient({ region: REGION });
  const mock = mockClient(sfn);
  mock.on(GetExecutionHistoryCommand).resolves({ events: [{ id: 3, type: HistoryEventType.MapRunFailed, timestamp: new Date() }, { id: 2, type: HistoryEventType.MapRunStarted, timestamp: new Date() }], nextToken: 'more' });
  expect(await mapRunSucceeded(sfn, 'arn:x')).toEqual({ succeeded: false, events: 2, pages: 1 });
  mock.reset();
  mock.on(GetExecutionHistoryCommand).resolves({ events: [{ id: 1, type: HistoryEventType.ExecutionStarted, timestamp: new Date() }] });
  expect((await mapRunSucceeded(sfn, 'arn:x')).succeeded).toBe(false);
  mock.restore();
});
