// An idle member's poll, the most frequent request of a deployment at rest (issue 15: an idle
// member on Lambda short-polls every second). A poll is a heartbeat, but the instance that
// wrote the member's current heartbeat less than a third of its session ago skips the write;
// liveness must still hold: another instance watching the group never expels a member that
// keeps polling, and does expel one that stops.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { tpKey } from '../../../lib/groups/assignors';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import { LogEngine } from '../../../lib/log/engine';
import { codecsReady } from '../../../lib/records';
import { countingMetaStore } from '../../../lib/storage/counting';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';
import { ManualClock } from '../../../lib/util/clock';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup() {
  await codecsReady();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-idle-'));
  const store = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
  const meta = countingMetaStore(store);
  const engine = new LogEngine(meta, new LocalObjectStore({ root: path.join(dir, 'objects') }));
  cleanups.push(async () => {
    await engine.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await engine.createTopic('idle', 6);
  const monoA = new ManualClock(0);
  const monoB = new ManualClock(0);
  const a = new GroupCoordinator(meta, engine, { monotonic: monoA, topicRefreshMs: 0 });
  const b = new GroupCoordinator(meta, engine, { monotonic: monoB, topicRefreshMs: 0 });
  const m = await a.join('g', { topics: ['idle'], sessionTimeoutMs: 30_000 });
  await a.poll('g', m.memberId); // settle: positions resolved, heartbeat written
  return { meta, a, b, monoA, monoB, m };
}

it('polls within a third of the session write no heartbeat; the next one after it does', async () => {
  const { meta, a, monoA, m } = await setup();
  meta.counts.reset();
  for (let i = 0; i < 5; i++) {
    monoA.advance(1000);
    expect((await a.poll('g', m.memberId)).records).toEqual([]);
  }
  const writes = (): number => (meta.counts.snapshot().calls.write ?? 0) + (meta.counts.snapshot().calls.transact ?? 0);
  expect(writes()).toBe(0);
  monoA.advance(6000); // 11 s since the last heartbeat write: past 30 s / 3
  await a.poll('g', m.memberId);
  expect(writes()).toBe(1);
});

it('another instance never expels a member that keeps polling, and expels one that stops', async () => {
  const { a, b, monoA, monoB, m } = await setup();
  const present = async (): Promise<boolean> => (await b.describe('g')).members.some((x) => x.member_id === m.memberId);
  // 60 s of one poll a second, watched by instance B every second.
  for (let t = 0; t < 60; t++) {
    monoA.advance(1000);
    monoB.advance(1000);
    await a.poll('g', m.memberId);
    expect(await present()).toBe(true);
  }
  // Silence: B expels it once it has seen one version for a whole session.
  for (let t = 0; t < 31; t++) {
    monoB.advance(1000);
    await b.describe('g');
  }
  expect(await present()).toBe(false);
});

it('a poll whose from covers every partition and acks nothing reads no committed offsets, and still delivers', async () => {
  const { meta, a, m } = await setup();
  const first = await a.poll('g', m.memberId);
  const from = new Map(first.positions.map((p) => [tpKey(p.topic, p.partition), p.next_offset]));
  const pks: string[] = [];
  const query = meta.query.bind(meta);
  meta.query = async (q) => {
    if (/^(group|goff)#/.test(q.pk)) pks.push(q.pk); // the group's items (the fetch reads the log's)
    return query(q);
  };
  expect((await a.poll('g', m.memberId, { from, fromGeneration: first.generation })).records).toEqual([]);
  expect(pks).toEqual(['group#g']);

  // Data arrives: the same cheap poll returns it.
  await a.engine.produce('idle', [{ key: null, value: new TextEncoder().encode('x'), headers: [], partition: 2 }]);
  pks.length = 0;
  const got = await a.poll('g', m.memberId, { from, fromGeneration: first.generation });
  expect(got.records.map((r) => [r.partition, r.offset])).toEqual([[2, 0]]);
  expect(pks).toEqual(['group#g']);

  // A partition `from` leaves out is read from its committed offset: only then is it queried.
  from.delete(tpKey('idle', 2));
  pks.length = 0;
  const again = await a.poll('g', m.memberId, { from, fromGeneration: first.generation });
  expect(again.records.map((r) => [r.partition, r.offset])).toEqual([[2, 0]]); // nothing acked yet
  expect(pks.sort()).toEqual(['goff#g', 'group#g']);

  // Without `from` the committed offsets are read as before.
  pks.length = 0;
  await a.poll('g', m.memberId);
  expect(pks.sort()).toEqual(['goff#g', 'group#g']);
});
