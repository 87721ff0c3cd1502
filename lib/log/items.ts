// The only place where the log's domain types meet stored metadata items, in both directions:
// the partition head (with its lease and retention parts), commit pages, segment extents, the
// segment catalog, topic items, deletion markers, producer state and the job cursors. Nothing
// else in lib/log reads an attribute by name. The head's codec is a table with one entry per
// Head field, typed so that a field added to Head without a codec entry does not compile; the
// tests (test/unit/log/items.test.ts) check that every codec round-trips.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { SamsaError } from '../errors';
import type { Condition, MetaItem, MetaKey, MetaValue, WriteOp } from '../storage/ports';
import { commitItemKey, composeDueKey, deletionKey, EXTENT_PREFIX, extentSk, headKey, partitionPk, producerKey, segExtentSk, segmentKey, tombstoneDueKey, TOPIC_DELETIONS_PK, topicDeletionKey, topicKey } from './keys';
import type { Extent, ExtentKind, Head, LeaseState, RetentionSummary, Segment, SegmentChunk, SegmentEtags } from './model';
import type { ItemProducer, PartitionProducers, ProducerState, RequestClaim, RememberedBatch } from './producers';
import { DEFAULT_TOPIC_CONFIG, type TopicConfig } from './topic-config';
import type { Topic } from './topics';

export type Fields = { [attr: string]: MetaValue };

const num = (v: MetaValue | undefined): number | undefined => (typeof v === 'number' ? v : undefined);
const str = (v: MetaValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const isMap = (v: MetaValue | undefined): v is { [key: string]: MetaValue } =>
  !!v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);

// --- the partition head -----------------------------------------------------------------------

/** One Head field: the attributes it is stored under, and how it is written and read. */
interface FieldCodec<T> {
  attrs: readonly string[];
  /** The attributes to set; the field's other attributes are removed by an update. */
  encode(v: NonNullable<T>): Fields;
  decode(item: Fields): T;
}

/** A numeric head attribute; a head written before the attribute existed reads it as 0. */
const counter = (attr: string): FieldCodec<number> => ({
  attrs: [attr],
  encode: (v) => ({ [attr]: v }),
  decode: (f) => num(f[attr]) ?? 0,
});

/** Stored names of the lease's parts (lease.ts). */
export const LEASE_ATTR = { owner: 'lease_owner', rvn: 'lease_rvn', until: 'lease_until' } as const satisfies Record<keyof LeaseState, string>;
/** Stored names of the retention summary's parts (retention.ts). */
export const RETENTION_ATTR = { upto: 'ret_upto', bytes: 'ret_bytes', segs: 'ret_segs' } as const satisfies Record<keyof RetentionSummary, string>;

type StoredHead = Omit<Head, 'exists'>;

/** Stored attribute names of the head's single-attribute fields, for write conditions. */
export const HEAD_ATTR = {
  nextOffset: 'next_offset',
  logStart: 'log_start',
  flushed: 'flushed',
  leaderEpoch: 'leader_epoch',
  tails: 'tails',
  producers: 'producers',
  recent: 'recent',
  deleted: 'deleted',
} as const satisfies Record<Exclude<keyof StoredHead, 'lease' | 'retention'>, string>;


