// Retention and lifecycle, one bounded pass at a time:
//   - deleted topics: their metadata and objects are removed, then the topic item itself;
//   - segment.ms: an idle active segment older than segment.ms is sealed, so it can expire;
//   - retention.ms / retention.bytes, as Kafka applies them: closed segments only, oldest
//     first, a prefix of the log. The log start offset moves atomically in the metadata store
//     BEFORE anything is deleted, so a racing fetch either reads the data or gets
//     OFFSET_OUT_OF_RANGE — never a half-deleted segment;
//   - orphans: write-ahead and segment objects no metadata references, older than a grace
//     period longer than any commit can take (commits re-write write-ahead objects older than
//     COMMIT_MAX_WAL_AGE_MS, and SigV4 requests expire after 15 minutes).
// Work is proportional to what expired, not to history: only catalog prefixes are read, and a
// pass stops at its time budget; the next pass resumes from what the store says.
import { ConditionFailedError } from '../errors';
import type { Condition, MetaStore, ObjectStore, WriteOp } from '../storage/ports';
import type { Clock } from '../util/clock';
import { DELETIONS_PK, EXTENT_PREFIX, extentSk, headKey, partitionPk, SEGMENT_PREFIX, segmentKey, segmentObject, topicKey, WAL_PREFIX, TOPICS_PK } from './keys';
import type { LeaseManager } from './lease';
import { extentFromItem, headFromItem, type Segment, segmentFromItem } from './model';
import type { Topic, TopicRegistry } from './topics';

export interface RetentionOptions {
  /** Delete a deleted topic's data only this long after the deletion (in-flight writes end). */
  deletionGraceMs: number;
  /** Unreferenced objects younger than this are never swept. */
  orphanGraceMs: number;
  /** Stop a pass after this long; the next pass resumes. */
  budgetMs: number;
}

export const DEFAULT_RETENTION_OPTIONS: RetentionOptions = {
  deletionGraceMs: 5_000,
  orphanGraceMs: 60 * 60 * 1000,
  budgetMs: 60_000,
};

const SWEEP_CURSOR = { pk: 'sweeper', sk: 'cursor' };
const SWEEP_PAGES = 5;

export interface RetentionStats {
  deletedSegments: number;
  deletedBytes: number;
  sealedSegments: number;
  deletedTopics: number;
  sweptObjects: number;
  /** Partitions leased by another live process this pass (their leader handles them). */
  skippedPartitions: number;
  complete: boolean;
}

export class Retention {
  constructor(
    private readonly meta: MetaStore,
    private readonly objects: ObjectStore,
    private readonly topics: TopicRegistry,
    private readonly clock: Clock,
    private readonly leases: LeaseManager,
    private readonly opts: RetentionOptions = DEFAULT_RETENTION_OPTIONS,
  ) {}

  async runOnce(): Promise<RetentionStats> {
    const deadline = Date.now() + this.opts.budgetMs;
    const stats: RetentionStats = { deletedSegments: 0, deletedBytes: 0, sealedSegments: 0, deletedTopics: 0, sweptObjects: 0, skippedPartitions: 0, complete: false };
    await this.processDeletions(stats, deadline);
    for (const topic of await this.topics.list()) {
      for (let p = 0; p < topic.partitions; p++) {
        if (Date.now() > deadline) return stats;
        await this.applyRetention(topic, p, stats);
      }
    }
    if (Date.now() < deadline) await this.sweepOrphans(stats, deadline);
    stats.complete = Date.now() <= deadline;
    return stats;
  }

