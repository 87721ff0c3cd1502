// The Kafka listener across a topic's lifecycle — deleted and re-created under a live group,
// its log start moved by retention, partitions added, deleted under a long poll — pinned against
// what Kafka answers and what the HTTP API answers for the same log and offset store. Real
// listener, real sockets, local stores; the engine's clock is a manual one, so that a deletion's
// grace and retention.ms pass when a test says so.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import { ErrorCode, type Reader, Writer } from '../../../lib/kafka/protocol';
import { type KafkaListener, startKafkaListener } from '../../../lib/kafka/server';
import { LogEngine } from '../../../lib/log/engine';
import { legacyDeletionMarkerToItem, topicDeletingSet } from '../../../lib/log/items';
import { groupMetaKey, topicKey } from '../../../lib/log/keys';
import { faultyMetaStore, Gate } from '../../../lib/storage/faults';
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

async function listen(): Promise<KafkaListener> {
  const l = await startKafkaListener({ engine, coordinator, port: 0, host: '127.0.0.1' });
  listeners.push(l);
  return l;
}

async function connect(): Promise<RawClient> {
  const c = await RawClient.connect((await listen()).port);
  clients.push(c);
  return c;
}

async function produce(topic: string, values: string[], partition = 0): Promise<void> {
  for (const v of values) await engine.produce(topic, [{ partition, value: enc.encode(v), timestamp: clock.now() }]);
}

/**
 * Delete the topic and create it again at once (the name is free from the deletion on), then let
 * the old incarnation's removal run under the new one (its grace passes on the engine's clock).
 */
