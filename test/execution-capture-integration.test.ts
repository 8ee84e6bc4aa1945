/**
 * The status-change capture end to end with no AWS: the SYNTHESIZED example state machines run in
 * aws-local-stepfunctions (local/run-state-machine.ts) through the Step Functions stand-in, which
 * records their history and emits their status changes; the events the synthesized rule matches
 * are delivered to the REAL handler, whose module-scope clients (pointed only by AWS_ENDPOINT_URL_*)
 * talk to the stand-in, fauxqs (SQS), dynalite (DynamoDB) and the Firehose stand-in.
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fixtureConfig } from './support/fixture-config';
import { resolveConfig } from '../lib/config/validate';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';
import type { CaptureResult } from '../lambdas/execution-capture/logic';
import { aggregate, audit, listParts, processPart } from '../lambdas/jobs/example-fanout/logic';
import { ExternalApiRejectedError } from '../lambdas/jobs/example-api/errors';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { FirehoseParamLogSink } from '../lambdas/shared/firehose-sink';
import { lockKey } from '../lambdas/shared/locks';
import { ParamLogRecord, parseJsonLines } from '../lambdas/shared/param-log';
import { recordOutcome, RecordOutcomeEvent } from '../lambdas/record-outcome/logic';
import { SpoolMessage } from '../lambdas/shared/spool-message';
import { aslFromTemplate, CfnTemplate, placeholderRef, PLACEHOLDER, resolveIntrinsics, ResolvedStateMachine } from '../local/asl';
import { LocalDynamo, startLocalDynamo } from '../local/dynamodb-local';
import { FirehoseStandin, startFirehoseStandin } from '../local/firehose-standin';
import { KmsStandin, startKmsStandin } from '../local/kms-standin';
import { KmsMac } from '../lambdas/shared/kms-mac';
import { AslDefinition } from '../local/asl';
import { createLocalRunner, LocalLambda, LocalRunResult } from '../local/run-state-machine';
import { SfnStandin, StandinExecution, startSfnStandin, statusChangeEvent } from '../local/sfn-standin';
import { SqsEmulator, startSqsEmulator } from '../local/sqs-emulator';
import { matchesEventPattern } from './support/event-pattern';

const REGION = 'us-east-1';
const TABLE = 'coordination';
const WORKER_STREAM = 'worker';
const TZ = fixtureConfig.timeZone;

let template: CfnTemplate;
let fanout: ResolvedStateMachine;
let api: ResolvedStateMachine;
let rulePattern: Record<string, unknown>;
let sqsEmu: SqsEmulator;
let dynamo: LocalDynamo;
let firehose: FirehoseStandin;
let sfnStandin: SfnStandin;
let kms: KmsStandin;
/** Key ids of the two HMAC keys in the functions' environments (any id is a key in the KMS stand-in). */
const RECORD_MAC_KEY = 'arn:aws:kms:us-east-1:000000000000:key/record-mac';
const LOCK_MAC_KEY = 'arn:aws:kms:us-east-1:000000000000:key/lock-mac';
let outDir: string;
let spoolUrl: string;
let sqs: SQSClient;
let sfn: SFNClient;
let ddb: DynamoDBClient;
let capture: typeof import('../lambdas/execution-capture/handler');
let lockHandler: typeof import('../lambdas/lock/handler');
/** Every status change the stand-in emitted, as EventBridge would see it. */
const statusChanges: Array<ReturnType<typeof statusChangeEvent>> = [];

