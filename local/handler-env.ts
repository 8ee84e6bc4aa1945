/**
 * Per-invocation environments for handlers that share one process (the live stage, local/live-stage.ts).
 *
 * In Lambda every function has its own process and `process.env`. Here many functions' handlers
 * run concurrently in one process, and a handler may read its environment after an `await` (e.g.
 * the proof steps read their table's name after the hold check). Swapping `process.env` before each
 * call is not enough: by the time the handler resumes, another function may have swapped in its own
 * environment, and the read throws "Environment variable ... is not set" or, worse, finds another
 * function's value. So `process.env` is replaced by a view that, inside `run(env, fn)`, reads and
 * writes the environment of that invocation (carried across awaits by AsyncLocalStorage) and,
 * outside, the process's own. Never bundled into Lambda code.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** Isolated handler environments over `process.env`; `restore()` puts the original object back. */
export interface HandlerEnv {
  /** Runs `fn` (and everything it awaits or schedules) with `env` as its `process.env`. */
  run<T>(env: Readonly<Record<string, string | undefined>>, fn: () => T): T;
  restore(): void;
}

/** Replaces `process.env` with the isolating view (one per process: a second install would nest views). */
export function installHandlerEnv(): HandlerEnv {
  const original = process.env;
  const store = new AsyncLocalStorage<Record<string, string>>();
  const target = (): Record<string, string | undefined> => store.getStore() ?? original;
  const view = new Proxy(original, {
    get: (_t, k) => (typeof k === 'string' ? target()[k] : undefined),
    set: (_t, k, v) => {
      // process.env coerces what it stores to strings; so does this.
      if (typeof k === 'string') target()[k] = String(v);
      return true;
    },
    has: (_t, k) => typeof k === 'string' && k in target(),
    deleteProperty: (_t, k) => (typeof k === 'string' ? delete target()[k] : true),
    ownKeys: () => Object.keys(target()),
    getOwnPropertyDescriptor: (_t, k) => {
      const e = target();
      return typeof k === 'string' && k in e ? { value: e[k], writable: true, enumerable: true, configurable: true } : undefined;
    },
  });
  process.env = view;
  return {
    run: (env, fn) => {
      const copy: Record<string, string> = {};
      for (const [k, v] of Object.entries(env)) if (v !== undefined) copy[k] = v;
      return store.run(copy, fn);
    },
    restore: () => {
      if (process.env === view) process.env = original;
    },
  };
}
