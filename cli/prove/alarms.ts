import { DescribeAlarmsCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { SubscribeCommand, UnsubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteMessageBatchCommand, DeleteQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { ProveDriver } from './driver';
import { Recorder, Scenario } from './scenarios';

/**
 * The alarms reach people: the prover subscribes a queue of its own to the alarm topic, moves one of
 * the stack's alarms into ALARM with SetAlarmState (CloudWatch then runs the alarm's actions, as on
 * a real breach: AWS CloudWatch API reference, SetAlarmState), reads the notification from its
 * queue, and removes the subscription and the queue. The alarm is set back to OK (its next
 * evaluation sets its real state anyway). Everyone subscribed to the topic (on-call mail, chat)
 * gets the test notification too: its reason names the prover's run.
 */
export const alarmsScenario: Scenario = {
  name: 'alarms',
  title: 'an alarm reaches the alarm topic (a test subscription the prover adds and removes)',
  awsOnly: [
    'the topic policy and key grant that let CloudWatch publish (an SNS topic policy replaces the default; a KMS-encrypted topic needs the key grant)',
    'delivery to the real subscribers (email confirmation, Chatbot, PagerDuty)',
    'a real metric breach (SetAlarmState only simulates the state change)',
  ],
  async run(d: ProveDriver, r: Recorder) {
    const { cloudWatch, sns, sqs } = d.session.clients;
    const names = await d.session.stackResources('AWS::CloudWatch::Alarm');
    if (!r.check('the stack has alarms', names.length > 0, `${names.length} alarms`)) return;
    const described = await cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: names.slice(0, 100) }));
    const alarm = (described.MetricAlarms ?? []).find((a) => a.StateValue === 'OK' && (a.AlarmActions ?? []).some((x) => x.startsWith('arn:aws:sns:')));
    if (!r.check('an alarm in OK notifies an SNS topic', alarm !== undefined, alarm?.AlarmName ?? 'none')) return;
    const topicArn = alarm!.AlarmActions!.find((x) => x.startsWith('arn:aws:sns:'))!;
    r.note('alarm', alarm!.AlarmName!);
    r.note('topic', topicArn);
    const queueName = `scheduled-jobs-prove-${d.runId}`;
    const created = await sqs.send(new CreateQueueCommand({ QueueName: queueName, Attributes: { MessageRetentionPeriod: '3600' } }));
    const queueUrl = created.QueueUrl!;
    let subscriptionArn: string | undefined;
    try {
      const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
      const queueArn = attrs.Attributes!.QueueArn!;
      // Only the alarm topic may send to the prover's queue.
      const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'sns.amazonaws.com' }, Action: 'sqs:SendMessage', Resource: queueArn, Condition: { ArnEquals: { 'aws:SourceArn': topicArn } } }] };
      await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { Policy: JSON.stringify(policy) } }));
      const sub = await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queueArn, ReturnSubscriptionArn: true }));
      subscriptionArn = sub.SubscriptionArn;
      r.note('subscription', subscriptionArn ?? '');
      await cloudWatch.send(new SetAlarmStateCommand({ AlarmName: alarm!.AlarmName!, StateValue: 'ALARM', StateReason: `Test by scheduled-jobs prove run ${d.runId}: no action needed` }));
      try {
        const deadline = d.timing.now() + d.timing.waitMs;
        let got: { id: string } | null = null;
        while (!got && d.timing.now() <= deadline) {
          const m = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
          for (const msg of m.Messages ?? []) {
            const envelope = JSON.parse(msg.Body ?? '{}') as { MessageId?: string; Message?: string };
            if ((envelope.Message ?? '').includes(alarm!.AlarmName!)) got = { id: envelope.MessageId ?? msg.MessageId ?? '' };
          }
          if (m.Messages?.length) await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: m.Messages.map((x, i) => ({ Id: String(i), ReceiptHandle: x.ReceiptHandle! })) }));
          if (!got) await d.timing.sleep(d.timing.pollMs);
        }
        r.check('the notification reached the test subscription', got !== null, got ? `SNS message ${got.id}` : 'nothing arrived');
        if (got) r.note('notification', got.id);
      } finally {
        await cloudWatch.send(new SetAlarmStateCommand({ AlarmName: alarm!.AlarmName!, StateValue: 'OK', StateReason: `Reset by scheduled-jobs prove run ${d.runId}` }));
      }
    } finally {
      if (subscriptionArn) await sns.send(new UnsubscribeCommand({ SubscriptionArn: subscriptionArn }));
      await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
    }
  },
};
