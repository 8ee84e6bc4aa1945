/**
 * A small Step Functions stand-in for tests, benchmarks and the offline run: an HTTP server that
 * speaks the AWS JSON 1.0 protocol for StartExecution, RedriveExecution, DescribeExecution,
 * StopExecution, GetExecutionHistory and ListExecutions, enough for the real `@aws-sdk/client-sfn` pointed at it
 * (AWS_ENDPOINT_URL_SFN). No package serves the Step Functions API locally (TOOLING.md), hence this.
 *
 * What it models, because reprocess depends on it:
 * - name uniqueness per state machine: a reused name is `ExecutionAlreadyExists`, except the same
 *   name + same input while RUNNING, which answers 200 with the original execution (AWS's idempotency);
 * - an optional token bucket (burst, refill/s) answering `ThrottlingException` beyond it;
 * - optional latency; counters per API and of duplicate starts (a name started twice);
 * - `onStart(execution)` so a caller can run the real state machine locally and then `complete()` it;
 * - redrive: only FAILED/TIMED_OUT/ABORTED executions, else `ExecutionNotRedrivable`;
 * - history: an execution run by the local engine through {@link SfnStandin.runLocally} records the
 *   engine's events translated into Step Functions history events (the `...StateEntered` /
 *   `...StateExited` events with the state's name and input/output as JSON text, TaskFailed,
 *   MapIteration*, and one ExecutionStarted / ExecutionRedriven / Execution<end> event written by
 *   the stand-in itself), served by GetExecutionHistory with `reverseOrder`, `maxResults`,
 *   `nextToken` and `includeExecutionData`;
 * - StopExecution: a RUNNING execution is stopped through the local run's abort function and ends
 *   ABORTED with the given error and cause (an ended execution is left as is);
 * - `onStatusChange(execution)` on every status change (start, end, redrive), so a test or the
 *   offline run can deliver "Step Functions Execution Status Change" events
 *   ({@link statusChangeEvent}) to the status-change capture.
 *
 * It lives in local/ and is never bundled into Lambda code.
 */
import { randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { STATES_EVENT_SOURCE, STATUS_CHANGE_DETAIL_TYPE } from '../lambdas/execution-capture/logic';
import type { EngineEvent } from './run-state-machine';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface StandinExecution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: string;
  readonly startDate: Date;
  status: ExecutionStatus;
  redriveCount: number;
  redriveDate?: Date;
  /** Error and cause of an ended execution (the Fail state's, the run's, or StopExecution's). */
  error?: string;
  cause?: string;
  stopDate?: Date;
  /** Step Functions history events, oldest first. */
  readonly history: StandinHistoryEvent[];
}

/** One history event as GetExecutionHistory returns it (the fields the stand-in fills). */
export interface StandinHistoryEvent {
  readonly id: number;
  readonly previousEventId: number;
  /** Epoch seconds, as the JSON protocol sends timestamps. */
  readonly timestamp: number;
  readonly type: string;
  readonly [details: string]: unknown;
}

/** Hooks of one local run (pass them to run-state-machine's `onStarted` / `onEvent`). */
export interface LocalRunHooks {
  readonly onStarted: (abort: () => void) => void;
  readonly onEvent: (event: EngineEvent) => void;
}

/** How a local run ended (run-state-machine's LocalRunResult fits). */
export interface LocalRunEnd {
  readonly status: Exclude<ExecutionStatus, 'RUNNING'>;
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
}

export interface SfnStandinOptions {
  /** Token bucket on StartExecution: burst size and refill per second. @default none (no throttling) */
  readonly throttle?: { readonly burst: number; readonly refillPerSecond: number };
  /** Added to every response, ms. @default 0 */
  readonly latencyMs?: number;
  /** Called after each new execution is created (not for idempotent or refused starts). */
  readonly onStart?: (execution: StandinExecution) => void | Promise<void>;
  /** Called on each throttled StartExecution (e.g. to time the steady state after the burst). */
  readonly onThrottle?: () => void;
  /** Status of a new execution. @default 'RUNNING' */
  readonly initialStatus?: ExecutionStatus;
  /** Called after every status change of an execution (started, ended, stopped, redriven). */
  readonly onStatusChange?: (execution: StandinExecution) => void;
  /**
   * True for a StartExecution to answer `503 ServiceUnavailable` (a 5xx AWS does answer now and then;
   * the caller's retries and spool must cope). Asked once per call, before anything is created.
   * @default never
   */
  readonly unavailableStart?: (stateMachineArn: string, name: string) => boolean;
}

