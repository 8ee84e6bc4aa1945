import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { errorMessage, errorName } from '../shared/errors';
import { isThrottle, isTransient } from '../shared/start-execution';
import { realSleep, Semaphore } from '../shared/rate-gate';
import { tickTooOldReason } from '../shared/tick-age';
import { ReceivedMessage, selectedByIdAndTime } from './message';
import { FailedInvocationsOptions } from './payload';

/**
 * The failed-invocations queue, acted on by reprocess (`source: "failedInvocations"`). Each message
 * is Lambda's on-failure record of an asynchronous invocation of one of the app's functions that
 * failed after Lambda's retries (AWS Lambda developer guide, "Capturing records of asynchronous
 * invocations"): `requestContext.functionArn` (qualified, e.g. `...:function:name:$LATEST`),
 * `condition` (RetriesExhausted, EventAgeExceeded), `approximateInvokeCount`, `requestPayload` (the
 * event the function was given), `responsePayload` (its error).
 *
 * A re-run invokes the function again, ASYNCHRONOUSLY (InvocationType Event), with the original
 * payload: if it fails again, Lambda retries it and its on-failure destination writes a NEW record
 * here, so nothing is lost between the invoke and the delete. Only then is the record deleted. The
 * function is never taken from the record: it must be one of the app's functions the construct
 * lists (the producers, the status-change capture, the sweeper, the lost-task monitor), invoked by
 * the ARN the construct gave, so a record cannot make reprocess invoke anything else. Each of
 * these functions is safe to run twice (docs/runbook.md, "Re-run a failed invocation"), within the
 * tick age rule: a producer record whose tick is older than 42 days (lambdas/shared/tick-age.ts) is
 * not re-run (invalid, left in the queue) unless the operator names it with `messageIds` and `force`;
 * then its payload goes with `force: true`, which the producer requires for such a tick.
 */

/** One record as the summary shows it: names and the tick, never a payload's values (a payload may hold params). */
export interface FailedInvocationItem {
  readonly messageId: string | null;
  /** The allow-listed label (e.g. `producer:example-api`), or the record's function name when it is not re-invocable. */
  readonly function: string | null;
  readonly condition: string | null;
  readonly approximateInvokeCount: number | null;
  /** The function's error name (`responsePayload.errorType`), if any. */
  readonly errorType: string | null;
  /** A producer's tick (`requestPayload.scheduledTime`), and `replan` when it was a replan. */
  readonly tick?: string;
  readonly replan?: true;
  /** Other functions: the payload's top-level keys only. */
  readonly payloadKeys?: ReadonlyArray<string>;
  /** A producer tick older than 42 days, re-run because the operator forced it by message id. */
  readonly forced?: true;
  readonly outcome: 'reinvoked' | 'wouldReinvoke' | 'dropped' | 'wouldDrop' | 'invalid' | 'failed' | 'skipped' | 'notAttempted';
  readonly reason?: string;
}

/** What a failed-invocations run did. Counts, names and ticks only: never params. */
export interface FailedInvocationsSummary {
  readonly source: 'failedInvocations';
  readonly dryRun: boolean;
  readonly drop: boolean;
  /** Invoked again (accepted by Lambda, 202) and deleted. */
  reinvoked: number;
  /** Dry run of a re-run: would be invoked again. */
  wouldReinvoke: number;
  /** `drop`: deleted. */
  dropped: number;
  /** `drop`, dry run: would be deleted. */
  wouldDrop: number;
  /** Not a record of a re-invocable function of this app (or not a record): left in the queue; a person may drop it. */
  invalid: number;
  /** The invoke was refused (access, throttled past the retries, ...): left in the queue. */
  failed: number;
  /** Outside the selection: left. */
  skipped: number;
  /** Received but time ran low before its turn: left. */
  notAttempted: number;
  /** Invoked but the delete failed: the record comes back; re-running it again is harmless. */
  deleteFailed: number;
  /** Approximate records left in the queue. */
  remaining: number | null;
  stoppedBecause: 'max' | 'empty' | 'time' | 'receiveFailed';
  receiveError?: string;
  durationMs: number;
  /** Up to {@link FAILED_INVOCATION_ITEMS} records handled. */
  items: FailedInvocationItem[];
}

