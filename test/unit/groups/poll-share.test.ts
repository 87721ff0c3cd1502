// A poll answers at most `max_bytes` (and, rendered as JSON, 4 MiB of decoded records) in all,
// and it holds every partition's fetch result until it assembles the answer. So each partition
// with something to read is asked its fair share of that budget, not `max_bytes` each: a member
// of 16 busy partitions polling with max_bytes=1 MiB read 16 MiB of stored batches (with the
// route's 64 MiB, P × 64 MiB held at once for one small request), and threw nearly all away.
import { afterEach, expect, it } from 'vitest';
import { harness, type Harness } from './harness';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

it("a poll over many busy partitions reads about its budget in all, not its budget from each, and still delivers from every partition over a few polls", async () => {
  h = await harness();
  const P = 16;
  await h.engine.createTopic('wide', P);
  const value = new Uint8Array(8 * 1024).fill(120);
  // 1 MiB per partition, in 16 KiB batches of two 8 KiB records.
  for (let round = 0; round < 64; round++) {
    await h.engine.produce('wide', Array.from({ length: P * 2 }, (_, i) => ({ key: null, value, headers: [], partition: i % P })));
  }
  await h.engine.flushAll();
  let read = 0;
  const get = h.engine.objects.get.bind(h.engine.objects);
  h.engine.objects.get = async (key, range) => {
    const bytes = await get(key, range);
    read += bytes.length;
    return bytes;
  };
  const coord = h.instances[0]!.coord;
  const m = await coord.join('g', { topics: ['wide'], sessionTimeoutMs: 30_000, autoOffsetReset: 'earliest' });
  const first = await coord.poll('g', m.memberId, { maxBytes: 1024 * 1024 });
  expect(first.records.length).toBeGreaterThan(0);
  // Was 16+ MiB: each partition read with the whole poll's budget.
  expect(read, `${read} bytes read from the segment objects for one 1 MiB poll`).toBeLessThan(3 * 1024 * 1024);
  // Every partition is delivered from within a few polls (fair shares, rotating start).
  const seen = new Set(first.records.map((r) => r.partition));
  let acks = first.positions;
  for (let i = 0; i < 6 && seen.size < P; i++) {
    const r = await coord.poll('g', m.memberId, { maxBytes: 1024 * 1024, acks, ackGeneration: m.generation, fromGeneration: m.generation });
    for (const rec of r.records) seen.add(rec.partition);
    acks = r.positions;
  }
  expect(seen.size).toBe(P);
});
