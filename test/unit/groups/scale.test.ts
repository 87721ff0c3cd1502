// A group at the largest allowed topic (issue 12, item 5): 10,000 partitions, members with the
// longest allowed ids. The group item used to hold every owner and member and outgrew
// DynamoDB's 400 KiB item limit (heartbeats and describe failed with 500); now ownership lives
// in shards of 1,000 partitions, so the group is fully assigned and described — on the embedded
// SQLite store (which enforces the same item limit) and on DynamoDB (the emulator). Every item
// stays under the limit, and a steady heartbeat still costs one query and one write.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import { groupPk } from '../../../lib/log/keys';
import { LogEngine } from '../../../lib/log/engine';
import { codecsReady } from '../../../lib/records';
import { countingMetaStore, itemSize } from '../../../lib/storage/counting';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import type { MetaStore } from '../../../lib/storage/ports';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';
import { describeAws, makeDynamoStore } from '../../helpers/aws';

const PARTITIONS = 10_000; // the most a topic may have (lib/log/topic-config.ts)

function scenario(store: () => Promise<{ meta: MetaStore; cleanup(): Promise<void> }>): void {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('a group on a 10,000-partition topic is fully assigned and described', async () => {
    await codecsReady();
    const { meta: raw, cleanup } = await store();
    cleanups.push(cleanup);
    const meta = countingMetaStore(raw);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-scale-'));
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const engine = new LogEngine(meta, new LocalObjectStore({ root: dir }));
    cleanups.push(() => engine.close());
    const coord = new GroupCoordinator(meta, engine, { topicRefreshMs: 60_000 });
    const topic = `big${Date.now().toString(36)}`;
    await engine.createTopic(topic, PARTITIONS);

    // Two members with the longest ids allowed.
    const members = await Promise.all(['a', 'b'].map(async (c) => coord.join('big', { topics: [topic], memberId: c.repeat(128), sessionTimeoutMs: 600_000 })));
    const held = new Map<string, number>();
    for (let round = 0; round < 400; round++) {
      for (const m of members) {
        const r = await coord.heartbeat('big', m.memberId, m.generation);
        m.generation = r.generation;
        held.set(m.memberId, r.assignment.length);
      }
      if ([...held.values()].every((n) => n === PARTITIONS / 2) && members[0]!.generation === members[1]!.generation) break;
    }
    expect([...held.values()]).toEqual([PARTITIONS / 2, PARTITIONS / 2]);

    const d = await coord.describe('big');
    expect(d.state).toBe('Stable');
    expect(d.members.map((m) => m.assignment.length)).toEqual([PARTITIONS / 2, PARTITIONS / 2]);
    const owned = new Set(d.members.flatMap((m) => m.assignment.map((tp) => tp.partition)));
    expect(owned.size).toBe(PARTITIONS);
    expect((await coord.offsets('big')).length).toBe(PARTITIONS);

    // Every stored item of the group is far below DynamoDB's 400 KiB.
    let largest = 0;
    let startAfter: string | undefined;
    do {
      const page = await raw.query({ pk: groupPk('big'), ...(startAfter ? { startAfter } : {}) });
      for (const i of page.items) largest = Math.max(largest, itemSize(i));
      startAfter = page.next;
    } while (startAfter);
    expect(largest).toBeLessThan(100 * 1024);

    // Steady state: a heartbeat is still one query and one write.
    meta.counts.reset();
    for (const m of members) await coord.heartbeat('big', m.memberId, m.generation);
    expect(meta.counts.snapshot().calls).toEqual({ query: 2, write: 2 });
  }, 90_000);
}

describe('a group at the largest topic: embedded (SQLite)', () => {
  scenario(async () => {
    const meta = new SqliteMetaStore({ path: ':memory:' });
    return { meta, cleanup: async () => meta.close?.() };
  });
});

describeAws('a group at the largest topic: DynamoDB (emulator)', () => {
  scenario(async () => {
    const f = await makeDynamoStore();
    return { meta: f.store, cleanup: () => f.cleanup() };
  });
});
