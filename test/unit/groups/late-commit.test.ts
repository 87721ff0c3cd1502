// A commit that lands late must not undo a later one (design note 0005, "Late commits"). Found by
// the history checker (AWS mode, seed 425): a member's commit of offset 43 timed out at the
// client while its server's storage write was held back; the member committed 79 elsewhere, and
// then the held write landed, so the next poll delivered records from 43 again (nonmonotonic-poll).
// Here an instance is paused right before its write (a SIGSTOPped process, or a delayed storage
// call) while the member commits again through another instance; then it resumes.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GroupCoordinator } from '../../../lib/groups/coordinator';
import { faultyMetaStore, Gate } from '../../../lib/storage/faults';
import { type Harness, racingHarness } from './harness';
import { readGroup } from './read-group';

let h: Harness;
let A: GroupCoordinator;
let B: GroupCoordinator;
let faults: ReturnType<typeof faultyMetaStore>['faults'];

beforeEach(async () => {
  ({ h, faults, coords: [A, B] } = await racingHarness());
  await h.engine.produce('t', Array.from({ length: 100 }, (_, i) => ({ key: null, value: new TextEncoder().encode(String(i)), headers: [], partition: 0 })));
});
afterEach(() => h.close());

const stored = async (group = 'g'): Promise<number | undefined> => (await readGroup(h.meta, group))!.partitions.get('t#0')?.offset;
/** The write that carries this offset for t/0 is held until the gate opens. */
const holdWriteOf = (offset: number, gate: Gate): void =>
  faults.add({ method: 'transact', when: (c) => JSON.stringify(c.args).includes(`"offset":${offset}`), action: { kind: 'hang', gate } });

describe('late commits', () => {
  it("a member's commit held back past its client's timeout does not undo the commit the member made next", async () => {
    const m = await A.join('g', { topics: ['t'] });
    const gen = (await A.heartbeat('g', m.memberId, m.generation)).generation;
    const gate = new Gate();
    holdWriteOf(43, gate);
    const late = A.commit('g', { memberId: m.memberId, generation: gen, offsets: [{ topic: 't', partition: 0, offset: 43 }] });
    await gate.reached;
    h.advance(10_000); // the client's timeout: it commits again, through the other instance
    await B.commit('g', { memberId: m.memberId, generation: gen, offsets: [{ topic: 't', partition: 0, offset: 79 }] });
    expect(await stored()).toBe(79);
    gate.release();
    // It answers as a commit that happened first and was overwritten by the next one would.
    expect(await late).toEqual([{ topic: 't', partition: 0, offset: 43, metadata: null }]);
    expect(await stored()).toBe(79);
    const polled = await B.poll('g', m.memberId, { maxRecords: 1 });
    expect(polled.records[0]!.offset).toBe(79);
  });

  it('a late commit still moves the partitions no later commit touched', async () => {
    await h.engine.createTopic('u', 1);
    const gate = new Gate();
    holdWriteOf(43, gate);
    // Memberless commits (an admin tool's, or a group's between members) take the same path.
    const late = A.commit('solo', { offsets: [{ topic: 't', partition: 0, offset: 43 }, { topic: 'u', partition: 0, offset: 5 }] });
    await gate.reached;
    h.advance(10_000);
    await B.commit('solo', { offsets: [{ topic: 't', partition: 0, offset: 79 }] });
    gate.release();
    await late;
    const parts = (await readGroup(h.meta, 'solo'))!.partitions;
    expect([parts.get('t#0')?.offset, parts.get('u#0')?.offset]).toEqual([79, 5]);
  });

  it("a poll's acknowledgement held back past its client's timeout does not undo the next poll's", async () => {
    const m = await A.join('g', { topics: ['t'] });
    let gen = (await A.heartbeat('g', m.memberId, m.generation)).generation;
    const first = await A.poll('g', m.memberId, { maxRecords: 43 });
    gen = first.generation;
    const gate = new Gate();
    holdWriteOf(43, gate);
    const late = A.poll('g', m.memberId, { acks: [{ topic: 't', partition: 0, offset: 43 }], ackGeneration: gen, maxRecords: 36 });
    await gate.reached;
    h.advance(10_000);
    // The client gave up on that poll; it polls again elsewhere, acknowledging further.
    await B.poll('g', m.memberId, { acks: [{ topic: 't', partition: 0, offset: 79 }], ackGeneration: gen, maxRecords: 1 });
    expect(await stored()).toBe(79);
    gate.release();
    await late;
    expect(await stored()).toBe(79);
  });

  it('commits in order still move the offset either way (a later commit may go back, as in Kafka)', async () => {
    const m = await A.join('g', { topics: ['t'] });
    const gen = (await A.heartbeat('g', m.memberId, m.generation)).generation;
    await A.commit('g', { memberId: m.memberId, generation: gen, offsets: [{ topic: 't', partition: 0, offset: 50 }] });
    h.advance(1);
    await B.commit('g', { memberId: m.memberId, generation: gen, offsets: [{ topic: 't', partition: 0, offset: 20 }] });
    expect(await stored()).toBe(20);
  });
});
