/**
 * Imported first by the offline run: Powertools' shared logger and metrics (lambdas/shared/powertools.ts)
 * are built when the first module that imports them loads, which is while the run's own imports load
 * (the stack's constructs import handler-side helpers). They read their settings from the environment
 * then, so the quiet defaults must be in place before that: errors only, no metrics, no tracing. The
 * run raises the log level itself with `--verbose`.
 */
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
export {};
