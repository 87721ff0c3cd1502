// The coordinator's promises, one by one, against in-memory stores with injected clocks:
// session expiry (never early, only by monotonic observation), commit fencing, poll with
// auto-commit (exactly once when nothing fails, across a cooperative rebalance), commits racing
// a rebalance, admin operations, and the cost of a heartbeat.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GroupCoordinator } from '../../../lib/groups/coordinator';
import { SamsaError } from '../../../lib/errors';
import { LogEngine } from '../../../lib/log/engine';
import { GROUP_OWNER_PREFIX } from '../../../lib/log/keys';
import { countingMetaStore } from '../../../lib/storage/counting';
import type { MetaItem, MetaStore, WriteOp } from '../../../lib/storage/ports';
import { type Harness, harness } from './harness';
import { readGroup } from './read-group';

const enc = new TextEncoder();
let h: Harness;
let A: GroupCoordinator;
let B: GroupCoordinator;

beforeEach(async () => {
  h = await harness({ instances: 2 });
  [A, B] = h.instances.map((i) => i.coord) as [GroupCoordinator, GroupCoordinator];
  await h.engine.createTopic('t', 6);
});
afterEach(() => h.close());

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    if (err instanceof SamsaError) return err.code;
    throw err;
  }
}

/** Heartbeat every member through alternating instances until assignments stop changing. */
async function settle(group: string, members: Array<{ memberId: string; generation: number }>): Promise<Map<string, number[]>> {
  let last = '';
  for (let round = 0; round < 10; round++) {
    const out = new Map<string, number[]>();
    for (const [i, m] of members.entries()) {
      const r = await (i % 2 ? B : A).heartbeat(group, m.memberId, m.generation);
      m.generation = r.generation;
      out.set(m.memberId, r.assignment.map((x) => x.partition));
    }
    const key = JSON.stringify([...out]);
    if (key === last) return out;
    last = key;
  }
  throw new Error('group did not settle');
}

async function produce(n: number, from = 0): Promise<void> {
  await h.engine.produce('t', Array.from({ length: n }, (_, i) => ({ key: null, value: enc.encode(String(from + i)), headers: [], partition: (from + i) % 6 })));
}

describe('assignment', () => {
  it('three members split six partitions two each, disjoint and complete', async () => {
    const ms = [];
    for (let i = 0; i < 3; i++) ms.push(await (i % 2 ? B : A).join('g', { topics: ['t'], sessionTimeoutMs: 1000 }));
    const split = await settle('g', ms);
    const all = [...split.values()].flat().sort();
    expect(all).toEqual([0, 1, 2, 3, 4, 5]);
    for (const parts of split.values()) expect(parts).toHaveLength(2);
    expect((await A.describe('g')).state).toBe('Stable');
  });

  it('a new member gets nothing another member still holds until that member acknowledges', async () => {
    const a = await A.join('g', { topics: ['t'] });
    const b = await B.join('g', { topics: ['t'] });
    expect(b.assignment).toEqual([]);
    const g = await readGroup(h.meta, 'g');
    expect(g!.state.revoking.size).toBe(3);
    expect((await A.describe('g')).state).toBe('Reconciling');
    // a learns of generation 2 (without the revoked partitions) and acknowledges it next time.
    const r1 = await A.heartbeat('g', a.memberId, a.generation);
    expect(r1.assignment).toHaveLength(3);
    expect((await B.heartbeat('g', b.memberId, b.generation)).assignment).toEqual([]);
    await A.heartbeat('g', a.memberId, r1.generation);
    expect((await B.heartbeat('g', b.memberId, b.generation)).assignment).toHaveLength(3);
  });

  it('range and round-robin are available by name; the first member chooses', async () => {
    const a = await A.join('r', { topics: ['t'], assignor: 'range' });
    const b = await A.join('r', { topics: ['t'] });
    expect((await A.describe('r')).assignor).toBe('range');
    const split = await settle('r', [a, b]);
    expect([...split.values()].sort()).toEqual([[0, 1, 2], [3, 4, 5]]);
    expect(await code(A.join('r', { topics: ['t'], assignor: 'roundrobin' }))).toBe('INVALID_REQUEST');
  });

  it('added partitions are assigned once an instance re-reads the topic', async () => {
    const a = await A.join('g', { topics: ['t'] });
    await h.engine.topics.alter('t', { partitions: 8 });
    h.engine.topics.invalidate();
    h.advance(2000);
    expect((await A.heartbeat('g', a.memberId, a.generation)).assignment).toHaveLength(8);
  });
});

