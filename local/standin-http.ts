/**
 * What the small AWS stand-ins of local/ share: an HTTP server on 127.0.0.1 (random port), the
 * request body, and the SigV4 credential scope of the request (access key, region, service), so a
 * stand-in can answer as AWS does to an unsigned request or to the wrong region, and tests can see
 * which credentials and region the real SDK client used. Never bundled into Lambda code.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/** The `Credential=<key>/<date>/<region>/<service>/aws4_request` scope of a SigV4 Authorization header. */
export interface SigV4Scope {
  readonly accessKeyId: string;
  readonly region: string;
  readonly service: string;
}

/** The credential scope of a signed request, or null when it is not SigV4-signed. */
export function sigV4Scope(req: IncomingMessage): SigV4Scope | null {
  const m = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(String(req.headers.authorization ?? ''));
  return m ? { accessKeyId: m[1], region: m[2], service: m[3] } : null;
}

/** One request as a stand-in sees it. */
export interface StandinRequest {
  readonly req: IncomingMessage;
  readonly body: string;
  readonly scope: SigV4Scope | null;
}

/** A running stand-in server. */
export interface StandinServer {
  /** `http://127.0.0.1:<port>`: the value for AWS_ENDPOINT_URL_<SERVICE>. */
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Starts `handle` on 127.0.0.1 (random port); an exception in it answers 500. */
export async function startStandinServer(handle: (r: StandinRequest, res: ServerResponse) => Promise<unknown>): Promise<StandinServer> {
  const server: Server = createServer((req, res) => {
    (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      await handle({ req, body: Buffer.concat(chunks).toString('utf8'), scope: sigV4Scope(req) }, res);
    })().catch((e) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(e));
    });
  });
  // Idle keep-alive connections stay open until the client closes them or stop(). Node's default
  // (close after 5 s idle) races the SDK: on Node 20 its agent ignores the server's `Keep-Alive:
  // timeout=5` hint (it only lowers a timeout the agent already has, and the SDK's has none), so a
  // request sent on an idle connection as the server's timer fires dies with "socket hang up". With
  // a client that does not retry (reprocess's Invoke, maxAttempts 1) that was a failed prove scenario
  // whenever two calls were ~5 s apart on a loaded machine. (AWS endpoints close idle connections
  // too, after an undocumented time; the clients that must not retry open a fresh connection per
  // call, cli/session.ts.) test/standin-http-keepalive.test.ts.
  server.keepAliveTimeout = 0;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** XML text escaping for the query-protocol (CloudFormation, STS) responses. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * An AWS query-protocol error (CloudFormation, STS): `<ErrorResponse><Error><Type/><Code/><Message/>`,
 * the shape the SDK's AwsQueryProtocol parses into an exception named `Code`.
 */
export function sendQueryError(res: ServerResponse, status: number, xmlns: string, code: string, message: string): void {
  res
    .writeHead(status, { 'content-type': 'text/xml' })
    .end(
      `<ErrorResponse xmlns="${xmlns}"><Error><Type>Sender</Type><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>standin</RequestId></ErrorResponse>`,
    );
}

/** An AWS JSON-protocol error (`__type` + message, and the error-type header). */
export function sendJsonError(res: ServerResponse, status: number, contentType: string, type: string, message: string, extraHeaders: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'x-amzn-errortype': type, ...extraHeaders }).end(JSON.stringify({ __type: type, message }));
}
