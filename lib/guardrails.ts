/**
 * Guardrails: an SCP and a permissions boundary that deny everyone but the deploy role the changes
 * the tamper alarm pages on (lib/tamper-patterns.ts), and everyone but the operator roles the
 * invocation of reprocess. A resource-based policy cannot stop an administrator of the same account
 * (their identity policy suffices, and they may rewrite the resource policy); an SCP binds every
 * principal of a member account (not the management account, not service-linked roles), a
 * permissions boundary binds the roles it is attached to (AWS Organizations user guide, "Service
 * control policies"; IAM user guide, "Permissions boundaries for IAM entities").
 *
 * Pure: `scheduled-jobs guardrails` fills in the deployed ARNs (stack resources and outputs), tests
 * the placeholders of a synthesized template.
 */

/** The deployed resources and principals the guardrails name, all exact. */
export interface GuardrailTargets {
  readonly partition: string;
  readonly account: string;
  readonly region: string;
  /** The stage's stack: CloudFormation names resources `<stack>-<logical id>-<suffix>`. */
  readonly stackName: string;
  /** Exact ARN of the CloudFormation execution role (stack output GuardrailDeployRoleArn). */
  readonly deployRoleArn: string;
  /** Exact role ARNs that may invoke reprocess (config `operators.roleArns`). */
  readonly operatorRoleArns: ReadonlyArray<string>;
  readonly reprocessFunctionArn: string;
  readonly functionArns: ReadonlyArray<string>;
  readonly roleArns: ReadonlyArray<string>;
  readonly keyArns: ReadonlyArray<string>;
  readonly bucketNames: ReadonlyArray<string>;
  readonly queueArns: ReadonlyArray<string>;
  readonly deliveryStreamArns: ReadonlyArray<string>;
  readonly stateMachineArns: ReadonlyArray<string>;
  /** The stack's SNS topics (the alert topic: who may publish, where it goes). */
  readonly topicArns: ReadonlyArray<string>;
  /** The stage's own trail, when `audit.trail` made one. */
  readonly trailArns: ReadonlyArray<string>;
  /** Name the boundary policy will have (so it can require itself on new roles). */
  readonly boundaryPolicyName: string;
}

/** An IAM policy document. */
export interface PolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: ReadonlyArray<Record<string, unknown>>;
}

/** What the command prints. */
export interface Guardrails {
  /** Attach to the OU or account of the stage (Organizations). */
  readonly serviceControlPolicy: PolicyDocument;
  /** Create as a managed policy named `boundaryPolicyName`, set as the boundary of people's roles. */
  readonly permissionsBoundary: PolicyDocument;
  readonly boundaryPolicyArn: string;
  /** The data-event selector to add to an existing trail, so reprocess invocations are logged. */
  readonly dataEventSelector: Record<string, unknown>;
}

