import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { TICK_ATTR_BATCH, TICK_ATTR_JOB } from '../shared/tick-batch';

/**
 * The operator's redrive of the tick dead-letter queue, run by the starter (whose role the queue's
 * lock admits): `aws lambda invoke --function-name <StarterFunctionName> --payload
 * '{"redriveDeadLetters": true, "max": 100}' out.json`. Each message goes back to the tick queue as
 * it is (same body and attributes) and is deleted from the dead-letter queue once sent; the tick
 * ledger then starts only what its batch is missing. SQS's own StartMessageMoveTask would need the
 * operator to receive, delete and send on queues locked to the app's roles.
 */

/** The redrive request. */
export interface RedriveRequest {
  readonly redriveDeadLetters: true;
  /** Messages moved at most. 1-10,000. @default 100 */
  readonly max?: number;
}

/** What the redrive did. Counts only. */
export interface RedriveSummary {
  readonly moved: number;
  /** Received but not sent back (they stay in the dead-letter queue). */
  readonly failed: number;
  readonly stoppedBecause: 'max' | 'empty' | 'time';
}

/** True for a redrive request (the handler is otherwise invoked by the event source). */
export function isRedriveRequest(event: unknown): event is RedriveRequest {
  return typeof event === 'object' && event !== null && (event as { redriveDeadLetters?: unknown }).redriveDeadLetters === true;
}

/** Moves up to `max` messages from the dead-letter queue back to the tick queue, stopping before `stopAtMs`. */
export async function redriveDeadLetters(
  deps: { readonly sqs: SQSClient; readonly deadLetterQueueUrl: string; readonly tickQueueUrl: string; readonly now?: () => number },
  o: { readonly max: number; readonly stopAtMs: number },
): Promise<RedriveSummary> {
  const now = deps.now ?? Date.now;
  let moved = 0;
  let failed = 0;
  while (moved + failed < o.max) {
    if (now() >= o.stopAtMs) return { moved, failed, stoppedBecause: 'time' };
    const res = await deps.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: deps.deadLetterQueueUrl,
        MaxNumberOfMessages: Math.min(10, o.max - moved - failed),
        WaitTimeSeconds: 1,
        VisibilityTimeout: 60,
        MessageAttributeNames: [TICK_ATTR_JOB, TICK_ATTR_BATCH],
      }),
    );
    const msgs = res.Messages ?? [];
    if (msgs.length === 0) return { moved, failed, stoppedBecause: 'empty' };
    const sent = await deps.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: deps.tickQueueUrl,
        Entries: msgs.map((m, i) => ({ Id: String(i), MessageBody: m.Body ?? '', MessageAttributes: m.MessageAttributes })),
      }),
    );
    const ok = new Set((sent.Successful ?? []).map((s) => Number(s.Id)));
    const done = msgs.filter((_, i) => ok.has(i));
    if (done.length > 0) {
      await deps.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: deps.deadLetterQueueUrl, Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }));
    }
    moved += done.length;
    failed += msgs.length - done.length;
  }
  return { moved, failed, stoppedBecause: 'max' };
}

/**
 * Answers an operator's redrive request for a starter (standard or high-volume): at most `max`
 * (1-10,000, default 100) messages, stopping 10 s before the invocation's end.
 */
export async function answerRedrive(
  event: RedriveRequest,
  deps: { readonly sqs: SQSClient; readonly deadLetterQueueUrl: string; readonly tickQueueUrl: string },
  remainingMs: number,
): Promise<RedriveSummary> {
  const max = Math.min(10_000, Math.max(1, Math.floor(Number(event.max ?? 100)) || 100));
  return redriveDeadLetters(deps, { max, stopAtMs: Date.now() + remainingMs - 10_000 });
}
