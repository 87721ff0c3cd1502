// The read path, in one place. A fetch at offset o (`LogReader.fetch`): (1) in parallel with
// the head read, the extents covering o and after it — segment extents (flushed) and commit
// extents (not yet flushed) — from the metadata store; (2) range reads of their bytes (none
// for inline extents), retried against a fresh head when a flush or retention moved them;
// (3) a result that says what was read: the head's offsets, the batches as stored, the
// decoded records on demand and the offset to continue from (the HTTP layer only formats it).
// Inside a large segment extent the start is found through the segment's .index. Bytes are
// CRC-checked on every read and base offsets patched where the write-ahead bytes were written
// before their offsets were known.
import { SamsaError } from '../errors';
import { BATCH_HEADER_SIZE, batchFrames, batchSizeAt, crc32c, type DecodedRecord, decodeRecordBatch, readBatchHeader, setBaseOffset, wholeBatchBytes } from '../records';
import type { MetaStore, ObjectStore, QueryPage } from '../storage/ports';
import { EXTENT_END, extentSk, headKey, partitionPk, SEG_EXTENT_END, SEG_EXTENT_PREFIX, segExtentSk, SEGMENT_PREFIX, segmentObject } from './keys';
import { extentsFromItem, headFromItem, segmentFromItem } from './items';
import { type Extent, type Head, liveTails, type Segment } from './model';
import { lookupOffset, lookupTimestamp } from './segment-index';
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

/**
 * Default bytes of `.index` objects kept in memory per process. A 1 GiB segment's index is
 * about 2 MiB (one 8-byte entry per 4 KiB), so this holds the indexes of the ~16 segments
 * being read most recently; a count bound alone let 257 of them pin ~512 MiB.
 */
export const DEFAULT_INDEX_CACHE_BYTES = 32 * 1024 * 1024;

export interface ReaderOptions {
  /** Bound on the bytes of cached segment indexes (least recently used go first). */
  indexCacheBytes?: number;
}

export class LogReader {
  /** Least recently used first (a Map iterates in insertion order; a hit re-inserts). */
  private indexCache = new Map<string, { bytes: Uint8Array; at: number }>();
  private indexCacheSize = 0;
  private readonly indexCacheMax: number;