/** IAM actions the guardrails deny to all but the deploy role, by resource kind (the tamper alarm's list, as IAM names them). */
export const GUARDED_ACTIONS = {
  functions: [
    'lambda:UpdateFunctionCode',
    'lambda:UpdateFunctionConfiguration',
    'lambda:PublishVersion',
    'lambda:AddPermission',
    'lambda:RemovePermission',
    'lambda:CreateAlias',
    'lambda:UpdateAlias',
    'lambda:DeleteAlias',
    'lambda:DeleteFunction',
    'lambda:PutFunctionCodeSigningConfig',
    'lambda:DeleteFunctionCodeSigningConfig',
    'lambda:PutFunctionEventInvokeConfig',
    'lambda:UpdateFunctionEventInvokeConfig',
    'lambda:DeleteFunctionEventInvokeConfig',
    'lambda:CreateFunctionUrlConfig',
    'lambda:UpdateFunctionUrlConfig',
  ],
  roles: [
    'iam:PassRole',
    'iam:PutRolePolicy',
    'iam:AttachRolePolicy',
    'iam:DeleteRolePolicy',
    'iam:DetachRolePolicy',
    'iam:UpdateAssumeRolePolicy',
    'iam:PutRolePermissionsBoundary',
    'iam:DeleteRolePermissionsBoundary',
    'iam:DeleteRole',
    'iam:UpdateRole',
  ],
  keys: ['kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:DisableKeyRotation', 'kms:ReplicateKey'],
  buckets: [
    's3:PutBucketPolicy',
    's3:DeleteBucketPolicy',
    's3:PutReplicationConfiguration',
    's3:PutLifecycleConfiguration',
    's3:PutBucketVersioning',
    's3:PutEncryptionConfiguration',
    's3:PutBucketPublicAccessBlock',
    's3:PutBucketOwnershipControls',
    's3:PutBucketAcl',
    's3:PutBucketNotification',
    's3:DeleteBucket',
  ],
  queues: ['sqs:SetQueueAttributes', 'sqs:AddPermission', 'sqs:RemovePermission', 'sqs:DeleteQueue'],
  deliveryStreams: ['firehose:UpdateDestination', 'firehose:DeleteDeliveryStream', 'firehose:StopDeliveryStreamEncryption', 'firehose:StartDeliveryStreamEncryption'],
  stateMachines: ['states:UpdateStateMachine', 'states:DeleteStateMachine', 'states:PublishStateMachineVersion', 'states:CreateStateMachineAlias', 'states:UpdateStateMachineAlias'],
  // What would blind the tamper alarm: its rules, the topic it pages, the stage's trail.
  alarmRules: ['events:DeleteRule', 'events:DisableRule', 'events:RemoveTargets', 'events:PutRule', 'events:PutTargets'],
  topics: ['sns:SetTopicAttributes', 'sns:DeleteTopic', 'sns:AddPermission', 'sns:RemovePermission'],
  trails: ['cloudtrail:StopLogging', 'cloudtrail:DeleteTrail', 'cloudtrail:UpdateTrail', 'cloudtrail:PutEventSelectors'],
} as const;

/** Construct id of the tamper alarm in the stack: its rules are named `<stack>-TamperAlarms...`. */
export const TAMPER_ALARMS_ID = 'TamperAlarms';

/** Invoking reprocess (replay, drop, re-run): operators only. */
export const REPROCESS_INVOKE_ACTIONS = ['lambda:InvokeFunction', 'lambda:InvokeAsync'];

/** Organizations' limit on one SCP, characters (AWS Organizations user guide, "Quotas"). */
export const SCP_MAX_CHARS = 5120;

/**
 * `arns` as few resource entries as possible: `<prefix>*` when every one starts with `prefix` (the
 * stack's generated names), else each ARN (and `<arn>:*` for its versions when `qualified`). A
 * wider resource only widens a deny; the exemptions stay exact. SCPs are limited in size.
 */
export function resourcesOf(arns: ReadonlyArray<string>, prefix: string | null, qualified = false): string[] {
  if (arns.length === 0) return [];
  if (prefix !== null && arns.every((a) => a.startsWith(prefix))) return [`${prefix}*`];
  return arns.flatMap((a) => (qualified ? [a, `${a}:*`] : [a]));
}

