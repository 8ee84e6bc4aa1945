import './polyfills';
import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { AslDefinition } from './asl';

/** A local stand-in of a Lambda: gets the `Payload` the state sends, returns the Lambda's result or throws. */
export type LocalLambda = (payload: unknown) => unknown;
/** A local stand-in of any other Task: gets the resolved Parameters, returns the service's result. */
export type LocalTask = (parameters: unknown) => unknown;

/** Options of {@link runLocal}. */
export interface LocalRunOptions {
  readonly definition: AslDefinition;
  readonly input: unknown;
  /** Lambda Task states (Resource `...:lambda:invoke`) by state name. */
  readonly lambdas?: Readonly<Record<string, LocalLambda>>;
  /** Other Task states (e.g. `SpoolFailure`) by state name. */
  readonly tasks?: Readonly<Record<string, LocalTask>>;
  /** Skip every Retry wait (default true). Step TimeoutSeconds still really waits. */
  readonly skipRetryWaits?: boolean;
  /** `$$.StateMachine.Id` (e.g. from aslFromTemplate). @default a placeholder */
  readonly stateMachineArn?: string;
  /** Execution name. @default `local-<timestamp>` */
  readonly executionName?: string;
}

/** Outcome of a local run. */
export interface LocalRunResult {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  readonly executionArn: string;
}

/**
 * Runs one execution of a definition with aws-local-stepfunctions. Every Task state must have a
 * local handler (a Task without one would call real AWS, so this refuses to start).
 * Fills the context object (`$$.Execution.Id/Name/Input/StartTime`, `$$.StateMachine.Id/Name`)
 * as Step Functions would.
 */
export async function runLocal(opts: LocalRunOptions): Promise<LocalRunResult> {
  const handlers: Record<string, (input: never) => Promise<never>> = {};
  const retryIntervalOverrides: Record<string, number> = {};
  for (const [name, state] of Object.entries(opts.definition.States)) {
    if (state.Type !== 'Task') continue;
    if (state.Retry && opts.skipRetryWaits !== false) retryIntervalOverrides[name] = 0;
    const lambda = opts.lambdas?.[name];
    const task = opts.tasks?.[name];
    if (lambda && String(state.Resource).endsWith(':lambda:invoke')) {
      handlers[name] = (async (params: { Payload?: unknown }) => ({ Payload: (await lambda(params.Payload)) ?? null })) as never;
    } else if (task) {
      handlers[name] = (async (params: unknown) => (await task(params)) ?? {}) as never;
    } else {
      throw new Error(`Task state "${name}" has no local handler; pass it in lambdas or tasks (it would call real AWS)`);
    }
  }
  const smArn = opts.stateMachineArn ?? 'arn:aws:states:us-east-1:123456789012:stateMachine:local';
  const name = opts.executionName ?? `local-${Date.now()}`;
  const executionArn = `${smArn.replace(':stateMachine:', ':execution:')}:${name}`;
  const machine = new StateMachine(opts.definition as never, { validationOptions: { checkArn: false } });
  const run = machine.run(opts.input as never, {
    overrides: { taskResourceLocalHandlers: handlers as never, retryIntervalOverrides },
    context: {
      Execution: { Id: executionArn, Name: name, StartTime: new Date().toISOString(), Input: opts.input },
      StateMachine: { Id: smArn, Name: smArn.split(':').pop() },
    } as never,
  });
  try {
    const output = await run.result;
    return { status: 'SUCCEEDED', output, executionArn };
  } catch (e) {
    if (e instanceof ExecutionError) {
      const inner = (e as Error & { cause?: Error }).cause;
      return { status: 'FAILED', error: inner?.name, cause: inner?.message, executionArn };
    }
    throw e;
  }
}
