import { Logger } from '@aws-lambda-powertools/logger';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dynamoStepIdempotency } from '../lambdas/shared/step-idempotency';
import { startLocalDynamo } from '../local/dynamodb-local';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { OfflineReport } from '../local/offline-day/run';
import type * as CanaryModule from '../local/offline-day/canary';
import type * as ReportModule from '../local/offline-day/report';
import type * as StepModule from '../lambdas/shared/step';

// As `npm start -- --canary` does before anything loads (local/offline-day/canary-env.ts): the
// handlers' Powertools logger and metrics are built at import with every level and metrics on.
process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
process.env.POWERTOOLS_METRICS_DISABLED = 'false';
/* eslint-disable @typescript-eslint/no-require-imports */
const { runOfflineDay } = require('../local/offline-day/run') as typeof import('../local/offline-day/run');
const { CanaryRecorder, canaryOk } = require('../local/offline-day/canary') as typeof CanaryModule;
const { reportOk, renderText } = require('../local/offline-day/report') as typeof ReportModule;
const { createStepHandler } = require('../lambdas/shared/step') as typeof StepModule;
const { STEP_RECORDS_FILE_PREFIX } = require('../local/offline-day/canary') as typeof CanaryModule;
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * The canary (docs/offline-day.md, "The canary"): three simulated hours of `--faults outside` with
 * its faults moved close together (as test/offline-outside.test.ts: a stopped execution, one past
 * its timeout, a producer that fails its ticks and is re-run, the fan-out's failing part, the API's
 * maintenance held and replayed, a permanent API refusal), the canary in every task's params and so
 * in the example steps' error messages. Nothing outside the lock may hold it; the inside must.
 */
const CANARY = 'CANARY-t3st9k';

