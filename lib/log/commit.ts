// The commit protocol: how committed batches get their offsets, from any number of writers.
//
//   1. Payloads too large to keep inline are written first to a write-ahead object under a
//      fresh unique key (conditional create), so a crash leaves garbage, never a gap.
//   2. The commit itself is one conditional write to the partition head: next_offset moves from
//      the expected value b to b + n (conditional on next_offset == b) and the new extent
//      [b, b + n - 1] joins the head's `tails`, the latest commits' extents. When the head
//      would outgrow one DynamoDB write unit, the tails first go to a commit page of their own
//      (x#<last offset>, a conditional create; the tails a head at next_offset == b holds are
//      the same for every writer that sees it, so a page that exists already holds them — or
//      is flush's remainder, which covers what of them is unflushed) and the head keeps only
//      the new extent. So a commit costs one 1 KB write, plus a page write every few commits,
//      and no transaction: DynamoDB bills a transaction's writes twice.
//   3. Acknowledge only after the head write.
//
// Topics created in items mode (Topic.commit = 'items', AWS mode) commit differently: one
// write-once item per commit, conditional on its absence, and no head write (commit-items.ts;
// commitItem below).
//
// Commits that span partitions (and every commit on a store where transactions cost nothing
// extra, like SQLite) use one transaction instead: per partition a page holding the tails and
// the new extent, and the head update (which then empties `tails`). An idempotent producer's
// sequence state rides in the same head write (producers.ts), so it costs nothing extra.
//
// A failed condition may mean our own write was applied and only its response lost (the
// store's client sent it again): every commit writes a random id into its extent, and the
// committer looks for it before it concludes it lost the race (landed()). A writer that did
// lose the race for next_offset learns the current head from the failed condition and
// retries (with jittered backoff after the first retry); its write-ahead object is still
// valid because the extent records the
// base offset written into the bytes (wb), which readers patch when it differs. Offsets are
// therefore contiguous — no holes, no duplicates — whatever crashes between steps: a crash
// before the head write leaves at most a page of extents that were already committed. A
// stale writer (one that read the head long ago) can write such a page after flush passed
// it; its extents lie below `flushed`, where readers never look (see model.ts).
import { ConditionFailedError, PreconditionFailedError, publicError, SamsaError, StorageError, ThrottledError, TransactionConflictError } from '../errors';
import { setBaseOffset } from '../records';
import type { Condition, ItemLife, MetaItem, MetaStore, MetaStoreTraits, ObjectStore, WriteOp } from '../storage/ports';
import { type Clock, systemClock } from '../util/clock';
import { type BackoffOptions, retryOnConflict } from '../util/retry';
import type { LogStartsSeen } from './log-starts';
import { ambiguous, commitItemLife, ItemLog } from './commit-items';
import { EXTENT_END, extentSk, headKey, partitionPk, walObject } from './keys';
import { commitPageToItem, deflateCommitData, extentsFromItem, HEAD_ATTR, headFieldFields, headFromItem, headUpdate, storedHeadField } from './items';
import { type Extent, type Head, liveTails } from './model';
import type { Notifier } from './notifier';
import { decideProducer, type ProducerBatch, type ProducerDecision } from './producers';
import { ProducerViews } from './producer-view';
import type { InlineCache } from './inline-cache';
import { deletedTopicError } from './tombstones';
import type { Topic } from './topics';

export interface CommitPart {
  topic: Topic;
  partition: number;
  /** Concatenated, validated batches. Their base offsets are rewritten by the commit. */
  payload: Uint8Array;
  /** Byte start of each batch in payload, and offsets each consumes (lastOffsetDelta + 1). */
  batchStarts: number[];
  batchCounts: number[];
  maxTs: number;
  /**
   * An idempotent producer's write: checked against, and recorded in, the partition head's
   * producer state by the same conditional head write (producers.ts). Such a part commits alone.
   * Items mode: decided against the committer's view of the state, recorded in its commit item
   * (producer-view.ts).
   */
  producer?: ProducerBatch;
}

export interface CommitResult {
  /** Base offset assigned to each batch of the part, in order. */
  batchBases: number[];
  /** One past the last offset written: the new high watermark this commit produced. */
  nextOffset: number;
  /** A producer's retry of a write the head remembers: its original offsets, nothing written. */
  duplicate?: boolean;
}

