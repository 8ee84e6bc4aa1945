import { AppConfig, JobConfig } from './types';

/**
 * The built-in proof job of sandbox stages (`stages.<s>.sandbox: true`): what `scheduled-jobs prove`
 * drives to check the app's guarantees in the user's own account (docs/prove.md). Its steps do what
 * their task's params tell them (succeed, fail transiently, fail until fixed, hang, exceed the output
 * budget); the last one calls a declared dependency, so a hold can be proven. It is added to the
 * config of a sandbox stage only: no other stage ever deploys it.
 */

/** Job name of the proof job (the `module` of its parameter-log records). */
export const PROOF_JOB = 'proof';
/** The dependency its last step declares (held by the hold scenario). */
export const PROOF_DEPENDENCY = 'proof-dependency';
/** State names of its steps, in order. */
export const PROOF_STEPS = { prepare: 'ProofPrepare', act: 'ProofAct', callDependency: 'ProofCallDependency' } as const;
/** Retries of ProofAct after a `ProofTransientError` (the transient scenario fails fewer times than this). */
export const PROOF_ACT_RETRIES = 2;
/**
 * Execution timeout of the proof job, seconds: ProofAct's timeout is longer, so a task told to hang
 * ends TIMED_OUT (the timeout scenario) before the step gives up on its own.
 */
export const PROOF_EXECUTION_TIMEOUT_SECONDS = 60;
/** ProofAct's timeout, seconds (longer than the execution's, see above). */
export const PROOF_ACT_TIMEOUT_SECONDS = 120;

/** The proof job's config: a normal job, validated like any other. */
export function proofJobConfig(): JobConfig {
  const retry = (maxAttempts: number, errors: string[]) => ({ maxAttempts, intervalSeconds: 1, backoffRate: 1, retryableErrors: errors });
  return {
    name: PROOF_JOB,
    description: 'Built-in proof job of sandbox stages: driven by `scheduled-jobs prove` (docs/prove.md); its schedule stays off.',
    // Never fires by itself: the prover plans its ticks through reprocess (`source: "tick"`).
    schedule: 'cron(0 0 1 1 ? 2099)',
    enabled: false,
    optIn: true,
    executionTimeoutSeconds: PROOF_EXECUTION_TIMEOUT_SECONDS,
    producer: { entry: 'lambdas/jobs/proof/producer.ts', timeoutSeconds: 30 },
    // Its typed errors (ProofTransientError is the one retried): synth checks retryableErrors against them.
    errors: 'lambdas/jobs/proof/logic.ts',
    steps: [
      { name: PROOF_STEPS.prepare, entry: 'lambdas/jobs/proof/prepare.ts', timeoutSeconds: 10, retry: retry(0, []) },
      { name: PROOF_STEPS.act, entry: 'lambdas/jobs/proof/act.ts', timeoutSeconds: PROOF_ACT_TIMEOUT_SECONDS, retry: retry(PROOF_ACT_RETRIES, ['ProofTransientError']) },
      { name: PROOF_STEPS.callDependency, entry: 'lambdas/jobs/proof/call-dependency.ts', timeoutSeconds: 10, dependsOn: PROOF_DEPENDENCY, retry: retry(0, []) },
    ],
  };
}

/** The config with the proof job (deployed, schedule off) and its dependency added for `stage`. */
export function withProofJob(config: AppConfig, stage: string): AppConfig {
  const stageConfig = config.stages?.[stage] ?? {};
  return {
    ...config,
    dependencies: { ...(config.dependencies ?? {}), [PROOF_DEPENDENCY]: { description: 'Stand-in dependency of the proof job (held by `scheduled-jobs prove`).' } },
    jobs: [...config.jobs, proofJobConfig()],
    stages: { ...(config.stages ?? {}), [stage]: { ...stageConfig, jobs: { ...(stageConfig.jobs ?? {}), [PROOF_JOB]: { deploy: true, enabled: false } } } },
  };
}

/** The stage `resolveConfig` selects (same rule), and whether it is a sandbox. */
export function sandboxOf(config: AppConfig, stage: string | undefined): { stage: string; sandbox: boolean } | null {
  const name = stage ?? config.defaultStage ?? Object.keys(config.stages ?? {})[0];
  if (name === undefined) return null;
  return { stage: name, sandbox: config.stages?.[name]?.sandbox === true };
}
