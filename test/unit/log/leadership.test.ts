// Partition leadership and flush: a lease whose epoch fences every catalog write, expiry by
// the observer's own clock, the zombie leader, and the segment files flush leaves behind.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { headKey, partitionPrefix, segmentObject } from '../../../lib/log/keys';
import { codecsReady, readBatchHeader, splitBatches } from '../../../lib/records';
import { faultyMetaStore, faultyObjectStore, Gate } from '../../../lib/storage/faults';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import type { MetaStore, ObjectStore } from '../../../lib/storage/ports';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';
import { ManualClock } from '../../../lib/util/clock';
import { partitionValues } from '../../helpers/log';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const LEASE = 30_000;

let dir: string;
let meta: MetaStore;
let objects: LocalObjectStore;
let clock: ManualClock;

beforeEach(async () => {
  await codecsReady();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-lead-'));
  meta = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
  objects = new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false });
  clock = new ManualClock();
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Both commit shapes (commit.ts): the flush must read the head's tail as well as extent items. */
let headOnlyCommits = false;
const engine = (m: MetaStore = meta, o: ObjectStore = objects) =>
  new LogEngine(m, o, clock, { leaseMs: LEASE, inlineMaxBytes: 256, headOnlyCommits, flush: { stepBytes: 2048, indexIntervalBytes: 256 } });

async function produceMany(e: LogEngine, topic: string, n: number, from = 0): Promise<void> {
  for (let i = from; i < from + n; i++) await e.produce(topic, [{ value: enc(`rec-${i}-${'p'.repeat(i % 50)}`), partition: 0 }]);
}


describe.each([false, true])('partition leadership (head-only commits: %s)', (headOnly) => {
  beforeEach(() => {
    headOnlyCommits = headOnly;
  });
  afterEach(() => {
    headOnlyCommits = false;
  });

  it('leaves a partition leased by a live process alone, and takes it after the lease runs out unrenewed', async () => {
    const a = engine();
    const b = engine();
    await a.createTopic('t', 1);
    await produceMany(a, 't', 5);
    const topic = await a.topics.get('t');
    expect((await a.flushPartition(topic, 0)).steps).toBeGreaterThan(0);
    expect((await a.head(topic, 0)).leaderEpoch).toBe(1);

    await produceMany(a, 't', 5, 5);
    expect((await b.flushPartition(topic, 0)).skipped).toBe(true); // a holds it
    clock.advance(LEASE - 1);
    expect((await b.flushPartition(topic, 0)).skipped).toBe(true); // not expired by b's own watch yet
    clock.advance(2);
    const taken = await b.flushPartition(topic, 0);
    expect(taken.skipped).toBe(false);
    expect(taken.steps).toBeGreaterThan(0);
    expect((await b.head(topic, 0)).leaderEpoch).toBe(2);
    // Describe shows it.
    expect((await b.describeTopic('t')).partitions[0]!.leader_epoch).toBe(2);
  });

  it('a clean shutdown hands the lease back at once', async () => {
    const a = engine();
    await a.createTopic('t', 1);
    await produceMany(a, 't', 3);
    const topic = await a.topics.get('t');
    await a.flushPartition(topic, 0);
    await a.close();
    const b = engine();
    await produceMany(b, 't', 3, 3);
    expect((await b.flushPartition(topic, 0)).skipped).toBe(false);
  });

  it('on one host (embedded), takes a lease at once from a process that no longer exists', async () => {
    const a = engine();
    await a.createTopic('t', 1);
    await produceMany(a, 't', 3);
    const topic = await a.topics.get('t');
    // As a kill -9'd server leaves it: a lease owned by a pid that is gone.
    await meta.write({ type: 'update', key: headKey(topic.id, 0), set: { leader_epoch: 7, lease_rvn: 'rvn-of-the-dead', lease_owner: `${os.hostname()}/2147483646/dead` } });
    expect((await a.flushPartition(topic, 0)).skipped).toBe(true); // not single-host: must wait
    const restarted = new LogEngine(meta, objects, clock, { leaseMs: LEASE, singleHost: true, headOnlyCommits });
    const r = await restarted.flushPartition(topic, 0);
    expect(r.skipped).toBe(false);
    expect(r.steps).toBeGreaterThan(0);
    expect((await restarted.head(topic, 0)).leaderEpoch).toBe(8);
    // A live owner on this host (ourselves, as another engine) is still respected.
    await produceMany(a, 't', 2, 3);
    const other = new LogEngine(meta, objects, clock, { leaseMs: LEASE, singleHost: true, headOnlyCommits });
    expect((await other.flushPartition(topic, 0)).skipped).toBe(true);
  });

  it('rejects the zombie: a leader paused past its lease cannot commit after a new leader took over', async () => {
    const gate = new Gate();
    const fm = faultyMetaStore(meta);
    const zombie = engine(fm);
    const successor = engine();
    await successor.createTopic('t', 1);
    await produceMany(successor, 't', 8);
    const topic = await successor.topics.get('t');

    // The zombie freezes just before its flush commit (after writing segment objects).
    fm.faults.add({ method: 'transact', action: { kind: 'hang', gate } });
    const frozen = zombie.flushPartition(topic, 0);
    await gate.reached;
    expect((await successor.head(topic, 0)).leaderEpoch).toBe(1);

    // Time passes; the successor watches the unrenewed lease for a whole duration and takes over.
    expect((await successor.flushPartition(topic, 0)).skipped).toBe(true);
    clock.advance(LEASE + 1);
    await produceMany(successor, 't', 8, 8);
    const took = await successor.flushPartition(topic, 0);
    expect(took.skipped).toBe(false);
    expect((await successor.head(topic, 0)).leaderEpoch).toBe(2);
    const before = await partitionValues(successor, 't');

    // The zombie wakes up: its commit carries epoch 1 and is refused; it changes nothing.
    gate.release();
    const result = await frozen;
    expect(result.steps).toBe(0);
    const head = await successor.head(topic, 0);
    expect(head.leaderEpoch).toBe(2);
    expect(head.flushed).toBe(16);
    expect(await partitionValues(successor, 't')).toEqual(before);
    expect(before).toHaveLength(16);
  });

  it('fences a zombie’s object writes by ETag, so it cannot truncate a segment its successor extended', async () => {
    const gate = new Gate();
    const fo = faultyObjectStore(objects);
    const zombie = engine(meta, fo);
    const successor = engine();
    await successor.createTopic('t', 1, { 'segment.bytes': 1 << 20 });
    await produceMany(successor, 't', 4);
    const topic = await successor.topics.get('t');
    await zombie.flushPartition(topic, 0); // zombie leads, segment 0 exists
    await produceMany(successor, 't', 4, 4);
    // The zombie freezes on its next append to the segment.
    fo.faults.add({ method: 'append', action: { kind: 'hang', gate } });
    const frozen = zombie.flushPartition(topic, 0);
    await gate.reached;

    expect((await successor.flushPartition(topic, 0)).skipped).toBe(true);
    clock.advance(LEASE + 1);
    await produceMany(successor, 't', 12, 8);
    expect((await successor.flushPartition(topic, 0)).skipped).toBe(false);
    const key = segmentObject(topic, 0, 0, 'log');
    const extended = fs.readFileSync(path.join(dir, 'objects', key));

    gate.release();
    await frozen;
    // The zombie's stale append (If-Match its old ETag) was refused: the file is untouched.
    expect(Buffer.compare(fs.readFileSync(path.join(dir, 'objects', key)), extended)).toBe(0);
    expect(await partitionValues(successor, 't')).toHaveLength(20);
  });
});

