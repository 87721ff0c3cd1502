// Issue 18: this process's flush takes its own recent inline commits from memory (no second
// copy, no second CRC pass) and reads everything else from the store as before — the cache is
// only an optimisation: without it, after a restart, or for a commit it does not hold, the
// segments come out byte for byte the same.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { INLINE_CACHE_MAX_AGE_MS, InlineCache } from '../../../lib/log/inline-cache';
import type { Extent } from '../../../lib/log/model';
import { codecsReady, encodeRecordBatch } from '../../../lib/records';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';

let dir: string;
beforeAll(codecsReady);
beforeEach(() => void (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-icache-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function open(sub: string, opts: { inlineCacheBytes?: number } = {}) {
  fs.mkdirSync(path.join(dir, sub), { recursive: true });
  const meta = new SqliteMetaStore({ path: path.join(dir, sub, 'meta.sqlite'), fsync: false });
  const engine = new LogEngine(meta, new LocalObjectStore({ root: path.join(dir, sub, 'objects'), fsync: false }), undefined, opts);
  // Count the extents flush had to read from the store.
  let storeReads = 0;
  const readExtent = engine.reader.readExtent.bind(engine.reader);
  engine.reader.readExtent = (...args) => {
    storeReads++;
    return readExtent(...args);
  };
  // Count the binary bytes metadata queries returned (the flush's pages are queried without them).
  let queriedBytes = 0;
  const query = meta.query.bind(meta);
  meta.query = async (q) => {
    const page = await query(q);
    const count = (v: unknown): void => {
      if (v instanceof Uint8Array) queriedBytes += v.length;
      else if (Array.isArray(v)) v.forEach(count);
      else if (v !== null && typeof v === 'object') Object.values(v).forEach(count);
    };
    count(page.items);
    return page;
  };
  return { engine, meta, reads: () => storeReads, queriedBytes: () => queriedBytes };
}

/** The same writes on any engine: JSON requests over 3 partitions, binary batches, group commits. */
async function workload(engine: LogEngine): Promise<void> {
  await engine.createTopic('t', 3);
  for (let r = 0; r < 20; r++) {
    await engine.produce('t', Array.from({ length: 30 }, (_, i) => ({ key: enc(`k${r}.${i}`), value: enc(`v${r}.${i}`.repeat(20)), timestamp: 1_700_000_000_000 + r })));
    await Promise.all([0, 1, 2].map((p) => engine.produceBatches('t', p, encodeRecordBatch([{ value: enc(`b${r}.${p}`) }], { now: 1_700_000_000_000 }))));
  }
}

const segmentFiles = (sub: string): Record<string, string> => {
  const root = path.join(dir, sub, 'objects');
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const f of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, f.name);
      if (f.isDirectory()) walk(p);
      else out[path.relative(root, p).replace(/^topics\/[^/]+\/[0-9a-f-]{36}/, 'topic')] = fs.readFileSync(p).toString('hex');
    }
  };
  walk(root);
  return out;
};

async function flushAll(engine: LogEngine): Promise<void> {
  const topic = await engine.topics.get('t');
  for (let p = 0; p < 3; p++) await engine.flushPartition(topic, p);
}

