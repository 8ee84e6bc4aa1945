import { SFNClient } from '@aws-sdk/client-sfn';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { executionNameFor, taskIdFor } from '../lambdas/shared/names';
import { randomBytes } from 'node:crypto';
import { buildWorkerRecord, ParamLogRecord } from '../lambdas/shared/param-log';
import { LocalHmac, signRecord } from '../lambdas/shared/record-mac';
import { candidateRows, verifiedLostTasks } from '../lambdas/lost-task-monitor/verified';
import { AdaptiveRateGate } from '../lambdas/shared/rate-gate';
import { batchLedgerKey, TickBatchMessage, tickLedgerKey } from '../lambdas/shared/tick-batch';
import { UnknownStateMachineError } from '../lambdas/starter/logic';
import { BatchStarterDeps, MAX_PARENT_INPUT_BYTES, parentExecutionName, partDigest, partsOf, startParentBatch } from '../lambdas/batch-starter/logic';
import { parseParentRoutes } from '../lambdas/batch-starter/env';
import { classify } from '../lambdas/reprocess/message';
import { SqsEmulator, startSqsEmulator } from '../local/sqs-emulator';
import { SfnStandin, startSfnStandin } from '../local/sfn-standin';
import { startLedger } from './support/ledger';

/**
 * The high-volume starter (lambdas/batch-starter) with real SDK clients against the local
 * stand-ins: Step Functions (local/sfn-standin: names unique, same name + input while running
 * answered with the original execution), SQS (fauxqs: the spool, quarantine and tick queue) and
 * the tick ledger on dynalite.
 */

const REGION = 'us-east-1';
const STANDARD = `arn:aws:states:${REGION}:123456789012:stateMachine:orders`;
const PARENT = `arn:aws:states:${REGION}:123456789012:stateMachine:orders-hv`;
const TICK = '2026-11-25T18:00:00.000Z';
const creds = { accessKeyId: 'x', secretAccessKey: 'x' };

let sfnStandin: SfnStandin;
let emu: SqsEmulator;
let ledgerEnv: Awaited<ReturnType<typeof startLedger>>;
let sqs: SQSClient;
const queues: Record<'spool' | 'quarantine' | 'tick', string> = { spool: '', quarantine: '', tick: '' };
let n = 0;
let job: string;

beforeAll(async () => {
  [sfnStandin, emu, ledgerEnv] = await Promise.all([startSfnStandin(), startSqsEmulator({ region: REGION }), startLedger()]);
  sqs = new SQSClient({ region: REGION, endpoint: emu.endpoint, credentials: creds });
});
afterAll(async () => {
  await Promise.all([sfnStandin.stop(), emu.stop(), ledgerEnv.stop()]);
});
beforeEach(async () => {
  job = `orders${n++}`; // a batch and queues of its own per test
  for (const q of ['spool', 'quarantine', 'tick'] as const) queues[q] = await emu.createQueue(`${q}-${job}`);
});

const envelope = (i: number, pad = 200): TaskEnvelope => ({
  v: 1,
  taskId: taskIdFor(job, new Date(TICK), `o-${i}`),
  job,
  key: `o-${i}`,
  params: { orderId: `o-${i}`, pad: 'x'.repeat(pad) },
  attempt: 1,
  scheduledTime: TICK,
});
function message(count: number, over: Partial<TickBatchMessage> = {}): TickBatchMessage {
  const tasks = Array.from({ length: count }, (_, i) => envelope(i));
  return { v: 1, job, tick: '20261125T1800Z', stateMachineArn: STANDARD, batchId: batchLedgerKey(job, '20261125T1800Z', 'p1', 3), tickId: tickLedgerKey(job, '20261125T1800Z'), index: 3, batches: 10, offset: 0, total: count, tasks, ...over };
}

