// Flush: committed extents (inline or write-ahead) are rewritten into Kafka segment objects
// — `<base>.log` plus `.index` and `.timeindex` beside it — described by segment extents.
//
// One step, at batch granularity, bounded in bytes and in metadata ops:
//   1. read the head and the unflushed commit extents from `flushed` (from commit pages and
//      the head's tails);
//   2. pack their batches into the active segment, rolling to a new one at segment.bytes /
//      segment.ms, writing index entries every index.interval.bytes as Kafka's LogSegment does;
//   3. append the bytes to the segment objects past their catalogued size (a crashed earlier
//      step's dead tail is simply overwritten);
//   4. one transaction: head.flushed moves (conditional on its old value and the leader epoch,
//      which fences a racing flusher and a deposed leader), catalog entries grow (conditional
//      on their old size), segment extents appear (and a remainder commit page when a step
//      stops mid-extent; in items mode, instead, the head's producer-state snapshot moves
//      with `flushed`: producer-view.ts);
//   5. delete the commit pages below the new `flushed` — readers already ignore them — then
//      the write-ahead objects no extent references any more.
// A crash between steps leaves either the old extents (still readable) or the new ones.
// Steps 2 and 4 are decided on plain data by flush-plan.ts; this file is the executor: it
// reads, writes the objects (fenced as write() explains), commits and cleans up.
import { ConditionFailedError, PreconditionFailedError, TransactionConflictError } from '../errors';
import type { AppendOptions, MetaStore, ObjectStore, WriteOp } from '../storage/ports';
import type { Clock } from '../util/clock';
import { createLogger, type Logger } from '../obs/logger';
import { concatBytes } from '../util/bytes';
import { inParallel } from '../util/parallel';
import { chunkObject, COMMIT_ITEM_END, composeDueKey, COMMIT_ITEM_PREFIX, commitItemSk, EXTENT_PREFIX, extentSk, headKey, parseChunkObject, partitionPk, segExtentSk, segmentKey, SEGMENT_PREFIX, type SegmentFile, segmentObject } from './keys';
import { commitTtl, queryCoveringItem } from './commit-items';
import { deadWalObjects, gapSkipWrite, StepPacker, stepWrites } from './flush-plan';
import { partitionKey } from './commit';
import type { InlineCache } from './inline-cache';
import { commitItemFromItem, extentsFromItem, headFromItem, segExtentToItem, segmentAsRead, segmentFromItem, segmentSetAside, segmentToItem } from './items';
import type { Extent, Segment } from './model';
import { applyItem, DEFAULT_PRODUCER_ID_EXPIRATION_MS, type PartitionProducers, pruneExpired } from './producers';
import type { BatchInfo, LogReader } from './reader';
import { encodeIndexEntries, encodeTimeIndexEntries, shiftIndexPositions } from './segment-index';
import { chunkObjects, compositionDue, compositionUnfinished, segmentPieces } from './segment-pieces';
import type { Topic } from './topics';

export interface FlushOptions {
  /** Bytes of batches moved per step (per metadata transaction). */
  stepBytes: number;
  /** Kafka's index.interval.bytes. */
  indexIntervalBytes: number;
  /**
   * Delete flushed commit pages in transactions of up to the store's limit, and read a step's
   * extents, yielding to the event loop every so often: right where a transaction costs what
   * one write does and every call is synchronous (SQLite: 2,000 one-at-a-time deletes held
   * the loop for tens of ms, issue 18). Off on DynamoDB, which bills a transaction's writes
   * twice and whose calls yield anyway.
   */
  transactDeletes?: boolean;
  /** Items mode: producer streams idle this long leave the head's snapshot (default Kafka's 7 days). */
  producerIdExpirationMs?: number;
  /** Write-ahead objects read at once, at most (default WAL_READ_AHEAD; 1 reads them one after another). */
  readAhead?: number;
  /**
   * Write active segments in chunks of at least this many bytes and compose each once it is
   * closed (design note 0011). The engine sets DEFAULT_CHUNK_BYTES where the object store's
   * append copies the kept prefix (S3); undefined extends one object per segment in place.
   */
  chunkBytes?: number;
}

/**
 * 8 MiB: above S3's 5 MiB minimum part (every chunk but the last is composed by a server-side
 * UploadPartCopy), and small enough that a light-load step, which extends the open chunk,
 * copies little; under load every 32 MiB step starts a chunk of its own.
 */
export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;

// 32 MiB steps: fewer object compositions and catalog transactions per GiB (cost), while a
// step's bytes (held twice at most: read, then concatenated; plus at most WAL_READ_AHEAD
// write-ahead objects read ahead) keep the heap well under 256 MiB.
export const DEFAULT_FLUSH_OPTIONS: FlushOptions = { stepBytes: 32 * 1024 * 1024, indexIntervalBytes: 4096 };

/**
 * How long before an invocation must end a flush stops starting steps (the flush function's
 * deadline is its remaining time less this: lib/runtime/lambda/flush-handler.ts). It covers:
 * - one step begun just before the deadline. A step moves at most one 32 MiB `stepBytes`: read
 *   from write-ahead objects, written as one chunk or part to S3, a catalog transaction, then up
 *   to 2,000 page deletes; at a roll it also composes the closed segment (server-side copies).
 *   Usually that takes about a second (bench/flush-latency.ts: ~27 s per GiB, 32 steps, against
 *   an emulator with every call delayed). A slow one is bounded by the lease and the request
 *   timeout: each write checks the lease first, and a lease stops counting as held two thirds
 *   of its duration after the renewal before the step (20 s of the default 30 s; lease.ts), so
 *   no write starts later than that; a request that then stalls is given up after 30 s without
 *   data (SAMSA_AWS_REQUEST_TIMEOUT_MS). 50 s in all;
 * - then the pass's ending: measuring the flush and consumer lag, the EMF line, the report and
 *   handing back the lease of the partition it stopped in, a few seconds for hundreds of
 *   partitions: 10 s more.
 * A step that outlasts even this is killed with its invocation, which every step survives
 * (design note 0011): it is redone by the next flush, as after a crash.
 */
