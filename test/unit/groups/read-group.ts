// Reads a group straight from the metadata store, bypassing the coordinator (no expiry, no
// steps): what the tests assert invariants against. Decodes the layout of
// docs/design/0005-consumer-groups.md independently of the coordinator's own decoder.
import { GROUP_MEMBER_PREFIX, GROUP_OWNER_CHUNK, GROUP_OWNER_PREFIX, groupMetaKey, groupOffsetsPk, groupPk } from '../../../lib/log/keys';
import type { GroupState } from '../../../lib/groups/reconcile';
import type { MetaItem, MetaStore } from '../../../lib/storage/ports';

export interface StoredPartition {
  owner?: string;
  revoking?: string;
  since?: number;
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

export async function readGroup(meta: MetaStore, group: string): Promise<{ state: GroupState; partitions: Map<string, StoredPartition>; acked: Map<string, number> } | undefined> {
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
  for (const sh of await all(meta, groupPk(group), GROUP_OWNER_PREFIX)) {
    const ids = sh['ids'] as string[];
    const base = (sh['chunk'] as number) * GROUP_OWNER_CHUNK;
    (sh['own'] as number[]).forEach((i, p) => {
      if (i >= 0) owners.set(`${sh['topic'] as string}#${base + p}`, ids[i]!);
    });
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
    if (typeof i['owner'] === 'string') p.owner = i['owner'];
    if (typeof i['revoking'] === 'string') p.revoking = i['revoking'];
    if (typeof i['since'] === 'number') p.since = i['since'];
    if (typeof i['offset'] === 'number') p.offset = i['offset'];
    partitions.set(`${i['topic'] as string}#${i['partition'] as number}`, p);
  }
  const acked = new Map<string, number>();
  for (const i of memberItems) acked.set(i['member_id'] as string, i['acked'] as number);
  return { state, partitions, acked };
}