/** A Step Functions client of the stand-in; `fail(name)` makes that start answer 503 every time. */
function sfnClient(fail: (name: string) => boolean = () => false, onCall?: () => void): SFNClient {
  const client = new SFNClient({ region: REGION, endpoint: sfnStandin.endpoint, credentials: creds, maxAttempts: 1 });
  client.middlewareStack.add(
    (next) => async (args) => {
      onCall?.();
      const body = (args.request as { body?: string }).body ?? '{}';
      const name = (JSON.parse(body) as { name?: string }).name ?? '';
      if (fail(name)) throw Object.assign(new Error('Service Unavailable'), { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'faults' },
  );
  return client;
}

function deps(records: ParamLogRecord[], over: Partial<BatchStarterDeps> = {}): BatchStarterDeps {
  return {
    sfn: sfnClient(),
    sqs,
    sink: { put: async (r) => void records.push(...r) },
    ledger: ledgerEnv.ledger,
    gate: new AdaptiveRateGate(),
    parents: new Map([[STANDARD, PARENT]]),
    tickQueueUrl: queues.tick,
    spoolQueueUrl: queues.spool,
    quarantineQueueUrl: queues.quarantine,
    timeZone: 'UTC',
    sleep: async () => undefined,
    ...over,
  };
}
const inv = (owner = 'req-1', remainingMs = 120_000) => ({ owner, remainingMs });
const parentsOf = (j: string) => [...sfnStandin.executions.values()].filter((e) => e.stateMachineArn === PARENT && e.name.startsWith(`${j}-`));
const firstsOf = (tasks: ReadonlyArray<TaskEnvelope>, offset = 0) => partsOf(tasks).map((_, i, all) => offset + all.slice(0, i).reduce((k, p) => k + p.length, 0));
/** The names one run of batch 3 of these tasks gives its parents. */
const namesOf = (tasks: ReadonlyArray<TaskEnvelope>, index = 3) => {
  const firsts = firstsOf(tasks);
  return partsOf(tasks).map((p, i) => parentExecutionName(job, '20261125T1800Z', index, firsts[i], partDigest(p), 1));
};

async function drain(url: string): Promise<Array<{ body: Record<string, any>; attributes: Record<string, string> }>> {
  const out: Array<{ body: Record<string, any>; attributes: Record<string, string> }> = [];
  for (;;) {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], AttributeNames: ['All'], VisibilityTimeout: 300 }));
    if (!r.Messages?.length) return out;
    for (const m of r.Messages) out.push({ body: JSON.parse(m.Body!), attributes: Object.fromEntries(Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue!])) });
  }
}

