// The Kafka listener across a topic's lifecycle — deleted and re-created under a live group,
// its log start moved by retention, partitions added, deleted under a long poll — pinned against
// what Kafka answers and what the HTTP API answers for the same log and offset store. Real
// listener, real sockets, local stores; the engine's clock is a manual one, so that a deletion's
// grace and retention.ms pass when a test says so.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import { ErrorCode, Writer } from '../../../lib/kafka/protocol';
import { type KafkaListener, startKafkaListener } from '../../../lib/kafka/server';
import { LogEngine } from '../../../lib/log/engine';
import { DEFAULT_RETENTION_OPTIONS } from '../../../lib/log/retention';
import { codecsReady, encodeRecordBatch } from '../../../lib/records';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import type { MetaStore } from '../../../lib/storage/ports';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';
import { ManualClock } from '../../../lib/util/clock';
import { RawClient } from './raw-client';

let dir: string;
let meta: MetaStore;
let engine: LogEngine;
let coordinator: GroupCoordinator;
let clock: ManualClock;
const listeners: KafkaListener[] = [];
const clients: RawClient[] = [];
const enc = new TextEncoder();

beforeAll(async () => {
  await codecsReady();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-kafka-lifecycle-'));
  clock = new ManualClock(Date.now());
  meta = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
  engine = new LogEngine(meta, new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }), clock, {
    leaseMs: 30_000,
    inlineMaxBytes: 1024,
    flush: { stepBytes: 64 * 1024, indexIntervalBytes: 256 },
    retention: DEFAULT_RETENTION_OPTIONS,
  });
  // Its own (real) clock: advancing the engine's never expires a member.
  coordinator = new GroupCoordinator(meta, engine, { topicRefreshMs: 0 });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.end();
  await Promise.all(listeners.splice(0).map((l) => l.close()));
});

