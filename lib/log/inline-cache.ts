// The inline commits this process wrote lately, in memory, for its own flush (issue 18). A
// flush step reads each unflushed extent from the metadata store and, for an inline one, used
// to copy its bytes and verify every batch's CRC32C again: a second pass over bytes this process
// encoded (and checksummed) itself moments before. The committer files each inline extent it
// committed here; flush takes an extent's bytes from here when the stored extent is that very
// commit — same base, same commit id (random per commit, commit.ts), same length — and reads
// them from the store otherwise. Nothing depends on an entry being here: the store stays the
// record, so a restart, an eviction or another process's commit only costs the read.
import { batchFrames } from '../records';
import type { Extent } from './model';
import type { BatchInfo } from './reader';

interface Entry {
  /** Its key in the cache: `${key}@${base}`. */
  id: string;
  key: string;
  base: number;
  cid: number;
  bytes: Uint8Array;
  /** When it was filed (ms, monotonic). */
  at: number;
}

/**
 * Bytes held at most by default. Under a keyed JSON load of ~35k records/s the unflushed
 * inline bytes peaked at 58-73 MB (issue 18; the flush runs 200 ms after a commit and then
 * takes a while per partition), and a 32 MiB cache missed 40% of extents.
 */
export const DEFAULT_INLINE_CACHE_BYTES = 64 * 1024 * 1024;
/** An entry this old is not going to be taken (another process flushes, or the topic went). */
export const INLINE_CACHE_MAX_AGE_MS = 10_000;

export class InlineCache {
  /** Oldest first (insertion order): the front is what flush takes next, or what expired. */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private readonly maxBytes: number = DEFAULT_INLINE_CACHE_BYTES,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * A committed inline extent of partition `key` (topic id / partition): its base, commit id
   * and stored bytes, which nobody may change after this (the commit is done with them).
   * When full, the new extent is not kept: flush takes extents oldest first, so evicting old
   * ones for new ones would make a flush that fell behind by more than the bound miss every one.
   */
  put(key: string, base: number, cid: number, bytes: Uint8Array): void {
    const now = this.now();
    // Values, not [key, value] pairs: this runs on every commit (issue 18 item 1).
    for (const e of this.entries.values()) {
      if (now - e.at < INLINE_CACHE_MAX_AGE_MS) break;
      this.entries.delete(e.id);
      this.bytes -= e.bytes.length;
    }
    const id = `${key}@${base}`;
    const old = this.entries.get(id);
    if (old) {
      this.entries.delete(id);
      this.bytes -= old.bytes.length;
    }
    if (this.bytes + bytes.length > this.maxBytes) return;
    this.entries.set(id, { id, key, base, cid, bytes, at: now });
    this.bytes += bytes.length;
  }

  /**
   * The bytes and batches of stored inline extent `e` of partition `key` if this is the commit
   * that wrote it (base, commit id and length agree), else undefined: read it from the store.
   * The entry leaves the cache (flush moves an extent once).
   */
  take(key: string, e: Extent): { bytes: Uint8Array; batches: BatchInfo[] } | undefined {
    if (e.kind !== 'inline' || e.cid === undefined) return undefined;
    const id = `${key}@${e.base}`;
    const hit = this.entries.get(id);
    if (!hit) return undefined;
    this.entries.delete(id);
    this.bytes -= hit.bytes.length;
    if (hit.cid !== e.cid || hit.bytes.length !== e.len || e.wb !== e.base) return undefined;
    // The framing only: these are the bytes whose CRCs the encoder (or the binary route's
    // check) computed or verified before they were committed.
    const batches: BatchInfo[] = [];
    let at = 0;
    for (const f of batchFrames(hit.bytes)) {
      batches.push({ start: f.start, end: f.end, base: f.baseOffset, last: f.lastOffset, maxTs: f.header.maxTimestamp, count: f.header.recordCount });
      at = f.end;
    }
    if (at !== hit.bytes.length || batches[0]?.base !== e.base || batches[batches.length - 1]!.last !== e.last) return undefined;
    return { bytes: hit.bytes, batches };
  }

  /** Bytes held (tests). */
  get size(): number {
    return this.bytes;
  }
}
