/**
 * In-memory SQS queues behind an aws-sdk-client-mock SQS client, for reprocess's rule-by-rule tests:
 * what was received, deleted, released or sent is visible per queue URL. Receive hides a message
 * until it is deleted or released with visibility 0 (no timeout: the tests control each step);
 * ApproximateReceiveCount counts receives; SentTimestamp is the message's `sentAt`.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { AwsClientStub } from 'aws-sdk-client-mock';

export interface FakeQueueMessage {
  id: string;
  body: string;
  attrs: Record<string, MessageAttributeValue>;
  sentAt: number;
  visible: boolean;
  receipt?: string;
  receives: number;
}

export class FakeSqs {
  private readonly queues = new Map<string, FakeQueueMessage[]>();
  private seq = 0;

  constructor(private readonly now: () => number) {}

  /** The messages of a queue, in order (the same array for the whole test: deletes remove in place). */
  messages(url: string): FakeQueueMessage[] {
    let q = this.queues.get(url);
    if (!q) this.queues.set(url, (q = []));
    return q;
  }

  /** Puts a message in a queue, sent now unless `sentAt` says otherwise. */
  add(url: string, body: string | object, opts: { id?: string; attrs?: Record<string, MessageAttributeValue>; sentAt?: number } = {}): FakeQueueMessage {
    const m: FakeQueueMessage = {
      id: opts.id ?? `m${this.seq++}`,
      body: typeof body === 'string' ? body : JSON.stringify(body),
      attrs: opts.attrs ?? {},
      sentAt: opts.sentAt ?? this.now(),
      visible: true,
      receives: 0,
    };
    this.messages(url).push(m);
    return m;
  }

  visible(url: string): number {
    return this.messages(url).filter((m) => m.visible).length;
  }

  /** Serves the calls reprocess makes on the mocked client (call after `mock.reset()`; a test may override one after). */
  install(mock: AwsClientStub<SQSClient>): void {
    const ok = (entries: ReadonlyArray<{ Id?: string }>) => ({ Successful: entries.map((e) => ({ Id: e.Id })), Failed: [] });
    mock.on(ReceiveMessageCommand).callsFake((input) => this.receive(input.QueueUrl, input.MaxNumberOfMessages ?? 1));
    mock.on(DeleteMessageBatchCommand).callsFake((input) => {
      const q = this.messages(input.QueueUrl);
      for (const e of input.Entries) {
        const i = q.findIndex((m) => m.receipt === e.ReceiptHandle && !m.visible);
        if (i >= 0) q.splice(i, 1);
      }
      return ok(input.Entries);
    });
    mock.on(ChangeMessageVisibilityBatchCommand).callsFake((input) => {
      for (const e of input.Entries) {
        const m = this.messages(input.QueueUrl).find((x) => x.receipt === e.ReceiptHandle);
        if (m && e.VisibilityTimeout === 0) m.visible = true;
      }
      return ok(input.Entries);
    });
    mock.on(SendMessageBatchCommand).callsFake((input) => {
      for (const e of input.Entries) this.add(input.QueueUrl, e.MessageBody ?? '', { id: `sent${this.seq++}`, attrs: e.MessageAttributes ?? {} });
      return ok(input.Entries);
    });
    mock.on(GetQueueAttributesCommand).callsFake((input) => {
      const q = this.messages(input.QueueUrl);
      const visible = this.visible(input.QueueUrl);
      return { Attributes: { ApproximateNumberOfMessages: String(visible), ApproximateNumberOfMessagesNotVisible: String(q.length - visible), ApproximateNumberOfMessagesDelayed: '0' } };
    });
  }

  /** Receive as a handler (a test that overrides Receive for a fault can still hand out real messages). */
  receive(url: string, max: number): { Messages: Array<Record<string, unknown>> } {
    const out = this.messages(url).filter((m) => m.visible).slice(0, max);
    for (const m of out) {
      m.visible = false;
      m.receives += 1;
      m.receipt = `r${this.seq++}`;
    }
    return {
      Messages: out.map((m) => ({
        MessageId: m.id,
        ReceiptHandle: m.receipt,
        Body: m.body,
        Attributes: { SentTimestamp: String(m.sentAt), ApproximateReceiveCount: String(m.receives) },
        MessageAttributes: m.attrs,
      })),
    };
  }
}
