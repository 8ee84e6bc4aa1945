import { fixtureConfig } from './fixture-config';
import { parseSchedule, scheduleTicks } from '../../lib/config/schedule';
import { produceOrders } from '../../lambdas/jobs/example-api/logic';
import { produceAccounts } from '../../lambdas/jobs/example-fanout/logic';
import { faultPlan, FaultPlan, FaultProfile, inMaintenance, producerBroken, taskFault } from '../../local/fake-external-api';
import { JobCounts } from '../../local/offline-day/accounting';
import { HoldMode, localMidnight } from '../../local/offline-day/run';

/**
 * What the seeded plan implies for each task of an offline run, computed from the plan, the
 * examples' producers and the config (schedules, CallApi's retries), not from the run. The tests
 * compare the run's report with it, job by job.
 */

/** Expected classes of one job's tasks. */
export interface ExpectedJob {
  ticks: number;
  tasks: number;
  firstTry: number;
  recovered: number;
  replayed: number;
  stillSpooled: Record<string, number>;
  aborted: number;
  timedOut: number;
}

/** A run's shape, as the test passes it to runOfflineDay. */
export interface PlannedRun {
  readonly seed: number;
  readonly hours: number;
  readonly day: string;
  readonly faults?: FaultProfile;
  readonly hold?: HoldMode;
  readonly overrides?: Partial<Omit<FaultPlan, 'profile' | 'seed'>>;
  readonly tasksPerTick?: number;
}

const job = (name: string) => fixtureConfig.jobs.find((j) => j.name === name)!;
const ticksOf = (name: string, from: Date, to: Date): Date[] => scheduleTicks(parseSchedule(job(name).schedule), fixtureConfig.timeZone, from, to);
const empty = (): ExpectedJob => ({ ticks: 0, tasks: 0, firstTry: 0, recovered: 0, replayed: 0, stillSpooled: {}, aborted: 0, timedOut: 0 });
const add = (o: Record<string, number>, k: string): void => void (o[k] = (o[k] ?? 0) + 1);
const minuteOf = (hhmm: string): number => {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
};

/** Calls CallApi makes at most per execution (1 + its Retry's MaxAttempts for the API's errors). */
export function callApiAttempts(): number {
  const step = job('example-api').steps.find((s) => 'name' in s && s.name === 'CallApi') as { retry?: { maxAttempts?: number } };
  return 1 + (step.retry?.maxAttempts ?? 0);
}

