// Kafka's segment index files. `.index`: 8-byte entries (int32 offset relative to the segment
// base, int32 byte position in the .log), one every index.interval.bytes of log. `.timeindex`:
// 12-byte entries (int64 timestamp, int32 relative offset), appended when the segment's max
// timestamp grows at an index point. Both are sparse and sorted, so lookups are binary searches.

export const INDEX_ENTRY = 8;
export const TIME_INDEX_ENTRY = 12;

export function encodeIndexEntries(entries: Array<{ relOffset: number; position: number }>): Uint8Array {
  const out = new Uint8Array(entries.length * INDEX_ENTRY);
  const dv = new DataView(out.buffer);
  entries.forEach((e, i) => {
    dv.setInt32(i * INDEX_ENTRY, e.relOffset);
    dv.setInt32(i * INDEX_ENTRY + 4, e.position);
  });
  return out;
}

export function encodeTimeIndexEntries(entries: Array<{ timestamp: number; relOffset: number }>): Uint8Array {
  const out = new Uint8Array(entries.length * TIME_INDEX_ENTRY);
  const dv = new DataView(out.buffer);
  entries.forEach((e, i) => {
    dv.setBigInt64(i * TIME_INDEX_ENTRY, BigInt(e.timestamp));
    dv.setInt32(i * TIME_INDEX_ENTRY + 8, e.relOffset);
  });
  return out;
}

/** Largest entry with relOffset ≤ target, or undefined (start of the segment). */
export function lookupOffset(index: Uint8Array, relTarget: number): { relOffset: number; position: number } | undefined {
  const dv = new DataView(index.buffer, index.byteOffset, index.byteLength);
  let lo = 0;
  let hi = Math.floor(index.length / INDEX_ENTRY) - 1;
  let found: { relOffset: number; position: number } | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const rel = dv.getInt32(mid * INDEX_ENTRY);
    if (rel <= relTarget) {
      found = { relOffset: rel, position: dv.getInt32(mid * INDEX_ENTRY + 4) };
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

/** Largest entry whose timestamp is < target (records up to it are all older), or undefined. */
export function lookupTimestamp(timeIndex: Uint8Array, target: number): { timestamp: number; relOffset: number } | undefined {
  const dv = new DataView(timeIndex.buffer, timeIndex.byteOffset, timeIndex.byteLength);
  let lo = 0;
  let hi = Math.floor(timeIndex.length / TIME_INDEX_ENTRY) - 1;
  let found: { timestamp: number; relOffset: number } | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const ts = Number(dv.getBigInt64(mid * TIME_INDEX_ENTRY));
    if (ts < target) {
      found = { timestamp: ts, relOffset: dv.getInt32(mid * TIME_INDEX_ENTRY + 8) };
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

/**
 * The position of the entry before the last one whose position is ≤ `limit`: a batch start
 * from which at least one whole batch ends at or before `limit` (the batch there ends at or
 * before the next entry's position). Undefined when fewer than two entries qualify.
 */
export function positionBefore(index: Uint8Array, limit: number): number | undefined {
  const dv = new DataView(index.buffer, index.byteOffset, index.byteLength);
  let lo = 0;
  let hi = Math.floor(index.length / INDEX_ENTRY) - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (dv.getInt32(mid * INDEX_ENTRY + 4) <= limit) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found >= 1 ? dv.getInt32((found - 1) * INDEX_ENTRY + 4) : undefined;
}

/**
 * A chunk's `.index` as it reads in the whole segment's: every position moved by `by` (the
 * chunk's start in the segment's .log); offsets are relative to the segment's base already
 * (design note 0011). A copy; the chunk's bytes are left alone.
 */
export function shiftIndexPositions(index: Uint8Array, by: number): Uint8Array {
  const out = new Uint8Array(index.length - (index.length % INDEX_ENTRY));
  out.set(index.subarray(0, out.length));
  if (by === 0) return out;
  const dv = new DataView(out.buffer);
  for (let at = 4; at < out.length; at += INDEX_ENTRY) dv.setInt32(at, dv.getInt32(at) + by);
  return out;
}
