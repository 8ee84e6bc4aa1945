/**
 * The event patterns of the tamper alarm (lib/tamper-alarms.ts), as plain data so that tests can
 * evaluate them against sample CloudTrail events and the guardrails can list the same actions.
 *
 * Each CloudTrail record reaches EventBridge as an event of detail-type "AWS API Call via
 * CloudTrail" with the record in `detail` (Amazon EventBridge user guide, "Events from AWS services
 * delivered via CloudTrail"): `eventSource`, `eventName`, `requestParameters` as the caller sent them,
 * `userIdentity` (for a role session: `type: AssumedRole` and `sessionContext.sessionIssuer.arn`,
 * the role's ARN). EventBridge receives them only while a trail is logging, and IAM's (a global
 * service) only in us-east-1 (CloudTrail user guide, "Global service events").
 */

/** One kind of change the alarm watches: calls of `eventNames` whose `field` names one of the app's resources. */
export interface WatchedChange {
  /** Short id (rule construct id suffix). */
  readonly id: string;
  /** e.g. `lambda.amazonaws.com`. */
  readonly eventSource: string;
  /** `source` of the EventBridge event, e.g. `aws.lambda`. */
  readonly source: string;
  /** Event names; a name ending in `*` matches by prefix (Lambda appends API versions: `UpdateFunctionCode20150331v2`). */
  readonly eventNames: ReadonlyArray<string>;
  /** The `requestParameters` field that names the resource; null: any resource (e.g. every trail of the account). */
  readonly field: string | null;
  /** How values match: exactly, as a suffix (a Lambda function may be named by name, ARN or partial ARN), or as a prefix (names CloudFormation generates from the stack's). */
  readonly match: 'exact' | 'suffix' | 'prefix';
  /** The app's values of `field` (tokens in a stack). */
  readonly values: ReadonlyArray<string>;
  /** Longest length a value can have once deployed (to keep each pattern under EventBridge's size limit). */
  readonly valueMaxLength: number;
  /** Principals whose calls are expected: exact role ARNs (the deploy role, operators). */
  readonly exempt: ReadonlyArray<string>;
}

/** Default EventBridge quota on the size of one event pattern, characters (Amazon EventBridge quotas, "Event pattern size"; adjustable to 4096). */
export const EVENT_PATTERN_MAX_CHARS = 2048;

/** Lambda changes to the app's functions: code, configuration (role, environment, layers), versions, aliases, who may invoke, code signing, deletion. */
export const LAMBDA_FUNCTION_CHANGES = [
  'UpdateFunctionCode*',
  'UpdateFunctionConfiguration*',
  'PublishVersion*',
  'AddPermission*',
  'RemovePermission*',
  'CreateAlias*',
  'UpdateAlias*',
  'DeleteFunction*',
  'PutFunctionCodeSigningConfig*',
  'DeleteFunctionCodeSigningConfig*',
  'PutFunctionEventInvokeConfig*',
  'UpdateFunctionEventInvokeConfig*',
  'DeleteFunctionEventInvokeConfig*',
  'CreateEventSourceMapping*',
  'UpdateEventSourceMapping*',
  'CreateFunctionUrlConfig*',
];
/** Creating or repointing a function to run as one of the app's roles (needs iam:PassRole of it). */
export const LAMBDA_ROLE_USES = ['CreateFunction*', 'UpdateFunctionConfiguration*'];
/** KMS changes that let someone else decrypt, or make the data unreadable. */
export const KMS_KEY_CHANGES = ['PutKeyPolicy', 'CreateGrant', 'ScheduleKeyDeletion', 'DisableKey', 'DisableKeyRotation', 'UpdateKeyDescription', 'ReplicateKey', 'CancelKeyDeletion'];
/** S3 changes to where records go, who reads them, how long they stay. */
export const S3_BUCKET_CHANGES = [
  'PutBucketPolicy',
  'DeleteBucketPolicy',
  'PutBucketReplication',
  'DeleteBucketReplication',
  'PutBucketLifecycle',
  'DeleteBucketLifecycle',
  'PutBucketVersioning',
  'PutBucketEncryption',
  'DeleteBucketEncryption',
  'PutBucketPublicAccessBlock',
  'DeleteBucketPublicAccessBlock',
  'PutBucketOwnershipControls',
  'PutBucketAcl',
  'PutBucketNotification',
  'DeleteBucket',
];
/** SQS changes to a queue holding params (its policy, key, redrive) or its removal. */
export const SQS_QUEUE_CHANGES = ['SetQueueAttributes', 'AddPermission', 'RemovePermission', 'DeleteQueue', 'PurgeQueue'];
/** Firehose changes to where records go. */
export const FIREHOSE_STREAM_CHANGES = ['UpdateDestination', 'DeleteDeliveryStream', 'StopDeliveryStreamEncryption', 'StartDeliveryStreamEncryption'];
/** Step Functions changes to what a workflow runs and with which key. */
export const STATES_MACHINE_CHANGES = ['UpdateStateMachine', 'DeleteStateMachine', 'PublishStateMachineVersion', 'CreateStateMachineAlias', 'UpdateStateMachineAlias'];
/** Creating a state machine that runs as an app role. */
export const STATES_ROLE_USES = ['CreateStateMachine', 'UpdateStateMachine'];
/** IAM changes to what an app role may do or who may assume it (IAM events reach EventBridge in us-east-1 only). */
/** CloudTrail changes that would blind the alarm (on any trail: the one that logs may be the organization's). */
export const TRAIL_CHANGES = ['StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors'];
/** EventBridge changes to the alarm's own rules (request parameter `name`). */
export const ALARM_RULE_CHANGES = ['DisableRule', 'DeleteRule', 'PutRule'];
/** EventBridge changes to the alarm rules' targets (request parameter `rule`). */
export const ALARM_TARGET_CHANGES = ['RemoveTargets', 'PutTargets'];
/** SNS changes to the alert topic (who may publish, where it goes, its key). */
export const TOPIC_CHANGES = ['SetTopicAttributes', 'DeleteTopic', 'AddPermission', 'RemovePermission'];
export const IAM_ROLE_CHANGES = [
  'PutRolePolicy',
  'AttachRolePolicy',
  'DeleteRolePolicy',
  'DetachRolePolicy',
  'UpdateAssumeRolePolicy',
  'PutRolePermissionsBoundary',
  'DeleteRolePermissionsBoundary',
  'DeleteRole',
  'UpdateRole',
];