/** The capture function's environment as synthesized (JOB_STEPS, JOB_EXCLUSIVE). */
function captureEnvironment(t: CfnTemplate): Record<string, string> {
  const fn = Object.values(t.Resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && (r.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.JOB_STEPS !== undefined,
  );
  if (!fn) throw new Error('no capture function in the template');
  const vars = (fn.Properties!.Environment as { Variables: Record<string, unknown> }).Variables;
  return { JOB_STEPS: String(vars.JOB_STEPS), JOB_EXCLUSIVE: String(vars.JOB_EXCLUSIVE) };
}

/** EventBridge pattern matching, as much as the capture's rule uses. */
const matches = matchesEventPattern;

beforeAll(async () => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, 'CaptureRun', { config: resolveConfig(fixtureConfig, { allJobs: true }), projectRoot: resolve(__dirname, '..') });
  template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }).toJSON() as CfnTemplate;
  fanout = aslFromTemplate(template, { job: 'example-fanout' });
  api = aslFromTemplate(template, { job: 'example-api' });
  const rule = Object.values(template.Resources).find((r) => r.Type === 'AWS::Events::Rule')!;
  rulePattern = resolveIntrinsics(rule.Properties!.EventPattern, template.Resources, placeholderRef(PLACEHOLDER), PLACEHOLDER) as Record<string, unknown>;

  outDir = mkdtempSync(join(tmpdir(), 'capture-'));
  [sqsEmu, dynamo, firehose, sfnStandin, kms] = await Promise.all([
    startSqsEmulator({ region: REGION }),
    startLocalDynamo(REGION),
    startFirehoseStandin({ outDir, streams: { [WORKER_STREAM]: 'worker' }, timeZone: TZ }),
    startSfnStandin({ onStatusChange: (e) => void statusChanges.push(statusChangeEvent(e)) }),
    startKmsStandin(),
  ]);
  await dynamo.createTable(TABLE);
  spoolUrl = await sqsEmu.createQueue('spool');
  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_SQS: sqsEmu.endpoint,
    AWS_ENDPOINT_URL_SFN: sfnStandin.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_FIREHOSE: firehose.endpoint,
    AWS_ENDPOINT_URL_KMS: kms.endpoint,
    RECORD_MAC_KEY_ID: RECORD_MAC_KEY,
    LOCK_MAC_KEY_ID: LOCK_MAC_KEY,
    SPOOL_QUEUE_URL: spoolUrl,
    WORKER_LOG_STREAM: WORKER_STREAM,
    COORDINATION_TABLE: TABLE,
    APP_TIME_ZONE: TZ,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
    ...captureEnvironment(template),
  });
  sqs = new SQSClient({});
  sfn = new SFNClient({});
  ddb = new DynamoDBClient({});
  // Imported after the env is set, as Lambda would load them.
  capture = await import('../lambdas/execution-capture/handler');
  lockHandler = await import('../lambdas/lock/handler');
});

