import { createHash, randomBytes } from 'node:crypto';
import { KmsMac } from '../lambdas/shared/kms-mac';
import { HASH_BYTES, leafHash, merkleTree, nodeHash, rootFromPath } from '../lambdas/shared/merkle';
import { buildClientRecord, buildWorkerRecord, ParamLogRecord } from '../lambdas/shared/param-log';
import {
  batchMacMessage,
  canonicalRecord,
  formatMacV2,
  LocalHmac,
  MacSigner,
  MacVerifier,
  MAC_FIELDS,
  MAX_MAC_BATCH,
  MAX_V2_MAC_CHARS,
  parseMacV2,
  recordLeaf,
  RecordVerifier,
  signBatch,
  signRecord,
  signRecords,
  verifyRecord,
} from '../lambdas/shared/record-mac';
import { candidateRows, verifiedLostTasks } from '../lambdas/lost-task-monitor/verified';
import { KmsStandin, startKmsStandin } from '../local/kms-standin';

/**
 * Record MACs version 2: one MAC per batch through a Merkle tree (lambdas/shared/merkle.ts,
 * record-mac.ts). The security review's points, each as an attack that must fail.
 */
const envelopeOf = (taskId: string, attempt = 1) => ({
  v: 1 as const,
  taskId,
  job: 'example-api',
  key: taskId,
  params: { customer: 'Jane Doe', taskId },
  attempt,
  scheduledTime: '2026-11-25T03:05:00.000Z',
});
const now = new Date('2026-11-25T03:05:01.007Z');
const client = (t: string): ParamLogRecord => buildClientRecord({ envelope: envelopeOf(t), result: 'Started', now, timeZone: 'Asia/Tokyo', executionArn: `arn:exec:${t}` });
const worker = (t: string): ParamLogRecord =>
  buildWorkerRecord({ envelope: envelopeOf(t), now, timeZone: 'Asia/Tokyo', executionArn: `arn:exec:${t}`, error: 'ExternalApiRejectedError', cause: 'HTTP 422', failedState: 'CallApi' });
const batchOf = (n: number, prefix = 't') => Array.from({ length: n }, (_, i) => worker(`${prefix}-${i}`));
const key = new LocalHmac(randomBytes(32));

/** A signer/verifier that counts requests (the KMS bill). */
function counting(inner: MacSigner & MacVerifier) {
  const c = { generate: 0, verify: 0 };
  const mac: MacSigner & MacVerifier = {
    generateMac: async (m) => (c.generate++, inner.generateMac(m)),
    verifyMac: async (m, x) => (c.verify++, inner.verifyMac(m, x)),
  };
  return { mac, c };
}
const allVerify = async (rs: ReadonlyArray<ParamLogRecord>, v: MacVerifier = key) => {
  const verifier = new RecordVerifier(v);
  return Promise.all(rs.map((r) => verifier.verify(r)));
};

