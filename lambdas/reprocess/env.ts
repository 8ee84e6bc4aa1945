import { intEnv, requireEnv } from '../shared/env';
import { HoldWindow } from '../shared/holds';

/**
 * The reprocess Lambda's environment: the contract between the Reprocess construct
 * (lib/reprocess.ts writes it from the resolved config) and the handler (reads it here). JSON
 * values are small maps keyed by job or dependency name; nothing in them is a param.
 */
export const REPROCESS_ENV = {
  spoolQueueUrl: 'SPOOL_QUEUE_URL',
  quarantineQueueUrl: 'QUARANTINE_QUEUE_URL',
  /** Lambda's on-failure records of the app's asynchronously invoked functions. */
  failedInvocationsQueueUrl: 'FAILED_INVOCATIONS_QUEUE_URL',
  /**
   * JSON `{label: functionName}` (or full ARNs): the only functions reprocess invokes
   * (failed-invocation re-runs, tick re-runs): `producer:<job>` for each job, `executionCapture`,
   * `sweeper`, `lostTaskMonitor`.
   */
  invocableFunctions: 'INVOCABLE_FUNCTIONS',
  /** `arn:<partition>:lambda:<region>:<account>:function:`: prepended to each name of INVOCABLE_FUNCTIONS. */
  functionArnPrefix: 'FUNCTION_ARN_PREFIX',
  /** JSON `{job: stateMachineName}` (or full ARNs): the only state machine a job's message may be replayed into. */
  jobStateMachines: 'JOB_STATE_MACHINES',
  /** `arn:<partition>:states:<region>:<account>:stateMachine:`: prepended to each name of JOB_STATE_MACHINES. */
  stateMachineArnPrefix: 'STATE_MACHINE_ARN_PREFIX',
  /** JSON `{job: [top-level step names, in order]}`: where a replay may resume. */
  jobSteps: 'JOB_STEPS',
  /** JSON `{job: {topLevelStep: [dependencies of it and its nested steps]}}`; steps without any are left out. */
  jobDependencies: 'JOB_DEPENDENCIES',
  /** JSON `{dependency: [{cron, durationMinutes}]}`: planned hold windows; dependencies without any are left out. */
  holdWindows: 'HOLD_WINDOWS',
  /** The coordination table (hold switches `hold#<dependency>`). Needed when any step has a dependency. */
  coordinationTable: 'COORDINATION_TABLE',
  /** IANA time zone of the hold windows. */
  timeZone: 'APP_TIME_ZONE',
  maxReplays: 'MAX_REPLAYS',
  defaultMax: 'MAX_REPROCESS',
  /** The client stream: a replay writes its client record there (attempt N+1). Unset: none written (an older construct). */
  clientStream: 'CLIENT_LOG_STREAM',
} as const;

/** What reprocess knows of one job of the deployed app. */
export interface JobRules {
  /** The job's state machine: a message naming any other is quarantined (it may be forged). */
  readonly stateMachineArn: string;
  /** Top-level step names in order (the first one is where a start-over enters). */
  readonly steps: ReadonlyArray<string>;
  /** Dependencies of each top-level step (its nested steps' included). */
  readonly dependencies: Readonly<Record<string, ReadonlyArray<string>>>;
}

/** Settings the construct puts in the environment, parsed. */
export interface ReprocessEnv {
  readonly spoolQueueUrl: string;
  readonly quarantineQueueUrl: string;
  /** Null when not set (an older construct): source failedInvocations is refused. */
  readonly failedInvocationsQueueUrl: string | null;
  /** label -> unqualified function ARN (names completed with FUNCTION_ARN_PREFIX). */
  readonly invocableFunctions: ReadonlyMap<string, string>;
  readonly jobs: ReadonlyMap<string, JobRules>;
  readonly holdWindows: Readonly<Record<string, ReadonlyArray<HoldWindow>>>;
  /** Null when no step of any job declares a dependency (nothing to check). */
  readonly coordinationTable: string | null;
  readonly timeZone: string;
  readonly maxReplays: number;
  readonly defaultMax: number;
  /** The client stream of the parameter log, or null (no client records for replays). */
  readonly clientStream: string | null;
}

