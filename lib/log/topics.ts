// Topic registry: one metadata item per topic holding its partition count and config. Reads
// are cached briefly per process (topic metadata is eventually consistent in Kafka too); every
// change goes through a conditional write so concurrent admins never lose an update.
import { randomUUID } from 'node:crypto';
import { ConditionFailedError, SamsaError, TransactionConflictError } from '../errors';
import type { MetaItem, MetaStore } from '../storage/ports';
import type { Clock } from '../util/clock';
import { inParallel } from '../util/parallel';
import { retryOnConflict } from '../util/retry';
import { type DeletionMarker, deletionMarkerFromItem, HEAD_ATTR, isDeletingTopicItem, TOPIC_ID_ATTR, TOPIC_NOT_DELETING, TOPIC_VERSION_ATTR, topicDeletingSet, topicDeletionToItem, topicFromItem, topicToItem } from './items';
import { deletionKey, headKey, newTopicId, TOPIC_DELETIONS_PK, topicDeletionDoneKey, topicDeletionKey, topicKey, TOPICS_PK } from './keys';
import { fenceItemLogs, tombstoneHeads } from './tombstones';
import {
  applyTopicConfig,
  DEFAULT_TOPIC_CONFIG,
  type TopicConfig,
  validatePartitionCount,
  validateTopicName,
} from './topic-config';

export interface Topic {
  name: string;
  partitions: number;
  config: TopicConfig;
  /** Distinguishes a re-created topic from an earlier one of the same name. */
  id: string;
  createdAt: number;
  /** Bumped by every change; the condition of the next change. */
  version: number;
  /**
   * 'items': every commit is one item of its own, written once (commit-items.ts), decided when
   * the incarnation is created and never changed; absent: commits go through the partition
   * head (commit.ts).
   */
  commit?: 'items';
}

/**
 * A create's refusal of a name in use. A deletion frees the name before it answers (markDeleted),
 * as KRaft Kafka does. An item in state "deleting" is a deletion under way: one of this build
 * between its first write and its last (or interrupted there), which the create finishes
 * (finishStoppedDeletion), or one of a build before markers by id, which keeps the item until
 * the data is gone. Only that one's name is refused ("marked for deletion").
 */
function nameTaken(name: string, item: MetaItem | undefined): SamsaError {
  return new SamsaError(
    'TOPIC_ALREADY_EXISTS',
    item !== undefined && isDeletingTopicItem(item) ? `topic "${name}" is marked for deletion; retry once the deletion has finished` : `topic "${name}" already exists`,
    { topic: name },
  );
}

/** How old a cached topic lookup may be by default. */
export const TOPIC_CACHE_MS = 1000;

export interface TopicLookup {
  /** Read the item strongly consistently, bypassing the cache. */
  fresh?: boolean;
  /** The oldest cached lookup accepted (default TOPIC_CACHE_MS). */
  maxAgeMs?: number;
}
/** Names remembered by forgetDeleted at most (the oldest go first). */
const MAX_REFUSED = 1000;
/** Conditional writes an alter tries before it gives up on a topic under constant change. */
const ALTER_ATTEMPTS = 11;

export class TopicRegistry {
  private cache = new Map<string, { topic: Topic; at: number }>();
  /**
   * Lookups in flight: concurrent readers of one topic share one metadata read. A group poll
   * looks its topic up once per partition at once, and with a poll a second the cache has
   * always expired: six partitions were six reads per poll, the largest read cost of an idle
   * member (bench/idle-member.ts).
   */
  private loading = new Map<string, Promise<Topic | undefined>>();
  /**
   * Per name, the incarnation a write or read of this process was just refused by as deleted
   * (forgetDeleted). A lookup reads eventually consistently, and on DynamoDB a replica may still
   * return that item after a delete and re-create: the retry the refusal asks for then resolved
   * the name to it again and was refused again. A read returning it is confirmed strongly, once.
   */
  private refused = new Map<string, string>();

  constructor(
    private readonly meta: MetaStore,
    private readonly clock: Clock,
  ) {}

