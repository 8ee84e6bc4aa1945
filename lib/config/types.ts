/**
 * The one typed config an operator edits (bin/config.ts): app settings, dependencies, jobs and
 * stages. Plain data (numbers in seconds, strings for paths) so that the same object drives the
 * CDK app and the offline run, and can be validated before anything is built (see validate.ts).
 */

/** Retry policy of one step. Only errors named in `retryableErrors` are retried. */
export interface RetryPolicyConfig {
  /** Retries after the first attempt (Step Functions MaxAttempts). 0-10. */
  readonly maxAttempts: number;
  /** Wait before the first retry, seconds. 1-3600. */
  readonly intervalSeconds: number;
  /** Multiplier of the wait per retry. 1-10. @default 2 */
  readonly backoffRate?: number;
  /** Cap on any single wait, seconds (Step Functions MaxDelaySeconds). @default 300 */
  readonly maxDelaySeconds?: number;
  /** Full jitter on the waits, so retries of many tasks do not stampede. @default true */
  readonly jitter?: boolean;
  /**
   * Error names that are retried, e.g. `['ExternalApiUnavailableError']`. Timeouts
   * (`States.Timeout`, `StepTimeoutError`, `Sandbox.Timedout`), `DependencyOnHold`, catch-alls
   * (`States.ALL`, `States.TaskFailed`) and uncatchable errors are refused.
   */
  readonly retryableErrors: ReadonlyArray<string>;
}

/** One IAM policy statement a job's function needs (e.g. read a table the job works on). */
export interface PolicyStatementConfig {
  /** @default 'Allow' */
  readonly effect?: 'Allow' | 'Deny';
  /** e.g. `['dynamodb:GetItem']`. A bare `*` is refused. */
  readonly actions: ReadonlyArray<string>;
  /** ARNs, e.g. `['arn:aws:dynamodb:ap-northeast-1:111111111111:table/orders']`. A bare `*` is refused unless `allowAnyResource`. */
  readonly resources: ReadonlyArray<string>;
  /** IAM conditions, e.g. `{ StringEquals: { 'aws:ResourceTag/team': 'orders' } }`. */
  readonly conditions?: Readonly<Record<string, Readonly<Record<string, string | ReadonlyArray<string>>>>>;
  /** Set when an action has no resource-level permissions and `resources: ['*']` is intended. @default false */
  readonly allowAnyResource?: boolean;
}

/**
 * Settings of one Lambda function of a job (a step or the producer): everything a real job needs
 * without touching `lib/`. Secrets are granted read-only and read in the handler with caching
 * (`getSecretValue` / `getParameterValue` in lambdas/shared/secrets.ts); their values never go
 * into environment variables or the template.
 */
export interface FunctionSettings {
  /** Memory, MiB. 128-10240. @default 256 */
  readonly memoryMiB?: number;
  /** @default 'arm64' */
  readonly architecture?: 'arm64' | 'x86_64';
  /** Extra environment variables (settings, never secrets or params). Names: letters, digits, `_`; not `AWS_*`. */
  readonly environment?: Readonly<Record<string, string>>;
  /** Lambda layer version ARNs. At most 5. */
  readonly layers?: ReadonlyArray<string>;
  /** Extra permissions: policy statements and/or managed policy ARNs. */
  readonly iam?: {
    readonly statements?: ReadonlyArray<PolicyStatementConfig>;
    readonly managedPolicyArns?: ReadonlyArray<string>;
  };
  /** Secrets the function may read (least-privilege read grant on exactly these). */
  readonly secrets?: {
    /** SSM Parameter Store names, e.g. `/orders/api-token` (SecureString or String). */
    readonly ssmParameters?: ReadonlyArray<string>;
    /** Secrets Manager secret names (or full ARNs), e.g. `orders/api-credentials`. */
    readonly secretsManager?: ReadonlyArray<string>;
  };
  /** Run inside these existing subnets and security groups (e.g. to reach a database). */
  readonly vpc?: {
    readonly subnetIds: ReadonlyArray<string>;
    readonly securityGroupIds: ReadonlyArray<string>;
  };
}

