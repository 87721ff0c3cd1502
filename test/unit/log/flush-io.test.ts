// A flush step's object I/O runs concurrently where nothing orders it (issue 18: on S3 each call
// waits tens of ms, and Lambda bills the flush function's wall time): it reads its write-ahead
// objects a few at a time ahead of the one it packs, and writes a segment's .log, .index and
// .timeindex together. What a user would notice: flushes take a fraction of the time on a store
// with latency, memory stays bounded (never more than WAL_READ_AHEAD reads in flight, none past
// the step's bytes), and a failed read or write behaves as before: the step fails with nothing
// committed, nothing of it is left running, the process does not crash on a rejected read nobody
// took, and the next flush moves everything.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { DEFAULT_FLUSH_OPTIONS, WAL_READ_AHEAD } from '../../../lib/log/flush';
import { codecsReady, encodeRecordBatch } from '../../../lib/records';
import { faultyObjectStore } from '../../../lib/storage/faults';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import { WAL_PREFIX } from '../../../lib/log/keys';
import type { ObjectStore } from '../../../lib/storage/ports';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';

let dir: string;
beforeAll(codecsReady);
beforeEach(() => void (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-readahead-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

// 8 KiB batches over a 4 KiB inline limit: every commit is a write-ahead object.
const batch = (i: number) => encodeRecordBatch([{ value: new Uint8Array(8 * 1024).fill(i % 251) }]);

/** An object store whose `get`s are counted while in flight (each waits a tick or two, like a network call). */
function watched(inner: ObjectStore): ObjectStore & { inFlight: number; maxInFlight: number; gets: string[]; appending: number; maxAppending: number } {
  const w = {
    inFlight: 0,
    maxInFlight: 0,
    gets: [] as string[],
    appending: 0,
    maxAppending: 0,
    put: inner.put.bind(inner),
    head: inner.head.bind(inner),
    delete: inner.delete.bind(inner),
    list: inner.list.bind(inner),
    async append(...a: Parameters<ObjectStore['append']>) {
      w.maxAppending = Math.max(w.maxAppending, ++w.appending);
      try {
        await new Promise((r) => setTimeout(r, 2));
        return await inner.append(...a);
      } finally {
        w.appending--;
      }
    },
    async get(key: string, range?: { start: number; end: number }) {
      w.gets.push(key);
      w.maxInFlight = Math.max(w.maxInFlight, ++w.inFlight);
      try {
        await new Promise((r) => setTimeout(r, 2));
        return await inner.get(key, range);
      } finally {
        w.inFlight--;
      }
    },
    compose: inner.compose.bind(inner),
    close: async () => inner.close?.(),
  };
  return w;
}

async function engineWith(objects: ObjectStore, stepBytes = DEFAULT_FLUSH_OPTIONS.stepBytes): Promise<LogEngine> {
  const meta = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
  const engine = new LogEngine(meta, objects, undefined, { inlineMaxBytes: 4096, flush: { ...DEFAULT_FLUSH_OPTIONS, stepBytes } });
  await engine.createTopic('t', 1);
  return engine;
}

async function values(engine: LogEngine): Promise<number[]> {
  const got = (await engine.fetch('t', 0, { offset: 0, maxRecords: 1000, maxBytes: 64 << 20 })).records();
  return got.map((r) => r.value![0]!);
}

describe('flush I/O', () => {
  it(`keeps up to ${WAL_READ_AHEAD} reads in flight, never more, and moves every record intact`, async () => {
    const objects = watched(new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }));
    const engine = await engineWith(objects);
    for (let i = 0; i < 40; i++) await engine.produceBatches('t', 0, batch(i));
    objects.maxInFlight = 0;
    objects.gets.length = 0;
    const stats = await engine.flushPartition(await engine.topics.get('t'), 0);
    expect(stats.batches).toBe(40);
    // One read per write-ahead object (no object read twice), several at a time, bounded.
    expect(objects.gets.filter((k) => k.startsWith(WAL_PREFIX))).toHaveLength(40);
    expect(objects.maxInFlight).toBeGreaterThan(1);
    expect(objects.maxInFlight).toBeLessThanOrEqual(WAL_READ_AHEAD);
    expect((await engine.head(await engine.topics.get('t'), 0)).flushed).toBe(40);
    expect(await values(engine)).toEqual(Array.from({ length: 40 }, (_, i) => i % 251));
    await engine.close();
  });

  it("reads nothing past a step's bytes: ten objects in steps of three are read once each", async () => {
    const objects = watched(new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }));
    const engine = await engineWith(objects, 3 * batch(0).length);
    for (let i = 0; i < 10; i++) await engine.produceBatches('t', 0, batch(i));
    objects.gets.length = 0;
    const stats = await engine.flushPartition(await engine.topics.get('t'), 0);
    expect(stats.steps).toBe(4);
    expect(stats.batches).toBe(10);
    const walReads = objects.gets.filter((k) => k.startsWith(WAL_PREFIX));
    expect(walReads).toHaveLength(10);
    expect(new Set(walReads).size).toBe(10);
    expect(await values(engine)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    await engine.close();
  });

  it('a failed read fails the step (as before), reads nobody took crash nothing, and the next flush moves everything', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown): void => void unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      const inner = new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false });
      const objects = faultyObjectStore(inner);
      const engine = await engineWith(objects);
      for (let i = 0; i < 12; i++) await engine.produceBatches('t', 0, batch(i));
      const topic = await engine.topics.get('t');
      // The 3rd write-ahead read fails, and so do the five after it: read ahead, never taken.
      objects.faults.add({ method: 'get', nth: 3, times: 6, action: { kind: 'fail', error: Object.assign(new Error('injected GET failure'), { name: 'StorageError' }) } });
      await expect(engine.flushPartition(topic, 0)).rejects.toThrow('injected GET failure');
      expect((await engine.head(topic, 0)).flushed).toBe(0);
      await new Promise((r) => setTimeout(r, 50)); // any rejection left unhandled surfaces by now
      expect(unhandled).toEqual([]);
      objects.faults.clear();
      await engine.flushPartition(topic, 0);
      expect((await engine.head(topic, 0)).flushed).toBe(12);
      expect(await values(engine)).toEqual(Array.from({ length: 12 }, (_, i) => i));
      await engine.close();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it("writes a segment's .log, .index and .timeindex together", async () => {
    const objects = watched(new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }));
    const engine = await engineWith(objects);
    for (let i = 0; i < 4; i++) await engine.produceBatches('t', 0, batch(i));
    await engine.flushPartition(await engine.topics.get('t'), 0);
    expect(objects.maxAppending).toBe(3);
    expect(await values(engine)).toEqual([0, 1, 2, 3]);
    await engine.close();
  });

  it('a failed segment write fails the step with nothing committed and nothing left running; the next flush moves everything', async () => {
    const inner = watched(new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }));
    const objects = faultyObjectStore(inner);
    const engine = await engineWith(objects);
    for (let i = 0; i < 5; i++) await engine.produceBatches('t', 0, batch(i));
    const topic = await engine.topics.get('t');
    objects.faults.add({ method: 'append', when: (c) => c.method === 'append' && String(c.args[0]).endsWith('.index'), action: { kind: 'fail', error: Object.assign(new Error('injected index write failure'), { name: 'StorageError' }) } });
    await expect(engine.flushPartition(topic, 0)).rejects.toThrow('injected index write failure');
    expect(inner.appending).toBe(0); // the .log and .timeindex writes settled before the step gave up
    expect((await engine.head(topic, 0)).flushed).toBe(0);
    expect(await values(engine)).toEqual([0, 1, 2, 3, 4]);
    objects.faults.clear();
    await engine.flushPartition(topic, 0);
    expect((await engine.head(topic, 0)).flushed).toBe(5);
    expect(await values(engine)).toEqual([0, 1, 2, 3, 4]);
    await engine.close();
  });
});
