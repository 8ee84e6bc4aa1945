import { PROOF_DEPENDENCY, PROOF_STEPS } from '../../lib/config/proof-job';
import { LOST_TASKS, lostTaskParams, nextDay, previousDay, TASK_BY_ID } from '../../lambdas/shared/queries';
import { zonedParts } from '../../lambdas/shared/param-log';
import { runSavedQuery } from '../athena';
import { writeSwitch } from '../holds';
import { alarmsScenario } from './alarms';
import { ProveDriver } from './driver';

/**
 * The scenarios `scheduled-jobs prove` drives (docs/prove.md). Each checks its outcome with AWS's
 * own APIs (DescribeExecution, GetExecutionHistory, ListExecutions, the spool through SQS, the
 * saved Athena query) and returns PASS/FAIL with the evidence; `awsOnly` names what only the real
 * account can decide (the offline run cannot: its stand-ins promise no more than AWS documents).
 */

export interface ScenarioResult {
  readonly scenario: string;
  readonly pass: boolean;
  /** What was checked and what was seen. */
  readonly checks: ReadonlyArray<{ readonly check: string; readonly ok: boolean; readonly seen: string }>;
  /** Execution ARNs, message ids, query ids. */
  readonly evidence: Readonly<Record<string, string | ReadonlyArray<string>>>;
  readonly awsOnly: ReadonlyArray<string>;
  readonly error?: string;
  /** Wall time of the scenario, ms. */
  readonly durationMs: number;
}

export interface Scenario {
  readonly name: string;
  readonly title: string;
  readonly awsOnly: ReadonlyArray<string>;
  run(d: ProveDriver, r: Recorder): Promise<void>;
}

/** Collects a scenario's checks and evidence. */
export class Recorder {
  readonly checks: Array<{ check: string; ok: boolean; seen: string }> = [];
  readonly evidence: Record<string, string | string[]> = {};
  check(check: string, ok: boolean, seen: string): boolean {
    this.checks.push({ check, ok, seen });
    return ok;
  }
  note(key: string, value: string | string[]): void {
    this.evidence[key] = value;
  }
}

const IAM_KMS = 'IAM of the real roles and SCPs of the account; KMS encryption of the spool and executions with the params key';

const succeed: Scenario = {
  name: 'succeed',
  title: 'a tick that succeeds',
  awsOnly: [IAM_KMS, 'EventBridge Scheduler\'s own delivery (the prover ticks through reprocess, as `tick rerun` does)', 'real Lambda cold starts and StartExecution quotas'],
  async run(d, r) {
    const [t] = await d.plan([{ scenario: 'succeed', params: { behaviour: 'succeed' } }]);
    const tick = await d.runTick(t.tick);
    r.check('the producer planned the tick', (tick.producer as { tasks?: number } | null)?.tasks === 1, JSON.stringify(tick.producer));
    const arn = t.executionArn(1);
    r.note('execution', arn);
    const end = await d.waitEnded(arn);
    r.check('the execution SUCCEEDED', end.status === 'SUCCEEDED', end.status);
  },
};

const transient: Scenario = {
  name: 'transient',
  title: 'a transient failure recovers by retry',
  awsOnly: [IAM_KMS, 'real retry waits with full jitter (the offline run skips them)'],
  async run(d, r) {
    const [t] = await d.plan([{ scenario: 'transient', params: { behaviour: 'transient', failTimes: 1 } }]);
    await d.runTick(t.tick);
    const arn = t.executionArn(1);
    r.note('execution', arn);
    const end = await d.waitEnded(arn);
    r.check('the execution SUCCEEDED', end.status === 'SUCCEEDED', end.status);
    const calls = await d.calls(t.taskId, 1, PROOF_STEPS.act);
    r.check(`${PROOF_STEPS.act} ran twice (failed once, retried once)`, calls === 2, `${calls} calls`);
  },
};

