/**
 * An SNS stand-in over the AWS query protocol (what `@aws-sdk/client-sns` speaks: form-encoded
 * Action/TopicArn/NextToken, XML answers), for the real client pointed at it (AWS_ENDPOINT_URL_SNS):
 * - ListSubscriptionsByTopic: up to 100 subscriptions a page with NextToken, `NotFound` for an
 *   unknown topic, an email subscription not yet confirmed listed with SubscriptionArn
 *   `PendingConfirmation` (Amazon SNS API reference, "ListSubscriptionsByTopic"; developer guide,
 *   "Confirming the subscription") — the operator CLI's `status` reads it;
 * - Subscribe (protocol `sqs`) and Unsubscribe, and `publish(topicArn, subject, message)` for
 *   whoever publishes locally (the CloudWatch stand-in's alarm actions): a published message is
 *   delivered to each `sqs` subscription as SNS does without raw delivery, a JSON envelope with Type
 *   `Notification`, MessageId, TopicArn, Subject, Message (developer guide, "Amazon SNS message and
 *   JSON formats"); subscriptions to SQS need no confirmation (same guide, "Fanout to Amazon SQS
 *   queues"); the queue's policy is not evaluated here — the prover's alarm scenario uses them.
 * Never bundled into Lambda code.
 */
import { randomUUID } from 'node:crypto';
import { sendQueryError, StandinServer, startStandinServer, xmlEscape } from './standin-http';

const XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';
const PAGE = 100;

export interface StandinSubscription {
  readonly Protocol: string;
  readonly Endpoint: string;
  /** `PendingConfirmation` until someone confirms it. */
  SubscriptionArn: string;
}

export interface SnsStandin extends StandinServer {
  /** Subscriptions by topic ARN (edit to confirm one or add a pending one). */
  readonly topics: Map<string, StandinSubscription[]>;
  /** Requests by action. */
  readonly calls: Record<string, number>;
  /** Messages published, by topic. */
  readonly published: Array<{ topicArn: string; messageId: string; subject: string }>;
  /** Publishes to a topic: each `sqs` subscription gets the notification envelope. */
  publish(topicArn: string, subject: string, message: string): Promise<string>;
}

/** Options of {@link startSnsStandin}. */
export interface SnsStandinOptions {
  /** Sends to SQS (the caller's SQS client), for `sqs` subscriptions. @default sqs subscriptions are refused */
  readonly deliverToQueue?: (queueArn: string, body: string) => Promise<void>;
}

/** Starts the stand-in with `topics` (topic ARN -> its subscriptions; a topic listed with none exists). */
export async function startSnsStandin(topics: Record<string, StandinSubscription[]> = {}, options: SnsStandinOptions = {}): Promise<SnsStandin> {
  const byTopic = new Map(Object.entries(topics).map(([t, subs]) => [t, [...subs]]));
  const calls: Record<string, number> = {};
  const published: SnsStandin['published'] = [];
  const ok = (action: string, result: string) => `<${action}Response xmlns="${XMLNS}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`;
  const server = await startStandinServer(async ({ body, scope }, res) => {
    const p = new URLSearchParams(body);
    const action = p.get('Action') ?? '';
    calls[action] = (calls[action] ?? 0) + 1;
    const fail = (code: string, message: string, status = 400) => sendQueryError(res, status, XMLNS, code, message);
    if (!scope) return fail('InvalidClientTokenId', 'Missing Authentication Token', 403);
    const topicArn = p.get('TopicArn') ?? '';
    const xml = (text: string) => res.writeHead(200, { 'content-type': 'text/xml' }).end(text);
    if (action === 'Subscribe') {
      const subs = byTopic.get(topicArn);
      if (!subs) return fail('NotFound', 'Topic does not exist', 404);
      if (p.get('Protocol') !== 'sqs' || !options.deliverToQueue) return fail('InvalidParameter', 'the stand-in serves protocol sqs only (with deliverToQueue)');
      const arn = `${topicArn}:${randomUUID()}`;
      subs.push({ SubscriptionArn: arn, Protocol: 'sqs', Endpoint: p.get('Endpoint') ?? '' });
      return xml(ok('Subscribe', `<SubscriptionArn>${xmlEscape(arn)}</SubscriptionArn>`));
    }
    if (action === 'Unsubscribe') {
      const arn = p.get('SubscriptionArn') ?? '';
      for (const [t, subs] of byTopic) byTopic.set(t, subs.filter((s) => s.SubscriptionArn !== arn));
      return xml(`<UnsubscribeResponse xmlns="${XMLNS}"><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></UnsubscribeResponse>`);
    }
    if (action === 'ListSubscriptionsByTopic') {
      const subs = byTopic.get(topicArn);
      if (!subs) return fail('NotFound', 'Topic does not exist', 404);
      const start = Number(p.get('NextToken') ?? '0');
      const members = subs
        .slice(start, start + PAGE)
        .map((s) => `<member><TopicArn>${xmlEscape(topicArn)}</TopicArn><Protocol>${xmlEscape(s.Protocol)}</Protocol><SubscriptionArn>${xmlEscape(s.SubscriptionArn)}</SubscriptionArn><Owner>standin</Owner><Endpoint>${xmlEscape(s.Endpoint)}</Endpoint></member>`)
        .join('');
      const next = start + PAGE < subs.length ? `<NextToken>${start + PAGE}</NextToken>` : '';
      return xml(ok('ListSubscriptionsByTopic', `<Subscriptions>${members}</Subscriptions>${next}`));
    }
    return fail('InvalidAction', `not served by the stand-in: ${action}`);
  });
  return {
    ...server,
    topics: byTopic,
    calls,
    published,
    async publish(topicArn, subject, message) {
      const messageId = randomUUID();
      published.push({ topicArn, messageId, subject });
      for (const s of byTopic.get(topicArn) ?? []) {
        if (s.Protocol !== 'sqs' || !options.deliverToQueue) continue;
        const envelope = { Type: 'Notification', MessageId: messageId, TopicArn: topicArn, Subject: subject, Message: message, Timestamp: new Date().toISOString(), SignatureVersion: '1' };
        await options.deliverToQueue(s.Endpoint, JSON.stringify(envelope));
      }
      return messageId;
    },
  };
}