/** A step that runs one Lambda handler. */
export interface LambdaStepConfig extends FunctionSettings {
  /** State name, PascalCase, unique within the job (across groups and maps too), e.g. `CallApi`. */
  readonly name: string;
  /** Handler file, relative to the project root, exporting `handler` (made with createStepHandler). */
  readonly entry: string;
  /**
   * Step timeout, seconds, 1-900: the handler's deadline. The handler aborts its work and fails
   * with `StepTimeoutError` shortly before it; the Lambda is stopped at it; the state's own
   * TimeoutSeconds is later (a backstop), so a timed-out step is never still running when the task
   * is spooled (and replayed).
   */
  readonly timeoutSeconds: number;
  readonly retry: RetryPolicyConfig;
  /**
   * The external dependency this step calls, e.g. `'orders-api'` (declared in `dependencies`).
   * While that dependency is on hold the step does not run: the task is spooled at once with
   * `DependencyOnHold`, and reprocess does not replay it until the hold is released.
   */
  readonly dependsOn?: string;
  /**
   * At most this many invocations of the step at once, across all executions (Lambda reserved
   * concurrency). Throttled invocations wait and retry with their own backoff: they never use the
   * step's retry budget and are never spooled for being throttled. 1-1000. @default unlimited
   */
  readonly maxConcurrency?: number;
}

/** A group of branches run in parallel; the next step gets the branches' outputs as an array (a chord). */
export interface ParallelStepConfig {
  /** State name, PascalCase, unique within the job. */
  readonly name: string;
  /** 2-10 branches; each a chain of Lambda steps run in order. */
  readonly parallel: ReadonlyArray<ReadonlyArray<LambdaStepConfig>>;
}

/** A chain of Lambda steps run for each item of an array the previous step returned. */
export interface MapStepConfig {
  /** State name, PascalCase, unique within the job. */
  readonly name: string;
  readonly map: {
    /**
     * Field of the previous step's output that holds the items, e.g. `'parts'` for
     * `{ parts: [...] }`. Omit when the previous step returns the array itself. The previous step's
     * output is checked by its handler (an `InvalidStepOutputError` otherwise).
     */
    readonly itemsField?: string;
    /** Most items one task may fan out to, 1-1000 (bounds state size and the execution timeout). */
    readonly maxItems: number;
    /** Items processed at once, 1-40. */
    readonly maxConcurrency: number;
    /** The chain run per item: each step gets `previous` = the item (then the previous step's output). */
    readonly steps: ReadonlyArray<LambdaStepConfig>;
  };
}

/** One step of a job: a Lambda step, a parallel group, or a map. */
export type StepConfig = LambdaStepConfig | ParallelStepConfig | MapStepConfig;

/** A planned maintenance window of a dependency (in the app's time zone). */
export interface HoldWindowConfig {
  /** When the window starts: an EventBridge Scheduler `cron(...)` in the app's time zone. */
  readonly cron: string;
  /** How long it lasts, minutes. 1-10080. */
  readonly durationMinutes: number;
}

/** An external dependency steps may declare with `dependsOn` (a hold switch per dependency). */
export interface DependencyConfig {
  readonly description?: string;
  /** Planned maintenance windows: the dependency is on hold during each, with no operator. @default none */
  readonly windows?: ReadonlyArray<HoldWindowConfig>;
}