  /**
   * Retention for one partition, as its leader (the lease is taken or renewed first; a
   * partition leased by another live process is left to it). Returns the log start offset.
   */
  async applyRetention(topic: Topic, partition: number, stats?: RetentionStats): Promise<number> {
    const lease = await this.leases.acquire(topic, partition);
    if (!('epoch' in lease)) {
      if (stats) stats.skippedPartitions++;
      return headFromItem(await this.meta.get(headKey(topic.id, partition))).logStart;
    }
    const epoch = lease.epoch;
    const isLeader: Condition = { op: 'eq', attr: 'leader_epoch', value: epoch };
    const now = this.clock.now();
    const head = headFromItem(await this.meta.get(headKey(topic.id, partition)));
    if (head.leaderEpoch !== epoch) return head.logStart;
    const pk = partitionPk(topic.id, partition);
    const retentionMs = topic.config['retention.ms'];
    const retentionBytes = topic.config['retention.bytes'];

    // Seal an idle active segment past segment.ms, so it can expire (Kafka rolls on append;
    // here nobody may append for days).
    const last = (await this.meta.query({ pk, beginsWith: SEGMENT_PREFIX, reverse: true, limit: 1 })).items[0];
    const active = last ? segmentFromItem(last) : undefined;
    if (active && !active.closed && active.size > 0 && now - active.createdAt >= topic.config['segment.ms']) {
      try {
        await this.meta.transact([
          { type: 'check', key: headKey(topic.id, partition), condition: isLeader },
          {
            type: 'update',
            key: segmentKey(topic.id, partition, active.base),
            set: { closed: true },
            condition: { op: 'and', conds: [{ op: 'eq', attr: 'size', value: active.size }, { op: 'eq', attr: 'closed', value: false }] },
          },
        ]);
        active.closed = true;
        if (stats) stats.sealedSegments++;
      } catch (err) {
        if (!(err instanceof ConditionFailedError)) throw err; // a flush appended meanwhile
      }
    }

    // Segments already below the log start (a previous pass stopped after moving it).
    const doomed: Segment[] = [];
    let logStart = head.logStart;
    if (retentionMs >= 0 || retentionBytes >= 0 || head.logStart > 0) {
      let total = retentionBytes >= 0 ? await this.logBytes(topic, partition, head) : 0;
      let startAfter: string | undefined;
      scan: for (;;) {
        const page = await this.meta.query({ pk, beginsWith: SEGMENT_PREFIX, startAfter, limit: 100 });
        for (const item of page.items) {
          const seg = segmentFromItem(item);
          const belowStart = seg.last < head.logStart;
          const expiredByTime = retentionMs >= 0 && seg.closed && seg.maxTs >= 0 && now - seg.maxTs > retentionMs;
          const expiredBySize = retentionBytes >= 0 && seg.closed && total - seg.size >= retentionBytes;
          if (!belowStart && !expiredByTime && !expiredBySize) break scan;
          doomed.push(seg);
          total -= seg.size;
          logStart = Math.max(logStart, seg.last + 1);
        }
        if (!page.next) break;
        startAfter = page.next;
      }
    }
    if (doomed.length === 0) return head.logStart;

    if (logStart > head.logStart) {
      // Step 1: the log start moves first, atomically, fencing readers off the doomed range.
      try {
        await this.meta.write({
          type: 'update',
          key: headKey(topic.id, partition),
          set: { log_start: logStart },
          condition: {
            op: 'and',
            conds: [
              isLeader,
              head.logStart === 0
                ? { op: 'or', conds: [{ op: 'attrNotExists', attr: 'log_start' }, { op: 'eq', attr: 'log_start', value: 0 }] }
                : { op: 'eq', attr: 'log_start', value: head.logStart },
            ],
          },
        });
      } catch (err) {
        if (err instanceof ConditionFailedError) return head.logStart; // another pass is at it
        throw err;
      }
    }
    // Step 2: metadata of the doomed segments (extents, then catalog); step 3: their objects.
    for (const seg of doomed) {
      await this.deleteRange(pk, extentSk(seg.base), extentSk(seg.last), EXTENT_PREFIX);
      await this.meta.write({ type: 'delete', key: segmentKey(topic.id, partition, seg.base) });
      await this.objects.delete((['log', 'index', 'timeindex'] as const).map((ext) => segmentObject(topic.name, partition, seg.base, ext)));
      if (stats) {
        stats.deletedSegments++;
        stats.deletedBytes += seg.size;
      }
    }
    return logStart;
  }

