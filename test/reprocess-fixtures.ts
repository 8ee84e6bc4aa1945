/** Spool messages and deployment rules for the reprocess tests, built from the shared contracts (lambdas/shared). */
import { JobRules, REPROCESS_ENV } from '../lambdas/reprocess/env';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { JsonValue } from '../lambdas/shared/json';
import { taskIdFor } from '../lambdas/shared/names';
import { SPOOL_ATTR_ERROR, SPOOL_ATTR_FIRST_SENT, SPOOL_ATTR_JOB, SPOOL_ATTR_KIND, SpoolKind, SpoolMessage } from '../lambdas/shared/spool-message';

export const REGION = 'us-east-1';
export const ACCOUNT = '123456789012';
export const SM_A = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:JobA`;
export const SM_B = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:JobB`;
export const SM_UNKNOWN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:Removed`;
/**
 * The tick of the fixtures' tasks, for tests on a clock they control (drain() with `now`, classify
 * with `nowMs`): in the past of every such clock. NOT for tests that drive the reprocess handler:
 * it reads the real clock and quarantines ticks older than MAX_REPLAY_TICK_AGE_MS, so a fixed date
 * there fails once the calendar moves past it; those use {@link RECENT_TICK} or {@link tickDaysAgo}.
 */
export const TICK = '2026-11-25T03:00:00.000Z';

/** A whole-hour tick `days` before `nowMs` (the real clock by default; task ids carry minutes). */
export function tickDaysAgo(days: number, nowMs = Date.now()): string {
  return new Date(Math.floor((nowMs - days * 86_400_000) / 3_600_000) * 3_600_000).toISOString();
}

/** The tick of tasks replayed through the reprocess handler: the whole hour one to two hours before the run. */
export const RECENT_TICK = tickDaysAgo(1 / 24);
/** Both jobs: Fetch -> CallApi -> Publish; job-a's CallApi depends on orders-api. */
export const STEPS = ['Fetch', 'CallApi', 'Publish'];
export const JOBS: ReadonlyMap<string, JobRules> = new Map<string, JobRules>([
  ['job-a', { stateMachineArn: SM_A, steps: STEPS, dependencies: { CallApi: ['orders-api'] } }],
  ['job-b', { stateMachineArn: SM_B, steps: STEPS, dependencies: {} }],
]);
/** What Fetch returned, i.e. what CallApi was given. */
export const FETCHED = { fetched: true, orderId: 'o-1' };

/** The environment the Reprocess construct would set for {@link JOBS}. */
export function jobsEnv(jobs: ReadonlyMap<string, JobRules> = JOBS): Record<string, string> {
  const entries = [...jobs.entries()];
  return {
    [REPROCESS_ENV.jobStateMachines]: JSON.stringify(Object.fromEntries(entries.map(([j, r]) => [j, r.stateMachineArn]))),
    [REPROCESS_ENV.jobSteps]: JSON.stringify(Object.fromEntries(entries.map(([j, r]) => [j, r.steps]))),
    [REPROCESS_ENV.jobDependencies]: JSON.stringify(Object.fromEntries(entries.map(([j, r]) => [j, r.dependencies]))),
  };
}

export function envelope(job: string, key: string, attempt = 1, scheduledTime = TICK): TaskEnvelope {
  return { v: 1, taskId: taskIdFor(job, new Date(scheduledTime), key), job, key, params: { email: `${key}@example.com` }, attempt, scheduledTime };
}

export function spoolMessage(opts: {
  job?: string;
  key: string;
  attempt?: number;
  kind?: SpoolKind;
  error?: string;
  stateMachineArn?: string;
  executionArn?: string | null;
  failedState?: string;
  /** `undefined` leaves the field out (a message from before resume existed). @default FETCHED */
  stepInput?: JsonValue | null | undefined;
  scheduledTime?: string;
}): SpoolMessage {
  const job = opts.job ?? 'job-a';
  const kind = opts.kind ?? 'ExecutionFailed';
  const input = kind === 'ProducerFailed' ? null : envelope(job, opts.key, opts.attempt ?? 1, opts.scheduledTime);
  const stepInput = 'stepInput' in opts ? opts.stepInput : FETCHED;
  return {
    version: 1,
    kind,
    job,
    taskId: input?.taskId ?? `${job}-20261125T0300Z-producer`,
    input,
    error: opts.error ?? 'ExternalApiUnavailableError',
    cause: '{"errorMessage":"503"}',
    failedState: opts.failedState ?? (kind === 'ProducerFailed' ? 'Producer' : 'CallApi'),
    executionArn: opts.executionArn === undefined ? null : opts.executionArn,
    stateMachineArn: opts.stateMachineArn ?? (job === 'job-b' ? SM_B : SM_A),
    ...(stepInput === undefined ? {} : { stepInput }),
  };
}

/** SQS message attributes as the spooling side sets them (and the sweeper's first send time, if given). */
export function spoolAttributes(m: { job: string; error: string; kind: string }, firstSentAt?: number) {
  return {
    [SPOOL_ATTR_JOB]: { DataType: 'String', StringValue: m.job },
    [SPOOL_ATTR_ERROR]: { DataType: 'String', StringValue: m.error },
    [SPOOL_ATTR_KIND]: { DataType: 'String', StringValue: m.kind },
    ...(firstSentAt === undefined ? {} : { [SPOOL_ATTR_FIRST_SENT]: { DataType: 'String', StringValue: String(firstSentAt) } }),
  };
}

/** `arn:...:stateMachine:X` + name -> the execution's ARN. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}
