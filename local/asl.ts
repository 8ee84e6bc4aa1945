/**
 * Values from a synthesized template, for tests and the offline run: runnable ASL of a state
 * machine, resolved environment variables. The one resolver of CloudFormation intrinsics here.
 *
 * A synthesized `DefinitionString` is an `Fn::Join` of text and CloudFormation references. A
 * {@link RefResolver} decides what each `Ref`/`Fn::GetAtt` becomes: {@link placeholderRef} gives
 * deterministic, valid-looking ARNs (tests map Task states to local handlers by state name, so
 * placeholders only need to be stable); the offline run swaps in its local endpoints.
 */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** The placeholder account, region and partition of {@link aslFromTemplate}. */
export const PLACEHOLDER = { partition: 'aws', region: 'us-east-1', account: '123456789012', urlSuffix: 'amazonaws.com' } as const;

/** A synthesized CloudFormation template (Template.toJSON() or a cdk.out `*.template.json`). */
export interface CfnTemplate {
  readonly Resources: Record<string, { readonly Type: string; readonly Properties?: Record<string, unknown> }>;
}

/** Resolved state machine: its logical id and the parsed ASL. */
export interface ResolvedStateMachine {
  readonly logicalId: string;
  /** Placeholder ARN of the state machine (for `$$.StateMachine.Id` in local runs). */
  readonly arn: string;
  readonly definition: AslDefinition;
}

/** The parts of an ASL definition the local tools read. */
export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Record<string, Record<string, unknown> & { readonly Type: string }>;
  readonly [k: string]: unknown;
}

/** Turns a `Ref` (no attribute) or `Fn::GetAtt` into its local value. */
export type RefResolver = (logicalId: string, type: string, attribute?: string) => string;

/** Where the resolved values pretend to live. */
export interface ResolveEnv {
  readonly region: string;
  readonly account: string;
  /** `AWS::StackName`. @default `ScheduledJobs` */
  readonly stackName?: string;
}

/**
 * Resolves `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::Sub` (simple form) and
 * pseudo parameters in any JSON value. Throws on a reference to a resource the template lacks.
 */
export function resolveIntrinsics(value: unknown, resources: CfnTemplate['Resources'], ref: RefResolver, env: ResolveEnv): Json {
  const pseudo: Record<string, string> = {
    'AWS::Region': env.region,
    'AWS::AccountId': env.account,
    'AWS::Partition': PLACEHOLDER.partition,
    'AWS::URLSuffix': PLACEHOLDER.urlSuffix,
    'AWS::StackName': env.stackName ?? 'ScheduledJobs',
    'AWS::NoValue': '',
  };
  const r = (v: Json): Json => {
    if (Array.isArray(v)) return v.map(r);
    if (v === null || typeof v !== 'object') return v;
    const keys = Object.keys(v);
    if (keys.length === 1) {
      const [k] = keys;
      const arg = v[k];
      if (k === 'Ref' && typeof arg === 'string') {
        if (arg in pseudo) return pseudo[arg];
        const res = resources[arg];
        if (!res) throw new Error(`Ref to unknown resource ${arg}`);
        return ref(arg, res.Type);
      }
      if (k === 'Fn::GetAtt') {
        const [id, attr] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
        const res = resources[id];
        if (!res) throw new Error(`Fn::GetAtt on unknown resource ${id}`);
        return ref(id, res.Type, attr);
      }
      if (k === 'Fn::Join') {
        const [sep, parts] = arg as [string, Json[]];
        return (r(parts) as Json[]).map(String).join(sep);
      }
      if (k === 'Fn::Select') {
        const [i, list] = arg as [number, Json];
        return (r(list) as Json[])[Number(r(i as Json))];
      }
      if (k === 'Fn::Split') {
        const [sep, s] = arg as [string, Json];
        return String(r(s)).split(sep);
      }
      if (k === 'Fn::Sub' && typeof arg === 'string') {
        return arg.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
          if (name in pseudo) return pseudo[name];
          const [id, attr] = name.split('.');
          return String(r(attr ? { 'Fn::GetAtt': [id, attr] } : { Ref: id }));
        });
      }
    }
    return Object.fromEntries(Object.entries(v).map(([key, val]) => [key, r(val)]));
  };
  return r(value as Json);
}

