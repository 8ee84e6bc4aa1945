import { App, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { AppConfig } from '../lib/config/types';
import { resolveConfig } from '../lib/config/validate';
import { EXPRESS_MAX_SECONDS, HIGH_VOLUME_RECORD_SECONDS, highVolumeWorstCase } from '../lib/config/execution-mode';
import { HighVolumeWorkflow, HIGH_VOLUME_DEFAULTS, HIGH_VOLUME_SPOOL_RETRY, MAP_FAILURES_RETRY } from '../lib/high-volume-workflow';
import { HIGH_VOLUME_MAX_ITEMS_PER_CHILD } from '../lambdas/shared/limits';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { ParamLogRecord } from '../lambdas/shared/param-log';
import { ParamLogWriteError } from '../lambdas/shared/firehose-sink';
import { BatchRecordEvent, recordBatch } from '../lambdas/batch-record/logic';
import { MapFailuresEvent, spoolFailedChildren } from '../lambdas/map-failures/logic';
import { OutgoingSpoolMessage } from '../lambdas/shared/spool-send';
import { AslDefinition, definitionOf, placeholderRef, PLACEHOLDER, stateMachineArn } from '../local/asl';
import { runLocal } from '../local/run-state-machine';
import { IamModel } from './support/iam-harness';

// A short three-step job in the high-volume mode (worst case per task: 5 x 2 + 1 s + 10 x 3 + 2+4 s + 5 s + 30 s = 82 s).
const testConfig: AppConfig = {
  timeZone: 'Asia/Tokyo',
  paramLog: { readerRoleArnPatterns: ['arn:aws:iam::123456789012:role/reader'] },
  alerts: { emails: ['oncall@example.com'] },
  jobs: [
    {
      name: 'orders',
      schedule: 'rate(5 minutes)',
      producer: { entry: 'lambdas/jobs/example-api/producer.ts' },
      errors: 'lambdas/jobs/example-api/errors.ts',
      executionMode: 'high-volume',
      steps: [
        { name: 'Fetch', entry: 'lambdas/jobs/example-api/fetch.ts', timeoutSeconds: 5, retry: { maxAttempts: 1, intervalSeconds: 1, retryableErrors: ['TransientError'] } },
        { name: 'CallApi', entry: 'lambdas/jobs/example-api/call-api.ts', timeoutSeconds: 10, retry: { maxAttempts: 2, intervalSeconds: 2, backoffRate: 2, maxDelaySeconds: 10, retryableErrors: ['ExternalApiUnavailableError'] } },
        { name: 'Publish', entry: 'lambdas/jobs/example-api/publish.ts', timeoutSeconds: 5, retry: { maxAttempts: 0, intervalSeconds: 1, retryableErrors: [] } },
      ],
    },
  ],
};

const envelope = (key: string): TaskEnvelope => ({
  v: 1,
  taskId: `orders-20260101T0000Z-${key}`,
  job: 'orders',
  key,
  params: { orderId: key, customer: { name: 'A', email: 'a@example.com' } },
  attempt: 1,
  scheduledTime: '2026-01-01T00:00:00.000Z',
});

let synthError: unknown;
let parent: AslDefinition;
let child: AslDefinition;
let template: Template;
let hv: HighVolumeWorkflow;
let stack: Stack;
const parentArn = () => stateMachineArn(stack.resolve((hv.stateMachine.node.defaultChild as CfnElement).logicalId));
/** The job's standard state machine: where reprocess replays a spooled item. */
let standardLogicalId: string;
const standardArn = () => stateMachineArn(standardLogicalId);

beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const config = resolveConfig(testConfig);
  const s = new ScheduledJobsStack(app, 'HighVolumeTest', { config, projectRoot: resolve(__dirname, '..') });
  stack = s;
  standardLogicalId = s.resolve((s.workflows.get('orders')!.stateMachine.node.defaultChild as CfnElement).logicalId);
  const job = config.jobs[0];
  // The stack composes it for the high-volume job (beside the standard workflow, kept for replays).
  hv = s.highVolume.get(job.name)!;
  try {
    app.synth();
  } catch (e) {
    synthError = e;
  }
  template = Template.fromStack(s, { skipCyclicalDependenciesCheck: true });
  const logicalId = s.resolve((hv.stateMachine.node.defaultChild as CfnElement).logicalId);
  parent = definitionOf(template.toJSON() as never, logicalId, placeholderRef(PLACEHOLDER), PLACEHOLDER);
  const processor = (parent.States.Children as unknown as { ItemProcessor: AslDefinition }).ItemProcessor;
  child = { StartAt: processor.StartAt, States: processor.States };
});

