import { Stack } from 'aws-cdk-lib';
import { fixtureConfig } from './support/fixture-config';
import { synthApp } from './support/synth-app';

/**
 * Failure paths that survive their own faults (issue 17, item 6), as synthesized: every function
 * with an on-failure destination alarms on DestinationDeliveryFailures; new spool / quarantine
 * messages page on each burst (rate alarms besides the level ones); Firehose's delivery-age alarm
 * fires long before the 24 hours after which Firehose discards what it could not deliver to S3.
 */
const { stack, template } = synthApp(() => fixtureConfig, 'FailurePaths');
const resources = Object.entries(template.Resources);
const alarms = resources.filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm').map(([id, r]) => ({ id, p: r.Properties as Record<string, any> }));
const idOf = (c: { node: { defaultChild?: unknown } }) => Stack.of(stack).getLogicalId(c.node.defaultChild as never);

test('every function with an on-failure destination has an alarm on DestinationDeliveryFailures that notifies', () => {
  const withDestination = resources
    .filter(([, r]) => r.Type === 'AWS::Lambda::EventInvokeConfig' && r.Properties?.DestinationConfig?.OnFailure?.Destination)
    .map(([, r]) => (r.Properties!.FunctionName as { Ref: string }).Ref);
  // The producers, the capture, the sweeper and the lost-task monitor.
  expect(withDestination.length).toBe(stack.producers.size + 3);
  for (const fn of withDestination) {
    const a = alarms.filter((x) => x.p.MetricName === 'DestinationDeliveryFailures' && x.p.Dimensions?.some((d: { Value: unknown }) => JSON.stringify(d.Value) === JSON.stringify({ Ref: fn })));
    expect({ fn, alarms: a.length }).toEqual({ fn, alarms: 1 });
    expect(a[0].p).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', AlarmActions: expect.any(Array) });
  }
});

test('rate alarms: any message sent to the spool or the quarantine in 5 minutes pages, and goes back to OK after a quiet period', () => {
  for (const q of [stack.spool.queue, stack.spool.quarantine]) {
    const a = alarms.filter((x) => x.p.MetricName === 'NumberOfMessagesSent' && JSON.stringify(x.p.Dimensions).includes(idOf(q)));
    expect(a).toHaveLength(1);
    expect(a[0].p).toMatchObject({ Statistic: 'Sum', Period: 300, Threshold: 1, EvaluationPeriods: 1, TreatMissingData: 'notBreaching', AlarmActions: expect.any(Array), OKActions: expect.any(Array) });
  }
});

test('the Firehose delivery-age alarm fires within the first hour, far inside the 24 hours before Firehose discards data', () => {
  const late = alarms.filter((x) => x.p.MetricName === 'DeliveryToS3.DataFreshness');
  expect(late).toHaveLength(2);
  for (const a of late) {
    expect(a.p.Threshold * 1 + a.p.Period * a.p.EvaluationPeriods).toBeLessThan(3600);
    expect(a.p.AlarmDescription).toMatch(/24 hours, then discards/);
  }
  for (const a of alarms.filter((x) => x.p.MetricName === 'DeliveryToS3.Success')) expect(a.p.AlarmDescription).not.toMatch(/kept under errors/);
});
