// Items mode, idempotent producers: the producer state as a snapshot plus the log since, as
// Kafka keeps it (design note 0010, decision 4), so that an idempotent commit is the same one
// conditional put as a plain one (commit-items.ts) instead of a transaction with a head write,
// which DynamoDB bills twice.
//
// Where the state lives. Every commit item of an idempotent batch carries its producer fields
// (Extent.producer: stream, epoch, sequences, time); the head's `producers` is a snapshot of
// the state after every item whose base lies below `flushed`, written by flush in the same
// conditional transaction that moves `flushed` (flush.ts). So the state at the end of the log
// is the snapshot with the items from `flushed` on applied in offset order (applyItem: an item
// already in the state, such as one straddling `flushed`, changes nothing).
//
// A committer keeps, per partition, a view: that state, complete up to `end`. An idempotent
// commit decides against the view exactly as head mode decides against the head, then puts its
// item at `end`, conditional on absence. The put succeeds only if `end` is still the end of the
// log, i.e. only if no item was appended after what the view applied, so the decision and the
// commit are as atomic as head mode's one head write. A failed put means another item is at
// `end`: the view catches up (one query from `end`) and the commit is decided again — a batch
// another instance committed meanwhile is then found remembered and answered with its offsets.
//
// Reads. A view is built once per process and partition (the head, and the items from
// `flushed` on: at most what one flush hand-off leaves, strongly consistent). Then it reads
// only when the end it knows is stale: the end cache of ItemLog (60 s, END_CACHE_MS) tells,
// with no I/O while it is fresh — a warm writer alone on its partition reads nothing. A stale
// end is learned with ItemLog's one query; a view whose end is not the chain's (items after it
// it cannot reach, e.g. expired by TTL after a long idle time) is built again rather than
// trusted, because a put at an expired key would succeed below the log's end.
import { SamsaError } from '../errors';
import type { MetaItem, MetaStore } from '../storage/ports';
import type { Clock } from '../util/clock';
import type { LogStartsSeen } from './log-starts';
import { type ItemLog, queryCoveringItem } from './commit-items';
import { commitItemEnd, commitItemFromItem, headFromItem } from './items';
import { COMMIT_ITEM_END, commitItemSk, headKey, partitionPk } from './keys';
import type { Extent } from './model';
import { applyItem, type PartitionProducers, pruneExpired } from './producers';
import { deletedTopicError } from './tombstones';
import type { Topic } from './topics';

/** One partition's producer state, complete up to `end` (the log's end when it was last seen). */
export interface ProducerView {
  state: PartitionProducers;
  end: number;
}

/** Items read per query page while building or catching up a view. */
const PAGE = 500;

export class ProducerViews {
  private views = new Map<string, ProducerView>();

  constructor(
    private readonly meta: MetaStore,
    private readonly items: ItemLog,
    private readonly clock: Clock,
    private readonly logStarts?: LogStartsSeen,
  ) {}

  /**
   * The partition's view, and whether it was brought to the log's end by a read just now
   * (`current`): refusals are decided only on such a view. A warm view whose end ItemLog still
   * trusts is returned as is.
   */
  async get(topic: Topic, partition: number, expirationMs: number): Promise<{ view: ProducerView; current: boolean }> {
    const v = this.views.get(viewKey(topic, partition));
    if (!v) return { view: await this.build(topic, partition, expirationMs), current: true };
    const fresh = this.items.known(topic, partition);
    if (fresh === v.end) return { view: v, current: false };
    const end = fresh ?? (await this.items.end(topic, partition));
    if (end === v.end) return { view: v, current: true };
    if (end > v.end && (await this.catchUp(topic, partition, expirationMs)) >= end) return { view: v, current: true };
    return { view: await this.build(topic, partition, expirationMs), current: true };
  }