async function recreate(topic: string, partitions = 1, { deleted = false } = {}): Promise<void> {
  if (!deleted) await engine.deleteTopic(topic);
  await engine.createTopic(topic, partitions);
  clock.advance(60_000);
  await engine.retention.runOnce();
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

// A Kafka member's commit reaches the store as a memberless commit (groups.ts). Held up before
// its write (a paused process, a slow store call) while its member left, the group was deleted
// (DELETE /v1/groups/{g}) and the name joined again by a new consumer, it must not land in the
// new group: that group's consumer would start at the old member's position, skipping records.
describe('a Kafka member’s commit held up across its group’s deletion and re-creation', () => {
  it('does not land in the new group', async () => {
    const topic = 'lc-held-commit';
    const group = 'lc-held-group';
    await engine.createTopic(topic, 2);
    await produce(topic, ['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
    const gate = new Gate();
    let armed = false;
    const fm = faultyMetaStore(meta);
    fm.faults.add({ method: 'transact', times: 1, when: (c) => armed && c.method === 'transact' && c.args[0].some((op) => 'key' in op && op.key.pk === groupMetaKey(group).pk), action: { kind: 'hang', gate } });
    const held = new GroupCoordinator(fm, engine, { topicRefreshMs: 0 });
    const l = await startKafkaListener({ engine, coordinator: held, port: 0, host: '127.0.0.1' });
    listeners.push(l);
    const c = await RawClient.connect(l.port);
    const other = await RawClient.connect(l.port);
    clients.push(c, other);
    const m = await joinAlone(c, group, topic, [0, 1]);
    expect(await commit(c, group, m.generation, m.memberId, topic, 0, 1)).toBe(ErrorCode.NONE);
    armed = true;
    const late = commit(c, group, m.generation, m.memberId, topic, 0, 5);
    await gate.reached;
    // The member leaves (its connection is busy with the commit: another sends the leave).
    other.request(13, 0, 9, new Writer().string(group).string(m.memberId));
    expect((await other.reply())!.int16()).toBe(ErrorCode.NONE);
    await coordinator.deleteGroup(group);
    // A new consumer joins the name and commits partition 1.
    const n = await joinAlone(other, group, topic, [0, 1]);
    expect(await commit(other, group, n.generation, n.memberId, topic, 1, 2)).toBe(ErrorCode.NONE);
    gate.release();
    // Refused: its group is gone (was: NONE).
    expect(await late).not.toBe(ErrorCode.NONE);
    // Was: 5, the deleted group's member's position, stored in the new group.
    expect(await committed(other, group, topic, 0)).toBe(-1);
    expect(await committed(other, group, topic, 1)).toBe(2);
  });
});

describe('a Kafka generation formed before its group was stored', () => {
  // The generation formed with no stored group, and a commit without a member (HTTP, or a
  // reset tool) created one before the generation's first commit: the generation's commit
  // cannot tell that group from one created after a deletion. It is refused once, the group
  // rebalances, and the re-joined generation commits to the group there.
  it('a commit refused because another request stored the group first is taken after the re-join', async () => {
    const topic = 'lc-first-stored';
    const group = 'lc-first-stored-group';
    await engine.createTopic(topic, 2);
    const c = await connect();
    const m = await joinAlone(c, group, topic, [0, 1]);
    await coordinator.commit(group, { offsets: [{ topic, partition: 1, offset: 1 }] });
    expect(await commit(c, group, m.generation, m.memberId, topic, 0, 2)).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(await heartbeat(c, group, m.generation, m.memberId)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    const again = await joinAlone(c, group, topic, [0, 1], m.memberId);
    expect(await commit(c, group, again.generation, again.memberId, topic, 0, 2)).toBe(ErrorCode.NONE);
    expect([await committed(c, group, topic, 0), await committed(c, group, topic, 1)]).toEqual([2, 1]);
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

    // While the deletion finishes, the producer's batch (its metadata still names the topic) is
    // refused as Kafka refuses it, UNKNOWN_TOPIC_OR_PARTITION, and written nowhere.
    await engine.deleteTopic(topic);
    expect(await produceIdempotent(c, topic, p, 3, ['lost'])).toEqual({ error: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, base: -1, _: -1 });
    await recreate(topic, 1, { deleted: true });
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

/** Fetch v5 of partition 0 at `offset` (log_start_offset is in the answer from v5). */
function fetchRequest(c: RawClient, topic: string, offset: number, maxWaitMs = 0): void {
  const w = new Writer().int32(-1).int32(maxWaitMs).int32(1).int32(1 << 20).int8(0);
  c.request(1, 5, 8, w.array([topic], (x, t) => void x.string(t).array([0], (y, p) => void y.int32(p).int64(offset).int64(-1).int32(1 << 20))));
}

function readFetch(r: Reader): { error: number; hw: number; logStart: number; bytes: number } {
  r.int32();
  return r.array((x) => (x.string(), x.array((y) => {
    y.int32();
    const error = y.int16();
    const hw = y.int64();
    y.int64();
    const logStart = y.int64();
    y.nullableArray((z) => [z.int64(), z.int64()], 16);
    return { error, hw, logStart, bytes: y.nullableBytes()?.length ?? -1 };
  }, 30)), 6).flat()[0]!;
}

/** ListOffsets v1 of partition 0 (-2 earliest, -1 latest, else a timestamp): [error, timestamp, offset]. */
async function listOffset(c: RawClient, topic: string, timestamp: number): Promise<[number, number, number]> {
  c.request(2, 1, 9, new Writer().int32(-1).array([topic], (w, t) => void w.string(t).array([0], (x, p) => void x.int32(p).int64(timestamp))));
  const r = (await c.reply())!;
  return r.array((x) => (x.string(), x.array((y) => (y.int32(), [y.int16(), y.int64(), y.int64()] as [number, number, number]), 6)), 6).flat()[0]!;
}

/** 20 records, retention.ms later 10 more, a retention pass: the log starts where the kept segments do. */
async function retained(topic: string): Promise<{ logStart: number; oldTs: number; newTs: number }> {
  await engine.createTopic(topic, 1, { 'retention.ms': 60_000, 'segment.bytes': 1024 });
  const oldTs = clock.now();
  await produce(topic, Array.from({ length: 20 }, (_, i) => `rec-${i}-${'v'.repeat(150)}`));
  await engine.flushPartition(await engine.topics.get(topic), 0);
  clock.advance(120_000);
  const newTs = clock.now();
  await produce(topic, Array.from({ length: 10 }, (_, i) => `rec-${20 + i}-${'v'.repeat(150)}`));
  await engine.flushPartition(await engine.topics.get(topic), 0);
  await engine.retention.runOnce();
  const logStart = (await engine.listOffsets(topic, 0, 'earliest')).offset;
  // Some of the old records went, none of the new ones.
  expect(logStart).toBeGreaterThan(0);
  expect(logStart).toBeLessThanOrEqual(20);
  return { logStart, oldTs, newTs };
}

describe('retention moving the log start', () => {
  it('Fetch below the log start answers OFFSET_OUT_OF_RANGE with the log start and high watermark, as GET …/records answers it; at the log start it reads', async () => {
    const topic = 'lc-retained-fetch';
    const { logStart } = await retained(topic);
    const c = await connect();
    fetchRequest(c, topic, logStart - 1);
    // An empty record set, as Kafka's broker sends with an error: librdkafka refuses a null one
    // ("invalid MessageSetSize -1") as a parse failure of the whole response, so it never sees
    // the error, never applies auto.offset.reset and fetches the same offset for ever.
    expect(readFetch((await c.reply())!)).toEqual({ error: ErrorCode.OFFSET_OUT_OF_RANGE, hw: 30, logStart, bytes: 0 });
    const http = await engine.fetch(topic, 0, { offset: logStart - 1 }).then(() => undefined, (err: { code: string; details: Record<string, unknown> }) => err);
    expect(http).toMatchObject({ code: 'OFFSET_OUT_OF_RANGE', details: { log_start_offset: logStart, high_watermark: 30 } });
    fetchRequest(c, topic, logStart);
    const at = readFetch((await c.reply())!);
    expect(at).toMatchObject({ error: ErrorCode.NONE, hw: 30, logStart });
    expect(at.bytes).toBeGreaterThan(0);
  });

  it('Produce v5+ answers the partition’s log start, as Kafka does (it was -1), for a new batch and for a retry the partition remembers', async () => {
    const topic = 'lc-retained-produce';
    await engine.createTopic(topic, 1, { 'retention.ms': 60_000, 'segment.bytes': 1024 });
    await produce(topic, Array.from({ length: 20 }, (_, i) => `rec-${i}-${'v'.repeat(150)}`));
    await engine.flushPartition(await engine.topics.get(topic), 0);
    clock.advance(120_000);
    await engine.flushPartition(await engine.topics.get(topic), 0);
    await engine.retention.runOnce();
    const logStart = (await engine.describeTopic(topic)).partitions[0]!.log_start_offset;
    expect(logStart).toBeGreaterThan(0);
    const c = await connect();
    const p = await initProducer(c);
    const produceV5 = async (sequence: number): Promise<{ error: number; base: number; logStart: number }> => {
      const batch = encodeRecordBatch([{ value: enc.encode(`new-${sequence}`) }], { producerId: p.id, producerEpoch: p.epoch, baseSequence: sequence });
      const body = new Writer().string(null).int16(-1).int32(5000);
      body.array([topic], (w, t) => void w.string(t).array([0], (x) => void x.int32(0).bytes(batch)));
      c.request(0, 5, 11, body);
      const r = (await c.reply())!;
      return r.array((x) => (x.string(), x.array((y) => (y.int32(), { error: y.int16(), base: y.int64(), _: y.int64(), logStart: y.int64() }), 30)), 6)[0]![0]!;
    };
    expect(await produceV5(0)).toMatchObject({ error: ErrorCode.NONE, base: 20, logStart });
    // The same batch again (its answer lost): the original offset, and the log start again.
    expect(await produceV5(0)).toMatchObject({ error: ErrorCode.NONE, base: 20, logStart });
  });

  it('ListOffsets: earliest is the new log start; a timestamp before every kept record is the log start, with that record’s own timestamp', async () => {
    const topic = 'lc-retained-list';
    const { logStart, oldTs, newTs } = await retained(topic);
    const c = await connect();
    expect(await listOffset(c, topic, -2)).toEqual([ErrorCode.NONE, -1, logStart]);
    expect(await listOffset(c, topic, -1)).toEqual([ErrorCode.NONE, -1, 30]);
    // A timestamp older than every kept record finds the first kept one (with its timestamp:
    // oldTs if some of the first 20 are kept, else newTs), never an offset retention deleted.
    const first = logStart < 20 ? oldTs : newTs;
    expect(await listOffset(c, topic, 0)).toEqual([ErrorCode.NONE, first, logStart]);
    expect(await listOffset(c, topic, oldTs - 60_000)).toEqual([ErrorCode.NONE, first, logStart]);
    // Later than the old records: the first new one; later than every record: -1 (Kafka's answer).
    expect(await listOffset(c, topic, oldTs + 1)).toEqual([ErrorCode.NONE, newTs, 20]);
    expect(await listOffset(c, topic, newTs + 1)).toEqual([ErrorCode.NONE, -1, -1]);
  });

  it('a KafkaJS consumer whose group committed an offset retention has since deleted resumes at the log start (auto.offset.reset earliest), not stuck and not at the end', async () => {
    const topic = 'lc-retained-group';
    const group = 'lc-retained-consumers';
    await engine.createTopic(topic, 1, { 'retention.ms': 60_000, 'segment.bytes': 1024 });
    await produce(topic, ['a', 'b']);
    await coordinator.commit(group, { offsets: [{ topic, partition: 0, offset: 1 }] });
    await produce(topic, Array.from({ length: 18 }, (_, i) => `rec-${2 + i}-${'v'.repeat(150)}`));
    await engine.flushPartition(await engine.topics.get(topic), 0);
    clock.advance(120_000);
    await produce(topic, Array.from({ length: 10 }, (_, i) => `rec-${20 + i}-${'v'.repeat(150)}`));
    await engine.flushPartition(await engine.topics.get(topic), 0);
    await engine.retention.runOnce();
    const logStart = (await engine.listOffsets(topic, 0, 'earliest')).offset;
    expect(logStart).toBeGreaterThan(1);
    expect((await coordinator.offsets(group))[0]).toMatchObject({ offset: 1, expiry_risk: true });

    const l = await listen();
    const kafka = new Kafka({ clientId: 'lc', brokers: [`127.0.0.1:${l.port}`], logLevel: logLevel.NOTHING, retry: { retries: 2, initialRetryTime: 100 } });
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10_000, heartbeatInterval: 300, maxWaitTimeInMs: 200 });
    const seen: number[] = [];
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void seen.push(Number(message.offset)) });
      const deadline = Date.now() + 20_000;
      while (seen.length < 30 - logStart && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(seen).toEqual(Array.from({ length: 30 - logStart }, (_, i) => logStart + i));
    } finally {
      await consumer.disconnect();
    }
  }, 40_000);
});

describe('DeleteTopics under a long-polling Fetch', () => {
  it('the Fetch is answered promptly with UNKNOWN_TOPIC_OR_PARTITION, not at max_wait_ms, and the connection stays usable', async () => {
    const topic = 'lc-delete-poll';
    await engine.createTopic(topic, 1);
    await produce(topic, ['x']);
    const consumer = await connect();
    const admin = await connect();
    const t0 = performance.now();
    fetchRequest(consumer, topic, 1, 20_000);
    await new Promise((r) => setTimeout(r, 200));
    admin.request(20, 1, 1, new Writer().array([topic], (w, t) => void w.string(t)).int32(5000));
    const del = (await admin.reply())!;
    del.int32();
    expect(del.array((x) => [x.string(), x.int16()], 4)).toEqual([[topic, ErrorCode.NONE]]);
    expect(readFetch((await consumer.reply(20_000))!)).toEqual({ error: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, hw: -1, logStart: -1, bytes: 0 });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(await listOffset(consumer, topic, -1)).toEqual([ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1, -1]);
  });

  it('so is one whose topic another instance deletes (no wake-up reaches this one: its re-reads of the head find the tombstone)', async () => {
    const topic = 'lc-delete-poll-elsewhere';
    await engine.createTopic(topic, 1);
    await produce(topic, ['x']);
    const consumer = await connect();
    // Another process on the same stores (the HTTP API's Lambda, say).
    const other = new LogEngine(meta, new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }), clock);
    try {
      const t0 = performance.now();
      fetchRequest(consumer, topic, 1, 20_000);
      await new Promise((r) => setTimeout(r, 200));
      await other.deleteTopic(topic);
      expect(readFetch((await consumer.reply(20_000))!)).toEqual({ error: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, hw: -1, logStart: -1, bytes: 0 });
      expect(performance.now() - t0).toBeLessThan(5000);
    } finally {
      await other.close();
    }
  });
});

describe('a Fetch whose byte budget is spent before it reaches a deleted topic', () => {
  it('answers that topic UNKNOWN_TOPIC_OR_PARTITION, not NONE with the deleted log’s offsets, when this instance still has the topic cached (deleted by another)', async () => {
    const full = 'lc-budget-full';
    const gone = 'lc-budget-gone';
    await engine.createTopic(full, 1);
    await engine.createTopic(gone, 1);
    await produce(full, ['a'.repeat(2000)]);
    await produce(gone, ['b', 'c']);
    const c = await connect();
    const other = new LogEngine(meta, new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }), clock);
    try {
      // This instance has just resolved `gone` (its cache holds it for a second)...
      await engine.topics.get(gone);
      // ...when another instance deletes it.
      await other.deleteTopic(gone);
      // max_bytes 1: the first partition's batch spends it; the second is answered from its
      // head, without a read.
      const w = new Writer().int32(-1).int32(0).int32(1).int32(1).int8(0);
      w.array([full, gone], (x, t) => void x.string(t).array([0], (y, p) => void y.int32(p).int64(0).int64(-1).int32(1 << 20)));
      c.request(1, 5, 15, w);
      const r = (await c.reply())!;
      r.int32();
      const parts = r.array((x) => [x.string(), x.array((y) => {
        y.int32();
        const error = y.int16();
        const hw = y.int64();
        y.int64();
        y.int64();
        y.nullableArray((z) => [z.int64(), z.int64()], 16);
        y.nullableBytes();
        return { error, hw };
      }, 30)[0]!] as const, 6);
      expect(parts).toEqual([
        [full, { error: ErrorCode.NONE, hw: 1 }],
        [gone, { error: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, hw: -1 }],
      ]);
    } finally {
      await other.close();
    }
  });
});

