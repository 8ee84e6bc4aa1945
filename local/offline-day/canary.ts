import { DynamoDBClient, ScanCommand, ScanCommandOutput } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { format } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { openSealedText } from '../../lambdas/shared/safe-error';
import { invokeErrorLogLine, invokeErrorPayload, RuntimeHandler } from '../lambda-runtime-log';
import type { SqsEmulator } from '../sqs-emulator';

/**
 * The canary of the offline day (`npm start -- --canary <text>`, docs/offline-day.md): the text is put
 * into every task's params (the example producers' EXAMPLE_CANARY: customer and holder names) and from
 * there into the messages of the errors the example steps throw; then every sink OUTSIDE the read
 * lock is recorded under `<out>/outside/` and searched for it, and what is INSIDE the lock is counted:
 *
 * outside (must hold it 0 times)            | inside (must hold it)
 * ----------------------------------------- | -----------------------------------------------
 * `logs/<function>.log`: every line a       | the parameter log (`client/`, `worker/`)
 *   function writes (Powertools at DEBUG,   | params-key queue bodies at the end
 *   console) and the runtime's `Invoke      | worker records whose cause holds the opened
 *   Error` line of each uncaught error      |   (full) error text
 * `metrics.ndjson`: EMF lines (Powertools)  | spool messages whose sealed cause opens, with
 * `traces.ndjson`: the uncaught errors X-Ray|   the key of their own envelope, to the text
 *   records (type, message, stack)          |
 * `state-machine-logs.ndjson`: error and    |
 *   cause of every failed step attempt and  |
 *   failed execution (the state machine log |
 *   group at level ERROR may hold them)     |
 * `events.ndjson`: every event a function   |
 *   got from Scheduler or EventBridge       |
 * `dynamodb.ndjson`: coordination items     | step records (`inside/step-records-*.ndjson`:
 *   (holds, locks, ledger: AWS managed key) |   steps' outputs, under the params key)
 * `sqs-attributes.ndjson`: message attrs of |
 *   every message sent during the run (SSE |
 *   leaves attributes in clear) and of those|
 *   left at the end                         |
 * `sqs-bodies-outside-lock.ndjson`: bodies |
 *   sent to or left in queues without the   |
 *   params key                              |
 *   (SQS-managed encryption: capture        |
 *   failures, dead-letter queues)           |
 * `cli-output.json`: the run's report (what |
 *   an operator reads without --show-params)|
 * and in all of them: a task's seal key     |
 *   (`"seal":"`: an envelope outside)       |
 *
 * `state-machine-logs.ndjson` also holds the end of every high-volume Express child that did not
 * succeed (the children log to the parent's log group).
 *
 * Not modelled: Powertools Tracer runs disabled (no X-Ray daemon),
 * so only the uncaught errors stand for the traces; Lambda platform lines (START/END/REPORT) carry no
 * payload.
 */

/** Files under `inside/` that hold the step-results table's items (one per table). */
export const STEP_RECORDS_FILE_PREFIX = 'step-records-';

/** What the canary may be: plain text that survives JSON, URLs and e-mail local parts unchanged. */
export const CANARY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{5,63}$/;

/** Checks `--canary`; throws saying how to fix it. */
export function checkCanary(text: string): string {
  if (!CANARY_PATTERN.test(text)) throw new Error(`--canary must be 6-64 letters, digits, '.', '_' or '-' (starting with a letter or digit), e.g. CANARY-7f3a9c; got ${JSON.stringify(text)}`);
  return text;
}

/** Settings of the handlers in a canary run: every log level and the metrics on, so that all they could write is written. */
export const CANARY_PROCESS_ENV: Readonly<Record<string, string>> = { POWERTOOLS_LOG_LEVEL: 'DEBUG', POWERTOOLS_METRICS_DISABLED: 'false' };

