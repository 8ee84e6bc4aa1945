/** The operator CLI's pure parts: summary counts, the failed step from a history, output keys, task ids. */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { HistoryEvent } from '@aws-sdk/client-sfn';
import { failedStateOf, parseTaskId } from '../cli/commands/task';
import { formatSummary, summaryCounts } from '../cli/reprocess';
import { replayPayload, tickPayload } from '../cli/commands/replay';
import { OPERATOR_OUTPUTS, stateMachineOutputKey } from '../lib/operator-outputs';
import { taskIdFor } from '../lambdas/shared/names';

describe('reprocess summary', () => {
  const summary = {
    source: 'spool',
    dryRun: false,
    from: 'failed-step',
    started: 4,
    alreadyStarted: 1,
    skipped: 2,
    invalid: 0,
    failed: 1,
    wouldStart: 0,
    notAttempted: 0,
    deleteFailed: 0,
    remaining: 12,
    stoppedBecause: 'max',
    throttleEvents: 3,
    durationMs: 2500,
    // Counts a newer reprocess function adds: printed without a CLI change.
    held: 5,
    resumedFromFailedStep: 2,
    items: [{ taskId: 't1', job: 'j', error: 'E', outcome: 'failed', reason: 'StartExecution: AccessDenied' }],
  };

  test('every numeric field except remaining/duration is a count; known ones first, new ones after', () => {
    expect(summaryCounts(summary)).toEqual([
      ['wouldStart', 0],
      ['started', 4],
      ['alreadyStarted', 1],
      ['held', 5],
      ['invalid', 0],
      ['skipped', 2],
      ['failed', 1],
      ['notAttempted', 0],
      ['deleteFailed', 0],
      ['throttleEvents', 3],
      ['resumedFromFailedStep', 2],
    ]);
  });

  test('the table shows the new counts, what is left and the items with their reason', () => {
    const text = formatSummary(summary);
    expect(text).toContain('Replay, from failed-step, stopped because max, 2.5 s');
    expect(text).toMatch(/held\s+5/);
    expect(text).toMatch(/resumedFromFailedStep\s+2/);
    expect(text).toContain('Left in the spool: 12');
    expect(text).toMatch(/t1\s+j\s+E\s+failed\s+StartExecution: AccessDenied/);
  });
});

describe('summaries of the other sources', () => {
  test('quarantine drop: says so, counts dropped, lists message ids', () => {
    const text = formatSummary({
      source: 'quarantine',
      dryRun: false,
      from: 'failed-step',
      started: 0,
      dropped: 2,
      wouldDrop: 0,
      skipped: 1,
      remaining: 3,
      stoppedBecause: 'empty',
      durationMs: 100,
      items: [
        { messageId: 'm-1', taskId: 't1', job: 'j', error: 'InvalidTaskSpec', outcome: 'dropped', reason: 'InvalidTaskSpec: bad' },
        { messageId: 'm-other', taskId: 't9', job: 'k', error: 'DuplicateTaskKey', outcome: 'skipped', reason: 'not selected' },
      ],
    });
    expect(text).toContain('Drop from the quarantine, stopped because empty');
    expect(text).not.toContain('from failed-step');
    expect(text).toMatch(/dropped\s+2/);
    expect(text).toContain('Left in the quarantine: 3');
    expect(text).toMatch(/m-1\s+t1\s+j\s+InvalidTaskSpec\s+dropped\s+InvalidTaskSpec: bad/);
    // A message outside the selection is counted, never listed with its id among those handled
    // (an operator copying the ids into --drop --message-id would drop it).
    expect(text).not.toContain('m-other');
    expect(text).toContain('1 message(s) seen and left in place: not selected by the filters');
    expect(text).toContain('First 1 message(s) handled:');
  });

  test('failed invocations: only the counts of the action taken; a producer\'s tick, other functions\' payload keys', () => {
    const text = formatSummary({
      source: 'failedInvocations',
      dryRun: true,
      drop: false,
      reinvoked: 0,
      wouldReinvoke: 2,
      dropped: 0,
      wouldDrop: 0,
      remaining: 2,
      stoppedBecause: 'empty',
      items: [
        { messageId: 'a', function: 'producer:x', condition: 'RetriesExhausted', errorType: 'E', tick: '2026-11-25T03:00:00Z', replan: true, outcome: 'wouldReinvoke' },
        { messageId: 'b', function: 'executionCapture', condition: 'EventAgeExceeded', errorType: null, payloadKeys: ['detail', 'source'], outcome: 'wouldReinvoke' },
      ],
    });
    expect(text).toContain('Dry run of the re-run of failed invocations (nothing invoked, deleted or moved)');
    expect(text).toMatch(/wouldReinvoke\s+2/);
    expect(text).not.toMatch(/dropped/);
    expect(text).toMatch(/a\s+producer:x\s+RetriesExhausted\s+E\s+2026-11-25T03:00:00Z \(replan\)\s+wouldReinvoke/);
    expect(text).toMatch(/b\s+executionCapture\s+EventAgeExceeded\s+-\s+detail,source\s+wouldReinvoke/);
  });

  test('tick: what was sent, the producer\'s answer, and what to do when it planned nothing or failed', () => {
    const planned = formatSummary({ source: 'tick', dryRun: false, job: 'x', tick: '2026-11-25T03:00:00.000Z', replan: false, function: 'producer:x', outcome: 'invoked', producer: { tick: '20261125T0300Z', outcome: 'alreadyPlanned', tasks: 3 } });
    expect(planned).toContain('Re-run of tick 2026-11-25T03:00:00.000Z of x (producer:x): invoked');
    expect(planned).toMatch(/outcome\s+alreadyPlanned/);
    expect(planned).toContain('add --replan');
    const failed = formatSummary({ source: 'tick', dryRun: false, job: 'x', tick: 't', replan: true, function: 'producer:x', outcome: 'failed', producer: null, error: 'InvalidProducerOutput' });
    expect(failed).toContain('Replan of tick t of x (producer:x): failed');
    expect(failed).toContain('The producer failed: InvalidProducerOutput');
  });
});

