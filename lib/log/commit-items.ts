// Items mode: each commit is written once, as an item of its own, and never rewritten.
//
// The head-only commit (commit.ts) writes a small commit three times on DynamoDB: into the
// head's tails, into the commit page the next commit moves the tails to, and the page's delete
// at flush — about 6 write units for a 1 KiB record. Here a commit of n offsets at b is ONE
// PutItem of the item c#<b> (its extent, as a page would hold it), conditional on the key's
// absence; nothing else is written, and the item expires by the table's TTL (free) rather than
// by a delete. Topics choose this mode at creation (Topic.commit), on stores where
// transactions cost double (DynamoDB); the rest of the engine reads it through the reader
// (the high watermark is the end of the last item) and the flusher. An idempotent producer's
// commit is the same put, at the end of the log as its producer-state view knows it
// (producer-view.ts).
//
// Why the offsets stay contiguous. A writer puts at E, the end of the log as it knows it: the
// end (base + count) of the last item it saw — learned with a strongly consistent descending
// query (beside a read of the head), or cached from its own last commit for at most
// END_CACHE_MS — or the head's flushed offset / log start where that is further. So every key
// tried is the end of an existing item (or of the flushed log): the items form a chain. Two puts at the same b cannot both
// succeed (the condition), so no offset is assigned twice; a put at b succeeds only where the
// chain ends, so none is skipped. A put whose condition fails gets the item in its way back
// (ALL_OLD): ours (our commit id: an applied write whose response was lost) is done; a fence
// is a deleted topic; anything else means the end moved, so the next attempt queries it.
//
// What bounds the cache: an item only disappears by TTL (days, commitTtl) or, on topics that
// keep records forever, by flush long after it was flushed (flush.ts). A cached end older than
// END_CACHE_MS is learned again, so a put never targets a key whose item may be gone. The
// residual: a process frozen between reading its cache and sending the put for longer than an
// item lives (8 days; a day for the deleted items of topics without TTL) could put below the
// flushed log — the same class as a writer frozen past its tombstone (tombstones.ts).
import { ConditionFailedError, StorageError, TransactionConflictError } from '../errors';
import type { ItemLife, MetaItem, MetaStore, QueryOptions, QueryPage } from '../storage/ports';
import type { Clock } from '../util/clock';
import type { LogStartsSeen } from './log-starts';
import { type CommitItem, commitItemEnd, commitItemFromItem, commitItemToItem, headFromItem } from './items';
import { COMMIT_ITEM_END, COMMIT_ITEM_PREFIX, commitItemKey, commitItemSk, headKey, partitionPk } from './keys';
import type { Extent, Head } from './model';
import { deletedTopicError } from './tombstones';
import type { Topic } from './topics';

/** How long a writer trusts the end of a log it last saw (its own commit, or a failed put's item). */
export const END_CACHE_MS = 60_000;
const DAY_MS = 24 * 3600 * 1000;
/** Commit items live at least this long (Kafka's producer-id expiry, the tombstones' life)... */
export const COMMIT_ITEM_MIN_LIFE_MS = 7 * DAY_MS;
/** ...plus this margin for wall clocks that disagree and TTL deletes that come early. */
const COMMIT_ITEM_TTL_SLACK_MS = DAY_MS;

/**
 * A commit item's TTL (epoch seconds): commit time + max(7 days, the topic's retention.ms) +
 * 1 day; none for topics that keep records forever (their flush deletes the items instead, so
 * no record can ever be lost to a flush that stalled past the TTL).
 */
export function commitTtl(topic: Pick<Topic, 'config'>, nowMs: number): number | undefined {
  const retention = topic.config['retention.ms'];
  if (retention < 0) return undefined;
  return Math.ceil((nowMs + Math.max(COMMIT_ITEM_MIN_LIFE_MS, retention) + COMMIT_ITEM_TTL_SLACK_MS) / 1000);
}

/**
 * How long a topic's commit items are stored, and whether they leave by a billed delete: by TTL
 * (commitTtl), or — topics that keep records forever — deleted by flush once a day old and
 * flushed (flush.ts ITEM_DELETE_MIN_AGE_MS). What an inline byte costs depends on it
 * (MetaStoreTraits.itemInlineMaxBytes).
 */
