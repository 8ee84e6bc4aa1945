/**
 * Imported first by the offline run: Powertools' shared logger and metrics (lambdas/shared/powertools.ts)
 * are built when the first module that imports them loads, which is while the run's own imports load
 * (the stack's constructs import handler-side helpers). They read their settings from the environment
 * then, so the quiet defaults must be in place before that: errors only, no metrics, no tracing. The
 * run raises the log level itself with `--verbose`.
 *
 * With tracing off, the X-Ray SDK (loaded by Powertools' Tracer) starts in its documented manual mode
 * (`AWS_XRAY_MANUAL_MODE`): in its default automatic mode it installs a cls-hooked async hook with a
 * destroy callback at load, which taxes every promise of the process. In AWS that hook lives in each
 * function's own process; here one process runs every handler, dynalite, the stand-ins and the SDK
 * clients of all of them, and the hook cost about 7 s of CPU of a 64 s default run (promise destroy
 * tracking and the garbage collection it adds; docs/offline-day.md, "Where the time goes").
 */
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
if (process.env.POWERTOOLS_TRACE_ENABLED === 'false') process.env.AWS_XRAY_MANUAL_MODE ??= 'true';
export {};
