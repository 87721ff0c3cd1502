// Reads a group straight from the metadata store, bypassing the coordinator (no expiry, no
// steps): what the tests assert invariants against. Decodes through lib/groups/items.ts, the
// one mapping of group items (its round trip is checked in items.test.ts), not a copy of it.
import { groupFromItems, partitionFromItem } from '../../../lib/groups/items';
import { groupOffsetsPk, groupPk } from '../../../lib/log/keys';
import type { GroupState } from '../../../lib/groups/reconcile';
import type { MetaItem, MetaStore } from '../../../lib/storage/ports';

export interface StoredPartition {
  offset?: number;
}

async function all(meta: MetaStore, pk: string, beginsWith?: string): Promise<MetaItem[]> {
  const out: MetaItem[] = [];
  let startAfter: string | undefined;
  do {
    const page = await meta.query({ pk, ...(beginsWith ? { beginsWith } : {}), ...(startAfter ? { startAfter } : {}) });
    out.push(...page.items);
    startAfter = page.next;
  } while (startAfter);
  return out;
}

export async function readGroup(
  meta: MetaStore,
  group: string,
): Promise<{ state: GroupState; since: Map<string, number>; partitions: Map<string, StoredPartition>; acked: Map<string, number> } | undefined> {
  const g = groupFromItems(await all(meta, groupPk(group)));
  if (!g.exists) return undefined;
  const partitions = new Map<string, StoredPartition>();
  for (const i of await all(meta, groupOffsetsPk(group))) {
    const { topic, partition, item } = partitionFromItem(i);
    partitions.set(`${topic}#${partition}`, item.offset !== undefined ? { offset: item.offset } : {});
  }
  const acked = new Map([...g.members].map(([id, m]) => [id, m.acked]));
  return { state: g.state, since: g.since, partitions, acked };
}
