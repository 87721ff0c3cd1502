// The Kafka listener's produce path as a client on one connection sees it: requests pipelined
// behind a Produce read what it wrote (Kafka's broker runs a connection's requests one at a
// time), and what a Produce answer carries. Real listener, real sockets, local stores, raw
// frames.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import { ErrorCode, Reader, Writer } from '../../../lib/kafka/protocol';
import { type KafkaListener, startKafkaListener } from '../../../lib/kafka/server';
import { LogEngine } from '../../../lib/log/engine';
import { headKey } from '../../../lib/log/keys';
import { LOG_START_REFRESH_MS } from '../../../lib/log/log-starts';
import { MAX_PRODUCERS_PER_PARTITION } from '../../../lib/log/producers';
import { DEFAULT_RETENTION_OPTIONS } from '../../../lib/log/retention';
import { encodeRecordBatch } from '../../../lib/records';
import { ManualClock } from '../../../lib/util/clock';
import { localStores, type TestStores } from '../../helpers/stores';
import { RawClient } from './raw-client';

let stores: TestStores;
let engine: LogEngine;
let coordinator: GroupCoordinator;
const listeners: KafkaListener[] = [];
const clients: RawClient[] = [];

beforeAll(async () => {
  stores = await localStores('samsa-kafka-produce-');
  engine = new LogEngine(stores.meta, stores.objects);
  coordinator = new GroupCoordinator(engine.meta, engine);
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.end();
  await Promise.all(listeners.splice(0).map((l) => l.close()));
});

afterAll(async () => {
  await engine.close();
  await stores.cleanup();
});

async function connect(): Promise<RawClient> {
  const l = await startKafkaListener({ engine, coordinator, port: 0, host: '127.0.0.1' });
  listeners.push(l);
  const c = await RawClient.connect(l.port);
  clients.push(c);
  return c;
}

const enc = new TextEncoder();

/** A Produce request body (v3+ grammar) of one batch of `values` to topic/partition. */
function produceBody(topic: string, partition: number, values: string[], acks = 1): Writer {
  const batch = encodeRecordBatch(values.map((v) => ({ value: enc.encode(v) })));
  const w = new Writer().string(null).int16(acks).int32(30_000);
  return w.array([topic], (x, t) => void x.string(t).array([partition], (y, p) => void y.int32(p).bytes(batch)));
}

/** A Produce answer of one partition, read in version `v`: [error, base offset, log start offset (v5+)]. */
function readProduce(r: Reader, v: number): { error: number; base: number; logStart: number | undefined } {
  const [p] = r.array((x) => (x.string(), x.array((y) => {
    y.int32();
    const error = y.int16();
    const base = y.int64();
    y.int64();
    return { error, base, logStart: v >= 5 ? y.int64() : undefined };
  }, 22)), 6).flat();
  return p!;
}

/** Fetch v4 of one partition at `offset`, no wait: [error, high watermark, record count]. */
function fetchBody(topic: string, partition: number, offset: number): Writer {
  const w = new Writer().int32(-1).int32(0).int32(1).int32(1 << 20).int8(0);
  return w.array([topic], (x, t) => void x.string(t).array([partition], (y, p) => void y.int32(p).int64(offset).int32(1 << 20)));
}

function readFetch(r: Reader): { error: number; hw: number; bytes: number } {
  r.int32();
  const [p] = r.array((x) => (x.string(), x.array((y) => {
    y.int32();
    const error = y.int16();
    const hw = y.int64();
    y.int64();
    y.nullableArray((z) => [z.int64(), z.int64()], 16);
    return { error, hw, bytes: y.nullableBytes()?.length ?? 0 };
  }, 30)), 6).flat();
  return p!;
}

/** ListOffsets v1 latest of one partition: the offset. */
function latestBody(topic: string, partition: number): Writer {
  return new Writer().int32(-1).array([topic], (w, t) => void w.string(t).array([partition], (x, p) => void x.int32(p).int64(-1)));
}

function readLatest(r: Reader): { error: number; offset: number } {
  const [p] = r.array((x) => (x.string(), x.array((y) => (y.int32(), { error: y.int16(), offset: (y.int64(), y.int64()) }), 6)), 6).flat();
  return p!;
}

