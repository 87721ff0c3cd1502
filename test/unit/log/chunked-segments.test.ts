// Design note 0011: where an append copies the whole object (S3), the flush writes an active
// segment in chunks and composes it into one `<base>.log/.index/.timeindex` once it is closed.
// What a user would notice: every record reads back intact at every moment (before, during and
// after a composition, and across a crash at any stage of it); closed segments end up as the
// exact Kafka files a flush without chunks writes (byte for byte, the oracle here); no chunk
// object outlives its segment's composition; and no step copies more than a chunk.
import { createHash } from 'node:crypto';
import { NoSuchUpload, S3ServiceException } from '@aws-sdk/client-s3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import { createApp } from '../../../lib/http/app';
import { LogEngine } from '../../../lib/log/engine';
import { DEFAULT_LEASE_MS } from '../../../lib/log/lease';
import { DEFAULT_RETENTION_OPTIONS } from '../../../lib/log/retention';
import { COMPOSE_RETRY_FIRST_MS, composeRetryDelay, DEFAULT_FLUSH_OPTIONS, type FlushOptions, PENDING_COMPOSE_LOOKBACK } from '../../../lib/log/flush';
import { createLogger, silentLogger } from '../../../lib/obs/logger';
import { segmentFromItem } from '../../../lib/log/items';
import { COMPOSE_DUE_PK, partitionPk, partitionPrefix, SEGMENT_FILES, SEGMENT_PREFIX, segmentObject } from '../../../lib/log/keys';
import type { Segment } from '../../../lib/log/model';
import { codecsReady, encodeRecordBatch, splitBatches } from '../../../lib/records';
import { InvalidRangeError, PreconditionFailedError, StorageError, ThrottledError } from '../../../lib/errors';
import { faultyMetaStore, faultyObjectStore, Gate } from '../../../lib/storage/faults';
import { wrapAwsError } from '../../../lib/storage/aws-errors';
import { ManualClock } from '../../../lib/util/clock';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import type { MetaStore, ObjectStore, WriteOp } from '../../../lib/storage/ports';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';
import { loadConfig } from '../../../lib/runtime/config';
import { engineOptions } from '../../../lib/runtime/core';
import { flushHandler } from '../../../lib/runtime/lambda/flush-handler';
import { describeAws, makeDynamoStore, makeS3Store } from '../../helpers/aws';
import { awsStores, type TestStores } from '../../helpers/stores';

/**
 * A failure the store calls transient (a timeout, a dropped connection), standing in for a
 * crash: the step fails, and the next flush or retention pass finishes the work. A failure no
 * retry cures is set aside instead (see "fails for good" below).
 */
const interrupted = (message: string): StorageError => new StorageError(message, true);

let dir: string;
beforeAll(codecsReady);
beforeEach(() => void (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-chunks-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

// 8 KiB records over a 4 KiB inline limit: every commit is a write-ahead object. Fixed
// timestamps, so two engines fed the same batches write the same segment files.
const BATCHES = Array.from({ length: 60 }, (_, i) => encodeRecordBatch([{ value: new Uint8Array(8 * 1024).fill(i % 251), timestamp: 1_700_000_000_000 + i * 1000 }]));
const BATCH = BATCHES[0]!.length;
// Steps of three batches, chunks closed at two and a half, segments of twelve.
const FLUSH: FlushOptions = { ...DEFAULT_FLUSH_OPTIONS, stepBytes: 3 * BATCH, chunkBytes: Math.floor(2.5 * BATCH) };
const SEGMENT_BYTES = 12 * BATCH + 100;

interface Node {
  engine: LogEngine;
  meta: MetaStore;
  objects: ObjectStore;
  root: string;
}

async function node(name: string, flush: FlushOptions, wrap: (o: ObjectStore) => ObjectStore = (o) => o): Promise<Node> {
  const root = path.join(dir, name, 'objects');
  const meta = new SqliteMetaStore({ path: path.join(dir, `${name}.sqlite`), fsync: false });
  const objects = wrap(new LocalObjectStore({ root, fsync: false }));
  const engine = new LogEngine(meta, objects, undefined, { inlineMaxBytes: 4096, flush });
  return { engine, meta, objects, root };
}

async function segments(n: Node): Promise<Segment[]> {
  const t = await n.engine.topics.get('t');
  const page = await n.meta.query({ pk: partitionPk(t.id, 0), beginsWith: SEGMENT_PREFIX });
  return page.items.map(segmentFromItem);
}

/** The chunk objects of topic t's partition 0 (its current incarnation), in a local directory. */
async function chunkFiles(n: Node): Promise<string[]> {
  const d = path.join(n.root, partitionPrefix(await n.engine.topics.get('t'), 0), 'chunks');
  return fs.existsSync(d) ? fs.readdirSync(d).sort() : [];
}

async function values(n: Node, from = 0): Promise<number[]> {
  const out: number[] = [];
  for (let offset = from; ; ) {
    const got = await n.engine.fetch('t', 0, { offset, maxRecords: 7, maxBytes: 40 * 1024 });
    const records = got.records();
    if (records.length === 0) break;
    for (const r of records) out.push(r.value![0]!);
    offset = got.nextOffset;
  }
  return out;
}

const expected = (n: number, from = 0): number[] => Array.from({ length: n - from }, (_, i) => (i + from) % 251);

/** Every closed segment's three files: size and SHA-256 (a diff of megabytes is no help). */
async function closedFiles(n: Node): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const topic = await n.engine.topics.get('t');
  for (const s of await segments(n)) {
    if (!s.closed) continue;
    for (const ext of SEGMENT_FILES) {
      const bytes = await n.objects.get(segmentObject(topic, 0, s.base, ext));
      out.set(`${s.base}.${ext}`, `${bytes.length} ${createHash('sha256').update(bytes).digest('hex')}`);
    }
  }
  return out;
}

async function produce(n: Node, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) await n.engine.produceBatches('t', 0, new Uint8Array(BATCHES[i]!));
}

async function flush(n: Node): Promise<void> {
  await n.engine.flushPartition(await n.engine.topics.get('t'), 0);
}

