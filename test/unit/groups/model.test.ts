// Model test: random joins, leaves, crashes, heartbeats, commits and time advances, served by
// three coordinator "instances" with unrelated monotonic clocks over one metadata store. After
// every step the stored group must satisfy docs/http-api.md's invariants: one owner per partition per
// generation (the group item and the per-partition fencing items agree), owners are members,
// nobody is expelled before its session timeout, and a commit is accepted exactly when it comes
// from the partition's owner in the current generation. At the end, once the live members
// heartbeat without time passing, every subscribed partition is owned by a live member.
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { holds } from '../../../lib/groups/coordinator';
import { targetOf } from '../../../lib/groups/reconcile';
import { SamsaError } from '../../../lib/errors';
import { type Harness, harness } from './harness';
import { readGroup } from './read-group';

const TIMEOUT = 1000;
const TOPICS: Record<string, number> = { a: 5, b: 3 };

type Cmd =
  | { kind: 'join'; via: number; topics: string[] }
  | { kind: 'leave'; who: number; via: number }
  | { kind: 'crash'; who: number }
  | { kind: 'heartbeat'; who: number; via: number; lag: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'commit'; who: number; via: number; genDelta: number; partition: number; topic: string; offset: number }
  | { kind: 'memberless'; via: number; partition: number; offset: number };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('join' as const), via: fc.nat(2), topics: fc.subarray(['a', 'b'], { minLength: 1 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('leave' as const), who: fc.nat(), via: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), who: fc.nat() }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('heartbeat' as const), who: fc.nat(), via: fc.nat(2), lag: fc.nat(2) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 700 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      who: fc.nat(),
      via: fc.nat(2),
      genDelta: fc.constantFrom(0, 0, 0, -1, 1),
      topic: fc.constantFrom('a', 'b'),
      partition: fc.nat(4),
      offset: fc.nat(1000),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('memberless' as const), via: fc.nat(2), partition: fc.nat(2), offset: fc.nat(1000) }) },
);

interface ModelMember {
  id: string;
  topics: string[];
  generation: number;
  lastHeartbeat: number;
  crashed: boolean;
  gone: boolean;
}

let h: Harness;
beforeAll(async () => {
  h = await harness({ instances: 3 });
  for (const [t, n] of Object.entries(TOPICS)) await h.engine.createTopic(t, n);
});
afterAll(() => h.close());

let runNo = 0;

type Snapshot = Awaited<ReturnType<typeof readGroup>>;
let previous: Snapshot;

async function checkInvariants(group: string, model: ModelMember[], now: number): Promise<void> {
  const g = await readGroup(h.meta, group);
  const prev = previous;
  previous = g;
  if (!g) return;
  // Cooperative: a partition reaches a new owner only once its old owner is gone or has
  // acknowledged a generation whose assignment no longer holds it.
  if (prev) {
    for (const [k, to] of g.state.owners) {
      const from = prev.state.owners.get(k);
      if (from !== undefined && from !== to) expect(g.state.members.has(from), `${k} moved ${from} → ${to} without revocation`).toBe(false);
      const rev = prev.state.revoking.get(k);
      if (rev && rev.from !== to && g.state.members.has(rev.from)) {
        expect(g.acked.get(rev.from), `${k} handed to ${to} before ${rev.from} acknowledged generation ${rev.gen}`).toBeGreaterThanOrEqual(rev.gen);
      }
    }
  }
  // One owner per partition in the generation: owners and revocations never overlap, and every
  // ownership records the generation it began in (the fencing of acks), never a later one.
  for (const k of g.state.revoking.keys()) expect(g.state.owners.has(k), `${k} both owned and revoking`).toBe(false);
  for (const [k, m] of g.state.owners) {
    expect(g.state.members.has(m), `${k} owned by non-member ${m}`).toBe(true);
    const since = g.since.get(k);
    expect(since !== undefined && since > 0 && since <= g.state.generation, `since of ${k}: ${since}`).toBe(true);
    if (prev && prev.state.owners.get(k) === m) expect(since, `${k} kept by ${m}: since unchanged`).toBe(prev.since.get(k));
  }
  for (const r of g.state.revoking.values()) expect(g.state.members.has(r.from)).toBe(true);
  // Never expelled early; never kept after leaving.
  for (const m of model) {
    const present = g.state.members.has(m.id);
    if (m.gone) expect(present, `${m.id} left but is present`).toBe(false);
    else if (!present) {
      expect(now - m.lastHeartbeat, `${m.id} expelled ${now - m.lastHeartbeat} ms after its last heartbeat`).toBeGreaterThanOrEqual(TIMEOUT);
      m.gone = true;
    }
  }
}

