// The partition's metadata items and their (de)serialisation. A partition is:
//   head       next_offset (high watermark), log_start, flushed, leader_epoch, `tails`: the
//              extents of the latest commits that have no commit page yet (see commit.ts), and
//              `producers`: idempotent producers' sequence state (producers.ts)
//   x#<last>   commit pages: one or more contiguous commit extents — committed batches stored
//              inline or in a write-ahead object — keyed by the page's LAST offset, so "the
//              page that can cover offset o" is the first page with sk ≥ x#o
//   sx#<base>  segment extents: flushed batches [base, last] inside a segment object
//   seg#<base> the segment catalog: one entry per .log object
// Invariant: the log [log_start, next_offset) is covered, without gaps, by the segment extents
// below `flushed`, then by the commit extents with base ≥ flushed, found in the pages or the
// head's tails. A commit extent with base < flushed means nothing (flushed, or written late by
// a stale committer); readers ignore it, and flush and retention delete the pages below.
import { SamsaError } from '../errors';
import { valueSize } from '../storage/counting';
import type { MetaItem, MetaValue } from '../storage/ports';
import { EXTENT_PREFIX, extentSk, headKey, segExtentSk, segmentKey } from './keys';

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
   * The latest commits' extents, oldest first, ending at next_offset - 1, when they were
   * committed by head-only writes and are not in a commit page yet.
   */
  tails?: Extent[];
  /**
   * The head of a deleted topic incarnation (a tombstone, lib/log/tombstones.ts): no commit,
   * flush or read may use it. Set when the topic is deleted, before the deletion is answered.
   */
  deleted?: true;
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
  const tails = item['tails'];
  if (Array.isArray(tails)) head.tails = tails.map((f) => extentFromFields('head', f as Fields));
  if (item['deleted'] === true) head.deleted = true;
  return head;
}

/** The head's tails that still mean something: flush may have moved past some. */
export const liveTails = (head: Pick<Head, 'tails' | 'flushed'>): Extent[] => (head.tails ?? []).filter((e) => e.base >= head.flushed);

type Fields = { [attr: string]: MetaValue };

export type ExtentKind = 'inline' | 'wal' | 'seg';

export interface Extent {
  /** Sort key of the item it came from ('head' for the head's tails). */
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
  /**
   * Commit extents: the random id of the commit that wrote it, so a committer whose write was
   * applied but reported failed (a lost response, retried) can recognise its own commit.
   */
  cid?: number;
}

/** An extent's attributes, as stored in a page, a segment-extent item or the head's tails. */
export function extentFields(e: Omit<Extent, 'sk'>): Fields {
  const f: Fields = {
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
  if (e.cid !== undefined) f['cid'] = e.cid;
  return f;
}

/** DynamoDB size of a list of extents as the head's `tails` attribute (name included). */
export const tailsSize = (extents: Array<Omit<Extent, 'sk'>>): number => 'tails'.length + valueSize(extents.map(extentFields));

/** A segment extent's item, under sx#<base>. */
export function segExtentToItem(topicId: string, partition: number, e: Omit<Extent, 'sk'>): MetaItem {
  return { ...headKey(topicId, partition), sk: segExtentSk(e.base), ...extentFields(e) };
}

/** A commit page: contiguous commit extents, under x#<last offset>. */
export function commitPageToItem(topicId: string, partition: number, extents: Array<Omit<Extent, 'sk'>>): MetaItem {
  const last = extents[extents.length - 1]!.last;
  return { ...headKey(topicId, partition), sk: extentSk(last), base: extents[0]!.base, last, exts: extents.map(extentFields) };
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
  if (typeof f['obj'] === 'string') e.obj = f['obj'];
  if (typeof f['seg'] === 'number') e.seg = f['seg'];
  if (typeof f['cid'] === 'number') e.cid = f['cid'];
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