describe('offsets of a deleted topic', () => {
  it('OffsetFetch answers -1 for it (Kafka deletes a deleted topic’s offsets) and leaves it out of an all-topics fetch; OffsetCommit to it is UNKNOWN_TOPIC_OR_PARTITION and stores nothing, and the HTTP API shows the same', async () => {
    const topic = 'lc-deleted-offsets';
    const other = 'lc-deleted-offsets-kept';
    const group = 'lc-deleted-offsets-group';
    await engine.createTopic(topic, 1);
    await engine.createTopic(other, 1);
    await produce(topic, ['a', 'b', 'c']);
    await produce(other, ['a', 'b', 'c']);
    const c = await connect();
    expect(await commit(c, group, -1, '', topic, 0, 2)).toBe(ErrorCode.NONE);
    expect(await commit(c, group, -1, '', other, 0, 3)).toBe(ErrorCode.NONE);
    await engine.deleteTopic(topic);

    expect(await committed(c, group, topic, 0)).toBe(-1);
    c.request(9, 2, 10, new Writer().string(group).int32(-1));
    const all = (await c.reply())!;
    expect(all.array((x) => [x.string(), x.array((y) => (y.int32(), y.int64()), 6)] as const, 6)).toEqual([[other, [3]]]);
    expect(all.int16()).toBe(ErrorCode.NONE);
    expect(await commit(c, group, -1, '', topic, 0, 3)).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect((await coordinator.offsets(group)).map((o) => [o.topic, o.offset])).toEqual([[other, 3]]);

    // Created again: still nothing committed for it.
    await recreate(topic, 1, { deleted: true });
    expect(await committed(c, group, topic, 0)).toBe(-1);
  });
});

