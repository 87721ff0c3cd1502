// The read path, in one place. A fetch at offset o (`LogReader.fetch`): (1) in parallel with
// the head read, the extents covering o and after it — segment extents (flushed) and commit
// extents (not yet flushed) — from the metadata store; (2) range reads of their bytes (none
// for inline extents), retried against a fresh head when a flush or retention moved them;
// (3) a result that says what was read: the head's offsets, the batches as stored, the
// decoded records on demand and the offset to continue from (the HTTP layer only formats it).
// Inside a large segment extent the start is found through the segment's .index. Bytes are
// CRC-checked on every read and base offsets patched where the write-ahead bytes were written
// before their offsets were known. A streamed binary fetch (`planFetch`, `streamPlan`) walks the
// same chain but plans instead of reading: its headers are known before its bytes, which are
// then read a bounded chunk at a time as the response goes out.
import { isObjectNotFound, SamsaError } from '../errors';
import { BATCH_HEADER_SIZE, batchFrames, batchSizeAt, crc32c, type DecodedRecord, decodeRecordBatch, readBatchHeader, setBaseOffset, wholeBatchBytes } from '../records';
import type { MetaStore, ObjectStore, QueryPage } from '../storage/ports';
import { COMMIT_ITEM_END, commitItemSk, EXTENT_END, extentSk, headKey, partitionPk, SEG_EXTENT_END, SEG_EXTENT_PREFIX, segExtentSk, SEGMENT_PREFIX } from './keys';
import { itemLogEnd, lastCommitItem, queryCoveringItem } from './commit-items';
import { commitItemFromItem, extentsFromItem, headFromItem, segmentFromItem } from './items';
import { type Extent, type Head, liveTails, type Segment } from './model';
import type { LogStartsSeen } from './log-starts';
import { lookupOffset, lookupTimestamp, positionBefore } from './segment-index';
import { segmentPieces } from './segment-pieces';
import { concatBytes } from '../util/bytes';
import { deletedTopicError } from './tombstones';
import type { Topic } from './topics';

/** A run of whole batches with their offsets patched, as stored. */
export interface BatchRun {
  bytes: Uint8Array;
  /** First batch's base offset and the last batch's last offset. */
  base: number;
  last: number;
}

export interface BatchInfo {
  start: number;
  end: number;
  base: number;
  last: number;
  maxTs: number;
  count: number;
}

export interface FetchOptions {
  offset?: number;
  maxRecords?: number;
  maxBytes?: number;
  /** Stop decoding records once they hold this many bytes (default maxBytes); at least one is returned. */
  maxDecodedBytes?: number;
  waitMs?: number;
  signal?: AbortSignal;
  /**
   * The topic incarnation the caller resolved (a group poll reads every partition of one
   * incarnation). Without it the name is resolved now. A deleted incarnation's heads are
   * tombstones: reading one answers UNKNOWN_TOPIC_OR_PARTITION, never another log's records.
   */
  topic?: Topic;
}

export interface FetchResult {
  highWatermark: number;
  logStartOffset: number;
  /** Where a reader of `records()` continues: after the last record it holds, else after the runs. */
  nextOffset: number;
  /** Where a reader of the raw `runs` continues: after their last batch (at most the high watermark). */
  nextBatchOffset: number;
  /** Whole batches as stored (the first may start before the requested offset). */
  runs: BatchRun[];
  /** Decoded records ≥ offset, < high watermark, at most maxRecords (for JSON responses). */
  records(): DecodedRecord[];
}

/**
 * One run of a planned (streamed) fetch: whole batches at a known place. `bytes`: an inline
 * extent's, in memory already (patched and verified). `object`: [start, end) of an object,
 * whose batches are base..last once their offsets are shifted by `shift` (write-ahead bytes).
 */
export type PlannedPiece =
  | { kind: 'bytes'; bytes: Uint8Array; base: number; last: number }
  | { kind: 'object'; obj: string; wal: boolean; start: number; end: number; shift: number; base: number; last: number };

/** A binary fetch decided before its bytes are read: everything its headers say, and where the body lies. */
export interface FetchPlan {
  topic: Topic;
  partition: number;
  highWatermark: number;
  logStartOffset: number;
  /** After the last planned batch (at most the high watermark). */
  nextBatchOffset: number;
  pieces: PlannedPiece[];
  /** Body size. */
  bytes: number;
}

const pieceBytes = (p: PlannedPiece): number => (p.kind === 'bytes' ? p.bytes.length : p.end - p.start);

/** A batch's place in an object and its offsets as stored. */
interface Frame {
  start: number;
  end: number;
  base: number;
  last: number;
}

/** Bytes a streamed fetch reads from an object at a time (a batch larger than this is read whole). */
export const STREAM_CHUNK = 1024 * 1024;
/** Bytes read at a time while walking batch headers to plan a streamed fetch. */
const WALK_WINDOW = 64 * 1024;

/** How a fetch at the high watermark waits for new data (the engine's long poll); the newer head. */
export type WaitForData = (head: Head) => Promise<Head>;

/** How many times a fetch re-reads the head and its extents after a flush or retention moved them. */
const FETCH_RETRIES = 5;

/** Segment extents covering and after an offset, then the commit pages from it on. */
export type ExtentPages = [QueryPage, QueryPage, QueryPage];
/** What the read path needs of the partition head. */
export type ReadHead = Pick<Head, 'nextOffset' | 'flushed' | 'tails'>;
const SEEK_THRESHOLD = 64 * 1024; // below this, reading a whole extent beats an index lookup
const CHAIN_RETRIES = 5;
/** Partitions whose highest seen `flushed` a reader remembers (LogReader.flushedSeen). */
const FLUSHED_SEEN_MAX = 100_000;

/**
 * Default bytes of `.index` objects kept in memory per process. A 1 GiB segment's index is
 * about 2 MiB (one 8-byte entry per 4 KiB), so this holds the indexes of the ~16 segments
 * being read most recently; a count bound alone let 257 of them pin ~512 MiB.
 */
export const DEFAULT_INDEX_CACHE_BYTES = 32 * 1024 * 1024;

export interface ReaderOptions {
  /** Bound on the bytes of cached segment indexes (least recently used go first). */
  indexCacheBytes?: number;
  /** Where the log starts of the heads read are noted (a Produce answer carries them). */
  logStarts?: LogStartsSeen;
}

