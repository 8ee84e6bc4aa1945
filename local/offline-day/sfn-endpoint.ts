import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * The offline run's Step Functions endpoint (AWS JSON 1.0), just what the producer and reprocess
 * handlers call: StartExecution (with Step Functions' name rules: the same name with the same
 * input while running returns the running execution; any other reuse is ExecutionAlreadyExists)
 * and DescribeExecution. Each accepted start is handed to `onStart`, which runs the real
 * definition; `finish` records the outcome.
 */
export interface StartedExecution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: string;
  readonly startDate: Date;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
}

export interface SfnEndpoint {
  readonly endpoint: string;
  readonly executions: ReadonlyMap<string, StartedExecution>;
  /** StartExecution calls refused because the name was taken (what prevents duplicates). */
  readonly refusedDuplicates: number;
  finish(executionArn: string, status: 'SUCCEEDED' | 'FAILED'): void;
  close(): Promise<void>;
}

export async function startSfnEndpoint(options: {
  readonly knownStateMachines: ReadonlySet<string>;
  readonly onStart: (execution: StartedExecution) => void;
}): Promise<SfnEndpoint> {
  const executions = new Map<string, StartedExecution>();
  let refused = 0;
  const fail = (type: string, message: string): { status: number; body: unknown } => ({ status: 400, body: { __type: type, message } });

  const handle = (target: string, body: Record<string, unknown>): { status: number; body: unknown } => {
    if (target === 'AWSStepFunctions.StartExecution') {
      const sm = String(body.stateMachineArn ?? '');
      if (!options.knownStateMachines.has(sm)) return fail('StateMachineDoesNotExist', `State Machine Does Not Exist: '${sm}'`);
      const name = String(body.name ?? '');
      if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) return fail('InvalidName', `Invalid Name: '${name}'`);
      const input = typeof body.input === 'string' ? body.input : '{}';
      const executionArn = `${sm.replace(':stateMachine:', ':execution:')}:${name}`;
      const existing = executions.get(executionArn);
      if (existing) {
        if (existing.status === 'RUNNING' && existing.input === input) {
          return { status: 200, body: { executionArn, startDate: existing.startDate.getTime() / 1000 } };
        }
        refused += 1;
        return fail('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
      }
      const execution: StartedExecution = { executionArn, stateMachineArn: sm, name, input, startDate: new Date(), status: 'RUNNING' };
      executions.set(executionArn, execution);
      options.onStart(execution);
      return { status: 200, body: { executionArn, startDate: execution.startDate.getTime() / 1000 } };
    }
    if (target === 'AWSStepFunctions.DescribeExecution') {
      const e = executions.get(String(body.executionArn ?? ''));
      if (!e) return fail('ExecutionDoesNotExist', `Execution Does Not Exist: '${String(body.executionArn)}'`);
      return {
        status: 200,
        body: { executionArn: e.executionArn, stateMachineArn: e.stateMachineArn, name: e.name, status: e.status, startDate: e.startDate.getTime() / 1000, input: e.input },
      };
    }
    return fail('UnknownOperationException', `The offline run's Step Functions endpoint does not implement ${target}`);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let out: { status: number; body: unknown };
      try {
        out = handle(String(req.headers['x-amz-target'] ?? ''), JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'));
      } catch (e) {
        out = fail('SerializationException', e instanceof Error ? e.message : String(e));
      }
      res.writeHead(out.status, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(out.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    executions,
    get refusedDuplicates() {
      return refused;
    },
    finish: (arn, status) => {
      const e = executions.get(arn);
      if (e) e.status = status;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
