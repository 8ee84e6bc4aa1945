import { withoutOpenedText } from '../../lambdas/shared/safe-error';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { QUARANTINE_ATTR_REASON } from '../../lambdas/reprocess/drain';
import { executionNameFor } from '../../lambdas/shared/names';
import { zonedParts } from '../../lambdas/shared/param-log';
import { nextDay, parseDay, TASK_BY_ID } from '../../lambdas/shared/queries';
import { OPERATOR_OUTPUTS } from '../../lib/operator-outputs';
import { runSavedQuery, Row } from '../athena';
import { explain, UsageError } from '../errors';
import { localTime, table } from '../format';
import { CliDeps, CliIo } from '../io';
import { peek } from '../queues';
import { invokeReprocess } from '../reprocess';
import { CommonOptions, Session } from '../session';

export interface TaskOptions extends CommonOptions {
  readonly days?: string;
  readonly firstDay?: string;
  readonly lastDay?: string;
  readonly athenaTimeout?: string;
  readonly scan?: string;
  readonly showParams?: boolean;
}

/** One attempt's execution (DescribeExecution). */
export interface ExecutionView {
  readonly attempt: number;
  readonly name: string;
  readonly executionArn: string;
  readonly status: string;
  readonly startDate: string | null;
  readonly stopDate: string | null;
  readonly error: string | null;
  /** The step that failed: the worker record's, else the spool message's, else the execution history's. */
  readonly failedStep: string | null;
  readonly redriveCount: number;
}

const TASK_ID = /^(?<job>[a-z0-9][a-z0-9-]*)-(?<tick>\d{8}T\d{4}Z)-(?<key>.+)$/;

/** Job and tick of a task id (`<job>-<yyyyMMddTHHmmZ>-<key>`, lambdas/shared/names.ts), or null. */
export function parseTaskId(taskId: string): { job: string; tick: Date } | null {
  const m = TASK_ID.exec(taskId);
  if (!m?.groups) return null;
  const t = m.groups.tick;
  const tick = new Date(`${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:00Z`);
  return Number.isNaN(tick.getTime()) ? null : { job: m.groups.job, tick };
}

const FAILURE_EVENTS = new Set(['TaskFailed', 'TaskTimedOut', 'LambdaFunctionFailed', 'LambdaFunctionTimedOut', 'LambdaFunctionScheduleFailed', 'LambdaFunctionStartFailed']);

/**
 * The state whose task failed last, from the execution history without its data
 * (includeExecutionData false: names and errors only, no params). Walks back from the newest failure
 * event through previousEventId to the state it happened in.
 */
export function failedStateOf(events: ReadonlyArray<HistoryEvent>): string | null {
  const byId = new Map(events.map((e) => [e.id, e]));
  const failure = [...events].sort((a, b) => (b.id ?? 0) - (a.id ?? 0)).find((e) => FAILURE_EVENTS.has(e.type ?? ''));
  let cur = failure;
  for (let hops = 0; cur && hops < 50; hops++) {
    if ((cur.type ?? '').endsWith('StateEntered')) return cur.stateEnteredEventDetails?.name ?? null;
    cur = byId.get(cur.previousEventId);
  }
  return null;
}

async function historyFailedState(sfn: SFNClient, executionArn: string): Promise<string | null> {
  try {
    const r = await sfn.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 200, includeExecutionData: false }));
    return failedStateOf(r.events ?? []);
  } catch {
    return null; // the table says "-": the records and the spool are the other sources
  }
}

async function describeAttempts(sfn: SFNClient, stateMachineArn: string, taskId: string, attempts: number): Promise<Array<Omit<ExecutionView, 'failedStep'>>> {
  const out: Array<Omit<ExecutionView, 'failedStep'>> = [];
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const name = executionNameFor(taskId, attempt);
    const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    try {
      const d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      out.push({
        attempt,
        name,
        executionArn,
        status: d.status ?? 'UNKNOWN',
        startDate: d.startDate ? d.startDate.toISOString() : null,
        stopDate: d.stopDate ? d.stopDate.toISOString() : null,
        error: d.error ?? null,
        redriveCount: d.redriveCount ?? 0,
      });
    } catch (e) {
      if ((e as { name?: string }).name === 'ExecutionDoesNotExist') continue;
      throw explain(e, `describe execution ${name} (states:DescribeExecution, kms:Decrypt on the params key)`);
    }
  }
  return out;
}

