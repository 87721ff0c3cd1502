// Walking the batch frames of a buffer that holds batches back to back (a read of a segment,
// an extent, a run): where each batch starts and ends, and its offsets, from the framing
// alone (baseOffset, batchLength, the fixed header). The one place that knows a batch's size
// is batchLength + 12; nothing here checks CRCs or decodes records (splitBatches validates,
// decodeRecordBatch decodes). Stored bytes may be cut anywhere by a range read, so a walk
// stops quietly at the first frame the buffer does not hold, and says where.
import { readBatchHeader } from './batch.js';
import { BATCH_HEADER_SIZE, type BatchHeader, LOG_OVERHEAD } from './types.js';

/** One batch's place in a buffer and its header. */
export interface BatchFrame {
  /** Byte position of the batch's first byte (baseOffset). */
  start: number;
  /** One past its last byte: start + 12 + batchLength (beyond the buffer in a `headersOnly` walk). */
  end: number;
  header: BatchHeader;
  baseOffset: number;
  /** baseOffset + lastOffsetDelta. */
  lastOffset: number;
}

/** A batch's total size from its header: the batchLength field counts the bytes after it. */
export function batchSize(header: Pick<BatchHeader, 'batchLength'>): number {
  return LOG_OVERHEAD + header.batchLength;
}

/**
 * Total size of the batch starting at `pos`, read from its length field alone (12 bytes), or
 * undefined when the buffer ends before that field or the length is negative.
 */
export function batchSizeAt(buf: Uint8Array, pos = 0): number | undefined {
  if (pos + LOG_OVERHEAD > buf.length) return undefined;
  const len = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getInt32(pos + 8);
  return len < 0 ? undefined : LOG_OVERHEAD + len;
}

/**
 * The frames of `buf` from `pos` on, in order. By default only whole batches: the walk stops
 * at the first one that runs past the end of the buffer. With `headersOnly`, a frame is
 * yielded as soon as its fixed header is in the buffer (its end may lie beyond it): what a
 * search through headers needs, reading the next chunk from the last frame's end.
 */
export function* batchFrames(buf: Uint8Array, opts: { pos?: number; headersOnly?: boolean } = {}): Generator<BatchFrame, void, undefined> {
  let p = opts.pos ?? 0;
  for (;;) {
    const size = batchSizeAt(buf, p);
    if (size === undefined) return;
    if (opts.headersOnly ? p + BATCH_HEADER_SIZE > buf.length : p + size > buf.length) return;
    const header = readBatchHeader(buf, p);
    yield { start: p, end: p + size, header, baseOffset: header.baseOffset, lastOffset: header.baseOffset + header.lastOffsetDelta };
    p += size;
  }
}

/**
 * Bytes at the front of `buf` made of whole batches, by their length fields only (no header
 * is parsed, so a damaged batch is found by whoever verifies them, not here).
 */
export function wholeBatchBytes(buf: Uint8Array): number {
  let p = 0;
  for (let size = batchSizeAt(buf, p); size !== undefined && p + size <= buf.length; size = batchSizeAt(buf, p)) p += size;
  return p;
}
