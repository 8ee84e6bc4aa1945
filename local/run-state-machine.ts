import './polyfills';
import { ExecutionAbortedError, ExecutionError, ExecutionTimeoutError, StateMachine } from 'aws-local-stepfunctions';
import { AslDefinition } from './asl';

/**
 * The one way this project runs a state machine definition locally (tests and the offline day):
 * aws-local-stepfunctions with a local handler for every Task state, the context object filled as
 * Step Functions fills it, and Lambda errors shaped as the Lambda service shapes them.
 */

/** What a local Lambda gets besides its payload (a subset of the Lambda context). */
export interface LocalLambdaContext {
  readonly functionName: string;
  readonly awsRequestId: string;
}
/** A local stand-in of a Lambda: gets the `Payload` the state sends, returns the Lambda's result or throws. */
export type LocalLambda = (payload: unknown, context: LocalLambdaContext) => unknown;
/** A local stand-in of any other Task: gets the resolved Parameters, returns the service's result. */
export type LocalTask = (parameters: unknown) => unknown;

/** How a definition is run, fixed for all its executions. */
export interface LocalRunnerOptions {
  readonly definition: AslDefinition;
  /** Skip every Retry wait (retries still happen, with their MaxAttempts and matching). @default true */
  readonly skipRetryWaits?: boolean;
  /** Retry waits of these states, milliseconds, instead of skipping them (e.g. a lock wait that must really wait). */
  readonly retryWaitMs?: Readonly<Record<string, number>>;
  /**
   * Cap on every Task's TimeoutSeconds (time compression). The engine really waits TimeoutSeconds,
   * so a long step timeout costs that much wall time. @default no cap
   */
  readonly stepTimeoutSeconds?: number;
  /**
   * Cap on the definition's own (execution) TimeoutSeconds, for the same reason: the engine ends a
   * run TIMED_OUT only after that much wall time. @default no cap
   */
  readonly executionTimeoutSeconds?: number;
}

/** One execution. */
export interface LocalExecution {
  readonly input: unknown;
  /** Lambda Task states (Resource `...:lambda:invoke`) by state name. */
  readonly lambdas?: Readonly<Record<string, LocalLambda>>;
  /** Other Task states (e.g. `SpoolFailure`) by state name. */
  readonly tasks?: Readonly<Record<string, LocalTask>>;
  /** `$$.StateMachine.Id` (e.g. from aslFromTemplate). @default a placeholder */
  readonly stateMachineArn?: string;
  /** Execution name. @default `local-<timestamp>` */
  readonly executionName?: string;
  /** `$$.Execution.Id`. @default derived from the state machine ARN and the name, as Step Functions does */
  readonly executionArn?: string;
  /** `$$.Execution.StartTime`. @default now (aws-local-stepfunctions 3 always stamps the current time) */
  readonly startDate?: Date;
  /** Receives a function that stops the execution as StopExecution would (status ABORTED). */
  readonly onStarted?: (abort: () => void) => void;
  /** Receives every engine event (sizes of state input/output, retries, map iterations). */
  readonly onEvent?: (event: EngineEvent) => void;
}

/** An aws-local-stepfunctions event as the runner passes it on (see its EventLog types). */
export interface EngineEvent {
  readonly type: string;
  readonly state?: { readonly name: string; readonly type: string; readonly input?: unknown; readonly output?: unknown };
  readonly index?: number;
  readonly Error?: string;
  readonly Cause?: string;
  readonly [k: string]: unknown;
}

/**
 * Every Task state of a definition with its name, nested ones included (Parallel branches, Map
 * item processors): a nested Task without a local handler would call real AWS.
 */
export function taskStatesOf(definition: { States: Record<string, unknown> }): Array<[string, { Resource?: string; Retry?: unknown }]> {
  const out: Array<[string, { Resource?: string; Retry?: unknown }]> = [];
  const walk = (states: Record<string, unknown>) => {
    for (const [name, raw] of Object.entries(states)) {
      const st = raw as { Type: string; Branches?: Array<{ States: Record<string, unknown> }>; ItemProcessor?: { States: Record<string, unknown> }; Iterator?: { States: Record<string, unknown> } };
      if (st.Type === 'Task') out.push([name, st as { Resource?: string; Retry?: unknown }]);
      for (const b of st.Branches ?? []) walk(b.States);
      const proc = st.ItemProcessor ?? st.Iterator;
      if (proc) walk(proc.States);
    }
  };
  walk(definition.States);
  return out;
}

/** Outcome of a local run. */
export interface LocalRunResult {
  /** TIMED_OUT: the definition's own TimeoutSeconds passed; ABORTED: `abort` was called. */
  readonly status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  readonly output?: unknown;
  /** The failed execution's Error and Cause (those of its Fail state). */
  readonly error?: string;
  readonly cause?: string;
  readonly executionArn: string;
  /** Retries per state name (StateRetried events). */
  readonly retries: Readonly<Record<string, number>>;
}

/**
 * A thrown value as the Lambda service reports it to Step Functions: the Error is the error's
 * `name` (its errorType) and the Cause a JSON string with errorType, errorMessage and trace.
 */
export class LambdaFunctionError extends Error {
  constructor(thrown: unknown) {
    const errorType = thrown instanceof Error ? thrown.name : 'Error';
    const errorMessage = thrown instanceof Error ? thrown.message : String(thrown);
    super(JSON.stringify({ errorType, errorMessage, trace: [] }));
    this.name = errorType;
  }
}

