import { getParameter } from '@aws-lambda-powertools/parameters/ssm';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';

/**
 * Secrets a job's step or producer reads (config `secrets`), cached in the container for five
 * minutes (Powertools Parameters): one read per container per five minutes, not per invocation.
 * Values are never logged and never put in environment variables or the template. The function's
 * role may read exactly the names its config lists.
 */

/** Cache lifetime, seconds (a rotated secret is picked up within it). */
export const SECRET_MAX_AGE_SECONDS = 300;

/** An SSM Parameter Store value (SecureString decrypted). Throws when it does not exist. */
export async function getParameterValue(name: string): Promise<string> {
  const v = await getParameter(name, { decrypt: true, maxAge: SECRET_MAX_AGE_SECONDS });
  if (v === undefined) throw new Error(`SSM parameter ${name} has no value`);
  return v;
}

/** A Secrets Manager secret's string value. Throws when it has none. */
export async function getSecretValue(name: string): Promise<string> {
  const v = await getSecret(name, { maxAge: SECRET_MAX_AGE_SECONDS });
  if (typeof v !== 'string') throw new Error(`secret ${name} has no string value`);
  return v;
}
