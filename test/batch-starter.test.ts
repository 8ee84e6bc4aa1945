import { SFNClient, StartExecutionCommand, ExecutionAlreadyExists } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { TaskEnvelope } from '../lambdas/shared/envelope';
import { ParamLogRecord } from '../lambdas/shared/param-log';
import { AdaptiveRateGate } from '../lambdas/shared/rate-gate';
import { TickBatchMessage } from '../lambdas/shared/tick-batch';
import { MAX_PARENT_INPUT_BYTES, ParentStartError, parentExecutionName, partsOf, startParents } from '../lambdas/batch-starter/logic';

const sfnMock = mockClient(SFNClient);
beforeEach(() => sfnMock.reset());

const envelope = (i: number, pad = 0): TaskEnvelope => ({
  v: 1,
  taskId: `orders-20261125T1800Z-o-${i}`,
  job: 'orders',
  key: `o-${i}`,
  params: { orderId: `o-${i}`, pad: 'x'.repeat(pad) },
  attempt: 1,
  scheduledTime: '2026-11-25T18:00:00.000Z',
});

const message = (tasks: TaskEnvelope[], offset = 0): TickBatchMessage => ({
  v: 1,
  job: 'orders',
  tick: '20261125T1800Z',
  stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:orders',
  batchId: 'batch#orders#20261125T1800Z#p1#3',
  tickId: 'tick#orders#20261125T1800Z',
  index: 3,
  batches: 10,
  offset,
  total: offset + tasks.length,
  tasks,
});

const PARENT = 'arn:aws:states:us-east-1:123456789012:stateMachine:orders-hv';

function deps(records: ParamLogRecord[]) {
  return { sfn: new SFNClient({}), gate: new AdaptiveRateGate(), sink: { put: async (r: ParamLogRecord[]) => void records.push(...r) }, timeZone: 'UTC', parentStateMachineArn: PARENT, stopAtMs: Date.now() + 60_000 };
}

describe('partsOf', () => {
  it('cuts a batch into consecutive parts whose input fits a parent execution', () => {
    const tasks = Array.from({ length: 2250 }, (_, i) => envelope(i, 200));
    const parts = partsOf(tasks);
    expect(parts.flat()).toEqual(tasks);
    for (const p of parts) expect(Buffer.byteLength(JSON.stringify({ tasks: p }))).toBeLessThanOrEqual(256 * 1024);
    // Each part but the last is full: the next task would not have fitted.
    const size = (t: TaskEnvelope) => Buffer.byteLength(JSON.stringify(t)) + 1;
    for (let i = 0; i < parts.length - 1; i++) expect(parts[i].reduce((n, t) => n + size(t), 0) + size(parts[i + 1][0])).toBeGreaterThan(MAX_PARENT_INPUT_BYTES);
    expect(parts.length).toBeGreaterThan(1);
    expect(() => partsOf([envelope(1, MAX_PARENT_INPUT_BYTES)])).toThrow(/more than a parent execution's input can carry/);
  });

  it('names a parent from the job, tick, batch, first task and attempt, within 80 characters', () => {
    expect(parentExecutionName('orders', '20261125T1800Z', 3, 790, 1)).toBe('orders-20261125T1800Z-b3-t790-a1');
    expect(() => parentExecutionName('a'.repeat(70), '20261125T1800Z', 3, 0, 1)).toThrow(/longer than 80/);
  });
});

describe('startParents', () => {
  it('starts one parent per part and records every task Started with its parent', async () => {
    sfnMock.on(StartExecutionCommand).callsFake((input) => ({ executionArn: `${PARENT.replace(':stateMachine:', ':execution:')}:${input.name}`, startDate: new Date() }));
    const records: ParamLogRecord[] = [];
    const tasks = Array.from({ length: 2000 }, (_, i) => envelope(i, 200));
    const out = await startParents(message(tasks), deps(records));
    const calls = sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input);
    expect(out).toEqual({ parents: partsOf(tasks).length, started: 2000, duplicate: 0, calls: partsOf(tasks).length });
    const firsts = partsOf(tasks).map((_, i, all) => all.slice(0, i).reduce((n, p) => n + p.length, 0));
    expect(calls.map((c) => c.name)).toEqual(firsts.map((f) => `orders-20261125T1800Z-b3-t${f}-a1`));
    expect(firsts[0]).toBe(0);
    expect(calls.every((c) => c.stateMachineArn === PARENT)).toBe(true);
    expect(calls.flatMap((c) => JSON.parse(c.input!).tasks)).toEqual(tasks);
    expect(records).toHaveLength(2000);
    expect(new Set(records.map((r) => r.task_id)).size).toBe(2000);
    expect(records.every((r) => r.result === 'Started' && r.execution_arn!.endsWith('-a1'))).toBe(true);
  });

  it('starts nothing twice on a redelivered batch: the names are refused and the tasks recorded Duplicate', async () => {
    const seen = new Set<string>();
    sfnMock.on(StartExecutionCommand).callsFake((input) => {
      if (seen.has(input.name)) throw new ExecutionAlreadyExists({ message: 'exists', $metadata: {} });
      seen.add(input.name);
      return { executionArn: `x:${input.name}`, startDate: new Date() };
    });
    const tasks = Array.from({ length: 1000 }, (_, i) => envelope(i, 200));
    const first: ParamLogRecord[] = [];
    const again: ParamLogRecord[] = [];
    await startParents(message(tasks), deps(first));
    const out = await startParents(message(tasks), deps(again));
    expect(out.started).toBe(0);
    expect(out.duplicate).toBe(1000);
    expect(seen.size).toBe(partsOf(tasks).length);
    expect(again.every((r) => r.result === 'Duplicate')).toBe(true);
  });

  it('throws on a parent Step Functions refuses, after recording the parts started before it', async () => {
    let n = 0;
    sfnMock.on(StartExecutionCommand).callsFake(() => {
      n++;
      if (n === 2) throw Object.assign(new Error('bad input'), { name: 'InvalidExecutionInput' });
      return { executionArn: `x:${n}`, startDate: new Date() };
    });
    const tasks = Array.from({ length: 2000 }, (_, i) => envelope(i, 200));
    const records: ParamLogRecord[] = [];
    await expect(startParents(message(tasks), deps(records))).rejects.toThrow(ParentStartError);
    expect(records).toHaveLength(partsOf(tasks)[0].length);
  });
});