const replay: Scenario = {
  name: 'replay',
  title: 'a permanent failure is parked in the spool with its input and resumed at the failed step by a replay',
  awsOnly: [IAM_KMS, 'the reprocess role\'s kms:Decrypt of the spool and StartExecution in the real account'],
  async run(d, r) {
    const [t] = await d.plan([{ scenario: 'replay', params: { behaviour: 'fixable' } }]);
    await d.runTick(t.tick);
    const first = t.executionArn(1);
    r.note('failedExecution', first);
    const end = await d.waitEnded(first);
    if (!r.check('the first execution FAILED', end.status === 'FAILED', `${end.status} ${end.error ?? ''}`)) return;
    const spooled = await d.spooled(t.taskId, { attempt: 1 });
    if (!r.check('the failure is in the spool', spooled !== null, spooled ? `message ${spooled.messageId}` : 'no message')) return;
    r.note('spoolMessage', spooled!.messageId);
    const m = spooled!.message;
    r.check('the message keeps the task input', m.input?.taskId === t.taskId && (m.input?.params as { runId?: string } | undefined)?.runId === d.runId, m.input ? 'input present' : 'no input');
    r.check(`the message names the failed step ${PROOF_STEPS.act}`, m.failedState === PROOF_STEPS.act, m.failedState);
    await d.fix();
    const summary = await d.replay([t.taskId]);
    r.note('replay', JSON.stringify({ started: summary.started, resumed: summary.resumed }));
    const second = t.executionArn(2);
    r.note('replayExecution', second);
    const end2 = await d.waitEnded(second);
    r.check('the replay SUCCEEDED after the fix', end2.status === 'SUCCEEDED', end2.status);
    const states = end2.status === 'MISSING' ? [] : await d.statesEntered(second);
    r.check(`the replay resumed at ${PROOF_STEPS.act} (${PROOF_STEPS.prepare} not run again)`, !states.includes(PROOF_STEPS.prepare) && states.includes(PROOF_STEPS.act), states.join(' > ') || 'no history');
    const prepared = await d.calls(t.taskId, 2, PROOF_STEPS.prepare);
    r.check(`${PROOF_STEPS.prepare} was not called by the replay`, prepared === 0, `${prepared} calls`);
  },
};

/** A scenario whose execution ends outside the workflow's Catch and must be captured into the spool. */
function capture(name: 'stop' | 'timeout'): Scenario {
  return {
    name,
    title: name === 'stop' ? 'an execution stopped mid-step is captured into the spool' : 'an execution that hits its timeout is captured into the spool',
    awsOnly: [
      IAM_KMS,
      'real delivery of "Step Functions Execution Status Change" events by EventBridge (best effort in AWS; the offline run delivers every one)',
      name === 'timeout' ? 'the real execution timeout (60 s for the proof job; capped to seconds offline)' : 'StopExecution while the Lambda runs on to its own timeout',
    ],
    async run(d, r) {
      const [t] = await d.plan([{ scenario: name, params: { behaviour: 'hang', hangSeconds: 110 } }]);
      await d.runTick(t.tick);
      const arn = t.executionArn(1);
      r.note('execution', arn);
      if (name === 'stop') {
        const entered = await d.waitEntered(arn, PROOF_STEPS.act);
        if (!r.check(`the execution entered ${PROOF_STEPS.act}`, entered, entered ? 'entered' : 'not seen')) return;
        await d.stop(arn);
      }
      const end = await d.waitEnded(arn);
      const want = name === 'stop' ? 'ABORTED' : 'TIMED_OUT';
      if (!r.check(`the execution ended ${want}`, end.status === want, end.status)) return;
      // The run's own message is deleted once seen: nothing of the prover stays in the spool.
      const spooled = await d.spooled(t.taskId, { remove: true });
      r.check('the capture spooled the task', spooled !== null, spooled ? `message ${spooled.messageId} (${spooled.message.error})` : 'no message');
      if (spooled) {
        r.note('spoolMessage', spooled.messageId);
        r.check('the message keeps the task input', spooled.message.input?.taskId === t.taskId, spooled.message.input ? 'input present' : 'no input');
      }
    },
  };
}