describe('flushing inline commits', () => {
  it('takes this process’s own commits from memory, and writes the segments the store path writes', async () => {
    const cached = open('cached');
    await workload(cached.engine);
    const before = cached.queriedBytes();
    await flushAll(cached.engine);
    expect(cached.reads()).toBe(0);
    // Nor did it read the pages' bytes back from the store only to find their extents.
    expect(cached.queriedBytes() - before).toBe(0);

    const uncached = open('uncached', { inlineCacheBytes: 0 });
    await workload(uncached.engine);
    await flushAll(uncached.engine);
    expect(uncached.reads()).toBeGreaterThan(60);

    const a = segmentFiles('cached');
    expect(Object.keys(a).filter((k) => k.endsWith('.log'))).toHaveLength(3);
    expect(a).toEqual(segmentFiles('uncached'));
    for (let p = 0; p < 3; p++) {
      expect((await cached.engine.fetch('t', p, { offset: 0, maxRecords: 10_000, maxBytes: 1 << 24 })).records().map((r) => r.offset)).toEqual(
        (await uncached.engine.fetch('t', p, { offset: 0, maxRecords: 10_000, maxBytes: 1 << 24 })).records().map((r) => r.offset),
      );
    }
  });

  it('reads from the store what it does not hold: after a restart, nothing is lost', async () => {
    const first = open('restart');
    await workload(first.engine);
    await first.engine.close();
    const second = open('restart');
    await flushAll(second.engine);
    expect(second.reads()).toBeGreaterThan(60);
    // Each missed page is read again, whole, by key: the chain's query still brings no bytes.
    expect(second.queriedBytes()).toBe(0);
    const records = (await Promise.all([0, 1, 2].map(async (p) => (await second.engine.fetch('t', p, { offset: 0, maxRecords: 10_000, maxBytes: 1 << 24 })).records()))).flat();
    expect(records).toHaveLength(20 * 33);
  });
});

describe('InlineCache', () => {
  const batch = (base: number, n: number) => encodeRecordBatch(Array.from({ length: n }, (_, i) => ({ value: enc(`x${i}`) })), { baseOffset: base });
  const extent = (base: number, bytes: Uint8Array, cid: number, last = base + 1): Extent => ({ sk: 'x#', base, last, kind: 'inline', data: bytes, pos: 0, len: bytes.length, wb: base, maxTs: 0, cid });

  it('answers only for the very commit it holds (base, commit id, length)', () => {
    const c = new InlineCache(1 << 20);
    const b = batch(10, 2);
    c.put('t/0', 10, 7, b);
    expect(c.take('t/0', extent(10, b, 8))).toBeUndefined(); // another commit at that base
    c.put('t/0', 10, 7, b);
    expect(c.take('t/1', extent(10, b, 7))).toBeUndefined(); // another partition
    expect(c.take('t/0', { ...extent(10, b, 7), len: b.length - 1 })).toBeUndefined();
    c.put('t/0', 10, 7, b);
    const hit = c.take('t/0', extent(10, b, 7));
    expect(hit?.bytes).toBe(b);
    expect(hit?.batches).toEqual([{ start: 0, end: b.length, base: 10, last: 11, maxTs: expect.any(Number), count: 2 }]);
    expect(c.take('t/0', extent(10, b, 7))).toBeUndefined(); // taken once
    expect(c.size).toBe(0);
  });

  it('stays within its byte bound, keeping the oldest (what flush takes first), and drops what expired', () => {
    let now = 0;
    const c = new InlineCache(batch(0, 1).length * 3, () => now);
    for (let i = 0; i < 10; i++) c.put('t/0', i, i, batch(i, 1));
    expect(c.size).toBe(batch(0, 1).length * 3);
    expect(c.take('t/0', extent(5, batch(5, 1), 5, 5))).toBeUndefined(); // not kept: it was full
    expect(c.take('t/0', extent(0, batch(0, 1), 0, 0))?.batches[0]?.base).toBe(0);
    c.put('t/0', 10, 10, batch(10, 1)); // room again
    expect(c.take('t/0', extent(10, batch(10, 1), 10, 10))).toBeDefined();
    // Entries nobody took (another process flushed them) age out, and make room.
    now += INLINE_CACHE_MAX_AGE_MS;
    c.put('t/0', 11, 11, batch(11, 1));
    expect(c.size).toBe(batch(0, 1).length);
    expect(c.take('t/0', extent(1, batch(1, 1), 1, 1))).toBeUndefined();
    expect(c.take('t/0', extent(11, batch(11, 1), 11, 11))).toBeDefined();
    // Bytes whose frames disagree with the stored extent are refused.
    c.put('t/0', 900, 9, batch(0, 1));
    expect(c.take('t/0', extent(900, batch(0, 1), 9, 900))).toBeUndefined();
  });
});
