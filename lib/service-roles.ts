import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/**
 * Roles that AWS services assume for the app, each trusting its service only on behalf of this
 * account (confused-deputy guard in the trust policy).
 */

/** ARN of the default EventBridge Scheduler schedule group of the stack's account and region (the app's schedules live there). */
export function defaultScheduleGroupArn(scope: Construct): string {
  return Stack.of(scope).formatArn({ service: 'scheduler', resource: 'schedule-group', resourceName: 'default', arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
}

/**
 * A role EventBridge Scheduler assumes to invoke a target of this account's default schedule
 * group. The trust policy names the account and the schedule group, as AWS recommends; the
 * SourceArn must be the schedule group, never a schedule (EventBridge Scheduler user guide,
 * "Cross-service confused deputy prevention").
 */
export function schedulerRole(scope: Construct, id: string, description: string): iam.Role {
  const stack = Stack.of(scope);
  return new iam.Role(scope, id, {
    description,
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': stack.account, 'aws:SourceArn': defaultScheduleGroupArn(scope) } },
    }),
  });
}

/**
 * A role Firehose assumes to deliver a stream of this account. Firehose passes the account id as
 * the external id (Amazon Data Firehose developer guide, "Allow Firehose to assume an IAM role",
 * earlier revision; console-created delivery roles carry the same condition), so that condition is
 * required. Whether Firehose also sets aws:SourceAccount / aws:SourceArn on AssumeRole is not
 * documented: they are checked when present (IfExists), so that a request naming another account
 * or a stream of another account is refused without risking every delivery on an undocumented key.
 */
export function firehoseDeliveryRole(scope: Construct, id: string, description: string): iam.Role {
  const stack = Stack.of(scope);
  return new iam.Role(scope, id, {
    description,
    assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', {
      conditions: {
        StringEquals: { 'sts:ExternalId': stack.account },
        StringEqualsIfExists: { 'aws:SourceAccount': stack.account },
        ArnLikeIfExists: { 'aws:SourceArn': stack.formatArn({ service: 'firehose', resource: 'deliverystream', resourceName: '*', arnFormat: ArnFormat.SLASH_RESOURCE_NAME }) },
      },
    }),
  });
}
