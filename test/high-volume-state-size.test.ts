import { App, CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { resolve } from 'node:path';
import { fixtureConfig, HIGH_VOLUME_JOB, withHighVolumeJob } from './support/fixture-config';
import { AppConfig } from '../lib/config/types';
import { resolveConfig } from '../lib/config/validate';
import { ScheduledJobsStack } from '../lib/scheduled-jobs-stack';
import { BatchRecordEvent, recordBatch } from '../lambdas/batch-record/logic';
import { envelopeBytes, TaskEnvelope } from '../lambdas/shared/envelope';
import {
  HIGH_VOLUME_BATCH_MAX_BYTES,
  HIGH_VOLUME_MAX_ITEMS_PER_CHILD,
  jsonBytes,
  MAX_ENVELOPE_BYTES,
  MAX_ERROR_CAUSE_BYTES,
  STATE_PAYLOAD_MAX_BYTES,
} from '../lambdas/shared/limits';
import { AslDefinition, definitionOf, placeholderRef, PLACEHOLDER, stateMachineArn } from '../local/asl';
import { EngineEvent, runLocal } from '../local/run-state-machine';

/**
 * The high-volume child's largest state at its worst case, measured on the synthesized child in
 * aws-local-stepfunctions (which does not enforce the 256 KiB payload quota; AWS raises
 * States.DataLimitExceeded, which no Catch takes, and the whole child fails: AWS Step Functions
 * developer guide, "Step Functions service quotas", https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html).
 * Worst case: as many items as a child takes, filling the batch's bytes (ItemBatcher
 * MaxInputBytesPerBatch), every item failing with a 256-character error name and the longest cause
 * the step wrapper lets through, spooled (with a 100-character message id) or not (with a
 * 256-character spool error name).
 */

// A one-step job with a short timeout (as many items per child as its five minutes allow); the
// runs below take the budget's HIGH_VOLUME_MAX_ITEMS_PER_CHILD items, more than any job is given.
const config: AppConfig = (() => {
  const c = withHighVolumeJob(fixtureConfig);
  return { ...c, jobs: c.jobs.map((j) => (j.name === HIGH_VOLUME_JOB ? { ...j, steps: j.steps.slice(0, 1) } : j)) };
})();

let parent: AslDefinition;
let child: AslDefinition;
let arn: string;
beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  const stack = new ScheduledJobsStack(app, 'HvSizeTest', { config: resolveConfig(config, { allJobs: true }), projectRoot: resolve(__dirname, '..') });
  const hv = stack.highVolume.get(HIGH_VOLUME_JOB)!;
  const logicalId = stack.resolve((hv.stateMachine.node.defaultChild as CfnElement).logicalId);
  parent = definitionOf(Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }).toJSON() as never, logicalId, placeholderRef(PLACEHOLDER), PLACEHOLDER);
  const processor = (parent.States.Children as unknown as { ItemProcessor: AslDefinition }).ItemProcessor;
  child = { StartAt: processor.StartAt, States: processor.States };
  arn = stateMachineArn(logicalId);
});

const batcher = () => (parent.States.Children as unknown as { ItemBatcher: { MaxItemsPerBatch?: number; MaxInputBytesPerBatch?: number } }).ItemBatcher;
const stepName = () => config.jobs.find((j) => j.name === HIGH_VOLUME_JOB)!.steps[0].name;

/** `count` envelopes, each as large as possible, whose `{Items}` takes at most `batchBytes` bytes. */
function fullBatch(count: number, batchBytes: number): TaskEnvelope[] {
  const each = Math.floor((batchBytes - jsonBytes({ Items: [] }) - (count - 1)) / count);
  return Array.from({ length: count }, (_, i) => {
    const e: TaskEnvelope = { v: 1, taskId: `${HIGH_VOLUME_JOB}-20261125T0000Z-k-${i}`, job: HIGH_VOLUME_JOB, key: `k-${i}`, params: { pad: '' }, attempt: 1, scheduledTime: '2026-11-25T00:00:00.000Z' };
    return { ...e, params: { pad: 'x'.repeat(each - envelopeBytes(e)) } };
  });
}