describe('offline run with --canary (3 simulated hours, faults outside)', () => {
  let out: string;
  let report: OfflineReport;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'offline-canary-'));
    report = await runOfflineDay({
      projectRoot: resolve(__dirname, '..'),
      outDir: out,
      hours: 3,
      seed: 3,
      faults: 'outside',
      startDay: '2026-11-25',
      faultPlanOverrides: { maintenance: { startMinute: 60, endMinute: 120 }, slowAt: null, stopAt: '00:10', stallAt: '00:20', producerFailAt: '00:30' },
      canary: CANARY,
    });
  }, 180_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('drove the error paths of the day (so the canary met every sink it could)', () => {
    expect(report.outside).toMatchObject({ stopped: 1, aborted: 1, timedOut: 1 });
    expect(report.outside.failedTicks.length).toBeGreaterThan(0);
    expect(Object.keys(report.spooledByError)).toEqual(expect.arrayContaining(['ExecutionAborted', 'ExecutionTimedOut', 'DependencyOnHold']));
  });

  it('finds the canary 0 times outside the lock, in every sink, and the run is OK', () => {
    const c = report.canary!;
    expect(c.leaks).toEqual([]);
    for (const sink of ['logs', 'metrics.ndjson', 'traces.ndjson', 'state-machine-logs.ndjson', 'events.ndjson', 'dynamodb.ndjson', 'sqs-attributes.ndjson', 'sqs-bodies-outside-lock.ndjson', 'cli-output.json', 'seal keys (any sink)']) expect(c.outside[sink]).toBe(0);
    expect(c.outsideTotal).toBe(0);
    // Each sink was really recorded (a sink that stayed empty would prove nothing).
    // sqs-attributes: every message sent during the run, not only those left at the end.
    for (const sink of ['logs', 'metrics.ndjson', 'traces.ndjson', 'state-machine-logs.ndjson', 'events.ndjson', 'dynamodb.ndjson', 'sqs-attributes.ndjson']) expect(c.recorded[sink]).toBeGreaterThan(0);
    expect(reportOk(report)).toBe(true);
    expect(renderText(report)).toContain(`CANARY "${CANARY}": outside the lock 0`);
  });

  it('the uncaught errors were logged as the runtime logs them: name kept, message withheld', () => {
    const traces = readFileSync(join(out, 'outside', 'traces.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { cause: { exceptions: Array<{ type: string; message: string }> } });
    const types = new Set(traces.map((t) => t.cause.exceptions[0].type));
    expect([...types]).toEqual(expect.arrayContaining(['ExternalApiUnavailableError', 'TransientError']));
    expect(traces.some((t) => /message withheld/.test(t.cause.exceptions[0].message))).toBe(true);
  });

  it('finds the canary inside the lock: the parameter log, the queues, and the full error text in worker records and spool messages', () => {
    const c = report.canary!;
    expect(c.inside['param-log records']).toBeGreaterThan(0);
    expect(c.inside['queue bodies']).toBeGreaterThan(0);
    expect(c.inside['worker records: opened error text']).toBeGreaterThan(0);
    expect(c.inside['spool messages: sealed error text']).toBeGreaterThan(0);
    expect(canaryOk(c)).toBe(true);
    expect(existsSync(join(out, 'canary.json'))).toBe(true);
  });

  it('keeps the step records inside the lock: every one in inside/, none among the coordination items outside', () => {
    const files = readdirSync(join(out, 'inside')).filter((f) => f.startsWith(STEP_RECORDS_FILE_PREFIX));
    expect(files).toHaveLength(1);
    const records = readFileSync(join(out, 'inside', files[0]), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { item: { pk: { S: string } } });
    expect(records.length).toBeGreaterThan(0);
    for (const r of records) expect(r.item.pk.S).toMatch(/^idem#/);
    const outside = readFileSync(join(out, 'outside', 'dynamodb.ndjson'), 'utf8');
    expect(outside).not.toContain('idem#');
  });
});

describe('the canary detector', () => {
  const task = { v: 1 as const, taskId: 'j-20260101T0000Z-k', job: 'j', key: 'k', params: { name: 'LEAK-d3t3ct' }, attempt: 1, scheduledTime: '2026-01-01T00:00:00.000Z' };
  const base = { holds: null, dependency: null, stepName: 'S', env: {} };

  it('catches a step that logs its params and a handler that lets a raw error out; a safe step leaves nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'canary-detector-'));
    try {
      const rec = new CanaryRecorder('LEAK-d3t3ct', dir);
      rec.start();
      try {
        const logger = new Logger({ serviceName: 'leaky-step', logLevel: 'DEBUG' });
        const leaky = createStepHandler(({ task: t, logger: l }) => (l.info('calling the API', { params: t.params }), null), { ...base, logger });
        await leaky({ task, previous: null });
        const raw = rec.wrap('RawFunction', async () => {
          throw new Error(`no customer ${task.params.name}`);
        });
        await raw({}, { awsRequestId: 'r-1' }).catch(() => undefined);
        const safe = rec.wrap(
          'SafeStep',
          createStepHandler(() => {
            throw new Error(`no customer ${task.params.name}`);
          }, base) as never,
        );
        await safe({ task, previous: null }, { awsRequestId: 'r-2' }).catch(() => undefined);
      } finally {
        rec.stop();
      }
      const c = rec.finish({});
      expect(canaryOk(c)).toBe(false);
      // The step's log line (1), the runtime's Invoke Error line of RawFunction (its message, and the
      // stack's first line that repeats it: 2).
      expect(c.outside.logs).toBe(3);
      expect(c.outside['traces.ndjson']).toBe(2); // message and stack[0] of RawFunction's error
      expect(c.leaks.sort()).toEqual(['outside/logs/RawFunction.log', 'outside/logs/leaky-step.log', 'outside/state-machine-logs.ndjson', 'outside/traces.ndjson']);
      // The safe step failed too: its lines are there, without the canary.
      expect(readFileSync(join(dir, 'outside', 'logs', 'SafeStep.log'), 'utf8')).toMatch(/Invoke Error/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('catches an envelope outside (its seal key opens the task\'s error texts) even without the canary in it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'canary-seal-'));
    try {
      const rec = new CanaryRecorder('LEAK-d3t3ct', dir);
      rec.start();
      try {
        new Logger({ serviceName: 'envelope-logger' }).info('task', { task: { ...task, params: {}, seal: 'k'.repeat(43) } });
      } finally {
        rec.stop();
      }
      const c = rec.finish({});
      expect(c.outside['seal keys (any sink)']).toBe(1);
      expect(canaryOk(c)).toBe(false);
      expect(c.leaks).toEqual(['outside/logs/envelope-logger.log']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts a step output that holds the canary inside when its table is the step-results table, and as a leak when a table outside holds it', async () => {
    const dynamo = await startLocalDynamo();
    const dirs: string[] = [];
    try {
      await dynamo.createTable('Coordination');
      await dynamo.createTable('StepResults');
      // A step whose output holds personal data (the canary), recorded as idempotent steps record it.
      const steps = dynamoStepIdempotency({ tableName: 'StepResults', client: dynamo.client });
      await steps.run({ job: 'j', key: 't#S', input: null, remainingMs: () => 10_000 }, async () => ({ holder: 'LEAK-d3t3ct' }));
      const snapshot = async (split: { tables: string[]; insideTables: string[] }) => {
        const dir = mkdtempSync(join(tmpdir(), 'canary-steps-'));
        dirs.push(dir);
        const rec = new CanaryRecorder('LEAK-d3t3ct', dir);
        await rec.snapshot({ dynamo: dynamo.client, ...split, sqs: {} as never, queueNames: [], executions: [], events: [] });
        return rec.finish({});
      };
      const inside = await snapshot({ tables: ['Coordination'], insideTables: ['StepResults'] });
      expect(inside.outside['dynamodb.ndjson']).toBe(0);
      expect(inside.inside['step records']).toBe(1);
      expect(canaryOk(inside)).toBe(true);
      const outside = await snapshot({ tables: ['Coordination', 'StepResults'], insideTables: [] });
      expect(outside.outside['dynamodb.ndjson']).toBe(1);
      expect(outside.leaks).toEqual(['outside/dynamodb.ndjson']);
      expect(canaryOk(outside)).toBe(false);
    } finally {
      await dynamo.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });
});