/** Every Head field but `exists` (which is "the item was found"): the mapped type makes the table exhaustive. */
const HEAD_CODEC: { [K in keyof StoredHead]-?: FieldCodec<StoredHead[K]> } = {
  nextOffset: counter(HEAD_ATTR.nextOffset),
  logStart: counter(HEAD_ATTR.logStart),
  flushed: counter(HEAD_ATTR.flushed),
  leaderEpoch: counter(HEAD_ATTR.leaderEpoch),
  tails: {
    attrs: [HEAD_ATTR.tails],
    encode: (tails) => ({ [HEAD_ATTR.tails]: tails.map(extentFields) }),
    decode: (f) => {
      const tails = f[HEAD_ATTR.tails];
      return Array.isArray(tails) ? tails.map((x) => extentFromFields('head', x as Fields)) : undefined;
    },
  },
  producers: {
    attrs: [HEAD_ATTR.producers],
    encode: (p) => ({ [HEAD_ATTR.producers]: producersToValue(p) }),
    decode: (f) => producersFromValue(f[HEAD_ATTR.producers]),
  },
  recent: {
    attrs: [HEAD_ATTR.recent],
    encode: (r) => ({ [HEAD_ATTR.recent]: r }),
    decode: (f) => {
      const recent = f[HEAD_ATTR.recent];
      return Array.isArray(recent) ? recent.filter((x): x is number => typeof x === 'number') : undefined;
    },
  },
  // A deleted incarnation's tombstone (tombstones.ts): present only as `true`.
  deleted: {
    attrs: [HEAD_ATTR.deleted],
    encode: () => ({ [HEAD_ATTR.deleted]: true }),
    decode: (f) => (f[HEAD_ATTR.deleted] === true ? true : undefined),
  },
  lease: {
    attrs: Object.values(LEASE_ATTR),
    encode: (l) => ({
      [LEASE_ATTR.owner]: l.owner,
      ...(l.rvn !== undefined ? { [LEASE_ATTR.rvn]: l.rvn } : {}),
      ...(l.until !== undefined ? { [LEASE_ATTR.until]: l.until } : {}),
    }),
    decode: (f) => {
      const rvn = str(f[LEASE_ATTR.rvn]);
      const until = num(f[LEASE_ATTR.until]);
      return { owner: str(f[LEASE_ATTR.owner]) ?? '', ...(rvn !== undefined ? { rvn } : {}), ...(until !== undefined ? { until } : {}) };
    },
  },
  retention: {
    attrs: Object.values(RETENTION_ATTR),
    encode: (r) => ({ [RETENTION_ATTR.upto]: r.upto, [RETENTION_ATTR.bytes]: r.bytes, [RETENTION_ATTR.segs]: r.segs }),
    // Present once a retention pass wrote it (its conditions distinguish "never written").
    decode: (f) =>
      typeof f[RETENTION_ATTR.upto] === 'number'
        ? { upto: num(f[RETENTION_ATTR.upto])!, bytes: num(f[RETENTION_ATTR.bytes]) ?? 0, segs: num(f[RETENTION_ATTR.segs]) ?? 0 }
        : undefined,
  },
};

export const EMPTY_HEAD: Head = Object.freeze({ exists: false, nextOffset: 0, logStart: 0, flushed: 0, leaderEpoch: 0, producers: Object.freeze({}), lease: Object.freeze({ owner: '' }) });

export function headFromItem(item: MetaItem | undefined): Head {
  if (!item) return EMPTY_HEAD;
  const head = { exists: true } as Head;
  for (const [field, codec] of Object.entries(HEAD_CODEC) as Array<[keyof StoredHead, FieldCodec<unknown>]>) {
    const v = codec.decode(item);
    if (v !== undefined) (head as unknown as Record<string, unknown>)[field] = v;
  }
  return head;
}

/** The whole head as an item (tests, and stores seeded by hand). */
export function headToItem(topicId: string, partition: number, head: Head | StoredHead): MetaItem {
  const { exists: _exists, ...stored } = head as Head;
  return { ...headKey(topicId, partition), ...headUpdate(stored).set };
}

/**
 * The set/remove of an update that writes these head fields and leaves the others alone. A
 * field given as undefined is removed; a lease or summary replaces every attribute of its part
 * (a lease without rvn removes the stored rvn).
 */
export function headUpdate(patch: Partial<StoredHead>): { set: Fields; remove?: string[] } {
  const set: Fields = {};
  const remove: string[] = [];
  for (const field of Object.keys(patch) as Array<keyof StoredHead>) {
    const codec = HEAD_CODEC[field] as FieldCodec<unknown>;
    const v = patch[field];
    const written = v === undefined ? {} : codec.encode(v);
    Object.assign(set, written);
    for (const a of codec.attrs) if (!(a in written)) remove.push(a);
  }
  return remove.length > 0 ? { set, remove } : { set };
}

/** An update op on the partition head (see headUpdate). */
export function headUpdateOp(topicId: string, partition: number, patch: Partial<StoredHead>, condition?: Condition): WriteOp {
  return { type: 'update', key: headKey(topicId, partition), ...headUpdate(patch), ...(condition ? { condition } : {}) };
}

/** The attributes of `item` that store one head field, as they are stored (the committer sizes them). */
export function storedHeadField(item: MetaItem | undefined, field: keyof StoredHead): Fields {
  const out: Fields = {};
  for (const a of HEAD_CODEC[field].attrs) if (item?.[a] !== undefined) out[a] = item[a];
  return out;
}

/** The stored attributes a field's value takes (the committer sizes head writes by them). */
export const headFieldFields = <K extends keyof StoredHead>(field: K, v: NonNullable<StoredHead[K]>): Fields => (HEAD_CODEC[field] as FieldCodec<StoredHead[K]>).encode(v);

// --- extents, commit pages, segment extents ---------------------------------------------------

