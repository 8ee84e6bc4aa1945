import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { resolve } from 'node:path';
import { AppConfig } from '../lib/config/types';
import { resolveConfig } from '../lib/config/validate';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { ParamLogRecord } from '../lambdas/shared/param-log';
import { recordOutcome, RecordOutcomeEvent } from '../lambdas/record-outcome/logic';
import { ExternalApiRejectedError, ExternalApiUnavailableError } from '../lambdas/jobs/example-api/errors';
import { aslFromTemplate, ResolvedStateMachine } from '../local/asl';
import { runLocal } from '../local/run-state-machine';

// A test-only config: CallApi has a 1 s state timeout so the timeout path waits about a second.
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
      steps: [
        { name: 'Fetch', entry: 'lambdas/jobs/example-api/fetch.ts', timeoutSeconds: 5, retry: { maxAttempts: 1, intervalSeconds: 1, retryableErrors: ['TransientError'] } },
        {
          name: 'CallApi',
          entry: 'lambdas/jobs/example-api/call-api.ts',
          timeoutSeconds: 1,
          retry: { maxAttempts: 3, intervalSeconds: 2, backoffRate: 2, maxDelaySeconds: 10, retryableErrors: ['ExternalApiUnavailableError'] },
        },
        { name: 'Publish', entry: 'lambdas/jobs/example-api/publish.ts', timeoutSeconds: 5, retry: { maxAttempts: 0, intervalSeconds: 1, retryableErrors: [] } },
      ],
    },
  ],
};

const envelope: TaskEnvelope = {
  v: 1,
  taskId: 'orders-20260101T0000Z-ord-1',
  job: 'orders',
  key: 'ord-1',
  params: { orderId: 'ord-1', customer: { name: 'A', email: 'a@example.com' }, amount: 10, nested: { deep: { deeper: [1, 2, { x: 'y' }] } } },
  attempt: 1,
  scheduledTime: '2026-01-01T00:00:00.000Z',
};

let machine: ResolvedStateMachine;
beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, 'RunTest', { config: resolveConfig(testConfig), projectRoot: resolve(__dirname, '..') });
  machine = aslFromTemplate(Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }).toJSON() as never, { job: 'orders' });
});

/** Local stand-ins that record what each state received; CallApi's behaviour is per test. */
function harness(callApi: (n: number) => unknown, opts: { spoolFails?: boolean; recordFails?: boolean } = {}) {
  const calls: Record<string, unknown[]> = { Fetch: [], CallApi: [], Publish: [], RecordSuccess: [], RecordFailure: [], RecordSpoolUnavailable: [], SpoolFailure: [] };
  const records: ParamLogRecord[] = [];
  const record = (state: string) => async (payload: unknown) => {
    calls[state].push(payload);
    if (opts.recordFails) throw new Error('firehose down');
    return recordOutcome(payload as RecordOutcomeEvent, { sink: { put: async (r) => void records.push(...r) }, timeZone: 'Asia/Tokyo' });
  };
  return {
    calls,
    records,
    lambdas: {
      Fetch: (p: unknown) => (calls.Fetch.push(p), { fetched: true }),
      CallApi: (p: unknown) => (calls.CallApi.push(p), callApi(calls.CallApi.length)),
      Publish: (p: unknown) => (calls.Publish.push(p), { published: true }),
      RecordSuccess: record('RecordSuccess'),
      RecordFailure: record('RecordFailure'),
      RecordSpoolUnavailable: record('RecordSpoolUnavailable'),
    },
    tasks: {
      SpoolFailure: (p: unknown) => {
        calls.SpoolFailure.push(p);
        if (opts.spoolFails) throw new Error('sqs down');
        return { MessageId: 'm-1' };
      },
    },
  };
}

function run(h: ReturnType<typeof harness>) {
  // State timeouts capped at 1 s (time compression: the engine really waits them).
  return runLocal({ definition: machine.definition, stepTimeoutSeconds: 1, input: envelope, lambdas: h.lambdas, tasks: h.tasks, stateMachineArn: machine.arn, executionName: 'exec-1' });
}

test('a step that fails twice with a retryable error is retried and the task succeeds with a Success worker record', async () => {
  const h = harness((n) => {
    if (n <= 2) throw new ExternalApiUnavailableError('503');
    return { orderId: 'ord-1', confirmation: 'c-1' };
  });
  const result = await run(h);
  expect(result.status).toBe('SUCCEEDED');
  expect(h.calls.CallApi).toHaveLength(3);
  // The step contract: the envelope unchanged, and the previous step's output.
  expect(h.calls.CallApi[0]).toEqual({ task: envelope, previous: { fetched: true } });
  expect(h.calls.Publish[0]).toEqual({ task: envelope, previous: { orderId: 'ord-1', confirmation: 'c-1' } });
  expect((h.calls.Fetch[0] as { previous?: unknown }).previous ?? null).toBeNull();
  expect(h.calls.SpoolFailure).toHaveLength(0);
  expect(h.records).toHaveLength(1);
  expect(h.records[0]).toMatchObject({ type: 'worker', result: 'Success', task_id: envelope.taskId, error: null, execution_arn: result.executionArn });
  expect(JSON.parse(h.records[0].params)).toEqual(envelope.params);
});

