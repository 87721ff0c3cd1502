// What one flush step does, decided on plain data (no I/O), so it can be tested as such; the
// executor in flush.ts reads, writes the objects and commits what this decides.
//   - StepPacker: the unflushed batches, extent by extent, packed into the active segment and
//     new ones (rolling at segment.bytes / segment.ms, index entries every
//     index.interval.bytes as Kafka's LogSegment.append writes them), until the step is full;
//   - stepWrites: the step's one metadata transaction — `flushed` moves (fenced by its old value
//     and the leader epoch), catalog entries grow (conditional on their old size) or appear,
//     segment extents appear, and a remainder commit page when the step stopped mid-extent;
//   - deadWalObjects: the write-ahead objects the step moved wholly into segments.
import type { Condition, WriteOp } from '../storage/ports';
import { commitPageToItem, HEAD_ATTR, headUpdate, segExtentToItem, segmentAsRead, segmentToItem } from './items';
import { chunkObject, headKey } from './keys';
import type { Extent, Segment } from './model';
import type { PartitionProducers } from './producers';
import type { BatchInfo } from './reader';

export interface PackOptions {
  /** Bytes of batches moved per step. */
  stepBytes: number;
  /** Kafka's index.interval.bytes. */
  indexIntervalBytes: number;
  /** Segments one step writes at most. */
  maxSegments: number;
  /** The topic's segment.bytes and segment.ms. */
  segmentBytes: number;
  segmentMs: number;
  /**
   * Write segments in chunks of at least this many bytes (design note 0011): where appending
   * copies the object (S3), a step then writes a new chunk object once the open chunk holds
   * this much, instead of re-copying the whole segment. Undefined: one object per segment.
   */
  chunkBytes?: number;
}

export interface SegmentPlan {
  seg: Segment;
  isNew: boolean;
  prev: { size: number; indexSize: number; timeIndexSize: number };
  /**
   * The chunk this step writes the segment's bytes into: where it starts in the segment's
   * .log/.index/.timeindex (all 0 for a segment that is one object) and whether this step
   * starts it (its objects are then created, like a new segment's).
   */
  chunk: { log: number; index: number; timeIndex: number; isNew: boolean };
  log: Uint8Array[];
  index: Array<{ relOffset: number; position: number }>;
  timeIndex: Array<{ timestamp: number; relOffset: number }>;
  extents: Array<{ base: number; last: number; pos: number; len: number; maxTs: number }>;
}

export interface StepPlan {
  segments: SegmentPlan[];
  /** Commit extents read into the step (the last may be only partly moved: `remainder`). */
  consumed: Extent[];
  /** The unmoved rest of an extent the step stopped inside. */
  remainder?: { extent: Extent; bytes: Uint8Array; batches: BatchInfo[] };
  bytes: number;
  batches: number;
  /** The new flushed offset: one past the last batch moved. */
  newFlushed: number;
}

/**
 * Packs a step from the catalog's last segment (`active`, continued while open) and the
 * unflushed extents fed to `add` in offset order, at time `now`.
 */
export class StepPacker {
  private readonly plans: SegmentPlan[] = [];
  private cur: SegmentPlan | undefined;
  private moved = 0;
  private batchCount = 0;
  private readonly consumed: Extent[] = [];
  private remainder: StepPlan['remainder'];
  private full = false;

  constructor(
    active: Segment | undefined,
    private readonly now: number,
    private readonly opts: PackOptions,
  ) {
    if (active && !active.closed) {
      this.cur = {
        seg: { ...active, etags: { ...active.etags } },
        isNew: false,
        prev: { size: active.size, indexSize: active.indexSize, timeIndexSize: active.timeIndexSize },
        chunk: { ...openChunk(active), isNew: false },
        log: [], index: [], timeIndex: [], extents: [],
      };
      if (active.chunks) this.cur.seg.chunks = active.chunks.map((c) => ({ ...c, ...(c.etags ? { etags: { ...c.etags } } : {}) }));
      this.plans.push(this.cur);
    }
  }

