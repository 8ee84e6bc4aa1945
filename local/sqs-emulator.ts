/**
 * A local SQS for tests, benchmarks and the offline run: fauxqs (1.9.2) on 127.0.0.1, port 0.
 *
 * Two problems solved once here (both found by running fauxqs 1.9 with the real SDK on Node 20):
 * 1. fauxqs is ESM-only; jest (CommonJS, its own module registry) cannot load it. It runs in a
 *    worker thread of THIS process (real Node loader there), and the main thread talks to it over
 *    HTTP like any client. `inspectQueue`/`createQueue` go over the worker's message port.
 * 2. fauxqs queue URLs have the host `sqs.<region>.localhost`, which does not resolve on these
 *    machines, and the SQS client sends each request to the QueueUrl's host. `start()` patches
 *    `dns.lookup` in this process so `*.localhost` resolves to 127.0.0.1 (restored by `stop()`).
 *    So UNMODIFIED production clients work when only `AWS_ENDPOINT_URL_SQS` is set.
 *
 * Never bundled into Lambda code.
 */
import dns from 'node:dns';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/** One queue's content as fauxqs holds it (exact, unlike SQS's approximate counts). */
export interface QueueSnapshot {
  readonly ready: number;
  readonly inflight: number;
  readonly delayed: number;
  /** Bodies of the ready messages. */
  readonly readyBodies: string[];
  /** Bodies and message attributes of all messages (ready, in flight, delayed). */
  readonly all: Array<{ body: string; attributes: Record<string, string> }>;
}

export interface SqsEmulator {
  /**
   * `http://sqs.<region>.localhost:<port>`: the value for AWS_ENDPOINT_URL_SQS. The same host as
   * the queue URLs, so the SQS client does not warn on every call that they differ.
   */
  readonly endpoint: string;
  readonly port: number;
  /** Creates a queue (region us-east-1 unless given) and returns its URL. */
  createQueue(name: string, attributes?: Record<string, string>): Promise<string>;
  inspectQueue(name: string): Promise<QueueSnapshot>;
  stop(): Promise<void>;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { startFauxqs } = await import(workerData.fauxqsUrl);
  const server = await startFauxqs({ port: 0, host: 'localhost', logger: false, defaultRegion: workerData.region });
  parentPort.on('message', async ({ id, op, args }) => {
    try {
      let result;
      if (op === 'createQueue') result = server.createQueue(args.name, { region: workerData.region, attributes: args.attributes }).queueUrl;
      else if (op === 'inspect') {
        const q = server.inspectQueue(args.name);
        if (!q) throw new Error('no queue ' + args.name);
        const attrs = (m) => Object.fromEntries(Object.entries(m.messageAttributes || {}).map(([k, v]) => [k, v.StringValue ?? v.stringValue]));
        const all = [...q.messages.ready, ...q.messages.inflight.map((f) => f.message), ...q.messages.delayed];
        result = {
          ready: q.messages.ready.length, inflight: q.messages.inflight.length, delayed: q.messages.delayed.length,
          readyBodies: q.messages.ready.map((m) => m.body),
          all: all.map((m) => ({ body: m.body, attributes: attrs(m) })),
        };
      } else if (op === 'stop') { await server.stop(); result = true; }
      parentPort.postMessage({ id, result });
      if (op === 'stop') process.exit(0);
    } catch (e) { parentPort.postMessage({ id, error: String(e && e.message || e) }); }
  });
  parentPort.postMessage({ ready: server.port });
})().catch((e) => parentPort.postMessage({ fatal: String(e && e.stack || e) }));
`;

const LOCALHOST_SUFFIX = '.localhost';
type Lookup = typeof dns.lookup;
let dnsPatches = 0;
let originalLookup: Lookup | null = null;

/** Makes `*.localhost` resolve to 127.0.0.1 in this process (reference-counted across emulators). */
function patchDns(): () => void {
  if (dnsPatches++ === 0) {
    originalLookup = dns.lookup;
    const original = originalLookup;
    const patched = ((hostname: string, options: unknown, callback?: unknown) => {
      if (hostname.endsWith(LOCALHOST_SUFFIX)) {
        const cb = (typeof options === 'function' ? options : callback) as (...a: unknown[]) => void;
        const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all;
        if (all) process.nextTick(cb, null, [{ address: '127.0.0.1', family: 4 }]);
        else process.nextTick(cb, null, '127.0.0.1', 4);
        return;
      }
      return (original as (...a: unknown[]) => void)(hostname, options, callback);
    }) as unknown as Lookup;
    dns.lookup = patched;
  }
  let undone = false;
  return () => {
    if (undone) return;
    undone = true;
    if (--dnsPatches === 0 && originalLookup) {
      dns.lookup = originalLookup;
      originalLookup = null;
    }
  };
}

/** Starts fauxqs on 127.0.0.1 (random port) and makes `*.localhost` resolve. Call `stop()` when done. */
export async function startSqsEmulator(options: { region?: string } = {}): Promise<SqsEmulator> {
  const region = options.region ?? 'us-east-1';
  const fauxqsUrl = pathToFileURL(join(__dirname, '..', 'node_modules', 'fauxqs', 'dist', 'app.js')).href;
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { fauxqsUrl, region } });
  let nextId = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (msg: { ready?: number; fatal?: string; id?: number; result?: unknown; error?: string }) => {
      if (msg.ready !== undefined) return resolve(msg.ready);
      if (msg.fatal) return reject(new Error(`fauxqs did not start: ${msg.fatal}`));
      const p = pending.get(msg.id as number);
      if (!p) return;
      pending.delete(msg.id as number);
      if (msg.error) p.reject(new Error(msg.error));
      else p.resolve(msg.result);
    });
  });
  const call = <T>(op: string, args: Record<string, unknown> = {}): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ id, op, args });
    });
  const undoDns = patchDns();
  return {
    endpoint: `http://sqs.${region}.localhost:${port}`,
    port,
    createQueue: (name, attributes) => call<string>('createQueue', { name, attributes }),
    inspectQueue: (name) => call<QueueSnapshot>('inspect', { name }),
    async stop() {
      undoDns();
      await call('stop').catch(() => undefined);
      await worker.terminate();
    },
  };
}
