// The partition's metadata, as types (their stored form is items.ts's alone). A partition is:
//   head       next_offset (high watermark), log_start, flushed, leader_epoch, `tails`: the
//              extents of the latest commits that have no commit page yet (see commit.ts),
//              `producers`: idempotent producers' sequence state (producers.ts), the lease
//              (lease.ts) and retention's running summary (retention.ts)
//   x#<last>   commit pages: one or more contiguous commit extents — committed batches stored
//              inline or in a write-ahead object — keyed by the page's LAST offset, so "the
//              page that can cover offset o" is the first page with sk ≥ x#o
//   c#<base>   items mode (commit-items.ts; topics created with Topic.commit = 'items'): one
//              commit item per commit, keyed by its BASE offset, written once and expired by
//              TTL; the last one's end is the high watermark (the head's next_offset is not
//              written), and a deleted incarnation's log ends in a fence item
//   sx#<base>  segment extents: flushed batches [base, last] inside a segment object
//   seg#<base> the segment catalog: one entry per .log object
// Invariant: the log [log_start, next_offset) is covered, without gaps, by the segment extents
// below `flushed`, then by the commit extents with base ≥ flushed, found in the pages or the
// head's tails (items mode: by the commit items reaching `flushed` or beyond, the first of
// which may straddle it). A commit extent with base < flushed means nothing (flushed, or written late by
// a stale committer); readers ignore it, and flush and retention delete the pages below.
import type { ItemProducer, PartitionProducers } from './producers';

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
  /** Idempotent producers' sequence state (producers.ts); empty when none wrote. */
  producers: PartitionProducers;
  /** The last few transactional commits as [base, id, base, id, ...] (commit.ts). */
  recent?: number[];
  /** Who holds the partition's lease (lease.ts); owner '' when nobody does. */
  lease: LeaseState;
  /** Retention's running summary of the closed segments (retention.ts), once written. */
  retention?: RetentionSummary;
  /**
   * The head of a deleted topic incarnation (a tombstone, lib/log/tombstones.ts): no commit,
   * flush or read may use it. Set when the topic is deleted, before the deletion is answered.
   */
  deleted?: true;
}

export interface LeaseState {
  /** `<host>/<pid>/<random>` of the holder; '' when released or never taken. */
  owner: string;
  /** Record-version number the holder rewrites on every renewal. */
  rvn?: string;
  /** The holder's wall-clock deadline (absent on leases written before it existed). */
  until?: number;
}

export interface RetentionSummary {
  /** Every catalog segment with base < upto is closed and counted (or below the log start). */
  upto: number;
  /** Bytes of the counted segments at or above the log start. */
  bytes: number;
  segs: number;
}

/** The head's tails that still mean something: flush may have moved past some. */
export const liveTails = (head: Pick<Head, 'tails' | 'flushed'>): Extent[] => (head.tails ?? []).filter((e) => e.base >= head.flushed);

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
  /**
   * Items mode: the idempotent producer batch a commit item holds (producers.ts applyItem), so
   * that flush and a cold committer rebuild the producer state from the log (commit-items.ts).
   */
  producer?: ItemProducer;
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
  etags: SegmentEtags;
  /**
   * Where appending copies the object (S3: design note 0011), the segment is written as chunks
   * — `<base>.*` itself, then objects under `chunks/` (chunkObject) — each closed once it holds
   * FlushOptions.chunkBytes, and composed into `<base>.*` once the segment is closed. Absent (or
   * one chunk) for a segment that is one object of each kind: always on local files.
   * `etags` then describes the last chunk, the one a step extends.
   */
  chunks?: SegmentChunk[];
  /**
   * The chunks are composed: `<base>.*` are whole and every segment extent points into them; the
   * chunk objects are being deleted (the list goes once they are).
   */
  composed?: boolean;
  /**
   * A composition set aside (design note 0011, "When a composition fails"): it failed with an
   * error no retry cures — not a lost lease, not throttling or a server fault — this many times
   * in a row, and is not tried again before `composeRetryAt` (ms, wall clock). Until then every
   * reader uses the chunks, as before any composition. Dropped with the chunk list.
   */
  composeFailures?: number;
  composeRetryAt?: number;
}

export interface SegmentEtags {
  log?: string;
  index?: string;
  timeindex?: string;
}

/** One chunk of a segment written in chunks (Segment.chunks). */
export interface SegmentChunk {
  /** Where it starts in the segment's .log, .index and .timeindex (it ends where the next starts). */
  log: number;
  index: number;
  timeIndex: number;
  /** Largest record timestamp in it (-1: none), so a timestamp lookup can pass it by. */
  maxTs: number;
  /** The first chunk's: its objects' ETags when it was closed (the open chunk's are the segment's `etags`). */
  etags?: SegmentEtags;
}
