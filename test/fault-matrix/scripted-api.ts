/**
 * The example job's external orders API (not an AWS service) for the fault matrix: each case says
 * how the API answers one order, call by call, so a fault is exact and the real CallApi handler
 * (lambdas/jobs/example-api/call-api.ts, real `fetch`) meets it. local/fake-external-api.ts plays a
 * seeded day of faults for the offline run; a matrix case needs one fault for one order instead.
 *
 * It counts what matters for "never duplicated": orders ACCEPTED (a 200 answered), and calls whose
 * connection the client closed before an answer (work the step's own deadline stopped). Each accepted
 * order is a side effect in the world's ledger under the request's Idempotency-Key (the step call's
 * key): this API does NOT deduplicate by it (the matrix assumes a dependency no kinder than the
 * weakest), so an order applied twice for one task and step shows as a duplicated side effect.
 */
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { SideEffectLedger } from '../../local/side-effects';

/** One answer: an HTTP status, `hang` (no answer until the caller gives up), or a status answered after `afterMs`. */
export type ApiAnswer = number | 'hang' | { readonly status: number; readonly afterMs: number };

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

export async function startScriptedApi(ledger: SideEffectLedger = new SideEffectLedger()): Promise<ScriptedApi> {
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
      const header = req.headers['idempotency-key'];
      const answer = scripts.get(orderId)?.shift() ?? 200;
      if (answer === 'hang') {
        res.on('close', () => {
          if (!res.writableEnded) count(abandoned, orderId);
        });
        return;
      }
      const reply = (status: number) => {
        if (status === 200) {
          count(accepted, orderId);
          ledger.apply(typeof header === 'string' && header !== '' ? header : `order:${orderId}`);
        }
        if (!res.destroyed) res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(status === 200 ? { confirmation: `c-${orderId}` } : { message: `answered ${status}` }));
      };
      // A slow answer is applied when it is answered, whether or not the caller still waits.
      if (typeof answer === 'object') setTimeout(() => reply(answer.status), answer.afterMs);
      else reply(answer);
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
