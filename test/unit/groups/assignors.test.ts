// The assignment strategies as properties over random groups: every subscribed partition has
// exactly one owner, subscribed to its topic; identical subscriptions are balanced within one
// (range per topic, as Kafka's RangeAssignor); results do not depend on input order; and sticky
// moves nothing that churn does not force.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AssignInput, ASSIGNORS, type AssignorName, type Owners, parseTp, tpKey } from '../../../lib/groups/assignors';

const TOPICS = ['a', 'b', 'c'];
const partitionsArb = fc.record({ a: fc.integer({ min: 0, max: 12 }), b: fc.integer({ min: 0, max: 7 }), c: fc.integer({ min: 1, max: 20 }) });
const membersArb = fc.uniqueArray(fc.record({ id: fc.stringMatching(/^[a-z0-9]{1,6}$/), topics: fc.subarray(TOPICS, { minLength: 1 }) }), { minLength: 1, maxLength: 9, selector: (m) => m.id });
const names = Object.keys(ASSIGNORS) as AssignorName[];

function counts(owners: Owners, ids: string[]): number[] {
  const c = new Map(ids.map((id) => [id, 0]));
  for (const m of owners.values()) c.set(m, (c.get(m) ?? 0) + 1);
  return [...c.values()];
}

function checkValid(input: AssignInput, owners: Owners): void {
  const subs = new Map(input.members.map((m) => [m.id, new Set(m.topics)]));
  const expected = new Set<string>();
  for (const t of TOPICS) {
    if (![...subs.values()].some((s) => s.has(t))) continue;
    for (let p = 0; p < (input.partitions[t] ?? 0); p++) expected.add(tpKey(t, p));
  }
  expect(new Set(owners.keys())).toEqual(expected);
  for (const [k, m] of owners) expect(subs.get(m)?.has(parseTp(k).topic), `${k} → ${m}`).toBe(true);
}

describe.each(names)('%s assignor', (name) => {
  const assign = ASSIGNORS[name];

  it('assigns every subscribed partition exactly once, to a subscriber', () => {
    fc.assert(
      fc.property(membersArb, partitionsArb, (members, partitions) => {
        checkValid({ members, partitions }, assign({ members, partitions }));
      }),
    );
  });

  it('is deterministic: member order does not matter', () => {
    fc.assert(
      fc.property(membersArb, partitionsArb, fc.integer(), (members, partitions, seed) => {
        const shuffled = [...members].sort((x, y) => ((x.id.charCodeAt(0) * seed) % 7) - ((y.id.charCodeAt(0) * seed) % 7));
        expect([...assign({ members: shuffled, partitions })].sort()).toEqual([...assign({ members, partitions })].sort());
      }),
    );
  });

  it('balances identical subscriptions within one partition', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 40 }), (n, p) => {
        const members = Array.from({ length: n }, (_, i) => ({ id: `m${i}`, topics: ['a'] }));
        const c = counts(assign({ members, partitions: { a: p } }), members.map((m) => m.id));
        expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
      }),
    );
  });
});

describe('sticky under churn', () => {
  const sticky = ASSIGNORS.sticky;
  const groupArb = fc.record({ n: fc.integer({ min: 1, max: 10 }), a: fc.integer({ min: 0, max: 30 }), b: fc.integer({ min: 0, max: 30 }) });
  const members = (n: number, prefix = 'm') => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, topics: ['a', 'b'] }));

  it('a joining member takes partitions only for itself, and stays balanced across topics', () => {
    fc.assert(
      fc.property(groupArb, ({ n, a, b }) => {
        const before = sticky({ members: members(n), partitions: { a, b } });
        const after = sticky({ members: [...members(n), { id: 'new', topics: ['a', 'b'] }], partitions: { a, b }, previous: before });
        for (const [k, m] of after) if (before.get(k) !== m) expect(m).toBe('new');
        const c = counts(after, [...members(n).map((x) => x.id), 'new']);
        expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('when a member leaves only its partitions move', () => {
    fc.assert(
      fc.property(groupArb.filter((g) => g.n >= 2), fc.nat(), ({ n, a, b }, which) => {
        const all = members(n);
        const before = sticky({ members: all, partitions: { a, b } });
        const gone = all[which % n]!.id;
        const rest = all.filter((m) => m.id !== gone);
        const after = sticky({ members: rest, partitions: { a, b }, previous: before });
        for (const [k, m] of before) if (m !== gone) expect(after.get(k)).toBe(m);
        const c = counts(after, rest.map((x) => x.id));
        expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('is stable: recomputing from its own result moves nothing', () => {
    fc.assert(
      fc.property(membersArb, partitionsArb, (ms, partitions) => {
        const once = sticky({ members: ms, partitions });
        expect([...sticky({ members: ms, partitions, previous: once })].sort()).toEqual([...once].sort());
      }),
    );
  });
});

it('range and round-robin follow Kafka’s layouts', () => {
  const members = [{ id: 'c1', topics: ['t'] }, { id: 'c0', topics: ['t'] }];
  const show = (o: Owners) => [...o].map(([k, m]) => `${k}=${m}`).sort();
  expect(show(ASSIGNORS.range({ members, partitions: { t: 5 } }))).toEqual(['t#0=c0', 't#1=c0', 't#2=c0', 't#3=c1', 't#4=c1']);
  expect(show(ASSIGNORS.roundrobin({ members, partitions: { t: 5 } }))).toEqual(['t#0=c0', 't#1=c1', 't#2=c0', 't#3=c1', 't#4=c0']);
});
