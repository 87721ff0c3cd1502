// Tombstones: how a deleted topic incarnation stops accepting writes everywhere at once.
//
// Every partition head of an incarnation lives under `log#<topic id>#<p>`, and a re-created
// topic gets a new id, so nothing of the new log is ever written through the old keys. What
// the keys alone do not stop is a process that still holds the *old* topic (a server paused
// across the deletion, a request that resolved the name just before it): its commit is a
// conditional write to the old head, which succeeds, is acknowledged — and is unreadable, since
// no route resolves the old id any more. Before tombstones, a paused server resuming after
// retention had removed the old heads even re-created one at offset 0 (design note 0003,
// "Deleted incarnations: tombstones").
//
// So deleting a topic writes `deleted: true` into every partition head of the incarnation,
// creating the heads that were never written, before the deletion is answered; the retention
// job writes them again before it removes anything (an interrupted deletion), and keeps them,
// stripped to the mark, when it removes the partition's other items. Every commit's head
// condition requires the mark to be absent (commit.ts), the flusher's fences do too (flush.ts,
// flush-plan.ts), and a read that meets a tombstone refuses (reader.ts). The bare tombstones
// are removed by the retention job once TOMBSTONE_TTL_MS has passed (a queue item per deleted
// incarnation, `tombstones` in keys.ts) — the same in both modes, with no store-side expiry.
import { SamsaError } from '../errors';
import type { MetaStore } from '../storage/ports';
import { inParallel } from '../util/parallel';
import { ConditionFailedError } from '../errors';
import { learnItemEnd } from './commit-items';
import { commitItemFromItem, fenceItem, headUpdate } from './items';
import { COMMIT_ITEM_END, COMMIT_ITEM_PREFIX, headKey, partitionPk } from './keys';

/** How long a tombstone outlives its deletion (as Kafka keeps producer ids: 7 days). */
export const TOMBSTONE_TTL_MS = 7 * 24 * 3600 * 1000;
const PARALLEL = 16;

const partitionsOf = (n: number): number[] => Array.from({ length: n }, (_, p) => p);

/** Mark every partition head of a topic incarnation deleted (idempotent; creates absent heads). */
export async function tombstoneHeads(meta: MetaStore, topicId: string, partitions: number): Promise<void> {
  await inParallel(partitionsOf(partitions), PARALLEL, (p) => meta.write({ type: 'update', key: headKey(topicId, p), ...headUpdate({ deleted: true }) }));
}

/**
 * Items mode (commit-items.ts): commits never write the head, so its mark alone stops none of
 * them. Each partition also gets a fence, an item at the end of its log: a commit puts only at
 * the end of an item it saw, so its key is the fence's (taken) or below it (taken, and the
 * end it then learns is the fence), and none can land at or after it. The loop runs until the
 * fence itself lands at the end: a commit that takes the key first just moves the end on. Run
 * after tombstoneHeads, before the deletion is answered; idempotent.
 */
export async function fenceItemLogs(meta: MetaStore, topic: { id: string; partitions: number; commit?: 'items' }): Promise<void> {
  if (topic.commit !== 'items') return;
  await inParallel(partitionsOf(topic.partitions), PARALLEL, async (p) => {
    for (;;) {
      const { end, fenced } = await learnItemEnd(meta, topic, p);
      if (fenced) return;
      try {
        await meta.write({ type: 'put', item: fenceItem(topic.id, p, end), condition: { op: 'notExists' } });
        return;
      } catch (err) {
        if (!(err instanceof ConditionFailedError)) throw err;
        if (err.item && commitItemFromItem(err.item).kind === 'fence') return;
      }
    }
  });
}

/**
 * Replace a tombstoned head by a bare one (no tails, no producer state: nothing of the deleted
 * log's data stays in the table). Only after `tombstoneHeads`: no commit can change the head
 * any more, so an unconditional put loses nothing.
 */
export async function bareTombstone(meta: MetaStore, topicId: string, partition: number): Promise<void> {
  await meta.write({ type: 'put', item: { ...headKey(topicId, partition), ...headUpdate({ deleted: true }).set } });
}

/** Remove the bare tombstones of an incarnation whose time is up, and its fences (items mode). */
export async function removeTombstones(meta: MetaStore, topicId: string, partitions: number): Promise<void> {
  await inParallel(partitionsOf(partitions), PARALLEL, async (p) => {
    // The partition's other items are gone already (topic-deletion.ts keeps only these).
    const fences = await meta.query({ pk: partitionPk(topicId, p), gte: COMMIT_ITEM_PREFIX, lt: COMMIT_ITEM_END, limit: 100 });
    for (const f of fences.items) await meta.write({ type: 'delete', key: { pk: f.pk, sk: f.sk } });
    await meta.write({ type: 'delete', key: headKey(topicId, p) });
  });
}

/** What a commit, flush or read that meets a tombstone answers. */
export function deletedTopicError(topic: { name: string }, partition: number): SamsaError {
  return new SamsaError(
    'UNKNOWN_TOPIC_OR_PARTITION',
    `topic "${topic.name}" was deleted while this request was in flight (partition ${partition}); nothing was written to any live topic — retry to reach the topic now under that name, if any`,
    { topic: topic.name, partition },
    true,
  );
}
