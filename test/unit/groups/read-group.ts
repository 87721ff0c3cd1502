// Reads a group straight from the metadata store, bypassing the coordinator (no expiry, no
// steps): what the tests assert invariants against. Decodes the layout of
// docs/design/0005-consumer-groups.md independently of the coordinator's own decoder.
import { GROUP_MEMBER_PREFIX, GROUP_OWNER_CHUNK, GROUP_OWNER_PREFIX, groupMetaKey, groupOffsetsPk, groupPk } from '../../../lib/log/keys';
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
  const item = await meta.get(groupMetaKey(group));
  if (!item) return undefined;
  const memberItems = await all(meta, groupPk(group), GROUP_MEMBER_PREFIX);
  const members = new Map(
    memberItems.map((m) => [
      m['member_id'] as string,
      { topics: m['topics'] as string[], sessionTimeoutMs: m['session_timeout_ms'] as number, autoOffsetReset: m['auto_offset_reset'] as 'earliest' | 'latest' },
    ]),
  );
  const owners = new Map<string, string>();
  const revoking = new Map<string, { from: string; gen: number }>();
  const since = new Map<string, number>();
  for (const sh of await all(meta, groupPk(group), GROUP_OWNER_PREFIX)) {
    const ids = sh['ids'] as string[];
    const base = (sh['chunk'] as number) * GROUP_OWNER_CHUNK;
    const own = Buffer.from(sh['own'] as Uint8Array);
    const sinces = Buffer.from(sh['since'] as Uint8Array);
    for (let p = 0; p < own.length / 2; p++) {
      const i = own.readUInt16LE(2 * p);
      if (i !== 0xffff) owners.set(`${sh['topic'] as string}#${base + p}`, ids[i]!);
      const s = sinces.readDoubleLE(8 * p);
      if (s > 0) since.set(`${sh['topic'] as string}#${base + p}`, s);
    }
    for (const [p, [i, gen]] of Object.entries(sh['rev'] as Record<string, [number, number]>)) revoking.set(`${sh['topic'] as string}#${p}`, { from: ids[i]!, gen });
  }
  const state: GroupState = {
    generation: item['generation'] as number,
    assignor: item['assignor'] as GroupState['assignor'],
    members,
    owners,
    revoking,
    partitions: item['partitions'] as Record<string, number>,
  };
  const partitions = new Map<string, StoredPartition>();
  for (const i of await all(meta, groupOffsetsPk(group))) {
    const p: StoredPartition = {};
    if (typeof i['offset'] === 'number') p.offset = i['offset'];
    partitions.set(`${i['topic'] as string}#${i['partition'] as number}`, p);
  }
  const acked = new Map<string, number>();
  for (const i of memberItems) acked.set(i['member_id'] as string, i['acked'] as number);
  return { state, since, partitions, acked };
}
