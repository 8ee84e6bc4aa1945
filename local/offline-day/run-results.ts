import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ParamLogRecord, parseJsonLines } from '../../lambdas/shared/param-log';
import { DAILY_COUNTS, LOST_TASK_COUNT_SQL, LOST_TASKS, lostTaskParams, nextDay } from '../../lambdas/shared/queries';
import { ParamLogDb } from '../duckdb-sql';
import { FaultPlan, producerBroken } from '../fake-external-api';
import type { QueueSnapshot } from '../sqs-emulator';
import type { AsyncInvocation } from './lambda-async';
import { localDay } from './local-time';
import type { TickRerun } from './operator';
import type { FailedTick } from './report-types';

/**
 * What the run reads back at its end, as an operator would: the spool and quarantine queues, the
 * parameter log as Firehose wrote it, the producers' failed invocations, and the saved Athena
 * queries on DuckDB over the output folder.
 */

/** Tasks left in the spool (task id -> error name) and in quarantine. */
export function queuedTasks(spool: QueueSnapshot, quarantine: QueueSnapshot): { spooled: Map<string, string>; quarantined: Set<string> } {
  const spooled = new Map<string, string>();
  for (const m of spool.all) {
    try {
      const body = JSON.parse(m.body) as { taskId?: string; error?: string };
      if (body.taskId) spooled.set(body.taskId, body.error ?? 'Unknown');
    } catch {
      spooled.set(`malformed-${spooled.size}`, 'Malformed');
    }
  }
  const quarantined = new Set<string>();
  for (const m of quarantine.all) {
    try {
      const body = JSON.parse(m.body) as { taskId?: string; original?: { taskId?: string } };
      quarantined.add(body.taskId ?? body.original?.taskId ?? `q-${quarantined.size}`);
    } catch {
      quarantined.add(`q-${quarantined.size}`);
    }
  }
  return { spooled, quarantined };
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? listFiles(p) : [p];
  });
}

/** The parameter log as written under `outDir` (client/, worker/), and its objects per partition. */
export function readParamLog(outDir: string): { client: ParamLogRecord[]; worker: ParamLogRecord[]; filesPerPartition: Record<string, number> } {
  const files = listFiles(outDir).filter((f) => f.endsWith('.gz'));
  const filesPerPartition: Record<string, number> = {};
  const client: ParamLogRecord[] = [];
  const worker: ParamLogRecord[] = [];
  for (const f of files) {
    const rel = relative(outDir, f).split(/[\\/]/);
    const partition = rel.slice(0, -1).join('/');
    filesPerPartition[partition] = (filesPerPartition[partition] ?? 0) + 1;
    const recs = parseJsonLines(gunzipSync(readFileSync(f)).toString('utf8'));
    (rel[0] === 'client' ? client : worker).push(...recs);
  }
  return { client, worker, filesPerPartition };
}

/** Failed ticks: every producer invocation with a failed attempt, and its tasks' starts. */
export function failedTicksOf(args: {
  readonly invocations: ReadonlyArray<AsyncInvocation>;
  readonly client: ReadonlyArray<ParamLogRecord>;
  /** Job by producer function id. */
  readonly jobOfFunction: ReadonlyMap<string, string>;
  readonly reruns: ReadonlyArray<TickRerun>;
  /** The job whose producer the fault plan breaks on purpose. */
  readonly apiJob: string;
  readonly plan: FaultPlan;
  readonly timeZone: string;
}): FailedTick[] {
  const startsOfTick = new Map<string, Map<string, number>>();
  for (const r of args.client) {
    if (r.result !== 'Started') continue;
    const k = `${r.module}|${Date.parse(r.scheduled_time)}`;
    const m = startsOfTick.get(k) ?? new Map<string, number>();
    m.set(r.task_id, (m.get(r.task_id) ?? 0) + 1);
    startsOfTick.set(k, m);
  }
  return args.invocations
    .filter((inv) => args.jobOfFunction.has(inv.functionId) && inv.errors.length > 0)
    .map((inv) => {
      const job = args.jobOfFunction.get(inv.functionId)!;
      const tick = String((inv.event as { scheduledTime?: unknown }).scheduledTime ?? '');
      const counts = [...(startsOfTick.get(`${job}|${Date.parse(tick)}`)?.values() ?? [])];
      const rerun = args.reruns.find((x) => x.functionId === inv.functionId && x.tick === tick) ?? null;
      const injected = job === args.apiJob && tick !== '' && producerBroken(args.plan, new Date(tick), args.timeZone);
      return { job, tick, attempts: inv.attempts, outcome: inv.outcome, rerun, startedOnce: counts.filter((n) => n === 1).length, startedTwice: counts.filter((n) => n > 1).length, injected, errors: [...inv.errors] };
    });
}

/** The saved Athena queries' results over the period's days. */
export interface SavedQueryResults {
  readonly lostTasksByDay: Array<{ day: string; lost: number }>;
  readonly dailyCounts: Array<Record<string, unknown>>;
  /** Tasks the lost-task monitor's query lists (users-feel.ts: a lost task it lists is not hidden). */
  readonly monitored: Set<string>;
}

/** Runs the saved Athena queries on DuckDB over the output folder, for each local day of [from, to). */
export async function runSavedQueries(outDir: string, from: Date, to: Date, timeZone: string): Promise<SavedQueryResults> {
  const days: string[] = [];
  for (let d = localDay(from, timeZone); d <= localDay(new Date(to.getTime() - 1), timeZone); d = nextDay(d)) days.push(d);
  const db = await ParamLogDb.open(outDir);
  try {
    const lostTasksByDay: Array<{ day: string; lost: number }> = [];
    for (const day of days) {
      const [r] = await db.query(LOST_TASK_COUNT_SQL, lostTaskParams(day));
      lostTasksByDay.push({ day, lost: Number(r?.lost ?? 0) });
    }
    const dailyCounts = await db.query(DAILY_COUNTS.sql, [days[0], nextDay(days[days.length - 1])]);
    const monitored = new Set<string>();
    for (const day of days) for (const r of await db.query(LOST_TASKS.sql, lostTaskParams(day))) monitored.add(String(r.task_id));
    return { lostTasksByDay, dailyCounts, monitored };
  } finally {
    db.close();
  }
}