const hold: Scenario = {
  name: 'hold',
  title: 'a hold keeps calls out of a dependency',
  awsOnly: [IAM_KMS, 'the steps\' read of the hold switch under the real table permissions (a read error counts as no hold)'],
  async run(d, r) {
    const [t] = await d.plan([{ scenario: 'hold', params: { behaviour: 'succeed' } }]);
    const table = await d.table();
    const by = `scheduled-jobs prove ${d.runId}`;
    await writeSwitch(d.session.clients.dynamo, table, PROOF_DEPENDENCY, true, { by, reason: `prove run ${d.runId}`, now: new Date(d.timing.now()) });
    try {
      await d.runTick(t.tick);
      const arn = t.executionArn(1);
      r.note('heldExecution', arn);
      const end = await d.waitEnded(arn);
      r.check('the held execution ended FAILED with DependencyOnHold', end.status === 'FAILED', `${end.status} ${end.error ?? ''}`);
      const calls = await d.calls(t.taskId, 1, PROOF_STEPS.callDependency);
      r.check(`no call reached ${PROOF_DEPENDENCY} while held`, calls === 0, `${calls} calls`);
      const spooled = await d.spooled(t.taskId, { attempt: 1 });
      r.check('the task waits in the spool as DependencyOnHold', spooled?.message.error === 'DependencyOnHold', spooled ? `message ${spooled.messageId} (${spooled.message.error})` : 'no message');
      if (spooled) r.note('spoolMessage', spooled.messageId);
    } finally {
      await writeSwitch(d.session.clients.dynamo, table, PROOF_DEPENDENCY, false, { by, reason: null, now: new Date(d.timing.now()) });
    }
    // Released: the replay makes the call once (and leaves nothing of the run in the spool).
    await d.replay([t.taskId]);
    const second = t.executionArn(2);
    r.note('releasedExecution', second);
    const end2 = await d.waitEnded(second);
    r.check('after the release the replay SUCCEEDED', end2.status === 'SUCCEEDED', end2.status);
    const calls2 = await d.calls(t.taskId, 2, PROOF_STEPS.callDependency);
    r.check(`the released replay called ${PROOF_DEPENDENCY} once`, calls2 === 1, `${calls2} calls`);
  },
};

const duplicate: Scenario = {
  name: 'duplicate',
  title: 'a duplicate tick delivery starts nothing twice',
  awsOnly: [IAM_KMS, 'EventBridge Scheduler\'s own at-least-once redelivery and its asynchronous invoke (the prover delivers the schedule\'s input to the producer twice itself)'],
  async run(d, r) {
    const tasks = await d.plan([
      { scenario: 'duplicate-a', params: { behaviour: 'succeed' } },
      { scenario: 'duplicate-b', params: { behaviour: 'succeed' } },
    ]);
    const tick = tasks[0].tick;
    // The same scheduled tick delivered twice to the producer, as Scheduler's at-least-once delivery may.
    const s1 = await d.deliverTick(tick);
    const s2 = await d.deliverTick(tick);
    r.note('deliveries', [JSON.stringify(s1), JSON.stringify(s2)]);
    r.check('the first delivery planned the tick', s1.outcome === 'planned' && s1.tasks === tasks.length, `${s1.outcome}, ${s1.tasks} tasks, enqueued ${s1.enqueued}`);
    const ends: string[] = [];
    for (const t of tasks) ends.push((await d.waitEnded(t.executionArn(1))).status);
    r.check('the first delivery\'s executions SUCCEEDED', ends.every((e) => e === 'SUCCEEDED'), ends.join(', '));
    r.check('the second delivery found the tick planned and enqueued nothing', s2.outcome === 'alreadyPlanned' && s2.enqueued === 0, `${s2.outcome}, enqueued ${s2.enqueued}`);
    const executions = await d.executionsOf(tasks.map((t) => t.taskId));
    r.note('executions', executions);
    r.check('one execution per task', executions.length === tasks.length, `${executions.length} executions for ${tasks.length} tasks`);
  },
};