  /** Packs one extent's batches; false once the step is full (feed no more). */
  add(e: Extent, bytes: Uint8Array, batches: BatchInfo[]): boolean {
    if (this.full) return false;
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i]!;
      const len = b.end - b.start;
      if (this.moved > 0 && this.moved + len > this.opts.stepBytes) return this.stop(e, bytes, batches, i);
      let cur = this.cur;
      const roll = !cur || (cur.seg.size > 0 && (cur.seg.size + len > this.opts.segmentBytes || this.now - cur.seg.createdAt >= this.opts.segmentMs));
      if (roll) {
        if (this.plans.length >= this.opts.maxSegments) return this.stop(e, bytes, batches, i);
        if (cur) cur.seg.closed = true;
        cur = {
          seg: {
            base: b.base, last: b.base - 1, size: 0, indexSize: 0, timeIndexSize: 0, maxTs: -1, maxTsOffset: -1,
            sinceIndex: 0, timeIndexTs: -1, createdAt: this.now, closed: false, etags: {},
          },
          isNew: true,
          prev: { size: 0, indexSize: 0, timeIndexSize: 0 },
          chunk: { log: 0, index: 0, timeIndex: 0, isNew: true },
          log: [], index: [], timeIndex: [], extents: [],
        };
        this.cur = cur;
        this.plans.push(cur);
      }
      const s = cur!.seg;
      if (cur!.log.length === 0 && !cur!.isNew) this.openChunkFor(cur!);
      if (s.chunks) {
        const open = s.chunks[s.chunks.length - 1]!;
        open.maxTs = Math.max(open.maxTs, b.maxTs);
      }
      if (b.maxTs > s.maxTs) {
        s.maxTs = b.maxTs;
        s.maxTsOffset = b.last;
      }
      // Kafka's LogSegment.append: an index entry for this batch once enough bytes passed.
      if (s.sinceIndex > this.opts.indexIntervalBytes) {
        cur!.index.push({ relOffset: b.last - s.base, position: s.size });
        s.indexSize += 8;
        if (s.maxTs > s.timeIndexTs) {
          cur!.timeIndex.push({ timestamp: s.maxTs, relOffset: s.maxTsOffset - s.base });
          s.timeIndexSize += 12;
          s.timeIndexTs = s.maxTs;
        }
        s.sinceIndex = 0;
      }
      const ext = cur!.extents[cur!.extents.length - 1];
      if (ext && ext.last + 1 === b.base && ext.pos + ext.len === s.size) {
        ext.last = b.last;
        ext.len += len;
        ext.maxTs = Math.max(ext.maxTs, b.maxTs);
      } else {
        cur!.extents.push({ base: b.base, last: b.last, pos: s.size, len, maxTs: b.maxTs });
      }
      cur!.log.push(bytes.subarray(b.start, b.end));
      s.size += len;
      s.sinceIndex += len;
      s.last = b.last;
      this.moved += len;
      this.batchCount++;
    }
    this.consumed.push(e);
    if (this.moved >= this.opts.stepBytes) this.full = true;
    return !this.full;
  }

  /**
   * Before the first batch a step adds to the segment it continues: once its open chunk holds
   * chunkBytes, the step starts a new chunk where the segment ends, so that no step copies more
   * than a chunk (design note 0011). The first chunk keeps the ETags its objects have now: the
   * composition replaces `<base>.*` under them. Later chunks' are of no use once closed, and
   * the catalog entry, rewritten every step, is billed by its size.
   */
  private openChunkFor(p: SegmentPlan): void {
    const s = p.seg;
    const chunkBytes = this.opts.chunkBytes;
    if (chunkBytes === undefined || s.size - p.chunk.log < chunkBytes) return;
    const chunks = s.chunks ?? [{ log: 0, index: 0, timeIndex: 0, maxTs: s.maxTs, etags: { ...s.etags } }];
    chunks.push({ log: s.size, index: s.indexSize, timeIndex: s.timeIndexSize, maxTs: -1 });
    s.chunks = chunks;
    s.etags = {};
    p.chunk = { log: s.size, index: s.indexSize, timeIndex: s.timeIndexSize, isNew: true };
  }

  /** The step is full before batch `i` of `e`: the rest of `e` (if it moved any) is a remainder. */
  private stop(e: Extent, bytes: Uint8Array, batches: BatchInfo[], i: number): false {
    if (i > 0) this.remainder = { extent: e, bytes, batches: batches.slice(i) };
    this.full = true;
    return false;
  }

  /** The packed step; undefined when no batch was moved. */
  plan(): StepPlan | undefined {
    if (this.batchCount === 0) return undefined;
    return {
      segments: this.plans,
      consumed: this.consumed,
      ...(this.remainder ? { remainder: this.remainder } : {}),
      bytes: this.moved,
      batches: this.batchCount,
      newFlushed: this.plans.reduce((m, p) => Math.max(m, p.seg.last), -1) + 1,
    };
  }
}

/** Where the open (last) chunk of a segment starts: the segment's own objects unless it was written in chunks. */
export function openChunk(seg: Pick<Segment, 'chunks'>): { log: number; index: number; timeIndex: number } {
  const c = seg.chunks?.[seg.chunks.length - 1];
  return c ? { log: c.log, index: c.index, timeIndex: c.timeIndex } : { log: 0, index: 0, timeIndex: 0 };
}

/**
 * The step's transaction, once its segment objects are written (the plan's etags filled in):
 * from the head's `flushed` as read and the leader epoch that fences it.
 */
