// A member with auto_offset_reset=latest takes over a partition whose previous owner committed
// while the new member's first poll was in flight. The poll reads the committed offsets beside
// the group (design note 0005, step 4), so it may read them from before that commit; the
// partition then looks uncommitted and is read from the end of the log, and the records between
// the previous owner's commit and the end were delivered to nobody.
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { GroupCoordinator } from '../../../lib/groups/coordinator';
import { groupPk } from '../../../lib/log/keys';
import { faultyMetaStore, Gate } from '../../../lib/storage/faults';
import { type Harness, racingHarness } from './harness';
import { readGroup } from './read-group';

let h: Harness;
let X: GroupCoordinator;
let Y: GroupCoordinator;
let faults: ReturnType<typeof faultyMetaStore>['faults'];
const enc = new TextEncoder();

beforeEach(async () => {
  ({ h, faults, coords: [X, Y] } = await racingHarness());
});
afterEach(() => h.close());

const produce = (from: number, n: number): Promise<unknown> =>
  h.engine.produce('t', Array.from({ length: n }, (_, i) => ({ key: null, value: enc.encode(String(from + i)), headers: [], partition: 0 })));

it('a latest member taking over a partition committed during its first poll reads from that commit, skipping nothing', async () => {
  await produce(0, 10);
  const a = await X.join('g', { topics: ['t'] });
  const first = await X.poll('g', a.memberId);
  expect(first.records.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const b = await Y.join('g', { topics: ['t'], autoOffsetReset: 'latest' });
  expect(b.assignment).toEqual([]); // sticky: t/0 stays with a

  // b's first poll: its read of the committed offsets goes out, its read of the group is slow.
  const gate = new Gate();
  faults.add({ method: 'query', when: (c) => (c.args[0] as { pk: string }).pk === groupPk('g'), action: { kind: 'hang', gate } });
  const polling = Y.poll('g', b.memberId);
  await gate.reached;
  // Meanwhile a commits what it processed and leaves; t/0 goes to b; more records arrive.
  const gen = (await X.heartbeat('g', a.memberId, first.generation)).generation;
  await X.commit('g', { memberId: a.memberId, generation: gen, offsets: [{ topic: 't', partition: 0, offset: 10 }] });
  await X.leave('g', a.memberId);
  await produce(10, 10);
  expect((await readGroup(h.meta, 'g'))!.partitions.get('t#0')?.offset).toBe(10);
  gate.release();

  const polled = await polling;
  expect(polled.assignment).toEqual([{ topic: 't', partition: 0 }]);
  // b reads on from a's commit: records 10-19 were delivered to no one yet.
  expect(polled.positions[0]!.offset).toBe(10);
  expect(polled.records.map((r) => r.offset)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
});