/** Deterministic placeholder ARNs, URLs and names for a region and account. */
export function placeholderRef(env: ResolveEnv): RefResolver {
  const { region, account } = env;
  return (id, type, attribute) => {
    switch (type) {
      case 'AWS::StepFunctions::StateMachine':
        if (attribute === 'Name') return id;
        return `arn:aws:states:${region}:${account}:stateMachine:${id}`;
      case 'AWS::Lambda::Function':
        return attribute === 'Arn' ? `arn:aws:lambda:${region}:${account}:function:${id}` : id;
      case 'AWS::KinesisFirehose::DeliveryStream':
        return attribute === 'Arn' ? `arn:aws:firehose:${region}:${account}:deliverystream/${id}` : id;
      case 'AWS::SQS::Queue':
        if (attribute === 'Arn') return `arn:aws:sqs:${region}:${account}:${id}`;
        if (attribute === 'QueueName') return id;
        return `https://sqs.${region}.amazonaws.com/${account}/${id}`;
      // The shapes below are what the IAM wiring test needs: ARNs as IAM policies see them.
      case 'AWS::IAM::Role':
        return attribute === 'Arn' ? `arn:aws:iam::${account}:role/${id}` : id;
      case 'AWS::KMS::Key':
        return attribute === 'Arn' ? `arn:aws:kms:${region}:${account}:key/${id}` : id;
      case 'AWS::S3::Bucket':
        // Bucket names are lower case; the ARN has neither region nor account.
        if (attribute === 'Arn') return `arn:aws:s3:::${id.toLowerCase()}`;
        return attribute ? `${id.toLowerCase()}.${attribute}` : id.toLowerCase();
      case 'AWS::SNS::Topic':
        if (attribute === 'TopicName') return id;
        return `arn:aws:sns:${region}:${account}:${id}`;
      case 'AWS::Logs::LogGroup':
        // GetAtt Arn of a log group ends in `:*` (it covers its streams).
        return attribute === 'Arn' ? `arn:aws:logs:${region}:${account}:log-group:${id}:*` : id;
      case 'AWS::DynamoDB::Table':
        return attribute === 'Arn' ? `arn:aws:dynamodb:${region}:${account}:table/${id}` : id;
      default:
        if (attribute === 'Arn') return `arn:aws:${type.split('::')[1]?.toLowerCase() ?? 'local'}:${region}:${account}:${id}`;
        return attribute ? `${id}.${attribute}` : id;
    }
  };
}

/** The runnable ASL of a state machine resource, its references resolved by `ref`. */
export function definitionOf(template: CfnTemplate, logicalId: string, ref: RefResolver, env: ResolveEnv): AslDefinition {
  const res = template.Resources[logicalId];
  if (res?.Type !== 'AWS::StepFunctions::StateMachine') throw new Error(`${logicalId} is not a state machine of the template`);
  const raw = resolveIntrinsics(res.Properties?.DefinitionString ?? null, template.Resources, ref, env);
  if (typeof raw !== 'string') throw new Error(`State machine ${logicalId} has no DefinitionString`);
  return JSON.parse(raw) as AslDefinition;
}

/** Placeholder ARN of a state machine by logical id. */
export function stateMachineArn(logicalId: string): string {
  return placeholderRef(PLACEHOLDER)(logicalId, 'AWS::StepFunctions::StateMachine', 'Arn');
}

/** Every state machine of the template, resolved with placeholders. */
export function stateMachinesOf(template: CfnTemplate): ResolvedStateMachine[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine')
    .map(([logicalId]) => ({
      logicalId,
      arn: stateMachineArn(logicalId),
      definition: definitionOf(template, logicalId, placeholderRef(PLACEHOLDER), PLACEHOLDER),
    }));
}

/**
 * The runnable ASL of one state machine, chosen by logical id or by job name (the job whose
 * SpoolFailure message names it, see lib/workflow.ts). Throws listing what exists when not found.
 */
export function aslFromTemplate(template: CfnTemplate, which: { logicalId: string } | { job: string }): ResolvedStateMachine {
  const all = stateMachinesOf(template);
  const found =
    'logicalId' in which
      ? all.find((m) => m.logicalId === which.logicalId)
      : all.find((m) => (m.definition.States.SpoolFailure as { Parameters?: { MessageBody?: { job?: string } } } | undefined)?.Parameters?.MessageBody?.job === which.job);
  if (!found) throw new Error(`no state machine for ${JSON.stringify(which)}; the template has ${all.map((m) => m.logicalId).join(', ') || 'none'}`);
  return found;
}