export function commitItemLife(topic: Pick<Topic, 'config'>): ItemLife {
  const retention = topic.config['retention.ms'];
  if (retention < 0) return { days: 1, deleted: true };
  return { days: (Math.max(COMMIT_ITEM_MIN_LIFE_MS, retention) + COMMIT_ITEM_TTL_SLACK_MS) / DAY_MS, deleted: false };
}

/** What a put at the end of the log found. */
export type PutOutcome =
  | { kind: 'committed' }
  /** Our own commit is there already (an earlier attempt applied; its response was lost). */
  | { kind: 'ours' }
  /** Someone else's commit holds the key: the end moved. */
  | { kind: 'taken' };

/** The end of one partition's log, as learned from its items (and head). */
export interface LogEnd {
  end: number;
  /** The head's log start, read with it. */
  logStart: number;
  /** A deleted incarnation's: the last item is its fence, or the head its tombstone (tombstones.ts). */
  deleted: boolean;
  /** The last item is the deletion's fence. */
  fenced: boolean;
}

/**
 * Where an items-mode log ends (its high watermark): the end of the last commit item (one
 * query, descending, limit 1), or the head's flushed offset / log start when that is further
 * — both read at once (strongly consistent unless asked otherwise), one round trip. The head
 * matters when no item is left (a new partition, or every item expired after its flush), and
 * whenever TTL removed the last item before an older one (writers' wall clocks disagree): the
 * older item's end then lies below `flushed`, and a put there could take a key whose item is
 * gone, below the flushed log. `flushed` never passes the end of what is committed.
 */
export async function learnItemEnd(meta: MetaStore, topic: Pick<Topic, 'id'>, partition: number, opts: { consistent?: boolean } = {}): Promise<LogEnd> {
  const consistent = opts.consistent === false ? { consistent: false } : {};
  const [last, headItem] = await Promise.all([lastCommitItem(meta, topic, partition, opts), meta.get(headKey(topic.id, partition), consistent)]);
  const head = headFromItem(headItem);
  const fenced = last?.kind === 'fence';
  return { end: itemLogEnd(head, last), logStart: head.logStart, deleted: fenced || head.deleted === true, fenced };
}

/**
 * An items-mode partition's high watermark from its head and its last commit item (see
 * learnItemEnd for why the head's flushed offset and log start count too).
 */
export const itemLogEnd = (head: Pick<Head, 'flushed' | 'logStart'>, last: CommitItem | undefined): number => Math.max(head.flushed, head.logStart, last ? commitItemEnd(last) : 0);

/**
 * The commit item covering `offset` — keyed by their base, it is the last at or below it — as a
 * page of at most one item (none when every item there is gone, or the log is empty).
 */
export function queryCoveringItem(meta: MetaStore, topicId: string, partition: number, offset: number, opts: Pick<QueryOptions, 'withoutBinary' | 'consistent'> = {}): Promise<QueryPage> {
  return meta.query({ pk: partitionPk(topicId, partition), gte: COMMIT_ITEM_PREFIX, lte: commitItemSk(offset), reverse: true, limit: 1, ...opts });
}

/** The partition's last commit item (or fence): one query, descending, limit 1. */
export async function lastCommitItem(meta: MetaStore, topic: Pick<Topic, 'id'>, partition: number, opts: { consistent?: boolean } = {}): Promise<CommitItem | undefined> {
  const { items } = await meta.query({
    pk: partitionPk(topic.id, partition),
    gte: COMMIT_ITEM_PREFIX,
    lt: COMMIT_ITEM_END,
    reverse: true,
    limit: 1,
    ...(opts.consistent === false ? { consistent: false } : {}),
  });
  return items[0] && commitItemFromItem(items[0]);
}

/** The log ends of items-mode partitions, and the commit point (one conditional put). */
export class ItemLog {
  /** Per partition: the end this process last saw, and when (monotonic). */
  private ends = new Map<string, { end: number; at: number }>();

