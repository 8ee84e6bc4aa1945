import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { z } from 'zod';
import { planTick, PRODUCER_ERRORS, TickDeps, validateSpecs } from '../lambdas/producer/logic';
import { checkParamsWiring } from '../lambdas/producer/runtime';
import { parsePayload } from '../lambdas/reprocess/payload';
import { classify, PARAMS_REJECTED, ReceivedMessage } from '../lambdas/reprocess/message';
import { parseEnvelope, TaskEnvelope } from '../lambdas/shared/envelope';
import { InvalidParamsError } from '../lambdas/shared/errors';
import { JsonValue } from '../lambdas/shared/json';
import { ParamLogRecord } from '../lambdas/shared/param-log';
import { checkParams, ParamsModule, paramsPath, taskParams } from '../lambdas/shared/params';
import { createParamsStepHandler } from '../lambdas/shared/params-step';
import { SpoolMessage } from '../lambdas/shared/spool-message';
import { TickLedger } from '../lambdas/shared/tick-ledger';
import { startLedger } from './support/ledger';

/**
 * Params with a schema (lambdas/shared/params.ts): the producer quarantines params that fail the job's
 * schema with the path and never the value; steps get them typed; a task spooled under an earlier
 * schema version is migrated on its replay, or quarantined with the reason, never dropped silently.
 */

const SECRET_EMAIL = 'hanako.yamada@example.com';
const SECRET_NAME = 'Hanako Yamada';

const v1 = {
  schema: z.object({ orderId: z.string(), items: z.array(z.object({ id: z.string(), qty: z.number().int() })), email: z.string() }),
  version: 1,
} satisfies ParamsModule;

describe('checkParams: paths, never values', () => {
  test('each problem is the path and what was expected', () => {
    const r = checkParams(v1, { orderId: 'o-1', items: [{ id: 'a', qty: 1 }, { id: 'b', qty: 1 }, { id: 'c', qty: 1 }, { id: 7, qty: 1.5 }], email: SECRET_EMAIL });
    expect(r).toEqual({ ok: false, problems: ['params.items[3].id: expected string', 'params.items[3].qty: expected int'] });
  });

  test('no value of the params reaches a problem, whatever the issue (enum, format, record key, custom check, unknown key)', () => {
    const schema = z.strictObject({
      kind: z.enum(['a', 'b']),
      email: z.email(),
      byEmail: z.record(z.string(), z.number()),
      name: z.string().refine((s) => s.length < 3, { message: 'custom message' }),
    });
    const r = checkParams({ schema }, { kind: SECRET_NAME, email: SECRET_NAME, byEmail: { [SECRET_EMAIL]: 'x' }, name: SECRET_NAME, [SECRET_EMAIL]: 1 } as JsonValue);
    expect(r.ok).toBe(false);
    const text = JSON.stringify(r);
    for (const v of [SECRET_EMAIL, SECRET_NAME, 'hanako', 'custom message']) expect(text).not.toContain(v);
    expect(text).toContain('params.kind: not one of the allowed values');
    expect(text).toContain('params.byEmail[?]: expected number');
  });

  test('paths spell out only the fields the schema declares and indexes; a record key (data) is [?] even when it looks like a name', () => {
    const schema = z.object({ items: z.array(z.object({ id: z.string() })), byName: z.record(z.string(), z.object({ n: z.number() })) });
    expect(paramsPath(['items', 3, 'id'], schema)).toBe('params.items[3].id');
    expect(paramsPath(['byName', 'Hanako', 'n'], schema)).toBe('params.byName[?].n');
    expect(checkParams({ schema }, { items: [], byName: { Hanako: { n: 'x' } } })).toEqual({ ok: false, problems: ['params.byName[?].n: expected number'] });
    expect(checkParams({ schema: z.strictObject({ a: z.string() }) }, { a: 'x', Hanako: 1 })).toEqual({ ok: false, problems: ['params: 1 field(s) the schema does not declare'] });
  });

  test('taskParams throws InvalidParamsError whose message holds the paths only', () => {
    const task = { params: { orderId: 1, items: [], email: SECRET_EMAIL } as JsonValue };
    expect(() => taskParams(v1, task)).toThrow(InvalidParamsError);
    expect(() => taskParams(v1, task)).toThrow("params fail the job's schema: params.orderId: expected string");
  });
});

