/**
 * Errors the CLI prints: one line saying what is wrong and one saying what to do. Exit codes:
 * 1 = AWS or the app answered with an error, 2 = the command line or the config is wrong.
 */

/** Exit code of a usage or config problem (nothing was called). */
export const EXIT_USAGE = 2;
/** Exit code of an error while talking to AWS. */
export const EXIT_FAILED = 1;

/** An error meant for the operator: `message` says what is wrong, `hint` what to do. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode: number = EXIT_FAILED,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A wrong command line or config (exit 2). */
export class UsageError extends CliError {
  constructor(message: string, hint?: string) {
    super(message, hint, EXIT_USAGE);
    this.name = 'UsageError';
  }
}

function nameOf(e: unknown): string {
  return (e as { name?: string } | null)?.name ?? '';
}

/**
 * Turns an SDK error into a CliError that tells the operator what to do; other errors pass through.
 * Credential and region problems are the ones met first on a new laptop, so each gets its own hint.
 */
export function explain(e: unknown, what: string): Error {
  if (e instanceof CliError) return e;
  const name = nameOf(e);
  const message = e instanceof Error ? e.message : String(e);
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return new CliError(
      `No AWS credentials: ${message}`,
      'Log in the usual way: `aws sso login --profile <p>` then --profile <p> (or AWS_PROFILE), or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.',
    );
  }
  if (/Region is missing/i.test(message)) {
    return new CliError('No AWS region', 'Pass --region, set AWS_REGION, give the profile a region, or set stages.<stage>.region in bin/config.ts.', 2);
  }
  if (['InvalidClientTokenId', 'UnrecognizedClientException', 'ExpiredToken', 'ExpiredTokenException', 'SignatureDoesNotMatch'].includes(name)) {
    return new CliError(`AWS refused the credentials (${name}): ${message}`, 'Refresh them (`aws sso login`) or pick another --profile.');
  }
  if (/AccessDenied|UnauthorizedOperation|NotAuthorized/i.test(name) || /not authorized/i.test(message)) {
    return new CliError(`Access denied while trying to ${what}: ${message}`, 'Your role needs the permissions listed in docs/operator-cli.md ("IAM").');
  }
  return new CliError(`Could not ${what}: ${name ? `${name}: ` : ''}${message}`);
}
