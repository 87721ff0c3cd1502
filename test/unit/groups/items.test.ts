// lib/groups/items.ts is the one mapping between group domain types and stored items: whatever
// state the coordinator writes (group item, member items, ownership shards, offset items) reads
// back as the same state. Property-based, over states with several shards per topic.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tpKey } from '../../../lib/groups/assignors';
import { commitOp, groupFromItems, groupMetaItem, memberItem, partitionFromItem, shardItem, shardsOf } from '../../../lib/groups/items';
import type { GroupState, MemberSpec } from '../../../lib/groups/reconcile';
import { GROUP_OWNER_CHUNK } from '../../../lib/log/keys';
import type { MetaItem } from '../../../lib/storage/ports';

const id = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/);
const topic = fc.stringMatching(/^[a-z][a-z0-9.-]{0,8}$/);
const spec: fc.Arbitrary<MemberSpec> = fc.record({
  topics: fc.uniqueArray(topic, { minLength: 1, maxLength: 3 }),
  sessionTimeoutMs: fc.integer({ min: 100, max: 3_600_000 }),
  autoOffsetReset: fc.constantFrom('earliest' as const, 'latest' as const),
});
const partition = fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: GROUP_OWNER_CHUNK - 3, max: 3 * GROUP_OWNER_CHUNK }));

const stored = fc
  .record({
    generation: fc.integer({ min: 1, max: 1_000_000 }),
    assignor: fc.constantFrom('sticky' as const, 'range' as const, 'roundrobin' as const),
    members: fc.uniqueArray(fc.tuple(id, spec, fc.stringMatching(/^[0-9a-f]{1,16}$/), fc.nat(1_000_000)), { minLength: 1, maxLength: 5, selector: (m) => m[0] }),
    partitions: fc.dictionary(topic, fc.integer({ min: 0, max: 5000 }), { maxKeys: 4 }),
    owned: fc.uniqueArray(fc.tuple(topic, partition, fc.nat(10), fc.option(fc.nat(10)), fc.integer({ min: 1, max: 1_000_000 })), { maxLength: 30, selector: (o) => tpKey(o[0], o[1]) }),
  })
  .map(({ generation, assignor, members, partitions, owned }) => {
    const ids = members.map((m) => m[0]);
    const state: GroupState = { generation, assignor, members: new Map(members.map(([i, s]) => [i, s])), owners: new Map(), revoking: new Map(), partitions };
    const since = new Map<string, number>();
    for (const [t, p, owner, revoker, gen] of owned) {
      const key = tpKey(t, p);
      // A partition is owned, being revoked, or both (handed over once its old owner acks).
      if (revoker === null || owner % 2 === 0) state.owners.set(key, ids[owner % ids.length]!);
      if (revoker !== null) state.revoking.set(key, { from: ids[revoker % ids.length]!, gen });
      since.set(key, gen);
    }
    return { state, since, acks: members.map(([i, , hb, acked]) => ({ id: i, hb, acked })) };
  });

describe('group items', () => {
  it('round trip: what the coordinator writes for a state reads back as that state', () => {
    fc.assert(
      fc.property(stored, ({ state, since, acks }) => {
        const group = 'g';
        const items: MetaItem[] = [groupMetaItem(group, state)];
        for (const a of acks) items.push(memberItem(group, a.id, a.hb, a.acked, state.members.get(a.id)!));
        for (const sh of shardsOf([...state.owners.keys(), ...state.revoking.keys()].map((key) => ({ key }))).values()) {
          const item = shardItem(group, sh.topic, sh.chunk, state, since);
          if (item) items.push(item);
        }
        const back = groupFromItems(items);
        expect(back.exists).toBe(true);
        expect(back.legacy).toBe(false);
        expect(back.state).toEqual(state);
        expect(back.since).toEqual(since);
        expect(back.members).toEqual(new Map(acks.map((a) => [a.id, { hb: a.hb, acked: a.acked }])));
      }),
      { numRuns: 200 },
    );
  });

  it('round trip of an offset item, with the topic incarnation it was committed on', () => {
    fc.assert(
      fc.property(topic, fc.nat(10_000), fc.nat(2 ** 40), fc.option(fc.string({ maxLength: 20 })), fc.uuid(), fc.nat(2 ** 42), (t, p, offset, metadata, topicId, now) => {
        const op = commitOp('g', { topic: t, partition: p, offset, metadata }, topicId, now);
        if (op.type !== 'update') throw new Error('an offset commit is an update');
        const back = partitionFromItem({ ...op.key, ...op.set } as MetaItem);
        expect(back).toEqual({ topic: t, partition: p, item: { offset, metadata, topicId, committedAt: now } });
      }),
    );
  });

  it('no group item: no group', () => {
    expect(groupFromItems([]).exists).toBe(false);
  });
});