/** A scheduled job. */
export interface JobConfig {
  /** Job name: lowercase letters, digits and dashes, 1-32. It is the `module` of the parameter log. */
  readonly name: string;
  readonly description?: string;
  /**
   * EventBridge Scheduler expression in the app's time zone: `cron(min hour dom month dow year)`
   * (one of dom/dow is `?`) or `rate(N minutes|hours|days)`.
   */
  readonly schedule: string;
  /** Producer handler file, relative to the project root, exporting `handler`. */
  readonly producer: FunctionSettings & {
    readonly entry: string;
    /** Producer timeout, seconds, 1-900. @default 60 */
    readonly timeoutSeconds?: number;
  };
  /** Steps, run in order. At least one. */
  readonly steps: ReadonlyArray<StepConfig>;
  /** Schedule state; a disabled job deploys but does not fire. @default true */
  readonly enabled?: boolean;
  /**
   * Step 1 of removing the job (docs/deploy.md, "Retiring a job"): the schedule stops, the state
   * machine and functions stay until its executions have ended. Remove the job in a later deploy;
   * synth refuses a removal that skips this step (deployed-jobs.json). @default false
   */
  readonly retire?: boolean;
  /**
   * Deploy this job only to stages that enable it in `stages.<stage>.jobs` (the example jobs are
   * opt-in, so a real stage never calls their fake endpoints). @default false
   */
  readonly optIn?: boolean;
  /**
   * Two tasks of this job with the same value of this params field never run at the same time
   * (e.g. `'orderId'`; a dotted path such as `'file.path'` reaches into objects).
   */
  readonly exclusiveBy?: string;
  /**
   * The job's params schema (docs/workflow.md, "Params with a schema"): `schema` is a module,
   * relative to the project root, that exports a zod `schema` (and optionally `version` and
   * `migrate(params, fromVersion)`). Synth loads it (exclusiveBy must name one of its fields); the
   * producer quarantines tasks whose params fail it, with the path of the problem; steps made with
   * `createParamsStepHandler` get the parsed, typed params. @default no schema (params are any plain JSON)
   */
  readonly params?: { readonly schema: string };
  /**
   * The job's errors module, relative to the project root, e.g. `'lambdas/jobs/orders-sync/errors.ts'`:
   * synth loads it and collects the names of its exported Error subclasses; every `retryableErrors`
   * entry must be one of them or a platform error (lambdas/shared/errors.ts, Step Functions' and
   * Lambda's retryable names). @default none (only the platform's names)
   */
  readonly errors?: string;
  /**
   * IANA time zone of this job's schedule, e.g. `'Europe/Berlin'`: overrides the app's `timeZone`
   * for the schedule, the producer's `timeZone` and the offline day's evaluation of the schedule.
   * Parameter-log partitions, record times and hold windows stay in the app's time zone. @default the app's
   */
  readonly timeZone?: string;
  /** How long a task waits for the exclusive lock before it is spooled with `LockBusy`, seconds. 0-86400. @default 600 */
  readonly exclusiveWaitSeconds?: number;
  /**
   * Execution timeout, seconds (the execution ends TIMED_OUT past it, and is spooled by the
   * status-change capture). @default derived from the steps: timeouts x attempts + retry waits + margin
   */
  readonly executionTimeoutSeconds?: number;
  /**
   * How the job's tasks run (docs/big-ticks.md, "High-volume mode"): `standard`, one Standard
   * execution per task (long tasks); `high-volume`, a tick's tasks as items of a Distributed Map of
   * Express children (short tasks, about a tenth of the cost, no StartExecution per task). Synth
   * refuses `high-volume` for a job whose worst case exceeds Express's five minutes, or that uses
   * `exclusiveBy`. @default 'standard'
   */
  readonly executionMode?: 'standard' | 'high-volume';
}

/** Where alarms notify. At least one destination per stage. */
export interface AlertsConfig {
  /** Emails subscribed to the app's alarm topic (each confirms the subscription mail once). */
  readonly emails?: ReadonlyArray<string>;
  /**
   * An existing SNS topic (e.g. the one AWS Chatbot / Slack / PagerDuty hang off). Alarms publish to
   * it directly; its topic policy must let CloudWatch publish (see docs/deploy.md).
   */
  readonly topicArn?: string;
  /** Also notify when an alarm returns to OK. @default true */
  readonly notifyOk?: boolean;
}

/** Per-stage overrides. */
export interface StageConfig {
  /** AWS account id to deploy to. @default the CLI's credentials (CDK_DEFAULT_ACCOUNT) */
  readonly account?: string;
  /** AWS region. @default the CLI's region (CDK_DEFAULT_REGION) */
  readonly region?: string;
  /** Alert destinations of this stage (replace the app-level ones). */
  readonly alerts?: AlertsConfig;
  /**
   * Jobs switched for this stage: `deploy: true` deploys an opt-in job, `deploy: false` leaves a
   * job out, `enabled` overrides the schedule state.
   */
  readonly jobs?: Readonly<Record<string, { readonly deploy?: boolean; readonly enabled?: boolean }>>;
  /** Reader roles of this stage's parameter log (replace the app-level ones). Exact role ARNs, as `paramLog.readerRoleArnPatterns`. */
  readonly readerRoleArnPatterns?: ReadonlyArray<string>;
  /** Operator roles of this stage (replace the app-level `operators`). */
  readonly operators?: OperatorsConfig;
  /** Audit settings of this stage (replace the app-level `audit`). */
  readonly audit?: AuditConfig;
  /** VPC endpoints for this stage's VPC-attached functions (replace the app-level setting; docs/vpc.md). */
  readonly vpcEndpoints?: VpcEndpointsConfig;
  /**
   * A sandbox stage: it also deploys the built-in proof job that `scheduled-jobs prove` drives
   * (docs/prove.md). `prove` refuses every stage without it. Never set it on a stage with real jobs'
   * data you care about. @default false
   */
  readonly sandbox?: boolean;
}

