import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  QueryExecutionState,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { LOST_TASK_CANDIDATES_SQL, LOST_TASK_COUNT_SQL } from '../lambdas/shared/queries';
import { buildClientRecord, buildWorkerRecord, ParamLogRecord } from '../lambdas/shared/param-log';
import { signRecord } from '../lambdas/shared/record-mac';
import { KmsStandin, startKmsStandin } from '../local/kms-standin';
import {
  Clock,
  countLostTasks,
  dayToCheck,
  InvalidMonitorEventError,
  LostTaskQueryFailedError,
  LostTaskQueryTimeoutError,
  LostTaskResultError,
  MonitorSettings,
  parseCount,
} from '../lambdas/lost-task-monitor/logic';

const athena = mockClient(AthenaClient);
const client = new AthenaClient({ region: 'ap-northeast-1' });
const SETTINGS: MonitorSettings = { workGroup: 'wg', database: 'db', timeZone: 'Asia/Tokyo', deadlineMs: 10_000, initialPollMs: 500, maxPollMs: 2000 };

/** A fake clock: sleeping advances time, so the poll's backoff and deadline are exact. */
function fakeClock(): Clock & { sleeps: number[] } {
  let t = 0;
  const sleeps: number[] = [];
  return { sleeps, now: () => t, sleep: async (ms) => void (sleeps.push(ms), (t += ms)) };
}
const rows = (...values: Array<string | undefined>) => ({ ResultSet: { Rows: [{ Data: [{ VarCharValue: 'lost' }] }, ...values.map((v) => ({ Data: [{ VarCharValue: v }] }))] } });
const state = (State: QueryExecutionState, extra: object = {}) => ({ QueryExecution: { Status: { State, ...extra } } });

beforeEach(() => {
  athena.reset();
  athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-1' });
});

test('success: runs the saved lost-task count in the workgroup with quoted day parameters, polls with backoff, reads the count', async () => {
  athena.on(GetQueryExecutionCommand).resolvesOnce(state(QueryExecutionState.QUEUED)).resolvesOnce(state(QueryExecutionState.RUNNING)).resolvesOnce(state(QueryExecutionState.RUNNING)).resolves(state(QueryExecutionState.SUCCEEDED));
  athena.on(GetQueryResultsCommand).resolves(rows('3'));
  const clock = fakeClock();
  const out = await countLostTasks(client, SETTINGS, '2026-03-31', clock);
  expect(out).toEqual({ day: '2026-03-31', lost: 3, queryExecutionId: 'q-1' });
  expect(athena).toHaveReceivedCommandWith(StartQueryExecutionCommand, {
    QueryString: LOST_TASK_COUNT_SQL,
    WorkGroup: 'wg',
    QueryExecutionContext: { Catalog: 'AwsDataCatalog', Database: 'db' },
    ExecutionParameters: ["'2026-03-31'", "'2026-03-30'", "'2026-03-31'", "'2026-04-01'"],
  });
  expect(clock.sleeps).toEqual([500, 1000, 2000]);
  expect(athena).not.toHaveReceivedCommand(StopQueryExecutionCommand);
});

test('zero lost tasks is reported as 0 only when the query says so', async () => {
  athena.on(GetQueryExecutionCommand).resolves(state(QueryExecutionState.SUCCEEDED));
  athena.on(GetQueryResultsCommand).resolves(rows('0'));
  await expect(countLostTasks(client, SETTINGS, '2026-03-31', fakeClock())).resolves.toMatchObject({ lost: 0 });
});

test('failed query: throws with the Athena reason, never a count', async () => {
  athena.on(GetQueryExecutionCommand).resolves(state(QueryExecutionState.FAILED, { AthenaError: { ErrorMessage: 'Query exhausted resources' } }));
  const p = countLostTasks(client, SETTINGS, '2026-03-31', fakeClock());
  await expect(p).rejects.toThrow(LostTaskQueryFailedError);
  await expect(countLostTasks(client, SETTINGS, '2026-03-31', fakeClock())).rejects.toThrow(/FAILED: Query exhausted resources/);
  expect(athena).not.toHaveReceivedCommand(GetQueryResultsCommand);
});

test('cancelled query (e.g. bytes-scanned cutoff) fails loudly too', async () => {
  athena.on(GetQueryExecutionCommand).resolves(state(QueryExecutionState.CANCELLED, { StateChangeReason: 'Bytes scanned limit was exceeded' }));
  await expect(countLostTasks(client, SETTINGS, '2026-03-31', fakeClock())).rejects.toThrow(/CANCELLED: Bytes scanned limit/);
});