/** An extent's attributes, as stored in a page, a segment-extent item or the head's tails. */
export function extentFields(e: Omit<Extent, 'sk'>): Fields {
  // An inline commit's extent (every embedded commit) as one literal, in the key order below.
  if (e.data && e.obj === undefined && e.seg === undefined && e.cid !== undefined && !e.producer) {
    return { base: e.base, last: e.last, kind: e.kind, pos: e.pos, len: e.len, wb: e.wb, max_ts: e.maxTs, data: e.data, cid: e.cid };
  }
  const f: Fields = { base: e.base, last: e.last, kind: e.kind, pos: e.pos, len: e.len, wb: e.wb, max_ts: e.maxTs };
  if (e.data) f['data'] = e.data;
  if (e.obj !== undefined) f['obj'] = e.obj;
  if (e.seg !== undefined) f['seg'] = e.seg;
  if (e.cid !== undefined) f['cid'] = e.cid;
  if (e.producer) f[PRODUCER_ATTR] = itemProducerValue(e.producer);
  return f;
}

function extentFromFields(sk: string, f: Fields): Extent {
  const e: Extent = {
    sk,
    base: f['base'] as number,
    last: f['last'] as number,
    kind: f['kind'] as ExtentKind,
    pos: f['pos'] as number,
    len: f['len'] as number,
    wb: f['wb'] as number,
    maxTs: f['max_ts'] as number,
  };
  if (f['data'] instanceof Uint8Array) e.data = f['data'];
  else if (f[COMMIT_DEFLATED_ATTR] instanceof Uint8Array) e.data = inflateCommitData(sk, f[COMMIT_DEFLATED_ATTR], e.len);
  if (typeof f['obj'] === 'string') e.obj = f['obj'];
  if (typeof f['seg'] === 'number') e.seg = f['seg'];
  if (typeof f['cid'] === 'number') e.cid = f['cid'];
  const producer = itemProducerFromValue(f[PRODUCER_ATTR]);
  if (producer) e.producer = producer;
  return e;
}

/** A segment extent's item, under sx#<base>. */
export function segExtentToItem(topicId: string, partition: number, e: Omit<Extent, 'sk'>): MetaItem {
  return { ...headKey(topicId, partition), sk: segExtentSk(e.base), ...extentFields(e) };
}

/** A commit page: contiguous commit extents, under x#<last offset>. */
export function commitPageToItem(topicId: string, partition: number, extents: Array<Omit<Extent, 'sk'>>): MetaItem {
  const last = extents[extents.length - 1]!.last;
  const exts: Fields[] = [];
  for (const e of extents) exts.push(extentFields(e));
  return { pk: partitionPk(topicId, partition), sk: extentSk(last), base: extents[0]!.base, last, exts };
}

/** The extents an item holds: one for a segment extent, one or more for a commit page. */
export function extentsFromItem(item: MetaItem): Extent[] {
  const exts = item['exts'];
  if (Array.isArray(exts)) return exts.map((f) => extentFromFields(item.sk, f as Fields));
  if (item.sk.startsWith(EXTENT_PREFIX)) {
    // Before commit pages (2026-11-23), x# held single extents keyed by their base offset, and
    // segment extents too: read with today's rules they would be misplaced. Refuse loudly.
    throw new SamsaError(
      'UNKNOWN_SERVER_ERROR',
      `metadata item ${item.pk}/${item.sk} is in the extent layout of an earlier Samsa build, which this one does not read; start from a fresh data directory (embedded) or table (AWS)`,
    );
  }
  return [extentFromFields(item.sk, item)];
}

// --- commit items (items mode, commit-items.ts) -------------------------------------------------

/** Stored name of a commit item's expiry (epoch seconds): the table's TTL attribute (aws-resources.ts META_TABLE). */
export const COMMIT_TTL_ATTR = 'ttl';
/** Stored name of a commit item's commit time (ms), on items without a TTL (flush deletes those). */
export const COMMIT_AT_ATTR = 'at';
const FENCE_ATTR = 'fence';

/** One item of the commit-item key space: a commit, or a deleted incarnation's fence. */
export type CommitItem =
  | { kind: 'commit'; extent: Extent; ttl?: number; at?: number }
  | { kind: 'fence'; base: number };

/**
 * Stored name of an inline commit item's batch bytes when they are kept deflated (raw DEFLATE,
 * RFC 1951) instead of as `data`. DynamoDB bills a write per started 1 KB of the whole item and
 * a read per started 4 KB: a 1 KiB record with its batch header and the item's keys is ~1.25 KB,
 * two write units, and deflated JSON of that size is well under one (design note 0010).
 */