describe.each([false, true])('flush into segments (head-only commits: %s)', (headOnly) => {
  beforeEach(() => {
    headOnlyCommits = headOnly;
  });
  afterEach(() => {
    headOnlyCommits = false;
  });

  it('rolls at segment.bytes, writes Kafka index entries, and reads the same before and after', async () => {
    const e = engine();
    await e.createTopic('t', 1, { 'segment.bytes': 1500 });
    // Mixed sizes and group commits of several requests.
    await Promise.all(Array.from({ length: 6 }, (_, w) => produceMany(e, 't', 10, w * 10)));
    const before = await partitionValues(e, 't');
    const topic = await e.topics.get('t');
    await e.flushPartition(topic, 0);
    expect(await partitionValues(e, 't')).toEqual(before);

    const folder = path.join(dir, 'objects', partitionPrefix(topic, 0));
    const logs = fs.readdirSync(folder).filter((f) => f.endsWith('.log')).sort();
    expect(logs.length).toBeGreaterThan(3);
    let expected = 0;
    for (const name of logs) {
      const bytes = new Uint8Array(fs.readFileSync(path.join(folder, name)));
      const base = Number(name.slice(0, 20));
      expect(base).toBe(expected); // contiguous, named by base offset
      const batches = splitBatches(bytes); // CRCs verified
      if (batches.length > 1) expect(bytes.length).toBeLessThanOrEqual(1500);
      for (const b of batches) {
        expect(b.header.baseOffset).toBe(expected);
        expected = b.header.baseOffset + b.header.lastOffsetDelta + 1;
      }
      // .index: (relative last offset of the batch at position, position), as Kafka's LogSegment writes.
      const index = fs.readFileSync(path.join(folder, name.replace('.log', '.index')));
      for (let i = 0; i < index.length; i += 8) {
        const rel = index.readInt32BE(i);
        const pos = index.readInt32BE(i + 4);
        const h = readBatchHeader(bytes, pos);
        expect(h.baseOffset + h.lastOffsetDelta).toBe(base + rel);
      }
      expect(fs.existsSync(path.join(folder, name.replace('.log', '.timeindex')))).toBe(true);
    }
    expect(expected).toBe(60);
    // Write-ahead objects are gone once flushed.
    expect((await objects.list('wal/')).objects).toEqual([]);
  });

  it('rolls an active segment after segment.ms', async () => {
    const e = engine();
    await e.createTopic('t', 1, { 'segment.ms': 60_000 });
    await produceMany(e, 't', 3);
    const topic = await e.topics.get('t');
    await e.flushPartition(topic, 0);
    clock.advance(61_000);
    await produceMany(e, 't', 3, 3);
    await e.flushPartition(topic, 0);
    const segments = await e.reader.segments(topic, 0);
    expect(segments.map((s) => [s.base, s.last, s.closed])).toEqual([
      [0, 2, true],
      [3, 5, false],
    ]);
  });

  it('finds offsets by timestamp through the time index, flushed or not', async () => {
    const e = engine();
    await e.createTopic('t', 1, { 'segment.bytes': 600 });
    for (let i = 0; i < 40; i++) await e.produce('t', [{ value: enc(`v${i}-${'t'.repeat(40)}`), timestamp: 1_000_000 + i * 10, partition: 0 }]);
    const topic = await e.topics.get('t');
    await e.flushPartition(topic, 0);
    for (let i = 40; i < 50; i++) await e.produce('t', [{ value: enc(`v${i}`), timestamp: 1_000_000 + i * 10, partition: 0 }]);
    expect(await e.listOffsets('t', 0, 1_000_000)).toEqual({ offset: 0, timestamp: 1_000_000 });
    expect(await e.listOffsets('t', 0, 1_000_155)).toEqual({ offset: 16, timestamp: 1_000_160 });
    expect(await e.listOffsets('t', 0, 1_000_450)).toEqual({ offset: 45, timestamp: 1_000_450 });
    expect(await e.listOffsets('t', 0, 2_000_000)).toEqual({ offset: 50, timestamp: null });
  });
});

