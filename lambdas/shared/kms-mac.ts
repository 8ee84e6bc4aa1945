import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider, Checksum, SourceData } from '@smithy/types';
import { createHash, createHmac } from 'node:crypto';
import { MacSigner, MacVerifier } from './record-mac';

/**
 * KMS `GenerateMac` / `VerifyMac` with an HMAC_256 key (algorithm HMAC_SHA_256), over the KMS JSON
 * API (AWS JSON 1.1, target `TrentService.<Operation>`; AWS KMS API reference), SigV4-signed with
 * the standard credential chain, at the standard endpoint or `AWS_ENDPOINT_URL_KMS` (as every SDK
 * client honours it; the offline runs point it at local/kms-standin.ts).
 *
 * Why not `@aws-sdk/client-kms`: it is not among this project's installed dependencies (the SDK
 * clients are bundled, not taken from the Lambda runtime). This class is the one place that talks
 * to KMS: swapping it for the SDK client's `GenerateMacCommand` / `VerifyMacCommand` changes
 * nothing else. Throttling and 5xx answers are retried with full-jitter backoff as the SDK would.
 */

/** A KMS error answer (its `__type`, e.g. `AccessDeniedException`, `KMSInvalidMacException`). */
export class KmsRequestError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(`KMS ${type} (HTTP ${status}): ${message}`);
    this.name = 'KmsRequestError';
  }
}

/** SigV4 wants a Checksum constructor; node:crypto gives SHA-256 and its HMAC. */
class NodeSha256 implements Checksum {
  private hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
  reset(): void {
    throw new Error('not used by SigV4');
  }
}

function toBytes(d: SourceData): Uint8Array {
  if (typeof d === 'string') return Buffer.from(d, 'utf8');
  if (ArrayBuffer.isView(d)) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  return new Uint8Array(d);
}

/** Options of {@link KmsMac}. */
export interface KmsMacOptions {
  /** @default AWS_REGION */
  readonly region?: string;
  /** @default AWS_ENDPOINT_URL_KMS, else https://kms.<region>.amazonaws.com */
  readonly endpoint?: string;
  /** @default the standard credential chain */
  readonly credentials?: AwsCredentialIdentityProvider;
  /** Attempts on throttling and 5xx. @default 4 */
  readonly maxAttempts?: number;
}

/** A KMS HMAC key as {@link MacSigner} and {@link MacVerifier}. The IAM grant decides which of the two a role may use. */
export class KmsMac implements MacSigner, MacVerifier {
  private readonly signer: SignatureV4;
  private readonly url: URL;
  private readonly maxAttempts: number;
  /** Requests sent (a figure for cost: $0.03 per 10,000). */
  requests = 0;

  constructor(
    readonly keyId: string,
    options: KmsMacOptions = {},
  ) {
    const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    if (!region) throw new Error('KmsMac: no region (set AWS_REGION)');
    if (!keyId) throw new Error('KmsMac: no key id: pass the HMAC key ARN (the stack sets it in the function environment)');
    this.url = new URL(options.endpoint ?? process.env.AWS_ENDPOINT_URL_KMS ?? `https://kms.${region}.amazonaws.com`);
    this.signer = new SignatureV4({ service: 'kms', region, credentials: options.credentials ?? defaultProvider(), sha256: NodeSha256 });
    this.maxAttempts = options.maxAttempts ?? 4;
  }

  async generateMac(message: Uint8Array): Promise<Uint8Array> {
    const out = await this.call('GenerateMac', { KeyId: this.keyId, MacAlgorithm: 'HMAC_SHA_256', Message: Buffer.from(message).toString('base64') });
    if (typeof out.Mac !== 'string') throw new KmsRequestError('InvalidResponse', 200, 'GenerateMac returned no Mac');
    return Buffer.from(out.Mac, 'base64');
  }

  async verifyMac(message: Uint8Array, mac: Uint8Array): Promise<boolean> {
    try {
      const out = await this.call('VerifyMac', {
        KeyId: this.keyId,
        MacAlgorithm: 'HMAC_SHA_256',
        Message: Buffer.from(message).toString('base64'),
        Mac: Buffer.from(mac).toString('base64'),
      });
      return out.MacValid === true;
    } catch (e) {
      // KMS answers a wrong MAC with this exception, not MacValid: false (API reference, VerifyMac).
      if (e instanceof KmsRequestError && e.type === 'KMSInvalidMacException') return false;
      throw e;
    }
  }

  private async call(operation: string, payload: object): Promise<Record<string, unknown>> {
    const body = JSON.stringify(payload);
    for (let attempt = 1; ; attempt++) {
      const signed = await this.signer.sign({
        method: 'POST',
        protocol: this.url.protocol,
        hostname: this.url.hostname,
        port: this.url.port ? Number(this.url.port) : undefined,
        path: this.url.pathname || '/',
        headers: { host: this.url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` },
        body,
      });
      this.requests += 1;
      const res = await fetch(this.url, { method: 'POST', headers: signed.headers, body });
      const text = await res.text();
      const json = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
      if (res.ok) return json;
      const type = String(json.__type ?? res.headers.get('x-amzn-errortype') ?? 'UnknownError').split('#').pop()!.split(':')[0];
      const retryable = res.status >= 500 || type === 'ThrottlingException' || type === 'KMSInternalException';
      if (!retryable || attempt >= this.maxAttempts) throw new KmsRequestError(type, res.status, String(json.message ?? json.Message ?? ''));
      await new Promise((r) => setTimeout(r, Math.random() * 100 * 2 ** attempt));
    }
  }
}
