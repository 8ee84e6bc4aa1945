import { resolve } from 'node:path';
import { fixtureConfig } from './support/fixture-config';
import { resolveConfig } from '../lib/config/validate';
import { buildCostModel, DEFAULT_ARGS, formatReport } from '../scripts/cost-model';
import { dailyUsage } from '../scripts/cost/model';
import { DEFAULT_HIGH_VOLUME, EXPRESS_PRICES, expressPerTask, highVolumeJob, highVolumeTransitionsPerTask, jobModeCost, tasksPerParent } from '../scripts/cost/high-volume';
import { JobShape } from '../scripts/cost/shape';

const projectRoot = resolve(__dirname, '..');

/** A hand-made three-step job: every figure below is worked out from it. */
const JOB: JobShape = {
  job: 'short',
  producer: 'Producer',
  ticksPerDay: 288,
  scheduleState: 'ENABLED',
  success: { transitions: 6, lambda: new Map([['A', 1], ['B', 1], ['C', 1], ['Rec', 1]]), tasks: new Map(), entered: [], status: 'SUCCEEDED' },
  failure: { transitions: 11, lambda: new Map([['A', 1], ['B', 1], ['C', 3], ['Rec', 1]]), tasks: new Map([['arn:aws:states:::sqs:sendMessage', 1]]), entered: [], status: 'FAILED' },
  replay: { transitions: 5, lambda: new Map([['C', 1], ['Rec', 1]]), tasks: new Map(), entered: [], status: 'SUCCEEDED' },
  failState: 'C',
  failRetries: 2,
  firstStepFunction: 'A',
};

describe('high-volume mode, per task', () => {
  const hv = { ...DEFAULT_HIGH_VOLUME, itemsPerChild: 100, childConcurrency: 10, tasksPerParent: 2000, parentTransitions: 4, transitionsPerChild: 1, stateOverheadMs: 20 };

  it('bills the parent transitions shared by its tasks and one per child, not the steps', () => {
    expect(highVolumeTransitionsPerTask(hv)).toBeCloseTo(4 / 2000 + 1 / 100, 12);
    const j = highVolumeJob(JOB, 'Rec', hv);
    expect(j.success.transitions).toBeCloseTo(0.012, 12);
    expect(j.failure.transitions).toBeCloseTo(0.012, 12);
    // Replays run as standard executions: their path is kept.
    expect(j.replay).toBe(JOB.replay);
    // The steps still run once per task; the record function once per child, writing its 100 records.
    expect(Object.fromEntries(j.success.lambda)).toEqual({ A: 1, B: 1, C: 1, Rec: 0.01 });
    expect(j.batchedWorkerRecordsPerTask).toBeCloseTo(0.99, 12);
    // Failures are still spooled, one message each.
    expect(j.failure.tasks.get('arn:aws:states:::sqs:sendMessage')).toBe(1);
  });

  it('prices a child by its waves of items, rounded up to 100 ms, in 64 MB chunks', () => {
    // An item: 3 invocations x 200 ms + 6 states x 20 ms = 720 ms; 10 waves = 7,200 ms, + the record
    // invocation 200 ms + 2 x 20 ms = 7,440 ms -> 7,500 ms billed.
    const e = expressPerTask(JOB, 'Rec', { durationMs: 200, stepOutputBytes: 1024 }, { envelopeBytes: 700 }, hv);
    expect(e.billedMsPerChild).toBe(7500);
    expect(e.memoryMb).toBe(64);
    expect(e.requests).toBe(0.01);
    expect(e.gbSeconds).toBeCloseTo(0.01 * 7.5 * (64 / 1024), 12);
    // 100 items of 400 KB in and out are 78 MB: two chunks.
    expect(expressPerTask(JOB, 'Rec', { durationMs: 200, stepOutputBytes: 400 * 1024 - 700 }, { envelopeBytes: 700 }, hv).memoryMb).toBe(128);
  });
});