describe('the producer rejects invalid params to the quarantine', () => {
  const sqsMock = mockClient(SQSClient);
  let ledgerEnv: Awaited<ReturnType<typeof startLedger>>;
  let ledger: TickLedger;
  beforeAll(async () => {
    ledgerEnv = await startLedger();
    ledger = ledgerEnv.ledger;
  });
  afterAll(() => ledgerEnv.stop());
  beforeEach(() => {
    sqsMock.reset();
    sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
  });

  test('the failing task is quarantined as Rejected InvalidParams with the path; the others are planned with the schema version; no value in reason, cause, logs or record error', async () => {
    const records: ParamLogRecord[] = [];
    const logs: string[] = [];
    const good = (k: string) => ({ key: k, params: { orderId: k, items: [{ id: 'i', qty: 1 }], email: SECRET_EMAIL } });
    const bad = { key: 'bad', params: { orderId: 'bad', items: [{ id: 'a', qty: 1 }, { id: 'b', qty: 1 }, { id: 'c', qty: 1 }, { id: SECRET_NAME.length, qty: 1 }], email: SECRET_EMAIL } };
    const deps: TickDeps = {
      job: 'orders',
      stateMachineArn: 'arn:aws:states:ap-northeast-1:111122223333:stateMachine:orders',
      tickQueueUrl: 'https://sqs.local/tick',
      quarantineQueueUrl: 'https://sqs.local/quarantine',
      timeZone: 'Asia/Tokyo',
      tasksPerBatch: 10,
      sqs: new SQSClient({ region: 'us-east-1' }),
      sink: { put: async (r) => void records.push(...r) },
      ledger,
      owner: 'invocation-1',
      remainingMs: 60_000,
      params: v1,
      log: (m, f) => void logs.push(`${m} ${JSON.stringify(f)}`),
    };
    const summary = await planTick({ scheduledTime: '2026-03-01T00:00:00Z' }, () => [good('a'), bad, good('b')], deps);
    expect(summary).toMatchObject({ tasks: 2, rejected: 1 });

    const sent = (url: string) => sqsMock.commandCalls(SendMessageBatchCommand).filter((c) => c.args[0].input.QueueUrl === url).flatMap((c) => c.args[0].input.Entries!);
    const [q] = sent('https://sqs.local/quarantine');
    const message = JSON.parse(q.MessageBody!) as SpoolMessage;
    expect(message).toMatchObject({ kind: 'Rejected', error: PRODUCER_ERRORS.invalidParams, cause: 'task #1: params.items[3].id: expected string' });
    expect(q.MessageAttributes!.reason.StringValue).toBe('InvalidParams: task #1: params.items[3].id: expected string');
    // The input keeps the params (the quarantine is locked like the spool), nothing else does.
    for (const text of [message.cause, q.MessageAttributes!.reason.StringValue, ...logs, records[0].error, records[0].cause]) {
      expect(String(text)).not.toContain(SECRET_EMAIL);
    }
    expect(records.map((r) => [r.result, r.error])).toEqual([['Rejected', PRODUCER_ERRORS.invalidParams]]);

    const planned = sent('https://sqs.local/tick').flatMap((e) => (JSON.parse(e.MessageBody!) as { tasks: TaskEnvelope[] }).tasks);
    expect(planned.map((t) => [t.key, t.paramsVersion])).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
  });

  test('without a schema nothing changes: any plain JSON passes and no version is stamped', () => {
    const { accepted } = validateSpecs([{ key: 'x', params: { anything: [1, 'two'] } }], 'orders', new Date('2026-03-01T00:00:00Z'));
    expect(accepted[0]).not.toHaveProperty('paramsVersion');
  });

  test('a producer whose config declares a schema but which was not given it refuses to plan, saying how to pass it', () => {
    expect(() => checkParamsWiring(undefined, '1')).toThrow('createProducerHandler(produce, { params })');
    expect(() => checkParamsWiring({ ...v1, version: 2 }, '1')).toThrow('version 2 but synth read version 1');
    expect(() => checkParamsWiring(v1, '1')).not.toThrow();
    expect(() => checkParamsWiring(undefined, undefined)).not.toThrow();
  });
});

describe('steps get typed params', () => {
  test('createParamsStepHandler passes the parsed params; invalid ones fail with InvalidParamsError before the step runs', async () => {
    const seen: string[] = [];
    const handler = createParamsStepHandler(v1, ({ params }) => {
      // Typed: a wrong field name here is a compile error.
      seen.push(params.items.map((i) => i.id).join(','));
      return { count: params.items.length };
    }, { stepName: 'Count', holds: null, dependency: null });
    const task = (params: JsonValue): TaskEnvelope => ({ v: 1, taskId: 't-1', job: 'orders', key: 'k', params, attempt: 1, scheduledTime: '2026-03-01T00:00:00.000Z', paramsVersion: 1 });
    await expect(handler({ task: task({ orderId: 'o', items: [{ id: 'x', qty: 2 }], email: SECRET_EMAIL }), previous: null })).resolves.toEqual({ count: 1 });
    await expect(handler({ task: task({ orderId: 'o', items: 'no', email: SECRET_EMAIL }), previous: null })).rejects.toMatchObject({ name: 'InvalidParamsError', message: expect.not.stringContaining(SECRET_EMAIL) });
    expect(seen).toEqual(['x']);
  });
});

