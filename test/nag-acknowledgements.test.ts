import { CfnResource, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IConstruct } from 'constructs';
import { synthApp } from './support/synth-app';

/**
 * cdk-nag acknowledgements are made where each finding is: on the one CloudFormation resource the
 * finding names, for that finding id. An acknowledgement on a parent would be inherited by every
 * child, so a new wildcard statement in a new policy would pass silently.
 */

interface Ack {
  readonly id: string;
  readonly path: string;
  readonly reason: string;
  readonly isResource: boolean;
}

function acknowledgements(root: IConstruct): Ack[] {
  const out: Ack[] = [];
  for (const c of root.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      // Stored with the namespace of an unqualified id ("Annotation::<id>").
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        out.push({ id: id.replace(/^Annotation::/, ''), path: c.node.path, reason, isResource: CfnResource.isCfnResource(c) });
      }
    }
  }
  return out;
}

/**
 * Every finding cdk-nag would report if nothing were acknowledged, as `<id> @ <resource path>`.
 * cdk-nag's acknowledgement check is switched off for this one run (a private method of the pack:
 * if cdk-nag renames it this test fails loudly rather than passing).
 */
function allFindings(root: IConstruct): Set<string> {
  const proto = AwsSolutionsChecks.prototype as unknown as { isAcknowledged: unknown };
  const original = proto.isAcknowledged;
  if (typeof original !== 'function') throw new Error('cdk-nag no longer has NagPack.isAcknowledged: update this test');
  proto.isAcknowledged = () => false;
  try {
    const report = new AwsSolutionsChecks().validateScope(root) as unknown as { violations: Array<{ ruleName: string; violatingResources: Array<{ constructPath: string }> }> };
    return new Set(report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} @ ${r.constructPath}`)));
  } finally {
    proto.isAcknowledged = original;
  }
}

const { stack } = synthApp();
const acks = acknowledgements(stack);
const findings = allFindings(stack);

test('there are findings and acknowledgements to check', () => {
  expect(findings.size).toBeGreaterThan(0);
  expect(acks.length).toBeGreaterThan(0);
});

test('every acknowledgement sits on a CloudFormation resource, never on a parent whose children would inherit it', () => {
  expect(acks.filter((a) => !a.isResource).map((a) => `${a.id} @ ${a.path}`)).toEqual([]);
});

test('every acknowledgement names a finding cdk-nag makes on exactly that resource (none stale, none too broad)', () => {
  expect(acks.map((a) => `${a.id} @ ${a.path}`).filter((k) => !findings.has(k))).toEqual([]);
});

test('every finding is acknowledged on its own resource, with a reason', () => {
  const acknowledged = new Set(acks.map((a) => `${a.id} @ ${a.path}`));
  expect([...findings].filter((f) => !acknowledged.has(f))).toEqual([]);
  for (const a of acks) expect(a.reason.length).toBeGreaterThan(30);
});

test('the managed AWSLambdaBasicExecutionRole is gone: no finding about AWS managed policies', () => {
  expect([...findings].filter((f) => f.startsWith('AwsSolutions-IAM4'))).toEqual([]);
});
