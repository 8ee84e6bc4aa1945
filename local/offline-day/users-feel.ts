/**
 * What users feel, from the run's ground truth (not from the parameter log, which a fault can thin):
 *
 * - **lost**: a task with no SUCCEEDED execution that is not parked where an operator looks (the
 *   spool, which also holds tasks waiting out a hold as `DependencyOnHold`; the quarantine), plus
 *   every producer invocation Lambda dropped with no on-failure destination (its tasks never
 *   existed; a record kept in the failed-invocations queue is parked, not lost);
 * - **hidden**: a lost task that the lost-task monitor does not count (the saved `LostTasks` query
 *   over the run's days and the next: a client `Started` record with no worker record for the task),
 *   plus every dropped producer invocation (no alarm watches them). A task parked in the spool or the
 *   quarantine is surfaced by their alarms; a record in the failed-invocations queue by its alarm.
 *   "Within a day" is the monitor's own window: the day of the start and the next.
 * - **duplicatedSideEffects**: side-effects.ts.
 */

/** An execution, as the books saw it. */
export interface ExecutionEnd {
  readonly taskId: string;
  readonly status: string;
}

export interface UsersFeelInput {
  readonly executions: ReadonlyArray<ExecutionEnd>;
  /** Task ids started by a StartExecution that never ran to an end in the run (still running). */
  readonly neverEnded?: ReadonlyArray<string>;
  readonly spooled: ReadonlySet<string> | ReadonlyMap<string, unknown>;
  readonly quarantined: ReadonlySet<string>;
  /** Producer invocations dropped after Lambda's retries (`job|tick`). */
  readonly droppedTicks: ReadonlyArray<string>;
  /** Task ids the lost-task monitor's query lists. */
  readonly monitored: ReadonlySet<string>;
  readonly duplicatedSideEffects: number;
}

export interface UsersFeel {
  readonly lost: number;
  readonly lostTaskIds: string[];
  readonly duplicatedSideEffects: number;
  readonly hidden: number;
  readonly hiddenTaskIds: string[];
}

/** Counts lost, hidden and duplicated side effects (see the module comment for the definitions). */
export function usersFeel(input: UsersFeelInput): UsersFeel {
  const succeeded = new Set<string>();
  const tasks = new Set<string>();
  for (const e of input.executions) {
    tasks.add(e.taskId);
    if (e.status === 'SUCCEEDED') succeeded.add(e.taskId);
  }
  for (const t of input.neverEnded ?? []) tasks.add(t);
  const lostTaskIds = [...tasks].filter((t) => !succeeded.has(t) && !input.spooled.has(t) && !input.quarantined.has(t)).sort();
  const hiddenTaskIds = lostTaskIds.filter((t) => !input.monitored.has(t));
  const dropped = input.droppedTicks.map((t) => `tick:${t}`);
  return {
    lost: lostTaskIds.length + dropped.length,
    lostTaskIds: [...lostTaskIds, ...dropped],
    duplicatedSideEffects: input.duplicatedSideEffects,
    hidden: hiddenTaskIds.length + dropped.length,
    hiddenTaskIds: [...hiddenTaskIds, ...dropped],
  };
}

/** True when users feel nothing: no task lost, no side effect applied twice, nothing hidden. */
export function usersFeelOk(u: Pick<UsersFeel, 'lost' | 'duplicatedSideEffects' | 'hidden'>): boolean {
  return u.lost === 0 && u.duplicatedSideEffects === 0 && u.hidden === 0;
}
