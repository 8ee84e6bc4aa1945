import { GenerateMacCommand, GenerateMacCommandOutput, KMSClient, KMSInvalidMacException, VerifyMacCommand, VerifyMacCommandOutput } from '@aws-sdk/client-kms';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { MacSigner, MacVerifier } from './record-mac';

/**
 * KMS `GenerateMac` / `VerifyMac` with an HMAC_256 key (algorithm HMAC_SHA_256) through the AWS SDK's
 * KMS client: the standard credential chain, retries (throttling, 5xx) and `AWS_ENDPOINT_URL_KMS`
 * (the offline runs point it at local/kms-standin.ts). The IAM grant decides which of the two
 * operations a role may use; this is the one place that talks to KMS.
 */

/** A KMS error answer, named by its exception (e.g. `AccessDeniedException`, `ValidationException`). */
export class KmsRequestError extends Error {
  constructor(
    readonly type: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`KMS ${type}: ${message}`, options);
    this.name = 'KmsRequestError';
  }
}

/** Options of {@link KmsMac}. */
export interface KmsMacOptions {
  /** @default AWS_REGION */
  readonly region?: string;
  /** @default AWS_ENDPOINT_URL_KMS, else the regional endpoint */
  readonly endpoint?: string;
  /** @default the standard credential chain */
  readonly credentials?: AwsCredentialIdentityProvider;
  /** Attempts on throttling and 5xx (the SDK's standard retry strategy). @default 4 */
  readonly maxAttempts?: number;
  /** A client built elsewhere (tests, or one shared per container). */
  readonly client?: KMSClient;
}

/** A KMS HMAC key as {@link MacSigner} and {@link MacVerifier}. */
export class KmsMac implements MacSigner, MacVerifier {
  private readonly client: KMSClient;
  /** Requests sent (a figure for cost: $0.03 per 10,000). */
  requests = 0;

  constructor(
    readonly keyId: string,
    options: KmsMacOptions = {},
  ) {
    if (!keyId) throw new Error('KmsMac: no key id: pass the HMAC key ARN (the stack sets it in the function environment)');
    const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    if (!options.client && !region) throw new Error('KmsMac: no region (set AWS_REGION)');
    this.client =
      options.client ??
      new KMSClient({
        region,
        maxAttempts: options.maxAttempts ?? 4,
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
      });
  }

  async generateMac(message: Uint8Array): Promise<Uint8Array> {
    const out = await this.send<GenerateMacCommandOutput>(new GenerateMacCommand({ KeyId: this.keyId, MacAlgorithm: 'HMAC_SHA_256', Message: message }));
    if (!out.Mac) throw new KmsRequestError('InvalidResponse', 'GenerateMac returned no Mac');
    return out.Mac;
  }

  async verifyMac(message: Uint8Array, mac: Uint8Array): Promise<boolean> {
    try {
      const out = await this.send<VerifyMacCommandOutput>(new VerifyMacCommand({ KeyId: this.keyId, MacAlgorithm: 'HMAC_SHA_256', Message: message, Mac: mac }));
      return out.MacValid === true;
    } catch (e) {
      // KMS answers a wrong MAC with this exception, not MacValid: false (API reference, VerifyMac).
      if (e instanceof KmsRequestError && e.cause instanceof KMSInvalidMacException) return false;
      throw e;
    }
  }

  private async send<T>(command: GenerateMacCommand | VerifyMacCommand): Promise<T> {
    this.requests += 1;
    try {
      return (await this.client.send(command as never)) as T;
    } catch (e) {
      const type = e instanceof Error ? e.name : 'UnknownError';
      throw new KmsRequestError(type, e instanceof Error ? e.message : String(e), { cause: e });
    }
  }
}
