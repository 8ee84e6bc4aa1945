import type { TaskEnvelope } from '../../lambdas/shared/envelope';
import { FaultPlan, inMaintenance } from '../fake-external-api';
import type { ExecutionSeen } from './accounting';
import type { ExecutionOutcome } from './executions';
import { localHour } from './local-time';
import type { HourRow } from './report-types';

/**
 * The run's running books of executions as they end: what the accounting needs of each (no
 * params: a big tick runs 100,000s), the hourly picture, and the maintenance window's retries.
 */
export class DayBooks {
  readonly outcomes = new Map<string, ExecutionSeen>();
  notSucceeded = 0;
  /** Retries of the held dependencies' steps in executions that ran in the window. */
  windowRetries = 0;
  windowExecutions = 0;
  private readonly hourly = new Map<string, HourRow>();

  /** `dependentStates`: the steps (state names) that call a held dependency. */
  constructor(
    private readonly plan: FaultPlan,
    private readonly timeZone: string,
    from: Date,
    private readonly to: Date,
    private readonly dependentStates: ReadonlySet<string>,
  ) {
    for (let t = from.getTime(); t < to.getTime(); t += 3_600_000) this.row(new Date(t));
  }

  /** The hour row of `when` (created on first use). */
  row(when: Date): HourRow {
    // The final replay runs at the end of the period: count it in the period's last hour, not in
    // an hour past it.
    const at = when.getTime() >= this.to.getTime() ? new Date(this.to.getTime() - 1) : when;
    const hour = localHour(at, this.timeZone);
    let r = this.hourly.get(hour);
    if (!r) {
      r = { hour, tasks: 0, retries: 0, spooled: 0, replayed: 0, spoolDepth: 0, maintenance: inMaintenance(this.plan, at, this.timeZone), held: false };
      this.hourly.set(hour, r);
    }
    return r;
  }

  /**
   * Books an ended execution that started at `at` (in the API's maintenance window or not). `key`:
   * where it is kept, when one execution runs several tasks (a high-volume child: one per item).
   */
  record(executionArn: string, name: string, envelope: TaskEnvelope, out: Pick<ExecutionOutcome, 'status' | 'error' | 'cause' | 'retries'>, at: Date, maintenance: boolean, key = executionArn): void {
    this.outcomes.set(key, {
      executionArn,
      name,
      job: envelope.job,
      taskId: envelope.taskId,
      attempt: envelope.attempt,
      status: out.status,
      error: out.error,
      cause: out.cause,
      retries: out.retries,
    });
    if (out.status !== 'SUCCEEDED') this.notSucceeded += 1;
    const r = this.row(at);
    const retries = Object.values(out.retries).reduce((a, b) => a + b, 0);
    r.retries += retries;
    if (envelope.attempt === 1) r.tasks += 1;
    if (out.status !== 'SUCCEEDED') r.spooled += 1;
    else if (envelope.attempt > 1) r.replayed += 1;
    if (maintenance) {
      this.windowExecutions += 1;
      for (const [state, n] of Object.entries(out.retries)) if (this.dependentStates.has(state)) this.windowRetries += n;
    }
  }

  /** The hours in order, spool depth carried through hours without ticks (it is sampled at ticks). */
  hourRows(): HourRow[] {
    const rows = [...this.hourly.values()].sort((a, b) => a.hour.localeCompare(b.hour));
    for (let i = 1; i < rows.length; i++) if (rows[i].tasks === 0 && rows[i].spoolDepth === 0) rows[i].spoolDepth = rows[i - 1].spoolDepth;
    return rows;
  }
}
