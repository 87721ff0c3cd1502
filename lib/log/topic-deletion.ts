// Deleted topics, as the retention pass removes them (design note 0007): a topic deletion
// queues a marker keyed by the incarnation's id, tombstones every partition head
// (tombstones.ts) and removes the topic item, freeing the name, before it answers (a pass
// finishes those steps for a DELETE that stopped short of them); each pass, once the deletion's grace
// has passed, tombstones the heads again, removes the incarnation's other metadata (keeping bare
// tombstones), then its objects, then the marker — queueing the tombstones' own removal
// TOMBSTONE_TTL_MS later (items mode: and the heads an alter marked past the recorded count,
// which no topic item ever named: removeHeadsBeyond). An interrupted deletion resumes from its marker. Markers by name,
// which builds before markers by id wrote beside a topic item kept in state "deleting", are
// finished the same way, and their topic item with them.
import { ConditionFailedError, TransactionConflictError } from '../errors';
import type { MetaItem, MetaKey, MetaStore, ObjectStore, Condition, WriteOp } from '../storage/ports';
import type { Clock } from '../util/clock';
import { inParallel } from '../util/parallel';
import { commitItemFromItem, DELETION_TOPIC_ID_ATTR, deletionMarkerFromItem, isDeletingTopicItem, TOPIC_ID_ATTR, tombstoneDueFromItem, tombstoneDueToItem, topicFromItem, topicItemFromItem } from './items';
import { COMMIT_ITEM_PREFIX, deletionKey, DELETIONS_PK, headKey, partitionPk, TOMBSTONES_PK, tombstoneDueBefore, ownsDirectory, TOPIC_DELETIONS_PK, topicDeletionDoneKey, topicDeletionKey, topicDir, topicKey, walPrefix } from './keys';
import type { RetentionStats } from './retention';
import { bareTombstone, fenceItemLogs, removeTombstones, TOMBSTONE_TTL_MS, tombstoneHeads } from './tombstones';
import { MAX_PARTITIONS } from './topic-config';
import { freeName, MARK_PARALLEL, type TopicRegistry } from './topics';

/** Item deletes run this many transactions at once. */
const PARALLEL = 16;

export class TopicDeletion {
  constructor(
    private readonly meta: MetaStore,
    private readonly objects: ObjectStore,
    private readonly topics: TopicRegistry,
    private readonly clock: Clock,
    private readonly opts: { deletionGraceMs: number },
  ) {}

  /** Remove deleted topics' data, marker by marker, until done or past `deadline` (monotonic). */
  async run(stats: Pick<RetentionStats, 'deletedTopics'>, deadline: number): Promise<void> {
    // This build's markers, by incarnation id; then the markers by name of builds before it (a
    // deploy leaves some, and an older instance still running writes them).
    for (const pk of [TOPIC_DELETIONS_PK, DELETIONS_PK]) {
      const page = await this.meta.query({ pk, limit: 50 });
      for (const marker of page.items) {
        if (this.clock.monotonic() > deadline) return;
        if (!(await this.finish(marker, stats, deadline))) return;
      }
    }
    await this.expireTombstones(deadline);
  }