  constructor(
    private readonly meta: MetaStore,
    private readonly clock: Clock,
    private readonly logStarts?: LogStartsSeen,
  ) {}

  /** The end to commit at: the cached one while fresh, else learned (a fence refuses). */
  async end(topic: Topic, partition: number): Promise<number> {
    const key = endKey(topic, partition);
    const cached = this.known(topic, partition);
    if (cached !== undefined) return cached;
    const learned = await learnItemEnd(this.meta, topic, partition);
    this.logStarts?.saw(topic.id, partition, learned.logStart);
    if (learned.deleted) {
      this.forget(topic);
      throw deletedTopicError(topic, partition);
    }
    this.ends.set(key, { end: learned.end, at: this.clock.monotonic() });
    return learned.end;
  }

  /** The end this process saw less than END_CACHE_MS ago, if any (no I/O). */
  known(topic: Topic, partition: number): number | undefined {
    const cached = this.ends.get(endKey(topic, partition));
    return cached && this.clock.monotonic() - cached.at < END_CACHE_MS ? cached.end : undefined;
  }

  /** `e`'s item as it would be put now (its expiry from the clock); `deflated`: see commitItemToItem. */
  item(topic: Topic, partition: number, e: Omit<Extent, 'sk'>, deflated?: { z: Uint8Array | undefined }): MetaItem {
    const now = this.clock.now();
    const ttl = commitTtl(topic, now);
    return commitItemToItem(topic.id, partition, e, ttl !== undefined ? { ttl } : { at: now }, deflated);
  }

  /** The commit point: put `e`'s item (`item`, when built already) at its base if no item is there. */
  async put(topic: Topic, partition: number, e: Omit<Extent, 'sk'>, cid: number, item: MetaItem = this.item(topic, partition, e)): Promise<PutOutcome> {
    try {
      await this.meta.write({ type: 'put', item, condition: { op: 'notExists' } });
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
      return this.judge(topic, partition, err.item && commitItemFromItem(err.item), cid);
    }
    this.saw(topic, partition, e.last + 1);
    return { kind: 'committed' };
  }

  /**
   * After a write whose outcome is unknown (a timeout, a dropped connection): what is at `base`
   * now. Absent: the write was not applied yet — the caller tries the same key again with the
   * same id, so the first write, if it still lands, makes the retry fail on an item of ours.
   */
  async lookAt(topic: Topic, partition: number, base: number, cid: number): Promise<PutOutcome | undefined> {
    const item = await this.meta.get(commitItemKey(topic.id, partition, base));
    if (!item) {
      this.saw(topic, partition, base);
      return undefined;
    }
    return this.judge(topic, partition, commitItemFromItem(item), cid);
  }

  /** Whose item holds the key we tried: ours, a fence (refused), or another commit's. */
  judge(topic: Topic, partition: number, found: ReturnType<typeof commitItemFromItem> | undefined, cid: number): PutOutcome {
    if (found?.kind === 'fence') {
      this.forget(topic);
      throw deletedTopicError(topic, partition);
    }
    if (found && found.extent.cid === cid) {
      this.saw(topic, partition, found.extent.last + 1);
      return { kind: 'ours' };
    }
    // Another commit is there: the next attempt learns the real end with one query rather
    // than walking the chain one failed (and billed) put at a time.
    this.ends.delete(endKey(topic, partition));
    return { kind: 'taken' };
  }

  /** Remember the end of the log as just seen (our own commit, or a key found free). */
  saw(topic: Topic, partition: number, end: number): void {
    this.ends.set(endKey(topic, partition), { end, at: this.clock.monotonic() });
  }

  forget(topic?: Topic): void {
    if (!topic) this.ends.clear();
    else for (const k of [...this.ends.keys()]) if (k.startsWith(`${topic.id}/`)) this.ends.delete(k);
  }
}

const endKey = (topic: Topic, partition: number): string => `${topic.id}/${partition}`;

/** A retriable storage failure whose write may or may not have been applied. */
export const ambiguous = (err: unknown): boolean =>
  err instanceof StorageError && err.retriable && !(err instanceof ConditionFailedError) && !(err instanceof TransactionConflictError);
