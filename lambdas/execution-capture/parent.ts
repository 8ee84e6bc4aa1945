import { DescribeExecutionCommandOutput, GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { parseEnvelope, TaskEnvelope } from '../shared/envelope';
import { EXECUTION_END_ERRORS } from '../shared/errors';
import { buildWorkerRecord } from '../shared/param-log';
import { SpoolMessage } from '../shared/spool-message';
import { OutgoingSpoolMessage, sendSpoolMessages } from '../shared/spool-send';
import type { CaptureDeps, CaptureResult, CapturedStatus } from './logic';
import type { CaptureMarks } from './marker';

/**
 * The capture of a high-volume parent (lib/high-volume-workflow.ts) that ended outside SUCCEEDED.
 * Its input is `{tasks: [envelope, ...]}` (lambdas/batch-starter), not one task. The question is
 * which of its items may not have ended in a child:
 *
 * - the parent's history holds `MapRunSucceeded` and, after it, the post-map step's `TaskSucceeded`
 *   (SpoolFailedChildren is the only Task state after the map): the Distributed Map ran every child
 *   to its end (ToleratedFailurePercentage 100), so each item either succeeded, or its Catch spooled
 *   it, or it is in a failed child the post-map step spooled; the parent ended later. Nothing is
 *   spooled here: spooling again would replay finished work.
 * - otherwise (the Map Run failed or was aborted, the parent was stopped, timed out or failed
 *   before or while the map ran, or after the map before its post-map step succeeded, e.g.
 *   `FailedChildrenNotSpooled`: the items of its failed children are then in no spool, and those of
 *   an `ItemsNotSpooled` child have failure worker records, so the lost-task monitor does not list
 *   them): which items ended is not in the parent's history (children's
 *   outcomes are in the Map Run, not in it), so **every item is spooled** as `ExecutionEnded`,
 *   resuming at its first step, naming the job's standard state machine (reprocess replays there;
 *   `executionArn` null: reprocess refuses an execution of another state machine, and the parent
 *   cannot be "running again" per task). An item that had ended is run again: the mode requires
 *   idempotent steps (docs/big-ticks.md), and an item its Catch spooled too replays under the
 *   same name (attempt + 1), which Step Functions refuses the second time.
 */

/** The parent's input as the batch starter writes it, or null when `raw` is not one. */
export function parentTasksOf(raw: unknown): TaskEnvelope[] | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const tasks = (raw as { tasks?: unknown }).tasks;
  if (!Array.isArray(tasks) || 'taskId' in raw) return null;
  // EnvelopeError names the field, never its value.
  return tasks.map((t) => parseEnvelope(t));
}

/**
 * True when the parent's history shows its Map Run succeeded (every child ran to its end) and then
 * its post-map step succeeded (the failed children's items spooled): a `TaskSucceeded` newer than
 * `MapRunSucceeded`, SpoolFailedChildren being the parent's only Task state after the map.
 */
export async function mapRunSucceeded(sfn: SFNClient, executionArn: string, maxPages = 5): Promise<{ succeeded: boolean; events: number; pages: number }> {
  let nextToken: string | undefined;
  let pages = 0;
  let events = 0;
  let postMapSucceeded = false;
  do {
    // Metadata only: the answer is in the event types, and no params need to be read.
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, includeExecutionData: false, maxResults: 100, nextToken }));
    pages++;
    for (const e of page.events ?? []) {
      events++;
      if (e.type === 'TaskSucceeded') postMapSucceeded = true;
      if (e.type === 'MapRunSucceeded') return { succeeded: postMapSucceeded, events, pages };
      // Newest first: past the Map Run's start nothing later is left to find.
      if (e.type === 'MapRunStarted' || e.type === 'ExecutionStarted') return { succeeded: false, events, pages };
    }
    nextToken = page.nextToken;
  } while (nextToken && pages < maxPages);
  return { succeeded: false, events, pages };
}

