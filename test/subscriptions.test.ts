import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { checkSubscriptions, subscriptionWarnings } from '../cli/subscriptions';

/** The subscription check of `scheduled-jobs status`, with SNS mocked: pages, pending, unreadable topics. */
const sns = mockClient(SNSClient);
beforeEach(() => sns.reset());
const client = new SNSClient({ region: 'us-east-1' });

test('reads every page; PendingConfirmation subscriptions are listed by endpoint, the rest counted confirmed', async () => {
  sns
    .on(ListSubscriptionsByTopicCommand, { TopicArn: 'arn:t1', NextToken: undefined })
    .resolves({ Subscriptions: [{ SubscriptionArn: 'arn:t1:abc', Protocol: 'email', Endpoint: 'a@example.com' }], NextToken: 'p2' })
    .on(ListSubscriptionsByTopicCommand, { TopicArn: 'arn:t1', NextToken: 'p2' })
    .resolves({ Subscriptions: [{ SubscriptionArn: 'PendingConfirmation', Protocol: 'email', Endpoint: 'b@example.com' }] });
  const [c] = await checkSubscriptions(client, ['arn:t1']);
  expect(c).toEqual({ topicArn: 'arn:t1', confirmed: 1, pending: [{ protocol: 'email', endpoint: 'b@example.com' }], error: null });
  expect(subscriptionWarnings([c])).toEqual([expect.stringMatching(/^UNCONFIRMED: email b@example.com on arn:t1/)]);
});

test('a topic the caller may not read is reported, not thrown; a topic with no confirmed subscription is flagged', async () => {
  sns.on(ListSubscriptionsByTopicCommand, { TopicArn: 'arn:denied' }).rejects(Object.assign(new Error('no'), { name: 'AuthorizationErrorException' }));
  sns.on(ListSubscriptionsByTopicCommand, { TopicArn: 'arn:empty' }).resolves({ Subscriptions: [] });
  const checks = await checkSubscriptions(client, ['arn:denied', 'arn:empty']);
  expect(subscriptionWarnings(checks)).toEqual([
    expect.stringMatching(/^UNKNOWN: the subscriptions of arn:denied could not be read \(AuthorizationErrorException/),
    expect.stringMatching(/^NOBODY: arn:empty has no confirmed subscription/),
  ]);
});