export interface CommitOptions {
  /** Payloads up to this size are stored inline (in the extent; no object write). */
  inlineMaxBytes: number;
  /**
   * Items mode: commit items up to this size as stored (the batch deflated when that pays, keys
   * and attribute names included) keep their batch inline, larger ones write it ahead; a number,
   * or the store's break-even for how long the topic's items live. Default: inlineMaxBytes.
   */
  itemInlineMaxBytes?: number | ((life: ItemLife) => number);
  /**
   * Commit a single partition with a conditional head write (and a commit page every few
   * commits) rather than a transaction. Right for DynamoDB, which bills transactional writes
   * double; SQLite commits a transaction as cheaply as one write.
   */
  headOnlyCommits?: boolean;
  /** Pauses between attempts that lost the race for a head (tests inject sleep and random). */
  backoff?: BackoffOptions;
  /** Told of every attempt that lost the race for a head (metrics). */
  onConflict?: () => void;
  /** Measures write-ahead objects' age (COMMIT_MAX_WAL_AGE_MS) on its monotonic time. */
  clock?: Clock;
  /** Where committed inline extents are filed for this process's flush (inline-cache.ts). */
  inlineCache?: InlineCache;
  /** Where the log starts of the heads this committer reads or writes are noted (log-starts.ts). */
  logStarts?: LogStartsSeen;
}

const MAX_ATTEMPTS = 50;
/**
 * Items mode: a batch larger than this many times the inline limit is written ahead without
 * being deflated to size it. JSON events deflate 1.8x (1 KiB), 3x (4 KiB), 4-5x (16-32 KiB),
 * so 4x keeps JSON up to the limit in reach; deflating costs 10-30 µs per KiB on the request path
 * (design note 0010, point 11), which a batch bound for S3 anyway should not pay.
 */
export const ITEM_DEFLATE_MAX_RATIO = 4;

/** Retriable storage failures of a commit's writes (outcome unknown) retried before giving up. */
const MAX_AMBIGUOUS_RETRIES = 3;
/**
 * The head stays within one of the store's write units while it collects tails; a little
 * under (this much), since item sizes are the store's published rules applied by hand.
 */
const HEAD_BUDGET_SLACK_BYTES = 24;
/** The head's size budget on a store (DynamoDB: 1000 of its 1 KB write unit). */
export const headBudgetBytes = (traits: MetaStoreTraits): number => traits.writeUnitBytes - HEAD_BUDGET_SLACK_BYTES;
const MAX_TAILS = 16;
/**
 * A write-ahead object older than this is written again before it is committed: the orphan
 * sweeper removes unreferenced objects only well after this age (see retention.ts), so a commit
 * that stalls (a frozen Lambda) can never reference a swept object.
 */
export const COMMIT_MAX_WAL_AGE_MS = 5 * 60 * 1000;

export const partitionKey = (topic: Topic, partition: number): string => `${topic.id}/${partition}`;

/**
 * A head as the committer knows it: with the stored item's size (what a head write is billed
 * for) less its tails, the part of that size its producer state takes, and that state.
 */
export type CommitHead = Head & { bytesWithoutTails: number; producerBytes: number };

/** A head as the committer knows it, its sizes measured by the store's rules. */
export function commitHeadFromItem(item: MetaItem | undefined, traits: MetaStoreTraits): CommitHead {
  const head = headFromItem(item);
  // Measured on the attributes as stored (absent ones cost nothing).
  return {
    ...head,
    bytesWithoutTails: item ? traits.sizeOf(item) - traits.sizeOf(storedHeadField(item, 'tails')) : 0,
    producerBytes: traits.sizeOf(storedHeadField(item, 'producers')),
  };
}

/** Size of a list of extents as the head's `tails` attribute (name included). */
const tailsSize = (extents: Array<Omit<Extent, 'sk'>>, traits: MetaStoreTraits): number => traits.sizeOf(headFieldFields('tails', extents.map((e) => ({ ...e, sk: 'head' }))));

type NewExtent = Omit<Extent, 'sk'>;

export class Committer {
  /** Last known head per partition: a guess that saves a read; a stale guess only costs a retry. */
  private heads = new Map<string, CommitHead>();
  private readonly clock: Clock;
  /** Items-mode partitions' log ends (commit-items.ts). */
  private readonly items: ItemLog;
  /** Items-mode partitions' producer state, as of the end of the log last seen (producer-view.ts). */
  private readonly views: ProducerViews;

  constructor(
    private readonly meta: MetaStore,
    private readonly objects: ObjectStore,
    private readonly notifier: Notifier,
    private readonly opts: CommitOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.items = new ItemLog(meta, this.clock, opts.logStarts);
    this.views = new ProducerViews(meta, this.items, this.clock, opts.logStarts);
  }

  async readHead(topic: Topic, partition: number): Promise<CommitHead> {
    const head = commitHeadFromItem(await this.meta.get(headKey(topic.id, partition)), this.meta.traits);
    this.cacheHead(topic, partition, head);
    return head;
  }