describe('HighVolumeWorkflow (synthesized)', () => {
  it('is cdk-nag clean (synth fails otherwise)', () => {
    expect(synthError).toBeUndefined();
  });

  it('is a Standard parent with a Distributed Map of Express children, batched, tolerating every failure', () => {
    const children = parent.States.Children as Record<string, any>;
    expect(parent.StartAt).toBe('Children');
    expect(children).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.tasks',
      ItemBatcher: { MaxItemsPerBatch: hv.childShape.itemsPerChild },
      ToleratedFailurePercentage: 100,
      MaxConcurrency: HIGH_VOLUME_DEFAULTS.maxChildren,
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' } },
    });
    const logicalId = stack.resolve((hv.stateMachine.node.defaultChild as CfnElement).logicalId);
    const props = template.toJSON().Resources[logicalId].Properties;
    expect(props.StateMachineType).toBe('STANDARD');
    expect(props.EncryptionConfiguration).toMatchObject({ Type: 'CUSTOMER_MANAGED_KMS_KEY' });
    expect(props.LoggingConfiguration).toMatchObject({ Level: 'ERROR', IncludeExecutionData: false });
  });

  it('batches as many items per child as its waves at the worst case fit in five minutes (82 s a task: 3 waves of 10, not 100 items)', () => {
    const batch = (parent.States.Children as Record<string, any>).ItemBatcher.MaxItemsPerBatch as number;
    const atOnce = (child.States.Items as Record<string, any>).MaxConcurrency as number;
    const perTask = highVolumeWorstCase(resolveConfig(testConfig).jobs[0].steps).totalSeconds;
    expect(perTask).toBe(82);
    expect([batch, atOnce]).toEqual([30, HIGH_VOLUME_DEFAULTS.childConcurrency]);
    expect(Math.ceil(batch / atOnce) * perTask + HIGH_VOLUME_RECORD_SECONDS).toBeLessThanOrEqual(EXPRESS_MAX_SECONDS);
    // One more wave would not fit: the most that does.
    expect((Math.ceil(batch / atOnce) + 1) * perTask + HIGH_VOLUME_RECORD_SECONDS).toBeGreaterThan(EXPRESS_MAX_SECONDS);
    // The RecordBatch reserve is the function's own timeout.
    expect(hv.batchRecordFunction.timeout?.toSeconds()).toBe(HIGH_VOLUME_RECORD_SECONDS);
  });

  it("gives each step the standard machine's Retry for the config's error names, and reuses its Lambdas", () => {
    const items = child.States.Items as unknown as { ItemProcessor: AslDefinition };
    const callApi = items.ItemProcessor.States.CallApi as Record<string, any>;
    expect(callApi.Retry).toContainEqual({ ErrorEquals: ['ExternalApiUnavailableError'], IntervalSeconds: 2, MaxAttempts: 2, BackoffRate: 2, MaxDelaySeconds: 10, JitterStrategy: 'FULL' });
    expect(callApi.TimeoutSeconds).toBe(10 + 15);
    expect(callApi.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.caught', Next: 'CallApi-Caught' }]);
    const standardFn = hv.node.scope!.node.findChild('Job-orders').node.findChild('CallApiFunction') as lambda.Function;
    expect(callApi.Parameters.FunctionName).toContain(stack.resolve((standardFn.node.defaultChild as lambda.CfnFunction).logicalId));
    const spool = items.ItemProcessor.States.SpoolItem as Record<string, any>;
    expect(spool.Retry[0]).toMatchObject({ ErrorEquals: ['States.ALL'], MaxAttempts: HIGH_VOLUME_SPOOL_RETRY.maxAttempts });
  });

  it('writes the Map Run results to the params-key bucket and spools the failed children after the map, retrying only its transient errors', () => {
    const children = parent.States.Children as Record<string, any>;
    expect(children.ResultWriter).toEqual({ Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: expect.any(String), Prefix: 'map-runs/orders' } });
    expect(children.Next).toBe('SpoolFailedChildren');
    const post = parent.States.SpoolFailedChildren as Record<string, any>;
    expect(post.Parameters.Payload).toMatchObject({ 'mapRun.$': '$.children', job: 'orders', replayStateMachineArn: standardArn(), firstStep: 'Fetch' });
    expect(post.Retry).toContainEqual({
      ErrorEquals: [...MAP_FAILURES_RETRY.errors],
      IntervalSeconds: MAP_FAILURES_RETRY.intervalSeconds,
      MaxAttempts: MAP_FAILURES_RETRY.maxAttempts,
      BackoffRate: MAP_FAILURES_RETRY.backoffRate,
      MaxDelaySeconds: MAP_FAILURES_RETRY.maxDelaySeconds,
      JitterStrategy: 'FULL',
    });
    expect(post.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.mapFailuresError', Next: 'FailedChildrenNotSpooled' }]);
    expect(parent.States.FailedChildrenNotSpooled).toMatchObject({ Type: 'Fail', Error: 'FailedChildrenNotSpooled' });
    // The bucket: SSE-KMS with the params key, TLS only, no public access, objects expire.
    const bucketId = stack.resolve((hv.resultsBucket.node.defaultChild as CfnElement).logicalId);
    const bucket = template.toJSON().Resources[bucketId].Properties;
    const paramsKeyId = stack.resolve((hv.node.scope!.node.findChild('ParamsKey').node.findChild('Key').node.defaultChild as CfnElement).logicalId);
    expect(bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault).toEqual({ SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [paramsKeyId, 'Arn'] } });
    expect(bucket.PublicAccessBlockConfiguration).toMatchObject({ BlockPublicAcls: true, RestrictPublicBuckets: true });
    expect(bucket.LifecycleConfiguration.Rules).toContainEqual(expect.objectContaining({ ExpirationInDays: HIGH_VOLUME_DEFAULTS.resultsRetentionDays }));
  });

  it('grants the post-map Lambda only what it needs: the results under its prefix, the key through S3, the spool, the worker stream', () => {
    const roleId = stack.resolve((hv.mapFailuresFunction.role!.node.defaultChild as CfnElement).logicalId);
    const policies = Object.values(template.toJSON().Resources as Record<string, any>).filter(
      (r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles) === JSON.stringify([{ Ref: roleId }]),
    );
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement as Array<Record<string, any>>);
    const actions = statements.flatMap((st) => [st.Action].flat());
    expect(new Set(actions)).toEqual(new Set(['s3:GetObject', 'kms:Decrypt', 'kms:GenerateDataKey', 'sqs:SendMessage', 'firehose:PutRecord', 'firehose:PutRecordBatch', 'kms:GenerateMac', 'xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'logs:CreateLogStream', 'logs:PutLogEvents']));
    const getObject = statements.find((st) => [st.Action].flat().includes('s3:GetObject'))!;
    expect(JSON.stringify(getObject.Resource)).toContain('/map-runs/orders/*');
    const s3Decrypt = statements.find((st) => st.Condition?.StringEquals?.['kms:ViaService'] && JSON.stringify(st.Condition).includes('s3.'));
    expect(s3Decrypt).toMatchObject({ Action: 'kms:Decrypt' });
    // Recorded as a decrypter: the params key's deny exempts it (it reads objects under that key).
    expect((hv.node.scope!.node.findChild('ParamsKey') as unknown as { decrypters: unknown[] }).decrypters).toContain(hv.mapFailuresFunction.role);
  });

  it('lets, by the synthesized policies (key policy included), the parent write its results and the post-map Lambda read them, and nothing more', async () => {
    const m = new IamModel(stack, template.toJSON() as never);
    const bucket = m.value(hv.resultsBucket.bucketArn);
    const key = m.value((hv.node.scope as unknown as { paramsKey: { key: { keyArn: string } } }).paramsKey.key.keyArn);
    const viaS3 = { 'kms:ViaService': `s3.${m.region}.amazonaws.com`, 'kms:EncryptionContext:aws:s3:arn': bucket };
    const parentRole = m.role(hv.stateMachine.role as never);
    const reader = m.role(hv.mapFailuresFunction.role as never);
    const file = `${bucket}/map-runs/orders/6dbfba93/FAILED_0.json`;
    const verdicts = async (checks: Array<[ReturnType<IamModel['role']>, string, string, Record<string, string>?]>) =>
      Promise.all(checks.map(async ([p, action, resource, ctx]) => `${p.label} ${action} ${resource.slice(-40)}: ${(await m.evaluate(p, action, resource, ctx ?? {})).result}`));
    const allowed = await verdicts([
      [parentRole, 's3:PutObject', file],
      [parentRole, 'kms:GenerateDataKey', key, viaS3],
      [reader, 's3:GetObject', file],
      [reader, 'kms:Decrypt', key, viaS3],
    ]);
    expect(allowed.filter((v) => !v.endsWith('Allowed'))).toEqual([]);
    const denied = await verdicts([
      // Another job's results, another prefix, writing or deleting them.
      [reader, 's3:GetObject', `${bucket}/map-runs/other-job/x/FAILED_0.json`],
      [reader, 's3:PutObject', file],
      [reader, 's3:DeleteObject', file],
      // The key outside S3 (e.g. an execution's data or a queue's messages directly).
      [reader, 'kms:Decrypt', key, { 'kms:ViaService': `states.${m.region}.amazonaws.com` }],
    ]);
    expect(denied.filter((v) => v.endsWith('Allowed'))).toEqual([]);
  });

  it('refuses a job that is not in the high-volume mode', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
    const config = resolveConfig({ ...testConfig, jobs: [{ ...testConfig.jobs[0], executionMode: 'standard' }] });
    const s = new ScheduledJobsStack(app, 'StandardOnly', { config, projectRoot: resolve(__dirname, '..') });
    expect(() => new HighVolumeWorkflow(s, 'HV', { job: config.jobs[0], standard: s.workflows.get('orders')!, projectRoot: resolve(__dirname, '..'), spool: s.spool, paramLog: s.paramLog, paramsKey: s.paramsKey, timeZone: 'UTC' })).toThrow(
      /not in the high-volume mode/,
    );
  });

  it('refuses more items per child than its 256 KiB state holds outcomes for (lambdas/shared/limits.ts)', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
    const config = resolveConfig({ ...testConfig, jobs: [{ ...testConfig.jobs[0], executionMode: 'standard' }] });
    const s = new ScheduledJobsStack(app, 'TooMany', { config, projectRoot: resolve(__dirname, '..') });
    const job = { ...config.jobs[0], executionMode: 'high-volume' as const };
    const make = (itemsPerChild: number) => () =>
      new HighVolumeWorkflow(s, `HV${itemsPerChild}`, { job, standard: s.workflows.get('orders')!, projectRoot: resolve(__dirname, '..'), spool: s.spool, paramLog: s.paramLog, paramsKey: s.paramsKey, timeZone: 'UTC', itemsPerChild, childConcurrency: 40 });
    expect(make(HIGH_VOLUME_MAX_ITEMS_PER_CHILD + 1)).toThrow(/itemsPerChild must be an integer from 1 to 100/);
  });
});