export function expectedFromPlan(o: PlannedRun) {
  const tz = fixtureConfig.timeZone;
  const plan: FaultPlan = { ...faultPlan(o.faults ?? 'default', o.seed), ...o.overrides };
  const hold = o.hold ?? 'operator';
  const operator = hold !== 'planned-windows';
  const from = localMidnight(o.day, tz);
  const to = new Date(from.getTime() + o.hours * 3_600_000);
  const perDay = (minute: number): Date[] => {
    const out: Date[] = [];
    for (let t = from.getTime(); t < to.getTime() + 86_400_000; t += 86_400_000) out.push(new Date(t + minute * 60_000));
    return out;
  };
  // The operator's replay rounds: when each maintenance window ends (inside the run), and at the end
  // unless the run ends in maintenance.
  const rounds: Date[] = [];
  if (operator) {
    if (plan.maintenance) rounds.push(...perDay(plan.maintenance.endMinute).filter((t) => t.getTime() <= to.getTime()));
    if (!inMaintenance(plan, to, tz)) rounds.push(to);
  }
  const replayedAfter = (t: Date): boolean => rounds.some((r) => r.getTime() > t.getTime());
  // A failed tick's re-run: when the producer's fix is deployed (the operator re-runs then).
  const fixes = operator && plan.producerFailAt !== null ? perDay(minuteOf(plan.producerFailAt) + plan.producerFailMinutes).filter((t) => t.getTime() <= to.getTime()) : [];

  const api = empty();
  const window = { tasks: 0, calls: 0, retries: 0, held: 0 };
  const failedTicks: Array<{ tick: Date; rerunAt: Date | null }> = [];
  for (const tick of ticksOf('example-api', from, to)) {
    api.ticks += 1;
    let callAt = tick;
    if (producerBroken(plan, tick, tz)) {
      const rerunAt = fixes.find((f) => f.getTime() >= tick.getTime()) ?? null;
      failedTicks.push({ tick, rerunAt });
      if (!rerunAt) continue;
      callAt = rerunAt;
    }
    const keys = produceOrders(tick, o.tasksPerTick ?? 3).map((t) => t.key);
    for (const key of keys) {
      api.tasks += 1;
      const f = taskFault(plan, tick, key, tz, keys);
      if (inMaintenance(plan, callAt, tz)) {
        window.tasks += 1;
        if (hold === 'none') {
          window.calls += callApiAttempts();
          window.retries += callApiAttempts() - 1;
        } else window.held += 1;
        // Held: spooled before any call; not held: every attempt gets 503. Either way it waits for
        // the replay after the window, where a rejected order is rejected.
        if (!replayedAfter(callAt)) add(api.stillSpooled, hold === 'none' ? 'ExternalApiUnavailableError' : 'DependencyOnHold');
        else if (f.permanent) add(api.stillSpooled, 'ExternalApiRejectedError');
        else api.replayed += 1;
        continue;
      }
      if (f.permanent) add(api.stillSpooled, 'ExternalApiRejectedError');
      else if (f.slow || (f.hang && !operator)) {
        // Past the step timeout: States.Timeout, not retried, spooled by the Catch.
        if (replayedAfter(callAt)) api.replayed += 1;
        else add(api.stillSpooled, 'States.Timeout');
      } else if (f.hang) {
        api.aborted += 1;
        if (replayedAfter(callAt)) api.replayed += 1;
        else add(api.stillSpooled, 'ExecutionAborted');
      } else if (f.stall) {
        api.timedOut += 1;
        if (replayedAfter(callAt)) api.replayed += 1;
        else add(api.stillSpooled, 'ExecutionTimedOut');
      } else if (f.transientFailures > 0) api.recovered += 1;
      else api.firstTry += 1;
    }
  }

  const fanout = empty();
  for (const tick of ticksOf('example-fanout', from, to)) {
    fanout.ticks += 1;
    for (const t of produceAccounts(tick, 3, plan.fanoutFailEvery, plan.fanoutFailAttempts)) {
      fanout.tasks += 1;
      if ((t.params as { failPart?: number }).failPart === undefined) fanout.firstTry += 1;
      // ProcessPart fails past its retries: the map fails, spooled with TransientError; the replay
      // resumes at the map and succeeds (the part fails only on the first attempt).
      else if (replayedAfter(tick)) fanout.replayed += 1;
      else add(fanout.stillSpooled, 'TransientError');
    }
  }

  const sum = (k: 'tasks' | 'firstTry' | 'recovered' | 'replayed') => api[k] + fanout[k];
  return {
    plan,
    jobs: { 'example-api': api, 'example-fanout': fanout },
    ticks: api.ticks + fanout.ticks,
    tasks: sum('tasks'),
    firstTry: sum('firstTry'),
    recovered: sum('recovered'),
    replayed: sum('replayed'),
    window,
    failedTicks,
  };
}

/** A job's counts from a report, in the shape of {@link ExpectedJob}. */
export function asExpected(c: JobCounts): ExpectedJob {
  return {
    ticks: c.ticks,
    tasks: c.tasks,
    firstTry: c.succeededFirstTry,
    recovered: c.recoveredByRetry,
    replayed: c.replayed,
    stillSpooled: c.stillSpooled.byError,
    aborted: c.aborted,
    timedOut: c.timedOut,
  };
}
