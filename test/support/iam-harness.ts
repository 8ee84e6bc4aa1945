/**
 * Evaluates requests against the IAM policies of a synthesized template with a real IAM policy
 * engine (@cloud-copilot/iam-simulate, AGPL-3.0, a test-only devDependency: it is never bundled or
 * deployed). Identity, resource (bucket, queue, topic, role trust) and key policies are taken from
 * the template, their intrinsics resolved to the placeholder ARNs of local/asl.ts.
 *
 * The engine derives no request context: every context key a policy looks at is passed
 * explicitly (principal ARN and account, whether the principal is an AWS service, TLS, source
 * account/ARN of a service, kms:ViaService, the encryption context). Keys the engine drops because
 * they do not apply to the action are returned as `ignored`, so a test can refuse them.
 *
 * One gap of the engine is bridged here: it never matches `kms:EncryptionContext:<key>` (variable
 * keys are matched only after a `/`). Those condition keys are renamed, in every policy and in the
 * request context alike, to `aws:PrincipalTag/kmsEC.<key>`, which the engine does evaluate with
 * the same operators; the values compared are unchanged.
 */
import { runSimulation, SimulationIdentityPolicy } from '@cloud-copilot/iam-simulate';
import { CfnResource, Stack } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { CfnTemplate, Json, PLACEHOLDER, placeholderRef, resolveIntrinsics } from '../../local/asl';

/** A request context: key to value(s). */
export type Context = Record<string, string | string[]>;

/** Who makes a request, with the context that identifies it. */
export interface Principal {
  /** Role ARN or service principal (e.g. `cloudwatch.amazonaws.com`). */
  readonly id: string;
  /** Identity policies of the principal (none for a service principal). */
  readonly identityPolicies: ReadonlyArray<SimulationIdentityPolicy>;
  /** Context keys that describe the principal itself. */
  readonly context: Context;
  /** Label for messages. */
  readonly label: string;
}

/** The engine's verdict on one request. */
export interface Verdict {
  readonly result: 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';
  /** Context keys the engine dropped as not applicable to the request. */
  readonly ignored: ReadonlyArray<string>;
  /** Which policy decided a denial (policy type, statement index), for messages. */
  readonly why: string;
}

const EC = /^kms:EncryptionContext:(.+)$/i;

/** Renames `kms:EncryptionContext:<k>` keys (see the module comment) anywhere in `v`. */
export function renameEncryptionContextKeys<T>(v: T): T {
  if (Array.isArray(v)) return v.map(renameEncryptionContextKeys) as T;
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>).map(([k, val]) => {
      const m = EC.exec(k);
      return [m ? `aws:PrincipalTag/kmsEC.${m[1].replace(/:/g, '.')}` : k, renameEncryptionContextKeys(val)];
    }),
  ) as T;
}

interface PolicyDoc {
  readonly Version?: string;
  readonly Statement: unknown[];
}

/** The IAM model of one synthesized stack: who has which policy, which resource has which policy. */
export class IamModel {
  readonly account = PLACEHOLDER.account;
  readonly region = PLACEHOLDER.region;
  /** AWS managed (or other external) policy ARNs attached to roles: not in the template, so not evaluated. */
  readonly unevaluable: string[] = [];
  private readonly resolved: Record<string, { Type: string; Properties?: Record<string, any> }>;
  private readonly identity = new Map<string, SimulationIdentityPolicy[]>();
  private readonly resourcePolicies = new Map<string, PolicyDoc>();

