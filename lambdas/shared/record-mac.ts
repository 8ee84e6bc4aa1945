import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { HASH_BYTES, leafHash, merkleTree, rootFromPath } from './merkle';
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
 *
 * Version 2 (what the writers write; version 1 records still verify): one MAC per BATCH of up to
 * {@link MAX_MAC_BATCH} records, through a Merkle tree (merkle.ts, RFC 9162's):
 * - leaf of a record = SHA-256(0x00 || `param-log-record/v2:` || canonical JSON);
 * - the batch's root (inner nodes SHA-256(0x01 || left || right)) and its leaf count are MACed once:
 *   the message is `param-log-batch/v2:<count>:<root hex>` ({@link batchMacMessage});
 * - each record's `mac` is `v2.<count>.<index>.<MAC>.<path>` (MAC and the concatenated sibling
 *   hashes of its audit path in unpadded base64url; {@link MAX_V2_MAC_CHARS} characters at most).
 * A record verifies alone: its leaf, climbed along its own path from its own index, must give a root
 * whose MAC (with that count) verifies. Forging one means a second preimage of SHA-256 (a different
 * record or path reaching a MACed root) or a MAC without the key: docs/security.md, "Record MACs".
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
 *
 * Version 2 (what the writers write; version 1 records still verify): one MAC per BATCH of up to
 * {@link MAX_MAC_BATCH} records, through a Merkle tree (merkle.ts, RFC 9162's):
 * - leaf of a record = SHA-256(0x00 || `param-log-record/v2:` || canonical JSON);
 * - the batch's root (inner nodes SHA-256(0x01 || left || right)) and its leaf count are MACed once:
 *   the message is `param-log-batch/v2:<count>:<root hex>` ({@link batchMacMessage});
 * - each record's `mac` is `v2.<count>.<index>.<MAC>.<path>` (MAC and the concatenated sibling
 *   hashes of its audit path in unpadded base64url; {@link MAX_V2_MAC_CHARS} characters at most).
 * A record verifies alone: its leaf, climbed along its own path from its own index, must give a root
 * whose MAC (with that count) verifies. Forging one means a second preimage of SHA-256 (a different
 * record or path reaching a MACed root) or a MAC without the key: docs/security.md, "Record MACs".
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

/**
 * The record with a version 1 `mac` (base64 of the key's MAC over {@link recordMacMessage}; one
 * request per record); any `mac` it had is replaced. What writers wrote before version 2: kept so
 * tests can make such records and for a caller that must MAC one record in the v1 form.
 */
export async function signRecord(record: ParamLogRecord, signer: MacSigner): Promise<ParamLogRecord> {
  const mac = await signer.generateMac(recordMacMessage(record));
  return { ...record, mac: Buffer.from(mac).toString('base64') };
}

/** Domain tag of a version 2 leaf (inside the leaf hash, after the 0x00 leaf prefix). */
export const RECORD_LEAF_DOMAIN = 'param-log-record/v2:';
/** Domain tag of the version 2 MACed message (a batch root and its leaf count). */
export const BATCH_MAC_DOMAIN = 'param-log-batch/v2:';
/**
 * Records under one MAC at most. Bounds the audit path (9 hashes at 512) and so the `mac` column;
 * a PutRecordBatch holds 500 records, so a writer's chunk is one root, or two.
 */
export const MAX_MAC_BATCH = 512;
/** Bytes of an HMAC-SHA-256 (KMS `HMAC_SHA_256`, {@link LocalHmac}). */
const MAC_BYTES = 32;
/** Longest version 2 `mac`: `v2.512.511.` + 43 characters of MAC + `.` + 9 hashes (384 characters). */
export const MAX_V2_MAC_CHARS = 'v2.512.511.'.length + 43 + 1 + Math.ceil((9 * HASH_BYTES * 4) / 3);

/** A version 2 leaf: SHA-256(0x00 || {@link RECORD_LEAF_DOMAIN} || canonical JSON). */
export function recordLeaf(record: RecordFields): Buffer {
  return leafHash(Buffer.from(RECORD_LEAF_DOMAIN, 'utf8'), Buffer.from(canonicalRecord(record), 'utf8'));
}

/** The bytes MACed for a batch: the domain tag, the leaf count and the root (hex); under 100 bytes. */
export function batchMacMessage(root: Uint8Array, count: number): Buffer {
  return Buffer.from(`${BATCH_MAC_DOMAIN}${count}:${Buffer.from(root).toString('hex')}`, 'utf8');
}

/** The parts of a version 2 `mac`. */
export interface MacV2 {
  readonly count: number;
  readonly index: number;
  readonly mac: Buffer;
  readonly path: ReadonlyArray<Buffer>;
}

