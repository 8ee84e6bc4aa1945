import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { envelopeBytes, TaskEnvelope } from '../../lambdas/shared/envelope';
import { executionNameFor, taskIdFor } from '../../lambdas/shared/names';
import { buildClientRecord, buildWorkerRecord, toJsonLine } from '../../lambdas/shared/param-log';
import { formatMacV2, MAX_MAC_BATCH } from '../../lambdas/shared/record-mac';

/**
 * Sizes of what a task writes, made with the project's own builders (envelope, client and worker
 * records) from synthetic params of a chosen size, and the gzip ratio of those records measured
 * with zlib. The ratio depends on what real params look like: it is a measurement on synthetic
 * data, and the cost model lets the caller override it.
 */

const WORDS = ['order', 'account', 'invoice', 'customer', 'region', 'status', 'pending', 'shipped', 'tokyo', 'osaka', 'amount', 'currency', 'JPY', 'USD', 'priority', 'batch'];

/** Deterministic pseudo-random numbers (a 32-bit LCG), so the sizes never change between runs. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Params of about `bytes` bytes of JSON: ids, numbers and words, as a job's params tend to be. */
export function syntheticParams(bytes: number, i: number): Record<string, unknown> {
  const rnd = lcg(i + 1);
  const params: Record<string, unknown> = { orderId: `ord-${100000 + i}`, account: `acct-${(i * 7919) % 1000}`, amount: Math.floor(rnd() * 100000) };
  let n = 0;
  while (Buffer.byteLength(JSON.stringify(params)) < bytes) {
    params[`f${n++}`] = `${WORDS[Math.floor(rnd() * WORDS.length)]}-${Math.floor(rnd() * 1e6)}`;
  }
  return params;
}

/** What one task's records and messages weigh. */
/**
 * A record's `mac` at its longest (record MAC version 2 at the 512-record cap: 439 characters),
 * of hash-like bytes (they do not compress): an upper bound for both record types.
 */
export function sampleRecordMac(i: number): string {
  const bytes = (n: number) => createHash('sha256').update(`sample ${i} ${n}`).digest();
  return formatMacV2({ count: MAX_MAC_BATCH, index: MAX_MAC_BATCH - 1, mac: bytes(0), path: Array.from({ length: Math.log2(MAX_MAC_BATCH) }, (_, n) => bytes(n + 1)) });
}

export interface RecordSizes {
  /** The task envelope (execution input, tick message entry), bytes. */
  readonly envelopeBytes: number;
  /** One client record as Firehose receives it (a JSON line, with its `mac`: {@link sampleRecordMac}), bytes. */
  readonly clientRecordBytes: number;
  /** One worker record line of a success, bytes. */
  readonly workerRecordBytes: number;
  /** Compressed / raw size of a day's records (gzip, as Firehose writes them). */
  readonly gzipRatio: number;
}

/** Measures the sizes for params of `paramsBytes` bytes (job name as in `job`). */
export function recordSizes(paramsBytes: number, job = 'example-job'): RecordSizes {
  const at = new Date(Date.UTC(2027, 0, 4, 3, 5));
  const tz = 'Asia/Tokyo';
  const lines: string[] = [];
  let first: { envelope: number; client: number; worker: number } | undefined;
  for (let i = 0; i < 2000; i++) {
    const taskId = taskIdFor(job, at, `task-${i}`);
    const envelope: TaskEnvelope = { v: 1, taskId, job, key: `task-${i}`, params: syntheticParams(paramsBytes, i) as TaskEnvelope['params'], attempt: 1, scheduledTime: at.toISOString() };
    const executionArn = `arn:aws:states:us-east-1:123456789012:execution:JobStateMachineABCDEF12:${executionNameFor(taskId, 1)}`;
    const client = toJsonLine({ ...buildClientRecord({ envelope, result: 'Started', now: at, timeZone: tz, executionArn }), mac: sampleRecordMac(2 * i) });
    const worker = toJsonLine({ ...buildWorkerRecord({ envelope, now: at, timeZone: tz, executionArn }), mac: sampleRecordMac(2 * i + 1) });
    lines.push(client, worker);
    first ??= { envelope: envelopeBytes(envelope), client: Buffer.byteLength(client), worker: Buffer.byteLength(worker) };
  }
  const raw = Buffer.from(lines.join(''), 'utf8');
  return {
    envelopeBytes: first!.envelope,
    clientRecordBytes: first!.client,
    workerRecordBytes: first!.worker,
    gzipRatio: gzipSync(raw).byteLength / raw.byteLength,
  };
}
