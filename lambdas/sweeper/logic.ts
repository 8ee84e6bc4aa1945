import { markParamFree } from '../shared/safe-error';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  Message,
  MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageBatchRequestEntry,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { sqsSendBatches } from '../shared/sqs-batches';
import { errorMessage, errorName } from '../shared/errors';
import { SPOOL_ATTR_FIRST_SENT, SPOOL_ATTR_PRIOR_RECEIVES, SPOOL_ATTR_SWEEPS } from '../shared/spool-message';

/**
 * The sweeper: SQS deletes a message at the end of its queue's retention, whoever has or has not
 * looked at it, and the queue's own age metric (ApproximateAgeOfOldestMessage) skips messages
 * received three times or more (AWS SQS developer guide, "Available CloudWatch metrics for Amazon
 * SQS"), which dry runs and filtered replays do. So this module looks at every message itself:
 * it re-sends those close to expiry (a new message with a new SentTimestamp, so a new retention
 * period), carrying their first send time and receive history in message attributes, and
 * measures each queue's oldest failure by that first send time. See docs/sweeper.md.
 */

/** One queue to sweep, as the construct writes it into the environment (JSON list). */
export interface SweptQueueConfig {
  /** The queue's name: the `QueueName` dimension of the published metrics (unique per deployment). */
  readonly name: string;
  readonly url: string;
  /** The queue's MessageRetentionPeriod as deployed; the lower of this and the live value is used. */
  readonly retentionSeconds: number;
}

/** Tunables of a sweep. The construct sets the margin; the rest are fixed by design and tests. */
export interface SweepSettings {
  /** A message is re-sent once its SentTimestamp is older than retention minus this. */
  readonly marginSeconds: number;
  /**
   * Visibility timeout of a receive: long enough to re-send and delete a batch, short enough that
   * a crashed run hides nothing for long.
   */
  readonly receiveVisibilitySeconds: number;
  /**
   * How long a message the queue hands back a second time in the same run is set aside, so the
   * next receives reach messages not yet seen instead of the same ones again (standard queues
   * give no order guarantee). Every first sighting is released at once.
   */
  readonly repeatHoldSeconds: number;
  /** Long-poll wait of a receive: long polling asks every SQS server, so "empty" means empty (AWS SQS developer guide, "Amazon SQS short and long polling"). */
  readonly waitTimeSeconds: number;
  /** Consecutive receives that bring nothing new before a queue's sweep gives up (a safety stop). */
  readonly staleReceives: number;
  /** Time kept free before the Lambda's deadline for the batch in hand, metrics and logging, ms. */
  readonly reserveMs: number;
}

/** Defaults of everything but the margin (which the construct always sets). */
export const DEFAULT_SWEEP_SETTINGS: Omit<SweepSettings, 'marginSeconds'> = {
  receiveVisibilitySeconds: 30,
  repeatHoldSeconds: 30,
  waitTimeSeconds: 1,
  staleReceives: 10,
  reserveMs: 15_000,
};

/** What the sweep needs from outside; the handler builds it once per invocation. */
export interface SweepDeps {
  readonly sqs: SQSClient;
  /** Wall clock, epoch ms, for message ages (tests move it forward: fauxqs never expires messages). */
  readonly now: () => number;
  /** Time left before the Lambda's deadline, ms (`context.getRemainingTimeInMillis`). */
  readonly remainingMs: () => number;
}

/** Why a queue's sweep ended. */
export type SweepStop =
  /** As many distinct messages seen as the queue held when the sweep began. */
  | 'covered'
  /** A long-poll receive returned nothing: every visible message was seen. */
  | 'empty'
  /** `staleReceives` receives in a row brought only messages already seen. */
  | 'stale'
  /** The run's time (or this queue's share of it) was used up. */
  | 'deadline'
  | 'receiveFailed'
  /** The run ended before this queue's turn. */
  | 'notStarted';