describe('CreateTopics of a name whose deletion is still under way', () => {
  /** CreateTopics v1 of one topic: [error, message]. */
  async function create(c: RawClient, name: string, validateOnly: boolean): Promise<[number, string | null]> {
    const body = new Writer().array([name], (w, t) => void w.string(t).int32(1).int16(1).array([], () => {}).array([], () => {}));
    c.request(19, 1, 11, body.int32(5000).bool(validateOnly));
    const r = (await c.reply())!;
    const [res] = r.array((x) => [x.string(), x.int16(), x.nullableString()] as const, 6);
    return [res![1], res![2]];
  }

  it('a deleted name is free at once, as in KRaft Kafka: validate_only and the real create both answer NONE while its data is still being removed', async () => {
    const topic = 'lc-create-deleted';
    await engine.createTopic(topic, 1);
    const old = await engine.topics.get(topic, { fresh: true });
    await engine.deleteTopic(topic);
    const c = await connect();
    expect(await create(c, topic, true)).toEqual([ErrorCode.NONE, null]);
    expect(await engine.topics.find(topic, { fresh: true })).toBeUndefined();
    expect(await create(c, topic, false)).toEqual([ErrorCode.NONE, null]);
    expect((await engine.topics.get(topic, { fresh: true })).id).not.toBe(old.id);
  });

  it('validate_only answers what the real create does for a name an older build is still deleting: TOPIC_ALREADY_EXISTS ("marked for deletion", as Kafka before KRaft answers), not NONE', async () => {
    const topic = 'lc-create-deleting';
    await engine.createTopic(topic, 1);
    // A build before deletion markers by id keeps the topic item, "deleting", until the data is gone.
    const t = await engine.topics.get(topic, { fresh: true });
    await meta.transact([
      { type: 'update', key: topicKey(topic), set: topicDeletingSet(clock.now()), condition: { op: 'eq', attr: 'id', value: t.id } },
      { type: 'put', item: legacyDeletionMarkerToItem({ name: topic, topicId: t.id, partitions: t.partitions }) },
    ]);
    engine.topics.invalidate(topic);
    const c = await connect();
    const real = await create(c, topic, false);
    expect(real[0]).toBe(ErrorCode.TOPIC_ALREADY_EXISTS);
    expect(real[1]).toMatch(/marked for deletion/);
    expect(await create(c, topic, true)).toEqual(real);
    // Once the deletion has finished, both create it (validate_only without creating it).
    clock.advance(60_000);
    await engine.retention.runOnce();
    expect(await create(c, topic, true)).toEqual([ErrorCode.NONE, null]);
    expect(await engine.topics.find(topic, { fresh: true })).toBeUndefined();
  });
});

