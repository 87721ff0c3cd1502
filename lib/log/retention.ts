// Retention and lifecycle, one bounded pass at a time (design note 0007). This file holds the
// pass and partition retention; topic deletion is topic-deletion.ts, the sweeper
// orphan-sweeper.ts. A pass:
//   - deleted topics: each deleted incarnation's metadata and objects are removed, then its
//     deletion marker (topic-deletion.ts; the name was free from the deletion on);
//   - segment.ms: an idle active segment older than segment.ms is sealed, so it can expire;
//   - retention.ms / retention.bytes, as Kafka applies them: closed segments only, oldest
//     first, a prefix of the log. The log start offset moves atomically in the metadata store
//     BEFORE anything is deleted, so a racing fetch either reads the data or gets
//     OFFSET_OUT_OF_RANGE — never a half-deleted segment. Deletion then goes extents →
//     objects → catalog entries, so a crash anywhere leaves catalog entries below the log
//     start, which the next pass finishes;
//   - set-aside compositions (design note 0011): segments whose composition from chunks failed
//     for a reason no retry cures, tried again from their queue once their back-off has run
//     out, wherever they sit in their partitions (retryCompositions);
//   - orphans: write-ahead and segment objects no metadata references, older than a grace
//     period longer than any commit or flush can keep an unreferenced object it will still
//     reference (see MIN_ORPHAN_GRACE_MS; orphan-sweeper.ts).
// Work is proportional to what expired, not to history: the head carries a running summary of
// the closed segments (ret_upto, ret_bytes, ret_segs) that each pass only extends by the
// segments closed since the last one; only the expiring prefix of the catalog is read; a pass
// visits at most `partitionsPerRun` partitions from a stored cursor and stops at its time
// budget, and the next pass resumes from what the store says.
import { ConditionFailedError } from '../errors';
import type { Condition, MetaStore, ObjectStore } from '../storage/ports';
import type { Clock } from '../util/clock';
import type { LogStartsSeen } from './log-starts';
import { COMMIT_MAX_WAL_AGE_MS } from './commit';
import {
  COMMIT_ITEM_END,
  commitItemSk,
  COMPOSE_DUE_PK,
  composeDueBefore,
  EXTENT_END,
  EXTENT_PREFIX,
  extentSk,
  headKey,
  partitionPk,
  RETENTION_CURSOR,
  SEG_EXTENT_PREFIX,
  segExtentSk,
  SEGMENT_END,
  SEGMENT_FILES,
  SEGMENT_PREFIX,
  segmentKey,
  segmentObject,
  segmentSk,
  TOPICS_PK,
} from './keys';
import type { LeaseManager } from './lease';
import type { LeaseGuard } from './flush';
import { OrphanSweeper } from './orphan-sweeper';
import { unflushedItems } from './reader';
import { chunkObjects, compositionDue, compositionUnfinished, isChunked } from './segment-pieces';
import { deleteItems, TopicDeletion } from './topic-deletion';
import {
  composeDueFromItem,
  extentItemLast,
  extentsFromItem,
  HEAD_ATTR,
  headFromItem,
  headUpdate,
  RETENTION_ATTR,
  retentionCursorFromItem,
  retentionCursorToItem,
  segmentAsRead,
  segmentFromItem,
  topicItemFromItem,
} from './items';
import type { Head, RetentionSummary, Segment } from './model';
import type { Topic, TopicRegistry } from './topics';

export interface RetentionOptions {
  /** Delete a deleted topic's data only this long after the deletion (in-flight writes end). */
  deletionGraceMs: number;
  /** Unreferenced objects younger than this are never swept (at least MIN_ORPHAN_GRACE_MS). */
  orphanGraceMs: number;
  /** Stop a pass after this long; the next pass resumes. */
  budgetMs: number;
  /** Partitions a pass examines at most; the next pass starts after the last one. */
  partitionsPerRun: number;
  /** Segments deleted per log-start move (one bounded step; a partition may take several). */
  segmentsPerStep: number;
}

