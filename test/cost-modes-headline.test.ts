import { resolve } from 'node:path';
import { fixtureConfig, HIGH_VOLUME_JOB, withHighVolumeJob } from './support/fixture-config';
import { synthApp } from './support/synth-app';
import { AppConfig } from '../lib/config/types';
import { resolveConfig } from '../lib/config/validate';
import { highVolumeChildShape } from '../lib/config/execution-mode';
import { HIGH_VOLUME_DEFAULTS } from '../lib/high-volume-workflow';
import { buildCostModel, CostModel, DEFAULT_ARGS, formatReport } from '../scripts/cost-model';
import { EXPRESS_COMPONENT, MonthlyCost } from '../scripts/cost/model';

/**
 * The headline of `npm run cost` is the bill of the config as deployed: a job configured
 * `high-volume` is priced in that mode (parent, Express children, post-map step, batch starter),
 * at the items per child the stack synthesizes for it, and the per-mode table agrees with it.
 */
const projectRoot = resolve(__dirname, '..');

const asStandard = (c: AppConfig): AppConfig => ({ ...c, jobs: c.jobs.map((j) => (j.name === HIGH_VOLUME_JOB ? { ...j, executionMode: 'standard' as const } : j)) });
const hvConfig = withHighVolumeJob(fixtureConfig);
const hvModel = buildCostModel(resolveConfig(hvConfig, { allJobs: true }), DEFAULT_ARGS, projectRoot);
const stdModel = buildCostModel(resolveConfig(asStandard(hvConfig), { allJobs: true }), DEFAULT_ARGS, projectRoot);

const row = (m: MonthlyCost, name: string) => m.components.find((c) => c.component === name)?.usd;
const SFN = 'Step Functions (state transitions)';
const modesOf = (model: CostModel) => model.modes.find((m) => m.job === HIGH_VOLUME_JOB)!;

describe('the headline prices each job in its configured mode', () => {
  const w = hvModel.assumptions.mix.get(HIGH_VOLUME_JOB)!;

  it('the same jobs and shares in both configs, only the mode differs', () => {
    expect(hvModel.priced.jobs.map((j) => [j.job, j.mode])).toEqual([
      ['example-api', 'standard'],
      ['example-fanout', 'standard'],
      [HIGH_VOLUME_JOB, 'high-volume'],
    ]);
    expect(stdModel.priced.jobs.find((j) => j.job === HIGH_VOLUME_JOB)!.mode).toBe('standard');
    expect([...stdModel.assumptions.mix]).toEqual([...hvModel.assumptions.mix]);
    expect(w).toBeCloseTo(1 / 3, 12);
  });

  it('its Step Functions line is lower by the job\'s share of what the per-mode table says the mode saves', () => {
    const modes = modesOf(hvModel);
    hvModel.months.forEach((m, i) => {
      const saved = row(modes.standard.months[i], SFN)! - row(modes.highVolume.months[i], SFN)!;
      expect(saved).toBeGreaterThan(0);
      expect(row(stdModel.months[i], SFN)! - row(m, SFN)!).toBeCloseTo(w * saved, 6);
    });
  });

  it('has the Express children\'s row, the job\'s share of the per-mode table\'s, only when a job runs them', () => {
    const modes = modesOf(hvModel);
    hvModel.months.forEach((m, i) => expect(row(m, EXPRESS_COMPONENT)!).toBeCloseTo(w * row(modes.highVolume.months[i], EXPRESS_COMPONENT)!, 9));
    expect(row(hvModel.months[0], EXPRESS_COMPONENT)!).toBeGreaterThan(0);
    expect(row(stdModel.months[0], EXPRESS_COMPONENT)).toBeUndefined();
  });

  it('starts the job\'s parents from the high-volume starters\' queue, and runs its post-map step once per parent', () => {
    const u = hvModel.months.at(-1)!.usage;
    const tasks = hvModel.months.at(-1)!.tasksPerDay * w;
    const hvQueue = hvModel.priced.tickQueues.highVolume!;
    const batchStarter = hvModel.shape.polledQueues.find((q) => q.queue === hvQueue)!.target;
    // The batch starter paces one start per parent, not per task.
    expect(u.extraSeconds.get(batchStarter)).toBeCloseTo(tasks / hvModel.highVolume.tasksPerParent / hvModel.shape.startExecutionRefillPerSecond, 6);
    const fns = hvModel.priced.jobs.find((j) => j.job === HIGH_VOLUME_JOB)!.highVolumeFunctions!;
    expect(u.invocations.get(fns.mapFailures)).toBeCloseTo(tasks / hvModel.highVolume.tasksPerParent, 6);
    // Worker records are still one per task (the child writes its items' in one put).
    expect(u.firehoseRecords.worker).toBeCloseTo(stdModel.months.at(-1)!.usage.firehoseRecords.worker, 6);
    expect(u.invocations.get(fns.batchRecord)).toBeGreaterThan(0);
  });

  it('shows the mode in the per-task table and the headline\'s total is the sum of its rows', () => {
    const report = formatReport(hvModel);
    expect(report).toMatch(new RegExp(`\\| ${HIGH_VOLUME_JOB} +\\| +high-volume, \\d+/child \\|`));
    expect(report).toMatch(/\| example-api +\| +standard \|/);
    for (const m of hvModel.months) expect(m.total).toBeCloseTo(m.components.reduce((s, c) => s + c.usd, 0), 9);
  });
});