afterAll(async () => {
  await Promise.all([sqsEmu?.stop(), dynamo?.stop(), firehose?.close(), sfnStandin?.stop(), kms?.stop()]);
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

let seq = 0;
function envelopeOf(job: string, key: string, params: TaskEnvelope['params']): TaskEnvelope {
  seq++;
  return { v: 1, taskId: `${job}-20261125T0300Z-${key}-${seq}`, job, key: `${key}-${seq}`, params, attempt: 1, scheduledTime: '2026-11-25T03:00:00.000Z' };
}

/** Local Lambdas: the example's step logic, the real lock handler, the real record logic on the Firehose stand-in. */
function lambdas(overrides: Record<string, LocalLambda> = {}): Record<string, LocalLambda> {
  const sink = new FirehoseParamLogSink(new FirehoseClient({}), WORKER_STREAM, new KmsMac(RECORD_MAC_KEY));
  const record: LocalLambda = (p) => recordOutcome(p as RecordOutcomeEvent, { sink, timeZone: TZ });
  const lock: LocalLambda = (p) => lockHandler.handler(p as never);
  type Step = { task: TaskEnvelope; previous: unknown; index?: number };
  return {
    AcquireLock: lock,
    ReleaseLock: lock,
    ReleaseLockAfterFailure: lock,
    ListParts: (p) => listParts((p as Step).task.params),
    ProcessPart: (p) => processPart((p as Step).previous as never, (p as Step).index),
    Aggregate: (p) => aggregate((p as Step).task.params, (p as Step).previous as never),
    Audit: (p) => audit((p as Step).previous as never),
    Fetch: () => ({ fetched: true }),
    CallApi: () => ({ called: true }),
    Publish: () => ({ published: true }),
    RecordSuccess: record,
    RecordFailure: record,
    RecordSpoolUnavailable: record,
    ...overrides,
  };
}

/** SpoolFailure as Step Functions' SQS integration sends it (to the local spool), or failing. */
function spoolTask(fails = false) {
  return async (params: unknown) => {
    if (fails) throw Object.assign(new Error('SQS unreachable'), { name: 'SQS.SdkClientException' });
    const p = params as { MessageBody: unknown; MessageAttributes: Record<string, { DataType: string; StringValue: string }> };
    const out = await sqs.send(new SendMessageCommand({ QueueUrl: spoolUrl, MessageBody: JSON.stringify(p.MessageBody), MessageAttributes: p.MessageAttributes }));
    return { MessageId: out.MessageId };
  };
}

/** Starts an execution in the stand-in and runs it locally to its end (history recorded). */
async function runExecution(
  machine: ResolvedStateMachine,
  input: TaskEnvelope,
  opts: { definition?: AslDefinition; lambdas?: Record<string, LocalLambda>; spoolFails?: boolean; onStarted?: (e: StandinExecution) => void } = {},
): Promise<{ execution: StandinExecution; result: LocalRunResult }> {
  const execution = sfnStandin.seed({ stateMachineArn: machine.arn, name: `${input.taskId}-a${input.attempt}`, input: JSON.stringify(input) });
  const runner = createLocalRunner({ definition: opts.definition ?? machine.definition });
  let result!: LocalRunResult;
  opts.onStarted?.(execution);
  await sfnStandin.runLocally(execution.executionArn, async (hooks) => {
    result = await runner({
      input,
      lambdas: opts.lambdas ?? lambdas(),
      tasks: { SpoolFailure: spoolTask(opts.spoolFails) },
      stateMachineArn: machine.arn,
      executionName: execution.name,
      executionArn: execution.executionArn,
      onStarted: hooks.onStarted,
      onEvent: hooks.onEvent,
    });
    return result;
  });
  return { execution, result };
}

/** Delivers the execution's status changes that the synthesized rule matches to the real handler. */
async function deliver(execution: StandinExecution): Promise<CaptureResult[]> {
  const matched = statusChanges.filter((ev) => ev.detail.executionArn === execution.executionArn && matches(rulePattern, ev));
  const out: CaptureResult[] = [];
  for (const ev of matched) out.push(await capture.handler(ev));
  return out;
}

async function spooledFor(executionArn: string): Promise<Array<{ body: SpoolMessage; attributes: Record<string, string> }>> {
  const q = await sqsEmu.inspectQueue('spool');
  return q.all.map((m) => ({ body: JSON.parse(m.body) as SpoolMessage, attributes: m.attributes })).filter((m) => m.body.executionArn === executionArn);
}

function workerRecordsFor(executionArn: string): ParamLogRecord[] {
  firehose.flushAll();
  return firehose.delivered.flatMap((f) => parseJsonLines(gunzipSync(readFileSync(join(outDir, ...f.key.split('/')))).toString('utf8'))).filter((r) => r.execution_arn === executionArn);
}

async function lockOwner(job: string, params: TaskEnvelope['params'], field: string): Promise<string | null> {
  const out = await ddb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: await lockKey(job, params, field, kms.keyOf(LOCK_MAC_KEY)) } }, ConsistentRead: true }));
  return out.Item?.owner?.S ?? null;
}

test('the synthesized rule matches FAILED / TIMED_OUT / ABORTED of the app\'s state machines only', () => {
  const ev = (status: string, stateMachineArn: string) => ({ source: 'aws.states', 'detail-type': 'Step Functions Execution Status Change', detail: { status, stateMachineArn } });
  for (const status of ['FAILED', 'TIMED_OUT', 'ABORTED']) expect(matches(rulePattern, ev(status, fanout.arn))).toBe(true);
  for (const status of ['RUNNING', 'SUCCEEDED', 'PENDING_REDRIVE']) expect(matches(rulePattern, ev(status, fanout.arn))).toBe(false);
  expect(matches(rulePattern, ev('ABORTED', 'arn:aws:states:us-east-1:123456789012:stateMachine:SomeoneElses'))).toBe(false);
  expect(matches(rulePattern, ev('ABORTED', api.arn))).toBe(true);
});

