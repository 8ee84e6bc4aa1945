/**
 * A stand-in never closes an idle keep-alive connection under a client that reuses it (local/standin-http.ts).
 * Node's default server closes idle connections after 5 s, and on Node 20 the SDK's agent (keep-alive, no
 * timeout of its own) ignores the server's `Keep-Alive: timeout=5` hint; when the process is busy across
 * that deadline, the request goes out on the idle socket in the same loop turn as the server's timer
 * closes it: "socket hang up" / ECONNRESET, which a client without retries (reprocess's Invoke) reports.
 */
import { Agent, request } from 'node:http';
import { startStandinServer } from '../local/standin-http';

jest.setTimeout(30_000);

test('a request on a connection idle past Node\'s 5 s keep-alive timeout, sent as the loop wakes, is answered on the same connection', async () => {
  const server = await startStandinServer(async ({ body }, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end(`echo ${body}`));
  // The SDK's agent: keep-alive and no timeout of its own (@smithy/node-http-handler).
  const agent = new Agent({ keepAlive: true, maxSockets: 50 });
  const post = (body: string) =>
    new Promise<{ text: string; reused: boolean }>((resolve, reject) => {
      const req = request(`${server.endpoint}/`, { method: 'POST', agent }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ text, reused: req.reusedSocket }));
      });
      req.on('error', reject);
      req.end(body);
    });
  try {
    expect(await post('one')).toEqual({ text: 'echo one', reused: false });
    const idleSince = Date.now();
    // A busy process: no timer runs between the last response and the next request, 6 s later.
    await new Promise<void>((r) =>
      setImmediate(() => {
        while (Date.now() - idleSince < 6_000);
        r();
      }),
    );
    expect(await post('two')).toEqual({ text: 'echo two', reused: true });
  } finally {
    agent.destroy();
    await server.stop();
  }
});