  /** One deletion, if its grace is over; false when out of time (the next pass resumes it). */
  private async finish(marker: MetaItem, stats: Pick<RetentionStats, 'deletedTopics'>, deadline: number): Promise<boolean> {
    const { name, topicId, partitions, commit, deletedAt: markedAt, request } = deletionMarkerFromItem(marker);
    const byId = marker.pk === TOPIC_DELETIONS_PK;
    const markerKey = byId ? topicDeletionKey(topicId) : deletionKey(name);
    // A marker by id holds its deletion time, and its topic item (`ours`, "deleting") is there
    // only while its DELETE has not freed the name. A marker by name has its topic item beside
    // it, holding the time, until the deletion ends.
    const stored = await this.meta.get(topicKey(name));
    const topicItem = stored && topicItemFromItem(stored);
    const ours = topicItem?.topic.id === topicId && topicItem.deleting;
    if (byId && ours) {
      // A DELETE that stopped before it freed the name (a crash, a lost process): finish that
      // now, whatever the grace (which is for in-flight writes to drain before the data goes):
      // tombstones first, then the name (topics.ts, markDeleted).
      await tombstoneHeads(this.meta, topicId, partitions);
      await fenceItemLogs(this.meta, { id: topicId, partitions, ...(commit ? { commit } : {}) });
      await freeName(this.meta, name, topicId);
      this.topics.invalidate(name);
    }
    const deletedAt = byId ? (markedAt ?? 0) : (ours ? topicItem?.deletedAt : undefined) ?? 0;
    if ((byId || ours) && this.clock.now() - deletedAt < this.opts.deletionGraceMs) return true;
    // Tombstones first (again: a deletion interrupted before its heads were marked), then
    // the rest of the metadata, then objects, then the marker (and the topic item, `ours`):
    // an interrupted deletion is resumed by the next pass from the marker. The heads stay, as
    // bare tombstones, so a process still holding this incarnation can never write to it.
    await tombstoneHeads(this.meta, topicId, partitions);
    await fenceItemLogs(this.meta, { id: topicId, partitions, ...(commit ? { commit } : {}) });
    for (let p = 0; p < partitions; p++) {
      const pk = partitionPk(topicId, p);
      const head = headKey(topicId, p).sk;
      for (;;) {
        if (this.clock.monotonic() > deadline) return false;
        const items = await this.meta.query({ pk, limit: 500 });
        // The tombstone and, in items mode, the fence stay (removed with the tombstones).
        const doomed = items.items.filter((i) => i.sk !== head && !isFence(i)).map((i) => i.sk);
        if (doomed.length === 0) break;
        await deleteItems(this.meta, pk, doomed);
      }
      await bareTombstone(this.meta, topicId, p);
    }
    if (commit === 'items' && !(await this.removeHeadsBeyond(topicId, partitions, deadline))) return false;
    // The incarnation's segment objects. Since design note 0012 they are under its own
    // directory, `topics/<name>/<id>/`, which nothing else ever writes — whatever incarnation
    // holds the name now. (The id says which: a marker written by a build before 0012 is read
    // the same.)
    const dir = topicDir({ name, id: topicId });
    if (ownsDirectory(topicId)) {
      if ((await this.deletePrefix(dir, deadline)) === 'late') return false;
    } else if (byId || ours || !topicItem) {
      // A topic created before then keeps the name's shared directory, `topics/<name>/<p>/`
      // (each partition's prefix, never `topics/<name>/` whole: a later incarnation's
      // directory is under it). The name is free from the deletion on, and a later incarnation
      // this build creates has a directory of its own, never writing here; but one created by a
      // build before 0012 (a v4 id), still running during a deploy, would write its segments
      // here. So before each page of deletes confirm that the deletion is still pending (its
      // marker is there: a pass paused here while another finished it deletes nothing more) and
      // that the name is not held by such an incarnation: then the deletion ends without these
      // objects, and the orphan sweeper removes those that the topic now under the name does
      // not catalogue (design note 0012: a leak, never a loss).
      const pending = async (): Promise<boolean> => {
        const m = await this.meta.get(markerKey);
        return m !== undefined && deletionMarkerFromItem(m).topicId === topicId;
      };
      const sharedDirOurs = async (): Promise<boolean> => {
        const now = await this.meta.get(topicKey(name));
        return now === undefined || isDeletingTopicItem(now) || ownsDirectory(topicFromItem(now).id);
      };
      const allowed = async (): Promise<boolean> => (await pending()) && (await sharedDirOurs());
      for (let p = 0; p < partitions; p++) {
        const done = await this.deletePrefix(`${dir}${p}/`, deadline, allowed);
        if (done === 'late') return false;
        if (done === 'refused') {
          if (!(await pending())) return true;
          break;
        }
      }
    }
    if ((await this.deletePrefix(walPrefix(topicId), deadline)) === 'late') return false;
    const ops: WriteOp[] = [
      // Only this incarnation's marker: a pass that read a marker by name long ago (paused before
      // its topic read, so `ours` came out false) must not remove the marker of a later
      // incarnation deleted meanwhile under the same name — that deletion would never finish,
      // and the name would stay "marked for deletion" for good (seen by the history checker).
      // A marker by id is its incarnation's; the condition fails if another pass removed it.
      { type: 'delete', key: markerKey, condition: { op: 'eq', attr: DELETION_TOPIC_ID_ATTR, value: topicId } },
      { type: 'put', item: tombstoneDueToItem({ dueMs: this.clock.now() + TOMBSTONE_TTL_MS, topicId, partitions }) },
      // The DELETE's token outlives the marker, until the tombstones go: the SDK may send that
      // DELETE's marking again after its socket timeout (30 s), past this pass (topics.ts).
      ...(request !== undefined ? [{ type: 'put' as const, item: { ...topicDeletionDoneKey(topicId), request } }] : []),
    ];
    if (ours && !byId) ops.push({ type: 'delete', key: topicKey(name), condition: { op: 'eq', attr: TOPIC_ID_ATTR, value: topicId } });
    try {
      await this.meta.transact(ops);
    } catch (err) {
      // Finished by another pass, or the marker is another incarnation's now: not ours to end.
      if (err instanceof ConditionFailedError || err instanceof TransactionConflictError) return true;
      throw err;
    }
    this.topics.invalidate(name);
    stats.deletedTopics++;
    return true;
  }

