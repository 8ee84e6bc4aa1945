/**
 * A small Step Functions stand-in for tests, benchmarks and the offline run: an HTTP server that
 * speaks the AWS JSON 1.0 protocol for StartExecution, RedriveExecution and DescribeExecution,
 * enough for the real `@aws-sdk/client-sfn` pointed at it (AWS_ENDPOINT_URL_SFN). No package
 * serves the Step Functions API locally (TOOLING.md), hence this.
 *
 * What it models, because reprocess depends on it:
 * - name uniqueness per state machine: a reused name is `ExecutionAlreadyExists`, except the same
 *   name + same input while RUNNING, which answers 200 with the original execution (AWS's idempotency);
 * - an optional token bucket (burst, refill/s) answering `ThrottlingException` beyond it;
 * - optional latency; counters per API and of duplicate starts (a name started twice);
 * - `onStart(execution)` so a caller can run the real state machine locally and then `complete()` it;
 * - redrive: only FAILED/TIMED_OUT/ABORTED executions, else `ExecutionNotRedrivable`.
 *
 * It lives in local/ and is never bundled into Lambda code.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

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
  /** Ends an execution (e.g. after running it locally). */
  complete(executionArn: string, status: Exclude<ExecutionStatus, 'RUNNING'>): void;
  /** Pre-creates an execution, e.g. to simulate one started before a crash. */
  seed(execution: { stateMachineArn: string; name: string; input: string; status?: ExecutionStatus }): StandinExecution;
  /** Changes the throttle (null: off); the bucket starts full. */
  setThrottle(throttle: { burst: number; refillPerSecond: number } | null): void;
  stop(): Promise<void>;
}

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
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

  const create = (stateMachineArn: string, name: string, input: string, status: ExecutionStatus): StandinExecution => {
    const execution: StandinExecution = { executionArn: executionArnFor(stateMachineArn, name), stateMachineArn, name, input, startDate: new Date(), status, redriveCount: 0 };
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
      return { redriveDate: e.redriveDate.getTime() / 1000 };
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
      if (e instanceof AwsError) send(400, { __type: e.type, message: e.message }, e.type);
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

  return {
    endpoint: `http://127.0.0.1:${port}`,
    counters,
    executions,
    complete(executionArn, status) {
      const e = executions.get(executionArn);
      if (!e) throw new Error(`no execution ${executionArn}`);
      e.status = status;
    },
    seed({ stateMachineArn, name, input, status }) {
      return create(stateMachineArn, name, input, status ?? 'RUNNING');
    },
    setThrottle(throttle) {
      bucket = throttle ? { ...throttle, tokens: throttle.burst, at: Date.now() } : null;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
