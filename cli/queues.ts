import { ChangeMessageVisibilityBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { SPOOL_ATTR_FIRST_SENT } from '../lambdas/shared/spool-message';
import { explain } from './errors';

/** SQS's approximate counts of one queue (GetQueueAttributes). */
export interface QueueCounts {
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
}

/** Reads the approximate counts; `what` names the queue in errors. */
export async function queueCounts(sqs: SQSClient, queueUrl: string, what: string): Promise<QueueCounts> {
  try {
    const r = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
      }),
    );
    const a = r.Attributes ?? {};
    return { visible: Number(a.ApproximateNumberOfMessages ?? 0), inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0), delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0) };
  } catch (e) {
    throw explain(e, `read the ${what} queue's attributes (sqs:GetQueueAttributes)`);
  }
}

/** What a peek keeps of one message: its attributes and what `extract` took from the body. */
export interface Peeked<T> {
  readonly messageId: string;
  /** String message attributes (job, errorType, kind, reason, firstSentAt...). */
  readonly attributes: Readonly<Record<string, string>>;
  /** When the failure was first spooled: the sweeper's firstSentAt when present, else SentTimestamp (epoch ms). */
  readonly firstSentMs: number | null;
  readonly receiveCount: number;
  readonly extracted: T;
}

/** Result of a peek. */
export interface PeekResult<T> {
  readonly messages: ReadonlyArray<Peeked<T>>;
  /** The scan stopped at `limit` with messages left unread. */
  readonly truncated: boolean;
  /** Messages whose release failed: they reappear when the short visibility timeout ends. */
  readonly releaseFailed: number;
}

/** Visibility of peeked messages: short, so that a crashed CLI hides nothing for long. */
export const PEEK_VISIBILITY_SECONDS = 60;

/**
 * Looks at up to `limit` messages of a queue and releases every one at once when done
 * (ChangeMessageVisibility 0), so they stay where they are. The body is handed to `extract` and then
 * dropped: callers keep ids and counts, never params. Each look raises the message's receive count
 * (SQS's ApproximateAgeOfOldestMessage ignores messages received three times or more: AWS SQS
 * developer guide, "Available CloudWatch metrics for Amazon SQS"); the ages shown here come from the
 * messages themselves (firstSentAt across sweeper re-sends, else SentTimestamp), which that does not affect.
 */
export async function peek<T>(sqs: SQSClient, queueUrl: string, what: string, limit: number, extract: (body: string) => T): Promise<PeekResult<T>> {
  const seen = new Map<string, Peeked<T>>();
  const receipts: string[] = [];
  let truncated = false;
  let releaseFailed = 0;
  try {
    for (;;) {
      if (seen.size >= limit) {
        truncated = true;
        break;
      }
      let r;
      try {
        r = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: Math.min(10, limit - seen.size),
            // Short polling can answer "empty" for a queue that is not: wait a second (AWS SQS developer guide, "short and long polling").
            WaitTimeSeconds: 1,
            VisibilityTimeout: PEEK_VISIBILITY_SECONDS,
            MessageAttributeNames: ['All'],
            MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'],
          }),
        );
      } catch (e) {
        throw explain(e, `read the ${what} queue (sqs:ReceiveMessage, kms:Decrypt on the params key)`);
      }
      const msgs = r.Messages ?? [];
      if (msgs.length === 0) break;
      let fresh = 0;
      for (const m of msgs) {
        if (m.ReceiptHandle) receipts.push(m.ReceiptHandle);
        const id = m.MessageId ?? '';
        if (seen.has(id)) continue;
        fresh++;
        const attributes = Object.fromEntries(
          Object.entries(m.MessageAttributes ?? {})
            .filter(([, v]) => v?.StringValue !== undefined)
            .map(([k, v]) => [k, v.StringValue as string]),
        );
        const first = Number(attributes[SPOOL_ATTR_FIRST_SENT] ?? m.Attributes?.SentTimestamp ?? NaN);
        seen.set(id, {
          messageId: id,
          attributes,
          firstSentMs: Number.isFinite(first) ? first : null,
          receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
          extracted: extract(m.Body ?? ''),
        });
      }
      if (fresh === 0) break;
    }
  } finally {
    releaseFailed = await release(sqs, queueUrl, receipts);
  }
  return { messages: [...seen.values()], truncated, releaseFailed };
}

async function release(sqs: SQSClient, queueUrl: string, receipts: ReadonlyArray<string>): Promise<number> {
  let failed = 0;
  for (let i = 0; i < receipts.length; i += 10) {
    const group = receipts.slice(i, i + 10);
    try {
      const r = await sqs.send(
        new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: group.map((h, j) => ({ Id: String(j), ReceiptHandle: h, VisibilityTimeout: 0 })) }),
      );
      failed += r.Failed?.length ?? 0;
    } catch {
      failed += group.length;
    }
  }
  return failed;
}