describe('npm run cost, both modes side by side (fixture config)', () => {
  const config = resolveConfig(fixtureConfig);
  const model = buildCostModel(config, DEFAULT_ARGS, projectRoot);
  const api = model.modes.find((m) => m.job === 'example-api')!;

  it('prices the three-step example at 1,000,000 tasks a day under $1,000 a month in high-volume, everything included', () => {
    const big = api.highVolume.months.at(-1)!;
    expect(big.tasksPerDay).toBe(1_000_000);
    expect(big.total).toBeLessThan(1000);
    expect(big.total).toBeCloseTo(big.components.reduce((s, c) => s + c.usd, 0), 6);
    // The Express row is there, and only in high-volume.
    expect(big.components.map((c) => c.component)).toContain('Step Functions Express (requests + GB-s)');
    expect(api.standard.months.at(-1)!.components.map((c) => c.component)).not.toContain('Step Functions Express (requests + GB-s)');
    // Standard transitions are what the high-volume mode removes: at least 30x fewer per task, even
    // at one wave of 10 per child (synth refuses example-api's worst case: priced as if it fit).
    expect(api.child).toMatchObject({ source: 'one-wave', itemsPerChild: 10 });
    expect(api.standard.transitionsPerTask / api.highVolume.transitionsPerTask).toBeGreaterThan(30);
  });

  it('keeps every record: the same client and worker records in both modes', () => {
    const job = model.shape.jobs.find((j) => j.job === 'example-api')!;
    const a = { ...model.assumptions, mix: new Map([['example-api', 1]]) };
    const std = dailyUsage({ ...model.shape, jobs: [job] }, model.sizes, a, 100_000);
    const hv = dailyUsage({ ...model.shape, jobs: [highVolumeJob(job, model.shape.recordFunction, DEFAULT_HIGH_VOLUME)] }, model.sizes, a, 100_000);
    expect(hv.firehoseRecords).toEqual(std.firehoseRecords);
    expect(hv.firehoseRecords.worker).toBeGreaterThanOrEqual(100_000);
    // Fewer record invocations: one per child.
    expect(hv.invocations.get(model.shape.recordFunction)!).toBeLessThan(std.invocations.get(model.shape.recordFunction)! / 10);
  });

  it('paces the starter per batch in high-volume, and replays per task in both', () => {
    const job = model.shape.jobs.find((j) => j.job === 'example-api')!;
    const hv = jobModeCost(model.shape, job, 'high-volume', model.sizes, model.assumptions, [1_000_000]);
    const std = jobModeCost(model.shape, job, 'standard', model.sizes, model.assumptions, [1_000_000]);
    const starter = model.shape.polledQueues[0].target;
    const extra = (c: typeof hv) => c.months[0].usage.extraSeconds.get(starter) ?? 0;
    expect(extra(std)).toBeCloseTo(1_000_000 / model.shape.startExecutionRefillPerSecond, 6);
    // One start per parent: a batch cut into parents of at most 255 KiB of envelopes.
    const perParent = tasksPerParent(model.assumptions.tasksPerTickMessage, model.sizes.envelopeBytes);
    expect(perParent).toBe(Math.min(model.assumptions.tasksPerTickMessage, Math.floor((256 * 1024 - 1024) / (model.sizes.envelopeBytes + 1))));
    const hvParents = jobModeCost(model.shape, job, 'high-volume', model.sizes, model.assumptions, [1_000_000], { ...DEFAULT_HIGH_VOLUME, tasksPerParent: perParent });
    expect(hvParents.months[0].usage.extraSeconds.get(starter)).toBeCloseTo(1_000_000 / perParent / model.shape.startExecutionRefillPerSecond, 6);
    expect(extra(hv)).toBeCloseTo(1_000_000 / DEFAULT_HIGH_VOLUME.tasksPerParent / model.shape.startExecutionRefillPerSecond, 6);
    expect(hv.months[0].usage.extraSeconds.get(model.shape.reprocessFunction)).toBeCloseTo(std.months[0].usage.extraSeconds.get(model.shape.reprocessFunction)!, 6);
  });

  it('says which jobs synth would refuse in high-volume, and prints both modes with their line items', () => {
    expect(api.refusals).toEqual(["worst case per task 346 s > 270 s (a child's 300 s less its records)"]);
    expect(model.modes.find((m) => m.job === 'example-fanout')!.refusals[0]).toMatch(/^exclusiveBy "account"/);
    const report = formatReport(model);
    expect(report).toContain('Per job and execution mode');
    expect(report).toMatch(/\| example-api +\| +high-volume \|/);
    expect(report).toContain(`$${EXPRESS_PRICES.expressRequest.usd} per 1M requests`);
    expect(report).toMatch(/example-api: line items, standard \| high-volume/);
  });
});
