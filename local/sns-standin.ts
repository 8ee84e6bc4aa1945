/**
 * An SNS stand-in for the operator CLI's tests: ListSubscriptionsByTopic over the AWS query protocol
 * (what `@aws-sdk/client-sns` speaks: form-encoded Action/TopicArn/NextToken, XML answers), for the
 * real client pointed at it (AWS_ENDPOINT_URL_SNS). As the API does: up to 100 subscriptions a page
 * with NextToken, `NotFound` for an unknown topic, and an email subscription not yet confirmed
 * listed with SubscriptionArn `PendingConfirmation` (Amazon SNS API reference,
 * "ListSubscriptionsByTopic"; Amazon SNS developer guide, "Confirming the subscription").
 * Never bundled into Lambda code.
 */
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
  readonly calls: Record<string, number>;
}

/** Starts the stand-in with `topics`. */
export async function startSnsStandin(topics: Record<string, StandinSubscription[]> = {}): Promise<SnsStandin> {
  const byTopic = new Map(Object.entries(topics));
  const calls: Record<string, number> = {};
  const server = await startStandinServer(async ({ body, scope }, res) => {
    const p = new URLSearchParams(body);
    const action = p.get('Action') ?? '';
    calls[action] = (calls[action] ?? 0) + 1;
    if (!scope) return sendQueryError(res, 403, XMLNS, 'InvalidClientTokenId', 'Missing Authentication Token');
    if (action !== 'ListSubscriptionsByTopic') return sendQueryError(res, 400, XMLNS, 'InvalidAction', `not served by the stand-in: ${action}`);
    const topic = p.get('TopicArn') ?? '';
    const subs = byTopic.get(topic);
    if (!subs) return sendQueryError(res, 404, XMLNS, 'NotFound', 'Topic does not exist');
    const start = Number(p.get('NextToken') ?? '0');
    const page = subs.slice(start, start + PAGE);
    const members = page
      .map((s) => `<member><TopicArn>${xmlEscape(topic)}</TopicArn><Protocol>${xmlEscape(s.Protocol)}</Protocol><SubscriptionArn>${xmlEscape(s.SubscriptionArn)}</SubscriptionArn><Owner>standin</Owner><Endpoint>${xmlEscape(s.Endpoint)}</Endpoint></member>`)
      .join('');
    const next = start + PAGE < subs.length ? `<NextToken>${start + PAGE}</NextToken>` : '';
    res
      .writeHead(200, { 'content-type': 'text/xml' })
      .end(`<ListSubscriptionsByTopicResponse xmlns="${XMLNS}"><ListSubscriptionsByTopicResult><Subscriptions>${members}</Subscriptions>${next}</ListSubscriptionsByTopicResult><ResponseMetadata><RequestId>standin</RequestId></ResponseMetadata></ListSubscriptionsByTopicResponse>`);
  });
  return { ...server, topics: byTopic, calls };
}
