// Retention with an injected clock: retention.ms by a segment's largest timestamp, closed
// segments only, segment.ms sealing an idle active segment, retention.bytes within a segment of
// its target, -1 keeping everything; the log start moving before anything is deleted (crashes
// between the steps, a fetch racing the deletion); the cost of a pass following what expired,
// not the partition's history; resumable chunks; topic deletion; the orphan sweeper's grace.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SamsaError } from '../../../lib/errors';
import { COMMIT_MAX_WAL_AGE_MS } from '../../../lib/log/commit';
import { TOMBSTONE_TTL_MS, tombstoneHeads } from '../../../lib/log/tombstones';
import { LogEngine } from '../../../lib/log/engine';
import { EXTENT_PREFIX, extentSk, headKey, newTopicId, ownsDirectory, partitionPk, partitionPrefix, SEGMENT_PREFIX, segmentObject, TOMBSTONES_PK, TOPIC_DELETIONS_DONE_PK, TOPIC_DELETIONS_PK, topicDir, topicKey, walObject } from '../../../lib/log/keys';
import { legacyDeletionMarkerToItem, segmentFromItem, topicDeletingSet, topicFromItem } from '../../../lib/log/items';
import type { Segment } from '../../../lib/log/model';
import { DEFAULT_RETENTION_OPTIONS, MIN_ORPHAN_GRACE_MS, type RetentionOptions, SIGV4_VALIDITY_MS } from '../../../lib/log/retention';
import { codecsReady } from '../../../lib/records';
import { countingMetaStore, countingObjectStore } from '../../../lib/storage/counting';
import { faultyMetaStore, faultyObjectStore, Gate } from '../../../lib/storage/faults';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import type { MetaStore, ObjectStore } from '../../../lib/storage/ports';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';
import { ManualClock } from '../../../lib/util/clock';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null): string => (b ? new TextDecoder().decode(b) : '');
const crash = (): Error => Object.assign(new Error('injected crash'), { name: 'InjectedCrash' });
const SEG = 1024;

let dir: string;
let meta: MetaStore;
let objects: ObjectStore;
let clock: ManualClock;

beforeEach(async () => {
  await codecsReady();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-ret-'));
  meta = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
  objects = new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false });
  // Object stores stamp real time; the sweeper compares it with this clock.
  clock = new ManualClock(Date.now());
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const engine = (m: MetaStore = meta, o: ObjectStore = objects, retention: Partial<RetentionOptions> = {}, headOnlyCommits = false) =>
  new LogEngine(m, o, clock, {
    headOnlyCommits,
    leaseMs: 30_000,
    inlineMaxBytes: 1024,
    flush: { stepBytes: 64 * 1024, indexIntervalBytes: 256 },
    retention: { ...DEFAULT_RETENTION_OPTIONS, ...retention },
  });

const value = (i: number): string => `rec-${i}-${'v'.repeat(150)}`;

/** One record per request (so one batch each, ~230 bytes: four or so per 1 KiB segment). */
async function produce(e: LogEngine, topic: string, from: number, n: number, partition = 0): Promise<void> {
  for (let i = from; i < from + n; i++) await e.produce(topic, [{ value: enc(value(i)), partition }]);
}

async function flush(e: LogEngine, name: string, partition = 0): Promise<void> {
  await e.flushPartition(await e.topics.get(name), partition);
}

async function catalog(e: LogEngine, name: string, partition = 0): Promise<Segment[]> {
  const t = await e.topics.get(name);
  const out: Segment[] = [];
  let startAfter: string | undefined;
  do {
    const page = await meta.query({ pk: partitionPk(t.id, partition), beginsWith: SEGMENT_PREFIX, startAfter, limit: 500 });
    out.push(...page.items.map(segmentFromItem));
    startAfter = page.next;
  } while (startAfter);
  return out;
}

/**
 * A deletion as builds before deletion markers by id made it (one may still run during a
 * deploy): the topic item kept in state "deleting" beside a marker keyed by the name, then the
 * tombstones.
 */
async function deleteAsOlderBuild(e: LogEngine, name: string): Promise<void> {
  const t = await e.topics.get(name, { fresh: true });
  await meta.transact([
    { type: 'update', key: topicKey(name), set: topicDeletingSet(clock.now()), condition: { op: 'eq', attr: 'id', value: t.id } },
    { type: 'put', item: legacyDeletionMarkerToItem({ name, topicId: t.id, partitions: t.partitions }) },
  ]);
  await tombstoneHeads(meta, t.id, t.partitions);
  e.topics.invalidate(name);
}

async function logObjects(name: string, partition = 0): Promise<string[]> {
  return (await objects.list(partitionPrefix(topicFromItem((await meta.get(topicKey(name)))!), partition))).objects.map((o) => o.key);
}

async function readFrom(e: LogEngine, name: string, offset: number): Promise<Array<{ offset: number; value: string }>> {
  const out: Array<{ offset: number; value: string }> = [];
  for (;;) {
    const r = await e.fetch(name, 0, { offset, maxRecords: 10_000, maxBytes: 64 << 20 });
    const recs = r.records();
    for (const rec of recs) out.push({ offset: rec.offset, value: dec(rec.value) });
    if (recs.length === 0 || r.nextOffset >= r.highWatermark) return out;
    offset = r.nextOffset;
  }
}

async function fetchError(e: LogEngine, name: string, offset: number): Promise<SamsaError> {
  const err = await e.fetch(name, 0, { offset }).then(() => undefined, (x: unknown) => x);
  expect(err).toBeInstanceOf(SamsaError);
  return err as SamsaError;
}

/** The log start is observable everywhere: head, describe, ListOffsets, fetch below it. */
async function expectLogStart(e: LogEngine, name: string, start: number): Promise<void> {
  expect((await e.describeTopic(name)).partitions[0]!.log_start_offset).toBe(start);
  expect((await e.listOffsets(name, 0, 'earliest')).offset).toBe(start);
  if (start > 0) {
    const err = await fetchError(e, name, start - 1);
    expect(err.code).toBe('OFFSET_OUT_OF_RANGE');
    expect(err.details['log_start_offset']).toBe(start);
  }
}

