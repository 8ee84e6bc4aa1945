import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { schedules, SynthesizedApp } from './app-model';

/**
 * Where the offline day runs the reconciler (issue 17 item 4): a function that lists ended
 * executions and captures those no status-change event brought. Status-change events are best
 * effort, so without it a dropped event leaves an execution that ended outside the Catch unspooled.
 *
 * The run looks for the reconciler in the synthesized app: a Lambda function whose handler entry is
 * {@link RECONCILER_ENTRY} (registered in `model.entries`), or, when the handler module exists, the
 * template's function whose logical id names a reconciler. Its schedule (an
 * `AWS::Scheduler::Schedule` targeting it) sets the period; without one, every
 * {@link DEFAULT_RECONCILE_MINUTES}. When the app has no reconciler, the run has none: the report
 * says `reconciler: absent`, and the events the world drops stay unseen (that is the point of the
 * `hidden` count).
 */
export const RECONCILER_ENTRY = 'lambdas/reconciler/handler.ts';
export const DEFAULT_RECONCILE_MINUTES = 15;

/** The reconciler of the app, if it has one. */
export interface ReconcilerModel {
  readonly functionId: string;
  readonly everyMinutes: number;
  /** The event its schedule sends (the Scheduler target's input), or `{}`. */
  readonly input: string;
}

/** Finds the reconciler function of the synthesized app (see the module comment), registering its entry. */
export function findReconciler(model: SynthesizedApp, projectRoot: string): ReconcilerModel | null {
  let functionId = [...model.entries].find(([, e]) => e === RECONCILER_ENTRY)?.[0];
  if (!functionId && existsSync(join(projectRoot, RECONCILER_ENTRY))) {
    functionId = Object.entries(model.template.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && /reconcil/i.test(id))?.[0];
    if (functionId) (model.entries as Map<string, string>).set(functionId, RECONCILER_ENTRY);
  }
  if (!functionId) return null;
  const schedule = schedules(model).find((s) => s.targetFunction === functionId);
  let everyMinutes = DEFAULT_RECONCILE_MINUTES;
  if (schedule) {
    const m = /^rate\((\d+) (minute|minutes|hour|hours)\)$/.exec(schedule.expression);
    // A cron schedule is refused rather than misread.
    if (m) everyMinutes = Number(m[1]) * (m[2].startsWith('hour') ? 60 : 1);
    else throw new Error(`the reconciler's schedule ${schedule.expression} is not a rate(): the offline day runs it only at a fixed rate (local/offline-day/reconciler-hook.ts)`);
  }
  return { functionId, everyMinutes, input: schedule?.input ?? '{}' };
}

/** The instants in [from, to) at which the reconciler runs, every `everyMinutes`. */
export function reconcileTimes(from: Date, to: Date, everyMinutes: number): Date[] {
  const out: Date[] = [];
  for (let t = from.getTime() + everyMinutes * 60_000; t < to.getTime(); t += everyMinutes * 60_000) out.push(new Date(t));
  return out;
}