export class LogReader {
  /** Least recently used first (a Map iterates in insertion order; a hit re-inserts). */
  private indexCache = new Map<string, { bytes: Uint8Array; at: number }>();
  private indexCacheSize = 0;
  private readonly indexCacheMax: number;
  /**
   * Per partition incarnation (topic id), the highest `flushed` a head read here showed. It
   * only grows, and everything below it is in segment extents (or below the log start, which
   * the head read alongside catches), so a read below it needs no commit-page queries.
   */
  private flushedSeen = new Map<string, number>();
  private readonly logStarts: LogStartsSeen | undefined;

  constructor(
    private readonly meta: MetaStore,
    private readonly objects: ObjectStore,
    opts: ReaderOptions = {},
  ) {
    this.indexCacheMax = opts.indexCacheBytes ?? DEFAULT_INDEX_CACHE_BYTES;
    this.logStarts = opts.logStarts;
  }

  /** Bytes of segment indexes held right now (always ≤ the configured bound). */
  get indexCacheBytes(): number {
    return this.indexCacheSize;
  }

  private cacheIndex(key: string, entry: { bytes: Uint8Array; at: number }): void {
    this.dropIndex(key);
    // An index larger than the whole budget is used once and not kept.
    if (entry.bytes.length > this.indexCacheMax) return;
    while (this.indexCacheSize + entry.bytes.length > this.indexCacheMax) this.dropIndex(this.indexCache.keys().next().value!);
    this.indexCache.set(key, entry);
    this.indexCacheSize += entry.bytes.length;
  }

  private dropIndex(key: string): void {
    const old = this.indexCache.get(key);
    if (!old) return;
    this.indexCache.delete(key);
    this.indexCacheSize -= old.bytes.length;
  }

  /**
   * The partition head as stored now. In items mode (commit-items.ts) commits leave the head
   * alone: its high watermark is the end of the last commit item, read (strongly consistent)
   * alongside it — or the flushed offset / log start when no item is left.
   */
  async head(topic: Topic, partition: number): Promise<Head> {
    if (topic.commit !== 'items') {
      const head = headFromItem(await this.meta.get(headKey(topic.id, partition)));
      this.sawFlushed(topic, partition, head.flushed);
      this.logStarts?.saw(topic.id, partition, head.logStart);
      return head;
    }
    const [item, last] = await Promise.all([this.meta.get(headKey(topic.id, partition)), lastCommitItem(this.meta, topic, partition)]);
    const head = headFromItem(item);
    this.sawFlushed(topic, partition, head.flushed);
    this.logStarts?.saw(topic.id, partition, head.logStart);
    return { ...head, nextOffset: itemLogEnd(head, last) };
  }

  /**
   * The partition's log start, from its head item alone (noted where Produce answers read it,
   * log-starts.ts): no query of an items-mode log's end, which `head` adds for the high watermark.
   */
  async logStart(topic: Topic, partition: number): Promise<number> {
    const head = headFromItem(await this.meta.get(headKey(topic.id, partition)));
    this.sawFlushed(topic, partition, head.flushed);
    this.logStarts?.saw(topic.id, partition, head.logStart);
    return head.logStart;
  }

  private sawFlushed(topic: Topic, partition: number, flushed: number): void {
    const key = `${topic.id}/${partition}`;
    if ((this.flushedSeen.get(key) ?? 0) >= flushed) return;
    // A bound, not a cache policy: a process reading more partitions than this forgets them
    // all at once and learns them again from its next head reads.
    if (this.flushedSeen.size >= FLUSHED_SEEN_MAX) this.flushedSeen.clear();
    this.flushedSeen.set(key, flushed);
  }

  /** The head, refusing a deleted incarnation's tombstone (a caller holding a stale topic). */
  async liveHead(topic: Topic, partition: number): Promise<Head> {
    const head = await this.head(topic, partition);
    if (head.deleted) throw deletedTopicError(topic, partition);
    return head;
  }

  /**
   * Kafka Fetch of one partition: records from `opts.offset` (default: the log start), at most
   * about `maxBytes` of whole batches and `maxRecords` decoded records, below the high
   * watermark. At the high watermark with `waitMs`, waits through `wait` first. The head and
   * the extent queries are not one snapshot: a write-ahead object a flush deleted, or extents
   * a flush or retention moved, send the read round again from a fresh head (the one retry
   * loop of the read path); an offset that fell below the log start meanwhile is out of range.
   */
  async fetch(topic: Topic, partition: number, opts: FetchOptions = {}, wait?: WaitForData): Promise<FetchResult> {
    const { head, offset, got } = await this.fetchRound(topic, partition, opts, wait, (offset, head, maxBytes, prefetched) =>
      this.read(topic, partition, offset, head, maxBytes, prefetched),
    );
    if (!got) return emptyFetchResult(head, offset);
    return readResult(head, offset, got, opts.maxRecords ?? 500, opts.maxDecodedBytes ?? opts.maxBytes ?? 1024 * 1024);
  }

  /**
   * A binary fetch that streams: the same batches `fetch` would return (byte for byte), but
   * planned instead of read — where each run lies (object byte ranges ending on batch
   * boundaries, found through the segment `.index` and short header walks; inline extents as
   * they are) — so the response headers, the next offset included, are known before any batch
   * is read. `streamPlan` then reads the pieces a bounded chunk at a time. `limitBytes` is a
   * hard bound on the whole (a response that cannot carry more): the plan keeps whole batches
   * within it, and always the first.
   */
  async planFetch(topic: Topic, partition: number, opts: FetchOptions & { limitBytes?: number } = {}, wait?: WaitForData): Promise<FetchPlan> {
    // The cut to `limitBytes` reads batch headers from the planned objects: inside the round,
    // so that an object a flush or retention deleted meanwhile sends it round again.
    const { head, offset, got } = await this.fetchRound(topic, partition, opts, wait, async (offset, head, maxBytes, prefetched) => {
      const planned = await this.planRead(topic, partition, offset, head, maxBytes, prefetched);
      return planned && opts.limitBytes !== undefined ? this.withinBytes(topic, partition, planned, opts.limitBytes) : planned;
    });
    const pieces = got ?? [];
    const bytes = pieces.reduce((a, p) => a + pieceBytes(p), 0);
    const nextBatchOffset = pieces.length > 0 ? Math.min(pieces[pieces.length - 1]!.last + 1, head.nextOffset) : offset;
    return { topic, partition, highWatermark: head.nextOffset, logStartOffset: head.logStart, nextBatchOffset, pieces, bytes };
  }