  /** A head as read or written just now: the guess for the next commit; its log start noted. */
  private cacheHead(topic: Topic, partition: number, head: CommitHead): void {
    this.heads.set(partitionKey(topic, partition), head);
    this.opts.logStarts?.saw(topic.id, partition, head.logStart);
  }

  private async knownHead(topic: Topic, partition: number): Promise<CommitHead> {
    return this.heads.get(partitionKey(topic, partition)) ?? this.readHead(topic, partition);
  }

  /** knownHead of every part; when all are known (every commit but a partition's first), without a promise each. */
  private knownHeads(parts: CommitPart[]): CommitHead[] | Promise<CommitHead[]> {
    const heads: CommitHead[] = [];
    for (const p of parts) {
      const h = this.heads.get(partitionKey(p.topic, p.partition));
      if (!h) return Promise.all(parts.map((q) => this.knownHead(q.topic, q.partition)));
      heads.push(h);
    }
    return heads;
  }

  /**
   * Commit every part atomically. Callers hold the partitions' locks, so in-process writers
   * never race each other; other processes are handled by the conditions, and a lost race is
   * retried (after a jittered pause from the second retry on) at the new end of the log.
   */
  async commit(parts: CommitPart[]): Promise<CommitResult[]> {
    // Plain loops on this path: it runs once per commit, most often for a single record
    // (issue 18 item 1).
    let items = false;
    for (const p of parts) {
      if (p.producer && parts.length > 1) throw new Error('an idempotent producer part commits alone');
      if (p.topic.commit === 'items') items = true;
    }
    // Items-mode partitions commit one by one, each with its own put (commit-items.ts): a
    // transaction over several would cost double on the only stores that use the mode.
    if (items) {
      if (parts.length > 1) return Promise.all(parts.map(async (p) => (await this.commit([p]))[0]!));
      return this.commitItem(parts[0]!);
    }
    const totals: number[] = [];
    // Every attempt of this commit writes its extents with these ids: a write that was applied
    // but reported failed (a lost response the SDK retried) is then recognisable as ours.
    const cids: number[] = [];
    for (const p of parts) {
      totals.push(recordsOf(p));
      cids.push(randomCid());
    }
    // Write-ahead objects: written once, valid for every retry.
    const wal: Array<WalRef | undefined> = [];
    for (const part of parts) {
      if (part.payload.length <= this.opts.inlineMaxBytes) {
        wal.push(undefined);
        continue;
      }
      wal.push(await this.writeAhead(part, (await this.knownHead(part.topic, part.partition)).nextOffset));
    }
    const ambiguity: Ambiguity = { left: MAX_AMBIGUOUS_RETRIES };
    return this.untilWon(() => this.attempt(parts, totals, cids, wal, ambiguity)).catch((err: unknown) => unsureIfThrottled(err, ambiguity));
  }

  /**
   * Attempts until one wins the race for the log's end: a lost race (another commit took it)
   * is retried with backoff, counted for metrics; too many is THROTTLING, retriable.
   */
  private untilWon<T>(attempt: () => Promise<T>): Promise<T> {
    return retryOnConflict(attempt, this.lost, this.retryOptions);
  }

  /** Whether an attempt lost the race for a head (counted for metrics). */
  private readonly lost = (err: unknown): boolean => {
    const conflict = err instanceof PartConflict || err instanceof TransactionConflictError;
    if (conflict) this.opts.onConflict?.();
    return conflict;
  };

  /** untilWon's retry policy: the same for every commit, built once. */
  private get retryOptions(): Parameters<typeof retryOnConflict>[2] {
    return (this.retryPolicy ??= {
      maxAttempts: MAX_ATTEMPTS,
      ...this.opts.backoff,
      exhausted: () => new SamsaError('THROTTLING', 'too much contention on the partition; retry the request', {}, true),
    });
  }

  private retryPolicy: Parameters<typeof retryOnConflict>[2] | undefined;

  /**
   * An items-mode commit (commit-items.ts): one put of its item at the end of the log, retried
   * at the new end when another commit took the key.
   */
  private async commitItem(part: CommitPart): Promise<CommitResult[]> {
    const { topic, partition } = part;
    const total = recordsOf(part);
    const cid = randomCid();
    // Where the batch goes is decided on the item as it would be stored (design note 0010,
    // point 11), by the first attempt, which knows the base its bytes carry. A batch too large
    // to fit even deflated ITEM_DEFLATE_MAX_RATIO-fold is written ahead without deflating it.
    const sized: ItemSizing = { limit: this.itemInlineLimit(topic) };
    const writeAheadNow = part.payload.length > sized.limit * ITEM_DEFLATE_MAX_RATIO;
    const wal: Array<WalRef | undefined> = [writeAheadNow ? await this.writeAhead(part, await this.items.end(topic, partition)) : undefined];
    const ambiguity: Ambiguity = { left: MAX_AMBIGUOUS_RETRIES };
    return this.untilWon(() => this.attemptItem(part, total, cid, wal, ambiguity, sized)).catch((err: unknown) => unsureIfThrottled(err, ambiguity));
  }

