/**
 * The fault matrix as data: one row per fault the system must survive (issue 8's list, the faults
 * already covered elsewhere, and the features' own failure modes), with where the task ends, where
 * the operator sees it and what they do. docs/fault-matrix.md shows this table (rendered by
 * {@link renderMatrixTable}); test/fault-matrix/matrix.test.ts fails when a row has no case, a case
 * has no row, or the document and this data disagree.
 */

/** Where a task ends. `succeeded`: once; `spooled`: in the error spool, replayable (each case replays it and it then succeeds, once); `quarantined`: with its reason, never replayed. */
export type Outcome = 'succeeded' | 'spooled' | 'quarantined';

export interface FaultRow {
  /** Stable id; the case is `faultCase('<id>', ...)` in {@link FaultRow.file}. */
  readonly id: string;
  /** The fault, as the operator would name it. */
  readonly fault: string;
  /** Where the fault is listed: `8.n` (issue 8), `covered` (already covered by component tests), `feature` (a feature's own failure mode), `aws` (AWS's documented behaviour, issue 17: docs/aws-promises.md). */
  readonly listed: string;
  readonly outcome: Outcome;
  /** The end state in a few words (error names, message kind, what the replay does). */
  readonly detail: string;
  /** Where the operator sees it: the alarm, queue, report or record. */
  readonly seen: string;
  /** What the operator does. */
  readonly action: string;
  /** The test file holding its case (relative to test/fault-matrix/). */
  readonly file: string;
}

const W = 'workflow.test.ts';
const E = 'execution-ends.test.ts';
const R = 'replay.test.ts';
const T = 'ticks.test.ts';
const S = 'side-effects.test.ts';
const A = 'aws-world.test.ts';
const H = 'high-volume.test.ts';

const REPLAY = 'Fix the cause, then `scheduled-jobs replay --dry-run`, then replay (docs/reprocess.md)';
/** Deleting a quarantined message for good, through reprocess (docs/runbook.md, "Read the quarantine"); a `--dry-run` lists the ids. */
const DROP = '`scheduled-jobs replay --source quarantine --drop --message-id <id>`';
/** Re-planning a tick after a producer fix (docs/runbook.md, "Re-run a tick"), then dropping its old Rejected messages. */
const REPLAN = `\`scheduled-jobs tick rerun --job <job> --tick <tick> --replan\`, then drop the old message: ${DROP}`;
/** {@link REPLAY} after another instruction. */
const THEN_REPLAY = 'then `scheduled-jobs replay --dry-run`, then replay (docs/reprocess.md)';

