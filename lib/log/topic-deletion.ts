// Deleted topics, as the retention pass removes them (design note 0007): a topic deletion
// marks the topic item "deleting", queues a marker and tombstones every partition head
// (tombstones.ts); each pass, once the deletion's grace has passed, tombstones the heads again,
// removes the incarnation's other metadata (keeping bare tombstones), then its objects, then the
// topic item and the marker together — queueing the tombstones' own removal TOMBSTONE_TTL_MS
// later — so the name is free again. An interrupted deletion resumes from its marker.
import { ConditionFailedError, TransactionConflictError } from '../errors';
import type { MetaItem, MetaKey, MetaStore, ObjectStore, Condition, WriteOp } from '../storage/ports';
import type { Clock } from '../util/clock';
import { inParallel } from '../util/parallel';
import { commitItemFromItem, DELETION_TOPIC_ID_ATTR, deletionMarkerFromItem, TOPIC_ID_ATTR, tombstoneDueFromItem, tombstoneDueToItem, topicItemFromItem } from './items';
import { COMMIT_ITEM_PREFIX, deletionKey, DELETIONS_PK, headKey, partitionPk, TOMBSTONES_PK, tombstoneDueBefore, ownsDirectory, topicDir, topicKey, walPrefix } from './keys';
import type { RetentionStats } from './retention';
import { bareTombstone, fenceItemLogs, removeTombstones, TOMBSTONE_TTL_MS, tombstoneHeads } from './tombstones';
import type { TopicRegistry } from './topics';

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
    const page = await this.meta.query({ pk: DELETIONS_PK, limit: 50 });
    for (const marker of page.items) {
      if (this.clock.monotonic() > deadline) return;
      const { name, topicId, partitions, commit } = deletionMarkerFromItem(marker);
      const stored = await this.meta.get(topicKey(name));
      const topicItem = stored && topicItemFromItem(stored);
      const ours = topicItem?.topic.id === topicId;
      const deletedAt = topicItem?.deletedAt ?? 0;
      if (ours && this.clock.now() - deletedAt < this.opts.deletionGraceMs) continue;
      // Tombstones first (again: a deletion interrupted before its heads were marked), then
      // the rest of the metadata, then objects, then the topic item and the marker: an
      // interrupted deletion is resumed by the next pass from the marker. The heads stay, as
      // bare tombstones, so a process still holding this incarnation can never write to it.
      await tombstoneHeads(this.meta, topicId, partitions);
      await fenceItemLogs(this.meta, { id: topicId, partitions, ...(commit ? { commit } : {}) });
      for (let p = 0; p < partitions; p++) {
        const pk = partitionPk(topicId, p);
        const head = headKey(topicId, p).sk;
        for (;;) {
          if (this.clock.monotonic() > deadline) return;
          const items = await this.meta.query({ pk, limit: 500 });
          // The tombstone and, in items mode, the fence stay (removed with the tombstones).
          const doomed = items.items.filter((i) => i.sk !== head && !isFence(i)).map((i) => i.sk);
          if (doomed.length === 0) break;
          await deleteItems(this.meta, pk, doomed);
        }
        await bareTombstone(this.meta, topicId, p);
      }
      // The incarnation's segment objects. Since design note 0012 they are under its own
      // directory, `topics/<name>/<id>/`, which nothing else ever writes.
      // (The id says which: a marker written by a build before 0012 is read the same.)
      const dir = topicDir({ name, id: topicId });
      if (ownsDirectory(topicId)) {
        if (!(await this.deletePrefix(dir, deadline))) return;
      } else {
        // A topic created before then keeps the name's shared directory, `topics/<name>/<p>/`
        // (each partition's prefix, never `topics/<name>/` whole: a later incarnation's
        // directory is under it). A re-created name always gets its own directory, but confirm
        // before each page of deletes that this deletion is still pending (its marker is ours),
        // as before: a pass paused here while another finished the deletion, and the name was
        // re-created, deletes nothing. (The marker goes in the same transaction as the topic
        // item, and the name can be re-created only after both.)
        const pending = async (): Promise<boolean> => {
          const m = await this.meta.get(deletionKey(name));
          return m !== undefined && deletionMarkerFromItem(m).topicId === topicId;
        };
        if (ours || !topicItem) {
          for (let p = 0; p < partitions; p++) if (!(await this.deletePrefix(`${dir}${p}/`, deadline, pending))) return;
        }
      }
      if (!(await this.deletePrefix(walPrefix(topicId), deadline))) return;
      const ops: WriteOp[] = [
        // Only this incarnation's marker: a pass that read it long ago (paused before its topic
        // read, so `ours` came out false) must not remove the marker of a later incarnation
        // deleted meanwhile under the same name — that deletion would never finish, and the
        // name would stay "marked for deletion" for good (seen by the history checker).
        { type: 'delete', key: deletionKey(name), condition: { op: 'eq', attr: DELETION_TOPIC_ID_ATTR, value: topicId } },
        { type: 'put', item: tombstoneDueToItem({ dueMs: this.clock.now() + TOMBSTONE_TTL_MS, topicId, partitions }) },
      ];
      if (ours) ops.push({ type: 'delete', key: topicKey(name), condition: { op: 'eq', attr: TOPIC_ID_ATTR, value: topicId } });
      try {
        await this.meta.transact(ops);
      } catch (err) {
        // Finished by another pass, or the marker is another incarnation's now: not ours to end.
        if (err instanceof ConditionFailedError || err instanceof TransactionConflictError) continue;
        throw err;
      }
      this.topics.invalidate(name);
      stats.deletedTopics++;
    }
    await this.expireTombstones(deadline);
  }

  /** Remove the bare tombstones whose time is up (and their queue items). */
  private async expireTombstones(deadline: number): Promise<void> {
    const due = await this.meta.query({ pk: TOMBSTONES_PK, lt: tombstoneDueBefore(this.clock.now()), limit: 20 });
    for (const item of due.items) {
      if (this.clock.monotonic() > deadline) return;
      const t = tombstoneDueFromItem(item);
      await removeTombstones(this.meta, t.topicId, t.partitions);
      await this.meta.write({ type: 'delete', key: { pk: item.pk, sk: item.sk } });
    }
  }

  /** Delete every object under `prefix`; false when out of time or no longer `allowed`. */
  private async deletePrefix(prefix: string, deadline: number, allowed?: () => Promise<boolean>): Promise<boolean> {
    for (;;) {
      if (this.clock.monotonic() > deadline) return false;
      const page = await this.objects.list(prefix, { limit: 1000 });
      if (page.objects.length === 0) return true;
      if (allowed && !(await allowed())) return false;
      await this.objects.delete(page.objects.map((o) => o.key));
      if (!page.next) return true;
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