  /** Items mode: the largest commit item kept inline for a topic (CommitOptions.itemInlineMaxBytes), per retention. */
  private itemInlineLimit(topic: Topic): number {
    const retention = topic.config['retention.ms'];
    let limit = this.itemLimits.get(retention);
    if (limit === undefined) {
      const rule = this.opts.itemInlineMaxBytes ?? this.opts.inlineMaxBytes;
      limit = Math.min(typeof rule === 'number' ? rule : rule(commitItemLife(topic)), this.meta.limits.maxItemBytes);
      this.itemLimits.set(retention, limit);
    }
    return limit;
  }

  private readonly itemLimits = new Map<number, number>();

  /**
   * The inline item of `e` if it is within the limit as stored, else undefined. Deflated once
   * per base (the bytes carry it: only a lost race changes it), and the item is built from those
   * very bytes, so what decided the size is what is put.
   */
  private inlineItem(topic: Topic, partition: number, e: NewExtent, sized: ItemSizing): MetaItem | undefined {
    if (sized.deflated?.base !== e.base) sized.deflated = { base: e.base, z: deflateCommitData(e.data!) };
    const item = this.items.item(topic, partition, e, sized.deflated);
    return this.meta.traits.sizeOf(item) <= sized.limit ? item : undefined;
  }

  private async attemptItem(
    part: CommitPart,
    total: number,
    cid: number,
    wal: Array<WalRef | undefined>,
    ambiguity: Ambiguity,
    sized: ItemSizing,
  ): Promise<CommitResult[]> {
    const { topic, partition } = part;
    if (wal[0]) await this.refreshWal([part], wal);
    // An idempotent producer's commit: decided against this process's view of the producer
    // state (producer-view.ts), then the same single put at the view's end as a plain commit.
    const pb = part.producer;
    let decision: ProducerDecision | undefined;
    let base: number;
    if (pb) {
      const got = await this.views.get(topic, partition, pb.expirationMs);
      let view = got.view;
      try {
        decision = decideProducer(view.state, pb);
      } catch (refusal) {
        // A refusal is decided only on a view brought to the end of the log just now: the
        // producer may have written through another process since this one last looked.
        if (got.current) throw refusal;
        await this.views.catchUp(topic, partition, pb.expirationMs);
        ({ view } = await this.views.get(topic, partition, pb.expirationMs));
        decision = decideProducer(view.state, pb);
      }
      if (decision.kind === 'duplicate') return [{ ...resultAt(part, decision.base, total), duplicate: true }];
      // No state of the stream at this epoch: nothing in the log fences the epoch (producers.ts).
      if (decision.unfenced) await pb.confirmEpoch?.();
      base = view.end;
    } else {
      base = await this.items.end(topic, partition);
    }
    const w = wal[0];
    if (!w) patchBases(part, base);
    const producer = pb ? { producer: { stream: pb.stream, epoch: pb.epoch, firstSeq: pb.firstSeq, lastSeq: pb.lastSeq, now: pb.now } } : {};
    let extent: NewExtent = { ...newExtent(part, base, total, w, cid), ...producer };
    let item: MetaItem | undefined;
    if (!w) {
      item = this.inlineItem(topic, partition, extent, sized);
      if (!item) {
        // Over the limit as stored: the bytes (based at this base already) go to an object.
        wal[0] = await this.writeAhead(part, base);
        extent = { ...newExtent(part, base, total, wal[0], cid), ...producer };
      }
    }
    let outcome;
    try {
      outcome = await this.items.put(topic, partition, extent, cid, item);
    } catch (err) {
      // Outcome unknown: look at the key. Ours → done; another commit's → the end moved;
      // nothing → the same put again (same key, same id: a first write still in flight and
      // the retry cannot both land, and whichever does is found by its id).
      if (!ambiguous(err)) throw err;
      const last = ambiguity.left-- <= 0;
      const throttled = err instanceof ThrottledError;
      if (!throttled) ambiguity.unsure ??= err;
      if (last && !throttled) throw err;
      const found = await this.items.lookAt(topic, partition, base, cid);
      // Throttled to the end: the refused puts were not applied, and the key holds nothing of
      // ours, so nothing was written — a retriable 429, not a 5xx (design note 0010, 11) —
      // unless an earlier put of this commit timed out (unsureIfThrottled answers that).
      if (last && found?.kind !== 'ours') throw throttledCommit(topic, partition);
      if (!found && throttled && !wal[0]) {
        // DynamoDB throttled the inline put (the partition key's write capacity): the batch
        // goes to an object and the retry puts a one-unit item at the same key with the same
        // id. Whichever of the two lands is the commit (same base, same records, same id:
        // 0010's rule 3 holds for either content); the other's object is an orphan.
        wal[0] = await this.writeAhead(part, base);
      }
      outcome = found ?? { kind: 'taken' as const };
    }
    if (outcome.kind === 'taken') {
      // Another item holds the key: the view applies it and what follows before the next
      // attempt decides again (a racing instance may have committed this very batch).
      if (pb) await this.views.catchUp(topic, partition, pb.expirationMs);
      throw new PartConflict(0, undefined, false);
    }
    this.views.committed(topic, partition, extent, decision?.kind === 'new' ? decision.record(base) : undefined);
    this.fileInline([part], [extent]);
    const r = resultAt(part, base, total);
    this.notifier.notify(partitionKey(topic, partition), r.nextOffset);
    return [r];
  }