  /**
   * What `fetch` and `planFetch` share: the head (read alongside the extent lookups), the range
   * check, the long poll, and the one retry loop of the read path. The head and the extent
   * queries are not one snapshot: a write-ahead object a flush deleted, or extents a flush or
   * retention moved, send the read round again from a fresh head; an offset that fell below
   * the log start meanwhile is out of range. `got` is undefined at the high watermark.
   */
  private async fetchRound<T>(
    topic: Topic,
    partition: number,
    opts: FetchOptions,
    wait: WaitForData | undefined,
    readOnce: (offset: number, head: Head, maxBytes: number, prefetched?: Promise<ExtentPages>) => Promise<T | undefined>,
  ): Promise<{ head: Head; offset: number; got: T | undefined }> {
    // At a known offset, the head and the extent lookups go out together: one metadata round
    // trip before the object reads.
    const prefetched = opts.offset !== undefined ? this.queryExtents(topic, partition, opts.offset, 16, false, this.flushedSeen.get(`${topic.id}/${partition}`)) : undefined;
    prefetched?.catch(() => undefined); // consumed (or dropped) below; never an unhandled rejection
    let head = await this.liveHead(topic, partition);
    const offset = opts.offset ?? head.logStart;
    const maxBytes = opts.maxBytes ?? 1024 * 1024;
    const outOfRange = (h: Head): SamsaError =>
      new SamsaError('OFFSET_OUT_OF_RANGE', `offset ${offset} is outside ${topic.name}/${partition}'s log [${h.logStart}, ${h.nextOffset}]`, {
        log_start_offset: h.logStart,
        high_watermark: h.nextOffset,
      });
    if (offset < head.logStart || offset > head.nextOffset) throw outOfRange(head);

    let firstLookup = prefetched;
    if (offset === head.nextOffset && (opts.waitMs ?? 0) > 0 && wait) {
      head = await wait(head);
      firstLookup = undefined; // taken before the new data arrived
    }
    if (offset >= head.nextOffset) return { head, offset, got: undefined };

    for (let attempt = 0; ; attempt++) {
      let got: T | undefined;
      try {
        got = await readOnce(offset, head, maxBytes, attempt === 0 ? firstLookup : undefined);
      } catch (err) {
        // A write-ahead object deleted by a flush we raced: the extents moved, look again.
        // Or a segment retention deleted: the log start moved past the offset first.
        if (isObjectNotFound(err) && attempt < FETCH_RETRIES) {
          head = await this.liveHead(topic, partition);
          if (offset < head.logStart) throw outOfRange(head);
          continue;
        }
        throw err;
      }
      if (got === undefined) {
        head = await this.liveHead(topic, partition);
        if (offset < head.logStart) throw outOfRange(head);
        if (attempt < FETCH_RETRIES) continue;
        throw new SamsaError('UNKNOWN_SERVER_ERROR', `no data found for ${topic.name}/${partition} at offset ${offset} below the high watermark ${head.nextOffset}`);
      }
      return { head, offset, got };
    }
  }

  /**
   * The extents from the one covering `offset` onwards, contiguous, below the high watermark.
   * At each position a segment extent wins (flush writes them before anything else changes),
   * else a commit extent — from a page or the head's tails — at or above the head's `flushed`
   * (below it they are garbage). The head and the queries are not one snapshot: a chain broken
   * by a flush or a commit in between is re-read a few times; it can only stay broken when
   * `offset` fell below the log start meanwhile (the caller checks).
   *
   * `withoutBinary`: the commit pages are read without their bytes (QueryOptions.withoutBinary),
   * so inline extents from them come without `data` (the flush takes them from memory).
   */
  async extentsFrom(topic: Topic, partition: number, offset: number, head: ReadHead, limit = 16, prefetched?: Promise<ExtentPages>, withoutBinary = false): Promise<Extent[] | undefined> {
    const hw = head.nextOffset;
    for (let attempt = 0; attempt < CHAIN_RETRIES; attempt++) {
      const pages = attempt === 0 && prefetched ? await prefetched : await this.queryExtents(topic, partition, offset, limit, withoutBinary, head.flushed);
      const segs = [...pages[0].items, ...pages[1].items].flatMap(extentsFromItem);
      const commits = topic.commit === 'items' ? unflushedItems(pages[2], head.flushed) : [...pages[2].items.flatMap(extentsFromItem).filter((e) => e.base >= head.flushed), ...liveTails(head)];
      const at = (pos: number): Extent | undefined =>
        segs.find((e) => e.base <= pos && pos <= e.last) ?? commits.find((e) => e.base <= pos && pos <= e.last);
      const chain: Extent[] = [];
      let pos = offset;
      for (let e = at(pos); e && pos < hw && chain.length < limit; e = at(pos)) {
        chain.push(e);
        pos = e.last + 1;
      }
      if (chain.length > 0) return chain;
      await new Promise((r) => setTimeout(r, 5 * (attempt + 1)));
    }
    return undefined;
  }

  /**
   * The extent queries for `offset` — the segment extent covering it and those after, and the
   * commit pages from the one that can cover it on — which depend on nothing but the offset,
   * so a fetch can run them alongside its head read (one metadata round trip, then the object
   * reads).
   *
   * `flushed`: a `flushed` the partition's head showed. Below it the chain is segment extents
   * (a catching-up consumer's whole read), so the commit pages — below `flushed` only
   * garbage, and in items mode kept until their TTL — are not queried: two or three queries
   * fewer per fetch. The chain then ends at `flushed`, and the walk's next page queries them.
   */
  queryExtents(topic: Topic, partition: number, offset: number, limit = 16, withoutBinary = false, flushed = 0): Promise<ExtentPages> {
    const pk = partitionPk(topic.id, partition);
    return Promise.all([
      this.meta.query({ pk, gte: SEG_EXTENT_PREFIX, lte: segExtentSk(offset), reverse: true, limit: 1 }),
      this.meta.query({ pk, gt: segExtentSk(offset), lt: SEG_EXTENT_END, limit }),
      offset < flushed ? { items: [] } : this.queryCommitPages(topic, partition, offset, limit, withoutBinary),
    ]);
  }

