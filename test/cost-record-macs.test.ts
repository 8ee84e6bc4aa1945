import { resolve } from 'node:path';
import { fixtureConfig } from './support/fixture-config';
import { resolveConfig } from '../lib/config/validate';
import { buildCostModel, DEFAULT_ARGS, formatReport } from '../scripts/cost-model';
import { dailyUsage, recordMacRequests, standardClientRecordsPerPut, STARTER_CHECKPOINT_TASKS, tasksPerMessage } from '../scripts/cost/model';
import { DEFAULT_HIGH_VOLUME, highVolumeJob, jobModeCost } from '../scripts/cost/high-volume';
import { MAX_MAC_BATCH, MAX_V2_MAC_CHARS, parseMacV2 } from '../lambdas/shared/record-mac';
import { recordSizes, sampleRecordMac } from '../scripts/cost/records';

/** Record MACs version 2 in the cost model: KMS requests per sink put (batch), not per record. */
const projectRoot = resolve(__dirname, '..');

describe('record MAC requests', () => {
  test('one GenerateMac per put of up to 512 records', () => {
    expect(MAX_MAC_BATCH).toBe(512);
    expect(recordMacRequests(1000, 1)).toBe(1000);
    expect(recordMacRequests(1000, 100)).toBe(10);
    expect(recordMacRequests(1024, 512)).toBe(2);
    // A put of 600 records is two MACs.
    expect(recordMacRequests(1200, 600)).toBe(4);
    expect(recordMacRequests(0, 100)).toBe(0);
    expect(recordMacRequests(10, 0)).toBe(10);
  });

  test('record sizes include the longest version 2 mac (439 characters of incompressible hash bytes)', () => {
    expect(sampleRecordMac(0)).toHaveLength(MAX_V2_MAC_CHARS);
    expect(parseMacV2(sampleRecordMac(0))).toMatchObject({ count: MAX_MAC_BATCH, index: MAX_MAC_BATCH - 1 });
    expect(sampleRecordMac(1)).not.toBe(sampleRecordMac(0));
    const sizes = recordSizes(200);
    expect(sizes.workerRecordBytes).toBeGreaterThan(MAX_V2_MAC_CHARS + 200);
  });

  test('the standard starter puts a checkpoint: 400 records, or one second of starts', () => {
    expect(STARTER_CHECKPOINT_TASKS).toBe(400);
    expect(standardClientRecordsPerPut({ startExecutionRefillPerSecond: 150 })).toBe(150);
    expect(standardClientRecordsPerPut({ startExecutionRefillPerSecond: 1300 })).toBe(400);
  });
});

describe('npm run cost with batched record MACs (fixture config)', () => {
  const config = resolveConfig(fixtureConfig);
  const model = buildCostModel(config, DEFAULT_ARGS, projectRoot);
  const job = model.shape.jobs.find((j) => j.job === 'example-api')!;
  const a = { ...model.assumptions, mix: new Map([['example-api', 1]]) };
  const N = 1_000_000;

  test('standard: client records per checkpoint, worker records one each (record-outcome writes one per invocation)', () => {
    const u = dailyUsage({ ...model.shape, jobs: [job] }, model.sizes, a, N);
    const perPut = standardClientRecordsPerPut(model.shape);
    const perTick = N / job.ticksPerDay;
    expect(perTick).toBeGreaterThan(perPut);
    expect(u.recordMacs).toBeCloseTo(N / perPut + u.firehoseRecords.worker, 6);
  });

  test('high-volume: one MAC per tick message of client records and one per child of worker records', () => {
    const hvJob = highVolumeJob(job, model.shape.recordFunction, DEFAULT_HIGH_VOLUME);
    const perMessage = tasksPerMessage(a.tasksPerTickMessage, model.sizes.envelopeBytes);
    const u = dailyUsage({ ...model.shape, jobs: [hvJob] }, model.sizes, { ...a, clientRecordsPerPut: perMessage }, N);
    const children = u.invocations.get(model.shape.recordFunction)!;
    const workerPerPut = u.firehoseRecords.worker / children;
    expect(workerPerPut).toBeGreaterThan(50); // a child's 100 items, and the replays' single records
    expect(u.recordMacs).toBeCloseTo(recordMacRequests(N, Math.min(perMessage, N / job.ticksPerDay)) + children * Math.ceil(workerPerPut / MAX_MAC_BATCH), 6);
    // About 1% of the records (mostly the replays' single records): it was one request per record.
    expect(u.recordMacs).toBeLessThan((u.firehoseRecords.client + u.firehoseRecords.worker) / 50);
  });

  test('the issue\'s goal: the three-step job in high-volume at 1,000,000 a day is <= $1,000 a month and >= 10x cheaper than standard', () => {
    const hv = jobModeCost(model.shape, job, 'high-volume', model.sizes, model.assumptions, [N]).months[0];
    const std = jobModeCost(model.shape, job, 'standard', model.sizes, model.assumptions, [N]).months[0];
    expect(hv.total).toBeLessThanOrEqual(1000);
    expect(std.total / hv.total).toBeGreaterThanOrEqual(10);
    const kms = (m: typeof hv) => m.components.find((c) => c.component.startsWith('KMS'))!.usd;
    // KMS is no longer most of the high-volume month.
    expect(kms(hv) / hv.total).toBeLessThan(0.1);
    expect(kms(std)).toBeGreaterThan(kms(hv));
    expect(formatReport(model)).toMatch(/record MACs: a GenerateMac per sink put of up to 512 records/);
  });
});
