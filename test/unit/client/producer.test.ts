// Producer: the partitioner matches the server's and KafkaJS's (murmur2), batching follows
// lingerMs and batchSize, and idempotent batches carry consecutive per-partition sequences.
import fc from 'fast-check';
import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { Compression, DEFAULT_MAX_REQUEST_SIZE, defaultPartition, Producer, SamsaClientError } from '../../../lib/client';
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
    const p = new Producer(http, { lingerMs: 60_000, batchSize, maxRequestSize: batchSize });
    const value = 'x'.repeat(1000);
    const t0 = Date.now();
    const meta = await p.send({ topic: 't', messages: Array.from({ length: 100 }, () => ({ value })) });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(meta.map((m) => m.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(sent.length).toBeGreaterThanOrEqual(Math.ceil((100 * 1000) / batchSize));
    for (const b of sent) expect(b.bytes.length).toBeLessThanOrEqual(batchSize);
  });

  it('records queued behind an in-flight request go out as one request of several batches, up to maxRequestSize', async () => {
    const { http, sent } = fakeHttp({ t: 1 }, { latencyMs: 50 });
    const p = new Producer(http);
    const value = 'x'.repeat(1000);
    const first = p.send({ topic: 't', messages: [{ value: 'first' }] });
    await new Promise((r) => setTimeout(r, 10)); // the first request is in flight
    // 6,000 KB queue up behind it: the next requests carry consecutive batches of at most
    // batchSize (1 MiB), at most maxRequestSize (4 MiB) each.
    const rest = p.send({ topic: 't', messages: Array.from({ length: 6000 }, () => ({ value })) });
    const meta = [...(await first), ...(await rest)];
    expect(meta.map((m) => m.offset)).toEqual(Array.from({ length: 6001 }, (_, i) => i));
    expect(sent.map((s) => s.batchCounts.length)).toEqual([1, 4, 2]);
    for (const s of sent) {
      expect(s.written).toBe(true);
      expect(s.bytes.length).toBeLessThanOrEqual(DEFAULT_MAX_REQUEST_SIZE);
    }
    // Sequences run on across the batches of a request and across requests.
    expect(sent.map((s) => s.baseSequence)).toEqual([0, 1, 1 + sent[1]!.values.length]);
  });

  it('maxRequestSize bounds a request to whole batches (one batch per request when it is batchSize)', async () => {
    const { http, sent } = fakeHttp({ t: 1 }, { latencyMs: 20 });
    const p = new Producer(http, { batchSize: 16 * 1024, maxRequestSize: 16 * 1024 });
    const value = 'x'.repeat(1000);
    await Promise.all([p.send({ topic: 't', messages: [{ value }] }), p.send({ topic: 't', messages: Array.from({ length: 100 }, () => ({ value })) })]);
    for (const s of sent) expect(s.batchCounts).toHaveLength(1);
    expect(() => new Producer(http, { maxRequestSize: 0 })).toThrow(/maxRequestSize/);
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

describe('refused batches', () => {
  const unreachable = () => new SamsaClientError('NETWORK_EXCEPTION', 'cannot reach Samsa', { retriable: true });

  it('after a re-creation, partitions refused together share one bump and each resends its batch once, from sequence 0', async () => {
    // Requests take 20 ms: both partitions' refused batches are in flight together.
    const { http, sent, producerRequests, recreate } = fakeHttp({ t: 2 }, { latencyMs: 20 });
    const p = new Producer(http, { lingerMs: 0 });
    const both = [{ partition: 0, value: 'a' }, { partition: 1, value: 'b' }];
    await p.send({ topic: 't', messages: both });
    await p.send({ topic: 't', messages: both });
    recreate('t');
    const meta = await p.send({ topic: 't', messages: both });
    expect(meta.map((m) => [m.partition, m.offset])).toEqual([[0, 0], [1, 0]]);
    expect(producerRequests).toEqual([{}, { id: 7 }]);
    const after = sent.slice(4).map((b) => [b.partition, b.producerEpoch, b.baseSequence, b.written]);
    expect(after.filter(([, epoch]) => epoch === 0)).toEqual(expect.arrayContaining([[0, 0, 2, false], [1, 0, 2, false]]));
    expect(after.filter(([, epoch]) => epoch === 1)).toEqual(expect.arrayContaining([[0, 1, 0, true], [1, 1, 0, true]]));
    expect(after).toHaveLength(4);
  });

  it('the batches queued behind a refused one wait for its resend: the partition keeps the order sent', async () => {
    const { http, sent, recreate } = fakeHttp({ t: 1 });
    // batchSize 1 and maxRequestSize 1: one record per request, so the later records queue behind the first.
    const p = new Producer(http, { lingerMs: 0, batchSize: 1, maxRequestSize: 1 });
    await p.send({ topic: 't', messages: [{ value: 'old' }] });
    recreate('t');
    const meta = await p.send({ topic: 't', messages: ['n0', 'n1', 'n2', 'n3'].map((value) => ({ value })) });
    expect(meta.map((m) => m.offset)).toEqual([0, 1, 2, 3]);
    expect(sent.filter((b) => b.written).map((b) => [b.values[0], b.producerEpoch, b.baseSequence])).toEqual([
      ['old', 0, 0],
      ['n0', 1, 0],
      ['n1', 1, 1],
      ['n2', 1, 2],
      ['n3', 1, 3],
    ]);
  });

  it('a refusal of the resend is the user\'s: one resend, then the send rejects and the next one bumps again', async () => {
    const refused = () => new SamsaClientError('OUT_OF_ORDER_SEQUENCE_NUMBER', 'gap', { status: 409 });
    const { http, sent, producerRequests } = fakeHttp({ t: 1 }, { failures: [refused, refused] });
    const p = new Producer(http, { lingerMs: 0 });
    await expect(p.send({ topic: 't', messages: [{ value: 'a' }] })).rejects.toMatchObject({ code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
    expect(sent.map((b) => [b.producerEpoch, b.baseSequence])).toEqual([[0, 0], [1, 0]]);
    await p.send({ topic: 't', messages: [{ value: 'b' }] });
    expect(producerRequests).toEqual([{}, { id: 7 }, { id: 7 }]);
    expect(sent.filter((b) => b.written).map((b) => [b.values[0], b.producerEpoch, b.baseSequence])).toEqual([['b', 2, 0]]);
  });

  it('an unknown outcome is not resent: the send rejects and the next batch goes out under a new epoch', async () => {
    const { http, sent, producerRequests } = fakeHttp({ t: 1 }, { failures: [unreachable] });
    const p = new Producer(http, { lingerMs: 0 });
    await expect(p.send({ topic: 't', messages: [{ value: 'a' }] })).rejects.toMatchObject({ code: 'NETWORK_EXCEPTION' });
    expect(sent).toHaveLength(1);
    await p.send({ topic: 't', messages: [{ value: 'b' }] });
    expect(producerRequests).toEqual([{}, { id: 7 }]);
    expect(sent.map((b) => [b.values[0], b.producerEpoch, b.baseSequence])).toEqual([['a', 0, 0], ['b', 1, 0]]);
  });

  it('UNKNOWN_PRODUCER_ID: the batch is resent under a new id (a bump would name the unknown one)', async () => {
    const unknown = () => new SamsaClientError('UNKNOWN_PRODUCER_ID', 'producer id 7 is unknown', { status: 404 });
    const { http, sent, producerRequests } = fakeHttp({ t: 1 }, { failures: [unknown] });
    const p = new Producer(http, { lingerMs: 0 });
    const [m] = await p.send({ topic: 't', messages: [{ value: 'a' }] });
    expect(m!.offset).toBe(0);
    expect(producerRequests).toEqual([{}, {}]);
    expect(sent.map((b) => [b.producerId, b.producerEpoch, b.baseSequence, b.written])).toEqual([[7, 0, 0, false], [8, 0, 0, true]]);
  });

  it('a new id restarts the sequences although its epoch number is the old one\'s (after a failed bump)', async () => {
    // 'a' is lost (unknown outcome: bump for the next send); the bump cannot reach the server,
    // so 'b' fails and 'c' takes a new id, whose epoch is 0 like the old id's.
    const { http, sent, producerRequests } = fakeHttp({ t: 1 }, { failures: [undefined, unreachable], producerFailures: [undefined, unreachable] });
    const p = new Producer(http, { lingerMs: 0 });
    await p.send({ topic: 't', messages: [{ value: 'w' }] });
    await expect(p.send({ topic: 't', messages: [{ value: 'a' }] })).rejects.toMatchObject({ code: 'NETWORK_EXCEPTION' });
    await expect(p.send({ topic: 't', messages: [{ value: 'b' }] })).rejects.toMatchObject({ code: 'NETWORK_EXCEPTION' });
    await p.send({ topic: 't', messages: [{ value: 'c' }] });
    await p.send({ topic: 't', messages: [{ value: 'd' }] });
    // A new id needs no bump on top.
    expect(producerRequests).toEqual([{}, { id: 7 }, {}]);
    expect(sent.map((b) => [b.values[0], b.producerId, b.producerEpoch, b.baseSequence, b.written])).toEqual([
      ['w', 7, 0, 0, true],
      ['a', 7, 0, 1, false],
      ['c', 8, 0, 0, true],
      ['d', 8, 0, 1, true],
    ]);
  });
});