describe('liveness', () => {
  it('expels a silent member after its session timeout, not before; its partitions move', async () => {
    const a = await A.join('g', { topics: ['t'], sessionTimeoutMs: 1000 });
    const b = await B.join('g', { topics: ['t'], sessionTimeoutMs: 1000 });
    await settle('g', [a, b]);
    // b goes silent; a keeps heartbeating through both instances.
    for (let t = 0; t < 9; t++) {
      h.advance(100);
      await (t % 2 ? B : A).heartbeat('g', a.memberId, a.generation).then((r) => (a.generation = r.generation));
    }
    expect((await readGroup(h.meta, 'g'))!.state.members.has(b.memberId)).toBe(true);
    h.advance(99); // 999 ms since b's last heartbeat, which instance B wrote
    for (const c of [A, B]) await c.heartbeat('g', a.memberId, a.generation).then((r) => (a.generation = r.generation));
    expect((await readGroup(h.meta, 'g'))!.state.members.has(b.memberId)).toBe(true);
    h.advance(1);
    const r = await B.heartbeat('g', a.memberId, a.generation);
    expect(r.assignment).toHaveLength(6);
    expect(await code(B.heartbeat('g', b.memberId, b.generation))).toBe('UNKNOWN_MEMBER_ID');
  });

  it('wall-clock jumps expel nobody: only an instance’s own monotonic observations count', async () => {
    const a = await A.join('g', { topics: ['t'], sessionTimeoutMs: 1000 });
    h.wall.advance(3_600_000);
    // B has never seen a's heartbeat version: it starts watching now, whatever the wall says.
    h.instances[1]!.mono.advance(10_000);
    await B.describe('g');
    h.instances[1]!.mono.advance(999);
    expect((await B.describe('g')).members.map((m) => m.member_id)).toEqual([a.memberId]);
    h.instances[1]!.mono.advance(1);
    expect((await B.describe('g')).members).toEqual([]);
  });

  it('a heartbeat landing between the expiry decision and the expel saves the member', async () => {
    let hook: (() => Promise<void>) | undefined;
    await h.close();
    h = await harness({
      instances: 2,
      wrap: (inner) => ({
        ...inner,
        limits: inner.limits,
        get: (k, o) => inner.get(k, o),
        query: (o) => inner.query(o),
        write: (op) => inner.write(op),
        transact: async (ops) => {
          if (hook && ops.some((op) => op.type === 'delete' && op.key.sk.startsWith('m#'))) {
            const run = hook;
            hook = undefined;
            await run();
          }
          return inner.transact(ops);
        },
      }),
    });
    [A, B] = h.instances.map((i) => i.coord) as [GroupCoordinator, GroupCoordinator];
    await h.engine.createTopic('t', 6);
    const a = await A.join('g', { topics: ['t'], sessionTimeoutMs: 1000 });
    await B.describe('g'); // B starts watching a's version
    h.instances[1]!.mono.advance(1500); // only B's clock: A has just heard from a
    hook = async () => void (await A.heartbeat('g', a.memberId, a.generation));
    expect((await B.describe('g')).members.map((m) => m.member_id)).toEqual([a.memberId]);
    expect(hook).toBeUndefined();
  });
});