describe('items per child are the stack\'s', () => {
  /** MaxItemsPerBatch of the job's synthesized Distributed Map (its parent's definition). */
  function synthesizedItemsPerChild(): number {
    const { template } = synthApp(withHighVolumeJob);
    const parents = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::StepFunctions::StateMachine')
      .map((r) => {
        const def = r.Properties?.DefinitionString;
        const parts: unknown[] = typeof def === 'string' ? [def] : (def?.['Fn::Join']?.[1] ?? []);
        return parts.map((p) => (typeof p === 'string' ? p : '')).join('');
      })
      .filter((d) => d.includes('"ItemBatcher"') && d.includes(`${HIGH_VOLUME_JOB} (high-volume)`));
    expect(parents).toHaveLength(1);
    const m = /"ItemBatcher":\{[^}]*"MaxItemsPerBatch":(\d+)/.exec(parents[0]);
    expect(m).not.toBeNull();
    return Number(m![1]);
  }

  it('prices the high-volume job at its synthesized ItemBatcher MaxItemsPerBatch, and says the number', () => {
    const n = synthesizedItemsPerChild();
    // The fixture job's worst case (63 s) lowers it below the construct's 100.
    expect(n).toBeLessThan(HIGH_VOLUME_DEFAULTS.itemsPerChild);
    const modes = modesOf(hvModel);
    expect(modes.child).toMatchObject({ itemsPerChild: n, source: 'synthesized' });
    expect(modes.highVolume.expressRequestsPerTask).toBeCloseTo(1 / n, 12);
    expect(hvModel.priced.jobs.find((j) => j.job === HIGH_VOLUME_JOB)!.express!.requests).toBeCloseTo(1 / n, 12);
    const report = formatReport(hvModel);
    expect(report).toContain(`${HIGH_VOLUME_JOB} ${n} tasks per child (the synthesized ItemBatcher MaxItemsPerBatch`);
    expect(report).toContain(`Express child of ${n} tasks`);
  });

  it('a job not deployed in the mode is priced at what the stack would choose (the shared function)', () => {
    const job = resolveConfig(asStandard(hvConfig), { allJobs: true }).jobs.find((j) => j.name === HIGH_VOLUME_JOB)!;
    const chosen = highVolumeChildShape(job.steps, HIGH_VOLUME_DEFAULTS).itemsPerChild;
    const modes = modesOf(stdModel);
    expect(modes.child).toMatchObject({ itemsPerChild: chosen, source: 'chosen' });
    expect(modes.highVolume.expressRequestsPerTask).toBeCloseTo(1 / chosen, 12);
    // The same number the deployed stack synthesizes, so the what-if's transitions and Express
    // children equal the deployed ones (the fixed rows differ: the deployed template has more alarms and queues).
    for (const name of [SFN, EXPRESS_COMPONENT]) {
      expect(modes.highVolume.months.map((m) => row(m, name))).toEqual(modesOf(hvModel).highVolume.months.map((m) => expect.closeTo(row(m, name)!, 9)));
    }
  });
});
