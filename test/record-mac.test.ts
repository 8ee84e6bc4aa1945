import { randomBytes } from 'node:crypto';
import { KmsMac, KmsRequestError } from '../lambdas/shared/kms-mac';
import { buildClientRecord, buildWorkerRecord, ParamLogRecord, PARAM_LOG_COLUMNS } from '../lambdas/shared/param-log';
import {
  canonicalRecord,
  LocalHmac,
  MAC_FIELDS,
  normalizeRecordTime,
  recordMacMessage,
  RECORD_MAC_DOMAIN,
  signRecord,
  signRecords,
  verifyRecord,
} from '../lambdas/shared/record-mac';
import { candidateRows, verifiedLostTasks } from '../lambdas/lost-task-monitor/verified';
import { KmsStandin, startKmsStandin } from '../local/kms-standin';

const envelope = { v: 1 as const, taskId: 'example-api-20261125T0305Z-order-42', job: 'example-api', key: 'order-42', params: { customer: 'Jane Doe', amount: 12 }, attempt: 2, scheduledTime: '2026-11-25T03:05:00.000Z' };
const now = new Date('2026-11-25T03:05:01.007Z');
const worker = (): ParamLogRecord => buildWorkerRecord({ envelope, now, timeZone: 'Asia/Tokyo', executionArn: 'arn:aws:states:ap-northeast-1:123456789012:execution:sm:x', error: 'ExternalApiRejectedError', cause: 'HTTP 422', failedState: 'CallApi' });
const key = new LocalHmac(randomBytes(32));