export const FAULT_MATRIX: ReadonlyArray<FaultRow> = [
  {
    id: 'retryable-error',
    fault: 'A step fails with a retryable error (API 503 twice)',
    listed: 'covered',
    outcome: 'succeeded',
    detail: "the step's Retry recovers it; one execution, one Success record",
    seen: 'nothing pages; retries show in the execution history and the step\'s ErrorRate metric',
    action: 'Nothing',
    file: W,
  },
  {
    id: 'non-retryable-error',
    fault: 'A step fails with a non-retryable error (API 422)',
    listed: 'covered',
    outcome: 'spooled',
    detail: 'no retry; spooled as ExecutionFailed at the step; the replay resumes there',
    seen: 'SpoolNotEmpty alarm; worker record Failure; `scheduled-jobs status`',
    action: REPLAY,
    file: W,
  },
  {
    id: 'step-timeout',
    fault: "A step's state times out (States.Timeout: its Lambda never answered)",
    listed: 'covered',
    outcome: 'spooled',
    detail: 'not retried; spooled as ExecutionFailed (States.Timeout), worker record TimedOut',
    seen: 'SpoolNotEmpty alarm; worker record TimedOut',
    action: REPLAY,
    file: W,
  },
  {
    id: 'step-keeps-running',
    fault: 'A step would run past its timeout (a hung call)',
    listed: '8.10',
    outcome: 'spooled',
    detail: "the handler's own deadline aborts the call and fails with StepTimeoutError before the state's timeout; spooled; the replay succeeds and the order is accepted once",
    seen: 'SpoolNotEmpty alarm; worker record TimedOut; the step\'s ErrorRate alarm if it persists',
    action: `Find why the dependency is slow and fix it, ${THEN_REPLAY}`,
    file: W,
  },
  {
    id: 'map-item-failure',
    fault: 'One item of a map keeps failing',
    listed: 'feature',
    outcome: 'spooled',
    detail: 'the task is spooled once with the map as the failed step; the replay resumes at the map, not before it',
    seen: 'SpoolNotEmpty alarm; worker record Failure (failed state = the map)',
    action: REPLAY,
    file: W,
  },
  {
    id: 'dependency-on-hold',
    fault: 'A dependency is on hold (operator switch or planned window)',
    listed: 'feature',
    outcome: 'spooled',
    detail: 'DependencyOnHold without calling it; reprocess leaves it spooled (held) while held; replayed after unhold',
    seen: '`scheduled-jobs hold` (the switch); spool messages with errorType DependencyOnHold; reprocess summary `held`',
    action: '`scheduled-jobs unhold <dependency>`, then `scheduled-jobs replay --error-type DependencyOnHold`',
    file: W,
  },
  {
    id: 'lock-busy',
    fault: 'The exclusive key is locked by another task of the same key',
    listed: 'feature',
    outcome: 'spooled',
    detail: 'waits (AcquireLock retries up to exclusiveWaitSeconds), then spooled with LockBusy; replayed once the other task released the lock',
    seen: 'SpoolNotEmpty alarm; errorType LockBusy',
    action: 'Look at the task holding the key (`scheduled-jobs task`); replay once it has finished',
    file: W,
  },
  {
    id: 'spool-unreachable',
    fault: 'The spool cannot be reached when a step fails',
    listed: '8.2',
    outcome: 'spooled',
    detail: 'SpoolFailure retries (~8 min), then the execution ends SpoolUnavailable; the status-change capture spools it as ExecutionEnded with the step\'s original error',
    seen: 'SpoolNotEmpty alarm once captured; worker record with the spool error',
    action: `Fix the spool (queue policy, key), ${THEN_REPLAY}`,
    file: W,
  },
  {
    id: 'alarm-reaches-nobody',
    fault: 'An alarm fires but its topic refuses CloudWatch',
    listed: '8.6',
    outcome: 'spooled',
    detail: "the failed task's SpoolNotEmpty alarm is in ALARM and its action topic lets CloudWatch publish (IAM engine); the task replays",
    seen: 'the alarm topic (e-mail / chat subscribers)',
    action: 'Confirm the subscription; the topic policy is the stack\'s (docs/security.md)',
    file: W,
  },
  {
    id: 'execution-aborted',
    fault: 'Someone stops an execution (StopExecution, console)',
    listed: '8.1',
    outcome: 'spooled',
    detail: 'ABORTED; the capture spools ExecutionEnded (ExecutionAborted) at the step it was in, writes an Aborted record and keeps its lock until the step\'s Lambda may have run out (end + longest step timeout); the replay resumes there',
    seen: 'SpoolNotEmpty alarm; worker record Aborted',
    action: REPLAY,
    file: E,
  },
  {
    id: 'execution-timed-out',
    fault: 'An execution passes its execution timeout',
    listed: '8.1',
    outcome: 'spooled',
    detail: 'TIMED_OUT; the capture spools ExecutionEnded (ExecutionTimedOut) at the step it was in, TimedOut record, lock kept until the step\'s Lambda may have run out',
    seen: 'SpoolNotEmpty alarm; worker record TimedOut',
    action: `Find what was slow and fix it, ${THEN_REPLAY}`,
    file: E,
  },
  {
    id: 'uncatchable-error',
    fault: 'An error no Catch takes (States.Runtime)',
    listed: '8.1',
    outcome: 'spooled',
    detail: "FAILED without the spooled marker; the capture spools ExecutionEnded with the execution's own error",
    seen: 'SpoolNotEmpty alarm; worker record Failure (States.Runtime)',
    action: 'Fix the step whose output did not fit the next state, then replay from the start (`scheduled-jobs replay --task-id <id> --from start`): resuming would reuse the bad output',
    file: E,
  },
  {
    id: 'data-limit-exceeded',
    fault: 'A step returns more than 256 KiB (States.DataLimitExceeded)',
    listed: '8.1',
    outcome: 'spooled',
    detail: 'FAILED, uncatchable; the capture spools ExecutionEnded; the replay resumes at the step once it returns less (the engine cannot raise it: the world applies the quota)',
    seen: 'SpoolNotEmpty alarm; worker record Failure (States.DataLimitExceeded)',
    action: `Make the step return a reference (an S3 key), not the data, ${THEN_REPLAY}`,
    file: E,
  },
  {
    id: 'replay-next-to-redrive',
    fault: 'A replay while the ended execution was redriven from the console',
    listed: '8.8',
    outcome: 'succeeded',
    detail: 'reprocess finds it RUNNING: alreadyHandled, message deleted, nothing started; the redrive succeeds, once',
    seen: 'reprocess summary `alreadyHandled`',
    action: 'Nothing; let the redrive finish',
    file: E,
  },
  {
    id: 'reprocess-crash',
    fault: 'Reprocess dies between StartExecution and the delete',
    listed: 'covered',
    outcome: 'succeeded',
    detail: 'the message comes back; the next run is refused the same name (alreadyStarted) and deletes it; the task ran once',
    seen: 'reprocess summary `deleteFailed`, then `alreadyStarted`',
    action: 'Run the replay again',
    file: R,
  },
  {
    id: 'reprocess-concurrent',
    fault: 'Two reprocess runs at once',
    listed: 'covered',
    outcome: 'succeeded',
    detail: 'each message is handled by one run (visibility) or refused the second start (deterministic names); every task ran once',
    seen: 'the two summaries (`started` + `alreadyStarted`)',
    action: 'Nothing (reserved concurrency 1 makes it rare)',
    file: R,
  },
  {
    id: 'malformed-message',
    fault: 'A spool message that is not a spool message (cut, not JSON)',
    listed: 'covered',
    outcome: 'quarantined',
    detail: 'quarantined with reason "body is not JSON", never started; dropped by its message id',
    seen: 'QuarantineNotEmpty alarm; the message\'s `reason` attribute',
    action: `Read it; it can never run as is: ${DROP}`,
    file: R,
  },
  {
    id: 'forged-message',
    fault: 'A forged spool message (it claims a task of a tick that has not run yet)',
    listed: 'feature',
    outcome: 'quarantined',
    detail: 'quarantined with a reason starting "may be forged", nothing started under the name it claims; dropped by its message id',
    seen: 'QuarantineNotEmpty alarm; `reason` attribute',
    action: `Find who can send to the spool (queue policy, CloudTrail); ${DROP}`,
    file: R,
  },
  {
    id: 'replay-limit',
    fault: 'A task keeps failing after spool.maxReplays replays',
    listed: 'covered',
    outcome: 'quarantined',
    detail: 'each replay fails and is spooled again; the one past maxReplays is quarantined "too many replays"; replayed with force (after the fix) it succeeds once, under the next attempt\'s name',
    seen: 'QuarantineNotEmpty alarm; `reason` attribute; worker records of every attempt',
    action: 'Find out why and fix it, then `scheduled-jobs replay --source quarantine --task-id <id> --force`',
    file: R,
  },
  {
    id: 'redrive-mode',
    fault: 'An operator asks for the removed redrive mode',
    listed: '8.9',
    outcome: 'spooled',
    detail: 'InvalidPayloadError before anything is touched (a redrive of a caught failure re-enters the Fail state); the task stays spooled and replays normally',
    seen: 'the invoke\'s error message',
    action: 'Replay (resume at the failed step is the default `from`)',
    file: R,
  },
  {
    id: 'spool-expiry',
    fault: 'A spooled failure is about to pass SQS retention',
    listed: '8.5',
    outcome: 'spooled',
    detail: 'the sweeper re-sends it with its first send time (firstSentAt) before expiry; still replayable, and age filters see its real age',
    seen: 'OldestFailure-spool alarm (first sent more than spool.alertAfterDays ago)',
    action: REPLAY,
    file: R,
  },
  {
    id: 'deploy-while-waiting',
    fault: 'A deploy changes the job while failures wait in the spool',
    listed: 'covered',
    outcome: 'spooled',
    detail: 'the replay runs the definition deployed now, resuming at the failed step (a step added after it runs too)',
    seen: 'reprocess summary `resumed`',
    action: REPLAY,
    file: R,
  },
  {
    id: 'step-removed-by-deploy',
    fault: 'The failed step no longer exists after a deploy (renamed or removed)',
    listed: 'feature',
    outcome: 'spooled',
    detail: 'not started silently: the dry run and the run count it `unknownResumeStep` (the step named in `items`) and leave it spooled; replayed `from: start` on request, every step runs again (new step records)',
    seen: 'reprocess summary `unknownResumeStep` and `items[].unknownResumeStep`',
    action: 'Decide whether the earlier steps may run again; if so `scheduled-jobs replay --task-id <id> --from start`, else leave it spooled',
    file: R,
  },
  {
    id: 'start-throttled',
    fault: 'StartExecution is throttled during a tick',
    listed: 'covered',
    outcome: 'succeeded',
    detail: 'the starters wait (shared rate gate); nothing is spooled, every task started once',
    seen: 'metric StartThrottleEvents; TickStarter backlog alarm if it lasts an hour',
    action: 'Nothing; if it lasts, raise the quota and `startExecutionQuota`',
    file: T,
  },
  {
    id: 'producer-crash',
    fault: "A producer fails mid-tick and Lambda's async retries are exhausted",
    listed: '8.4',
    outcome: 'succeeded',
    detail: "the failed-invocations queue keeps the tick's payload; reprocess re-invokes the producer with it and deletes the record (a re-run that fails again leaves a new one); the re-run resumes from the ledger: every task starts once, rejected specs are not quarantined twice",
    seen: 'the producer\'s Errors alarm (FunctionAlarms); OldestFailure-failedInvocations alarm',
    action: 'Fix the cause, then `scheduled-jobs replay --source failed-invocations --function producer:<job>` (`--dry-run` first)',
    file: T,
  },
  {
    id: 'firehose-failure',
    fault: 'Firehose refuses some client records after the starts (partial PutRecordBatch failure)',
    listed: '8.4',
    outcome: 'succeeded',
    detail: 'the sink re-sends the refused records, then fails the checkpoint; the batch is retried: the starts are answered as existing and recorded Duplicate; the lost-task query still sees every started task',
    seen: 'starter metric BatchesFailed and its log "batch failed: it returns to the queue"; the tick dead-letter alarm if it keeps failing; Duplicate client records',
    action: 'Nothing; Duplicate means "already existed", never "ran twice"',
    file: T,
  },
  {
    id: 'rejected-spec',
    fault: 'A duplicate key or an invalid spec in one tick',
    listed: '8.7',
    outcome: 'quarantined',
    detail: 'Rejected with its reason, never started; after the producer fix a re-plan starts it once (tasks started before are refused by name: Duplicate) and the old messages are dropped',
    seen: 'QuarantineNotEmpty alarm; Rejected client record; `reason` attribute',
    action: `Fix the producer, then ${REPLAN}`,
    file: T,
  },
  {
    id: 'envelope-too-large',
    fault: "A task's envelope is larger than the workflow's input budget",
    listed: '8.3',
    outcome: 'quarantined',
    detail: 'the producer rejects it (EnvelopeTooLarge) with the size; the rest of the tick runs; after the fix a re-plan starts it once (the budget itself: test/state-size.test.ts)',
    seen: 'QuarantineNotEmpty alarm; Rejected client record',
    action: `Make the producer pass references (S3 keys), not the data, then ${REPLAN}`,
    file: T,
  },
  {
    id: 'replay-resumed-at-map',
    fault: 'A replay resumed at a map whose other items had succeeded',
    listed: 'feature',
    outcome: 'spooled',
    detail: 'every item\'s Lambda is called again; the items that succeeded answer from their step records, only the failed item runs: 4 parts applied once each (duplicatedSideEffects 0)',
    seen: 'SpoolNotEmpty alarm; worker record Failure (failed state = the map); step logs `outcome: recorded`',
    action: REPLAY,
    file: S,
  },
  {
    id: 'replay-resumed-at-group',
    fault: 'A replay resumed at a parallel group one of whose branches had succeeded',
    listed: 'feature',
    outcome: 'spooled',
    detail: 'both branches\' Lambdas run again; the branch that succeeded answers from its record, the failed one runs (duplicatedSideEffects 0)',
    seen: 'SpoolNotEmpty alarm; worker record Failure (failed state = the group)',
    action: REPLAY,
    file: S,
  },
  {
    id: 'step-redelivered',
    fault: 'A step invocation delivered twice (at once, or again after a lost answer)',
    listed: 'feature',
    outcome: 'succeeded',
    detail: 'the second call waits for the first one\'s record (or finds it) and returns its result; each part applied once (duplicatedSideEffects 0)',
    seen: 'nothing pages; step logs `outcome: recorded`',
    action: 'Nothing',
    file: S,
  },
  {
    id: 'stopped-step-overlaps-replay',
    fault: 'An execution stopped while its step Lambda keeps running, replayed at once (overlap)',
    listed: 'feature',
    outcome: 'spooled',
    detail: 'ABORTED, spooled by the capture at the step; the replay\'s step finds the running call\'s record in progress, waits for it and returns its result: the order is accepted once (an exclusive job\'s lock is kept until then as well)',
    seen: 'SpoolNotEmpty alarm; worker record Aborted',
    action: REPLAY,
    file: S,
  },
  {
    id: 'status-event-dropped',
    fault: 'A status-change event is never delivered (EventBridge: best effort) for an execution that ended outside the Catch',
    listed: 'aws',
    outcome: 'spooled',
    detail: 'ABORTED and no event: the capture never runs, nothing is spooled; the reconciler\'s next run lists the ended execution and captures it (ExecutionEnded at the step); replayed once. Relies on the reconciler (`FAULT_MATRIX_RECONCILER=off`: the task stays unspooled, the row fails)',
    seen: 'SpoolNotEmpty alarm once reconciled; reconciler metric ReconcileCaptured; worker record Aborted',
    action: REPLAY,
    file: A,
  },
  {
    id: 'status-event-late-and-twice',
    fault: 'A status-change event arrives late (after the reconciler captured the execution), and twice',
    listed: 'aws',
    outcome: 'spooled',
    detail: 'the reconciler spools it; both late copies find its capture mark `done` and spool nothing: one spool message, one Aborted record. Relies on the capture marks (`FAULT_MATRIX_CAPTURE_MARKS=off`: three messages, the row fails)',
    seen: 'SpoolNotEmpty alarm; one spool message',
    action: REPLAY,
    file: A,
  },
  {
    id: 'producer-invoked-twice',
    fault: 'Lambda delivers an asynchronous invoke of a producer twice (at least once), after the first run ended and its batch was started',
    listed: 'aws',
    outcome: 'succeeded',
    detail: 'the second run finds the tick planned in the tick ledger and enqueues nothing; a ledger that forgot it (`FAULT_MATRIX_TICK_LEDGER=off`) plans and enqueues the tick again, and the starter\'s second starts are answered with the running executions (deterministic names): every task runs once, each order is accepted once. Relies on the tick ledger or the deterministic names, each alone holds it (`FAULT_MATRIX_TICK_LEDGER=off` with `FAULT_MATRIX_DETERMINISTIC_NAMES=off`: two executions per task, the row fails). A step is invoked synchronously (RequestResponse): its double delivery is `step-redelivered`',
    seen: 'nothing pages; Duplicate client records if the second run enqueued again',
    action: 'Nothing',
    file: A,
  },
  {
    id: 'scheduler-tick-twice',
    fault: 'EventBridge Scheduler delivers one tick twice, at the same time (at least once)',
    listed: 'aws',
    outcome: 'succeeded',
    detail: 'two producer runs of one tick at once: their claims of the tick meet on its lease in the tick ledger, so one plans and the other is `busy` and enqueues nothing; a second start would be answered with the running execution (deterministic names). Every task runs once, each order is accepted once. Relies on the ledger\'s leases or the deterministic names, each alone holds it (`FAULT_MATRIX_LEDGER_LEASES=off` with `FAULT_MATRIX_DETERMINISTIC_NAMES=off`: both runs plan and enqueue, the starter takes both copies of the batch, two executions per task, the row fails; the same with `FAULT_MATRIX_TICK_LEDGER=off` as well). The ledger\'s memory of planned ticks does not carry it, the runs overlap (with the memory off and the leases on, the row passes)',
    seen: 'nothing pages',
    action: 'Nothing',
    file: A,
  },
  {
    id: 'tick-batch-delivered-twice',
    fault: 'SQS delivers every tick-queue batch twice to the starter (at least once)',
    listed: 'aws',
    outcome: 'succeeded',
    detail: 'the second delivery finds the batch done in the tick ledger (or is refused the same execution names); each task ran once, each part applied once. Relies on the ledger or the names (`FAULT_MATRIX_TICK_LEDGER=off` with `FAULT_MATRIX_DETERMINISTIC_NAMES=off`: two executions per task, the row fails)',
    seen: 'Duplicate client records',
    action: 'Nothing; Duplicate means "already existed", never "ran twice"',
    file: A,
  },
  {
    id: 'spool-message-delivered-twice',
    fault: 'SQS delivers a copy of a spool message (at least once): the same failure twice in the spool',
    listed: 'aws',
    outcome: 'spooled',
    detail: 'both messages replay under the same deterministic name: Step Functions answers the second start with the running execution (same name and input), so one replay runs, both messages are deleted and the order is accepted once. Relies on the deterministic names (`FAULT_MATRIX_DETERMINISTIC_NAMES=off`: two replays, the row fails)',
    seen: 'SpoolNotEmpty alarm; reprocess summary `started` + `alreadyStarted`',
    action: REPLAY,
    file: A,
  },
  {
    id: 'step-outlives-execution-timeout',
    fault: 'An execution times out while a map item\'s Lambda runs; the Lambda runs on and applies its side effect after the end',
    listed: 'aws',
    outcome: 'spooled',
    detail: 'TIMED_OUT, captured; the lock is kept for the Lambda that runs on (leasedAfterEnd); the replay resumes at the map and finds the late part\'s record: 3 parts applied once each. Relies on the step records (`FAULT_MATRIX_STEP_RECORDS=off`: parts applied twice)',
    seen: 'SpoolNotEmpty alarm; worker record TimedOut',
    action: REPLAY,
    file: A,
  },
  {
    id: 'retry-waits-with-jitter',
    fault: 'A step is retried (API down three times) with the synthesized Retry waits, on a simulated clock',
    listed: 'aws',
    outcome: 'succeeded',
    detail: 'the engine computes each wait from the synthesized retrier (IntervalSeconds x BackoffRate^(n-1), MaxDelaySeconds, JitterStrategy FULL); each is within its bound and jittered below it, and each call comes at least its wait after the previous one. Relies on the retry policy\'s jitter (`FAULT_MATRIX_RETRY_JITTER=off`: no JitterStrategy, the row fails)',
    seen: 'nothing pages; retries in the execution history',
    action: 'Nothing',
    file: A,
  },
  {
    id: 'history-limit-overflow',
    fault: 'A map run passes the execution history quota (25,000 events) because its items retried (each of 8 parts failed 3 times)',
    listed: 'aws',
    outcome: 'spooled',
    detail: 'FAILED States.Runtime outside the Catch, captured at the map; the replay resumes at the map under the same limit and does not overflow; parts applied once. The limit is scaled to a clean run\'s history (the fixture cannot reach 25,000; synth refuses a map that overflows without retries: lib/config/history-budget.ts). Relies on the capture and the step records (`FAULT_MATRIX_STEP_RECORDS=off`: the parts that had succeeded are applied again)',
    seen: 'SpoolNotEmpty alarm; worker record Failure (States.Runtime); synth warning when retries could overflow',
    action: 'Lower the map\'s maxItems or its items\' retries if it recurs, then `scheduled-jobs replay --dry-run`, then replay (docs/reprocess.md)',
    file: A,
  },
  {
    id: 'firehose-discards-after-24h',
    fault: 'The parameter log\'s bucket refuses Firehose deliveries for more than 24 hours',
    listed: 'aws',
    outcome: 'succeeded',
    detail: 'the task runs once; Firehose retries, then discards its client and worker records (nothing under `errors/`). The DeliveryLate alarm (data freshness, from the template) fires within an hour, long before the discard; after it the lost-task monitor cannot see these tasks (it joins on the discarded client records). Relies on that alarm (lib/observability.ts); no switch: without it the row finds no freshness alarm and fails',
    seen: 'DeliveryLate and DeliveryFailing alarms on the stream',
    action: 'Fix the bucket or its key within 24 h (docs/runbook.md); after a discard, check the tasks of those hours by their executions',
    file: A,
  },
  {
    id: 'hv-child-twice',
    fault: 'High-volume mode: Step Functions runs every Express child of the Map Run twice (at least once)',
    listed: 'aws',
    outcome: 'succeeded',
    detail: "both runs of a child call its steps; the second run's steps answer from their step records: 45 tasks succeeded, each side effect applied once. Relies on the step records (`FAULT_MATRIX_STEP_RECORDS=off`: every side effect applied twice, the row fails)",
    seen: 'nothing pages',
    action: 'Nothing',
    file: H,
  },
  {
    id: 'hv-child-timeout',
    fault: 'High-volume mode: an Express child is ended at its five minutes (TIMED_OUT after its first step)',
    listed: 'aws',
    outcome: 'spooled',
    detail: "the child's items neither finish nor reach their Catch; the parent's SpoolFailedChildren (map-failures) reads the ResultWriter files and spools each item ExecutionTimedOut; the replay runs each once in the standard workflow. Relies on the post-map step (`FAULT_MATRIX_POST_MAP_STEP=off`: nothing spooled, the items are lost, the row fails)",
    seen: 'SpoolNotEmpty alarm; worker record TimedOut',
    action: REPLAY,
    file: H,
  },
  {
    id: 'hv-parent-start-503',
    fault: "High-volume mode: Step Functions answers a parent's StartExecution 503 beyond the batch starter's retries",
    listed: 'aws',
    outcome: 'spooled',
    detail: "no parent starts; the batch starter spools each task of the part StartFailed (ServiceUnavailable) naming the job's standard state machine and records it; the replay starts each once there",
    seen: 'SpoolNotEmpty alarm; batch starter metric TasksStartFailed; StartFailed client records',
    action: REPLAY,
    file: H,
  },
  {
    id: 'hv-batch-twice',
    fault: 'High-volume mode: SQS delivers every tick-queue batch twice to the batch starter (at least once)',
    listed: 'aws',
    outcome: 'succeeded',
    detail: "the tick ledger finds the batch done; without it (`FAULT_MATRIX_TICK_LEDGER=off`) the same parent names come back and Step Functions answers them with the running parent (or ExecutionAlreadyExists: Duplicate). One parent per part, each task's records name one parent, side effects once",
    seen: 'nothing pages; Duplicate client records when the names refused it',
    action: 'Nothing; Duplicate means "already existed", never "ran twice"',
    file: H,
  },
];

