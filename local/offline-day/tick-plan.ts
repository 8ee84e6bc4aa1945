import { parseSchedule, scheduleTicks } from '../../lib/config/schedule';
import type { ResolvedAppConfig } from '../../lib/config/types';
import { functionEnvironment, RefResolver, schedules, SynthesizedApp } from './app-model';

/**
 * EventBridge Scheduler's side of the run: the template's enabled schedules, the producer function
 * each targets (by the job its environment names), and every tick of the period with the target
 * input as Scheduler sends it (`<aws.scheduler.scheduled-time>` filled in), in time order.
 */
export interface TickPlan {
  /** Producer function id by job. */
  readonly producerOf: Map<string, string>;
  /** Job by producer function id. */
  readonly jobOfFunction: Map<string, string>;
  readonly ticks: Array<{ at: Date; fn: string; input: string; job: string }>;
  readonly ticksByJob: Record<string, number>;
}

/** The ticks of [from, to) (or one tick of each job at `from` when `singleTick`). */
export function planTicks(model: SynthesizedApp, ref: RefResolver, config: ResolvedAppConfig, from: Date, to: Date, singleTick: boolean): TickPlan {
  const producerSchedules = schedules(model).filter((s) => s.state === 'ENABLED');
  const producerOf = new Map<string, string>();
  const jobOfFunction = new Map<string, string>();
  for (const s of producerSchedules) {
    const jobName = functionEnvironment(model, s.targetFunction, ref).JOB_NAME;
    if (jobName) {
      producerOf.set(jobName, s.targetFunction);
      jobOfFunction.set(s.targetFunction, jobName);
    }
  }
  const ticks: TickPlan['ticks'] = [];
  for (const s of producerSchedules) {
    const jobName = jobOfFunction.get(s.targetFunction);
    const job = config.jobs.find((j) => j.name === jobName);
    if (!job) continue;
    for (const at of singleTick ? [from] : scheduleTicks(parseSchedule(s.expression), s.timeZone, from, to)) {
      const iso = at.toISOString().replace(/\.000Z$/, 'Z');
      ticks.push({ at, fn: s.targetFunction, input: (s.input ?? '{}').replaceAll('<aws.scheduler.scheduled-time>', iso), job: job.name });
    }
  }
  ticks.sort((a, b) => a.at.getTime() - b.at.getTime());
  const ticksByJob: Record<string, number> = {};
  for (const t of ticks) ticksByJob[t.job] = (ticksByJob[t.job] ?? 0) + 1;
  return { producerOf, jobOfFunction, ticks, ticksByJob };
}