  async create(name: string, partitions: unknown, config?: Record<string, unknown>, mode: { itemCommits?: boolean } = {}): Promise<Topic> {
    validateTopicName(name);
    const count = validatePartitionCount(partitions);
    const cfg = applyTopicConfig(DEFAULT_TOPIC_CONFIG, config);
    const now = this.clock.now();
    const topic: Topic = {
      name,
      partitions: count,
      config: cfg,
      // A v7 id: its objects get a directory of their own (design note 0012, keys.ts).
      id: newTopicId(now),
      createdAt: now,
      version: 1,
      ...(mode.itemCommits ? { commit: 'items' as const } : {}),
    };
    const exists = (item: MetaItem | undefined): SamsaError => nameTaken(name, item);
    if (topic.commit === 'items') {
      // Items mode: the heads are marked (markItemsHeads) before the topic item exists, under the
      // new incarnation id that nothing reads yet: no moment in which a process of an earlier
      // build can resolve the topic and find an unmarked head. An existing name is refused
      // first (one strongly consistent read), so "create if absent" clients do not mark a
      // partition count of heads at each attempt; a create that loses a race for the name
      // removes its heads when refused, and only a crash (or a failure of that removal) leaves
      // heads that nothing references.
      const current = await this.meta.get(topicKey(name));
      if (current && !(await this.finishStoppedDeletion(name, current))) throw exists(current);
      await markItemsHeads(this.meta, topic);
    }
    for (let finished = false; ; ) {
      try {
        await this.meta.write({ type: 'put', item: topicToItem(topic), condition: { op: 'notExists' } });
        break;
      } catch (err) {
        if (!(err instanceof ConditionFailedError)) throw err;
        // Our own put, applied, its answer lost and repeated by the store's client: created.
        if (err.item?.[TOPIC_ID_ATTR] === topic.id) break;
        // Once: the name's item is then gone, or another create's.
        if (finished || !(await this.finishStoppedDeletion(name, err.item))) {
          // Refused: the heads marked above are under an id no topic item will ever hold, and
          // no deletion will name. (Best effort: a failure or a crash here leaves them.)
          if (topic.commit === 'items') await unmarkItemsHeads(this.meta, topic.id, 0, count).catch(() => undefined);
          throw exists(err.item);
        }
        finished = true;
      }
    }
    this.cache.set(name, { topic, at: this.clock.now() });
    return topic;
  }

  /**
   * Refuses, as `create` would, a name that a topic holds (live, or being deleted: nameTaken),
   * without creating anything: CreateTopics' validate_only. One strongly consistent read.
   */
  async checkNameFree(name: string): Promise<void> {
    validateTopicName(name);
    const item = await this.meta.get(topicKey(name));
    // A deletion of this build under way is one the create would finish (finishStoppedDeletion).
    if (item && !(isDeletingTopicItem(item) && (await this.deletionById(item)) !== undefined)) throw nameTaken(name, item);
  }

  /**
   * A create that finds the name's item "deleting" by a deletion of this build (its marker by id
   * holds `deleted_at`) finishes that deletion's last two steps, as its DELETE or a retention
   * pass would: the tombstones, then the name (markDeleted). A DELETE killed after its first
   * write (a Lambda timed out) otherwise left the name refused until someone retried the DELETE
   * or the next retention pass ran — on Lambda the hand-off to the retention function comes
   * after the DELETE's last write, so up to the 15-minute schedule. A DELETE still running does
   * the same idempotent writes; its own freeing of the name then finds nothing to remove. One of
   * an older build (no marker by id) keeps its item until its data is gone: false, refused.
   */
  private async finishStoppedDeletion(name: string, item: MetaItem | undefined): Promise<boolean> {
    if (item === undefined || !isDeletingTopicItem(item)) return false;
    const m = await this.deletionById(item);
    if (m === undefined) return false;
    await tombstoneHeads(this.meta, m.topicId, m.partitions);
    await fenceItemLogs(this.meta, { id: m.topicId, partitions: m.partitions, ...(m.commit ? { commit: m.commit } : {}) });
    await freeName(this.meta, name, m.topicId);
    this.cache.delete(name);
    return true;
  }

