// The only place that maps consumer-group domain types to stored items and back: the group
// item, member items, ownership shards, offset items (layout: docs/design/0005-consumer-groups.md).
// The coordinator and the tests that read groups behind its back both decode through here, so
// a field added to a stored item is changed in one file; items.test.ts checks the round trip.
import {
  GROUP_MEMBER_PREFIX,
  GROUP_OWNER_CHUNK,
  GROUP_OWNER_PREFIX,
  groupMemberKey,
  groupMetaKey,
  groupOwnerKey,
  groupPartitionKey,
} from '../log/keys';
import type { Condition, MetaItem, MetaValue, WriteOp } from '../storage/ports';
import { ASSIGNORS, type AssignorName, DEFAULT_ASSIGNOR, type Owners, parseTp, tpKey } from './assignors';
import type { GroupState, MemberSpec, Revocation } from './reconcile';

/** Where a consumer without a committed offset starts. */
export type OffsetReset = 'earliest' | 'latest';

export interface OffsetCommit {
  topic: string;
  partition: number;
  offset: number;
  metadata?: string | null;
}

export interface MemberRecord {
  hb: string;
  acked: number;
}

/** A group as loaded from its items (one query of its partition). */
export interface Loaded {
  exists: boolean;
  deleting: boolean;
  state: GroupState;
  members: Map<string, MemberRecord>;
  /** Sort keys of the ownership shards as stored. */
  shards: Set<string>;
  /** Per owned partition, the generation its owner's uninterrupted ownership began. */
  since: Map<string, number>;
  /** Stored in the layout before the shards (roster and owners inside the group item). */
  legacy: boolean;
}

/** A `goff#` item: the committed offset of one partition (ownership lives in the shards). */
export interface PartitionItem {
  offset?: number;
  metadata?: string | null;
  /** When the offset was last written (ms). */
  committedAt?: number;
  /** Incarnation of the topic the offset was committed on (absent on items older than the field). */
  topicId?: string;
}

export const emptyState = (): GroupState => ({
  generation: 0,
  assignor: DEFAULT_ASSIGNOR,
  members: new Map(),
  owners: new Map(),
  revoking: new Map(),
  partitions: {},
});

// --- item encoding ----------------------------------------------------------------------------
//
// The group item holds only what does not grow with partitions or members (generation,
// assignor, member count, partition counts); each member's subscription is on its own item and
// ownership is in shards of GROUP_OWNER_CHUNK partitions: `ids` lists the shard's distinct
// member ids once; `own` holds, per partition chunk·C+i, the index of its owner in `ids`
// (uint16 little-endian, 0xffff: none); `since` the generation its owner's (or revoking
// member's) uninterrupted ownership began (float64 LE, 0: none); `rev` maps a partition to
// [index of the member it is being revoked from, generation of the revocation]. The two arrays
// are binary attributes: a few bytes per partition, one attribute value each to (de)serialise.

const NO_OWNER = 0xffff; // GROUP_OWNER_CHUNK < 0xffff: an index never reaches it

export function groupMetaItem(group: string, s: GroupState): MetaItem {
  return {
    ...groupMetaKey(group),
    group,
    generation: s.generation,
    member_count: s.members.size,
    assignor: s.assignor,
    partitions: { ...s.partitions },
    ...(s.gid !== undefined ? { gid: s.gid } : {}),
    ...(s.incarnations ? { incarnations: Object.fromEntries(Object.entries(s.incarnations).map(([t, i]) => [t, [i.id, i.since]])) } : {}),
  };
}

function incarnationsFromItem(item: MetaItem): GroupState['incarnations'] {
  const raw = item['incarnations'];
  if (!raw || typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array) return undefined;
  const out: NonNullable<GroupState['incarnations']> = {};
  for (const [t, v] of Object.entries(raw)) if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number') out[t] = { id: v[0], since: v[1] };
  return out;
}

export function specAttrs(spec: MemberSpec): Record<string, MetaValue> {
  return { topics: spec.topics, session_timeout_ms: spec.sessionTimeoutMs, auto_offset_reset: spec.autoOffsetReset };
}

export function specFromItem(item: MetaItem): MemberSpec {
  return { topics: item['topics'] as string[], sessionTimeoutMs: item['session_timeout_ms'] as number, autoOffsetReset: item['auto_offset_reset'] as OffsetReset };
}

export function shardsOf(changes: Array<{ key: string }>): Map<string, { topic: string; chunk: number }> {
  const out = new Map<string, { topic: string; chunk: number }>();
  for (const c of changes) {
    const { topic, partition } = parseTp(c.key);
    const chunk = Math.floor(partition / GROUP_OWNER_CHUNK);
    out.set(`${topic}#${chunk}`, { topic, chunk });
  }
  return out;
}