/** Who may operate: invoke reprocess (replay, drop, re-run). */
export interface OperatorsConfig {
  /**
   * Exact role ARNs that may invoke the reprocess Lambda. The guardrails (`scheduled-jobs
   * guardrails`) deny it to every other principal, and the tamper alarm pages on an invoke by
   * anyone else (seen with `audit.trail`). @default none: nobody passes the guardrail
   */
  readonly roleArns?: ReadonlyArray<string>;
}

/** Audit of who changes or operates the app (docs/security.md, "Tamper alarms and guardrails"). */
export interface AuditConfig {
  /**
   * Create a CloudTrail trail for this stage: management events (what the tamper alarm reads;
   * EventBridge receives CloudTrail events only while a trail is logging) and Lambda data events
   * of the reprocess function (who invoked it). Leave off when an organization trail already logs
   * management events, and add the data-event selector to that trail instead. @default false
   */
  readonly trail?: boolean;
  /**
   * AWS Signer signing profile version ARN: every function of the stage must run code signed by it
   * (Lambda code signing, untrusted artifacts refused). The deploy must then upload signed code
   * (docs/security.md, "Code signing"). @default none: no code signing
   */
  readonly codeSigningProfileVersionArn?: string;
}

/**
 * VPC endpoints created for the functions that run in a VPC (a job's `vpc`), so that they reach
 * the AWS services they call without a NAT gateway (docs/vpc.md). Each endpoint's policy allows
 * only those functions' roles, only the actions and resources the app grants them.
 */
export interface VpcEndpointsConfig {
  /** The VPC of the jobs' subnets, e.g. `vpc-0123abcd`. */
  readonly vpcId: string;
  /**
   * The private subnets the jobs' functions run in, one per Availability Zone: the interface
   * endpoints get a network interface in each (billed per AZ and hour), and the DynamoDB gateway
   * endpoint (free) is added to their route tables.
   */
  readonly subnets: ReadonlyArray<{ readonly subnetId: string; readonly availabilityZone: string; readonly routeTableId: string }>;
  /** Security groups of the interface endpoints: they must allow HTTPS (443) in from the functions' security groups. */
  readonly securityGroupIds: ReadonlyArray<string>;
  /**
   * Services that already have an endpoint in this VPC (a shared one, or one with private DNS made
   * elsewhere): none is created for them, e.g. `['ssm']`. @default none
   */
  readonly existing?: ReadonlyArray<string>;
}

