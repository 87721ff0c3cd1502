// Group ids "." and ".." are refused since a106f9a (no URL can carry them), but the Kafka
// listener made such groups before: a deployment upgraded with one in its table still has it.
// What reads every group — the consumer-lag metrics and the flush function's alarm input
// (groupLag), the group list — must go on working, and the group must stay removable.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { groupLag, oldestUnconsumedSeconds } from '../../../lib/groups/lag';
import { groupOffsetsPk, groupPk, groupRegistryKey } from '../../../lib/log/keys';
import type { MetaStore } from '../../../lib/storage/ports';
import { type Harness, harness } from './harness';

let h: Harness;
const enc = new TextEncoder();

beforeEach(async () => {
  h = await harness();
  await h.engine.createTopic('t', 1);
  await h.engine.produce('t', Array.from({ length: 100 }, (_, i) => ({ key: null, value: enc.encode(String(i)), headers: [], partition: 0 })));
});
afterEach(() => h.close());

/** Group `to` made of group `from`'s items, as the listener stored a "." group before a106f9a. */
async function copyGroup(meta: MetaStore, from: string, to: string): Promise<void> {
  const reg = await meta.get(groupRegistryKey(from));
  await meta.write({ type: 'put', item: { ...reg!, ...groupRegistryKey(to), group: to } });
  for (const [src, dst] of [[groupPk(from), groupPk(to)], [groupOffsetsPk(from), groupOffsetsPk(to)]] as const) {
    const page = await meta.query({ pk: src });
    for (const item of page.items) await meta.write({ type: 'put', item: { ...item, pk: dst, ...('group' in item ? { group: to } : {}) } });
  }
}

it('a group "." stored before such ids were refused leaves the consumer-lag metrics of every group intact, and can be deleted', async () => {
  const coord = h.instances[0]!.coord;
  await coord.commit('g', { offsets: [{ topic: 't', partition: 0, offset: 5 }] });
  await coord.commit('legacy', { offsets: [{ topic: 't', partition: 0, offset: 40 }] });
  await copyGroup(h.meta, 'legacy', '.');
  await coord.deleteGroup('legacy');
  expect((await coord.list()).map((g) => g.group).sort()).toEqual(['.', 'g']);

  const rows = await groupLag(coord);
  expect(rows.map((r) => [r.group, r.lag]).sort()).toEqual([['.', 60], ['g', 95]]);
  expect(oldestUnconsumedSeconds(rows)).toBeGreaterThanOrEqual(0);
  expect((await coord.offsets('.')).map((o) => o.offset)).toEqual([40]);

  await coord.deleteGroup('.');
  expect((await coord.list()).map((g) => g.group)).toEqual(['g']);
  expect((await groupLag(coord)).map((r) => r.group)).toEqual(['g']);
});