/**
 * The child definition run locally with the REAL example-api step handlers (lambdas/jobs/example-api:
 * params schema, step wrapper, CallApi's HTTP call) against a local HTTP API whose answer depends on
 * the order id: `ok` 200, `flaky` 503 twice then 200, `down` always 503. The spool is a stand-in
 * Task; RecordBatch runs the real batch-record logic into memory.
 */
type Handler = (event: unknown) => Promise<unknown>;
let api: Server;
let steps: { Fetch: Handler; CallApi: Handler; Publish: Handler };
const apiCalls: string[] = [];
beforeAll(async () => {
  api = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { orderId } = JSON.parse(body) as { orderId: string };
      apiCalls.push(orderId);
      const n = apiCalls.filter((o) => o === orderId).length;
      const fail = orderId.startsWith('down') || (orderId.startsWith('flaky') && n <= 2);
      res.writeHead(fail ? 503 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(fail ? { error: 'unavailable' } : { confirmation: `c-${orderId}` }));
    });
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
  process.env.EXAMPLE_API_URL = `http://127.0.0.1:${(api.address() as AddressInfo).port}/orders`;
  process.env.EXAMPLE_API_TIMEOUT_MS = '2000';
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  steps = {
    Fetch: (await import('../lambdas/jobs/example-api/fetch')).handler as Handler,
    CallApi: (await import('../lambdas/jobs/example-api/call-api')).handler as Handler,
    Publish: (await import('../lambdas/jobs/example-api/publish')).handler as Handler,
  };
});
afterAll(() => new Promise<void>((r) => api.close(() => r())));