describe('canonical form', () => {
  test('sorted keys, every column but mac, nulls for missing fields, no spaces', () => {
    const r = worker();
    const c = canonicalRecord(r);
    const parsed = JSON.parse(c) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual([...MAC_FIELDS].sort());
    expect(MAC_FIELDS).toEqual(PARAM_LOG_COLUMNS.filter((f) => f !== 'mac'));
    expect(c).not.toMatch(/": /);
    // Key order and a `mac` already present do not change it.
    const reordered = Object.fromEntries(Object.entries({ ...r, mac: 'anything' }).reverse());
    expect(canonicalRecord(reordered)).toBe(c);
    // A missing field is null, the same as an explicit null.
    const client = buildClientRecord({ envelope, result: 'Started', now, timeZone: 'UTC' });
    const { failed_state: _omitted, ...withoutFailedState } = client;
    expect(canonicalRecord(withoutFailedState)).toBe(canonicalRecord(client));
  });

  test('the MACed message is the domain tag and a SHA-256, so records of any size fit KMS\'s 4,096-byte message', () => {
    const big = buildClientRecord({ envelope: { ...envelope, params: { blob: 'x'.repeat(900_000) } }, result: 'Started', now, timeZone: 'UTC' });
    const m = recordMacMessage(big).toString('utf8');
    expect(m).toMatch(new RegExp(`^${RECORD_MAC_DOMAIN}[0-9a-f]{64}$`));
    expect(m.length).toBeLessThan(4096);
  });

  test('a record holds strings, numbers and nulls only: anything else cannot be canonicalized and does not verify', async () => {
    expect(() => canonicalRecord({ ...worker(), attempt: { n: 1 } as never })).toThrow(/attempt is a object/);
    const signed = await signRecord(worker(), key);
    await expect(verifyRecord({ ...signed, attempt: true as never }, key)).resolves.toBe(false);
  });

  test('Athena/DuckDB timestamp text goes back to the written milliseconds', () => {
    expect(normalizeRecordTime('2026-11-25 12:05:01.007')).toBe('2026-11-25 12:05:01.007');
    expect(normalizeRecordTime('2026-11-25 12:05:01')).toBe('2026-11-25 12:05:01.000');
    expect(normalizeRecordTime('2026-11-25 12:05:01.1')).toBe('2026-11-25 12:05:01.100');
    expect(normalizeRecordTime('2026-11-25T12:05:01.007000')).toBe('2026-11-25 12:05:01.007');
    expect(normalizeRecordTime('yesterday')).toBe('yesterday');
  });
});

describe('sign and verify', () => {
  test('a signed record verifies; a change of ANY field makes it fail', async () => {
    const signed = await signRecord(worker(), key);
    await expect(verifyRecord(signed, key)).resolves.toBe(true);
    const changes: Record<(typeof MAC_FIELDS)[number], unknown> = {
      time: '2026-11-25 12:05:01.008',
      type: 'client',
      task_id: 'example-api-20261125T0305Z-order-43',
      module: 'example-fanout',
      params: JSON.stringify({ customer: 'Jane Doe', amount: 13 }),
      result: 'Success',
      error: null,
      cause: 'HTTP 500',
      execution_arn: null,
      attempt: 3,
      scheduled_time: '2026-11-25T03:06:00.000Z',
      failed_state: 'Other',
    };
    for (const f of MAC_FIELDS) {
      expect(f in changes).toBe(true);
      await expect(verifyRecord({ ...signed, [f]: changes[f] }, key)).resolves.toBe(false);
    }
    // The attempt as text (how Athena returns it) is a different value: callers convert it back.
    await expect(verifyRecord({ ...signed, attempt: '2' }, key)).resolves.toBe(false);
  });

  test('missing, malformed, truncated or another key\'s MAC: false, never a throw', async () => {
    const signed = await signRecord(worker(), key);
    const { mac, ...unsigned } = signed;
    await expect(verifyRecord(unsigned, key)).resolves.toBe(false);
    await expect(verifyRecord({ ...signed, mac: 'not base64!' }, key)).resolves.toBe(false);
    await expect(verifyRecord({ ...signed, mac: mac!.slice(0, 20) }, key)).resolves.toBe(false);
    await expect(verifyRecord(signed, new LocalHmac(randomBytes(32)))).resolves.toBe(false);
  });

  test('signRecords keeps order and replaces a MAC the record came with', async () => {
    const rs = [worker(), { ...worker(), task_id: 'b' }, { ...worker(), task_id: 'c', mac: 'forged' }];
    const out = await signRecords(rs, key, 2);
    expect(out.map((r) => r.task_id)).toEqual([rs[0].task_id, 'b', 'c']);
    for (const r of out) await expect(verifyRecord(r, key)).resolves.toBe(true);
  });
});

describe('KMS client against the KMS stand-in', () => {
  let kms: KmsStandin;
  const credentials = async () => ({ accessKeyId: 'local', secretAccessKey: 'local' });
  beforeAll(async () => {
    kms = await startKmsStandin();
  });
  afterAll(() => kms.stop());

  test('GenerateMac then VerifyMac round-trips; a wrong MAC is false (KMS answers KMSInvalidMacException); keys are distinct', async () => {
    const a = new KmsMac('key-a', { region: 'ap-northeast-1', endpoint: kms.endpoint, credentials });
    const b = new KmsMac('key-b', { region: 'ap-northeast-1', endpoint: kms.endpoint, credentials });
    const signed = await signRecord(worker(), a);
    await expect(verifyRecord(signed, a)).resolves.toBe(true);
    await expect(verifyRecord({ ...signed, result: 'Success' }, a)).resolves.toBe(false);
    await expect(verifyRecord(signed, b)).resolves.toBe(false);
    // The stand-in's key is the same HMAC a test can use in memory.
    await expect(verifyRecord(signed, kms.keyOf('key-a'))).resolves.toBe(true);
    expect(a.requests).toBe(3);
  });

  test('KMS errors other than a wrong MAC are thrown with their type (e.g. a message over 4,096 bytes)', async () => {
    const a = new KmsMac('key-a', { region: 'ap-northeast-1', endpoint: kms.endpoint, credentials });
    await expect(a.generateMac(Buffer.alloc(5000, 1))).rejects.toThrow(KmsRequestError);
    await expect(a.generateMac(Buffer.alloc(5000, 1))).rejects.toMatchObject({ type: 'ValidationException' });
  });
});

describe('verified lost tasks (the monitor\'s rule)', () => {
  const header = ['source', 'type', 'time', 'task_id', 'module', 'params', 'result', 'error', 'cause', 'execution_arn', 'attempt', 'scheduled_time', 'failed_state', 'mac'];
  const row = (source: string, r: ParamLogRecord) => [source, r.type, r.time, r.task_id, r.module, r.params, r.result, r.error, r.cause, r.execution_arn, String(r.attempt), r.scheduled_time, r.failed_state, r.mac ?? null];

  test('rows as Athena returns them (text, nulls) verify after conversion; forged rows are absent and counted', async () => {
    const started = await signRecord(buildClientRecord({ envelope, result: 'Started', now, timeZone: 'Asia/Tokyo' }), key);
    const forgedEnd = buildWorkerRecord({ envelope, now, timeZone: 'Asia/Tokyo', executionArn: null });
    const rows = candidateRows([header, row('client', started), row('worker', forgedEnd)]);
    expect(rows[0].fields.attempt).toBe(2);
    const out = await verifiedLostTasks(rows, key);
    expect(out).toEqual({ lost: 1, forged: 1, checked: 2, forgedTaskIds: [envelope.taskId] });
    const genuineEnd = await signRecord(forgedEnd, key);
    await expect(verifiedLostTasks(candidateRows([header, row('client', started), row('worker', genuineEnd)]), key)).resolves.toMatchObject({ lost: 0, forged: 0 });
  });

  test('a result without the columns the check needs is an error, not a count', () => {
    expect(() => candidateRows([])).toThrow(/no header row/);
    expect(() => candidateRows([header.filter((h) => h !== 'mac')])).toThrow(/no column mac/);
  });
});