export interface AppConfig {
  /** IANA time zone for schedules, log partitions, record times and hold windows, e.g. `Asia/Tokyo`. */
  readonly timeZone: string;
  readonly spool?: {
    /** Days a message waits in the spool queue before the sweeper re-sends it (SQS retention). 7-14. @default 14 */
    readonly retentionDays?: number;
    /** Replays of one task before reprocess quarantines it instead. 1-20. @default 5 */
    readonly maxReplays?: number;
    /**
     * Alarm when a failure has waited this many days (its first spooling counts, across sweeper
     * re-sends). 1-60. @default 3
     */
    readonly alertAfterDays?: number;
  };
  readonly paramLog: {
    /**
     * Exact IAM role ARNs allowed to read parameter logs, the spool and execution data, e.g. an
     * IAM Identity Center permission set's role with its generated suffix:
     * `arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/ap-northeast-1/AWSReservedSSO_SREReadOnly_0123456789abcdef`.
     * A pattern (`*`, `?`) is refused: it would also match roles created later (the name is kept
     * for existing configs). Every other principal is denied, except the app's own roles. At least one.
     */
    readonly readerRoleArnPatterns: ReadonlyArray<string>;
    /**
     * Exact role ARNs that may delete record versions (break glass, e.g. a data-protection
     * officer's erasure role). Nobody else can delete or overwrite a record. @default none
     */
    readonly breakGlassRoleArnPatterns?: ReadonlyArray<string>;
    /** Days a record is kept; then it expires (personal data is not kept forever). 30-3650. @default 400 */
    readonly retentionDays?: number;
    /** Firehose buffering interval, seconds. 0-900. @default 300 */
    readonly bufferSeconds?: number;
    /** Firehose buffering size, MiB. 1-128. @default 64 */
    readonly bufferMiB?: number;
  };
  readonly investigation?: {
    /** Athena per-query bytes-scanned cutoff. >= 10 MB. @default 10 GiB */
    readonly bytesScannedCutoffPerQuery?: number;
    /** Days Athena query results are kept. 1-365. @default 7 */
    readonly resultsExpirationDays?: number;
    /** First year of the partition projection range. @default the year the app was written */
    readonly firstLogYear?: number;
    /** Lost-task monitor schedule (app time zone). @default `cron(30 6 * * ? *)` */
    readonly lostTaskMonitorSchedule?: string;
  };
  /** App-level alert destinations (a stage's `alerts` replace them). */
  readonly alerts?: AlertsConfig;
  readonly reprocess?: {
    /** Messages handled per invocation when the payload gives no `max`. 1-1000. @default 10 */
    readonly defaultMax?: number;
  };
  /** Who may invoke reprocess (a stage's `operators` replace these). @default none */
  readonly operators?: OperatorsConfig;
  /** Trail and code signing (a stage's `audit` replaces this). @default no trail, no code signing */
  readonly audit?: AuditConfig;
  /**
   * The account's StartExecution token bucket in the deployed region (Step Functions quotas:
   * 800 burst / 150 per second in most regions, 1300 / 300 in us-east-1, us-west-2, eu-west-1;
   * raise them here if AWS raised yours). The starters size their work per invocation from it;
   * pacing itself adapts to throttling.
   */
  readonly startExecutionQuota?: {
    /** @default 800 */
    readonly burst?: number;
    /** @default 150 */
    readonly refillPerSecond?: number;
  };
  /** External dependencies steps may declare with `dependsOn` (hold switches). @default none */
  readonly dependencies?: Readonly<Record<string, DependencyConfig>>;
  readonly jobs: ReadonlyArray<JobConfig>;
  /** VPC endpoints for the VPC-attached functions (docs/vpc.md); a stage's setting replaces it. @default none (a NAT gateway or your own endpoints) */
  readonly vpcEndpoints?: VpcEndpointsConfig;
  /** Stage the CLI deploys when `-c stage=` is not given. @default the first stage */
  readonly defaultStage?: string;
  /** Stages (`cdk deploy -c stage=<name>`): names are lowercase letters and digits, 1-16. */
  readonly stages?: Readonly<Record<string, StageConfig>>;
}

// ---------------------------------------------------------------------------------------------
// Resolved (validated, defaults filled, one stage selected)

export interface ResolvedRetryPolicy extends Required<RetryPolicyConfig> {}

export interface ResolvedPolicyStatement {
  readonly effect: 'Allow' | 'Deny';
  readonly actions: ReadonlyArray<string>;
  readonly resources: ReadonlyArray<string>;
  readonly conditions?: Readonly<Record<string, Readonly<Record<string, string | ReadonlyArray<string>>>>>;
}

export interface ResolvedFunctionSettings {
  readonly memoryMiB: number;
  readonly architecture: 'arm64' | 'x86_64';
  readonly environment: Readonly<Record<string, string>>;
  readonly layers: ReadonlyArray<string>;
  readonly iam: { readonly statements: ReadonlyArray<ResolvedPolicyStatement>; readonly managedPolicyArns: ReadonlyArray<string> };
  readonly secrets: { readonly ssmParameters: ReadonlyArray<string>; readonly secretsManager: ReadonlyArray<string> };
  readonly vpc: { readonly subnetIds: ReadonlyArray<string>; readonly securityGroupIds: ReadonlyArray<string> } | null;
}