const order = (key: string): TaskEnvelope => ({ ...envelope(key), params: { orderId: key, customer: { name: 'A', email: 'a@example.com' }, amount: 12.5 } });

function harness() {
  const calls: Record<string, unknown[]> = { Fetch: [], CallApi: [], Publish: [], SpoolItem: [], RecordBatch: [] };
  const records: ParamLogRecord[] = [];
  const step = (name: keyof typeof steps) => (p: unknown) => (calls[name].push(p), steps[name](p));
  return {
    calls,
    records,
    lambdas: {
      Fetch: step('Fetch'),
      CallApi: step('CallApi'),
      Publish: step('Publish'),
      RecordBatch: async (p: unknown) => {
        calls.RecordBatch.push(p);
        return recordBatch(p as BatchRecordEvent, { sink: { put: async (r) => void records.push(...r) }, timeZone: 'Asia/Tokyo' });
      },
    },
    tasks: {
      SpoolItem: (p: unknown) => (calls.SpoolItem.push(p), { MessageId: `m-${calls.SpoolItem.length}` }),
    },
  };
}

const runChild = (h: ReturnType<typeof harness>, items: TaskEnvelope[]) =>
  runLocal({ definition: child, input: { Items: items }, lambdas: h.lambdas, tasks: h.tasks, stateMachineArn: parentArn(), executionName: 'child-1' });