async function expectIntactFrom(e: LogEngine, name: string, start: number, hw: number): Promise<void> {
  const recs = await readFrom(e, name, start);
  expect(recs.map((r) => r.offset)).toEqual(Array.from({ length: hw - start }, (_, i) => start + i));
  expect(recs.map((r) => r.value)).toEqual(recs.map((r) => value(r.offset)));
}

/** Summed sizes of the segments in the catalog (what retention.bytes bounds), and the head's running summary. */
async function bytesKept(e: LogEngine, name: string): Promise<{ total: number; summary: number; closed: number }> {
  const segs = await catalog(e, name);
  const t = await e.topics.get(name);
  const head = await meta.get(headKey(t.id, 0));
  return {
    total: segs.reduce((a, s) => a + s.size, 0),
    closed: segs.filter((s) => s.closed).reduce((a, s) => a + s.size, 0),
    summary: (head?.['ret_bytes'] as number | undefined) ?? 0,
  };
}

describe('retention.ms', () => {
  it('deletes the closed segments whose largest timestamp is past retention.ms, oldest first, and nothing newer', async () => {
    const e = engine();
    await e.createTopic('t', 1, { 'retention.ms': 60_000, 'segment.bytes': SEG });
    await produce(e, 't', 0, 20);
    await flush(e, 't');
    clock.advance(120_000);
    await produce(e, 't', 20, 12);
    await flush(e, 't');

    const before = await catalog(e, 't');
    const objectsBefore = await logObjects('t');
    const expired = [];
    for (const s of before) {
      if (!s.closed || clock.now() - s.maxTs <= 60_000) break;
      expired.push(s);
    }
    expect(expired.length).toBeGreaterThan(2);
    expect(expired.length).toBeLessThan(before.length);
    const start = expired[expired.length - 1]!.last + 1;
    expect(start).toBeLessThanOrEqual(20); // a segment holding new records is kept whole

    const stats = await e.retention.runOnce();
    expect(stats).toMatchObject({ deletedSegments: expired.length, failedPartitions: 0 });
    await expectLogStart(e, 't', start);
    await expectIntactFrom(e, 't', start, 32);
    expect((await catalog(e, 't')).map((s) => s.base)).toEqual(before.slice(expired.length).map((s) => s.base));
    const after = await logObjects('t');
    expect(after.length).toBe(objectsBefore.length - 3 * expired.length);
    const t = await e.topics.get('t');
    for (const s of expired) expect(after).not.toContain(segmentObject(t, 0, s.base, 'log'));
    // Their extents went too.
    expect((await meta.query({ pk: partitionPk(t.id, 0), gte: EXTENT_PREFIX, lt: extentSk(start) })).items).toEqual([]);
    // Nothing more to do: a second pass deletes nothing.
    expect((await e.retention.runOnce()).deletedSegments).toBe(0);
  });

  it('never deletes the active segment, but segment.ms seals an idle one so that it expires', async () => {
    const e = engine();
    await e.createTopic('idle', 1, { 'retention.ms': 60_000, 'segment.ms': 600_000 });
    await produce(e, 'idle', 0, 5);
    await flush(e, 'idle');
    expect(await catalog(e, 'idle')).toMatchObject([{ closed: false }]);
    clock.advance(120_000); // the records are past retention, but their segment is the active one
    expect(await e.retention.runOnce()).toMatchObject({ deletedSegments: 0, sealedSegments: 0 });
    await expectLogStart(e, 'idle', 0);

    clock.advance(600_000); // past segment.ms: sealed, then expired in the same pass
    expect(await e.retention.runOnce()).toMatchObject({ sealedSegments: 1, deletedSegments: 1 });
    await expectLogStart(e, 'idle', 5);
    expect(await catalog(e, 'idle')).toEqual([]);
    expect(await logObjects('idle')).toEqual([]);
    const r = await e.fetch('idle', 0, { offset: 5 });
    expect(r.records()).toEqual([]);
    expect(r.highWatermark).toBe(5);

    // The log goes on at the high watermark, in a new segment.
    await produce(e, 'idle', 5, 3);
    await flush(e, 'idle');
    expect((await catalog(e, 'idle')).map((s) => s.base)).toEqual([5]);
    await expectIntactFrom(e, 'idle', 5, 8);
  });

  it('-1 keeps everything, however old', async () => {
    const e = engine();
    await e.createTopic('forever', 1, { 'retention.ms': -1, 'retention.bytes': -1, 'segment.bytes': SEG, 'segment.ms': 1000 });
    await produce(e, 'forever', 0, 20);
    await flush(e, 'forever');
    const segs = (await catalog(e, 'forever')).length;
    clock.advance(10 * 365 * 86_400_000);
    const stats = await e.retention.runOnce();
    expect(stats.deletedSegments).toBe(0);
    await expectLogStart(e, 'forever', 0);
    await expectIntactFrom(e, 'forever', 0, 20);
    expect(await logObjects('forever')).toHaveLength(3 * segs);
  });
});

describe('retention.bytes', () => {
  it.each([false, true])('keeps between retention.bytes minus a segment and plus one, as the log grows, with an exact running summary (head-only commits: %s)', async (headOnly) => {
    const RET = 4096;
    const e = engine(meta, objects, {}, headOnly);
    await e.createTopic('sized', 1, { 'retention.bytes': RET, 'segment.bytes': SEG });
    let n = 0;
    for (let round = 0; round < 6; round++) {
      await produce(e, 'sized', n, 9 + round);
      n += 9 + round;
      await flush(e, 'sized');
      await e.retention.runOnce();
      const kept = await bytesKept(e, 'sized');
      const segs = await catalog(e, 'sized');
      if (round > 0) {
        expect(kept.total).toBeGreaterThanOrEqual(RET - SEG);
        expect(kept.total).toBeLessThanOrEqual(RET + SEG);
      }
      // The head's summary is exactly the closed segments' bytes (when a pass wrote it).
      const t = await e.topics.get('sized');
      const head = await meta.get(headKey(t.id, 0));
      if (head?.['ret_upto'] !== undefined) {
        const counted = segs.filter((s) => s.base < (head['ret_upto'] as number));
        expect(kept.summary).toBe(counted.reduce((a, s) => a + s.size, 0));
        expect(head['ret_segs']).toBe(counted.length);
      }
      const start = (await e.describeTopic('sized')).partitions[0]!.log_start_offset;
      expect(start).toBe(segs[0]!.base);
      await expectIntactFrom(e, 'sized', start, n);
    }
    expect((await e.describeTopic('sized')).partitions[0]!.log_start_offset).toBeGreaterThan(0);
  });
});

