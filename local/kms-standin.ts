/**
 * A KMS stand-in for HMAC keys only: `GenerateMac` and `VerifyMac` over AWS JSON 1.1 (target
 * `TrentService.<Operation>`), for the app's KMS MAC client pointed at it with
 * `AWS_ENDPOINT_URL_KMS`. As KMS documents it (AWS KMS API reference, GenerateMac / VerifyMac):
 * - the algorithm must be `HMAC_SHA_256` (the app's keys are HMAC_256);
 * - `Message` is 1 to 4,096 bytes (base64 in JSON);
 * - a MAC that does not verify is the error `KMSInvalidMacException`, not `MacValid: false`;
 * - an unsigned request is refused.
 * Every key id gets its own secret (derived from a random secret of this process), so two keys
 * never verify each other's MACs and nothing outside the stand-in can make one. It promises no
 * more: no key policy, no grants (the IAM tests evaluate those), no key states.
 * Never bundled into Lambda code.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { LocalHmac } from '../lambdas/shared/record-mac';
import { sendJsonError, StandinServer, startStandinServer } from './standin-http';

const CONTENT_TYPE = 'application/x-amz-json-1.1';
const MAX_MESSAGE_BYTES = 4096;

export interface KmsStandin extends StandinServer {
  /** Requests per operation. */
  readonly calls: Record<string, number>;
  /** The key as the stand-in holds it, to make or check MACs in a test without HTTP. */
  keyOf(keyId: string): LocalHmac;
}

/** Starts the stand-in on 127.0.0.1 (random port). */
export async function startKmsStandin(): Promise<KmsStandin> {
  const master = randomBytes(32);
  const keys = new Map<string, LocalHmac>();
  const keyOf = (keyId: string): LocalHmac => {
    let k = keys.get(keyId);
    if (!k) {
      k = new LocalHmac(createHmac('sha256', master).update(keyId).digest());
      keys.set(keyId, k);
    }
    return k;
  };
  const calls: Record<string, number> = {};
  const server = await startStandinServer(async ({ req, body, scope }, res) => {
    const op = String(req.headers['x-amz-target'] ?? '').replace(/^TrentService\./, '');
    calls[op] = (calls[op] ?? 0) + 1;
    const fail = (type: string, message: string, status = 400) => sendJsonError(res, status, CONTENT_TYPE, type, message);
    const ok = (payload: unknown) => res.writeHead(200, { 'content-type': CONTENT_TYPE }).end(JSON.stringify(payload));
    if (!scope || scope.service !== 'kms') return fail('MissingAuthenticationTokenException', 'Missing Authentication Token', 403);
    const p = JSON.parse(body || '{}') as Record<string, unknown>;
    if (op !== 'GenerateMac' && op !== 'VerifyMac') return fail('UnknownOperationException', `not served by the stand-in: ${op}`);
    const keyId = typeof p.KeyId === 'string' ? p.KeyId : '';
    if (!keyId) return fail('ValidationException', 'KeyId is required');
    if (p.MacAlgorithm !== 'HMAC_SHA_256') return fail('InvalidKeyUsageException', `MacAlgorithm ${String(p.MacAlgorithm)} is not supported by this key (HMAC_256)`);
    const message = Buffer.from(String(p.Message ?? ''), 'base64');
    if (message.length < 1 || message.length > MAX_MESSAGE_BYTES) return fail('ValidationException', `Message must be 1-${MAX_MESSAGE_BYTES} bytes`);
    const key = keyOf(keyId);
    if (op === 'GenerateMac') {
      return ok({ KeyId: keyId, MacAlgorithm: 'HMAC_SHA_256', Mac: Buffer.from(await key.generateMac(message)).toString('base64') });
    }
    const mac = Buffer.from(String(p.Mac ?? ''), 'base64');
    if (!(await key.verifyMac(message, mac))) return fail('KMSInvalidMacException', 'The MAC does not verify');
    return ok({ KeyId: keyId, MacAlgorithm: 'HMAC_SHA_256', MacValid: true });
  });
  return { ...server, calls, keyOf };
}