/** The spool messages and worker records of a parent's items (pure). */
export function parentItemMessages(args: {
  readonly tasks: ReadonlyArray<TaskEnvelope>;
  readonly executionArn: string;
  readonly status: 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  readonly describe: Pick<DescribeExecutionCommandOutput, 'error' | 'cause'>;
  /** Job -> its standard state machine ARN and first step. */
  readonly jobs: ReadonlyMap<string, { readonly standardStateMachineArn: string; readonly firstStep: string }>;
}): OutgoingSpoolMessage[] {
  const { status, describe: d } = args;
  const error = status === 'TIMED_OUT' ? EXECUTION_END_ERRORS.timedOut : status === 'ABORTED' ? EXECUTION_END_ERRORS.aborted : d.error || EXECUTION_END_ERRORS.failed;
  // The parent's error names only: its cause may quote a state's data.
  const cause = `high-volume parent ${args.executionArn} ended ${status}${d.error ? ` (${d.error})` : ''} before its Map Run and post-map step ended: this item may or may not have run; replayed from its first step`;
  return args.tasks.map((envelope) => {
    const job = args.jobs.get(envelope.job);
    if (!job) throw new Error(`job "${envelope.job}" of a high-volume parent has no standard state machine in the capture's environment; redeploy the stack`);
    const message: SpoolMessage = {
      version: 1,
      kind: 'ExecutionEnded',
      job: envelope.job,
      taskId: envelope.taskId,
      input: envelope,
      error,
      cause,
      failedState: job.firstStep,
      executionArn: null,
      stateMachineArn: job.standardStateMachineArn,
      stepInput: null,
      status,
    };
    return { message };
  });
}

/** Worker records of the spooled items. */
export function parentItemRecords(messages: ReadonlyArray<OutgoingSpoolMessage>, executionArn: string, now: Date, timeZone: string) {
  return messages.map(({ message: m }) => buildWorkerRecord({ envelope: m.input as TaskEnvelope, now, timeZone, executionArn, error: m.error, cause: m.cause, failedState: m.failedState }));
}


/**
 * Captures one ended parent under its capture mark (one mark per parent execution, as for a
 * task's execution): spool messages, `sent` mark, worker records, `done` mark. A capture that dies
 * between the spool and the `sent` mark sends the items again; their replays share one name each.
 */
export async function captureParentEnd(
  executionArn: string,
  d: DescribeExecutionCommandOutput,
  status: CapturedStatus,
  tasks: ReadonlyArray<TaskEnvelope>,
  deps: CaptureDeps,
  marks: { claim: () => ReturnType<CaptureMarks['claim']>; markSent: (id: string | null) => Promise<void>; markDone: (outcome: string) => Promise<void> },
): Promise<CaptureResult> {
  const job = tasks[0]?.job ?? null;
  const base = { executionArn, status, taskId: null, job, error: null, failedState: null, messageId: null, workerRecord: null, lockReleased: null, lockKeptUntil: null, historyEvents: 0, historyPages: 0, itemsSpooled: 0 };
  const claim = await marks.claim();
  if (!claim.claimed) return { ...base, outcome: claim.reason === 'done' ? 'alreadyCaptured' : 'busy' };
  const map = await mapRunSucceeded(deps.sfn, executionArn);
  const read = { historyEvents: map.events, historyPages: map.pages };
  if (map.succeeded || tasks.length === 0) {
    await marks.markDone('alreadySpooled');
    return { ...base, ...read, outcome: 'alreadySpooled' };
  }
  const jobs = new Map<string, { standardStateMachineArn: string; firstStep: string }>();
  for (const t of tasks) {
    const arn = deps.replayStateMachines?.get(t.job);
    const steps = deps.jobs.get(t.job)?.steps;
    if (arn && steps?.length) jobs.set(t.job, { standardStateMachineArn: arn, firstStep: steps[0] });
  }
  const messages = parentItemMessages({ tasks, executionArn, status, describe: d, jobs });
  if (!claim.resumeSent) {
    await sendSpoolMessages(deps.sqs, deps.spoolQueueUrl, messages);
    await marks.markSent(null);
  }
  await deps.sink.put(parentItemRecords(messages, executionArn, (deps.now ?? (() => new Date()))(), deps.timeZone));
  await marks.markDone('spooled');
  return { ...base, ...read, outcome: 'spooled', error: messages[0]?.message.error ?? null, failedState: messages[0]?.message.failedState ?? null, itemsSpooled: messages.length };
}

/** Reads CAPTURE_ENV.replayStateMachines (absent: the app has no high-volume job). */
export function parseReplayStateMachines(raw: string | undefined): ReadonlyMap<string, string> {
  if (raw === undefined || raw === '') return new Map();
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error('HIGH_VOLUME_REPLAY_STATE_MACHINES must be a JSON object of job -> state machine ARN; redeploy the stack');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
    throw new Error('HIGH_VOLUME_REPLAY_STATE_MACHINES must be a JSON object of job -> state machine ARN; redeploy the stack');
  }
  return new Map(Object.entries(parsed as Record<string, string>));
}