  /**
   * Apply the items from the view's end on (one strongly consistent query, paged) and return
   * its new end. A first item not at the view's end means the view cannot be continued (its
   * end's item is gone): it is dropped, and the next `get` builds it again.
   */
  async catchUp(topic: Topic, partition: number, expirationMs: number): Promise<number> {
    const key = viewKey(topic, partition);
    const v = this.views.get(key);
    if (!v) return -1;
    let pos = v.end;
    let state = v.state;
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk: partitionPk(topic.id, partition), gte: commitItemSk(v.end), lt: COMMIT_ITEM_END, limit: PAGE, ...(startAfter ? { startAfter } : {}) });
      for (const item of page.items) {
        const e = this.chained(topic, partition, item, pos);
        if (!e) {
          this.views.delete(key);
          return -1;
        }
        if (e.producer) state = applyItem(state, e.producer, e.base, e.last, expirationMs);
        pos = e.last + 1;
      }
      startAfter = page.next;
    } while (startAfter);
    v.state = state;
    v.end = pos;
    this.items.saw(topic, partition, pos);
    return pos;
  }

  /** Our own commit (or a plain one) landed at the view's end: the view moves past it. */
  committed(topic: Topic, partition: number, e: Pick<Extent, 'base' | 'last'>, state?: PartitionProducers): void {
    const v = this.views.get(viewKey(topic, partition));
    if (!v || v.end !== e.base) return;
    v.end = e.last + 1;
    if (state) v.state = state;
  }

  forget(topic?: Topic): void {
    if (!topic) this.views.clear();
    else for (const k of [...this.views.keys()]) if (k.startsWith(`${topic.id}/`)) this.views.delete(k);
  }

  /**
   * A view from the head's snapshot (as of `flushed`) and every item from the one covering
   * `flushed` to the end of the log, in offset order; streams expired by now are dropped.
   */
  private async build(topic: Topic, partition: number, expirationMs: number): Promise<ProducerView> {
    const pk = partitionPk(topic.id, partition);
    const head = headFromItem(await this.meta.get(headKey(topic.id, partition)));
    if (head.deleted) throw this.deleted(topic, partition);
    this.logStarts?.saw(topic.id, partition, head.logStart);
    // Read after the head: flush may move `flushed` meanwhile, but the items it passes stay
    // (TTL removes them days later; topics without TTL lose only day-old ones), so the items
    // from the head's `flushed` are all there.
    const from = head.flushed;
    const covering = await queryCoveringItem(this.meta, topic.id, partition, from);
    let state = head.producers;
    let pos = Math.max(head.flushed, head.logStart);
    const first = covering.items[0];
    if (first) {
      const c = commitItemFromItem(first);
      if (c.kind === 'fence') throw this.deleted(topic, partition);
      // Below `flushed` it is in the snapshot; straddling it, applying it again changes nothing.
      if (c.extent.producer) state = applyItem(state, c.extent.producer, c.extent.base, c.extent.last, expirationMs);
      pos = Math.max(pos, commitItemEnd(c));
    }
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk, gt: commitItemSk(from), lt: COMMIT_ITEM_END, limit: PAGE, ...(startAfter ? { startAfter } : {}) });
      for (const item of page.items) {
        const e = this.chained(topic, partition, item, pos);
        if (!e) {
          throw new SamsaError('UNKNOWN_SERVER_ERROR', `the commit items of ${topic.name}/${partition} do not chain from offset ${pos}; retry the request`, {}, true);
        }
        if (e.producer) state = applyItem(state, e.producer, e.base, e.last, expirationMs);
        pos = e.last + 1;
      }
      startAfter = page.next;
    } while (startAfter);
    const view = { state: pruneExpired(state, this.clock.now(), expirationMs), end: pos };
    this.views.set(viewKey(topic, partition), view);
    this.items.saw(topic, partition, pos);
    return view;
  }

  /** The commit extent of `item` if it continues the chain at `pos`; a fence refuses (deleted topic). */
  private chained(topic: Topic, partition: number, item: MetaItem, pos: number): Extent | undefined {
    const c = commitItemFromItem(item);
    if (c.kind === 'fence') throw this.deleted(topic, partition);
    return c.extent.base === pos ? c.extent : undefined;
  }

  private deleted(topic: Topic, partition: number): SamsaError {
    this.forget(topic);
    this.items.forget(topic);
    return deletedTopicError(topic, partition);
  }
}

const viewKey = (topic: Topic, partition: number): string => `${topic.id}/${partition}`;