describe('segments written in chunks (design note 0011)', () => {
  it('closed segments are composed into exactly the files an unchunked flush writes; the open one reads from its chunks', async () => {
    const plain = await node('plain', { ...FLUSH, chunkBytes: undefined });
    const chunked = await node('chunked', FLUSH);
    for (const n of [plain, chunked]) {
      await n.engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES });
      // Flushed a few batches at a time, as a partition under light load is: chunks grow by appends.
      for (const [from, to] of [[0, 5], [5, 10], [10, 15], [15, 20], [20, 25], [25, 30], [30, 35], [35, 38], [38, 40], [40, 42]] as const) {
        await produce(n, from, to);
        await flush(n);
      }
    }
    expect(await values(chunked)).toEqual(expected(42));
    const segs = await segments(chunked);
    expect(segs.length).toBe(4);
    for (const s of segs.filter((x) => x.closed)) {
      expect(s.chunks).toBeUndefined();
      expect(s.composed).toBeUndefined();
    }
    // The open segment (36–41) spans two chunks, 36–39 grown by appends and 40–41: its second chunk's objects exist.
    const open = segs.at(-1)!;
    expect(open.closed).toBe(false);
    expect(open.chunks?.length).toBe(2);
    expect((await chunkFiles(chunked))).toEqual([`${String(open.base).padStart(20, '0')}+${String(open.chunks![1]!.log).padStart(20, '0')}.index`, expect.stringMatching(/\.log$/), expect.stringMatching(/\.timeindex$/)].sort());
    // Byte for byte what the unchunked flush wrote: Kafka's files, whole.
    const want = await closedFiles(plain);
    expect(want.size).toBe(9);
    expect(await closedFiles(chunked)).toEqual(want);
    for (const n of [plain, chunked]) await n.engine.close();
  });

  it('SAMSA_FLUSH_CHUNK_BYTES sets the chunk size; without it, local files keep one object per segment', async () => {
    for (const [env, chunks] of [[{}, 0], [{ SAMSA_FLUSH_CHUNK_BYTES: String(2 * BATCH) }, 3]] as const) {
      const name = `env-${chunks}`;
      const root = path.join(dir, name, 'objects');
      const meta = new SqliteMetaStore({ path: path.join(dir, `${name}.sqlite`), fsync: false });
      const opts = engineOptions(loadConfig(env), meta.traits);
      const engine = new LogEngine(meta, new LocalObjectStore({ root, fsync: false }), undefined, { ...opts, inlineMaxBytes: 4096, flush: { ...(opts.flush ?? DEFAULT_FLUSH_OPTIONS), stepBytes: 3 * BATCH } });
      const n: Node = { engine, meta, objects: new LocalObjectStore({ root, fsync: false }), root };
      await engine.createTopic('t', 1);
      await produce(n, 0, 12);
      await flush(n);
      expect((await chunkFiles(n)).length).toBe(chunks * 3);
      expect(await values(n)).toEqual(expected(12));
      await engine.close();
    }
    expect(() => loadConfig({ SAMSA_FLUSH_CHUNK_BYTES: '12' })).toThrow(/SAMSA_FLUSH_CHUNK_BYTES/);
  });

  it('a step under load starts a chunk of its own and copies nothing it wrote before', async () => {
    // The fault wrapper with no rules: its log is every call the flush made.
    const chunked = await node('chunked', FLUSH, (o) => faultyObjectStore(o));
    await chunked.engine.createTopic('t', 1, { 'segment.bytes': 1 << 30 });
    await produce(chunked, 0, 30);
    await flush(chunked);
    // Ten steps of three batches, each a new chunk: every .log write starts at 0 of its object.
    const log = (chunked.objects as ReturnType<typeof faultyObjectStore>).faults.log;
    const logs = log.filter((e) => e.call.method === 'append' && String(e.call.args[0]).endsWith('.log')).map((e) => e.call.args[1]);
    expect(logs.length).toBe(10);
    expect(logs.every((keep) => keep === 0)).toBe(true);
    expect(await values(chunked)).toEqual(expected(30));
    await chunked.engine.close();
  });

  it('a reader holding extents read before a composition reads on after the chunks are gone', async () => {
    const writer = await node('w', FLUSH);
    await writer.engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES });
    await produce(writer, 0, 10);
    await flush(writer);
    // A second engine on the same stores (a consumer's process): it reads, and caches the
    // chunk indexes, while the segment is still open and in chunks.
    const reader = new LogEngine(writer.meta, writer.objects, undefined, { inlineMaxBytes: 4096, flush: FLUSH });
    expect(await values({ ...writer, engine: reader })).toEqual(expected(10));
    await produce(writer, 10, 20);
    await flush(writer); // closes the first segment at 12 batches and composes it
    expect((await chunkFiles(writer)).filter((f) => f.startsWith('00000000000000000000+'))).toEqual([]);
    expect(await values({ ...writer, engine: reader })).toEqual(expected(20));
    expect(await values({ ...writer, engine: reader }, 5)).toEqual(expected(20, 5));
    await reader.close();
    await writer.engine.close();
  });

  it('a segment in chunks that retention seals for age (segment.ms) is composed by that retention pass', async () => {
    const clock = new ManualClock();
    const plain = await node('plain', { ...FLUSH, chunkBytes: undefined });
    const meta = new SqliteMetaStore({ path: path.join(dir, 'c.sqlite'), fsync: false });
    const root = path.join(dir, 'c', 'objects');
    const objects = new LocalObjectStore({ root, fsync: false });
    const chunked: Node = { engine: new LogEngine(meta, objects, clock, { inlineMaxBytes: 4096, flush: FLUSH }), meta, objects, root };
    for (const n of [plain, chunked]) {
      await n.engine.createTopic('t', 1, { 'segment.ms': 60_000, 'retention.ms': -1 });
      await produce(n, 0, 10);
      await flush(n);
    }
    expect((await segments(chunked))[0]!.chunks?.length).toBe(4);
    clock.advance(61_000);
    expect((await chunked.engine.retention.runOnce()).sealedSegments).toBe(1);
    const [seg] = await segments(chunked);
    expect([seg!.closed, seg!.chunks, seg!.composed]).toEqual([true, undefined, undefined]);
    expect((await chunkFiles(chunked))).toEqual([]);
    // The unchunked segment, sealed the same way, is the oracle for the composed files.
    const t = await plain.engine.topics.get('t');
    await plain.meta.write({ type: 'update', key: { pk: partitionPk(t.id, 0), sk: `${SEGMENT_PREFIX}${'0'.padStart(20, '0')}` }, set: { closed: true } });
    expect(await closedFiles(chunked)).toEqual(await closedFiles(plain));
    expect(await values(chunked)).toEqual(expected(10));
    for (const n of [plain, chunked]) await n.engine.close();
  });

  it('an unfinished composition of a segment retention is deleting does not stop the next flush', async () => {
    const clock = new ManualClock();
    const meta = faultyMetaStore(new SqliteMetaStore({ path: path.join(dir, 'c.sqlite'), fsync: false }));
    const root = path.join(dir, 'c', 'objects');
    const objects = faultyObjectStore(new LocalObjectStore({ root, fsync: false }));
    const n: Node = { engine: new LogEngine(meta, objects, clock, { inlineMaxBytes: 4096, flush: FLUSH, retention: { deletionGraceMs: 1000, orphanGraceMs: 60 * 60 * 1000, budgetMs: 60_000, partitionsPerRun: 100, segmentsPerStep: 100 } }), meta, objects, root };
    await n.engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES, 'retention.ms': 3_600_000 });
    await produce(n, 0, 12);
    await flush(n);
    // The flush that closes the first segment fails to compose it: it stays in chunks.
    await produce(n, 12, 14);
    objects.faults.add({ method: 'compose', action: { kind: 'fail', error: interrupted('injected compose failure') } });
    await expect(flush(n)).rejects.toThrow('injected compose failure');
    objects.faults.clear();
    expect((await segments(n))[0]!.chunks?.length).toBeGreaterThan(1);
    // Retention deletes it for age and crashes after its objects went, before its catalog entry.
    clock.advance(3_700_000);
    meta.faults.add({ when: (c) => JSON.stringify(c.args).includes(SEGMENT_PREFIX) && (c.method === 'transact' || c.method === 'write') && JSON.stringify(c.args).includes('"delete"'), times: Infinity, action: { kind: 'fail', error: new Error('injected crash') } });
    await n.engine.retention.runOnce();
    meta.faults.clear();
    expect((await segments(n))[0]!.base).toBe(0);
    const t = await n.engine.topics.get('t');
    expect((await n.engine.head(t, 0)).logStart).toBeGreaterThan(0);
    // The next flush moves new records; the doomed segment is retention's to finish.
    await produce(n, 14, 16);
    await flush(n);
    expect(await values(n, 12)).toEqual(expected(16, 12));
    await n.engine.close();
  });

  it('a flush paused in finishing a composition, across its topic\'s deletion and re-creation, leaves the new topic\'s chunks alone', async () => {
    // Chunk objects are named by topic name, base and start: the same batches flushed the same way
    // into a topic created again under its name land at the same keys.
    const clock = new ManualClock();
    const meta = new SqliteMetaStore({ path: path.join(dir, 'c.sqlite'), fsync: false });
    const root = path.join(dir, 'c', 'objects');
    const objects = new LocalObjectStore({ root, fsync: false });
    const pausedMeta = faultyMetaStore(meta);
    const pausedObjects = faultyObjectStore(objects);
    const zombie: Node = { engine: new LogEngine(pausedMeta, pausedObjects, clock, { inlineMaxBytes: 4096, flush: FLUSH }), meta: pausedMeta, objects: pausedObjects, root };
    const admin: Node = { engine: new LogEngine(meta, objects, clock, { inlineMaxBytes: 4096, flush: FLUSH }), meta, objects, root };
    await admin.engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES });
    await produce(admin, 0, 12);
    await flush(zombie);
    // The flush that closes the first segment composes it but fails to delete its chunks: the
    // catalog says composed, and still lists them.
    await produce(admin, 12, 13);
    pausedObjects.faults.add({ when: (c) => c.method === 'delete' && (c.args[0] as string[]).some((k) => k.includes('/chunks/')), action: { kind: 'fail', error: interrupted('injected crash') } });
    await expect(flush(zombie)).rejects.toThrow('injected crash');
    pausedObjects.faults.clear();
    expect((await segments(admin))[0]!.composed).toBe(true);
    // The next flush finishes that composition first: it reads the catalog, then pauses (before
    // its read of the head).
    await produce(admin, 13, 14);
    const gate = new Gate();
    let finishing = false;
    pausedMeta.faults.add({
      when: (c) => {
        if (c.method === 'query' && c.args[0].beginsWith === SEGMENT_PREFIX && c.args[0].limit === PENDING_COMPOSE_LOOKBACK) finishing = true;
        return finishing && c.method === 'get';
      },
      action: { kind: 'hang', gate },
    });
    const frozen = flush(zombie).catch((err: unknown) => err);
    await gate.reached;

    // Deleted (its data removed after the grace period, well inside the paused flusher's lease),
    // created again, and written: its open first segment is in chunks at the old keys.
    await admin.engine.deleteTopic('t');
    clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);
    expect((await admin.engine.retention.runOnce()).deletedTopics).toBe(1);
    await admin.engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES });
    await produce(admin, 0, 12);
    await flush(admin);
    const [open] = await segments(admin);
    expect([open!.closed, open!.chunks?.length]).toEqual([false, 4]);
    const live = (await chunkFiles(admin));
    expect(live.length).toBe(9);

    gate.release();
    await frozen;
    expect((await chunkFiles(admin))).toEqual(live);
    expect(await values(admin)).toEqual(expected(12));
    for (const n of [zombie, admin]) await n.engine.close();
  });

  // An idle partition: no next flush comes. The retention pass finds the closed segment still in
  // chunks at the tail of the catalog and finishes it.
  for (const stage of ['compose', 'catalog'] as const) {
    it(`a composition that fails at its ${stage} on a partition that then goes idle is finished by the next retention pass`, async () => {
      // The records carry 2023 timestamps: kept forever, so retention only has the composition to do.
      const config = { 'segment.bytes': SEGMENT_BYTES, 'retention.ms': -1 };
      const plain = await node('plain', { ...FLUSH, chunkBytes: undefined });
      await plain.engine.createTopic('t', 1, config);
      await produce(plain, 0, 19);
      await flush(plain);
      const want = await closedFiles(plain);

      const broken = interrupted(`injected ${stage} failure`);
      const chunked = await node('chunked', FLUSH, (o) => faultyObjectStore(o));
      const faults = (chunked.objects as ReturnType<typeof faultyObjectStore>).faults;
      await chunked.engine.createTopic('t', 1, config);
      await produce(chunked, 0, 19);
      if (stage === 'compose') faults.add({ method: 'compose', action: { kind: 'failAfter', error: broken } });
      else {
        const inner = chunked.meta;
        const write = inner.write.bind(inner);
        let armed = true;
        (inner as { write: MetaStore['write'] }).write = async (op) => {
          if (armed && op.type === 'put' && op.item.sk.startsWith(SEGMENT_PREFIX) && op.item['composed'] === true) {
            armed = false;
            await write(op); // applied, reported failed: the chunks are left to delete
            throw broken;
          }
          return write(op);
        };
      }
      await expect(flush(chunked)).rejects.toThrow(broken.message);
      faults.clear();
      expect((await segments(chunked))[0]!.closed).toBe(true);
      expect((await chunkFiles(chunked)).filter((f) => f.startsWith('00000000000000000000+')).length).toBeGreaterThan(0);

      await chunked.engine.retention.runOnce();
      const first = (await segments(chunked))[0]!;
      expect([first.closed, first.chunks]).toEqual([true, undefined]);
      expect((await chunkFiles(chunked)).filter((f) => f.startsWith('00000000000000000000+'))).toEqual([]);
      expect(await closedFiles(chunked)).toEqual(want);
      expect(await values(chunked)).toEqual(expected(19));
      for (const n of [plain, chunked]) await n.engine.close();
    });
  }

  for (const stage of ['compose', 'index', 'extents', 'catalog', 'chunk deletes'] as const) {
    it(`a composition that fails at its ${stage} is finished by the next flush, and every record reads throughout`, async () => {
      const plain = await node('plain', { ...FLUSH, chunkBytes: undefined });
      await plain.engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES });
      await produce(plain, 0, 20);
      await flush(plain);
      const want = await closedFiles(plain);

      const broken = interrupted(`injected ${stage} failure`);
      const chunked = await node('chunked', FLUSH, (o) => faultyObjectStore(o));
      const faults = (chunked.objects as ReturnType<typeof faultyObjectStore>).faults;
      await chunked.engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES });
      await produce(chunked, 0, 12);
      await flush(chunked);
      await produce(chunked, 12, 19);
      if (stage === 'compose') faults.add({ method: 'compose', action: { kind: 'failAfter', error: broken } });
      if (stage === 'index') faults.add({ method: 'append', when: (c) => String(c.args[0]).endsWith('00000000000000000000.index'), action: { kind: 'fail', error: broken } });
      if (stage === 'chunk deletes') faults.add({ method: 'delete', when: (c) => (c.args[0] as string[]).some((k) => k.includes('/chunks/')), action: { kind: 'fail', error: broken } });
      const metaFaults = stage === 'extents' || stage === 'catalog';
      if (metaFaults) {
        // Fail the composition's first extent move, or its catalog write, through a meta store that throws once.
        const inner = chunked.meta;
        let armed = true;
        const write = inner.write.bind(inner);
        (inner as { write: MetaStore['write'] }).write = async (op) => {
          const isExtent = op.type === 'put' && op.item.sk.startsWith('sx#') && String(op.item['obj']).endsWith('00000000000000000000.log');
          const isCatalog = op.type === 'put' && op.item.sk.startsWith(SEGMENT_PREFIX) && op.item['composed'] === true;
          if (armed && ((stage === 'extents' && isExtent) || (stage === 'catalog' && isCatalog))) {
            armed = false;
            if (stage === 'catalog') await write(op); // applied, reported failed
            throw broken;
          }
          return write(op);
        };
      }
      await expect(flush(chunked)).rejects.toThrow(broken.message);
      faults.clear();
      // Every record reads at this point, whatever the stage left behind.
      expect(await values(chunked)).toEqual(expected(19));
      await produce(chunked, 19, 20);
      await flush(chunked);
      expect(await values(chunked)).toEqual(expected(20));
      expect(await closedFiles(chunked)).toEqual(want);
      expect((await chunkFiles(chunked)).filter((f) => f.startsWith('00000000000000000000+'))).toEqual([]);
      const first = (await segments(chunked))[0]!;
      expect(first.chunks).toBeUndefined();
      for (const n of [plain, chunked]) await n.engine.close();
    });
  }

  // A failure no retry cures at each stage of a composition (the write applied before it was
  // reported failed, where it is a write): the composition is set aside, and meanwhile every
  // offset reads the same records through the fetch route and, where it hands out segments,
  // the segments route; once the cause is gone, the retry after the back-off finishes it.
  for (const stage of ['compose', 'index', 'timeindex', 'extents', 'catalog', 'chunk deletes', 'chunk list'] as const) {
    it(`a composition set aside at its ${stage} reads every offset the same through fetches and bulk reads, and is finished after its back-off`, async () => {
      const plain = await node('plain', { ...FLUSH, chunkBytes: undefined });
      await plain.engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES });
      await produce(plain, 0, 20);
      await flush(plain);
      const want = await closedFiles(plain);

      const broken = new StorageError(`injected ${stage} failure`, false);
      const clock = new ManualClock();
      const meta = new SqliteMetaStore({ path: path.join(dir, 'c.sqlite'), fsync: false });
      const root = path.join(dir, 'c', 'objects');
      const objects = faultyObjectStore(new LocalObjectStore({ root, fsync: false }));
      const engine = new LogEngine(meta, objects, clock, { inlineMaxBytes: 4096, flush: FLUSH, log: silentLogger });
      const n: Node = { engine, meta, objects, root };
      await engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES });
      await produce(n, 0, 12);
      await flush(n);
      await produce(n, 12, 19);
      const whole = (ext: string) => (c: { args: unknown[] }) => String(c.args[0]).endsWith(`00000000000000000000.${ext}`) && c.args[1] === 0 && (c.args[3] as { ifMatch?: string } | undefined)?.ifMatch !== undefined;
      if (stage === 'compose') objects.faults.add({ method: 'compose', action: { kind: 'failAfter', error: broken } });
      if (stage === 'index') objects.faults.add({ method: 'append', when: whole('index'), action: { kind: 'failAfter', error: broken } });
      if (stage === 'timeindex') objects.faults.add({ method: 'append', when: whole('timeindex'), action: { kind: 'failAfter', error: broken } });
      if (stage === 'chunk deletes') objects.faults.add({ method: 'delete', when: (c) => (c.args[0] as string[]).some((k) => k.includes('/chunks/')), action: { kind: 'fail', error: broken } });
      let armed = true;
      const write = meta.write.bind(meta);
      (meta as { write: MetaStore['write'] }).write = async (op) => {
        const isExtent = op.type === 'put' && op.item.sk.startsWith('sx#') && String(op.item['obj']).endsWith('00000000000000000000.log');
        const isCatalog = op.type === 'put' && op.item.sk.startsWith(SEGMENT_PREFIX) && op.item['composed'] === true;
        const isList = op.type === 'put' && op.item.sk.startsWith(SEGMENT_PREFIX) && op.item['closed'] === true && op.item['chunks'] === undefined && op.item['base'] === 0;
        if (armed && ((stage === 'extents' && isExtent) || (stage === 'catalog' && isCatalog) || (stage === 'chunk list' && isList))) {
          armed = false;
          if (stage !== 'extents') await write(op); // applied, reported failed
          throw broken;
        }
        return write(op);
      };
      await flush(n);
      expect(engine.compositionFailures).toBe(stage === 'chunk list' ? 0 : 1);

      const app = createApp({ engine, logger: silentLogger });
      const bulkOffsets = async (from: number): Promise<number[]> => {
        const res = await app.request(`http://samsa.test/v1/topics/t/partitions/0/segments?offset=${from}`);
        expect(res.status).toBe(200);
        const answer = (await res.json()) as { segments: Array<{ url: string; range: string }> };
        const out: number[] = [];
        for (const r of answer.segments) {
          const got = await app.request(r.url, { headers: { range: r.range } });
          expect(got.status).toBe(206);
          for (const b of splitBatches(new Uint8Array(await got.arrayBuffer()))) if (b.header.baseOffset >= from) out.push(b.header.baseOffset);
        }
        return out;
      };
      const readAll = async (count: number) => {
        for (let from = 0; from < count; from++) {
          expect(await values(n, from)).toEqual(expected(count, from));
          const bulk = await bulkOffsets(from);
          expect(bulk).toEqual(Array.from({ length: bulk.length }, (_, i) => from + i));
        }
      };
      await readAll(19);

      clock.advance(COMPOSE_RETRY_FIRST_MS);
      await produce(n, 19, 20);
      await flush(n);
      await readAll(20);
      expect(await closedFiles(n)).toEqual(want);
      expect((await chunkFiles(n)).filter((f) => f.startsWith('00000000000000000000+'))).toEqual([]);
      const first = (await segments(n))[0]!;
      expect([first.chunks, first.composed, first.composeFailures]).toEqual([undefined, undefined, undefined]);
      expect((await bulkOffsets(0))[0]).toBe(0);
      for (const x of [plain, n]) await x.engine.close();
    });
  }

  it('a composition that fails after its step rolled several segments past the closed one is finished by the next flush', async () => {
    const chunked = await node('chunked', FLUSH, (o) => faultyObjectStore(o));
    const faults = (chunked.objects as ReturnType<typeof faultyObjectStore>).faults;
    await chunked.engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES });
    await produce(chunked, 0, 7);
    await flush(chunked);
    expect((await segments(chunked))[0]!.chunks!.length).toBeGreaterThan(1);
    // Segments of one batch from now on: the step that closes segment 0 rolls three more.
    await chunked.engine.topics.alter('t', { config: { 'segment.bytes': BATCH + 100 } });
    await produce(chunked, 7, 10);
    const broken = interrupted('injected compose failure');
    faults.add({ method: 'compose', action: { kind: 'failAfter', error: broken } });
    await expect(flush(chunked)).rejects.toThrow(broken.message);
    faults.clear();
    expect((await segments(chunked)).map((s) => [s.base, s.closed, (s.chunks?.length ?? 0) > 1])).toEqual([
      [0, true, true],
      [7, true, false],
      [8, true, false],
      [9, false, false],
    ]);
    // The next flush finishes segment 0 first, five catalog entries back by then.
    await produce(chunked, 10, 11);
    await flush(chunked);
    expect((await segments(chunked))[0]!.chunks).toBeUndefined();
    expect((await chunkFiles(chunked)).filter((f) => f.startsWith('00000000000000000000+'))).toEqual([]);
    expect(await values(chunked)).toEqual(expected(11));
    await chunked.engine.close();
  });

  /**
   * An engine whose compositions of segment 0 fail the way no retry cures (its chunk looks
   * short to the store), on a manual clock, its log lines and failure counts kept. Segment 0
   * closes and is set aside by the flush of batches 12–13.
   */
  async function setAside(retentionMs = -1) {
    const clock = new ManualClock();
    const lines: Array<Record<string, unknown>> = [];
    const counted: string[] = [];
    const meta = new SqliteMetaStore({ path: path.join(dir, 'c.sqlite'), fsync: false });
    const root = path.join(dir, 'c', 'objects');
    const objects = faultyObjectStore(new LocalObjectStore({ root, fsync: false }));
    const engine = new LogEngine(meta, objects, clock, {
      inlineMaxBytes: 4096,
      flush: FLUSH,
      log: createLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }),
      onCompositionFailure: (topic) => counted.push(topic),
    });
    const n: Node = { engine, meta, objects, root };
    await engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES, 'retention.ms': retentionMs });
    await produce(n, 0, 12);
    await flush(n);
    const first = `${'0'.repeat(20)}.log`;
    objects.faults.add({ method: 'compose', when: (c) => String(c.args[0]).endsWith(first), times: Infinity, action: { kind: 'fail', error: new InvalidRangeError(first, 'object holds 0 bytes, cannot copy 2452') } });
    await produce(n, 12, 14);
    await flush(n);
    return { n, clock, lines, counted, objects, attempts: () => objects.faults.fired(0) };
  }

  it('a composition set aside is logged and counted once per attempt, tried again only after its back-off, and composed once it can be', async () => {
    const { n, clock, lines, counted, objects, attempts } = await setAside();
    expect(attempts()).toBe(1);
    const [seg] = await segments(n);
    expect([seg!.closed, seg!.chunks!.length > 1, seg!.composeFailures, seg!.composeRetryAt]).toEqual([true, true, 1, clock.now() + COMPOSE_RETRY_FIRST_MS]);
    expect(counted).toEqual(['t']);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      msg: 'composition set aside',
      topic: 't',
      partition: 0,
      segment_base: 0,
      attempt: 1,
      retry_at: new Date(clock.now() + COMPOSE_RETRY_FIRST_MS).toISOString(),
      err: { name: 'InvalidRangeError', message: expect.stringContaining('cannot copy 2452') },
    });

    // Within the back-off neither a flush nor a retention pass tries again.
    await produce(n, 14, 16);
    await flush(n);
    clock.advance(COMPOSE_RETRY_FIRST_MS - 1);
    await n.engine.retention.runOnce();
    expect(attempts()).toBe(1);
    // Past it, the next flush does, fails, and waits twice as long.
    clock.advance(1);
    await produce(n, 16, 18);
    await flush(n);
    expect(attempts()).toBe(2);
    expect((await segments(n))[0]!.composeFailures).toBe(2);
    expect([counted.length, lines.length, lines[1]!['attempt']]).toEqual([2, 2, 2]);
    expect(composeRetryDelay(2)).toBe(2 * COMPOSE_RETRY_FIRST_MS);

    // The cause put right, the first flush past the back-off composes it; the failures go with the chunk list.
    objects.faults.clear();
    clock.advance(composeRetryDelay(2));
    await produce(n, 18, 20);
    await flush(n);
    const [composed] = await segments(n);
    expect([composed!.chunks, composed!.composed, composed!.composeFailures, composed!.composeRetryAt]).toEqual([undefined, undefined, undefined, undefined]);
    expect((await chunkFiles(n)).filter((f) => f.startsWith('00000000000000000000+'))).toEqual([]);
    expect(await values(n)).toEqual(expected(20));
    expect(lines).toHaveLength(2);
    await n.engine.close();
  });

  it('the flush function\'s pass counts the compositions it set aside in its metrics line and its report', async () => {
    const { n, clock } = await setAside();
    clock.advance(COMPOSE_RETRY_FIRST_MS);
    await produce(n, 14, 15);
    const emf: string[] = [];
    const handler = flushHandler({ engine: n.engine, groups: new GroupCoordinator(n.meta, n.engine), table: 'tbl', write: (l) => void emf.push(l) });
    const report = await handler({});
    expect(report).toMatchObject({ job: 'flush', compositionsSetAside: 1, unflushedRecords: 0 });
    expect(emf).toHaveLength(1);
    expect(JSON.parse(emf[0]!)).toMatchObject({ samsa_composition_failures_total: 1 });
    expect(n.engine.compositionFailures).toBe(2);
    await n.engine.close();
  });

  it('retention deletes a segment whose composition was set aside, its chunk objects included', async () => {
    const { n, clock } = await setAside(3_600_000);
    expect((await chunkFiles(n)).filter((f) => f.startsWith('00000000000000000000+')).length).toBeGreaterThan(0);
    clock.advance(3_700_000); // segment 0's records are past retention.ms
    expect((await n.engine.retention.runOnce()).deletedSegments).toBe(1);
    expect((await segments(n)).map((s) => s.base)).toEqual([12]);
    expect((await chunkFiles(n)).filter((f) => f.startsWith('00000000000000000000+'))).toEqual([]);
    const t = await n.engine.topics.get('t');
    expect(fs.existsSync(path.join(n.root, segmentObject(t, 0, 0, 'log')))).toBe(false);
    expect(await values(n, 12)).toEqual(expected(14, 12));
    await n.engine.close();
  });

  it('a set-aside composition waits in its queue until retried, and leaves it with its segment: deleted by retention, or with its topic', async () => {
    for (const end of ['retention', 'topic deletion'] as const) {
      const { n, clock } = await setAside(end === 'retention' ? 3_600_000 : -1);
      const queued = async () => (await n.meta.query({ pk: COMPOSE_DUE_PK })).items.map((i) => [i['topic'], i['partition'], i['base'], i['due']]);
      expect(await queued()).toEqual([['t', 0, 0, clock.now() + COMPOSE_RETRY_FIRST_MS]]);
      if (end === 'retention') clock.advance(3_700_000); // segment 0's records are past retention.ms
      else await n.engine.deleteTopic('t');
      clock.advance(composeRetryDelay(1) + 60_000);
      await n.engine.retention.runOnce();
      await n.engine.retention.runOnce();
      expect(await queued()).toEqual([]);
      await n.engine.close();
      fs.rmSync(path.join(dir, 'c'), { recursive: true, force: true });
      fs.rmSync(path.join(dir, 'c.sqlite'), { force: true });
    }
  });

  it('a retention pass leaves a due set-aside composition whose partition another live process leads to a later pass, and composes it once it may', async () => {
    const { n, clock, objects } = await setAside();
    objects.faults.clear();
    // 18 more segments, summarised by a pass within the back-off: only the queue leads back to segment 0.
    await n.engine.topics.alter('t', { config: { 'segment.bytes': BATCH + 100 } });
    await produce(n, 14, 32);
    await flush(n);
    await n.engine.retention.runOnce();
    const other = new LogEngine(n.meta, n.objects, clock, { inlineMaxBytes: 4096, flush: FLUSH, log: silentLogger });
    const t = await n.engine.topics.get('t');
    await n.engine.leases.releaseAll();
    expect('epoch' in (await other.leases.acquire(t, 0))).toBe(true);
    clock.advance(COMPOSE_RETRY_FIRST_MS);
    expect('epoch' in (await other.leases.acquire(t, 0))).toBe(true); // renewed: still live
    expect((await n.engine.retention.runOnce()).skippedPartitions).toBeGreaterThan(0);
    expect((await segments(n))[0]!.chunks!.length).toBeGreaterThan(1);
    expect((await n.meta.query({ pk: COMPOSE_DUE_PK })).items).toHaveLength(1);
    await other.leases.release(t, 0);
    await n.engine.retention.runOnce();
    const [first] = await segments(n);
    expect([first!.chunks, first!.composeFailures]).toEqual([undefined, undefined]);
    expect((await n.meta.query({ pk: COMPOSE_DUE_PK })).items).toEqual([]);
    expect(await values(n)).toEqual(expected(32));
    await other.close();
    await n.engine.close();
  });

  // A flusher sets a composition aside (a failure no retry cures), checks its lease, and pauses
  // before its catalog write lands. Its successor composes the segment to the end (chunk
  // objects deleted, chunk list dropped). The paused write must not bring the chunk list back:
  // the segment would read as "in chunks" whose objects are gone, for good.
  it('a set-aside write delayed past its lease does not bring back the chunk list of a segment its successor composed since', async () => {
    const clock = new ManualClock();
    const meta = new SqliteMetaStore({ path: path.join(dir, 'c.sqlite'), fsync: false });
    const root = path.join(dir, 'c', 'objects');
    const objects = new LocalObjectStore({ root, fsync: false });
    const pausedMeta = faultyMetaStore(meta);
    const pausedObjects = faultyObjectStore(objects);
    const zombie: Node = { engine: new LogEngine(pausedMeta, pausedObjects, clock, { inlineMaxBytes: 4096, flush: FLUSH, log: silentLogger }), meta: pausedMeta, objects: pausedObjects, root };
    const next: Node = { engine: new LogEngine(meta, objects, clock, { inlineMaxBytes: 4096, flush: FLUSH, log: silentLogger }), meta, objects, root };
    await next.engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES });
    await produce(next, 0, 12);
    await flush(zombie);
    await produce(next, 12, 14);
    const first = `${'0'.repeat(20)}.log`;
    pausedObjects.faults.add({ method: 'compose', when: (c) => String(c.args[0]).endsWith(first), action: { kind: 'fail', error: new InvalidRangeError(first, 'object holds 0 bytes, cannot copy 2452') } });
    const gate = new Gate();
    // The write that records the set-aside, however it is made.
    const recordsSetAside = (op: WriteOp): boolean => (op.type === 'put' && 'compose_fails' in op.item) || (op.type === 'update' && 'compose_fails' in (op.set ?? {}));
    pausedMeta.faults.add({ when: (c) => (c.method === 'write' && recordsSetAside(c.args[0])) || (c.method === 'transact' && c.args[0].some(recordsSetAside)), action: { kind: 'hang', gate } });
    const frozen = flush(zombie).catch((err: unknown) => err);
    await gate.reached;

    // Past the paused flusher's lease, the next leader flushes and composes segment 0.
    clock.advance(2 * DEFAULT_LEASE_MS);
    await produce(next, 14, 15);
    await flush(next);
    const composed = (await segments(next))[0]!;
    expect([composed.closed, composed.chunks, composed.composed]).toEqual([true, undefined, undefined]);
    expect((await chunkFiles(next)).filter((f) => f.startsWith('00000000000000000000+'))).toEqual([]);

    gate.release();
    await frozen;
    const after = (await segments(next))[0]!;
    expect([after.closed, after.chunks, after.composeFailures]).toEqual([true, undefined, undefined]);
    // What a user sees of it: a timestamp in its last chunk is found, and bulk reads serve it.
    expect((await next.engine.listOffsets('t', 0, 1_700_000_000_000 + 10_000)).offset).toBe(10);
    const app = createApp({ engine: next.engine, logger: silentLogger });
    const res = await app.request('http://samsa.test/v1/topics/t/partitions/0/segments?offset=0');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { segments: Array<{ base_offset: number }> }).segments[0]?.base_offset).toBe(0);
    expect(await values(next)).toEqual(expected(15));
    for (const n of [zombie, next]) await n.engine.close();
  });

  it('a composition that fails with throttling still fails its flush, is not set aside, and the next flush composes it', async () => {
    const chunked = await node('chunked', FLUSH, (o) => faultyObjectStore(o));
    const faults = (chunked.objects as ReturnType<typeof faultyObjectStore>).faults;
    await chunked.engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES });
    await produce(chunked, 0, 14);
    const throttled = new ThrottledError('S3 compose failed: throttled: HTTP 503: SlowDown');
    faults.add({ method: 'compose', action: { kind: 'fail', error: throttled } });
    await expect(flush(chunked)).rejects.toBe(throttled);
    expect(chunked.engine.compositionFailures).toBe(0);
    const [seg] = await segments(chunked);
    expect([seg!.chunks!.length > 1, seg!.composeFailures, seg!.composeRetryAt]).toEqual([true, undefined, undefined]);
    await produce(chunked, 14, 15);
    await flush(chunked);
    expect((await segments(chunked))[0]!.chunks).toBeUndefined();
    expect(await values(chunked)).toEqual(expected(15));
    await chunked.engine.close();
  });

  it('a composition whose flusher loses its lease midway stops there, is not set aside, and the next leader finishes it', async () => {
    const clock = new ManualClock();
    const meta = new SqliteMetaStore({ path: path.join(dir, 'c.sqlite'), fsync: false });
    const root = path.join(dir, 'c', 'objects');
    // The process pauses past its lease while S3 composes the .log (it goes on once it wakes).
    const objects = faultyObjectStore(new LocalObjectStore({ root, fsync: false }), [
      { method: 'compose', when: () => (clock.advance(DEFAULT_LEASE_MS), false), action: { kind: 'fail', error: undefined } },
    ]);
    const n: Node = { engine: new LogEngine(meta, objects, clock, { inlineMaxBytes: 4096, flush: FLUSH }), meta, objects, root };
    await n.engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES });
    await produce(n, 0, 14);
    await expect(flush(n)).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(n.engine.compositionFailures).toBe(0);
    const [seg] = await segments(n);
    expect([seg!.chunks!.length > 1, seg!.composeFailures, seg!.composeRetryAt]).toEqual([true, undefined, undefined]);
    objects.faults.clear();
    await produce(n, 14, 15);
    await flush(n);
    expect((await segments(n))[0]!.chunks).toBeUndefined();
    expect(await values(n)).toEqual(expected(15));
    await n.engine.close();
  });
});

