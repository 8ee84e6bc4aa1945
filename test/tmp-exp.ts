import { expectedFromPlan } from './support/fault-expectations';
const e = expectedFromPlan({ seed: 1, hours: Number(process.argv[2]), day: '2026-11-25', faults: process.argv[3] as never, hold: (process.argv[4] ?? 'operator') as never });
const r = require(process.argv[5]);
console.log(JSON.stringify(e.jobs), JSON.stringify(e.window), e.failedTicks.length);
for (const j of ['example-api', 'example-fanout']) console.log(j, JSON.stringify({ticks: r.jobs[j].ticks, tasks: r.jobs[j].tasks, firstTry: r.jobs[j].succeededFirstTry, recovered: r.jobs[j].recoveredByRetry, replayed: r.jobs[j].replayed, stillSpooled: r.jobs[j].stillSpooled.byError, aborted: r.jobs[j].aborted, timedOut: r.jobs[j].timedOut}));
