// Bulk reads past the function: which byte ranges of which sealed segment objects hold the
// records from an offset on, so a far-behind consumer can read them straight from the object
// store (a presigned S3 GET on AWS) instead of 6 MB at a time through Lambda. Every range starts
// and ends on a batch boundary, so what it returns is plain RecordBatch v2 any Kafka library
// decodes. Boundaries come from the segment's .index (Kafka's: an entry holds the LAST offset of
// a batch and that batch's position) plus a few small header reads; the .log itself is never
// read whole here.
import { isObjectNotFound, SamsaError } from '../errors';
import { BATCH_HEADER_SIZE, batchFrames, batchSize, readBatchHeader } from '../records';
import type { ObjectStore } from '../storage/ports';
import { segmentObject } from './keys';
import type { Head, Segment } from './model';
import { isChunked } from './segment-pieces';
import { INDEX_ENTRY, lookupOffset } from './segment-index';
import type { Topic } from './topics';

/** How much of the .log after an index point is read at once to find the batch holding an offset. */
const SCAN_CHUNK = 64 * 1024;

export interface SegmentRange {
  /** The segment's base offset (its object key is built from it). */
  segment: number;
  key: string;
  /** First offset of the first batch in the range (may be below the requested offset). */
  base: number;
  /** Last offset of the last batch in the range. */
  last: number;
  /** Byte range of the .log object, inclusive at both ends as in an HTTP Range header. */
  start: number;
  end: number;
}

interface Sources {
  objects: ObjectStore;
  /** The partition's segment catalog, in offset order. */
  segments(): Promise<Segment[]>;
}

async function headerAt(objects: ObjectStore, key: string, pos: number): Promise<{ base: number; last: number; length: number }> {
  const bytes = await objects.get(key, { start: pos, end: pos + BATCH_HEADER_SIZE });
  const h = readBatchHeader(bytes, 0);
  return { base: h.baseOffset, last: h.baseOffset + h.lastOffsetDelta, length: batchSize(h) };
}

/** Byte position of the batch holding `offset` in a segment, found through its index. */
async function batchHolding(objects: ObjectStore, key: string, seg: Segment, index: Uint8Array, offset: number): Promise<{ pos: number; base: number }> {
  let pos = offset <= seg.base ? 0 : (lookupOffset(index, offset - seg.base)?.position ?? 0);
  for (;;) {
    const chunk = await objects.get(key, { start: pos, end: Math.min(seg.size, pos + SCAN_CHUNK) });
    let p = 0;
    // Only headers are needed: a batch may run past the chunk, its successor is read next.
    for (const f of batchFrames(chunk, { headersOnly: true })) {
      if (f.lastOffset >= offset) return { pos: pos + f.start, base: f.baseOffset };
      p = f.end;
    }
    if (p === 0 || pos + p >= seg.size) throw new SamsaError('OFFSET_OUT_OF_RANGE', `offset ${offset} is not in segment ${seg.base}`);
    pos += p;
  }
}

/** Largest index position in (after, limit], with the entry's relative offset. */
function lastIndexPointWithin(index: Uint8Array, after: number, limit: number): number | undefined {
  const dv = new DataView(index.buffer, index.byteOffset, index.byteLength);
  let found: number | undefined;
  for (let i = Math.floor(index.length / INDEX_ENTRY) - 1; i >= 0; i--) {
    const pos = dv.getInt32(i * INDEX_ENTRY + 4);
    if (pos <= limit && pos > after) {
      found = pos;
      break;
    }
    if (pos <= after) break;
  }
  return found;
}

/**
 * Sealed: closed, and its bytes in `<base>.log` alone. A closed segment still written in chunks
 * (design note 0011: between its roll and its composition) has only its first chunk there, so
 * it is served as the unsealed tail is, through the fetch route, until it is composed.
 */
export const isSealed = (seg: Segment): boolean => seg.closed && !isChunked(seg);

/**
 * The ranges of sealed segments that hold records from `offset` on, up to about `maxBytes` in
 * all (always at least one whole batch when one exists, as Kafka's fetch). Stops at the first
 * segment holding such records that is not sealed: the unsealed tail, or a closed segment still
 * in chunks, is read through the fetch route. Segments wholly below `offset` are passed by
 * whatever they are.
 */
export async function planSegmentRanges(
  src: Sources,
  topic: Topic,
  partition: number,
  offset: number,
  maxBytes: number,
  logStart: number,
): Promise<SegmentRange[]> {
  const out: SegmentRange[] = [];
  let budget = maxBytes;
  let from = offset;
  for (const seg of await src.segments()) {
    // Passed by first, sealed or not: a closed segment left in chunks (its composition set
    // aside, design note 0011) below `from` must not hide the sealed segments after it.
    if (seg.last < from || seg.last < logStart || seg.size === 0) continue;
    if (!isSealed(seg)) break;
    if (out.length > 0 && budget <= 0) break;
    const key = segmentObject(topic, partition, seg.base, 'log');
    const index = seg.indexSize > 0 ? await src.objects.get(segmentObject(topic, partition, seg.base, 'index')).catch(() => new Uint8Array(0)) : new Uint8Array(0);
    const first = from <= seg.base ? { pos: 0, base: seg.base } : await batchHolding(src.objects, key, seg, index, from);
    const limit = first.pos + Math.max(budget, 1) - 1; // the last byte we may include
    let end: number;
    let last: number;
    if (limit >= seg.size - 1) {
      end = seg.size - 1;
      last = seg.last;
    } else {
      const cut = lastIndexPointWithin(index, first.pos, limit + 1);
      if (cut !== undefined) {
        end = cut - 1;
        last = (await headerAt(src.objects, key, cut)).base - 1;
      } else {
        // No batch boundary known within the budget: one whole batch (Kafka's rule).
        const h = await headerAt(src.objects, key, first.pos);
        end = first.pos + h.length - 1;
        last = h.last;
      }
    }
    out.push({ segment: seg.base, key, base: first.base, last, start: first.pos, end });
    budget -= end - first.pos + 1;
    from = last + 1;
    if (last < seg.last) break; // the budget ran out inside this segment
  }
  return out;
}

/** How often a plan is made again after a segment vanished under it, before the error stands. */
const PLAN_RETRIES = 3;

/**
 * The ranges from `offset` (the log start when absent) against the partition's live head,
 * with that head. A segment that retention deletes while the plan reads it (the log start
 * moved first, design note 0007) makes the head be read again: it says whether `offset` is
 * gone (OFFSET_OUT_OF_RANGE, the route's 416) or the catalog changed under the plan (plan
 * again), as a fetch does; never a 500.
 */
export async function planSegmentRangesAtHead(
  src: Sources & { head(): Promise<Head> },
  topic: Topic,
  partition: number,
  offset: number | undefined,
  maxBytes: number,
): Promise<{ head: Head; offset: number; ranges: SegmentRange[] }> {
  let head = await src.head();
  const from = offset ?? head.logStart;
  for (let attempt = 0; ; attempt++) {
    if (from < head.logStart || from > head.nextOffset) {
      throw new SamsaError('OFFSET_OUT_OF_RANGE', `offset ${from} is outside the log [${head.logStart}, ${head.nextOffset}]`, {
        log_start_offset: head.logStart,
        high_watermark: head.nextOffset,
      });
    }
    try {
      return { head, offset: from, ranges: await planSegmentRanges(src, topic, partition, from, maxBytes, head.logStart) };
    } catch (err) {
      if (!isObjectNotFound(err) || attempt >= PLAN_RETRIES) throw err;
      head = await src.head();
    }
  }
}
