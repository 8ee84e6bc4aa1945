import { Arn, ArnFormat, Aws, CfnOutput, Duration, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AppFunction } from './app-function';
import { ResolvedDependency, ResolvedJob, ResolvedStep } from './config/types';
import { CoordinationTable } from './coordination-table';
import { ErrorSpool } from './error-spool';
import { ParamLog } from './param-log';
import { acknowledgeOnPolicyOf, nagResource } from './nag';
import { REPROCESS_ENV } from '../lambdas/reprocess/env';
import { MAX_MAX, producerLabel } from '../lambdas/reprocess/payload';

/** One job as reprocess sees it: its resolved config and its workflow's state machine. */
export interface ReprocessJob {
  readonly job: ResolvedJob;
  readonly stateMachine: sfn.IStateMachine;
}

/**
 * A function of the app reprocess may invoke again: to re-run one of its failed-invocation
 * records, or (a producer) to re-run or replan a tick. Each must be safe to run twice with the same
 * event (the producers' tick ledger, the capture's deterministic replay names, a sweep, a count).
 */
export interface InvocableFunction {
  /** How operators name it in payloads and summaries: `producer:<job>` (see {@link Reprocess.producerLabel}), `executionCapture`, ... */
  readonly label: string;
  readonly function: lambda.IFunction;
}

/** Props of {@link Reprocess}. */
export interface ReprocessProps {
  readonly projectRoot: string;
  /** The error spool the Lambda drains, and its quarantine. */
  readonly spool: ErrorSpool;
  /** The app's jobs and their state machines: a job's messages are replayed only into its own. At least one. */
  readonly jobs: ReadonlyArray<ReprocessJob>;
  /** The app's dependencies (planned hold windows; config `dependencies`). */
  readonly dependencies: ReadonlyArray<ResolvedDependency>;
  /** Hold switches (`hold#<dependency>`), read before replaying into a step that depends on one. */
  readonly coordination: CoordinationTable;
  /** IANA time zone of the hold windows (config `timeZone`). */
  readonly timeZone: string;
  /**
   * The parameter log: each replay writes its client record to the client stream (attempt N+1), so
   * the lost-task monitor counts a replay that never ends. @default none (no client records for replays)
   */
  readonly paramLog?: ParamLog;
  /** Messages per invocation when the payload gives no `max` (config `reprocess.defaultMax`). */
  readonly defaultMax: number;
  /** Replays of one task before it is quarantined instead (config `spool.maxReplays`). */
  readonly maxReplays: number;
  /**
   * The functions whose failed-invocation records reprocess re-runs, and the producers it invokes
   * for a tick: lambda:InvokeFunction on exactly these (unqualified ARNs), nothing else. Records of
   * any other function stay in the queue for a person to drop.
   * @default none (failed invocations can then only be listed and dropped)
   */
  readonly invocableFunctions?: ReadonlyArray<InvocableFunction>;
  /**
   * Function timeout. The drain stops cleanly before it and reports what is left.
   * @default 15 minutes (the Lambda maximum: a 10,000-message drain at ~150 starts/s needs ~70 s, a slow region more)
   */
  readonly timeout?: Duration;
  /**
   * Reserved concurrency. 1 makes two operators invoking at once queue up instead of racing on
   * the same messages (names keep replays unique anyway, but summaries would be confusing).
   * `null` leaves it unreserved (accounts whose unreserved pool is at its minimum).
   * @default 1
   */
  readonly reservedConcurrency?: number | null;
}

/** Dependencies of one top-level step: its own, or those of the steps inside its group or map. */
function stepDependencies(step: ResolvedStep): string[] {
  const inner = step.kind === 'lambda' ? [step] : step.kind === 'parallel' ? step.branches.flat() : step.steps;
  return [...new Set(inner.flatMap((s) => (s.dependsOn ? [s.dependsOn] : [])))];
}

/**
 * The job-shaped part of the Lambda's environment (lambdas/reprocess/env.ts), from the resolved
 * config: top-level steps in order, the dependencies of each (steps without any left out) and the
 * planned windows of the dependencies that have any. Pure, so the env is tested without a synth.
 */