describe('flush after a crash between its object writes and its commit', () => {
  it('extends the segment from its current version, so the partition keeps flushing', async () => {
    const fm = faultyMetaStore(meta);
    const crashed = engine(fm);
    await crashed.createTopic('t', 1, { 'segment.bytes': 1 << 20 });
    await produceMany(crashed, 't', 6);
    const topic = await crashed.topics.get('t');
    await crashed.flushPartition(topic, 0); // segment 0 exists, catalogued with its ETag
    await produceMany(crashed, 't', 6, 6);
    // The next flush appends to the segment objects, then dies before its catalog commit.
    fm.faults.add({ method: 'transact', action: { kind: 'fail', error: new Error('killed before the commit') } });
    await expect(crashed.flushPartition(topic, 0)).rejects.toThrow('killed before the commit');
    const key = segmentObject(topic, 0, 0, 'log');
    const catalogued = (await crashed.reader.segments(topic, 0))[0]!;
    expect((await objects.head(key))!.etag).not.toBe(catalogued.etags.log); // the object moved on

    // A restarted process (the dead one's lease is taken at once on this host) flushes on.
    await meta.write({ type: 'update', key: headKey(topic.id, 0), set: { lease_owner: `${os.hostname()}/2147483646/dead` } });
    const restarted = new LogEngine(meta, objects, clock, { leaseMs: LEASE, singleHost: true, headOnlyCommits, inlineMaxBytes: 256, flush: { stepBytes: 2048, indexIntervalBytes: 256 } });
    await produceMany(restarted, 't', 4, 12);
    const r = await restarted.flushPartition(topic, 0);
    expect(r.skipped).toBe(false);
    expect((await restarted.head(topic, 0)).flushed).toBe(16);
    const bytes = new Uint8Array(fs.readFileSync(path.join(dir, 'objects', key)));
    const offsets = splitBatches(bytes).flatMap((b) => Array.from({ length: b.header.lastOffsetDelta + 1 }, (_, i) => b.header.baseOffset + i));
    expect(offsets).toEqual(Array.from({ length: 16 }, (_, i) => i)); // whole, contiguous, no dead tail
    expect(await partitionValues(restarted, 't')).toHaveLength(16);
  });
});