function jsonEnv(name: string, env: NodeJS.ProcessEnv, fallback?: unknown): unknown {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') {
    if (fallback !== undefined) return fallback;
    requireEnv(name, env); // throws the standard message
  }
  try {
    return JSON.parse(raw as string);
  } catch {
    throw new Error(`Environment variable ${name} is not valid JSON. It is set by the Reprocess construct; redeploy the stack.`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** `{key: name or ARN}` -> `[key, ARN]`: a name gets the prefix, which must then match `shape`. */
function withPrefix(map: Record<string, string>, rawPrefix: string | undefined, shape: RegExp, badPrefix: () => Error): Array<[string, string]> {
  const prefix = rawPrefix?.trim() ?? '';
  const entries = Object.entries(map);
  if (entries.some(([, v]) => !v.startsWith('arn:')) && !shape.test(prefix)) throw badPrefix();
  return entries.map(([k, v]) => [k, v.startsWith('arn:') ? v : `${prefix}${v}`]);
}

/** Reads and checks the environment; throws a message that names the variable. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): ReprocessEnv {
  const E = REPROCESS_ENV;
  const bad = (name: string, shape: string) => new Error(`Environment variable ${name} must be ${shape}. It is set by the Reprocess construct; redeploy the stack.`);
  const machines = jsonEnv(E.jobStateMachines, env);
  if (!isRecord(machines) || !Object.values(machines).every((v) => typeof v === 'string' && v !== '')) throw bad(E.jobStateMachines, 'a JSON object {job: state machine name or ARN}');
  const machineArn = withPrefix(machines as Record<string, string>, env[E.stateMachineArnPrefix], /^arn:[^:]+:states:[^:]+:\d{12}:stateMachine:$/, () =>
    bad(E.stateMachineArnPrefix, '"arn:<partition>:states:<region>:<account>:stateMachine:" when JOB_STATE_MACHINES holds names'),
  );
  const steps = jsonEnv(E.jobSteps, env);
  if (!isRecord(steps) || !Object.values(steps).every(stringList)) throw bad(E.jobSteps, 'a JSON object {job: [step names]}');
  const deps = jsonEnv(E.jobDependencies, env, {});
  if (!isRecord(deps) || !Object.values(deps).every((d) => isRecord(d) && Object.values(d).every(stringList))) {
    throw bad(E.jobDependencies, 'a JSON object {job: {step: [dependencies]}}');
  }
  const windows = jsonEnv(E.holdWindows, env, {});
  if (!isRecord(windows) || !Object.values(windows).every((w) => Array.isArray(w) && w.every((x) => isRecord(x) && typeof x.cron === 'string' && Number.isInteger(x.durationMinutes)))) {
    throw bad(E.holdWindows, 'a JSON object {dependency: [{cron, durationMinutes}]}');
  }
  const invocable = jsonEnv(E.invocableFunctions, env, {});
  if (!isRecord(invocable) || !Object.values(invocable).every((v) => typeof v === 'string' && v !== '')) throw bad(E.invocableFunctions, 'a JSON object {label: function name or ARN}');
  const invocableArns = withPrefix(invocable as Record<string, string>, env[E.functionArnPrefix], /^arn:[^:]+:lambda:[^:]+:\d{12}:function:$/, () =>
    bad(E.functionArnPrefix, '"arn:<partition>:lambda:<region>:<account>:function:" when INVOCABLE_FUNCTIONS holds names'),
  );
  const jobs = new Map<string, JobRules>();
  for (const [job, arn] of machineArn) {
    jobs.set(job, {
      stateMachineArn: arn,
      steps: (steps[job] as string[] | undefined) ?? [],
      dependencies: (deps[job] as Record<string, string[]> | undefined) ?? {},
    });
  }
  const anyDependency = [...jobs.values()].some((j) => Object.values(j.dependencies).some((d) => d.length > 0));
  const table = env[E.coordinationTable]?.trim() || null;
  if (anyDependency && !table) requireEnv(E.coordinationTable, env);
  // Windows are cron expressions in the app's zone: read in UTC they would hold the wrong hours.
  if (Object.keys(windows).length > 0) requireEnv(E.timeZone, env);
  return {
    spoolQueueUrl: requireEnv(E.spoolQueueUrl, env),
    quarantineQueueUrl: requireEnv(E.quarantineQueueUrl, env),
    failedInvocationsQueueUrl: env[E.failedInvocationsQueueUrl]?.trim() || null,
    invocableFunctions: new Map(invocableArns),
    jobs,
    holdWindows: windows as Record<string, HoldWindow[]>,
    coordinationTable: table,
    timeZone: env[E.timeZone]?.trim() || 'UTC',
    maxReplays: intEnv(E.maxReplays, 5, env),
    defaultMax: intEnv(E.defaultMax, 10, env),
    clientStream: env[E.clientStream]?.trim() || null,
  };
}