describe('CreatePartitions under a consuming group', () => {
  it('Metadata shows the new partitions at once and they take records; the group’s commits of its generation are still taken (the topic is the same incarnation)', async () => {
    const topic = 'lc-grow';
    const group = 'lc-grow-group';
    await engine.createTopic(topic, 1);
    await produce(topic, ['a', 'b']);
    const c = await connect();
    const m = await joinAlone(c, group, topic, [0]);
    expect(await commit(c, group, m.generation, m.memberId, topic, 0, 1)).toBe(ErrorCode.NONE);

    c.request(37, 0, 12, new Writer().array([topic], (w, t) => void w.string(t).int32(3).array(null, () => {})).int32(5000).bool(false));
    const grown = (await c.reply())!;
    grown.int32();
    expect(grown.array((x) => [x.string(), x.int16(), x.nullableString()], 6)).toEqual([[topic, ErrorCode.NONE, null]]);

    // Metadata v1: brokers, controller, then topics [error, name, internal, partitions [...]].
    c.request(3, 1, 13, new Writer().array([topic], (w, t) => void w.string(t)));
    const md = (await c.reply())!;
    md.array((x) => (x.int32(), x.string(), x.int32(), x.nullableString()), 4);
    md.int32();
    const topics = md.array((x) => {
      const error = x.int16();
      const name = x.string();
      x.bool();
      const parts = x.array((y) => {
        y.int16();
        const p = y.int32();
        y.int32();
        y.array((z) => z.int32(), 4);
        y.array((z) => z.int32(), 4);
        return p;
      }, 18);
      return [error, name, parts];
    }, 8);
    expect(topics).toEqual([[ErrorCode.NONE, topic, [0, 1, 2]]]);

    const batch = encodeRecordBatch([{ value: enc.encode('c') }]);
    const body = new Writer().string(null).int16(1).int32(5000);
    body.array([topic], (w, t) => void w.string(t).array([2], (x, p) => void x.int32(p).bytes(batch)));
    c.request(0, 3, 14, body);
    const produced = (await c.reply())!;
    expect(produced.array((x) => (x.string(), x.array((y) => [y.int32(), y.int16(), y.int64(), y.int64()], 22)), 6).flat()).toEqual([[2, ErrorCode.NONE, 0, -1]]);

    // Same incarnation: the generation's commits are taken, no rebalance.
    expect(await commit(c, group, m.generation, m.memberId, topic, 0, 2)).toBe(ErrorCode.NONE);
    expect(await heartbeat(c, group, m.generation, m.memberId)).toBe(ErrorCode.NONE);
  });
});

