/**
 * Busy locks are the lock function's normal errors (LockBusy: the state retries it), so its Lambda
 * Errors metric cannot page. Every OTHER failure (the table unreachable, a bad key value) is
 * counted as this metric, with the function's name as a dimension (one per deployment), and alarms.
 */
export const LOCK_FAILURES_METRIC = 'LockFailures';