  /** Write-ahead objects about to outlive COMMIT_MAX_WAL_AGE_MS are written again (see there). */
  private async refreshWal(parts: CommitPart[], wal: Array<WalRef | undefined>): Promise<void> {
    for (const [i, w] of wal.entries()) {
      if (w && this.clock.monotonic() - w.at > COMMIT_MAX_WAL_AGE_MS) wal[i] = await this.writeAhead(parts[i]!, w.wb);
    }
  }

  /**
   * The part's payload, its batches based at `wb` (a guess at its offset: readers add the real
   * base − wb), written to a fresh write-ahead object; valid for every attempt of the commit.
   */
  private async writeAhead(part: CommitPart, wb: number): Promise<WalRef> {
    patchBases(part, wb);
    const key = walObject(part.topic.id, part.partition, crypto.randomUUID());
    await this.putWal(key, part.payload);
    return { key, wb, at: this.clock.monotonic() };
  }

  private async attempt(
    parts: CommitPart[],
    totals: number[],
    cids: number[],
    wal: Array<WalRef | undefined>,
    ambiguity: Ambiguity,
  ): Promise<CommitResult[]> {
    if (wal.some((w) => w !== undefined)) await this.refreshWal(parts, wal);
    // Known heads (every commit but a partition's first) without a turn of the event loop.
    const known = this.knownHeads(parts);
    const heads = Array.isArray(known) ? known : await known;
    // An idempotent part: new, a retry of a remembered write, or refused. Parts commit alone.
    let decision: ProducerDecision | undefined;
    const pb = parts[0]!.producer;
    if (pb) {
      try {
        decision = decideProducer(heads[0]!.producers, pb);
      } catch {
        // Our cached head may be stale (the producer wrote through another process since):
        // refuse only on the current head.
        heads[0] = await this.readHead(parts[0]!.topic, parts[0]!.partition);
        decision = decideProducer(heads[0].producers, pb);
      }
      if (decision.kind === 'duplicate') return [{ ...resultAt(parts[0]!, decision.base, totals[0]!), duplicate: true }];
      // No state of the stream at this epoch: nothing here fences the epoch (producers.ts).
      if (decision.unfenced) await pb.confirmEpoch?.();
    }
    const extents: NewExtent[] = [];
    for (let i = 0; i < parts.length; i++) {
      const base = heads[i]!.nextOffset;
      const w = wal[i];
      if (!w) patchBases(parts[i]!, base);
      extents.push(newExtent(parts[i]!, base, totals[i]!, w, cids[i]!));
    }
    const producers = decision?.kind === 'new' ? decision.record(extents[0]!.base) : undefined;
    const producerBytes = producers === undefined ? undefined : this.meta.traits.sizeOf(headFieldFields('producers', producers));
    const headOnly = this.opts.headOnlyCommits && parts.length === 1;
    /** The head as the head-only write left it (the store returns it). */
    let written: MetaItem | undefined;
    /** Each part's `recent` as the transaction wrote it. */
    let recents: number[][] | undefined;
    try {
      if (headOnly) {
        const part = parts[0]!;
        const n = extents[0]!;
        const next = nextTails(heads[0]!, n, this.meta.traits, producerBytes);
        if (next.page) {
          // A page that exists already holds these tails, or is a flush remainder covering
          // their unflushed part (see above): either way they are safe to drop from the head.
          await this.meta
            .write({ type: 'put', item: commitPageToItem(part.topic.id, part.partition, next.page), condition: { op: 'notExists' } })
            .catch((err: unknown) => {
              if (!(err instanceof ConditionFailedError)) throw err;
            });
        }
        written = await this.meta
          .write({
            type: 'update',
            key: headKey(part.topic.id, part.partition),
            ...headUpdate({ nextOffset: n.last + 1, tails: next.tails.map((e) => ({ ...e, sk: 'head' })), ...(producers !== undefined ? { producers } : {}) }),
            condition: expectNext(n.base),
          })
          .catch((err: unknown) => {
            throw err instanceof ConditionFailedError ? new PartConflict(0, err.item, true) : err;
          });
      } else {
        const ops: WriteOp[] = [];
        recents = [];
        for (let i = 0; i < parts.length; i++) {
          const part = parts[i]!;
          const head = heads[i]!;
          const recent = nextRecent(head, extents[i]!.base, cids[i]!);
          recents.push(recent);
          // The page's key (the new extent's last offset) is past every existing page.
          const tails = head.tails === undefined ? [extents[i]!] : [...liveTails(head), extents[i]!];
          ops.push({ type: 'put', item: commitPageToItem(part.topic.id, part.partition, tails), condition: { op: 'notExists' } });
          ops.push({
            type: 'update',
            key: headKey(part.topic.id, part.partition),
            ...headUpdate({
              nextOffset: extents[i]!.last + 1,
              recent,
              ...(i === 0 && producers !== undefined ? { producers } : {}),
              tails: undefined, // the page holds them now
            }),
            condition: expectNext(extents[i]!.base),
          });
        }
        try {
          await this.meta.transact(ops);
        } catch (err) {
          if (err instanceof ConditionFailedError) {
            // A failed head condition carries the current head; a taken page key (a stale
            // head, or our own transaction applied once already) does not.
            const onHead = err.index % 2 === 1;
            throw new PartConflict(Math.floor(err.index / 2), onHead ? err.item : undefined, onHead);
          }
          throw err;
        }
      }
    } catch (caught) {
      let err = caught;
      if (err instanceof StorageError && err.retriable && !(err instanceof TransactionConflictError)) {
        // A timeout, a dropped connection or a server fault: the write may or may not have
        // been applied (or may still be). Find out as after a failed condition; a write still
        // in flight can land only at the same base as our retry would, with the same id, so
        // either way one copy is committed.
        if (!(err instanceof ThrottledError)) ambiguity.unsure ??= err;
        if (ambiguity.left-- <= 0) throw err;
        err = new PartConflict(0, undefined, false);
      }
      if (err instanceof PartConflict) {
        const part = parts[err.index]!;
        const item = err.knownHead ? err.item : await this.meta.get(headKey(part.topic.id, part.partition));
        this.cacheHead(part.topic, part.partition, commitHeadFromItem(item, this.meta.traits));
        // A failed condition usually means someone else appended (retry at the new end); but
        // if our own write was applied and only its response lost (the store's client sent it
        // again, and the repeat failed its condition), the commit is done: one transaction or
        // one head write covers every part.
        if (await this.landed(part, extents[err.index]!, item, !headOnly)) {
          this.fileInline(parts, extents);
          return parts.map((p, i) => {
            if (i !== (err as PartConflict).index) this.heads.delete(partitionKey(p.topic, p.partition));
            const r = resultAt(p, extents[i]!.base, totals[i]!);
            this.notifier.notify(partitionKey(p.topic, p.partition), r.nextOffset);
            return r;
          });
        }
        if (headFromItem(item).deleted) {
          this.forget(part.topic);
          throw deletedTopicError(part.topic, part.partition);
        }
        throw err;
      }
      if (err instanceof TransactionConflictError) for (const p of parts) this.heads.delete(partitionKey(p.topic, p.partition));
      throw err;
    }
    this.fileInline(parts, extents);
    const results: CommitResult[] = [];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const r = resultAt(part, extents[i]!.base, totals[i]!);
      const key = partitionKey(part.topic, part.partition);
      // A head-only write returns the stored head: its size must stay current (lease and
      // retention fields grow it) so the next commit pages its tails out in time. After a
      // transaction the head has no tails, and `recent` is what it wrote (the head this
      // attempt started from is the one cached: the partition's lock keeps other commits of
      // this process out, and any other change is caught by the next write's condition).
      if (written) this.cacheHead(part.topic, part.partition, commitHeadFromItem(written, this.meta.traits));
      else {
        const { tails: _removed, ...rest } = heads[i]!;
        const known: CommitHead = { ...rest, exists: true, nextOffset: r.nextOffset, recent: recents![i]! };
        if (i === 0 && producers !== undefined) Object.assign(known, { producers, producerBytes });
        this.heads.set(key, known);
      }
      this.notifier.notify(key, r.nextOffset);
      results.push(r);
    }
    return results;
  }

  /** A commit landed: its inline extents' bytes, as stored, go to the flush's cache. */
  private fileInline(parts: CommitPart[], extents: NewExtent[]): void {
    const cache = this.opts.inlineCache;
    if (!cache) return;
    for (let i = 0; i < extents.length; i++) {
      const e = extents[i]!;
      if (e.kind === 'inline' && e.cid !== undefined) cache.put(partitionKey(parts[i]!.topic, parts[i]!.partition), e.base, e.cid, parts[i]!.payload);
    }
  }

  /**
   * Whether the extent `ext` we tried to commit is in the log, by its commit id: among the
   * head's tails, the commits a transaction records in the head (`recent`), or in the commit
   * page that covers its base. Throws (retriable, nothing acknowledged) when none of these
   * reaches back to its base any more — flush moved past it and deleted its page — so that
   * its outcome cannot be known.
   */
  private async landed(part: CommitPart, ext: NewExtent, item: MetaItem | undefined, viaTransaction: boolean): Promise<boolean> {
    const head = commitHeadFromItem(item, this.meta.traits);
    if (head.nextOffset <= ext.base) return false;
    const inTails = head.tails?.find((e) => e.base === ext.base);
    if (inTails) return inTails.cid === ext.cid;
    if (viaTransaction) {
      // Every transaction records its (base, id) in the head: if ours applied, it is there
      // unless RECENT_COMMITS later transactions pushed it out.
      const recent = recentCommits(head);
      for (let i = 0; i < recent.length; i += 2) if (recent[i] === ext.base) return recent[i + 1] === ext.cid;
      if (recent.length > 0 && recent[0]! <= ext.base) return false;
    }
    const page = await this.meta.query({ pk: partitionPk(part.topic.id, part.partition), gte: extentSk(ext.base), lt: EXTENT_END, limit: 1 });
    const found = page.items.flatMap(extentsFromItem).find((e) => e.base === ext.base);
    if (found) return found.cid === ext.cid;
    if (head.flushed > ext.base) {
      throw new SamsaError('REQUEST_TIMED_OUT', `the outcome of the commit to ${part.topic.name}/${part.partition} is unknown (its write may have been applied); retry the request`, {}, true);
    }
    return false;
  }

  /**
   * Create a write-ahead object under a fresh random key. A taken key can only be our own
   * write, applied once already (the store's client sent it again after a lost response).
   */
  private async putWal(key: string, payload: Uint8Array): Promise<void> {
    await this.objects.put(key, payload, { ifNoneMatch: true }).catch((err: unknown) => {
      if (!(err instanceof PreconditionFailedError)) throw err;
    });
  }

  /** Drop cached heads (after a topic is deleted, or when a test swaps stores). */
  forget(topic?: Topic): void {
    this.items.forget(topic);
    this.views.forget(topic);
    if (!topic) this.heads.clear();
    else for (const k of [...this.heads.keys()]) if (k.startsWith(`${topic.id}/`)) this.heads.delete(k);
  }
}