  /** The deletion marker by id (this build's) of a topic item's incarnation, if there is one. */
  private async deletionById(item: MetaItem): Promise<DeletionMarker | undefined> {
    const marker = await this.meta.get(topicDeletionKey(item[TOPIC_ID_ATTR] as string));
    const m = marker && deletionMarkerFromItem(marker);
    return m && m.deletedAt !== undefined ? m : undefined;
  }

  /**
   * The topic, or undefined when absent or being deleted. A cached lookup is at most
   * `maxAgeMs` old (default one second); callers that detect a stale incarnation by other
   * means may accept an older one (the group poll: see poll.ts).
   */
  async find(name: string, opts: TopicLookup = {}): Promise<Topic | undefined> {
    // Every route reaches topics through here: an illegal name is refused before it becomes a
    // storage key (a 2,000-character one would fail in DynamoDB with a 500).
    validateTopicName(name);
    const hit = this.cached(name, opts);
    if (hit) return hit;
    // A fresh lookup must see writes made since any read already in flight: it reads alone.
    const shared = opts.fresh ? undefined : this.loading.get(name);
    if (shared) return shared;
    const load = (async () => {
      // A cached lookup reads eventually consistently (half the price on DynamoDB: an idle
      // consumer's poll pays it every second). Topic metadata is eventually consistent in
      // Kafka too; what a stale read could cost is guarded elsewhere — an out-of-range
      // partition is confirmed fresh (partition()), a deleted incarnation's heads refuse
      // writes and reads (tombstones.ts) — and a miss is confirmed strongly here, so a topic
      // just created elsewhere is never reported missing.
      let item = await this.meta.get(topicKey(name), opts.fresh ? undefined : { consistent: false });
      if (!opts.fresh && (!item || isDeletingTopicItem(item) || item[TOPIC_ID_ATTR] === this.refused.get(name))) item = await this.meta.get(topicKey(name));
      this.refused.delete(name);
      const topic = item && !isDeletingTopicItem(item) ? topicFromItem(item) : undefined;
      if (topic) this.cache.set(name, { topic, at: this.clock.now() });
      else this.cache.delete(name);
      return topic;
    })();
    if (opts.fresh) return load;
    this.loading.set(name, load);
    try {
      return await load;
    } finally {
      if (this.loading.get(name) === load) this.loading.delete(name);
    }
  }

  /** find()'s cache hit, if it has one for these options. */
  private cached(name: string, opts: TopicLookup): Topic | undefined {
    const hit = this.cache.get(name);
    return hit && !opts.fresh && this.clock.now() - hit.at < (opts.maxAgeMs ?? TOPIC_CACHE_MS) ? hit.topic : undefined;
  }

  async get(name: string, opts: TopicLookup = {}): Promise<Topic> {
    const topic = await this.find(name, opts);
    if (!topic) {
      throw new SamsaError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${name}" does not exist`, { topic: name });
    }
    return topic;
  }

