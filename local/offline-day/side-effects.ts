/**
 * The side effects users feel, counted per (task, step, item): an order the API applied, a part a
 * step processed, a summary published. A second application of one key without an operator asking
 * for it is a duplicated side effect (docs/offline-day.md, "Count what users feel").
 *
 * Two sources write the log:
 * - the fake external API ({@link apiSideEffect}): an accepted order is applied once per
 *   `idempotency-key` when the API honours keys (as payment and order APIs commonly do), else on
 *   every accepted call. The answer may come after the step timed out or its execution was
 *   stopped: the order is applied all the same, as a real API would;
 * - the example steps: each report of `sideEffectApplied(idempotencyKey)` (lambdas/shared/side-effects.ts,
 *   what a step calls where it applies its own side effect) is an application, keyed by the task,
 *   the step and, inside a map, the item's index (the key's parts: {@link parseStepKey}). A step
 *   whose result was recorded returns it without running again (idempotent steps), so it reports
 *   nothing: a re-run that repeats the effect is counted, one that is answered from the record is not.
 *
 * The wrapper also keeps every step invocation in flight until its handler ends: StopExecution and
 * an execution timeout do not stop a running Lambda (Step Functions API reference, StopExecution),
 * so the run waits for those handlers ({@link SideEffectLog.idle}) and their late effects are counted.
 *
 * This module is the offline day's own log; a per-(task, step, item) count inside the fake API
 * (issue 17 item 3) can feed {@link SideEffectLog.apply} instead.
 */

import { observeSideEffects } from '../../lambdas/shared/side-effects';

/**
 * (task, step, item) of a step's idempotency key, `<taskId>[#r<n>]#<step>[#<index>]`
 * (lambdas/shared/step-idempotency.ts): a start-over (`#r<n>`) is another task run, asked for by an operator.
 */
export function parseStepKey(key: string): { task: string; step: string; item: string } {
  const parts = key.split('#');
  let task = parts.shift() ?? '?';
  if (parts.length > 1 && /^r\d+$/.test(parts[0])) task = `${task}#${parts.shift()}`;
  return { task, step: parts[0] ?? '?', item: parts[1] ?? '-' };
}

/** One key's applications. */
export interface SideEffectEntry {
  readonly task: string;
  readonly step: string;
  readonly item: string;
  applied: number;
  /** Applications an operator asked for (a re-run from the start). */
  requested: number;
}

/** What the report gives of the log. */
export interface SideEffectSummary {
  /** Keys applied at least once. */
  readonly keys: number;
  /** Applications beyond the first of a key, not asked for by an operator. */
  readonly duplicated: number;
  /** The duplicated keys, `task|step|item` (the first 50). */
  readonly duplicatedKeys: string[];
  /** Step handlers that were still running when their execution had already ended (stopped, timed out). */
  readonly ranAfterExecutionEnded: number;
  /** Task starts the local engine attempted after its execution had ended (refused: AWS makes none). */
  readonly refusedAfterExecutionEnded: number;
}

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

/** The log of side effects of one run. */
export class SideEffectLog {
  private readonly entries = new Map<string, SideEffectEntry>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly seenIdempotencyKeys = new Set<string>();
  private lateRuns = 0;
  private refused = 0;

  /** Records one application of (task, step, item); `requested` when an operator asked for it. */
  apply(task: string, step: string, item: string, requested = false): void {
    const k = `${task}|${step}|${item}`;
    let e = this.entries.get(k);
    if (!e) this.entries.set(k, (e = { task, step, item, applied: 0, requested: 0 }));
    e.applied += 1;
    if (requested) e.requested += 1;
  }

  /**
   * The fake API accepted an order: applied unless `idempotencyKey` was applied before and the API
   * honours keys (then it answers the recorded result and changes nothing).
   */
  apiSideEffect(task: string, idempotencyKey: string | undefined, honoursKeys: boolean): void {
    if (honoursKeys && idempotencyKey) {
      if (this.seenIdempotencyKeys.has(idempotencyKey)) return;
      this.seenIdempotencyKeys.add(idempotencyKey);
    }
    this.apply(task, 'CallApi', '-');
  }

  /**
   * Listens to the steps' `sideEffectApplied` reports (one process, one listener at a time);
   * returns its removal.
   */
  observeSteps(): () => void {
    return observeSideEffects({
      applied: (key) => {
        const { task, step, item } = parseStepKey(key);
        this.apply(task, step, item);
      },
    });
  }

  /**
   * A step handler tracked until it ends, even when the engine stopped waiting for it (its side
   * effects, reported through {@link observeSteps}, land late). `executionEnded` tells, when the
   * handler ends, whether its execution had ended first.
   */
  wrapStep(handler: Handler, executionEnded: (event: unknown) => boolean = () => false): Handler {
    return (event, context) => {
      // The local engine may still retry a failed Task after the execution timed out or was stopped
      // (it keeps its retry loop); Step Functions starts no task of an ended execution.
      if (executionEnded(event)) {
        this.refused += 1;
        const e = new Error('the execution has ended: Step Functions starts no task of it');
        e.name = 'ExecutionEnded';
        return Promise.reject(e);
      }
      const p = handler(event, context).then((out) => {
        if (executionEnded(event)) this.lateRuns += 1;
        return out;
      });
      const tracked = p.catch(() => undefined);
      this.inFlight.add(tracked);
      void tracked.finally(() => this.inFlight.delete(tracked));
      return p;
    };
  }

  /** Waits for every step handler still running (a stopped execution's Lambda runs to its end). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Applications per key. */
  all(): SideEffectEntry[] {
    return [...this.entries.values()];
  }

  summary(): SideEffectSummary {
    const dup = this.all().filter((e) => e.applied - e.requested > 1);
    return {
      keys: this.entries.size,
      duplicated: dup.reduce((n, e) => n + e.applied - e.requested - 1, 0),
      duplicatedKeys: dup.slice(0, 50).map((e) => `${e.task}|${e.step}|${e.item}`),
      ranAfterExecutionEnded: this.lateRuns,
      refusedAfterExecutionEnded: this.refused,
    };
  }
}