describe('fencing', () => {
  async function twoMembers() {
    const a = await A.join('g', { topics: ['t'] });
    const b = await B.join('g', { topics: ['t'] });
    const split = await settle('g', [a, b]);
    return { a, b, pa: split.get(a.memberId)!, pb: split.get(b.memberId)! };
  }
  const stored = async (p: number) => (await readGroup(h.meta, 'g'))!.partitions.get(`t#${p}`)?.offset;

  it('accepts the owner in the current generation', async () => {
    const { a, pa } = await twoMembers();
    await A.commit('g', { memberId: a.memberId, generation: a.generation, offsets: [{ topic: 't', partition: pa[0]!, offset: 7, metadata: 'm' }] });
    expect(await stored(pa[0]!)).toBe(7);
    expect((await A.offsets('g')).find((o) => o.partition === pa[0])!.metadata).toBe('m');
  });

  it('refuses stale generations, other members’ partitions, unknown members and memberless commits, changing nothing', async () => {
    const { a, pa, pb } = await twoMembers();
    const before = JSON.stringify([...(await readGroup(h.meta, 'g'))!.partitions]);
    expect(await code(A.commit('g', { memberId: a.memberId, generation: a.generation - 1, offsets: [{ topic: 't', partition: pa[0]!, offset: 1 }] }))).toBe('ILLEGAL_GENERATION');
    expect(await code(A.commit('g', { memberId: a.memberId, generation: a.generation + 1, offsets: [{ topic: 't', partition: pa[0]!, offset: 1 }] }))).toBe('ILLEGAL_GENERATION');
    expect(await code(B.commit('g', { memberId: a.memberId, generation: a.generation, offsets: [{ topic: 't', partition: pa[0]!, offset: 1 }, { topic: 't', partition: pb[0]!, offset: 1 }] }))).toBe('ILLEGAL_GENERATION');
    expect(await code(A.commit('g', { memberId: 'nobody', generation: a.generation, offsets: [{ topic: 't', partition: pa[0]!, offset: 1 }] }))).toBe('UNKNOWN_MEMBER_ID');
    expect(await code(A.commit('g', { offsets: [{ topic: 't', partition: pa[0]!, offset: 1 }] }))).toBe('ILLEGAL_GENERATION');
    expect(await code(A.commit('g', { memberId: a.memberId, generation: a.generation, offsets: [{ topic: 'nope', partition: 0, offset: 1 }] }))).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    expect(JSON.stringify([...(await readGroup(h.meta, 'g'))!.partitions])).toBe(before);
  });

  it('accepts memberless commits only while the group is empty', async () => {
    await A.commit('solo', { offsets: [{ topic: 't', partition: 0, offset: 3 }] });
    const m = await A.join('solo', { topics: ['t'] });
    expect(await code(A.commit('solo', { offsets: [{ topic: 't', partition: 0, offset: 4 }] }))).toBe('ILLEGAL_GENERATION');
    await A.leave('solo', m.memberId);
    await A.commit('solo', { offsets: [{ topic: 't', partition: 0, offset: 5 }] });
    expect((await A.offsets('solo')).find((o) => o.partition === 0)!.offset).toBe(5);
  });

  it('commits racing a rebalance: every accepted commit came from the owner of the generation it named', async () => {
    // Record the owners of every generation as they are written: the ownership shards, kept
    // up to date from each successful transaction (generations commit one after another).
    const history = new Map<number, { owners: Map<string, string>; revoking: Map<string, string> }>();
    const shards = new Map<string, MetaItem>();
    const spy = (inner: MetaStore): MetaStore => ({
      ...inner,
      limits: inner.limits,
      get: (k, o) => inner.get(k, o),
      query: (o) => inner.query(o),
      write: (op) => inner.write(op),
      transact: async (ops: WriteOp[]) => {
        await inner.transact(ops);
        for (const op of ops) {
          if (op.type === 'put' && op.item.sk.startsWith(GROUP_OWNER_PREFIX)) shards.set(op.item.sk, op.item);
          if (op.type === 'delete' && op.key.sk.startsWith(GROUP_OWNER_PREFIX)) shards.delete(op.key.sk);
        }
        const meta = ops.find((op) => op.type === 'put' && op.item.sk === 'meta');
        if (meta?.type !== 'put') return;
        const owners = new Map<string, string>();
        const revoking = new Map<string, string>();
        for (const sh of shards.values()) {
          const ids = sh['ids'] as string[];
          const own = Buffer.from(sh['own'] as Uint8Array);
          for (let p = 0; p < own.length / 2; p++) if (own.readUInt16LE(2 * p) !== 0xffff) owners.set(`t#${p}`, ids[own.readUInt16LE(2 * p)]!);
          for (const [p, [i]] of Object.entries(sh['rev'] as Record<string, [number, number]>)) revoking.set(`t#${p}`, ids[i]!);
        }
        history.set(meta.item['generation'] as number, { owners, revoking });
      },
    });
    await h.close();
    h = await harness({ instances: 2, wrap: spy });
    [A, B] = h.instances.map((i) => i.coord) as [GroupCoordinator, GroupCoordinator];
    await h.engine.createTopic('t', 6);

    const a = await A.join('race', { topics: ['t'] });
    const accepted: Array<{ gen: number; p: number; offset: number }> = [];
    let n = 0;
    let stop = false;
    const committer = (async () => {
      while (!stop) {
        const r = await A.heartbeat('race', a.memberId, a.generation).catch(() => undefined);
        if (r) a.generation = r.generation;
        for (const p of [0, 1, 2, 3, 4, 5]) {
          const offset = ++n;
          const gen = a.generation;
          if ((await code(B.commit('race', { memberId: a.memberId, generation: gen, offsets: [{ topic: 't', partition: p, offset }] }))) === 'OK') accepted.push({ gen, p, offset });
        }
      }
    })();
    const others = [];
    for (let i = 0; i < 3; i++) others.push(await (i % 2 ? A : B).join('race', { topics: ['t'] }));
    await settle('race', [a, ...others]);
    await B.leave('race', others[0]!.memberId);
    await settle('race', [a, ...others.slice(1)]);
    stop = true;
    await committer;

    expect(accepted.length).toBeGreaterThan(0);
    for (const c of accepted) {
      const { owners, revoking } = history.get(c.gen)!;
      expect(owners.get(`t#${c.p}`) === a.memberId || revoking.get(`t#${c.p}`) === a.memberId, `commit gen ${c.gen} p${c.p}`).toBe(true);
    }
    // Refused commits changed nothing: each stored offset is the last accepted one.
    const g = await readGroup(h.meta, 'race');
    for (let p = 0; p < 6; p++) {
      const mine = accepted.filter((c) => c.p === p);
      expect(g!.partitions.get(`t#${p}`)?.offset).toBe(mine.length ? mine[mine.length - 1]!.offset : undefined);
    }
  });
});