export const COMMIT_DEFLATED_ATTR = 'dz';
/** Deflating must save at least this much of an item's bytes to be kept (else the raw bytes are stored). */
const DEFLATE_MIN_SAVING_BYTES = 64;

/**
 * The batch bytes deflated, when that is worth it: `undefined` for bytes that do not shrink by
 * DEFLATE_MIN_SAVING_BYTES (already-compressed batches, random payloads, tiny records), which
 * are stored as they are and cost no inflate on every read.
 */
export function deflateCommitData(data: Uint8Array): Uint8Array | undefined {
  if (data.length <= DEFLATE_MIN_SAVING_BYTES) return undefined;
  const z = deflateRawSync(data);
  return z.length + DEFLATE_MIN_SAVING_BYTES <= data.length ? new Uint8Array(z.buffer, z.byteOffset, z.length) : undefined;
}

/**
 * A commit's item, under c#<base>: its extent, and when it may expire (`ttl`) or was written
 * (`at`). `deflated` is what deflateCommitData returned for these very bytes when the caller
 * has it already (the committer deflates once, to size the item before deciding where the batch
 * goes); without it the bytes are deflated here.
 */
export function commitItemToItem(
  topicId: string,
  partition: number,
  e: Omit<Extent, 'sk'>,
  expiry: { ttl?: number; at?: number },
  deflated?: { z: Uint8Array | undefined },
): MetaItem {
  const fields = extentFields(e);
  const z = e.data && (deflated ? deflated.z : deflateCommitData(e.data));
  if (z) {
    delete fields['data'];
    fields[COMMIT_DEFLATED_ATTR] = z;
  }
  return {
    ...commitItemKey(topicId, partition, e.base),
    ...fields,
    ...(expiry.ttl !== undefined ? { [COMMIT_TTL_ATTR]: expiry.ttl } : {}),
    ...(expiry.at !== undefined ? { [COMMIT_AT_ATTR]: expiry.at } : {}),
  };
}

/**
 * A deflated commit item's batch bytes, inflated: exactly the extent's `len` bytes, or a loud
 * error (a damaged item must not be served as records, nor inflate without bound).
 */
