import { AppConfig, JobConfig, ResolvedAppConfig, ResolvedJob, ResolvedStep, RetryPolicyConfig, StepConfig } from './types';
import { parseSchedule, ScheduleError } from './schedule';

/** Every problem found in a config, thrown at once so an operator fixes them in one pass. */
export class ConfigError extends Error {
  constructor(readonly problems: ReadonlyArray<string>) {
    super(`Invalid app config (bin/config.ts), ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * State names the workflow uses itself (lib/workflow). A step may not take one of them.
 * Keep in sync with the state machine definition.
 */
export const RESERVED_STATE_NAMES: ReadonlySet<string> = new Set([
  'RecordSuccess',
  'RecordFailure',
  'SpoolFailure',
  'Succeeded',
  'Failed',
]);

/** Error names that must never be listed as retryable. */
const NEVER_RETRYABLE = new Set(['States.Timeout', 'States.ALL', 'States.TaskFailed', 'States.DataLimitExceeded', 'States.Runtime']);

export const DEFAULTS = {
  spoolRetentionDays: 14,
  maxReplays: 5,
  bufferSeconds: 300,
  bufferMiB: 64,
  bytesScannedCutoffPerQuery: 10 * 1024 ** 3,
  resultsExpirationDays: 7,
  firstLogYear: 2026,
  lostTaskMonitorSchedule: 'cron(30 6 * * ? *)',
  reprocessDefaultMax: 10,
  producerTimeoutSeconds: 60,
  stepMemoryMiB: 256,
  backoffRate: 2,
  maxDelaySeconds: 300,
  jitter: true,
} as const;

export interface ValidateOptions {
  /** Checks that a handler file exists (bin passes fs.existsSync relative to the project root). */
  readonly fileExists?: (relativePath: string) => boolean;
}

function isInt(n: unknown, lo: number, hi: number): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= lo && n <= hi;
}
function isNum(n: unknown, lo: number, hi: number): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n >= lo && n <= hi;
}

export function isValidTimeZone(tz: unknown): tz is string {
  if (typeof tz !== 'string' || tz === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function checkRetry(where: string, r: RetryPolicyConfig | undefined, problems: string[]): void {
  if (!r || typeof r !== 'object') {
    problems.push(`${where}.retry is missing: give maxAttempts, intervalSeconds and retryableErrors (use maxAttempts: 0 for no retry)`);
    return;
  }
  if (!isInt(r.maxAttempts, 0, 10)) problems.push(`${where}.retry.maxAttempts must be an integer 0-10, got ${JSON.stringify(r.maxAttempts)}`);
  if (!isNum(r.intervalSeconds, 1, 3600) || !Number.isInteger(r.intervalSeconds)) {
    problems.push(`${where}.retry.intervalSeconds must be an integer 1-3600, got ${JSON.stringify(r.intervalSeconds)}`);
  }
  if (r.backoffRate !== undefined && !isNum(r.backoffRate, 1, 10)) problems.push(`${where}.retry.backoffRate must be 1-10, got ${JSON.stringify(r.backoffRate)}`);
  if (r.maxDelaySeconds !== undefined) {
    if (!isInt(r.maxDelaySeconds, 1, 31_622_400)) problems.push(`${where}.retry.maxDelaySeconds must be an integer 1-31622400, got ${JSON.stringify(r.maxDelaySeconds)}`);
    else if (typeof r.intervalSeconds === 'number' && r.maxDelaySeconds < r.intervalSeconds) {
      problems.push(`${where}.retry.maxDelaySeconds (${r.maxDelaySeconds}) is below intervalSeconds (${r.intervalSeconds}); raise it or lower the interval`);
    }
  }
  if (r.jitter !== undefined && typeof r.jitter !== 'boolean') problems.push(`${where}.retry.jitter must be true or false`);
  if (!Array.isArray(r.retryableErrors)) {
    problems.push(`${where}.retry.retryableErrors must be a list of error names (may be empty)`);
    return;
  }
  if (r.maxAttempts > 0 && r.retryableErrors.length === 0) {
    problems.push(`${where}.retry.maxAttempts is ${r.maxAttempts} but retryableErrors is empty: name the errors to retry, or set maxAttempts to 0`);
  }
  const seen = new Set<string>();
  for (const e of r.retryableErrors) {
    if (typeof e !== 'string' || !/^[A-Za-z][\w.]*$/.test(e)) problems.push(`${where}.retry.retryableErrors: "${String(e)}" is not an error name`);
    else if (NEVER_RETRYABLE.has(e)) problems.push(`${where}.retry.retryableErrors must not list ${e}: timeouts and catch-alls are never retried; name the retryable errors`);
    if (seen.has(e)) problems.push(`${where}.retry.retryableErrors lists "${e}" twice`);
    seen.add(e);
  }
}

function checkEntry(where: string, entry: unknown, problems: string[], opts: ValidateOptions): void {
  if (typeof entry !== 'string' || !/\.(ts|js|mjs)$/.test(entry)) {
    problems.push(`${where} must be a handler file path relative to the project root, e.g. "lambdas/jobs/my-job/step.ts"`);
  } else if (opts.fileExists && !opts.fileExists(entry)) {
    problems.push(`${where}: file "${entry}" does not exist`);
  }
}

function checkEnvironment(where: string, env: Readonly<Record<string, string>> | undefined, problems: string[]): void {
  for (const [k, v] of Object.entries(env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || k.startsWith('AWS_')) problems.push(`${where}: "${k}" is not a usable variable name (letters, digits, _; not AWS_*)`);
    if (typeof v !== 'string') problems.push(`${where}.${k} must be a string`);
  }
}

function resolveStep(where: string, s: StepConfig, problems: string[], opts: ValidateOptions): ResolvedStep {
  if (typeof s.name !== 'string' || !/^[A-Z][A-Za-z0-9]{0,39}$/.test(s.name)) {
    problems.push(`${where}.name must be PascalCase letters and digits, 1-40 characters (it is the state name), got ${JSON.stringify(s.name)}`);
  } else if (RESERVED_STATE_NAMES.has(s.name)) {
    problems.push(`${where}.name "${s.name}" is used by the workflow itself; choose another (reserved: ${[...RESERVED_STATE_NAMES].join(', ')})`);
  }
  checkEntry(`${where}.entry`, s.entry, problems, opts);
  checkEnvironment(`${where}.environment`, s.environment, problems);
  if (!isInt(s.timeoutSeconds, 1, 900)) problems.push(`${where}.timeoutSeconds must be an integer 1-900 (the Lambda maximum), got ${JSON.stringify(s.timeoutSeconds)}`);
  if (s.memoryMiB !== undefined && !isInt(s.memoryMiB, 128, 10240)) problems.push(`${where}.memoryMiB must be an integer 128-10240`);
  checkRetry(where, s.retry, problems);
  const r = s.retry ?? ({} as RetryPolicyConfig);
  return {
    name: s.name,
    entry: s.entry,
    timeoutSeconds: s.timeoutSeconds,
    memoryMiB: s.memoryMiB ?? DEFAULTS.stepMemoryMiB,
    environment: { ...(s.environment ?? {}) },
    retry: {
      maxAttempts: r.maxAttempts,
      intervalSeconds: r.intervalSeconds,
      backoffRate: r.backoffRate ?? DEFAULTS.backoffRate,
      maxDelaySeconds: r.maxDelaySeconds ?? Math.max(DEFAULTS.maxDelaySeconds, r.intervalSeconds ?? 0),
      jitter: r.jitter ?? DEFAULTS.jitter,
      retryableErrors: [...(r.retryableErrors ?? [])],
    },
  };
}

function resolveJob(where: string, j: JobConfig, problems: string[], opts: ValidateOptions): ResolvedJob {
  if (typeof j.name !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(j.name)) {
    problems.push(`${where}.name must be lowercase letters, digits and dashes, starting with a letter, 1-32 characters, got ${JSON.stringify(j.name)}`);
  }
  try {
    parseSchedule(j.schedule);
  } catch (e) {
    problems.push(`${where}.schedule: ${e instanceof ScheduleError ? e.message : String(e)}`);
  }
  checkEntry(`${where}.producer.entry`, j.producer?.entry, problems, opts);
  checkEnvironment(`${where}.producer.environment`, j.producer?.environment, problems);
  const producerTimeout = j.producer?.timeoutSeconds ?? DEFAULTS.producerTimeoutSeconds;
  if (!isInt(producerTimeout, 1, 900)) problems.push(`${where}.producer.timeoutSeconds must be an integer 1-900`);
  if (!Array.isArray(j.steps) || j.steps.length === 0) {
    problems.push(`${where}.steps is empty: a job needs at least one step`);
  }
  const steps = (j.steps ?? []).map((s, i) => resolveStep(`${where}.steps[${i}]${s?.name ? ` (${s.name})` : ''}`, s, problems, opts));
  const names = new Set<string>();
  for (const s of steps) {
    if (names.has(s.name)) problems.push(`${where}: two steps are named "${s.name}"; step names must be unique within a job`);
    names.add(s.name);
  }
  return {
    name: j.name,
    description: j.description ?? '',
    schedule: j.schedule,
    producer: { entry: j.producer?.entry, timeoutSeconds: producerTimeout, environment: { ...(j.producer?.environment ?? {}) } },
    steps,
    enabled: j.enabled ?? true,
  };
}

/**
 * Validates the operator's config and fills in defaults. Throws one ConfigError listing every
 * problem, each saying what to change.
 */
export function resolveConfig(config: AppConfig, opts: ValidateOptions = {}): ResolvedAppConfig {
  const problems: string[] = [];
  if (!isValidTimeZone(config.timeZone)) {
    problems.push(`timeZone must be an IANA time zone such as "Asia/Tokyo" or "UTC", got ${JSON.stringify(config.timeZone)}`);
  }
  const retentionDays = config.spool?.retentionDays ?? DEFAULTS.spoolRetentionDays;
  if (!isInt(retentionDays, 7, 14)) problems.push(`spool.retentionDays must be an integer 7-14 (a week of holidays, SQS keeps 14 at most), got ${JSON.stringify(retentionDays)}`);
  const maxReplays = config.spool?.maxReplays ?? DEFAULTS.maxReplays;
  if (!isInt(maxReplays, 1, 20)) problems.push(`spool.maxReplays must be an integer 1-20, got ${JSON.stringify(maxReplays)}`);

  const patterns = config.paramLog?.readerRoleArnPatterns;
  if (!Array.isArray(patterns) || patterns.length === 0) {
    problems.push('paramLog.readerRoleArnPatterns must list at least one role ARN pattern (e.g. your SSO read-only role); everyone else is denied');
  } else {
    for (const p of patterns) {
      if (typeof p !== 'string' || !/^arn:aws[\w-]*:(iam|sts)::[\d*?]*:(role|assumed-role)\/.+/.test(p)) {
        problems.push(`paramLog.readerRoleArnPatterns: "${String(p)}" is not a role ARN pattern like arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_SREReadOnly_*`);
      } else if (/^arn:aws[\w-]*:(iam|sts)::[\d*?]*:(role|assumed-role)\/\*$/.test(p)) {
        problems.push(`paramLog.readerRoleArnPatterns: "${p}" matches every role; name the reader roles`);
      }
    }
  }
  const bufferSeconds = config.paramLog?.bufferSeconds ?? DEFAULTS.bufferSeconds;
  if (!isInt(bufferSeconds, 0, 900)) problems.push(`paramLog.bufferSeconds must be an integer 0-900, got ${JSON.stringify(bufferSeconds)}`);
  const bufferMiB = config.paramLog?.bufferMiB ?? DEFAULTS.bufferMiB;
  if (!isInt(bufferMiB, 1, 128)) problems.push(`paramLog.bufferMiB must be an integer 1-128, got ${JSON.stringify(bufferMiB)}`);

  const inv = config.investigation ?? {};
  const cutoff = inv.bytesScannedCutoffPerQuery ?? DEFAULTS.bytesScannedCutoffPerQuery;
  if (!isInt(cutoff, 10_000_000, Number.MAX_SAFE_INTEGER)) problems.push('investigation.bytesScannedCutoffPerQuery must be an integer of at least 10000000 (Athena minimum, 10 MB)');
  const expiration = inv.resultsExpirationDays ?? DEFAULTS.resultsExpirationDays;
  if (!isInt(expiration, 1, 365)) problems.push('investigation.resultsExpirationDays must be an integer 1-365');
  const emails = inv.operatorEmails ?? [];
  for (const e of emails) if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(e)) problems.push(`investigation.operatorEmails: "${e}" is not an email address`);
  const firstLogYear = inv.firstLogYear ?? DEFAULTS.firstLogYear;
  if (!isInt(firstLogYear, 2000, 2100)) problems.push('investigation.firstLogYear must be a year 2000-2100');
  const monitorSchedule = inv.lostTaskMonitorSchedule ?? DEFAULTS.lostTaskMonitorSchedule;
  try {
    parseSchedule(monitorSchedule);
  } catch (e) {
    problems.push(`investigation.lostTaskMonitorSchedule: ${e instanceof Error ? e.message : String(e)}`);
  }
  const defaultMax = config.reprocess?.defaultMax ?? DEFAULTS.reprocessDefaultMax;
  if (!isInt(defaultMax, 1, 1000)) problems.push('reprocess.defaultMax must be an integer 1-1000');

  if (!Array.isArray(config.jobs) || config.jobs.length === 0) problems.push('jobs is empty: declare at least one job');
  const jobs = (config.jobs ?? []).map((j, i) => resolveJob(`jobs[${i}]${j?.name ? ` (${j.name})` : ''}`, j, problems, opts));
  const jobNames = new Set<string>();
  for (const j of jobs) {
    if (jobNames.has(j.name)) problems.push(`jobs: two jobs are named "${j.name}"; job names must be unique (they are the log's module)`);
    jobNames.add(j.name);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    timeZone: config.timeZone,
    spool: { retentionDays, maxReplays },
    paramLog: { readerRoleArnPatterns: [...patterns], bufferSeconds, bufferMiB },
    investigation: {
      bytesScannedCutoffPerQuery: cutoff,
      resultsExpirationDays: expiration,
      operatorEmails: [...emails],
      firstLogYear,
      lostTaskMonitorSchedule: monitorSchedule,
    },
    reprocess: { defaultMax },
    jobs,
  };
}
