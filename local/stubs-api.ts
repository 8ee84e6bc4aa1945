import type { RequestHandler } from 'msw';

/**
 * What a job's stubs.ts (lambdas/jobs/<job>/stubs.ts) exports as `stubs`, for the offline runs
 * (`npm start`, `npx scheduled-jobs local <job>`; local/job-stubs.ts applies them). Kept apart from
 * the machinery so a job's stubs file imports nothing heavy. See docs/job-authoring.md.
 */
export interface JobStubs {
  /** msw 2 handlers for the job's outgoing HTTP calls (a call no handler matches fails, never reaches the network). */
  readonly http?: ReadonlyArray<RequestHandler>;
  /** SSM parameter name -> value, for `getParameterValue(name)`. */
  readonly ssmParameters?: Readonly<Record<string, string>>;
  /** Secrets Manager secret name -> string value, for `getSecretValue(name)`. */
  readonly secrets?: Readonly<Record<string, string>>;
  /** Environment variables set on the job's functions in offline runs (not `AWS_*`). */
  readonly environment?: Readonly<Record<string, string>>;
}

/** Typed identity, so a job's stubs.ts gets completion and checks: `export const stubs = defineStubs({ ... })`. */
export function defineStubs(stubs: JobStubs): JobStubs {
  return stubs;
}

/** The knob the scaffolded producers read for their tasks per tick (`local <job> --tasks N`). */
export const TASKS_PER_TICK_ENV = 'TASKS_PER_TICK';
