import { HIGH_VOLUME_ITEMS_SECONDS, highVolumeRefusals } from '../../lib/config/execution-mode';
import { ResolvedAppConfig } from '../../lib/config/types';
import { Assumptions } from './model';
import { AppShape, HighVolumeChild } from './shape';
import { RecordSizes } from './records';
import { DEFAULT_HIGH_VOLUME, EXPRESS_PRICES, expressPerTask, HighVolumeOptions, JobModeCost, jobModeCost, optionsFor } from './high-volume';

/** One job priced alone in both modes. */
export interface JobModes {
  readonly job: string;
  /** Why synth would refuse the high-volume mode for the job as configured (priced anyway, as if it fit). */
  readonly refusals: ReadonlyArray<string>;
  readonly standard: JobModeCost;
  readonly highVolume: JobModeCost;
  /** Express child's billed duration and memory (what its GB-seconds come from), and its items as the stack chooses them. */
  readonly child: { readonly billedMs: number; readonly memoryMb: number; readonly itemsPerChild: number; readonly childConcurrency: number; readonly source?: HighVolumeChild['source']; readonly perItemSeconds?: number };
}

/** How a job's items per child came about, for the report: the number and where the stack takes it from. */
export function describeChild(c: JobModes['child']): string {
  const why =
    c.source === 'synthesized'
      ? `the synthesized ItemBatcher MaxItemsPerBatch of its deployed workflow: ${Math.ceil(c.itemsPerChild / c.childConcurrency)} wave(s) of ${c.childConcurrency} at a worst case of ${round(c.perItemSeconds)} s a task fit ${HIGH_VOLUME_ITEMS_SECONDS} s`
      : c.source === 'chosen'
        ? `what the stack would choose (highVolumeChildShape): ${Math.ceil(c.itemsPerChild / c.childConcurrency)} wave(s) of ${c.childConcurrency} at a worst case of ${round(c.perItemSeconds)} s a task fit ${HIGH_VOLUME_ITEMS_SECONDS} s`
        : c.source === 'one-wave'
          ? `synth refuses it: not one item fits five minutes; priced as if it fit, at one wave of ${c.childConcurrency}, the fewest the stack chooses`
          : 'given';
  return `${c.itemsPerChild} tasks per child (${why})`;
}

const round = (n: number | undefined) => (n === undefined ? NaN : Math.round(n * 10) / 10);

/** Prices every job alone in `standard` and `high-volume` at each volume. */
export function jobModes(config: ResolvedAppConfig, shape: AppShape, sizes: RecordSizes, a: Assumptions, volumes: ReadonlyArray<number>, hv: HighVolumeOptions = DEFAULT_HIGH_VOLUME): JobModes[] {
  return shape.jobs.map((j) => {
    const resolved = config.jobs.find((r) => r.name === j.job);
    const o = optionsFor(j, hv);
    const express = expressPerTask(j, shape.recordFunction, a, sizes, o);
    return {
      job: j.job,
      refusals: resolved ? highVolumeRefusals(resolved) : [],
      standard: jobModeCost(shape, j, 'standard', sizes, a, volumes, hv),
      highVolume: jobModeCost(shape, j, 'high-volume', sizes, a, volumes, hv),
      child: { billedMs: express.billedMsPerChild, memoryMb: express.memoryMb, itemsPerChild: o.itemsPerChild, childConcurrency: o.childConcurrency, source: j.child?.source, perItemSeconds: j.child?.perItemSeconds },
    };
  });
}

type Fmt = { usd: (n: number) => string; int: (n: number) => string; dec: (n: number, d?: number) => string; table: (h: string[], rows: string[][]) => string };

/** The side-by-side section of the report: per job, both modes, line items at every volume. */
export function formatModes(modes: ReadonlyArray<JobModes>, hv: HighVolumeOptions, f: Fmt): string[] {
  const out: string[] = [];
  out.push('Per job and execution mode (each job alone carrying all the tasks; docs/big-ticks.md, "High-volume mode"):');
  out.push(
    `  high-volume: a Standard parent per ${f.int(hv.tasksPerParent)} tasks (one StartExecution by the batch starter), a Distributed Map of Express children ` +
      `(ItemBatcher, tasks per child as the stack chooses them for the job, below), their items ${hv.childConcurrency} at once inside a child; ${hv.parentTransitions} parent transitions + ${hv.transitionsPerChild} per child (an upper bound); ` +
      `the post-map step (map-failures) once per parent; replays run standard; record MACs: one per tick message's client records and one per child's worker records (512 records at most under one MAC).`,
  );
  out.push(`  tasks per child: ${modes.map((m) => `${m.job} ${describeChild(m.child)}`).join('; ')}.`);
  out.push(`  Express: $${EXPRESS_PRICES.expressRequest.usd} per 1M requests, $${EXPRESS_PRICES.expressGbSecond.usd} per GB-s (64 MB chunks, 100 ms increments) (${EXPRESS_PRICES.expressRequest.source}; verify)`);
  const rows = modes.flatMap((m) =>
    [m.standard, m.highVolume].map((c) => [
      m.job,
      c.mode,
      f.dec(c.transitionsPerTask, 3),
      c.expressRequestsPerTask ? f.dec(c.expressRequestsPerTask, 3) : '-',
      ...c.months.map((x) => f.usd(x.total)),
      c.mode === 'high-volume' ? `${f.dec(m.standard.months.at(-1)!.total / c.months.at(-1)!.total, 1)}x` : '',
    ]),
  );
  const vols = modes[0]?.standard.months.map((x) => `${f.int(x.tasksPerDay)}/day`) ?? [];
  out.push(f.table(['job', 'mode', 'Std transitions/task', 'Express req./task', ...vols, 'cheaper at the largest'], rows));
  for (const m of modes) {
    out.push('');
    const refused = m.refusals.length ? ` -- synth refuses high-volume for it as configured: ${m.refusals.join('; ')}; priced as if it fit` : '';
    out.push(`  ${m.job}: line items, standard | high-volume (Express child of ${m.child.itemsPerChild} tasks, ${m.child.billedMs} ms billed at ${m.child.memoryMb} MB)${refused}`);
    const header = ['component', ...m.standard.months.flatMap((x) => [`std ${f.int(x.tasksPerDay)}`, `h-v ${f.int(x.tasksPerDay)}`])];
    const names = m.highVolume.months[0].components.map((c) => c.component);
    const find = (c: JobModeCost, i: number, name: string) => c.months[i].components.find((x) => x.component === name)?.usd ?? 0;
    const lines = names.map((name) => [name, ...m.standard.months.flatMap((_, i) => [f.usd(find(m.standard, i, name)), f.usd(find(m.highVolume, i, name))])]);
    lines.push(['TOTAL per month', ...m.standard.months.flatMap((x, i) => [f.usd(x.total), f.usd(m.highVolume.months[i].total)])]);
    out.push(f.table(header, lines));
  }
  return out;
}