export function stepWrites(
  topic: { id: string; name: string },
  partition: number,
  flushed: number,
  epoch: number,
  plan: StepPlan,
  /**
   * Write the unmoved rest of an extent the step stopped inside as a page of its own (head
   * mode); items mode leaves the commit item as it is, and readers use it from `flushed` on.
   */
  opts: {
    remainderPage: boolean;
    /** Items mode: the head's producer-state snapshot as of the new `flushed` (producer-view.ts), when it changed. */
    producers?: PartitionProducers;
  } = { remainderPage: true },
): WriteOp[] {
  const ops = new Map<string, WriteOp>();
  // Fences a racing flusher (only one can move `flushed` from its old value) and a former
  // leader (the epoch rose when the lease was taken over), and a deleted incarnation.
  const flushedCond: Condition = {
    op: 'and',
    conds: [
      flushed === 0
        ? { op: 'or', conds: [{ op: 'attrNotExists', attr: HEAD_ATTR.flushed }, { op: 'eq', attr: HEAD_ATTR.flushed, value: 0 }] }
        : { op: 'eq', attr: HEAD_ATTR.flushed, value: flushed },
      { op: 'eq', attr: HEAD_ATTR.leaderEpoch, value: epoch },
      { op: 'attrNotExists', attr: HEAD_ATTR.deleted },
    ],
  };
  const snapshot = opts.producers ? { producers: opts.producers } : {};
  ops.set('head', { type: 'update', key: headKey(topic.id, partition), ...headUpdate({ flushed: plan.newFlushed, ...snapshot }), condition: flushedCond });
  for (const p of plan.segments) {
    const item = segmentToItem(topic.id, partition, p.seg);
    ops.set(`seg${p.seg.base}`, {
      type: 'put',
      item,
      condition: p.isNew
        ? { op: 'notExists' }
        : segmentAsRead(p.prev.size, false),
    });
  }
  if (plan.remainder && opts.remainderPage) {
    // The consumed part's commit extent lies below the new `flushed` (garbage); the rest of
    // it gets a page of its own, keyed by its last offset like the page it came from, which
    // it replaces when they share that key (a later commit page never overwrites it: those
    // are conditional creates).
    const { extent: e, bytes, batches } = plan.remainder;
    const first = batches[0]!;
    const rest = bytes.subarray(first.start);
    const item = commitPageToItem(topic.id, partition, [{
      base: first.base,
      last: e.last,
      kind: e.kind,
      ...(e.kind === 'inline' ? { data: rest } : { obj: e.obj! }),
      pos: e.kind === 'inline' ? 0 : e.pos + first.start,
      len: rest.length,
      // Inline remainders are stored patched; write-ahead bytes keep their original offsets.
      wb: e.kind === 'inline' ? first.base : first.base - (e.base - e.wb),
      maxTs: batches.reduce((m, b) => Math.max(m, b.maxTs), -1),
    }]);
    ops.set(item.sk, { type: 'put', item });
  }
  for (const p of plan.segments) {
    for (const x of p.extents) {
      const item = segExtentToItem(topic.id, partition, {
        base: x.base, last: x.last, kind: 'seg', obj: chunkObject(topic, partition, p.seg.base, p.chunk.log, 'log'),
        pos: x.pos - p.chunk.log, len: x.len, wb: x.base, maxTs: x.maxTs, seg: p.seg.base,
      });
      ops.set(item.sk, { type: 'put', item });
    }
  }
  return [...ops.values()];
}

/** Write-ahead objects the step moved wholly into segments (a remainder's object stays). */
export function deadWalObjects(plan: StepPlan): string[] {
  const remainderObj = plan.remainder?.extent.kind === 'wal' ? plan.remainder.extent.obj : undefined;
  return [...new Set(plan.consumed.filter((e) => e.kind === 'wal' && e.obj !== remainderObj).map((e) => e.obj!))];
}

/**
 * Items mode, a flush over commit items TTL removed before they were flushed (flush.ts,
 * skipExpiredItems): `flushed` and the log start move to `to`, the first item left, under a
 * step's conditions — `flushed` as read, our leader epoch, no tombstone.
 */
export function gapSkipWrite(topic: { id: string }, partition: number, head: { flushed: number; logStart: number }, epoch: number, to: number): WriteOp {
  const flushedIs: Condition =
    head.flushed === 0
      ? { op: 'or', conds: [{ op: 'attrNotExists', attr: HEAD_ATTR.flushed }, { op: 'eq', attr: HEAD_ATTR.flushed, value: 0 }] }
      : { op: 'eq', attr: HEAD_ATTR.flushed, value: head.flushed };
  return {
    type: 'update',
    key: headKey(topic.id, partition),
    ...headUpdate({ flushed: to, logStart: Math.max(head.logStart, to) }),
    condition: { op: 'and', conds: [flushedIs, { op: 'eq', attr: HEAD_ATTR.leaderEpoch, value: epoch }, { op: 'attrNotExists', attr: HEAD_ATTR.deleted }] },
  };
}