  /** The topic and a valid partition of it. */
  async partition(name: string, partition: number, opts: Pick<TopicLookup, 'maxAgeMs'> = {}): Promise<Topic> {
    // A cache hit (every produce but the first of a second) without get's and find's promises
    // (issue 18 item 1); find validates the name, as here.
    validateTopicName(name);
    const topic = this.cached(name, opts) ?? (await this.get(name, opts));
    if (!Number.isInteger(partition) || partition < 0 || partition >= topic.partitions) {
      // A stale cache may not know about a just-added partition: confirm before refusing.
      const fresh = await this.get(name, { fresh: true });
      if (Number.isInteger(partition) && partition >= 0 && partition < fresh.partitions) return fresh;
      throw new SamsaError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `topic "${name}" has no partition ${partition} (it has ${fresh.partitions})`,
        { topic: name, partition },
      );
    }
    return topic;
  }

  async list(): Promise<Topic[]> {
    const out: Topic[] = [];
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk: TOPICS_PK, startAfter, limit: 1000 });
      for (const item of page.items) if (!isDeletingTopicItem(item)) out.push(topicFromItem(item));
      startAfter = page.next;
    } while (startAfter);
    return out;
  }

  /** Grow partitions and/or change config. Partitions can only grow, as in Kafka. */
  async alter(name: string, change: { partitions?: unknown; config?: Record<string, unknown> }): Promise<Topic> {
    // A racing admin changed the topic since we read it: apply the change again on top of theirs.
    return retryOnConflict(() => this.alterOnce(name, change), (err) => err instanceof ConditionFailedError, { maxAttempts: ALTER_ATTEMPTS });
  }

  private async alterOnce(name: string, change: { partitions?: unknown; config?: Record<string, unknown> }): Promise<Topic> {
    const current = await this.get(name, { fresh: true });
    let partitions = current.partitions;
    if (change.partitions !== undefined) {
      partitions = validatePartitionCount(change.partitions);
      if (partitions < current.partitions) {
        throw new SamsaError(
          'INVALID_PARTITIONS',
          `topic "${name}" has ${current.partitions} partitions; the count can only grow (asked for ${partitions})`,
          { topic: name },
        );
      }
    }
    const config = applyTopicConfig(current.config, change.config);
    const next: Topic = { ...current, partitions, config, version: current.version + 1 };
    // Partitions added to an items-mode topic are marked as its first ones were, before the
    // topic item names them (see create and markItemsHeads).
    if (next.commit === 'items' && partitions > current.partitions) await markItemsHeads(this.meta, next, current.partitions);
    try {
      await this.meta.write({
        type: 'put',
        item: topicToItem(next),
        // The id too, not only the version: every incarnation starts at version 1, and an alter
        // held up after its read (a paused process, or its put sent again by the SDK after a
        // lost answer) while the topic was deleted and the name created again replaced the new
        // topic's item with the deleted one's. The name then named a tombstoned incarnation
        // (every write refused, a create "already exists") and the new topic was unreachable.
        condition: { op: 'and', conds: [{ op: 'eq', attr: TOPIC_ID_ATTR, value: current.id }, { op: 'eq', attr: TOPIC_VERSION_ATTR, value: current.version }, TOPIC_NOT_DELETING] },
      });
    } catch (err) {
      // Another change of this topic: the caller applies the change again on top of it. The
      // topic itself deleted meanwhile (gone, being deleted, or another incarnation in its
      // place): refused, as a produce to it is. Applying the change to the topic now under the
      // name could apply it to two topics (if this put did land before the deletion) and
      // altered one created after the request arrived.
      if (err instanceof ConditionFailedError && (err.item === undefined || err.item[TOPIC_ID_ATTR] !== current.id || isDeletingTopicItem(err.item))) {
        this.cache.delete(name);
        // The heads this attempt marked for its new partitions are the deleted incarnation's,
        // and its deletion tombstones and removes only the partition count it recorded.
        if (next.commit === 'items' && partitions > current.partitions) await this.unmarkAddedHeads(name, current, partitions);
        throw new SamsaError(
          'UNKNOWN_TOPIC_OR_PARTITION',
          `topic "${name}" was deleted while this alter was in flight; nothing was changed on any live topic — retry to alter the topic now under that name, if any`,
          { topic: name },
          true,
        );
      }
      throw err;
    }
    this.cache.set(name, { topic: next, at: this.clock.now() });
    return next;
  }

  /**
   * An alter refused because its topic was deleted removes the heads it marked for partitions
   * [current.partitions, partitions) (markItemsHeads) that the deletion does not cover: those at
   * or beyond the count its marker recorded. Those below are the deletion's, tombstoned (or
   * about to be), and a head that carries a tombstone is never removed here (the condition):
   * with no marker left to read, the deletion is finished and its heads all carry one. What a
   * failure here leaves (unmarkItemsHeads), the retention pass finds beyond the deletion's count
   * (topic-deletion.ts, removeHeadsBeyond), as it does the heads of an alter killed between its
   * marking and its put. Best effort: the answer is the 404 whatever happens here.
   */
  private async unmarkAddedHeads(name: string, current: Topic, partitions: number): Promise<void> {
    try {
      const byId = await this.meta.get(topicDeletionKey(current.id));
      const legacy = byId ? undefined : await this.meta.get(deletionKey(name));
      const marker = [byId, legacy].map((m) => m && deletionMarkerFromItem(m)).find((m) => m?.topicId === current.id);
      await unmarkItemsHeads(this.meta, current.id, Math.max(current.partitions, marker?.partitions ?? 0), partitions);
    } catch {
      // Left to the retention pass (above).
    }
  }

  /**
   * Delete the topic, in three steps. One transaction marks its item "deleting" (from now on it
   * is unknown to every route) and queues a deletion marker keyed by its incarnation id; then
   * every partition of the incarnation is tombstoned; then the item is removed, which frees the
   * name for a new incarnation before the DELETE answers. The data is removed by the retention
   * job from the marker (topic-deletion.ts), so a deletion that is interrupted resumes there.
   *
   * The name is freed only after the tombstones: a process still holding the old topic can
   * commit to it until they land, and a create that succeeded before then let such a write,
   * begun after the create's answer, be acknowledged into the deleted incarnation and lost.
   *
   * With `topicId`, only that incarnation is deleted: any other under the name (or none) is
   * UNKNOWN_TOPIC_OR_PARTITION. As the name is free at once, a deletion retried after its
   * answer was lost, or a request delayed past a retry that succeeded, could otherwise meet a
   * topic created under the name meanwhile and delete it (the client sends the id it described).
   */
  async markDeleted(name: string, topicId?: string): Promise<Topic> {
    // Conditional on the version read, not only the id: the marker's partition count is what the
    // deletion tombstones and removes, and an alter that added partitions between the read and
    // this write would leave those partitions live (their heads never tombstoned).
    let topic: Topic;
    // This call's own marking, told from another's when its answer is lost (below).
    const request = randomUUID();
    // Every incarnation an attempt read, by id: the one whose marking turns out to be ours.
    const read = new Map<string, Topic>();
    try {
      topic = await this.markOnce(name, topicId, request, (t) => read.set(t.id, t));
    } catch (err) {
      // Not found: perhaps because an earlier attempt marked it and its answer was lost (the
      // store reported a failure, or an SDK retry of the applied write failed its condition).
      // A deletion still under way finishes its tombstones first, so that no answer to a
      // DELETE, this 404 included, comes while a process holding the topic can still commit.
      if (!(err instanceof SamsaError && err.code === 'UNKNOWN_TOPIC_OR_PARTITION')) throw err;
      let ours: Topic | undefined;
      for (const m of await this.pendingDeletions(name)) {
        await tombstoneHeads(this.meta, m.topicId, m.partitions);
        await fenceItemLogs(this.meta, { id: m.topicId, partitions: m.partitions, ...(m.commit ? { commit: m.commit } : {}) });
        // A deletion of this build stopped before it freed the name: free it now. (One of an
        // older build keeps its item until its data is gone, as that build expects.)
        if (m.deletedAt !== undefined) await freeName(this.meta, m.name, m.topicId);
        if (m.request === request) ours = read.get(m.topicId) ?? ours;
      }
      // This call's own marking applied, its answer lost and its retry refused (the SDK's, or
      // ours after a reported failure): the topic is gone because of this DELETE, which says so
      // rather than 404 "does not exist". Its tombstones and the name are done just above.
      if (ours === undefined) throw err;
      this.cache.delete(name);
      return ours;
    }
    this.cache.delete(name);
    // Before answering: from here on no process still holding this incarnation can commit to,
    // flush or read it (tombstones.ts). A crash before this completes leaves the marker, and
    // the retention job writes the tombstones before it frees the name or removes anything.
    await tombstoneHeads(this.meta, topic.id, topic.partitions);
    // Items-mode commits never write the head: each partition's log also ends in a fence.
    await fenceItemLogs(this.meta, topic);
    await freeName(this.meta, name, topic.id);
    return topic;
  }

  /**
   * Marks the topic item "deleting" and queues its deletion marker, in one transaction
   * (markDeleted). A create of the name racing the deletion either comes first (this finds that
   * topic, or fails its condition and reads again), or finds the item "deleting" and finishes
   * the deletion before it creates (finishStoppedDeletion), or finds the name free: one item per
   * name, changed only by conditional writes, so the two are linearizable.
   */
  private markOnce(name: string, topicId: string | undefined, request: string, onRead: (t: Topic) => void): Promise<Topic> {
    // The incarnation this call may still mark, once a refused attempt could not tell whose
    // marking refused it (below): only the one it already tried.
    let only = topicId;
    return retryOnConflict(
      async () => {
        const t = await this.get(name, { fresh: true });
        onRead(t);
        if (only !== undefined && t.id !== only) {
          throw new SamsaError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${name}" with id ${only} does not exist (the name is held by another incarnation, ${t.id}, which is left alone)`, { topic: name });
        }
        try {
          await this.meta.transact([
            {
              type: 'update',
              key: topicKey(name),
              set: topicDeletingSet(this.clock.now()),
              condition: { op: 'and', conds: [{ op: 'eq', attr: TOPIC_ID_ATTR, value: t.id }, { op: 'eq', attr: TOPIC_VERSION_ATTR, value: t.version }, TOPIC_NOT_DELETING] },
            },
            { type: 'put', item: topicDeletionToItem({ name, topicId: t.id, partitions: t.partitions, deletedAt: this.clock.now(), request, ...(t.commit ? { commit: t.commit } : {}) }) },
          ]);
        } catch (err) {
          // Refused: perhaps the transaction applied with its answer lost, and the SDK sent it
          // again, which failed its condition. The name is free from that instant (a create
          // finishes the deletion), and another client may have created it before the repeat
          // came back; the next attempt, reading the name again, would then mark that new topic
          // too (by name), or refuse with 404 the one this DELETE deleted (by id). This
          // incarnation's marker with this call's token says the marking is ours. (Any other
          // failure is the caller's to retry, as a new DELETE.)
          if (!(err instanceof ConditionFailedError || err instanceof TransactionConflictError)) throw err;
          const mine = await this.markedBy(t.id, request);
          if (mine) return t;
          // Unknown (a throttled read, or no record either way): the marking may be ours all
          // the same, so the retry marks only this incarnation. Another under the name now is refused as with
          // ?topic_id=, and the caller then looks for this call's marker among the pending
          // deletions (markDeleted) — never a second topic deleted by one DELETE.
          if (mine === undefined) only = t.id;
          throw err;
        }
        return t;
      },
      (err) => err instanceof ConditionFailedError || err instanceof TransactionConflictError,
      { maxAttempts: ALTER_ATTEMPTS },
    );
  }

  /**
   * Whether incarnation `topicId` was marked deleted by this call (its `request`): its marker
   * says so, or, once a retention pass has finished the deletion, the record the pass keeps of
   * it (topicDeletionDoneKey). Undefined when it cannot tell: not knowing is not "another's".
   * That is when a read fails, and when neither record is there: the incarnation is not marked
   * (an alter's new version refused the marking), or a pass of a build before the done record
   * finished its deletion during a deploy, keeping no token.
   */
  private async markedBy(topicId: string, request: string): Promise<boolean | undefined> {
    try {
      const marker = await this.meta.get(topicDeletionKey(topicId));
      if (marker !== undefined) return deletionMarkerFromItem(marker).request === request;
      const done = await this.meta.get(topicDeletionDoneKey(topicId));
      return done === undefined ? undefined : done['request'] === request;
    } catch {
      return undefined;
    }
  }

  /**
   * The deletions of incarnations of `name` whose data is still being removed: the marker by
   * name of an older build, and this build's markers by id (a scan of the queue, which holds
   * only deletions not finished yet; read only by a DELETE that found no topic).
   */
  private async pendingDeletions(name: string): Promise<DeletionMarker[]> {
    const out: DeletionMarker[] = [];
    const legacy = await this.meta.get(deletionKey(name));
    if (legacy) out.push(deletionMarkerFromItem(legacy));
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk: TOPIC_DELETIONS_PK, startAfter, limit: 1000 });
      for (const item of page.items) {
        const m = deletionMarkerFromItem(item);
        if (m.name === name) out.push(m);
      }
      startAfter = page.next;
    } while (startAfter);
    return out;
  }

  /**
   * Forget the cached topic after a write or read to it was refused because the incarnation was
   * deleted (its heads tombstoned): the next lookup of the name reads it again, strongly
   * consistently if an eventually consistent read still returns this incarnation.
   */
  forgetDeleted(topic: Pick<Topic, 'name' | 'id'>): void {
    this.cache.delete(topic.name);
    this.refused.delete(topic.name);
    if (this.refused.size >= MAX_REFUSED) this.refused.delete(this.refused.keys().next().value!);
    this.refused.set(topic.name, topic.id);
  }

  /** Forget cached metadata (tests, and after admin changes seen elsewhere). */
  invalidate(name?: string): void {
    if (name === undefined) this.cache.clear();
    else this.cache.delete(name);
  }
}

