import { DescribeExecutionCommand, ExecutionStatus, GetExecutionHistoryCommand, ListExecutionsCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { randomBytes } from 'node:crypto';
import { PROOF_JOB } from '../../lib/config/proof-job';
import { PROOF_PRODUCER_OUTPUT } from '../../lib/proof-job';
import { callKey, putPlan, readCount, setFixed } from '../../lambdas/jobs/proof/ledger';
import { ProofParams } from '../../lambdas/jobs/proof/logic';
import { executionArnFor, executionNameFor, taskIdFor, tickStamp } from '../../lambdas/shared/names';
import { SpoolMessage } from '../../lambdas/shared/spool-message';
import { CliError, explain } from '../errors';
import { invokeReprocess, Summary } from '../reprocess';
import { Session } from '../session';

/**
 * What the scenarios share: one prover run against one stage, through the stage's stack outputs and
 * AWS's own APIs (the same clients as every command). Everything it creates carries its run id:
 * task keys (`<runId>-<scenario>`), the ticks it reserves, the fix switch. It reads, replays and
 * deletes only messages and executions of its own tasks.
 */

/** Timing of a run (AWS needs seconds to minutes; the offline stage milliseconds). */
export interface ProveTiming {
  /** Longest wait for one execution or message, ms. */
  readonly waitMs: number;
  /** Between two polls, ms. */
  readonly pollMs: number;
  /** Before the lost-task query, ms: the parameter log's Firehose buffer. */
  readonly settleMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
}

/** A new run id: `p` + UTC time to the second + 4 random hex digits. */
export function newRunId(now: Date): string {
  return `p${now.toISOString().replace(/[-:T]/g, '').slice(0, 14)}${randomBytes(2).toString('hex')}`;
}

/** A planned proof task: its tick, id and the name of each attempt's execution. */
export interface ProofTask {
  readonly scenario: string;
  readonly key: string;
  readonly tick: Date;
  readonly taskId: string;
  executionArn(attempt: number): string;
}

/** Ends of an execution that are final. */
const ENDED = new Set<string>(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);

export class ProveDriver {
  readonly runId: string;
  private usedTicks = new Set<string>();
  /** The run's tasks (cleanup looks for their messages only). */
  readonly tasks: ProofTask[] = [];

  constructor(
    readonly session: Session,
    readonly timing: ProveTiming,
    runId?: string,
  ) {
    this.runId = runId ?? newRunId(new Date(timing.now()));
  }

  private async outputs() {
    return this.session.stack();
  }

  async table(): Promise<string> {
    return (await this.outputs()).need('OperatorCoordinationTableName');
  }

  async stateMachine(): Promise<string> {
    const arn = (await this.outputs()).stateMachines.get(PROOF_JOB);
    if (!arn) throw new Error(`the stack has no state machine of the ${PROOF_JOB} job: deploy the stage with sandbox: true`);
    return arn;
  }

  /**
   * Plans a tick of the proof job with these tasks: reserves a past minute nobody planned (a
   * conditional write of the plan; the tick's ledger entry stays the producer's) and returns the tasks.
   */
  async plan(specs: ReadonlyArray<{ scenario: string; params: Omit<ProofParams, 'runId' | 'scenario'> }>): Promise<ProofTask[]> {
    const table = await this.table();
    const sm = await this.stateMachine();
    const nowMin = Math.floor(this.timing.now() / 60_000);
    for (let i = 0; i < 50; i++) {
      // A random minute of the last 12 hours, never one this run used.
      const tick = new Date((nowMin - 2 - Math.floor(Math.random() * 720)) * 60_000);
      const stamp = tickStamp(tick);
      if (this.usedTicks.has(stamp)) continue;
      const tasks = specs.map((s) => {
        const key = `${this.runId}-${s.scenario}`;
        const taskId = taskIdFor(PROOF_JOB, tick, key);
        return { scenario: s.scenario, key, tick, taskId, executionArn: (attempt: number) => executionArnFor(sm, executionNameFor(taskId, attempt)) };
      });
      const plan = specs.map((s, j) => ({ key: tasks[j].key, params: { runId: this.runId, scenario: s.scenario, ...s.params } }));
      if (await putPlan(this.session.clients.dynamo, table, stamp, plan, this.timing.now())) {
        this.usedTicks.add(stamp);
        this.tasks.push(...tasks);
        return tasks;
      }
    }
    throw new Error('found no free tick in the last 12 hours to plan the proof tasks in (50 tries)');
  }

  /** Runs a tick through reprocess (`source: "tick"`), as an operator re-runs one: the producer answers. */
  async runTick(tick: Date): Promise<Summary> {
    const fn = (await this.outputs()).need('OperatorReprocessFunctionName');
    return invokeReprocess(this.session.clients.lambda, fn, { source: 'tick', job: PROOF_JOB, tick: tickStamp(tick) });
  }

  /**
   * Delivers a tick to the proof job's producer the way its schedule does: the schedule target's
   * input (`{"scheduledTime": <aws.scheduler.scheduled-time>}`, lib/scheduled-producer.ts) straight to
   * the function, not through reprocess. Invoked synchronously so the delivery's summary is evidence
   * (Scheduler invokes asynchronously; the producer's handling is the same).
   */
  async deliverTick(tick: Date): Promise<Record<string, unknown>> {
    const stack = await this.outputs();
    const fn = stack.outputs[PROOF_PRODUCER_OUTPUT];
    if (!fn) throw new CliError(`Stack ${stack.name} has no output ${PROOF_PRODUCER_OUTPUT}: its proof job predates the duplicate-delivery scenario`, `Redeploy the sandbox stage.`);
    const scheduledTime = tick.toISOString().replace('.000Z', 'Z');
    let r;
    try {
      r = await this.session.clients.lambda.send(new InvokeCommand({ FunctionName: fn, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify({ scheduledTime })) }));
    } catch (e) {
      throw explain(e, `invoke the proof producer ${fn} (lambda:InvokeFunction)`);
    }
    const text = r.Payload ? Buffer.from(r.Payload).toString('utf8') : 'null';
    if (r.FunctionError) throw new CliError(`The proof producer failed on the tick ${scheduledTime}: ${text.slice(0, 300)}`, 'See the producer\'s logs in CloudWatch Logs.');
    return (JSON.parse(text) ?? {}) as Record<string, unknown>;
  }

  /** Replays the run's own spooled tasks (reprocess with `taskIds`), from the failed step. */
  async replay(taskIds: ReadonlyArray<string>): Promise<Summary> {
    const fn = (await this.outputs()).need('OperatorReprocessFunctionName');
    return invokeReprocess(this.session.clients.lambda, fn, { source: 'spool', job: PROOF_JOB, taskIds: [...taskIds], from: 'failed-step', max: 10 });
  }

  /** Waits until the execution exists and has ended; its status, error and ARN. */
  async waitEnded(executionArn: string): Promise<{ status: ExecutionStatus | 'MISSING'; error?: string }> {
    const deadline = this.timing.now() + this.timing.waitMs;
    for (;;) {
      try {
        const r = await this.session.clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
        if (r.status && ENDED.has(r.status)) return { status: r.status, error: r.error };
      } catch (e) {
        if ((e as { name?: string }).name !== 'ExecutionDoesNotExist') throw e;
      }
      if (this.timing.now() > deadline) return { status: 'MISSING' };
      await this.timing.sleep(this.timing.pollMs);
    }
  }

  /** Waits until the execution has entered `state` (its history); false past the wait. */
  async waitEntered(executionArn: string, state: string): Promise<boolean> {
    const deadline = this.timing.now() + this.timing.waitMs;
    for (;;) {
      try {
        const r = await this.session.clients.sfn.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 100 }));
        if ((r.events ?? []).some((ev) => ev.stateEnteredEventDetails?.name === state)) return true;
      } catch (e) {
        if ((e as { name?: string }).name !== 'ExecutionDoesNotExist') throw e;
      }
      if (this.timing.now() > deadline) return false;
      await this.timing.sleep(this.timing.pollMs);
    }
  }

  /** States the execution entered, in order. */
  async statesEntered(executionArn: string): Promise<string[]> {
    const r = await this.session.clients.sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
    return (r.events ?? []).flatMap((ev) => (ev.stateEnteredEventDetails?.name ? [ev.stateEnteredEventDetails.name] : []));
  }

  async stop(executionArn: string): Promise<void> {
    await this.session.clients.sfn.send(new StopExecutionCommand({ executionArn, error: 'ProverStop', cause: `stopped by scheduled-jobs prove run ${this.runId}` }));
  }

  /** Executions of the proof state machine whose name belongs to one of `taskIds`. */
  async executionsOf(taskIds: ReadonlyArray<string>): Promise<string[]> {
    const sm = await this.stateMachine();
    const names = new Set(taskIds.flatMap((t) => [1, 2, 3, 4, 5].map((a) => executionNameFor(t, a))));
    const out: string[] = [];
    let nextToken: string | undefined;
    do {
      const r = await this.session.clients.sfn.send(new ListExecutionsCommand({ stateMachineArn: sm, nextToken, maxResults: 1000 }));
      for (const e of r.executions ?? []) if (e.name && names.has(e.name)) out.push(e.executionArn!);
      nextToken = r.nextToken;
    } while (nextToken);
    return out;
  }

  /** Calls of a step counted by the proof job for one attempt of a task. */
  async calls(taskId: string, attempt: number, step: string): Promise<number> {
    return readCount(this.session.clients.dynamo, await this.table(), callKey(taskId, attempt, step));
  }

  /** The operator's "fix": the run's fixable tasks succeed from now on. */
  async fix(): Promise<void> {
    await setFixed(this.session.clients.dynamo, await this.table(), this.runId, this.timing.now());
  }

  /**
   * Looks in the spool for the message of `taskId` (waiting for it to arrive), reading the body of
   * the run's own messages only; every message is released at once (visibility 0) unless `remove`
   * and it is the task's, then deleted.
   */
  async spooled(taskId: string, opts: { remove?: boolean; attempt?: number } = {}): Promise<{ messageId: string; message: SpoolMessage } | null> {
    const url = (await this.outputs()).need('OperatorSpoolQueueUrl');
    const sqs = this.session.clients.sqs;
    const deadline = this.timing.now() + this.timing.waitMs;
    for (;;) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 30, WaitTimeSeconds: 0, MessageAttributeNames: ['All'] }));
      let found: { messageId: string; message: SpoolMessage; receipt: string } | null = null;
      const release: string[] = [];
      for (const m of r.Messages ?? []) {
        // Only the run's own tasks are parsed; any other message goes straight back.
        if (found === null && (m.Body ?? '').includes(taskId)) {
          const message = JSON.parse(m.Body ?? '{}') as SpoolMessage;
          if (message.taskId === taskId && (opts.attempt === undefined || message.input?.attempt === opts.attempt)) {
            found = { messageId: m.MessageId!, message, receipt: m.ReceiptHandle! };
            continue;
          }
        }
        release.push(m.ReceiptHandle!);
      }
      if (found && !opts.remove) release.push(found.receipt);
      if (release.length > 0) {
        await sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries: release.map((h, i) => ({ Id: String(i), ReceiptHandle: h, VisibilityTimeout: 0 })) }));
      }
      if (found && opts.remove) await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: '0', ReceiptHandle: found.receipt }] }));
      if (found) return { messageId: found.messageId, message: found.message };
      if (this.timing.now() > deadline) return null;
      await this.timing.sleep(this.timing.pollMs);
    }
  }
}
