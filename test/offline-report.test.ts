import { emptyCounts } from '../local/offline-day/accounting';
import { failureReasons, renderHtml, renderText, reportOk, stillSpooledCell, windowLine } from '../local/offline-day/report';
import { OfflineReport } from '../local/offline-day/run';

/** The offline report page: what a person reads after `npm start`. */
const hour = (h: number, over: Partial<OfflineReport['hourly'][number]> = {}) => ({
  hour: `2026-11-25 ${String(h).padStart(2, '0')}`,
  tasks: 36,
  retries: 0,
  spooled: 0,
  replayed: 0,
  spoolDepth: 40,
  maintenance: false,
  held: false,
  ...over,
});
const report = (over: Partial<OfflineReport> = {}): OfflineReport =>
  ({
    from: '2026-11-24T15:00:00.000Z',
    to: '2026-11-24T18:00:00.000Z',
    timeZone: 'Asia/Tokyo',
    seed: 1,
    faults: 'default',
    hold: 'operator',
    plan: {},
    wallMs: 1000,
    ticks: 36,
    tasks: 108,
    executions: 110,
    succeededFirstTry: 100,
    recoveredByRetry: 0,
    retries: 0,
    spooledByError: {},
    replayed: 0,
    replayRounds: [],
    stillSpooled: { total: 8, byError: { ExternalApiRejectedError: 8 }, taskIds: [] },
    quarantined: 0,
    lost: 0,
    lostTaskIds: [],
    duplicates: 0,
    startFailed: 0,
    records: { client: 108, worker: 110 },
    filesPerPartition: {},
    queries: { lostTasksByDay: [{ day: '2026-11-25', lost: 0 }], dailyCounts: [] },
    api: {},
    hourly: [hour(0), hour(1, { maintenance: true, held: true, spoolDepth: 400 }), hour(2)],
    jobs: {
      'example-api': { ...emptyCounts(), ticks: 36, tasks: 100, succeededFirstTry: 92, stillSpooled: { total: 8, byError: { ExternalApiRejectedError: 8 }, taskIds: [] } },
      'example-fanout': { ...emptyCounts(), ticks: 3, tasks: 8, succeededFirstTry: 8 },
    },
    window: { dependencies: ['orders-api'], window: '01:00-04:00', hold: 'operator', callsIntoWindow: 0, retriesDuringWindow: 0, executionsInWindow: 36, heldHours: 1 },
    outside: { stopped: 0, aborted: 0, timedOut: 0, captures: { alreadySpooled: 10 }, captureFailures: 0, failedTicks: [], producerErrors: 0, failedInvocationsLeft: 0 },
    operator: { holds: [], stops: [], failedInvocationRuns: [], reruns: [] },
    unfinished: [],
    ...over,
  }) as unknown as OfflineReport;

test('the page title names the period in the app time zone, not UTC', () => {
  expect(renderHtml(report())).toContain('<title>Offline run 2026-11-25 00:00 .. 2026-11-25 02:59 Asia/Tokyo</title>');
});

test('the still-spooled cell gives the count once', () => {
  expect(stillSpooledCell(report())).toBe('8 (ExternalApiRejectedError)');
  expect(stillSpooledCell(report({ stillSpooled: { total: 10, byError: { A: 8, B: 2 }, taskIds: [] } }))).toBe('10 (A 8, B 2)');
  expect(stillSpooledCell(report({ stillSpooled: { total: 0, byError: {}, taskIds: [] } }))).toBe('0');
});

test('every chart marks the maintenance and hold hours above its bars, one bar per hour of the period', () => {
  const html = renderHtml(report());
  const charts = html.split('<h3>').slice(1);
  expect(charts).toHaveLength(5);
  for (const c of charts) {
    expect(c.match(/API maintenance<\/title>/g)).toHaveLength(1);
    expect(c.match(/dependency on hold<\/title>/g)).toHaveLength(1);
    // Bands are drawn after the bars, so a full-height bar cannot hide them.
    expect(c.indexOf('API maintenance')).toBeGreaterThan(c.lastIndexOf(':00  '));
    expect(c.match(/:00 {2}\d+<\/title>/g)).toHaveLength(3);
  }
});

test('the text and the page give each job its own column of counts, and the sum', () => {
  const text = renderText(report());
  const row = (label: string) => text.split('\n').find((l) => l.trimStart().startsWith(label))!.trim().split(/\s{2,}/);
  expect(row('tasks')).toEqual(['tasks', '108', '100', '8']);
  expect(row('still spooled')).toEqual(['still spooled', '8', '8', '0']);
  expect(row('accounted for')).toEqual(['accounted for', '108 of 108', '100 of 100', '8 of 8']);
  const html = renderHtml(report());
  expect(html).toContain('<tr><th></th><th>all jobs</th><th>example-api</th><th>example-fanout</th></tr>');
  expect(html).toContain('<tr><th>tasks</th><td>108</td><td>100</td><td>8</td></tr>');
});

test('the window line says who held it and what reached the API', () => {
  expect(windowLine(report())).toBe('maintenance window 01:00-04:00 (orders-api), held by the operator: calls into the window 0, retries during it 0, executions in it 36, hours on hold 1');
  const open = report({ window: { dependencies: ['orders-api'], window: '01:00-04:00', hold: 'none', callsIntoWindow: 540, retriesDuringWindow: 432, executionsInWindow: 108, heldHours: 0 } });
  expect(windowLine(open)).toContain('not held: calls into the window 540, retries during it 432');
  expect(windowLine(report({ window: null }))).toBeNull();
});

test('a tick Lambda dropped after its retries fails the run: its tasks never existed', () => {
  const dropped = { job: 'example-api', tick: '2026-11-25T00:30:00Z', attempts: 3, outcome: 'dropped' as const, rerun: null, startedOnce: 0, startedTwice: 0, injected: true, errors: ['TransientError', 'TransientError', 'TransientError'] };
  expect(reportOk(report())).toBe(true);
  expect(reportOk(report({ outside: { ...report().outside, failedTicks: [dropped] } }))).toBe(false);
  expect(reportOk(report({ outside: { ...report().outside, failedTicks: [{ ...dropped, outcome: 'kept' }] } }))).toBe(true);
});

test('a tick that failed on its own (not injected by the fault profile) fails the run, even kept for a re-run or recovered by a retry', () => {
  const failed = { job: 'billing', tick: '2026-11-25T00:30:00Z', attempts: 3, outcome: 'kept' as const, rerun: null, startedOnce: 0, startedTwice: 0, injected: false, errors: ['GetParameterError', 'GetParameterError', 'GetParameterError'] };
  for (const outcome of ['kept', 'succeeded'] as const) {
    const r = report({ outside: { ...report().outside, failedTicks: [{ ...failed, outcome }] } });
    expect(reportOk(r)).toBe(false);
    expect(failureReasons(r)).toEqual([`billing tick 2026-11-25T00:30:00Z failed (3 attempts, ${outcome}), not a fault the profile injected`]);
    expect(renderText(r)).toContain('RESULT: FAILED: billing tick 2026-11-25T00:30:00Z failed');
    expect(renderHtml(r)).toContain('FAILED: billing tick');
  }
  expect(failureReasons(report())).toEqual([]);
});

test('an HTTP call no job stub answered fails the run and is named', () => {
  const r = report({ stubs: { jobs: ['billing'], httpCalls: {}, unhandledHttp: ['GET https://api.example.com/x'], secretReads: {} } });
  expect(reportOk(r)).toBe(false);
  expect(failureReasons(r)).toEqual(['HTTP call with no stub: GET https://api.example.com/x']);
});