describe('a KafkaJS consumer paused across its topic’s re-creation', () => {
  it('reads the new topic from its beginning: its first commit after resuming (a position in the old log) is refused, and the rebalance that follows starts it from auto.offset.reset', async () => {
    const topic = 'lc-paused';
    const group = 'lc-paused-group';
    await engine.createTopic(topic, 1);
    await produce(topic, ['old0', 'old1', 'old2', 'old3', 'old4']);
    const l = await listen();
    const kafka = new Kafka({ clientId: 'lc', brokers: [`127.0.0.1:${l.port}`], logLevel: logLevel.NOTHING, retry: { retries: 2, initialRetryTime: 100 } });
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10_000, heartbeatInterval: 300, maxWaitTimeInMs: 100 });
    const seen: string[] = [];
    const waitFor = async (what: string, ok: () => boolean): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(seen)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void seen.push(new TextDecoder().decode(message.value!)) });
      await waitFor('the old records', () => seen.length === 5);
      const deadline = Date.now() + 10_000;
      while ((await coordinator.offsets(group).catch(() => []))[0]?.offset !== 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      // Paused (a slow downstream, say): it fetches nothing while its topic is deleted, created
      // again and given more records than its position.
      consumer.pause([{ topic }]);
      await new Promise((r) => setTimeout(r, 300));
      await recreate(topic);
      await produce(topic, ['new0', 'new1', 'new2', 'new3', 'new4', 'new5', 'new6', 'new7']);
      consumer.resume([{ topic }]);
      await waitFor('the new topic’s first records', () => seen.includes('new0') && seen.includes('new7'));
      // Its position (5) read new5..new7 first; their commit was refused, and after the rebalance
      // it started the new topic from its beginning. Nothing of the new topic was skipped.
      expect(seen.slice(0, 5)).toEqual(['old0', 'old1', 'old2', 'old3', 'old4']);
      expect(new Set(seen.slice(5))).toEqual(new Set(['new0', 'new1', 'new2', 'new3', 'new4', 'new5', 'new6', 'new7']));
    } finally {
      await consumer.disconnect();
    }
  }, 60_000);
});