/**
 * SigV4-signed requests are accepted up to 15 minutes after signing, so a metadata write can
 * land that long after its sender last looked at anything. A commit re-writes a write-ahead
 * object older than COMMIT_MAX_WAL_AGE_MS before (re)trying its transaction, and a flush
 * commits a new segment object within its lease (seconds); an unreferenced object older than
 * this bound can therefore never become referenced.
 */
export const SIGV4_VALIDITY_MS = 15 * 60 * 1000;
export const MIN_ORPHAN_GRACE_MS = COMMIT_MAX_WAL_AGE_MS + SIGV4_VALIDITY_MS + 10 * 60 * 1000;

export const DEFAULT_RETENTION_OPTIONS: RetentionOptions = {
  deletionGraceMs: 5_000,
  orphanGraceMs: 60 * 60 * 1000,
  budgetMs: 60_000,
  partitionsPerRun: 2_000,
  segmentsPerStep: 500,
};

/** Catalog pages of new closed segments summed per partition per pass (the rest next pass). */
const TAIL_PAGES = 20;
/** Write the summary alone (no deletion due) once this many segments were added to it. */
const SUMMARY_WRITE_MIN = 16;
/**
 * Set-aside compositions a pass tries again at most (the rest, due since, next pass). Each is
 * an attempt's requests and at most a lease; they are rare, a handful a day per segment.
 */
const COMPOSE_DUE_PER_PASS = 50;

export interface RetentionStats {
  /** Partitions examined this pass. */
  partitions: number;
  deletedSegments: number;
  deletedBytes: number;
  sealedSegments: number;
  deletedTopics: number;
  sweptObjects: number;
  /** Partitions leased by another live process this pass (their leader handles them). */
  skippedPartitions: number;
  /** Partitions whose retention failed this pass (logged; retried next pass). */
  failedPartitions: number;
  /** Every partition was visited and the pass ended within its budget. */
  complete: boolean;
}

/** The retention summary kept on the head item (see the file comment). */
type Summary = RetentionSummary;

interface Plan {
  head: Head;
  old: Summary & { present: boolean };
  summary: Summary;
  /** Segments added to the summary by this plan. */
  added: number;
  active?: Segment;
  sealable: boolean;
  /** The expiring prefix of the catalog, oldest first (at most segmentsPerStep). */
  doomed: Segment[];
  newLogStart: number;
  /**
   * Closed segments in the tail still in chunks: a composition a crash interrupted (design
   * note 0011). The partition's next flush finishes it too, but an idle partition has none.
   */
  unfinished: Segment[];
}

export class Retention {
  private readonly deletions: TopicDeletion;
  private readonly sweeper: OrphanSweeper;

  constructor(
    private readonly meta: MetaStore,
    private readonly objects: ObjectStore,
    private readonly topics: TopicRegistry,
    private readonly clock: Clock,
    private readonly leases: LeaseManager,
    private readonly opts: RetentionOptions = DEFAULT_RETENTION_OPTIONS,
    /** The flush's composition (flush.ts composeOrSetAside), for a segment this job seals in chunks. */
    private readonly composeSealed?: (topic: Topic, partition: number, lease: LeaseGuard, seg: Segment) => Promise<void>,
    /** Where the log starts it leaves are noted (log-starts.ts): this process's Produce answers carry them. */
    private readonly logStarts?: LogStartsSeen,
  ) {
    if (opts.orphanGraceMs < MIN_ORPHAN_GRACE_MS) {
      throw new Error(`orphanGraceMs must be at least ${MIN_ORPHAN_GRACE_MS} ms (COMMIT_MAX_WAL_AGE_MS + SigV4 validity + slack), got ${opts.orphanGraceMs}`);
    }
    this.deletions = new TopicDeletion(meta, objects, topics, clock, opts);
    this.sweeper = new OrphanSweeper(meta, objects, clock, opts);
  }

