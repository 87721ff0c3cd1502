// Design note 0011 from the side of everything that reads or deletes segments as files rather
// than through extents: a timestamp lookup into a segment written in chunks (and one racing the
// composition that deletes them, or retention deleting its segment), bulk reads of a closed segment not composed yet, retention
// deleting a segment's chunks with it, and the orphan sweeper telling live chunks from crash
// leftovers. Segments are written in chunks by the real flush (chunkBytes), on local files and
// on the emulator (S3 composes parts of at least 5 MiB, so there the chunks are 5 MiB).
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../lib/http/app';
import { LogEngine } from '../../../lib/log/engine';
import { DEFAULT_FLUSH_OPTIONS, type FlushOptions } from '../../../lib/log/flush';
import { segmentFromItem } from '../../../lib/log/items';
import { chunkObject, partitionPk, partitionPrefix, SEGMENT_PREFIX } from '../../../lib/log/keys';
import type { Segment } from '../../../lib/log/model';
import { DEFAULT_RETENTION_OPTIONS } from '../../../lib/log/retention';
import { isChunked } from '../../../lib/log/segment-pieces';
import { silentLogger } from '../../../lib/obs/logger';
import { encodeRecordBatch, splitBatches } from '../../../lib/records';
import { StorageError } from '../../../lib/errors';
import { faultyObjectStore, Gate } from '../../../lib/storage/faults';
import type { ObjectStore } from '../../../lib/storage/ports';
import { ManualClock } from '../../../lib/util/clock';
import { describeAws } from '../../helpers/aws';
import { awsStores, freshStoresEachTest, localStores, type TestStores } from '../../helpers/stores';

/**
 * A failure the store calls transient (a timeout, a dropped connection), standing in for a
 * crash: the step fails, and the next flush or retention pass finishes the work. A failure no
 * retry cures is set aside instead (see "fails for good" in chunked-segments.test.ts).
 */
const interrupted = (message: string): StorageError => new StorageError(message, true);

// Record timestamps a minute old when the tests start, a second apart: retention.ms (a day)
// expires them only once the test moves its clock that far.
const T0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
const SEGMENT_MS = 2 * 3_600_000; // longer than the sweeper's grace
const DAY = 86_400_000;
const MiB = 1024 * 1024;

interface Shape {
  /** Bytes of each record's value: one record per batch, every batch a write-ahead object. */
  recordBytes: number;
  stepBatches: number;
  chunkBytes: (batchBytes: number) => number;
}

