// The commit protocol: how committed batches get their offsets, from any number of writers.
//
//   1. Payloads too large to keep inline are written first to a write-ahead object under a
//      fresh unique key (conditional create), so a crash leaves garbage, never a gap.
//   2. One metadata transaction per commit: the partition head's next_offset moves from the
//      expected value b to b + n (conditional on next_offset == b), and the extent item
//      x#b pointing at the bytes is created (conditional on absence). Several partitions
//      (and a producer-state update) can share the transaction.
//   3. Acknowledge only after the transaction.
//
// A writer that loses the race for next_offset learns the current head from the failed
// condition and retries; its write-ahead object is still valid because the extent records the
// base offset written into the bytes (wb), which readers patch when it differs. Offsets are
// therefore contiguous — no holes, no duplicates — whatever crashes between steps.
import { ConditionFailedError, SamsaError, TransactionConflictError } from '../errors';
import { setBaseOffset } from '../records';
import type { Condition, MetaStore, ObjectStore, WriteOp } from '../storage/ports';
import { headKey, walObject } from './keys';
import { extentToItem, type Head, headFromItem } from './model';
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
  /** Payloads up to this size are stored inside the extent item (no object write). */
  inlineMaxBytes: number;
}

const MAX_ATTEMPTS = 50;
/**
 * A write-ahead object older than this is written again before it is committed: the orphan
 * sweeper removes unreferenced objects only well after this age (see retention.ts), so a commit
 * that stalls (a frozen Lambda) can never reference a swept object.
 */
export const COMMIT_MAX_WAL_AGE_MS = 5 * 60 * 1000;

export const partitionKey = (topic: Topic, partition: number): string => `${topic.id}/${partition}`;

export class Committer {
  /** Last known head per partition: a guess that saves a read; a stale guess only costs a retry. */
  private heads = new Map<string, Head>();

  constructor(
    private readonly meta: MetaStore,
    private readonly objects: ObjectStore,
    private readonly notifier: Notifier,
    private readonly opts: CommitOptions,
  ) {}

  async readHead(topic: Topic, partition: number): Promise<Head> {
    const head = headFromItem(await this.meta.get(headKey(topic.id, partition)));
    this.heads.set(partitionKey(topic, partition), head);
    return head;
  }

  private async knownHead(topic: Topic, partition: number): Promise<Head> {
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
      const ops: WriteOp[] = [];
      parts.forEach((part, i) => {
        const base = heads[i]!.nextOffset;
        const w = wal[i];
        if (!w) patchBases(part, base);
        ops.push({
          type: 'update',
          key: headKey(part.topic.id, part.partition),
          set: { next_offset: base + totals[i]! },
          condition: expectNext(base),
        });
        ops.push({
          type: 'put',
          item: extentToItem(part.topic.id, part.partition, {
            base,
            last: base + totals[i]! - 1,
            kind: w ? 'wal' : 'inline',
            ...(w ? { obj: w.key } : { data: part.payload }),
            pos: 0,
            len: part.payload.length,
            wb: w ? w.wb : base,
            maxTs: part.maxTs,
          }),
          condition: { op: 'notExists' },
        });
      });
      try {
        const extraOps = typeof extra === 'function' ? extra(heads.map((h) => h.nextOffset)) : extra;
        await this.meta.transact([...ops, ...extraOps]);
      } catch (err) {
        if (err instanceof ConditionFailedError && err.index < ops.length) {
          // Someone else appended (or the extent key is taken, which only a stale head can
          // cause): learn the current head and try again at the new end of the log.
          const part = parts[Math.floor(err.index / 2)]!;
          if (err.index % 2 === 0 && err.item) {
            this.heads.set(partitionKey(part.topic, part.partition), headFromItem(err.item));
          } else {
            await this.readHead(part.topic, part.partition);
          }
          if (attempt < MAX_ATTEMPTS) continue;
          throw new SamsaError('THROTTLING', 'too much contention on the partition; retry the request', {}, true);
        }
        if (err instanceof ConditionFailedError) {
          throw new ConditionFailedError(err.index - ops.length, err.item, err.message);
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
        const prev = this.heads.get(key)!;
        this.heads.set(key, { ...prev, exists: true, nextOffset });
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