export const FLUSH_STEP_MARGIN_MS = 60_000;

/**
 * Commit extents read per step. The step's transaction does not touch them (they are deleted
 * after it), so this bounds only the reads; small commits are flushed 1,000 at a time rather
 * than rewriting the segment objects every few dozen.
 */
const MAX_EXTENTS_PER_STEP = 1000;
/**
 * On a synchronous store (transactDeletes), a step reads at most this many extents: reading
 * 1,000 inline pages (with their bytes) held the event loop 4–5 ms, 128 hold it 0.6 ms,
 * between single-record requests (issue 18). A 200 ms eager flush of a steady 1,000
 * records/s of single-record requests takes two steps.
 */
const SYNC_EXTENTS_PER_STEP = 128;
/** Commit pages deleted after a step, at most (leftovers beyond this wait for the next one). */
const DELETES_PER_STEP = 2000;
const DELETE_CONCURRENCY = 16;
const MAX_SEGMENTS_PER_STEP = 20;
/**
 * Catalog entries a flush checks for an unfinished composition (design note 0011). A step
 * composes the chunked segment it closes after committing, and may have rolled up to
 * MAX_SEGMENTS_PER_STEP segments in all by then: a crash there leaves that segment at most that
 * many entries from the end, and no step runs before the next flush's check. (It was 3: a step
 * that rolled three more segments past the closed one left it in chunks until a retention pass
 * composed it.) The entries are small: 21 of them are one or two read units.
 */
export const PENDING_COMPOSE_LOOKBACK = MAX_SEGMENTS_PER_STEP + 1;
/**
 * A composition set aside after a failure no retry cures (design note 0011, "When a composition
 * fails") is tried again after COMPOSE_RETRY_FIRST_MS, then after twice the previous wait each
 * time, at most COMPOSE_RETRY_MAX_MS apart: a failure that passes after all (a bucket policy put
 * right) is composed within hours, one that never passes costs an attempt's requests four
 * times a day.
 */
export const COMPOSE_RETRY_FIRST_MS = 5 * 60_000;
export const COMPOSE_RETRY_MAX_MS = 6 * 3_600_000;

/** How long after its `failures`-th failure in a row a composition set aside waits. */
export const composeRetryDelay = (failures: number): number => Math.min(COMPOSE_RETRY_FIRST_MS * 2 ** Math.min(Math.max(failures, 1) - 1, 20), COMPOSE_RETRY_MAX_MS);

/**
 * Whether a composition that failed with `err` is set aside rather than failing its flush step
 * (design note 0011, "When a composition fails"): anything but a fence — a lost lease, an object
 * or catalog condition another writer broke: the step must stop, as any write's does — and a
 * failure the store says may pass (throttling, a server fault, a timeout, a dropped
 * connection), which fails the step as before, so the next flush tries again at once. What is
 * left (a chunk missing or shorter than catalogued, an index that does not parse, S3 refusing
 * the request itself) fails again on every attempt; the chunks still hold every record.
 */
export function setAsideOnFailure(err: unknown): boolean {
  if (err instanceof PreconditionFailedError || err instanceof ConditionFailedError) return false;
  // By field, not class: the S3 adapter's errors may come from another copy of errors.ts.
  return !(err instanceof Error && (err as { retriable?: unknown }).retriable === true);
}

/** What a flusher tells of compositions it sets aside. */
export interface FlushEvents {
  /** Where each is logged, once per failed attempt (default: JSON lines on stdout). */
  log?: Logger;
  /** Told of each (metrics: samsa_composition_failures_total). */
  onCompositionFailure?: (topic: string) => void;
}

/** Items mode, topics without a TTL: a commit item flushed and this old may be deleted (see deleteCommitItemsBelow). */
export const ITEM_DELETE_MIN_AGE_MS = 24 * 3600 * 1000;

/** What a flush needs of the partition lease (see lease.ts). */
export interface LeaseGuard {
  readonly epoch: number;
  /** Still safely ours, by this process's own clock (no I/O). */
  held(): boolean;
  /** Renew if due; false once the lease is lost. */
  renew(): Promise<boolean>;
}

export interface FlushStats {
  bytes: number;
  batches: number;
  steps: number;
}

export class Flusher {
  private readonly log: Logger;

  constructor(
    private readonly meta: MetaStore,
    private readonly objects: ObjectStore,
    private readonly reader: LogReader,
    private readonly clock: Clock,
    private readonly opts: FlushOptions = DEFAULT_FLUSH_OPTIONS,
    /** The committer's recent inline extents (inline-cache.ts): read from memory when there. */
    private readonly inlineCache?: InlineCache,
    private readonly events: FlushEvents = {},
  ) {
    this.log = events.log ?? createLogger({ bindings: { service: 'samsa' } });
  }