/** The canary's figures (report.json `canary`). */
export interface CanaryReport {
  readonly text: string;
  /** Occurrences per sink outside the lock: all must be 0. */
  readonly outside: Record<string, number>;
  readonly outsideTotal: number;
  /** Occurrences per place inside the lock: the canary did travel. */
  readonly inside: Record<string, number>;
  readonly insideTotal: number;
  /** Lines / records each outside sink holds (so a sink that stayed empty is visible). */
  readonly recorded: Record<string, number>;
  /** Outside files with an occurrence (relative to the output folder), for whoever fixes the leak. */
  readonly leaks: string[];
}

/** True when the canary stayed inside: 0 outside, and it did reach the inside. */
export function canaryOk(c: CanaryReport): boolean {
  return c.outsideTotal === 0 && c.insideTotal > 0;
}

/** Occurrences of `needle` in `s`. */
export function occurrences(s: string, needle: string): number {
  let n = 0;
  for (let i = s.indexOf(needle); i !== -1; i = s.indexOf(needle, i + needle.length)) n++;
  return n;
}

type Write = (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;
const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;

/** Records the sinks outside the lock of one run (see the module comment). */
export class CanaryRecorder {
  readonly outsideDir: string;
  readonly insideDir: string;
  private readonly counts: Record<string, number> = {};
  private readonly partial = { stdout: '', stderr: '' };
  private restore: Array<() => void> = [];
  private passing = false;

  constructor(
    readonly text: string,
    readonly outDir: string,
  ) {
    checkCanary(text);
    this.outsideDir = join(outDir, 'outside');
    this.insideDir = join(outDir, 'inside');
    mkdirSync(this.outsideDir, { recursive: true });
    mkdirSync(this.insideDir, { recursive: true });
  }

  /** Environment of every function in the run (the example producers read EXAMPLE_CANARY). */
  functionEnv(): Record<string, string> {
    return { EXAMPLE_CANARY: this.text };
  }

  /** Starts recording what the process writes: stdout, stderr and the console (a handler's own lines). */
  start(): void {
    for (const name of ['stdout', 'stderr'] as const) {
      const stream = process[name];
      const original = stream.write.bind(stream) as Write;
      stream.write = ((chunk: unknown, encoding?: unknown, cb?: unknown) => {
        if (this.passing) return original(chunk, encoding, cb);
        this.take(name, typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
        if (typeof encoding === 'function') (encoding as () => void)();
        else if (typeof cb === 'function') (cb as () => void)();
        return true;
      }) as typeof stream.write;
      this.restore.push(() => void (stream.write = original as typeof stream.write));
      // Lines that are not the handlers' (the run's progress) still reach the terminal.
      this.passThrough[name] = (line) => void original(`${line}\n`);
    }
    // Every message any client sends (handlers, the state machines' SqsSendMessage): its attributes
    // are metadata SSE leaves in clear, read by whoever may receive, whether or not the message
    // is still there at the end (most spool messages are replayed and deleted before it).
    const originalSend = Object.prototype.hasOwnProperty.call(SQSClient.prototype, 'send') ? SQSClient.prototype.send : null;
    const inheritedSend = SQSClient.prototype.send;
    const recorder = this;
    SQSClient.prototype.send = function (this: SQSClient, command: unknown, ...rest: unknown[]) {
      recorder.sentAttributes(command);
      return (inheritedSend as (...a: unknown[]) => unknown).call(this, command, ...rest);
    } as typeof SQSClient.prototype.send;
    this.restore.push(() => {
      if (originalSend) SQSClient.prototype.send = originalSend;
      else delete (SQSClient.prototype as { send?: unknown }).send;
    });
    // Under jest the global console is jest's own (not process.stdout): take its lines here too.
    for (const m of CONSOLE_METHODS) {
      const original = console[m];
      console[m] = (...args: unknown[]) => {
        if (this.passing) return original.apply(console, args);
        const text = format(...args);
        for (const line of text.split('\n')) this.line(m === 'error' || m === 'warn' ? 'stderr' : 'stdout', line, () => original.call(console, line));
      };
      this.restore.push(() => void (console[m] = original));
    }
  }

  /** Stops recording (idempotent). */
  stop(): void {
    for (const r of this.restore.splice(0).reverse()) r();
    for (const name of ['stdout', 'stderr'] as const) {
      if (this.partial[name]) this.line(name, this.partial[name], () => undefined);
      this.partial[name] = '';
    }
  }

  /** Bodies sent during the run, by queue: those of queues outside the lock are searched at the snapshot. */
  private readonly sentBodies: Array<{ queue: string; body: string }> = [];

  /** Records the attributes (and keeps the body) of each message a send command carries (see start()). */
  private sentAttributes(command: unknown): void {
    const queueOf = (url: unknown) => String(url ?? '').split('/').pop() ?? '';
    const attrs = (a: Record<string, { StringValue?: string }> | undefined) => Object.fromEntries(Object.entries(a ?? {}).map(([k, v]) => [k, v?.StringValue]));
    const sent = (queue: string, body: string | undefined, a: Record<string, { StringValue?: string }> | undefined) => {
      this.append('sqs-attributes.ndjson', JSON.stringify({ queue, sent: true, attributes: attrs(a) }));
      this.sentBodies.push({ queue, body: body ?? '' });
    };
    if (command instanceof SendMessageCommand) sent(queueOf(command.input.QueueUrl), command.input.MessageBody, command.input.MessageAttributes);
    else if (command instanceof SendMessageBatchCommand) for (const e of command.input.Entries ?? []) sent(queueOf(command.input.QueueUrl), e.MessageBody, e.MessageAttributes);
  }

  private readonly passThrough: Record<'stdout' | 'stderr', (line: string) => void> = { stdout: () => undefined, stderr: () => undefined };

  private take(stream: 'stdout' | 'stderr', chunk: string): void {
    const text = this.partial[stream] + chunk;
    const lines = text.split('\n');
    this.partial[stream] = lines.pop() ?? '';
    for (const line of lines) this.line(stream, line, () => this.passThrough[stream](line));
  }

  /** Sorts one written line into its sink; lines that are not a handler's go on to `show`. */
  private line(stream: 'stdout' | 'stderr', line: string, show: () => void): void {
    if (line.trim() === '') return;
    let parsed: Record<string, unknown> | null = null;
    if (line.trimStart().startsWith('{')) {
      try {
        const v = JSON.parse(line) as unknown;
        if (v !== null && typeof v === 'object' && !Array.isArray(v)) parsed = v as Record<string, unknown>;
      } catch {
        parsed = null;
      }
    }
    if (parsed && '_aws' in parsed) return this.append('metrics.ndjson', line);
    if (parsed && ('level' in parsed || 'message' in parsed)) {
      const fn = String(parsed.function_name ?? parsed.service ?? 'unattributed').replace(/[^\w.-]/g, '_');
      return this.append(`logs/${fn}.log`, line);
    }
    // The run's own lines (progress, the engines' warnings): what a person at the terminal reads.
    this.append(`logs/_process-${stream}.log`, line);
    this.passing = true;
    try {
      show();
    } finally {
      this.passing = false;
    }
  }

  private append(file: string, line: string): void {
    const p = join(this.outsideDir, file);
    mkdirSync(dirname(p), { recursive: true });
    appendFileSync(p, `${line}\n`);
    const sink = file.split('/')[0];
    this.counts[sink] = (this.counts[sink] ?? 0) + 1;
  }

  /**
   * The handler as the Lambda runtime runs it: an uncaught error is written to the function's log
   * group as the runtime writes it, recorded on its trace (X-Ray keeps type, message and stack), and
   * reported as the invocation's error (Step Functions logs a failed task's error and cause at ERROR).
   */
  wrap(functionId: string, handler: RuntimeHandler): RuntimeHandler {
    return async (event, context) => {
      try {
        return await handler(event, context);
      } catch (e) {
        const requestId = String((context as { awsRequestId?: unknown } | null)?.awsRequestId ?? 'unknown');
        this.append(`logs/${functionId}.log`, invokeErrorLogLine(e, requestId));
        const payload = invokeErrorPayload(e);
        this.append('traces.ndjson', JSON.stringify({ functionId, requestId, fault: true, cause: { exceptions: [{ type: payload.errorType, message: payload.errorMessage, stack: payload.trace }] } }));
        this.append('state-machine-logs.ndjson', JSON.stringify({ type: 'LambdaFunctionFailed', functionId, details: { error: payload.errorType, cause: JSON.stringify(payload) } }));
        throw e;
      }
    };
  }

  /** Takes what the stores outside the lock hold at the end, and the queue bodies inside it. */
  async snapshot(s: {
    readonly dynamo: DynamoDBClient;
    /** Tables outside the lock (AWS managed key): every item is searched. */
    readonly tables: ReadonlyArray<string>;
    /** Tables inside the lock (the params key: the step records): kept under `inside/`. */
    readonly insideTables?: ReadonlyArray<string>;
    readonly sqs: SqsEmulator;
    readonly queueNames: ReadonlyArray<string>;
    /** Of `queueNames`, those not encrypted with the params key: their bodies are searched as outside (./canary-queues.ts). */
    readonly outsideQueueNames?: ReadonlyArray<string>;
    readonly executions: ReadonlyArray<{ executionArn: string; status: string; error?: string; cause?: string }>;
    /** Ends of the high-volume Express children (they log to the parent's log group). */
    readonly childEnds?: ReadonlyArray<{ executionArn: string; status: string; error?: string; cause?: string }>;
    readonly events: ReadonlyArray<{ functionId: string; event: unknown }>;
  }): Promise<void> {
    const scan = async (table: string, take: (line: string) => void): Promise<void> => {
      let start: ScanCommandOutput['LastEvaluatedKey'];
      do {
        const out = await s.dynamo.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
        for (const item of out.Items ?? []) take(JSON.stringify({ table, item }));
        start = out.LastEvaluatedKey;
      } while (start);
    };
    for (const table of s.tables) await scan(table, (line) => this.append('dynamodb.ndjson', line));
    for (const table of s.insideTables ?? []) await scan(table, (line) => appendFileSync(join(this.insideDir, `${STEP_RECORDS_FILE_PREFIX}${table}.ndjson`), `${line}\n`));
    // Sent during the run to a queue outside the lock, consumed or not: as readable there as one left.
    for (const b of this.sentBodies) if ((s.outsideQueueNames ?? []).includes(b.queue)) this.append('sqs-bodies-outside-lock.ndjson', JSON.stringify({ queue: b.queue, sent: true, body: b.body }));
    for (const name of s.queueNames) {
      const q = await s.sqs.inspectQueue(name);
      const outsideLock = (s.outsideQueueNames ?? []).includes(name);
      for (const m of q.all) {
        this.append('sqs-attributes.ndjson', JSON.stringify({ queue: name, attributes: m.attributes }));
        // SQS-managed encryption decrypts for anyone who may receive: such a body is outside the lock.
        if (outsideLock) this.append('sqs-bodies-outside-lock.ndjson', JSON.stringify({ queue: name, body: m.body }));
        else appendFileSync(join(this.insideDir, `queue-${name}.ndjson`), `${m.body}\n`);
      }
    }
    for (const e of [...s.executions, ...(s.childEnds ?? [])]) {
      if (e.status !== 'SUCCEEDED') this.append('state-machine-logs.ndjson', JSON.stringify({ type: `Execution${e.status}`, executionArn: e.executionArn, details: { error: e.error ?? null, cause: e.cause ?? null } }));
    }
    for (const e of s.events) this.append('events.ndjson', JSON.stringify(e));
  }

  /** Stops recording, writes the operator's view, counts, and writes `canary.json`. */
  finish(cliOutput: unknown): CanaryReport {
    this.stop();
    writeFileSync(join(this.outsideDir, 'cli-output.json'), `${JSON.stringify(cliOutput, null, 2)}\n`);
    this.counts['cli-output.json'] = 1;
    const outside: Record<string, number> = {};
    const leaks: string[] = [];
    // A task's seal key opens its error texts: an envelope (which carries it) must not be outside either.
    const SEAL_KEY = 'seal keys (any sink)';
    outside[SEAL_KEY] = 0;
    for (const f of listFiles(this.outsideDir)) {
      const sink = relative(this.outsideDir, f).split(/[\\/]/)[0];
      const text = readFileSync(f, 'utf8');
      const n = occurrences(text, this.text);
      const seals = occurrences(text, '"seal":"') + occurrences(text, '\\"seal\\":\\"');
      outside[sink] = (outside[sink] ?? 0) + n;
      outside[SEAL_KEY] += seals;
      if (n + seals > 0) leaks.push(relative(this.outDir, f));
    }
    for (const sink of ['logs', 'metrics.ndjson', 'traces.ndjson', 'state-machine-logs.ndjson', 'events.ndjson', 'dynamodb.ndjson', 'sqs-attributes.ndjson', 'sqs-bodies-outside-lock.ndjson', 'cli-output.json']) outside[sink] ??= 0;

    const inside: Record<string, number> = { 'param-log records': 0, 'queue bodies': 0, 'step records': 0, 'worker records: opened error text': 0, 'spool messages: sealed error text': 0 };
    for (const part of ['client', 'worker']) {
      for (const f of listFiles(join(this.outDir, part)).filter((x) => x.endsWith('.gz'))) {
        const text = gunzipSync(readFileSync(f)).toString('utf8');
        inside['param-log records'] += occurrences(text, this.text);
        for (const line of text.split('\n')) {
          const cause = line ? ((JSON.parse(line) as { cause?: string | null }).cause ?? '') : '';
          if (cause.includes('[opened]') && cause.includes(this.text)) inside['worker records: opened error text'] += 1;
        }
      }
    }
    for (const f of listFiles(this.insideDir)) {
      const text = readFileSync(f, 'utf8');
      if (relative(this.insideDir, f).startsWith(STEP_RECORDS_FILE_PREFIX)) {
        inside['step records'] += occurrences(text, this.text);
        continue;
      }
      inside['queue bodies'] += occurrences(text, this.text);
      for (const line of text.split('\n')) {
        if (!line.startsWith('{')) continue;
        const m = JSON.parse(line) as { cause?: string; input?: { seal?: string } | null };
        if (openSealedText(m.cause, m.input?.seal)?.includes(this.text)) inside['spool messages: sealed error text'] += 1;
      }
    }
    const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0);
    const report: CanaryReport = {
      text: this.text,
      outside,
      outsideTotal: sum(outside),
      inside,
      insideTotal: inside['param-log records'] + inside['queue bodies'] + inside['step records'],
      recorded: { ...this.counts },
      leaks,
    };
    writeFileSync(join(this.outDir, 'canary.json'), `${JSON.stringify(report, null, 2)}\n`);
    return report;
  }
}

/** The canary's lines of the text report. */
export function renderCanary(c: CanaryReport): string[] {
  const kv = (o: Record<string, number>): string =>
    Object.entries(o)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  return [
    `  CANARY "${c.text}": outside the lock ${c.outsideTotal} (must be 0), inside ${c.insideTotal} (must be > 0)`,
    `    outside: ${kv(c.outside)}`,
    `    recorded outside (lines/items): ${kv(c.recorded)}`,
    `    inside: ${kv(c.inside)}`,
    ...(c.leaks.length ? [`    LEAKS in: ${c.leaks.join(', ')}`] : []),
  ];
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? listFiles(p) : [p];
  });
}