  /** The commit pages from the one that can cover `offset` on (queryExtents). */
  private queryCommitPages(topic: Topic, partition: number, offset: number, limit: number, withoutBinary: boolean): Promise<QueryPage> {
    const pk = partitionPk(topic.id, partition);
    const binary = withoutBinary ? { withoutBinary } : {};
    if (topic.commit !== 'items') return this.meta.query({ pk, gte: extentSk(offset), lt: EXTENT_END, limit, ...binary });
    // Commit items are keyed by their base: the one covering `offset` is the last at or below
    // it, then those after it.
    return Promise.all([
      queryCoveringItem(this.meta, topic.id, partition, offset, binary),
      this.meta.query({ pk, gt: commitItemSk(offset), lt: COMMIT_ITEM_END, limit, ...binary }),
    ]).then(([covering, after]): QueryPage => ({ items: [...covering.items, ...after.items] }));
  }

  /**
   * Whole batches from the one containing `offset`, at most about `maxBytes` (but always at
   * least one batch, as Kafka does), stopping before `hw`. Undefined when the extents do not
   * chain from `offset` (moved since `head` was read: `fetch` retries).
   */
  private read(topic: Topic, partition: number, offset: number, head: ReadHead, maxBytes: number, prefetched?: Promise<ExtentPages>): Promise<BatchRun[] | undefined> {
    return this.walkChain(topic, partition, offset, head, maxBytes, prefetched, (e, from, budget) => this.extentBytes(topic, partition, e, from, budget), (r) => r.bytes.length);
  }

  /**
   * `read`, planned: the same walk over the extent chain with the same budget, but each run is
   * a piece (where its batches lie) instead of bytes. Undefined as `read` is.
   */
  private planRead(topic: Topic, partition: number, offset: number, head: ReadHead, maxBytes: number, prefetched?: Promise<ExtentPages>): Promise<PlannedPiece[] | undefined> {
    return this.walkChain(topic, partition, offset, head, maxBytes, prefetched, (e, from, budget) => this.planExtent(topic, partition, e, from, budget), pieceBytes);
  }

  /**
   * The walk `read` and `planRead` share: extent by extent from `offset`, one run each (`take`:
   * its bytes, or where they lie), until the budget or the high watermark is reached.
   */
  private async walkChain<R extends { last: number }>(
    topic: Topic,
    partition: number,
    offset: number,
    head: ReadHead,
    maxBytes: number,
    prefetched: Promise<ExtentPages> | undefined,
    take: (e: Extent, from: number, budget: number) => Promise<R | undefined>,
    size: (run: R) => number,
  ): Promise<R[] | undefined> {
    const hw = head.nextOffset;
    const runs: R[] = [];
    let budget = maxBytes;
    let from = offset;
    // Pages of the extent chain until the budget or the high watermark is reached.
    while (from < hw && (budget > 0 || runs.length === 0)) {
      const chain = await this.extentsFrom(topic, partition, from, head, 16, from === offset ? prefetched : undefined);
      if (!chain) return runs.length > 0 ? runs : undefined;
      for (const e of chain) {
        const run = await take(e, from, runs.length === 0 ? Math.max(budget, 1) : budget);
        if (!run) return runs;
        runs.push(run);
        budget -= size(run);
        from = run.last + 1;
        // A run cut short by the budget ends the read: the next extent starts after this one's
        // end, so going on would skip the batches the budget left out.
        if (budget <= 0 || from >= hw || run.last < e.last) return runs;
      }
    }
    return runs;
  }

  /**
   * `extentBytes`, planned: the same batches, found from batch headers instead of read. An
   * inline extent is in memory already (its piece is its bytes). For an object, the walk
   * replays `extentBytes`' windows — [s, s + budget) from the `.index` seek position, a window
   * holding no whole batch taking its first batch whole, batches ending before `from` skipped
   * — reading only headers: the first kept batch is found by walking from the seek position
   * (at most an index interval away), the last by jumping through the `.index` close to the
   * window's end. An extent taken whole from its start needs no read at all.
   */
  private async planExtent(topic: Topic, partition: number, e: Extent, from: number, budget: number): Promise<PlannedPiece | undefined> {
    if (e.kind === 'inline') {
      const run = await this.extentBytes(topic, partition, e, from, budget);
      return run && { kind: 'bytes', bytes: run.bytes, base: run.base, last: run.last };
    }
    const end = e.pos + e.len;
    const shift = e.base - e.wb;
    const piece = (start: number, stop: number, base: number, last: number): PlannedPiece => ({ kind: 'object', obj: e.obj!, wal: e.kind === 'wal', start, end: stop, shift, base, last });
    if (from <= e.base && e.len <= budget) return piece(e.pos, end, e.base, e.last);
    let start = e.pos;
    if (e.kind === 'seg' && from > e.base && e.len > SEEK_THRESHOLD && e.seg !== undefined) {
      const pos = await this.seek(topic, e.obj!, e.seg, e.wb, e.base, from, start);
      if (pos > start && pos < end) start = pos;
    }
    if (budget <= 0) return undefined;
    let s = start; // the window's start, as extentBytes would have moved it
    for await (const f of this.frames(topic, partition, e, start)) {
      if (f.end > Math.min(end, s + budget)) {
        // The window [s, s + budget) ends before this batch: the next window starts at it.
        s = f.start;
        if (f.end > Math.min(end, s + budget)) {
          // Alone larger than the window: taken whole (Kafka's rule), or skipped whole.
          if (f.last + shift >= from) return piece(f.start, f.end, f.base + shift, f.last + shift);
          s = f.end;
          continue;
        }
      }
      if (f.last + shift < from) continue;
      // The first batch kept; the run goes on to the last whole batch inside the window.
      const limit = Math.min(end, s + budget);
      if (limit === end) return piece(f.start, end, f.base + shift, e.last);
      const tail = await this.lastBatchWithin(topic, partition, e, f, limit);
      return piece(f.start, tail.end, f.base + shift, tail.last + shift);
    }
    return undefined;
  }