/** Records listed in a summary at most. */
export const FAILED_INVOCATION_ITEMS = 50;
/** Retries of a throttled or transient Invoke before the record is left for the next run. */
const INVOKE_RETRIES = 4;
const BATCH = 10;

/** What {@link handleFailedInvocations} needs; the handler builds it. */
export interface FailedInvocationsDeps {
  readonly sqs: SQSClient;
  readonly lambda: LambdaClient;
  readonly queueUrl: string;
  /** Re-invocable functions: label -> unqualified function ARN (env INVOCABLE_FUNCTIONS). */
  readonly functions: ReadonlyMap<string, string>;
  readonly remainingMs: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A parsed on-failure record. */
export interface FailureRecord {
  /** The function's ARN without a qualifier. */
  readonly functionArn: string;
  readonly condition: string | null;
  readonly approximateInvokeCount: number | null;
  readonly errorType: string | null;
  readonly requestPayload: unknown;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]` -> the ARN without the qualifier, or null. */
export function unqualifiedFunctionArn(arn: string): string | null {
  const parts = arn.split(':');
  if (parts.length < 7 || parts[0] !== 'arn' || parts[2] !== 'lambda' || parts[5] !== 'function' || parts[6] === '') return null;
  return parts.slice(0, 7).join(':');
}

/** Parses a record body; a string saying what is wrong when it is not an on-failure record. */
export function parseFailureRecord(body: string | undefined): FailureRecord | string {
  let b: unknown;
  try {
    b = JSON.parse(body ?? '');
  } catch {
    return 'the body is not JSON';
  }
  if (!isRecord(b) || !isRecord(b.requestContext)) return 'not a Lambda on-failure record (no requestContext)';
  const rc = b.requestContext;
  const arn = typeof rc.functionArn === 'string' ? unqualifiedFunctionArn(rc.functionArn) : null;
  if (arn === null) return 'not a Lambda on-failure record (no requestContext.functionArn)';
  if (!('requestPayload' in b)) return 'the record has no requestPayload to re-run';
  const response = isRecord(b.responsePayload) ? b.responsePayload : {};
  return {
    functionArn: arn,
    condition: typeof rc.condition === 'string' ? rc.condition : null,
    approximateInvokeCount: typeof rc.approximateInvokeCount === 'number' ? rc.approximateInvokeCount : null,
    errorType: typeof response.errorType === 'string' ? response.errorType : null,
    requestPayload: b.requestPayload,
  };
}

/** What the summary may show of a payload: a producer's tick (not a param), else the top-level keys. */
function describePayload(label: string | null, payload: unknown): Pick<FailedInvocationItem, 'tick' | 'replan' | 'payloadKeys'> {
  if (label?.startsWith('producer:') && isRecord(payload) && typeof payload.scheduledTime === 'string') {
    return { tick: payload.scheduledTime.slice(0, 40), ...(payload.replan === true ? { replan: true as const } : {}) };
  }
  return { payloadKeys: isRecord(payload) ? Object.keys(payload).slice(0, 20) : [] };
}

/**
 * Why a producer record's tick may not be re-run without force (null: it may, or it names no tick the
 * producer would accept anyway). A `force` already in the payload (a forced re-run that failed again)
 * does not carry over: each re-run of an old tick is forced by name.
 */
function producerTickTooOld(payload: unknown, nowMs: number): string | null {
  if (!isRecord(payload) || typeof payload.scheduledTime !== 'string') return null;
  const tickMs = Date.parse(payload.scheduledTime);
  return Number.isNaN(tickMs) ? null : tickTooOldReason(tickMs, nowMs);
}

/** Invokes `functionArn` asynchronously with `payload`; retries throttling and transient errors a few times. */
async function invokeAsync(deps: FailedInvocationsDeps, functionArn: string, payload: unknown, stopAtMs: number): Promise<{ ok: true } | { ok: false; reason: string; late?: true }> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? realSleep;
  for (let attempt = 0; ; attempt++) {
    if (now() >= stopAtMs) return { ok: false, reason: 'time ran low', late: true };
    try {
      const r = await deps.lambda.send(new InvokeCommand({ FunctionName: functionArn, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(payload ?? null)) }));
      // An accepted asynchronous invocation answers 202 (AWS Lambda API reference, "Invoke").
      if (r.StatusCode === 202) return { ok: true };
      return { ok: false, reason: `Invoke answered ${r.StatusCode ?? 'no status'}` };
    } catch (e) {
      if ((isThrottle(e) || isTransient(e)) && attempt < INVOKE_RETRIES) {
        await sleep(Math.min(5_000, 200 * 2 ** attempt) * (0.5 + Math.random() / 2));
        continue;
      }
      return { ok: false, reason: `Invoke: ${errorName(e)}: ${errorMessage(e).slice(0, 200)}` };
    }
  }
}

/**
 * Re-runs (or drops, or lists) failed-invocation records: receive in batches of 10 (hidden until the
 * run's end), select, invoke the allow-listed function asynchronously with the record's payload,
 * delete what was re-invoked or dropped, release the rest. Never throws for one record.
 */
export async function handleFailedInvocations(deps: FailedInvocationsDeps, o: FailedInvocationsOptions): Promise<FailedInvocationsSummary> {
  const now = deps.now ?? Date.now;
  const t0 = now();
  const endMs = t0 + deps.remainingMs;
  const stopAtMs = endMs - Math.min(20_000, Math.max(3_000, deps.remainingMs * 0.1));
  const byArn = new Map([...deps.functions].map(([label, arn]) => [arn, label]));
  const summary: FailedInvocationsSummary = {
    source: 'failedInvocations',
    dryRun: o.dryRun,
    drop: o.drop,
    reinvoked: 0,
    wouldReinvoke: 0,
    dropped: 0,
    wouldDrop: 0,
    invalid: 0,
    failed: 0,
    skipped: 0,
    notAttempted: 0,
    deleteFailed: 0,
    remaining: null,
    stoppedBecause: 'empty',
    durationMs: 0,
    items: [],
  };
  const release: ReceivedMessage[] = [];
  const sem = new Semaphore(o.concurrency);
  let handled = 0;
  const note = (item: FailedInvocationItem) => {
    summary[item.outcome]++;
    if (summary.items.length < FAILED_INVOCATION_ITEMS) summary.items.push(item);
  };

  const act = async (m: ReceivedMessage): Promise<ReceivedMessage | null> => {
    const rec = parseFailureRecord(m.Body);
    const base = { messageId: m.MessageId ?? null, condition: null, approximateInvokeCount: null, errorType: null } as const;
    if (typeof rec === 'string') {
      // Only a message-id selection (or a drop) can reach a message that is not a record.
      if (o.functions || !selectedByIdAndTime(m, o)) return skip(m, { ...base, function: null, outcome: 'skipped' });
      return decide(m, { ...base, function: null }, null, rec);
    }
    const label = byArn.get(rec.functionArn) ?? null;
    const item = {
      messageId: m.MessageId ?? null,
      function: label ?? rec.functionArn.split(':')[6],
      condition: rec.condition,
      approximateInvokeCount: rec.approximateInvokeCount,
      errorType: rec.errorType,
      ...describePayload(label, rec.requestPayload),
    };
    if (!selectedByIdAndTime(m, o) || (o.functions && (label === null || !o.functions.has(label)))) return skip(m, { ...item, outcome: 'skipped' });
    const notOurs = label === null ? `${item.function} is not one of this app's re-invocable functions (${[...deps.functions.keys()].join(', ')}): drop it once read` : null;
    if (notOurs !== null) return decide(m, item, null, notOurs);
    const forced = o.force && m.MessageId !== undefined && o.messageIds?.has(m.MessageId) === true;
    const tooOld = label?.startsWith('producer:') ? producerTickTooOld(rec.requestPayload, now()) : null;
    if (tooOld !== null && !forced) return decide(m, item, null, `${tooOld} and its message id`);
    return decide(m, { ...item, ...(tooOld !== null ? { forced: true as const } : {}) }, tooOld !== null ? { ...rec, requestPayload: { ...(rec.requestPayload as Record<string, unknown>), force: true } } : rec, null);
  };

  const skip = (m: ReceivedMessage, item: FailedInvocationItem): null => {
    release.push(m);
    note(item);
    return null;
  };

  /** A selected record: dropped, listed, or invoked again. Returns the message to delete, if any. */
  const decide = async (m: ReceivedMessage, item: Omit<FailedInvocationItem, 'outcome'>, rec: FailureRecord | null, invalid: string | null): Promise<ReceivedMessage | null> => {
    handled++;
    if (o.drop) {
      if (o.dryRun) release.push(m);
      note({ ...item, outcome: o.dryRun ? 'wouldDrop' : 'dropped', ...(invalid ? { reason: invalid } : {}) });
      return o.dryRun ? null : m;
    }
    if (invalid !== null || rec === null) {
      release.push(m);
      note({ ...item, outcome: 'invalid', reason: invalid ?? 'not a record' });
      return null;
    }
    if (o.dryRun) {
      release.push(m);
      note({ ...item, outcome: 'wouldReinvoke' });
      return null;
    }
    await sem.acquire();
    try {
      const r = await invokeAsync(deps, deps.functions.get(item.function as string) as string, rec.requestPayload, stopAtMs);
      if (r.ok) {
        note({ ...item, outcome: 'reinvoked' });
        return m;
      }
      release.push(m);
      note({ ...item, outcome: r.late ? 'notAttempted' : 'failed', reason: r.reason });
      return null;
    } finally {
      sem.release();
    }
  };

  while (true) {
    if (now() >= stopAtMs) {
      summary.stoppedBecause = 'time';
      break;
    }
    const want = Math.min(BATCH, o.max - handled);
    if (want <= 0) {
      summary.stoppedBecause = 'max';
      break;
    }
    let msgs: ReceivedMessage[];
    try {
      const res = await deps.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: deps.queueUrl,
          MaxNumberOfMessages: want,
          WaitTimeSeconds: 1,
          // Hidden until the run's end plus a margin: nothing is received twice in one run.
          VisibilityTimeout: Math.min(43_200, Math.max(30, Math.ceil((endMs - now()) / 1000) + 30)),
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['SentTimestamp'],
        }),
      );
      msgs = res.Messages ?? [];
    } catch (e) {
      summary.receiveError = `${errorName(e)}: ${errorMessage(e).slice(0, 200)}`;
      summary.stoppedBecause = 'receiveFailed';
      break;
    }
    if (msgs.length === 0) break;
    const toDelete = (await Promise.all(msgs.map(act))).filter((m): m is ReceivedMessage => m !== null);
    for (let i = 0; i < toDelete.length; i += BATCH) {
      const group = toDelete.slice(i, i + BATCH);
      try {
        const r = await deps.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: deps.queueUrl, Entries: group.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle })) }));
        summary.deleteFailed += r.Failed?.length ?? 0;
      } catch {
        summary.deleteFailed += group.length;
      }
    }
  }

  for (let i = 0; i < release.length; i += BATCH) {
    try {
      await deps.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: deps.queueUrl,
          Entries: release.slice(i, i + BATCH).map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 })),
        }),
      );
    } catch {
      // They become visible again when the receive's visibility timeout ends.
    }
  }
  try {
    const a = await deps.sqs.send(new GetQueueAttributesCommand({ QueueUrl: deps.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] }));
    const at = a.Attributes ?? {};
    summary.remaining = Number(at.ApproximateNumberOfMessages ?? 0) + Number(at.ApproximateNumberOfMessagesNotVisible ?? 0) + Number(at.ApproximateNumberOfMessagesDelayed ?? 0);
  } catch {
    summary.remaining = null;
  }
  summary.durationMs = now() - t0;
  return summary;
}