describe('poll', () => {
  it('acknowledging each poll with the next delivers every record exactly once across a cooperative rebalance, then lag is zero', async () => {
    await produce(60);
    const a = await A.join('p', { topics: ['t'], autoOffsetReset: 'earliest' });
    const seen: string[] = [];
    // What each member processed from its last poll, acknowledged by its next one.
    const acks = new Map<string, { gen: number; acks: Array<{ topic: string; partition: number; offset: number }> }>();
    const poll = async (c: GroupCoordinator, id: string) => {
      const prev = acks.get(id);
      const r = await c.poll('p', id, { maxRecords: 7, ...(prev ? { acks: prev.acks, ackGeneration: prev.gen } : {}) });
      for (const rec of r.records) seen.push(`${rec.partition}:${rec.offset}`);
      acks.set(id, { gen: r.generation, acks: r.positions.filter((p) => p.next_offset !== p.offset).map((p) => ({ topic: p.topic, partition: p.partition, offset: p.next_offset })) });
      return r;
    };
    await poll(A, a.memberId);
    const b = await B.join('p', { topics: ['t'], autoOffsetReset: 'earliest' });
    for (let i = 0; i < 20; i++) {
      await poll(i % 2 ? A : B, a.memberId);
      await poll(i % 2 ? B : A, b.memberId);
      if (i === 5) await produce(30, 60);
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toHaveLength(90);
    // The records of the last polls are committed by the next ones.
    await poll(A, a.memberId);
    await poll(A, b.memberId);
    expect((await A.describe('p')).lag).toBe(0);
    await produce(5, 90);
    expect((await B.offsets('p')).reduce((x, o) => x + o.lag, 0)).toBe(5);
  });

  it('a poll without acks starts again at the committed offsets: sending commits nothing', async () => {
    await produce(6);
    const a = await A.join('q', { topics: ['t'] });
    const first = await A.poll('q', a.memberId, {});
    const again = await A.poll('q', a.memberId, {});
    expect(first.records).toHaveLength(6);
    expect(again.records.map((r) => r.offset)).toEqual(first.records.map((r) => r.offset));
    expect((await A.offsets('q')).every((o) => o.offset === -1)).toBe(true);
  });

  it('latest starts at the end and remembers that position through the next poll', async () => {
    await produce(6);
    const a = await A.join('l', { topics: ['t'], autoOffsetReset: 'latest' });
    expect((await A.poll('l', a.memberId, {})).records).toEqual([]);
    await produce(6, 6);
    expect((await A.poll('l', a.memberId, {})).records.map((r) => new TextDecoder().decode(r.value!)).sort()).toEqual(['10', '11', '6', '7', '8', '9']);
  });

  it('long-polls across partitions and returns once any has data', async () => {
    const a = await A.join('w', { topics: ['t'] });
    await A.poll('w', a.memberId, {});
    const started = Date.now();
    const pending = A.poll('w', a.memberId, { waitMs: 5000 });
    setTimeout(() => void produce(1, 3), 100);
    const r = await pending;
    expect(r.records).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(4000);
  });
});

describe('admin', () => {
  it('describe, list, reset and delete (the last two only once members are gone)', async () => {
    await produce(12);
    const a = await A.join('adm', { topics: ['t'] });
    expect((await A.list()).find((g) => g.group === 'adm')).toMatchObject({ state: 'Stable', members: 1 });
    expect(await code(A.resetOffsets('adm', 't', 'earliest'))).toBe('NON_EMPTY_GROUP');
    expect(await code(A.deleteGroup('adm'))).toBe('NON_EMPTY_GROUP');
    await A.leave('adm', a.memberId);
    expect((await B.describe('adm')).state).toBe('Empty');
    expect((await A.resetOffsets('adm', 't', 'latest')).map((o) => o.offset)).toEqual([2, 2, 2, 2, 2, 2]);
    expect((await A.describe('adm')).lag).toBe(0);
    await A.resetOffsets('adm', 't', { offset: 1 });
    expect((await A.describe('adm')).lag).toBe(6);
    await A.resetOffsets('adm', 't', { offset: 99 });
    expect((await A.offsets('adm')).map((o) => o.offset)).toEqual([2, 2, 2, 2, 2, 2]);
    // Each listed partition to its own offset (clamped likewise); the others keep theirs.
    expect(await A.resetOffsets('adm', 't', { offsets: [{ partition: 4, offset: 0 }, { partition: 1, offset: 99 }, { partition: 0, offset: 1 }] })).toEqual([
      { topic: 't', partition: 0, offset: 1 },
      { topic: 't', partition: 1, offset: 2 },
      { topic: 't', partition: 4, offset: 0 },
    ]);
    expect((await A.offsets('adm')).map((o) => o.offset)).toEqual([1, 2, 2, 2, 0, 2]);
    expect(await code(A.resetOffsets('adm', 't', { offsets: [{ partition: 0, offset: 1 }, { partition: 0, offset: 2 }] }))).toBe('INVALID_REQUEST');
    expect(await code(A.resetOffsets('adm', 't', { offsets: [{ partition: 6, offset: 0 }] }))).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    expect((await A.offsets('adm')).map((o) => o.offset)).toEqual([1, 2, 2, 2, 0, 2]);
    await A.deleteGroup('adm');
    expect(await code(B.describe('adm'))).toBe('GROUP_ID_NOT_FOUND');
    expect((await B.list()).find((g) => g.group === 'adm')).toBeUndefined();
    expect(await code(A.deleteGroup('adm'))).toBe('GROUP_ID_NOT_FOUND');
    // A new group of the same name starts from nothing.
    await A.join('adm', { topics: ['t'] });
    expect((await A.offsets('adm')).every((o) => o.offset === -1)).toBe(true);
  });
});

it('a steady-state heartbeat costs one read and one conditional write', async () => {
  await h.close();
  let counted: ReturnType<typeof countingMetaStore> | undefined;
  h = await harness({ wrap: (m) => (counted = countingMetaStore(m)) });
  const c = h.instances[0]!.coord;
  (c as unknown as { topicRefreshMs: number }).topicRefreshMs = 60_000;
  await h.engine.createTopic('t', 6);
  const ms = [];
  for (let i = 0; i < 3; i++) ms.push(await c.join('hb', { topics: ['t'] }));
  for (let i = 0; i < 3; i++) for (const m of ms) m.generation = (await c.heartbeat('hb', m.memberId, m.generation)).generation;
  counted!.counts.reset();
  for (const m of ms) await c.heartbeat('hb', m.memberId, m.generation);
  expect(counted!.counts.snapshot().calls).toEqual({ query: 3, write: 3 });
});

it('an idle long poll re-reads the heads ever less often, and still sees another process’s commit', async () => {
  await h.close();
  let counted: ReturnType<typeof countingMetaStore> | undefined;
  h = await harness({ wrap: (m) => (counted = countingMetaStore(m)) });
  // AWS mode's recheck interval: what other processes' commits are found by.
  (h.engine.opts as { longPollRecheckMs: number }).longPollRecheckMs = 200;
  const c = h.instances[0]!.coord;
  await h.engine.createTopic('idle', 20);
  const m = await c.join('idle', { topics: ['idle'] });
  await c.poll('idle', m.memberId, {});
  counted!.counts.reset();
  const idle = await c.poll('idle', m.memberId, { waitMs: 3000 });
  expect(idle.records).toEqual([]);
  // Old behaviour: every partition's head every 200 ms (20 × 15 = 300 gets). Now: two passes at
  // the start (reset positions, then what to fetch), then after 0.2, 0.6, 1.4 and 3 s.
  expect(counted!.counts.snapshot().calls.get ?? 0).toBeLessThanOrEqual(6 * 20 + 10);

  // A commit this process's notifier never hears of (another engine on the same store).
  const other = new LogEngine(h.meta, h.engine.objects, h.wall);
  try {
    const started = Date.now();
    const waiting = c.poll('idle', m.memberId, { waitMs: 10_000 });
    setTimeout(() => void other.produce('idle', [{ key: null, value: enc.encode('x'), headers: [], partition: 7 }]), 300);
    const r = await waiting;
    expect(r.records.map((x) => x.partition)).toEqual([7]);
    expect(Date.now() - started).toBeLessThan(4000);
  } finally {
    await other.close();
  }
});

it('a group stored in the layout before the shards keeps working and moves to the new layout', async () => {
  // As wave 1 stored it: roster, owners and revocations inside the group item.
  await h.meta.transact([
    {
      type: 'put',
      item: {
        pk: 'group#old',
        sk: 'meta',
        group: 'old',
        generation: 7,
        member_count: 2,
        assignor: 'sticky',
        members: { ma: { topics: ['t'], session_timeout_ms: 60_000, auto_offset_reset: 'earliest' }, mb: { topics: ['t'], session_timeout_ms: 60_000, auto_offset_reset: 'earliest' } },
        owners: { 't#0': 'ma', 't#1': 'ma', 't#2': 'ma', 't#3': 'mb', 't#4': 'mb', 't#5': 'mb' },
        revoking: {},
        partitions: { t: 6 },
      },
    },
    { type: 'put', item: { pk: 'group#old', sk: 'm#ma', member_id: 'ma', hb: 'x', acked: 7 } },
    { type: 'put', item: { pk: 'group#old', sk: 'm#mb', member_id: 'mb', hb: 'y', acked: 7 } },
    { type: 'put', item: { pk: 'groups', sk: 'old', group: 'old' } },
    { type: 'put', item: { pk: 'goff#old', sk: 'p#t#00000000000000000000', topic: 't', partition: 0, offset: 3, owner: 'ma', since: 2 } },
  ]);
  const hb = await A.heartbeat('old', 'ma', 7);
  expect(hb.assignment.map((x) => x.partition)).toEqual([0, 1, 2]);
  expect((await B.heartbeat('old', 'mb', hb.generation)).assignment.map((x) => x.partition)).toEqual([3, 4, 5]);
  const g = await readGroup(h.meta, 'old');
  expect(g!.state.owners.size).toBe(6);
  expect(g!.state.members.get('mb')).toEqual({ topics: ['t'], sessionTimeoutMs: 60_000, autoOffsetReset: 'earliest' });
  expect((await h.meta.get({ pk: 'group#old', sk: 'meta' }))!['owners']).toBeUndefined();
  expect((await A.offsets('old')).find((o) => o.partition === 0)!.offset).toBe(3);
});
