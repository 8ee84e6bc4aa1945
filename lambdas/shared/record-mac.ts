import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ParamLogRecord, PARAM_LOG_COLUMNS } from './param-log';

/**
 * Record MACs: every client and worker record carries `mac`, an HMAC made by the KMS HMAC key of
 * the parameter log (`kms:GenerateMac`, granted to the record writers only) over the record's
 * canonical form. Whoever may `firehose:PutRecord` but not `kms:GenerateMac` can still put a line
 * in the log, but not one that verifies (`kms:VerifyMac`, granted to the lost-task monitor): the
 * monitor treats such a record as absent and counts it (docs/security.md, "Record MACs").
 *
 * Canonical form (version 1): the JSON object of every record column except `mac`
 * ({@link MAC_FIELDS}), keys in code-point order, each value a string, a number or null (a
 * missing field is null), serialized by `JSON.stringify` (no spaces). Every field is flat (params
 * is JSON *text*), so sorting the top level is the whole canonicalization. `time` is always
 * `yyyy-MM-dd HH:mm:ss.SSS` (the writer's format; a reader normalizes what Athena returns with
 * {@link normalizeRecordTime}).
 *
 * What is MACed is not the canonical JSON itself but `param-log-record/v1:` + its SHA-256 (hex):
 * KMS takes at most 4,096 bytes of message (KMS API reference, GenerateMac `Message`) and a
 * record may hold up to 1,000 KiB of params. SHA-256 is collision resistant, so a MAC over the
 * digest binds every byte of the record; the prefix keeps these MACs apart from any other use of
 * the key.
 */

/** Record fields covered by the MAC: every column but `mac` itself. */
export const MAC_FIELDS: ReadonlyArray<Exclude<keyof ParamLogRecord, 'mac'>> = PARAM_LOG_COLUMNS.filter(
  (c): c is Exclude<keyof ParamLogRecord, 'mac'> => c !== 'mac',
);

/** Domain tag of the MACed message (version of the canonical form). */
export const RECORD_MAC_DOMAIN = 'param-log-record/v1:';

/** A record's field values as read back (Athena gives text; the writer had typed values). */
export type RecordFields = Partial<Record<keyof ParamLogRecord, string | number | null | undefined>>;

/** Thrown for a field value a record never holds (an object, a boolean): the record is not canonicalizable. */
export class RecordFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecordFormatError';
  }
}

/** The canonical JSON of a record (see the module comment). */
export function canonicalRecord(record: RecordFields): string {
  const out: Record<string, string | number | null> = {};
  for (const f of [...MAC_FIELDS].sort()) {
    const v = record[f];
    if (v === undefined || v === null) out[f] = null;
    else if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) out[f] = v;
    else throw new RecordFormatError(`record field ${f} is a ${typeof v}: records hold strings, numbers and nulls only`);
  }
  return JSON.stringify(out);
}

/** The bytes that are MACed for `record`: the domain tag and the SHA-256 of its canonical form. */
export function recordMacMessage(record: RecordFields): Buffer {
  return Buffer.from(RECORD_MAC_DOMAIN + createHash('sha256').update(canonicalRecord(record), 'utf8').digest('hex'), 'utf8');
}

/**
 * `yyyy-MM-dd HH:mm:ss[.f...]` (how Athena or DuckDB print a timestamp column) back to the
 * writer's `yyyy-MM-dd HH:mm:ss.SSS`. Records are written with exactly milliseconds, so padding
 * or cutting to three digits restores the written text. Anything else is returned as is (and then
 * fails verification, as it should).
 */
export function normalizeRecordTime(text: string): string {
  const m = /^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(?:\.(\d+))?$/.exec(text);
  if (!m) return text;
  return `${m[1].replace('T', ' ')}.${(m[2] ?? '').padEnd(3, '0').slice(0, 3)}`;
}

/** Makes MACs: KMS GenerateMac in Lambda ({@link KmsMac}), a local HMAC in tests. */
export interface MacSigner {
  /** The MAC of `message` (raw bytes). */
  generateMac(message: Uint8Array): Promise<Uint8Array>;
}

/** Checks MACs: KMS VerifyMac in the monitor. */
export interface MacVerifier {
  /** Whether `mac` is the MAC of `message` under the verifier's key (false, never a throw, for a wrong MAC). */
  verifyMac(message: Uint8Array, mac: Uint8Array): Promise<boolean>;
}

/**
 * HMAC-SHA-256 with a secret held in memory: the local stand-in of a KMS HMAC key (tests and
 * local/kms-standin.ts). Never used by a deployed function: those call KMS, which never reveals
 * the key.
 */
export class LocalHmac implements MacSigner, MacVerifier {
  constructor(private readonly secret: Uint8Array) {}

  async generateMac(message: Uint8Array): Promise<Uint8Array> {
    return createHmac('sha256', this.secret).update(message).digest();
  }

  async verifyMac(message: Uint8Array, mac: Uint8Array): Promise<boolean> {
    const expected = createHmac('sha256', this.secret).update(message).digest();
    return mac.byteLength === expected.byteLength && timingSafeEqual(expected, mac);
  }
}

/** The record with its `mac` (base64 of the key's MAC over {@link recordMacMessage}); any `mac` it had is replaced. */
export async function signRecord(record: ParamLogRecord, signer: MacSigner): Promise<ParamLogRecord> {
  const mac = await signer.generateMac(recordMacMessage(record));
  return { ...record, mac: Buffer.from(mac).toString('base64') };
}

/** Signs records with at most `concurrency` MAC requests in flight (one KMS request per record: each record must verify alone). */
export async function signRecords(records: ReadonlyArray<ParamLogRecord>, signer: MacSigner, concurrency = 16): Promise<ParamLogRecord[]> {
  return mapLimit(records, concurrency, (r) => signRecord(r, signer));
}

/** Whether `record`'s `mac` is a MAC of its fields: false for a missing, malformed or wrong MAC. */
export async function verifyRecord(record: RecordFields, verifier: MacVerifier): Promise<boolean> {
  const mac = record.mac;
  if (typeof mac !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(mac)) return false;
  let message: Buffer;
  try {
    message = recordMacMessage(record);
  } catch (e) {
    if (e instanceof RecordFormatError) return false;
    throw e;
  }
  return verifier.verifyMac(message, Buffer.from(mac, 'base64'));
}

/** `fn` over `items` with at most `limit` calls in flight; results in input order; the first rejection rejects. */
export async function mapLimit<T, R>(items: ReadonlyArray<T>, limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