/**
 * The last step of a deletion (markDeleted, or the retention pass finishing an interrupted one):
 * remove the incarnation's topic item, marked "deleting", so that the name is free. Only after
 * its partitions are tombstoned. Already gone (the other of the two did it): nothing to do.
 */
export async function freeName(meta: MetaStore, name: string, topicId: string): Promise<void> {
  try {
    await meta.write({ type: 'delete', key: topicKey(name), condition: { op: 'and', conds: [{ op: 'eq', attr: TOPIC_ID_ATTR, value: topicId }, { op: 'eq', attr: 'state', value: 'deleting' }] } });
  } catch (err) {
    if (!(err instanceof ConditionFailedError)) throw err;
  }
}

/**
 * An items-mode topic's partition heads get a `next_offset` no head-mode commit can satisfy:
 * that commit's condition is `next_offset = b`, or absent at b = 0 (commit.ts), and a string
 * equals no number. A process of a build before items mode — still running during a rolling
 * deploy — ignores the topic item's commit mode, and would otherwise commit through the head at
 * offset 0 beside the commit items; now its commit fails its condition on every attempt and is
 * refused, retriable. Readers decode the marker as no offset (items.ts), and nothing of this
 * build conditions on it: items mode reads the high watermark from the items (commit-items.ts).
 */