  /**
   * Deleted topics' data alone (the first step of runOnce), within the pass budget: what the
   * retention function runs for a deletion the API handed it. A marker younger than
   * deletionGraceMs is left for a later pass.
   */
  async runDeletions(): Promise<Pick<RetentionStats, 'deletedTopics'>> {
    const stats = { deletedTopics: 0 };
    await this.deletions.run(stats, this.clock.monotonic() + this.opts.budgetMs);
    return stats;
  }

  /** How long a deleted topic's data stays after its deletion (in-flight writes drain). */
  get deletionGraceMs(): number {
    return this.opts.deletionGraceMs;
  }

  async runOnce(): Promise<RetentionStats> {
    const deadline = this.clock.monotonic() + this.opts.budgetMs;
    const stats: RetentionStats = {
      partitions: 0, deletedSegments: 0, deletedBytes: 0, sealedSegments: 0, deletedTopics: 0,
      sweptObjects: 0, skippedPartitions: 0, failedPartitions: 0, complete: false,
    };
    await this.deletions.run(stats, deadline);
    const visitedAll = await this.retainPartitions(stats, deadline);
    // After the partitions: a set-aside composition their tails held was tried there, and its
    // queue item moved on if it failed again.
    if (this.clock.monotonic() < deadline) await this.retryCompositions(stats, deadline);
    if (this.clock.monotonic() < deadline) await this.sweeper.run(stats, deadline);
    stats.complete = visitedAll && this.clock.monotonic() <= deadline;
    return stats;
  }

  // --- partitions, from a stored cursor ---------------------------------------------------------

  /** Visits partitions from the cursor on (wrapping once); true when it got round them all. */
  private async retainPartitions(stats: RetentionStats, deadline: number): Promise<boolean> {
    const { topic: startTopic, partition: startPartition } = retentionCursorFromItem(await this.meta.get(RETENTION_CURSOR));
    let next: { topic: string; partition: number } | undefined;
    let all = true;
    const visit = async (topic: Topic, from: number, to: number): Promise<boolean> => {
      for (let p = from; p < to; p++) {
        if (stats.partitions >= this.opts.partitionsPerRun || this.clock.monotonic() > deadline) {
          next = { topic: topic.name, partition: p };
          return false;
        }
        stats.partitions++;
        try {
          await this.applyRetention(topic, p, stats);
        } catch (err) {
          stats.failedPartitions++;
          console.error(`[samsa] retention of ${topic.name}/${p} failed:`, err);
        }
      }
      return true;
    };
    // From the cursor to the end of the topic list, then from the start up to the cursor.
    scan: for (const round of [0, 1] as const) {
      let startAfter: string | undefined;
      let first = true;
      for (;;) {
        const page = await this.meta.query({
          pk: TOPICS_PK,
          ...(round === 0 && first && startTopic ? { gte: startTopic } : {}),
          ...(round === 1 && startTopic ? { lte: startTopic } : {}),
          startAfter,
          limit: 500,
        });
        first = false;
        for (const item of page.items) {
          const { topic, deleting } = topicItemFromItem(item);
          if (deleting) continue;
          let from = 0;
          let to = topic.partitions;
          if (round === 0 && topic.name === startTopic) from = startPartition;
          if (round === 1 && topic.name === startTopic) to = Math.min(startPartition, topic.partitions);
          if (!(await visit(topic, from, to))) {
            all = false;
            break scan;
          }
        }
        if (!page.next) break;
        startAfter = page.next;
      }
      if (!startTopic) break; // round 0 covered everything
    }
    const wanted = next ?? { topic: '', partition: 0 };
    if (wanted.topic !== startTopic || wanted.partition !== startPartition) {
      await this.meta.write({ type: 'put', item: retentionCursorToItem(RETENTION_CURSOR, wanted) });
    }
    return all;
  }

  // --- set-aside compositions -------------------------------------------------------------------

