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
// Commits that span partitions or carry a producer-state update (and every commit on a store
// where transactions cost nothing extra, like SQLite) use one transaction instead: per
// partition a page holding the tails and the new extent, and the head update (which then
// empties `tails`), plus the extra ops.
//
// A writer that loses the race for next_offset learns the current head from the failed
// condition and retries; its write-ahead object is still valid because the extent records the
// base offset written into the bytes (wb), which readers patch when it differs. Offsets are
// therefore contiguous — no holes, no duplicates — whatever crashes between steps: a crash
// before the head write leaves at most a page of extents that were already committed. A
// stale writer (one that read the head long ago) can write such a page after flush passed
// it; its extents lie below `flushed`, where readers never look (see model.ts).
import { ConditionFailedError, SamsaError, TransactionConflictError } from '../errors';
import { setBaseOffset } from '../records';
import type { Condition, MetaItem, MetaStore, ObjectStore, WriteOp } from '../storage/ports';
import { headKey, walObject } from './keys';
import { itemSize, valueSize } from '../storage/counting';
import { commitPageToItem, type Extent, extentFields, type Head, headFromItem, liveTails, tailsSize } from './model';
import type { Notifier } from './notifier';
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
}

export interface CommitResult {
  /** Base offset assigned to each batch of the part, in order. */
  batchBases: number[];
  /** One past the last offset written: the new high watermark this commit produced. */
  nextOffset: number;
}

export interface CommitOptions {
  /** Payloads up to this size are stored inline (in the extent; no object write). */
  inlineMaxBytes: number;
  /**
   * Commit a single partition with a conditional head write (and a commit page every few
   * commits) rather than a transaction. Right for DynamoDB, which bills transactional writes
   * double; SQLite commits a transaction as cheaply as one write.
   */
  headOnlyCommits?: boolean;
}

const MAX_ATTEMPTS = 50;
/**
 * The head stays within one DynamoDB write unit (1 KB) while it collects tails; a little under,
 * since sizes here are DynamoDB's published rules applied by hand (lib/storage/counting.ts).
 */
export const HEAD_BUDGET_BYTES = 1000;
const MAX_TAILS = 16;
/**
 * A write-ahead object older than this is written again before it is committed: the orphan
 * sweeper removes unreferenced objects only well after this age (see retention.ts), so a commit
 * that stalls (a frozen Lambda) can never reference a swept object.
 */
export const COMMIT_MAX_WAL_AGE_MS = 5 * 60 * 1000;

export const partitionKey = (topic: Topic, partition: number): string => `${topic.id}/${partition}`;

/** A head as the committer knows it: with the stored item's size (what a head write is billed for) less its tails. */
export type CommitHead = Head & { bytesWithoutTails: number };

export function commitHeadFromItem(item: MetaItem | undefined): CommitHead {
  const tails = item?.['tails'];
  const tailBytes = tails === undefined ? 0 : 'tails'.length + valueSize(tails);
  return { ...headFromItem(item), bytesWithoutTails: item ? itemSize(item) - tailBytes : 0 };
}

export class Committer {
  /** Last known head per partition: a guess that saves a read; a stale guess only costs a retry. */
  private heads = new Map<string, CommitHead>();

  constructor(
    private readonly meta: MetaStore,
    private readonly objects: ObjectStore,
    private readonly notifier: Notifier,
    private readonly opts: CommitOptions,
  ) {}

  async readHead(topic: Topic, partition: number): Promise<CommitHead> {
    const head = commitHeadFromItem(await this.meta.get(headKey(topic.id, partition)));
    this.heads.set(partitionKey(topic, partition), head);
    return head;
  }

  private async knownHead(topic: Topic, partition: number): Promise<CommitHead> {
    return this.heads.get(partitionKey(topic, partition)) ?? this.readHead(topic, partition);
  }

