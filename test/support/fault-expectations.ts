import { appConfig } from '../../bin/config';
import { parseSchedule, scheduleTicks } from '../../lib/config/schedule';
import { produceOrders } from '../../lambdas/jobs/example-api/logic';
import { faultPlan, inMaintenance, taskFault } from '../../local/fake-external-api';
import { localMidnight } from '../../local/offline-day/run';

/** What the seeded plan implies for each task, computed from the plan and the example producer, not from the run. */
export function expectedFromPlan(o: { seed: number; hours: number; day: string; slowAt?: string }) {
  const tz = appConfig.timeZone;
  const plan = { ...faultPlan('default', o.seed), ...(o.slowAt ? { slowAt: o.slowAt } : {}) };
  const from = localMidnight(o.day, tz);
  const ticks = scheduleTicks(parseSchedule(appConfig.jobs.find((j) => j.name === 'example-api')!.schedule), tz, from, new Date(from.getTime() + o.hours * 3_600_000));
  const e = { ticks: ticks.length, tasks: 0, firstTry: 0, recovered: 0, replayed: 0, rejected: 0, timedOut: 0 };
  for (const tick of ticks) {
    const keys = produceOrders(tick, 3).map((t) => t.key);
    for (const key of keys) {
      e.tasks += 1;
      const f = taskFault(plan, tick, key, tz, keys);
      // A rejected order is rejected whenever the API answers; it stays spooled (not retryable).
      if (f.permanent) e.rejected += 1;
      // In maintenance every attempt gets 503: spooled, then replayed after 04:00 and succeeds.
      else if (inMaintenance(plan, tick, tz)) e.replayed += 1;
      // A step past its timeout is not retried (States.Timeout): spooled, replayed at the end, succeeds.
      else if (f.slow) {
        e.timedOut += 1;
        e.replayed += 1;
      } else if (f.transientFailures > 0) e.recovered += 1;
      else e.firstTry += 1;
    }
  }
  return e;
}
