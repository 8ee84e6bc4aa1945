import { ResolvedJob, ResolvedLambdaStep, ResolvedStep } from './types';

/**
 * The execution history budget of a job (issue 17, item 7). A Standard execution's history holds
 * at most 25,000 events (AWS Step Functions developer guide, "Step Functions service quotas",
 * quotas related to state machine executions: "Maximum execution history size: 25,000 events");
 * an inline Map's iterations count against its parent's history. An execution that reaches it
 * fails, outside the workflow's Catch, and a replay of it runs the same map again and overflows
 * again. So the events of a job's longest run are counted at synth from
 * its shape, with the history events Step Functions writes per state (AWS Step Functions API
 * reference, "HistoryEvent"): a Lambda Task state writes TaskStateEntered, TaskScheduled,
 * TaskStarted, TaskSucceeded, TaskStateExited (5); a retry adds TaskFailed or TaskTimedOut,
 * TaskScheduled, TaskStarted (3); a Map state MapStateEntered, MapStateStarted, MapStateSucceeded,
 * MapStateExited (4) and each iteration MapIterationStarted and MapIterationSucceeded (2); a
 * Parallel state 4 likewise; a Pass or Choice state entered and exited (2).
 */

/** Events a Standard execution's history may hold (AWS Step Functions service quotas). */
export const MAX_HISTORY_EVENTS = 25_000;
const TASK_EVENTS = 5;
const RETRY_EVENTS = 3;
const CONTAINER_EVENTS = 4;
const ITERATION_EVENTS = 2;
const PASS_EVENTS = 2;
/**
 * The workflow's own states on the longest successful path besides the steps: ExecutionStarted and
 * ExecutionSucceeded, the Route choice, AcquireLock / ReleaseLock and RecordSuccess tasks.
 */
const FRAME_EVENTS = 2 + PASS_EVENTS + 3 * TASK_EVENTS;

/** A step's history events: without any retry, and with every retry its own policy allows. */
export interface HistoryCount {
  readonly events: number;
  readonly eventsWithRetries: number;
}

function lambdaEvents(s: ResolvedLambdaStep): HistoryCount {
  return { events: TASK_EVENTS, eventsWithRetries: TASK_EVENTS + RETRY_EVENTS * s.retry.maxAttempts };
}

function chainEvents(steps: ReadonlyArray<ResolvedLambdaStep>): HistoryCount {
  return steps.map(lambdaEvents).reduce((a, b) => ({ events: a.events + b.events, eventsWithRetries: a.eventsWithRetries + b.eventsWithRetries }), { events: 0, eventsWithRetries: 0 });
}

/** History events of one top-level step (a map: all its items, each running its chain once). */
export function stepHistoryEvents(s: ResolvedStep): HistoryCount {
  if (s.kind === 'lambda') return lambdaEvents(s);
  if (s.kind === 'parallel') {
    const branches = s.branches.map(chainEvents);
    return {
      events: CONTAINER_EVENTS + branches.reduce((n, b) => n + b.events, 0),
      eventsWithRetries: CONTAINER_EVENTS + branches.reduce((n, b) => n + b.eventsWithRetries, 0),
    };
  }
  const item = chainEvents(s.steps);
  return {
    events: CONTAINER_EVENTS + s.maxItems * (ITERATION_EVENTS + item.events),
    eventsWithRetries: CONTAINER_EVENTS + s.maxItems * (ITERATION_EVENTS + item.eventsWithRetries),
  };
}

/** The job's history events on its longest successful run, without and with every step retry. */
export function jobHistoryEvents(job: Pick<ResolvedJob, 'steps'>): HistoryCount {
  return job.steps.map(stepHistoryEvents).reduce((a, b) => ({ events: a.events + b.events, eventsWithRetries: a.eventsWithRetries + b.eventsWithRetries }), { events: FRAME_EVENTS, eventsWithRetries: FRAME_EVENTS });
}

/**
 * Problems (the history overflows on every run, so on every replay: refused) and warnings (it
 * overflows only when the steps retry a lot) of a job's history budget, with the numbers.
 */
export function historyBudgetFindings(where: string, job: Pick<ResolvedJob, 'steps'>): { problems: string[]; warnings: string[] } {
  const total = jobHistoryEvents(job);
  const maps = job.steps.filter((s) => s.kind === 'map');
  const detail = maps.map((m) => `${m.name}: ${m.maxItems} items x ${(stepHistoryEvents(m).events - CONTAINER_EVENTS) / m.maxItems} events`).join(', ');
  const problems: string[] = [];
  const warnings: string[] = [];
  if (total.events > MAX_HISTORY_EVENTS) {
    problems.push(
      `${where}: a run writes about ${total.events} history events with no retry at all (${detail || 'its steps'}), over Step Functions' limit of ${MAX_HISTORY_EVENTS} per execution: it would fail on every run and every replay. Lower the map's maxItems, or split the items over several tasks`,
    );
  } else if (total.eventsWithRetries > MAX_HISTORY_EVENTS) {
    warnings.push(
      `${where}: a run writes about ${total.events} history events, ${total.eventsWithRetries} if every step uses its retries (${detail || 'its steps'}), over Step Functions' limit of ${MAX_HISTORY_EVENTS}: a run with many retries fails, and its replay may fail again. Lower maxItems or the item steps' retry.maxAttempts`,
    );
  }
  return { problems, warnings };
}
