/**
 * Faults at the AWS API, for the fault matrix: an HTTP proxy in front of a local service (fauxqs for
 * SQS, the Firehose stand-in) that the handlers' UNMODIFIED SDK clients reach through the standard
 * `AWS_ENDPOINT_URL_<SERVICE>` variable. Requests pass through unchanged unless a case adds a rule:
 * then the matching calls are answered with an AWS JSON-protocol error, or their connection is
 * reset (the call never reaches the service, as when a Lambda dies mid-call or the network drops).
 *
 * Why a proxy and not SDK middleware: the faults the matrix needs hit clients built at module scope
 * inside handlers (the producer's tick-queue client, the starter's Firehose client, reprocess's SQS
 * client), which tests cannot reach without changing production code.
 *
 * SQS clients send each request to the host of its QueueUrl, and fauxqs finds a queue by its full
 * URL: the queue URLs the handlers are given name the proxy's port, and the proxy rewrites the
 * `QueueUrl` field (and `Host`) to fauxqs's port on the way in.
 */
import { createServer, IncomingMessage, request, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/** What a matching call gets instead of the service's answer. */
export type ProxyFault =
  /** An AWS JSON-protocol error (`__type`, message, `x-amzn-errortype`), as the service would send it. */
  | { readonly error: string; readonly message: string; readonly status?: number }
  /** The connection is destroyed before any answer: the SDK sees a network error (and retries it). */
  | { readonly reset: true }
  /**
   * Firehose PutRecordBatch's partial failure: the records at these indexes are refused with
   * `error` inside a 200 answer (`FailedPutCount`, per-record `ErrorCode`), the others are delivered.
   */
  | { readonly refuseRecords: (records: unknown[]) => number[]; readonly error: string; readonly message: string };

/** A rule: which calls, how many times, what they get. */
export interface ProxyRule {
  /** The API operation (the `X-Amz-Target` suffix), e.g. `SendMessageBatch`, `PutRecordBatch`. */
  readonly operation: string;
  /** Further condition on the parsed request body (e.g. the queue). @default every call */
  readonly when?: (body: Record<string, unknown>) => boolean;
  /** Calls to fault; later ones pass through. @default every matching call */
  readonly times?: number;
  readonly fault: ProxyFault;
}

/** A rule once added: how often it fired, the bodies it saw, and how to remove it. */
export interface ActiveRule {
  readonly hits: Array<Record<string, unknown>>;
  remove(): void;
}

export interface FaultProxy {
  readonly port: number;
  /** Adds a rule (checked before rules added earlier). */
  fault(rule: ProxyRule): ActiveRule;
  /** Removes every rule. */
  clear(): void;
  stop(): Promise<void>;
}

/**
 * Starts a proxy on 127.0.0.1 (random port) to `upstreamPort`. With `sqsQueueUrls`, the `QueueUrl`
 * field and the Host header name the proxy's port and are rewritten to the upstream's (fauxqs).
 */
export async function startFaultProxy(upstreamPort: number, options: { sqsQueueUrls?: boolean } = {}): Promise<FaultProxy> {
  let rewrite: { from: string; to: string } | null = null;
  const rules: Array<ProxyRule & { hits: Array<Record<string, unknown>>; left: number }> = [];
  const handle = (req: IncomingMessage, res: ServerResponse, raw: Buffer): void => {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
    let text = raw.toString('utf8');
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // Not a JSON-protocol body: passed through as is.
    }
    const rule = [...rules].reverse().find((r) => r.left > 0 && r.operation === operation && (r.when?.(body) ?? true));
    if (rule) {
      rule.left -= 1;
      rule.hits.push(body);
      if ('reset' in rule.fault) {
        req.socket.destroy();
        return;
      }
      if ('refuseRecords' in rule.fault) {
        partial(req, res, body, rule.fault);
        return;
      }
      const contentType = String(req.headers['content-type'] ?? 'application/x-amz-json-1.0');
      const fault = rule.fault as { error: string; message: string; status?: number };
      res.writeHead(fault.status ?? 400, { 'content-type': contentType, 'x-amzn-errortype': fault.error }).end(JSON.stringify({ __type: fault.error, message: fault.message }));
      return;
    }
    if (rewrite && typeof body.QueueUrl === 'string') {
      body.QueueUrl = body.QueueUrl.split(rewrite.from).join(rewrite.to);
      text = JSON.stringify(body);
    }
    const out = Buffer.from(text, 'utf8');
    const host = rewrite ? String(req.headers.host ?? '').split(rewrite.from).join(rewrite.to) : req.headers.host;
    const up = request(
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: { ...req.headers, host, 'content-length': String(out.length) } },
      (r) => {
        res.writeHead(r.statusCode ?? 500, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => req.socket.destroy());
    up.end(out);
  };
  /** Forwards the records not refused, then answers for all of them as Firehose does. */
  const partial = (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>, fault: Extract<ProxyFault, { refuseRecords: unknown }>): void => {
    const records = (body.Records ?? []) as unknown[];
    const refused = new Set(fault.refuseRecords(records));
    const kept = records.filter((_, i) => !refused.has(i));
    const answer = (accepted: Array<Record<string, unknown>>): void => {
      let next = 0;
      const responses = records.map((_, i) => (refused.has(i) ? { ErrorCode: fault.error, ErrorMessage: fault.message } : accepted[next++]));
      const failed = responses.filter((r) => r?.ErrorCode !== undefined).length;
      res.writeHead(200, { 'content-type': String(req.headers['content-type'] ?? 'application/x-amz-json-1.1') }).end(JSON.stringify({ FailedPutCount: failed, Encrypted: false, RequestResponses: responses }));
    };
    if (kept.length === 0) return answer([]);
    const out = Buffer.from(JSON.stringify({ ...body, Records: kept }), 'utf8');
    const up = request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: { ...req.headers, 'content-length': String(out.length) } }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => answer(((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { RequestResponses?: Array<Record<string, unknown>> }).RequestResponses ?? [])));
    });
    up.on('error', () => req.socket.destroy());
    up.end(out);
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  if (options.sqsQueueUrls) rewrite = { from: `localhost:${port}`, to: `localhost:${upstreamPort}` };
  return {
    port,
    fault(rule) {
      const active = { ...rule, hits: [] as Array<Record<string, unknown>>, left: rule.times ?? Number.POSITIVE_INFINITY };
      rules.push(active);
      return {
        hits: active.hits,
        remove: () => {
          const i = rules.indexOf(active);
          if (i >= 0) rules.splice(i, 1);
        },
      };
    },
    clear: () => void rules.splice(0, rules.length),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