  /**
   * The last whole batch of `e` ending at or before `limit`, from batch `first` (which does):
   * through the `.index`, the walk starts at the entry before the last one at or before
   * `limit` (so at least one whole batch lies between it and `limit`), else at `first`.
   */
  private async lastBatchWithin(topic: Topic, partition: number, e: Extent, first: Frame, limit: number): Promise<Frame> {
    let walkFrom = first.start;
    if (e.kind === 'seg' && e.seg !== undefined && limit - first.start > SEEK_THRESHOLD) {
      const index = await this.indexOf(topic, e.obj!);
      const jump = index && positionBefore(index.bytes, limit);
      if (jump !== undefined && jump > walkFrom) walkFrom = jump;
    }
    let last: Frame | undefined = walkFrom === first.start ? first : undefined;
    for await (const f of this.frames(topic, partition, e, walkFrom)) {
      if (f.end > limit) break;
      last = f;
    }
    // An index entry that is not a batch start of this extent (it cannot be, but the bytes
    // decide): walk from the first batch instead.
    if (!last) {
      last = first;
      for await (const f of this.frames(topic, partition, e, first.start)) {
        if (f.end > limit) break;
        last = f;
      }
    }
    return last;
  }

  /**
   * The batch headers of an object extent from `pos` (a batch start) on, read in windows of
   * WALK_WINDOW bytes (a batch larger than a window costs one small read of its header).
   */
  private async *frames(topic: Topic, partition: number, e: Extent, pos: number): AsyncGenerator<Frame> {
    const end = e.pos + e.len;
    while (pos < end) {
      const buf = await this.objects.get(e.obj!, { start: pos, end: Math.min(end, pos + WALK_WINDOW) });
      let next = pos;
      for (const f of batchFrames(buf, { headersOnly: true })) {
        if (pos + f.end > end) throw corrupt(topic, partition, f.baseOffset, 'batch runs past the end of its extent');
        yield { start: pos + f.start, end: pos + f.end, base: f.baseOffset, last: f.lastOffset };
        next = pos + f.end;
      }
      if (next === pos) throw corrupt(topic, partition, e.base, buf.length < BATCH_HEADER_SIZE ? 'truncated batch header' : 'negative batch length');
      pos = next;
    }
  }

  /**
   * `withinBytes` of the HTTP route, for a plan: whole batches within `limit` bytes in all,
   * always the first. A piece that crosses the limit is cut at its last batch inside it.
   */
  private async withinBytes(topic: Topic, partition: number, pieces: PlannedPiece[], limit: number): Promise<PlannedPiece[]> {
    const out: PlannedPiece[] = [];
    let total = 0;
    for (const p of pieces) {
      const size = pieceBytes(p);
      if (total + size <= limit) {
        out.push(p);
        total += size;
        continue;
      }
      const room = limit - total;
      if (p.kind === 'bytes') {
        const frames = [...batchFrames(p.bytes)];
        let n = 0;
        while (n < frames.length && (frames[n]!.end <= room || (n === 0 && out.length === 0))) n++;
        if (n > 0) out.push({ kind: 'bytes', bytes: p.bytes.subarray(0, frames[n - 1]!.end), base: p.base, last: frames[n - 1]!.lastOffset });
      } else {
        const e: Extent = { sk: '', kind: p.wal ? 'wal' : 'seg', obj: p.obj, pos: p.start, len: p.end - p.start, base: p.base, last: p.last, wb: p.base - p.shift, maxTs: 0 };
        const [first] = await this.frames(topic, partition, e, p.start).next().then((r) => (r.done ? [] : [r.value]));
        if (first && (first.end - p.start <= room || out.length === 0)) {
          const tail = first.end - p.start <= room ? await this.lastBatchWithin(topic, partition, e, first, p.start + room) : first;
          out.push({ ...p, end: tail.end, last: tail.last + p.shift });
        }
      }
      break;
    }
    return out;
  }

  /**
   * The bytes of a plan, in order, at most about `chunkBytes` at a time (plus one batch when a
   * single batch is larger): each chunk is whole batches, CRC-checked and offsets patched as
   * `fetch` does, and checked against the plan (the first and last offsets it promised). An
   * object that vanished under a piece — a write-ahead object a flush moved into a segment —
   * is read on through the extents as they are now, up to the same last offset; one below the
   * log start (retention), or any other failure, throws: the caller has sent its headers and
   * must abort the response, not end it as if complete.
   */
  async *streamPlan(plan: FetchPlan, chunkBytes = STREAM_CHUNK): AsyncGenerator<Uint8Array> {
    const { topic, partition } = plan;
    for (const p of plan.pieces) {
      if (p.kind === 'bytes') {
        yield p.bytes;
        continue;
      }
      let expect = p.base; // offset of the next batch this piece must deliver
      let pos = p.start;
      let carry: Uint8Array | undefined; // a partial batch from the previous window
      let firstBatch = true;
      while (pos < p.end) {
        let buf: Uint8Array;
        try {
          buf = await this.objects.get(p.obj, { start: pos, end: Math.min(p.end, pos + chunkBytes) });
        } catch (err) {
          if (!isObjectNotFound(err)) throw err;
          // `expect` is a batch boundary: the batches from it on, wherever they are now.
          yield* this.streamRange(topic, partition, expect, p.last, chunkBytes);
          expect = p.last + 1;
          break;
        }
        pos += buf.length;
        if (buf.length === 0) throw corrupt(topic, partition, expect, `object ${p.obj} ends before its extent`);
        if (carry) buf = concatBytes([carry, buf]);
        carry = undefined;
        let complete = wholeBatchBytes(buf);
        if (complete === 0) {
          // One batch larger than the window: read the rest of it.
          const size = batchSizeAt(buf);
          if (size === undefined) {
            if (buf.length < 12 && pos < p.end) {
              carry = buf;
              continue;
            }
            throw corrupt(topic, partition, expect, 'negative batch length');
          }
          if (pos - buf.length + size > p.end) throw corrupt(topic, partition, expect, 'batch runs past the end of its extent');
          const rest = await this.objects.get(p.obj, { start: pos, end: pos - buf.length + size });
          pos += rest.length;
          buf = concatBytes([buf, rest]);
          complete = size;
        }
        if (complete < buf.length) carry = buf.slice(complete);
        const out = p.shift !== 0 ? new Uint8Array(buf.subarray(0, complete)) : buf.subarray(0, complete);
        const batches = verifiedBatches(out, topic, partition);
        for (const b of batches) {
          // The piece starts at its planned batch, and offsets only go up from there.
          const base = b.base + p.shift;
          if (firstBatch ? base !== p.base : base < expect) {
            throw corrupt(topic, partition, expect, `batch at ${base} where the plan expected ${expect}`);
          }
          if (p.shift !== 0) setBaseOffset(out, b.start, base);
          expect = b.last + p.shift + 1;
          firstBatch = false;
        }
        yield out;
      }
      if (carry) throw corrupt(topic, partition, expect, 'truncated batch');
      if (expect !== p.last + 1) throw corrupt(topic, partition, expect, `piece ended at ${expect - 1}, planned to end at ${p.last}`);
    }
  }