describe('read your writes on one connection', () => {
  it('a Fetch and a ListOffsets sent right behind a Produce (pipelined, not waiting for its answer) see its records', async () => {
    await engine.createTopic('ryw', 2);
    const c = await connect();
    for (let round = 0; round < 5; round++) {
      // As a script or an admin tool does it: produce, then read back at once, on the same
      // connection. Kafka's broker answers the Fetch only after the Produce has been applied.
      c.request(0, 3, 3 * round, produceBody('ryw', round % 2, [`a${round}`, `b${round}`]));
      c.request(1, 4, 3 * round + 1, fetchBody('ryw', round % 2, 2 * Math.floor(round / 2)));
      c.request(2, 1, 3 * round + 2, latestBody('ryw', round % 2));
      const produced = readProduce((await c.reply())!, 3);
      expect(produced.error).toBe(ErrorCode.NONE);
      const fetched = readFetch((await c.reply())!);
      expect(fetched.error).toBe(ErrorCode.NONE);
      expect(fetched.hw).toBe(produced.base + 2);
      expect(fetched.bytes).toBeGreaterThan(0);
      expect(readLatest((await c.reply())!)).toEqual({ error: ErrorCode.NONE, offset: produced.base + 2 });
    }
  });

  it('an acks=0 Produce is applied before a Fetch sent after it on the connection', async () => {
    await engine.createTopic('ryw-acks0', 1);
    const c = await connect();
    c.request(0, 3, 1, produceBody('ryw-acks0', 0, ['x', 'y', 'z'], 0));
    c.request(1, 4, 2, fetchBody('ryw-acks0', 0, 0));
    const r = (await c.response())!;
    expect(new Reader(r).int32()).toBe(2);
    const fetched = readFetch(new Reader(r.subarray(4)));
    expect(fetched).toMatchObject({ error: ErrorCode.NONE, hw: 3 });
    expect(fetched.bytes).toBeGreaterThan(0);
  });
});

describe('Produce answer', () => {
  it('v5+ carries the partition’s log start offset (0 for a log retention never trimmed), not -1', async () => {
    await engine.createTopic('log-start', 1);
    const c = await connect();
    for (const v of [5, 7]) {
      c.request(0, v, v, produceBody('log-start', 0, ['a']));
      expect(readProduce((await c.reply())!, v)).toMatchObject({ error: ErrorCode.NONE, logStart: 0 });
    }
  });
});

describe('Produce answer on an items-mode topic (design note 0010)', () => {
  it('log_start_offset follows a log start moved by another instance’s retention, without the answer waiting for a read', async () => {
    const clock = new ManualClock(Date.now());
    const opts = { leaseMs: 30_000, inlineMaxBytes: 1024, itemCommits: true, flush: { stepBytes: 64 * 1024, indexIntervalBytes: 256 }, retention: DEFAULT_RETENTION_OPTIONS };
    const writer = new LogEngine(stores.meta, stores.objects, clock, opts);
    const other = new LogEngine(stores.meta, stores.objects, clock, opts);
    try {
      const t = 'items-log-start';
      await writer.createTopic(t, 1, { 'retention.ms': 60_000, 'segment.bytes': 1024 });
      expect((await writer.topics.get(t)).commit).toBe('items');
      const produce = (v: string) => writer.produceBatchesWithLogStart(t, 0, encodeRecordBatch([{ value: enc.encode(`${v}-${'v'.repeat(150)}`), timestamp: clock.now() }]));
      for (let i = 0; i < 20; i++) expect((await produce(`old${i}`)).log_start_offset).toBe(0);
      const topic = await other.topics.get(t);
      await other.flushPartition(topic, 0);
      clock.advance(120_000);
      for (let i = 0; i < 10; i++) await produce(`new${i}`);
      await other.flushPartition(topic, 0);
      await other.retention.runOnce();
      const logStart = (await other.describeTopic(t)).partitions[0]!.log_start_offset;
      expect(logStart).toBeGreaterThan(0);
      // Never past the real log start, and at most one refresh period (and one answer) behind
      // it, however busy the partition: items-mode commits keep their cached log end fresh and
      // never read the head themselves (steps under END_CACHE_MS apart, as a steady producer's).
      expect((await produce('a')).log_start_offset).toBeLessThanOrEqual(logStart);
      for (let waited = 0; waited <= LOG_START_REFRESH_MS; waited += LOG_START_REFRESH_MS / 2) {
        clock.advance(LOG_START_REFRESH_MS / 2);
        await produce('b');
      }
      await new Promise((r) => setImmediate(r));
      expect((await produce('c')).log_start_offset).toBe(logStart);
    } finally {
      await writer.close();
      await other.close();
    }
  });
});

