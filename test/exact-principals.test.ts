import { App, DefaultStackSynthesizer, Stack } from 'aws-cdk-lib';
import { AppConfig } from '../lib/config/types';
import { ConfigError, resolveConfig } from '../lib/config/validate';
import { exactRoleArnProblems } from '../lib/config/principals';
import { ParamsKey } from '../lib/params-key';
import { deployRoleArnOf } from '../lib/principals';
import { fixtureConfig } from './support/fixture-config';

const SSO = 'arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/ap-northeast-1/AWSReservedSSO_SREReadOnly_0123456789abcdef';

const problemsOf = (edit: (c: AppConfig) => AppConfig): string[] => {
  try {
    resolveConfig(edit(fixtureConfig), { allJobs: true });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
};

describe('reader, break-glass and operator roles are exact ARNs (config validation)', () => {
  test.each([
    ['an SSO permission set with its generated suffix', SSO],
    ['an SSO role of the older path without a region', 'arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_SREReadOnly_0123456789abcdef'],
    ['a plain role', 'arn:aws:iam::111111111111:role/InvestigatorRole'],
    ['a role with a path', 'arn:aws:iam::111111111111:role/people/InvestigatorRole'],
  ])('accepts %s', (_what, arn) => {
    expect(exactRoleArnProblems('r', arn)).toEqual([]);
  });

  test('refuses a permission-set wildcard, because it matches another permission set, and says how to find the exact ARN', () => {
    const [p] = exactRoleArnProblems('paramLog.readerRoleArnPatterns[0]', 'arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_SREReadOnly_*');
    expect(p).toMatch(/"AWSReservedSSO_SREReadOnly_\*" also matches other permission sets \(AWSReservedSSO_SREReadOnly_Admins_/);
    expect(p).toContain('aws iam list-roles --path-prefix /aws-reserved/sso.amazonaws.com/');
  });

  test.each([
    ['any account', 'arn:aws:iam::*:role/InvestigatorRole', /is a pattern/],
    ['a single-character wildcard', 'arn:aws:iam::111111111111:role/Investigator?', /is a pattern/],
    ['an SSO role without its suffix', 'arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/ap-northeast-1/AWSReservedSSO_SREReadOnly', /not a whole IAM Identity Center role name/],
    ['an SSO role with a short suffix', 'arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/ap-northeast-1/AWSReservedSSO_SREReadOnly_0123', /not a whole IAM Identity Center role name/],
    ['a user, not a role', 'arn:aws:iam::111111111111:user/alice', /is not a role ARN/],
    ['an assumed-role session', 'arn:aws:sts::111111111111:assumed-role/Investigator/alice', /is not a role ARN/],
  ])('refuses %s', (_what, arn, message) => {
    expect(exactRoleArnProblems('r', arn).join('\n')).toMatch(message);
  });

  test('a role of another account than the stage deploys to is refused (the locks let in the stack account only)', () => {
    expect(exactRoleArnProblems('r', SSO, '222222222222')).toEqual([expect.stringMatching(/is a role of account 111111111111, but the stage deploys to 222222222222/)]);
    expect(exactRoleArnProblems('r', SSO, '111111111111')).toEqual([]);
  });

  test('resolveConfig names the field of every pattern: readers, stage readers, break glass, operators', () => {
    const found = problemsOf((c) => ({
      ...c,
      paramLog: { ...c.paramLog, breakGlassRoleArnPatterns: ['arn:aws:iam::123456789012:role/Erasure*'] },
      operators: { roleArns: ['arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_SREOperator_*'] },
      stages: { dev: { ...c.stages!.dev, readerRoleArnPatterns: ['arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_SREReadOnly_*'] } },
    }));
    expect(found).toEqual([
      expect.stringMatching(/^stages\.dev\.readerRoleArnPatterns\[0\]: .* is a pattern/),
      expect.stringMatching(/^paramLog\.breakGlassRoleArnPatterns\[0\]: .* is a pattern/),
      expect.stringMatching(/^operators\.roleArns\[0\]: .* is a pattern/),
    ]);
  });

  test('the fixture config resolves, with its operators and no trail or code signing by default', () => {
    const c = resolveConfig(fixtureConfig, { allJobs: true });
    expect(c.operators.roleArns).toHaveLength(1);
    expect(c.audit).toEqual({ trail: false, codeSigningProfileVersionArn: null });
  });

  test('a code-signing profile must be a signing profile version ARN', () => {
    expect(problemsOf((c) => ({ ...c, audit: { codeSigningProfileVersionArn: 'arn:aws:signer:us-east-1:123456789012:/signing-profiles/AppProfile' } }))).toEqual([
      expect.stringMatching(/^audit\.codeSigningProfileVersionArn must be a signing profile version ARN/),
    ]);
    expect(problemsOf((c) => ({ ...c, audit: { codeSigningProfileVersionArn: 'arn:aws:signer:us-east-1:123456789012:/signing-profiles/AppProfile/abcdef0123' } }))).toEqual([]);
  });
});

describe('the deploy role is the exact execution role of the stack synthesizer', () => {
  const app = new App();
  test('default qualifier', () => {
    const s = new Stack(app, 'Default', { env: { account: '111111111111', region: 'eu-west-1' } });
    expect(s.resolve(deployRoleArnOf(s))).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::111111111111:role/cdk-hnb659fds-cfn-exec-role-111111111111-eu-west-1']] });
  });

  test('a custom qualifier', () => {
    const s = new Stack(app, 'Custom', { env: { account: '111111111111', region: 'eu-west-1' }, synthesizer: new DefaultStackSynthesizer({ qualifier: 'team42' }) });
    expect(JSON.stringify(s.resolve(deployRoleArnOf(s)))).toContain(':iam::111111111111:role/cdk-team42-cfn-exec-role-111111111111-eu-west-1');
  });

  test('ParamsKey refuses a deploy role or reader pattern', () => {
    const s = new Stack(app, 'Patterns', { env: { account: '111111111111', region: 'eu-west-1' } });
    expect(() => new ParamsKey(s, 'K1', { readerRoleArnPatterns: [], deployRoleArn: 'arn:aws:iam::111111111111:role/cdk-*-cfn-exec-role-111111111111-eu-west-1' })).toThrow(/is a pattern/);
    expect(() => new ParamsKey(s, 'K2', { readerRoleArnPatterns: ['arn:aws:iam::111111111111:role/reader-*'] })).toThrow(/is a pattern/);
  });
});
