import { App, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { resolve } from 'node:path';
import { AppConfig } from '../lib/config/types';
import { resolveConfig } from '../lib/config/validate';
import { HighVolumeWorkflow, HIGH_VOLUME_DEFAULTS, HIGH_VOLUME_SPOOL_RETRY } from '../lib/high-volume-workflow';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { ParamLogRecord } from '../lambdas/shared/param-log';
import { BatchRecordEvent, recordBatch } from '../lambdas/batch-record/logic';
import { ExternalApiUnavailableError } from '../lambdas/jobs/example-api/errors';
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

beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const config = resolveConfig(testConfig);
  const s = new ScheduledJobsStack(app, 'HighVolumeTest', { config, projectRoot: resolve(__dirname, '..') });
  stack = s;
  const job = config.jobs[0];
  hv = new HighVolumeWorkflow(s, 'HighVolume-orders', { job, standard: s.workflows.get('orders')!, projectRoot: resolve(__dirname, '..'), spool: s.spool, paramLog: s.paramLog, paramsKey: s.paramsKey, timeZone: config.timeZone });
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

/** The child definition run locally: stand-in steps by state name, the real batch-record logic. */
function harness(callApi: (n: number, key: string) => unknown) {
  const calls: Record<string, unknown[]> = { Fetch: [], CallApi: [], Publish: [], SpoolItem: [], RecordBatch: [] };
  const records: ParamLogRecord[] = [];
  return {
    calls,
    records,
    lambdas: {
      Fetch: (p: unknown) => (calls.Fetch.push(p), { fetched: (p as { task: TaskEnvelope }).task.key }),
      CallApi: (p: unknown) => (calls.CallApi.push(p), callApi(calls.CallApi.length, (p as { task: TaskEnvelope }).task.key)),
      Publish: (p: unknown) => (calls.Publish.push(p), { published: true }),
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
  runLocal({ definition: child, stepTimeoutSeconds: 1, input: { Items: items }, lambdas: h.lambdas, tasks: h.tasks, stateMachineArn: parentArn(), executionName: 'child-1' });

describe('the Express child, run in aws-local-stepfunctions', () => {
  it('runs an item through every step with the step contract and writes its Success record', async () => {
    const h = harness(() => ({ confirmation: 'c-1' }));
    const result = await runChild(h, [envelope('ord-1')]);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toEqual({ written: 1, failures: 0 });
    // As in standard, the first step gets no `previous` (the CDK drops a literal null; the step reads it as null).
    expect(h.calls.Fetch[0]).toEqual({ task: envelope('ord-1') });
    expect(h.calls.CallApi[0]).toEqual({ task: envelope('ord-1'), previous: { fetched: 'ord-1' } });
    expect(h.calls.Publish[0]).toEqual({ task: envelope('ord-1'), previous: { confirmation: 'c-1' } });
    expect(h.calls.SpoolItem).toHaveLength(0);
    expect(h.records.map((r) => [r.task_id, r.result, r.execution_arn])).toEqual([[envelope('ord-1').taskId, 'Success', result.executionArn]]);
  });

  it('retries a retryable error and then succeeds', async () => {
    const h = harness((n) => {
      if (n <= 2) throw new ExternalApiUnavailableError('503');
      return { confirmation: 'c-1' };
    });
    const result = await runChild(h, [envelope('ord-1')]);
    expect(result.status).toBe('SUCCEEDED');
    expect(h.calls.CallApi).toHaveLength(3);
    expect(h.calls.Publish).toHaveLength(1);
    expect(h.records.map((r) => r.result)).toEqual(['Success']);
  });

  it('spools a failed item with its input and resume point, and leaves the other items of the child alone', async () => {
    const h = harness((_n, key) => {
      if (key === 'bad') throw new ExternalApiUnavailableError('maintenance');
      return { confirmation: key };
    });
    const result = await runChild(h, [envelope('bad'), envelope('good')]);
    // The child succeeds: its failed item is spooled, not the child's failure.
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toEqual({ written: 2, failures: 1 });
    expect(h.calls.CallApi.filter((p) => (p as { task: TaskEnvelope }).task.key === 'bad')).toHaveLength(1 + 2);
    expect(h.calls.SpoolItem).toHaveLength(1);
    const sent = h.calls.SpoolItem[0] as { MessageBody: Record<string, unknown>; MessageAttributes: Record<string, { StringValue: string }> };
    expect(sent.MessageBody).toEqual({
      version: 1,
      kind: 'ExecutionFailed',
      job: 'orders',
      taskId: envelope('bad').taskId,
      input: envelope('bad'),
      error: 'ExternalApiUnavailableError',
      cause: JSON.stringify({ errorType: 'ExternalApiUnavailableError', errorMessage: 'maintenance', trace: [] }),
      // The resume point: the failed step and what it was given (Fetch's output).
      failedState: 'CallApi',
      stepInput: { fetched: 'bad' },
      executionArn: result.executionArn,
      stateMachineArn: parentArn(),
    });
    expect(sent.MessageAttributes.errorType.StringValue).toBe('ExternalApiUnavailableError');
    const byKey = Object.fromEntries(h.records.map((r) => [r.task_id, [r.result, r.failed_state]]));
    expect(byKey).toEqual({ [envelope('bad').taskId]: ['Failure', 'CallApi'], [envelope('good').taskId]: ['Success', null] });
    // The parent sees counts only: no params leave the child.
    expect(JSON.stringify(result.output)).not.toContain('a@example.com');
  });
});