describe('the log start moves before anything is deleted', () => {
  async function expiredTopic(e: LogEngine): Promise<{ doomed: Segment[]; start: number }> {
    await e.createTopic('c', 1, { 'retention.ms': 600_000, 'segment.bytes': SEG });
    await produce(e, 'c', 0, 16);
    await flush(e, 'c');
    clock.advance(1_200_000);
    await produce(e, 'c', 16, 8);
    await flush(e, 'c');
    const doomed = (await catalog(e, 'c')).filter((s) => s.closed && s.last < 16 && clock.now() - s.maxTs > 600_000);
    expect(doomed.length).toBeGreaterThan(1);
    return { doomed, start: doomed[doomed.length - 1]!.last + 1 };
  }

  it('a crash right after the log-start write: fetch below it is OFFSET_OUT_OF_RANGE meanwhile, the next pass finishes', async () => {
    const fm = faultyMetaStore(meta);
    const fo = faultyObjectStore(objects);
    const dying = engine(fm, fo);
    const { doomed, start } = await expiredTopic(dying);
    // The log-start write lands, then the process "dies": every later call fails.
    let crashed = false;
    fm.faults.add({
      when: (c) => crashed || (c.method === 'write' && c.args[0].type === 'update' && 'log_start' in (c.args[0].set ?? {})),
      times: Infinity,
      action: { kind: 'failAfter', error: crash() },
    });
    fo.faults.add({ method: 'delete', times: Infinity, action: { kind: 'fail', error: crash() } });
    const stats = await dying.retention.runOnce().catch(() => undefined);
    crashed = true;
    expect(stats?.failedPartitions ?? 1).toBe(1);
    fm.faults.clear();

    // Nothing deleted yet, but the start has moved: readers are fenced off the doomed range.
    const survivor = engine(fm);
    expect((await catalog(survivor, 'c')).slice(0, doomed.length).map((s) => s.base)).toEqual(doomed.map((s) => s.base));
    await expectLogStart(survivor, 'c', start);
    for (const off of [0, start - 1]) {
      const err = await fetchError(survivor, 'c', off);
      expect(err.code).toBe('OFFSET_OUT_OF_RANGE');
      expect(err.status).toBe(416);
    }
    await expectIntactFrom(survivor, 'c', start, 24);

    // The next pass (another process: the lease is taken over once it has run out) finishes.
    clock.advance(31_000);
    await survivor.retention.runOnce(); // watches the dead owner's lease
    clock.advance(31_000);
    const done = await survivor.retention.runOnce();
    expect(done.deletedSegments).toBe(doomed.length);
    expect((await catalog(survivor, 'c'))[0]!.base).toBe(start);
    const c = await survivor.topics.get('c');
    for (const s of doomed) for (const ext of ['log', 'index', 'timeindex'] as const) expect(await objects.head(segmentObject(c, 0, s.base, ext))).toBeUndefined();
    await expectLogStart(survivor, 'c', start);
    await expectIntactFrom(survivor, 'c', start, 24);
  });

  it('a crash after the objects went but before the catalog entries: the next pass removes them', async () => {
    const fm = faultyMetaStore(meta);
    const e = engine(fm);
    const { doomed, start } = await expiredTopic(e);
    const t = await e.topics.get('c');
    fm.faults.add({
      when: (c) => c.method === 'transact' && c.args[0].some((op) => op.type === 'delete' && op.key.sk.startsWith(SEGMENT_PREFIX)),
      times: Infinity,
      action: { kind: 'fail', error: crash() },
    });
    expect((await e.retention.runOnce()).failedPartitions).toBe(1);
    fm.faults.clear();
    for (const s of doomed) expect(await objects.head(segmentObject(t, 0, s.base, 'log'))).toBeUndefined();
    expect((await catalog(e, 'c'))[0]!.base).toBe(doomed[0]!.base); // entries left below the start
    await expectLogStart(e, 'c', start);
    const done = await e.retention.runOnce();
    expect(done.deletedSegments).toBe(doomed.length);
    expect(done.deletedBytes).toBe(0); // already subtracted when the start moved
    expect((await catalog(e, 'c'))[0]!.base).toBe(start);
    const head = await meta.get(headKey(t.id, 0));
    expect(head?.['ret_bytes']).toBe((await catalog(e, 'c')).filter((s) => s.closed).reduce((a, s) => a + s.size, 0));
  });

  it('a fetch racing the deletion gets the data or OFFSET_OUT_OF_RANGE with the new start, never another error', async () => {
    const fo = faultyObjectStore(objects);
    const e = engine(meta, fo);
    const { start } = await expiredTopic(e);
    // A fetch at offset 0 reads the head and extents, then stalls on its object read...
    const gate = new Gate();
    const first = segmentObject(await e.topics.get('c'), 0, 0, 'log');
    fo.faults.add({ method: 'get', when: (c) => c.method === 'get' && c.args[0] === first, action: { kind: 'hang', gate } });
    const racing = e.fetch('c', 0, { offset: 0, maxRecords: 3 }).then(
      (r) => ({ ok: r.records().map((x) => x.offset) }),
      (err: unknown) => ({ err }),
    );
    await gate.reached;
    // ...while retention deletes the segment under it.
    expect((await e.retention.runOnce()).deletedSegments).toBeGreaterThan(0);
    gate.release();
    const out = await racing;
    expect('err' in out).toBe(true);
    const err = (out as { err: SamsaError }).err;
    expect(err).toBeInstanceOf(SamsaError);
    expect(err.code).toBe('OFFSET_OUT_OF_RANGE');
    expect(err.details['log_start_offset']).toBe(start);

    // Many fetches across the boundary while another round of retention runs.
    await produce(e, 'c', 24, 16);
    await flush(e, 'c');
    clock.advance(1_200_000);
    await produce(e, 'c', 40, 4);
    await flush(e, 'c');
    const results: Array<'data' | 'oor'> = [];
    let done = false;
    const readers = Array.from({ length: 4 }, async (_, k) => {
      while (!done) {
        const off = start + ((results.length * 7 + k) % (40 - start));
        try {
          const recs = (await e.fetch('c', 0, { offset: off, maxRecords: 5 })).records();
          expect(recs[0]!.offset).toBe(off);
          expect(dec(recs[0]!.value)).toBe(value(off));
          results.push('data');
        } catch (x) {
          expect(x).toBeInstanceOf(SamsaError);
          expect((x as SamsaError).code).toBe('OFFSET_OUT_OF_RANGE');
          results.push('oor');
        }
        await new Promise((r) => setImmediate(r));
      }
    });
    await e.retention.runOnce();
    await new Promise((r) => setTimeout(r, 20));
    done = true;
    await Promise.all(readers);
    expect(results).toContain('oor');
  });
});

