import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { resolve } from 'node:path';
import { fixtureConfig } from './support/fixture-config';
import { resolveConfig } from '../lib/config/validate';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';
import { envelopeBytes, TaskEnvelope } from '../lambdas/shared/envelope';
import { jsonBytes, MAX_ENVELOPE_BYTES, MAX_ERROR_CAUSE_BYTES, MAX_STEP_OUTPUT_BYTES, STATE_PAYLOAD_MAX_BYTES, stepOutputBudget } from '../lambdas/shared/limits';
import { aslFromTemplate, ResolvedStateMachine } from '../local/asl';
import { EngineEvent, LocalLambda, runLocal } from '../local/run-state-machine';

/**
 * Step Functions raises States.DataLimitExceeded, which no Catch takes, when a state's input or
 * output, or a Task's resolved Parameters, exceed 256 KiB (AWS Step Functions developer guide,
 * "Error handling"; quotas). aws-local-stepfunctions does not enforce the limit, so this test
 * measures it: the synthesized definitions run with the largest envelope the producer admits, the
 * largest outputs the step wrapper lets through, a resume point, and the largest error cause, on
 * the success, failure and spool-unavailable paths; every state input/output and every Task's
 * payload must fit.
 */
const config = resolveConfig(fixtureConfig, { allJobs: true });
const machines: Record<string, ResolvedStateMachine> = {};
beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, 'SizeTest', { config, projectRoot: resolve(__dirname, '..') });
  const template = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }).toJSON() as never;
  for (const job of ['example-api', 'example-fanout']) machines[job] = aslFromTemplate(template, { job });
});

/** A JSON value of exactly `bytes` bytes (as JSON). */
function blob(bytes: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const base = { ...extra, pad: '' };
  return { ...extra, pad: 'x'.repeat(bytes - jsonBytes(base)) };
}

/** The largest envelope the producer admits. */
function maxEnvelope(job: string, over: Partial<TaskEnvelope> = {}, envelopeLimit = MAX_ENVELOPE_BYTES): TaskEnvelope {
  const e: TaskEnvelope = { v: 1, taskId: `${job}-20261125T0000Z-k-1`, job, key: 'k-1', params: {}, attempt: 5, scheduledTime: '2026-11-25T00:00:00.000Z' };
  const params = blob(envelopeLimit - envelopeBytes({ ...e, params: { pad: '' } }) + jsonBytes({ pad: '' }), { account: 'acct-1', parts: 50, orderId: 'o-1' });
  const full = { ...e, params: params as TaskEnvelope['params'], ...over };
  return full;
}

/** The largest Lambda error Cause (errorType, errorMessage, trace) after the wrapper's truncation. */
const bigError = () => Object.assign(new Error('y'.repeat(MAX_ERROR_CAUSE_BYTES - 100)), { name: 'ExternalApiRejectedError' });

interface Measure {
  max: number;
  where: string;
}

async function measure(machine: ResolvedStateMachine, input: TaskEnvelope, lambdas: Record<string, LocalLambda>, spoolFails = false): Promise<Measure & { status: string; error?: string }> {
  const m: Measure = { max: 0, where: '' };
  const note = (where: string, value: unknown) => {
    const n = jsonBytes(value);
    if (n > m.max) Object.assign(m, { max: n, where });
  };
  const wrap = (name: string, fn: LocalLambda): LocalLambda => (payload, ctx) => {
    note(`${name} payload`, payload);
    return fn(payload, ctx);
  };
  const wrapped = Object.fromEntries(Object.entries(lambdas).map(([k, f]) => [k, wrap(k, f)]));
  const r = await runLocal({
    definition: machine.definition,
    input,
    stateMachineArn: machine.arn,
    lambdas: wrapped,
    tasks: {
      SpoolFailure: (p) => {
        note('SpoolFailure parameters', p);
        if (spoolFails) throw new Error('sqs down');
        return { MessageId: 'm-1' };
      },
    },
    onEvent: (ev: EngineEvent) => {
      if (ev.state?.input !== undefined) note(`${ev.state.name} input`, ev.state.input);
      if (ev.state?.output !== undefined) note(`${ev.state.name} output`, ev.state.output);
    },
  });
  return { ...m, status: r.status, error: r.error };
}

const records = { RecordSuccess: () => ({}), RecordFailure: () => ({}), RecordSpoolUnavailable: () => ({}) };

describe('example-api at the limits', () => {
  const out = () => blob(MAX_STEP_OUTPUT_BYTES, { orderId: 'o-1' });
  const lambdas = (failPublish: boolean): Record<string, LocalLambda> => ({
    Fetch: () => out(),
    CallApi: () => out(),
    Publish: () => {
      if (failPublish) throw bigError();
      return out();
    },
    ...records,
  });
  const resumed = () => maxEnvelope('example-api', { resume: { step: 'CallApi', input: out() as never } });

  test.each([
    ['success, every step returning its maximum', false, false],
    ['failure in the last step: spool message with input, resume point, step input and cause', true, false],
    ['failure with the spool unreachable (the SpoolUnavailable path)', true, true],
  ])('%s: every state and payload fits 256 KiB', async (_what, failPublish, spoolFails) => {
    const m = await measure(machines['example-api'], resumed(), lambdas(failPublish), spoolFails);
    expect(m.status).toBe(failPublish ? 'FAILED' : 'SUCCEEDED');
    if (spoolFails) expect(m.error).toBe('SpoolUnavailable');
    expect({ max: m.max, where: m.where, fits: m.max <= STATE_PAYLOAD_MAX_BYTES }).toEqual({ max: m.max, where: m.where, fits: true });
    // The worst case really was exercised: within 30% of the quota.
    expect(m.max).toBeGreaterThan(STATE_PAYLOAD_MAX_BYTES * 0.7);
  });

  test('the measurement catches an overflow: an envelope beyond the admitted size makes the spool message too large', async () => {
    const tooBig = maxEnvelope('example-api', { resume: { step: 'CallApi', input: out() as never } }, 140 * 1024);
    const m = await measure(machines['example-api'], tooBig, lambdas(true));
    expect(m.max).toBeGreaterThan(STATE_PAYLOAD_MAX_BYTES);
  });
});

describe('example-fanout at the limits', () => {
  const maxItems = 50;
  test('a full map and group, then a failing branch: every state and payload fits 256 KiB', async () => {
    const itemBudget = stepOutputBudget(maxItems);
    const groupBudget = stepOutputBudget(2);
    const lambdas: Record<string, LocalLambda> = {
      AcquireLock: () => ({}),
      ReleaseLock: () => ({}),
      ReleaseLockAfterFailure: () => ({}),
      // ListParts: 50 items within the top-level budget.
      ListParts: () => ({ parts: Array.from({ length: maxItems }, (_, i) => blob(Math.floor((MAX_STEP_OUTPUT_BYTES - 200) / maxItems), { part: i })) }),
      ProcessPart: () => blob(itemBudget),
      Aggregate: () => blob(groupBudget),
      Audit: () => {
        throw bigError();
      },
      ...records,
    };
    const m = await measure(machines['example-fanout'], maxEnvelope('example-fanout', { resume: { step: 'ProcessParts', input: { parts: [] } } }), lambdas);
    expect(m.status).toBe('FAILED');
    expect({ max: m.max, where: m.where, fits: m.max <= STATE_PAYLOAD_MAX_BYTES }).toEqual({ max: m.max, where: m.where, fits: true });
  });
});