/** Transactions record their last few commits in the head as [base, id, base, id, ...]. */
const RECENT_COMMITS = 8;
const recentCommits = (head: CommitHead): number[] => head.recent ?? [];

/** The head's `recent` after a transaction commits (base, cid): the last RECENT_COMMITS, oldest dropped. */
function nextRecent(head: CommitHead, base: number, cid: number): number[] {
  const prev = recentCommits(head);
  const from = Math.max(0, prev.length - 2 * (RECENT_COMMITS - 1));
  const out: number[] = [];
  for (let i = from; i < prev.length; i++) out.push(prev[i]!);
  out.push(base, cid);
  return out;
}

/** Records a part carries (offsets it takes). */
function recordsOf(part: CommitPart): number {
  let n = 0;
  for (const c of part.batchCounts) n += c;
  return n;
}

/** The offsets of a part committed (or remembered) at `base`. */
function resultAt(part: CommitPart, base: number, total: number): CommitResult {
  const batchBases: number[] = [];
  let o = base;
  for (const c of part.batchCounts) {
    batchBases.push(o);
    o += c;
  }
  return { batchBases, nextOffset: base + total };
}

const cidPool = new Uint32Array(1024);
let cidPoolAt = cidPool.length;

/**
 * A random commit id: a safe integer in [2^52, 2^53) not ending in 0, so always 16 significant
 * digits — the same size in every head (the committer sizes heads to the byte).
 */