export interface SfnStandinCounters {
  /** Requests per API (throttled ones included). */
  readonly calls: Record<string, number>;
  /** StartExecution answered ThrottlingException. */
  throttled: number;
  /** Starts refused as ExecutionAlreadyExists. */
  alreadyExists: number;
  /** Same-name starts answered idempotently. */
  idempotent: number;
  /** Names that were created more than once: must stay 0 (the stand-in refuses, so this counts attempts to bypass it, e.g. after reset). */
  duplicates: number;
}

export interface SfnStandin {
  /** `http://127.0.0.1:<port>`: the value for AWS_ENDPOINT_URL_SFN. */
  readonly endpoint: string;
  readonly counters: SfnStandinCounters;
  /** Executions by ARN. */
  readonly executions: ReadonlyMap<string, StandinExecution>;
  /**
   * Ends an execution (e.g. after running it locally), with its error and cause when it failed.
   * An execution already stopped by StopExecution stays ABORTED (the run's own end comes later).
   */
  complete(executionArn: string, status: Exclude<ExecutionStatus, 'RUNNING'>, details?: { error?: string; cause?: string; output?: unknown }): void;
  /** Hooks that record a local run of the execution into its history and let StopExecution abort it. */
  localRun(executionArn: string): LocalRunHooks;
  /** Runs `run` with the execution's hooks and ends the execution with its outcome. */
  runLocally(executionArn: string, run: (hooks: LocalRunHooks) => Promise<LocalRunEnd>): Promise<StandinExecution>;
  /**
   * Frees the recorded history of an ended execution nobody will read (the offline day keeps it
   * only for executions that did not succeed, which the status-change capture reads). Its status,
   * input and error stay, so DescribeExecution still answers.
   */
  dropHistory(executionArn: string): void;
  /** Pre-creates an execution, e.g. to simulate one started before a crash. */
  seed(execution: { stateMachineArn: string; name: string; input: string; status?: ExecutionStatus; startDate?: Date }): StandinExecution;
  /** Changes the throttle (null: off); the bucket starts full. */
  setThrottle(throttle: { burst: number; refillPerSecond: number } | null): void;
  stop(): Promise<void>;
}

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