  /**
   * Flush until the partition is caught up (or `maxSteps` steps), as the leader of `epoch`;
   * the lease is renewed before every step so a lease that ran out stops the work.
   *
   * With `deadline` (a `clock.monotonic()` time), no step starts at or after it: the caller
   * picks it early enough for one step to finish before it must stop (flush-handler.ts). The
   * result's `complete` is false when the deadline stopped the work before the partition (up
   * to `upTo`) was caught up; every step is repeatable, so the next flush just carries on.
   *
   * With `upTo` (the head's next offset when the caller decided to flush), stop once the
   * flushed offset reaches it: commits made meanwhile wait for the next flush (the scheduler
   * arms one for them). Chasing them instead never ended under a steady producer, and each
   * step then moved the few records committed during the last one — a segment append, a
   * metadata transaction and page deletes for every few records, on the event loop between
   * requests (issue 18: one 1 KiB record per request, a 2.5 s flush of ~450 steps).
   */
  async flushPartition(topic: Topic, partition: number, lease: LeaseGuard, opts: { maxSteps?: number; upTo?: number; deadline?: number } = {}): Promise<FlushStats & { complete: boolean }> {
    const { maxSteps = Number.MAX_SAFE_INTEGER, upTo = Number.MAX_SAFE_INTEGER, deadline = Infinity } = opts;
    const stats = { bytes: 0, batches: 0, steps: 0, complete: true };
    const late = () => this.clock.monotonic() >= deadline;
    if (late()) return { ...stats, complete: false };
    // A composition a crash interrupted (design note 0011): the segments it concerns are the
    // last few, closed; finished before the log grows further.
    if (this.opts.chunkBytes !== undefined) await this.composePending(topic, partition, lease);
    while (stats.steps < maxSteps) {
      if (late()) {
        stats.complete = false;
        break;
      }
      if (stats.steps > 0 && !(await lease.renew())) break;
      const step = await this.step(topic, partition, lease);
      if (!step) break;
      stats.steps++;
      stats.bytes += step.bytes;
      stats.batches += step.batches;
      if (step.flushed >= upTo) break;
    }
    return stats;
  }

  /**
   * Write a segment object: create it (If-None-Match) or extend it (If-Match the catalogued
   * ETag). A new segment's key can hold a leftover of a flush that never committed; nothing
   * references it, so it is adopted as is or replaced.
   *
   * A write conditioned on an ETag the flusher read from the object itself (not from the
   * catalog) is safe only if that version is not a successor's: the successor may already
   * have catalogued it. So such a write first proves, by a strongly consistent read of the
   * head *after* reading the ETag, that our epoch still leads: a successor writes objects
   * only after its takeover raised the epoch, so the version we read predates any successor,
   * and If-Match makes the write fail if anyone wrote since. A deleted topic's heads are
   * tombstones from the moment its deletion is answered (tombstones.ts), so the same proof
   * stops a flusher of a deleted incarnation from writing into a re-created topic's objects
   * where they share its keys (a topic created before design note 0012 uses the name's
   * directory; one created since has a directory of its own).
   */
  private async write(topic: Topic, partition: number, lease: LeaseGuard, key: string, keep: number, parts: Uint8Array | Uint8Array[], isNew: boolean, etag: string | undefined): Promise<string> {
    // The lease is checked (in memory, with its safety margin) right before each write.
    if (!lease.held()) throw new PreconditionFailedError(key);
    if (!isNew) {
      // Extending a segment (most steps): the batches go as they lie in memory, not first
      // copied into one array (issue 18: that copy was ~3% of a keyed JSON server profile).
      try {
        return (await this.objects.append(key, keep, parts, etag ? { ifMatch: etag } : {})).etag;
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err;
        // The object changed since the catalog recorded its ETag. Every successful write is
        // conditional on the then-current ETag and keeps at least the catalogued size, so the
        // committed prefix is intact: what changed is a dead tail from a flush that never
        // committed — or a successor's extension, which the proof below rules out.
        const current = await this.objects.head(key);
        if (!current?.etag || current.size < keep) throw err;
        await this.proveLeader(topic, partition, lease, key);
        return (await this.objects.append(key, keep, parts, { ifMatch: current.etag })).etag;
      }
    }
    const body = parts instanceof Uint8Array ? parts : concatBytes(parts);
    try {
      return (await this.objects.append(key, 0, body, { ifNoneMatch: true })).etag;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      const leftover = await this.objects.head(key);
      if (!leftover?.etag) throw err;
      // Already starting with exactly our bytes (a retried step, or a flush of the same
      // batches that never committed): adopt it rather than rewrite it.
      if (leftover.size >= body.length) {
        const existing = await this.objects.get(key, { start: 0, end: body.length });
        if (Buffer.compare(Buffer.from(existing.buffer, existing.byteOffset, existing.byteLength), Buffer.from(body.buffer, body.byteOffset, body.byteLength)) === 0) {
          if (leftover.size === body.length) return leftover.etag;
          // Longer: the rest may be a successor's catalogued bytes, not a dead tail. Never cut
          // it on an ETag read here without proving we still lead (a paused flusher whose
          // successor extended this segment used to erase the successor's records so).
          await this.proveLeader(topic, partition, lease, key);
          // A .log's tail past the catalogued size is invisible to readers and overwritten by
          // the next extension: keep it rather than copy the object. Index files are read
          // whole (the reader's seek), so theirs is cut.
          if (key.endsWith('.log')) return leftover.etag;
          return (await this.objects.append(key, body.length, new Uint8Array(0), { ifMatch: leftover.etag })).etag;
        }
      }
      await this.proveLeader(topic, partition, lease, key);
      return (await this.objects.append(key, 0, body, { ifMatch: leftover.etag })).etag;
    }
  }

  /**
   * Our epoch still leads the partition of this topic incarnation, read (strongly consistent)
   * from its head: the fence for writes conditioned on an object's ETag (see write()).
   */
  private async proveLeader(topic: Topic, partition: number, lease: LeaseGuard, key: string): Promise<void> {
    const item = await this.meta.get(headKey(topic.id, partition));
    // A tombstoned head (a deleted incarnation, tombstones.ts) keeps its epoch: refuse it too,
    // or a flusher of a deleted topic could write into the objects of one re-created under its name.
    const head = headFromItem(item);
    if (!item || head.leaderEpoch !== lease.epoch || head.deleted || !lease.held()) throw new PreconditionFailedError(key);
  }

