import { App, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { AppConfig } from '../lib/config/types';
import { resolveConfig } from '../lib/config/validate';
import { HighVolumeWorkflow, HIGH_VOLUME_DEFAULTS, HIGH_VOLUME_SPOOL_RETRY } from '../lib/high-volume-workflow';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { ParamLogRecord } from '../lambdas/shared/param-log';
import { BatchRecordEvent, recordBatch } from '../lambdas/batch-record/logic';
import { AslDefinition, definitionOf, placeholderRef, PLACEHOLDER, stateMachineArn } from '../local/asl';
import { runLocal } from '../local/run-state-machine';

// A short three-step job in the high-volume mode (worst case: 3 x 5 s + 2 s + 10 x 2 + 2+4 s + 5 s + 30 s < 300 s).
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
const standardArn = () => stateMachineArn(stack.resolve((hv.node.scope!.node.findChild('Job-orders').node.findChild('StateMachine').node.defaultChild as CfnElement).logicalId));

beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const config = resolveConfig(testConfig);
  const s = new ScheduledJobsStack(app, 'HighVolumeTest', { config, projectRoot: resolve(__dirname, '..') });
  stack = s;
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
      ItemBatcher: { MaxItemsPerBatch: HIGH_VOLUME_DEFAULTS.itemsPerChild },
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

  it('refuses a job that is not in the high-volume mode', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
    const config = resolveConfig({ ...testConfig, jobs: [{ ...testConfig.jobs[0], executionMode: 'standard' }] });
    const s = new ScheduledJobsStack(app, 'StandardOnly', { config, projectRoot: resolve(__dirname, '..') });
    expect(() => new HighVolumeWorkflow(s, 'HV', { job: config.jobs[0], standard: s.workflows.get('orders')!, projectRoot: resolve(__dirname, '..'), spool: s.spool, paramLog: s.paramLog, paramsKey: s.paramsKey, timeZone: 'UTC' })).toThrow(
      /not in the high-volume mode/,
    );
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
    expect(result.output).toEqual({ written: 1, failures: 0 });
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
    expect(result.output).toEqual({ written: 2, failures: 1 });
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
      // The standard state machine: reprocess refuses any other one as forged, and replays there.
      stateMachineArn: standardArn(),
    });
    expect(sent.MessageAttributes.errorType.StringValue).toBe('ExternalApiUnavailableError');
    const byKey = Object.fromEntries(h.records.map((r) => [r.task_id, [r.result, r.failed_state]]));
    expect(byKey).toEqual({ [order('down-1').taskId]: ['Failure', 'CallApi'], [order('ok-2').taskId]: ['Success', null] });
    // The parent sees counts only: no params leave the child.
    expect(JSON.stringify(result.output)).not.toContain('a@example.com');
  });
});