test('(a) an execution aborted mid-step is spooled with its input and resume point, an Aborted record, and its lock released', async () => {
  const input = envelopeOf('example-fanout', 'acct-abort', { account: `acct-abort-${seq + 1}`, parts: 4 });
  let release!: () => void;
  const stuck = new Promise<void>((r) => (release = r));
  let stopped = false;
  const { execution, result } = await runExecution(fanout, input, {
    lambdas: lambdas({
      ProcessPart: async (p) => {
        const { previous, index } = p as { previous: { part: number }; index: number };
        if (index === 2 && !stopped) {
          // The lock is held while the step runs; an operator stops the execution (StopExecution).
          expect(await lockOwner('example-fanout', input.params, 'account')).toBe(`${fanout.arn.replace(':stateMachine:', ':execution:')}:${input.taskId}-a1`);
          stopped = true;
          await sfn.send(new StopExecutionCommand({ executionArn: `${fanout.arn.replace(':stateMachine:', ':execution:')}:${input.taskId}-a1`, error: 'Operator', cause: 'stuck part' }));
          await stuck;
        }
        return processPart(previous as never, index);
      },
    }),
  });
  release();
  expect(result.status).toBe('ABORTED');
  expect(execution.status).toBe('ABORTED');
  // Before the capture, the stopped execution still holds the key.
  expect(await lockOwner('example-fanout', input.params, 'account')).toBe(execution.executionArn);

  const [captured] = await deliver(execution);
  expect(captured).toMatchObject({ outcome: 'spooled', status: 'ABORTED', error: 'ExecutionAborted', failedState: 'ProcessParts', workerRecord: 'Aborted', lockReleased: true });
  const spooled = await spooledFor(execution.executionArn);
  expect(spooled).toHaveLength(1);
  const m = spooled[0].body;
  expect(m).toMatchObject({ version: 1, kind: 'ExecutionEnded', status: 'ABORTED', job: 'example-fanout', taskId: input.taskId, error: 'ExecutionAborted', failedState: 'ProcessParts', stateMachineArn: fanout.arn });
  expect(m.input).toEqual(input);
  // The map was given ListParts' output: a replay resumes the map with it.
  expect(m.stepInput).toEqual(listParts(input.params));
  expect(m.cause).toContain('Operator: stuck part');
  expect(spooled[0].attributes).toEqual({ job: 'example-fanout', errorType: 'ExecutionAborted', kind: 'ExecutionEnded' });
  expect(workerRecordsFor(execution.executionArn).map((r) => [r.result, r.error, r.failed_state])).toEqual([['Aborted', 'ExecutionAborted', 'ProcessParts']]);
  expect(await lockOwner('example-fanout', input.params, 'account')).toBeNull();

  // The resume point is one the workflow can enter: a replay resumed there succeeds without rerunning ListParts.
  const listed: unknown[] = [];
  const replay: TaskEnvelope = { ...input, attempt: 2, resume: { step: m.failedState, input: m.stepInput! } };
  const { result: replayed } = await runExecution(fanout, replay, { lambdas: lambdas({ ListParts: (p) => (listed.push(p), listParts((p as { task: TaskEnvelope }).task.params)) }) });
  expect(replayed.status).toBe('SUCCEEDED');
  expect(listed).toHaveLength(0);
});

test('(b) an execution past its TimeoutSeconds is spooled as ExecutionTimedOut at the step it was in, with a TimedOut record', async () => {
  // A copy with a 2 s execution timeout (the synthesized one is derived from the steps: hours).
  expect(fanout.definition.TimeoutSeconds).toBeGreaterThan(3600);
  const definition = { ...fanout.definition, TimeoutSeconds: 2 };
  const input = envelopeOf('example-fanout', 'acct-slow', { account: `acct-slow-${seq + 1}`, parts: 3 });
  const { execution, result } = await runExecution(fanout, input, {
    definition,
    lambdas: lambdas({
      // Inside the parallel group: the capture names the enclosing top-level step.
      Aggregate: (p) => new Promise((r) => setTimeout(() => r(aggregate((p as { task: TaskEnvelope }).task.params, (p as { previous: never }).previous)), 3_000)),
    }),
  });
  expect(result.status).toBe('TIMED_OUT');
  const [captured] = await deliver(execution);
  expect(captured).toMatchObject({ outcome: 'spooled', status: 'TIMED_OUT', error: 'ExecutionTimedOut', failedState: 'Summarize', workerRecord: 'TimedOut', lockReleased: true });
  const [{ body: m }] = await spooledFor(execution.executionArn);
  expect(m).toMatchObject({ kind: 'ExecutionEnded', status: 'TIMED_OUT', error: 'ExecutionTimedOut', failedState: 'Summarize' });
  // Summarize was given the map's results.
  expect((m.stepInput as Array<{ part: number }>).map((r) => r.part)).toEqual([0, 1, 2]);
  expect(workerRecordsFor(execution.executionArn).map((r) => [r.result, r.error, r.failed_state])).toEqual([['TimedOut', 'ExecutionTimedOut', 'Summarize']]);
  expect(await lockOwner('example-fanout', input.params, 'account')).toBeNull();
});