  /** One bounded step; undefined when there was nothing to flush (or we are not the leader). */
  async step(topic: Topic, partition: number, lease: LeaseGuard): Promise<{ bytes: number; batches: number; flushed: number } | undefined> {
    const epoch = lease.epoch;
    // Items mode: the head with the end of the last commit item as its high watermark.
    const head = await this.reader.head(topic, partition);
    if (head.leaderEpoch !== epoch) return undefined; // a newer leader took over
    if (head.deleted) return undefined; // a deleted incarnation: its data is retention's to remove
    const from = Math.max(head.flushed, head.logStart);
    if (from >= head.nextOffset) return undefined;
    // With an inline cache (embedded), the commit pages are read without their bytes: the cache
    // holds nearly all of them, and reading them back (64 KiB pages of a keyed JSON request)
    // was the flush's largest cost after the segment write (issue 18). A miss reads its page.
    const withoutBinary = this.inlineCache !== undefined;
    const chain = await this.reader.extentsFrom(topic, partition, from, head, this.opts.transactDeletes ? SYNC_EXTENTS_PER_STEP : MAX_EXTENTS_PER_STEP, undefined, withoutBinary);
    if (chain?.[0]?.kind === 'seg') return undefined; // a racing flusher got here first
    // In items mode the first item may straddle `from` (an earlier step stopped inside it and
    // wrote no remainder): its batches below `from` are skipped when it is read.
    const items = topic.commit === 'items';
    if (items && (!chain || chain[0]!.base > from)) {
      const skipped = await this.skipExpiredItems(topic, partition, from, head, epoch, lease);
      if (skipped !== undefined) return skipped;
    }
    if (!chain || (items ? !(chain[0]!.base <= from && from <= chain[0]!.last) : chain[0]!.base !== from)) {
      throw new Error(`unflushed extents of ${topic.name}/${partition} do not start at the flushed offset ${from}`);
    }
    const lastSeg = await this.meta.query({ pk: partitionPk(topic.id, partition), beginsWith: SEGMENT_PREFIX, reverse: true, limit: 1 });
    const active = lastSeg.items[0] ? segmentFromItem(lastSeg.items[0]) : undefined;
    const packer = new StepPacker(active, this.clock.now(), {
      stepBytes: this.opts.stepBytes,
      indexIntervalBytes: this.opts.indexIntervalBytes,
      maxSegments: MAX_SEGMENTS_PER_STEP,
      segmentBytes: topic.config['segment.bytes'],
      segmentMs: topic.config['segment.ms'],
      ...(this.opts.chunkBytes !== undefined ? { chunkBytes: this.opts.chunkBytes } : {}),
    });
    let sinceYield = 0;
    const cacheKey = partitionKey(topic, partition);
    const ahead = new WalReadAhead(this.objects, chain, this.opts.stepBytes, this.opts.readAhead);
    for (let i = 0; i < chain.length; i++) {
      const e = chain[i]!;
      if (e.kind === 'seg') break; // already flushed (a racing flusher got here first)
      // Inline extents are read without I/O, so a step over many small commits would run to its
      // end without letting requests in (issue 18: the single-record p99). Reading a
      // write-ahead object yields the same way; nothing here depends on not yielding.
      if (this.opts.transactDeletes && ++sinceYield % 64 === 0) await new Promise((r) => setImmediate(r));
      // This process's own recent inline commit: its bytes as committed, no copy and no second
      // CRC pass (inline-cache.ts); anything else is read (and verified) from the store.
      let read = this.inlineCache?.take(cacheKey, e);
      if (!read && e.kind === 'wal') {
        // Its object was read ahead (or is read now, with the next few): verified here, in order.
        read = await this.reader.readExtent(topic, partition, e, await ahead.take(i));
      } else if (!read) {
        const stored = await this.withBytes(topic, partition, e);
        // Its page is gone since the chain was read: a racing flusher moved it (and this
        // step's transaction would fail on `flushed`). Flush what came before it, if anything.
        if (!stored) break;
        read = await this.reader.readExtent(topic, partition, stored);
      }
      if (e.base < from) read = fromOffset(read, from, topic, partition);
      if (!packer.add(e, read.bytes, read.batches)) break;
    }
    const plan = packer.plan();
    if (!plan) return undefined;

    // Objects first: bytes past a segment's catalogued size are invisible until the commit.
    // Every replace is conditional on the ETag the catalog knows, so a stale flusher (one
    // whose lease ran out while it was paused) cannot clobber what its successor committed.
    // A segment's three objects are written together: nothing orders them (the catalog commit
    // below makes them visible), and on S3 each write is a few round trips a flush function
    // waits for. All settle before the step decides, so no write of this step is still in
    // flight once it has given up.
    try {
      for (const p of plan.segments) {
        if (p.log.length === 0 && !p.isNew) continue;
        // Into the segment's open chunk (its own objects unless written in chunks: design note
        // 0011), at positions within that chunk; a chunk this step starts is created whole.
        const key = (ext: SegmentFile): string => chunkObject(topic, partition, p.seg.base, p.chunk.log, ext);
        const fresh = p.isNew || p.chunk.isNew;
        const writes: Array<Promise<unknown>> = [
          this.write(topic, partition, lease, key('log'), p.prev.size - p.chunk.log, p.log, fresh, p.seg.etags.log).then((etag) => (p.seg.etags.log = etag)),
        ];
        if (fresh || p.index.length > 0) {
          const entries = p.chunk.log === 0 ? p.index : p.index.map((x) => ({ relOffset: x.relOffset, position: x.position - p.chunk.log }));
          writes.push(
            this.write(topic, partition, lease, key('index'), p.prev.indexSize - p.chunk.index, encodeIndexEntries(entries), fresh, p.seg.etags.index).then((etag) => (p.seg.etags.index = etag)),
          );
        }
        if (fresh || p.timeIndex.length > 0) {
          writes.push(
            this.write(topic, partition, lease, key('timeindex'), p.prev.timeIndexSize - p.chunk.timeIndex, encodeTimeIndexEntries(p.timeIndex), fresh, p.seg.etags.timeindex).then((etag) => (p.seg.etags.timeindex = etag)),
          );
        }
        const failed = (await Promise.allSettled(writes)).find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
      }
    } catch (err) {
      if (err instanceof PreconditionFailedError) return undefined; // someone newer wrote it
      throw err;
    }

    // Items mode: the head's producer state is a snapshot as of `flushed` (producer-view.ts),
    // moved with it in this transaction: the old snapshot with the idempotent batches of every
    // item below the new `flushed` applied (the one straddling the old `flushed` is in it
    // already: applying it again changes nothing), and streams expired by now dropped.
    let producers: PartitionProducers | undefined;
    if (items) {
      const expirationMs = this.opts.producerIdExpirationMs ?? DEFAULT_PRODUCER_ID_EXPIRATION_MS;
      let state = head.producers;
      for (const e of chain) {
        if (e.kind === 'seg' || e.base >= plan.newFlushed) break;
        if (e.producer) state = applyItem(state, e.producer, e.base, e.last, expirationMs);
      }
      state = pruneExpired(state, this.clock.now(), expirationMs);
      if (state !== head.producers) producers = state;
    }
    const ops = stepWrites(topic, partition, head.flushed, epoch, plan, { remainderPage: !items, ...(producers ? { producers } : {}) });
    if (!lease.held()) return undefined;
    try {
      await this.meta.transact(ops);
    } catch (err) {
      if (err instanceof ConditionFailedError) return undefined; // another flusher moved first
      throw err;
    }
    // Commit pages wholly below the new `flushed` are garbage now: readers skip them. Deleted
    // outside the transaction (plain deletes cost half); a crash here leaves them to the next
    // step, which deletes whatever lies below `flushed`, including pages a stale committer
    // wrote late.
    if (items) await this.deleteCommitItemsBelow(topic, partition, plan.newFlushed);
    else await this.deleteCommitExtentsBelow(topic, partition, plan.newFlushed, chain);
    // Write-ahead objects fully moved into segments are garbage now (a crash here leaves them
    // for the orphan sweeper).
    const dead = deadWalObjects(plan);
    if (dead.length > 0) await this.objects.delete(dead);
    // A segment this step closed that was written in chunks becomes one object of each kind.
    // A composition that fails for good is set aside (logged, retried after a back-off): the
    // step's records are committed and read from the chunks meanwhile.
    for (const p of plan.segments) {
      if (p.seg.closed && (p.seg.chunks?.length ?? 0) > 1) await this.composeOrSetAside(topic, partition, lease, p.seg);
    }
    return { bytes: plan.bytes, batches: plan.batches, flushed: plan.newFlushed };
  }

