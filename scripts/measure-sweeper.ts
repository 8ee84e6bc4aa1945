/**
 * Measures what one sweep costs: SQS requests (counted by SDK middleware inside the retry loop,
 * so retries count) and local wall time, for queues of several sizes, in a typical hour (every
 * message young: receive and release) and in the hour messages reach the margin (every message
 * old: receive, re-send, delete). The real sweep logic and SQS client against fauxqs.
 *
 *   npx tsx scripts/measure-sweeper.ts            (sizes 0,10,100,1000,5000; SWEEP_SIZES=100,1000 to choose)
 *
 * fauxqs puts a released message at the back of the queue, so no message comes back within a
 * sweep; real SQS gives no order guarantee (see docs/sweeper.md for the worst case). Wall time
 * here is a loopback figure, not an AWS one.
 */
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DEFAULT_SWEEP_SETTINGS, sweep } from '../lambdas/sweeper/logic';
import { startSqsEmulator } from '../local/sqs-emulator';
import { spoolAttributes, spoolMessage } from '../test/reprocess-fixtures';

const SIZES = (process.env.SWEEP_SIZES ?? '0,10,100,1000,5000').split(',').map(Number);
const RETENTION_S = 14 * 86_400;
const MARGIN_S = 86_400;
/** SQS standard, us-east-1, per million requests (https://aws.amazon.com/sqs/pricing/, list price to verify). */
const USD_PER_MILLION = 0.4;

async function main(): Promise<void> {
  const emu = await startSqsEmulator();
  Object.assign(process.env, { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_ENDPOINT_URL_SQS: emu.endpoint });
  const seeder = new SQSClient({});
  let requests = 0;
  const client = new SQSClient({});
  client.middlewareStack.add(
    (next) => async (args) => {
      requests++;
      return next(args);
    },
    { step: 'finalizeRequest', name: 'countRequests' },
  );
  const settings = { ...DEFAULT_SWEEP_SETTINGS, marginSeconds: MARGIN_S };
  console.log('messages | hour     | requests | receives | req/msg | resent | ms    | $/month at this size (hourly)');
  for (const n of SIZES) {
    const name = `measure-${n}`;
    const url = await emu.createQueue(name);
    for (let i = 0; i < n; i += 10) {
      const entries = Array.from({ length: Math.min(10, n - i) }, (_, j) => {
        const m = spoolMessage({ key: `k${i + j}` });
        return { Id: String(j), MessageBody: JSON.stringify(m), MessageAttributes: spoolAttributes(m) };
      });
      await seeder.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
    }
    for (const [label, now] of [
      ['typical', Date.now()],
      ['re-send', Date.now() + (RETENTION_S - MARGIN_S) * 1000 + 60_000],
    ] as const) {
      requests = 0;
      const t0 = Date.now();
      const { queues } = await sweep({ sqs: client, now: () => now, remainingMs: () => 900_000 }, settings, [{ name, url, retentionSeconds: RETENTION_S }]);
      const ms = Date.now() - t0;
      const q = queues[0];
      if (!q.complete || q.messages !== n) throw new Error(`sweep of ${n} incomplete: ${JSON.stringify(q)}`);
      // A month of hourly sweeps if the queue stayed this size and every hour were like this one.
      const monthly = (requests * 24 * 30 * USD_PER_MILLION) / 1e6;
      console.log(
        `${String(n).padStart(8)} | ${label.padEnd(8)} | ${String(requests).padStart(8)} | ${String(q.receives).padStart(8)} | ${(n ? requests / n : 0).toFixed(3).padStart(7)} | ${String(q.resent).padStart(6)} | ${String(ms).padStart(5)} | ${monthly.toFixed(4)}`,
      );
    }
  }
  await emu.stop();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