describe('Produce answer on an items-mode topic: what the log start refresh costs', () => {
  it('the background refresh of log_start_offset reads the head alone, not the log’s end too (one store read a partition a minute, not two)', async () => {
    const clock = new ManualClock(Date.now());
    const opts = { leaseMs: 30_000, inlineMaxBytes: 1024, itemCommits: true };
    const writer = new LogEngine(stores.meta, stores.objects, clock, opts);
    try {
      const t = 'items-log-start-cost';
      await writer.createTopic(t, 1);
      expect((await writer.topics.get(t)).commit).toBe('items');
      const produce = () => writer.produceBatchesWithLogStart(t, 0, encodeRecordBatch([{ value: enc.encode('v'), timestamp: clock.now() }]));
      await produce();
      const queries = vi.spyOn(stores.meta, 'query');
      const gets = vi.spyOn(stores.meta, 'get');
      try {
        // A steady producer (steps under the log end's cache period): its commits read nothing;
        // the refresh, once the value is a period old, reads the head.
        for (let waited = 0; waited <= LOG_START_REFRESH_MS; waited += LOG_START_REFRESH_MS / 2) {
          clock.advance(LOG_START_REFRESH_MS / 2);
          expect((await produce()).log_start_offset).toBe(0);
        }
        await new Promise((r) => setTimeout(r, 50));
        const head = headKey((await writer.topics.get(t)).id, 0);
        expect(gets.mock.calls.filter(([k]) => k.pk === head.pk && k.sk === head.sk).length, 'the refresh read the head').toBe(1);
        expect(queries.mock.calls.length, 'no query of the log’s end for a log start').toBe(0);
      } finally {
        queries.mockRestore();
        gets.mockRestore();
      }
    } finally {
      await writer.close();
    }
  });
});

describe('fencing a zombie producer', () => {
  it('an epoch bumped through another instance fences the old epoch on a partition that holds no state of the producer, whatever its sequence, even while this instance trusts its cached epoch', async () => {
    // This instance's clock stands still: the epoch it cached stays "fresh" for the whole test,
    // as it does for DEFAULT_EPOCH_CACHE_MS in production.
    const a = new LogEngine(stores.meta, stores.objects, new ManualClock(Date.now()));
    const other = new LogEngine(stores.meta, stores.objects);
    try {
      await a.createTopic('zombie', 2);
      const l = await startKafkaListener({ engine: a, coordinator: new GroupCoordinator(a.meta, a), port: 0, host: '127.0.0.1' });
      listeners.push(l);
      const c = await RawClient.connect(l.port);
      clients.push(c);
      c.request(22, 0, 1, new Writer().string(null).int32(60_000));
      const init = (await c.reply())!;
      init.int32();
      expect(init.int16()).toBe(ErrorCode.NONE);
      const p = { id: init.int64(), epoch: init.int16() };
      const produce = async (partition: number, sequence: number): Promise<number> => {
        const batch = encodeRecordBatch([{ value: enc.encode(`z${sequence}`) }], { producerId: p.id, producerEpoch: p.epoch, baseSequence: sequence });
        const body = new Writer().string(null).int16(-1).int32(5000);
        body.array(['zombie'], (w, t) => void w.string(t).array([partition], (x) => void x.int32(partition).bytes(batch)));
        c.request(0, 3, 2, body);
        return readProduce((await c.reply())!, 3).error;
      };
      expect(await produce(0, 0)).toBe(ErrorCode.NONE);
      // A new instance of the application takes over the producer id (POST /v1/producers with
      // it, on another server): the epoch is bumped, and the old instance is a zombie.
      await other.producers.init(p.id);
      // Partition 1 holds no state of the producer, so nothing in its head can fence the old
      // epoch: without a check of the registry, the zombie's batch (at any sequence, by Kafka's
      // rule for an unknown producer) would be appended.
      expect(await produce(1, 57)).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
      expect(await produce(1, 0)).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
      expect((await other.describeTopic('zombie')).partitions[1]!.high_watermark).toBe(0);
    } finally {
      await a.close();
      await other.close();
    }
  });
});