/** The shard's item as it must be in state `s`, or undefined when it holds nothing. */
export function shardItem(group: string, topic: string, chunk: number, s: GroupState, sinceOf: ReadonlyMap<string, number>): MetaItem | undefined {
  const ids: string[] = [];
  const index = new Map<string, number>();
  const idx = (m: string): number => {
    let i = index.get(m);
    if (i === undefined) index.set(m, (i = ids.push(m) - 1));
    return i;
  };
  const own: number[] = [];
  const since: number[] = [];
  const rev: Record<string, MetaValue> = {};
  const base = chunk * GROUP_OWNER_CHUNK;
  for (let i = 0; i < GROUP_OWNER_CHUNK; i++) {
    const key = tpKey(topic, base + i);
    const o = s.owners.get(key);
    own.push(o === undefined ? -1 : idx(o));
    const r = s.revoking.get(key);
    since.push(o === undefined && r === undefined ? 0 : (sinceOf.get(key) ?? 0));
    if (r) rev[String(base + i)] = [idx(r.from), r.gen];
  }
  let n = own.length;
  while (n > 0 && own[n - 1] === -1 && since[n - 1] === 0) n--;
  if (n === 0 && Object.keys(rev).length === 0) return undefined;
  const ownBytes = Buffer.alloc(n * 2);
  const sinceBytes = Buffer.alloc(n * 8);
  for (let i = 0; i < n; i++) {
    ownBytes.writeUInt16LE(own[i] === -1 ? NO_OWNER : own[i]!, i * 2);
    sinceBytes.writeDoubleLE(since[i]!, i * 8);
  }
  return { ...groupOwnerKey(group, topic, chunk), topic, chunk, ids, own: new Uint8Array(ownBytes), since: new Uint8Array(sinceBytes), rev };
}

function readShard(item: MetaItem, owners: Owners, revoking: Map<string, Revocation>, since: Map<string, number>): void {
  const topic = item['topic'] as string;
  const base = (item['chunk'] as number) * GROUP_OWNER_CHUNK;
  const ids = item['ids'] as string[];
  const own = Buffer.from(item['own'] as Uint8Array);
  const sinces = Buffer.from(item['since'] as Uint8Array);
  for (let p = 0; p < own.length / 2; p++) {
    const i = own.readUInt16LE(p * 2);
    if (i !== NO_OWNER) owners.set(tpKey(topic, base + p), ids[i]!);
    // Owned, or being given up by a member that may still ack it.
    const gen = sinces.readDoubleLE(p * 8);
    if (gen > 0) since.set(tpKey(topic, base + p), gen);
  }
  for (const [p, [i, gen]] of Object.entries(item['rev'] as Record<string, [number, number]>)) revoking.set(tpKey(topic, Number(p)), { from: ids[i]!, gen });
}

/**
 * A group item of the layout before the shards: roster and owners inside it. Ownership start
 * generations were on the offset items; taking the current generation instead can only make an
 * ack be dropped (a redelivery), never accepted where it should not be.
 */
function legacyState(item: MetaItem, since: Map<string, number>): GroupState {
  const members = new Map<string, MemberSpec>();
  for (const [id, raw] of Object.entries((item['members'] ?? {}) as Record<string, MetaItem>)) members.set(id, specFromItem(raw));
  const owners: Owners = new Map(Object.entries((item['owners'] ?? {}) as Record<string, string>));
  const revoking = new Map<string, Revocation>();
  for (const [k, v] of Object.entries((item['revoking'] ?? {}) as Record<string, [string, number]>)) revoking.set(k, { from: v[0], gen: v[1] });
  for (const k of [...owners.keys(), ...revoking.keys()]) since.set(k, item['generation'] as number);
  return { ...metaFromItem(item), members, owners, revoking };
}

function stateFromItems(metaIt: MetaItem, memberItems: MetaItem[], shardItems: MetaItem[], since: Map<string, number>): GroupState {
  const members = new Map<string, MemberSpec>();
  for (const m of memberItems) {
    const { id, spec } = memberFromItem(m);
    members.set(id, spec);
  }
  const owners: Owners = new Map();
  const revoking = new Map<string, Revocation>();
  for (const sh of shardItems) readShard(sh, owners, revoking, since);
  return { ...metaFromItem(metaIt), members, owners, revoking };
}

/** The group item's own fields (generation, assignor, partition counts, incarnations), in either layout. */
function metaFromItem(item: MetaItem): Pick<GroupState, 'generation' | 'assignor' | 'partitions' | 'incarnations' | 'gid'> {
  const assignor = item['assignor'] as AssignorName;
  const incarnations = incarnationsFromItem(item);
  return {
    generation: item['generation'] as number,
    assignor: assignor in ASSIGNORS ? assignor : DEFAULT_ASSIGNOR,
    partitions: { ...((item['partitions'] ?? {}) as Record<string, number>) },
    ...(incarnations ? { incarnations } : {}),
    ...(typeof item['gid'] === 'string' ? { gid: item['gid'] } : {}),
  };
}

