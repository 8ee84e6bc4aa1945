import { resolve } from 'node:path';
import { PROOF_JOB, PROOF_STEPS } from '../../lib/config/proof-job';
import { ResolvedAppConfig } from '../../lib/config/types';
import { synthesizeApp } from '../../local/offline-day/app-model';
import { DEFAULT_ARGS } from '../../scripts/cost-model';
import { Assumptions, monthlyCost } from '../../scripts/cost/model';
import { ATHENA_MIN_BYTES, cost, DAYS_PER_MONTH, PRICES, TB } from '../../scripts/cost/prices';
import { recordSizes } from '../../scripts/cost/records';
import { appShape } from '../../scripts/cost/shape';

/**
 * What one proof run does, in the cost model's terms (cli/prove/scenarios.ts): 10 tasks of the proof
 * job (succeed, transient, replay, stop, timeout, hold, 2 duplicate, oversize, and one spare), of
 * which 5 fail into the spool (replay, stop, timeout, hold, oversize; the model replays every one
 * once, an upper bound: the prover replays 2 and deletes 3), 1 retry (transient); two Lambda
 * invocations that hang to their function's timeout (stop, timeout); two Athena queries (lost-tasks).
 */
export const PROOF_RUN = { tasks: 10, failed: 5, retries: 1, hangs: 2, athenaQueries: 2 } as const;

/** The function timeout a hanging ProofAct runs to, s (lib/config/proof-job.ts: its step timeout). */
const HANG_SECONDS = 120;

/**
 * The cost of one proof run from the project's cost model (scripts/cost/model.ts) over the stage's
 * synthesized template: the model's month with the run's tasks less the month without them (what the
 * tasks add: transitions, step and record invocations, spool, KMS, DynamoDB, logs), plus what the
 * model does not derive from tasks: the hangs' Lambda seconds and the Athena minimum per query. The
 * model's own assumptions (list prices in us-east-1, Lambda duration, log bytes) apply.
 */
export function proofRunCostUsd(config: ResolvedAppConfig, projectRoot = resolve(__dirname, '..', '..')): { usd: number; lines: Array<[string, number]> } {
  const synthesized = synthesizeApp(config, projectRoot, 'us-east-1');
  const shape = appShape(synthesized, config, { mapItems: DEFAULT_ARGS.mapItems, replay: DEFAULT_ARGS.replay });
  const proof = shape.jobs.find((j) => j.job === PROOF_JOB);
  if (!proof) throw new Error(`the stage's template has no ${PROOF_JOB} job: deploy the stage with sandbox: true`);
  const a: Assumptions = {
    failureRate: PROOF_RUN.failed / PROOF_RUN.tasks,
    retriesPerTask: PROOF_RUN.retries / PROOF_RUN.tasks,
    durationMs: DEFAULT_ARGS.durationMs,
    tasksPerTickMessage: shape.tasksPerBatch ?? 1,
    logBytesPerInvocation: DEFAULT_ARGS.logBytesPerInvocation,
    stepOutputBytes: DEFAULT_ARGS.stepOutputBytes,
    idleReceivesPerDay: DEFAULT_ARGS.idleReceivesPerDay,
    mix: new Map(shape.jobs.map((j) => [j.job, j.job === PROOF_JOB ? 1 : 0])),
  };
  const sizes = recordSizes(DEFAULT_ARGS.paramsBytes, PROOF_JOB);
  // The run's tasks priced at the margin of a busy month (N/30 more a day is N more tasks): the model
  // is a steady state, so what it spreads over a day (KMS data keys per reuse period, the first
  // trace each second) is already paid there and only what each task adds remains.
  const busy = 100_000;
  const withRun = monthlyCost(shape, sizes, a, busy + PROOF_RUN.tasks / DAYS_PER_MONTH);
  const without = monthlyCost(shape, sizes, a, busy);
  const lines: Array<[string, number]> = withRun.components
    .map((c, i): [string, number] => [`${c.component} (cost model, ${PROOF_RUN.tasks} proof tasks)`, c.usd - (without.components[i]?.usd ?? 0)])
    .filter(([, usd]) => usd > 0);
  // The hanging step's function (its logical id carries the step's name).
  const fn = [...shape.functions].find(([id]) => id.includes(PROOF_STEPS.act))?.[1];
  const gbSeconds = PROOF_RUN.hangs * HANG_SECONDS * ((fn?.memoryMiB ?? 1024) / 1024);
  lines.push([`Lambda duration of ${PROOF_RUN.hangs} hangs to the ${HANG_SECONDS} s timeout`, cost(fn?.arch === 'x86_64' ? PRICES.lambdaGbSecondX86 : PRICES.lambdaGbSecondArm, gbSeconds)]);
  lines.push([`Athena (${PROOF_RUN.athenaQueries} queries at the 10 MB minimum)`, cost(PRICES.athenaTb, (PROOF_RUN.athenaQueries * ATHENA_MIN_BYTES) / TB)]);
  return { usd: lines.reduce((n, [, v]) => n + v, 0), lines };
}
