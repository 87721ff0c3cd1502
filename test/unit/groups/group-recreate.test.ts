// A group deleted and created again under the same name while a member's write was held up.
// Every group starts over at generation 0, and a member's commit (like a `latest` member's
// starting position) is fenced on the generation it read: a commit of the deleted group's member,
// paused between its read and its write (or written, its answer lost, and sent again by the SDK
// after the deletion), passed that check on the new group once it reached the same generation,
// and the new group's consumer started from the old member's position, skipping the records
// before it. Run on SQLite + local files and on S3 + DynamoDB (emulator).
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
}

describe('a group deleted and re-created under a held-up member write, on SQLite + local files', () => scenario(() => localStores('samsa-grecreate-')));
describeAws('a group deleted and re-created under a held-up member write, on S3 + DynamoDB (emulator)', () => scenario(awsStores));
