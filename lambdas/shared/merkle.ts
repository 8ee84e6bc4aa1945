import { createHash } from 'node:crypto';

/**
 * The Merkle tree of RFC 9162 (Certificate Transparency 2.0, section 2.1), used by record MACs
 * version 2 (record-mac.ts) to make one MAC cover a batch of records while each record still
 * verifies alone:
 * - a leaf hash is SHA-256(0x00 || data), an inner node SHA-256(0x01 || left || right): the
 *   prefixes keep leaves and inner nodes apart, so an inner node cannot be passed off as a leaf
 *   (second preimage) and no leaf is ever hashed twice;
 * - a tree of n > 1 leaves splits at k, the largest power of two below n (left k leaves, right
 *   n - k): odd counts need no padding and the last leaf is never duplicated (duplicating it, as
 *   Bitcoin does, lets two different leaf lists have the same root);
 * - an audit path lists the sibling hashes from the leaf up; its length is fixed by (index, count),
 *   at most ceil(log2 n).
 * The verifier (RFC 9162 2.1.3.2) takes the leaf, its index, the count and the path and returns the
 * root; the caller must check that root against something authenticated (the batch MAC).
 */

/** Bytes of a hash (SHA-256). */
export const HASH_BYTES = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** SHA-256(0x00 || parts...): the hash of one leaf. */
export function leafHash(...parts: ReadonlyArray<Uint8Array>): Buffer {
  const h = createHash('sha256').update(LEAF_PREFIX);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** SHA-256(0x01 || left || right): the hash of an inner node. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** The largest power of two strictly below `n` (n >= 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** A tree's root and every leaf's audit path (siblings from the leaf up), index for index. */
export interface MerkleTree {
  readonly root: Buffer;
  readonly paths: ReadonlyArray<ReadonlyArray<Buffer>>;
}

/**
 * The root of `leaves` (leaf hashes, at least one) and the audit path of each (RFC 9162 2.1.3.1).
 * One pass: every inner node is hashed once, each leaf's path gets a sibling per level.
 */
export function merkleTree(leaves: ReadonlyArray<Buffer>): MerkleTree {
  if (leaves.length === 0) throw new RangeError('merkleTree: no leaves (a batch has at least one record)');
  const paths: Buffer[][] = leaves.map(() => []);
  const build = (lo: number, hi: number): Buffer => {
    if (hi - lo === 1) return leaves[lo];
    const mid = lo + split(hi - lo);
    const left = build(lo, mid);
    const right = build(mid, hi);
    // Children are built first, so their (deeper) siblings are already in the paths: leaf-up order.
    for (let i = lo; i < mid; i++) paths[i].push(right);
    for (let i = mid; i < hi; i++) paths[i].push(left);
    return nodeHash(left, right);
  };
  return { root: build(0, leaves.length), paths };
}

/**
 * The root that `leaf` at `index` of a tree of `count` leaves climbs to along `path`, or null when
 * the path cannot belong to that position (wrong length, index out of range). RFC 9162 2.1.3.2.
 */
export function rootFromPath(leaf: Uint8Array, index: number, count: number, path: ReadonlyArray<Uint8Array>): Buffer | null {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(count) || index < 0 || index >= count) return null;
  let fn = index;
  let sn = count - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of path) {
    if (p.byteLength !== HASH_BYTES) return null;
    if (sn === 0) return null; // a path longer than this position's
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      // The right edge of an unbalanced tree: levels where this node has no sibling are skipped.
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null; // a path shorter than this position's
}
