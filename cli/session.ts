import { AthenaClient } from '@aws-sdk/client-athena';
import { CloudFormationClient, DescribeStacksCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { AppConfig, ResolvedAppConfig } from '../lib/config/types';
import { ConfigError, resolveConfig } from '../lib/config/validate';
import { OPERATOR_OUTPUTS, stateMachineOutputKey } from '../lib/operator-outputs';
import { CliError, explain, UsageError } from './errors';
import { STAGE_ENV } from './io';

/** Options every command takes. */
export interface CommonOptions {
  /** Stage of bin/config.ts; the stack is `ScheduledJobs-<stage>`. @default SCHEDULED_JOBS_STAGE, else the config's defaultStage */
  readonly stage?: string;
  /** @default the stage's region in bin/config.ts, else the SDK's (AWS_REGION, the profile's region) */
  readonly region?: string;
  /** Shared-config profile. @default the SDK's (AWS_PROFILE, then `default`) */
  readonly profile?: string;
  /** Print JSON for scripts instead of tables. */
  readonly json?: boolean;
}

/** The SDK clients of one CLI run, built once (lazily: a command builds only what it calls). */
export interface Clients {
  readonly cloudFormation: CloudFormationClient;
  readonly cloudWatch: CloudWatchClient;
  readonly sns: SNSClient;
  readonly sts: STSClient;
  readonly lambda: LambdaClient;
  readonly athena: AthenaClient;
  readonly sfn: SFNClient;
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBClient;
}

/** Who is calling (STS GetCallerIdentity). */
export interface Identity {
  readonly arn: string;
  readonly account: string;
}

/** What the CLI found of the stage's stack (DescribeStacks outputs). */
export interface StackInfo {
  readonly name: string;
  readonly outputs: Readonly<Record<string, string>>;
  /** Each job's state machine ARN, for the jobs of the stage's config that the stack has. */
  readonly stateMachines: ReadonlyMap<string, string>;
  /** One output; a clear error (redeploy) when the stack predates it. */
  need(key: (typeof OPERATOR_OUTPUTS)[keyof typeof OPERATOR_OUTPUTS]): string;
}

/**
 * One CLI run against one stage: its validated config, the SDK clients (AWS SDK v3 default
 * credential chain: --profile or AWS_PROFILE, environment keys, SSO, instance roles; region from
 * --region, else the stage's config, else the SDK's own resolution), the caller and the stack.
 */
export class Session {
  readonly stage: string;
  readonly stackName: string;
  readonly config: ResolvedAppConfig;
  private readonly clientConfig: { region?: string; profile?: string };
  private clientCache: Partial<Clients> = {};
  private identityPromise?: Promise<Identity>;
  private stackPromise?: Promise<StackInfo>;

  /**
   * The stage is --stage, else the shell's SCHEDULED_JOBS_STAGE (an on-call shell sets it once, as
   * AWS_PROFILE), else the config's defaultStage. Every command names the stack it acts on.
   */
  constructor(appConfig: AppConfig, options: CommonOptions, env: Readonly<Record<string, string | undefined>> = {}) {
    const fromEnv = options.stage === undefined && !!env[STAGE_ENV];
    const stage = options.stage ?? (env[STAGE_ENV] || undefined);
    const stages = Object.keys(appConfig.stages ?? {});
    if (stage !== undefined && stages.length > 0 && !stages.includes(stage)) {
      throw new UsageError(
        `Unknown stage "${stage}"${fromEnv ? ` (from ${STAGE_ENV})` : ''}`,
        `Stages in bin/config.ts: ${stages.join(', ')}.${fromEnv ? ` Fix ${STAGE_ENV} or pass --stage.` : ''}`,
      );
    }
    try {
      this.config = resolveConfig(appConfig, { stage });
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message, 'Fix bin/config.ts (the same check `cdk synth` runs).');
      throw e;
    }
    this.stage = this.config.stage;
    this.stackName = `ScheduledJobs-${this.stage}`;
    const region = options.region ?? this.config.region ?? undefined;
    this.clientConfig = { ...(region ? { region } : {}), ...(options.profile ? { profile: options.profile } : {}) };
  }

  /** The clients, built on first use with the run's region and profile. */
  get clients(): Clients {
    const c = this.clientCache;
    const cfg = this.clientConfig;
    const lazy = <K extends keyof Clients>(k: K, make: () => Clients[K]): Clients[K] => (c[k] ??= make()) as Clients[K];
    return {
      get cloudFormation() {
        return lazy('cloudFormation', () => new CloudFormationClient(cfg));
      },
      get cloudWatch() {
        return lazy('cloudWatch', () => new CloudWatchClient(cfg));
      },
      get sns() {
        return lazy('sns', () => new SNSClient(cfg));
      },
      get sts() {
        return lazy('sts', () => new STSClient(cfg));
      },
      get lambda() {
        // A replay of 10,000 messages runs for minutes; the SDK's socket timeout must not cut it.
        // One attempt (a retried reprocess could run twice), so no reuse of an idle connection
        // either: a server closing it as a request goes out is a "socket hang up" the SDK would
        // otherwise retry away, and on Node 20 the SDK's agent ignores the server's keep-alive hint.
        // An operator invokes a few times: one TLS handshake each is nothing.
        return lazy('lambda', () => new LambdaClient({ ...cfg, maxAttempts: 1, requestHandler: { requestTimeout: 16 * 60_000, httpAgent: { keepAlive: false }, httpsAgent: { keepAlive: false } } }));
      },
      get athena() {
        return lazy('athena', () => new AthenaClient(cfg));
      },
      get sfn() {
        return lazy('sfn', () => new SFNClient(cfg));
      },
      get sqs() {
        return lazy('sqs', () => new SQSClient(cfg));
      },
      get dynamo() {
        return lazy('dynamo', () => new DynamoDBClient(cfg));
      },
    };
  }

  /** The region the clients resolved. */
  async region(): Promise<string> {
    try {
      return await this.clients.sts.config.region();
    } catch (e) {
      throw explain(e, 'resolve the AWS region');
    }
  }

  /**
   * The caller, checked against the stage's account when bin/config.ts pins one: an operator with
   * the wrong profile is told so before anything is read or changed.
   */
  identity(): Promise<Identity> {
    this.identityPromise ??= (async () => {
      let arn: string;
      let account: string;
      try {
        const r = await this.clients.sts.send(new GetCallerIdentityCommand({}));
        arn = r.Arn ?? 'unknown';
        account = r.Account ?? 'unknown';
      } catch (e) {
        throw explain(e, 'identify the caller (sts:GetCallerIdentity)');
      }
      if (this.config.account && this.config.account !== account) {
        throw new CliError(
          `The credentials are for account ${account}, but stage "${this.stage}" is deployed to account ${this.config.account}`,
          'Pick the profile of that account with --profile (or AWS_PROFILE).',
        );
      }
      return { arn, account };
    })();
    return this.identityPromise;
  }

  /** The stage's stack and its outputs (DescribeStacks), after checking who is calling. */
  stack(): Promise<StackInfo> {
    this.stackPromise ??= (async () => {
      const who = await this.identity();
      let outputs: Record<string, string>;
      try {
        const r = await this.clients.cloudFormation.send(new DescribeStacksCommand({ StackName: this.stackName }));
        const s = r.Stacks?.[0];
        outputs = Object.fromEntries((s?.Outputs ?? []).filter((o) => o.OutputKey && o.OutputValue !== undefined).map((o) => [o.OutputKey as string, o.OutputValue as string]));
      } catch (e) {
        // DescribeStacks answers ValidationError "Stack with id <name> does not exist" for an unknown stack (CloudFormation API reference).
        if ((e as { name?: string }).name === 'ValidationError' && /does not exist/.test((e as Error).message)) {
          throw new CliError(
            `Stack ${this.stackName} not found in account ${who.account}, region ${await this.region()}`,
            `Deploy it (npx cdk deploy -c stage=${this.stage}), or check --stage, --region and --profile.`,
          );
        }
        throw explain(e, `read stack ${this.stackName} (cloudformation:DescribeStacks)`);
      }
      const stateMachines = new Map<string, string>();
      for (const job of this.config.jobs) {
        const arn = outputs[stateMachineOutputKey(job.name)];
        if (arn) stateMachines.set(job.name, arn);
      }
      const name = this.stackName;
      return {
        name,
        outputs,
        stateMachines,
        need(key) {
          const v = outputs[key];
          if (v === undefined) {
            throw new CliError(`Stack ${name} has no output ${key}: it was deployed before the operator CLI existed`, `Redeploy it: npx cdk deploy -c stage=${name.replace(/^ScheduledJobs-/, '')}`);
          }
          return v;
        },
      };
    })();
    return this.stackPromise;
  }

  /** Physical ids of the stack's resources of `type` (ListStackResources, all pages). */
  async stackResources(type: string): Promise<string[]> {
    const { name } = await this.stack();
    const ids: string[] = [];
    let token: string | undefined;
    try {
      do {
        const r = await this.clients.cloudFormation.send(new ListStackResourcesCommand({ StackName: name, NextToken: token }));
        for (const s of r.StackResourceSummaries ?? []) if (s.ResourceType === type && s.PhysicalResourceId) ids.push(s.PhysicalResourceId);
        token = r.NextToken;
      } while (token);
    } catch (e) {
      throw explain(e, `list the resources of ${name} (cloudformation:ListStackResources)`);
    }
    return ids;
  }

  /** Destroys the clients (sockets), so the process can exit at once. */
  close(): void {
    for (const c of Object.values(this.clientCache)) (c as { destroy(): void }).destroy();
    this.clientCache = {};
  }
}
