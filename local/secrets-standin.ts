/**
 * A stand-in for the two secret reads of lambdas/shared/secrets.ts: SSM `GetParameter` and Secrets
 * Manager `GetSecretValue` (AWS JSON 1.1), for the real SDK clients Powertools Parameters builds,
 * pointed at it with AWS_ENDPOINT_URL_SSM and AWS_ENDPOINT_URL_SECRETS_MANAGER. Values come from the
 * jobs' offline stubs (local/job-stubs.ts). It promises no more than AWS documents:
 * - a name no function of the app is granted (config `secrets`) is `AccessDeniedException`, as IAM
 *   denies a role without the grant (lib/function-settings.ts grants exactly the listed names);
 * - a granted name with no stubbed value is `ParameterNotFound` / `ResourceNotFoundException`, the
 *   errors of a missing parameter or secret (SSM API reference, GetParameter, "Errors"; Secrets
 *   Manager API reference, GetSecretValue, "Errors").
 * It cannot tell which function calls (every handler of the offline run shares one process and
 * Powertools' one client), so a grant to any function of the app counts. Never bundled into Lambdas.
 */
import { sendJsonError, StandinServer, startStandinServer } from './standin-http';

const JSON_11 = 'application/x-amz-json-1.1';

/** What the stand-in serves. */
export interface SecretsStandinOptions {
  /** SSM parameter name -> value (SecureString values are served decrypted, as `WithDecryption: true`). */
  readonly ssmParameters?: Readonly<Record<string, string>>;
  /** Secrets Manager secret name -> string value. */
  readonly secrets?: Readonly<Record<string, string>>;
  /** Names some function of the app may read (its config `secrets`); others are denied. @default every stubbed name */
  readonly granted?: { readonly ssmParameters: ReadonlyArray<string>; readonly secretsManager: ReadonlyArray<string> };
  readonly region?: string;
}

export interface SecretsStandin extends StandinServer {
  /** Reads answered, by outcome, e.g. `ssm:/demo/token:ok`, `secretsmanager:demo/key:denied`. */
  readonly reads: string[];
}

/** The secret's name from a Secrets Manager SecretId (a name or an ARN `...:secret:<name>-AbCdEf`). */
function secretName(id: string): string {
  const m = /^arn:aws[\w-]*:secretsmanager:[^:]*:\d*:secret:(.+)-[A-Za-z0-9]{6}$/.exec(id);
  return m ? m[1] : id;
}

/** Starts the stand-in on 127.0.0.1: one endpoint for both services (the target header says which). */
export async function startSecretsStandin(options: SecretsStandinOptions): Promise<SecretsStandin> {
  const region = options.region ?? 'us-east-1';
  const ssm = new Map(Object.entries(options.ssmParameters ?? {}));
  const sm = new Map(Object.entries(options.secrets ?? {}));
  const grantedSsm = new Set(options.granted?.ssmParameters ?? ssm.keys());
  const grantedSm = new Set((options.granted?.secretsManager ?? [...sm.keys()]).map(secretName));
  const reads: string[] = [];
  const server = await startStandinServer(async ({ req, body }, res) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    const input = JSON.parse(body || '{}') as { Name?: string; SecretId?: string };
    const ok = (payload: unknown): void => void res.writeHead(200, { 'content-type': JSON_11 }).end(JSON.stringify(payload));
    if (target === 'AmazonSSM.GetParameter') {
      const name = String(input.Name ?? '');
      if (!grantedSsm.has(name)) {
        reads.push(`ssm:${name}:denied`);
        return sendJsonError(res, 400, JSON_11, 'AccessDeniedException', `User is not authorized to perform: ssm:GetParameter on resource: parameter${name.startsWith('/') ? '' : '/'}${name} (not in any function's config secrets.ssmParameters)`);
      }
      const value = ssm.get(name);
      if (value === undefined) {
        reads.push(`ssm:${name}:missing`);
        return sendJsonError(res, 400, JSON_11, 'ParameterNotFound', `Parameter ${name} not found (no offline stub gives it a value)`);
      }
      reads.push(`ssm:${name}:ok`);
      return ok({
        Parameter: { Name: name, Type: 'SecureString', Value: value, Version: 1, DataType: 'text', ARN: `arn:aws:ssm:${region}:000000000000:parameter${name.startsWith('/') ? '' : '/'}${name}`, LastModifiedDate: 0 },
      });
    }
    if (target === 'secretsmanager.GetSecretValue') {
      const name = secretName(String(input.SecretId ?? ''));
      if (!grantedSm.has(name)) {
        reads.push(`secretsmanager:${name}:denied`);
        return sendJsonError(res, 400, JSON_11, 'AccessDeniedException', `User is not authorized to perform: secretsmanager:GetSecretValue on resource: ${name} (not in any function's config secrets.secretsManager)`);
      }
      const value = sm.get(name);
      if (value === undefined) {
        reads.push(`secretsmanager:${name}:missing`);
        return sendJsonError(res, 400, JSON_11, 'ResourceNotFoundException', `Secrets Manager can't find the specified secret ${name} (no offline stub gives it a value)`);
      }
      reads.push(`secretsmanager:${name}:ok`);
      return ok({ ARN: `arn:aws:secretsmanager:${region}:000000000000:secret:${name}-AbCdEf`, Name: name, SecretString: value, VersionId: 'local-1', VersionStages: ['AWSCURRENT'], CreatedDate: 0 });
    }
    return sendJsonError(res, 400, JSON_11, 'UnknownOperationException', `not served by the secrets stand-in: ${target}`);
  });
  return { ...server, reads };
}