const fetched = { orderId: 'x', amountMinor: 1250, currency: 'JPY' };

describe('the Express child, run in aws-local-stepfunctions with the real step handlers', () => {
  it('runs an item through every step with the step contract and writes its Success record', async () => {
    const h = harness();
    const result = await runChild(h, [order('ok-1')]);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toEqual({ written: 1, failures: 0, notSpooled: 0, report: '{"v":1,"notSpooled":[]}' });
    // As in standard, the first step gets no `previous` (the CDK drops a literal null; the step reads it as null).
    expect(h.calls.Fetch[0]).toEqual({ task: order('ok-1') });
    expect(h.calls.CallApi[0]).toEqual({ task: order('ok-1'), previous: { ...fetched, orderId: 'ok-1' } });
    expect(h.calls.Publish[0]).toEqual({ task: order('ok-1'), previous: { orderId: 'ok-1', confirmation: 'c-ok-1', status: 200 } });
    expect(h.calls.SpoolItem).toHaveLength(0);
    expect(h.records.map((r) => [r.task_id, r.result, r.execution_arn])).toEqual([[order('ok-1').taskId, 'Success', result.executionArn]]);
  });

  it('retries a retryable error (HTTP 503) and then succeeds', async () => {
    const h = harness();
    const result = await runChild(h, [order('flaky-1')]);
    expect(result.status).toBe('SUCCEEDED');
    expect(h.calls.CallApi).toHaveLength(3);
    expect(apiCalls.filter((o) => o === 'flaky-1')).toHaveLength(3);
    expect(h.calls.Publish).toHaveLength(1);
    expect(h.records.map((r) => r.result)).toEqual(['Success']);
  });

  it('spools a failed item with its input and resume point, and leaves the other items of the child alone', async () => {
    const h = harness();
    const result = await runChild(h, [order('down-1'), order('ok-2')]);
    // The child succeeds: its failed item is spooled, not the child's failure.
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toEqual({ written: 2, failures: 1, notSpooled: 0, report: '{"v":1,"notSpooled":[]}' });
    // 1 + MaxAttempts (2) calls of the failing order.
    expect(apiCalls.filter((o) => o === 'down-1')).toHaveLength(3);
    expect(h.calls.SpoolItem).toHaveLength(1);
    const sent = h.calls.SpoolItem[0] as { MessageBody: Record<string, unknown>; MessageAttributes: Record<string, { StringValue: string }> };
    expect(sent.MessageBody).toEqual({
      version: 1,
      kind: 'ExecutionFailed',
      job: 'orders',
      taskId: order('down-1').taskId,
      input: order('down-1'),
      error: 'ExternalApiUnavailableError',
      cause: expect.stringContaining('ExternalApiUnavailableError'),
      // The resume point: the failed step and what it was given (Fetch's output).
      failedState: 'CallApi',
      stepInput: { ...fetched, orderId: 'down-1' },
      executionArn: result.executionArn,
      // Not the child's own machine: reprocess replays in the standard one and refuses any other.
      stateMachineArn: standardArn(),
    });
    expect(sent.MessageAttributes.errorType.StringValue).toBe('ExternalApiUnavailableError');
    const byKey = Object.fromEntries(h.records.map((r) => [r.task_id, [r.result, r.failed_state, r.cause]]));
    // The record names the spool message that holds the full cause (the child keeps names only).
    expect(byKey).toEqual({
      [order('down-1').taskId]: ['Failure', 'CallApi', 'ExternalApiUnavailableError in a high-volume child; the cause is in spool message m-1'],
      [order('ok-2').taskId]: ['Success', null, null],
    });
    // RecordBatch is given the tasks once (Items) and outcomes of names only, in the items' order.
    expect(h.calls.RecordBatch[0]).toEqual({
      executionArn: result.executionArn,
      items: [order('down-1'), order('ok-2')],
      results: [{ error: 'ExternalApiUnavailableError', failedState: 'CallApi', spooled: 'm-1' }, {}],
    });
    // The parent sees counts only: no params leave the child.
    expect(JSON.stringify(result.output)).not.toContain('a@example.com');
  });
});

