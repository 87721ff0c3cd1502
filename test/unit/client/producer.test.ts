// Producer: the partitioner matches the server's and KafkaJS's (murmur2), batching follows
// lingerMs and batchSize, and idempotent batches carry consecutive per-partition sequences.
import fc from 'fast-check';
import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { Compression, defaultPartition, Producer, SamsaClientError } from '../../../lib/client';
import { fakeHttp } from './fake-http';

const kafkajsPartition = Partitioners.DefaultPartitioner();
const partitionsMeta = (n: number) => Array.from({ length: n }, (_, p) => ({ partitionId: p, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));

describe('partitioner parity', () => {
  it('keyed messages land where the server, the Java client and KafkaJS put them', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 64 }), async (keys, n) => {
        const { http, sent } = fakeHttp({ t: n });
        const p = new Producer(http, { lingerMs: 0 });
        const meta = await p.send({ topic: 't', messages: keys.map((k) => ({ key: k, value: 'v' })) });
        keys.forEach((k, i) => {
          const expected = defaultPartition(Buffer.from(k), n);
          expect(meta[i]!.partition).toBe(expected);
          expect(kafkajsPartition({ topic: 't', partitionMetadata: partitionsMeta(n), message: { key: k, value: 'v' } })).toBe(expected);
        });
        for (const b of sent) for (const k of b.keys) expect(defaultPartition(Buffer.from(k!), n)).toBe(b.partition);
      }),
      { numRuns: 60 },
    );
  });

  it('explicit partitions win; out-of-range ones are refused before sending', async () => {
    const { http, sent } = fakeHttp({ t: 3 });
    const p = new Producer(http, { lingerMs: 0 });
    const meta = await p.send({ topic: 't', messages: [{ key: 'a', value: '1', partition: 2 }] });
    expect(meta[0]!.partition).toBe(2);
    await expect(p.send({ topic: 't', messages: [{ value: 'x', partition: 3 }] })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' });
    expect(sent).toHaveLength(1);
  });

  it('null keys stick to one partition per batch', async () => {
    const { http, sent } = fakeHttp({ t: 8 });
    const p = new Producer(http, { lingerMs: 5 });
    await p.send({ topic: 't', messages: Array.from({ length: 50 }, (_, i) => ({ value: `v${i}` })) });
    expect(sent).toHaveLength(1);
    expect(sent[0]!.values).toHaveLength(50);
  });

  it('an unknown topic is refused with the server error', async () => {
    const { http } = fakeHttp({});
    await expect(new Producer(http).send({ topic: 'nope', messages: [{ value: 'x' }] })).rejects.toBeInstanceOf(SamsaClientError);
  });
});

describe('batching', () => {
  it('sends within lingerMs coalesce into one request per partition', async () => {
    const { http, sent } = fakeHttp({ t: 1 });
    const p = new Producer(http, { lingerMs: 30 });
    const sends = [p.send({ topic: 't', messages: [{ value: 'a' }] })];
    await new Promise((r) => setTimeout(r, 5));
    sends.push(p.send({ topic: 't', messages: [{ value: 'b' }, { value: 'c' }] }));
    const res = await Promise.all(sends);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.values).toEqual(['a', 'b', 'c']);
    expect(res.flat().map((m) => m.offset)).toEqual([0, 1, 2]);
  });

  it('a full batch goes out without waiting for lingerMs, and no batch exceeds batchSize', async () => {
    const { http, sent } = fakeHttp({ t: 1 });
    const batchSize = 16 * 1024;
    const p = new Producer(http, { lingerMs: 60_000, batchSize });
    const value = 'x'.repeat(1000);
    const t0 = Date.now();
    const meta = await p.send({ topic: 't', messages: Array.from({ length: 100 }, () => ({ value })) });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(meta.map((m) => m.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(sent.length).toBeGreaterThanOrEqual(Math.ceil((100 * 1000) / batchSize));
    for (const b of sent) expect(b.bytes.length).toBeLessThanOrEqual(batchSize);
  });

  it('idempotent batches carry the producer id and consecutive sequences per partition', async () => {
    const { http, sent } = fakeHttp({ t: 1 });
    const p = new Producer(http, { lingerMs: 0, batchSize: 2048 });
    await p.send({ topic: 't', messages: Array.from({ length: 20 }, () => ({ value: 'y'.repeat(300) })) });
    let seq = 0;
    for (const b of sent) {
      expect(b.producerId).toBe(7);
      expect(b.producerEpoch).toBe(0);
      expect(b.baseSequence).toBe(seq);
      seq += b.values.length;
    }
    expect(seq).toBe(20);
  });

  it('idempotent: false sends no producer id; compression is applied to the batch', async () => {
    const { http, sent } = fakeHttp({ t: 1 });
    const p = new Producer(http, { lingerMs: 0, idempotent: false, compression: 'gzip' });
    await p.send({ topic: 't', messages: [{ value: 'z' }] });
    await p.send({ topic: 't', messages: [{ value: 'z' }], compression: Compression.Lz4 });
    expect(sent.map((b) => [b.producerId, b.baseSequence, b.compression])).toEqual([
      [-1, -1, Compression.Gzip],
      [-1, -1, Compression.Lz4],
    ]);
  });

  it('flush sends what is queued now; disconnect refuses further sends', async () => {
    const { http, sent } = fakeHttp({ t: 1 });
    const p = new Producer(http, { lingerMs: 60_000 });
    const s = p.send({ topic: 't', messages: [{ value: 'q' }] });
    await new Promise((r) => setTimeout(r, 10));
    await p.flush();
    expect(sent).toHaveLength(1);
    await s;
    await p.disconnect();
    await expect(p.send({ topic: 't', messages: [{ value: 'q' }] })).rejects.toMatchObject({ code: 'PRODUCER_DISCONNECTED' });
  });
});