  /**
   * Compositions left unfinished (a crash, a lost lease) among the partition's last segments,
   * but not one set aside whose back-off has not run out: that would fail again, at the cost of
   * an attempt's requests on every flush.
   */
  private async composePending(topic: Topic, partition: number, lease: LeaseGuard): Promise<void> {
    const page = await this.meta.query({ pk: partitionPk(topic.id, partition), beginsWith: SEGMENT_PREFIX, reverse: true, limit: PENDING_COMPOSE_LOOKBACK });
    const now = this.clock.now();
    const pending = page.items.map(segmentFromItem).filter((s) => compositionUnfinished(s) && compositionDue(s, now));
    if (pending.length === 0) return;
    // Not one retention is deleting (below the log start; a pass that crashed midway leaves its
    // catalog entry for the next pass, its objects perhaps gone already).
    const logStart = headFromItem(await this.meta.get(headKey(topic.id, partition))).logStart;
    for (const seg of pending.reverse()) {
      if (seg.last >= logStart) await this.composeOrSetAside(topic, partition, lease, seg);
    }
  }

  /**
   * composeSegment, or, when it fails with an error no retry cures (setAsideOnFailure), the
   * composition set aside instead of failing the caller's step: logged, counted, and recorded
   * on the catalog entry with when to try again (composeRetryDelay). Nothing is lost meanwhile:
   * every reader uses the chunks until the entry says composed. A lost lease, a broken
   * condition and a transient failure are thrown as composeSegment throws them.
   * True when composed (or nothing was left to do), false when set aside.
   */
  async composeOrSetAside(topic: Topic, partition: number, lease: LeaseGuard, seg: Segment): Promise<boolean> {
    try {
      await this.composeSegment(topic, partition, lease, seg);
      return true;
    } catch (err) {
      if (!setAsideOnFailure(err) || !lease.held()) throw err;
      await this.setAside(topic, partition, lease, seg, err);
      return false;
    }
  }

