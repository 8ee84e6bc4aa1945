import { AppFunction } from './app-function';

/**
 * How a function's Lambda errors are watched by FunctionAlarms (lib/observability.ts), when not
 * simply "any error alarms":
 * - `rate`: errors are part of its normal work (a job step's retries): alarm on an error rate;
 * - `own`: its construct has a sharper alarm of its own (the sweeper's two-periods rule, the
 *   monitor's "count unknown", the lock's failures other than busy locks): a second alarm would
 *   page twice for one thing;
 * - `caller`: a person invokes it and reads the error at once (reprocess refusing a payload).
 */
export type ErrorWatch = 'rate' | 'own' | 'caller';

const watches = new WeakMap<AppFunction, ErrorWatch>();

/** Declares how `fn`'s errors are watched; call it before FunctionAlarms is built (it is built last). */
export function watchErrors(fn: AppFunction, how: ErrorWatch): void {
  watches.set(fn, how);
}

/** How `fn`'s errors are watched: `any` unless declared. */
export function errorWatchOf(fn: AppFunction): 'any' | ErrorWatch {
  return watches.get(fn) ?? 'any';
}