/** Resource of a Lambda Task state (the optimized `lambda:invoke` integration). */
export const LAMBDA_INVOKE = /^arn:aws[\w-]*:states:::lambda:invoke$/;

/** The definition with every Task's TimeoutSeconds capped (a copy; the synthesized one is untouched). */
export function capTaskTimeouts(definition: AslDefinition, capSeconds: number): AslDefinition {
  const copy = JSON.parse(JSON.stringify(definition)) as AslDefinition;
  for (const [, state] of taskStatesOf(copy)) {
    const s = state as { TimeoutSeconds?: number };
    if (typeof s.TimeoutSeconds === 'number') s.TimeoutSeconds = Math.min(s.TimeoutSeconds, capSeconds);
  }
  return copy;
}

/**
 * Parses and validates a definition once; the returned function runs one execution. Every Task
 * state must have a local handler in the execution (a Task without one would call real AWS, so the
 * run is refused).
 */
export function createLocalRunner(options: LocalRunnerOptions): (execution: LocalExecution) => Promise<LocalRunResult> {
  let definition = options.stepTimeoutSeconds === undefined ? options.definition : capTaskTimeouts(options.definition, options.stepTimeoutSeconds);
  if (options.executionTimeoutSeconds !== undefined && typeof definition.TimeoutSeconds === 'number' && definition.TimeoutSeconds > options.executionTimeoutSeconds) {
    definition = { ...definition, TimeoutSeconds: options.executionTimeoutSeconds };
  }
  const machine = new StateMachine(definition as never, { validationOptions: { checkArn: false } });
  const taskStates = taskStatesOf(definition);
  const retryIntervalOverrides: Record<string, number> = {};
  if (options.skipRetryWaits !== false) {
    for (const [stateName, state] of taskStates) if (state.Retry) retryIntervalOverrides[stateName] = 0;
  }
  Object.assign(retryIntervalOverrides, options.retryWaitMs ?? {});

  return async (execution) => {
    const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    const smArn = execution.stateMachineArn ?? 'arn:aws:states:us-east-1:123456789012:stateMachine:local';
    const name = execution.executionName ?? `local-${Date.now()}`;
    const executionArn = execution.executionArn ?? `${smArn.replace(':stateMachine:', ':execution:')}:${name}`;
    for (const [stateName, state] of taskStates) {
      const lambda = execution.lambdas?.[stateName];
      const task = execution.tasks?.[stateName];
      if (lambda && LAMBDA_INVOKE.test(String(state.Resource))) {
        handlers[stateName] = async (params) => {
          const { FunctionName, Payload } = params as { FunctionName?: string; Payload?: unknown };
          let result: unknown;
          try {
            // A Lambda receives a freshly parsed payload, never the engine's own object.
            result = await lambda(JSON.parse(JSON.stringify(Payload ?? null)), { functionName: String(FunctionName ?? stateName), awsRequestId: `local-${name}-${stateName}` });
          } catch (e) {
            throw new LambdaFunctionError(e);
          }
          return { ExecutedVersion: '$LATEST', StatusCode: 200, Payload: result === undefined ? null : JSON.parse(JSON.stringify(result)) };
        };
      } else if (task) {
        handlers[stateName] = async (params) => (await task(params)) ?? {};
      } else {
        throw new Error(`Task state "${stateName}" (${String(state.Resource)}) has no local handler; pass it in lambdas or tasks (it would call real AWS)`);
      }
    }
    const run = machine.run(execution.input as never, {
      overrides: { taskResourceLocalHandlers: handlers as never, retryIntervalOverrides },
      context: {
        Execution: { Id: executionArn, Name: name, StartTime: (execution.startDate ?? new Date()).toISOString(), Input: execution.input },
        StateMachine: { Id: smArn, Name: smArn.split(':').pop() },
      } as never,
    });
    execution.onStarted?.(() => run.abort());
    const retries: Record<string, number> = {};
    const events = (async () => {
      for await (const ev of run.eventLogs) {
        if (ev.type === 'StateRetried') retries[ev.state.name] = (retries[ev.state.name] ?? 0) + 1;
        execution.onEvent?.(ev as unknown as EngineEvent);
      }
    })();
    try {
      const output = await run.result;
      await events;
      return { status: 'SUCCEEDED', output, executionArn, retries };
    } catch (e) {
      await events.catch(() => undefined);
      if (e instanceof ExecutionError) {
        const inner = (e as Error & { cause?: Error }).cause;
        return { status: 'FAILED', error: inner?.name, cause: inner?.message, executionArn, retries };
      }
      // The engine rejects with its own classes for these two ends (not an ExecutionError).
      if (e instanceof ExecutionTimeoutError) return { status: 'TIMED_OUT', error: 'States.Timeout', cause: 'the execution passed its TimeoutSeconds', executionArn, retries };
      if (e instanceof ExecutionAbortedError) return { status: 'ABORTED', executionArn, retries };
      throw e;
    }
  };
}

/** Runs one execution of a definition (see {@link createLocalRunner}). */
export function runLocal(options: LocalRunnerOptions & LocalExecution): Promise<LocalRunResult> {
  return createLocalRunner(options)(options);
}
