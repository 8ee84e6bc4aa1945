import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { partitionPath, zonedParts } from '../lambdas/shared/param-log';

/**
 * A local stand-in for Amazon Data Firehose, only as much as the app uses: `PutRecord` and
 * `PutRecordBatch` over the AWS JSON 1.1 protocol, so the real `@aws-sdk/client-firehose` in the
 * handlers talks to it unchanged (point it here with `AWS_ENDPOINT_URL_FIREHOSE`).
 *
 * It delivers the way Firehose does to S3, which is what the Athena tables depend on:
 * - records are buffered per stream and written when the buffer's oldest record is
 *   `bufferSeconds` old or the buffer reaches `bufferBytes` (Firehose's interval and size hints);
 * - a delivered object is gzip of the records concatenated as sent (JSON lines);
 * - its key is `<prefix>/year=YYYY/month=MM/day=DD/<stream>-1-<time>-<seq>.gz`, partitioned by
 *   the ARRIVAL time of its oldest record in the configured time zone (the stack sets the
 *   delivery stream's prefix time zone to the app's), not by the record's own `time`.
 * Time comes from `now()`, so a simulated clock drives both arrival and buffer expiry; call
 * `flushDue()` after advancing the clock (Firehose flushes on its own timer) and `flushAll()` at
 * the end (a stopped run delivers what it holds, as Firehose does on its next interval).
 */
export interface FirehoseStandinOptions {
  /** Folder standing in for the bucket. */
  readonly outDir: string;
  /** Delivery stream name → key prefix (e.g. `client`, `worker`). Unknown streams are refused. */
  readonly streams: Readonly<Record<string, string>>;
  /** Time zone of the `year=/month=/day=` prefix (the app's). */
  readonly timeZone: string;
  /** The clock; simulated in the offline run. @default wall clock */
  readonly now?: () => Date;
  /** Buffer interval hint, seconds. @default 300 */
  readonly bufferSeconds?: number;
  /** Buffer size hint, bytes. @default 64 MiB */
  readonly bufferBytes?: number;
  /** Port to listen on. @default 0 (any free port) */
  readonly port?: number;
  /**
   * Whether the bucket refuses deliveries at an instant (an outage: deleted bucket, lost
   * permission). Firehose (Direct PUT) retries S3 delivery failures for up to 24 hours, then the data
   * is lost; the `errors/` prefix is only for failed transformation or format conversion (Firehose
   * developer guide, "Handling data delivery failure", Amazon S3). @default never
   */
  readonly bucketDown?: (at: Date) => boolean;
}

/** One delivered object. */
export interface DeliveredFile {
  readonly stream: string;
  /** Key relative to `outDir`, `/`-separated. */
  readonly key: string;
  /** `<prefix>/year=YYYY/month=MM/day=DD` */
  readonly partition: string;
  readonly records: number;
  readonly bytes: number;
}

export interface FirehoseStandin {
  /** `http://127.0.0.1:<port>`: the value for AWS_ENDPOINT_URL_FIREHOSE. */
  readonly endpoint: string;
  /** Delivers every buffer whose interval has elapsed at `now()`. */
  flushDue(): void;
  /** Delivers every buffer now. */
  flushAll(): void;
  /** Objects delivered so far, in order. */
  readonly delivered: ReadonlyArray<DeliveredFile>;
  /** Records accepted so far, per stream. */
  readonly accepted: ReadonlyMap<string, number>;
  /** Flushes what is buffered and stops the server. */
  close(): Promise<void>;
  /** Records discarded after 24 hours of failed delivery, per stream. */
  readonly discarded: ReadonlyMap<string, number>;
  /** Records whose delivery failed and is still being retried. */
  retrying(): number;
}

/** How long Firehose keeps retrying a failed S3 delivery (Direct PUT source) before the data is lost. */
export const FIREHOSE_S3_RETRY_MS = 24 * 3_600_000;

/** Firehose's limits on one call, enforced so a handler that would be refused in AWS is refused here. */
const MAX_BATCH_RECORDS = 500;
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
const MAX_RECORD_BYTES = 1000 * 1024;

interface Buffer_ {
  firstArrival: Date;
  chunks: Buffer[];
  bytes: number;
}