/** `v2.<count>.<index>.<MAC>.<path>` (see the module comment). */
export function formatMacV2(m: MacV2): string {
  return `v2.${m.count}.${m.index}.${m.mac.toString('base64url')}.${Buffer.concat(m.path).toString('base64url')}`;
}

const V2_PATTERN = /^v2\.([1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]*)$/;

/** A version 2 `mac` parsed strictly (one spelling per value), or null. */
export function parseMacV2(text: string): MacV2 | null {
  const m = V2_PATTERN.exec(text);
  if (!m) return null;
  const count = Number(m[1]);
  const index = Number(m[2]);
  const mac = Buffer.from(m[3], 'base64url');
  const pathBytes = Buffer.from(m[4], 'base64url');
  if (count > MAX_MAC_BATCH || index >= count) return null;
  if (mac.byteLength !== MAC_BYTES || mac.toString('base64url') !== m[3]) return null;
  if (pathBytes.byteLength % HASH_BYTES !== 0 || pathBytes.toString('base64url') !== m[4]) return null;
  const path: Buffer[] = [];
  for (let o = 0; o < pathBytes.byteLength; o += HASH_BYTES) path.push(pathBytes.subarray(o, o + HASH_BYTES));
  return { count, index, mac, path };
}

/**
 * One batch (1 to {@link MAX_MAC_BATCH} records) under ONE MAC request: each record gets a version 2
 * `mac` with its index and audit path (any `mac` it had is replaced). Order kept.
 */
export async function signBatch(records: ReadonlyArray<ParamLogRecord>, signer: MacSigner): Promise<ParamLogRecord[]> {
  if (records.length === 0) return [];
  if (records.length > MAX_MAC_BATCH) throw new RangeError(`signBatch: ${records.length} records, at most ${MAX_MAC_BATCH} share a MAC: use signRecords`);
  const { root, paths } = merkleTree(records.map(recordLeaf));
  const mac = Buffer.from(await signer.generateMac(batchMacMessage(root, records.length)));
  return records.map((r, index) => ({ ...r, mac: formatMacV2({ count: records.length, index, mac, path: paths[index] }) }));
}

/**
 * Signs records in batches of at most {@link MAX_MAC_BATCH} (even sizes: 600 records are two roots
 * of 300), one MAC request per batch, at most `concurrency` in flight. Order kept.
 */
export async function signRecords(records: ReadonlyArray<ParamLogRecord>, signer: MacSigner, concurrency = 4): Promise<ParamLogRecord[]> {
  const batches = Math.ceil(records.length / MAX_MAC_BATCH);
  const size = Math.ceil(records.length / Math.max(1, batches));
  const chunks = Array.from({ length: batches }, (_, i) => records.slice(i * size, (i + 1) * size));
  return (await mapLimit(chunks, concurrency, (c) => signBatch(c, signer))).flat();
}

/**
 * Verifies records of either version. Version 2 results are cached per batch MAC (root, count and
 * MAC bytes: a different MAC claimed for the same root is a separate entry), so a verifier that
 * reads a whole batch asks KMS once; in-flight checks are shared, so the caller's concurrency bound
 * is also the bound on MAC requests. Version 1 records are checked one request each, uncached. One
 * instance per run (the cache is not bounded by time).
 */
export class RecordVerifier {
  private readonly roots = new Map<string, Promise<boolean>>();

  constructor(private readonly verifier: MacVerifier) {}

  /** Whether `record`'s `mac` is a MAC of its fields: false for a missing, malformed or wrong MAC. */
  async verify(record: RecordFields): Promise<boolean> {
    const mac = record.mac;
    if (typeof mac !== 'string') return false;
    try {
      if (mac.startsWith('v2.')) return await this.verifyV2(record, mac);
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(mac)) return false;
      return await this.verifier.verifyMac(recordMacMessage(record), Buffer.from(mac, 'base64'));
    } catch (e) {
      if (e instanceof RecordFormatError) return false;
      throw e;
    }
  }

  private async verifyV2(record: RecordFields, text: string): Promise<boolean> {
    const m = parseMacV2(text);
    if (!m) return false;
    const root = rootFromPath(recordLeaf(record), m.index, m.count, m.path);
    if (!root) return false;
    const message = batchMacMessage(root, m.count);
    const key = `${message.toString('utf8')}|${m.mac.toString('base64url')}`;
    let result = this.roots.get(key);
    if (!result) {
      result = this.verifier.verifyMac(message, m.mac);
      this.roots.set(key, result);
      // An error (throttling) is not an answer: the next record of the batch asks again.
      result.catch(() => this.roots.delete(key));
    }
    return result;
  }
}

/** Whether `record`'s `mac` (version 1 or 2) is a MAC of its fields: false for a missing, malformed or wrong MAC. */
export async function verifyRecord(record: RecordFields, verifier: MacVerifier): Promise<boolean> {
  return new RecordVerifier(verifier).verify(record);
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