function randomCid(): number {
  // From a pool refilled 512 ids at a time: one getRandomValues call per commit was ~10 µs of a
  // single-record request's CPU (issue 18).
  if (cidPoolAt >= cidPool.length) {
    crypto.getRandomValues(cidPool);
    cidPoolAt = 0;
  }
  const hi = cidPool[cidPoolAt++]!;
  const lo = cidPool[cidPoolAt++]!;
  const cid = 2 ** 52 + (hi & 0xfffff) * 2 ** 32 + lo;
  return cid % 10 === 0 ? cid + 1 : cid;
}

/**
 * The head's tails after a head-only commit of `n`, and the tails that must first go to a page
 * (when keeping them would grow the head past one write unit): those flush has not passed.
 */
export function nextTails(
  head: CommitHead,
  n: Omit<Extent, 'sk'>,
  /** The store's sizes and write unit. */
  traits: MetaStoreTraits,
  /** Size of the producer state the write sets (default: it keeps the head's). */
  producerBytes = head.producerBytes,
): { page?: Array<Omit<Extent, 'sk'>>; tails: Array<Omit<Extent, 'sk'>> } {
  const live = liveTails(head);
  const tails = [...live, n];
  const headBytes = head.bytesWithoutTails - head.producerBytes + producerBytes + tailsSize(tails, traits);
  if (live.length > 0 && (headBytes > headBudgetBytes(traits) || tails.length > MAX_TAILS)) return { page: live, tails: [n] };
  return { tails };
}

