// Reads a group straight from the metadata store, bypassing the coordinator (no expiry, no
// steps): what the tests assert invariants against.
import { GROUP_MEMBER_PREFIX, groupMetaKey, groupOffsetsPk, groupPk } from '../../../lib/log/keys';
import type { GroupState } from '../../../lib/groups/reconcile';
import type { MetaStore } from '../../../lib/storage/ports';

export interface StoredPartition {
  owner?: string;
  revoking?: string;
  since?: number;
  offset?: number;
}

export async function readGroup(meta: MetaStore, group: string): Promise<{ state: GroupState; partitions: Map<string, StoredPartition>; acked: Map<string, number> } | undefined> {
  const item = await meta.get(groupMetaKey(group));
  if (!item) return undefined;
  const members = new Map(
    Object.entries(item['members'] as Record<string, { topics: string[]; session_timeout_ms: number; auto_offset_reset: 'earliest' | 'latest' }>).map(([id, m]) => [
      id,
      { topics: m.topics, sessionTimeoutMs: m.session_timeout_ms, autoOffsetReset: m.auto_offset_reset },
    ]),
  );
  const state: GroupState = {
    generation: item['generation'] as number,
    assignor: item['assignor'] as GroupState['assignor'],
    members,
    owners: new Map(Object.entries(item['owners'] as Record<string, string>)),
    revoking: new Map(Object.entries(item['revoking'] as Record<string, [string, number]>).map(([k, [from, gen]]) => [k, { from, gen }])),
    partitions: item['partitions'] as Record<string, number>,
  };
  const partitions = new Map<string, StoredPartition>();
  const page = await meta.query({ pk: groupOffsetsPk(group) });
  for (const i of page.items) {
    const p: StoredPartition = {};
    if (typeof i['owner'] === 'string') p.owner = i['owner'];
    if (typeof i['revoking'] === 'string') p.revoking = i['revoking'];
    if (typeof i['since'] === 'number') p.since = i['since'];
    if (typeof i['offset'] === 'number') p.offset = i['offset'];
    partitions.set(`${i['topic'] as string}#${i['partition'] as number}`, p);
  }
  const acked = new Map<string, number>();
  for (const i of (await meta.query({ pk: groupPk(group), beginsWith: GROUP_MEMBER_PREFIX })).items) acked.set(i['member_id'] as string, i['acked'] as number);
  return { state, partitions, acked };
}