/** One queue's sweep. Counts and ages only: never bodies. */
export interface QueueSweepResult {
  readonly queue: string;
  stoppedBecause: SweepStop;
  /**
   * Every message visible during the sweep was looked at and nothing failed: no message of this
   * queue can expire before the next run, and `oldestAgeSeconds` is the queue's true oldest.
   */
  complete: boolean;
  /** Distinct messages seen (re-sent copies are not counted again). */
  messages: number;
  /** Age of the oldest message seen, seconds, by its first send (`firstSentAt`, else SentTimestamp). 0 when none. */
  oldestAgeSeconds: number;
  /** Re-sent before expiry (the original deleted after the copy was accepted). */
  resent: number;
  /** Re-send failed: the original was left in place (and released). */
  resendFailed: number;
  /** Re-sent but the original could not be deleted: a duplicate remains (harmless, see docs/sweeper.md). */
  deleteFailed: number;
  /** Received without a SentTimestamp: its expiry cannot be known. */
  undated: number;
  /** Messages whose release failed: they reappear when the receive's visibility timeout ends. */
  releaseFailed: number;
  /** Messages the queue handed back a second time in this run (set aside for `repeatHoldSeconds`). */
  repeats: number;
  /** ReceiveMessage calls. */
  receives: number;
  /** All SQS requests of this queue's sweep (for the cost figure). */
  requests: number;
  /** Messages in the queue when the sweep began (SQS's approximate visible + in flight), null if unknown. */
  expected: number | null;
  /** Retention the sweep used: the lower of the configured and the live value. */
  retentionSeconds: number;
  /** The error of a failed receive or attributes call (name and message). */
  error?: string;
}

/** A run over every configured queue. */
export interface SweepSummary {
  readonly queues: QueueSweepResult[];
  /** Every queue complete. */
  readonly complete: boolean;
}

/**
 * Thrown by the handler after it has published what it measured, when a queue could not be
 * swept completely (time, receive error, re-send or delete failure): the function's Errors
 * metric is what pages, and Lambda retries the invocation.
 */
export class SweepIncompleteError extends Error {
  constructor(readonly queues: ReadonlyArray<Pick<QueueSweepResult, 'queue' | 'stoppedBecause' | 'messages' | 'expected' | 'resendFailed' | 'deleteFailed' | 'undated' | 'error'>>) {
    super(
      `sweep incomplete for ${queues.length} queue(s): ` +
        queues
          .map(
            (q) =>
              `${q.queue} (${q.stoppedBecause}; seen ${q.messages} of ~${q.expected ?? '?'}; resendFailed ${q.resendFailed}; deleteFailed ${q.deleteFailed}; undated ${q.undated}` +
              `${q.error ? `; ${q.error}` : ''})`,
          )
          .join(', '),
    );
    this.name = 'SweepIncompleteError';
    // Queue names, counts and the SDK's own error text: never a message body.
    markParamFree(this);
  }
}

/** SQS allows 10 message attributes per message (AWS SQS developer guide, "Amazon SQS message quotas"). */
export const MAX_MESSAGE_ATTRIBUTES = 10;
/**
 * When a message already carries so many attributes that the three history attributes do not
 * fit, the extra ones are kept together in this one (JSON: name -> {DataType, StringValue |
 * BinaryValueBase64}), so nothing is dropped.
 */
export const SWEEP_ATTR_FOLDED = 'sweptAttributes';
/** Attributes other modules filter on: never folded while there is room (spool, quarantine). */
const KEEP_UNFOLDED = ['job', 'errorType', 'kind', 'reason', 'sourceMessageId'];
const HISTORY = [SPOOL_ATTR_FIRST_SENT, SPOOL_ATTR_SWEEPS, SPOOL_ATTR_PRIOR_RECEIVES];
const BATCH = 10;

/** Reads the environment's queue list; the message says what is wrong and who sets it. */
export function parseQueues(json: string): SweptQueueConfig[] {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new Error('SWEEP_QUEUES is not JSON: it is a list of {name, url, retentionSeconds} written by the Sweeper construct (lib/sweeper.ts); redeploy.');
  }
  if (!Array.isArray(raw) || raw.length === 0) throw new Error('SWEEP_QUEUES must be a non-empty list of {name, url, retentionSeconds}.');
  return raw.map((q: unknown, i) => {
    const o = (q ?? {}) as Record<string, unknown>;
    if (typeof o.name !== 'string' || o.name === '' || typeof o.url !== 'string' || o.url === '') {
      throw new Error(`SWEEP_QUEUES[${i}]: name and url must be non-empty strings.`);
    }
    if (typeof o.retentionSeconds !== 'number' || !Number.isInteger(o.retentionSeconds) || o.retentionSeconds < 60) {
      throw new Error(`SWEEP_QUEUES[${i}] (${o.name}): retentionSeconds must be an integer >= 60 (SQS MessageRetentionPeriod).`);
    }
    return { name: o.name, url: o.url, retentionSeconds: o.retentionSeconds };
  });
}

