import { ResolvedJob } from './types';

/**
 * Retiring a job in two steps (docs/deploy.md, "Retiring a job"). Deleting a state machine ends its
 * running executions (AWS Step Functions API reference, "DeleteStateMachine": running executions
 * are stopped at their next state transition), and the status-change capture refuses an execution
 * of a job it does not know: removing a job from the config in one deploy loses the tasks it was
 * running. So:
 * 1. `retire: true` on the job: its schedule is off; its state machine, step functions, the
 *    capture's and the reconciler's knowledge of it and reprocess's stay, so running executions end
 *    and failures are still spooled and replayable.
 * 2. A later deploy removes it, once its executions have ended.
 *
 * Synth cannot ask AWS what is deployed (no credentials at synth, and CloudFormation's view is not
 * the executions'). It reads a committed record instead, `deployed-jobs.json`, which
 * `npm run jobs:record -- --stage <stage>` writes after each successful deploy: each deployed job
 * of each stage, `active` or `retiring` (since when, with its execution timeout). A job in the
 * record that the config no longer deploys is refused unless it has been retiring for at least its
 * execution timeout (no execution of it can still run: each ends TIMED_OUT by then at the latest).
 *
 * The limit: the record says what was recorded after a deploy, not what AWS runs. A deploy that is
 * not followed by `jobs:record` leaves it stale: a job deployed but never recorded can be removed
 * unchecked, and a retire deployed but not recorded keeps the removal refused until it is.
 */

/** Name of the committed record, at the project root. */
export const DEPLOYED_JOBS_FILE = 'deployed-jobs.json';

/** One job of a stage as recorded after a deploy. */
export type DeployedJob =
  | { readonly state: 'active' }
  | { readonly state: 'retiring'; readonly since: string; readonly executionTimeoutSeconds: number };

/** The record: stage -> job -> state. */
export type DeployedJobsRecord = Readonly<Record<string, Readonly<Record<string, DeployedJob>>>>;

/** Parses the record (file content); the message says how to fix it. */
export function parseDeployedJobs(text: string): DeployedJobsRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`${DEPLOYED_JOBS_FILE} is not JSON: restore it from git, or rewrite it with npm run jobs:record -- --stage <stage>`);
  }
  const isObj = (o: unknown): o is Record<string, unknown> => typeof o === 'object' && o !== null && !Array.isArray(o);
  if (!isObj(v)) throw new Error(`${DEPLOYED_JOBS_FILE} must be an object { "<stage>": { "<job>": { "state": ... } } }`);
  for (const [stage, jobs] of Object.entries(v)) {
    if (!isObj(jobs)) throw new Error(`${DEPLOYED_JOBS_FILE}: "${stage}" must map job names to their state`);
    for (const [job, d] of Object.entries(jobs)) {
      const ok =
        isObj(d) &&
        (d.state === 'active' || (d.state === 'retiring' && typeof d.since === 'string' && !Number.isNaN(Date.parse(d.since)) && Number.isInteger(d.executionTimeoutSeconds)));
      if (!ok) throw new Error(`${DEPLOYED_JOBS_FILE}: ${stage}.${job} must be {"state":"active"} or {"state":"retiring","since":"<ISO time>","executionTimeoutSeconds":<n>}`);
    }
  }
  return v as DeployedJobsRecord;
}

/**
 * Problems of a stage's config against its record: each job recorded as deployed that the config
 * no longer deploys must have been retiring for at least its execution timeout.
 */
export function removalProblems(stage: string, deployed: Readonly<Record<string, DeployedJob>> | undefined, jobs: ReadonlyArray<Pick<ResolvedJob, 'name'>>, now: Date): string[] {
  const kept = new Set(jobs.map((j) => j.name));
  const problems: string[] = [];
  for (const [name, d] of Object.entries(deployed ?? {})) {
    if (kept.has(name)) continue;
    if (d.state !== 'retiring') {
      problems.push(
        `job "${name}" is deployed in stage "${stage}" (${DEPLOYED_JOBS_FILE}) but this config removes it: deleting its state machine stops its running executions and their tasks are lost. Retire it first: keep it with retire: true, deploy, run npm run jobs:record -- --stage ${stage}, and remove it once its executions have ended (docs/deploy.md, "Retiring a job")`,
      );
      continue;
    }
    const endsAt = Date.parse(d.since) + d.executionTimeoutSeconds * 1000;
    if (now.getTime() < endsAt) {
      problems.push(
        `job "${name}" has been retiring in stage "${stage}" since ${d.since}; an execution of it may run until ${new Date(endsAt).toISOString()} (its execution timeout, ${d.executionTimeoutSeconds} s): remove it after that (docs/deploy.md, "Retiring a job")`,
      );
    }
  }
  return problems;
}

/**
 * The record after a successful deploy of `stage` with `jobs`: active or retiring (a job already
 * retiring keeps its `since`); jobs no longer deployed leave the record (their removal was deployed).
 */
export function recordDeploy(previous: DeployedJobsRecord, stage: string, jobs: ReadonlyArray<Pick<ResolvedJob, 'name' | 'retiring' | 'executionTimeoutSeconds'>>, now: Date): DeployedJobsRecord {
  const before = previous[stage] ?? {};
  const entry: Record<string, DeployedJob> = {};
  for (const j of jobs) {
    const was = before[j.name];
    entry[j.name] = j.retiring
      ? { state: 'retiring', since: was?.state === 'retiring' ? was.since : now.toISOString(), executionTimeoutSeconds: j.executionTimeoutSeconds }
      : { state: 'active' };
  }
  return { ...previous, [stage]: entry };
}
