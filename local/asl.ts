/**
 * Runnable ASL from a synthesized template, for tests and the offline run.
 *
 * A synthesized `DefinitionString` is an `Fn::Join` of text and CloudFormation references. These
 * are resolved with deterministic placeholders:
 * - `Ref AWS::Partition|Region|AccountId|URLSuffix` -> `aws`, `us-east-1`, `123456789012`, `amazonaws.com`
 * - `Ref <queue>` -> `https://sqs.us-east-1.amazonaws.com/123456789012/<LogicalId>`
 * - `Ref <other>` -> `<LogicalId>`
 * - `Fn::GetAtt [<function>, Arn]` -> `arn:aws:lambda:us-east-1:123456789012:function:<LogicalId>`
 * - `Fn::GetAtt [<resource>, <attr>]` -> `arn:aws:<service>:us-east-1:123456789012:<LogicalId>` (Arn)
 *   or `<LogicalId>.<attr>`
 * Tests map Task states to local handlers by state name, so the placeholders only need to be
 * stable and valid-looking ARNs.
 */

/** The placeholder account, region and partition used in resolved definitions. */
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

function resolveValue(template: CfnTemplate, v: unknown): string {
  if (typeof v === 'string') return v;
  const o = v as Record<string, unknown>;
  const { partition, region, account, urlSuffix } = PLACEHOLDER;
  if (o && 'Ref' in o) {
    const ref = o.Ref as string;
    const pseudo: Record<string, string> = { 'AWS::Partition': partition, 'AWS::Region': region, 'AWS::AccountId': account, 'AWS::URLSuffix': urlSuffix };
    if (pseudo[ref]) return pseudo[ref];
    const type = template.Resources[ref]?.Type;
    if (type === 'AWS::SQS::Queue') return `https://sqs.${region}.${urlSuffix}/${account}/${ref}`;
    return ref;
  }
  if (o && 'Fn::GetAtt' in o) {
    const [id, attr] = o['Fn::GetAtt'] as [string, string];
    const type = template.Resources[id]?.Type ?? 'AWS::Unknown::Unknown';
    if (attr !== 'Arn') return `${id}.${attr}`;
    if (type === 'AWS::Lambda::Function') return `arn:${partition}:lambda:${region}:${account}:function:${id}`;
    if (type === 'AWS::StepFunctions::StateMachine') return stateMachineArn(id);
    return `arn:${partition}:${type.split('::')[1].toLowerCase()}:${region}:${account}:${id}`;
  }
  if (o && 'Fn::Join' in o) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => resolveValue(template, p)).join(sep);
  }
  throw new Error(`cannot resolve ${JSON.stringify(v)} in a state machine definition; extend local/asl.ts`);
}

/** Placeholder ARN of a state machine by logical id. */
export function stateMachineArn(logicalId: string): string {
  return `arn:${PLACEHOLDER.partition}:states:${PLACEHOLDER.region}:${PLACEHOLDER.account}:stateMachine:${logicalId}`;
}

/** Every state machine of the template, resolved. */
export function stateMachinesOf(template: CfnTemplate): ResolvedStateMachine[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine')
    .map(([logicalId, r]) => ({
      logicalId,
      arn: stateMachineArn(logicalId),
      definition: JSON.parse(resolveValue(template, r.Properties?.DefinitionString)) as AslDefinition,
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