  /**
   * Commit every part atomically, together with `extra` ops (e.g. a producer-state update;
   * given as a function of the parts' base offsets when the ops must record them).
   * Callers hold the partitions' locks, so in-process writers never race each other; other
   * processes are handled by the conditions. A failed condition on an `extra` op is rethrown
   * (with its index relative to `extra`) for the caller to re-validate.
   */
  async commit(parts: CommitPart[], extra: WriteOp[] | ((bases: number[]) => WriteOp[]) = []): Promise<CommitResult[]> {
    const totals = parts.map((p) => p.batchCounts.reduce((a, b) => a + b, 0));
    // Write-ahead objects: written once, valid for every retry.
    const wal: Array<{ key: string; wb: number; at: number } | undefined> = [];
    for (const part of parts) {
      if (part.payload.length <= this.opts.inlineMaxBytes) {
        wal.push(undefined);
        continue;
      }
      const guess = (await this.knownHead(part.topic, part.partition)).nextOffset;
      patchBases(part, guess);
      const key = walObject(part.topic.id, part.partition, crypto.randomUUID());
      await this.objects.put(key, part.payload, { ifNoneMatch: true });
      wal.push({ key, wb: guess, at: performance.now() });
    }

    for (let attempt = 1; ; attempt++) {
      for (const [i, w] of wal.entries()) {
        if (w && performance.now() - w.at > COMMIT_MAX_WAL_AGE_MS) {
          const part = parts[i]!;
          const key = walObject(part.topic.id, part.partition, crypto.randomUUID());
          patchBases(part, w.wb);
          await this.objects.put(key, part.payload, { ifNoneMatch: true });
          wal[i] = { key, wb: w.wb, at: performance.now() };
        }
      }
      const heads = await Promise.all(parts.map((p) => this.knownHead(p.topic, p.partition)));
      const extents = parts.map((part, i): Omit<Extent, 'sk'> => {
        const base = heads[i]!.nextOffset;
        const w = wal[i];
        if (!w) patchBases(part, base);
        return {
          base,
          last: base + totals[i]! - 1,
          kind: w ? 'wal' : 'inline',
          ...(w ? { obj: w.key } : { data: part.payload }),
          pos: 0,
          len: part.payload.length,
          wb: w ? w.wb : base,
          maxTs: part.maxTs,
        };
      });
      const headOnly = this.opts.headOnlyCommits && parts.length === 1 && typeof extra !== 'function' && extra.length === 0;
      /** The head as the head-only write left it (the store returns it). */
      let written: MetaItem | undefined;
      try {
        if (headOnly) {
          const part = parts[0]!;
          const n = extents[0]!;
          const next = nextTails(heads[0]!, n);
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
              set: { next_offset: n.last + 1, tails: next.tails.map(extentFields) },
              condition: expectNext(n.base),
            })
            .catch((err: unknown) => {
              throw err instanceof ConditionFailedError ? new PartConflict(0, err.item) : err;
            });
        } else {
          const ops: WriteOp[] = [];
          parts.forEach((part, i) => {
            // The page's key (the new extent's last offset) is past every existing page.
            ops.push({ type: 'put', item: commitPageToItem(part.topic.id, part.partition, [...liveTails(heads[i]!), extents[i]!]), condition: { op: 'notExists' } });
            ops.push({
              type: 'update',
              key: headKey(part.topic.id, part.partition),
              set: { next_offset: extents[i]!.last + 1 },
              remove: ['tails'],
              condition: expectNext(extents[i]!.base),
            });
          });
          const extraOps = typeof extra === 'function' ? extra(heads.map((h) => h.nextOffset)) : extra;
          try {
            await this.meta.transact([...ops, ...extraOps]);
          } catch (err) {
            if (err instanceof ConditionFailedError && err.index >= ops.length) {
              throw new ConditionFailedError(err.index - ops.length, err.item, err.message);
            }
            if (err instanceof ConditionFailedError) {
              // A failed head condition carries the current head; a taken page key (which only
              // a stale head can cause) does not.
              const onHead = err.index % 2 === 1;
              throw new PartConflict(Math.floor(err.index / 2), onHead ? err.item : undefined);
            }
            throw err;
          }
        }
      } catch (err) {
        if (err instanceof PartConflict) {
          // Someone else appended: learn the current head and try again at the new end of the log.
          const part = parts[err.index]!;
          if (err.item) this.heads.set(partitionKey(part.topic, part.partition), commitHeadFromItem(err.item));
          else await this.readHead(part.topic, part.partition);
          if (attempt < MAX_ATTEMPTS) continue;
          throw new SamsaError('THROTTLING', 'too much contention on the partition; retry the request', {}, true);
        }
        if (err instanceof TransactionConflictError && attempt < MAX_ATTEMPTS) {
          await sleep(Math.random() * Math.min(100, 2 ** attempt));
          for (const p of parts) this.heads.delete(partitionKey(p.topic, p.partition));
          continue;
        }
        throw err;
      }
      return parts.map((part, i) => {
        const base = heads[i]!.nextOffset;
        const nextOffset = base + totals[i]!;
        const key = partitionKey(part.topic, part.partition);
        // A head-only write returns the stored head: its size must stay current (lease and
        // retention fields grow it) so the next commit pages its tails out in time. After a
        // transaction the head has no tails.
        if (written) this.heads.set(key, commitHeadFromItem(written));
        else {
          const { tails: _removed, ...rest } = this.heads.get(key) ?? heads[i]!;
          this.heads.set(key, { ...rest, exists: true, nextOffset });
        }
        this.notifier.notify(key, nextOffset);
        const batchBases: number[] = [];
        let o = base;
        for (const c of part.batchCounts) {
          batchBases.push(o);
          o += c;
        }
        return { batchBases, nextOffset };
      });
    }
  }

  /** Drop cached heads (after a topic is deleted, or when a test swaps stores). */
  forget(topic?: Topic): void {
    if (!topic) this.heads.clear();
    else for (const k of [...this.heads.keys()]) if (k.startsWith(`${topic.id}/`)) this.heads.delete(k);
  }
}

/**
 * The head's tails after a head-only commit of `n`, and the tails that must first go to a page
 * (when keeping them would grow the head past one write unit): those flush has not passed.
 */
export function nextTails(head: CommitHead, n: Omit<Extent, 'sk'>): { page?: Array<Omit<Extent, 'sk'>>; tails: Array<Omit<Extent, 'sk'>> } {
  const live = liveTails(head);
  const tails = [...live, n];
  const headBytes = head.bytesWithoutTails + tailsSize(tails);
  if (live.length > 0 && (headBytes > HEAD_BUDGET_BYTES || tails.length > MAX_TAILS)) return { page: live, tails: [n] };
  return { tails };
}

/** A commit lost the race for a part's head (which `item` holds, when known). */
class PartConflict extends Error {
  constructor(
    readonly index: number,
    readonly item: MetaItem | undefined,
  ) {
    super('partition head moved');
  }
}

/** next_offset == base, where a head that was never written counts as 0. */
function expectNext(base: number): Condition {
  const eq: Condition = { op: 'eq', attr: 'next_offset', value: base };
  return base === 0 ? { op: 'or', conds: [{ op: 'attrNotExists', attr: 'next_offset' }, eq] } : eq;
}

function patchBases(part: CommitPart, base: number): void {
  let o = base;
  part.batchStarts.forEach((start, i) => {
    setBaseOffset(part.payload, start, o);
    o += part.batchCounts[i]!;
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