describeAws('segments written in chunks on S3 + DynamoDB (emulator)', () => {
  let aws: TestStores | undefined;
  afterEach(async () => void (await aws?.cleanup()));

  it('by default (8 MiB chunks), a composed segment is the unchunked flush\'s files byte for byte, and no chunk is left', async () => {
    // 1 MiB batches, 32 MiB steps, 24 MiB segments: the first segment is three chunks (two steps
    // under load, then one grown by a small step), composed by server-side copies.
    const MiB = 1 << 20;
    const big = Array.from({ length: 40 }, (_, i) => encodeRecordBatch(Array.from({ length: 15 }, (_, j) => ({ value: new Uint8Array(64 * 1024).fill((i * 15 + j) % 251), timestamp: 1_700_000_000_000 + i }))));
    const plain = await node('plain', { ...DEFAULT_FLUSH_OPTIONS, stepBytes: 10 * MiB });
    aws = await awsStores();
    const engine = new LogEngine(aws.meta, aws.objects, undefined, { inlineMaxBytes: 4096, flush: { ...DEFAULT_FLUSH_OPTIONS, stepBytes: 10 * MiB } });
    const chunked: Node = { engine, meta: aws.meta, objects: aws.objects, root: '' };
    for (const n of [plain, chunked]) {
      await n.engine.createTopic('t', 1, { 'segment.bytes': 24 * MiB });
      for (const [from, to] of [[0, 10], [10, 20], [20, 22], [22, 30]] as const) {
        for (let i = from; i < to; i++) await n.engine.produceBatches('t', 0, new Uint8Array(big[i]!));
        await flush(n);
      }
    }
    const segs = await segments(chunked);
    expect(segs.map((x) => [x.closed, x.chunks?.length])).toEqual([[true, undefined], [false, undefined]]);
    expect((await aws.objects.list(`${partitionPrefix(await engine.topics.get('t'), 0)}chunks/`)).objects).toEqual([]);
    expect(await closedFiles(chunked)).toEqual(await closedFiles(plain));
    const got = (await chunked.engine.fetch('t', 0, { offset: 100, maxRecords: 1, maxBytes: 1 })).records();
    expect(got[0]!.value![0]).toBe(100 % 251);
    await plain.engine.close();
    await engine.close();
  }, 120_000);

  /**
   * A partition whose first segment, closed in chunks, cannot be composed: every compose of its
   * `<base>.log` is refused by S3 with an error no retry cures (AccessDenied, as the adapter
   * wraps it; a missing or short chunk, an index that does not parse fail the same way). Its
   * records are intact in the chunks. Forty batches are produced and flushed a few at a time.
   */
  async function stuckComposition(): Promise<Node & { objects: ReturnType<typeof faultyObjectStore> }> {
    aws = await awsStores();
    const objects = faultyObjectStore(aws.objects);
    const engine = new LogEngine(aws.meta, objects, undefined, { inlineMaxBytes: 4096, flush: FLUSH });
    const n = { engine, meta: aws.meta, objects, root: '' };
    await engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES });
    await produce(n, 0, 12);
    await flush(n);
    const denied = wrapAwsError({ name: 'AccessDenied', message: 'Access Denied', $fault: 'client', $metadata: { httpStatusCode: 403 } }, 'S3 compose');
    objects.faults.add({ method: 'compose', when: (c) => String(c.args[0]).endsWith(`${'0'.repeat(20)}.log`), times: Infinity, action: { kind: 'fail', error: denied } });
    for (const [from, to] of [[12, 15], [15, 27], [27, 40]] as const) {
      await produce(n, from, to);
      await flush(n);
    }
    return n;
  }

  it('a segment whose composition fails for good does not block its partition: later produces are flushed and every record reads', async () => {
    const n = await stuckComposition();
    expect(n.objects.faults.fired(0)).toBeGreaterThan(0);
    const t = await n.engine.topics.get('t');
    const head = await n.engine.head(t, 0);
    expect([head.nextOffset, head.flushed]).toEqual([40, 40]);
    // Segment 0 is still in chunks (readable through them); the ones after it were composed.
    expect((await segments(n)).map((s) => [s.base, s.closed, (s.chunks?.length ?? 0) > 1])).toEqual([
      [0, true, true],
      [12, true, false],
      [24, true, false],
      [36, false, true],
    ]);
    expect(await values(n)).toEqual(expected(40));
    expect(await values(n, 5)).toEqual(expected(40, 5));
    await n.engine.close();
  }, 120_000);

  it('a chunk object gone from S3 behind the flusher\'s back (a .timeindex) sets its composition aside the same way: the partition flushes on and every record reads', async () => {
    aws = await awsStores();
    const lines: Array<Record<string, unknown>> = [];
    const engine = new LogEngine(aws.meta, aws.objects, undefined, { inlineMaxBytes: 4096, flush: FLUSH, log: createLogger({ write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }) });
    const n: Node = { engine, meta: aws.meta, objects: aws.objects, root: '' };
    await engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES });
    await produce(n, 0, 12);
    await flush(n);
    const t = await engine.topics.get('t');
    const gone = (await aws.objects.list(`${partitionPrefix(t, 0)}chunks/`)).objects.map((o) => o.key).find((k) => k.endsWith('.timeindex'))!;
    await aws.objects.delete([gone]);
    await produce(n, 12, 27);
    await flush(n);
    const head = await engine.head(t, 0);
    expect([head.nextOffset, head.flushed]).toEqual([27, 27]);
    expect(engine.compositionFailures).toBe(1);
    expect(lines).toEqual([expect.objectContaining({ msg: 'composition set aside', segment_base: 0, err: expect.objectContaining({ name: 'ObjectNotFoundError' }) })]);
    expect((await segments(n))[0]!.composeFailures).toBe(1);
    expect(await values(n)).toEqual(expected(27));
    await engine.close();
  }, 120_000);

  // "A storage write can succeed and still report failure, and the SDK retries it": S3 applied
  // the composition's CompleteMultipartUpload, its response was lost, and the SDK's repeat
  // finds no such upload any more (S3: NoSuchUpload, "the upload may have been aborted or
  // completed"). Nothing is wrong with the segment: the next attempt finishes it. It must not
  // be set aside for minutes (then hours), out of reach of bulk reads meanwhile.
  it('a composition whose CompleteMultipartUpload applied but was repeated by the SDK (NoSuchUpload) is not set aside: the next flush composes it', async () => {
    const MiB = 1 << 20;
    const big = Array.from({ length: 12 }, (_, i) => encodeRecordBatch([{ value: new Uint8Array(MiB - 1024).fill(i % 251), timestamp: 1_700_000_000_000 + i }]));
    const [s3, ddb] = await Promise.all([makeS3Store(), makeDynamoStore()]);
    aws = { meta: ddb.store, objects: s3.store, cleanup: async () => void (await Promise.all([s3.cleanup(), ddb.cleanup()])) };
    // The first Complete of segment 0's .log is applied, and its answer lost; the repeat is told
    // the upload is gone.
    let repeated = 0;
    s3.client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: string };
        if (context.commandName === 'CompleteMultipartUploadCommand' && repeated === 0 && String(input.Key).endsWith(`${'0'.repeat(20)}.log`)) {
          repeated++;
          await next(args);
          // What S3 answers a Complete of an upload already completed (moto answers it again).
          throw new NoSuchUpload({ message: 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', $metadata: { httpStatusCode: 404 } });
        }
        return next(args);
      },
      { step: 'initialize', name: 'repeatFirstComplete' },
    );
    const engine = new LogEngine(ddb.store, s3.store, undefined, { inlineMaxBytes: 4096, flush: { ...DEFAULT_FLUSH_OPTIONS, stepBytes: 3 * MiB, chunkBytes: 2 * MiB }, log: silentLogger });
    const n: Node = { engine, meta: ddb.store, objects: s3.store, root: '' };
    await engine.createTopic('t', 1, { 'segment.bytes': 7 * MiB });
    for (const [from, to] of [[0, 3], [3, 6], [6, 9], [9, 12]] as const) {
      for (let i = from; i < to; i++) await engine.produceBatches('t', 0, new Uint8Array(big[i]!));
      await engine.flushPartition(await engine.topics.get('t'), 0).catch(() => undefined);
    }
    expect(repeated).toBe(1);
    const first = (await segments(n))[0]!;
    expect([first.base, first.closed, first.composeFailures, first.chunks]).toEqual([0, true, undefined, undefined]);
    expect(engine.compositionFailures).toBe(0);
    // Bulk reads serve it.
    const app = createApp({ engine, logger: silentLogger });
    const res = await app.request('http://samsa.test/v1/topics/t/partitions/0/segments?offset=0');
    const answer = (await res.json()) as { segments: Array<{ base_offset: number }> };
    expect(answer.segments[0]?.base_offset).toBe(0);
    expect(await values(n)).toEqual(expected(12));
    await engine.close();
  }, 120_000);

  /**
   * On S3 + DynamoDB and a manual clock: segment 0 closes in chunks, and S3 refuses every
   * composition of its `<base>.log` (AccessDenied, a failure no retry cures) until `cure()`.
   * Its first attempt, by the flush that closed it, sets it aside. `passes()` runs what the
   * schedules run: a flush pass over every partition, then a retention pass.
   */
  async function setAsideOnS3() {
    aws = await awsStores();
    const clock = new ManualClock();
    const objects = faultyObjectStore(aws.objects);
    const engine = new LogEngine(aws.meta, objects, clock, { inlineMaxBytes: 4096, flush: FLUSH, log: silentLogger });
    const n: Node & { objects: typeof objects } = { engine, meta: aws.meta, objects, root: '' };
    await engine.createTopic('t', 1, { 'segment.bytes': SEGMENT_BYTES, 'retention.ms': -1 });
    await produce(n, 0, 12);
    await flush(n);
    const denied = wrapAwsError({ name: 'AccessDenied', message: 'Access Denied', $fault: 'client', $metadata: { httpStatusCode: 403 } }, 'S3 compose');
    objects.faults.add({ method: 'compose', when: (c) => String(c.args[0]).endsWith(`${'0'.repeat(20)}.log`), times: Infinity, action: { kind: 'fail', error: denied } });
    await produce(n, 12, 14);
    await flush(n);
    expect((await segments(n))[0]!.composeFailures).toBe(1);
    const passes = async (): Promise<void> => {
      await engine.flushAll();
      await engine.retention.runOnce();
    };
    return { n, clock, passes, attempts: () => objects.faults.fired(0), cure: () => objects.faults.clear() };
  }

  /** Segment 0 composed: its chunk objects gone, its entry plain, bulk reads serving it, every record read. */
  async function expectComposed(n: Node, records: number): Promise<void> {
    const [first] = await segments(n);
    expect([first!.base, first!.closed, first!.chunks, first!.composeFailures, first!.composeRetryAt]).toEqual([0, true, undefined, undefined, undefined]);
    const t = await n.engine.topics.get('t');
    expect((await n.objects.list(`${partitionPrefix(t, 0)}chunks/${'0'.repeat(20)}+`)).objects).toEqual([]);
    const app = createApp({ engine: n.engine, logger: silentLogger });
    const res = await app.request('http://samsa.test/v1/topics/t/partitions/0/segments?offset=0');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { segments: Array<{ base_offset: number }> }).segments[0]?.base_offset).toBe(0);
    expect(await values(n)).toEqual(expected(records));
    // Nothing left in the queue of set-aside compositions.
    expect((await n.meta.query({ pk: COMPOSE_DUE_PK })).items).toEqual([]);
  }

  // The step that closes the segment rolls 18 more, small ones, and then the partition takes no
  // more records; a retention pass within the back-off summarises every closed segment, the
  // set-aside one included. The cause is then put right: once the back-off has run out, the
  // scheduled passes must try again, with no produce to wake the partition's flush.
  it('a set-aside composition on a partition that takes no more records is composed by the scheduled passes once its back-off runs out', async () => {
    const { n, clock, passes, cure } = await setAsideOnS3();
    await n.engine.topics.alter('t', { config: { 'segment.bytes': BATCH + 100 } });
    await produce(n, 14, 32);
    await flush(n);
    await n.engine.retention.runOnce();
    cure();
    clock.advance(COMPOSE_RETRY_FIRST_MS - 1);
    await passes();
    expect((await segments(n))[0]!.chunks!.length).toBeGreaterThan(1); // not before its time
    clock.advance(1);
    await passes();
    await expectComposed(n, 32);
    await n.engine.close();
  }, 120_000);

  // The partition rolls on: 28 segments after the set-aside one, far past the flush's look-back
  // (PENDING_COMPOSE_LOOKBACK), and a retention pass within the back-off summarises them all.
  it('a set-aside composition followed by more segments than the flush looks back over is still tried again and composed', async () => {
    const { n, clock, passes, cure } = await setAsideOnS3();
    await n.engine.topics.alter('t', { config: { 'segment.bytes': BATCH + 100 } });
    for (const [from, to] of [[14, 24], [24, 34], [34, 42]] as const) {
      await produce(n, from, to);
      await flush(n);
    }
    await n.engine.retention.runOnce();
    const segs = await segments(n);
    expect(segs.length - 1).toBeGreaterThan(PENDING_COMPOSE_LOOKBACK + 4);
    expect(segs[0]!.chunks!.length).toBeGreaterThan(1);
    cure();
    clock.advance(COMPOSE_RETRY_FIRST_MS);
    await produce(n, 42, 44);
    await passes();
    await expectComposed(n, 44);
    await n.engine.close();
  }, 120_000);

  // Credentials that expired between the SDK resolving them and S3 checking them, and a clock
  // S3 finds too far off: on Lambda and ECS the SDK fetches fresh credentials (and corrects its
  // clock offset) for the next request, so the next attempt succeeds. Not a failure that recurs:
  // the composition must not be set aside for minutes, out of reach of bulk reads meanwhile.
  for (const [code, status, message] of [
    ['ExpiredToken', 400, 'The provided token has expired.'],
    ['RequestTimeTooSkewed', 403, 'The difference between the request time and the current time is too large.'],
  ] as const) {
    it(`a composition S3 refuses with ${code} is not set aside: the next flush composes it`, async () => {
      const MiB = 1 << 20;
      const big = Array.from({ length: 12 }, (_, i) => encodeRecordBatch([{ value: new Uint8Array(MiB - 1024).fill(i % 251), timestamp: 1_700_000_000_000 + i }]));
      const [s3, ddb] = await Promise.all([makeS3Store(), makeDynamoStore()]);
      aws = { meta: ddb.store, objects: s3.store, cleanup: async () => void (await Promise.all([s3.cleanup(), ddb.cleanup()])) };
      // The first Complete of segment 0's .log is refused (not applied).
      let refused = 0;
      s3.client.middlewareStack.add(
        (next, context) => async (args) => {
          const input = args.input as { Key?: string };
          if (context.commandName === 'CompleteMultipartUploadCommand' && refused === 0 && String(input.Key).endsWith(`${'0'.repeat(20)}.log`)) {
            refused++;
            throw new S3ServiceException({ name: code, $fault: 'client', message, $metadata: { httpStatusCode: status } });
          }
          return next(args);
        },
        { step: 'initialize', name: 'refuseFirstComplete' },
      );
      const engine = new LogEngine(ddb.store, s3.store, undefined, { inlineMaxBytes: 4096, flush: { ...DEFAULT_FLUSH_OPTIONS, stepBytes: 3 * MiB, chunkBytes: 2 * MiB }, log: silentLogger });
      const n: Node = { engine, meta: ddb.store, objects: s3.store, root: '' };
      await engine.createTopic('t', 1, { 'segment.bytes': 7 * MiB });
      for (const [from, to] of [[0, 3], [3, 6], [6, 9], [9, 12]] as const) {
        for (let i = from; i < to; i++) await engine.produceBatches('t', 0, new Uint8Array(big[i]!));
        await engine.flushPartition(await engine.topics.get('t'), 0).catch(() => undefined);
      }
      expect(refused).toBe(1);
      const first = (await segments(n))[0]!;
      expect([first.base, first.closed, first.composeFailures, first.chunks]).toEqual([0, true, undefined, undefined]);
      expect(engine.compositionFailures).toBe(0);
      const app = createApp({ engine, logger: silentLogger });
      const res = await app.request('http://samsa.test/v1/topics/t/partitions/0/segments?offset=0');
      expect(((await res.json()) as { segments: Array<{ base_offset: number }> }).segments[0]?.base_offset).toBe(0);
      expect(await values(n)).toEqual(expected(12));
      await engine.close();
    }, 120_000);
  }

  it('bulk reads serve the sealed segments after one whose composition was set aside, at their offsets', async () => {
    const n = await stuckComposition();
    const app = createApp({ engine: n.engine, logger: silentLogger });
    const bulk = async (offset: number) => {
      const res = await app.request(`http://samsa.test/v1/topics/t/partitions/0/segments?offset=${offset}`);
      expect(res.status).toBe(200);
      return (await res.json()) as { segments: Array<{ base_offset: number; last_offset: number; url: string; range: string }>; next_offset: number };
    };
    // Segment 0 is in chunks: its offsets are the fetch route's, as an unsealed tail's are.
    expect(await bulk(0)).toMatchObject({ segments: [], next_offset: 0 });
    // Past it, segments 12 and 24 are sealed: handed out, and their presigned URLs serve them.
    for (const from of [12, 17, 24]) {
      const answer = await bulk(from);
      expect(answer.next_offset).toBe(36);
      const offsets: number[] = [];
      for (const r of answer.segments) {
        const res = await fetch(r.url, { headers: { range: r.range } });
        expect(res.status).toBe(206);
        for (const b of splitBatches(new Uint8Array(await res.arrayBuffer()))) offsets.push(b.header.baseOffset);
      }
      expect(offsets).toEqual(Array.from({ length: 36 - from }, (_, i) => from + i));
    }
    await n.engine.close();
  }, 120_000);
});