test('(c) an uncatchable failure (States.Runtime: a map whose items are missing, the wrapper\'s check bypassed) is spooled with the execution\'s own error', async () => {
  const input = envelopeOf('example-fanout', 'acct-noitems', { account: `acct-noitems-${seq + 1}`, parts: 3 });
  // ListParts without the step wrapper's items check: the map's ItemsPath ($.output.parts) points at nothing.
  const { execution, result } = await runExecution(fanout, input, { lambdas: lambdas({ ListParts: () => ({ nothing: true }) }) });
  expect(result).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
  // No Catch took it: nothing was spooled by the workflow.
  expect(await spooledFor(execution.executionArn)).toHaveLength(0);
  const [captured] = await deliver(execution);
  expect(captured).toMatchObject({ outcome: 'spooled', status: 'FAILED', error: 'States.Runtime', failedState: 'ProcessParts', workerRecord: 'Failure', lockReleased: true });
  const [{ body: m }] = await spooledFor(execution.executionArn);
  expect(m).toMatchObject({ kind: 'ExecutionEnded', status: 'FAILED', error: 'States.Runtime', failedState: 'ProcessParts', stepInput: { nothing: true } });
  expect(m.cause).toContain(result.cause!);
  expect(workerRecordsFor(execution.executionArn).map((r) => [r.result, r.error])).toEqual([['Failure', 'States.Runtime']]);
});

test('(d) the SpoolUnavailable end is spooled later from the history with the original error; the workflow\'s own record is not duplicated', async () => {
  const input = envelopeOf('example-api', 'ord-down', { orderId: 'ord-down' });
  const { execution, result } = await runExecution(api, input, {
    spoolFails: true,
    lambdas: lambdas({
      CallApi: () => {
        throw new ExternalApiRejectedError('400 from the API');
      },
    }),
  });
  expect(result).toMatchObject({ status: 'FAILED', error: 'SpoolUnavailable' });
  expect(await spooledFor(execution.executionArn)).toHaveLength(0);
  const [captured] = await deliver(execution);
  expect(captured).toMatchObject({ outcome: 'spooled', status: 'FAILED', error: 'ExternalApiRejectedError', failedState: 'CallApi', workerRecord: null, lockReleased: null });
  const [{ body: m, attributes }] = await spooledFor(execution.executionArn);
  expect(m).toMatchObject({ kind: 'ExecutionEnded', status: 'FAILED', error: 'ExternalApiRejectedError', failedState: 'CallApi', stepInput: { fetched: true }, input });
  // The step's own cause first (as the Catch path would have spooled it), then why it is late.
  expect(m.cause.startsWith(JSON.stringify({ errorType: 'ExternalApiRejectedError', errorMessage: '400 from the API', trace: [] }))).toBe(true);
  expect(m.cause).toContain('could not reach the spool (SQS.SdkClientException: SQS unreachable)');
  expect(attributes.errorType).toBe('ExternalApiRejectedError');
  // One worker record: the workflow's (RecordSpoolUnavailable), with the spool error.
  const records = workerRecordsFor(execution.executionArn);
  expect(records.map((r) => [r.result, r.error, r.failed_state])).toEqual([['Failure', 'ExternalApiRejectedError', 'CallApi']]);
  expect(records[0].cause).toContain('not spooled: SQS.SdkClientException: SQS unreachable');
});