describe('Merkle tree (RFC 9162)', () => {
  test('every leaf of every count up to 70 climbs to the root; any other index, count or path fails', () => {
    for (let n = 1; n <= 70; n++) {
      const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
      const { root, paths } = merkleTree(leaves);
      for (let i = 0; i < n; i++) {
        expect(rootFromPath(leaves[i], i, n, paths[i])).toEqual(root);
        expect(paths[i].length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
        if (n > 1) {
          expect(rootFromPath(leaves[i], (i + 1) % n, n, paths[i])?.equals(root) ?? false).toBe(false);
          expect(rootFromPath(leaves[i], i, n, paths[i].slice(1))?.equals(root) ?? false).toBe(false);
        }
        expect(rootFromPath(leaves[i], i, n, [...paths[i], root])).toBeNull();
      }
      expect(rootFromPath(leaves[0], n, n, paths[0])).toBeNull();
    }
  });

  test('odd counts are not padded: the last leaf is never duplicated, so [a,b,c] and [a,b,c,c] differ', () => {
    const [a, b, c] = ['a', 'b', 'c'].map((x) => leafHash(Buffer.from(x)));
    const three = merkleTree([a, b, c]);
    expect(three.root).toEqual(nodeHash(nodeHash(a, b), c));
    expect(merkleTree([a, b, c, c]).root.equals(three.root)).toBe(false);
    // c's path is one hash (the left subtree), not two.
    expect(three.paths[2]).toEqual([nodeHash(a, b)]);
  });

  test('a leaf and an inner node of the same bytes hash differently (0x00 / 0x01 prefixes)', () => {
    const l = leafHash(Buffer.from('l'));
    const r = leafHash(Buffer.from('r'));
    expect(leafHash(Buffer.concat([l, r])).equals(nodeHash(l, r))).toBe(false);
    // Without the prefixes, a "leaf" of bytes l||r would be the root of [l, r].
    expect(createHash('sha256').update(Buffer.concat([l, r])).digest().equals(nodeHash(l, r))).toBe(false);
    expect(() => merkleTree([])).toThrow(RangeError);
  });
});

describe('sign and verify a batch', () => {
  test('ONE MAC request for a batch; each record verifies alone; verifying the batch is one request per root', async () => {
    const { mac, c } = counting(key);
    const signed = await signRecords(batchOf(37), mac);
    expect(c.generate).toBe(1);
    expect(signed.map((r) => r.task_id)).toEqual(batchOf(37).map((r) => r.task_id));
    for (const r of signed) {
      expect(r.mac).toMatch(/^v2\.37\.\d+\./);
      // Alone: its own fields and mac string, a fresh verifier.
      await expect(verifyRecord(r, key)).resolves.toBe(true);
    }
    c.verify = 0;
    expect(await allVerify(signed, mac)).toEqual(signed.map(() => true));
    expect(c.verify).toBe(1);
  });

  test('a single-record batch and odd counts (1, 3, 5, 255, 513) verify; 513 records are two roots', async () => {
    for (const n of [1, 3, 5, 255, 513]) {
      const { mac, c } = counting(key);
      const signed = await signRecords(batchOf(n), mac);
      expect(c.generate).toBe(Math.ceil(n / MAX_MAC_BATCH));
      expect(await allVerify(signed)).toEqual(signed.map(() => true));
    }
    const single = await signBatch([client('solo')], key);
    expect(single[0].mac).toMatch(/^v2\.1\.0\.[A-Za-z0-9_-]{43}\.$/);
    await expect(verifyRecord(single[0], key)).resolves.toBe(true);
    await expect(signBatch(batchOf(MAX_MAC_BATCH + 1), key)).rejects.toThrow(/at most 512/);
  });

  test('a record altered in ANY field fails (first, middle and last leaf)', async () => {
    const signed = await signRecords(batchOf(7), key);
    const changes: Record<(typeof MAC_FIELDS)[number], unknown> = {
      time: '2026-11-25 12:05:01.008',
      type: 'client',
      task_id: 'other',
      module: 'example-fanout',
      params: JSON.stringify({ customer: 'Jane Doe', amount: 13 }),
      result: 'Success',
      error: null,
      cause: 'HTTP 500',
      execution_arn: null,
      attempt: 3,
      scheduled_time: '2026-11-25T03:06:00.000Z',
      failed_state: 'Other',
    };
    for (const r of [signed[0], signed[3], signed[6]]) {
      for (const f of MAC_FIELDS) await expect(verifyRecord({ ...r, [f]: changes[f] }, key)).resolves.toBe(false);
    }
  });

  test('a record with another record\'s mac, or moved to another batch\'s path, fails', async () => {
    const a = await signRecords(batchOf(6, 'a'), key);
    const b = await signRecords(batchOf(6, 'b'), key);
    // Same batch, another record's index and path.
    await expect(verifyRecord({ ...a[1], mac: a[2].mac }, key)).resolves.toBe(false);
    // Another batch, same position: another root and MAC.
    await expect(verifyRecord({ ...a[1], mac: b[1].mac }, key)).resolves.toBe(false);
    // Its own index and path, another batch's MAC; and another batch's path under its own MAC.
    const pa = parseMacV2(a[1].mac!)!;
    const pb = parseMacV2(b[1].mac!)!;
    await expect(verifyRecord({ ...a[1], mac: formatMacV2({ ...pa, mac: pb.mac }) }, key)).resolves.toBe(false);
    await expect(verifyRecord({ ...a[1], mac: formatMacV2({ ...pa, path: pb.path }) }, key)).resolves.toBe(false);
    // A v1 MAC string's form, a v2 MAC's bytes: no.
    await expect(verifyRecord({ ...a[1], mac: pa.mac.toString('base64') }, key)).resolves.toBe(false);
  });

  test('a forged index, count or path fails; malformed mac strings are false, never a throw', async () => {
    const signed = await signRecords(batchOf(6), key);
    const r = signed[2];
    const p = parseMacV2(r.mac!)!;
    expect(p).toMatchObject({ count: 6, index: 2 });
    const flipped = Buffer.from(p.path[0]);
    flipped[0] ^= 1;
    const forged = [
      formatMacV2({ ...p, index: 3 }),
      formatMacV2({ ...p, index: 0 }),
      formatMacV2({ ...p, count: 7 }),
      formatMacV2({ ...p, count: 5 }),
      formatMacV2({ ...p, path: [flipped, ...p.path.slice(1)] }),
      formatMacV2({ ...p, path: p.path.slice(0, -1) }),
      formatMacV2({ ...p, path: [...p.path, p.path[0]] }),
      formatMacV2({ ...p, path: [...p.path].reverse() }),
      r.mac!.replace('v2.6.2.', 'v2.6.02.'),
      r.mac!.replace('v2.', 'v3.'),
      `${r.mac!}A`,
      r.mac!.slice(0, -1),
      'v2.6.2..',
      'v2.0.0.' + p.mac.toString('base64url') + '.',
      `v2.${MAX_MAC_BATCH + 1}.2.${p.mac.toString('base64url')}.${Buffer.concat(p.path).toString('base64url')}`,
      'v2.',
    ];
    for (const mac of forged) await expect(verifyRecord({ ...r, mac }, key)).resolves.toBe(false);
    await expect(verifyRecord(r, key)).resolves.toBe(true);
  });

  test('an inner node cannot stand in for a leaf (domain separation), even with a MAC over the real root', async () => {
    // The attacker sees a genuine batch of 4 (its records and their paths hold every node).
    const signed = await signRecords(batchOf(4), key);
    const p0 = parseMacV2(signed[0].mac!)!; // path: [leaf1, node(2,3)]
    const leaves = signed.map(recordLeaf);
    const left = nodeHash(leaves[0], leaves[1]);
    expect(p0.path[1]).toEqual(nodeHash(leaves[2], leaves[3]));
    // Without the leaf prefix, a record whose leaf hash were `left` could claim index 0 with path
    // [node(2,3)]. The positions are sound (this climbs to the real root) ...
    const root = rootFromPath(left, 0, 2, [p0.path[1]]);
    expect(root).toEqual(merkleTree(leaves).root);
    // ... but count 2 is not the MACed count, and under count 4 that path is too short.
    expect(rootFromPath(left, 0, 4, [p0.path[1]])).toBeNull();
    expect(await key.verifyMac(batchMacMessage(root!, 2), p0.mac)).toBe(false);
    expect(await key.verifyMac(batchMacMessage(root!, 4), p0.mac)).toBe(true);
    // And no record has that leaf: a record's leaf is SHA-256(0x00 || tag || JSON), an inner node
    // SHA-256(0x01 || 64 bytes); the record whose canonical bytes are the two children is not it.
    expect(leafHash(Buffer.concat([leaves[0], leaves[1]])).equals(left)).toBe(false);
  });

  test('version 1 records (written before the deploy) still verify, alone and mixed with version 2', async () => {
    const v1 = await Promise.all([client('old-1'), worker('old-2')].map((r) => signRecord(r, key)));
    expect(v1[0].mac).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    const v2 = await signRecords(batchOf(3), key);
    expect(await allVerify([...v1, ...v2])).toEqual([true, true, true, true, true]);
    await expect(verifyRecord({ ...v1[0], result: 'Success' }, key)).resolves.toBe(false);
  });

  test('the mac column stays small: at most 439 characters at the cap (9 path hashes)', async () => {
    const signed = await signRecords(batchOf(MAX_MAC_BATCH), key);
    const longest = Math.max(...signed.map((r) => r.mac!.length));
    expect(MAX_V2_MAC_CHARS).toBe(439);
    expect(longest).toBeLessThanOrEqual(MAX_V2_MAC_CHARS);
    expect(longest).toBeGreaterThan(MAX_V2_MAC_CHARS - 6); // only the index's digits vary
    expect(Math.max(...signed.map((r) => parseMacV2(r.mac!)!.path.length))).toBe(Math.log2(MAX_MAC_BATCH));
    expect(signed.every((r) => parseMacV2(r.mac!)!.path.every((h) => h.byteLength === HASH_BYTES))).toBe(true);
    // The MACed message is tiny whatever the records hold (KMS takes at most 4,096 bytes).
    const big = { ...client('big'), params: 'x'.repeat(900_000) };
    expect(canonicalRecord(big).length).toBeGreaterThan(900_000);
    expect(batchMacMessage(merkleTree([recordLeaf(big)]).root, 1).byteLength).toBeLessThan(100);
  });
});

describe('the monitor caches per root', () => {
  const header = ['source', 'type', 'time', 'task_id', 'module', 'params', 'result', 'error', 'cause', 'execution_arn', 'attempt', 'scheduled_time', 'failed_state', 'mac'];
  const row = (source: string, r: ParamLogRecord) => [source, r.type, r.time, r.task_id, r.module, r.params, r.result, r.error, r.cause, r.execution_arn, String(r.attempt), r.scheduled_time, r.failed_state, r.mac ?? null];

  test('100 client and 100 worker records in batches: two VerifyMac calls; a forged row with a genuine root MAC is counted, not cached as genuine', async () => {
    const { mac, c } = counting(key);
    const ids = Array.from({ length: 100 }, (_, i) => `m-${i}`);
    const starts = await signRecords(ids.map(client), key);
    const ends = await signRecords(ids.slice(1).map(worker), key); // m-0 never ended
    // A forged Success for m-0 that borrows a genuine record's whole mac string.
    const forged: ParamLogRecord = { ...worker('m-0'), result: 'Success', error: null, cause: null, failed_state: null, mac: ends[0].mac };
    const rows = candidateRows([header, ...starts.map((r) => row('client', r)), ...ends.map((r) => row('worker', r)), row('worker', forged)]);
    const out = await verifiedLostTasks(rows, mac, 10);
    expect(out).toEqual({ lost: 1, forged: 1, checked: 200, forgedTaskIds: ['m-0'] });
    expect(c.verify).toBe(3); // two genuine roots, and the forged row's wrong root (a different message)
  });

  test('a transient KMS error is not cached: the next record of the batch asks again', async () => {
    const signed = await signRecords(batchOf(3), key);
    let fail = true;
    const flaky: MacVerifier = {
      verifyMac: async (m, x) => {
        if (fail) {
          fail = false;
          throw new Error('ThrottlingException');
        }
        return key.verifyMac(m, x);
      },
    };
    const v = new RecordVerifier(flaky);
    await expect(v.verify(signed[0])).rejects.toThrow('ThrottlingException');
    await expect(v.verify(signed[1])).resolves.toBe(true);
  });
});

describe('through the KMS client and the KMS stand-in', () => {
  let kms: KmsStandin;
  const credentials = async () => ({ accessKeyId: 'local', secretAccessKey: 'local' });
  beforeAll(async () => {
    kms = await startKmsStandin();
  });
  afterAll(() => kms.stop());

  test('one GenerateMac for 300 records, one VerifyMac for all of them; another key fails; an altered record fails', async () => {
    const a = new KmsMac('key-a', { region: 'ap-northeast-1', endpoint: kms.endpoint, credentials });
    const b = new KmsMac('key-b', { region: 'ap-northeast-1', endpoint: kms.endpoint, credentials });
    const signed = await signRecords(batchOf(300), a);
    expect(a.requests).toBe(1);
    expect(await allVerify(signed, a)).toEqual(signed.map(() => true));
    expect(a.requests).toBe(2);
    await expect(verifyRecord(signed[17], b)).resolves.toBe(false);
    await expect(verifyRecord({ ...signed[17], attempt: 2 }, a)).resolves.toBe(false);
    // The stand-in's key is the same HMAC a test can use in memory.
    await expect(verifyRecord(signed[299], kms.keyOf('key-a'))).resolves.toBe(true);
  });
});