describe('cost follows the work, not the history', () => {
  async function setup(segments: number, name: string, e: LogEngine): Promise<void> {
    await e.createTopic(name, 1, { 'retention.ms': 60_000, 'retention.bytes': 1 << 30, 'segment.bytes': SEG });
    await produce(e, name, 0, segments * 4);
    await flush(e, name);
  }

  it('a pass costs the same whether a partition had 3 or 60 segments deleted, or keeps 3 or 60', async () => {
    const cm = countingMetaStore(meta);
    const co = countingObjectStore(objects);
    const e = engine(cm, co);
    await setup(60, 'long', e);
    await setup(3, 'short', e);
    const long = await e.topics.get('long');
    const short = await e.topics.get('short');
    // First passes: everything is counted once into the summary.
    await e.retention.applyRetention(long, 0);
    await e.retention.applyRetention(short, 0);

    const cost = async (t: typeof long): Promise<{ meta: number; objects: number }> => {
      cm.counts.reset();
      co.counts.reset();
      await e.retention.applyRetention(t, 0);
      const m = cm.counts.snapshot().calls;
      const o = co.counts.snapshot().calls;
      return { meta: Object.values(m).reduce((a, b) => a + b, 0), objects: Object.values(o).reduce((a, b) => a + b, 0) };
    };
    // Nothing expired, retention.bytes on: a pass reads the same whatever the partition keeps.
    const idleLong = await cost(long);
    const idleShort = await cost(short);
    expect(idleLong).toEqual(idleShort);
    expect(idleLong.objects).toBe(0);
    expect(idleLong.meta).toBeLessThanOrEqual(4);

    // Everything but the active segment expires: 59 vs 2 segments deleted.
    clock.advance(120_000);
    await e.retention.applyRetention(long, 0);
    await e.retention.applyRetention(short, 0);
    // One more expired segment each: the same cost, though `long` had 20× the history.
    for (const t of [long, short]) {
      await produce(e, t.name, t === long ? 240 : 12, 6);
      await flush(e, t.name);
    }
    clock.advance(120_000);
    await produce(e, 'long', 246, 1);
    await produce(e, 'short', 18, 1);
    await flush(e, 'long');
    await flush(e, 'short');
    const delLong = await cost(long);
    const delShort = await cost(short);
    expect(delLong).toEqual(delShort);
    expect(delLong.objects).toBe(1); // one batched delete
  });
});

describe('passes in bounded, resumable chunks', () => {
  it('visits at most partitionsPerRun partitions per pass and resumes from the stored cursor', async () => {
    const e = engine(meta, objects, { partitionsPerRun: 3 });
    await e.createTopic('a', 2, { 'retention.ms': 60_000, 'segment.ms': 1 });
    await e.createTopic('b', 3, { 'retention.ms': 60_000, 'segment.ms': 1 });
    for (const [name, parts] of [['a', 2], ['b', 3]] as const) {
      for (let p = 0; p < parts; p++) {
        await produce(e, name, 0, 2, p);
        await flush(e, name, p);
      }
    }
    clock.advance(120_000);
    const first = await e.retention.runOnce();
    expect(first).toMatchObject({ partitions: 3, deletedSegments: 3, complete: false });
    const second = await e.retention.runOnce();
    expect(second).toMatchObject({ partitions: 3, deletedSegments: 2, complete: false });
    for (const [name, parts] of [['a', 2], ['b', 3]] as const) {
      for (let p = 0; p < parts; p++) expect((await e.describeTopic(name)).partitions[p]!.log_start_offset).toBe(2);
    }
    // Wrapped round: the next pass starts again from the first partition.
    expect(await e.retention.runOnce()).toMatchObject({ partitions: 3, deletedSegments: 0 });
  });
});