const OUTCOME_TEXT: Record<Outcome, string> = {
  succeeded: 'succeeded (once)',
  spooled: 'spooled, replayable',
  quarantined: 'quarantined',
};

/** The table docs/fault-matrix.md shows (Markdown; pipes in cells escaped). */
export function renderMatrixTable(rows: ReadonlyArray<FaultRow> = FAULT_MATRIX): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const lines = ['| fault | outcome | where the operator sees it | what they do | case |', '|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${cell(r.fault)} | **${OUTCOME_TEXT[r.outcome]}**: ${cell(r.detail)} | ${cell(r.seen)} | ${cell(r.action)} | \`${r.id}\` (${r.listed}) |`);
  return lines.join('\n');
}

/** The row of an id (throws for an unknown id, so a case cannot name a row that does not exist). */
export function rowOf(id: string): FaultRow {
  const row = FAULT_MATRIX.find((r) => r.id === id);
  if (!row) throw new Error(`no fault-matrix row "${id}" (test/fault-matrix/matrix.ts)`);
  return row;
}

/** A matrix case: a jest test named after its row (`[id] fault -> outcome`). */
export function faultCase(id: string, fn: () => Promise<void>, timeoutMs = 30_000): void {
  const row = rowOf(id);
  test(`[${id}] ${row.fault} -> ${OUTCOME_TEXT[row.outcome]}`, fn, timeoutMs);
}