describe('fencing a zombie producer of a bumped epoch', () => {
  it('an epoch bumped through another instance fences an older epoch on a partition whose head holds only a still older epoch of the producer, even while this instance trusts its cached epoch', async () => {
    // This instance's clock stands still: the epoch it cached stays "fresh" for the whole test.
    const a = new LogEngine(stores.meta, stores.objects, new ManualClock(Date.now()));
    const other = new LogEngine(stores.meta, stores.objects);
    try {
      await a.createTopic('zombie-bumped', 1);
      const l = await startKafkaListener({ engine: a, coordinator: new GroupCoordinator(a.meta, a), port: 0, host: '127.0.0.1' });
      listeners.push(l);
      const c = await RawClient.connect(l.port);
      clients.push(c);
      c.request(22, 0, 1, new Writer().string(null).int32(60_000));
      const init = (await c.reply())!;
      init.int32();
      expect(init.int16()).toBe(ErrorCode.NONE);
      const id = init.int64();
      const produce = async (epoch: number, sequence: number): Promise<number> => {
        const batch = encodeRecordBatch([{ value: enc.encode(`z${epoch}-${sequence}`) }], { producerId: id, producerEpoch: epoch, baseSequence: sequence });
        const body = new Writer().string(null).int16(-1).int32(5000);
        body.array(['zombie-bumped'], (w, t) => void w.string(t).array([0], (x) => void x.int32(0).bytes(batch)));
        c.request(0, 3, 2, body);
        return readProduce((await c.reply())!, 3).error;
      };
      expect(await produce(0, 0)).toBe(ErrorCode.NONE);
      // The producer bumps its epoch through this instance (which caches epoch 1), then a new
      // instance of the application takes the id over through another server (epoch 2): the
      // process at epoch 1 is a zombie. The partition's head knows only epoch 0, so it cannot
      // fence epoch 1 by itself.
      expect((await a.producers.init(id)).epoch).toBe(1);
      expect((await other.producers.init(id)).epoch).toBe(2);
      expect(await produce(1, 0)).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
      expect((await other.describeTopic('zombie-bumped')).partitions[0]!.high_watermark).toBe(1);
    } finally {
      await a.close();
      await other.close();
    }
  });
});

describe('idempotent retries on a partition with many producers', () => {
  it('a retry of a producer’s first batch is not appended again after MAX_PRODUCERS_PER_PARTITION other producers wrote the partition in between', async () => {
    await engine.createTopic('crowd', 1);
    const c = await connect();
    const init = async (): Promise<{ id: number; epoch: number }> => {
      c.request(22, 0, 1, new Writer().string(null).int32(60_000));
      const r = (await c.reply())!;
      r.int32();
      expect(r.int16()).toBe(ErrorCode.NONE);
      return { id: r.int64(), epoch: r.int16() };
    };
    const produce = async (p: { id: number; epoch: number }, value: string): Promise<{ error: number; base: number }> => {
      const batch = encodeRecordBatch([{ value: enc.encode(value) }], { producerId: p.id, producerEpoch: p.epoch, baseSequence: 0 });
      const body = new Writer().string(null).int16(-1).int32(5000);
      body.array(['crowd'], (w, t) => void w.string(t).array([0], (x) => void x.int32(0).bytes(batch)));
      c.request(0, 3, 2, body);
      return readProduce((await c.reply())!, 3);
    };
    const p = await init();
    // Its first batch is appended, but the answer is lost (the client sees a timeout).
    expect(await produce(p, 'first')).toEqual({ error: ErrorCode.NONE, base: 0, logStart: undefined });
    // Meanwhile as many other producers (a fleet of short-lived ones, say) write the partition.
    for (let i = 0; i < MAX_PRODUCERS_PER_PARTITION; i++) expect((await produce(await init(), `other-${i}`)).error).toBe(ErrorCode.NONE);
    // The retry, seconds later, well within any client's delivery timeout: the original offset,
    // nothing appended (Kafka, which forgets a producer only when it expires, answers so).
    expect(await produce(p, 'first')).toEqual({ error: ErrorCode.NONE, base: 0, logStart: undefined });
    const head = (await engine.describeTopic('crowd')).partitions[0]!;
    expect(head.high_watermark).toBe(MAX_PRODUCERS_PER_PARTITION + 1);
  }, 60_000);
});