describe('an item the child could not spool reaches the parent', () => {
  it('fails the child with ItemsNotSpooled and its report (positions and error names, no params) after writing every record', async () => {
    const h = harness();
    // The spool refuses every send of this run: SpoolItem's Retry, then its Catch (ItemNotSpooled).
    const tasks = { SpoolItem: (p: unknown) => (h.calls.SpoolItem.push(p), Promise.reject(Object.assign(new Error('Access denied'), { name: 'SQS.KmsAccessDenied' }))) };
    const result = await runLocal({ definition: child, input: { Items: [order('ok-3'), order('down-3')] }, lambdas: h.lambdas, tasks, stateMachineArn: parentArn(), executionName: 'child-2' });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ItemsNotSpooled');
    expect(JSON.parse(result.cause!)).toEqual({ v: 1, notSpooled: [{ i: 1, error: 'ExternalApiUnavailableError', failedState: 'CallApi' }] });
    expect(h.calls.SpoolItem).toHaveLength(1 + HIGH_VOLUME_SPOOL_RETRY.maxAttempts);
    expect(h.records.map((r) => [r.task_id, r.result, r.cause])).toEqual([
      [order('ok-3').taskId, 'Success', null],
      [order('down-3').taskId, 'Failure', 'ExternalApiUnavailableError in a high-volume child; not spooled: SQS.KmsAccessDenied'],
    ]);
    expect(result.cause).not.toContain('example.com');
  });

  it('fails the child with its report even when its worker records cannot all be written (Firehose took some of them)', async () => {
    const h = harness();
    const tasks = { SpoolItem: (p: unknown) => (h.calls.SpoolItem.push(p), Promise.reject(Object.assign(new Error('Access denied'), { name: 'SQS.KmsAccessDenied' }))) };
    // PutRecordBatch answers per record: the not-spooled item's record is delivered, the other one
    // is refused on every retry (ParamLogWriteError), so RecordBatch fails on each attempt.
    const delivered: ParamLogRecord[] = [];
    const lambdas = {
      ...h.lambdas,
      RecordBatch: async (p: unknown) =>
        recordBatch(p as BatchRecordEvent, {
          sink: {
            put: async (r) => {
              delivered.push(...r.filter((x) => x.task_id === order('down-4').taskId));
              throw new ParamLogWriteError(r.filter((x) => x.task_id !== order('down-4').taskId).length, 'ServiceUnavailableException');
            },
          },
          timeZone: 'Asia/Tokyo',
        }),
    };
    const result = await runLocal({ definition: child, input: { Items: [order('ok-4'), order('down-4')] }, lambdas, tasks, stateMachineArn: parentArn(), executionName: 'child-3' });
    // The item is in no spool and has a failure worker record, so the lost-task monitor does not
    // list it: only the child's report can bring it to the parent's post-map step.
    expect(delivered.map((r) => [r.task_id, r.result])).toContainEqual([order('down-4').taskId, 'Failure']);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ItemsNotSpooled');
    expect(JSON.parse(result.cause!)).toEqual({ v: 1, notSpooled: [{ i: 1, error: 'ExternalApiUnavailableError', failedState: 'CallApi' }] });
    // The other records are not retried by RecordBatch's Retry then: the monitor lists their tasks.
    expect(delivered).toHaveLength(1);
  });
});