  /**
   * Compositions set aside (design note 0011, "When a composition fails") whose back-off has run
   * out, from their queue (composeDueKey): wherever the segment sits in its catalog, and whether
   * or not its partition takes records. The flush's look-back sees only a partition's last
   * PENDING_COMPOSE_LOOKBACK entries, and only when it has something to flush; the plan's tail
   * only what the summary has not counted. One query a pass, of the ones due alone, at most
   * COMPOSE_DUE_PER_PASS of them.
   *
   * Each is tried as its partition's leader, as retention's own compositions are: composed, it
   * leaves the queue (flush.ts, stage 5); set aside again, its item moves to the new time. A
   * partition another live process leases, or a composition that fails the way a retry may cure
   * (a fence, a timeout), keeps its item for the next pass. An item whose segment is composed,
   * gone, below the log start (retention is deleting it) or of a deleted incarnation is dropped.
   */
  private async retryCompositions(stats: RetentionStats, deadline: number): Promise<void> {
    if (!this.composeSealed) return;
    const now = this.clock.now();
    const due = await this.meta.query({ pk: COMPOSE_DUE_PK, lt: composeDueBefore(now), limit: COMPOSE_DUE_PER_PASS });
    for (const item of due.items) {
      if (this.clock.monotonic() > deadline) return;
      const d = composeDueFromItem(item);
      const drop = () => this.meta.write({ type: 'delete', key: { pk: item.pk, sk: item.sk } });
      try {
        const topic = await this.topics.find(d.topic, { fresh: true });
        if (!topic || topic.id !== d.topicId || d.partition >= topic.partitions) {
          await drop();
          continue;
        }
        const entry = await this.meta.get(segmentKey(topic.id, d.partition, d.base));
        const seg = entry && segmentFromItem(entry);
        // Not ours to try: finished, deleted, or set aside again since (its item is at its new time).
        if (!seg || !compositionUnfinished(seg) || (seg.composeRetryAt !== undefined && seg.composeRetryAt !== d.dueMs)) {
          await drop();
          continue;
        }
        if (!compositionDue(seg, now)) continue;
        const head = headFromItem(await this.meta.get(headKey(topic.id, d.partition)));
        if (head.deleted || seg.last < head.logStart) {
          await drop();
          continue;
        }
        const heldBefore = this.leases.stillHeld(topic, d.partition);
        const lease = await this.leases.acquire(topic, d.partition);
        if (!('epoch' in lease)) {
          stats.skippedPartitions++;
          continue;
        }
        try {
          await this.composeSealed(topic, d.partition, this.leases.guard(topic, d.partition, lease.epoch), seg);
        } finally {
          if (!heldBefore) await this.leases.release(topic, d.partition);
        }
      } catch (err) {
        stats.failedPartitions++;
        console.error(`[samsa] retrying the composition of ${d.topic}/${d.partition} segment ${d.base} failed:`, err);
      }
    }
  }

  // --- one partition ----------------------------------------------------------------------------

  /**
   * Retention for one partition, as its leader: the plan is read without the lease, which is
   * taken (or renewed) only when there is something to write — a partition leased by another
   * live process is left to it. Returns the log start offset.
   */
  async applyRetention(topic: Topic, partition: number, stats?: RetentionStats): Promise<number> {
    const logStart = await this.retainPartition(topic, partition, stats);
    this.logStarts?.saw(topic.id, partition, logStart);
    return logStart;
  }

  private async retainPartition(topic: Topic, partition: number, stats?: RetentionStats): Promise<number> {
    const plan = await this.plan(topic, partition);
    if (!this.hasWork(plan)) return plan.head.logStart;
    // A lease taken only for this work is handed back after it, so that another process's
    // flush need not wait for it to expire (one already held, e.g. by this process's
    // flushes, is kept).
    const heldBefore = this.leases.stillHeld(topic, partition);
    const lease = await this.leases.acquire(topic, partition);
    if (!('epoch' in lease)) {
      if (stats) stats.skippedPartitions++;
      return plan.head.logStart;
    }
    try {
      return await this.asLeader(topic, partition, lease.epoch, stats);
    } finally {
      if (!heldBefore) await this.leases.release(topic, partition);
    }
  }

