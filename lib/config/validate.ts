import { exactRoleArnProblems } from './principals';
import {
  AlertsConfig,
  AppConfig,
  AuditConfig,
  FunctionSettings,
  JobConfig,
  LambdaStepConfig,
  MapStepConfig,
  ParallelStepConfig,
  ResolvedAlerts,
  ResolvedAppConfig,
  ResolvedDependency,
  ResolvedFunctionSettings,
  ResolvedJob,
  ResolvedLambdaStep,
  ResolvedStep,
  RetryPolicyConfig,
  StageConfig,
  StepConfig,
} from './types';
import { sandboxOf, withProofJob } from './proof-job';
import { parseSchedule, ScheduleError } from './schedule';
import { DeployedJobsRecord, removalProblems } from './deployed-jobs';
import { historyBudgetFindings } from './history-budget';
import { deriveExecutionTimeoutSeconds, MAX_EXECUTION_TIMEOUT_SECONDS } from './timeouts';
import { RESERVED_STATE_NAMES } from '../../lambdas/shared/workflow-contract';
import { checkJobContracts, ModuleLoader } from './job-contracts';
import { resolveVpcEndpoints } from './vpc-endpoints';
import { checkExecutionMode } from './execution-mode';

export { RESERVED_STATE_NAMES };

/** Every problem found in a config, thrown at once so an operator fixes them in one pass. */
export class ConfigError extends Error {
  constructor(readonly problems: ReadonlyArray<string>) {
    super(`Invalid app config (bin/config.ts), ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Error names that must never be listed as retryable. */
export const NEVER_RETRYABLE: ReadonlySet<string> = new Set([
  'States.Timeout',
  'States.ALL',
  'States.TaskFailed',
  'States.DataLimitExceeded',
  'States.Runtime',
  'States.HeartbeatTimeout',
  'StepTimeoutError',
  'Sandbox.Timedout',
  'DependencyOnHold',
  'InvalidStepOutputError',
  'InvalidParamsError',
  'LockBusy',
  'Lambda.TooManyRequestsException',
]);

export const DEFAULTS = {
  spoolRetentionDays: 14,
  maxReplays: 5,
  spoolAlertAfterDays: 3,
  bufferSeconds: 300,
  bufferMiB: 64,
  paramLogRetentionDays: 400,
  bytesScannedCutoffPerQuery: 10 * 1024 ** 3,
  resultsExpirationDays: 7,
  firstLogYear: 2026,
  lostTaskMonitorSchedule: 'cron(30 6 * * ? *)',
  reprocessDefaultMax: 10,
  producerTimeoutSeconds: 60,
  stepMemoryMiB: 256,
  architecture: 'arm64' as const,
  backoffRate: 2,
  maxDelaySeconds: 300,
  jitter: true,
  exclusiveWaitSeconds: 600,
  startExecutionBurst: 800,
  startExecutionRefillPerSecond: 150,
  /** Stage name when the config declares no stages. */
  stage: 'default',
} as const;

export interface ValidateOptions {
  /** Checks that a handler file exists (bin passes fs.existsSync relative to the project root). */
  readonly fileExists?: (relativePath: string) => boolean;
  /**
   * The stage to resolve (`cdk deploy -c stage=<name>`). @default `defaultStage`, else the first
   * stage, else "default" when the config declares none.
   */
  readonly stage?: string;
  /**
   * Every job as declared, opt-in ones included, ignoring the stage's job switches (`deploy`,
   * `enabled`): the offline run and tests, which exercise the example jobs. @default false
   */
  readonly allJobs?: boolean;
  /**
   * Loads a job's params schema and errors modules (paths relative to the project root) to check
   * exclusiveBy and retryableErrors against them. @default require() from the project root
   */
  readonly loadModule?: ModuleLoader;
  /** The app's time zone, the default of each job's (set by resolveConfig). */
  readonly appTimeZone?: string;
  /**
   * What the last deploys recorded (deployed-jobs.json, lib/config/deployed-jobs.ts): a job of the
   * stage recorded as deployed that the config no longer deploys is refused unless it has retired.
   * @default no check
   */
  readonly deployedJobs?: DeployedJobsRecord;
  /** The time of the removal check. @default now */
  readonly now?: Date;
}

function isInt(n: unknown, lo: number, hi: number): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= lo && n <= hi;
}
function isNum(n: unknown, lo: number, hi: number): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n >= lo && n <= hi;
}
const q = (v: unknown): string => JSON.stringify(v);

export function isValidTimeZone(tz: unknown): tz is string {
  if (typeof tz !== 'string' || tz === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const FIELD_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkRolePatterns(where: string, patterns: unknown, problems: string[], required: boolean, account: string | null = null): string[] {
  if (patterns === undefined && !required) return [];
  if (!Array.isArray(patterns) || (required && patterns.length === 0)) {
    problems.push(`${where} must list at least one exact role ARN (e.g. your SSO read-only role); everyone else is denied`);
    return [];
  }
  // Exact ARNs only: a pattern would also let in a role created later (lib/principals.ts).
  patterns.forEach((p, i) => problems.push(...exactRoleArnProblems(`${where}[${i}]`, p, account)));
  return [...patterns];
}

function checkRetry(where: string, r: RetryPolicyConfig | undefined, problems: string[]): void {
  if (!r || typeof r !== 'object') {
    problems.push(`${where}.retry is missing: give maxAttempts, intervalSeconds and retryableErrors (use maxAttempts: 0 for no retry)`);
    return;
  }
  if (!isInt(r.maxAttempts, 0, 10)) problems.push(`${where}.retry.maxAttempts must be an integer 0-10, got ${q(r.maxAttempts)}`);
  if (!isInt(r.intervalSeconds, 1, 3600)) problems.push(`${where}.retry.intervalSeconds must be an integer 1-3600, got ${q(r.intervalSeconds)}`);
  if (r.backoffRate !== undefined && !isNum(r.backoffRate, 1, 10)) problems.push(`${where}.retry.backoffRate must be 1-10, got ${q(r.backoffRate)}`);
  if (r.maxDelaySeconds !== undefined) {
    if (!isInt(r.maxDelaySeconds, 1, 31_622_400)) problems.push(`${where}.retry.maxDelaySeconds must be an integer 1-31622400, got ${q(r.maxDelaySeconds)}`);
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
    else if (NEVER_RETRYABLE.has(e)) {
      problems.push(`${where}.retry.retryableErrors must not list ${e}: timeouts, holds, throttles (they have their own retrier), catch-alls and uncatchable errors are never retried by a step's policy; name the retryable errors`);
    }
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
  if (env === undefined) return;
  if (typeof env !== 'object' || env === null || Array.isArray(env)) {
    problems.push(`${where} must be an object of NAME: "value"`);
    return;
  }
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || k.startsWith('AWS_')) problems.push(`${where}: "${k}" is not a usable variable name (letters, digits, _; not AWS_*)`);
    if (typeof v !== 'string') problems.push(`${where}.${k} must be a string`);
  }
}

