// OffsetCommit against the listener's other group requests and against other connections, with
// a real listener, real sockets and real stores (SQLite; the emulator's DynamoDB where the
// outcome rests on the store's conditions), raw frames. Kafka's broker handles a connection's
// requests one at a time and its coordinator checks a commit's generation and member and
// stores it under the group lock: a commit takes effect where it was checked. Here the check is
// in memory (lib/kafka/groups.ts) and the write a store round trip later, so a stalled store call
// between the two is the hazard each case holds open.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import { startKafkaListener, type KafkaListener } from '../../../lib/kafka/server';
import { ErrorCode, Reader, Writer } from '../../../lib/kafka/protocol';
import { LogEngine } from '../../../lib/log/engine';
import { groupOffsetsPk, topicKey } from '../../../lib/log/keys';
import type { MetaKey, WriteOp } from '../../../lib/storage/ports';
import { systemClock } from '../../../lib/util/clock';
import { describeAws } from '../../helpers/aws';
import { awsStores, localStores, type TestStores } from '../../helpers/stores';
import { RawClient } from './raw-client';

/** A frame as the client writes it, so several can go out in one TCP write (pipelined). */
function frame(apiKey: number, version: number, correlationId: number, body: Writer): Buffer {
  const payload = Buffer.concat([new Writer().int16(apiKey).int16(version).int32(correlationId).string('commit-order').finish(), body.finish()]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length);
  return Buffer.concat([size, payload]);
}

const joinBody = (group: string, memberId: string, sessionMs: number): Writer =>
  new Writer().string(group).int32(sessionMs).int32(5000).string(memberId).string('consumer').array(['range'], (w, p) => void w.string(p).bytes(new Uint8Array([1])));

/** OffsetCommit v2: each [topic, partition, offset]. */
function commitBody(group: string, generation: number, memberId: string, offsets: Array<[string, number, number]>): Writer {
  const topics = [...new Set(offsets.map(([t]) => t))];
  const w = new Writer().string(group).int32(generation).string(memberId).int64(-1);
  return w.array(topics, (x, t) => void x.string(t).array(offsets.filter(([u]) => u === t), (y, [, p, o]) => void y.int32(p).int64(o).string(null)));
}

/** An OffsetCommit v2 answer's error codes, in request order. */
const commitErrors = (r: Reader): number[] => r.array((x) => (x.string(), x.array((y) => (y.int32(), y.int16()), 6)), 6).flat();

/** Joins (v1) and syncs (v0) one member that leads a new generation alone: its id and generation. */
async function joinAlone(c: RawClient, group: string, sessionMs: number): Promise<{ memberId: string; generation: number }> {
  c.request(11, 1, 1, joinBody(group, '', sessionMs));
  const j = (await c.reply())!;
  expect(j.int16()).toBe(ErrorCode.NONE);
  const generation = j.int32();
  j.string();
  j.string();
  const memberId = j.string();
  // Not a consumer-protocol assignment: SyncGroup looks no topic up (each test decides when the
  // topic cache lapses).
  c.request(14, 0, 2, new Writer().string(group).int32(generation).string(memberId).array([memberId], (w, m) => void w.string(m).bytes(new Uint8Array([1]))));
  expect((await c.reply())!.int16()).toBe(ErrorCode.NONE);
  return { memberId, generation };
}

/** A latch: `reached` once a call parks on it, `release()` lets the parked calls go on. */
function latch(): { reached: Promise<void>; arrive: () => void; wait: Promise<void>; release: () => void } {
  let arrive!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((r) => (arrive = r));
  const wait = new Promise<void>((r) => (release = r));
  return { reached, arrive, wait, release };
}

const touchesOffsets = (group: string) => (ops: WriteOp[]): boolean => ops.some((op) => (op.type === 'put' ? op.item.pk : op.key.pk) === groupOffsetsPk(group));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Past the topic cache (1 s): the next lookup of a topic reads the store. */
const TOPIC_CACHE_LAPSE_MS = 1100;