  /**
   * Retention's steps as the leader, then the compositions it found to do (design note 0011):
   * segments it sealed while they were in chunks, and closed ones a crash left in chunks.
   * Composed once the steps are done with them, unless they went below the log start.
   */
  private async asLeader(topic: Topic, partition: number, epoch: number, stats?: RetentionStats): Promise<number> {
    const guard = this.leases.guard(topic, partition, epoch);
    const toCompose = new Map<number, Segment>();
    const logStart = await this.retainAsLeader(topic, partition, epoch, guard, toCompose, stats);
    if (this.composeSealed) {
      for (const seg of toCompose.values()) {
        if (seg.last < logStart || !guard.held()) continue;
        await this.composeSealed(topic, partition, guard, seg);
      }
    }
    return logStart;
  }

  private async retainAsLeader(topic: Topic, partition: number, epoch: number, guard: LeaseGuard, toCompose: Map<number, Segment>, stats?: RetentionStats): Promise<number> {
    const lease = { epoch };
    let lastStart = 0;
    const isLeader: Condition = { op: 'eq', attr: HEAD_ATTR.leaderEpoch, value: lease.epoch };
    for (let step = 0; step < 1000; step++) {
      // Taking the lease wrote the head (its epoch); every step works from a fresh plan.
      const plan = await this.plan(topic, partition);
      lastStart = plan.head.logStart;
      if (plan.head.leaderEpoch !== lease.epoch || !guard.held()) return plan.head.logStart;
      for (const seg of plan.unfinished) toCompose.set(seg.base, seg);
      if (!this.hasWork(plan, false)) return plan.head.logStart;

      if (plan.sealable && plan.active) {
        // Kafka rolls on append; here nobody may append for days, so the idle active segment
        // is sealed and can expire. Conditional on its size: a flush that appended wins.
        const a = plan.active;
        try {
          await this.meta.transact([
            { type: 'check', key: headKey(topic.id, partition), condition: isLeader },
            {
              type: 'update',
              key: segmentKey(topic.id, partition, a.base),
              set: { closed: true },
              condition: segmentAsRead(a.size, false),
            },
          ]);
          if (stats) stats.sealedSegments++;
          if (isChunked(a)) toCompose.set(a.base, { ...a, closed: true });
        } catch (err) {
          if (!(err instanceof ConditionFailedError)) throw err;
        }
        continue; // re-plan: the sealed segment joins the summary and may expire now
      }

      // Step 1: the log start (and the summary) move first, atomically, under our epoch —
      // from here on readers get OFFSET_OUT_OF_RANGE below it. Segments already below the
      // log start (a pass that stopped after this write) were subtracted then.
      const subtract = plan.doomed.filter((s) => s.last >= plan.head.logStart && s.base < plan.summary.upto);
      const summary: Summary = {
        upto: plan.summary.upto,
        bytes: plan.summary.bytes - subtract.reduce((a, s) => a + s.size, 0),
        segs: plan.summary.segs - subtract.length,
      };
      const moves = plan.newLogStart > plan.head.logStart;
      if (moves || plan.added > 0) {
        try {
          await this.meta.write({
            type: 'update',
            key: headKey(topic.id, partition),
            ...headUpdate({ ...(moves ? { logStart: plan.newLogStart } : {}), retention: summary }),
            condition: {
              op: 'and',
              conds: [
                isLeader,
                plan.head.logStart === 0
                  ? { op: 'or', conds: [{ op: 'attrNotExists', attr: HEAD_ATTR.logStart }, { op: 'eq', attr: HEAD_ATTR.logStart, value: 0 }] }
                  : { op: 'eq', attr: HEAD_ATTR.logStart, value: plan.head.logStart },
                plan.old.present ? { op: 'eq', attr: RETENTION_ATTR.upto, value: plan.old.upto } : { op: 'attrNotExists', attr: RETENTION_ATTR.upto },
              ],
            },
          });
        } catch (err) {
          if (err instanceof ConditionFailedError) return plan.head.logStart; // lost the lease, or raced
          throw err;
        }
      }
      if (plan.doomed.length === 0) return plan.newLogStart;

      // Steps 2–4: extents, objects, catalog entries — all below the log start now, so no
      // reader can reach them; a crash between steps leaves catalog entries the next pass
      // finds below the log start and finishes.
      await this.deleteDoomed(topic, partition, plan.doomed, plan.newLogStart, isLeader);
      if (stats) {
        stats.deletedSegments += plan.doomed.length;
        stats.deletedBytes += subtract.reduce((a, s) => a + s.size, 0);
      }
      if (plan.doomed.length < this.opts.segmentsPerStep) return plan.newLogStart;
    }
    return lastStart;
  }