describe('topic deletion', () => {
  it('frees the name at once, and removes the incarnation’s objects and metadata after the grace period', async () => {
    const e = engine(meta, objects);
    await e.createTopic('gone', 2, { 'segment.bytes': SEG });
    await produce(e, 'gone', 0, 12, 0);
    await e.produce('gone', [{ value: enc('x'.repeat(5000)), partition: 1 }]); // a write-ahead object
    await flush(e, 'gone', 0);
    const t = await e.topics.get('gone');
    expect((await objects.list('topics/gone/')).objects.length).toBeGreaterThan(0);
    expect((await objects.list(`wal/${t.id}/`)).objects.length).toBe(1);

    await e.deleteTopic('gone');
    await expect(e.fetch('gone', 0, { offset: 0 })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' });
    // The topic item is gone; a marker keyed by the incarnation's id is queued.
    expect(await meta.get(topicKey('gone'))).toBeUndefined();
    expect((await meta.query({ pk: TOPIC_DELETIONS_PK })).items.map((m) => [m.sk, m['name']])).toEqual([[t.id, 'gone']]);
    expect((await e.retention.runOnce()).deletedTopics).toBe(0); // within the grace period
    expect((await objects.list(topicDir(t))).objects).not.toEqual([]);
    const again = await e.createTopic('gone', 1);
    expect(again.id).not.toBe(t.id);
    expect((await e.describeTopic('gone')).partitions[0]).toMatchObject({ log_start_offset: 0, high_watermark: 0 });

    clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);
    expect((await e.retention.runOnce()).deletedTopics).toBe(1);
    expect((await objects.list('topics/gone/')).objects).toEqual([]);
    expect((await objects.list(`wal/${t.id}/`)).objects).toEqual([]);
    // Each partition keeps only a bare tombstone head (lib/log/tombstones.ts)...
    for (const p of [0, 1]) {
      expect((await meta.query({ pk: partitionPk(t.id, p) })).items).toEqual([{ pk: partitionPk(t.id, p), sk: 'head', deleted: true }]);
    }
    expect((await meta.query({ pk: TOPIC_DELETIONS_PK })).items).toEqual([]);
    // ...and the queue keeps the DELETE's token (a repeat of its marking by the SDK is its own)...
    expect((await meta.query({ pk: TOPIC_DELETIONS_DONE_PK })).items.map((d) => d.sk)).toEqual([t.id]);
    expect((await e.topics.get('gone')).id).toBe(again.id);

    // ...until its time is up: a pass 7 days on removes the tombstones, the token and the queue entry.
    clock.advance(TOMBSTONE_TTL_MS - 1000);
    await e.retention.runOnce();
    expect((await meta.query({ pk: partitionPk(t.id, 0) })).items).toHaveLength(1);
    clock.advance(2000);
    await e.retention.runOnce();
    for (const p of [0, 1]) expect((await meta.query({ pk: partitionPk(t.id, p) })).items).toEqual([]);
    expect((await meta.query({ pk: TOMBSTONES_PK })).items).toEqual([]);
    expect((await meta.query({ pk: TOPIC_DELETIONS_DONE_PK })).items).toEqual([]);
  });
});

describe('topic deletion paused mid-way', () => {
  // A retention pass paused after the deleted topic's metadata went, before its objects (a
  // frozen Lambda), while another pass finishes the deletion and the name is re-created and
  // flushed: the paused pass must not delete the new topic's segments, which sit under the
  // same name. It used to: the check that the objects were its incarnation's ran before the pause.
  it('a paused pass wakes to a re-created topic and deletes none of its objects', async () => {
    const fo = faultyObjectStore(objects);
    const paused = engine(meta, fo);
    const e = engine();
    await e.createTopic('rc', 1, { 'segment.bytes': SEG });
    await produce(e, 'rc', 0, 8);
    await flush(e, 'rc');
    await e.deleteTopic('rc');
    clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);

    const gate = new Gate();
    fo.faults.add({ method: 'list', when: (c) => c.method === 'list' && c.args[0].startsWith('topics/rc/'), action: { kind: 'hang', gate } });
    const pass = paused.retention.runOnce();
    await gate.reached;
    expect((await e.retention.runOnce()).deletedTopics).toBe(1);
    await e.createTopic('rc', 1, { 'segment.bytes': SEG });
    await produce(e, 'rc', 100, 8);
    await flush(e, 'rc');
    const before = (await objects.list('topics/rc/')).objects.map((o) => o.key).sort();
    expect(before.length).toBeGreaterThan(0);

    gate.release();
    await pass;
    expect((await objects.list('topics/rc/')).objects.map((o) => o.key).sort()).toEqual(before);
    const got = (await e.fetch('rc', 0, { offset: 0, maxRecords: 100 })).records().map((r) => dec(r.value));
    expect(got).toEqual(Array.from({ length: 8 }, (_, i) => value(100 + i)));
    await paused.close();
  });
});

describe('topic deletion by a pass that read its marker long ago', () => {
  // A pass reads the deletion queue, then pauses before it reads the topic item. Meanwhile
  // another pass finishes that deletion; the name is re-created and deleted again. The paused
  // pass wakes, finds no topic item of its incarnation, finishes "its" deletion — and used to
  // remove the queue marker, which by then was the new incarnation's: that deletion never
  // finished, and the name stayed "marked for deletion" for good (the history checker's AWS run
  // hung there, re-creating `churn` forever).
  it('a deletion racing an alter that adds partitions tombstones and removes every partition', async () => {
    const fm = faultyMetaStore(meta);
    const e = engine(fm);
    const other = engine();
    await e.createTopic('gr', 1, { 'segment.bytes': SEG });
    // The deletion has read the topic (one partition) and is about to mark it...
    const gate = new Gate();
    fm.faults.add({ method: 'transact', when: (c) => c.method === 'transact' && c.args[0].some((op) => op.type === 'put' && op.item.pk === TOPIC_DELETIONS_PK), action: { kind: 'hang', gate } });
    const deleting = e.deleteTopic('gr');
    await gate.reached;
    // ...when another admin adds two partitions, and a producer writes to one of them.
    await other.topics.alter('gr', { partitions: 3 });
    await other.produce('gr', [{ value: enc('early'), partition: 2 }]);
    gate.release();
    await deleting;
    const t = await other.topics.get('gr', { maxAgeMs: Number.MAX_SAFE_INTEGER }); // the cached incarnation
    expect((await meta.query({ pk: TOPIC_DELETIONS_PK })).items.map((m) => m['partitions'])).toEqual([3]);
    // The deletion covers the new partitions: a late write there is refused, not acknowledged.
    await expect(other.produce('gr', [{ value: enc('late'), partition: 2 }])).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' });
    clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);
    expect((await e.retention.runOnce()).deletedTopics).toBe(1);
    for (const p of [0, 1, 2]) {
      expect((await meta.query({ pk: partitionPk(t.id, p) })).items).toEqual([{ pk: partitionPk(t.id, p), sk: 'head', deleted: true }]);
    }
  });

  // Markers by name are what builds before markers by id write (beside a topic item kept
  // "deleting"); this build still finishes them, so the race is kept here with such markers.
  it("does not remove a later incarnation's marker (by name, an older build's); that deletion still completes", async () => {
    const fm = faultyMetaStore(meta);
    const paused = engine(fm, objects);
    const e = engine();
    await e.createTopic('mk', 1, { 'segment.bytes': SEG });
    await produce(e, 'mk', 0, 4);
    await deleteAsOlderBuild(e, 'mk');
    await expect(e.createTopic('mk', 1)).rejects.toThrow(/marked for deletion/);
    clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);

    const readTopic = new Gate();
    const finish = new Gate();
    fm.faults.add({ method: 'get', when: (c) => c.method === 'get' && c.args[0].pk === topicKey('mk').pk && c.args[0].sk === 'mk', action: { kind: 'hang', gate: readTopic } });
    fm.faults.add({ method: 'transact', when: (c) => c.method === 'transact' && c.args[0].some((op) => op.type === 'delete' && op.key.pk === 'deletions'), action: { kind: 'hang', gate: finish } });
    const pass = paused.retention.runOnce();
    await readTopic.reached;
    expect((await e.retention.runOnce()).deletedTopics).toBe(1); // the other pass finishes it
    readTopic.release();
    await finish.reached; // the paused pass, about to end the deletion it thinks is pending
    await e.createTopic('mk', 1, { 'segment.bytes': SEG });
    await deleteAsOlderBuild(e, 'mk');
    finish.release();
    await pass;

    clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);
    expect((await e.retention.runOnce()).deletedTopics).toBe(1);
    const again = await e.createTopic('mk', 1);
    expect((await e.describeTopic('mk')).topic.id).toBe(again.id);
    await paused.close();
  });
});