test('poll timeout: stops the query at the deadline and throws; waits never pass the deadline', async () => {
  athena.on(GetQueryExecutionCommand).resolves(state(QueryExecutionState.RUNNING));
  athena.on(StopQueryExecutionCommand).resolves({});
  const clock = fakeClock();
  await expect(countLostTasks(client, SETTINGS, '2026-03-31', clock)).rejects.toThrow(LostTaskQueryTimeoutError);
  expect(athena).toHaveReceivedCommandWith(StopQueryExecutionCommand, { QueryExecutionId: 'q-1' });
  expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBe(SETTINGS.deadlineMs);
  expect(Math.max(...clock.sleeps)).toBeLessThanOrEqual(SETTINGS.maxPollMs);
  expect(athena).not.toHaveReceivedCommand(GetQueryResultsCommand);
});

test('timeout still throws the timeout when stopping the query fails too', async () => {
  athena.on(GetQueryExecutionCommand).resolves(state(QueryExecutionState.RUNNING));
  athena.on(StopQueryExecutionCommand).rejects(new Error('throttled'));
  await expect(countLostTasks(client, SETTINGS, '2026-03-31', fakeClock())).rejects.toThrow(LostTaskQueryTimeoutError);
});

test('zero rows or a non-numeric count is an error, not 0', async () => {
  athena.on(GetQueryExecutionCommand).resolves(state(QueryExecutionState.SUCCEEDED));
  athena.on(GetQueryResultsCommand).resolves(rows());
  await expect(countLostTasks(client, SETTINGS, '2026-03-31', fakeClock())).rejects.toThrow(LostTaskResultError);
  expect(() => parseCount([{ Data: [{ VarCharValue: 'lost' }] }, { Data: [{}] }])).toThrow(LostTaskResultError);
  expect(() => parseCount([{ Data: [{ VarCharValue: 'lost' }] }, { Data: [{ VarCharValue: '-1' }] }])).toThrow(LostTaskResultError);
  expect(() => parseCount([{ Data: [{ VarCharValue: 'lost' }] }, { Data: [{ VarCharValue: '2.5' }] }])).toThrow(LostTaskResultError);
  expect(() => parseCount(undefined)).toThrow(LostTaskResultError);
  expect(parseCount([{ Data: [{ VarCharValue: 'lost' }] }, { Data: [{ VarCharValue: '12' }] }])).toBe(12);
});

describe('day to check', () => {
  test('the day before the tick, in the app time zone (06:30 JST is still the previous UTC day)', () => {
    expect(dayToCheck({ scheduledTime: '2026-04-01T21:30:00Z' }, new Date(0), 'Asia/Tokyo')).toBe('2026-04-01');
    expect(dayToCheck({ scheduledTime: '2026-04-01T21:30:00Z' }, new Date(0), 'UTC')).toBe('2026-03-31');
  });
  test('no tick: the day before now; a manual day overrides and is validated', () => {
    expect(dayToCheck({}, new Date('2026-01-01T00:30:00+09:00'), 'Asia/Tokyo')).toBe('2025-12-31');
    expect(dayToCheck({ day: '2026-02-28' }, new Date(0), 'Asia/Tokyo')).toBe('2026-02-28');
    expect(() => dayToCheck({ day: "2026-02-28' OR 1=1 --" }, new Date(0), 'Asia/Tokyo')).toThrow(InvalidMonitorEventError);
    expect(() => dayToCheck({ scheduledTime: 'soon' }, new Date(0), 'Asia/Tokyo')).toThrow(InvalidMonitorEventError);
  });
});