  constructor(
    private readonly stack: Stack,
    private readonly template: CfnTemplate,
  ) {
    const env = { region: this.region, account: this.account, stackName: stack.stackName };
    this.resolved = resolveIntrinsics(template.Resources, template.Resources, placeholderRef(env), env) as never;
    const leftover = JSON.stringify(this.resolved).match(/"Fn::[A-Za-z]+"/);
    if (leftover) throw new Error(`an intrinsic was left unresolved (${leftover[0]}): extend resolveIntrinsics in local/asl.ts`);

    for (const [id, r] of Object.entries(this.resolved)) {
      const p = r.Properties ?? {};
      if (r.Type === 'AWS::IAM::Role') {
        for (const ip of (p.Policies ?? []) as Array<{ PolicyName: string; PolicyDocument: PolicyDoc }>) this.addIdentity(id, `${id}/${ip.PolicyName}`, ip.PolicyDocument);
        for (const arn of (p.ManagedPolicyArns ?? []) as string[]) this.unevaluable.push(`${id}: ${arn}`);
        this.resourcePolicies.set(this.roleArnOfId(id), p.AssumeRolePolicyDocument);
      } else if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
        for (const roleName of (p.Roles ?? []) as string[]) this.addIdentity(roleName, id, p.PolicyDocument);
        if ((p.Users ?? p.Groups ?? []).length > 0) throw new Error(`${id} is attached to users or groups: the model covers roles only`);
      } else if (r.Type === 'AWS::S3::BucketPolicy') {
        this.resourcePolicies.set(`arn:aws:s3:::${p.Bucket}`, p.PolicyDocument);
      } else if (r.Type === 'AWS::SQS::QueuePolicy') {
        for (const url of p.Queues as string[]) this.resourcePolicies.set(this.queueArnOfUrl(url), p.PolicyDocument);
      } else if (r.Type === 'AWS::SNS::TopicPolicy') {
        for (const arn of p.Topics as string[]) this.resourcePolicies.set(arn, p.PolicyDocument);
      } else if (r.Type === 'AWS::KMS::Key') {
        this.resourcePolicies.set(`arn:aws:kms:${this.region}:${this.account}:key/${id}`, p.KeyPolicy);
      } else if (r.Type === 'AWS::Lambda::Permission') {
        this.addLambdaPermission(id, p);
      }
    }
  }

  /**
   * A Lambda permission (e.g. EventBridge invoking a function) as a statement of the function's
   * resource policy, the way Lambda renders it (AWS Lambda developer guide, "Resource-based
   * policies": SourceArn as ArnLike, SourceAccount as StringEquals).
   */
  private addLambdaPermission(id: string, p: Record<string, any>): void {
    const name = String(p.FunctionName);
    const fn = name.startsWith('arn:') ? name.replace(/:(\$LATEST|\d+)$/, '') : `arn:aws:lambda:${this.region}:${this.account}:function:${name}`;
    const principal = String(p.Principal);
    const statement = {
      Sid: id,
      Effect: 'Allow',
      Principal: principal.endsWith('.amazonaws.com') ? { Service: principal } : { AWS: principal },
      Action: p.Action,
      Resource: fn,
      Condition: {
        ...(p.SourceArn ? { ArnLike: { 'aws:SourceArn': p.SourceArn } } : {}),
        ...(p.SourceAccount ? { StringEquals: { 'aws:SourceAccount': p.SourceAccount } } : {}),
      },
    };
    const doc = this.resourcePolicies.get(fn) ?? { Version: '2012-10-17', Statement: [] };
    this.resourcePolicies.set(fn, { ...doc, Statement: [...doc.Statement, statement] });
  }

  private addIdentity(roleId: string, name: string, doc: PolicyDoc): void {
    this.identity.set(roleId, [...(this.identity.get(roleId) ?? []), { name, policy: renameEncryptionContextKeys(doc) }]);
  }

  private roleArnOfId(id: string): string {
    return `arn:aws:iam::${this.account}:role/${id}`;
  }

  private queueArnOfUrl(url: string): string {
    const id = url.split('/').pop()!;
    return `arn:aws:sqs:${this.region}:${this.account}:${id}`;
  }

  /** A CDK value (token string) of this stack as the concrete placeholder string the policies hold. */
  value(token: string): string {
    const env = { region: this.region, account: this.account, stackName: this.stack.stackName };
    const v = resolveIntrinsics(this.stack.resolve(token), this.template.Resources, placeholderRef(env), env) as Json;
    if (typeof v !== 'string') throw new Error(`${token} does not resolve to a string`);
    return v;
  }

  /** The logical id of a construct's CloudFormation resource. */
  logicalId(c: IConstruct): string {
    const cfn = CfnResource.isCfnResource(c) ? c : c.node.defaultChild;
    if (!cfn) throw new Error(`${c.node.path} has no CloudFormation resource`);
    return this.stack.getLogicalId(cfn as CfnResource);
  }

  /** A role of the stack as a request principal, with its identity policies from the template. */
  role(role: { roleArn: string; node: IConstruct['node'] }): Principal {
    const id = this.logicalId(role as unknown as IConstruct);
    if (this.resolved[id]?.Type !== 'AWS::IAM::Role') throw new Error(`${role.node.path} is not a role of the template`);
    return this.principalForRole(this.roleArnOfId(id), this.identity.get(id) ?? [], id);
  }

  /** A role outside the stack (an operator's, an administrator's) with the identity policies it is assumed to have. */
  outsideRole(arn: string, statements: unknown[], label = arn): Principal {
    return this.principalForRole(arn, statements.length > 0 ? [{ name: 'own', policy: { Version: '2012-10-17', Statement: statements } }] : [], label);
  }

  private principalForRole(arn: string, identityPolicies: SimulationIdentityPolicy[], label: string): Principal {
    const account = arn.split(':')[4];
    return {
      id: arn,
      identityPolicies,
      label,
      context: { 'aws:PrincipalArn': arn, 'aws:PrincipalAccount': account, 'aws:PrincipalIsAWSService': 'false', 'aws:SecureTransport': 'true' },
    };
  }

  /** An AWS service acting as itself (a service principal), on behalf of `sourceAccount` / `sourceArn` when given. */
  service(name: string, source: { account?: string; arn?: string } = {}): Principal {
    return {
      id: name,
      identityPolicies: [],
      label: name,
      context: {
        'aws:PrincipalIsAWSService': 'true',
        'aws:SecureTransport': 'true',
        ...(source.account ? { 'aws:SourceAccount': source.account } : {}),
        ...(source.arn ? { 'aws:SourceArn': source.arn } : {}),
      },
    };
  }

  /** The resource policy (bucket, queue, topic, key, role trust) governing `resource`, if any. */
  resourcePolicyFor(resource: string): PolicyDoc | undefined {
    const s3 = /^arn:aws:s3:::([^/]+)/.exec(resource);
    const doc = s3 ? this.resourcePolicies.get(`arn:aws:s3:::${s3[1]}`) : this.resourcePolicies.get(resource);
    return doc ? renameEncryptionContextKeys(doc) : undefined;
  }

  /** Evaluates one request: identity, resource (or key) policy together. */
  async evaluate(principal: Principal, action: string, resource: string, context: Context = {}): Promise<Verdict> {
    const resourcePolicy = this.resourcePolicyFor(resource);
    const r = await runSimulation(
      {
        request: {
          principal: principal.id,
          action,
          // S3 ARNs carry no account: the bucket is this account's.
          resource: { resource, accountId: resource.split(':')[4] || this.account },
          contextVariables: renameEncryptionContextKeys({ ...principal.context, ...context }),
        },
        identityPolicies: [...principal.identityPolicies],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        ...(resourcePolicy ? { resourcePolicy } : {}),
      },
      {},
    );
    if (r.resultType === 'error') throw new Error(`${principal.label} ${action} ${resource}: the engine refused the simulation: ${JSON.stringify(r.errors)}`);
    if (r.resultType !== 'single') throw new Error(`${action} ${resource}: a request resource must be concrete (no wildcard)`);
    const analysis = r.result.analysis as unknown as Record<string, unknown>;
    const blocked = JSON.stringify(analysis.blockedBy ?? analysis.result ?? '');
    return { result: r.overallResult as Verdict['result'], ignored: r.result.ignoredContextKeys ?? [], why: blocked };
  }
}
