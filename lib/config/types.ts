/**
 * The one typed config an operator edits (bin/config.ts): app settings and jobs.
 * Plain data (numbers in seconds, strings for paths) so that the same object drives the CDK app
 * and the offline run, and can be validated before anything is built (see validate.ts).
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
   * Error names that are retried, e.g. `['ExternalApiUnavailableError']`. `States.Timeout`,
   * `States.ALL` and `States.TaskFailed` are refused: a timeout is never retried, and catch-alls
   * would retry non-retryable errors.
   */
  readonly retryableErrors: ReadonlyArray<string>;
}

/** One step of a job: a Lambda run in order after the previous step. */
export interface StepConfig {
  /** State name, PascalCase, unique within the job, e.g. `CallApi`. */
  readonly name: string;
  /** Handler file, relative to the project root, exporting `handler`. */
  readonly entry: string;
  /** Step timeout, seconds: the state fails with `States.Timeout` past it. 1-900. */
  readonly timeoutSeconds: number;
  /** Memory of the step Lambda, MiB. @default 256 */
  readonly memoryMiB?: number;
  /** Extra environment variables of the step Lambda (settings, never secrets or params). @default none */
  readonly environment?: Readonly<Record<string, string>>;
  readonly retry: RetryPolicyConfig;
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
  readonly producer: { readonly entry: string; readonly timeoutSeconds?: number; readonly environment?: Readonly<Record<string, string>> };
  /** Steps, run in order. At least one. */
  readonly steps: ReadonlyArray<StepConfig>;
  /** Schedule state; a disabled job deploys but does not fire. @default true */
  readonly enabled?: boolean;
}

export interface AppConfig {
  /** IANA time zone for schedules, log partitions and record times, e.g. `Asia/Tokyo`. */
  readonly timeZone: string;
  readonly spool?: {
    /** Days a failure waits in the spool. 7-14. @default 14 */
    readonly retentionDays?: number;
    /** Replays of one task before reprocess quarantines it instead. 1-20. @default 5 */
    readonly maxReplays?: number;
  };
  readonly paramLog: {
    /**
     * IAM role ARN patterns (StringLike, `*` and `?`) allowed to read parameter logs, e.g.
     * `arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*\/AWSReservedSSO_SREReadOnly_*`.
     * Every other principal is denied, except the app's own writer and monitor. At least one.
     */
    readonly readerRoleArnPatterns: ReadonlyArray<string>;
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
    /** Emails subscribed to the operators' alarm topic. @default none */
    readonly operatorEmails?: ReadonlyArray<string>;
    /** First year of the partition projection range. @default the year the app was written */
    readonly firstLogYear?: number;
    /** Lost-task monitor schedule (app time zone). @default `cron(30 6 * * ? *)` */
    readonly lostTaskMonitorSchedule?: string;
  };
  readonly reprocess?: {
    /** Messages handled per invocation when the payload gives no `max`. 1-1000. @default 10 */
    readonly defaultMax?: number;
  };
  readonly jobs: ReadonlyArray<JobConfig>;
}

/** A validated config with every default filled in. */
export interface ResolvedRetryPolicy extends Required<RetryPolicyConfig> {}
export interface ResolvedStep extends Omit<Required<StepConfig>, 'retry'> {
  readonly retry: ResolvedRetryPolicy;
}
export interface ResolvedJob extends Omit<Required<JobConfig>, 'steps' | 'producer'> {
  readonly producer: { readonly entry: string; readonly timeoutSeconds: number; readonly environment: Readonly<Record<string, string>> };
  readonly steps: ReadonlyArray<ResolvedStep>;
}
export interface ResolvedAppConfig {
  readonly timeZone: string;
  readonly spool: { readonly retentionDays: number; readonly maxReplays: number };
  readonly paramLog: { readonly readerRoleArnPatterns: ReadonlyArray<string>; readonly bufferSeconds: number; readonly bufferMiB: number };
  readonly investigation: {
    readonly bytesScannedCutoffPerQuery: number;
    readonly resultsExpirationDays: number;
    readonly operatorEmails: ReadonlyArray<string>;
    readonly firstLogYear: number;
    readonly lostTaskMonitorSchedule: string;
  };
  readonly reprocess: { readonly defaultMax: number };
  readonly jobs: ReadonlyArray<ResolvedJob>;
}