  /** `compositions`: whether an unfinished composition alone is work (it is to take the lease). */
  private hasWork(plan: Plan, compositions = true): boolean {
    return plan.sealable || plan.doomed.length > 0 || plan.added >= SUMMARY_WRITE_MIN || (compositions && !!this.composeSealed && plan.unfinished.length > 0);
  }

  /**
   * What retention would do to the partition now, from reads only: the head; the catalog from
   * the summary's end (segments closed since the last pass, and the active one); the catalog's
   * first entries (the expiring prefix); for retention.bytes, the unflushed extents.
   */
  private async plan(topic: Topic, partition: number): Promise<Plan> {
    const pk = partitionPk(topic.id, partition);
    const head = headFromItem(await this.meta.get(headKey(topic.id, partition)));
    const old = { present: head.retention !== undefined, ...(head.retention ?? { upto: 0, bytes: 0, segs: 0 }) };
    const now = this.clock.now();
    const retentionMs = topic.config['retention.ms'];
    const retentionBytes = topic.config['retention.bytes'];

    // The tail: closed segments not yet in the summary, then the active segment.
    const summary: Summary = { ...old };
    let added = 0;
    let active: Segment | undefined;
    const unfinished: Segment[] = [];
    let tailBytes = 0; // the active segment, and closed ones the page cap left uncounted
    // One past the last offset the tail's segments hold: a flush step that committed after the
    // head was read shows here, and its batches must not be counted again as unflushed.
    let catalogued = 0;
    let startAfter: string | undefined;
    let complete = false;
    for (let pages = 0; pages < TAIL_PAGES; pages++) {
      const page = await this.meta.query({ pk, gte: segmentSk(old.upto), lt: SEGMENT_END, startAfter, limit: 100 });
      for (const item of page.items) {
        const seg = segmentFromItem(item);
        catalogued = Math.max(catalogued, seg.last + 1);
        if (!seg.closed) {
          active = seg;
          tailBytes += seg.size;
          continue;
        }
        if (active) continue; // never: only the last segment is open
        // Not one set aside after a failure until its back-off runs out (design note 0011).
        if (compositionUnfinished(seg) && compositionDue(seg, now) && seg.last >= head.logStart) unfinished.push(seg);
        summary.upto = seg.base + 1;
        if (seg.last >= head.logStart) {
          summary.bytes += seg.size;
          summary.segs++;
        }
        added++;
      }
      startAfter = page.next;
      if (!startAfter) {
        complete = true;
        break;
      }
    }

    const sealable = !!active && active.size > 0 && now - active.createdAt >= topic.config['segment.ms'];

    // Bytes in the partition from the log start, as Kafka counts them for retention.bytes:
    // every segment (the active one included) and the batches not yet flushed. A lower bound
    // when a page cap cut the reading short, which only makes retention delete less.
    let total = summary.bytes + tailBytes;
    // Unflushed bytes are counted from where the segments just read end, when that is past the
    // head's `flushed`: the head was read first, and a step that committed since moved batches
    // into the segments counted above (the head's tails and the commit pages, read after, may
    // still hold them). Counting them twice deleted segments retention.bytes had to keep.
    const unflushedFrom = Math.max(head.flushed, head.logStart, catalogued);
    if (retentionBytes >= 0 && topic.commit === 'items') {
      // Items mode: the head does not know the high watermark; the commit items from the
      // flushed offset on are the unflushed bytes (one straddling it is left out: a lower bound).
      const from = unflushedFrom;
      const page = await this.meta.query({ pk, gte: commitItemSk(from), lt: COMMIT_ITEM_END, limit: 500, withoutBinary: true });
      for (const e of unflushedItems(page, from)) total += e.len;
    } else if (retentionBytes >= 0 && unflushedFrom < head.nextOffset) {
      const from = unflushedFrom;
      // Commit pages are keyed by their last offset; an extent can sit in a page and in the
      // head's tails (or in two pages) at once, so count each base once. Lengths only: the
      // pages' inline bytes are not read (on SQLite; issue 18).
      const page = await this.meta.query({ pk, gte: extentSk(from), lt: EXTENT_END, limit: 500, withoutBinary: true });
      const unflushed = new Map<number, number>();
      for (const e of [...page.items.flatMap(extentsFromItem), ...(head.tails ?? [])]) if (e.base >= from) unflushed.set(e.base, e.len);
      for (const len of unflushed.values()) total += len;
    }
    const overBytes = retentionBytes >= 0 && complete && total > retentionBytes;

    // The prefix: leftovers below the log start, then closed segments past retention.ms, or
    // that retention.bytes can spare, oldest first, stopping at the first one to keep.
    const doomed: Segment[] = [];
    let newLogStart = head.logStart;
    startAfter = undefined;
    let limit = 10;
    scan: for (;;) {
      const page = await this.meta.query({ pk, beginsWith: SEGMENT_PREFIX, startAfter, limit });
      for (const item of page.items) {
        if (doomed.length >= this.opts.segmentsPerStep) break scan;
        const seg = segmentFromItem(item);
        const belowStart = seg.last < head.logStart;
        const ts = seg.maxTs >= 0 ? seg.maxTs : seg.createdAt;
        const byTime = retentionMs >= 0 && seg.closed && now - ts > retentionMs;
        const bySize = overBytes && seg.closed && total - seg.size >= retentionBytes;
        if (!belowStart && !byTime && !bySize) break scan;
        doomed.push(seg);
        if (!belowStart) total -= seg.size;
        newLogStart = Math.max(newLogStart, seg.last + 1);
      }
      if (!page.next) break;
      startAfter = page.next;
      limit = 100;
    }
    return { head, old, summary, added, ...(active ? { active } : {}), sealable, doomed, newLogStart, unfinished };
  }

