/**
 * The sweeper's handler as Lambda runs it: its own module-scope client (pointed only by
 * AWS_ENDPOINT_URL_SQS at fauxqs), its environment as the construct writes it, and the EMF
 * records Powertools prints (captured from the console in Powertools dev mode).
 */
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { SPOOL_ATTR_FIRST_SENT } from '../lambdas/shared/spool-message';
import { SqsEmulator, startSqsEmulator } from '../local/sqs-emulator';

const DAY_MS = 86_400_000;
let emu: SqsEmulator;
let client: SQSClient;
let handlerModule: typeof import('../lambdas/sweeper/handler');
let metricsModule: typeof import('../lambdas/sweeper/metrics');
const urls: Record<string, string> = {};

beforeAll(async () => {
  emu = await startSqsEmulator();
  for (const name of ['spool-h', 'dlq-h']) urls[name] = await emu.createQueue(name);
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_SQS: emu.endpoint,
    SWEEP_QUEUES: JSON.stringify(Object.entries(urls).map(([name, url]) => ({ name, url, retentionSeconds: 14 * 86_400 }))),
    SWEEP_MARGIN_SECONDS: '86400',
    POWERTOOLS_SERVICE_NAME: 'sweeper',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    POWERTOOLS_TRACE_ENABLED: 'false',
    // Dev mode prints EMF through the global console (capturable); metrics stay enabled.
    POWERTOOLS_DEV: 'true',
    POWERTOOLS_METRICS_DISABLED: 'false',
  });
  client = new SQSClient({});
  handlerModule = await import('../lambdas/sweeper/handler');
  metricsModule = await import('../lambdas/sweeper/metrics');
});
afterAll(async () => {
  await emu?.stop();
});

interface Emf {
  _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> };
  [k: string]: unknown;
}

async function invokeCapturingEmf(remainingMs: number): Promise<{ result?: unknown; error?: Error; emf: Emf[]; logged: string }> {
  const lines: string[] = [];
  const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((level) =>
    jest.spyOn(console, level).mockImplementation((...a: unknown[]) => {
      lines.push(a.map(String).join(' '));
    }),
  );
  try {
    const result = await handlerModule.handler({ scheduledTime: '2026-11-29T03:00:00Z' }, { getRemainingTimeInMillis: () => remainingMs });
    return { result, emf: parse(lines), logged: lines.join('\n') };
  } catch (e) {
    return { error: e as Error, emf: parse(lines), logged: lines.join('\n') };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}
const parse = (lines: string[]): Emf[] =>
  lines.flatMap((l) => {
    try {
      const o = JSON.parse(l) as Emf;
      return o._aws ? [o] : [];
    } catch {
      return [];
    }
  });

test('publishes per queue the oldest age by first send time and the message count, with the queue as a dimension, and never logs bodies', async () => {
  const firstSent = Date.now() - 5 * DAY_MS;
  const secret = 'alice@example.com';
  await client.send(
    new SendMessageCommand({
      QueueUrl: urls['spool-h'],
      MessageBody: JSON.stringify({ params: { email: secret } }),
      MessageAttributes: { [SPOOL_ATTR_FIRST_SENT]: { DataType: 'Number', StringValue: String(firstSent) } },
    }),
  );
  await client.send(new SendMessageCommand({ QueueUrl: urls['spool-h'], MessageBody: JSON.stringify({ params: { email: secret } }) }));

  const { result, error, emf, logged } = await invokeCapturingEmf(60_000);
  expect(error).toBeUndefined();
  expect(result).toMatchObject({ complete: true });
  const byQueue = Object.fromEntries(emf.map((e) => [e[metricsModule.QUEUE_DIMENSION] as string, e]));
  expect(Object.keys(byQueue).sort()).toEqual(['dlq-h', 'spool-h']);
  const spool = byQueue['spool-h'];
  expect(spool._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'ScheduledJobs', Dimensions: [expect.arrayContaining(['service', 'QueueName'])] });
  expect(spool.service).toBe('sweeper');
  expect(spool[metricsModule.MESSAGES_METRIC]).toBe(2);
  // 5 days (from firstSentAt), although both messages were sent to SQS a moment ago.
  expect(Math.abs((spool[metricsModule.OLDEST_AGE_METRIC] as number) - 5 * 86_400)).toBeLessThan(60);
  expect(byQueue['dlq-h']).toMatchObject({ [metricsModule.MESSAGES_METRIC]: 0, [metricsModule.OLDEST_AGE_METRIC]: 0 });
  // Logs carry the counts per queue, never a body.
  expect(logged).toContain('queue swept');
  expect(logged).not.toContain(secret);
});

test('a run without time to sweep fails the invocation (the errors alarm) after touching nothing', async () => {
  const before = await emu.inspectQueue('spool-h');
  // Less than the 15 s reserve: no queue is started.
  const { error, emf } = await invokeCapturingEmf(10_000);
  expect(error?.name).toBe('SweepIncompleteError');
  expect(error?.message).toContain('spool-h (notStarted');
  // No false "0 messages, age 0" for queues that were not looked at.
  expect(emf).toEqual([]);
  const after = await emu.inspectQueue('spool-h');
  expect({ ready: after.ready, inflight: after.inflight }).toEqual({ ready: before.ready, inflight: 0 });
});