describe('orphan sweeper', () => {
  it('its grace outlasts any commit or flush that could still reference an object', () => {
    expect(MIN_ORPHAN_GRACE_MS).toBeGreaterThan(COMMIT_MAX_WAL_AGE_MS + SIGV4_VALIDITY_MS);
    expect(DEFAULT_RETENTION_OPTIONS.orphanGraceMs).toBeGreaterThanOrEqual(MIN_ORPHAN_GRACE_MS);
    expect(() => engine(meta, objects, { orphanGraceMs: COMMIT_MAX_WAL_AGE_MS })).toThrow(/orphanGraceMs/);
  });

  // With head-only commits (AWS mode) the unflushed write-ahead object is referenced from the
  // head's tails, not from a commit page.
  it.each([false, true])('sweeps unreferenced objects past the grace period, and nothing referenced or younger (head-only commits: %s)', async (headOnly) => {
    const e = engine(meta, objects, {}, headOnly);
    await e.createTopic('s', 1, { 'segment.bytes': SEG });
    await produce(e, 's', 0, 12);
    await flush(e, 's');
    await e.produce('s', [{ value: enc('w'.repeat(5000)), partition: 0 }]); // unflushed: a referenced write-ahead object
    const t = await e.topics.get('s');
    const referencedWal = (await objects.list(`wal/${t.id}/`)).objects.map((o) => o.key);
    expect(referencedWal).toHaveLength(1);
    const segs = await catalog(e, 's');
    const { flushed } = { flushed: segs[segs.length - 1]!.last + 1 };
    // Crash leftovers: a write-ahead object no extent references (a commit that lost its
    // process), a new-segment object no catalog entry describes below the flushed offset
    // (a flush step that crashed before its commit, since superseded), objects of a topic
    // that no longer exists, and a key that is not Samsa's.
    const strayWal = walObject(t.id, 0, 'stray');
    const straySeg = segmentObject(t, 0, 1, 'log');
    const pendingSeg = segmentObject(t, 0, flushed + 100, 'log'); // at/above flushed: a flush may adopt it
    const deadTopic = segmentObject({ name: 'no-such-topic', id: newTopicId(Date.now()) }, 0, 0, 'log');
    const foreign = `${partitionPrefix(t, 0)}README`;
    for (const k of [strayWal, straySeg, pendingSeg, deadTopic, foreign]) await objects.put(k, enc('junk'));
    const all = async () => [...(await objects.list('wal/')).objects, ...(await objects.list('topics/')).objects].map((o) => o.key).sort();
    const before = await all();

    clock.advance(DEFAULT_RETENTION_OPTIONS.orphanGraceMs - 60_000); // younger than the grace
    expect((await e.retention.runOnce()).sweptObjects).toBe(0);
    expect(await all()).toEqual(before);

    clock.advance(120_000); // past it
    const stats = await e.retention.runOnce();
    expect(stats.sweptObjects).toBe(3);
    const after = await all();
    expect(after).toEqual(before.filter((k) => ![strayWal, straySeg, deadTopic].includes(k)));
    expect(after).toEqual(expect.arrayContaining([...referencedWal, pendingSeg, foreign]));
    for (const s of segs) for (const ext of ['log', 'index', 'timeindex'] as const) expect(after).toContain(segmentObject(t, 0, s.base, ext));
    expect((await readFrom(e, 's', 0)).map((r) => r.offset)).toEqual(Array.from({ length: 13 }, (_, i) => i));
  });
});

