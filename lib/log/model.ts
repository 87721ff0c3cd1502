// The partition's metadata items and their (de)serialisation. A partition is:
//   head       next_offset (high watermark), log_start, flushed, leader_epoch, and `tail`: the
//              extent of the latest commit (see commit.ts)
//   x#<base>   commit extents: committed batches [base, last], stored inline in the item or in
//              a write-ahead object
//   sx#<base>  segment extents: flushed batches [base, last] inside a segment object
//   seg#<base> the segment catalog: one entry per .log object
// Invariant: the log [log_start, next_offset) is covered, without gaps, by the segment extents
// below `flushed`, then by the commit extents with base ≥ flushed, the last of which may live
// only in the head's `tail`. Commit extents below `flushed` are garbage (flushed, or written
// late by a stale committer) that readers ignore and flush and retention delete.
import type { MetaItem, MetaValue } from '../storage/ports';
import { extentSk, headKey, segExtentSk, segmentKey } from './keys';

export interface Head {
  /** False until the first write creates the item. */
  exists: boolean;
  /** High watermark: the next offset to assign. */
  nextOffset: number;
  logStart: number;
  /** Every offset below this is in a segment object. */
  flushed: number;
  leaderEpoch: number;
  /**
   * The latest commit's extent, when it was committed by a head-only write and may not have a
   * commit-extent item yet (the next commit writes one before replacing the tail).
   */
  tail?: Extent;
}

export const EMPTY_HEAD: Head = Object.freeze({ exists: false, nextOffset: 0, logStart: 0, flushed: 0, leaderEpoch: 0 });

export function headFromItem(item: MetaItem | undefined): Head {
  if (!item) return EMPTY_HEAD;
  const head: Head = {
    exists: true,
    nextOffset: (item['next_offset'] as number | undefined) ?? 0,
    logStart: (item['log_start'] as number | undefined) ?? 0,
    flushed: (item['flushed'] as number | undefined) ?? 0,
    leaderEpoch: (item['leader_epoch'] as number | undefined) ?? 0,
  };
  const tail = item['tail'];
  if (tail && typeof tail === 'object' && !(tail instanceof Uint8Array) && !Array.isArray(tail)) {
    head.tail = extentFromFields(extentSk(tail['base'] as number), tail);
  }
  return head;
}

export type ExtentKind = 'inline' | 'wal' | 'seg';

export interface Extent {
  sk: string;
  base: number;
  /** Last offset in the extent (inclusive). */
  last: number;
  kind: ExtentKind;
  /** Batches, for inline extents. */
  data?: Uint8Array;
  /** Object key, for wal and seg extents. */
  obj?: string;
  /** Byte range in the object: [pos, pos + len). */
  pos: number;
  len: number;
  /**
   * The base offset written into the stored bytes. Write-ahead objects are written before
   * offsets are assigned, so readers patch batch base offsets when wb ≠ base (the base offset
   * sits outside the batch CRC, so patching keeps the bytes valid).
   */
  wb: number;
  maxTs: number;
  /** Base offset of the segment, for seg extents. */
  seg?: number;
}

/** An extent's attributes, as stored in its own item or in the head's `tail`. */
export function extentFields(e: Omit<Extent, 'sk'>): { [attr: string]: MetaValue } {
  const f: { [attr: string]: MetaValue } = {
    base: e.base,
    last: e.last,
    kind: e.kind,
    pos: e.pos,
    len: e.len,
    wb: e.wb,
    max_ts: e.maxTs,
  };
  if (e.data) f['data'] = e.data;
  if (e.obj !== undefined) f['obj'] = e.obj;
  if (e.seg !== undefined) f['seg'] = e.seg;
  return f;
}

/** The item of an extent: a segment extent (kind seg) under sx#, any other under x#. */
export function extentToItem(topicId: string, partition: number, e: Omit<Extent, 'sk'>): MetaItem {
  return {
    ...headKey(topicId, partition),
    sk: e.kind === 'seg' ? segExtentSk(e.base) : extentSk(e.base),
    ...extentFields(e),
  };
}

export function extentFromItem(item: MetaItem): Extent {
  return extentFromFields(item.sk, item);
}

function extentFromFields(sk: string, f: { [attr: string]: MetaValue }): Extent {
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
  if (typeof f['obj'] === 'string') e.obj = f['obj'];
  if (typeof f['seg'] === 'number') e.seg = f['seg'];
  return e;
}

export interface Segment {
  base: number;
  /** Last offset stored (base - 1 while empty). */
  last: number;
  /** Bytes of the .log object that are committed (the object may hold a longer, dead tail). */
  size: number;
  indexSize: number;
  timeIndexSize: number;
  maxTs: number;
  /** Offset of the batch holding maxTs (Kafka's offsetOfMaxTimestampSoFar). */
  maxTsOffset: number;
  /** Bytes appended since the last .index entry (Kafka's index.interval.bytes accounting). */
  sinceIndex: number;
  /** Largest timestamp already in the .timeindex. */
  timeIndexTs: number;
  createdAt: number;
  closed: boolean;
  /**
   * ETags of the .log/.index/.timeindex objects as this catalog entry describes them. Object
   * replaces are conditional on them, which fences a stale flusher's object writes.
   */
  etags: { log?: string; index?: string; timeindex?: string };
}

export function segmentToItem(topicId: string, partition: number, s: Segment): MetaItem {
  return {
    ...segmentKey(topicId, partition, s.base),
    base: s.base,
    last: s.last,
    size: s.size,
    idx_size: s.indexSize,
    tidx_size: s.timeIndexSize,
    max_ts: s.maxTs,
    max_ts_off: s.maxTsOffset,
    since_idx: s.sinceIndex,
    tidx_ts: s.timeIndexTs,
    created_at: s.createdAt,
    closed: s.closed,
    etags: { ...s.etags },
  };
}

export function segmentFromItem(item: MetaItem): Segment {
  return {
    base: item['base'] as number,
    last: item['last'] as number,
    size: item['size'] as number,
    indexSize: item['idx_size'] as number,
    timeIndexSize: item['tidx_size'] as number,
    maxTs: item['max_ts'] as number,
    maxTsOffset: item['max_ts_off'] as number,
    sinceIndex: item['since_idx'] as number,
    timeIndexTs: item['tidx_ts'] as number,
    createdAt: item['created_at'] as number,
    closed: item['closed'] as boolean,
    etags: { ...((item['etags'] as Segment['etags'] | undefined) ?? {}) },
  };
}
