// A group deleted while a memberless commit (or a Kafka consumer's OffsetCommit, which is one)
// is in flight. The deletion marks the group, removes its offsets, then its group item; a commit
// that read the group before the mark is fenced only on the generation and the member count,
// which the mark does not change, so it can land after the offsets were removed.
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { GroupCoordinator } from '../../../lib/groups/coordinator';
import { SamsaError } from '../../../lib/errors';
import { faultyMetaStore, Gate } from '../../../lib/storage/faults';
import type { WriteOp } from '../../../lib/storage/ports';
import { type Harness, racingHarness } from './harness';

let h: Harness;
let X: GroupCoordinator;
let Y: GroupCoordinator;
let faults: ReturnType<typeof faultyMetaStore>['faults'];
const enc = new TextEncoder();

beforeEach(async () => {
  ({ h, faults, coords: [X, Y] } = await racingHarness());
  await h.engine.produce('t', Array.from({ length: 100 }, (_, i) => ({ key: null, value: enc.encode(String(i)), headers: [], partition: 0 })));
});
afterEach(() => h.close());

const ops = (c: { args: unknown[] }): WriteOp[] => c.args[0] as WriteOp[];

it('a memberless commit racing a group deletion is either deleted with the group or leaves a group that shows it', async () => {
  await X.commit('g', { offsets: [{ topic: 't', partition: 0, offset: 5 }] });

  // A commit of 77 reads the group, then its write is held back.
  const commitGate = new Gate();
  faults.add({ method: 'transact', when: (c) => JSON.stringify(c.args).includes('"offset":77'), action: { kind: 'hang', gate: commitGate } });
  const committing = Y.commit('g', { offsets: [{ topic: 't', partition: 0, offset: 77 }] });
  await commitGate.reached;

  // The deletion marks the group and removes its offsets; its removal of the group item waits.
  const deleteGate = new Gate();
  faults.add({ method: 'transact', when: (c) => c.method === 'transact' && ops(c).some((o) => o.type === 'delete' && o.key.sk === 'meta'), action: { kind: 'hang', gate: deleteGate } });
  const deleting = X.deleteGroup('g');
  await deleteGate.reached;

  commitGate.release();
  const committed = await committing.then(
    () => 'OK',
    (err: unknown) => (err instanceof SamsaError ? err.code : Promise.reject(err)),
  );
  deleteGate.release();
  await deleting;

  // Either the commit came first and went with the group, or it came after and the group it
  // made shows the offset. Not: a group that does not exist, whose offset a new member inherits.
  const shown = await X.offsets('g').then(
    (o) => o.find((r) => r.partition === 0)?.offset,
    (err: unknown) => (err instanceof SamsaError && err.code === 'GROUP_ID_NOT_FOUND' ? undefined : Promise.reject(err)),
  );
  const m = await X.join('g', { topics: ['t'] });
  const polled = await X.poll('g', m.memberId, { maxRecords: 1 });
  const startedAt = polled.positions[0]!.offset;
  expect({ committed, shown, startedAt }).toSatisfy(
    (r: { committed: string; shown: number | undefined; startedAt: number }) => (r.shown === undefined && r.startedAt === 0) || (r.committed === 'OK' && r.shown === 77 && r.startedAt === 77),
  );
});