  /** Bytes in the partition from the log start: segments plus unflushed extents. */
  private async logBytes(topic: Topic, partition: number, head: { flushed: number; nextOffset: number }): Promise<number> {
    const pk = partitionPk(topic.id, partition);
    let total = 0;
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk, beginsWith: SEGMENT_PREFIX, startAfter, limit: 500 });
      for (const item of page.items) total += segmentFromItem(item).size;
      startAfter = page.next;
    } while (startAfter);
    if (head.flushed < head.nextOffset) {
      let after: string | undefined = head.flushed > 0 ? extentSk(head.flushed - 1) : undefined;
      for (;;) {
        const page = await this.meta.query({ pk, gt: after ?? EXTENT_PREFIX, lt: 'x$', limit: 500 });
        for (const item of page.items) total += extentFromItem(item).len;
        if (!page.next) break;
        after = page.next;
      }
    }
    return total;
  }

  /** Delete every item of `pk` with sort key in [from, to] (prefix-bounded), in chunks. */
  private async deleteRange(pk: string, from: string, to: string, _prefix: string): Promise<void> {
    for (;;) {
      const page = await this.meta.query({ pk, gte: from, lte: to, limit: this.meta.limits.maxTransactItems });
      if (page.items.length === 0) return;
      await Promise.all(page.items.map((item) => this.meta.write({ type: 'delete', key: { pk, sk: item.sk } })));
      if (!page.next) return;
    }
  }

  private async processDeletions(stats: RetentionStats, deadline: number): Promise<void> {
    const page = await this.meta.query({ pk: DELETIONS_PK, limit: 50 });
    for (const marker of page.items) {
      if (Date.now() > deadline) return;
      const name = marker.sk;
      const topicId = marker['topic_id'] as string;
      const partitions = marker['partitions'] as number;
      const topicItem = await this.meta.get(topicKey(name));
      const deletedAt = (topicItem?.['deleted_at'] as number | undefined) ?? 0;
      if (topicItem && topicItem['id'] === topicId && this.clock.now() - deletedAt < this.opts.deletionGraceMs) continue;
      for (let p = 0; p < partitions; p++) {
        const pk = partitionPk(topicId, p);
        for (;;) {
          const items = await this.meta.query({ pk, limit: 100 });
          if (items.items.length === 0) break;
          await Promise.all(items.items.map((item) => this.meta.write({ type: 'delete', key: { pk, sk: item.sk } })));
        }
      }
      await this.deletePrefix(`topics/${name}/`);
      await this.deletePrefix(`${WAL_PREFIX}${topicId}/`);
      const ops: WriteOp[] = [{ type: 'delete', key: { pk: DELETIONS_PK, sk: name } }];
      if (topicItem && topicItem['id'] === topicId) {
        ops.push({ type: 'delete', key: topicKey(name), condition: { op: 'eq', attr: 'id', value: topicId } });
      }
      await this.meta.transact(ops);
      this.topics.invalidate(name);
      stats.deletedTopics++;
    }
  }

  private async deletePrefix(prefix: string): Promise<void> {
    for (;;) {
      const page = await this.objects.list(prefix, { limit: 1000 });
      if (page.objects.length === 0) return;
      await this.objects.delete(page.objects.map((o) => o.key));
      if (!page.next) return;
    }
  }

  /**
   * Crash leftovers: write-ahead objects no extent references, and segment objects absent from
   * the catalog, older than the grace period. Objects of topics that no longer exist go too.
   */
  private async sweepOrphans(stats: RetentionStats, deadline: number): Promise<void> {
    const now = this.clock.now();
    const topicsById = new Map<string, Topic>();
    const topicsByName = new Map<string, Topic>();
    const deleting = new Set<string>();
    for (const item of (await this.meta.query({ pk: TOPICS_PK, limit: 1000 })).items) {
      if (item['state'] === 'deleting') deleting.add(item['name'] as string);
    }
    for (const t of await this.topics.list()) {
      topicsById.set(t.id, t);
      topicsByName.set(t.name, t);
    }
    const referenced = new Map<string, Set<string>>(); // partition pk → referenced keys
    const refs = async (t: Topic, p: number, kind: 'wal' | 'seg'): Promise<Set<string>> => {
      const k = `${kind}:${t.id}:${p}`;
      let set = referenced.get(k);
      if (set) return set;
      set = new Set();
      const pk = partitionPk(t.id, p);
      let startAfter: string | undefined;
      do {
        const page = kind === 'wal'
          ? await this.meta.query({ pk, beginsWith: EXTENT_PREFIX, startAfter, limit: 500 })
          : await this.meta.query({ pk, beginsWith: SEGMENT_PREFIX, startAfter, limit: 500 });
        for (const item of page.items) {
          if (kind === 'wal' && typeof item['obj'] === 'string') set.add(item['obj']);
          if (kind === 'seg') for (const ext of ['log', 'index', 'timeindex'] as const) set.add(segmentObject(t.name, p, item['base'] as number, ext));
        }
        startAfter = page.next;
      } while (startAfter);
      referenced.set(k, set);
      return set;
    };
    // A cursor in the metadata store bounds each pass (SWEEP_PAGES pages per prefix); the
    // sweep wraps around over many passes instead of listing the whole bucket every time.
    const cursorItem = await this.meta.get(SWEEP_CURSOR);
    const cursor: Record<string, string> = { ...((cursorItem?.['after'] as Record<string, string> | undefined) ?? {}) };
    for (const prefix of [WAL_PREFIX, 'topics/']) {
      let startAfter: string | undefined = cursor[prefix] || undefined;
      let pages = 0;
      do {
        if (Date.now() > deadline || pages++ >= SWEEP_PAGES) break;
        const page = await this.objects.list(prefix, { ...(startAfter ? { startAfter } : {}), limit: 1000 });
        const dead: string[] = [];
        for (const o of page.objects) {
          if (now - o.lastModified < this.opts.orphanGraceMs) continue;
          const parts = o.key.split('/');
          const [, owner, part] = parts;
          const p = Number(part);
          if (prefix === WAL_PREFIX) {
            const t = topicsById.get(owner!);
            if (!t) dead.push(o.key);
            else if (!(await refs(t, p, 'wal')).has(o.key)) dead.push(o.key);
          } else {
            if (deleting.has(owner!)) continue; // processDeletions owns these
            const t = topicsByName.get(owner!);
            if (!t) dead.push(o.key);
            else if (!(await refs(t, p, 'seg')).has(o.key)) dead.push(o.key);
          }
        }
        if (dead.length > 0) {
          await this.objects.delete(dead);
          stats.sweptObjects += dead.length;
        }
        startAfter = page.next;
      } while (startAfter);
      cursor[prefix] = startAfter ?? '';
    }
    await this.meta.write({ type: 'put', item: { ...SWEEP_CURSOR, after: cursor } });
  }
}