  /**
   * Items mode: heads marked beyond the count the deletion recorded, by an alter that added
   * partitions and never put the topic item naming them — killed between the two, or refused
   * because the topic was deleted and then unable to remove them (topics.ts, unmarkAddedHeads).
   * Nothing ever named those partitions, so no process writes to them: removed, not tombstoned.
   * Such heads start at or just past the count and leave gaps shorter than 2 × MARK_PARALLEL
   * (a marking cut short, then an unmarking cut short: topics.ts), so the search ends after that
   * many partitions in a row with nothing. False when out of time.
   */
  private async removeHeadsBeyond(topicId: string, partitions: number, deadline: number): Promise<boolean> {
    for (let p = partitions, empty = 0; empty < 2 * MARK_PARALLEL && p < MAX_PARTITIONS; p++) {
      if (this.clock.monotonic() > deadline) return false;
      const pk = partitionPk(topicId, p);
      const items = (await this.meta.query({ pk, limit: 500 })).items;
      if (items.length === 0) {
        empty++;
        continue;
      }
      empty = 0;
      await deleteItems(this.meta, pk, items.map((i) => i.sk));
      p--; // again, until the partition is empty
    }
    return true;
  }

  /** Remove the bare tombstones whose time is up (and their queue items). */
  private async expireTombstones(deadline: number): Promise<void> {
    const due = await this.meta.query({ pk: TOMBSTONES_PK, lt: tombstoneDueBefore(this.clock.now()), limit: 20 });
    for (const item of due.items) {
      if (this.clock.monotonic() > deadline) return;
      const t = tombstoneDueFromItem(item);
      await removeTombstones(this.meta, t.topicId, t.partitions);
      await this.meta.write({ type: 'delete', key: topicDeletionDoneKey(t.topicId) });
      await this.meta.write({ type: 'delete', key: { pk: item.pk, sk: item.sk } });
    }
  }

  /** Delete every object under `prefix`, page by page, while each page is `allowed`. */
  private async deletePrefix(prefix: string, deadline: number, allowed?: () => Promise<boolean>): Promise<'done' | 'late' | 'refused'> {
    for (;;) {
      if (this.clock.monotonic() > deadline) return 'late';
      const page = await this.objects.list(prefix, { limit: 1000 });
      if (page.objects.length === 0) return 'done';
      if (allowed && !(await allowed())) return 'refused';
      await this.objects.delete(page.objects.map((o) => o.key));
      if (!page.next) return 'done';
    }
  }
}

/**
 * Delete items of `pk` in transactions of up to maxTransactItems ops, each with `fence` (a
 * check on the head's leader epoch) when given: a deposed leader deletes nothing.
 */
export async function deleteItems(meta: MetaStore, pk: string, sks: string[], fence?: { key: MetaKey; condition: Condition }): Promise<void> {
  const per = meta.limits.maxTransactItems - (fence ? 1 : 0);
  const chunks: WriteOp[][] = [];
  for (let i = 0; i < sks.length; i += per) {
    const ops: WriteOp[] = sks.slice(i, i + per).map((sk) => ({ type: 'delete', key: { pk, sk } }));
    if (fence) ops.unshift({ type: 'check', key: fence.key, condition: fence.condition });
    chunks.push(ops);
  }
  await inParallel(chunks, PARALLEL, (ops) => meta.transact(ops));
}

const isFence = (item: MetaItem): boolean => item.sk.startsWith(COMMIT_ITEM_PREFIX) && commitItemFromItem(item).kind === 'fence';