function suite(stores: () => Promise<TestStores>, shape: Shape, opts: { local: boolean }): void {
  const fresh = freshStoresEachTest(stores, 'ck');
  // Fixed timestamps a second apart, so a lookup's answer is known; a value's first byte names its offset.
  const batches = Array.from({ length: 14 }, (_, i) => encodeRecordBatch([{ value: new Uint8Array(shape.recordBytes).fill(i + 1), timestamp: T0 + i * 1000 }]));
  const BATCH = batches[0]!.length;
  const flushOpts: FlushOptions = { ...DEFAULT_FLUSH_OPTIONS, stepBytes: shape.stepBatches * BATCH, chunkBytes: shape.chunkBytes(BATCH) };

  async function open(wrap: (o: ObjectStore) => ObjectStore = (o) => o) {
    const s = await fresh.setup();
    const objects = wrap(s.objects);
    // Object stores stamp real time; the sweeper and retention compare it with this clock.
    const clock = new ManualClock(Date.now());
    const engine = fresh.closing(
      new LogEngine(s.meta, objects, clock, { inlineMaxBytes: 4096, leaseMs: 30_000, flush: flushOpts, retention: { ...DEFAULT_RETENTION_OPTIONS } }),
    );
    const name = s.name;
    const topic = async () => engine.topics.get(name);
    return {
      ...s,
      objects,
      clock,
      engine,
      name,
      async produce(from: number, to: number): Promise<void> {
        for (let i = from; i < to; i++) await engine.produceBatches(name, 0, new Uint8Array(batches[i]!));
      },
      async flush(): Promise<void> {
        await engine.flushPartition(await topic(), 0);
      },
      async segments(): Promise<Segment[]> {
        const page = await s.meta.query({ pk: partitionPk((await topic()).id, 0), beginsWith: SEGMENT_PREFIX });
        return page.items.map(segmentFromItem);
      },
      async keys(): Promise<string[]> {
        return (await objects.list(partitionPrefix(await topic(), 0))).objects.map((o) => o.key).sort();
      },
      /** Offsets read back through fetch, checked against the values they must hold. */
      async offsets(): Promise<number[]> {
        const out: number[] = [];
        for (let offset = 0; ; ) {
          const got = await engine.fetch(name, 0, { offset, maxRecords: 5, maxBytes: 64 * MiB });
          const records = got.records();
          if (records.length === 0) return out;
          for (const r of records) {
            expect(r.value![0]).toBe(r.offset + 1);
            out.push(r.offset);
          }
          offset = got.nextOffset;
        }
      },
    };
  }

  /** Ten batches flushed into the active segment: written in more than one chunk. */
  async function chunkedActive(n: Awaited<ReturnType<typeof open>>): Promise<Segment> {
    await n.engine.createTopic(n.name, 1, { 'segment.bytes': 1 << 30, 'segment.ms': SEGMENT_MS, 'retention.ms': DAY });
    await n.produce(0, 10);
    await n.flush();
    const [seg] = await n.segments();
    expect(seg!.closed).toBe(false);
    expect(isChunked(seg!)).toBe(true);
    return seg!;
  }

  it('a timestamp lookup finds every offset of a segment written in chunks, entering each chunk through its own indexes', async () => {
    const n = await open();
    const seg = await chunkedActive(n);
    const starts = seg.chunks!.map((c) => c.log);
    expect(starts.length).toBeGreaterThan(1);
    for (let i = 0; i < 10; i++) {
      // Just before a record's timestamp, and at it: that record's offset either way.
      expect(await n.engine.listOffsets(n.name, 0, T0 + i * 1000 - 500)).toEqual({ offset: i, timestamp: T0 + i * 1000 });
      expect(await n.engine.listOffsets(n.name, 0, T0 + i * 1000)).toEqual({ offset: i, timestamp: T0 + i * 1000 });
    }
    expect(await n.engine.listOffsets(n.name, 0, T0 + 10 * 1000)).toEqual({ offset: 10, timestamp: null });
  });

  /** segment.ms seals the idle segment, and the same pass composes it — here it fails to (a crash): closed, still in chunks. */
  async function sealedInChunks(n: Awaited<ReturnType<typeof open>>): Promise<void> {
    const faults = (n.objects as ReturnType<typeof faultyObjectStore>).faults;
    n.clock.advance(SEGMENT_MS + 1);
    faults.add({ method: 'compose', action: { kind: 'fail', error: interrupted('injected crash before the composition') } });
    expect((await n.engine.retention.runOnce()).sealedSegments).toBe(1);
    faults.clear();
  }

  it('retention deletes a segment with its chunks, and counts its bytes once', async () => {
    const n = await open((o) => faultyObjectStore(o));
    const seg = await chunkedActive(n);
    await sealedInChunks(n);
    const [sealed] = await n.segments();
    expect(sealed!.closed).toBe(true);
    expect(isChunked(sealed!)).toBe(true);
    expect((await n.keys()).filter((k) => k.includes('/chunks/')).length).toBe(3 * (seg.chunks!.length - 1));
    n.clock.advance(DAY); // its records are past retention.ms
    const stats = await n.engine.retention.runOnce();
    expect(stats.deletedSegments).toBe(1);
    expect(stats.deletedBytes).toBe(sealed!.size);
    expect(await n.keys()).toEqual([]);
    expect(await n.segments()).toEqual([]);
    expect(await n.engine.listOffsets(n.name, 0, 'earliest')).toEqual({ offset: 10, timestamp: null });
  });

  it('bulk reads pass a closed segment by until it is composed, then serve it whole', async () => {
    const n = await open((o) => faultyObjectStore(o));
    await chunkedActive(n);
    const app = createApp({ engine: n.engine, logger: silentLogger });
    await sealedInChunks(n);
    const [sealed] = await n.segments();
    expect(isChunked(sealed!)).toBe(true);

    const bulk = async () => {
      const res = await app.request(`http://samsa.test/v1/topics/${n.name}/partitions/0/segments?offset=0`);
      expect(res.status).toBe(200);
      return (await res.json()) as { segments: Array<{ url: string; range: string; bytes: number; last_offset: number }>; next_offset: number };
    };
    // Its <base>.log holds only the first chunk: nothing is handed out, the client fetches.
    expect(await bulk()).toMatchObject({ segments: [], next_offset: 0 });
    const raw = await app.request(`http://samsa.test/v1/topics/${n.name}/partitions/0/segments/0/log`, { headers: { range: `bytes=0-${sealed!.size - 1}` } });
    expect(raw.status).toBe(416);
    expect(((await raw.json()) as { error_code: string }).error_code).toBe('OFFSET_OUT_OF_RANGE');
    expect(await n.offsets()).toEqual(Array.from({ length: 10 }, (_, i) => i));

    // The next flush finishes the composition (one with something to flush: an idle
    // partition's flush returns before the flusher looks); from then on the bulk route serves it whole.
    await n.produce(10, 11);
    await n.flush();
    const [composed] = await n.segments();
    expect(composed!.chunks).toBeUndefined();
    const answer = await bulk();
    expect(answer.segments).toHaveLength(1);
    expect(answer.next_offset).toBe(10);
    const r = answer.segments[0]!;
    const res = opts.local ? await app.request(r.url, { headers: { range: r.range } }) : await fetch(r.url, { headers: { range: r.range } });
    expect(res.status).toBe(206);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(bytes.length).toBe(sealed!.size);
    expect(splitBatches(bytes).map((b) => b.header.baseOffset)).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });

  if (!opts.local) return;

  it('a timestamp lookup that finds its chunk deleted by a composition meanwhile looks again, and answers', async () => {
    const gate = new Gate();
    const n = await open((o) => faultyObjectStore(o));
    const faults = (n.objects as ReturnType<typeof faultyObjectStore>).faults;
    const seg = await chunkedActive(n);
    // The lookup for the record at 7 reads a later chunk's objects: park its first such read.
    faults.add({ method: 'get', when: (c) => String(c.args[0]).includes('/chunks/'), action: { kind: 'hang', gate } });
    const lookup = n.engine.listOffsets(n.name, 0, T0 + 7000 - 500);
    const parked = await Promise.race([gate.reached.then(() => true), lookup.then(() => false)]);
    faults.clear(); // the composition's own reads pass
    // Meanwhile the segment closes and is composed: its chunk objects go.
    n.clock.advance(SEGMENT_MS + 1);
    await n.engine.retention.runOnce(); // seals it
    await n.produce(10, 11);
    await n.flush(); // composes it
    expect((await n.keys()).filter((k) => k.includes('/chunks/'))).toEqual([]);
    expect(seg.chunks!.length).toBeGreaterThan(1);
    gate.release();
    expect(await lookup).toEqual({ offset: 7, timestamp: T0 + 7000 });
    expect(parked).toBe(true); // it did read a chunk the composition then deleted
  });

  it('a timestamp lookup whose segment retention deleted meanwhile answers from what is left, not with an error', async () => {
    const gate = new Gate();
    const n = await open((o) => faultyObjectStore(o));
    const faults = (n.objects as ReturnType<typeof faultyObjectStore>).faults;
    await chunkedActive(n);
    n.clock.advance(SEGMENT_MS + 1);
    await n.engine.retention.runOnce(); // seals the first segment
    await n.produce(10, 11);
    await n.flush(); // composes it and opens the next
    await n.engine.topics.alter(n.name, { config: { 'segment.ms': 30 * DAY } }); // which stays open
    faults.add({ method: 'get', when: (c) => String(c.args[0]).endsWith(`${'0'.repeat(20)}.timeindex`), action: { kind: 'hang', gate } });
    const lookup = n.engine.listOffsets(n.name, 0, T0 + 3000);
    await Promise.race([gate.reached, lookup]);
    faults.clear();
    n.clock.advance(DAY); // the first segment expires: the log start moves to 10, its objects go
    expect((await n.engine.retention.runOnce()).deletedSegments).toBe(1);
    gate.release();
    // Kafka's answer for the log as it is now: its first record at or after the timestamp.
    expect(await lookup).toEqual({ offset: 10, timestamp: T0 + 10_000 });
  });

  it('the sweeper deletes chunk objects no catalog entry lists after the grace period, and keeps live ones and those a flush could still adopt', async () => {
    const n = await open();
    const seg = await chunkedActive(n);
    const junk = new Uint8Array([1, 2, 3]);
    const live = await n.keys();
    // Crash leftovers: a chunk of the open segment at a start its catalog entry does not list,
    // below its size (no step can start a chunk there any more); a chunk of a segment that is
    // not in the catalog, below the flushed offset.
    const t = await n.engine.topics.get(n.name);
    const unlisted = chunkObject(t, 0, 0, 1, 'log');
    const uncatalogued = chunkObject(t, 0, 5, 100, 'index');
    // Kept: a chunk past the open segment's size (the step that wrote it may be redone and
    // adopt it as is), and one of a segment at the flushed offset (not catalogued yet).
    const pastSize = chunkObject(t, 0, 0, seg.size + 64, 'log');
    const pending = chunkObject(t, 0, 10, 7, 'timeindex');
    for (const k of [unlisted, uncatalogued, pastSize, pending]) await n.objects.put(k, junk);

    n.clock.advance(DEFAULT_RETENTION_OPTIONS.orphanGraceMs - 60_000); // younger than the grace
    expect((await n.engine.retention.runOnce()).sweptObjects).toBe(0);
    n.clock.advance(120_000);
    expect((await n.engine.retention.runOnce()).sweptObjects).toBe(2);
    expect(await n.keys()).toEqual([...live, pastSize, pending].sort());
    expect(await n.offsets()).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });

  for (const who of ['the partition\'s retention, which finishes the composition', 'the sweeper, while another process leads the partition'] as const) {
    it(`the chunks a composition did not get to delete go at the next retention pass: ${who}`, async () => {
      const n = await open((o) => faultyObjectStore(o));
      const faults = (n.objects as ReturnType<typeof faultyObjectStore>).faults;
      // Six batches close the first segment once a seventh comes.
      await n.engine.createTopic(n.name, 1, { 'segment.bytes': 6 * BATCH + 100, 'segment.ms': SEGMENT_MS, 'retention.ms': DAY });
      await n.produce(0, 7);
      faults.add({ method: 'delete', when: (c) => (c.args[0] as string[]).some((k) => k.includes('/chunks/')), times: Infinity, action: { kind: 'fail', error: interrupted('injected delete failure') } });
      await expect(n.flush()).rejects.toThrow('injected delete failure');
      faults.clear();
      const [first] = await n.segments();
      expect(first!.composed).toBe(true);
      const leftovers = (await n.keys()).filter((k) => k.includes('/chunks/'));
      expect(leftovers.length).toBe(3 * (first!.chunks!.length - 1));
      expect(leftovers.length).toBeGreaterThan(0);

      n.clock.advance(DEFAULT_RETENTION_OPTIONS.orphanGraceMs + 60_000);
      const sweeper = who.startsWith('the sweeper');
      if (sweeper) {
        // Another process holds the partition's lease: the pass leaves the partition to it.
        const other = fresh.closing(new LogEngine(n.meta, n.objects, n.clock, { inlineMaxBytes: 4096, leaseMs: 30_000, flush: flushOpts }));
        expect('epoch' in (await other.leases.acquire(await other.topics.get(n.name), 0))).toBe(true);
      }
      const stats = await n.engine.retention.runOnce();
      expect([stats.sweptObjects, stats.skippedPartitions]).toEqual(sweeper ? [leftovers.length, 1] : [0, 0]);
      expect((await n.keys()).filter((k) => k.includes('/chunks/'))).toEqual([]);
      if (!sweeper) expect((await n.segments())[0]!.chunks).toBeUndefined();
      expect(await n.offsets()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    });
  }
}

describe('reading and deleting segments written in chunks (local files)', () => {
  // 8 KiB records, steps of three batches, chunks closed at two and a half: a chunk per step.
  suite(() => localStores('samsa-chunkread-'), { recordBytes: 8 * 1024, stepBatches: 3, chunkBytes: (b) => Math.floor(2.5 * b) }, { local: true });
});

describeAws('reading and deleting segments written in chunks (S3 + DynamoDB emulator)', () => {
  // S3 composes parts of at least 5 MiB: 1 MiB records, steps of six, 5 MiB chunks (10 MiB in all).
  suite(awsStores, { recordBytes: MiB - 1024, stepBatches: 6, chunkBytes: () => 5 * MiB }, { local: false });
});