/** The longest error name Step Functions keeps (256 characters). */
const longName = (prefix: string) => prefix + 'E'.repeat(256 - prefix.length);

async function largestState(items: TaskEnvelope[], spoolFails: boolean) {
  const m = { max: 0, where: '' };
  const note = (where: string, value: unknown) => {
    const n = jsonBytes(value);
    if (n > m.max) Object.assign(m, { max: n, where });
  };
  note('child input', { Items: items });
  const r = await runLocal({
    definition: child,
    input: { Items: items },
    stateMachineArn: arn,
    executionName: 'hv-size',
    lambdas: {
      [stepName()]: (p) => {
        note(`${stepName()} payload`, p);
        throw Object.assign(new Error('y'.repeat(MAX_ERROR_CAUSE_BYTES - 100)), { name: longName('StepFailed') });
      },
      RecordBatch: (p) => {
        note('RecordBatch payload', p);
        return recordBatch(p as BatchRecordEvent, { sink: { put: async () => undefined }, timeZone: 'Asia/Tokyo' });
      },
    },
    tasks: {
      SpoolItem: (p) => {
        note('SpoolItem parameters', p);
        if (spoolFails) throw Object.assign(new Error('z'.repeat(4000)), { name: longName('SQS.') });
        return { MessageId: 'm'.repeat(100) };
      },
    },
    onEvent: (ev: EngineEvent) => {
      if (ev.state?.input !== undefined) note(`${ev.state.name} input`, ev.state.input);
      if (ev.state?.output !== undefined) note(`${ev.state.name} output`, ev.state.output);
    },
  });
  return { ...m, status: r.status, error: r.error };
}

describe('the high-volume child at its worst case', () => {
  test('the synthesized ItemBatcher bounds a child to the items and bytes the budget counts, and one admitted envelope fits a batch', () => {
    // Chosen from the job's five minutes, never above the budget's count (the construct refuses more).
    expect(batcher().MaxItemsPerBatch).toBeLessThanOrEqual(HIGH_VOLUME_MAX_ITEMS_PER_CHILD);
    expect(batcher().MaxInputBytesPerBatch).toBe(HIGH_VOLUME_BATCH_MAX_BYTES);
    // The largest envelope the producer admits, alone in a batch.
    expect(MAX_ENVELOPE_BYTES + jsonBytes({ Items: [] })).toBeLessThanOrEqual(HIGH_VOLUME_BATCH_MAX_BYTES);
  });

  test.each([
    // Measured largest state: before the outcomes were slimmed 1,133,319 bytes (spooled) and
    // 1,575,910 (not spooled), at RecordBatch's output; after, 171,536 and 187,436 at its payload.
    ['every item failing and spooled', false, 'SUCCEEDED', undefined],
    ['every item failing and not spooled (the child fails with its report)', true, 'FAILED', 'ItemsNotSpooled'],
  ])('%s: every state, payload and parameter fits 256 KiB', async (_what, spoolFails, status, error) => {
    const items = fullBatch(HIGH_VOLUME_MAX_ITEMS_PER_CHILD, HIGH_VOLUME_BATCH_MAX_BYTES);
    expect(jsonBytes({ Items: items })).toBeLessThanOrEqual(HIGH_VOLUME_BATCH_MAX_BYTES);
    const m = await largestState(items, spoolFails);
    // eslint-disable-next-line no-console
    if (process.env.HV_SIZE_PRINT) console.log(`${_what}: largest ${m.max} bytes at ${m.where}`);
    expect({ status: m.status, error: m.error }).toEqual({ status, error });
    expect({ max: m.max, where: m.where, fits: m.max <= STATE_PAYLOAD_MAX_BYTES }).toEqual({ max: m.max, where: m.where, fits: true });
    // The worst case was exercised: the whole batch and the outcomes were in one state.
    expect(m.max).toBeGreaterThan(HIGH_VOLUME_BATCH_MAX_BYTES);
  });
});