/** The SCP, the boundary and the data-event selector for `t`. */
export function buildGuardrails(t: GuardrailTargets): Guardrails {
  const exceptDeploy = { StringNotEquals: { 'aws:PrincipalArn': [t.deployRoleArn] } };
  const deny = (sid: string, actions: ReadonlyArray<string>, resources: ReadonlyArray<string>, condition: Record<string, unknown> = exceptDeploy) =>
    resources.length === 0 ? [] : [{ Sid: sid, Effect: 'Deny', Action: [...actions], Resource: [...resources], Condition: condition }];
  const { partition: p, region: r, account: a, stackName } = t;
  const bucketArns = t.bucketNames.map((b) => `arn:${p}:s3:::${b}`);
  // One statement for every kind: an action only ever applies to its own resource type, so the
  // union denies exactly the pairs of each kind, in a fraction of the SCP's limited size.
  const kinds: Array<[keyof typeof GUARDED_ACTIONS, string[]]> = [
    ['functions', resourcesOf(t.functionArns, `arn:${p}:lambda:${r}:${a}:function:${stackName}-`, true)],
    ['roles', resourcesOf(t.roleArns, `arn:${p}:iam::${a}:role/${stackName}-`)],
    ['keys', resourcesOf(t.keyArns, null)],
    ['buckets', resourcesOf(bucketArns, `arn:${p}:s3:::${stackName.toLowerCase()}-`)],
    ['queues', resourcesOf(t.queueArns, `arn:${p}:sqs:${r}:${a}:${stackName}-`)],
    ['deliveryStreams', resourcesOf(t.deliveryStreamArns, `arn:${p}:firehose:${r}:${a}:deliverystream/${stackName}-`)],
    ['stateMachines', resourcesOf(t.stateMachineArns, null, true)],
    ['alarmRules', [`arn:${p}:events:${r}:${a}:rule/${stackName}-${TAMPER_ALARMS_ID}*`]],
    ['topics', resourcesOf(t.topicArns, null)],
    ['trails', resourcesOf(t.trailArns, null)],
  ];
  const present = kinds.filter(([, resources]) => resources.length > 0);
  const guards = [
    ...deny('DenyAppChangesExceptDeployRole', present.flatMap(([kind]) => GUARDED_ACTIONS[kind]), present.flatMap(([, resources]) => resources)),
    // Grants AWS services make for the caller (a CMK state machine or queue) are the deploy's or the
    // service's own: only grants a person makes directly are denied (kms:GrantIsForAWSResource).
    ...deny('DenyAppKeyGrantsExceptDeployRole', ['kms:CreateGrant'], t.keyArns, { ...exceptDeploy, Bool: { 'kms:GrantIsForAWSResource': 'false' } }),
    // With no operator configured nobody may invoke reprocess (the condition is left out).
    {
      Sid: 'DenyReprocessInvokeExceptOperators',
      Effect: 'Deny',
      Action: REPROCESS_INVOKE_ACTIONS,
      Resource: [t.reprocessFunctionArn, `${t.reprocessFunctionArn}:*`],
      ...(t.operatorRoleArns.length > 0 ? { Condition: { StringNotEquals: { 'aws:PrincipalArn': [...t.operatorRoleArns] } } } : {}),
    },
  ];
  const boundaryPolicyArn = `arn:${t.partition}:iam::${t.account}:policy/${t.boundaryPolicyName}`;
  return {
    serviceControlPolicy: { Version: '2012-10-17', Statement: guards },
    permissionsBoundary: {
      Version: '2012-10-17',
      Statement: [
        // A boundary grants nothing by itself: it caps the role's own policies.
        { Sid: 'AllowWhatTheRolesOwnPoliciesAllow', Effect: 'Allow', Action: '*', Resource: '*' },
        ...guards,
        // Without these a bounded person creates an unbounded role and acts through it.
        { Sid: 'DenyRolesAndUsersWithoutThisBoundary', Effect: 'Deny', Action: ['iam:CreateRole', 'iam:PutRolePermissionsBoundary', 'iam:CreateUser', 'iam:PutUserPermissionsBoundary'], Resource: '*', Condition: { StringNotEquals: { 'iam:PermissionsBoundary': boundaryPolicyArn } } },
        { Sid: 'DenyRemovingBoundaries', Effect: 'Deny', Action: ['iam:DeleteRolePermissionsBoundary', 'iam:DeleteUserPermissionsBoundary'], Resource: '*' },
        { Sid: 'DenyEditingThisBoundary', Effect: 'Deny', Action: ['iam:CreatePolicyVersion', 'iam:DeletePolicy', 'iam:DeletePolicyVersion', 'iam:SetDefaultPolicyVersion'], Resource: boundaryPolicyArn },
      ],
    },
    boundaryPolicyArn,
    dataEventSelector: {
      Name: 'Reprocess invocations',
      FieldSelectors: [
        { Field: 'eventCategory', Equals: ['Data'] },
        { Field: 'resources.type', Equals: ['AWS::Lambda::Function'] },
        { Field: 'resources.ARN', Equals: [t.reprocessFunctionArn] },
      ],
    },
  };
}