test('a step that always fails runs 1 + MaxAttempts times, spools the original input and the error, and the execution fails', async () => {
  const h = harness(() => {
    throw new ExternalApiUnavailableError('maintenance');
  });
  const result = await run(h);
  expect(result.status).toBe('FAILED');
  expect(result.error).toBe('ExternalApiUnavailableError');
  expect(h.calls.CallApi).toHaveLength(1 + 3);
  expect(h.calls.Publish).toHaveLength(0);
  expect(h.calls.SpoolFailure).toHaveLength(1);
  const sent = h.calls.SpoolFailure[0] as { QueueUrl: string; MessageBody: Record<string, unknown>; MessageAttributes: Record<string, { StringValue: string }> };
  expect(sent.MessageBody).toEqual({
    version: 1,
    kind: 'ExecutionFailed',
    job: 'orders',
    taskId: envelope.taskId,
    input: envelope,
    error: 'ExternalApiUnavailableError',
    // As in AWS, a Lambda error's Cause is the JSON the Lambda service reports.
    cause: JSON.stringify({ errorType: 'ExternalApiUnavailableError', errorMessage: 'maintenance', trace: [] }),
    failedState: 'CallApi',
    // What CallApi was given (Fetch's output), so a replay can resume at CallApi.
    stepInput: { fetched: true },
    executionArn: result.executionArn,
    stateMachineArn: machine.arn,
  });
  // The Fail state after a successful spool carries the marker the status-change capture reads.
  expect(result.cause).toBe(`[spooled m-1] ${JSON.stringify({ errorType: 'ExternalApiUnavailableError', errorMessage: 'maintenance', trace: [] })}`);
  expect(sent.MessageAttributes.job.StringValue).toBe('orders');
  expect(sent.MessageAttributes.errorType.StringValue).toBe('ExternalApiUnavailableError');
  expect(sent.MessageAttributes.kind.StringValue).toBe('ExecutionFailed');
  expect(h.records.map((r) => [r.result, r.error, r.failed_state])).toEqual([['Failure', 'ExternalApiUnavailableError', 'CallApi']]);
});

test('a non-retryable error is not retried: one invocation, spooled, Failure record', async () => {
  const h = harness(() => {
    throw new ExternalApiRejectedError('400');
  });
  const result = await run(h);
  expect(result.status).toBe('FAILED');
  expect(result.error).toBe('ExternalApiRejectedError');
  expect(h.calls.CallApi).toHaveLength(1);
  expect(h.calls.SpoolFailure).toHaveLength(1);
  expect(h.records[0].result).toBe('Failure');
});

test('a step past its timeout is not retried and the worker record says TimedOut', async () => {
  const h = harness(() => new Promise((r) => setTimeout(() => r({ late: true }), 1500)));
  const result = await run(h);
  expect(result.status).toBe('FAILED');
  expect(result.error).toBe('States.Timeout');
  expect(h.calls.CallApi).toHaveLength(1);
  expect((h.calls.SpoolFailure[0] as { MessageBody: { error: string } }).MessageBody.error).toBe('States.Timeout');
  expect(h.records.map((r) => [r.result, r.failed_state])).toEqual([['TimedOut', 'CallApi']]);
});

test('a failing worker record does not change the outcome of a successful task', async () => {
  const h = harness(() => ({ orderId: 'ord-1', confirmation: 'c' }), { recordFails: true });
  const result = await run(h);
  expect(result.status).toBe('SUCCEEDED');
  expect(h.calls.RecordSuccess.length).toBeGreaterThan(1); // retried before giving up
});

test('when the spool stays down the execution ends SpoolUnavailable (no marker), with the failure in its cause and the spool error in its record', async () => {
  const h = harness(() => {
    throw new ExternalApiRejectedError('400');
  }, { spoolFails: true });
  const result = await run(h);
  expect(result.status).toBe('FAILED');
  expect(result.error).toBe('SpoolUnavailable');
  expect(result.cause?.startsWith('[spooled')).toBe(false);
  expect(result.cause).toBe('ExternalApiRejectedError in CallApi could not be spooled (Error: sqs down); the status-change capture spools it');
  expect(h.calls.SpoolFailure).toHaveLength(1 + 10);
  expect(h.calls.RecordFailure).toHaveLength(0);
  expect(h.records.map((r) => [r.result, r.error])).toEqual([['Failure', 'ExternalApiRejectedError']]);
  expect(h.records[0].cause).toContain('not spooled: Error: sqs down');
});
