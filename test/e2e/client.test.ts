// The client against the embedded server: a producer feeding a consumer group of three client
// consumers sharing a 6-partition topic while one of them stops mid-way — every record is
// processed at least once, committed offsets reach the end and the lag is zero — and a single
// consumer's seek, pause/resume and explicit commits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Consumer, fetchPartition, Samsa } from '../../lib/client';
import { type ServerHandle, startServer } from '../helpers/server';
import { until as waitUntil } from '../helpers/wait';

let server: ServerHandle;
let samsa: Samsa;
beforeAll(async () => {
  server = await startServer();
  samsa = new Samsa({ url: server.url });
});
afterAll(async () => {
  await server?.stop();
});

const until = (what: string, ms: number, ok: () => boolean | Promise<boolean>): Promise<void> => waitUntil(what, ms, ok, () => server.output().slice(-2000));

describe('client', () => {
  it('three consumers share six partitions; one stops mid-way; all processed, zero lag', async () => {
    const topic = `cg-${Date.now().toString(36)}`;
    const groupId = `g-${topic}`;
    const admin = samsa.admin();
    await admin.createTopic({ topic, numPartitions: 6 });
    const producer = samsa.producer({ lingerMs: 5 });
    const produce = async (from: number, n: number) => {
      const meta = await producer.send({ topic, messages: Array.from({ length: n }, (_, i) => ({ key: `k${from + i}`, value: `v${from + i}` })) });
      expect(meta).toHaveLength(n);
    };
    const seen = new Map<string, number>(); // "p:offset" → times processed
    const values = new Set<string>();
    const byConsumer = [0, 0, 0];
    const consumers: Consumer[] = [];
    for (let i = 0; i < 3; i++) {
      const c = samsa.consumer({ groupId, sessionTimeout: 6000, maxWaitTimeInMs: 300 });
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({
        eachMessage: async ({ partition, message }) => {
          const k = `${partition}:${message.offset}`;
          seen.set(k, (seen.get(k) ?? 0) + 1);
          values.add(message.value!.toString());
          byConsumer[i]!++;
          if (message.offset % 8 === 0) await new Promise((r) => setTimeout(r, 5)); // some work
        },
      });
      consumers.push(c);
    }
    // The group settles into an even split of two partitions each.
    await until('an even split', 20_000, () => consumers.every((c) => c.assignment().length === 2));
    const owned = consumers.flatMap((c) => c.assignment().map((tp) => tp.partition)).sort();
    expect(owned).toEqual([0, 1, 2, 3, 4, 5]);
    await produce(0, 1500);

    await until('some progress', 20_000, () => values.size >= 500);
    await consumers[2]!.disconnect(); // leaves cleanly: its partitions move to the other two
    await produce(1500, 1500);
    await until('every record', 30_000, () => values.size === 3000);
    await until('the survivors to own all six partitions', 20_000, () => consumers[0]!.assignment().length + consumers[1]!.assignment().length === 6);

    // Committed offsets reach the end of every partition: zero lag.
    await until('zero lag', 20_000, async () => {
      const offsets = await admin.fetchOffsets({ groupId });
      return offsets.length === 6 && offsets.every((o) => o.offset === o.highWatermark && o.lag === 0);
    });
    const d = await admin.describeTopic(topic);
    expect(d.partitions.reduce((a, p) => a + p.highWatermark, 0)).toBe(3000);
    expect(seen.size).toBe(3000); // at least once; duplicates only around the hand-over
    expect(byConsumer.every((n) => n > 0)).toBe(true);

    await Promise.all(consumers.slice(0, 2).map((c) => c.disconnect()));
    const g = await admin.describeGroup(groupId);
    expect(g.members).toHaveLength(0);
    expect(g.lag).toBe(0);
    await producer.disconnect();
  });

  it('eachBatch with explicit commits, seek and pause/resume', async () => {
    const topic = `cs-${Date.now().toString(36)}`;
    const groupId = `g-${topic}`;
    await samsa.admin().createTopic({ topic, numPartitions: 1 });
    const producer = samsa.producer({ lingerMs: 0, compression: 'lz4' });
    await producer.send({ topic, messages: Array.from({ length: 100 }, (_, i) => ({ value: String(i), headers: { n: String(i) } })) });

    const c = samsa.consumer({ groupId, maxWaitTimeInMs: 200 });
    await c.subscribe({ topic, fromBeginning: true });
    const got: number[] = [];
    let seeked = false;
    await c.run({
      autoCommit: false,
      eachBatch: async ({ batch, resolveOffset, isStale }) => {
        for (const m of batch.messages) {
          if (isStale()) break;
          expect(m.headers['n']!.toString()).toBe(m.value!.toString());
          got.push(Number(m.value!.toString()));
          resolveOffset(m.offset);
          if (!seeked && m.offset === 49) {
            seeked = true;
            c.seek({ topic, partition: 0, offset: 90 });
          }
        }
      },
    });
    await until('the seek to take effect', 10_000, () => got.includes(99));
    expect(got.slice(0, 50)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(got.slice(50)).toEqual(Array.from({ length: 10 }, (_, i) => 90 + i));

    // autoCommit off: nothing committed until asked.
    expect((await samsa.admin().fetchOffsets({ groupId })).filter((o) => o.offset >= 0)).toHaveLength(0);
    await c.commitOffsets([{ topic, partition: 0, offset: '100' }]);
    expect((await samsa.admin().fetchOffsets({ groupId }))[0]).toMatchObject({ offset: 100, lag: 0 });

    c.pause([{ topic }]);
    expect(c.paused()).toEqual([{ topic, partitions: [0] }]);
    await producer.send({ topic, messages: [{ value: '100', headers: { n: '100' } }] });
    await new Promise((r) => setTimeout(r, 600));
    expect(got).not.toContain(100);
    c.resume([{ topic }]);
    await until('resume', 10_000, () => got.includes(100));
    await c.disconnect();
    await producer.disconnect();
  });

  it('a producer request of several batches lands whole and in order, compressed or not', async () => {
    const topic = `mb-${Date.now().toString(36)}`;
    await samsa.admin().createTopic({ topic, numPartitions: 1 });
    // 16 KiB batches, 64 KiB requests: a 400 KB send goes out as requests of four batches each.
    const producer = samsa.producer({ lingerMs: 0, batchSize: 16 * 1024, maxRequestSize: 64 * 1024 });
    const value = (i: number): string => `${i}:`.padEnd(1000, 'x');
    const plain = await producer.send({ topic, messages: Array.from({ length: 400 }, (_, i) => ({ value: value(i) })) });
    const zipped = await producer.send({ topic, compression: 'gzip', messages: Array.from({ length: 400 }, (_, i) => ({ value: value(400 + i) })) });
    expect([...plain, ...zipped].map((m) => m.offset)).toEqual(Array.from({ length: 800 }, (_, i) => i));
    await producer.disconnect();
    const got: string[] = [];
    for (let offset = 0; offset < 800; ) {
      const res = await fetchPartition(samsa.http, topic, 0, offset, { maxBytes: 1 << 20 });
      for (const m of res.messages) got.push(m.value!.toString());
      offset = res.nextOffset;
    }
    expect(got).toEqual(Array.from({ length: 800 }, (_, i) => value(i)));
  });

  it('an idle consumer holds one request for all its partitions, not one per partition', async () => {
    const topic = `ci-${Date.now().toString(36)}`;
    await samsa.admin().createTopic({ topic, numPartitions: 8 });
    // Count the client's requests (it uses the global fetch) and how many are open at once.
    const real = globalThis.fetch;
    let open = 0;
    let maxOpen = 0;
    let reads = 0;
    let counting = false;
    globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
      const url = String(input instanceof Request ? input.url : input);
      if (!counting || !url.startsWith(server.url)) return real(input, init);
      if (url.includes('/records')) reads++;
      maxOpen = Math.max(maxOpen, ++open);
      try {
        return await real(input, init);
      } finally {
        open--;
      }
    }) as typeof fetch;
    const c = samsa.consumer({ groupId: `g-${topic}`, maxWaitTimeInMs: 1000 });
    try {
      await c.subscribe({ topic, fromBeginning: true });
      let got = 0;
      await c.run({ eachMessage: async () => void got++ });
      await until('all eight partitions', 10_000, () => c.assignment().length === 8);
      await new Promise((r) => setTimeout(r, 300));
      counting = true;
      await new Promise((r) => setTimeout(r, 2500));
      counting = false;
      expect(maxOpen).toBe(1);
      // About one long poll per maxWaitTimeInMs, for all eight partitions together.
      expect(reads).toBeGreaterThanOrEqual(1);
      expect(reads).toBeLessThanOrEqual(5);
      expect(got).toBe(0);
    } finally {
      counting = false;
      globalThis.fetch = real;
      await c.disconnect();
    }
  });
});
