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
import { groupOffsetsPk } from '../../../lib/log/keys';
import type { WriteOp } from '../../../lib/storage/ports';
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

function suite(stores: () => Promise<TestStores>): void {
  let s: TestStores;
  let engine: LogEngine;
  let coordinator: GroupCoordinator;
  let l: KafkaListener;
  beforeAll(async () => {
    s = await stores();
    engine = new LogEngine(s.meta, s.objects);
    coordinator = new GroupCoordinator(engine.meta, engine);
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
}

describe('OffsetCommit order and fencing (embedded stores)', () => {
  suite(() => localStores('samsa-kafka-commit-order-'));
});

describeAws('OffsetCommit order and fencing (S3 and DynamoDB on the emulator)', () => {
  suite(awsStores);
});
