import { ReverseHistoryScan } from '../lambdas/execution-capture/history';
import { HistoryBuilder } from './support/history-builder';

// The shape of example-fanout: a lock, a Lambda step, a map, a parallel group.
const JOB = { steps: ['ListParts', 'ProcessParts', 'Summarize'] };
const envelope = { v: 1, taskId: 't-1', job: 'example-fanout', key: 'k', params: { account: 'a', parts: 2 }, attempt: 1, scheduledTime: '2026-11-25T03:00:00.000Z' };
const parts = { parts: [{ part: 0 }, { part: 1 }] };

function scan(events: HistoryBuilder, pageSize = 1000) {
  const s = new ReverseHistoryScan(JOB);
  const all = events.reversed();
  let pages = 0;
  for (let i = 0; i < all.length; i += pageSize) {
    pages++;
    if (s.add(all.slice(i, i + pageSize))) break;
  }
  return { facts: s.facts(), pages };
}

/** Start of every history: lock taken, routed, ListParts done. */
function upToTheMap(): HistoryBuilder {
  return new HistoryBuilder()
    .started(envelope)
    .task('AcquireLock', envelope, envelope)
    .entered('Choice', 'Route', envelope)
    .exited('Choice', 'Route', envelope)
    .task('ListParts', envelope, { output: parts });
}

test('inside a map: the enclosing step, given the previous step\'s output; nested states are skipped', () => {
  const h = upToTheMap()
    .entered('Map', 'ProcessParts', { output: parts })
    .other('MapIterationStarted', { mapIterationStartedEventDetails: { name: 'ProcessParts', index: 0 } })
    .task('ProcessPart', { task: envelope, index: 0, output: { value: { part: 0 } } }, { part: 0 })
    .entered('Pass', 'ProcessParts-End', {})
    .entered('Task', 'ProcessPart', { task: envelope, index: 1, output: { value: { part: 1 } } })
    .other('ExecutionAborted');
  const { facts } = scan(h);
  expect(facts).toMatchObject({ phase: 'inStep', lastState: 'ProcessParts', failedState: 'ProcessParts', stepInput: parts, spooledByWorkflow: false, complete: true });
  // It stopped at the map's entry: the earlier events were not needed.
  expect(facts.eventsRead).toBe(h.events.length - 7); // the 7 events before the map were not read
});

test('in the first step: stepInput is null (a replay starts over)', () => {
  const h = new HistoryBuilder().started(envelope).task('AcquireLock', envelope, envelope).entered('Choice', 'Route', envelope).exited('Choice', 'Route', envelope).entered('Task', 'ListParts', envelope).other('ExecutionTimedOut');
  expect(scan(h).facts).toMatchObject({ phase: 'inStep', failedState: 'ListParts', stepInput: null });
});

test('waiting for the lock: AcquireLock, nothing to resume', () => {
  const h = new HistoryBuilder().started(envelope).entered('Task', 'AcquireLock', envelope).other('ExecutionAborted');
  expect(scan(h).facts).toMatchObject({ phase: 'beforeSteps', failedState: 'AcquireLock', stepInput: null });
});

test('nothing entered: notStarted, complete once ExecutionStarted is reached', () => {
  const h = new HistoryBuilder().started(envelope).other('ExecutionAborted');
  expect(scan(h).facts).toMatchObject({ phase: 'notStarted', failedState: null, stepInput: null, lastState: null, complete: true });
});

test('entering a resumed step: the step and the envelope\'s resume input', () => {
  const resumed = { ...envelope, attempt: 2, resume: { step: 'Summarize', input: [{ part: 0 }] } };
  const h = new HistoryBuilder().started(resumed).task('AcquireLock', resumed, resumed).entered('Choice', 'Route', resumed).exited('Choice', 'Route', resumed).entered('Pass', 'Summarize-Resume', resumed).other('ExecutionAborted');
  expect(scan(h).facts).toMatchObject({ phase: 'beforeSteps', failedState: 'Summarize', stepInput: [{ part: 0 }] });
});

test('a resumed execution inside its resumed step: that step, given the resume input', () => {
  const resumed = { ...envelope, attempt: 2, resume: { step: 'Summarize', input: [{ part: 0 }] } };
  const h = new HistoryBuilder()
    .started(resumed)
    .task('AcquireLock', resumed, resumed)
    .entered('Choice', 'Route', resumed)
    .exited('Choice', 'Route', resumed)
    .entered('Pass', 'Summarize-Resume', resumed)
    .exited('Pass', 'Summarize-Resume', { output: [{ part: 0 }] })
    .entered('Parallel', 'Summarize', { output: [{ part: 0 }] })
    .entered('Task', 'Aggregate', {})
    .other('ExecutionTimedOut');
  expect(scan(h).facts).toMatchObject({ phase: 'inStep', failedState: 'Summarize', stepInput: [{ part: 0 }] });
});