function suite(stores: () => Promise<TestStores>): void {
  let s: TestStores;
  let engine: LogEngine;
  let coordinator: GroupCoordinator;
  let l: KafkaListener;
  /** The offset store's wall clock (committed_at), which a test may step. */
  const wall = { offset: 0 };
  beforeAll(async () => {
    s = await stores();
    engine = new LogEngine(s.meta, s.objects);
    coordinator = new GroupCoordinator(engine.meta, engine, { clock: { ...systemClock, now: () => Date.now() + wall.offset } });
    l = await startKafkaListener({ engine, coordinator, port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await l?.close();
    await engine?.close();
    await s?.cleanup();
  });
  const offsetOf = async (group: string, topic: string, partition = 0): Promise<number | undefined> =>
    (await coordinator.committed(group)).find((o) => o.topic === topic && o.partition === partition)?.offset;

  it('a LeaveGroup pipelined behind OffsetCommits on one connection is handled after them: the commits land (librdkafka and KafkaJS commit, then leave, on close)', async () => {
    const group = 'co-leave';
    await engine.createTopic('co-leave-t', 1);
    const c = await RawClient.connect(l.port);
    const a = await joinAlone(c, group, 10_000);
    // The first commit's write is slow (a DynamoDB call that takes a while): the second commit
    // waits for it, and the leave is sent right behind them.
    const slow = latch();
    const realTransact = engine.meta.transact.bind(engine.meta);
    let held = false;
    const spy = vi.spyOn(engine.meta, 'transact').mockImplementation(async (ops) => {
      if (!held && touchesOffsets(group)(ops)) {
        held = true;
        slow.arrive();
        await slow.wait;
      }
      return realTransact(ops);
    });
    try {
      c.socket.write(
        Buffer.concat([
          frame(8, 2, 10, commitBody(group, a.generation, a.memberId, [['co-leave-t', 0, 4]])),
          frame(8, 2, 11, commitBody(group, a.generation, a.memberId, [['co-leave-t', 0, 7]])),
          frame(13, 0, 12, new Writer().string(group).string(a.memberId)),
        ]),
      );
      await sleep(300);
      slow.release();
      expect(commitErrors((await c.reply())!)).toEqual([ErrorCode.NONE]);
      expect(commitErrors((await c.reply())!), 'the second commit was handled before the leave').toEqual([ErrorCode.NONE]);
      expect((await c.reply())!.int16()).toBe(ErrorCode.NONE);
    } finally {
      spy.mockRestore();
      c.end();
    }
    expect(await offsetOf(group, 'co-leave-t'), 'the next member starts after what this one processed').toBe(7);
  });

  it('a JoinGroup that waited behind a stalled commit on a connection the client has since closed does not rebalance the group its member went on in from a new connection', async () => {
    const group = 'co-dead-join';
    await engine.createTopic('co-dead-join-t', 1);
    const old = await RawClient.connect(l.port);
    const a = await joinAlone(old, group, 10_000);
    const slow = latch();
    const realTransact = engine.meta.transact.bind(engine.meta);
    let held = false;
    const spy = vi.spyOn(engine.meta, 'transact').mockImplementation(async (ops) => {
      if (!held && touchesOffsets(group)(ops)) {
        held = true;
        slow.arrive();
        await slow.wait;
      }
      return realTransact(ops);
    });
    const fresh = await RawClient.connect(l.port);
    try {
      // The member commits and re-joins (its poll loop restarted); the commit's write stalls and
      // the join waits behind it. The client times out and closes the connection.
      old.socket.write(Buffer.concat([frame(8, 2, 1, commitBody(group, a.generation, a.memberId, [['co-dead-join-t', 0, 4]])), frame(11, 1, 2, joinBody(group, a.memberId, 10_000))]));
      await slow.reached;
      old.end();
      expect(await old.closedWithin()).toBe(true);
      await sleep(100);
      // It goes on from a new connection: re-joins and syncs the next generation.
      fresh.request(11, 1, 3, joinBody(group, a.memberId, 10_000));
      const j = (await fresh.reply())!;
      expect(j.int16()).toBe(ErrorCode.NONE);
      const generation = j.int32();
      expect(generation).toBeGreaterThan(a.generation);
      fresh.request(14, 0, 4, new Writer().string(group).int32(generation).string(a.memberId).array([a.memberId], (w, m) => void w.string(m).bytes(new Uint8Array([1]))));
      expect((await fresh.reply())!.int16()).toBe(ErrorCode.NONE);
      // The stalled write finally lands; the dead connection's join is then handled.
      slow.release();
      await sleep(500);
      fresh.request(12, 0, 5, new Writer().string(group).int32(generation).string(a.memberId));
      expect((await fresh.reply())!.int16(), 'no rebalance: the consumer keeps its partitions').toBe(ErrorCode.NONE);
      expect(l.groups.describe(group).state).toBe('Stable');
    } finally {
      spy.mockRestore();
      old.end();
      fresh.end();
    }
  });

  it('a commit that waited on its connection behind a slow one does not overwrite a commit that arrived later on another connection (a client retrying on a new connection)', async () => {
    const group = 'co-retry';
    await engine.createTopic('co-retry-t', 1);
    const old = await RawClient.connect(l.port);
    const fresh = await RawClient.connect(l.port);
    const slow = latch();
    const realTransact = engine.meta.transact.bind(engine.meta);
    let held = false;
    const spy = vi.spyOn(engine.meta, 'transact').mockImplementation(async (ops) => {
      if (!held && touchesOffsets(group)(ops)) {
        held = true;
        slow.arrive();
        await slow.wait;
      }
      return realTransact(ops);
    });
    try {
      // The old connection: two asynchronous commits (generation -1: a client that assigns its
      // partitions itself), the first one's write stalled.
      old.socket.write(Buffer.concat([frame(8, 2, 1, commitBody(group, -1, '', [['co-retry-t', 0, 1]])), frame(8, 2, 2, commitBody(group, -1, '', [['co-retry-t', 0, 5]]))]));
      await slow.reached;
      await sleep(50);
      // The client gave up on it, went on on a new connection and committed further.
      fresh.request(8, 2, 3, commitBody(group, -1, '', [['co-retry-t', 0, 10]]));
      expect(commitErrors((await fresh.reply())!)).toEqual([ErrorCode.NONE]);
      expect(await offsetOf(group, 'co-retry-t')).toBe(10);
      // The old connection's commits finally go through.
      slow.release();
      await old.reply();
      await old.reply();
    } finally {
      spy.mockRestore();
      old.end();
      fresh.end();
    }
    expect(await offsetOf(group, 'co-retry-t'), 'commits that arrived before 10 do not move it back').toBe(10);
  });

  /**
   * A member's commit of two topics passes its generation check, then its lookup of the second
   * topic stalls (a slow or frozen metadata read). Its session expires meanwhile, a new member
   * takes the group over and commits further; then the old commit resumes. `meanwhile` runs just
   * before the new member's commit (a wall-clock step, say). The first topic's offset at the end.
   */
  async function fencedWhileStalled(group: string, meanwhile: () => void = () => undefined): Promise<number | undefined> {
    const [ta, tb] = [`${group}-a`, `${group}-b`];
    await engine.createTopic(ta, 1);
    await engine.createTopic(tb, 1);
    // Neither topic is looked up again before the old member's commit: that commit reads both.
    await sleep(TOPIC_CACHE_LAPSE_MS);
    const oldConn = await RawClient.connect(l.port);
    const a = await joinAlone(oldConn, group, 1000);
    const stalled = latch();
    const realGet = engine.meta.get.bind(engine.meta);
    const bKey: MetaKey = topicKey(tb);
    let held = false;
    const spy = vi.spyOn(engine.meta, 'get').mockImplementation(async (key, opts) => {
      if (!held && key.pk === bKey.pk && key.sk === bKey.sk) {
        held = true;
        stalled.arrive();
        await stalled.wait;
      }
      return realGet(key, opts);
    });
    try {
      oldConn.request(8, 2, 3, commitBody(group, a.generation, a.memberId, [[ta, 0, 3], [tb, 0, 3]]));
      await stalled.reached;
      // The old member goes silent past its session: expelled, the group is empty.
      const deadline = Date.now() + 10_000;
      while (l.groups.describe(group).members.length > 0 && Date.now() < deadline) await sleep(100);
      expect(l.groups.describe(group).state).toBe('Empty');
      // A new member takes the group over, processes further and commits 9.
      const newConn = await RawClient.connect(l.port);
      const b = await joinAlone(newConn, group, 10_000);
      expect(b.generation).toBeGreaterThan(a.generation);
      meanwhile();
      newConn.request(8, 2, 3, commitBody(group, b.generation, b.memberId, [[ta, 0, 9]]));
      expect(commitErrors((await newConn.reply())!)).toEqual([ErrorCode.NONE]);
      expect(await offsetOf(group, ta)).toBe(9);
      // The old member's commit resumes.
      stalled.release();
      await oldConn.reply(10_000);
      newConn.end();
    } finally {
      spy.mockRestore();
      oldConn.end();
    }
    return offsetOf(group, ta);
  }

  it('a member fenced (session expired, partition handed to a new member) while its checked commit waits on the store does not overwrite the new owner’s commit', async () => {
    expect(await fencedWhileStalled('co-fenced'), 'the new owner’s commit stands').toBe(9);
  }, 30_000);

  it('nor when the wall clock steps back before the new owner’s commit (NTP): a commit of a later generation is ordered after every commit checked in an earlier one', async () => {
    const stepped = await fencedWhileStalled('co-stepped', () => void (wall.offset = -60_000)).finally(() => void (wall.offset = 0));
    expect(stepped, 'the new owner’s commit stands').toBe(9);
  }, 30_000);

  it('a member’s later commit in the same generation lands when the wall clock stepped back between its commits (NTP): the commit is not dropped as late while it is answered with success', async () => {
    const group = 'co-step-same';
    await engine.createTopic('co-step-same-t', 1);
    const c = await RawClient.connect(l.port);
    try {
      const a = await joinAlone(c, group, 10_000);
      c.request(8, 2, 3, commitBody(group, a.generation, a.memberId, [['co-step-same-t', 0, 4]]));
      expect(commitErrors((await c.reply())!)).toEqual([ErrorCode.NONE]);
      // The host's clock was a minute fast and is corrected; the member goes on consuming.
      wall.offset = -60_000;
      c.request(8, 2, 4, commitBody(group, a.generation, a.memberId, [['co-step-same-t', 0, 9]]));
      expect(commitErrors((await c.reply())!)).toEqual([ErrorCode.NONE]);
      c.request(9, 1, 5, new Writer().string(group).array(['co-step-same-t'], (w, t) => void w.string(t).array([0], (y, p) => void y.int32(p))));
      const f = (await c.reply())!;
      const fetched = f.array((x) => (x.string(), x.array((y) => {
        y.int32();
        const offset = y.int64();
        y.nullableString();
        y.int16();
        return offset;
      }, 6)), 6).flat();
      expect(fetched, 'OffsetFetch reads the commit it was told succeeded').toEqual([9]);
    } finally {
      wall.offset = 0;
      c.end();
    }
    expect(await offsetOf(group, 'co-step-same-t'), 'a restarted consumer resumes after what it processed').toBe(9);
  });
}

describe('OffsetCommit order and fencing (embedded stores)', () => {
  suite(() => localStores('samsa-kafka-commit-order-'));
});

describeAws('OffsetCommit order and fencing (S3 and DynamoDB on the emulator)', () => {
  suite(awsStores);
});
