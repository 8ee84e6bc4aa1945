import { MessageAttributeValue, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AslDefinition } from '../asl';
import { createLocalRunner, EngineEvent, LAMBDA_INVOKE, LocalLambda, LocalTask, taskStatesOf } from '../run-state-machine';

/**
 * Runs executions of a job's SYNTHESIZED state machine for the offline day, on the project's one
 * local runner (local/run-state-machine.ts), the way Step Functions would run it in AWS:
 * - `lambda:invoke` Task states call the real handler module of the function the definition names;
 *   a thrown error reaches Retry/Catch under its `name` with a Lambda-style JSON Cause;
 * - `sqs:sendMessage` Task states are answered by the REAL SQS API (the local emulator) with the
 *   body and attributes the Parameters resolved to (an object body is sent as JSON text, as Step
 *   Functions does);
 * - retry waits are skipped, Task timeouts and the execution timeout capped (time compression, see
 *   the runner);
 * - `hooks` connect the run to the Step Functions stand-in: its history (what the status-change
 *   capture reads) and StopExecution (which aborts the run).
 */

/** A Lambda handler as the runner calls it. */
export type LocalHandler = (event: unknown, context: unknown) => Promise<unknown>;

export interface ExecutionSpec {
  readonly executionArn: string;
  readonly name: string;
  readonly stateMachineArn: string;
  readonly input: unknown;
  readonly startDate: Date;
  /** The stand-in's hooks of this execution (local/sfn-standin.ts `localRun`). */
  readonly hooks?: { readonly onStarted: (abort: () => void) => void; readonly onEvent: (event: EngineEvent) => void };
}

export interface ExecutionOutcome {
  readonly executionArn: string;
  readonly name: string;
  readonly status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  /** Error of a failed execution (the Fail state's), or undefined. */
  readonly error?: string;
  /** Its cause (the Catch path's starts with the `[spooled <MessageId>] ` marker). */
  readonly cause?: string;
  /** Retries per state (StateRetried events). */
  readonly retries: Readonly<Record<string, number>>;
  /** Messages the definition sent to SQS (spool sends). */
  readonly sqsSends: number;
}

export interface ExecutionRunnerDeps {
  /** The runnable ASL of the state machine. */
  readonly definition: AslDefinition;
  /** Handler of a Lambda function, by the FunctionName the definition resolves to. */
  readonly handlerFor: (functionName: string) => LocalHandler;
  /** SQS client pointed at the local emulator. */
  readonly sqs: SQSClient;
  /** Cap on every Task's TimeoutSeconds (time compression). @default no cap */
  readonly stepTimeoutSeconds?: number;
  /** Cap on the execution's TimeoutSeconds (time compression). @default no cap */
  readonly executionTimeoutSeconds?: number;
}

const SQS_SEND = /^arn:aws[\w-]*:states:::sqs:sendMessage$/;

/** Builds the runner for a state machine once; the returned function runs one execution. */
export function createExecutionRunner(deps: ExecutionRunnerDeps): (spec: ExecutionSpec) => Promise<ExecutionOutcome> {
  // Built on the first execution: the engine validates the definition then (a job with no execution in the run pays nothing).
  let run: ReturnType<typeof createLocalRunner> | undefined;
  const lambdas: Record<string, LocalLambda> = {};
  const sqsStates: string[] = [];
  for (const [stateName, state] of taskStatesOf(deps.definition)) {
    const resource = String(state.Resource ?? '');
    if (LAMBDA_INVOKE.test(resource)) {
      lambdas[stateName] = (payload, context) => deps.handlerFor(context.functionName)(payload, context);
    } else if (SQS_SEND.test(resource)) {
      sqsStates.push(stateName);
    }
    // Any other Task resource has no stand-in: the runner refuses the run and names the state.
  }

  return async (spec) => {
    let sqsSends = 0;
    const send: LocalTask = async (parameters) => {
      const p = parameters as { QueueUrl: string; MessageBody: unknown; MessageAttributes?: Record<string, MessageAttributeValue> };
      const out = await deps.sqs.send(
        new SendMessageCommand({
          QueueUrl: p.QueueUrl,
          MessageBody: typeof p.MessageBody === 'string' ? p.MessageBody : JSON.stringify(p.MessageBody),
          MessageAttributes: p.MessageAttributes,
        }),
      );
      sqsSends += 1;
      return { MessageId: out.MessageId, MD5OfMessageBody: out.MD5OfMessageBody };
    };
    run ??= createLocalRunner({ definition: deps.definition, stepTimeoutSeconds: deps.stepTimeoutSeconds, executionTimeoutSeconds: deps.executionTimeoutSeconds });
    const result = await run({
      input: spec.input,
      lambdas,
      tasks: Object.fromEntries(sqsStates.map((s) => [s, send])),
      stateMachineArn: spec.stateMachineArn,
      executionName: spec.name,
      executionArn: spec.executionArn,
      startDate: spec.startDate,
      onStarted: spec.hooks?.onStarted,
      onEvent: spec.hooks?.onEvent,
    });
    return { executionArn: spec.executionArn, name: spec.name, status: result.status, error: result.error, cause: result.cause, retries: result.retries, sqsSends };
  };
}