test('on the failure path before spooling: the caught failure names the step and its input', () => {
  const caught = { failedState: 'ProcessParts', stepInput: parts, caught: { Error: 'TransientError', Cause: 'part 1' } };
  const h = upToTheMap()
    .entered('Map', 'ProcessParts', { output: parts })
    .entered('Pass', 'ProcessParts-Caught', { output: parts, caught: { Error: 'TransientError', Cause: 'part 1' } })
    .exited('Pass', 'ProcessParts-Caught', caught)
    .task('ReleaseLockAfterFailure', caught, caught)
    .entered('Task', 'SpoolFailure', caught)
    .other('ExecutionAborted');
  const { facts } = scan(h);
  expect(facts).toMatchObject({ phase: 'failurePath', lastState: 'SpoolFailure', failedState: 'ProcessParts', stepInput: parts, spooledByWorkflow: false });
  expect(facts.caught).toEqual({ failedState: 'ProcessParts', stepInput: parts, error: 'TransientError', cause: 'part 1' });
});

test('after SpoolFailure succeeded (RecordFailure entered), the task counts as spooled by the workflow', () => {
  const caught = { failedState: 'ListParts', stepInput: null, caught: { Error: 'E', Cause: 'c' } };
  const h = new HistoryBuilder()
    .started(envelope)
    .entered('Task', 'ListParts', envelope)
    .exited('Pass', 'ListParts-Caught', caught)
    .task('SpoolFailure', caught, { ...caught, spooled: { MessageId: 'm' } })
    .entered('Task', 'RecordFailure', caught)
    .other('ExecutionAborted');
  expect(scan(h).facts).toMatchObject({ spooledByWorkflow: true, phase: 'failurePath' });
});

test('the SpoolUnavailable end: the failure it could not spool, and whether its record was written', () => {
  const su = { failedState: 'ListParts', stepInput: null, caught: { Error: 'E', Cause: 'c' }, spoolError: { Error: 'SQS.Boom', Cause: 'down' } };
  const base = () =>
    new HistoryBuilder()
      .started(envelope)
      .entered('Task', 'ListParts', envelope)
      .exited('Pass', 'ListParts-Caught', su)
      .entered('Task', 'SpoolFailure', su)
      .entered('Pass', 'SpoolFailure-Caught', { ...su, spoolError: { Error: 'SQS.Boom', Cause: 'down' } })
      .exited('Pass', 'SpoolFailure-Caught', su)
      .entered('Task', 'RecordSpoolUnavailable', su);
  const recorded = scan(base().exited('Task', 'RecordSpoolUnavailable', su).entered('Pass', 'MarkSpoolUnavailable', su).entered('Fail', 'SpoolUnavailable', {}).other('ExecutionFailed')).facts;
  expect(recorded).toMatchObject({ phase: 'failurePath', spoolUnavailable: su, spoolUnavailableRecorded: true, spooledByWorkflow: false });
  const notRecorded = scan(base().entered('Pass', 'MarkSpoolUnavailable', { ...su, recordError: { Error: 'Error', Cause: 'firehose down' } }).entered('Fail', 'SpoolUnavailable', {}).other('ExecutionFailed')).facts;
  expect(notRecorded).toMatchObject({ spoolUnavailable: su, spoolUnavailableRecorded: false });
  // Stopped while recording: not known to be written.
  expect(scan(base().other('ExecutionAborted')).facts.spoolUnavailableRecorded).toBe(false);
});

test('after every step: afterSteps, and whether RecordSuccess ran', () => {
  const done = () => upToTheMap().task('ProcessParts', { output: parts }, { output: [] }).task('Summarize', { output: [] }, { output: [] });
  expect(scan(done().entered('Task', 'ReleaseLock', {}).other('ExecutionAborted')).facts).toMatchObject({ phase: 'afterSteps', failedState: 'ReleaseLock', successRecordStarted: false });
  expect(scan(done().task('ReleaseLock', {}, {}).entered('Task', 'RecordSuccess', {}).other('ExecutionAborted')).facts).toMatchObject({ phase: 'afterSteps', successRecordStarted: true });
});

test('pages: the scan reads only as many as it needs', () => {
  const h = upToTheMap().entered('Map', 'ProcessParts', { output: parts });
  for (let i = 0; i < 40; i++) h.task('ProcessPart', { index: i }, { part: i });
  h.other('ExecutionAborted');
  const { facts, pages } = scan(h, 10);
  expect(facts.failedState).toBe('ProcessParts');
  // 1 end + 80 nested + the map's entry = 82 events: 9 pages of 10.
  expect(pages).toBe(9);
  expect(facts.eventsRead).toBe(82);
});

test('a history cut short (no anchor, no start) is reported incomplete', () => {
  const s = new ReverseHistoryScan(JOB);
  const h = new HistoryBuilder();
  for (let i = 0; i < 5; i++) h.task('ProcessPart', { index: i }, {});
  expect(s.add(h.reversed())).toBe(false);
  expect(s.facts()).toMatchObject({ complete: false, failedState: null, phase: 'notStarted' });
});

test('unreadable state data does not break the scan', () => {
  const h = new HistoryBuilder().started(envelope).other('TaskStateEntered', { stateEnteredEventDetails: { name: 'ProcessParts', input: '{not json' } }).other('ExecutionAborted');
  expect(scan(h).facts).toMatchObject({ failedState: 'ProcessParts', stepInput: null });
});
