import { sqsSendBatches } from './sqs-batches';
import { MessageAttributeValue, SendMessageBatchCommand, SendMessageBatchRequestEntry, SQSClient } from '@aws-sdk/client-sqs';
import { MAX_SQS_MESSAGE_BYTES, QUARANTINE_ATTR_REASON, SPOOL_ATTR_ERROR, SPOOL_ATTR_JOB, SPOOL_ATTR_KIND, SpoolMessage } from './spool-message';

/** Thrown when spool (or quarantine) messages could not be sent: the caller fails so its work is retried. */
export class SpoolSendError extends Error {
  constructor(readonly failed: number) {
    super(`${failed} spool message(s) could not be sent`);
    this.name = 'SpoolSendError';
  }
}

/** A message for the spool or the quarantine; `reason` (quarantine only) becomes the `reason` attribute. */
export interface OutgoingSpoolMessage {
  readonly message: SpoolMessage;
  readonly reason?: string;
}

/** The attributes every spool and quarantine message carries (reprocess filters on them without reading bodies). */
export function spoolMessageAttributes(m: Pick<SpoolMessage, 'job' | 'error' | 'kind'>, reason?: string): Record<string, MessageAttributeValue> {
  return {
    [SPOOL_ATTR_JOB]: { DataType: 'String', StringValue: m.job },
    [SPOOL_ATTR_ERROR]: { DataType: 'String', StringValue: m.error },
    [SPOOL_ATTR_KIND]: { DataType: 'String', StringValue: m.kind },
    ...(reason ? { [QUARANTINE_ATTR_REASON]: { DataType: 'String', StringValue: reason.slice(0, 1000) } } : {}),
  };
}

/**
 * An envelope too large for an SQS message cannot be replayed from the spool anyway: keep the
 * reason, drop the input (the client record keeps the params in full).
 */
export function fitForSqs(message: SpoolMessage): SpoolMessage {
  if (Buffer.byteLength(JSON.stringify(message), 'utf8') <= MAX_SQS_MESSAGE_BYTES - 2048) return message;
  return { ...message, input: null, cause: `${message.cause} (input dropped: larger than an SQS message; see the client record for the params)` };
}

/**
 * Sends spool messages in SendMessageBatch calls of <= 10 entries and <= 1 MiB in total (AWS SQS
 * developer guide, "Amazon SQS message quotas"); re-sends refused entries once, then throws
 * {@link SpoolSendError} for what is still refused.
 */
export async function sendSpoolMessages(sqs: SQSClient, queueUrl: string, messages: ReadonlyArray<OutgoingSpoolMessage>): Promise<void> {
  const entries: SendMessageBatchRequestEntry[] = messages.map(({ message, reason }, i) => {
    const m = fitForSqs(message);
    return {
      Id: String(i),
      MessageBody: JSON.stringify(m),
      MessageAttributes: spoolMessageAttributes(m, reason),
    };
  });
  // The body plus room for its few short attributes.
  const batches = sqsSendBatches(entries, (e) => Buffer.byteLength(e.MessageBody!, 'utf8') + 1536);
  let failed = 0;
  for (const batch of batches) {
    let pending = batch;
    for (let round = 0; round < 2 && pending.length > 0; round++) {
      const out = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
      const failedIds = new Set((out.Failed ?? []).map((f) => f.Id));
      pending = pending.filter((e) => failedIds.has(e.Id));
    }
    failed += pending.length;
  }
  if (failed > 0) throw new SpoolSendError(failed);
}