  private async setAside(topic: Topic, partition: number, lease: LeaseGuard, seg: Segment, err: unknown): Promise<void> {
    // The entry as it is now: a failure after stage 3 finds it composed, one after a racing
    // retention pass finds it gone (nothing to set aside then).
    const item = await this.meta.get(segmentKey(topic.id, partition, seg.base));
    const current = item && segmentFromItem(item);
    if (!current || !compositionUnfinished(current)) return;
    const failures = (current.composeFailures ?? 0) + 1;
    const retryAt = this.clock.now() + composeRetryDelay(failures);
    this.events.onCompositionFailure?.(topic.name);
    this.log.warn(
      'composition set aside',
      {
        topic: topic.name,
        topic_id: topic.id,
        partition,
        segment_base: seg.base,
        segment_last: seg.last,
        chunks: current.chunks?.length ?? 0,
        composed: current.composed === true,
        attempt: failures,
        retry_at: new Date(retryAt).toISOString(),
      },
      err,
    );
    if (!lease.held()) return;
    try {
      // Conditional on the entry as read, chunk list included: a put of it here, landing after
      // a pause past our lease, brought back the chunk list of a segment our successor had
      // composed since (its chunk objects deleted), for good. With it, atomically, the
      // segment's place in the queue a retention pass reads (Retention.retryCompositions):
      // wherever the segment sits, and whether or not its partition flushes again.
      await this.meta.transact(segmentSetAside(topic, partition, current, failures, retryAt));
    } catch (e) {
      // Finished, set aside or deleted by another process meanwhile: its record stands.
      if (!(e instanceof ConditionFailedError || e instanceof TransactionConflictError)) throw e;
    }
  }

  /**
   * Design note 0011: closed segment `seg`, written in chunks, becomes one `<base>.log`,
   * `.index` and `.timeindex` — the .log by a server-side composition of its chunks, the
   * indexes rebuilt from the chunks' (positions moved by each chunk's start). Then its segment
   * extents are pointed at `<base>.log`, the catalog marks it composed with the new ETags, the
   * chunk objects go, and last the chunk list. Each stage is safe to repeat, and until the
   * catalog says composed every reader uses the chunks, which stay until every extent has
   * moved; a reader that read an extent before it moved and finds its chunk gone reads the
   * extents again (as after a flush deleted a write-ahead object).
   */
  async composeSegment(topic: Topic, partition: number, lease: LeaseGuard, seg: Segment): Promise<void> {
    const chunks = seg.chunks;
    if (!chunks || !seg.closed) return;
    const whole = (ext: SegmentFile): string => segmentObject(topic, partition, seg.base, ext);
    if (!seg.composed && chunks.length > 1) {
      const pieces = segmentPieces(topic, partition, seg);
      const first = chunks[0]!.etags ?? {};
      // The three objects at once: each is the chunks' bytes (below every chunk's catalogued
      // size, which no writer changes), replacing the first chunk under its catalogued ETag.
      const [log, index, timeindex] = await Promise.all([
        this.replaceWhole(topic, partition, lease, whole('log'), first.log, (opts) =>
          this.objects.compose(whole('log'), pieces.map((pc) => ({ key: pc.keys.log, size: pc.log.size })), opts),
        ),
        this.replaceWhole(topic, partition, lease, whole('index'), first.index, async (opts) => {
          const parts = await Promise.all(pieces.map(async (pc) => shiftIndexPositions(await this.readRange(pc.keys.index, pc.index.size), pc.log.start)));
          return this.objects.append(whole('index'), 0, concatBytes(parts), opts);
        }),
        this.replaceWhole(topic, partition, lease, whole('timeindex'), first.timeindex, async (opts) => {
          const parts = await Promise.all(pieces.map((pc) => this.readRange(pc.keys.timeindex, pc.timeIndex.size)));
          return this.objects.append(whole('timeindex'), 0, concatBytes(parts), opts);
        }),
      ]);
      await this.pointExtentsAtWhole(topic, partition, seg);
      const composed: Segment = { ...seg, etags: { log, index, timeindex }, composed: true };
      try {
        await this.meta.write({ type: 'put', item: segmentToItem(topic.id, partition, composed), condition: segmentAsRead(seg.size, true, false) });
      } catch (err) {
        if (err instanceof ConditionFailedError) return; // retention removed it, or a racing flusher composed it
        throw err;
      }
      seg = composed;
    }
    // A topic created before design note 0012 names its chunk objects by its name alone, which
    // a topic deleted and created again shares: these keys may hold its live chunks. Deleted
    // only once our epoch is proven to lead this incarnation (a tombstoned head refuses), as
    // write() proves before acting on a key. (Since 0012 the keys are the incarnation's own,
    // and the proof also keeps a deposed leader from deleting what a successor composes.)
    const chunkKeys = chunkObjects(topic, partition, seg);
    if (chunkKeys.length > 0) {
      await this.proveLeader(topic, partition, lease, chunkKeys[0]!);
      await this.objects.delete(chunkKeys);
    }
    const { chunks: _chunks, composed: _composed, composeFailures: _failures, composeRetryAt: retryAt, ...plain } = seg;
    try {
      await this.meta.write({ type: 'put', item: segmentToItem(topic.id, partition, plain), condition: segmentAsRead(seg.size, true, true) });
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
    }
    // Done: a set-aside composition leaves the queue of those to try again. (A crash before
    // this leaves the item to the retention pass, which drops it once it finds the segment
    // composed.)
    if (retryAt !== undefined) await this.meta.write({ type: 'delete', key: composeDueKey(retryAt, topic.id, partition, seg.base) });
  }

  /**
   * Replaces a segment's `key` with what `make` writes, conditional on the first chunk's
   * catalogued ETag. That ETag can be stale without anything being wrong: a former leader
   * paused past its lease may have extended the chunk's dead tail (past its catalogued size,
   * which it keeps), or an earlier composition crashed before the catalog learnt of it. Then,
   * as write() does, the current version is taken once our epoch is proven to lead: the bytes
   * composed are below the chunks' catalogued sizes, which that version holds unchanged.
   */
  private async replaceWhole(topic: Topic, partition: number, lease: LeaseGuard, key: string, etag: string | undefined, make: (opts: AppendOptions) => Promise<{ etag: string }>): Promise<string> {
    if (!lease.held()) throw new PreconditionFailedError(key);
    // Composition replaces `<base>.*`, which a re-created topic of the same name shares when it predates design note 0012: prove first.
    if (etag === undefined) await this.proveLeader(topic, partition, lease, key);
    try {
      return (await make(etag !== undefined ? { ifMatch: etag } : {})).etag;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      const current = await this.objects.head(key);
      if (!current?.etag) throw err;
      await this.proveLeader(topic, partition, lease, key);
      return (await make({ ifMatch: current.etag })).etag;
    }
  }

