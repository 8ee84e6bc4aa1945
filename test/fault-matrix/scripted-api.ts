/**
 * The example job's external orders API (not an AWS service) for the fault matrix: each case says
 * how the API answers one order, call by call, so a fault is exact and the real CallApi handler
 * (lambdas/jobs/example-api/call-api.ts, real `fetch`) meets it. local/fake-external-api.ts plays a
 * seeded day of faults for the offline run; a matrix case needs one fault for one order instead.
 *
 * It counts what matters for "never duplicated": orders ACCEPTED (a 200 answered), and calls whose
 * connection the client closed before an answer (work the step's own deadline stopped).
 */
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';

/** One answer: an HTTP status, or `hang` (no answer until the caller gives up). */
export type ApiAnswer = number | 'hang';

export interface ScriptedApi {
  /** The example's EXAMPLE_API_URL. */
  readonly url: string;
  /** The next calls for this order get these answers, in order; after them, 200. */
  script(orderId: string, answers: ReadonlyArray<ApiAnswer>): void;
  /** Calls received per order. */
  calls(orderId: string): number;
  /** Orders accepted (200 answered) per order: the side effect a replay must not repeat. */
  accepted(orderId: string): number;
  /** Calls the client abandoned before an answer (its connection closed). */
  abandoned(orderId: string): number;
  close(): Promise<void>;
}

export async function startScriptedApi(): Promise<ScriptedApi> {
  const scripts = new Map<string, ApiAnswer[]>();
  const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const calls = new Map<string, number>();
  const accepted = new Map<string, number>();
  const abandoned = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let orderId = '';
      try {
        orderId = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { orderId?: unknown }).orderId ?? '');
      } catch {
        res.writeHead(400).end();
        return;
      }
      count(calls, orderId);
      const answer = scripts.get(orderId)?.shift() ?? 200;
      if (answer === 'hang') {
        res.on('close', () => {
          if (!res.writableEnded) count(abandoned, orderId);
        });
        return;
      }
      if (answer === 200) count(accepted, orderId);
      res.writeHead(answer, { 'content-type': 'application/json' }).end(JSON.stringify(answer === 200 ? { confirmation: `c-${orderId}` } : { message: `answered ${answer}` }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/orders`,
    script: (orderId, answers) => void scripts.set(orderId, [...answers]),
    calls: (o) => calls.get(o) ?? 0,
    accepted: (o) => accepted.get(o) ?? 0,
    abandoned: (o) => abandoned.get(o) ?? 0,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