function executionArnFor(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

/** Starts the stand-in on 127.0.0.1 (random port). */
export async function startSfnStandin(options: SfnStandinOptions = {}): Promise<SfnStandin> {
  const executions = new Map<string, StandinExecution>();
  const created = new Map<string, number>();
  const counters: SfnStandinCounters = { calls: {}, throttled: 0, alreadyExists: 0, idempotent: 0, duplicates: 0 };
  let bucket = options.throttle ? { ...options.throttle, tokens: options.throttle.burst, at: Date.now() } : null;

  const takeToken = (): boolean => {
    if (!bucket) return true;
    const now = Date.now();
    bucket.tokens = Math.min(bucket.burst, bucket.tokens + ((now - bucket.at) / 1000) * bucket.refillPerSecond);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  };

  const aborts = new Map<string, () => void>();
  const stoppedByApi = new Set<string>();
  const changed = (e: StandinExecution): void => options.onStatusChange?.(e);
  const append = (e: StandinExecution, type: string, details: Record<string, unknown> = {}): void => {
    const id = e.history.length + 1;
    e.history.push({ id, previousEventId: id - 1, timestamp: Date.now() / 1000, type, ...details });
  };
  const end = (e: StandinExecution, status: Exclude<ExecutionStatus, 'RUNNING'>, details: { error?: string; cause?: string; output?: unknown }): void => {
    e.status = status;
    e.error = details.error;
    e.cause = details.cause;
    e.stopDate = new Date();
    aborts.delete(e.executionArn);
    const errorDetails = { ...(details.error !== undefined ? { error: details.error } : {}), ...(details.cause !== undefined ? { cause: details.cause } : {}) };
    if (status === 'SUCCEEDED') append(e, 'ExecutionSucceeded', { executionSucceededEventDetails: { output: JSON.stringify(details.output ?? null) } });
    else if (status === 'FAILED') append(e, 'ExecutionFailed', { executionFailedEventDetails: errorDetails });
    else if (status === 'ABORTED') append(e, 'ExecutionAborted', { executionAbortedEventDetails: errorDetails });
    else append(e, 'ExecutionTimedOut', { executionTimedOutEventDetails: errorDetails });
    changed(e);
  };

  const create = (stateMachineArn: string, name: string, input: string, status: ExecutionStatus, startDate = new Date()): StandinExecution => {
    const execution: StandinExecution = { executionArn: executionArnFor(stateMachineArn, name), stateMachineArn, name, input, startDate, status, redriveCount: 0, history: [] };
    append(execution, 'ExecutionStarted', { executionStartedEventDetails: { input, inputDetails: { truncated: false } } });
    executions.set(execution.executionArn, execution);
    const n = (created.get(execution.executionArn) ?? 0) + 1;
    created.set(execution.executionArn, n);
    if (n > 1) counters.duplicates++;
    return execution;
  };

  const ops: Record<string, (body: Record<string, unknown>) => Promise<unknown>> = {
    async StartExecution(body) {
      if (!takeToken()) {
        counters.throttled++;
        options.onThrottle?.();
        throw new AwsError('ThrottlingException', 'Rate exceeded');
      }
      const stateMachineArn = String(body.stateMachineArn ?? '');
      const name = String(body.name ?? '');
      if (options.unavailableStart?.(stateMachineArn, name)) throw new AwsError('ServiceUnavailable', 'Service Unavailable', 503);
      const input = typeof body.input === 'string' ? body.input : '{}';
      if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) throw new AwsError('InvalidName', `invalid name ${name}`);
      const existing = executions.get(executionArnFor(stateMachineArn, name));
      if (existing) {
        if (existing.status === 'RUNNING' && existing.input === input) {
          counters.idempotent++;
          return { executionArn: existing.executionArn, startDate: existing.startDate.getTime() / 1000 };
        }
        counters.alreadyExists++;
        throw new AwsError('ExecutionAlreadyExists', `Execution Already Exists: '${existing.executionArn}'`);
      }
      const execution = create(stateMachineArn, name, input, options.initialStatus ?? 'RUNNING');
      changed(execution);
      await options.onStart?.(execution);
      return { executionArn: execution.executionArn, startDate: execution.startDate.getTime() / 1000 };
    },
    async RedriveExecution(body) {
      const e = executions.get(String(body.executionArn ?? ''));
      if (!e) throw new AwsError('ExecutionDoesNotExist', 'Execution Does Not Exist');
      if (!['FAILED', 'TIMED_OUT', 'ABORTED'].includes(e.status)) throw new AwsError('ExecutionNotRedrivable', `Execution is ${e.status}`);
      e.status = 'RUNNING';
      e.redriveCount++;
      e.redriveDate = new Date();
      e.error = undefined;
      e.cause = undefined;
      e.stopDate = undefined;
      stoppedByApi.delete(e.executionArn);
      append(e, 'ExecutionRedriven', { executionRedrivenEventDetails: { redriveCount: e.redriveCount } });
      changed(e);
      return { redriveDate: e.redriveDate.getTime() / 1000 };
    },
    async StopExecution(body) {
      const e = executions.get(String(body.executionArn ?? ''));
      if (!e) throw new AwsError('ExecutionDoesNotExist', 'Execution Does Not Exist');
      if (e.status === 'RUNNING') {
        const abort = aborts.get(e.executionArn);
        stoppedByApi.add(e.executionArn);
        end(e, 'ABORTED', { error: typeof body.error === 'string' ? body.error : undefined, cause: typeof body.cause === 'string' ? body.cause : undefined });
        // After the end is recorded: the engine's last events are no longer the execution's.
        abort?.();
      }
      return { stopDate: (e.stopDate ?? new Date()).getTime() / 1000 };
    },
    async GetExecutionHistory(body) {
      const e = executions.get(String(body.executionArn ?? ''));
      if (!e) throw new AwsError('ExecutionDoesNotExist', 'Execution Does Not Exist');
      const max = typeof body.maxResults === 'number' && body.maxResults > 0 ? Math.min(body.maxResults, 1000) : 100;
      const start = body.nextToken === undefined || body.nextToken === null ? 0 : Number(body.nextToken);
      if (!Number.isInteger(start) || start < 0 || start > e.history.length) throw new AwsError('InvalidToken', 'Invalid Token');
      const ordered = body.reverseOrder === true ? [...e.history].reverse() : e.history;
      const events = ordered.slice(start, start + max).map((ev) => (body.includeExecutionData === false ? withoutData(ev) : ev));
      return { events, ...(start + max < ordered.length ? { nextToken: String(start + max) } : {}) };
    },
    // ListExecutions: newest start first ("Results are sorted by time, with the most recent execution
    // first": AWS Step Functions API reference, "ListExecutions"), statusFilter, redriveFilter,
    // maxResults (1-1000, default 100) and nextToken. Like AWS, it promises no more: the reconciler
    // must page and look back itself.
    async ListExecutions(body) {
      const sm = String(body.stateMachineArn ?? '');
      const status = typeof body.statusFilter === 'string' ? body.statusFilter : null;
      const redrive = typeof body.redriveFilter === 'string' ? body.redriveFilter : null;
      const max = typeof body.maxResults === 'number' && body.maxResults > 0 ? Math.min(body.maxResults, 1000) : 100;
      const start = body.nextToken === undefined || body.nextToken === null ? 0 : Number(body.nextToken);
      const all = [...executions.values()]
        .filter((e) => e.stateMachineArn === sm && (status === null || e.status === status))
        .filter((e) => redrive === null || (redrive === 'REDRIVEN' ? e.redriveCount > 0 : e.redriveCount === 0))
        .reverse()
        .sort((a, b) => b.startDate.getTime() - a.startDate.getTime());
      if (!Number.isInteger(start) || start < 0 || start > all.length) throw new AwsError('InvalidToken', 'Invalid Token');
      const page = all.slice(start, start + max).map((e) => ({
        executionArn: e.executionArn,
        stateMachineArn: e.stateMachineArn,
        name: e.name,
        status: e.status,
        startDate: e.startDate.getTime() / 1000,
        redriveCount: e.redriveCount,
        ...(e.redriveDate ? { redriveDate: e.redriveDate.getTime() / 1000 } : {}),
        ...(e.stopDate ? { stopDate: e.stopDate.getTime() / 1000 } : {}),
      }));
      return { executions: page, ...(start + max < all.length ? { nextToken: String(start + max) } : {}) };
    },
    async DescribeExecution(body) {
      const e = executions.get(String(body.executionArn ?? ''));
      if (!e) throw new AwsError('ExecutionDoesNotExist', 'Execution Does Not Exist');
      return {
        executionArn: e.executionArn,
        stateMachineArn: e.stateMachineArn,
        name: e.name,
        status: e.status,
        input: e.input,
        startDate: e.startDate.getTime() / 1000,
        redriveCount: e.redriveCount,
        ...(e.redriveDate ? { redriveDate: e.redriveDate.getTime() / 1000 } : {}),
        ...(e.stopDate ? { stopDate: e.stopDate.getTime() / 1000 } : {}),
        ...(e.error !== undefined ? { error: e.error } : {}),
        ...(e.cause !== undefined ? { cause: e.cause } : {}),
      };
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const op = target.split('.').pop() ?? '';
    counters.calls[op] = (counters.calls[op] ?? 0) + 1;
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    const send = (status: number, payload: unknown, errorType?: string) => {
      const headers: Record<string, string> = { 'content-type': 'application/x-amz-json-1.0' };
      if (errorType) headers['x-amzn-errortype'] = errorType;
      res.writeHead(status, headers).end(JSON.stringify(payload));
    };
    const fn = ops[op];
    if (!fn) return send(400, { __type: 'UnknownOperationException', message: `not served by the stand-in: ${target}` }, 'UnknownOperationException');
    try {
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
      send(200, await fn(body));
    } catch (e) {
      if (e instanceof AwsError) send(e.status, { __type: e.type, message: e.message }, e.type);
      else send(500, { __type: 'InternalFailure', message: String(e) }, 'InternalFailure');
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.writeHead(500).end());
  });
  // Many concurrent keep-alive connections from the SDK in the benchmark.
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;

  const standin: SfnStandin = {
    endpoint: `http://127.0.0.1:${port}`,
    counters,
    executions,
    complete(executionArn, status, details = {}) {
      const e = executions.get(executionArn);
      if (!e) throw new Error(`no execution ${executionArn}`);
      if (stoppedByApi.has(executionArn)) return;
      end(e, status, details);
    },
    localRun(executionArn) {
      const e = executions.get(executionArn);
      if (!e) throw new Error(`no execution ${executionArn}`);
      return {
        onStarted: (abort) => void aborts.set(executionArn, abort),
        onEvent: (ev) => {
          // As in Step Functions, nothing is recorded after the execution's end.
          if (e.status !== 'RUNNING') return;
          const h = historyEventOf(ev);
          if (h) append(e, h.type, h.details);
        },
      };
    },
    async runLocally(executionArn, run) {
      const e = executions.get(executionArn);
      if (!e) throw new Error(`no execution ${executionArn}`);
      const out = await run(standin.localRun(executionArn));
      standin.complete(executionArn, out.status, { error: out.error, cause: out.cause, output: out.output });
      return e;
    },
    dropHistory(executionArn) {
      const e = executions.get(executionArn);
      if (e && e.status !== 'RUNNING') e.history.splice(0, e.history.length);
    },
    seed({ stateMachineArn, name, input, status, startDate }) {
      return create(stateMachineArn, name, input, status ?? 'RUNNING', startDate);
    },
    setThrottle(throttle) {
      bucket = throttle ? { ...throttle, tokens: throttle.burst, at: Date.now() } : null;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return standin;
}

/** An event without input/output (GetExecutionHistory with includeExecutionData: false). */
function withoutData(ev: StandinHistoryEvent): StandinHistoryEvent {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(ev)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const { input: _i, output: _o, ...rest } = v as Record<string, unknown>;
      out[k] = rest;
    } else out[k] = v;
  }
  return out as StandinHistoryEvent;
}

