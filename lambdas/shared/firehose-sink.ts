import { FirehoseClient, PutRecordBatchCommand, _Record } from '@aws-sdk/client-firehose';
import { ParamLogRecord, ParamLogSink, toJsonLine } from './param-log';
import { MacSigner, signRecords } from './record-mac';

/** PutRecordBatch limits: 500 records and 4 MiB per call. */
export const MAX_BATCH_RECORDS = 500;
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** Firehose record limit (1,000 KiB). A record above it cannot be written at all. */
export const MAX_RECORD_BYTES = 1000 * 1024;

/** Thrown when records are still refused after every retry; `failed` counts them. */
export class ParamLogWriteError extends Error {
  constructor(
    readonly failed: number,
    readonly lastErrorCode: string | undefined,
  ) {
    super(`${failed} parameter-log record(s) were not accepted by Firehose (last error code: ${lastErrorCode ?? 'unknown'})`);
    this.name = 'ParamLogWriteError';
  }
}

/** Options of {@link FirehoseParamLogSink}. */
export interface FirehoseSinkOptions {
  /** Rounds of re-sending the records Firehose refused. @default 4 */
  readonly maxRetries?: number;
  /** Base wait before a re-send, doubled each round (with full jitter). @default 100 ms */
  readonly baseDelayMs?: number;
  /** Injected for tests. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Splits records into PutRecordBatch-sized chunks (<= 500 records, <= 4 MiB). */
export function chunkRecords(data: ReadonlyArray<Uint8Array>): Uint8Array[][] {
  const chunks: Uint8Array[][] = [];
  let current: Uint8Array[] = [];
  let bytes = 0;
  for (const d of data) {
    if (current.length > 0 && (current.length >= MAX_BATCH_RECORDS || bytes + d.byteLength > MAX_BATCH_BYTES)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(d);
    bytes += d.byteLength;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/**
 * Writes parameter-log records to a Firehose stream as JSON lines, each with its MAC made by
 * `signer` (the log's KMS HMAC key): one GenerateMac per put of up to 512 records (a Merkle batch,
 * record MAC version 2; each record still verifies on its own: lambdas/shared/record-mac.ts), so a
 * writer that has many records should put them in one call. PutRecordBatch can succeed
 * while refusing some records (FailedPutCount): those, and only those, are sent again with
 * backoff; if some are still refused, it throws so the caller fails loudly instead of losing them.
 */
export class FirehoseParamLogSink implements ParamLogSink {
  private readonly maxRetries: number;
  private readonly baseDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly client: FirehoseClient,
    private readonly streamName: string,
    private readonly signer: MacSigner,
    options: FirehoseSinkOptions = {},
  ) {
    this.maxRetries = options.maxRetries ?? 4;
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async put(records: ReadonlyArray<ParamLogRecord>): Promise<void> {
    // Signed before anything is sent: a record that cannot be MACed is never written unsigned.
    const signed = await signRecords(records, this.signer);
    const encoded = signed.map((r) => Buffer.from(toJsonLine(r), 'utf8'));
    // A record over Firehose's limit can never be written; write the others, then fail loudly.
    const fitting = encoded.filter((d) => d.byteLength <= MAX_RECORD_BYTES);
    for (const chunk of chunkRecords(fitting)) await this.putChunk(chunk);
    const tooBig = encoded.length - fitting.length;
    if (tooBig > 0) throw new ParamLogWriteError(tooBig, 'RecordTooLarge');
  }

  private async putChunk(chunk: Uint8Array[]): Promise<void> {
    let pending = chunk;
    let lastCode: string | undefined;
    for (let round = 0; ; round++) {
      const out = await this.client.send(
        new PutRecordBatchCommand({ DeliveryStreamName: this.streamName, Records: pending.map((Data): _Record => ({ Data })) }),
      );
      if (!out.FailedPutCount) return;
      const responses = out.RequestResponses ?? [];
      const retry = pending.filter((_, i) => responses[i]?.ErrorCode !== undefined || responses[i] === undefined);
      lastCode = responses.find((r) => r.ErrorCode)?.ErrorCode ?? lastCode;
      pending = retry;
      if (pending.length === 0) return;
      if (round >= this.maxRetries) throw new ParamLogWriteError(pending.length, lastCode);
      await this.sleep(Math.random() * this.baseDelayMs * 2 ** round);
    }
  }
}