/**
 * The parent after its map, run in aws-local-stepfunctions: that engine runs a DISTRIBUTED Map as an
 * inline one (no ItemBatcher, no ResultWriter, no Express children; docs/big-ticks.md), so the run
 * starts at SpoolFailedChildren with what AWS documents the Map state to return under its
 * ResultPath (`{MapRunArn, ResultWriterDetails}`), and the real post-map logic reads result files
 * shaped as AWS documents them from memory.
 */
describe('the parent after its map, run in aws-local-stepfunctions with the real post-map logic', () => {
  const prefix = 'map-runs/orders/6dbfba93';
  const files = new Map<string, string>([
    [`${prefix}/manifest.json`, JSON.stringify({ DestinationBucket: 'results', MapRunArn: 'arn:aws:states:us-east-1:123456789012:mapRun:p/Tasks:6dbfba93', ResultFiles: { FAILED: [{ Key: `${prefix}/FAILED_0.json`, Size: 1 }], PENDING: [], SUCCEEDED: [] } })],
    [`${prefix}/FAILED_0.json`, JSON.stringify([{ ExecutionArn: 'arn:aws:states:us-east-1:123456789012:express:p/Tasks:6dbfba93:c1', Name: 'c1', Input: JSON.stringify({ Items: [order('late-1'), order('late-2')] }), InputDetails: { Included: true }, Status: 'TIMED_OUT' }])],
  ]);
  const afterMap = (): AslDefinition => {
    const { Children: _children, ...rest } = parent.States;
    return { StartAt: 'SpoolFailedChildren', States: rest };
  };
  const input = { tasks: [order('late-1'), order('late-2')], children: { MapRunArn: 'arn:aws:states:us-east-1:123456789012:mapRun:p/Tasks:6dbfba93', ResultWriterDetails: { Bucket: 'results', Key: `${prefix}/manifest.json` } } };
  const postMap = (sent: OutgoingSpoolMessage[], records: ParamLogRecord[], failReads = 0) => {
    let reads = 0;
    return async (payload: unknown) =>
      spoolFailedChildren(payload as MapFailuresEvent, {
        read: async (_b, k) => {
          if (reads++ < failReads) throw Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown' });
          const t = files.get(k);
          if (t === undefined) throw Object.assign(new Error('no such key'), { name: 'NoSuchKey' });
          return t;
        },
        spool: async (m) => void sent.push(...m),
        sink: { put: async (r) => void records.push(...r) },
        timeZone: 'Asia/Tokyo',
      });
  };

  it('spools the items of a timed-out child for a replay in the standard machine, retrying a transient S3 error, and succeeds with counts only', async () => {
    const sent: OutgoingSpoolMessage[] = [];
    const records: ParamLogRecord[] = [];
    const result = await runLocal({ definition: afterMap(), input, lambdas: { SpoolFailedChildren: postMap(sent, records, 1) }, stateMachineArn: parentArn(), executionName: 'orders-20260101T0000Z-b0-t0-a1' });
    expect(result.status).toBe('SUCCEEDED');
    expect(result.retries.SpoolFailedChildren).toBe(1);
    expect(result.output).toEqual({ failedChildren: 1, spooled: 2, recorded: 2 });
    expect(sent.map((m) => [m.message.taskId, m.message.error, m.message.failedState, m.message.stateMachineArn])).toEqual([
      [order('late-1').taskId, 'ExecutionTimedOut', 'Fetch', standardArn()],
      [order('late-2').taskId, 'ExecutionTimedOut', 'Fetch', standardArn()],
    ]);
    expect(records.map((r) => r.result)).toEqual(['TimedOut', 'TimedOut']);
  });

  it('fails the parent (so the capture sees it) when the results cannot be read after the retries', async () => {
    const result = await runLocal({ definition: afterMap(), input, lambdas: { SpoolFailedChildren: postMap([], [], 100) }, stateMachineArn: parentArn(), executionName: 'orders-20260101T0000Z-b0-t0-a1' });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('FailedChildrenNotSpooled');
    expect(result.retries.SpoolFailedChildren).toBe(MAP_FAILURES_RETRY.maxAttempts);
    expect(result.cause).toContain('MapResultsUnavailableError');
  });

  it('does not retry result files it cannot read as AWS documents them: the parent fails at once', async () => {
    const bad = { ...input, children: [{ written: 1 }] };
    const result = await runLocal({ definition: afterMap(), input: bad, lambdas: { SpoolFailedChildren: postMap([], []) }, stateMachineArn: parentArn(), executionName: 'orders-20260101T0000Z-b0-t0-a1' });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('FailedChildrenNotSpooled');
    expect(result.retries.SpoolFailedChildren ?? 0).toBe(0);
  });
});

describe('batch-record reads the outcomes of a child deployed before they were slimmed', () => {
  it('records items of the former shape (task and cause in each) as before', async () => {
    const records: ParamLogRecord[] = [];
    const event = { executionArn: 'arn:child', items: [{ task: order('old-1') }, { task: order('old-2'), error: 'E', cause: 'full cause', failedState: 'CallApi', spoolError: 'SQS.X: down' }] };
    const r = await recordBatch(event as unknown as BatchRecordEvent, { sink: { put: async (x) => void records.push(...x) }, timeZone: 'UTC' });
    expect(r).toMatchObject({ written: 2, failures: 1, notSpooled: 1 });
    expect(records.map((x) => [x.task_id, x.result, x.cause])).toEqual([
      [order('old-1').taskId, 'Success', null],
      [order('old-2').taskId, 'Failure', 'full cause [not spooled: SQS.X: down]'],
    ]);
  });

  it('refuses results that are not one per item', async () => {
    await expect(recordBatch({ executionArn: 'a', items: [order('x-1')], results: [] }, { sink: { put: async () => undefined }, timeZone: 'UTC' })).rejects.toThrow(/one per item/);
  });
});