it('random joins, leaves, crashes, heartbeats and commits keep the group invariants', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(cmdArb, { minLength: 20, maxLength: 90 }), fc.constantFrom('sticky', 'range', 'roundrobin'), async (cmds, assignor) => {
      const group = `model-${runNo++}`;
      previous = undefined;
      const model: ModelMember[] = [];
      let now = 0;
      const inst = (i: number) => h.instances[i % h.instances.length]!.coord;
      const live = () => model.filter((m) => !m.gone);
      const pick = (n: number) => (live().length ? live()[n % live().length] : undefined);

      for (const cmd of cmds) {
        switch (cmd.kind) {
          case 'join': {
            const r = await inst(cmd.via).join(group, { topics: cmd.topics, sessionTimeoutMs: TIMEOUT, assignor });
            model.push({ id: r.memberId, topics: cmd.topics, generation: r.generation, lastHeartbeat: now, crashed: false, gone: false });
            break;
          }
          case 'leave': {
            const m = pick(cmd.who);
            if (!m || m.crashed) break;
            try {
              await inst(cmd.via).leave(group, m.id);
              m.gone = true;
            } catch (err) {
              expect((err as SamsaError).code).toBe('UNKNOWN_MEMBER_ID');
              expect(now - m.lastHeartbeat).toBeGreaterThanOrEqual(TIMEOUT);
              m.gone = true;
            }
            break;
          }
          case 'crash': {
            const m = pick(cmd.who);
            if (m) m.crashed = true;
            break;
          }
          case 'heartbeat': {
            const m = pick(cmd.who);
            if (!m || m.crashed) break;
            try {
              // Members sometimes heartbeat with an older generation than they were told.
              const r = await inst(cmd.via).heartbeat(group, m.id, Math.max(0, m.generation - cmd.lag));
              m.generation = r.generation;
              m.lastHeartbeat = now;
            } catch (err) {
              expect((err as SamsaError).code).toBe('UNKNOWN_MEMBER_ID');
              expect(now - m.lastHeartbeat, 'a heartbeat was refused before the session timeout').toBeGreaterThanOrEqual(TIMEOUT);
              m.gone = true;
            }
            break;
          }
          case 'advance':
            now += cmd.ms;
            h.advance(cmd.ms);
            break;
          case 'commit': {
            const m = pick(cmd.who);
            if (!m) break;
            const partition = cmd.partition % TOPICS[cmd.topic]!;
            const before = await readGroup(h.meta, group);
            const generation = Math.max(0, (before?.state.generation ?? 0) + cmd.genDelta);
            const stored = before?.partitions.get(`${cmd.topic}#${partition}`)?.offset;
            let accepted = true;
            try {
              await inst(cmd.via).commit(group, { memberId: m.id, generation, offsets: [{ topic: cmd.topic, partition, offset: cmd.offset }] });
            } catch (err) {
              if (!(err instanceof SamsaError)) throw err;
              expect(['ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']).toContain(err.code);
              accepted = false;
            }
            // The commit itself may expel silent members first (a touch): judge it against the
            // state it was checked against, which a fresh read reproduces when nothing expired.
            const after = await readGroup(h.meta, group);
            if (after!.state.generation === before!.state.generation) {
              const expected = before!.state.members.has(m.id) && generation === before!.state.generation && holds(before!.state, m.id, `${cmd.topic}#${partition}`);
              expect(accepted, `commit by ${m.id} gen ${generation} for ${cmd.topic}/${partition}`).toBe(expected);
            } else if (accepted) {
              expect(holds(after!.state, m.id, `${cmd.topic}#${partition}`)).toBe(true);
            }
            const offset = after!.partitions.get(`${cmd.topic}#${partition}`)?.offset;
            expect(offset).toBe(accepted ? cmd.offset : stored);
            break;
          }
          case 'memberless': {
            const before = await readGroup(h.meta, group);
            const partition = cmd.partition % TOPICS.b!;
            let accepted = true;
            try {
              await inst(cmd.via).commit(group, { offsets: [{ topic: 'b', partition, offset: cmd.offset }] });
            } catch (err) {
              expect((err as SamsaError).code).toBe('ILLEGAL_GENERATION');
              accepted = false;
            }
            const after = await readGroup(h.meta, group);
            if (accepted) expect(after!.state.members.size).toBe(0);
            else expect(after!.partitions.get(`b#${partition}`)?.offset).toBe(before?.partitions.get(`b#${partition}`)?.offset);
            break;
          }
        }
        await checkInvariants(group, model, now);
      }

      // Settle: crashed members are expelled once every instance has watched them for a session
      // timeout; live members then heartbeat (no time passes) until the assignment is complete.
      for (let round = 0; round < 3; round++) {
        for (const m of live().filter((x) => !x.crashed)) {
          for (let i = 0; i < h.instances.length; i++) {
            try {
              m.generation = (await inst(i).heartbeat(group, m.id, m.generation)).generation;
              m.lastHeartbeat = now;
            } catch {
              m.gone = true;
            }
          }
        }
        for (let i = 0; i < h.instances.length; i++) await inst(i).describe(group).catch(() => undefined);
        await checkInvariants(group, model, now);
        now += TIMEOUT;
        h.advance(TIMEOUT);
        if (round === 1) break;
      }
      for (let round = 0; round < 4; round++) {
        for (const m of live()) {
          try {
            m.generation = (await inst(round).heartbeat(group, m.id, m.generation)).generation;
            m.lastHeartbeat = now;
          } catch {
            m.gone = true;
          }
        }
      }
      await checkInvariants(group, model, now);
      const g = await readGroup(h.meta, group);
      if (!g) return;
      expect(model.filter((m) => m.crashed && g.state.members.has(m.id)), 'crashed members still present').toEqual([]);
      // Complete: every partition some live member subscribes to is owned by a live member,
      // exactly as the assignor's target says, with nothing left mid-revocation.
      expect(g.state.revoking.size).toBe(0);
      const target = targetOf(g.state);
      expect(new Map(g.state.owners)).toEqual(target);
      for (const m of g.state.members.values()) for (const t of m.topics) for (let p = 0; p < TOPICS[t]!; p++) expect(g.state.owners.has(`${t}#${p}`)).toBe(true);
    }),
    { numRuns: 40 },
  );
}, 120_000);

