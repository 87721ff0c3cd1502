// What a read holds in memory (docs/limits.md). The reader's cache of segment .index objects
// is bounded by bytes, not by count: with 1 GiB segments a count of 257 indexes pinned
// ~512 MiB; small segments, a dense index interval and a small budget show it in miniature.
// A decoded fetch is bounded by max_bytes of decompressed records, not of stored bytes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { DEFAULT_INDEX_CACHE_BYTES } from '../../../lib/log/reader';
import { codecsReady, Compression, encodeRecordBatch } from '../../../lib/records';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';

let dir: string;
let meta: SqliteMetaStore;
let objects: LocalObjectStore;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-indexcache-'));
  meta = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
  objects = new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false });
});
afterEach(async () => {
  await meta.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('keeps at most indexCacheBytes of segment indexes, however many segments are read', async () => {
  const budget = 4 * 1024;
  const engine = new LogEngine(meta, objects, undefined, {
    indexCacheBytes: budget,
    flush: { stepBytes: 32 * 1024 * 1024, indexIntervalBytes: 64 },
  });
  const SEGMENT = 160 * 1024; // above the reader's 64 KiB seek threshold, so reads use the index
  await engine.createTopic('segs', 1, { 'segment.bytes': SEGMENT });
  const value = new Uint8Array(900).fill(0x61);
  // One record per batch, so every batch gets an index entry: ~10 segments of ~170 batches,
  // each with a ~1.3 KiB index; the budget holds about three of them.
  for (let i = 0; i < 16; i++) {
    const batches = Array.from({ length: 100 }, () => encodeRecordBatch([{ value }]));
    const body = new Uint8Array(batches.reduce((a, b) => a + b.length, 0));
    batches.reduce((pos, b) => (body.set(b, pos), pos + b.length), 0);
    await engine.produceBatches('segs', 0, body);
  }
  const topic = await engine.topics.get('segs');
  await engine.flushPartition(topic, 0);
  const segments = await engine.reader.segments(topic, 0);
  expect(segments.length).toBeGreaterThanOrEqual(8);

  expect(segments[0]!.indexSize * 2).toBeLessThan(budget);
  expect(segments.reduce((a, sg) => a + sg.indexSize, 0)).toBeGreaterThan(budget * 2);
  let maxHeld = 0;
  for (const seg of segments) {
    // The middle of each segment: the read enters it through its .index.
    const mid = Math.floor((seg.base + seg.last) / 2);
    const r = await engine.fetch('segs', 0, { offset: mid, maxRecords: 1 });
    expect(r.records()[0]!.offset).toBe(mid);
    maxHeld = Math.max(maxHeld, engine.reader.indexCacheBytes);
  }
  expect(maxHeld).toBeGreaterThan(0); // the indexes were used and cached...
  expect(maxHeld).toBeLessThanOrEqual(budget); // ...but never more than the budget
  expect(DEFAULT_INDEX_CACHE_BYTES).toBeLessThanOrEqual(64 * 1024 * 1024);
  await engine.close();
});

it('a decoded fetch stops once the decompressed records reach max_bytes (compressed batches expand)', async () => {
  await codecsReady();
  const engine = new LogEngine(meta, objects);
  await engine.createTopic('bombs', 1);
  // 8 MiB of zeros gzips to ~8 KiB: each batch is tiny as stored, huge as decoded.
  const value = new Uint8Array(8 * 1024 * 1024);
  const batch = encodeRecordBatch([{ value }], { compression: Compression.Gzip });
  expect(batch.length).toBeLessThan(64 * 1024);
  for (let i = 0; i < 10; i++) await engine.produceBatches('bombs', 0, batch);
  const r = await engine.fetch('bombs', 0, { offset: 0, maxBytes: 1024 * 1024, maxRecords: 500 });
  expect(r.runs.length).toBeGreaterThan(0);
  // The first record alone passes the 1 MiB budget, so it is the only one decoded.
  expect(r.records().map((x) => x.offset)).toEqual([0]);
  expect(r.nextOffset).toBe(1);
  const next = await engine.fetch('bombs', 0, { offset: r.nextOffset, maxBytes: 1024 * 1024 });
  expect(next.records().map((x) => x.offset)).toEqual([1]);
  await engine.close();
});
