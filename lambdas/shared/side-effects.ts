/**
 * Where a step applies a side effect it owns (the example jobs' stand-in for writing to their own
 * store), reported under the call's idempotency key (`StepContext.idempotencyKey`). In Lambda nobody
 * listens and this does nothing; the offline world and the fault matrix install an observer
 * (local/side-effects.ts) that counts applications per key, which is how "a side effect applied twice
 * for one task, step and item" is measured where users would feel it, not from the system's own
 * counters. A step that calls a dependency (an API) is counted by that dependency instead.
 */

/** Told of every application of a side effect. */
export interface SideEffectObserver {
  applied(key: string): void;
}

const SLOT = Symbol.for('scheduled-jobs.side-effect-observer');
type Slot = { [SLOT]?: SideEffectObserver };

/** Reports that the side effect of the call keyed `key` was applied (once per application). */
export function sideEffectApplied(key: string): void {
  (globalThis as Slot)[SLOT]?.applied(key);
}

/** Installs the process's observer (one at a time); returns its removal. */
export function observeSideEffects(observer: SideEffectObserver): () => void {
  const g = globalThis as Slot;
  if (g[SLOT] && g[SLOT] !== observer) throw new Error('another side-effect observer is installed');
  g[SLOT] = observer;
  return () => {
    if (g[SLOT] === observer) delete g[SLOT];
  };
}