test('(d2) when the SpoolUnavailable path could not write its record either, the capture writes it', async () => {
  const input = envelopeOf('example-api', 'ord-down2', { orderId: 'ord-down2' });
  const { execution } = await runExecution(api, input, {
    spoolFails: true,
    lambdas: lambdas({
      CallApi: () => {
        throw new ExternalApiRejectedError('400');
      },
      RecordSpoolUnavailable: () => {
        throw new Error('firehose down');
      },
    }),
  });
  const [captured] = await deliver(execution);
  expect(captured).toMatchObject({ outcome: 'spooled', error: 'ExternalApiRejectedError', workerRecord: 'Failure' });
  const records = workerRecordsFor(execution.executionArn);
  expect(records.map((r) => [r.result, r.error, r.failed_state])).toEqual([['Failure', 'ExternalApiRejectedError', 'CallApi']]);
  expect(records[0].cause).toContain('could not reach the spool');
});

test('(e) a failure the Catch path spooled (marked cause) is not spooled or recorded again', async () => {
  const input = envelopeOf('example-fanout', 'acct-part', { account: `acct-part-${seq + 1}`, parts: 3, failPart: 1 });
  const { execution, result } = await runExecution(fanout, input);
  expect(result.status).toBe('FAILED');
  expect(result.cause?.startsWith('[spooled ')).toBe(true);
  expect(await spooledFor(execution.executionArn)).toHaveLength(1);
  expect(workerRecordsFor(execution.executionArn)).toHaveLength(1);
  const [captured] = await deliver(execution);
  expect(captured).toMatchObject({ outcome: 'alreadySpooled', status: 'FAILED', workerRecord: null, historyEvents: 0 });
  // The workflow had released the lock itself (ReleaseLockAfterFailure): nothing left to release.
  expect(captured.lockReleased).toBe(false);
  const spooled = await spooledFor(execution.executionArn);
  expect(spooled.map((s) => s.body.kind)).toEqual(['ExecutionFailed']);
  expect(workerRecordsFor(execution.executionArn)).toHaveLength(1);
});

test('(f) an execution redriven before its event is handled (RUNNING again) is ignored', async () => {
  const input = envelopeOf('example-fanout', 'acct-redrive', { account: `acct-redrive-${seq + 1}`, parts: 2 });
  const { execution, result } = await runExecution(fanout, input, { lambdas: lambdas({ ListParts: () => ({}) }) });
  expect(result.status).toBe('FAILED');
  const { RedriveExecutionCommand } = await import('@aws-sdk/client-sfn');
  await sfn.send(new RedriveExecutionCommand({ executionArn: execution.executionArn }));
  expect(execution.status).toBe('RUNNING');
  const captured = await deliver(execution);
  // The FAILED event (delivered late, after the redrive) is the only one the rule matched.
  expect(captured).toHaveLength(1);
  expect(captured[0]).toMatchObject({ outcome: 'ignored', status: 'RUNNING', historyEvents: 0 });
  expect(await spooledFor(execution.executionArn)).toHaveLength(0);
  expect(workerRecordsFor(execution.executionArn)).toHaveLength(0);
});

test('a duplicate delivery spools one message: the second capture finds the execution captured (its mark)', async () => {
  const input = envelopeOf('example-api', 'ord-dup', { orderId: 'ord-dup' });
  let stop!: () => Promise<unknown>;
  const { execution } = await runExecution(api, input, {
    onStarted: (e) => (stop = () => sfn.send(new StopExecutionCommand({ executionArn: e.executionArn }))),
    lambdas: lambdas({ CallApi: async () => (await stop(), { called: true }) }),
  });
  expect(execution.status).toBe('ABORTED');
  const [ev] = statusChanges.filter((e) => e.detail.executionArn === execution.executionArn && e.detail.status === 'ABORTED');
  const first = await capture.handler(ev);
  const second = await capture.handler(ev);
  expect([first.outcome, second.outcome]).toEqual(['spooled', 'alreadyCaptured']);
  const spooled = await spooledFor(execution.executionArn);
  expect(spooled).toHaveLength(1);
  expect(spooled[0].body.failedState).toBe('CallApi');
  expect(workerRecordsFor(execution.executionArn)).toHaveLength(1);
});