  /**
   * Batches [from, last] read afresh through the extents (a bounded `read` at a time): what a
   * stream falls back on when the object it planned to read is gone. Offsets below the log
   * start now are gone for good: OFFSET_OUT_OF_RANGE.
   */
  private async *streamRange(topic: Topic, partition: number, from: number, last: number, chunkBytes: number): AsyncGenerator<Uint8Array> {
    let next = from;
    for (let attempt = 0; next <= last; ) {
      const head = await this.liveHead(topic, partition);
      if (next < head.logStart) {
        throw new SamsaError('OFFSET_OUT_OF_RANGE', `offset ${next} of ${topic.name}/${partition} was deleted while it was being sent (log start ${head.logStart})`);
      }
      let runs: BatchRun[] | undefined;
      try {
        runs = await this.read(topic, partition, next, head, chunkBytes);
      } catch (err) {
        if (isObjectNotFound(err) && attempt++ < FETCH_RETRIES) continue;
        throw err;
      }
      if (!runs || runs.length === 0) {
        if (attempt++ < FETCH_RETRIES) continue;
        throw new SamsaError('UNKNOWN_SERVER_ERROR', `no data found for ${topic.name}/${partition} at offset ${next} while streaming`);
      }
      for (const run of runs) {
        // Keep whole batches from `next` to `last`: the same boundaries as planned.
        let keepFrom = -1;
        let keepTo = 0;
        for (const f of batchFrames(run.bytes)) {
          if (f.baseOffset < next) continue;
          if (f.lastOffset > last) break;
          if (keepFrom < 0) {
            if (f.baseOffset !== next) throw corrupt(topic, partition, next, `batch at ${f.baseOffset} where ${next} was expected`);
            keepFrom = f.start;
          }
          keepTo = f.end;
          next = f.lastOffset + 1;
        }
        if (keepFrom >= 0) yield run.bytes.subarray(keepFrom, keepTo);
        if (next > last) return;
      }
    }
  }

  /**
   * The `.index` of a segment `.log` of `topic`: the cached one (marked most recently used)
   * unless `reload`, else read and cached; undefined when it cannot be read. Cached per topic
   * incarnation: a topic created before design note 0012 keys its objects by name alone, and a
   * topic deleted and created again under it wrote other bytes, with other positions, under
   * the same keys (a process may have cached the old ones).
   */
  private async indexOf(topic: Topic, logKey: string, reload = false): Promise<{ bytes: Uint8Array; at: number } | undefined> {
    const indexKey = logKey.replace(/\.log$/, '.index');
    const cacheKey = `${topic.id}/${indexKey}`;
    const cached = this.indexCache.get(cacheKey);
    if (cached && !reload) {
      this.indexCache.delete(cacheKey);
      this.indexCache.set(cacheKey, cached);
      return cached;
    }
    try {
      const entry = { bytes: await this.objects.get(indexKey), at: Date.now() };
      this.cacheIndex(cacheKey, entry);
      return entry;
    } catch {
      return undefined;
    }
  }

  /** Complete batches of one extent starting at the batch holding `from`, within `budget`. */
  private async extentBytes(topic: Topic, partition: number, e: Extent, from: number, budget: number): Promise<BatchRun | undefined> {
    let start = e.pos;
    const end = e.pos + e.len;
    if (e.kind === 'seg' && from > e.base && e.len > SEEK_THRESHOLD && e.seg !== undefined && e.obj) {
      const pos = await this.seek(topic, e.obj, e.seg, e.wb, e.base, from, start);
      if (pos > start && pos < end) start = pos;
    }
    const shift = e.base - e.wb;
    // Batches before the one holding `from` are skipped and do not count against the budget:
    // a read that covers only them moves on past them (else a small max_bytes would return
    // batches that end before `from`, and the consumer would never advance).
    for (;;) {
      let buf: Uint8Array;
      if (e.kind === 'inline') {
        buf = e.data!.subarray(start - e.pos, Math.min(end, start + budget) - e.pos);
      } else {
        buf = await this.objects.get(e.obj!, { start, end: Math.min(end, start + budget) });
      }
      let complete = wholeBatchBytes(buf);
      if (complete === 0) {
        if (budget <= 0 && buf.length === 0) return undefined;
        // The first batch alone is larger than the budget: return it whole anyway. The bytes
        // read so far are its head (its size among them, unless the budget was tiny): only the
        // rest is read.
        const header = e.kind === 'inline' || buf.length >= BATCH_HEADER_SIZE ? (e.kind === 'inline' ? e.data!.subarray(start - e.pos) : buf) : await this.objects.get(e.obj!, { start, end: Math.min(end, start + BATCH_HEADER_SIZE) });
        const size = batchSizeAt(header);
        if (size === undefined) throw corrupt(topic, partition, from, header.length < 12 ? 'truncated batch header' : 'negative batch length');
        if (start + size > end) throw corrupt(topic, partition, from, 'batch runs past the end of its extent');
        if (e.kind === 'inline') buf = e.data!.subarray(start - e.pos, start - e.pos + size);
        else if (buf.length > 0 && buf.length < size) buf = concatBytes([buf, await this.objects.get(e.obj!, { start: start + buf.length, end: start + size })]);
        else buf = await this.objects.get(e.obj!, { start, end: start + size });
        complete = size;
      }
      // Patch before verifying: base offsets sit outside the CRC, the copy is ours to change.
      buf = e.kind === 'inline' || e.wb !== e.base ? new Uint8Array(buf.subarray(0, complete)) : buf.subarray(0, complete);
      const batches = verifiedBatches(buf, topic, partition);
      if (batches.length === 0) return undefined;
      if (shift !== 0) for (const b of batches) setBaseOffset(buf, b.start, b.base + shift);
      // Skip whole batches that end before `from` (a read that started at the extent's head).
      let firstKept = 0;
      while (firstKept < batches.length && batches[firstKept]!.last + shift < from) firstKept++;
      if (firstKept === batches.length) {
        start += complete;
        if (start >= end) return undefined;
        continue;
      }
      const startByte = batches[firstKept]!.start;
      return {
        bytes: buf.subarray(startByte),
        base: batches[firstKept]!.base + shift,
        last: batches[batches.length - 1]!.last + shift,
      };
    }
  }