  private async readRange(key: string, size: number): Promise<Uint8Array> {
    return size === 0 ? new Uint8Array(0) : this.objects.get(key, { start: 0, end: size });
  }

  /** Every segment extent of `seg` that points into a chunk object now points into `<base>.log`. */
  private async pointExtentsAtWhole(topic: Topic, partition: number, seg: Segment): Promise<void> {
    const pk = partitionPk(topic.id, partition);
    const logKey = segmentObject(topic, partition, seg.base, 'log');
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk, gte: segExtentSk(seg.base), lte: segExtentSk(seg.last), startAfter, limit: 500 });
      const moves: WriteOp[] = [];
      for (const item of page.items) {
        for (const e of extentsFromItem(item)) {
          const chunk = e.obj !== undefined ? parseChunkObject(e.obj) : undefined;
          if (!chunk || chunk.base !== seg.base) continue;
          const { sk: _sk, ...rest } = e;
          moves.push({
            type: 'put',
            item: segExtentToItem(topic.id, partition, { ...rest, obj: logKey, pos: e.pos + chunk.logStart }),
            // Only the extent as read: never one retention deleted meanwhile.
            condition: { op: 'eq', attr: 'obj', value: e.obj! },
          });
        }
      }
      await inParallel(moves, DELETE_CONCURRENCY, async (op) => {
        try {
          await this.meta.write(op);
        } catch (err) {
          if (!(err instanceof ConditionFailedError)) throw err;
        }
      });
      startAfter = page.next;
    } while (startAfter);
  }

  /**
   * Inline extent `e` with its bytes: itself when it has them (a tail of the head, or a page read
   * whole), else from its page, read again (`e` came from a query withoutBinary and missed the
   * inline cache). Undefined when the page no longer holds that extent.
   */
  private async withBytes(topic: Topic, partition: number, e: Extent): Promise<Extent | undefined> {
    if (e.kind !== 'inline' || e.data) return e;
    const page = await this.meta.get({ pk: partitionPk(topic.id, partition), sk: e.sk });
    if (!page) return undefined;
    return extentsFromItem(page).find((x) => x.kind === 'inline' && x.base === e.base && x.cid === e.cid && x.len === e.len && x.wb === e.wb && x.data);
  }

  /**
   * Items mode: no commit item covers `from`, below the high watermark. Items are only ever
   * created at the end of the log, so the ones that covered it are gone: DynamoDB's TTL removed
   * them because flush made no progress for longer than they live (max(7 days, retention.ms) +
   * 1 day, commit-items.ts) — records time retention would have removed by now. The log then
   * starts, as retention would leave it, at the first item left: `flushed` and the log start
   * move there together, under the same conditions as a step's (flushed as read, our epoch, no
   * tombstone), and readers below it get OFFSET_OUT_OF_RANGE instead of a chain that never
   * closes. Undefined when an item after `from` cannot be found (nothing to skip to).
   */
  private async skipExpiredItems(
    topic: Topic,
    partition: number,
    from: number,
    head: { flushed: number; logStart: number },
    epoch: number,
    lease: LeaseGuard,
  ): Promise<{ bytes: number; batches: number; flushed: number } | undefined> {
    const pk = partitionPk(topic.id, partition);
    const [covering, after] = await Promise.all([
      queryCoveringItem(this.meta, topic.id, partition, from),
      this.meta.query({ pk, gt: commitItemSk(from), lt: COMMIT_ITEM_END, limit: 1 }),
    ]);
    const cover = covering.items[0] && commitItemFromItem(covering.items[0]);
    if (cover?.kind === 'commit' && cover.extent.last >= from) return undefined; // there after all: a moving chain
    const next = after.items[0] && commitItemFromItem(after.items[0]);
    if (next?.kind !== 'commit') return undefined;
    const to = next.extent.base;
    if (!lease.held()) return undefined;
    try {
      await this.meta.write(gapSkipWrite(topic, partition, head, epoch, to));
    } catch (err) {
      if (err instanceof ConditionFailedError) return undefined; // another flusher moved first
      throw err;
    }
    return { bytes: 0, batches: 0, flushed: to };
  }

  /**
   * Items mode: commit items expire by the table's TTL, free (commit-items.ts), so flush
   * deletes none — except on topics that keep records forever, whose items carry no TTL. There
   * it deletes the items wholly below `flushed` that are older than ITEM_DELETE_MIN_AGE_MS, and
   * never the one ending at `flushed`, so the last item still shows where the log ends. The
   * age bound is what keeps a deleted key from being taken again: a committer puts only at the
   * end of an item it saw at most END_CACHE_MS ago (or at `flushed`), and a key freed by this
   * delete is the base of an item older than a day.
   */
  private async deleteCommitItemsBelow(topic: Topic, partition: number, flushed: number): Promise<void> {
    if (commitTtl(topic, 0) !== undefined) return;
    const pk = partitionPk(topic.id, partition);
    const oldest = this.clock.now() - ITEM_DELETE_MIN_AGE_MS;
    // Oldest first: the scan stops at the first item too young to go (items are written in
    // offset order, so the rest are younger, give or take the writers' clocks).
    const page = await this.meta.query({ pk, gte: COMMIT_ITEM_PREFIX, lt: commitItemSk(flushed), limit: 100, consistent: false, withoutBinary: true });
    const doomed: string[] = [];
    for (const item of page.items) {
      const c = commitItemFromItem(item);
      if (c.kind !== 'commit' || c.extent.last + 1 >= flushed) break;
      if (c.at === undefined || c.at > oldest) break;
      doomed.push(item.sk);
    }
    await inParallel(doomed, DELETE_CONCURRENCY, (sk) => this.meta.write({ type: 'delete', key: { pk, sk } }));
  }

  /** `read`: the extents the step read, whose pages are deleted first by key where transactions are cheap. */
  private async deleteCommitExtentsBelow(topic: Topic, partition: number, flushed: number, read: Extent[]): Promise<void> {
    const pk = partitionPk(topic.id, partition);
    let deleted = 0;
    const below = extentSk(flushed);
    if (this.opts.transactDeletes) {
      // The pages this step read are known by key: delete those first, so that the sweep below
      // finds only strays (pages a stale committer wrote late), usually none. A SQLite query
      // returns whole items, and these pages are the step's inline bytes (issue 18: reading
      // them all a second time only to learn their keys was a tenth of a keyed request's flush).
      const known = [...new Set(read.map((e) => e.sk))].filter((sk) => sk.startsWith(EXTENT_PREFIX) && sk < below);
      await this.deletePages(pk, known);
      deleted += known.length;
    }
    while (deleted < DELETES_PER_STEP) {
      // Keyed by their last offset: every page with sk < x#flushed lies wholly below it.
      // SQLite reads a page of results synchronously, inline bytes and all: smaller pages there.
      // Keys only are needed: the bytes stay unread where the store can leave them (SQLite).
      const page = await this.meta.query({ pk, gte: EXTENT_PREFIX, lt: below, limit: this.opts.transactDeletes ? this.meta.limits.maxTransactItems : 500, withoutBinary: true });
      if (this.opts.transactDeletes) {
        await this.deletePages(pk, page.items.map((item) => item.sk));
      } else {
        await inParallel(page.items, DELETE_CONCURRENCY, (item) => this.meta.write({ type: 'delete', key: { pk, sk: item.sk } }));
      }
      deleted += page.items.length;
      if (!page.next) break;
    }
  }

  /** Deletes pages by key in transactions of up to the store's limit, letting commits in between. */
  private async deletePages(pk: string, sks: string[]): Promise<void> {
    const per = this.meta.limits.maxTransactItems;
    for (let i = 0; i < sks.length; i += per) {
      await this.meta.transact(sks.slice(i, i + per).map((sk): WriteOp => ({ type: 'delete', key: { pk, sk } })));
      await new Promise((r) => setImmediate(r)); // let commits in between
    }
  }
}

