import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { errorName } from '../lambdas/shared/errors';

/**
 * Alarm subscriptions nobody has confirmed. SNS delivers nothing to an email subscription until its
 * confirmation link is followed; until then ListSubscriptionsByTopic lists it with SubscriptionArn
 * `PendingConfirmation` (Amazon SNS API reference, "ListSubscriptionsByTopic"; Amazon SNS developer
 * guide, "Confirming the subscription"). An alarm whose only subscription is pending pages nobody.
 */
export interface SubscriptionCheck {
  readonly topicArn: string;
  /** Confirmed subscriptions. */
  readonly confirmed: number;
  /** Endpoints (e.g. emails) still pending confirmation. */
  readonly pending: ReadonlyArray<{ readonly protocol: string; readonly endpoint: string }>;
  /** Why the topic could not be read (e.g. AuthorizationError: the caller lacks sns:ListSubscriptionsByTopic), or null. */
  readonly error: string | null;
}

/** Reads the subscriptions of each topic (all pages). A topic that cannot be read is reported, not thrown. */
export async function checkSubscriptions(sns: SNSClient, topicArns: ReadonlyArray<string>): Promise<SubscriptionCheck[]> {
  const out: SubscriptionCheck[] = [];
  for (const topicArn of topicArns) {
    let confirmed = 0;
    const pending: Array<{ protocol: string; endpoint: string }> = [];
    let token: string | undefined;
    try {
      do {
        const r = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, NextToken: token }));
        for (const s of r.Subscriptions ?? []) {
          if (s.SubscriptionArn === 'PendingConfirmation') pending.push({ protocol: s.Protocol ?? '', endpoint: s.Endpoint ?? '' });
          else confirmed++;
        }
        token = r.NextToken;
      } while (token);
      out.push({ topicArn, confirmed, pending, error: null });
    } catch (e) {
      out.push({ topicArn, confirmed, pending, error: errorName(e) });
    }
  }
  return out;
}

/** The status lines: one per pending endpoint, one per topic that cannot be read, one per topic nobody confirmed. */
export function subscriptionWarnings(checks: ReadonlyArray<SubscriptionCheck>): string[] {
  const lines: string[] = [];
  for (const c of checks) {
    for (const p of c.pending) lines.push(`UNCONFIRMED: ${p.protocol} ${p.endpoint} on ${c.topicArn}: nothing is delivered to it until the confirmation link is followed (docs/deploy.md, "Confirm the alarm emails")`);
    if (c.error) lines.push(`UNKNOWN: the subscriptions of ${c.topicArn} could not be read (${c.error}; needs sns:ListSubscriptionsByTopic)`);
    else if (c.confirmed === 0) lines.push(`NOBODY: ${c.topicArn} has no confirmed subscription: alarms page nobody through it`);
  }
  return lines;
}