  /** A whole extent's bytes with offsets patched, and its batches (offsets as patched). */
  async readExtent(topic: Topic, partition: number, e: Extent, stored?: Uint8Array): Promise<{ bytes: Uint8Array; batches: BatchInfo[] }> {
    // `stored`: the object's range, already read by the caller (the flush reads ahead).
    const bytes = e.kind === 'inline' ? new Uint8Array(e.data!) : (stored ?? (await this.objects.get(e.obj!, { start: e.pos, end: e.pos + e.len })));
    if (bytes.length !== e.len) throw corrupt(topic, partition, e.base, `extent holds ${bytes.length} bytes, expected ${e.len}`);
    const batches = verifiedBatches(bytes, topic, partition);
    const shift = e.base - e.wb;
    for (const b of batches) {
      if (shift !== 0) setBaseOffset(bytes, b.start, b.base + shift);
      b.base += shift;
      b.last += shift;
    }
    if (batches.length === 0 || batches[0]!.base !== e.base || batches[batches.length - 1]!.last !== e.last) {
      throw corrupt(topic, partition, e.base, 'extent offsets do not match its batches');
    }
    return { bytes, batches };
  }

  /** Position in the segment's .log of the last index entry at or before `from`. */
  private async seek(topic: Topic, logKey: string, segBase: number, wb: number, base: number, from: number, extentPos: number): Promise<number> {
    // Index entries hold offsets as written (wb-relative within segments they always equal base).
    const rel = from - (base - wb) - segBase;
    let index = await this.indexOf(topic, logKey);
    let hit = index ? lookupOffset(index.bytes, rel) : undefined;
    // A cached index that does not reach this extent yet may be older than the segment's last
    // flush: read it again, at most once a second.
    if (index && (!hit || hit.position < extentPos) && Date.now() - index.at >= 1000) {
      index = await this.indexOf(topic, logKey, true);
      hit = index ? lookupOffset(index.bytes, rel) : undefined;
    }
    return hit?.position ?? extentPos; // no index: read the extent from its start
  }

  /** Every segment catalog entry of the partition, in offset order. */
  async segments(topic: Topic, partition: number): Promise<Segment[]> {
    const pk = partitionPk(topic.id, partition);
    const out: Segment[] = [];
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk, beginsWith: SEGMENT_PREFIX, startAfter, limit: 500 });
      for (const item of page.items) out.push(segmentFromItem(item));
      startAfter = page.next;
    } while (startAfter);
    return out;
  }

  /**
   * Kafka's ListOffsets by timestamp: the first offset whose record timestamp is ≥ ts. Finds
   * the first segment piece (a whole segment, or one chunk of a segment written in chunks:
   * design note 0011) whose max timestamp reaches ts, enters it through its own .timeindex and
   * .index, then scans batch headers (skipping whole batches by their max timestamp); offsets
   * not yet flushed are searched through their extents' max timestamps the same way.
   */
  async offsetForTimestamp(
    topic: Topic,
    partition: number,
    ts: number,
    head: ReadHead & { logStart: number },
  ): Promise<{ offset: number; timestamp: number } | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        const inSegments = await this.segmentOffsetForTimestamp(topic, partition, ts, head.logStart);
        if (inSegments) return inSegments.offset < head.logStart ? { ...inSegments, offset: head.logStart } : inSegments;
        return await this.unflushedOffsetForTimestamp(topic, partition, ts, head);
      } catch (err) {
        // The segment list is a snapshot: a chunk object read after a composition finished (it
        // deletes the chunks once the catalog says composed), or a segment retention deleted
        // (the log start moved first), is gone. So is the write-ahead object of an unflushed
        // extent a flush moved into a segment since the chain was read. A fresh list (and
        // head) no longer names it.
        if (isObjectNotFound(err) && attempt < FETCH_RETRIES) {
          head = await this.liveHead(topic, partition);
          continue;
        }
        throw err;
      }
    }
  }

  /** Offsets not yet in segments, as `head` shows them: the first with timestamp ≥ ts. */
  private async unflushedOffsetForTimestamp(topic: Topic, partition: number, ts: number, head: ReadHead & { logStart: number }): Promise<{ offset: number; timestamp: number } | undefined> {
    const from = Math.max(head.flushed, head.logStart);
    if (from >= head.nextOffset) return undefined;
    const chain = await this.extentsFrom(topic, partition, from, head, 1000);
    for (const e of chain ?? []) {
      if (e.maxTs < ts) continue;
      const run = await this.extentBytes(topic, partition, e, e.base, e.len);
      if (!run) continue;
      const found = firstAtLeast(run.bytes, ts);
      if (found) return found;
    }
    return undefined;
  }

  /** The first offset with timestamp ≥ ts in the partition's segments, piece by piece (one catalog snapshot). */
  private async segmentOffsetForTimestamp(topic: Topic, partition: number, ts: number, logStart: number): Promise<{ offset: number; timestamp: number } | undefined> {
    for (const seg of await this.segments(topic, partition)) {
      if (seg.last < logStart || seg.maxTs < ts || seg.size === 0) continue;
      // A piece's .index holds offsets relative to the segment's base and positions within the
      // piece, and its .timeindex the segment's entries that fall in it: each is entered alone.
      for (const piece of segmentPieces(topic, partition, seg)) {
        if (piece.maxTs < ts || piece.log.size === 0) continue;
        let startPos = 0;
        if (piece.timeIndex.size > 0) {
          const tidx = await this.objects.get(piece.keys.timeindex, { start: 0, end: piece.timeIndex.size });
          const entry = lookupTimestamp(tidx, ts);
          if (entry && piece.index.size > 0) {
            const idx = await this.objects.get(piece.keys.index, { start: 0, end: piece.index.size });
            startPos = lookupOffset(idx, entry.relOffset)?.position ?? 0;
          }
        }
        const found = await this.scanForTimestamp(piece.keys.log, startPos, piece.log.size, ts);
        if (found) return found;
      }
    }
    return undefined;
  }

  private async scanForTimestamp(
    logKey: string,
    startPos: number,
    size: number,
    ts: number,
  ): Promise<{ offset: number; timestamp: number } | undefined> {
    const CHUNK = 1 << 20;
    let pos = startPos;
    while (pos < size) {
      const buf = await this.objects.get(logKey, { start: pos, end: Math.min(size, pos + CHUNK) });
      let complete = wholeBatchBytes(buf);
      let chunk = buf.subarray(0, complete);
      if (complete === 0) {
        // One batch larger than the chunk: read it whole.
        const len = batchSizeAt(buf);
        if (len === undefined) return undefined;
        chunk = await this.objects.get(logKey, { start: pos, end: pos + len });
        complete = len;
      }
      for (const f of batchFrames(chunk)) {
        if (f.header.maxTimestamp < ts) continue;
        const found = firstAtLeast(chunk.subarray(f.start, f.end), ts);
        if (found) return found;
      }
      pos += complete;
    }
    return undefined;
  }
}