function attrNumber(m: Message, name: string): number | undefined {
  const raw = m.MessageAttributes?.[name]?.StringValue;
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** SQS SentTimestamp of this copy (epoch ms), or undefined when SQS did not return it. */
export function sentAtOf(m: Message): number | undefined {
  const raw = m.Attributes?.SentTimestamp;
  const n = raw === undefined ? NaN : Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * When the failure was first sent (epoch ms): the `firstSentAt` attribute a sweep wrote, else
 * this copy's SentTimestamp; the earlier of the two if both, so a bad attribute never makes a
 * failure look younger than its copy.
 */
export function firstSentOf(m: Message): number | undefined {
  const sent = sentAtOf(m);
  const first = attrNumber(m, SPOOL_ATTR_FIRST_SENT);
  if (first === undefined) return sent;
  return sent === undefined ? first : Math.min(first, sent);
}

function copyValue(v: MessageAttributeValue): MessageAttributeValue {
  // List values are "reserved for future use" by SQS: only the scalar value is carried.
  return v.BinaryValue !== undefined ? { DataType: v.DataType, BinaryValue: v.BinaryValue } : { DataType: v.DataType, StringValue: v.StringValue };
}

function foldedEntry(v: MessageAttributeValue): Record<string, string> {
  return v.BinaryValue !== undefined
    ? { DataType: v.DataType ?? 'Binary', BinaryValueBase64: Buffer.from(v.BinaryValue).toString('base64') }
    : { DataType: v.DataType ?? 'String', StringValue: v.StringValue ?? '' };
}

/**
 * The message attributes of a message's re-sent copy: every original attribute, plus
 * `firstSentAt` (kept if present, else this copy's SentTimestamp), `sweeps` + 1 and
 * `priorReceives` + this copy's ApproximateReceiveCount (which restarts at 0 on the new message).
 * If the three would take the message over SQS's 10, the attributes no reader filters on are
 * folded into one JSON attribute ({@link SWEEP_ATTR_FOLDED}) instead of being dropped. Pure.
 */
export function resendAttributes(m: Message): Record<string, MessageAttributeValue> {
  const original = m.MessageAttributes ?? {};
  const first = firstSentOf(m);
  const history: Record<string, MessageAttributeValue> = {
    [SPOOL_ATTR_FIRST_SENT]: { DataType: 'Number', StringValue: String(first ?? '') },
    [SPOOL_ATTR_SWEEPS]: { DataType: 'Number', StringValue: String((attrNumber(m, SPOOL_ATTR_SWEEPS) ?? 0) + 1) },
    [SPOOL_ATTR_PRIOR_RECEIVES]: {
      DataType: 'Number',
      StringValue: String((attrNumber(m, SPOOL_ATTR_PRIOR_RECEIVES) ?? 0) + (Number(m.Attributes?.ApproximateReceiveCount ?? 0) || 0)),
    },
  };
  const others = Object.keys(original).filter((k) => !HISTORY.includes(k) && k !== SWEEP_ATTR_FOLDED);
  const folded = original[SWEEP_ATTR_FOLDED];
  const slots = MAX_MESSAGE_ATTRIBUTES - HISTORY.length - (folded ? 1 : 0);
  if (others.length <= slots) {
    const out: Record<string, MessageAttributeValue> = {};
    for (const k of others) out[k] = copyValue(original[k]);
    if (folded) out[SWEEP_ATTR_FOLDED] = copyValue(folded);
    return { ...out, ...history };
  }
  // Over the limit: keep what readers filter on, then by name, and fold the rest into one attribute.
  const rank = (k: string) => (KEEP_UNFOLDED.includes(k) ? KEEP_UNFOLDED.indexOf(k) : KEEP_UNFOLDED.length);
  const ordered = [...others].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const keep = ordered.slice(0, MAX_MESSAGE_ATTRIBUTES - HISTORY.length - 1);
  let merged: Record<string, unknown> = {};
  if (folded?.StringValue) {
    try {
      const parsed = JSON.parse(folded.StringValue) as unknown;
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) merged = parsed as Record<string, unknown>;
    } catch {
      merged = { [SWEEP_ATTR_FOLDED]: foldedEntry(folded) };
    }
  }
  for (const k of ordered.slice(keep.length)) merged[k] = foldedEntry(original[k]);
  const out: Record<string, MessageAttributeValue> = {};
  for (const k of keep) out[k] = copyValue(original[k]);
  out[SWEEP_ATTR_FOLDED] = { DataType: 'String', StringValue: JSON.stringify(merged) };
  return { ...out, ...history };
}

/** Bytes a message counts toward SQS's size limit: body plus attribute names, types and values. */
function sizeOf(body: string, attrs: Record<string, MessageAttributeValue>): number {
  let n = Buffer.byteLength(body, 'utf8');
  for (const [k, v] of Object.entries(attrs)) {
    n += Buffer.byteLength(k) + Buffer.byteLength(v.DataType ?? '') + (v.BinaryValue ? v.BinaryValue.byteLength : Buffer.byteLength(v.StringValue ?? ''));
  }
  return n;
}

/** The SendMessage entry of a message's copy: same body, attributes with history, same X-Ray trace header. */
export function resendEntry(m: Message, id: string): SendMessageBatchRequestEntry {
  const trace = m.Attributes?.AWSTraceHeader;
  return {
    Id: id,
    MessageBody: m.Body ?? '',
    MessageAttributes: resendAttributes(m),
    ...(trace ? { MessageSystemAttributes: { AWSTraceHeader: { DataType: 'String', StringValue: trace } } } : {}),
  };
}

function describe(e: unknown): string {
  return `${errorName(e)}: ${errorMessage(e).slice(0, 200)}`;
}

function newResult(q: SweptQueueConfig): QueueSweepResult {
  return {
    queue: q.name,
    stoppedBecause: 'notStarted',
    complete: false,
    messages: 0,
    oldestAgeSeconds: 0,
    resent: 0,
    resendFailed: 0,
    deleteFailed: 0,
    undated: 0,
    releaseFailed: 0,
    repeats: 0,
    receives: 0,
    requests: 0,
    expected: null,
    retentionSeconds: q.retentionSeconds,
  };
}

interface Handle {
  readonly receipt: string;
}

/**
 * Sweeps one queue until every message was seen, or the Lambda's remaining time falls to
 * `stopBelowMs`. Receives in batches of 10 with a short visibility timeout; re-sends each
 * message whose SentTimestamp is older than retention minus the margin and deletes the original
 * only once its copy was accepted; releases every other message at once. Never throws.
 */
export async function sweepQueue(deps: SweepDeps, settings: SweepSettings, q: SweptQueueConfig, stopBelowMs: number): Promise<QueueSweepResult> {
  const r = newResult(q);
  const sqs = deps.sqs;
  try {
    r.requests++;
    const a = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: q.url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'MessageRetentionPeriod'],
      }),
    );
    const at = a.Attributes ?? {};
    r.expected = Number(at.ApproximateNumberOfMessages ?? 0) + Number(at.ApproximateNumberOfMessagesNotVisible ?? 0);
    const live = Number(at.MessageRetentionPeriod);
    // Retention can be lowered after deploy (console, CLI): the shorter one decides expiry.
    if (Number.isInteger(live) && live > 0) r.retentionSeconds = Math.min(q.retentionSeconds, live);
  } catch (e) {
    // Not fatal: without the count the sweep ends on an empty receive (or stale/deadline) instead.
    r.error = `GetQueueAttributes ${describe(e)}`;
  }
  const resendAfterMs = (r.retentionSeconds - settings.marginSeconds) * 1000;
  // MessageIds seen in this run: originals, and the copies this run sent (so they are not counted twice).
  const seen = new Set<string>();
  let stale = 0;

  const changeVisibility = async (handles: Handle[], seconds: number): Promise<void> => {
    for (let i = 0; i < handles.length; i += BATCH) {
      const group = handles.slice(i, i + BATCH);
      try {
        r.requests++;
        const res = await sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: q.url,
            Entries: group.map((h, j) => ({ Id: String(j), ReceiptHandle: h.receipt, VisibilityTimeout: seconds })),
          }),
        );
        r.releaseFailed += res.Failed?.length ?? 0;
      } catch {
        // They become visible again when the receive's short visibility timeout ends.
        r.releaseFailed += group.length;
      }
    }
  };

  /** Re-sends `old`; returns the originals whose copy was accepted, and records the copies' ids. */
  const resend = async (old: Message[]): Promise<Message[]> => {
    const entries = old.map((m, i) => ({ m, entry: resendEntry(m, String(i)) }));
    const groups = sqsSendBatches(entries, (e) => sizeOf(e.entry.MessageBody ?? '', e.entry.MessageAttributes ?? {}));
    const accepted: Message[] = [];
    for (const group of groups) {
      try {
        r.requests++;
        const res = await sqs.send(new SendMessageBatchCommand({ QueueUrl: q.url, Entries: group.map((e) => e.entry) }));
        for (const ok of res.Successful ?? []) {
          const e = group.find((g) => g.entry.Id === ok.Id);
          if (!e) continue;
          accepted.push(e.m);
          if (ok.MessageId) seen.add(ok.MessageId);
        }
      } catch {
        // One bad entry can fail a whole batch call: try each on its own so the others still go.
        for (const e of group) {
          try {
            r.requests++;
            const { Id: _id, ...single } = e.entry;
            const res = await sqs.send(new SendMessageCommand({ QueueUrl: q.url, ...single }));
            accepted.push(e.m);
            if (res.MessageId) seen.add(res.MessageId);
          } catch {
            // Left in place: released below, re-sent by a later run (the margin leaves many).
          }
        }
      }
    }
    return accepted;
  };

  const deleteOriginals = async (msgs: Message[]): Promise<void> => {
    for (let i = 0; i < msgs.length; i += BATCH) {
      const group = msgs.slice(i, i + BATCH);
      try {
        r.requests++;
        const res = await sqs.send(
          new DeleteMessageBatchCommand({ QueueUrl: q.url, Entries: group.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle })) }),
        );
        r.deleteFailed += res.Failed?.length ?? 0;
      } catch {
        r.deleteFailed += group.length;
      }
    }
  };

  let stop: SweepStop | null = null;
  while (stop === null) {
    if (deps.remainingMs() <= stopBelowMs) {
      stop = 'deadline';
      break;
    }
    if (r.receives > 0 && r.expected !== null && r.messages >= r.expected) {
      stop = 'covered';
      break;
    }
    if (stale >= settings.staleReceives) {
      stop = 'stale';
      break;
    }
    let msgs: Message[];
    try {
      r.requests++;
      r.receives++;
      const res = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: q.url,
          MaxNumberOfMessages: BATCH,
          WaitTimeSeconds: settings.waitTimeSeconds,
          VisibilityTimeout: settings.receiveVisibilitySeconds,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount', 'AWSTraceHeader'],
        }),
      );
      msgs = res.Messages ?? [];
    } catch (e) {
      r.error = `ReceiveMessage ${describe(e)}`;
      stop = 'receiveFailed';
      break;
    }
    if (msgs.length === 0) {
      stop = 'empty';
      break;
    }
    const now = deps.now();
    const release: Handle[] = [];
    const hold: Handle[] = [];
    const old: Message[] = [];
    let fresh = 0;
    for (const m of msgs) {
      const handle = { receipt: m.ReceiptHandle as string };
      const id = m.MessageId ?? '';
      if (seen.has(id)) {
        r.repeats++;
        hold.push(handle);
        continue;
      }
      seen.add(id);
      fresh++;
      r.messages++;
      const first = firstSentOf(m);
      if (first !== undefined) r.oldestAgeSeconds = Math.max(r.oldestAgeSeconds, Math.floor((now - first) / 1000));
      const sent = sentAtOf(m);
      if (sent === undefined) {
        r.undated++;
        release.push(handle);
      } else if (now - sent >= resendAfterMs) {
        old.push(m);
      } else {
        release.push(handle);
      }
    }
    stale = fresh === 0 ? stale + 1 : 0;
    if (old.length) {
      const accepted = await resend(old);
      r.resent += accepted.length;
      const failed = old.filter((m) => !accepted.includes(m));
      r.resendFailed += failed.length;
      for (const m of failed) release.push({ receipt: m.ReceiptHandle as string });
      // Only after the copy is accepted: a crash between the two leaves a duplicate, never a loss.
      await deleteOriginals(accepted);
    }
    await changeVisibility(release, 0);
    if (hold.length) await changeVisibility(hold, settings.repeatHoldSeconds);
  }
  r.stoppedBecause = stop;
  r.complete = (stop === 'covered' || stop === 'empty') && r.resendFailed === 0 && r.deleteFailed === 0 && r.undated === 0;
  return r;
}

/**
 * Sweeps every queue in turn. Each queue gets an equal share of the time that is left when its
 * turn comes (unused time passes on), so one huge queue cannot keep the others from ever being
 * swept; the run stops `reserveMs` before the Lambda's deadline.
 */
export async function sweep(deps: SweepDeps, settings: SweepSettings, queues: ReadonlyArray<SweptQueueConfig>): Promise<SweepSummary> {
  const results: QueueSweepResult[] = [];
  for (let i = 0; i < queues.length; i++) {
    const left = deps.remainingMs() - settings.reserveMs;
    if (left <= 0) {
      results.push(newResult(queues[i]));
      continue;
    }
    const laterShare = (left * (queues.length - i - 1)) / (queues.length - i);
    results.push(await sweepQueue(deps, settings, queues[i], settings.reserveMs + laterShare));
  }
  return { queues: results, complete: results.every((q) => q.complete) };
}