class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** Starts the stand-in on 127.0.0.1. */
export async function startFirehoseStandin(options: FirehoseStandinOptions): Promise<FirehoseStandin> {
  const now = options.now ?? (() => new Date());
  const bufferMs = (options.bufferSeconds ?? 300) * 1000;
  const bufferBytes = options.bufferBytes ?? 64 * 1024 * 1024;
  const buffers = new Map<string, Buffer_>();
  const delivered: DeliveredFile[] = [];
  const accepted = new Map<string, number>();
  let seq = 0;
  let recordSeq = 0;

  const failed: Array<{ stream: string; buf: Buffer_ }> = [];
  const discarded = new Map<string, number>();
  /** Retries failed deliveries: delivered once the bucket is back, discarded 24 hours after arrival. */
  const retryFailed = (): void => {
    for (const f of failed.splice(0, failed.length)) {
      if (now().getTime() - f.buf.firstArrival.getTime() > FIREHOSE_S3_RETRY_MS) discarded.set(f.stream, (discarded.get(f.stream) ?? 0) + f.buf.chunks.length);
      else if (options.bucketDown?.(now())) failed.push(f);
      else write(f.stream, f.buf);
    }
  };
  const deliver = (stream: string): void => {
    const buf = buffers.get(stream);
    if (!buf || buf.chunks.length === 0) return;
    buffers.delete(stream);
    if (options.bucketDown?.(now())) {
      failed.push({ stream, buf });
      return;
    }
    write(stream, buf);
  };
  const write = (stream: string, buf: Buffer_): void => {
    const partition = `${options.streams[stream]}/${partitionPath(buf.firstArrival, options.timeZone)}`;
    const p = zonedParts(buf.firstArrival, options.timeZone);
    seq += 1;
    const name = `${stream}-1-${p.year}-${p.month}-${p.day}-${p.hour}-${p.minute}-${p.second}-${String(seq).padStart(6, '0')}.gz`;
    const dir = join(options.outDir, ...partition.split('/'));
    mkdirSync(dir, { recursive: true });
    const body = Buffer.concat(buf.chunks);
    writeFileSync(join(dir, name), gzipSync(body));
    delivered.push({ stream, key: `${partition}/${name}`, partition, records: buf.chunks.length, bytes: body.length });
  };

  const flushDue = (): void => {
    retryFailed();
    const t = now().getTime();
    for (const [stream, buf] of [...buffers]) {
      if (t - buf.firstArrival.getTime() >= bufferMs) deliver(stream);
    }
  };
  const flushAll = (): void => {
    retryFailed();
    for (const stream of [...buffers.keys()]) deliver(stream);
  };

  const put = (stream: unknown, records: unknown[]): string[] => {
    if (typeof stream !== 'string' || !(stream in options.streams)) {
      throw new ServiceError('ResourceNotFoundException', `Firehose ${String(stream)} under account 000000000000 not found.`);
    }
    const data = records.map((r) => {
      const raw = (r as { Data?: unknown } | null)?.Data;
      if (typeof raw !== 'string') throw new ServiceError('InvalidArgumentException', 'Record.Data is required (base64).');
      const bytes = Buffer.from(raw, 'base64');
      if (bytes.length > MAX_RECORD_BYTES) throw new ServiceError('InvalidArgumentException', `Record size ${bytes.length} exceeds 1000 KiB.`);
      return bytes;
    });
    // Expire an old buffer before this record arrives, so it does not ride into the next object.
    flushDue();
    const ids: string[] = [];
    for (const bytes of data) {
      let buf = buffers.get(stream);
      if (!buf) {
        buf = { firstArrival: now(), chunks: [], bytes: 0 };
        buffers.set(stream, buf);
      }
      buf.chunks.push(bytes);
      buf.bytes += bytes.length;
      recordSeq += 1;
      ids.push(`local-${recordSeq}`);
      if (buf.bytes >= bufferBytes) deliver(stream);
    }
    accepted.set(stream, (accepted.get(stream) ?? 0) + data.length);
    return ids;
  };

  const handle = (target: string, body: Record<string, unknown>): unknown => {
    switch (target) {
      case 'Firehose_20150804.PutRecord': {
        const [id] = put(body.DeliveryStreamName, [body.Record]);
        return { RecordId: id, Encrypted: false };
      }
      case 'Firehose_20150804.PutRecordBatch': {
        const records = body.Records;
        if (!Array.isArray(records) || records.length === 0 || records.length > MAX_BATCH_RECORDS) {
          throw new ServiceError('InvalidArgumentException', `Records must hold 1-${MAX_BATCH_RECORDS} records.`);
        }
        const total = records.reduce((n: number, r) => n + Buffer.byteLength(String((r as { Data?: unknown })?.Data ?? ''), 'base64'), 0);
        if (total > MAX_BATCH_BYTES) throw new ServiceError('InvalidArgumentException', 'PutRecordBatch payload exceeds 4 MiB.');
        const ids = put(body.DeliveryStreamName, records);
        return { FailedPutCount: 0, Encrypted: false, RequestResponses: ids.map((RecordId) => ({ RecordId })) };
      }
      default:
        throw new ServiceError('UnknownOperationException', `The local Firehose stand-in does not implement ${target}.`);
    }
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (status: number, payload: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': `local-${Date.now()}` });
        res.end(JSON.stringify(payload));
      };
      try {
        const target = String(req.headers['x-amz-target'] ?? '');
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
        reply(200, handle(target, body));
      } catch (e) {
        if (e instanceof ServiceError) reply(e.status, { __type: e.type, message: e.message });
        else reply(400, { __type: 'SerializationException', message: e instanceof Error ? e.message : String(e) });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    flushDue,
    flushAll,
    discarded,
    retrying: () => failed.reduce((n, f) => n + f.buf.chunks.length, 0),
    delivered,
    accepted,
    close: async () => {
      flushAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
