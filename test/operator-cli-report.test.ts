/**
 * `scheduled-jobs report`: the offline report's page from the live system, against the local
 * stand-ins (test/support/operator-world.ts): the saved queries run on the Athena stand-in (DuckDB
 * over a parameter-log folder written as Firehose writes it), the alarms on the CloudWatch stand-in,
 * the queues on fauxqs, the jobs' pause and ledger on dynalite.
 */
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { taskIdFor } from '../lambdas/shared/names';
import { buildClientRecord, buildWorkerRecord } from '../lambdas/shared/param-log';
import { DAILY_COUNTS, LOST_TASKS } from '../lambdas/shared/queries';
import { runCli } from '../cli/main';
import { CliDeps } from '../cli/io';
import { writeLogObject } from '../local/param-log-fixture';
import { OperatorWorld, startOperatorWorld } from './support/operator-world';
import { fixtureConfig } from './support/fixture-config';

const TZ = fixtureConfig.timeZone;
const SECRET = 'Jane Doe, 1-2-3 Shibuya';
// Fixed: 2026-11-26 12:00 in Tokyo. The log holds 2026-11-25 (a closed day) and 2026-11-26 (today).
const NOW = new Date('2026-11-26T03:00:00Z');
let world: OperatorWorld;
let logRoot: string;
let outDir: string;

const envelope = (job: string, at: Date, key: string): TaskEnvelope => ({ v: 1, taskId: taskIdFor(job, at, key), job, key, params: { customer: SECRET }, attempt: 1, scheduledTime: at.toISOString() });

async function cli(args: string[], deps: Partial<CliDeps> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => (out += s), err: (s) => (err += s) }, { config: fixtureConfig, now: () => NOW, sleep: async () => undefined, ...deps });
  return { code, out, err };
}

beforeAll(async () => {
  logRoot = mkdtempSync(join(tmpdir(), 'report-log-'));
  outDir = mkdtempSync(join(tmpdir(), 'report-out-'));
  world = await startOperatorWorld({ logRoot });
  const put = (rec: Parameters<typeof writeLogObject>[1][number], at: Date, name: string) => writeLogObject(logRoot, [rec], new Date(at.getTime() + 30_000), TZ, name);
  // Yesterday (Tokyo): two tasks started, one ended, one never recorded an end (lost).
  const y = new Date('2026-11-25T01:00:00Z');
  put(buildClientRecord({ envelope: envelope('example-api', y, 'ok'), result: 'Started', now: y, timeZone: TZ, executionArn: null }), y, 'c1');
  put(buildWorkerRecord({ envelope: envelope('example-api', y, 'ok'), now: new Date(y.getTime() + 60_000), timeZone: TZ, executionArn: null }), y, 'w1');
  put(buildClientRecord({ envelope: envelope('example-api', y, 'gone'), result: 'Started', now: y, timeZone: TZ, executionArn: null }), y, 'c2');
  // Today: one fanout task started and failed.
  const t = new Date('2026-11-26T01:15:00Z');
  put(buildClientRecord({ envelope: envelope('example-fanout', t, 'acct-1'), result: 'Started', now: t, timeZone: TZ, executionArn: null }), t, 'c3');
  put(buildWorkerRecord({ envelope: envelope('example-fanout', t, 'acct-1'), now: new Date(t.getTime() + 60_000), timeZone: TZ, executionArn: null, error: 'TransientError', cause: 'x', failedState: 'Audit' }), t, 'w3');
  // The spool's SQS metrics as CloudWatch keeps them (and another queue's, which must not count).
  const spoolName = world.queues.urls.spool.split('/').pop()!;
  const sqsPoint = (metricName: string, queue: string, at: string, value: number) =>
    world.cloudWatch.datapoints.push({ namespace: 'AWS/SQS', metricName, dimensions: { QueueName: queue }, timestamp: new Date(at), value });
  sqsPoint('NumberOfMessagesSent', spoolName, '2026-11-26T01:10:00Z', 2);
  sqsPoint('NumberOfMessagesSent', spoolName, '2026-11-26T01:40:00Z', 3);
  sqsPoint('NumberOfMessagesSent', spoolName, '2026-11-25T23:05:00Z', 1);
  sqsPoint('NumberOfMessagesSent', 'some-other-queue', '2026-11-26T01:10:00Z', 50);
  sqsPoint('ApproximateNumberOfMessagesVisible', spoolName, '2026-11-26T01:05:00Z', 4);
  sqsPoint('ApproximateNumberOfMessagesVisible', spoolName, '2026-11-26T01:50:00Z', 7);
  // One alarm in ALARM, one quarantined message.
  world.cloudWatch.alarms.get(world.alarmNames[0])!.StateValue = 'ALARM';
  const sqs = new SQSClient({});
  await sqs.send(new SendMessageCommand({ QueueUrl: world.queues.urls.quarantine, MessageBody: '{}' }));
  sqs.destroy();
}, 120_000);