/** A commit lost the race for a part's head (which `item` holds, when known). */
class PartConflict extends Error {
  constructor(
    readonly index: number,
    readonly item: MetaItem | undefined,
    /** `item` is the head as the failed condition saw it (absent: the head did not exist). */
    readonly knownHead: boolean,
  ) {
    super('partition head moved');
  }
}

/**
 * next_offset == base, where a head that was never written counts as 0 — and the head is not a
 * deleted incarnation's tombstone (tombstones.ts): a committer that still holds a deleted
 * topic fails here rather than acknowledging an unreadable write.
 */
function expectNext(base: number): Condition {
  const eq: Condition = { op: 'eq', attr: HEAD_ATTR.nextOffset, value: base };
  const at: Condition = base === 0 ? { op: 'or', conds: [NO_NEXT_OFFSET, eq] } : eq;
  return { op: 'and', conds: [NOT_DELETED, at] };
}

// expectNext's parts that are the same in every commit (stores only read conditions).
const NOT_DELETED: Condition = Object.freeze({ op: 'attrNotExists', attr: HEAD_ATTR.deleted });
const NO_NEXT_OFFSET: Condition = Object.freeze({ op: 'attrNotExists', attr: HEAD_ATTR.nextOffset });

/** Items mode: the inline limit of a commit, and its batch deflated for the base it was sized at. */
type ItemSizing = { limit: number; deflated?: { base: number; z: Uint8Array | undefined } };

/**
 * A commit's retries of writes whose outcome was unknown; `unsure`: the first such failure that
 * was not a throttle (a timeout, a dropped connection, a server fault), whose write may still
 * land — and be found by its id only by an attempt that is still running.
 */
type Ambiguity = { left: number; unsure?: unknown };

/**
 * A commit that gives up with a throttle (the store's, after the SDK's retries, or too much
 * contention) is answered 429, which promises that nothing was written (engine.ts
 * everyPartition). That holds only if no write of the commit had an unknown outcome: one that
 * timed out may land after the answer, so the commit answers that unknown outcome instead, a
 * retriable 5xx (design note 0010, point 11).
 */
function unsureIfThrottled(err: unknown, ambiguity: Ambiguity): never {
  if (ambiguity.unsure !== undefined && publicError(err)?.code === 'THROTTLING') throw ambiguity.unsure;
  throw err;
}

/** A commit the store kept throttling (and that wrote nothing): retriable. */
const throttledCommit = (topic: Topic, partition: number): SamsaError =>
  new SamsaError('THROTTLING', `the metadata store throttled the commit to ${topic.name}/${partition} (nothing was written); retry the request`, {}, true);

/** A commit's write-ahead object: its key, the base offset its bytes were written with, and when (monotonic). */
type WalRef = { key: string; wb: number; at: number };

/** The extent of `part` committed at `base`: its bytes inline, or the write-ahead object `w` holding them. */
function newExtent(part: CommitPart, base: number, total: number, w: { key: string; wb: number } | undefined, cid: number): NewExtent {
  const last = base + total - 1;
  const len = part.payload.length;
  // Two literals, not one with a spread: the key order (what extentFields writes) is the same.
  return w
    ? { base, last, kind: 'wal', obj: w.key, pos: 0, len, wb: w.wb, maxTs: part.maxTs, cid }
    : { base, last, kind: 'inline', data: part.payload, pos: 0, len, wb: base, maxTs: part.maxTs, cid };
}

function patchBases(part: CommitPart, base: number): void {
  let o = base;
  for (let i = 0; i < part.batchStarts.length; i++) {
    setBaseOffset(part.payload, part.batchStarts[i]!, o);
    o += part.batchCounts[i]!;
  }
}