/**
 * Who made the call, excluding `exempt` role sessions: every caller that is not a role session
 * (root, IAM users, federated users) matches, and a role session matches unless its issuer is one of
 * `exempt` (exact ARNs: `anything-but` compares whole strings). A field missing from the event
 * never matches a content filter, hence the `$or` (Amazon EventBridge user guide, "Content filtering
 * in event patterns": anything-but, $or).
 */
export function callerOtherThan(exempt: ReadonlyArray<string>): Record<string, unknown> {
  return {
    $or: [{ type: [{ 'anything-but': ['AssumedRole'] }] }, { sessionContext: { sessionIssuer: { arn: [{ 'anything-but': [...exempt] }] } } }],
  };
}

/** The pattern of one watched change over `values` (a subset of `change.values`); with nobody exempt, every caller matches. */
export function changePattern(change: WatchedChange, values: ReadonlyArray<string>): Record<string, unknown> {
  const names = change.eventNames.map((n) => (n.endsWith('*') ? { prefix: n.slice(0, -1) } : n));
  return {
    source: [change.source],
    'detail-type': ['AWS API Call via CloudTrail'],
    detail: {
      eventSource: [change.eventSource],
      eventName: names,
      ...(change.field === null ? {} : { requestParameters: { [change.field]: values.map((v) => (change.match === 'exact' ? v : { [change.match]: v })) } }),
      // EventBridge refuses an empty anything-but list: with nobody exempt, leave the caller open.
      ...(change.exempt.length > 0 ? { userIdentity: callerOtherThan(change.exempt) } : {}),
    },
  };
}

/**
 * `change.values` split so that each pattern stays under {@link EVENT_PATTERN_MAX_CHARS} once
 * every value is deployed at its longest; tokens are sized as `valueMaxLength`.
 */
export function chunkValues(change: WatchedChange, exemptMaxLength = 120, limit = EVENT_PATTERN_MAX_CHARS): string[][] {
  const sized = (n: number) => {
    const pad = 'x'.repeat(change.valueMaxLength);
    return JSON.stringify(changePattern({ ...change, exempt: change.exempt.map(() => 'x'.repeat(exemptMaxLength)) }, Array.from({ length: n }, () => pad))).length;
  };
  if (sized(1) > limit) throw new Error(`tamper alarm ${change.id}: one value already makes the pattern longer than ${limit} characters`);
  if (change.field === null) return [[]];
  let per = 1;
  while (per < change.values.length && sized(per + 1) <= limit) per++;
  const chunks: string[][] = [];
  for (let i = 0; i < change.values.length; i += per) chunks.push(change.values.slice(i, i + per));
  return chunks;
}
