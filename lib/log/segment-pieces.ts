// The objects that hold a segment's bytes, for everything that reads a segment as files rather
// than through its extents (timestamp lookup, the raw segment route, copying, retention): one
// piece for a segment that is one object of each kind, else one per chunk (design note 0011).
import { chunkObject, SEGMENT_FILES, type SegmentFile, type TopicObjects } from './keys';
import type { Segment } from './model';

export interface SegmentPiece {
  /** Object keys of the piece's .log, .index and .timeindex. */
  keys: Record<SegmentFile, string>;
  /** Where the piece starts in the segment's .log, .index and .timeindex, and its bytes of each. */
  log: { start: number; size: number };
  index: { start: number; size: number };
  timeIndex: { start: number; size: number };
  /** Largest record timestamp in the piece (-1: none). */
  maxTs: number;
}

/** True while the segment's bytes are spread over chunk objects (not yet composed). */
export const isChunked = (seg: Pick<Segment, 'chunks' | 'composed'>): boolean => (seg.chunks?.length ?? 0) > 1 && !seg.composed;

/**
 * True for a closed segment whose composition has not finished (design note 0011): still in
 * chunks, or composed with its chunk objects or chunk list not yet gone.
 */
export const compositionUnfinished = (seg: Pick<Segment, 'closed' | 'chunks' | 'composed'>): boolean => seg.closed && !!seg.chunks && (seg.chunks.length > 1 || !!seg.composed);

/**
 * Whether an unfinished composition may be tried now (ms, wall clock): not one set aside after
 * a failure whose back-off has not run out (design note 0011, "When a composition fails").
 */
export const compositionDue = (seg: Pick<Segment, 'composeRetryAt'>, now: number): boolean => seg.composeRetryAt === undefined || now >= seg.composeRetryAt;

/**
 * The pieces of segment `seg` of `topic`/`partition` in offset order, covering exactly its
 * catalogued bytes (an object may hold a dead tail past them). Index entries in a chunk's
 * `.index` are positions within that chunk; offsets stay relative to the segment's base.
 */
export function segmentPieces(topic: TopicObjects, partition: number, seg: Segment): SegmentPiece[] {
  const keys = (logStart: number) => Object.fromEntries(SEGMENT_FILES.map((ext) => [ext, chunkObject(topic, partition, seg.base, logStart, ext)])) as Record<SegmentFile, string>;
  if (!isChunked(seg)) {
    return [{ keys: keys(0), log: { start: 0, size: seg.size }, index: { start: 0, size: seg.indexSize }, timeIndex: { start: 0, size: seg.timeIndexSize }, maxTs: seg.maxTs }];
  }
  const chunks = seg.chunks!;
  return chunks.map((c, i) => {
    const next = chunks[i + 1] ?? { log: seg.size, index: seg.indexSize, timeIndex: seg.timeIndexSize };
    return {
      keys: keys(c.log),
      log: { start: c.log, size: next.log - c.log },
      index: { start: c.index, size: next.index - c.index },
      timeIndex: { start: c.timeIndex, size: next.timeIndex - c.timeIndex },
      maxTs: c.maxTs,
    };
  });
}

/** Every chunk object of a segment written in chunks (beyond `<base>.*`), composed or not: what retention and cleanup delete. */
export function chunkObjects(topic: TopicObjects, partition: number, seg: Pick<Segment, 'base' | 'chunks'>): string[] {
  return (seg.chunks ?? []).filter((c) => c.log > 0).flatMap((c) => SEGMENT_FILES.map((ext) => chunkObject(topic, partition, seg.base, c.log, ext)));
}