describe('partsOf and parent names', () => {
  it('cuts a batch into consecutive parts whose input fits a parent execution', () => {
    job = 'orders';
    const tasks = Array.from({ length: 2250 }, (_, i) => envelope(i));
    const parts = partsOf(tasks);
    expect(parts.flat()).toEqual(tasks);
    for (const p of parts) expect(Buffer.byteLength(JSON.stringify({ tasks: p }))).toBeLessThanOrEqual(256 * 1024);
    const size = (t: TaskEnvelope) => Buffer.byteLength(JSON.stringify(t)) + 1;
    for (let i = 0; i < parts.length - 1; i++) expect(parts[i].reduce((k, t) => k + size(t), 0) + size(parts[i + 1][0])).toBeGreaterThan(MAX_PARENT_INPUT_BYTES);
    expect(parts.length).toBeGreaterThan(1);
    expect(() => partsOf([envelope(1, MAX_PARENT_INPUT_BYTES)])).toThrow(/more than a parent execution's input can carry/);
  });

  it('names a parent from the job, tick, batch, first task, digest of its tasks and attempt, within 80 characters of the StartExecution charset', () => {
    job = 'orders';
    const part = [envelope(1), envelope(2)];
    const d = partDigest(part);
    expect(d).toMatch(/^[0-9a-f]{12}$/);
    expect(parentExecutionName('orders', '20261125T1800Z', 3, 790, d, 1)).toBe(`orders-20261125T1800Z-b3-t790-${d}-a1`);
    // Same tasks, same digest; another task or another order, another one.
    expect(partDigest([envelope(1), envelope(2)])).toBe(d);
    expect(partDigest([envelope(1), envelope(3)])).not.toBe(d);
    expect(partDigest([envelope(2), envelope(1)])).not.toBe(d);
    // A long job name is cut (the parent state machine is the job's own); the rest is kept whole.
    const long = parentExecutionName('A'.repeat(40), '20261125T1800Z', 12345, 99999, d, 1);
    expect(long.length).toBeLessThanOrEqual(80);
    expect(long).toMatch(new RegExp(`^A+-20261125T1800Z-b12345-t99999-${d}-a1$`));
    expect(() => parentExecutionName('orders', '2026 11', 3, 0, d, 1)).toThrow(/\[A-Za-z0-9_-\]/);
  });

  it('reads the routes the construct writes, and refuses anything else', () => {
    expect(parseParentRoutes(JSON.stringify({ [STANDARD]: PARENT })).get(STANDARD)).toBe(PARENT);
    expect(() => parseParentRoutes('{}')).toThrow(/at least one/);
    expect(() => parseParentRoutes('nope')).toThrow(/not JSON/);
  });
});

describe('startParentBatch (Step Functions, SQS and the ledger stand-ins)', () => {
  it('starts one parent per part, records every task Started with its parent, and completes the batch in the ledger', async () => {
    const records: ParamLogRecord[] = [];
    const m = message(2000);
    const out = await startParentBatch(m, deps(records), inv());
    const parts = partsOf(m.tasks);
    expect(out).toMatchObject({ outcome: 'completed', started: 2000, duplicate: 0, startFailed: 0, rejected: 0, calls: parts.length });
    const parents = parentsOf(job);
    expect(parents.map((e) => e.name).sort()).toEqual(namesOf(m.tasks).sort());
    expect(parents.flatMap((e) => JSON.parse(e.input).tasks)).toHaveLength(2000);
    expect(records).toHaveLength(2000);
    expect(new Set(records.map((r) => r.task_id)).size).toBe(2000);
    expect(records.every((r) => r.result === 'Started' && r.execution_arn!.includes(':execution:orders-hv:'))).toBe(true);
    expect(await ledgerEnv.ledger.getBatch(m.batchId)).toMatchObject({ done: true, cursor: 2000, owner: null });
    expect(await drain(queues.spool)).toHaveLength(0);
    // Done in the ledger: a redelivery costs no StartExecution call.
    const again = await startParentBatch(m, deps([]), inv('req-2'));
    expect(again).toMatchObject({ outcome: 'alreadyDone', calls: 0 });
  });

  it('refuses a message that names a state machine without a parent (it goes to the dead-letter queue)', async () => {
    await expect(startParentBatch(message(3, { stateMachineArn: `${STANDARD}-other` }), deps([]), inv())).rejects.toThrow(UnknownStateMachineError);
  });

  it('after a crash before its checkpoint, the redelivered batch starts nothing twice: its parents answer Duplicate', async () => {
    const m = message(1500);
    const failingSink = { put: async () => Promise.reject(Object.assign(new Error('firehose down'), { name: 'ServiceUnavailableException' })) };
    await expect(startParentBatch(m, deps([], { sink: failingSink }), inv('req-1'))).rejects.toThrow('firehose down');
    const created = parentsOf(job).length;
    expect(created).toBe(partsOf(m.tasks).length);
    expect(await ledgerEnv.ledger.getBatch(m.batchId)).toMatchObject({ done: false, cursor: 0, owner: null });
    const records: ParamLogRecord[] = [];
    // Later: the running parents are answered with their original start date (Step Functions'
    // idempotent StartExecution), which the starter reads as Duplicate.
    const later = () => Date.now() + 60_000;
    const out = await startParentBatch(m, deps(records, { now: later, gate: new AdaptiveRateGate({ now: later }) }), inv('req-2'));
    expect(out).toMatchObject({ outcome: 'completed', started: 0, duplicate: 1500 });
    expect(parentsOf(job)).toHaveLength(created);
    expect(sfnStandin.counters.duplicates).toBe(0);
    expect(records.every((r) => r.result === 'Duplicate')).toBe(true);
  });

  it('spools each task of a parent whose start really fails as StartFailed, which reprocess replays on the standard state machine', async () => {
    const m = message(2000);
    const failing = namesOf(m.tasks)[1];
    let calls = 0;
    const records: ParamLogRecord[] = [];
    const out = await startParentBatch(m, deps(records, { sfn: sfnClient((name) => name === failing, () => calls++) }), inv());
    const failedPart = partsOf(m.tasks)[1];
    expect(out).toMatchObject({ outcome: 'completed', startFailed: failedPart.length, started: 2000 - failedPart.length });
    // Bounded retries of a 5xx (1 + 3), not a redelivery of the whole batch.
    expect(calls).toBe(partsOf(m.tasks).length + 3);
    expect(parentsOf(job).map((e) => e.name)).not.toContain(failing);
    const spooled = await drain(queues.spool);
    expect(spooled.map((s) => s.body.taskId).sort()).toEqual(failedPart.map((t) => t.taskId).sort());
    expect(spooled[0].body).toMatchObject({ version: 1, kind: 'StartFailed', job, error: 'ServiceUnavailable', failedState: 'Producer', executionArn: null, stateMachineArn: STANDARD });
    expect(spooled.find((s) => s.body.taskId === failedPart[0].taskId)!.body.input).toEqual(failedPart[0]);
    expect(spooled[0].attributes).toMatchObject({ job, kind: 'StartFailed', errorType: 'ServiceUnavailable' });
    const byResult = records.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.result]: (acc[r.result] ?? 0) + 1 }), {});
    expect(byResult).toEqual({ Started: 2000 - failedPart.length, StartFailed: failedPart.length });
    expect(await ledgerEnv.ledger.getBatch(m.batchId)).toMatchObject({ done: true, cursor: 2000 });
    // Reprocess's own rules take it as a replay of one task on the job's standard state machine.
    const plan = classify(
      { MessageId: 'm-1', Body: JSON.stringify(spooled[0].body), MessageAttributes: Object.fromEntries(Object.entries(spooled[0].attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }])) },
      { source: 'spool', max: 10, dryRun: true, concurrency: 1, from: 'failed', drop: false, force: false } as never,
      { jobs: new Map([[job, { stateMachineArn: STANDARD, steps: ['Fetch', 'CallApi', 'Publish'], dependencies: {} }]]), maxReplays: 5 },
      Date.parse(TICK) + 60_000,
    );
    // Never started: it keeps its attempt and its standard execution name.
    expect(plan).toMatchObject({ action: 'replay', kind: 'StartFailed', stateMachineArn: STANDARD, name: executionNameFor(spooled[0].body.taskId, 1), input: { attempt: 1, taskId: spooled[0].body.taskId } });
  });

  it('quarantines each task of a parent Step Functions refuses (Rejected), and goes on with the batch', async () => {
    const m = message(2000);
    const refused = namesOf(m.tasks)[0];
    const client = sfnClient();
    client.middlewareStack.add(
      (next) => async (args) => {
        if (JSON.parse((args.request as { body: string }).body).name === refused) throw Object.assign(new Error('bad'), { name: 'InvalidExecutionInput', $metadata: { httpStatusCode: 400 } });
        return next(args);
      },
      { step: 'finalizeRequest', name: 'refuse' },
    );
    const records: ParamLogRecord[] = [];
    const out = await startParentBatch(m, deps(records, { sfn: client }), inv());
    const first = partsOf(m.tasks)[0];
    expect(out).toMatchObject({ outcome: 'completed', rejected: first.length, started: 2000 - first.length });
    const quarantined = await drain(queues.quarantine);
    expect(quarantined).toHaveLength(first.length);
    expect(quarantined[0].body).toMatchObject({ kind: 'Rejected', error: 'InvalidExecutionInput', stateMachineArn: STANDARD });
    expect(await drain(queues.spool)).toHaveLength(0);
  });

  it('at its deadline it checkpoints at a part boundary and hands the rest on; the rest starts under the same names one run would use', async () => {
    // A clock of its own behind the real one, so the stand-in's start dates (real) are never older
    // than the call (which would read as Duplicate); the lease is measured on the ledger's clock.
    let t = Date.now() - 600_000;
    const now = () => t;
    const m = message(3000);
    const parts = partsOf(m.tasks);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    // Each start takes 50 s of a 100 s invocation (20 s kept back): two parts fit.
    const slow = sfnClient(() => false, () => void (t += 50_000));
    const records: ParamLogRecord[] = [];
    const d = deps(records, { sfn: slow, now, gate: new AdaptiveRateGate({ now }), safetyMs: 20_000, leaseMarginMs: 3_600_000 });
    const first = await startParentBatch(m, d, inv('req-1', 100_000));
    expect(first).toMatchObject({ outcome: 'continued', started: parts[0].length + parts[1].length });
    const cursor = parts[0].length + parts[1].length;
    expect(await ledgerEnv.ledger.getBatch(m.batchId)).toMatchObject({ done: false, cursor, owner: null });
    const handed = await drain(queues.tick);
    expect(handed).toHaveLength(1);
    const rest = handed[0].body as TickBatchMessage;
    expect(rest).toMatchObject({ offset: cursor, total: 3000, batchId: m.batchId });
    expect(rest.tasks).toEqual(m.tasks.slice(cursor));
    expect(handed[0].attributes).toMatchObject({ job, batchId: m.batchId });
    const second = await startParentBatch(rest, deps(records), inv('req-2'));
    expect(second).toMatchObject({ outcome: 'completed', started: 3000 - cursor });
    expect(parentsOf(job).map((e) => e.name).sort()).toEqual(namesOf(m.tasks).sort());
    expect(records.map((r) => r.task_id).sort()).toEqual(m.tasks.map((x) => x.taskId).sort());
  });

  it('a second plan of the tick (replan, or a producer retry with another list) whose part 0 differs starts its own parent: no task of it is lost as Duplicate', async () => {
    const tick = '20261125T1800Z';
    const planned = (plan: string, tasks: TaskEnvelope[]): TickBatchMessage => ({ ...message(0), batchId: batchLedgerKey(job, tick, plan, 0), index: 0, batches: 1, total: tasks.length, tasks });
    const first = planned('p1', [0, 1, 2, 3].map((i) => envelope(i)));
    const records: ParamLogRecord[] = [];
    expect(await startParentBatch(first, deps(records), inv('req-1'))).toMatchObject({ outcome: 'completed', started: 4 });
    // The new plan: one task dropped, two added; its part 0 is at the same position (batch 0, task 0).
    const second = planned('p2', [0, 1, 2, 4, 5].map((i) => envelope(i)));
    const out = await startParentBatch(second, deps(records), inv('req-2'));
    expect(out).toMatchObject({ outcome: 'completed', started: 5, duplicate: 0 });
    const parents = parentsOf(job);
    expect(parents).toHaveLength(2);
    // Every task of the new plan is in a parent's input, the new ones included.
    const inputs = parents.map((e) => (JSON.parse(e.input).tasks as TaskEnvelope[]).map((t) => t.key).sort());
    expect(inputs).toEqual(expect.arrayContaining([['o-0', 'o-1', 'o-2', 'o-4', 'o-5']]));
    expect(records.filter((r) => r.result === 'Started').map((r) => r.task_id)).toEqual(expect.arrayContaining([envelope(4).taskId, envelope(5).taskId]));
    expect(sfnStandin.counters.duplicates).toBe(0);

    // o-0..o-2 now run in two parents (two Started client records each); the lost-task monitor
    // counts per task and attempt, so each is one task: ended when any of its runs recorded an end.
    const key = new LocalHmac(randomBytes(32));
    const header = ['source', 'type', 'time', 'task_id', 'module', 'params', 'result', 'error', 'cause', 'execution_arn', 'attempt', 'scheduled_time', 'failed_state', 'mac'];
    const row = (source: string, r: ParamLogRecord) => [source, r.type, r.time, r.task_id, r.module, r.params, r.result, r.error, r.cause, r.execution_arn, String(r.attempt), r.scheduled_time, r.failed_state, r.mac ?? null];
    const started = await Promise.all(records.map((r) => signRecord(r, key)));
    expect(started.filter((r) => r.task_id === envelope(0).taskId)).toHaveLength(2);
    const end = (i: number) => signRecord(buildWorkerRecord({ envelope: envelope(i), now: new Date(), timeZone: 'UTC', executionArn: parents[0].executionArn }), key);
    const lost = async (ends: ParamLogRecord[]) => (await verifiedLostTasks(candidateRows([header, ...started.map((r) => row('client', r)), ...ends.map((r) => row('worker', r))]), key)).lost;
    // Both runs of o-0 recorded their end, once each; every other task once.
    const all = await Promise.all([0, 0, 1, 2, 3, 4, 5].map(end));
    expect(await lost(all)).toBe(0);
    // o-0 never ended (neither run): one lost task, not two.
    expect(await lost(all.filter((r) => r.task_id !== envelope(0).taskId))).toBe(1);
  });

  it('a replan whose part is the very same tasks is refused by name, as a standard replan refuses started tasks', async () => {
    const tick = '20261125T1800Z';
    const tasks = [0, 1, 2].map((i) => envelope(i));
    const planned = (plan: string): TickBatchMessage => ({ ...message(0), batchId: batchLedgerKey(job, tick, plan, 0), index: 0, batches: 1, total: tasks.length, tasks });
    await startParentBatch(planned('p1'), deps([]), inv('req-1'));
    const records: ParamLogRecord[] = [];
    const later = () => Date.now() + 60_000;
    const out = await startParentBatch(planned('p1r1'), deps(records, { now: later, gate: new AdaptiveRateGate({ now: later }) }), inv('req-2'));
    expect(out).toMatchObject({ outcome: 'completed', started: 0, duplicate: 3 });
    expect(parentsOf(job)).toHaveLength(1);
    expect(records.every((r) => r.result === 'Duplicate')).toBe(true);
  });
});