export interface ResolvedLambdaStep extends ResolvedFunctionSettings {
  readonly kind: 'lambda';
  readonly name: string;
  readonly entry: string;
  readonly timeoutSeconds: number;
  readonly retry: ResolvedRetryPolicy;
  readonly dependsOn: string | null;
  readonly maxConcurrency: number | null;
}
export interface ResolvedParallelStep {
  readonly kind: 'parallel';
  readonly name: string;
  readonly branches: ReadonlyArray<ReadonlyArray<ResolvedLambdaStep>>;
}
export interface ResolvedMapStep {
  readonly kind: 'map';
  readonly name: string;
  readonly itemsField: string | null;
  readonly maxItems: number;
  readonly maxConcurrency: number;
  readonly steps: ReadonlyArray<ResolvedLambdaStep>;
}
export type ResolvedStep = ResolvedLambdaStep | ResolvedParallelStep | ResolvedMapStep;

export interface ResolvedJob {
  readonly name: string;
  readonly description: string;
  readonly schedule: string;
  readonly producer: ResolvedFunctionSettings & { readonly entry: string; readonly timeoutSeconds: number };
  readonly steps: ReadonlyArray<ResolvedStep>;
  readonly enabled: boolean;
  readonly exclusiveBy: string | null;
  readonly exclusiveWaitSeconds: number;
  /** The job's time zone: its own `timeZone`, else the app's. */
  readonly timeZone: string;
  /** The params schema module and what synth read of it, or null when the job declares none. */
  readonly params: ResolvedParamsSchema | null;
  /** The job's errors module, or null. */
  readonly errors: string | null;
  /** Configured or derived (see lib/config/timeouts.ts). */
  readonly executionTimeoutSeconds: number;
  /** Retiring (config `retire`): the schedule is off, everything else stays until its executions end. */
  readonly retiring: boolean;
  /** `standard` unless the job chose `high-volume` (checked in lib/config/execution-mode.ts). */
  readonly executionMode: 'standard' | 'high-volume';
}

/** A job's params schema as synth read it. */
export interface ResolvedParamsSchema {
  /** Module path relative to the project root. */
  readonly schema: string;
  /** The module's `version` (1 when it exports none). */
  readonly version: number;
}

export interface ResolvedAlerts {
  readonly emails: ReadonlyArray<string>;
  readonly topicArn: string | null;
  readonly notifyOk: boolean;
}

export interface ResolvedDependency {
  readonly name: string;
  readonly description: string;
  readonly windows: ReadonlyArray<HoldWindowConfig>;
}

export interface ResolvedAppConfig {
  /** The selected stage's name (part of the stack name). */
  readonly stage: string;
  readonly account: string | null;
  readonly region: string | null;
  readonly timeZone: string;
  readonly spool: { readonly retentionDays: number; readonly maxReplays: number; readonly alertAfterDays: number };
  readonly paramLog: {
    readonly readerRoleArnPatterns: ReadonlyArray<string>;
    readonly breakGlassRoleArnPatterns: ReadonlyArray<string>;
    readonly retentionDays: number;
    readonly bufferSeconds: number;
    readonly bufferMiB: number;
  };
  readonly investigation: {
    readonly bytesScannedCutoffPerQuery: number;
    readonly resultsExpirationDays: number;
    readonly firstLogYear: number;
    readonly lostTaskMonitorSchedule: string;
  };
  readonly alerts: ResolvedAlerts;
  readonly reprocess: { readonly defaultMax: number };
  readonly operators: { readonly roleArns: ReadonlyArray<string> };
  readonly audit: { readonly trail: boolean; readonly codeSigningProfileVersionArn: string | null };
  readonly startExecutionQuota: { readonly burst: number; readonly refillPerSecond: number };
  readonly dependencies: ReadonlyArray<ResolvedDependency>;
  /** VPC endpoints to create (the stage's, else the app's), or null. */
  readonly vpcEndpoints: (Required<VpcEndpointsConfig>) | null;
  /** The jobs deployed to this stage. */
  readonly jobs: ReadonlyArray<ResolvedJob>;
  /** A sandbox stage (with the proof job, lib/config/proof-job.ts). @default false */
  readonly sandbox?: boolean;
}

/** Every Lambda step of a job, top-level and inside groups and maps, in definition order. */
export function lambdaStepsOf(job: Pick<ResolvedJob, 'steps'>): ResolvedLambdaStep[] {
  return job.steps.flatMap((s) => (s.kind === 'lambda' ? [s] : s.kind === 'parallel' ? s.branches.flat() : [...s.steps]));
}