export function reprocessJobEnv(jobs: ReadonlyArray<ResolvedJob>, dependencies: ReadonlyArray<ResolvedDependency>): Record<string, string> {
  const steps: Record<string, string[]> = {};
  const deps: Record<string, Record<string, string[]>> = {};
  for (const job of jobs) {
    steps[job.name] = job.steps.map((s) => s.name);
    for (const step of job.steps) {
      const d = stepDependencies(step);
      if (d.length) (deps[job.name] ??= {})[step.name] = d;
    }
  }
  const windows: Record<string, unknown> = {};
  for (const d of dependencies) if (d.windows.length) windows[d.name] = d.windows;
  return {
    [REPROCESS_ENV.jobSteps]: JSON.stringify(steps),
    [REPROCESS_ENV.jobDependencies]: JSON.stringify(deps),
    [REPROCESS_ENV.holdWindows]: JSON.stringify(windows),
  };
}

/** Lambda's limit on the environment variables of a function, in all (AWS Lambda quotas: 4 KB). */
const LAMBDA_ENV_MAX_BYTES = 4 * 1024;
/** What a state machine name token becomes at deploy time, at most (AWS Step Functions "Service quotas": names up to 80 characters). */
const STATE_MACHINE_NAME_MAX_CHARS = 80;
/** What a function name token becomes at deploy time, at most (AWS Lambda API reference, "CreateFunction": FunctionName). */
const FUNCTION_NAME_MAX_CHARS = 64;
/** `arn:<partition>:<service>:<region>:<account>:<type>:` at its longest (partition aws-us-gov, a 14-character region). */
const ARN_PREFIX_MAX_CHARS = 64;
/** `https://sqs.<region>.amazonaws.com/<account>/<name>` at its longest (queue names up to 80 characters: AWS SQS developer guide, "Amazon SQS queue quotas"). */
const QUEUE_URL_MAX_CHARS = 150;

/**
 * Reprocess: a Lambda that an operator invokes by hand (the only function people may invoke) to
 * replay the error spool, act on the quarantine (replay, drop), re-run or drop failed invocations
 * and re-run or replan a tick (see docs/reprocess.md). Least privilege: consume the spool, the
 * quarantine and the failed-invocations queue (receive, delete, change visibility, attributes),
 * send to the quarantine only, start only the app's state machines, describe only their
 * executions, invoke only the functions passed in {@link ReprocessProps.invocableFunctions}, read
 * only the hold switches of the coordination table.
 */
export class Reprocess extends Construct {
  /** The label of a job's producer in {@link ReprocessProps.invocableFunctions} (what `source: "tick"` invokes). */
  static producerLabel(job: string): string {
    return producerLabel(job);
  }

