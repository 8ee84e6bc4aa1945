import { ParamLogRecord } from '../../lambdas/shared/param-log';
import { wasSpooledByWorkflow } from '../../lambdas/shared/workflow-contract';

/**
 * The offline day's books: every started task of every job classified exactly once, from what the
 * run observed (executions and their ends, the parameter log as written, the spool and quarantine
 * at the end, the status-change capture's results), never from the fault plan. A test compares
 * these numbers with what the plan implies (test/support/fault-expectations.ts).
 */

/** One execution as the run saw it end. */
export interface ExecutionSeen {
  readonly executionArn: string;
  readonly name: string;
  readonly job: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  readonly error?: string;
  readonly cause?: string;
  /** Retries per state (StateRetried events). */
  readonly retries: Readonly<Record<string, number>>;
}

/** What the status-change capture answered for one delivered event (lambdas/execution-capture). */
export interface CaptureSeen {
  readonly executionArn: string;
  readonly outcome: string;
  readonly error: string | null;
}

/** Everything the books are kept from. */
export interface AccountingInput {
  /** The jobs, in config order (jobs with no task still get a row). */
  readonly jobs: ReadonlyArray<string>;
  /** Producer calls per job (scheduled ticks). */
  readonly ticks: Readonly<Record<string, number>>;
  readonly client: ReadonlyArray<ParamLogRecord>;
  readonly worker: ReadonlyArray<ParamLogRecord>;
  readonly executions: ReadonlyArray<ExecutionSeen>;
  /** Task id -> error of its message in the spool at the end. */
  readonly spooled: ReadonlyMap<string, string>;
  /** Task ids in the quarantine at the end. */
  readonly quarantined: ReadonlySet<string>;
  /** Execution name -> job and how often the Step Functions stand-in created it. */
  readonly starts: ReadonlyMap<string, { readonly job: string; readonly count: number }>;
  readonly captures: ReadonlyArray<CaptureSeen>;
}

/** The counts of one job (or of all). */
export interface JobCounts {
  ticks: number;
  /** Tasks with a `Started` client record. */
  tasks: number;
  executions: number;
  succeededFirstTry: number;
  recoveredByRetry: number;
  retries: number;
  /** Spool messages written, by error: by the workflow's Catch (the marker) or by the capture. */
  spooledByError: Record<string, number>;
  /** Tasks whose first execution did not succeed and a replay did. */
  replayed: number;
  stillSpooled: { total: number; byError: Record<string, number>; taskIds: string[] };
  quarantined: number;
  lost: number;
  lostTaskIds: string[];
  /** Why each lost task counts as lost (what the books found of it), for whoever reads a failed run. */
  lostWhy: Record<string, string>;
  /** Executions started twice, tasks that succeeded twice, executions spooled twice. */
  duplicates: number;
  /** Executions that ended ABORTED / TIMED_OUT (outside the Catch). */
  aborted: number;
  timedOut: number;
  startFailed: number;
}

/** An empty row. */
export function emptyCounts(): JobCounts {
  return {
    ticks: 0,
    tasks: 0,
    executions: 0,
    succeededFirstTry: 0,
    recoveredByRetry: 0,
    retries: 0,
    spooledByError: {},
    replayed: 0,
    stillSpooled: { total: 0, byError: {}, taskIds: [] },
    quarantined: 0,
    lost: 0,
    lostTaskIds: [],
    lostWhy: {},
    duplicates: 0,
    aborted: 0,
    timedOut: 0,
    startFailed: 0,
  };
}

const add = (o: Record<string, number>, k: string, n = 1): void => {
  o[k] = (o[k] ?? 0) + n;
};
const sumRetries = (r: Readonly<Record<string, number>>): number => Object.values(r).reduce((a, b) => a + b, 0);