/**
 * The batches of an extent's bytes from offset `from` on (a batch boundary: flush moves whole
 * batches), re-based to start at byte 0 — an items-mode commit item flush already moved in part.
 */
function fromOffset(read: { bytes: Uint8Array; batches: BatchInfo[] }, from: number, topic: Topic, partition: number): { bytes: Uint8Array; batches: BatchInfo[] } {
  const i = read.batches.findIndex((b) => b.base === from);
  if (i < 0) throw new Error(`no batch of ${topic.name}/${partition} starts at the flushed offset ${from}`);
  const cut = read.batches[i]!.start;
  return { bytes: read.bytes.subarray(cut), batches: read.batches.slice(i).map((b) => ({ ...b, start: b.start - cut, end: b.end - cut })) };
}

/** Write-ahead objects a step reads at once, at most, by default (see WalReadAhead). */
export const WAL_READ_AHEAD = 8;

/**
 * A step's write-ahead object reads, up to `limit` at a time from the one being packed on. On S3
 * each GET waits tens of milliseconds for its first byte (AWS's S3 performance guidelines), and
 * the step used to read them one after another: 32 per 32 MiB step of 1 MiB requests, most of the
 * step's wall time, which Lambda bills (issue 18). Bounded twice: in reads (at most `limit`
 * objects in flight) and in bytes (nothing past what the step can take: `stepBytes` counted from
 * its first extent, so only a step that stops early for another reason, a segment roll, leaves
 * reads unused). A read nobody takes is dropped; its failure, if any, is nobody's: only a taken
 * read's error reaches the step, as the same read made then would have.
 */
export class WalReadAhead {
  private readonly started = new Map<number, Promise<Uint8Array>>();
  /** The next chain index to consider, and the bytes of the extents before it. */
  private next = 0;
  private bytes = 0;

  constructor(
    private readonly objects: ObjectStore,
    private readonly chain: readonly Extent[],
    private readonly stepBytes: number,
    /** Reads in flight at most, the one being taken included. */
    private readonly limit = WAL_READ_AHEAD,
  ) {}

  /** The bytes of write-ahead extent `i`, starting its read (and the next ones') if not yet. */
  take(i: number): Promise<Uint8Array> {
    this.fill(i, this.limit);
    const read = this.started.get(i) ?? this.read(this.chain[i]!);
    this.started.delete(i);
    // `i`'s read may still be in flight: it counts against the bound until the caller has it.
    this.fill(i + 1, this.limit - 1);
    return read;
  }

  /** Start the reads from chain index `from` on, while fewer than `limit` are started and not taken. */
  private fill(from: number, limit: number): void {
    for (; this.next < from; this.next++) this.bytes += this.chain[this.next]!.len;
    while (this.next < this.chain.length && this.started.size < limit) {
      const e = this.chain[this.next]!;
      if (e.kind === 'seg' || (this.next > 0 && this.bytes + e.len > this.stepBytes)) return;
      if (e.kind === 'wal') {
        const read = this.read(e);
        read.catch(() => undefined); // awaited by take(), or dropped with the step
        this.started.set(this.next, read);
      }
      this.bytes += e.len;
      this.next++;
    }
  }

  private read(e: Extent): Promise<Uint8Array> {
    return this.objects.get(e.obj!, { start: e.pos, end: e.pos + e.len });
  }
}