export const ITEMS_HEAD_MARKER = 'items';
/**
 * Heads marked (or unmarked) at once. In partition order, so a marking cut short (a crash, a
 * failed write) leaves gaps shorter than this among the heads it marked: a later index is
 * taken only by a worker free of all below it but the other workers' (at most this many less one).
 */
export const MARK_PARALLEL = 16;
/**
 * Removes the items-mode heads of partitions [from, to) of incarnation `topicId` that no topic
 * item names (an alter or create refused), each only while it is just the marker: a tombstoned
 * head is a deletion's, kept. Highest first, MARK_PARALLEL at a time, stopping at the first
 * failure: what a failure leaves are the heads below, with gaps shorter than a batch.
 */
async function unmarkItemsHeads(meta: MetaStore, topicId: string, from: number, to: number): Promise<void> {
  for (let hi = to; hi > from; hi -= MARK_PARALLEL) {
    const batch = Array.from({ length: Math.min(MARK_PARALLEL, hi - from) }, (_, i) => hi - 1 - i);
    await Promise.all(
      batch.map(async (p) => {
        try {
          await meta.write({
            type: 'delete',
            key: headKey(topicId, p),
            condition: { op: 'and', conds: [{ op: 'eq', attr: HEAD_ATTR.nextOffset, value: ITEMS_HEAD_MARKER }, { op: 'attrNotExists', attr: HEAD_ATTR.deleted }] },
          });
        } catch (err) {
          if (!(err instanceof ConditionFailedError)) throw err;
        }
      }),
    );
  }
}

export async function markItemsHeads(meta: MetaStore, topic: Pick<Topic, 'id' | 'partitions'>, fromPartition = 0): Promise<void> {
  await inParallel(Array.from({ length: topic.partitions - fromPartition }, (_, i) => fromPartition + i), MARK_PARALLEL, (p) =>
    meta.write({ type: 'update', key: headKey(topic.id, p), set: { [HEAD_ATTR.nextOffset]: ITEMS_HEAD_MARKER } }),
  );
}