// Design note 0012: each topic incarnation has a directory of its own, `topics/<name>/<id>/`. Before
// it every incarnation of a name shared `topics/<name>/`, and a retention pass or a sweep paused
// across the topic's deletion and re-creation woke and deleted the new topic's objects at the
// same keys (same records, same segment bases): its committed records read ObjectNotFound.
describe('objects by topic incarnation (design note 0012)', () => {
  /** A topic as a version before design note 0012 created it: a v4 id (its partitions hold nothing yet). */
  async function legacyTopic(e: LogEngine, name: string, partitions: number, config: Record<string, unknown> = {}): Promise<void> {
    await e.createTopic(name, partitions, config);
    const item = (await meta.get(topicKey(name)))!;
    await meta.write({ type: 'put', item: { ...item, id: crypto.randomUUID() } });
    e.topics.invalidate(name);
  }
  const keysUnder = async (prefix: string): Promise<string[]> => (await objects.list(prefix)).objects.map((o) => o.key).sort();

  it('a retention pass paused before its object deletes, across its topic’s deletion and re-creation, deletes none of the new topic’s objects', async () => {
    const fo = faultyObjectStore(objects);
    const paused = engine(meta, fo); // writes the topic and holds its lease, then runs the pass
    const e = engine();
    await paused.createTopic('c', 1, { 'retention.ms': 600_000, 'segment.bytes': SEG });
    await produce(paused, 'c', 0, 16);
    await flush(paused, 'c');
    clock.advance(1_200_000);
    await produce(paused, 'c', 16, 8);
    await flush(paused, 'c');
    const doomed = (await catalog(paused, 'c')).filter((s) => s.closed && s.last < 16);
    expect(doomed.length).toBeGreaterThan(1);
    const old = await paused.topics.get('c');
    const gate = new Gate();
    fo.faults.add({ method: 'delete', action: { kind: 'hang', gate } });
    const pass = paused.retention.runOnce();
    await gate.reached; // its extents are gone, its object deletes not yet made

    await e.deleteTopic('c');
    clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);
    expect((await e.retention.runOnce()).deletedTopics).toBe(1);
    await e.createTopic('c', 1, { 'segment.bytes': SEG });
    await produce(e, 'c', 0, 24); // the same records: the same segment bases as the doomed ones
    await flush(e, 'c');
    const t = await e.topics.get('c');
    expect((await catalog(e, 'c')).map((s) => s.base)).toEqual(expect.arrayContaining(doomed.map((s) => s.base)));
    expect(topicDir(t)).not.toBe(topicDir(old));
    const live = await keysUnder(topicDir(t));

    gate.release();
    await pass;
    expect(await keysUnder(topicDir(t))).toEqual(live);
    await expectIntactFrom(e, 'c', 0, 24);
  });

  it('a sweep paused before its deletes, across its topic’s deletion and re-creation, deletes none of the new topic’s objects', async () => {
    const fo = faultyObjectStore(objects);
    const paused = engine(meta, fo);
    const e = engine();
    await e.createTopic('s', 1, { 'segment.bytes': SEG });
    await e.produce('s', [0, 1, 2, 3].map((i) => ({ value: enc(value(i)), partition: 0 }))); // one batch: segment 0 holds 0-3
    await flush(e, 's');
    // A crash leftover below the flushed offset that the catalog does not know: an orphan.
    const stray = segmentObject(await e.topics.get('s'), 0, 1, 'log');
    await objects.put(stray, enc('junk'));
    clock.advance(DEFAULT_RETENTION_OPTIONS.orphanGraceMs + 60_000);
    const gate = new Gate();
    fo.faults.add({ method: 'delete', action: { kind: 'hang', gate } });
    const pass = paused.retention.runOnce();
    await gate.reached; // the sweep listed the stray and is about to delete it

    await e.deleteTopic('s');
    clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);
    expect((await e.retention.runOnce()).deletedTopics).toBe(1);
    await e.createTopic('s', 1, { 'segment.bytes': SEG });
    // A first batch larger than a segment: the next one starts segment 1, where the stray was.
    await e.produce('s', [{ value: enc('x'.repeat(2 * SEG)), partition: 0 }]);
    await e.produce('s', [{ value: enc(value(1)), partition: 0 }]);
    await flush(e, 's');
    expect((await catalog(e, 's')).map((s) => s.base)).toEqual([0, 1]);

    gate.release();
    await pass;
    const got = await readFrom(e, 's', 0);
    expect(got.map((r) => r.offset)).toEqual([0, 1]);
    expect(got[1]!.value).toBe(value(1));
    expect(await objects.head(stray)).toBeUndefined();
  });

  it('a topic created before it keeps the name’s directory; its deletion removes only that, and the name re-created gets its own', async () => {
    const fo = faultyObjectStore(objects);
    const paused = engine(meta, fo);
    const e = engine();
    await legacyTopic(e, 'lg', 2, { 'segment.bytes': SEG });
    await produce(e, 'lg', 0, 12, 0);
    await produce(e, 'lg', 0, 6, 1);
    await flush(e, 'lg', 0);
    await flush(e, 'lg', 1);
    const old = await e.topics.get('lg');
    expect(ownsDirectory(old.id)).toBe(false);
    expect(topicDir(old)).toBe('topics/lg/');
    const legacyKeys = await keysUnder('topics/lg/');
    expect(legacyKeys.length).toBeGreaterThan(6);
    for (const k of legacyKeys) expect(k).toMatch(/^topics\/lg\/[01]\/\d{20}\.(log|index|timeindex)$/);
    await expectIntactFrom(e, 'lg', 0, 12);

    // Its deletion, paused on its first listing, while another pass finishes it and the name
    // is created again: the new topic's objects, under the name too, stay.
    await e.deleteTopic('lg');
    clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);
    const gate = new Gate();
    fo.faults.add({ method: 'list', when: (c) => c.method === 'list' && c.args[0].startsWith('topics/lg/'), action: { kind: 'hang', gate } });
    const pass = paused.retention.runOnce();
    await gate.reached;
    expect((await e.retention.runOnce()).deletedTopics).toBe(1);
    expect(await keysUnder('topics/lg/')).toEqual([]);
    await e.createTopic('lg', 1, { 'segment.bytes': SEG });
    const t = await e.topics.get('lg');
    expect(ownsDirectory(t.id)).toBe(true);
    expect(topicDir(t)).toBe(`topics/lg/${t.id}/`);
    await produce(e, 'lg', 100, 12);
    await flush(e, 'lg');
    const live = await keysUnder('topics/lg/');
    expect(live.length).toBeGreaterThan(6);
    for (const k of live) expect(k.startsWith(topicDir(t))).toBe(true);
    gate.release();
    await pass;
    expect(await keysUnder('topics/lg/')).toEqual(live);

    // A leftover in the name's shared directory, at a base the new topic does not catalogue:
    // swept after the grace.
    expect((await catalog(e, 'lg')).map((s) => s.base)).not.toContain(1);
    const leftover = segmentObject(old, 0, 1, 'log');
    await objects.put(leftover, enc('junk'));
    clock.advance(DEFAULT_RETENTION_OPTIONS.orphanGraceMs + 60_000);
    expect((await e.retention.runOnce()).sweptObjects).toBe(1);
    expect(await keysUnder('topics/lg/')).toEqual(live);
    expect((await readFrom(e, 'lg', 0)).map((r) => r.value)).toEqual(Array.from({ length: 12 }, (_, i) => value(100 + i)));
  });

  // The name is free from the deletion on, so a legacy topic's deletion now runs while a new
  // incarnation may already hold the name: it must delete the shared directory and nothing else.
  it('a topic created before it, deleted and created again at once: its deletion removes the shared directory and none of the new topic’s objects', async () => {
    const e = engine();
    await legacyTopic(e, 'lr', 1, { 'segment.bytes': SEG });
    await produce(e, 'lr', 0, 12);
    await flush(e, 'lr');
    const old = await e.topics.get('lr');
    expect((await keysUnder('topics/lr/0/')).length).toBeGreaterThan(6);
    await e.deleteTopic('lr');
    await e.createTopic('lr', 1, { 'segment.bytes': SEG });
    await produce(e, 'lr', 0, 12); // the same records: the same segment bases, in its own directory
    await flush(e, 'lr');
    const t = await e.topics.get('lr');
    const live = await keysUnder(topicDir(t));
    expect(live.length).toBeGreaterThan(6);
    clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);
    expect((await e.retention.runOnce()).deletedTopics).toBe(1);
    expect(await keysUnder(topicDir(old))).toEqual(live); // `topics/lr/`: only the new directory is left
    await expectIntactFrom(e, 'lr', 0, 12);
  });

  // A build before 0012, still running during a deploy, creates topics with v4 ids in the
  // name's shared directory. If one re-creates a legacy topic's name before that topic's
  // deletion ran, the shared directory holds the new topic's segments: the deletion leaves it
  // (to the sweeper, which keeps what the new topic catalogues) rather than delete them.
  it('a topic created before it whose name an older build re-created in the shared directory: the deletion leaves that directory, and the new topic reads whole', async () => {
    const e = engine();
    await legacyTopic(e, 'lv', 1, { 'segment.bytes': SEG });
    await produce(e, 'lv', 0, 12);
    await flush(e, 'lv');
    await e.deleteTopic('lv');
    await legacyTopic(e, 'lv', 1, { 'segment.bytes': SEG });
    await produce(e, 'lv', 100, 12);
    await flush(e, 'lv');
    const shared = await keysUnder('topics/lv/0/');
    clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);
    expect((await e.retention.runOnce()).deletedTopics).toBe(1);
    expect(await keysUnder('topics/lv/0/')).toEqual(shared);
    expect((await readFrom(e, 'lv', 0)).map((r) => r.value)).toEqual(Array.from({ length: 12 }, (_, i) => value(100 + i)));
    clock.advance(DEFAULT_RETENTION_OPTIONS.orphanGraceMs + 60_000);
    await e.retention.runOnce();
    expect((await readFrom(e, 'lv', 0)).map((r) => r.value)).toEqual(Array.from({ length: 12 }, (_, i) => value(100 + i)));
  });

  it('a topic item rewritten by a build before it (an alter) keeps its directory, and so does its deletion', async () => {
    const e = engine();
    await e.createTopic('al', 1, { 'segment.bytes': SEG });
    await produce(e, 'al', 0, 12);
    await flush(e, 'al');
    const t = await e.topics.get('al');
    const kept = await keysUnder(topicDir(t));
    expect(kept.length).toBeGreaterThan(6);
    // The previous build's alter put the whole item back with the fields it knew: an attribute
    // saying where the objects are would be gone; the id is copied as it is.
    const item = (await meta.get(topicKey('al')))!;
    const old = Object.fromEntries(['name', 'config', 'id', 'created_at', 'state'].map((k) => [k, item[k]!]));
    await meta.write({ type: 'put', item: { pk: item.pk, sk: item.sk, ...old, partitions: (item['partitions'] as number) + 1, version: (item['version'] as number) + 1 } });
    e.topics.invalidate('al');
    const altered = await e.topics.get('al');
    expect([altered.partitions, topicDir(altered)]).toEqual([2, topicDir(t)]);
    await produce(e, 'al', 12, 12);
    await flush(e, 'al');
    await expectIntactFrom(e, 'al', 0, 24);
    const last = (await catalog(e, 'al')).at(-1)!;
    expect((await e.listOffsets('al', 0, last.maxTs)).offset).toBeLessThanOrEqual(last.last); // through the .timeindex
    expect((await keysUnder(topicDir(t))).length).toBeGreaterThan(kept.length);
    await e.deleteTopic('al');
    clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);
    expect((await e.retention.runOnce()).deletedTopics).toBe(1);
    expect(await keysUnder('topics/al/')).toEqual([]);
  });

  it('the sweep keeps a deleting incarnation’s objects for its deletion, and deletes those of incarnations no topic item names', async () => {
    const e = engine();
    await e.createTopic('dz', 1, { 'segment.bytes': SEG });
    await produce(e, 'dz', 0, 8);
    await flush(e, 'dz');
    const t = await e.topics.get('dz');
    const kept = await keysUnder(topicDir(t));
    await e.deleteTopic('dz');
    const unknown = segmentObject({ name: 'dz', id: newTopicId(Date.now()) }, 0, 0, 'log');
    await objects.put(unknown, enc('junk'));
    // Past the orphan grace but inside the deletion's own: the deletion owns the incarnation's objects.
    const r = engine(meta, objects, { deletionGraceMs: 10 * DEFAULT_RETENTION_OPTIONS.orphanGraceMs });
    clock.advance(DEFAULT_RETENTION_OPTIONS.orphanGraceMs + 60_000);
    expect(await r.retention.runOnce()).toMatchObject({ sweptObjects: 1, deletedTopics: 0 });
    expect(await objects.head(unknown)).toBeUndefined();
    expect(await keysUnder(topicDir(t))).toEqual(kept);
  });
});