afterAll(async () => {
  await world?.stop();
  rmSync(logRoot, { recursive: true, force: true });
  rmSync(outDir, { recursive: true, force: true });
});

test('--json: the saved queries over the days of --since (app time zone), alarms, queues and jobs', async () => {
  const r = await cli(['report', '--since', '30h', '--json']);
  expect(r.code).toBe(0);
  const body = JSON.parse(r.out);
  expect(body.days).toEqual({ first: '2026-11-25', last: '2026-11-26' });
  // The real saved SQL was sent, with the days as literals.
  const started = world.athena.started.slice(-3);
  expect(started.map((s) => [s.query, s.parameters])).toEqual([
    [DAILY_COUNTS.sql, ["'2026-11-25'", "'2026-11-26'"]],
    [LOST_TASKS.sql, ["'2026-11-25'", "'2026-11-24'", "'2026-11-25'", "'2026-11-26'"]],
    [LOST_TASKS.sql, ["'2026-11-26'", "'2026-11-25'", "'2026-11-26'", "'2026-11-27'"]],
  ]);
  expect(body.lostTasksByDay).toEqual([
    { day: '2026-11-25', lost: 1, taskIds: [taskIdFor('example-api', new Date('2026-11-25T01:00:00Z'), 'gone')], today: false },
    { day: '2026-11-26', lost: 0, taskIds: [], today: true },
  ]);
  const counts = body.dailyCounts.map((x: Record<string, string>) => [x.log_day, x.job, x.type, x.result, x.records]);
  expect(counts).toEqual([
    ['2026-11-25', 'example-api', 'client', 'Started', '2'],
    ['2026-11-25', 'example-api', 'worker', 'Success', '1'],
    ['2026-11-26', 'example-fanout', 'client', 'Started', '1'],
    ['2026-11-26', 'example-fanout', 'worker', 'Failure', '1'],
  ]);
  expect(body.alarms.inAlarm.map((a: { name: string }) => a.name)).toEqual([world.alarmNames[0]]);
  expect(body.queues.find((q: { queue: string }) => q.queue === 'quarantine').visible).toBe(1);
  expect(body.jobs.map((j: { job: string }) => j.job)).toEqual(['example-api', 'example-fanout']);
  // CloudWatch per hour (Tokyo hours): the spool's sends summed, its depth at the hour's highest; 30 hours, 0 where no data.
  const [sent, depth] = body.charts as Array<{ bars: Array<{ hour: string; value: number }> }>;
  expect(sent.bars).toHaveLength(30);
  expect(sent.bars[0].hour).toBe('2026-11-25 06');
  expect(sent.bars.filter((b) => b.value > 0)).toEqual([
    { hour: '2026-11-26 08', value: 1 },
    { hour: '2026-11-26 10', value: 5 },
  ]);
  expect(depth.bars.filter((b) => b.value > 0)).toEqual([{ hour: '2026-11-26 10', value: 7 }]);
  expect(r.out).not.toContain(SECRET);
});

test('--out writes the self-contained HTML page and prints a summary; it says ATTENTION for a lost task, an alarm, a quarantined message', async () => {
  const file = join(outDir, 'report.html');
  const r = await cli(['report', '--since', '30h', '--out', file]);
  expect(r.code).toBe(0);
  expect(r.out).toContain('ScheduledJobs-dev from 2026-11-25 06:00 Asia/Tokyo to 2026-11-26 12:00 Asia/Tokyo: ATTENTION');
  expect(r.out).toContain('lost tasks: 2026-11-25 1, 2026-11-26 0 (today, open)');
  const html = readFileSync(file, 'utf8');
  expect(html).toMatch(/^<!doctype html>/);
  expect(html).not.toMatch(/<script|src=|href=/);
  expect(html).toContain('Alarms: 1 of');
  expect(html).toContain('<th>example-fanout</th>');
  expect(html).toContain('<h3>Spool depth (messages), highest in the hour</h3><svg');
  expect(html).toContain('<title>2026-11-26 10:00  5</title>');
  expect(html).toContain('<td>2026-11-26</td><td>example-fanout</td><td>worker</td><td>Failure</td><td>1</td>');
  expect(html).not.toContain(SECRET);
  // Without --out the page goes to stdout.
  const piped = await cli(['report']);
  expect(piped.out).toMatch(/^<!doctype html>/);
});

test('a bad --since is refused before any AWS request', async () => {
  const before = world.sts.regions.length + world.athena.started.length;
  for (const args of [['report', '--since', 'yesterday'], ['report', '--since', '90d'], ['report', '--since', '2099-01-01T00:00Z'], ['report', '--athena-timeout', 'x']]) {
    const r = await cli(args);
    expect(r.code).toBe(2);
  }
  expect(world.sts.regions.length + world.athena.started.length).toBe(before);
});
