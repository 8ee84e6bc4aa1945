import { Arn, ArnFormat, CfnOutput, Duration, Fn, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AppFunction } from './app-function';
import { ErrorSpool } from './error-spool';
import { acknowledgeOnPolicyOf, nagResource } from './nag';
import { MAX_MAX } from '../lambdas/reprocess/payload';

/** Props of {@link Reprocess}. */
export interface ReprocessProps {
  readonly projectRoot: string;
  /** The error spool the Lambda drains, and its quarantine. */
  readonly spool: ErrorSpool;
  /** The app's state machines: the only ones a replay may start or redrive. At least one. */
  readonly stateMachines: ReadonlyArray<sfn.IStateMachine>;
  /** Messages per invocation when the payload gives no `max` (config `reprocess.defaultMax`). */
  readonly defaultMax: number;
  /** Replays of one task before it is quarantined instead (config `spool.maxReplays`). */
  readonly maxReplays: number;
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

/**
 * Reprocess: a Lambda that an operator invokes by hand to replay the error spool (see
 * docs/reprocess.md), and the quarantine queue for spool messages that can never be replayed.
 * Least privilege: receive/delete/change visibility/attributes on the spool only, send to the
 * quarantine only, start only the app's state machines, redrive/describe only their executions.
 */
export class Reprocess extends Construct {
  /** The reprocess Lambda. */
  public readonly function: AppFunction;
  /** Malformed, unknown-workflow, too-often-replayed and ProducerFailed spool messages, with a `reason` attribute (the spool's quarantine). */
  public readonly quarantineQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: ReprocessProps) {
    super(scope, id);
    const problems: string[] = [];
    if (props.stateMachines.length === 0) problems.push('stateMachines: pass the app\'s state machines (at least one); replays of any other are quarantined');
    if (!Number.isInteger(props.defaultMax) || props.defaultMax < 1 || props.defaultMax > MAX_MAX) {
      problems.push(`defaultMax: must be an integer from 1 to ${MAX_MAX}, got ${props.defaultMax}`);
    }
    if (!Number.isInteger(props.maxReplays) || props.maxReplays < 1) problems.push(`maxReplays: must be an integer >= 1, got ${props.maxReplays}`);
    if (props.reservedConcurrency !== undefined && props.reservedConcurrency !== null && (!Number.isInteger(props.reservedConcurrency) || props.reservedConcurrency < 1)) {
      problems.push(`reservedConcurrency: must be an integer >= 1 or null, got ${props.reservedConcurrency}`);
    }
    if (problems.length) throw new Error(`Reprocess ${id}: ${problems.join('; ')}`);

    this.quarantineQueue = props.spool.quarantine;

    const reserved = props.reservedConcurrency === undefined ? 1 : props.reservedConcurrency;
    this.function = new AppFunction(this, 'Function', {
      projectRoot: props.projectRoot,
      entry: 'lambdas/reprocess/handler.ts',
      serviceName: 'reprocess',
      description: 'Replays the error spool by hand: aws lambda invoke --payload \'{"max": 10}\' (see docs/reprocess.md)',
      timeout: props.timeout ?? Duration.minutes(15),
      // More memory is more CPU: the drain parses and signs ~300 requests/s at full speed.
      memorySize: 512,
      ...(reserved === null ? {} : { reservedConcurrentExecutions: reserved }),
      environment: {
        SPOOL_QUEUE_URL: props.spool.queue.queueUrl,
        QUARANTINE_QUEUE_URL: this.quarantineQueue.queueUrl,
        ALLOWED_STATE_MACHINE_ARNS: Fn.join(',', props.stateMachines.map((s) => s.stateMachineArn)),
        MAX_REPROCESS: String(props.defaultMax),
        MAX_REPLAYS: String(props.maxReplays),
      },
    });

    props.spool.grantConsume(this.function.role!);
    props.spool.grantSend(this.function.role!, 'quarantine');
    const stack = Stack.of(this);
    const executionArns = props.stateMachines.map((sm) =>
      stack.formatArn({
        service: 'states',
        resource: 'execution',
        resourceName: `${Arn.split(sm.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME).resourceName}:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    );
    for (const sm of props.stateMachines) sm.grantStartExecution(this.function);
    // Executions of the app's state machines only (arn:...:execution:<state machine name>:*).
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['states:RedriveExecution', 'states:DescribeExecution'], resources: executionArns }));
    acknowledgeOnPolicyOf(
      this.function.role!,
      ...executionArns.map((arn) => ({
        id: `AwsSolutions-IAM5[Resource::${nagResource(this, arn)}]`,
        reason: 'Redrive/Describe the failed executions of the app\'s own state machines: execution names are per task, so only a per-state-machine wildcard can name them.',
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