const STATE_TYPES = new Set(['Task', 'Pass', 'Map', 'Parallel', 'Choice', 'Wait', 'Succeed', 'Fail']);

/**
 * An aws-local-stepfunctions event as a Step Functions history event (type and details), or null
 * for events Step Functions has no counterpart of (StateRetried, StateCaught: AWS shows a retry as
 * the task scheduled again and a catch as the next state entered) and for the engine's own
 * execution events (the stand-in writes the execution's end itself, once).
 */
export function historyEventOf(ev: EngineEvent): { type: string; details: Record<string, unknown> } | null {
  const json = (v: unknown) => JSON.stringify(v === undefined ? null : v);
  const st = ev.state;
  if ((ev.type === 'StateEntered' || ev.type === 'StateExited') && st && STATE_TYPES.has(st.type)) {
    if (ev.type === 'StateEntered') return { type: `${st.type}StateEntered`, details: { stateEnteredEventDetails: { name: st.name, input: json(st.input), inputDetails: { truncated: false } } } };
    // A Fail state has no exit in Step Functions' history.
    if (st.type === 'Fail') return null;
    return { type: `${st.type}StateExited`, details: { stateExitedEventDetails: { name: st.name, output: json(st.output), outputDetails: { truncated: false } } } };
  }
  if (ev.type === 'StateFailed' && st) {
    const details = { error: ev.Error, cause: typeof ev.Cause === 'string' ? ev.Cause : json(ev.Cause) };
    if (st.type === 'Task') return { type: 'TaskFailed', details: { taskFailedEventDetails: { resourceType: 'lambda', resource: 'invoke', ...details } } };
    if (st.type === 'Map') return { type: 'MapStateFailed', details: {} };
    if (st.type === 'Parallel') return { type: 'ParallelStateFailed', details: {} };
    return null;
  }
  if (ev.type === 'MapIterationStarted' || ev.type === 'MapIterationSucceeded' || ev.type === 'MapIterationFailed') {
    const parent = (ev as { parentState?: { name?: string } }).parentState;
    const key = `mapIteration${ev.type.slice('MapIteration'.length)}EventDetails`;
    return { type: ev.type, details: { [key]: { name: parent?.name, index: ev.index } } };
  }
  return null;
}

/**
 * The "Step Functions Execution Status Change" event EventBridge would deliver for the execution's
 * current status, as sent for a state machine encrypted with a customer managed key: no input,
 * output, error or cause (AWS Step Functions developer guide, "Data at rest encryption", FAQ).
 */
export function statusChangeEvent(e: StandinExecution): {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: { executionArn: string; stateMachineArn: string; name: string; status: ExecutionStatus; startDate: number; stopDate: number | null; redriveCount: number };
} {
  const [, , , region, account] = e.executionArn.split(':');
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': STATUS_CHANGE_DETAIL_TYPE,
    source: STATES_EVENT_SOURCE,
    account,
    time: new Date().toISOString(),
    region,
    resources: [e.executionArn],
    detail: {
      executionArn: e.executionArn,
      stateMachineArn: e.stateMachineArn,
      name: e.name,
      status: e.status,
      startDate: e.startDate.getTime(),
      stopDate: e.stopDate ? e.stopDate.getTime() : null,
      redriveCount: e.redriveCount,
    },
  };
}