describe('replay payload', () => {
  const jobs = new Set(['example-api']);
  test('only given options are sent, numbers as numbers', () => {
    expect(replayPayload({}, jobs)).toEqual({});
    expect(replayPayload({ dryRun: true, max: '50', concurrency: '5', job: 'example-api', olderThan: '2h' }, jobs)).toEqual({ dryRun: true, max: 50, concurrency: 5, job: 'example-api', olderThan: '2h' });
  });
  test('a number that is not one is a usage error naming the flag', () => {
    expect(() => replayPayload({ max: '10k' }, jobs)).toThrow('--max must be a whole number, got "10k"');
  });
});

describe('failed step from the execution history', () => {
  // Shapes as GetExecutionHistory returns them (ids increase; each event points at the previous one).
  const events: HistoryEvent[] = [
    { id: 1, type: 'ExecutionStarted', timestamp: new Date(), previousEventId: 0 },
    { id: 2, type: 'TaskStateEntered', timestamp: new Date(), previousEventId: 1, stateEnteredEventDetails: { name: 'Fetch' } },
    { id: 3, type: 'TaskScheduled', timestamp: new Date(), previousEventId: 2 },
    { id: 4, type: 'TaskSucceeded', timestamp: new Date(), previousEventId: 3 },
    { id: 5, type: 'TaskStateExited', timestamp: new Date(), previousEventId: 4 },
    { id: 6, type: 'TaskStateEntered', timestamp: new Date(), previousEventId: 5, stateEnteredEventDetails: { name: 'CallApi' } },
    { id: 7, type: 'TaskScheduled', timestamp: new Date(), previousEventId: 6 },
    { id: 8, type: 'TaskStarted', timestamp: new Date(), previousEventId: 7 },
    { id: 9, type: 'TaskFailed', timestamp: new Date(), previousEventId: 8, taskFailedEventDetails: { error: 'ExternalApiUnavailableError', resource: 'invoke', resourceType: 'lambda' } },
    { id: 10, type: 'TaskStateExited', timestamp: new Date(), previousEventId: 9 },
    { id: 11, type: 'TaskStateEntered', timestamp: new Date(), previousEventId: 10, stateEnteredEventDetails: { name: 'SpoolFailure' } },
    { id: 12, type: 'FailStateEntered', timestamp: new Date(), previousEventId: 11, stateEnteredEventDetails: { name: 'Failed' } },
    { id: 13, type: 'ExecutionFailed', timestamp: new Date(), previousEventId: 12 },
  ];
  test('the state of the newest task failure, whatever order the page came in', () => {
    expect(failedStateOf(events)).toBe('CallApi');
    expect(failedStateOf([...events].reverse())).toBe('CallApi');
  });
  test('no task failure: unknown', () => {
    expect(failedStateOf(events.slice(0, 5))).toBeNull();
  });
});

describe('task ids', () => {
  test('job and tick come back from an id built by the shared taskIdFor', () => {
    const tick = new Date('2026-11-25T03:05:00.000Z');
    expect(parseTaskId(taskIdFor('example-api', tick, 'order/42'))).toEqual({ job: 'example-api', tick });
    expect(parseTaskId('no-tick-here')).toBeNull();
  });
});

