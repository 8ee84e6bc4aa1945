/**
 * The one assertion of the fault matrix: where a task ends. Exactly one of
 * - succeeded: one SUCCEEDED execution and one Success worker record, nothing spooled or quarantined;
 * - spooled and replayable: one spool message, no success; the helper then REPLAYS it with the real
 *   reprocess handler (after the case's fix) and asserts it succeeded, once;
 * - quarantined: one quarantine message with the expected reason, no success, nothing spooled;
 * and always: lost 0 (it is in one of those three places) and duplicated 0 (no execution name
 * created twice, no second success, nothing still running).
 */
import type { ReprocessPayload } from '../../lambdas/reprocess/payload';
import type { ReprocessSummary } from '../../lambdas/reprocess/drain';
import { SpoolKind } from '../../lambdas/shared/spool-message';
import type { StandinExecution } from '../../local/sfn-standin';
import { Outcome } from './matrix';
import { QueuedMessage, World } from './world';

export type ExpectedEnd =
  | { readonly succeeded: true }
  | {
      readonly spooled: {
        readonly error: string | RegExp;
        readonly kind?: SpoolKind;
        readonly failedState?: string;
        /** What the operator fixes before the replay. */
        readonly fix?: () => Promise<void>;
        /** The replay's payload besides the task id. @default {} (resume at the failed step) */
        readonly replay?: ReprocessPayload;
        /** Checks on the replay's summary (e.g. resumed, started over). */
        readonly replayed?: (summary: ReprocessSummary) => void;
      };
    }
  | { readonly quarantined: RegExp };

/** What the helper found (for a case's own further checks). */
export interface TaskEnd {
  readonly outcome: Outcome;
  readonly executions: StandinExecution[];
  readonly message: QueuedMessage | null;
  /** For a spooled task: the replay's summary. */
  readonly replay: ReprocessSummary | null;
}

/** Messages that are this task's: its id in the body (a cut body included). A duplicate-key spec carries the first spec's id but is another spec, not this task. */
function isTasks(m: QueuedMessage, taskId: string): boolean {
  if (m.body) return m.body.taskId === taskId && !(m.body.kind === 'Rejected' && m.body.error === 'DuplicateTaskKey');
  return m.raw.includes(`"taskId":"${taskId}"`);
}

async function snapshot(world: World, taskId: string) {
  const executions = world.executionsOf(taskId);
  const successes = world.workerRecords().filter((r) => r.task_id === taskId && r.result === 'Success');
  const spooled = (await world.spool()).filter((m) => isTasks(m, taskId));
  const quarantined = (await world.quarantine()).filter((m) => isTasks(m, taskId));
  return { executions, successes, spooled, quarantined };
}

/** Asserts the task's end (see the module comment); a spooled task is replayed and must then succeed once. */
export async function expectTaskEnd(world: World, taskId: string, expected: ExpectedEnd): Promise<TaskEnd> {
  const s = await snapshot(world, taskId);
  const where =
    `task ${taskId}: ${s.executions.map((e) => `${e.name}=${e.status}${e.error ? `(${e.error})` : ''}`).join(', ') || 'no execution'}; ` +
    `${s.successes.length} Success record(s); spooled [${s.spooled.map((m) => `${m.body?.error ?? 'unreadable'} in ${m.body?.failedState ?? '?'}`).join(', ')}]; ` +
    `quarantined [${s.quarantined.map((m) => m.attributes.reason).join(', ')}]`;

  // Never duplicated: every name created once, at most one success, nothing left running.
  for (const e of s.executions) expect({ name: e.name, starts: world.starts.get(e.name) ?? 1 }).toEqual({ name: e.name, starts: 1 });
  expect(world.sfn.counters.duplicates).toBe(0);
  expect(s.executions.filter((e) => e.status === 'RUNNING').map((e) => e.name)).toEqual([]);
  const succeeded = s.executions.filter((e) => e.status === 'SUCCEEDED');
  expect({ where, succeeded: succeeded.length <= 1, successRecords: s.successes.length }).toEqual({ where, succeeded: true, successRecords: succeeded.length });

  // Never lost: in exactly one of the three places.
  const places = { succeeded: succeeded.length, spooled: s.spooled.length, quarantined: s.quarantined.length };
  const outcome = (Object.keys(places) as Outcome[]).find((k) => places[k] > 0);
  expect({ where, places: Object.values(places).reduce((a, b) => a + b, 0) }).toEqual({ where, places: 1 });

  if ('succeeded' in expected) {
    expect({ where, outcome }).toEqual({ where, outcome: 'succeeded' });
    return { outcome: 'succeeded', executions: s.executions, message: null, replay: null };
  }
  if ('quarantined' in expected) {
    expect({ where, outcome }).toEqual({ where, outcome: 'quarantined' });
    expect(s.quarantined[0].attributes.reason).toMatch(expected.quarantined);
    return { outcome: 'quarantined', executions: s.executions, message: s.quarantined[0], replay: null };
  }

  // Spooled and replayable: replay it (the operator's fix first) and it must succeed, once.
  expect({ where, outcome }).toEqual({ where, outcome: 'spooled' });
  const message = s.spooled[0];
  const e = expected.spooled;
  if (typeof e.error === 'string') expect(message.body?.error).toBe(e.error);
  else expect(message.body?.error).toMatch(e.error);
  if (e.kind) expect(message.body?.kind).toBe(e.kind);
  if (e.failedState) expect(message.body?.failedState).toBe(e.failedState);
  await e.fix?.();
  // `max: 1`: the run stops once this task is started instead of long-polling an empty spool (1 s).
  const summary = await world.reprocess({ max: 1, ...e.replay, taskIds: [taskId] });
  expect({ where, started: summary.started, invalid: summary.invalid, failed: summary.failed }).toEqual({ where, started: 1, invalid: 0, failed: 0 });
  e.replayed?.(summary);
  await world.settle();
  const after = await expectTaskEnd(world, taskId, { succeeded: true });
  return { outcome: 'spooled', executions: after.executions, message, replay: summary };
}

/** The file's world after its cases: the saved lost-task query finds nothing, no name was created twice, no capture failed. */
export async function expectNothingLost(world: World): Promise<void> {
  await world.settle();
  expect([...world.starts.entries()].filter(([, n]) => n > 1)).toEqual([]);
  expect(world.sfn.counters.duplicates).toBe(0);
  expect(world.captureFailures.map((f) => f.errors)).toEqual([]);
  const successes = new Map<string, number>();
  for (const r of world.workerRecords()) if (r.result === 'Success') successes.set(r.task_id, (successes.get(r.task_id) ?? 0) + 1);
  expect([...successes.entries()].filter(([, n]) => n > 1)).toEqual([]);
  expect(await world.lostTasks()).toBe(0);
  // What users feel: no side effect applied twice for one task, step and item (the example steps'
  // own and the orders the API accepted), whatever ran twice underneath.
  expect(world.sideEffects.duplicated()).toEqual([]);
}

/**
 * The specs' canary (./specs.ts, in every case's params and so in the example steps' error messages)
 * in no line the functions wrote: their logs, the runtime's line for each uncaught error, the errors'
 * traces and task failures (local/offline-day/canary.ts). Some line was written, so the search had
 * something to search.
 */
export function expectCanaryInside(world: World): void {
  const c = world.canary();
  expect(c.leaks).toEqual([]);
  expect(c.outsideTotal).toBe(0);
  expect((c.recorded.logs ?? 0) + (c.recorded['traces.ndjson'] ?? 0)).toBeGreaterThan(0);
}