/** `task <id>`: the whole story of one task. */
export async function task(session: Session, taskId: string, o: TaskOptions, io: CliIo, deps: CliDeps): Promise<number> {
  const parsed = parseTaskId(taskId);
  const tz = session.config.timeZone;
  let firstDay: string;
  let lastDay: string;
  try {
    if (o.firstDay) firstDay = parseDay(o.firstDay);
    else if (parsed) {
      const p = zonedParts(parsed.tick, tz);
      firstDay = `${p.year}-${p.month}-${p.day}`;
    } else throw new UsageError(`"${taskId}" is not a task id of the form <job>-<yyyyMMddTHHmmZ>-<key>`, 'Give the days to search with --first-day (and --last-day).');
    const days = o.days === undefined ? 15 : Number(o.days);
    if (!Number.isInteger(days) || days < 1 || days > 400) throw new UsageError(`--days must be a whole number from 1 to 400, got "${o.days}"`);
    if (o.lastDay) lastDay = parseDay(o.lastDay);
    else {
      lastDay = firstDay;
      for (let i = 1; i < days; i++) lastDay = nextDay(lastDay);
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError((e as Error).message, 'Days are yyyy-MM-dd in the app\'s time zone.');
  }
  if (lastDay < firstDay) throw new UsageError(`--last-day ${lastDay} is before the first day ${firstDay}`);
  const athenaTimeoutMs = (o.athenaTimeout === undefined ? 120 : Number(o.athenaTimeout)) * 1000;
  if (!Number.isFinite(athenaTimeoutMs) || athenaTimeoutMs <= 0) throw new UsageError(`--athena-timeout must be a number of seconds, got "${o.athenaTimeout}"`);
  const scan = o.scan === undefined ? 1000 : Number(o.scan);
  if (!Number.isInteger(scan) || scan < 1 || scan > 20_000) throw new UsageError(`--scan must be a whole number from 1 to 20000, got "${o.scan}"`);

  const stack = await session.stack();
  const job = parsed?.job ?? null;
  const stateMachineArn = job ? stack.stateMachines.get(job) ?? null : null;

  // 1. The parameter log (saved query TaskById), params dropped unless asked for.
  const rows: Row[] = await runSavedQuery(session.clients.athena, TASK_BY_ID, [taskId, firstDay, lastDay], {
    workGroup: stack.need(OPERATOR_OUTPUTS.athenaWorkGroup),
    database: stack.need(OPERATOR_OUTPUTS.athenaDatabase),
    timeoutMs: athenaTimeoutMs,
    sleep: deps.sleep,
    now: () => deps.now().getTime(),
  });
  const records = rows.map((r) => {
    if (o.showParams) return r;
    // A worker record's cause may end in the full text of the step's error (params in it): cut off.
    const { params: _params, ...rest } = r;
    return 'cause' in rest ? { ...rest, cause: withoutOpenedText(rest.cause as string | null) } : rest;
  });

  // 2. Where it waits now: the spool through a reprocess dry run (no params leave AWS), the quarantine by looking.
  const summary = await invokeReprocess(session.clients.lambda, stack.need(OPERATOR_OUTPUTS.reprocessFunctionName), { dryRun: true, taskIds: [taskId], max: 100 });
  const spoolItems = (summary.items ?? []).filter((i) => i.taskId === taskId);
  const spool = spoolItems.length ? { waiting: true, messages: spoolItems.length, outcome: spoolItems[0].outcome ?? null, error: spoolItems[0].error ?? null, reason: spoolItems[0].reason ?? null } : { waiting: false };
  const q = await peek(session.clients.sqs, stack.need(OPERATOR_OUTPUTS.quarantineQueueUrl), 'quarantine', scan, (body) => {
    try {
      const b = JSON.parse(body) as Record<string, unknown>;
      const s = (k: string) => (typeof b[k] === 'string' ? (b[k] as string) : null);
      return { taskId: s('taskId'), error: s('error'), failedState: s('failedState'), kind: s('kind'), executionArn: s('executionArn') };
    } catch {
      return null;
    }
  });
  const quarantined = q.messages.filter((m) => m.extracted?.taskId === taskId);
  const quarantine = quarantined.length
    ? { waiting: true, messages: quarantined.length, reason: quarantined[0].attributes[QUARANTINE_ATTR_REASON] ?? null, error: quarantined[0].extracted?.error ?? null, failedStep: quarantined[0].extracted?.failedState ?? null }
    : { waiting: false, ...(q.truncated ? { note: `only the first ${scan} quarantined messages were looked at` } : {}) };

  // 3. The executions of every attempt (deterministic names), with the failed step.
  const attempts = session.config.spool.maxReplays + 1;
  const described = stateMachineArn ? await describeAttempts(session.clients.sfn, stateMachineArn, taskId, attempts) : [];
  const executions: ExecutionView[] = [];
  for (const d of described) {
    let failedStep: string | null = null;
    if (!['RUNNING', 'SUCCEEDED'].includes(d.status)) {
      failedStep =
        rows.find((r) => r.execution_arn === d.executionArn && r.failed_state)?.failed_state ??
        quarantined.find((m) => m.extracted?.executionArn === d.executionArn)?.extracted?.failedState ??
        (await historyFailedState(session.clients.sfn, d.executionArn));
    }
    executions.push({ ...d, failedStep });
  }

  const result = {
    taskId,
    job,
    scheduledTime: parsed ? parsed.tick.toISOString() : null,
    stack: stack.name,
    paramLog: { firstDay, lastDay, records },
    executions,
    spool,
    quarantine,
  };
  if (o.json) {
    io.out(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  let out = `Task ${taskId}\n`;
  out += parsed ? `  job ${parsed.job}, scheduled ${localTime(parsed.tick, tz)}\n` : '';
  if (job && !stateMachineArn) out += `  (stack ${stack.name} has no state machine output for job ${job}: executions not looked up)\n`;
  out += `\nParameter log (saved query "${TASK_BY_ID.name}", days ${firstDay} to ${lastDay}): ${records.length} record(s)\n`;
  if (records.length) {
    const cols = ['time', 'type', 'result', 'attempt', 'error', 'failed_state', 'execution_arn', ...(o.showParams ? ['params'] : [])];
    out += table(cols.map((c) => c.toUpperCase().replace('_', ' ')), records.map((r) => cols.map((c) => (c === 'execution_arn' ? (r[c] ?? '').split(':').pop() : r[c as keyof typeof r]))));
  }
  out += `\nExecutions (attempts 1 to ${attempts}): ${executions.length} found\n`;
  if (executions.length) {
    out += table(
      ['ATTEMPT', 'NAME', 'STATUS', 'STARTED', 'STOPPED', 'FAILED STEP', 'ERROR', 'REDRIVES'],
      executions.map((e) => [e.attempt, e.name, e.status, e.startDate ? localTime(new Date(e.startDate), tz) : null, e.stopDate ? localTime(new Date(e.stopDate), tz) : null, e.failedStep, e.error, e.redriveCount]),
    );
  }
  out += '\nNow:\n';
  out += spool.waiting
    ? `  waiting in the spool (${spoolItems[0].error ?? 'unknown error'}): a replay would ${spoolItems[0].outcome === 'wouldStart' ? 'start it again' : `quarantine it (${spoolItems[0].reason ?? 'no reason'})`}\n`
    : '  not in the spool\n';
  out += quarantine.waiting ? `  in the quarantine: ${String((quarantine as { reason: string | null }).reason ?? 'no reason recorded')}\n` : `  not in the quarantine${q.truncated ? ` (first ${scan} looked at)` : ''}\n`;
  if (spool.waiting) out += `\nReplay just this task: scheduled-jobs replay --task-id ${taskId}\n`;
  io.out(out);
  return 0;
}
