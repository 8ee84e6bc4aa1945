/**
 * Exact principals: every lock of the app names the roles it exempts by their exact ARN, never by a
 * pattern, so that a role an administrator creates later (`cdk-anything-cfn-exec-role-...`,
 * `AWSReservedSSO_SREReadOnly_Admins_...`) cannot match. The config refuses a pattern with the way
 * to find the exact ARN. Pure (no CDK): the CLI validates the config with it too.
 */

/** IAM Identity Center (SSO) roles: `AWSReservedSSO_<permission set>_<16 hex>` under this path (with or without the home region). */
const SSO_PATH = /^aws-reserved\/sso\.amazonaws\.com\/(?:[a-z]{2}(?:-[a-z]+)+-\d\/)?$/;
const SSO_ROLE_NAME = /^AWSReservedSSO_(.+)_([0-9a-f]{16})$/;
const ROLE_ARN = /^arn:aws[\w-]*:iam::(\d{12}):role\/((?:[\w+=,.@-]+\/)*)([\w+=,.@-]{1,64})$/;

/** How to list the exact ARNs of the account's IAM Identity Center roles (one per permission set). */
export const FIND_SSO_ROLE_ARNS = 'aws iam list-roles --path-prefix /aws-reserved/sso.amazonaws.com/ --query "Roles[].Arn" --output text';

/**
 * Problems with one configured role ARN (empty when it is exact). Exact means: a role ARN with a
 * 12-digit account and no `*` or `?`; an IAM Identity Center role by its whole generated name
 * (`AWSReservedSSO_<permission set>_<16 hex>`). `account`, when the stage pins one, must be the
 * ARN's (the locks let in roles of the stack's own account only).
 */
export function exactRoleArnProblems(where: string, arn: unknown, account?: string | null): string[] {
  if (typeof arn !== 'string') return [`${where}: ${JSON.stringify(arn)} is not a role ARN`];
  if (/[*?]/.test(arn)) {
    const sso = /AWSReservedSSO_([^*?/]*?)_?\*/.exec(arn);
    const hint = sso
      ? `"AWSReservedSSO_${sso[1]}_*" also matches other permission sets (AWSReservedSSO_${sso[1]}_Admins_..., any set whose name starts with "${sso[1]}_"). ` +
        `Name the role of the one permission set with its generated suffix, e.g. arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/<region>/AWSReservedSSO_${sso[1] || 'SREReadOnly'}_0123456789abcdef; ` +
        `find it with: ${FIND_SSO_ROLE_ARNS}`
      : `a pattern also matches roles created later; name each role by its exact ARN (aws iam get-role --role-name <name> --query Role.Arn)`;
    return [`${where}: "${arn}" is a pattern: ${hint}`];
  }
  const m = ROLE_ARN.exec(arn);
  if (!m) return [`${where}: "${arn}" is not a role ARN like arn:aws:iam::111111111111:role/<path/><name>`];
  const [, acct, path, name] = m;
  const problems: string[] = [];
  if (path.startsWith('aws-reserved/sso.amazonaws.com/') && (!SSO_PATH.test(path) || !SSO_ROLE_NAME.test(name))) {
    problems.push(
      `${where}: "${arn}" is not a whole IAM Identity Center role name: it is AWSReservedSSO_<permission set>_<16 hex characters> ` +
        `under aws-reserved/sso.amazonaws.com/[<region>/]; find the exact ARN with: ${FIND_SSO_ROLE_ARNS}`,
    );
  }
  if (account && acct !== account) problems.push(`${where}: "${arn}" is a role of account ${acct}, but the stage deploys to ${account}: only roles of the stack's account are let in`);
  return problems;
}
