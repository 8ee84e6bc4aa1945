import { FirehoseClient, PutRecordBatchCommand, PutRecordCommand } from '@aws-sdk/client-firehose';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FirehoseStandin, startFirehoseStandin } from '../local/firehose-standin';

/** The stand-in must deliver like Firehose: buffered objects, arrival-time partitions in the app's zone. */
describe('Firehose stand-in', () => {
  let dir: string;
  let standin: FirehoseStandin;
  let clock: Date;
  let client: FirehoseClient;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fh-'));
    clock = new Date('2024-11-19T14:50:00Z'); // 23:50 in Tokyo
    standin = await startFirehoseStandin({
      outDir: dir,
      streams: { 'client-stream': 'client', 'worker-stream': 'worker' },
      timeZone: 'Asia/Tokyo',
      now: () => clock,
      bufferSeconds: 300,
      bufferBytes: 1024,
    });
    client = new FirehoseClient({
      endpoint: standin.endpoint,
      region: 'ap-northeast-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  });
  afterEach(async () => {
    client.destroy();
    await standin.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const line = (n: number): Uint8Array => Buffer.from(`${JSON.stringify({ n })}\n`);
  const readLines = (key: string): string[] =>
    gunzipSync(readFileSync(join(dir, key))).toString('utf8').split('\n').filter(Boolean);

  it('buffers records into one gzip object per interval, partitioned by the oldest arrival in the app time zone', async () => {
    await client.send(new PutRecordBatchCommand({ DeliveryStreamName: 'worker-stream', Records: [{ Data: line(1) }, { Data: line(2) }] }));
    clock = new Date('2024-11-19T14:54:00Z');
    await client.send(new PutRecordCommand({ DeliveryStreamName: 'worker-stream', Record: { Data: line(3) } }));
    standin.flushDue();
    expect(standin.delivered).toHaveLength(0); // 4 minutes: still buffering

    clock = new Date('2024-11-19T14:55:00Z'); // 23:55 Tokyo, interval elapsed
    standin.flushDue();
    expect(standin.delivered).toHaveLength(1);
    const [file] = standin.delivered;
    expect(file.partition).toBe('worker/year=2024/month=11/day=19');
    expect(file.records).toBe(3);
    expect(readLines(file.key).map((l) => JSON.parse(l).n)).toEqual([1, 2, 3]);

    // A record arriving after midnight Tokyo (15:10 UTC) lands in the next day's partition.
    clock = new Date('2024-11-19T15:10:00Z');
    await client.send(new PutRecordCommand({ DeliveryStreamName: 'worker-stream', Record: { Data: line(4) } }));
    standin.flushAll();
    expect(standin.delivered[1].partition).toBe('worker/year=2024/month=11/day=20');
  });

  it('keeps streams apart and delivers early when the size hint is reached', async () => {
    const big = Buffer.from(`${'x'.repeat(600)}\n`);
    await client.send(new PutRecordBatchCommand({ DeliveryStreamName: 'client-stream', Records: [{ Data: big }, { Data: big }, { Data: big }] }));
    await client.send(new PutRecordCommand({ DeliveryStreamName: 'worker-stream', Record: { Data: line(1) } }));
    // 2 x 601 bytes crosses 1024: one object of two, the third waits in the buffer.
    expect(standin.delivered.map((f) => [f.partition, f.records])).toEqual([['client/year=2024/month=11/day=19', 2]]);
    standin.flushAll();
    expect(standin.delivered.map((f) => f.partition).sort()).toEqual([
      'client/year=2024/month=11/day=19',
      'client/year=2024/month=11/day=19',
      'worker/year=2024/month=11/day=19',
    ]);
    expect(standin.accepted.get('client-stream')).toBe(3);
  });

  it('refuses an unknown stream with the error Firehose gives', async () => {
    await expect(
      client.send(new PutRecordCommand({ DeliveryStreamName: 'nope', Record: { Data: line(1) } })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });
});
