import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct, IConstruct } from 'constructs';
import { Alerts } from './alerts';
import { AppFunction } from './app-function';

/** Props of {@link DestinationAlarms}. */
export interface DestinationAlarmsProps {
  readonly alerts: Alerts;
  /** Functions already watched for destination delivery failures by their own construct (the producers). */
  readonly alreadyWatched?: ReadonlyArray<lambda.IFunction>;
}

/**
 * An alarm on `DestinationDeliveryFailures` for every asynchronously invoked function of the stack
 * that keeps its failed invocations in an on-failure destination: when Lambda cannot deliver the
 * record there (a key problem, a deleted queue, a missing grant), the event is kept nowhere
 * (AWS Lambda developer guide, "Monitoring functions": DestinationDeliveryFailures, "for
 * asynchronous invocation ... the number of times that Lambda attempted to send an event to a
 * destination but encountered an error"). Created after every function, like FunctionAlarms.
 */
export class DestinationAlarms extends Construct {
  public readonly alarms: ReadonlyMap<AppFunction, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: DestinationAlarmsProps) {
    super(scope, id);
    const skip = new Set<IConstruct>(props.alreadyWatched ?? []);
    const alarms = new Map<AppFunction, cloudwatch.Alarm>();
    for (const c of Stack.of(this).node.findAll()) {
      if (!(c instanceof lambda.CfnEventInvokeConfig) || !hasOnFailure(c)) continue;
      const fn = c.node.scopes.slice().reverse().find((s): s is AppFunction => s instanceof AppFunction);
      if (!fn || skip.has(fn) || alarms.has(fn)) continue;
      const label = fn.node.path.split('/').slice(1).join('/');
      const idBase = fn.node.path.split('/').slice(1).join('').replace(/[^A-Za-z0-9]/g, '');
      alarms.set(
        fn,
        props.alerts.atLeastOne(
          this,
          `${idBase}DeliveryFailures`,
          fn.metric('DestinationDeliveryFailures', { period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
          `${label}: a failed invocation could not be written to its on-failure destination, so it is kept nowhere. Read the function's log for the failed event, fix the destination (queue, key, grant), then run it again by hand (docs/runbook.md).`,
        ),
      );
    }
    this.alarms = alarms;
  }
}

function hasOnFailure(c: lambda.CfnEventInvokeConfig): boolean {
  const d = Stack.of(c).resolve(c.destinationConfig) as { onFailure?: { destination?: unknown } } | undefined;
  return d?.onFailure?.destination !== undefined;
}
