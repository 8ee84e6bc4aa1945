/**
 * An SNS stand-in for the prover's alarm scenario: Subscribe (protocol `sqs`), Unsubscribe and
 * ListSubscriptionsByTopic over the AWS query protocol (the protocol of `@aws-sdk/client-sns`), for
 * the real client pointed at it (AWS_ENDPOINT_URL_SNS), and `publish(topicArn, subject, message)`
 * for whoever publishes locally (the CloudWatch stand-in's alarm actions). A published message is
 * delivered to each `sqs` subscription as SNS does without raw delivery: a JSON envelope with
 * Type `Notification`, MessageId, TopicArn, Subject, Message (AWS SNS developer guide, "Amazon SNS
 * message and JSON formats"). Subscriptions to SQS need no confirmation (same page: "Fanout to
 * Amazon SQS queues"); the queue's policy is not evaluated here. Never bundled into Lambda code.
 */
import { randomUUID } from 'node:crypto';
import { sendQueryError, StandinServer, startStandinServer, xmlEscape } from './standin-http';

const XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';

export interface SnsSubscription {
  readonly SubscriptionArn: string;
  readonly TopicArn: string;
  readonly Protocol: string;
  readonly Endpoint: string;
}

export interface SnsStandin extends StandinServer {
  readonly subscriptions: Map<string, SnsSubscription>;
  /** Messages published, by topic. */
  readonly published: Array<{ topicArn: string; messageId: string; subject: string }>;
  publish(topicArn: string, subject: string, message: string): Promise<string>;
}

/**
 * Starts the stand-in. `topics` are the topic ARNs that exist; `deliverToQueue(queueArn, body)`
 * sends to SQS (the caller's SQS client).
 */
export async function startSnsStandin(topics: ReadonlyArray<string>, deliverToQueue: (queueArn: string, body: string) => Promise<void>): Promise<SnsStandin> {
  const subscriptions = new Map<string, SnsSubscription>();
  const published: SnsStandin['published'] = [];
  const ok = (action: string, result: string) => `<${action}Response xmlns="${XMLNS}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`;
  const server = await startStandinServer(async ({ body, scope }, res) => {
    const p = new URLSearchParams(body);
    const action = p.get('Action') ?? '';
    const fail = (code: string, message: string, status = 400) => sendQueryError(res, status, XMLNS, code, message);
    if (!scope) return fail('MissingAuthenticationToken', 'Request is missing Authentication Token', 403);
    const topicArn = p.get('TopicArn') ?? '';
    if (action === 'Subscribe') {
      if (!topics.includes(topicArn)) return fail('NotFound', 'Topic does not exist', 404);
      if (p.get('Protocol') !== 'sqs') return fail('InvalidParameter', 'the stand-in serves protocol sqs only');
      const arn = `${topicArn}:${randomUUID()}`;
      subscriptions.set(arn, { SubscriptionArn: arn, TopicArn: topicArn, Protocol: 'sqs', Endpoint: p.get('Endpoint') ?? '' });
      return res.writeHead(200, { 'content-type': 'text/xml' }).end(ok('Subscribe', `<SubscriptionArn>${xmlEscape(arn)}</SubscriptionArn>`));
    }
    if (action === 'Unsubscribe') {
      subscriptions.delete(p.get('SubscriptionArn') ?? '');
      return res.writeHead(200, { 'content-type': 'text/xml' }).end(`<UnsubscribeResponse xmlns="${XMLNS}"><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></UnsubscribeResponse>`);
    }
    if (action === 'ListSubscriptionsByTopic') {
      const members = [...subscriptions.values()]
        .filter((s) => s.TopicArn === topicArn)
        .map((s) => `<member><SubscriptionArn>${xmlEscape(s.SubscriptionArn)}</SubscriptionArn><TopicArn>${xmlEscape(s.TopicArn)}</TopicArn><Protocol>sqs</Protocol><Endpoint>${xmlEscape(s.Endpoint)}</Endpoint><Owner>000000000000</Owner></member>`)
        .join('');
      return res.writeHead(200, { 'content-type': 'text/xml' }).end(ok('ListSubscriptionsByTopic', `<Subscriptions>${members}</Subscriptions>`));
    }
    return fail('InvalidAction', `not served by the stand-in: ${action}`);
  });
  return {
    ...server,
    subscriptions,
    published,
    async publish(topicArn, subject, message) {
      const messageId = randomUUID();
      published.push({ topicArn, messageId, subject });
      for (const s of subscriptions.values()) {
        if (s.TopicArn !== topicArn) continue;
        const envelope = { Type: 'Notification', MessageId: messageId, TopicArn: topicArn, Subject: subject, Message: message, Timestamp: new Date().toISOString(), SignatureVersion: '1' };
        await deliverToQueue(s.Endpoint, JSON.stringify(envelope));
      }
      return messageId;
    },
  };
}