/** The books per job, and the sum of all jobs. */
export function keepBooks(input: AccountingInput): { perJob: Record<string, JobCounts>; total: JobCounts } {
  const perJob: Record<string, JobCounts> = {};
  const of = (job: string): JobCounts => (perJob[job] ??= emptyCounts());
  for (const job of input.jobs) of(job).ticks = input.ticks[job] ?? 0;

  const byTask = new Map<string, ExecutionSeen[]>();
  for (const e of input.executions) {
    const list = byTask.get(e.taskId) ?? [];
    list.push(e);
    byTask.set(e.taskId, list);
    const c = of(e.job);
    c.executions += 1;
    c.retries += sumRetries(e.retries);
    if (e.status === 'ABORTED') c.aborted += 1;
    if (e.status === 'TIMED_OUT') c.timedOut += 1;
  }

  // Each execution that did not succeed is spooled exactly once: by the workflow (its cause carries
  // the marker) or by the capture. Twice is a duplicate; never is a loss.
  const capturedSpools = new Map<string, CaptureSeen[]>();
  const endedAfterSuccess = new Set<string>();
  for (const c of input.captures) {
    if (c.outcome === 'spooled') capturedSpools.set(c.executionArn, [...(capturedSpools.get(c.executionArn) ?? []), c]);
    if (c.outcome === 'endedAfterSuccess') endedAfterSuccess.add(c.executionArn);
  }
  const unspooled = new Set<string>();
  for (const e of input.executions) {
    if (e.status === 'SUCCEEDED') continue;
    const c = of(e.job);
    const byWorkflow = e.status === 'FAILED' && wasSpooledByWorkflow(e.cause ?? '') ? 1 : 0;
    if (byWorkflow) add(c.spooledByError, e.error ?? 'Unknown');
    const captured = capturedSpools.get(e.executionArn) ?? [];
    for (const x of captured) add(c.spooledByError, x.error ?? 'Unknown');
    const times = byWorkflow + captured.length;
    if (times > 1) c.duplicates += times - 1;
    if (times === 0 && !endedAfterSuccess.has(e.executionArn)) unspooled.add(e.taskId);
  }

  const started = new Map<string, string>(); // task -> job
  for (const r of input.client) {
    if (r.result === 'Started') started.set(r.task_id, r.module);
    if (r.result === 'StartFailed') of(r.module).startFailed += 1;
  }
  for (const [taskId, job] of started) {
    const c = of(job);
    c.tasks += 1;
    const list = (byTask.get(taskId) ?? []).slice().sort((a, b) => a.attempt - b.attempt);
    const successes = list.filter((o) => o.status === 'SUCCEEDED');
    if (successes.length > 1) c.duplicates += successes.length - 1;
    const first = list[0];
    const lost = (why: string): void => {
      c.lost += 1;
      c.lostTaskIds.push(taskId);
      c.lostWhy[taskId] = why;
    };
    const ends = (): string => list.map((o) => `attempt ${o.attempt} ${o.status}`).join(', ');
    if (first?.status === 'SUCCEEDED' && first.attempt === 1) {
      if (sumRetries(first.retries) > 0) c.recoveredByRetry += 1;
      else c.succeededFirstTry += 1;
    } else if (successes.length > 0) c.replayed += 1;
    else if (unspooled.has(taskId)) lost(`${ends()}, never spooled (by the Catch or the capture)`);
    else if (input.spooled.has(taskId)) {
      c.stillSpooled.total += 1;
      c.stillSpooled.taskIds.push(taskId);
      add(c.stillSpooled.byError, input.spooled.get(taskId)!);
    } else if (input.quarantined.has(taskId)) c.quarantined += 1;
    else lost(list.length === 0 ? 'a Started client record, no execution' : `${ends()}, no success and not in the spool or the quarantine`);
  }

  for (const { job, count } of input.starts.values()) if (count > 1) of(job).duplicates += count - 1;
  // Two executions that succeeded for one task are a duplicate; one execution's Success written
  // twice is not (an Express child run again by Step Functions, at least once, writes its records
  // again under the same execution ARN; the monitor counts per task and attempt).
  //
  // An Express child run again may also END differently from its first run (the first ran its items
  // and recorded their Success, the second was killed at five minutes): the child's items are then
  // spooled by the post-map step, and the operator's replay succeeds once more. That Success of the
  // item's first attempt was overruled by the attempt's booked end (failed, spooled): the replay is the
  // operator's, and whether a side effect was applied twice is counted per step call (`usersFeel`).
  const overruled = new Set<string>();
  for (const e of input.executions) {
    if (e.executionArn.includes(':express:') && e.status !== 'SUCCEEDED' && wasSpooledByWorkflow(e.cause ?? '')) overruled.add(`${e.executionArn}|${e.taskId}`);
  }
  const workerSuccess = new Map<string, { job: string; n: number; arns: Set<string> }>();
  for (const r of input.worker) {
    if (r.result !== 'Success') continue;
    if (r.execution_arn && overruled.has(`${r.execution_arn}|${r.task_id}`)) continue;
    const w = workerSuccess.get(r.task_id) ?? { job: r.module, n: 0, arns: new Set<string>() };
    if (r.execution_arn && w.arns.has(r.execution_arn)) continue;
    if (r.execution_arn) w.arns.add(r.execution_arn);
    w.n += 1;
    workerSuccess.set(r.task_id, w);
  }
  for (const { job, n } of workerSuccess.values()) if (n > 1) of(job).duplicates += n - 1;
  // Every execution leaves a worker record (the workflow's, or the capture's): the lost-task query relies on it.
  const recorded = new Set(input.worker.map((r) => r.execution_arn));
  for (const e of input.executions) {
    const c = of(e.job);
    if (!recorded.has(e.executionArn) && !c.lostTaskIds.includes(e.taskId)) {
      c.lost += 1;
      c.lostTaskIds.push(e.taskId);
      c.lostWhy[e.taskId] = `attempt ${e.attempt} ${e.status}, no worker record (the lost-task query would not see its end)`;
    }
  }

  const total = emptyCounts();
  for (const c of Object.values(perJob)) {
    for (const k of ['ticks', 'tasks', 'executions', 'succeededFirstTry', 'recoveredByRetry', 'retries', 'replayed', 'quarantined', 'lost', 'duplicates', 'aborted', 'timedOut', 'startFailed'] as const) total[k] += c[k];
    for (const [k, v] of Object.entries(c.spooledByError)) add(total.spooledByError, k, v);
    total.stillSpooled.total += c.stillSpooled.total;
    total.stillSpooled.taskIds.push(...c.stillSpooled.taskIds);
    for (const [k, v] of Object.entries(c.stillSpooled.byError)) add(total.stillSpooled.byError, k, v);
    total.lostTaskIds.push(...c.lostTaskIds);
    Object.assign(total.lostWhy, c.lostWhy);
  }
  return { perJob, total };
}