function inflateCommitData(sk: string, z: Uint8Array, len: number): Uint8Array {
  let out: Buffer;
  try {
    out = inflateRawSync(z, { maxOutputLength: Math.max(1, len) });
  } catch (err) {
    throw new SamsaError('UNKNOWN_SERVER_ERROR', `commit item ${sk}: its deflated batch bytes do not inflate (${(err as Error).message})`);
  }
  if (out.length !== len) throw new SamsaError('UNKNOWN_SERVER_ERROR', `commit item ${sk}: its deflated batch bytes inflate to ${out.length} bytes, not the ${len} it records`);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** The fence a topic deletion puts at a partition's end: no commit can land at or after it. */
export const fenceItem = (topicId: string, partition: number, at: number): MetaItem => ({ ...commitItemKey(topicId, partition, at), base: at, [FENCE_ATTR]: true });

export function commitItemFromItem(item: MetaItem): CommitItem {
  if (item[FENCE_ATTR] === true) return { kind: 'fence', base: item['base'] as number };
  const ttl = num(item[COMMIT_TTL_ATTR]);
  const at = num(item[COMMIT_AT_ATTR]);
  return { kind: 'commit', extent: extentFromFields(item.sk, item), ...(ttl !== undefined ? { ttl } : {}), ...(at !== undefined ? { at } : {}) };
}

/** Where the log ends after a commit item (a fence ends nothing: the log ends where it stands). */
export const commitItemEnd = (c: CommitItem): number => (c.kind === 'fence' ? c.base : c.extent.last + 1);

/** The last offset a commit page or segment extent covers (both store it as `last`). */
export const extentItemLast = (item: MetaItem): number => item['last'] as number;

// --- the segment catalog ----------------------------------------------------------------------

const SEGMENT_ATTR = {
  base: 'base',
  last: 'last',
  size: 'size',
  indexSize: 'idx_size',
  timeIndexSize: 'tidx_size',
  maxTs: 'max_ts',
  maxTsOffset: 'max_ts_off',
  sinceIndex: 'since_idx',
  timeIndexTs: 'tidx_ts',
  createdAt: 'created_at',
  closed: 'closed',
  etags: 'etags',
  chunks: 'chunks',
  composed: 'composed',
  composeFailures: 'compose_fails',
  composeRetryAt: 'compose_retry_at',
} as const satisfies Record<keyof Segment, string>;

/**
 * A catalog entry's write condition: the entry is still as read — its size, open or closed, and
 * (for a closed one written in chunks, design note 0011) composed or not. Flush steps, retention's
 * seal and the composition all fence on it.
 */
export function segmentAsRead(size: number, closed: boolean, composed?: boolean): Condition {
  const conds: Condition[] = [
    { op: 'eq', attr: SEGMENT_ATTR.size, value: size },
    { op: 'eq', attr: SEGMENT_ATTR.closed, value: closed },
  ];
  if (composed !== undefined) conds.push(composed ? { op: 'eq', attr: SEGMENT_ATTR.composed, value: true } : { op: 'attrNotExists', attr: SEGMENT_ATTR.composed });
  return { op: 'and', conds };
}

/**
 * Records a composition set aside (design note 0011, "When a composition fails"): its failures
 * in a row and when to try again, and nothing else of the entry. Only while the entry is as
 * `seg` was read — same size, closed, composed or not, still listing its chunks, and with the
 * failure count read — so a write that lands late (its process paused past its lease) never
 * brings back the chunk list of a segment composed meanwhile, whose chunk objects are gone.
 * In the same transaction, the segment's item in the queue of set-aside compositions moves to
 * the new time (composeDueKey): a retention pass finds it there once it is due.
 */
export function segmentSetAside(topic: { name: string; id: string }, partition: number, seg: Segment, failures: number, retryAt: number): WriteOp[] {
  const ops: WriteOp[] = [
    {
      type: 'update',
      key: segmentKey(topic.id, partition, seg.base),
      set: { [SEGMENT_ATTR.composeFailures]: failures, [SEGMENT_ATTR.composeRetryAt]: retryAt },
      condition: {
        op: 'and',
        conds: [
          segmentAsRead(seg.size, true, seg.composed === true),
          { op: 'attrExists', attr: SEGMENT_ATTR.chunks },
          seg.composeFailures === undefined ? { op: 'attrNotExists', attr: SEGMENT_ATTR.composeFailures } : { op: 'eq', attr: SEGMENT_ATTR.composeFailures, value: seg.composeFailures },
        ],
      },
    },
    { type: 'put', item: composeDueToItem({ dueMs: retryAt, topic: topic.name, topicId: topic.id, partition, base: seg.base }) },
  ];
  if (seg.composeRetryAt !== undefined && seg.composeRetryAt !== retryAt) ops.push({ type: 'delete', key: composeDueKey(seg.composeRetryAt, topic.id, partition, seg.base) });
  return ops;
}

/** A composition set aside, in the queue of those to try again (composeDueKey). */
export interface ComposeDue {
  dueMs: number;
  topic: string;
  topicId: string;
  partition: number;
  base: number;
}
export const composeDueToItem = (d: ComposeDue): MetaItem => ({
  ...composeDueKey(d.dueMs, d.topicId, d.partition, d.base),
  due: d.dueMs,
  topic: d.topic,
  topic_id: d.topicId,
  partition: d.partition,
  base: d.base,
});
export const composeDueFromItem = (item: MetaItem): ComposeDue => ({
  dueMs: item['due'] as number,
  topic: item['topic'] as string,
  topicId: item['topic_id'] as string,
  partition: item['partition'] as number,
  base: item['base'] as number,
});

export function segmentToItem(topicId: string, partition: number, s: Segment): MetaItem {
  const item: MetaItem = { ...segmentKey(topicId, partition, s.base) };
  for (const field of Object.keys(SEGMENT_ATTR) as Array<keyof Segment>) {
    if (s[field] === undefined) continue; // chunks, composed and the compose* fields: only on segments written in chunks
    item[SEGMENT_ATTR[field]] = field === 'etags' ? { ...s.etags } : field === 'chunks' ? s.chunks!.map(chunkToValue) : s[field];
  }
  return item;
}

export function segmentFromItem(item: MetaItem): Segment {
  return {
    base: item[SEGMENT_ATTR.base] as number,
    last: item[SEGMENT_ATTR.last] as number,
    size: item[SEGMENT_ATTR.size] as number,
    indexSize: item[SEGMENT_ATTR.indexSize] as number,
    timeIndexSize: item[SEGMENT_ATTR.timeIndexSize] as number,
    maxTs: item[SEGMENT_ATTR.maxTs] as number,
    maxTsOffset: item[SEGMENT_ATTR.maxTsOffset] as number,
    sinceIndex: item[SEGMENT_ATTR.sinceIndex] as number,
    timeIndexTs: item[SEGMENT_ATTR.timeIndexTs] as number,
    createdAt: item[SEGMENT_ATTR.createdAt] as number,
    closed: item[SEGMENT_ATTR.closed] as boolean,
    etags: { ...((item[SEGMENT_ATTR.etags] as Segment['etags'] | undefined) ?? {}) },
    ...(item[SEGMENT_ATTR.chunks] ? { chunks: (item[SEGMENT_ATTR.chunks] as MetaValue[]).map(chunkFromValue) } : {}),
    ...(item[SEGMENT_ATTR.composed] ? { composed: true } : {}),
    ...(item[SEGMENT_ATTR.composeFailures] !== undefined ? { composeFailures: item[SEGMENT_ATTR.composeFailures] as number } : {}),
    ...(item[SEGMENT_ATTR.composeRetryAt] !== undefined ? { composeRetryAt: item[SEGMENT_ATTR.composeRetryAt] as number } : {}),
  };
}

const etagsValue = (e: SegmentEtags): MetaValue => Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as MetaValue;

function chunkToValue(c: SegmentChunk): MetaValue {
  return { log: c.log, index: c.index, tidx: c.timeIndex, max_ts: c.maxTs, ...(c.etags ? { etags: etagsValue(c.etags) } : {}) };
}

function chunkFromValue(v: MetaValue): SegmentChunk {
  const o = v as Record<string, MetaValue>;
  return { log: o.log as number, index: o.index as number, timeIndex: o.tidx as number, maxTs: o.max_ts as number, ...(o.etags ? { etags: { ...(o.etags as SegmentEtags) } } : {}) };
}

// --- topics and their deletion ----------------------------------------------------------------

/**
 * A topic item: the topic, live or (state "deleting", since `deletedAt`) being deleted. This
 * build keeps an item "deleting" only while its DELETE tombstones the partitions (topics.ts,
 * markDeleted); builds before deletion markers by id kept it until the data was gone. Either
 * way it reads as absent, and its name as taken.
 */
export interface TopicItem {
  topic: Topic;
  deleting: boolean;
  deletedAt?: number;
}

export function topicToItem(t: Topic): MetaItem {
  return {
    ...topicKey(t.name),
    name: t.name,
    partitions: t.partitions,
    config: { ...t.config },
    id: t.id,
    created_at: t.createdAt,
    version: t.version,
    state: 'active',
    ...(t.commit !== undefined ? { [TOPIC_COMMIT_ATTR]: t.commit } : {}),
  };
}

/** A topic item as a Topic (callers skip items in state "deleting": see topicItemFromItem). */
export function topicFromItem(item: MetaItem): Topic {
  return {
    name: item['name'] as string,
    partitions: item['partitions'] as number,
    config: configFromItem(item['config']),
    id: item['id'] as string,
    createdAt: item['created_at'] as number,
    version: item['version'] as number,
    // Decided at creation for the incarnation's life: a topic item written before items mode
    // existed (or on a store without it) commits through the head.
    ...(item[TOPIC_COMMIT_ATTR] === 'items' ? { commit: 'items' as const } : {}),
  };
}

/**
 * A stored topic config over the defaults, keeping only the topic config keys: versions before
 * c0aaf26 stored keys named like Object.prototype members ("constructor": 5) as config. Read
 * without them, such a topic neither shows them nor writes them back with its next change.
 */
function configFromItem(stored: unknown): TopicConfig {
  const config: TopicConfig = { ...DEFAULT_TOPIC_CONFIG };
  if (typeof stored !== 'object' || stored === null) return config;
  for (const key of Object.keys(config) as Array<keyof TopicConfig>) {
    if (Object.hasOwn(stored, key)) (config as Record<keyof TopicConfig, unknown>)[key] = (stored as Record<string, unknown>)[key];
  }
  return config;
}

/** Stored name of a topic incarnation's commit mode (items mode: commit-items.ts). */
export const TOPIC_COMMIT_ATTR = 'commit';

export function topicItemFromItem(item: MetaItem): TopicItem {
  const deletedAt = num(item['deleted_at']);
  return { topic: topicFromItem(item), deleting: item['state'] === 'deleting', ...(deletedAt !== undefined ? { deletedAt } : {}) };
}

/** Whether a topic item is one being deleted (TopicItem). */
export const isDeletingTopicItem = (item: MetaItem): boolean => item['state'] === 'deleting';

/** The update that marks a topic deleted (conditional on its incarnation id). */
export const topicDeletingSet = (deletedAt: number): Fields => ({ state: 'deleting', deleted_at: deletedAt });
export const TOPIC_ID_ATTR = 'id';
/** Only while the topic is not being deleted (a change must not revive it). */
export const TOPIC_NOT_DELETING: Condition = { op: 'ne', attr: 'state', value: 'deleting' };
export const TOPIC_VERSION_ATTR = 'version';

/** The work-queue entry of a deleted topic whose data is still being removed. */
export interface DeletionMarker {
  name: string;
  topicId: string;
  partitions: number;
  /** The incarnation's commit mode (items mode: its logs are fenced, tombstones.ts). */
  commit?: 'items';
  /**
   * When it was deleted (the deletion grace runs from here). Absent in a marker by name, of a
   * build before markers by id: its topic item, kept in state "deleting", holds the time.
   */
  deletedAt?: number;
  /**
   * A token of the DELETE that queued it (markers by id): a DELETE whose own marking applied
   * but whose answer was lost, then retried by the SDK and refused, tells its deletion from
   * another's by it (topics.ts, markDeleted).
   */
  request?: string;
}

/** Stored name of the incarnation a deletion marker is for (its removal is conditional on it). */
export const DELETION_TOPIC_ID_ATTR = 'topic_id';
/** A marker by incarnation id (topicDeletionKey): how a deletion is queued. */
export const topicDeletionToItem = (m: DeletionMarker & { deletedAt: number }): MetaItem => ({
  ...topicDeletionKey(m.topicId),
  name: m.name,
  [DELETION_TOPIC_ID_ATTR]: m.topicId,
  partitions: m.partitions,
  deleted_at: m.deletedAt,
  ...(m.commit ? { [TOPIC_COMMIT_ATTR]: m.commit } : {}),
  ...(m.request !== undefined ? { request: m.request } : {}),
});
/**
 * A deletion marker of either kind: by incarnation id (this build's) or by name (builds before
 * it, still finished: keys.ts, `deletionKey`). Both carry the name, the id and the partitions.
 */
export const deletionMarkerFromItem = (item: MetaItem): DeletionMarker => {
  const byId = item.pk === TOPIC_DELETIONS_PK;
  const deletedAt = byId ? num(item['deleted_at']) : undefined;
  return {
    name: byId ? (item['name'] as string) : item.sk,
    topicId: item[DELETION_TOPIC_ID_ATTR] as string,
    partitions: item['partitions'] as number,
    ...(item[TOPIC_COMMIT_ATTR] === 'items' ? { commit: 'items' as const } : {}),
    ...(deletedAt !== undefined ? { deletedAt } : {}),
    ...(byId && typeof item['request'] === 'string' ? { request: item['request'] } : {}),
  };
};
/** A marker by name, as builds before markers by id wrote it (tests of mixed versions). */
export const legacyDeletionMarkerToItem = (m: DeletionMarker): MetaItem => ({
  ...deletionKey(m.name),
  [DELETION_TOPIC_ID_ATTR]: m.topicId,
  partitions: m.partitions,
  ...(m.commit ? { [TOPIC_COMMIT_ATTR]: m.commit } : {}),
});

/** A deleted incarnation whose tombstone heads may be removed from `dueMs` on (tombstones.ts). */
export interface TombstoneDue {
  dueMs: number;
  topicId: string;
  partitions: number;
}
export const tombstoneDueToItem = (t: TombstoneDue): MetaItem => ({ ...tombstoneDueKey(t.dueMs, t.topicId), topic_id: t.topicId, partitions: t.partitions, due: t.dueMs });
export const tombstoneDueFromItem = (item: MetaItem): TombstoneDue => ({ dueMs: item['due'] as number, topicId: item['topic_id'] as string, partitions: item['partitions'] as number });

// --- idempotent producers ---------------------------------------------------------------------

// Stored compactly in the head's `producers` map — one list of numbers per stream,
// [epoch, touched, then per batch: firstSeq, lastSeq − firstSeq, base, last − base] — since
// every byte of the head is paid for on every commit.
export function producersToValue(states: PartitionProducers): MetaValue {
  const out: Record<string, MetaValue> = {};
  for (const [k, s] of Object.entries(states)) {
    out[k] = [s.epoch, s.touched, ...s.batches.flatMap((b) => [b.firstSeq, b.lastSeq - b.firstSeq, b.base, b.last - b.base])];
  }
  return out;
}

export function producersFromValue(v: MetaValue | undefined): PartitionProducers {
  const out: PartitionProducers = {};
  if (!isMap(v)) return out;
  for (const [k, raw] of Object.entries(v)) {
    if (!Array.isArray(raw) || raw.length < 6) continue;
    const n = raw as number[];
    const batches: RememberedBatch[] = [];
    for (let i = 2; i + 3 < n.length; i += 4) batches.push({ firstSeq: n[i]!, lastSeq: n[i]! + n[i + 1]!, base: n[i + 2]!, last: n[i + 2]! + n[i + 3]! });
    out[k] = { epoch: n[0]!, touched: n[1]!, batches };
  }
  return out;
}

/**
 * An idempotent batch's producer fields on its commit item (items mode), as one list:
 * [stream, epoch, firstSeq, lastSeq − firstSeq, commit time].
 */
const PRODUCER_ATTR = 'prod';
const itemProducerValue = (p: ItemProducer): MetaValue => [p.stream, p.epoch, p.firstSeq, p.lastSeq - p.firstSeq, p.now];

function itemProducerFromValue(v: MetaValue | undefined): ItemProducer | undefined {
  if (!Array.isArray(v) || v.length !== 5 || typeof v[0] !== 'string' || !v.slice(1).every((x) => typeof x === 'number')) return undefined;
  const [stream, epoch, firstSeq, span, now] = v as [string, number, number, number, number];
  return { stream, epoch, firstSeq, lastSeq: firstSeq + span, now };
}

/** Request claims live in `c<slot>` attributes of the producer's registry item. */
export const claimSlot = (sequence: number, remembered: number): string => `c${sequence % remembered}`;
export const CLAIM_SEQ_ATTR = 'claim_seq';
export const PRODUCER_EPOCH_ATTR = 'epoch';
export const PRODUCER_VERSION_ATTR = 'version';
/** The producer-id counter's attribute (an atomic add). */
export const COUNTER_ATTR = 'value';
export const counterValue = (item: MetaItem | undefined): number => num(item?.[COUNTER_ATTR]) ?? 0;

export function claimValue(c: RequestClaim): MetaValue {
  return { seq: c.sequence, topic: c.topicId, n: c.records, now: c.now, ...(c.sticky !== undefined ? { sticky: c.sticky } : {}) };
}

export function producerToItem(s: ProducerState, remembered: number): MetaItem {
  const item: MetaItem = { ...producerKey(s.id), id: s.id, epoch: s.epoch, version: s.version };
  if (s.owner !== undefined) item['owner'] = s.owner;
  for (const c of s.claims) item[claimSlot(c.sequence, remembered)] = claimValue(c);
  return item;
}

export function producerFromItem(item: MetaItem, remembered: number): ProducerState & { claimSeq: number } {
  const claims: RequestClaim[] = [];
  for (let i = 0; i < remembered; i++) {
    const c = item[`c${i}`];
    if (!isMap(c)) continue;
    const sticky = num(c['sticky']);
    claims.push({
      sequence: c['seq'] as number,
      topicId: c['topic'] as string,
      records: c['n'] as number,
      now: c['now'] as number,
      ...(sticky !== undefined ? { sticky } : {}),
    });
  }
  return {
    id: item['id'] as number,
    epoch: item['epoch'] as number,
    version: item['version'] as number,
    ...(typeof item['owner'] === 'string' ? { owner: item['owner'] } : {}),
    claims,
    claimSeq: num(item[CLAIM_SEQ_ATTR]) ?? -1,
  };
}

// --- job cursors ------------------------------------------------------------------------------

/** Where the retention pass resumes: the next partition to visit ('' = from the start). */
export interface RetentionCursor {
  topic: string;
  partition: number;
}

export const retentionCursorToItem = (key: MetaKey, c: RetentionCursor): MetaItem => ({ ...key, topic: c.topic, partition: c.partition });
export const retentionCursorFromItem = (item: MetaItem | undefined): RetentionCursor => ({
  topic: str(item?.['topic']) ?? '',
  partition: num(item?.['partition']) ?? 0,
});

/** Where the orphan sweep resumes, per object prefix: the last key listed ('' = from the start). */
export type SweepCursor = Record<string, string>;

export const sweepCursorToItem = (key: MetaKey, c: SweepCursor): MetaItem => ({ ...key, after: { ...c } });
export function sweepCursorFromItem(item: MetaItem | undefined): SweepCursor {
  const after = item?.['after'];
  const out: SweepCursor = {};
  if (isMap(after)) for (const [k, v] of Object.entries(after)) if (typeof v === 'string') out[k] = v;
  return out;
}