  /** Extents, then objects, then catalog entries of segments wholly below `logStart`. */
  private async deleteDoomed(topic: Topic, partition: number, doomed: Segment[], logStart: number, isLeader: Condition): Promise<void> {
    const pk = partitionPk(topic.id, partition);
    const hk = headKey(topic.id, partition);
    const lastOffset = doomed[doomed.length - 1]!.last;
    // Segment extents of the doomed range, and commit pages below it (stale leftovers; keyed by
    // their last offset).
    const extentKeys: string[] = [];
    for (const [prefix, sk] of [[SEG_EXTENT_PREFIX, segExtentSk], [EXTENT_PREFIX, extentSk]] as const) {
      let startAfter: string | undefined;
      do {
        const page = await this.meta.query({ pk, gte: prefix, lte: sk(lastOffset), startAfter, limit: 500 });
        for (const item of page.items) if (extentItemLast(item) < logStart) extentKeys.push(item.sk);
        startAfter = page.next;
      } while (startAfter);
    }
    await deleteItems(this.meta, pk, extentKeys, { key: hk, condition: isLeader });
    // A segment written in chunks (design note 0011) has objects beyond `<base>.*`: those its
    // catalog entry still lists go with it, composed or not (a composition deletes them only
    // after it marks the entry composed, and drops the list only after that).
    const keys = doomed.flatMap((s) => [...SEGMENT_FILES.map((ext) => segmentObject(topic, partition, s.base, ext)), ...chunkObjects(topic, partition, s)]);
    for (let i = 0; i < keys.length; i += 999) await this.objects.delete(keys.slice(i, i + 999));
    await deleteItems(this.meta, pk, doomed.map((s) => segmentSk(s.base)), { key: hk, condition: isLeader });
  }
}


