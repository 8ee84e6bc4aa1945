import { SendMessageCommand, SQSClient, MessageAttributeValue } from '@aws-sdk/client-sqs';
import { StateMachine } from 'aws-local-stepfunctions';

/**
 * Runs one execution of a job's SYNTHESIZED state machine in aws-local-stepfunctions, the way Step
 * Functions would run it in AWS:
 * - `lambda:invoke` Task states call the real handler module of the function the definition names
 *   (resolved Parameters in, `{ Payload }` out); a thrown error reaches Retry/Catch under its
 *   `name`, with a Lambda-style JSON `Cause`, as in AWS;
 * - `sqs:sendMessage` Task states are answered by the REAL SQS API (the local emulator) with the
 *   body and attributes the Parameters resolved to (an object body is sent as JSON text, as Step
 *   Functions does);
 * - retry waits are skipped and Task timeouts capped at `stepTimeoutSeconds` (time compression: the
 *   engine really waits TimeoutSeconds, and a 20 s timeout would cost 20 s of wall time); a step
 *   that runs past the cap still ends in `States.Timeout`, so the timeout path is real;
 * - the context object holds what Step Functions fills in (execution id/name/input/start time,
 *   state machine id/name).
 */

/** A Lambda handler as the runner calls it. */
export type LocalHandler = (event: unknown, context: unknown) => Promise<unknown>;

export interface ExecutionSpec {
  readonly executionArn: string;
  readonly name: string;
  readonly stateMachineArn: string;
  readonly input: unknown;
  readonly startDate: Date;
}

export interface ExecutionOutcome {
  readonly executionArn: string;
  readonly name: string;
  readonly status: 'SUCCEEDED' | 'FAILED';
  /** Error of a failed execution (the Fail state's), or undefined. */
  readonly error?: string;
  /** Retries per state (StateRetried events). */
  readonly retries: Readonly<Record<string, number>>;
  /** Messages the definition sent to SQS (spool sends). */
  readonly sqsSends: number;
}

export interface ExecutionRunnerDeps {
  /** The runnable ASL of the state machine. */
  readonly definition: Record<string, unknown>;
  /** Handler of a Lambda function, by the FunctionName the definition resolves to. */
  readonly handlerFor: (functionName: string) => LocalHandler;
  /** SQS client pointed at the local emulator. */
  readonly sqs: SQSClient;
  /** Cap on every Task's TimeoutSeconds (time compression). @default no cap */
  readonly stepTimeoutSeconds?: number;
}

/** The definition with every Task's TimeoutSeconds capped (a copy; the synthesized one is untouched). */
export function capTaskTimeouts(definition: Record<string, unknown>, capSeconds: number): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(definition)) as { States?: Record<string, { Type: string; TimeoutSeconds?: number }> };
  for (const state of Object.values(copy.States ?? {})) {
    if (state.Type === 'Task' && typeof state.TimeoutSeconds === 'number') state.TimeoutSeconds = Math.min(state.TimeoutSeconds, capSeconds);
  }
  return copy as Record<string, unknown>;
}

const LAMBDA_INVOKE = /^arn:aws[\w-]*:states:::lambda:invoke$/;
const SQS_SEND = /^arn:aws[\w-]*:states:::sqs:sendMessage$/;

/** A thrown value as the Lambda runtime reports it: name = errorType, Cause = JSON. */
class LambdaFunctionError extends Error {
  constructor(e: unknown) {
    const errorType = e instanceof Error ? e.name : 'Error';
    const errorMessage = e instanceof Error ? e.message : String(e);
    super(JSON.stringify({ errorType, errorMessage, trace: [] }));
    this.name = errorType;
  }
}

/** Builds the engine for a state machine once; `run` is then called per execution. */
export function createExecutionRunner(deps: ExecutionRunnerDeps): (spec: ExecutionSpec) => Promise<ExecutionOutcome> {
  const definition = deps.stepTimeoutSeconds === undefined ? deps.definition : capTaskTimeouts(deps.definition, deps.stepTimeoutSeconds);
  const states = (definition.States ?? {}) as Record<string, { Type: string; Resource?: string; Retry?: unknown[] }>;
  const machine = new StateMachine(definition as unknown as ConstructorParameters<typeof StateMachine>[0], {
    validationOptions: { checkArn: false },
  });

  return async (spec: ExecutionSpec): Promise<ExecutionOutcome> => {
    let sqsSends = 0;
    const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    const retryIntervalOverrides: Record<string, number> = {};
    for (const [stateName, state] of Object.entries(states)) {
      if (state.Type !== 'Task') continue;
      if (state.Retry) retryIntervalOverrides[stateName] = 0;
      const resource = state.Resource ?? '';
      if (LAMBDA_INVOKE.test(resource)) {
        handlers[stateName] = async (input) => {
          const { FunctionName, Payload } = input as { FunctionName: string; Payload: unknown };
          const handler = deps.handlerFor(FunctionName);
          let result: unknown;
          try {
            // JSON round trip: a Lambda receives a fresh parsed payload, never the engine's object.
            result = await handler(JSON.parse(JSON.stringify(Payload ?? null)), { functionName: FunctionName, awsRequestId: `local-${spec.name}` });
          } catch (e) {
            throw new LambdaFunctionError(e);
          }
          return { ExecutedVersion: '$LATEST', StatusCode: 200, Payload: result === undefined ? null : JSON.parse(JSON.stringify(result)) };
        };
      } else if (SQS_SEND.test(resource)) {
        handlers[stateName] = async (input) => {
          const p = input as { QueueUrl: string; MessageBody: unknown; MessageAttributes?: Record<string, MessageAttributeValue> };
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
      } else {
        handlers[stateName] = async () => {
          throw new Error(`The offline run has no local stand-in for Task resource ${resource} (state ${stateName})`);
        };
      }
    }

    const smName = spec.stateMachineArn.split(':').pop() ?? 'StateMachine';
    const run = machine.run(spec.input as never, {
      overrides: { taskResourceLocalHandlers: handlers as never, retryIntervalOverrides },
      context: {
        Execution: { Id: spec.executionArn, Name: spec.name, Input: spec.input as never, StartTime: spec.startDate.toISOString(), RoleArn: 'arn:aws:iam::000000000000:role/local' },
        StateMachine: { Id: spec.stateMachineArn, Name: smName },
      },
    });
    const retries: Record<string, number> = {};
    const events = (async () => {
      for await (const ev of run.eventLogs) {
        if (ev.type === 'StateRetried') retries[ev.state.name] = (retries[ev.state.name] ?? 0) + 1;
      }
    })();
    try {
      await run.result;
      await events;
      return { executionArn: spec.executionArn, name: spec.name, status: 'SUCCEEDED', retries, sqsSends };
    } catch (e) {
      await events.catch(() => undefined);
      const cause = (e as { cause?: { name?: string } }).cause;
      return { executionArn: spec.executionArn, name: spec.name, status: 'FAILED', error: cause?.name ?? (e instanceof Error ? e.name : 'Error'), retries, sqsSends };
    }
  };
}