  constructor(
    private readonly meta: MetaStore,
    private readonly objects: ObjectStore,
    opts: ReaderOptions = {},
  ) {
    this.indexCacheMax = opts.indexCacheBytes ?? DEFAULT_INDEX_CACHE_BYTES;
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

  /** The partition head as stored now. */
  async head(topic: Topic, partition: number): Promise<Head> {
    return headFromItem(await this.meta.get(headKey(topic.id, partition)));
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
    // At a known offset, the head and the extent lookups go out together: one metadata round
    // trip before the object reads.
    const prefetched = opts.offset !== undefined ? this.queryExtents(topic, partition, opts.offset) : undefined;
    prefetched?.catch(() => undefined); // consumed (or dropped) below; never an unhandled rejection
    let head = await this.liveHead(topic, partition);
    const offset = opts.offset ?? head.logStart;
    const maxRecords = opts.maxRecords ?? 500;
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
    if (offset >= head.nextOffset) return emptyFetchResult(head, offset);

    for (let attempt = 0; ; attempt++) {
      let runs: BatchRun[] | undefined;
      try {
        runs = await this.read(topic, partition, offset, head, maxBytes, attempt === 0 ? firstLookup : undefined);
      } catch (err) {
        // A write-ahead object deleted by a flush we raced: the extents moved, look again.
        // Or a segment retention deleted: the log start moved past the offset first.
        if (err instanceof Error && err.name === 'ObjectNotFoundError' && attempt < FETCH_RETRIES) {
          head = await this.liveHead(topic, partition);
          if (offset < head.logStart) throw outOfRange(head);
          continue;
        }
        throw err;
      }
      if (!runs) {
        head = await this.liveHead(topic, partition);
        if (offset < head.logStart) throw outOfRange(head);
        if (attempt < FETCH_RETRIES) continue;
        throw new SamsaError('UNKNOWN_SERVER_ERROR', `no data found for ${topic.name}/${partition} at offset ${offset} below the high watermark ${head.nextOffset}`);
      }
      return readResult(head, offset, runs, maxRecords, opts.maxDecodedBytes ?? maxBytes);
    }
  }

  /**
   * The extents from the one covering `offset` onwards, contiguous, below the high watermark.
   * At each position a segment extent wins (flush writes them before anything else changes),
   * else a commit extent — from a page or the head's tails — at or above the head's `flushed`
   * (below it they are garbage). The head and the queries are not one snapshot: a chain broken
   * by a flush or a commit in between is re-read a few times; it can only stay broken when
   * `offset` fell below the log start meanwhile (the caller checks).
   */
  async extentsFrom(topic: Topic, partition: number, offset: number, head: ReadHead, limit = 16, prefetched?: Promise<ExtentPages>): Promise<Extent[] | undefined> {
    const hw = head.nextOffset;
    for (let attempt = 0; attempt < CHAIN_RETRIES; attempt++) {
      const pages = attempt === 0 && prefetched ? await prefetched : await this.queryExtents(topic, partition, offset, limit);
      const segs = [...pages[0].items, ...pages[1].items].flatMap(extentsFromItem);
      const commits = [...pages[2].items.flatMap(extentsFromItem).filter((e) => e.base >= head.flushed), ...liveTails(head)];
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
   */
  queryExtents(topic: Topic, partition: number, offset: number, limit = 16): Promise<ExtentPages> {
    const pk = partitionPk(topic.id, partition);
    return Promise.all([
      this.meta.query({ pk, gte: SEG_EXTENT_PREFIX, lte: segExtentSk(offset), reverse: true, limit: 1 }),
      this.meta.query({ pk, gt: segExtentSk(offset), lt: SEG_EXTENT_END, limit }),
      this.meta.query({ pk, gte: extentSk(offset), lt: EXTENT_END, limit }),
    ]);
  }

  /**
   * Whole batches from the one containing `offset`, at most about `maxBytes` (but always at
   * least one batch, as Kafka does), stopping before `hw`. Undefined when the extents do not
   * chain from `offset` (moved since `head` was read: `fetch` retries).
   */
  private async read(topic: Topic, partition: number, offset: number, head: ReadHead, maxBytes: number, prefetched?: Promise<ExtentPages>): Promise<BatchRun[] | undefined> {
    const hw = head.nextOffset;
    const runs: BatchRun[] = [];
    let budget = maxBytes;
    let from = offset;
    // Pages of the extent chain until the budget or the high watermark is reached.
    while (from < hw && (budget > 0 || runs.length === 0)) {
      const chain = await this.extentsFrom(topic, partition, from, head, 16, from === offset ? prefetched : undefined);
      if (!chain) return runs.length > 0 ? runs : undefined;
      for (const e of chain) {
        const run = await this.extentBytes(topic, partition, e, from, runs.length === 0 ? Math.max(budget, 1) : budget);
        if (!run) return runs;
        runs.push(run);
        budget -= run.bytes.length;
        from = run.last + 1;
        // A run cut short by the budget ends the read: the next extent starts after this one's
        // end, so going on would skip the batches the budget left out.
        if (budget <= 0 || from >= hw || run.last < e.last) return runs;
      }
    }
    return runs;
  }

  /** Complete batches of one extent starting at the batch holding `from`, within `budget`. */
  private async extentBytes(topic: Topic, partition: number, e: Extent, from: number, budget: number): Promise<BatchRun | undefined> {
    let start = e.pos;
    const end = e.pos + e.len;
    if (e.kind === 'seg' && from > e.base && e.len > SEEK_THRESHOLD && e.seg !== undefined && e.obj) {
      const pos = await this.seek(e.obj, e.seg, e.wb, e.base, from, start);
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
        // The first batch alone is larger than the budget: return it whole anyway.
        const header = e.kind === 'inline' ? e.data!.subarray(start - e.pos) : await this.objects.get(e.obj!, { start, end: Math.min(end, start + BATCH_HEADER_SIZE) });
        const size = batchSizeAt(header);
        if (size === undefined) throw corrupt(topic, partition, from, header.length < 12 ? 'truncated batch header' : 'negative batch length');
        if (start + size > end) throw corrupt(topic, partition, from, 'batch runs past the end of its extent');
        buf = e.kind === 'inline' ? e.data!.subarray(start - e.pos, start - e.pos + size) : await this.objects.get(e.obj!, { start, end: start + size });
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
  async readExtent(topic: Topic, partition: number, e: Extent): Promise<{ bytes: Uint8Array; batches: BatchInfo[] }> {
    const bytes = e.kind === 'inline' ? new Uint8Array(e.data!) : await this.objects.get(e.obj!, { start: e.pos, end: e.pos + e.len });
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
  private async seek(logKey: string, segBase: number, wb: number, base: number, from: number, extentPos: number): Promise<number> {
    const indexKey = logKey.replace(/\.log$/, '.index');
    // Index entries hold offsets as written (wb-relative within segments they always equal base).
    const rel = from - (base - wb) - segBase;
    let cached = this.indexCache.get(indexKey);
    if (cached) {
      // Mark it most recently used.
      this.indexCache.delete(indexKey);
      this.indexCache.set(indexKey, cached);
    }
    let hit = cached ? lookupOffset(cached.bytes, rel) : undefined;
    if (!cached || !hit || hit.position < extentPos) {
      if (cached && Date.now() - cached.at < 1000) return hit?.position ?? extentPos;
      try {
        const bytes = await this.objects.get(indexKey);
        cached = { bytes, at: Date.now() };
        this.cacheIndex(indexKey, cached);
        hit = lookupOffset(bytes, rel);
      } catch {
        return extentPos; // no index: read the extent from its start
      }
    }
    return hit?.position ?? extentPos;
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
   * the first segment whose max timestamp reaches ts, enters it through the .timeindex and
   * .index, then scans batch headers (skipping whole batches by their max timestamp); offsets
   * not yet flushed are searched through their extents' max timestamps the same way.
   */
  async offsetForTimestamp(
    topic: Topic,
    partition: number,
    ts: number,
    head: ReadHead & { logStart: number },
  ): Promise<{ offset: number; timestamp: number } | undefined> {
    const segments = await this.segments(topic, partition);
    for (const seg of segments) {
      if (seg.last < head.logStart || seg.maxTs < ts || seg.size === 0) continue;
      const logKey = segmentObject(topic.name, partition, seg.base, 'log');
      let startPos = 0;
      if (seg.timeIndexSize > 0) {
        const tidx = await this.objects.get(segmentObject(topic.name, partition, seg.base, 'timeindex'), { start: 0, end: seg.timeIndexSize });
        const entry = lookupTimestamp(tidx, ts);
        if (entry && seg.indexSize > 0) {
          const idx = await this.objects.get(segmentObject(topic.name, partition, seg.base, 'index'), { start: 0, end: seg.indexSize });
          startPos = lookupOffset(idx, entry.relOffset)?.position ?? 0;
        }
      }
      const found = await this.scanForTimestamp(logKey, startPos, seg.size, ts);
      if (found) return found.offset < head.logStart ? { ...found, offset: head.logStart } : found;
    }
    // Offsets not yet in segments.
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