function strings(where: string, v: unknown, problems: string[], test: (s: string) => boolean, hint: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    problems.push(`${where} must be a list`);
    return [];
  }
  for (const s of v) if (typeof s !== 'string' || !test(s)) problems.push(`${where}: ${q(s)} ${hint}`);
  return v.filter((s): s is string => typeof s === 'string');
}

/** Function settings shared by steps and producers: memory, architecture, layers, IAM, secrets, VPC. */
function resolveFunctionSettings(where: string, f: FunctionSettings, problems: string[]): ResolvedFunctionSettings {
  if (f.memoryMiB !== undefined && !isInt(f.memoryMiB, 128, 10240)) problems.push(`${where}.memoryMiB must be an integer 128-10240, got ${q(f.memoryMiB)}`);
  if (f.architecture !== undefined && f.architecture !== 'arm64' && f.architecture !== 'x86_64') {
    problems.push(`${where}.architecture must be "arm64" or "x86_64", got ${q(f.architecture)}`);
  }
  checkEnvironment(`${where}.environment`, f.environment, problems);
  const layers = strings(`${where}.layers`, f.layers, problems, (s) => /^arn:aws[\w-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$/.test(s), 'is not a layer version ARN (arn:aws:lambda:<region>:<account>:layer:<name>:<version>)');
  if (layers.length > 5) problems.push(`${where}.layers: at most 5 layers (a Lambda limit), got ${layers.length}`);

  const statements: ResolvedFunctionSettings['iam']['statements'][number][] = [];
  const iam = f.iam ?? {};
  if (iam.statements !== undefined && !Array.isArray(iam.statements)) problems.push(`${where}.iam.statements must be a list of {actions, resources}`);
  (Array.isArray(iam.statements) ? iam.statements : []).forEach((s, i) => {
    const w = `${where}.iam.statements[${i}]`;
    if (typeof s !== 'object' || s === null) {
      problems.push(`${w} must be an object {actions, resources}`);
      return;
    }
    if (s.effect !== undefined && s.effect !== 'Allow' && s.effect !== 'Deny') problems.push(`${w}.effect must be "Allow" or "Deny"`);
    const actions = strings(`${w}.actions`, s.actions, problems, (a) => /^[a-z0-9-]+:[A-Za-z0-9*]+$/.test(a), 'is not an IAM action such as "dynamodb:GetItem" (a bare "*" is refused)');
    if (actions.length === 0) problems.push(`${w}.actions must name at least one action, e.g. ["dynamodb:GetItem"]`);
    const resources = strings(`${w}.resources`, s.resources, problems, (r) => r === '*' || /^arn:aws[\w-]*:/.test(r), 'is not an ARN (or "*")');
    if (resources.length === 0) problems.push(`${w}.resources must name at least one ARN`);
    if (resources.includes('*') && s.allowAnyResource !== true) {
      problems.push(`${w}.resources is "*": name the ARNs, or set allowAnyResource: true when the actions have no resource-level permissions`);
    }
    if (s.conditions !== undefined && (typeof s.conditions !== 'object' || s.conditions === null || Array.isArray(s.conditions))) {
      problems.push(`${w}.conditions must be an object such as { StringEquals: { "aws:ResourceTag/team": "orders" } }`);
    }
    statements.push({ effect: s.effect ?? 'Allow', actions, resources, ...(s.conditions ? { conditions: s.conditions } : {}) });
  });
  const managedPolicyArns = strings(`${where}.iam.managedPolicyArns`, iam.managedPolicyArns, problems, (a) => /^arn:aws[\w-]*:iam::(aws|\d{12}):policy\/.+/.test(a), 'is not a managed policy ARN (arn:aws:iam::<account|aws>:policy/<name>)');
  for (const a of managedPolicyArns) {
    if (/:policy\/(AdministratorAccess|PowerUserAccess|IAMFullAccess)$/.test(a)) problems.push(`${where}.iam.managedPolicyArns: ${a} is far wider than a job needs; write statements for what the job does`);
  }

  const sec = f.secrets ?? {};
  const ssmParameters = strings(`${where}.secrets.ssmParameters`, sec.ssmParameters, problems, (s) => /^(\/?[A-Za-z0-9_.\-/]+|arn:aws[\w-]*:ssm:[a-z0-9-]+:\d{12}:parameter\/.+)$/.test(s), 'is not an SSM parameter name (e.g. "/orders/api-token")');
  const secretsManager = strings(`${where}.secrets.secretsManager`, sec.secretsManager, problems, (s) => /^([A-Za-z0-9/_+=.@-]+|arn:aws[\w-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+)$/.test(s), 'is not a Secrets Manager secret name (e.g. "orders/api-credentials")');

  let vpc: ResolvedFunctionSettings['vpc'] = null;
  if (f.vpc !== undefined) {
    const subnetIds = strings(`${where}.vpc.subnetIds`, f.vpc?.subnetIds, problems, (s) => /^subnet-[0-9a-f]{8,17}$/.test(s), 'is not a subnet id (subnet-0123abcd...)');
    const securityGroupIds = strings(`${where}.vpc.securityGroupIds`, f.vpc?.securityGroupIds, problems, (s) => /^sg-[0-9a-f]{8,17}$/.test(s), 'is not a security group id (sg-0123abcd...)');
    if (subnetIds.length === 0 || securityGroupIds.length === 0) problems.push(`${where}.vpc needs at least one subnet id and one security group id`);
    vpc = { subnetIds, securityGroupIds };
  }
  return {
    memoryMiB: f.memoryMiB ?? DEFAULTS.stepMemoryMiB,
    architecture: f.architecture ?? DEFAULTS.architecture,
    environment: { ...(f.environment ?? {}) },
    layers,
    iam: { statements, managedPolicyArns },
    secrets: { ssmParameters, secretsManager },
    vpc,
  };
}

function checkStepName(where: string, name: unknown, problems: string[]): void {
  if (typeof name !== 'string' || !/^[A-Z][A-Za-z0-9]{0,39}$/.test(name)) {
    problems.push(`${where}.name must be PascalCase letters and digits, 1-40 characters (it is the state name), got ${q(name)}`);
  } else if (RESERVED_STATE_NAMES.has(name)) {
    problems.push(`${where}.name "${name}" is used by the workflow itself; choose another (reserved: ${[...RESERVED_STATE_NAMES].join(', ')})`);
  }
}

function resolveLambdaStep(where: string, s: LambdaStepConfig, problems: string[], opts: ValidateOptions, dependencies: ReadonlySet<string>): ResolvedLambdaStep {
  checkStepName(where, s.name, problems);
  checkEntry(`${where}.entry`, s.entry, problems, opts);
  if (!isInt(s.timeoutSeconds, 1, 900)) problems.push(`${where}.timeoutSeconds must be an integer 1-900 (the Lambda maximum), got ${q(s.timeoutSeconds)}`);
  checkRetry(where, s.retry, problems);
  if (s.dependsOn !== undefined && (typeof s.dependsOn !== 'string' || !dependencies.has(s.dependsOn))) {
    problems.push(`${where}.dependsOn: ${q(s.dependsOn)} is not declared; add it to dependencies (e.g. dependencies: { ${q(s.dependsOn ?? 'orders-api')}: {} }) or fix the name (declared: ${[...dependencies].join(', ') || 'none'})`);
  }
  if (s.maxConcurrency !== undefined && !isInt(s.maxConcurrency, 1, 1000)) problems.push(`${where}.maxConcurrency must be an integer 1-1000, got ${q(s.maxConcurrency)}`);
  const r = s.retry ?? ({} as RetryPolicyConfig);
  return {
    kind: 'lambda',
    name: s.name,
    entry: s.entry,
    timeoutSeconds: s.timeoutSeconds,
    ...resolveFunctionSettings(where, s, problems),
    retry: {
      maxAttempts: r.maxAttempts,
      intervalSeconds: r.intervalSeconds,
      backoffRate: r.backoffRate ?? DEFAULTS.backoffRate,
      maxDelaySeconds: r.maxDelaySeconds ?? Math.max(DEFAULTS.maxDelaySeconds, r.intervalSeconds ?? 0),
      jitter: r.jitter ?? DEFAULTS.jitter,
      retryableErrors: [...(r.retryableErrors ?? [])],
    },
    dependsOn: s.dependsOn ?? null,
    maxConcurrency: s.maxConcurrency ?? null,
  };
}

function isParallel(s: StepConfig): s is ParallelStepConfig {
  return typeof s === 'object' && s !== null && 'parallel' in s;
}
function isMap(s: StepConfig): s is MapStepConfig {
  return typeof s === 'object' && s !== null && 'map' in s;
}

function resolveChain(where: string, chain: unknown, problems: string[], opts: ValidateOptions, deps: ReadonlySet<string>): ResolvedLambdaStep[] {
  if (!Array.isArray(chain) || chain.length === 0) {
    problems.push(`${where} must be a non-empty list of Lambda steps`);
    return [];
  }
  return chain.map((s: StepConfig, i) => {
    const w = `${where}[${i}]${(s as { name?: string })?.name ? ` (${(s as { name: string }).name})` : ''}`;
    if (isParallel(s) || isMap(s)) {
      problems.push(`${w}: groups and maps cannot be nested; use Lambda steps inside a ${where.includes('.parallel') ? 'group' : 'map'}`);
      // Only the nesting is reported: the rest of a nested group would be noise.
      return resolveLambdaStep(w, s as unknown as LambdaStepConfig, [], opts, deps);
    }
    return resolveLambdaStep(w, s as LambdaStepConfig, problems, opts, deps);
  });
}

function resolveStep(where: string, s: StepConfig, index: number, steps: ReadonlyArray<StepConfig>, problems: string[], opts: ValidateOptions, deps: ReadonlySet<string>): ResolvedStep {
  if (typeof s !== 'object' || s === null) {
    problems.push(`${where} must be a step object`);
    return resolveLambdaStep(where, {} as LambdaStepConfig, [], opts, deps);
  }
  if (isParallel(s)) {
    checkStepName(where, s.name, problems);
    if (!Array.isArray(s.parallel) || s.parallel.length < 2 || s.parallel.length > 10) {
      problems.push(`${where}.parallel must list 2-10 branches, each a list of Lambda steps, e.g. parallel: [[{...}], [{...}]]`);
    }
    const branches = (Array.isArray(s.parallel) ? s.parallel : []).map((b, i) => resolveChain(`${where}.parallel[${i}]`, b, problems, opts, deps));
    return { kind: 'parallel', name: s.name, branches };
  }
  if (isMap(s)) {
    checkStepName(where, s.name, problems);
    const m = s.map ?? ({} as MapStepConfig['map']);
    if (m.itemsField !== undefined && (typeof m.itemsField !== 'string' || !FIELD.test(m.itemsField))) {
      problems.push(`${where}.map.itemsField must be a field name of the previous step's output such as "parts", got ${q(m.itemsField)}`);
    }
    if (!isInt(m.maxItems, 1, 1000)) problems.push(`${where}.map.maxItems must be an integer 1-1000, got ${q(m.maxItems)}`);
    if (!isInt(m.maxConcurrency, 1, 40)) problems.push(`${where}.map.maxConcurrency must be an integer 1-40, got ${q(m.maxConcurrency)}`);
    if (index === 0) problems.push(`${where}: a map cannot be the first step; its items come from the step before it (add a step that returns them)`);
    else {
      const before = steps[index - 1];
      if (isParallel(before) || isMap(before)) problems.push(`${where}: the step before a map must be a Lambda step (its handler checks the items); put one in between`);
    }
    return {
      kind: 'map',
      name: s.name,
      itemsField: m.itemsField ?? null,
      maxItems: m.maxItems,
      maxConcurrency: m.maxConcurrency,
      steps: resolveChain(`${where}.map.steps`, m.steps, problems, opts, deps),
    };
  }
  return resolveLambdaStep(where, s, problems, opts, deps);
}

function resolveJob(where: string, j: JobConfig, problems: string[], opts: ValidateOptions, deps: ReadonlySet<string>, enabledOverride: boolean | undefined): ResolvedJob {
  if (typeof j.name !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(j.name)) {
    problems.push(`${where}.name must be lowercase letters, digits and dashes, starting with a letter, 1-32 characters, got ${q(j.name)}`);
  }
  try {
    parseSchedule(j.schedule);
  } catch (e) {
    problems.push(`${where}.schedule: ${e instanceof ScheduleError ? e.message : String(e)}`);
  }
  checkEntry(`${where}.producer.entry`, j.producer?.entry, problems, opts);
  const producerTimeout = j.producer?.timeoutSeconds ?? DEFAULTS.producerTimeoutSeconds;
  if (!isInt(producerTimeout, 1, 900)) problems.push(`${where}.producer.timeoutSeconds must be an integer 1-900`);
  const producerSettings = resolveFunctionSettings(`${where}.producer`, j.producer ?? ({} as FunctionSettings), problems);
  if (!Array.isArray(j.steps) || j.steps.length === 0) problems.push(`${where}.steps is empty: a job needs at least one step`);
  const rawSteps = Array.isArray(j.steps) ? j.steps : [];
  const steps = rawSteps.map((s, i) => resolveStep(`${where}.steps[${i}]${s?.name ? ` (${s.name})` : ''}`, s, i, rawSteps, problems, opts, deps));
  const names = new Set<string>();
  for (const s of steps) {
    const all = [s.name, ...(s.kind === 'parallel' ? s.branches.flat().map((x) => x.name) : s.kind === 'map' ? s.steps.map((x) => x.name) : [])];
    for (const n of all) {
      if (names.has(n)) problems.push(`${where}: two steps are named "${n}"; step names must be unique within a job (groups and maps included)`);
      names.add(n);
    }
  }
  if (j.exclusiveBy !== undefined && (typeof j.exclusiveBy !== 'string' || !FIELD_PATH.test(j.exclusiveBy))) {
    problems.push(`${where}.exclusiveBy must be a params field such as "orderId" or "file.path", got ${q(j.exclusiveBy)}`);
  }
  const exclusiveWaitSeconds = j.exclusiveWaitSeconds ?? DEFAULTS.exclusiveWaitSeconds;
  if (!isInt(exclusiveWaitSeconds, 0, 86_400)) problems.push(`${where}.exclusiveWaitSeconds must be an integer 0-86400, got ${q(j.exclusiveWaitSeconds)}`);
  if (j.exclusiveWaitSeconds !== undefined && j.exclusiveBy === undefined) problems.push(`${where}.exclusiveWaitSeconds is set but exclusiveBy is not: name the params field that must be exclusive`);
  if (j.executionTimeoutSeconds !== undefined && !isInt(j.executionTimeoutSeconds, 60, MAX_EXECUTION_TIMEOUT_SECONDS)) {
    problems.push(`${where}.executionTimeoutSeconds must be an integer 60-${MAX_EXECUTION_TIMEOUT_SECONDS} (one year, the Step Functions maximum), got ${q(j.executionTimeoutSeconds)}`);
  }
  if (j.optIn !== undefined && typeof j.optIn !== 'boolean') problems.push(`${where}.optIn must be true or false`);
  const contracts = checkJobContracts(where, j, problems, { loadModule: opts.loadModule, fileExists: opts.fileExists, appTimeZone: opts.appTimeZone ?? 'UTC', isValidTimeZone, alreadyRefused: (n) => NEVER_RETRYABLE.has(n) });
  if (j.retire !== undefined && typeof j.retire !== 'boolean') problems.push(`${where}.retire must be true or false`);
  const retiring = j.retire === true;
  const exclusiveBy = j.exclusiveBy ?? null;
  // The 25,000-event history limit (lib/config/history-budget.ts): a map that overflows it on every run is refused.
  if (problems.length === 0) problems.push(...historyBudgetFindings(where, { steps }).problems);
  const executionMode = checkExecutionMode(where, j, steps, problems);
  const derived = problems.length === 0 ? deriveExecutionTimeoutSeconds({ steps, exclusiveBy, exclusiveWaitSeconds }) : 0;
  return {
    name: j.name,
    description: j.description ?? '',
    schedule: j.schedule,
    producer: { entry: j.producer?.entry, timeoutSeconds: producerTimeout, ...producerSettings },
    steps,
    // A retiring job never fires again, whatever the stage says.
    enabled: retiring ? false : (enabledOverride ?? j.enabled ?? true),
    exclusiveBy,
    exclusiveWaitSeconds,
    executionTimeoutSeconds: j.executionTimeoutSeconds ?? derived,
    executionMode,
    ...contracts,
    retiring,
  };
}

function resolveAlerts(where: string, a: AlertsConfig | undefined, problems: string[]): ResolvedAlerts {
  const emails = strings(`${where}.emails`, a?.emails, problems, (e) => /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(e), 'is not an email address');
  const topicArn = a?.topicArn ?? null;
  if (topicArn !== null && (typeof topicArn !== 'string' || !/^arn:aws[\w-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/.test(topicArn))) {
    problems.push(`${where}.topicArn must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>), got ${q(topicArn)}`);
  }
  if (a?.notifyOk !== undefined && typeof a.notifyOk !== 'boolean') problems.push(`${where}.notifyOk must be true or false`);
  return { emails, topicArn, notifyOk: a?.notifyOk ?? true };
}

function resolveAudit(where: string, a: AuditConfig | undefined, problems: string[]): ResolvedAppConfig['audit'] {
  if (a?.trail !== undefined && typeof a.trail !== 'boolean') problems.push(`${where}.trail must be true or false`);
  const profile = a?.codeSigningProfileVersionArn ?? null;
  if (profile !== null && (typeof profile !== 'string' || !/^arn:aws[\w-]*:signer:[a-z0-9-]+:\d{12}:\/signing-profiles\/[\w]+\/[\w]+$/.test(profile))) {
    problems.push(
      `${where}.codeSigningProfileVersionArn must be a signing profile version ARN (arn:aws:signer:<region>:<account>:/signing-profiles/<name>/<version>), got ${q(profile)}; ` +
        'see aws signer get-signing-profile --profile-name <name> --query profileVersionArn',
    );
  }
  return { trail: a?.trail ?? false, codeSigningProfileVersionArn: profile };
}

/**
 * Validates the operator's config, selects a stage and fills in defaults. Throws one ConfigError
 * listing every problem, each saying what to change.
 */
export function resolveConfig(config: AppConfig, opts: ValidateOptions = {}): ResolvedAppConfig {
  const problems: string[] = [];
  // A sandbox stage gets the built-in proof job (lib/config/proof-job.ts), validated like any job.
  const sandbox = sandboxOf(config, opts.stage);
  if (sandbox && config.stages?.[sandbox.stage]?.sandbox !== undefined && typeof config.stages[sandbox.stage].sandbox !== 'boolean') {
    problems.push(`stages.${sandbox.stage}.sandbox must be true or false`);
  }
  if (sandbox?.sandbox) config = withProofJob(config, sandbox.stage);
  if (!isValidTimeZone(config.timeZone)) {
    problems.push(`timeZone must be an IANA time zone such as "Asia/Tokyo" or "UTC", got ${q(config.timeZone)}`);
  }
  if ((config.investigation as { operatorEmails?: unknown } | undefined)?.operatorEmails !== undefined) {
    problems.push('investigation.operatorEmails moved to alerts.emails (app level or per stage): move the addresses there');
  }

  // ---- stage
  const stages = config.stages ?? {};
  const stageNames = Object.keys(stages);
  for (const s of stageNames) if (!/^[a-z][a-z0-9]{0,15}$/.test(s)) problems.push(`stages: "${s}" is not a stage name (lowercase letters and digits, 1-16, starting with a letter)`);
  let stage: string = opts.stage ?? config.defaultStage ?? stageNames[0] ?? DEFAULTS.stage;
  let stageConfig: StageConfig = {};
  if (stageNames.length > 0) {
    if (config.defaultStage !== undefined && !stageNames.includes(config.defaultStage)) {
      problems.push(`defaultStage "${config.defaultStage}" is not one of stages (${stageNames.join(', ')})`);
    }
    if (!(stage in stages)) {
      problems.push(`stage "${stage}" is not declared in stages; deploy one of: ${stageNames.map((s) => `-c stage=${s}`).join(', ')}`);
      stage = stageNames[0];
    }
    stageConfig = stages[stage] ?? {};
  } else if (opts.stage !== undefined && opts.stage !== DEFAULTS.stage) {
    problems.push(`stage "${opts.stage}" is not declared: add stages: { ${opts.stage}: { ... } } to bin/config.ts`);
  }
  if (stageConfig.account !== undefined && !/^\d{12}$/.test(stageConfig.account)) problems.push(`stages.${stage}.account must be a 12-digit account id, got ${q(stageConfig.account)}`);
  if (stageConfig.region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(stageConfig.region)) problems.push(`stages.${stage}.region must be a region such as "ap-northeast-1", got ${q(stageConfig.region)}`);

  // ---- spool, param log, investigation
  const retentionDays = config.spool?.retentionDays ?? DEFAULTS.spoolRetentionDays;
  if (!isInt(retentionDays, 7, 14)) problems.push(`spool.retentionDays must be an integer 7-14 (SQS keeps 14 days at most; the sweeper re-sends older messages), got ${q(retentionDays)}`);
  const maxReplays = config.spool?.maxReplays ?? DEFAULTS.maxReplays;
  if (!isInt(maxReplays, 1, 20)) problems.push(`spool.maxReplays must be an integer 1-20, got ${q(maxReplays)}`);
  const alertAfterDays = config.spool?.alertAfterDays ?? DEFAULTS.spoolAlertAfterDays;
  if (!isInt(alertAfterDays, 1, 60)) problems.push(`spool.alertAfterDays must be an integer 1-60, got ${q(alertAfterDays)}`);

  const stageAccount = stageConfig.account ?? null;
  const readers = checkRolePatterns(
    stageConfig.readerRoleArnPatterns ? `stages.${stage}.readerRoleArnPatterns` : 'paramLog.readerRoleArnPatterns',
    stageConfig.readerRoleArnPatterns ?? config.paramLog?.readerRoleArnPatterns,
    problems,
    true,
    stageAccount,
  );
  const breakGlass = checkRolePatterns('paramLog.breakGlassRoleArnPatterns', config.paramLog?.breakGlassRoleArnPatterns, problems, false, stageAccount);
  const operators = checkRolePatterns(stageConfig.operators ? `stages.${stage}.operators.roleArns` : 'operators.roleArns', (stageConfig.operators ?? config.operators)?.roleArns, problems, false, stageAccount);
  const audit = resolveAudit(stageConfig.audit ? `stages.${stage}.audit` : 'audit', stageConfig.audit ?? config.audit, problems);
  const logRetentionDays = config.paramLog?.retentionDays ?? DEFAULTS.paramLogRetentionDays;
  if (!isInt(logRetentionDays, 30, 3650)) problems.push(`paramLog.retentionDays must be an integer 30-3650, got ${q(logRetentionDays)}`);
  const bufferSeconds = config.paramLog?.bufferSeconds ?? DEFAULTS.bufferSeconds;
  if (!isInt(bufferSeconds, 0, 900)) problems.push(`paramLog.bufferSeconds must be an integer 0-900, got ${q(bufferSeconds)}`);
  const bufferMiB = config.paramLog?.bufferMiB ?? DEFAULTS.bufferMiB;
  if (!isInt(bufferMiB, 1, 128)) problems.push(`paramLog.bufferMiB must be an integer 1-128, got ${q(bufferMiB)}`);

  const inv = config.investigation ?? {};
  const cutoff = inv.bytesScannedCutoffPerQuery ?? DEFAULTS.bytesScannedCutoffPerQuery;
  if (!isInt(cutoff, 10_000_000, Number.MAX_SAFE_INTEGER)) problems.push('investigation.bytesScannedCutoffPerQuery must be an integer of at least 10000000 (Athena minimum, 10 MB)');
  const expiration = inv.resultsExpirationDays ?? DEFAULTS.resultsExpirationDays;
  if (!isInt(expiration, 1, 365)) problems.push('investigation.resultsExpirationDays must be an integer 1-365');
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
  const burst = config.startExecutionQuota?.burst ?? DEFAULTS.startExecutionBurst;
  const refill = config.startExecutionQuota?.refillPerSecond ?? DEFAULTS.startExecutionRefillPerSecond;
  if (!isInt(burst, 1, 100_000)) problems.push(`startExecutionQuota.burst must be an integer 1-100000, got ${q(burst)}`);
  if (!isInt(refill, 1, 10_000)) problems.push(`startExecutionQuota.refillPerSecond must be an integer 1-10000, got ${q(refill)}`);

  // ---- alerts: at least one destination, or alarms reach nobody
  const alertsWhere = stageConfig.alerts ? `stages.${stage}.alerts` : 'alerts';
  const alerts = resolveAlerts(alertsWhere, stageConfig.alerts ?? config.alerts, problems);
  if (alerts.emails.length === 0 && alerts.topicArn === null) {
    problems.push(
      `alerts: stage "${stage}" has no alert destination, so every alarm would reach nobody. Add alerts: { emails: ['oncall@your-company.com'] } ` +
        `or alerts: { topicArn: 'arn:aws:sns:<region>:<account>:<topic>' } (app level, or under stages.${stage})`,
    );
  }

  // ---- dependencies (hold switches)
  const dependencies: ResolvedDependency[] = [];
  for (const [name, d] of Object.entries(config.dependencies ?? {})) {
    if (!/^[a-z][a-z0-9-]{0,39}$/.test(name)) problems.push(`dependencies: "${name}" is not a dependency name (lowercase letters, digits and dashes, 1-40)`);
    const windows = Array.isArray(d?.windows) ? d.windows : [];
    if (d?.windows !== undefined && !Array.isArray(d.windows)) problems.push(`dependencies.${name}.windows must be a list of { cron, durationMinutes }`);
    windows.forEach((w, i) => {
      const ww = `dependencies.${name}.windows[${i}]`;
      try {
        const s = parseSchedule(w?.cron);
        if (s.kind !== 'cron') problems.push(`${ww}.cron must be a cron(...) expression (when each window starts), got ${q(w?.cron)}`);
      } catch (e) {
        problems.push(`${ww}.cron: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (!isInt(w?.durationMinutes, 1, 10_080)) problems.push(`${ww}.durationMinutes must be an integer 1-10080 (a week), got ${q(w?.durationMinutes)}`);
    });
    dependencies.push({ name, description: d?.description ?? '', windows: windows.map((w) => ({ cron: w.cron, durationMinutes: w.durationMinutes })) });
  }
  const depNames = new Set(dependencies.map((d) => d.name));

  // ---- jobs of this stage
  if (!Array.isArray(config.jobs) || config.jobs.length === 0) problems.push('jobs is empty: declare at least one job');
  const stageJobs = stageConfig.jobs ?? {};
  const declared = new Set((config.jobs ?? []).map((j) => j?.name));
  for (const name of Object.keys(stageJobs)) {
    if (!declared.has(name)) problems.push(`stages.${stage}.jobs: "${name}" is not a job (jobs: ${[...declared].join(', ')})`);
  }
  const jobs: ResolvedJob[] = [];
  const jobNames = new Set<string>();
  (config.jobs ?? []).forEach((j, i) => {
    const sj = stageJobs[j?.name] ?? {};
    // Validated whether deployed or not: a broken job must not wait for the stage that enables it.
    const resolved = resolveJob(`jobs[${i}]${j?.name ? ` (${j.name})` : ''}`, j, problems, { ...opts, appTimeZone: config.timeZone }, depNames, opts.allJobs ? undefined : sj.enabled);
    if (jobNames.has(resolved.name)) problems.push(`jobs: two jobs are named "${resolved.name}"; job names must be unique (they are the log's module)`);
    jobNames.add(resolved.name);
    const deployed = opts.allJobs === true || (j?.optIn === true ? sj.deploy === true : sj.deploy !== false);
    if (deployed) jobs.push(resolved);
  });
  if (problems.length === 0 && jobs.length === 0) {
    problems.push(`stage "${stage}" deploys no job: opt-in jobs need stages.${stage}.jobs: { '<job>': { deploy: true } }`);
  }

  const vpcEndpoints = resolveVpcEndpoints(stageConfig.vpcEndpoints ? `stages.${stage}.vpcEndpoints` : 'vpcEndpoints', stageConfig.vpcEndpoints ?? config.vpcEndpoints, jobs, problems);
  // A deployed job removed without retiring first would lose its running executions.
  if (opts.deployedJobs && !opts.allJobs) problems.push(...removalProblems(stage, opts.deployedJobs[stage], jobs, opts.now ?? new Date()));

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    stage,
    account: stageConfig.account ?? null,
    region: stageConfig.region ?? null,
    timeZone: config.timeZone,
    spool: { retentionDays, maxReplays, alertAfterDays },
    paramLog: { readerRoleArnPatterns: readers, breakGlassRoleArnPatterns: breakGlass, retentionDays: logRetentionDays, bufferSeconds, bufferMiB },
    investigation: {
      bytesScannedCutoffPerQuery: cutoff,
      resultsExpirationDays: expiration,
      firstLogYear,
      lostTaskMonitorSchedule: monitorSchedule,
    },
    alerts,
    reprocess: { defaultMax },
    operators: { roleArns: operators },
    audit,
    startExecutionQuota: { burst, refillPerSecond: refill },
    dependencies,
    vpcEndpoints,
    jobs,
    ...(sandbox?.sandbox ? { sandbox: true } : {}),
  };
}