/**
 * The commits of items-mode items that reach `flushed` or beyond (fences carry none). An item
 * straddling `flushed` counts: flush moved only its first batches into segments (it writes no
 * remainder in items mode), and a read from `flushed` skips those within the extent.
 */
export function unflushedItems(page: QueryPage, flushed: number): Extent[] {
  const out: Extent[] = [];
  for (const item of page.items) {
    const c = commitItemFromItem(item);
    if (c.kind === 'commit' && c.extent.last >= flushed) out.push(c.extent);
  }
  return out;
}

/** Walk batch headers and check each CRC: stored bytes are verified on every read. */
export function verifiedBatches(buf: Uint8Array, topic: Topic, partition: number): BatchInfo[] {
  const out: BatchInfo[] = [];
  let at = 0;
  for (const f of batchFrames(buf, { headersOnly: true })) {
    const h = f.header;
    if (f.end > buf.length) throw corrupt(topic, partition, f.baseOffset, 'truncated batch');
    if (crc32c(buf, f.start + 21, f.end) !== h.crc) throw corrupt(topic, partition, f.baseOffset, 'CRC32C mismatch');
    out.push({ start: f.start, end: f.end, base: f.baseOffset, last: f.lastOffset, maxTs: h.maxTimestamp, count: h.recordCount });
    at = f.end;
  }
  // What is left is not a whole batch header (readBatchHeader says why), or claims a negative length.
  if (at < buf.length) {
    readBatchHeader(buf, at);
    throw corrupt(topic, partition, out.at(-1)?.last ?? -1, 'truncated batch');
  }
  return out;
}

/** A fetch at the high watermark `head` shows: nothing to read, continue at `offset`. */
export function emptyFetchResult(head: Pick<Head, 'nextOffset' | 'logStart'>, offset: number): FetchResult {
  return readResult(head, offset, [], 1, Infinity);
}

/**
 * What a fetch returns for the runs it read against `head`. Decoding is lazy (a binary fetch
 * never decodes). Decoded records hold their (decompressed) bytes, which a compressed batch
 * can make far larger than the stored bytes max_bytes counted: decoding stops once they reach
 * `maxDecoded`, so a decoded fetch holds at most that plus one batch (docs/limits.md).
 */
function readResult(head: Pick<Head, 'nextOffset' | 'logStart'>, offset: number, runs: BatchRun[], maxRecords: number, maxDecoded: number): FetchResult {
  const hw = head.nextOffset;
  let decoded: DecodedRecord[] | undefined;
  let truncated = false;
  const records = (): DecodedRecord[] => {
    if (decoded) return decoded;
    decoded = [];
    let decodedBytes = 0;
    for (const run of runs) {
      for (const f of batchFrames(run.bytes)) {
        if (decoded.length >= maxRecords || truncated) break;
        // CRCs were verified as the bytes were read.
        for (const r of decodeRecordBatch(run.bytes.subarray(f.start, f.end), { verifyCrc: false }).records) {
          if (r.offset < offset || r.offset >= hw || decoded.length >= maxRecords) continue;
          decoded.push(r);
          decodedBytes += decodedSize(r);
          if (decodedBytes >= maxDecoded) {
            truncated = true;
            break;
          }
        }
      }
      if (truncated) break;
    }
    return decoded;
  };
  const nextBatchOffset = runs.length > 0 ? Math.min(runs[runs.length - 1]!.last + 1, hw) : offset;
  return {
    highWatermark: hw,
    logStartOffset: head.logStart,
    get nextOffset() {
      const rs = records();
      return rs.length >= maxRecords || truncated ? rs[rs.length - 1]!.offset + 1 : nextBatchOffset;
    },
    nextBatchOffset,
    runs,
    records,
  };
}

/** Bytes a decoded record holds on to, plus a little per object (fetch's decoded budget). */
function decodedSize(r: DecodedRecord): number {
  let n = 64 + (r.key?.length ?? 0) + (r.value?.length ?? 0);
  for (const h of r.headers) n += 48 + h.key.length + (h.value?.length ?? 0);
  return n;
}

/** The first record of `bytes` (whole batches) with a timestamp ≥ ts. */
function firstAtLeast(bytes: Uint8Array, ts: number): { offset: number; timestamp: number } | undefined {
  for (const f of batchFrames(bytes)) {
    for (const r of decodeRecordBatch(bytes.subarray(f.start, f.end)).records) {
      if (r.timestamp >= ts) return { offset: r.offset, timestamp: r.timestamp };
    }
  }
  return undefined;
}

function corrupt(topic: Topic, partition: number, offset: number, what: string): SamsaError {
  // Stored data failing its checks is the server's fault, not the caller's: a 500 that names it.
  return new SamsaError('UNKNOWN_SERVER_ERROR', `stored data of ${topic.name}/${partition} near offset ${offset} is corrupt: ${what}`);
}
