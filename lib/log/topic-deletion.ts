// Deleted topics, as the retention pass removes them (design note 0007): a topic deletion
// marks the topic item "deleting" and queues a marker; each pass, once the deletion's grace
// has passed, removes the incarnation's metadata, then its objects, then the topic item and
// the marker together, so the name is free again. An interrupted deletion resumes from its
// marker on the next pass.
import type { MetaKey, MetaStore, ObjectStore, Condition, WriteOp } from '../storage/ports';
import type { Clock } from '../util/clock';
import { inParallel } from '../util/parallel';
import { deletionMarkerFromItem, TOPIC_ID_ATTR, topicItemFromItem } from './items';
import { deletionKey, DELETIONS_PK, partitionPk, topicKey, topicPrefix, walPrefix } from './keys';
import type { RetentionStats } from './retention';
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
      const { name, topicId, partitions } = deletionMarkerFromItem(marker);
      const stored = await this.meta.get(topicKey(name));
      const topicItem = stored && topicItemFromItem(stored);
      const ours = topicItem?.topic.id === topicId;
      const deletedAt = topicItem?.deletedAt ?? 0;
      if (ours && this.clock.now() - deletedAt < this.opts.deletionGraceMs) continue;
      // Metadata first, then objects, then the topic item and the marker: an interrupted
      // deletion is resumed by the next pass from the marker.
      for (let p = 0; p < partitions; p++) {
        const pk = partitionPk(topicId, p);
        for (;;) {
          if (this.clock.monotonic() > deadline) return;
          const items = await this.meta.query({ pk, limit: 500 });
          if (items.items.length === 0) break;
          await deleteItems(this.meta, pk, items.items.map((i) => i.sk));
        }
      }
      // The name's objects are this incarnation's while its item is (a re-created topic cannot
      // exist before the item and this marker go, together).
      if ((ours || !topicItem) && !(await this.deletePrefix(topicPrefix(name), deadline))) return;
      if (!(await this.deletePrefix(walPrefix(topicId), deadline))) return;
      const ops: WriteOp[] = [{ type: 'delete', key: deletionKey(name) }];
      if (ours) ops.push({ type: 'delete', key: topicKey(name), condition: { op: 'eq', attr: TOPIC_ID_ATTR, value: topicId } });
      await this.meta.transact(ops);
      this.topics.invalidate(name);
      stats.deletedTopics++;
    }
  }

  private async deletePrefix(prefix: string, deadline: number): Promise<boolean> {
    for (;;) {
      if (this.clock.monotonic() > deadline) return false;
      const page = await this.objects.list(prefix, { limit: 1000 });
      if (page.objects.length === 0) return true;
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
