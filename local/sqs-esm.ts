/**
 * A local stand-in for Lambda's SQS event source mapping, for the benchmark, the tests and the
 * offline run: pollers (the mapping's maximum concurrency) receive one message each (batch size 1),
 * invoke the handler with an SQS event as Lambda builds it and a context whose
 * getRemainingTimeInMillis counts down from the function timeout, delete the message unless it is
 * in `batchItemFailures` (ReportBatchItemFailures) or the handler threw, and record each
 * invocation's duration against the timeout. What it models is documented Lambda behaviour (AWS
 * Lambda developer guide, "Using Lambda with Amazon SQS": synchronous invoke per batch, deletion on
 * success, partial batch responses); what it does not: Lambda cannot be killed here, so an
 * invocation past its timeout is only reported (`overran`), and a failed message's visibility
 * timeout is shortened to `retryAfterSeconds` (time compression).
 *
 * Each poller is its own "container": `container(i)` builds its handler once, so per-container
 * state (the starter's rate gate) is not shared between concurrent invocations, as in Lambda.
 * Never bundled into Lambda code.
 */
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, GetQueueAttributesCommand, Message, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

/** What the driver passes as the Lambda context. */
export interface EsmContext {
  getRemainingTimeInMillis(): number;
  readonly awsRequestId: string;
  readonly functionName: string;
}

export type EsmHandler = (event: SQSEvent, context: EsmContext) => Promise<SQSBatchResponse | void>;

export interface EsmOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  /** Builds the handler of poller `i` (its container). */
  readonly container: (index: number) => EsmHandler;
  /** The mapping's maximum concurrency. */
  readonly maxConcurrency: number;
  /** The function timeout, ms. */
  readonly timeoutMs: number;
  /** Visibility timeout of a received message, s. @default 6 x the timeout (AWS's advice for SQS event sources) */
  readonly visibilitySeconds?: number;
  /** A failed message becomes visible again after this many seconds. @default 0 */
  readonly retryAfterSeconds?: number;
  /** Safety stop. @default 100,000 */
  readonly maxInvocations?: number;
  /**
   * Whether a message handled successfully is delivered once more (SQS standard queues deliver at
   * least once: a copy of a message may be delivered again; Amazon SQS developer guide,
   * "At-least-once delivery"). The copy goes to the same function right after. @default never
   */
  readonly redeliver?: (m: Message) => boolean;
  /** Pause after an empty receive, ms. @default 20 */
  readonly idleMs?: number;
  /** An empty queue ends the run only once this returns true (e.g. the producer is done). @default always */
  readonly stopWhenEmpty?: () => boolean;
  readonly region?: string;
  readonly functionName?: string;
}

/** One invocation as measured. */
export interface EsmInvocation {
  readonly container: number;
  readonly messageId: string;
  readonly startedAt: number;
  readonly ms: number;
  /** The record was reported failed, or the handler threw. */
  readonly failed: boolean;
  readonly error?: string;
  /** It ran past the function timeout (Lambda would have killed it). */
  readonly overran: boolean;
}

export interface EsmRun {
  readonly invocations: ReadonlyArray<EsmInvocation>;
  readonly longestMs: number;
  readonly overran: number;
  readonly failed: number;
}

/** The SQS record Lambda builds from a received message. */
export function toSqsRecord(m: Message, queueArn: string, region: string): SQSRecord {
  const a = m.Attributes ?? {};
  return {
    messageId: m.MessageId ?? '',
    receiptHandle: m.ReceiptHandle ?? '',
    body: m.Body ?? '',
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: Object.fromEntries(
      Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, { stringValue: v.StringValue, dataType: v.DataType ?? 'String', stringListValues: [], binaryListValues: [] }]),
    ),
    md5OfBody: m.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

/** Drives the handler until the queue holds nothing (visible, in flight or delayed). */
export async function driveEventSource(o: EsmOptions): Promise<EsmRun> {
  const region = o.region ?? 'us-east-1';
  const queueArn = `arn:aws:sqs:${region}:000000000000:${o.queueUrl.split('/').pop()}`;
  const visibility = o.visibilitySeconds ?? Math.ceil((6 * o.timeoutMs) / 1000);
  const invocations: EsmInvocation[] = [];
  let count = 0;
  const drained = async (): Promise<boolean> => {
    const out = await o.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: o.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] }),
    );
    const at = out.Attributes ?? {};
    return Number(at.ApproximateNumberOfMessages ?? 0) + Number(at.ApproximateNumberOfMessagesNotVisible ?? 0) + Number(at.ApproximateNumberOfMessagesDelayed ?? 0) === 0;
  };
  const poller = async (index: number): Promise<void> => {
    const handler = o.container(index);
    while (count < (o.maxInvocations ?? 100_000)) {
      const res = await o.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: o.queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 0, VisibilityTimeout: visibility, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }),
      );
      const m = res.Messages?.[0];
      if (!m) {
        if ((o.stopWhenEmpty?.() ?? true) && (await drained())) return;
        await new Promise((r) => setTimeout(r, o.idleMs ?? 20));
        continue;
      }
      count++;
      const startedAt = Date.now();
      const deadline = startedAt + o.timeoutMs;
      const context: EsmContext = { getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()), awsRequestId: `esm-${index}-${count}-${startedAt}`, functionName: o.functionName ?? 'starter' };
      let failed = false;
      let error: string | undefined;
      try {
        const out = await handler({ Records: [toSqsRecord(m, queueArn, region)] }, context);
        failed = (out?.batchItemFailures ?? []).some((f) => f.itemIdentifier === m.MessageId);
        if (!failed && o.redeliver?.(m)) {
          const record = toSqsRecord(m, queueArn, region);
          const again = await handler({ Records: [{ ...record, attributes: { ...record.attributes, ApproximateReceiveCount: String(Number(record.attributes.ApproximateReceiveCount) + 1) } }] }, context);
          failed = (again?.batchItemFailures ?? []).some((f) => f.itemIdentifier === m.MessageId);
        }
      } catch (e) {
        failed = true;
        error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      }
      const ms = Date.now() - startedAt;
      const overran = ms > o.timeoutMs;
      invocations.push({ container: index, messageId: m.MessageId ?? '', startedAt, ms, failed: failed || overran, error, overran });
      if (failed || overran) {
        await o.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: o.queueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: o.retryAfterSeconds ?? 0 }));
      } else {
        await o.sqs.send(new DeleteMessageCommand({ QueueUrl: o.queueUrl, ReceiptHandle: m.ReceiptHandle }));
      }
    }
  };
  await Promise.all(Array.from({ length: o.maxConcurrency }, (_, i) => poller(i)));
  return {
    invocations,
    longestMs: invocations.reduce((x, i) => Math.max(x, i.ms), 0),
    overran: invocations.filter((i) => i.overran).length,
    failed: invocations.filter((i) => i.failed).length,
  };
}