describe('OperatorOutputs', () => {
  test('state machine output keys are unique where PascalCase is not', () => {
    expect(stateMachineOutputKey('a-1')).not.toBe(stateMachineOutputKey('a1'));
    expect(stateMachineOutputKey('example-api')).toMatch(/^OperatorStateMachineExampleApi[0-9a-f]{8}$/);
  });

  test('the app stack declares every output the CLI reads, under its fixed key', async () => {
    const { fixtureConfig } = await import('./support/fixture-config');
    const { resolveConfig } = await import('../lib/config/validate');
    const { ScheduledJobsStack } = await import('../lib/scheduled-jobs-stack');
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
    const stack = new ScheduledJobsStack(app, 'OutputsTest', { config: resolveConfig(fixtureConfig, { stage: 'dev' }), projectRoot: `${__dirname}/..` });
    const outputs = Template.fromStack(stack, { skipCyclicalDependenciesCheck: true }).toJSON().Outputs as Record<string, { Value: unknown }>;
    for (const key of Object.values(OPERATOR_OUTPUTS)) expect(outputs).toHaveProperty(key);
    for (const job of ['example-api', 'example-fanout']) {
      const sm = stack.workflows.get(job)!.stateMachine;
      expect(stack.resolve(outputs[stateMachineOutputKey(job)].Value)).toEqual(stack.resolve((sm as sfn.StateMachine).stateMachineArn));
    }
    expect(stack.resolve(outputs[OPERATOR_OUTPUTS.spoolQueueUrl].Value)).toEqual(stack.resolve(stack.spool.queue.queueUrl));
    expect(stack.resolve(outputs[OPERATOR_OUTPUTS.coordinationTableName].Value)).toEqual(stack.resolve(stack.coordination.table.tableName));
    expect(Stack.of(stack).resolve(outputs[OPERATOR_OUTPUTS.athenaWorkGroup].Value)).toBe('OutputsTest-investigation');
  });
});

describe('replay and tick payloads of the other sources', () => {
  const jobs = new Set(['example-api']);
  test('--source maps to the payload\'s source; the spool is the default and not sent', () => {
    expect(replayPayload({ source: 'spool' }, jobs)).toEqual({});
    expect(replayPayload({ source: 'quarantine', taskId: ['t1,t2'], force: true }, jobs)).toEqual({ source: 'quarantine', force: true, taskIds: ['t1', 't2'] });
    expect(replayPayload({ source: 'failed-invocations', function: ['producer:example-api', 'sweeper'], drop: true, max: '3' }, jobs)).toEqual({
      source: 'failedInvocations',
      drop: true,
      functions: ['producer:example-api', 'sweeper'],
      max: 3,
    });
    expect(replayPayload({ source: 'quarantine', messageId: ['m1'], drop: true, dryRun: true }, jobs)).toEqual({ source: 'quarantine', dryRun: true, drop: true, messageIds: ['m1'] });
    // A producer tick older than 42 days is re-run from the failed-invocations queue only when named with --force.
    expect(replayPayload({ source: 'failed-invocations', messageId: ['m1'], force: true }, jobs)).toEqual({ source: 'failedInvocations', force: true, messageIds: ['m1'] });
  });
  test.each([
    [{ drop: true }, '--drop does not apply to --source spool'],
    [{ source: 'failed-invocations', force: true }, '--force re-runs a producer tick older than 42 days only for the records you name'],
    [{ source: 'spool', force: true }, '--force does not apply to --source spool'],
    [{ source: 'quarantine', force: true, job: 'example-api' }, '--force replays past spool.maxReplays or the 42-day tick age only the tasks you name'],
    [{ source: 'quarantine', function: ['sweeper'] }, '--function does not apply to --source quarantine'],
    [{ source: 'failed-invocations', taskId: ['t'] }, '--task-id does not apply to --source failed-invocations'],
    [{ source: 'dlq' }, 'Unknown --source "dlq"'],
  ])('%j is a usage error: %s', (o, message) => {
    expect(() => replayPayload(o as never, jobs)).toThrow(message);
  });
  test('tick rerun: job and tick required, replan and dry run only when given', () => {
    expect(tickPayload({ job: 'example-api', tick: '20261125T0300Z' }, jobs)).toEqual({ source: 'tick', job: 'example-api', tick: '20261125T0300Z' });
    expect(tickPayload({ job: 'example-api', tick: 't', replan: true, dryRun: true }, jobs)).toEqual({ source: 'tick', job: 'example-api', tick: 't', replan: true, dryRun: true });
    // tick rerun --force: a tick older than 42 days (the function refuses it otherwise).
    expect(tickPayload({ job: 'example-api', tick: 't', force: true }, jobs)).toEqual({ source: 'tick', job: 'example-api', tick: 't', force: true });
    expect(() => tickPayload({ tick: 't' }, jobs)).toThrow('tick rerun needs --job');
    expect(() => tickPayload({ job: 'example-api' }, jobs)).toThrow('tick rerun needs --tick');
    expect(() => tickPayload({ job: 'nope', tick: 't' }, jobs)).toThrow('Unknown job "nope"');
  });
});