  /** The reprocess Lambda. */
  public readonly function: AppFunction;
  /** Spool messages that can never be replayed (malformed, rejected specs, unknown job, may be forged, too many replays), with a `reason` attribute (the spool's quarantine). */
  public readonly quarantineQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: ReprocessProps) {
    super(scope, id);
    const problems: string[] = [];
    if (props.jobs.length === 0) problems.push('jobs: pass the app\'s jobs with their state machines (at least one); messages of any other job are quarantined');
    const names = props.jobs.map((j) => j.job.name);
    const twice = names.filter((n, i) => names.indexOf(n) !== i);
    if (twice.length) problems.push(`jobs: each job once; ${[...new Set(twice)].join(', ')} given more than once`);
    const known = new Set(props.dependencies.map((d) => d.name));
    const unknown = [...new Set(props.jobs.flatMap((j) => j.job.steps.flatMap(stepDependencies)))].filter((d) => !known.has(d));
    if (unknown.length) problems.push(`dependencies: ${unknown.join(', ')} used by a step's dependsOn but not passed; pass the config's resolved dependencies`);
    if (!Number.isInteger(props.defaultMax) || props.defaultMax < 1 || props.defaultMax > MAX_MAX) {
      problems.push(`defaultMax: must be an integer from 1 to ${MAX_MAX}, got ${props.defaultMax}`);
    }
    if (!Number.isInteger(props.maxReplays) || props.maxReplays < 1) problems.push(`maxReplays: must be an integer >= 1, got ${props.maxReplays}`);
    if (props.reservedConcurrency !== undefined && props.reservedConcurrency !== null && (!Number.isInteger(props.reservedConcurrency) || props.reservedConcurrency < 1)) {
      problems.push(`reservedConcurrency: must be an integer >= 1 or null, got ${props.reservedConcurrency}`);
    }
    const invocable = props.invocableFunctions ?? [];
    const labels = invocable.map((f) => f.label);
    const labelledTwice = labels.filter((l, i) => labels.indexOf(l) !== i);
    if (labelledTwice.length) problems.push(`invocableFunctions: each label once; ${[...new Set(labelledTwice)].join(', ')} given more than once`);
    const badLabels = labels.filter((l) => !/^[A-Za-z0-9:_.-]{1,100}$/.test(l));
    if (badLabels.length) problems.push(`invocableFunctions: labels are 1-100 letters, digits and : _ . -; got ${badLabels.map((l) => JSON.stringify(l)).join(', ')}`);
    if (problems.length) throw new Error(`Reprocess ${id}: ${problems.join('; ')}`);

    this.quarantineQueue = props.spool.quarantine;
    const stack = Stack.of(this);
    const jobEnv = reprocessJobEnv(props.jobs.map((j) => j.job), props.dependencies);
    // Names, with the ARN prefix once (as for the functions below): Lambda's 4 KB holds more jobs.
    const jobStateMachines = stack.toJsonString(
      Object.fromEntries(props.jobs.map((j) => [j.job.name, Arn.split(j.stateMachine.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME).resourceName])),
    );
    const environment: Record<string, string> = {
      [REPROCESS_ENV.spoolQueueUrl]: props.spool.queue.queueUrl,
      [REPROCESS_ENV.quarantineQueueUrl]: this.quarantineQueue.queueUrl,
      [REPROCESS_ENV.failedInvocationsQueueUrl]: props.spool.failedInvocations.queueUrl,
      // Names, with the ARN prefix once: an ARN per job would halve the jobs that fit in 4 KB.
      [REPROCESS_ENV.invocableFunctions]: stack.toJsonString(Object.fromEntries(invocable.map((f) => [f.label, f.function.functionName]))),
      [REPROCESS_ENV.functionArnPrefix]: `arn:${Aws.PARTITION}:lambda:${Aws.REGION}:${Aws.ACCOUNT_ID}:function:`,
      [REPROCESS_ENV.jobStateMachines]: jobStateMachines,
      [REPROCESS_ENV.stateMachineArnPrefix]: `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:stateMachine:`,
      ...jobEnv,
      [REPROCESS_ENV.coordinationTable]: props.coordination.table.tableName,
      [REPROCESS_ENV.timeZone]: props.timeZone,
      [REPROCESS_ENV.defaultMax]: String(props.defaultMax),
      [REPROCESS_ENV.maxReplays]: String(props.maxReplays),
      ...(props.paramLog ? { [REPROCESS_ENV.clientStream]: props.paramLog.clientStream.deliveryStreamName } : {}),
    };
    // Lambda refuses a deploy whose variables pass 4 KB; tokens (ARNs, URLs) are counted at their
    // largest deployed length, so an app with very many jobs fails here, at synth, with the reason.
    const estimate = Object.entries(environment).reduce((n, [k, v]) => {
      const tokenChars = !Token.isUnresolved(v)
        ? v.length
        : k === REPROCESS_ENV.jobStateMachines
          ? props.jobs.reduce((sum, j) => sum + j.job.name.length + STATE_MACHINE_NAME_MAX_CHARS + 6, 2)
          : k === REPROCESS_ENV.invocableFunctions
            ? invocable.reduce((sum, f) => sum + f.label.length + FUNCTION_NAME_MAX_CHARS + 6, 2)
            : k === REPROCESS_ENV.functionArnPrefix || k === REPROCESS_ENV.stateMachineArnPrefix
              ? ARN_PREFIX_MAX_CHARS
              : k.endsWith('_QUEUE_URL')
                ? QUEUE_URL_MAX_CHARS
                : 250;
      return n + k.length + tokenChars;
    }, 0);
    if (estimate > LAMBDA_ENV_MAX_BYTES - 512) {
      throw new Error(`Reprocess ${id}: its environment (${props.jobs.length} jobs' state machines, producers, steps and dependencies) may pass Lambda's 4 KB limit (about ${estimate} bytes): split the jobs over two stages (stacks)`);
    }

    const reserved = props.reservedConcurrency === undefined ? 1 : props.reservedConcurrency;
    this.function = new AppFunction(this, 'Function', {
      projectRoot: props.projectRoot,
      entry: 'lambdas/reprocess/handler.ts',
      serviceName: 'reprocess',
      description: 'Replays the spool, acts on the quarantine and failed invocations, re-runs ticks: invoked by hand (see docs/reprocess.md)',
      timeout: props.timeout ?? Duration.minutes(15),
      // More memory is more CPU: the drain parses and signs ~300 requests/s at full speed.
      memorySize: 512,
      ...(reserved === null ? {} : { reservedConcurrentExecutions: reserved }),
      environment,
    });

    // Receive (kms:Decrypt on the params key: AWS SQS developer guide, "Key management") and send to
    // the quarantine. The same Decrypt covers DescribeExecution of the CMK-encrypted executions
    // (AWS Step Functions developer guide, "Data at rest encryption": DescribeExecution needs
    // kms:Decrypt), though the look asks for metadata only. Consuming the quarantine and the
    // failed invocations makes this function the routine through which a person replays or drops
    // them: the queues' locks admit recorded consumers only (lib/queue-lock.ts), never people.
    const role = this.function.role!;
    props.spool.grantConsume(role);
    props.spool.grantSend(role, 'quarantine');
    props.spool.grantConsume(role, 'quarantine');
    props.spool.grantConsume(role, 'failedInvocations');
    if (invocable.length > 0) {
      // The unqualified ARNs only: reprocess invokes $LATEST by ARN (failed-invocations.ts, tick.ts),
      // never a version or alias (a function, version or alias ARN each name their own resource: AWS
      // Lambda developer guide, "Fine-tuning the Resources and Conditions sections of policies"),
      // and no other function.
      this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: invocable.map((f) => f.function.functionArn) }));
    }
    props.coordination.grantReadHolds(this.function);
    props.paramLog?.grantWriteClient(this.function);
    const stateMachines = props.jobs.map((j) => j.stateMachine);
    const executionArns = stateMachines.map((sm) =>
      stack.formatArn({
        service: 'states',
        resource: 'execution',
        resourceName: `${Arn.split(sm.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME).resourceName}:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    );
    for (const sm of stateMachines) sm.grantStartExecution(this.function);
    // The look at an ended execution before replaying it (redriven from the console?). No
    // RedriveExecution: a redrive of a caught failure re-enters the Fail state (docs/reprocess.md).
    // Executions of the app's state machines only (arn:...:execution:<state machine name>:*).
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: executionArns }));
    acknowledgeOnPolicyOf(
      this.function.role!,
      ...executionArns.map((arn) => ({
        id: `AwsSolutions-IAM5[Resource::${nagResource(this, arn)}]`,
        reason: 'Describe the ended executions of the app\'s own state machines: execution names are per task, so only a per-state-machine wildcard can name them.',
      })),
    );
    new CfnOutput(this, 'FunctionName', {
      value: this.function.functionName,
      description: 'aws lambda invoke --function-name <this> --cli-binary-format raw-in-base64-out --payload \'{"dryRun": true}\' out.json',
    });
  }

  /** The function as a grantable, e.g. to let an operators' role invoke it. */
  grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return this.function.grantInvoke(grantee);
  }
}