describe('a schema change does not strand what is spooled', () => {
  // v2 renames `email` to `contact.email` and makes qty a string code: a change that refuses v1 params.
  const v2Schema = z.object({ orderId: z.string(), items: z.array(z.object({ id: z.string(), qty: z.string() })), contact: z.object({ email: z.string() }) });
  const migrate = (p: JsonValue, from: number): JsonValue => {
    if (from !== 1) throw new Error(`no migration from ${from}`);
    const o = p as { orderId: string; items: Array<{ id: string; qty: number }>; email: string };
    return { orderId: o.orderId, items: o.items.map((i) => ({ id: i.id, qty: String(i.qty) })), contact: { email: o.email } };
  };
  const v2WithMigrate = { schema: v2Schema, version: 2, migrate } satisfies ParamsModule<typeof v2Schema>;
  const v2WithoutMigrate = { schema: v2Schema, version: 2 } satisfies ParamsModule<typeof v2Schema>;
  const SM = 'arn:aws:states:ap-northeast-1:111122223333:stateMachine:orders';
  const rules = { jobs: new Map([['orders', { stateMachineArn: SM, steps: ['Ship'], dependencies: {} }]]), maxReplays: 5 };
  const now = Date.parse('2026-03-02T00:00:00Z');

  /** A v1 task as the producer planned it, failed at Ship and spooled with `error`; the spool message's body as SQS holds it. */
  function spooledUnderV1(error: string, cause: string): ReceivedMessage {
    const { accepted } = validateSpecs([{ key: 'o-1', params: { orderId: 'o-1', items: [{ id: 'sku-1', qty: 2 }], email: SECRET_EMAIL } }], 'orders', new Date('2026-03-01T00:00:00Z'), v1);
    const input = JSON.parse(JSON.stringify(accepted[0])) as TaskEnvelope;
    expect(input.paramsVersion).toBe(1);
    const body: SpoolMessage = { version: 1, kind: 'ExecutionFailed', job: 'orders', taskId: input.taskId, input, error, cause, failedState: 'Ship', executionArn: null, stateMachineArn: SM, stepInput: null };
    return { MessageId: 'm-1', Body: JSON.stringify(body), Attributes: { SentTimestamp: String(now - 3_600_000) } };
  }
  const ship = (m: ParamsModule<typeof v2Schema>) =>
    createParamsStepHandler(m, ({ params }) => ({ shippedTo: params.contact.email.length > 0, qty: params.items[0].qty }), { stepName: 'Ship', holds: null, dependency: null });

  test('params spooled under v1 are migrated by the v2 migrate on replay, and the replay runs', async () => {
    const plan = classify(spooledUnderV1('TransientError', '{"errorMessage":"down"}'), parsePayload({}, 10, now), rules, now);
    expect(plan.action).toBe('replay');
    if (plan.action !== 'replay') return;
    // The replay keeps the version the params were written under (through StartExecution's JSON).
    const replayInput = parseEnvelope(JSON.parse(JSON.stringify(plan.input)));
    expect(replayInput).toMatchObject({ attempt: 2, paramsVersion: 1 });
    await expect(ship(v2WithMigrate)({ task: replayInput, previous: null })).resolves.toEqual({ shippedTo: true, qty: '2' });
  });

  test('without a migrate the replay fails InvalidParamsError with the paths; spooled again, reprocess quarantines it with the reason, and a forced replay after the fix runs', async () => {
    const first = classify(spooledUnderV1('TransientError', '{"errorMessage":"down"}'), parsePayload({}, 10, now), rules, now);
    if (first.action !== 'replay') throw new Error('expected a replay');
    const err = await ship(v2WithoutMigrate)({ task: first.input, previous: null }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(InvalidParamsError);
    expect((err as Error).message).toBe("params fail the job's schema: params.items[0].qty: expected string; params.contact: expected object; (version 1 params, no migrate declared)");
    expect((err as Error).message).not.toContain(SECRET_EMAIL);

    // The Catch spools it with the step's error; the next reprocess run quarantines instead of replaying.
    const again = spooledUnderV1('InvalidParamsError', JSON.stringify({ errorType: 'InvalidParamsError', errorMessage: (err as Error).message }));
    const plan = classify(again, parsePayload({}, 10, now), rules, now);
    expect(plan).toMatchObject({ action: 'quarantine', reason: expect.stringMatching(new RegExp(`^${PARAMS_REJECTED}: `)), detail: expect.stringContaining('params.contact: expected object') });

    // After a migrate is deployed, the operator replays it from the quarantine with force and its task id.
    const forced = classify(again, parsePayload({ source: 'quarantine', taskIds: [plan.taskId], force: true }, 10, now), rules, now);
    expect(forced.action).toBe('replay');
    if (forced.action !== 'replay') return;
    await expect(ship(v2WithMigrate)({ task: forced.input, previous: null })).resolves.toEqual({ shippedTo: true, qty: '2' });
  });

  test('a migrate that throws refuses the params with its error name only', () => {
    const r = checkParams({ ...v2WithMigrate, migrate: () => { throw new TypeError(`bad ${SECRET_EMAIL}`); } }, { email: SECRET_EMAIL }, 1);
    expect(r).toEqual({ ok: false, problems: ['migrate from params version 1 to 2 refused them (TypeError)'] });
  });

  test('tasks from before schemas (no paramsVersion) are read as version 1', () => {
    expect(taskParams(v2WithMigrate, { params: { orderId: 'o', items: [], email: 'e' } })).toEqual({ orderId: 'o', items: [], contact: { email: 'e' } });
  });
});
