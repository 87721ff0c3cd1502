// A group deleted and created again under the same name while a member's write was held up.
// Every group starts over at generation 0, and a member's commit (like a `latest` member's
// starting position) is fenced on the generation it read: a commit of the deleted group's member,
// paused between its read and its write (or written, its answer lost, and sent again by the SDK
// after the deletion), passed that check on the new group once it reached the same generation,
// and the new group's consumer started from the old member's position, skipping the records
// before it. And a commit without a member made while the process's topic lookup still named a
// topic deleted and created again elsewhere. Run on SQLite + local files and on S3 + DynamoDB
// (emulator).
import { describe, expect, it } from 'vitest';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import { SamsaError } from '../../../lib/errors';
import { LogEngine } from '../../../lib/log/engine';
import { groupOffsetsPk } from '../../../lib/log/keys';
import type { MetaItem, WriteOp } from '../../../lib/storage/ports';
import { ManualClock } from '../../../lib/util/clock';
import { describeAws } from '../../helpers/aws';
import { awsStores, freshStoresEachTest, localStores, type TestStores } from '../../helpers/stores';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function scenario(stores: () => Promise<TestStores>): void {
  const { setup, closing } = freshStoresEachTest(stores, 'grecreate');

  for (const how of ['paused before its write', 'whose write the SDK sent again'] as const) {
    it(`a member's commit ${how} while its group was deleted and created again leaves the new group's offsets alone`, async () => {
      const s = await setup();
      const wall = new ManualClock(Date.now());
      const engine = closing(new LogEngine(s.meta, s.objects, wall));
      const opts = { clock: wall, monotonic: new ManualClock(1_000), topicRefreshMs: 0 };
      const admin = new GroupCoordinator(s.meta, engine, opts);
      await engine.createTopic(s.name, 1);
      await engine.produce(s.name, Array.from({ length: 10 }, (_, i) => ({ value: enc(String(i)) })));
      const group = `${s.name}-g`;

      // The deleted group's member: holds the partition at generation g.
      const old = await admin.join(group, { topics: [s.name] });
      expect(old.assignment).toEqual([{ topic: s.name, partition: 0 }]);

      let fresh: { memberId: string; generation: number } | undefined;
      let fired = false;
      const isCommit = (ops: WriteOp[]): boolean => ops.some((o) => o.type === 'update' && o.key.pk === groupOffsetsPk(group) && o.set?.['offset'] === 7);
      // Meanwhile: the member leaves, the group is deleted, and a new consumer of the name joins
      // and gets the partition at the same generation number.
      const recreate = async (): Promise<void> => {
        await admin.leave(group, old.memberId);
        await admin.deleteGroup(group);
        const n = await admin.join(group, { topics: [s.name], autoOffsetReset: 'earliest' });
        fresh = { memberId: n.memberId, generation: n.generation };
      };
      const transact = async (ops: WriteOp[]): Promise<Array<MetaItem | undefined> | void> => {
        if (fired || !isCommit(ops)) return s.meta.transact(ops);
        fired = true;
        if (how === 'whose write the SDK sent again') await s.meta.transact(ops);
        await recreate();
        return s.meta.transact(ops);
      };
      const meta = new Proxy(s.meta, {
        get(target, prop) {
          if (prop === 'transact') return transact;
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const held = new GroupCoordinator(meta, engine, opts);
      const committed = await held.commit(group, { memberId: old.memberId, generation: old.generation, offsets: [{ topic: s.name, partition: 0, offset: 7 }] }).then(
        () => 'OK',
        (err: unknown) => (err instanceof SamsaError ? err.code : Promise.reject(err)),
      );
      expect(fired).toBe(true);
      // The precondition of the hazard: the new group reached the generation the commit read.
      expect(fresh!.generation).toBe(old.generation);

      // Was: the new group showed offset 7 and its member's first poll started there, skipping
      // records 0-6, which no consumer of the new group ever got.
      expect((await admin.committed(group)).map((o) => o.offset)).toEqual([]);
      const polled = await admin.poll(group, fresh!.memberId, { maxRecords: 100 });
      expect(polled.records.map((r) => new TextDecoder().decode(r.value ?? new Uint8Array(0)))).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      // The member it was made for is gone with its group.
      expect(committed).toBe('UNKNOWN_MEMBER_ID');
    });
  }

  // A `latest` member's first poll stores the end it starts from, fenced on the generation in
  // which it held the partition: held up across its leaving, the group's deletion and a new
  // consumer's join at the same generation, it was stored as the new group's offset, and the
  // new consumer (auto_offset_reset earliest) started at the old end, skipping what was before.
  it("a `latest` member's starting position held up while its group was deleted and created again is not the new group's offset", async () => {
    const s = await setup();
    const wall = new ManualClock(Date.now());
    const engine = closing(new LogEngine(s.meta, s.objects, wall));
    const opts = { clock: wall, monotonic: new ManualClock(1_000), topicRefreshMs: 0 };
    const admin = new GroupCoordinator(s.meta, engine, opts);
    await engine.createTopic(s.name, 1);
    await engine.produce(s.name, Array.from({ length: 10 }, (_, i) => ({ value: enc(String(i)) })));
    const group = `${s.name}-g`;
    const old = await admin.join(group, { topics: [s.name], autoOffsetReset: 'latest' });

    let fresh: { memberId: string; generation: number } | undefined;
    let fired = false;
    const isStart = (ops: WriteOp[]): boolean => ops.some((o) => o.type === 'update' && o.key.pk === groupOffsetsPk(group) && o.set?.['offset'] === 10);
    const transact = async (ops: WriteOp[]): Promise<Array<MetaItem | undefined> | void> => {
      if (fired || !isStart(ops)) return s.meta.transact(ops);
      fired = true;
      await admin.leave(group, old.memberId);
      await admin.deleteGroup(group);
      const n = await admin.join(group, { topics: [s.name], autoOffsetReset: 'earliest' });
      fresh = { memberId: n.memberId, generation: n.generation };
      return s.meta.transact(ops);
    };
    const meta = new Proxy(s.meta, {
      get(target, prop) {
        if (prop === 'transact') return transact;
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const held = new GroupCoordinator(meta, engine, opts);
    await held.poll(group, old.memberId, { maxRecords: 1 });
    expect(fired).toBe(true);
    expect(fresh!.generation).toBe(old.generation);
    // Was: [10], and the new member's poll read nothing of records 0-9.
    expect((await admin.committed(group)).map((o) => o.offset)).toEqual([]);
    const polled = await admin.poll(group, fresh!.memberId, { maxRecords: 100 });
    expect(polled.records.map((r) => new TextDecoder().decode(r.value ?? new Uint8Array(0)))).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  // A deletion removes the group's offsets page by page, by key, then its group item. Paused
  // after reading a page (a frozen Lambda), it was finished meanwhile by any request that found
  // the group marked, the name was used again, and the new group committed the same partition:
  // the paused deletion's removal of that page then deleted the new group's offset, which had
  // been answered 200 — and left the new group standing without it.
  it("a deletion paused while removing its offsets, finished elsewhere, does not remove the offsets of the group created since", async () => {
    const s = await setup();
    const wall = new ManualClock(Date.now());
    const engine = closing(new LogEngine(s.meta, s.objects, wall));
    const opts = { clock: wall, monotonic: new ManualClock(1_000), topicRefreshMs: 0 };
    const other = new GroupCoordinator(s.meta, engine, opts);
    await engine.createTopic(s.name, 2);
    const group = `${s.name}-g`;
    await other.commit(group, { offsets: [{ topic: s.name, partition: 0, offset: 3 }, { topic: s.name, partition: 1, offset: 4 }] });

    let fired = false;
    const transact = async (ops: WriteOp[]): Promise<Array<MetaItem | undefined> | void> => {
      if (fired || !ops.some((o) => o.type === 'delete' && o.key.pk === groupOffsetsPk(group))) return s.meta.transact(ops);
      fired = true;
      // While this deletion is paused: another request finds the group marked and finishes the
      // deletion, and a new consumer of the name commits.
      await expect(other.offsets(group)).rejects.toMatchObject({ code: 'GROUP_ID_NOT_FOUND' });
      await other.commit(group, { offsets: [{ topic: s.name, partition: 0, offset: 1 }, { topic: s.name, partition: 1, offset: 2 }] });
      return s.meta.transact(ops);
    };
    const meta = new Proxy(s.meta, {
      get(target, prop) {
        if (prop === 'transact') return transact;
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const paused = new GroupCoordinator(meta, engine, { ...opts, monotonic: new ManualClock(5_000) });
    await paused.deleteGroup(group);
    expect(fired).toBe(true);
    // Was: [] — the new group stood, with its offsets gone.
    expect((await other.committed(group)).map((o) => [o.partition, o.offset])).toEqual([
      [0, 1],
      [1, 2],
    ]);
  });

  // DELETE /v1/groups/{g}: the mark applied, its answer was lost, and before the SDK sent it
  // again another request finished the deletion and a new consumer committed under the name.
  // The mark sent again fails its condition on the new group; the retry read the group again
  // and deleted the new one with its offsets (answered 200), or, with the name not used again,
  // answered 404 for the deletion it had made.
  for (const after of ['a new group committed under the name', 'nothing else'] as const) {
    it(`a group DELETE whose mark the SDK sent again after the deletion finished (${after}) answers 204 and touches no new group`, async () => {
      const s = await setup();
      const wall = new ManualClock(Date.now());
      const engine = closing(new LogEngine(s.meta, s.objects, wall));
      const opts = { clock: wall, monotonic: new ManualClock(1_000), topicRefreshMs: 0 };
      const other = new GroupCoordinator(s.meta, engine, opts);
      await engine.createTopic(s.name, 1);
      const group = `${s.name}-g`;
      await other.commit(group, { offsets: [{ topic: s.name, partition: 0, offset: 3 }] });

      let fired = false;
      const write = async (op: WriteOp): Promise<MetaItem | undefined> => {
        if (fired || op.type !== 'update' || op.set?.['deleting'] !== true) return s.meta.write(op);
        fired = true;
        await s.meta.write(op);
        await expect(other.offsets(group)).rejects.toMatchObject({ code: 'GROUP_ID_NOT_FOUND' }); // finishes the deletion
        if (after === 'a new group committed under the name') await other.commit(group, { offsets: [{ topic: s.name, partition: 0, offset: 1 }] });
        return s.meta.write(op);
      };
      const meta = new Proxy(s.meta, {
        get(target, prop) {
          if (prop === 'write') return write;
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const deleting = new GroupCoordinator(meta, engine, { ...opts, monotonic: new ManualClock(5_000) });
      const answer = await deleting.deleteGroup(group).then(
        () => 'deleted',
        (err: unknown) => (err instanceof SamsaError ? err.code : Promise.reject(err)),
      );
      expect(fired).toBe(true);
      const left = await other.committed(group).then(
        (o) => o.map((r) => r.offset),
        (err: unknown) => (err instanceof SamsaError ? err.code : Promise.reject(err)),
      );
      // Was: GROUP_ID_NOT_FOUND (the new group deleted), or a 404 answer to the deletion it made.
      expect({ answer, left }).toEqual({ answer: 'deleted', left: after === 'nothing else' ? 'GROUP_ID_NOT_FOUND' : [1] });
    });
  }

  // An offset reset (POST /v1/groups/{g}/offsets/reset, what kafka-consumer-groups
  // --reset-offsets does through OffsetCommit) reads the topic, then the partitions' offsets,
  // then writes: the topic deleted and created again in between (a paused process), the reset
  // was stored under the deleted incarnation's id — answered 200, and then not there.
  it('an offset reset held up while its topic was deleted and created again is stored for the topic now under the name', async () => {
    const s = await setup();
    const wall = new ManualClock(Date.now());
    const engine = closing(new LogEngine(s.meta, s.objects, wall));
    const other = closing(new LogEngine(s.meta, s.objects, wall));
    const opts = { clock: wall, monotonic: new ManualClock(1_000), topicRefreshMs: 0 };
    const admin = new GroupCoordinator(s.meta, engine, opts);
    await engine.createTopic(s.name, 1);
    await engine.produce(s.name, Array.from({ length: 10 }, (_, i) => ({ value: enc(`old-${i}`) })));
    const group = `${s.name}-g`;
    let fired = false;
    const transact = async (ops: WriteOp[]): Promise<Array<MetaItem | undefined> | void> => {
      if (fired || !ops.some((o) => o.type === 'update' && o.key.pk === groupOffsetsPk(group))) return s.meta.transact(ops);
      fired = true;
      await other.deleteTopic(s.name);
      await other.createTopic(s.name, 1);
      await other.produce(s.name, Array.from({ length: 10 }, (_, i) => ({ value: enc(`new-${i}`) })));
      return s.meta.transact(ops);
    };
    const meta = new Proxy(s.meta, {
      get(target, prop) {
        if (prop === 'transact') return transact;
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const held = new GroupCoordinator(meta, engine, opts);
    expect(await held.resetOffsets(group, s.name, { offset: 4 })).toEqual([{ topic: s.name, partition: 0, offset: 4 }]);
    expect(fired).toBe(true);
    // Was: [] — stored under the deleted incarnation's id.
    expect((await admin.committed(group)).map((o) => o.offset)).toEqual([4]);
  });

  // The helper note of the earlier hunt: a commit without a member (POST /v1/groups/{g}/offsets
  // with no member_id; a Kafka OffsetCommit of generation -1, what kafka-consumer-groups
  // --reset-offsets and assign()-mode consumers send) took its topic's id from the cached,
  // eventually consistent lookup. Made on a process that looked the topic up less than a second
  // before another deleted and re-created it, it was stored under the deleted incarnation's id:
  // answered 200, and then not there — the group read the new topic from auto_offset_reset.
  it('a commit without a member, on a process whose lookup still names the deleted incarnation, is stored for the topic now under the name', async () => {
    const s = await setup();
    const wall = new ManualClock(Date.now());
    const a = closing(new LogEngine(s.meta, s.objects, wall));
    const b = closing(new LogEngine(s.meta, s.objects, wall));
    const onA = new GroupCoordinator(s.meta, a, { clock: wall, monotonic: new ManualClock(1_000), topicRefreshMs: 0 });
    const onB = new GroupCoordinator(s.meta, b, { clock: wall, monotonic: new ManualClock(9_000), topicRefreshMs: 0 });
    const group = `${s.name}-g`;
    await b.createTopic(s.name, 1);
    await onA.commit(group, { offsets: [{ topic: s.name, partition: 0, offset: 0 }] }); // A has looked the topic up
    // Another process deletes the topic and creates the name again, then writes to it.
    await b.deleteTopic(s.name);
    const fresh = await b.createTopic(s.name, 1);
    await b.produce(s.name, Array.from({ length: 10 }, (_, i) => ({ value: enc(String(i)) })));

    // Within A's lookup's second: the commit is answered...
    expect(await onA.commit(group, { offsets: [{ topic: s.name, partition: 0, offset: 6 }] })).toEqual([{ topic: s.name, partition: 0, offset: 6, metadata: null }]);
    // ...and there, on either process (was: [] — stored under the deleted incarnation's id).
    expect(await onB.committed(group)).toEqual([{ topic: s.name, partition: 0, offset: 6, metadata: null }]);
    expect(await onA.committed(group)).toEqual([{ topic: s.name, partition: 0, offset: 6, metadata: null }]);
    expect((await b.topics.get(s.name, { fresh: true })).id).toBe(fresh.id);
  });
}

describe('group writes across a deletion and re-creation of the group or its topic, on SQLite + local files', () => scenario(() => localStores('samsa-grecreate-')));
describeAws('group writes across a deletion and re-creation of the group or its topic, on S3 + DynamoDB (emulator)', () => scenario(awsStores));