describe('handler', () => {
  const KEY = 'arn:aws:kms:ap-northeast-1:123456789012:key/record-mac';
  const ENV = {
    WORKGROUP: 'stack-investigation',
    DATABASE: 'db',
    APP_TIME_ZONE: 'Asia/Tokyo',
    METRIC_NAMESPACE: 'ScheduledJobs/ParamLog',
    POWERTOOLS_SERVICE_NAME: 'lost-task-monitor',
    QUERY_DEADLINE_SECONDS: '5',
    AWS_REGION: 'ap-northeast-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    RECORD_MAC_KEY_ID: KEY,
  };
  let handler: typeof import('../lambdas/lost-task-monitor/handler').handler;
  let kms: KmsStandin;
  const saved = { ...process.env };
  /** Candidate rows as Athena returns them: header, then text (the monitor verifies each with VerifyMac). */
  const HEADER = ['source', 'type', 'time', 'task_id', 'module', 'params', 'result', 'error', 'cause', 'execution_arn', 'attempt', 'scheduled_time', 'failed_state', 'mac'];
  const datum = (v: string | null | undefined) => (v === null || v === undefined ? {} : { VarCharValue: v });
  const candidateResult = (records: Array<[string, ParamLogRecord]>) => ({
    ResultSet: {
      Rows: [
        { Data: HEADER.map((h) => ({ VarCharValue: h })) },
        ...records.map(([source, r]) => ({ Data: [source, r.type, r.time, r.task_id, r.module, r.params, r.result, r.error, r.cause, r.execution_arn, String(r.attempt), r.scheduled_time, r.failed_state, r.mac].map(datum) })),
      ],
    },
  });
  const envelopeOf = (taskId: string) => ({ v: 1 as const, taskId, job: 'example-api', key: taskId, params: { a: 1 }, attempt: 1, scheduledTime: '2026-04-01T00:00:00.000Z' });
  beforeAll(async () => {
    kms = await startKmsStandin();
    Object.assign(process.env, ENV, { AWS_ENDPOINT_URL_KMS: kms.endpoint });
    // Plain require (not isolateModules) so the handler shares the mocked Athena client class.
    handler = require('../lambdas/lost-task-monitor/handler').handler;
  });
  afterAll(async () => {
    process.env = saved;
    await kms.stop();
  });

  function captureStdout(): { lines: () => string[]; restore: () => void } {
    const out: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => (out.push(String(chunk)), true));
    return { lines: () => out.join('').split('\n').filter(Boolean), restore: () => spy.mockRestore() };
  }

  test('publishes LostTasks and ForgedRecords with exactly the dimensions the alarms watch', async () => {
    athena.on(GetQueryExecutionCommand).resolves(state(QueryExecutionState.SUCCEEDED));
    const now = new Date('2026-04-01T03:00:00Z');
    const key = kms.keyOf(KEY);
    const started = await Promise.all(['t-1', 't-2', 't-3'].map((t) => signRecord(buildClientRecord({ envelope: envelopeOf(t), result: 'Started', now, timeZone: 'Asia/Tokyo' }), key)));
    const genuineEnd = await signRecord(buildWorkerRecord({ envelope: envelopeOf('t-1'), now, timeZone: 'Asia/Tokyo', executionArn: null }), key);
    const forgedEnd = buildWorkerRecord({ envelope: envelopeOf('t-2'), now, timeZone: 'Asia/Tokyo', executionArn: null });
    athena.on(GetQueryResultsCommand).resolves(candidateResult([...started.map((r): [string, ParamLogRecord] => ['client', r]), ['worker', genuineEnd], ['worker', forgedEnd]]));
    const cap = captureStdout();
    try {
      await expect(handler({ scheduledTime: '2026-04-01T21:30:00Z' })).resolves.toEqual({ day: '2026-04-01', lost: 2, forged: 1 });
    } finally {
      cap.restore();
    }
    const emf = cap.lines().map((l) => JSON.parse(l)).find((o) => o._aws);
    expect(emf).toBeDefined();
    const m = emf._aws.CloudWatchMetrics[0];
    expect(m.Namespace).toBe('ScheduledJobs/ParamLog');
    expect(m.Metrics).toEqual([expect.objectContaining({ Name: 'LostTasks' }), expect.objectContaining({ Name: 'ForgedRecords' })]);
    // The alarm (lib/investigation/lost-task-monitor.ts) uses { service, WorkGroup }: they must match exactly.
    expect([...m.Dimensions[0]].sort()).toEqual(['WorkGroup', 'service']);
    expect(emf.service).toBe('lost-task-monitor');
    expect(emf.WorkGroup).toBe('stack-investigation');
    expect(emf.LostTasks).toBe(2);
    expect(emf.ForgedRecords).toBe(1);
    expect(athena).toHaveReceivedCommandWith(StartQueryExecutionCommand, { QueryString: LOST_TASK_CANDIDATES_SQL, ExecutionParameters: ["'2026-04-01'", "'2026-03-31'", "'2026-04-01'", "'2026-04-02'", "'2026-04-01'"] });
  });

  test('a failed query makes the invocation fail and publishes no metric', async () => {
    athena.on(GetQueryExecutionCommand).resolves(state(QueryExecutionState.FAILED, { AthenaError: { ErrorMessage: 'Access denied' } }));
    const cap = captureStdout();
    try {
      await expect(handler({ day: '2026-03-31' })).rejects.toThrow(LostTaskQueryFailedError);
    } finally {
      cap.restore();
    }
    expect(cap.lines().some((l) => l.includes('"LostTasks"') || l.includes('"ForgedRecords"'))).toBe(false);
  });
});