/**
 * The group item is still the one read in `s`: the same incarnation of the group (its `gid`;
 * absent on an item older than the field) at the same generation. The generation alone does
 * not say it: a group deleted and created again under its name starts over at generation 0, and
 * a member's write held up across that (a paused process, or a write the SDK sent again after a
 * lost answer) passed the check once the new group reached the generation it read — the new
 * group's consumer then started from the deleted group's member's offset.
 */
export function sameGroup(s: Pick<GroupState, 'generation' | 'gid'>): Condition {
  return {
    op: 'and',
    conds: [{ op: 'eq', attr: 'generation', value: s.generation }, s.gid === undefined ? { op: 'attrNotExists', attr: 'gid' } : { op: 'eq', attr: 'gid', value: s.gid }],
  };
}

/**
 * An offset write. It carries the incarnation id of the topic it was made on: an offset of a
 * deleted topic means nothing to a re-created one of the same name (its offsets restart at 0),
 * so readers treat an offset with another id as absent.
 */
export function commitOp(group: string, o: OffsetCommit, topicId: string, now: number, condition?: Condition): WriteOp {
  return {
    type: 'update',
    key: groupPartitionKey(group, o.topic, o.partition),
    set: { topic: o.topic, partition: o.partition, offset: o.offset, metadata: o.metadata ?? null, committed_at: now, topic_id: topicId },
    ...(condition ? { condition } : {}),
  };
}

/**
 * A commit's write condition: no commit of the partition that arrived after this one (`arrived`,
 * when its request reached the coordinator, which is what `committed_at` records) has landed
 * (design note 0005, "Late commits").
 */
export function notCommittedAfter(arrived: number): Condition {
  return { op: 'or', conds: [{ op: 'attrNotExists', attr: 'committed_at' }, { op: 'le', attr: 'committed_at', value: arrived }] };
}

/** Whether a later commit than one that arrived at `arrived` already moved this partition. */
export const committedAfter = (item: PartitionItem | undefined, arrived: number): boolean => item?.committedAt !== undefined && item.committedAt > arrived;

/** The committed offset of a partition item, if it was committed on the topic's current incarnation. */
export function currentOffset(item: PartitionItem | undefined, topicId: string | undefined): number | undefined {
  if (item?.offset === undefined) return undefined;
  if (item.topicId !== undefined && item.topicId !== topicId) return undefined;
  return item.offset;
}


/** A member's item: its id, heartbeat version, acknowledged generation and subscription. */
export function memberItem(group: string, id: string, hb: string, acked: number, spec: MemberSpec): MetaItem {
  return { ...groupMemberKey(group, id), member_id: id, ...memberAckAttrs(hb, acked), ...specAttrs(spec) };
}

/** The attributes a member's heartbeat rewrites. */
export function memberAckAttrs(hb: string, acked: number): Record<string, MetaValue> {
  return { hb, acked };
}

export function memberFromItem(item: MetaItem): { id: string; record: MemberRecord; spec: MemberSpec } {
  return { id: item['member_id'] as string, record: { hb: item['hb'] as string, acked: item['acked'] as number }, spec: specFromItem(item) };
}

/** An offset item (`goff#`): its partition and what was committed. */
export function partitionFromItem(i: MetaItem): { topic: string; partition: number; item: PartitionItem } {
  const item: PartitionItem = {};
  if (typeof i['offset'] === 'number') item.offset = i['offset'];
  if (i['metadata'] !== undefined) item.metadata = i['metadata'] as string | null;
  if (typeof i['topic_id'] === 'string') item.topicId = i['topic_id'];
  if (typeof i['committed_at'] === 'number') item.committedAt = i['committed_at'];
  return { topic: i['topic'] as string, partition: i['partition'] as number, item };
}

/** A group from every item of its partition (group item, members, shards), in either layout. */
export function groupFromItems(items: MetaItem[]): Loaded {
  const metaIt = items.find((i) => i.sk === 'meta');
  const memberItems = items.filter((i) => i.sk.startsWith(GROUP_MEMBER_PREFIX));
  const shardItems = items.filter((i) => i.sk.startsWith(GROUP_OWNER_PREFIX));
  const members = new Map<string, MemberRecord>();
  for (const i of memberItems) {
    const m = memberFromItem(i);
    members.set(m.id, m.record);
  }
  const since = new Map<string, number>();
  const legacy = metaIt !== undefined && metaIt['owners'] !== undefined;
  return {
    exists: metaIt !== undefined,
    deleting: metaIt?.['deleting'] === true,
    state: metaIt ? (legacy ? legacyState(metaIt, since) : stateFromItems(metaIt, memberItems, shardItems, since)) : emptyState(),
    members,
    shards: new Set(shardItems.map((i) => i.sk)),
    since,
    legacy,
  };
}