afterAll(async () => {
  await engine.close();
  await meta.close?.();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function connect(): Promise<RawClient> {
  const l = await startKafkaListener({ engine, coordinator, port: 0, host: '127.0.0.1' });
  listeners.push(l);
  const c = await RawClient.connect(l.port);
  clients.push(c);
  return c;
}

async function produce(topic: string, values: string[], partition = 0): Promise<void> {
  for (const v of values) await engine.produce(topic, [{ partition, value: enc.encode(v), timestamp: clock.now() }]);
}

/** Delete the topic, let its deletion finish (the grace passes on the engine's clock), create it again. */
async function recreate(topic: string, partitions = 1): Promise<void> {
  await engine.deleteTopic(topic);
  for (let i = 0; ; i++) {
    clock.advance(60_000);
    await engine.retention.runOnce();
    try {
      await engine.createTopic(topic, partitions);
      return;
    } catch (err) {
      if (i > 5) throw err;
    }
  }
}

// --- frames ---------------------------------------------------------------------------------

/** ConsumerProtocolAssignment v0: the partitions a member is given, as KafkaJS and the Java client encode it. */
function assignment(topic: string, partitions: number[]): Uint8Array {
  return new Writer()
    .int16(0)
    .array([topic], (w, t) => void w.string(t).array(partitions, (x, p) => void x.int32(p)))
    .bytes(null)
    .finish();
}

/** JoinGroup v1 then SyncGroup v0 as the group's only member (the leader): its member id and generation. */
async function joinAlone(c: RawClient, group: string, topic: string, partitions: number[], member = ''): Promise<{ memberId: string; generation: number }> {
  const subscription = new Writer().int16(0).array([topic], (w, t) => void w.string(t)).bytes(null).finish();
  c.request(11, 1, 1, new Writer().string(group).int32(10_000).int32(5000).string(member).string('consumer').array(['range'], (w, p) => void w.string(p).bytes(subscription)));
  const j = (await c.reply())!;
  expect(j.int16()).toBe(ErrorCode.NONE);
  const generation = j.int32();
  j.string();
  j.string();
  const memberId = j.string();
  c.request(14, 0, 2, new Writer().string(group).int32(generation).string(memberId).array([memberId], (w, m) => void w.string(m).bytes(assignment(topic, partitions))));
  expect((await c.reply())!.int16()).toBe(ErrorCode.NONE);
  return { memberId, generation };
}

/** OffsetCommit v2 of one partition; its error code. */
async function commit(c: RawClient, group: string, generation: number, memberId: string, topic: string, partition: number, offset: number): Promise<number> {
  const body = new Writer().string(group).int32(generation).string(memberId).int64(-1);
  body.array([topic], (w, t) => void w.string(t).array([partition], (x, p) => void x.int32(p).int64(offset).string(null)));
  c.request(8, 2, 3, body);
  return (await c.reply())!.array((x) => (x.string(), x.array((y) => (y.int32(), y.int16()), 6)[0]!), 6)[0]!;
}

/** OffsetFetch v2 of one partition: its committed offset. */
async function committed(c: RawClient, group: string, topic: string, partition: number): Promise<number> {
  c.request(9, 2, 4, new Writer().string(group).array([topic], (w, t) => void w.string(t).array([partition], (x, p) => void x.int32(p))));
  const r = (await c.reply())!;
  const offsets = r.array((x) => (x.string(), x.array((y) => (y.int32(), [y.int64(), y.string(), y.int16()] as const), 6)), 6).flat();
  expect(r.int16()).toBe(ErrorCode.NONE);
  return offsets[0]![0];
}

async function heartbeat(c: RawClient, group: string, generation: number, memberId: string): Promise<number> {
  c.request(12, 0, 5, new Writer().string(group).int32(generation).string(memberId));
  return (await c.reply())!.int16();
}

describe('a topic deleted and re-created under a Kafka group', () => {
  it('a commit made with a generation whose assignment predates the re-creation is refused (ILLEGAL_GENERATION), not stored as the new topic’s offset, and the group rebalances', async () => {
    const topic = 'lc-stale-commit';
    const group = 'lc-stale-group';
    await engine.createTopic(topic, 1);
    await produce(topic, ['old0', 'old1', 'old2', 'old3', 'old4']);
    const c = await connect();
    const m = await joinAlone(c, group, topic, [0]);
    expect(await commit(c, group, m.generation, m.memberId, topic, 0, 5)).toBe(ErrorCode.NONE);
    expect(await committed(c, group, topic, 0)).toBe(5);

    // The member is slow (a long batch, a GC pause): meanwhile its topic is deleted and created
    // again, and the new topic takes 8 records.
    await recreate(topic);
    await produce(topic, ['new0', 'new1', 'new2', 'new3', 'new4', 'new5', 'new6', 'new7']);
    // Kafka deletes a deleted topic's committed offsets: the new topic has none.
    expect(await committed(c, group, topic, 0)).toBe(-1);

    // Its next commit is a position in the old log. Stored as the new topic's, it would make the
    // group (this member after a restart, or whoever gets the partition) resume at 5 and skip
    // new0..new4 without a trace. The HTTP API refuses such a commit too (ILLEGAL_GENERATION,
    // and the group moves to a generation that knows the new topic).
    expect(await commit(c, group, m.generation, m.memberId, topic, 0, 5)).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(await committed(c, group, topic, 0)).toBe(-1);
    expect(await heartbeat(c, group, m.generation, m.memberId)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);

    // Re-joined, the member's new generation knows the new topic: its commits are taken.
    const again = await joinAlone(c, group, topic, [0], m.memberId);
    expect(again.generation).toBeGreaterThan(m.generation);
    expect(await commit(c, group, again.generation, again.memberId, topic, 0, 3)).toBe(ErrorCode.NONE);
    expect(await committed(c, group, topic, 0)).toBe(3);
  });
});

/** InitProducerId v0 (idempotent, no transactional id): the producer id and epoch. */
async function initProducer(c: RawClient): Promise<{ id: number; epoch: number }> {
  c.request(22, 0, 6, new Writer().string(null).int32(60_000));
  const r = (await c.reply())!;
  r.int32();
  expect(r.int16()).toBe(ErrorCode.NONE);
  return { id: r.int64(), epoch: r.int16() };
}

/** Produce v3 (acks 1) of one idempotent batch to partition 0: its error code and base offset. */
async function produceIdempotent(c: RawClient, topic: string, p: { id: number; epoch: number }, sequence: number, values: string[]): Promise<{ error: number; base: number }> {
  const batch = encodeRecordBatch(
    values.map((v) => ({ value: enc.encode(v) })),
    { producerId: p.id, producerEpoch: p.epoch, baseSequence: sequence },
  );
  const body = new Writer().string(null).int16(1).int32(5000);
  body.array([topic], (w, t) => void w.string(t).array([0], (x) => void x.int32(0).bytes(batch)));
  c.request(0, 3, 7, body);
  const r = (await c.reply())!;
  return r.array((x) => (x.string(), x.array((y) => (y.int32(), { error: y.int16(), base: y.int64(), _: y.int64() }), 22)), 6)[0]![0]!;
}

describe('an idempotent producer across its topic’s deletion and re-creation', () => {
  it('its next batch to the new topic is accepted at the sequence it has reached (Kafka accepts any sequence from a producer the partition holds no state of), and the new topic dedups from there', async () => {
    const topic = 'lc-idempotent';
    await engine.createTopic(topic, 1);
    const c = await connect();
    const p = await initProducer(c);
    for (let seq = 0; seq < 3; seq++) expect(await produceIdempotent(c, topic, p, seq, [`old${seq}`])).toEqual({ error: ErrorCode.NONE, base: seq, _: -1 });

    await recreate(topic);
    // KafkaJS, librdkafka and the Java client number a partition's batches on from 3: the
    // partition is known to them by name. The new incarnation has no state of this producer;
    // Kafka's broker accepts such a batch whatever its sequence (ProducerAppendInfo: "If there
    // is no current producer epoch ... accept writes with any sequence number"). Refused with
    // OUT_OF_ORDER_SEQUENCE_NUMBER, KafkaJS fails every later send to the topic for good.
    expect(await produceIdempotent(c, topic, p, 3, ['new0'])).toEqual({ error: ErrorCode.NONE, base: 0, _: -1 });
    // From there the partition knows the producer: a retry is a duplicate, a gap is refused.
    expect(await produceIdempotent(c, topic, p, 3, ['new0'])).toEqual({ error: ErrorCode.NONE, base: 0, _: -1 });
    expect(await produceIdempotent(c, topic, p, 4, ['new1'])).toEqual({ error: ErrorCode.NONE, base: 1, _: -1 });
    expect((await produceIdempotent(c, topic, p, 9, ['gap'])).error).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    const read = await engine.fetch(topic, 0, { offset: 0 });
    expect(read.records().map((r) => new TextDecoder().decode(r.value!))).toEqual(['new0', 'new1']);
  });
});