const oversize: Scenario = {
  name: 'oversize',
  title: 'a step that exceeds its output budget is spooled, not truncated',
  awsOnly: [IAM_KMS, 'Step Functions\' own 256 KiB state limit (the step stops at its smaller budget first)'],
  async run(d, r) {
    const [t] = await d.plan([{ scenario: 'oversize', params: { behaviour: 'oversize' } }]);
    await d.runTick(t.tick);
    const arn = t.executionArn(1);
    r.note('execution', arn);
    const end = await d.waitEnded(arn);
    r.check('the execution FAILED', end.status === 'FAILED', end.status);
    const spooled = await d.spooled(t.taskId, { remove: true });
    r.check('it is spooled as InvalidStepOutputError', spooled?.message.error === 'InvalidStepOutputError', spooled ? `message ${spooled.messageId} (${spooled.message.error})` : 'no message');
    if (spooled) r.note('spoolMessage', spooled.messageId);
  },
};

const lostTasks: Scenario = {
  name: 'lost-tasks',
  title: 'the saved lost-task query runs and finds none of the run\'s finished tasks lost',
  awsOnly: ['Athena, Glue and the S3 bucket policy of the real account (the offline run answers with DuckDB)', 'Firehose buffering: records land after paramLog.bufferSeconds (the prover waits --settle-seconds)'],
  async run(d, r) {
    await d.timing.sleep(d.timing.settleMs);
    const stack = await d.session.stack();
    const p = zonedParts(new Date(d.timing.now()), d.session.config.timeZone);
    const day = `${p.year}-${p.month}-${p.day}`;
    const ids: string[] = [];
    const rows = await runSavedQuery(d.session.clients.athena, LOST_TASKS, lostTaskParams(day), {
      workGroup: stack.need('OperatorAthenaWorkGroup'),
      database: stack.need('OperatorAthenaDatabase'),
      timeoutMs: d.timing.waitMs,
      sleep: d.timing.sleep,
      now: d.timing.now,
      onQueryId: (id) => ids.push(id),
    });
    r.note('queryExecution', ids);
    r.note('day', day);
    // Not vacuous: the same tables hold the run's records (a task of the run, start and end; params dropped unread).
    const own = d.tasks.find((t) => t.scenario === 'succeed') ?? d.tasks[0];
    if (own) {
      const records = await runSavedQuery(d.session.clients.athena, TASK_BY_ID, [own.taskId, previousDay(day), nextDay(day)], {
        workGroup: stack.need('OperatorAthenaWorkGroup'),
        database: stack.need('OperatorAthenaDatabase'),
        timeoutMs: d.timing.waitMs,
        sleep: d.timing.sleep,
        now: d.timing.now,
        onQueryId: (id) => ids.push(id),
      });
      const types = records.map((x) => `${x.type}:${x.result}`);
      r.check(`the log holds the run's task ${own.taskId} (client and worker records)`, types.some((t) => t.startsWith('client:')) && types.some((t) => t.startsWith('worker:')), types.join(', ') || 'no records');
    }
    const mine = rows.filter((row) => (row.task_id ?? '').includes(d.runId));
    r.check('the query ran in the stack\'s workgroup', true, `${rows.length} lost task(s) in the day`);
    r.check('none of the run\'s tasks is lost', mine.length === 0, mine.map((m) => m.task_id).join(', ') || 'none');
  },
};

/** Every scenario, in the order they run (alarms last: it notifies the topic's people too). */
export const SCENARIOS: ReadonlyArray<Scenario> = [succeed, transient, replay, capture('stop'), capture('timeout'), hold, duplicate, oversize, lostTasks, alarmsScenario];

/** Runs one scenario; an exception is a FAIL with its name and message. */
export async function runScenario(s: Scenario, d: ProveDriver): Promise<ScenarioResult> {
  const r = new Recorder();
  const started = d.timing.now();
  let error: string | undefined;
  try {
    await s.run(d, r);
  } catch (e) {
    error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
  const pass = error === undefined && r.checks.length > 0 && r.checks.every((c) => c.ok);
  return { scenario: s.name, pass, checks: r.checks, evidence: r.evidence, awsOnly: s.awsOnly, ...(error ? { error } : {}), durationMs: d.timing.now() - started };
}
