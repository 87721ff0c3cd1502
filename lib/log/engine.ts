// The log engine: Samsa's Kafka semantics over the two storage ports. Everything above it
// (HTTP routes, Lambda handlers, jobs, consumer groups) calls this; everything below it is a
// port adapter. One engine per process; any number of processes may share the same stores.
import os from 'node:os';
import { publicError, SamsaError } from '../errors';
import { defaultPartition, type RecordInput } from '../records';
import type { ItemLife, MetaStore, ObjectStore } from '../storage/ports';
import { type Clock, systemClock } from '../util/clock';
import { Mutex } from '../util/mutex';
import type { Logger } from '../obs/logger';
import { LogStartsSeen } from './log-starts';
import { Committer, partitionKey } from './commit';
import { DEFAULT_CHUNK_BYTES, DEFAULT_FLUSH_OPTIONS, type FlushOptions, Flusher, type FlushStats } from './flush';
import type { FlushScheduler, FlushSchedulerFactory } from './flush-scheduler';
import { DEFAULT_LEASE_MS, deadOnThisHost, LeaseManager } from './lease';
import type { Head } from './model';
import { DEFAULT_INLINE_CACHE_BYTES, InlineCache } from './inline-cache';
import { commitItemKey } from './keys';
import { Notifier } from './notifier';
import { mergePrepared, type Prepared, prepareBinary, prepareRecords } from './prepare';
import { binaryStream, DEFAULT_PRODUCER_ID_EXPIRATION_MS, jsonStream, type ProducerBatch, ProducerRegistry } from './producers';
import { type FetchOptions, type FetchPlan, type FetchResult, LogReader } from './reader';
import { DEFAULT_RETENTION_OPTIONS, Retention, type RetentionOptions } from './retention';
import type { TopicConfig } from './topic-config';
import { type Topic, TopicRegistry } from './topics';

export interface EngineOptions {
  /** Commit payloads up to this size inline in the metadata store. */
  inlineMaxBytes: number;
  /**
   * Items-mode topics: commit items up to this size as stored (the batch deflated when that
   * pays, keys included) keep their batch inline; larger ones write it ahead. A number, or the
   * store's break-even for how long a topic's items live (MetaStoreTraits.itemInlineMaxBytes).
   * Default: inlineMaxBytes.
   */
  itemInlineMaxBytes?: number | ((life: ItemLife) => number);
  /** Single-partition commits as plain writes, not a transaction (see commit.ts). */
  headOnlyCommits?: boolean;
  /**
   * Topics created from now on commit in items mode: one write-once item per commit
   * (commit-items.ts). Topics created before keep the mode they were created with.
   */
  itemCommits?: boolean;
  /** Cap on one group commit's payload. */
  maxCommitBytes: number;
  /** In-process long polls also re-read the head (other processes' writes) after this long at first... */
  longPollRecheckMs: number;
  /** ...doubling after every quiet re-read up to this (default: longPollRecheckMs, no backoff). */
  longPollMaxRecheckMs?: number;
  /** Bound on the bytes of segment indexes the reader caches (default DEFAULT_INDEX_CACHE_BYTES). */
  indexCacheBytes?: number;
  /** Bound on the bytes of recent inline commits kept for this process's flush (default DEFAULT_INLINE_CACHE_BYTES, none with headOnlyCommits; 0: none). */
  inlineCacheBytes?: number;
  /**
   * When a partition this process committed to gets flushed outside the flush job
   * (lib/log/flush-scheduler.ts: in this process after a delay, or handed to a flush
   * function). Undefined: only when the flush job runs.
   */
  flushScheduler?: FlushSchedulerFactory;
  flush: FlushOptions;
  retention: RetentionOptions;
  /** Partition lease duration (flush and retention leadership). */
  leaseMs: number;
  /** All processes share this host (embedded): a dead owner's lease is taken at once. */
  singleHost?: boolean;
  /** A producer's state leaves a partition head after this long without a write to it (Kafka's producer.id.expiration.ms). */
  producerIdExpirationMs: number;
  /** Told of every append once committed: records and record-batch bytes (metrics). Not of a retry that wrote nothing. */
  onAppend?: (topic: string, records: number, bytes: number) => void;
  /** Told of every commit attempt that lost the race for a partition head, and of every retry (metrics). */
  onCommitConflict?: () => void;
  onCommitRetry?: () => void;
  /**
   * Told of every topic deletion once the topic is deleted, before DELETE answers: the Lambda
   * API hands the deletion to the retention function here, so the deleted incarnation's data
   * goes seconds later rather than at the next scheduled retention pass (the name is free at
   * once either way). A failure is logged, not thrown: the deletion happened, and the next pass
   * removes the data anyway.
   */
  onTopicDeleted?: (topic: Topic) => Promise<void>;
  /** Where the flush logs a composition it sets aside (design note 0011); default JSON lines on stdout. */
  log?: Logger;
  /** Told of every composition set aside after a failure no retry cures (metrics). */
  onCompositionFailure?: (topic: string) => void;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  inlineMaxBytes: 128 * 1024,
  maxCommitBytes: 16 * 1024 * 1024,
  longPollRecheckMs: 250,
  flush: DEFAULT_FLUSH_OPTIONS,
  retention: DEFAULT_RETENTION_OPTIONS,
  leaseMs: DEFAULT_LEASE_MS,
  producerIdExpirationMs: DEFAULT_PRODUCER_ID_EXPIRATION_MS,
};

export interface ProducerRef {
  id: number;
  epoch: number;
  sequence: number;
}

export interface ProduceRecord extends RecordInput {
  partition?: number;
}

export interface RecordOffset {
  partition: number;
  offset: number;
  timestamp: number;
}

export interface PartitionInfo {
  partition: number;
  log_start_offset: number;
  high_watermark: number;
  leader_epoch: number;
  /** With `stats`: segment objects holding records at or above the log start. */
  segments?: number;
  /** With `stats`: their bytes (records not yet flushed to a segment are not counted). */
  size_bytes?: number;
}

interface Pending {
  prep: Prepared;
  resolve: (bases: number[]) => void;
  reject: (err: unknown) => void;
}

/** Options of a binary produce (LogEngine.produceBatches). */
export interface ProduceBatchesOptions {
  /** The body is the caller's alone: the engine may keep the bytes without a copy. */
  owned?: boolean;
  /**
   * Called once the batches hold their place in the partition's commit order (or failed
   * before): a caller that must keep its writes in order (a Kafka connection's pipelined
   * requests) starts the next one then, without waiting for this commit.
   */
  queued?: () => void;
  /** Kafka's sequence rule for a producer the partition holds no state of (ProducerBatch.anySequenceWhenUnknown). */
  anySequenceWhenUnknown?: boolean;
}

export class LogEngine {
  readonly topics: TopicRegistry;
  readonly producers: ProducerRegistry;
  readonly reader: LogReader;
  readonly flusher: Flusher;
  /**
   * Compositions this engine's flushes and retention passes set aside so far (design note 0011,
   * "When a composition fails"): the flush function reports a pass's share as a metric.
   */
  compositionFailures = 0;
  readonly retention: Retention;
  readonly leases: LeaseManager;
  readonly notifier = new Notifier();
  readonly opts: EngineOptions;
  private readonly committer: Committer;
  /** Each partition's log start as this process last saw it: what Produce answers carry (Kafka's log_start_offset). */
  private readonly logStarts: LogStartsSeen;
  private readonly locks = new Map<string, Mutex>();
  private readonly queues = new Map<string, Pending[]>();
  private readonly draining = new Set<string>();
  private readonly flushScheduler: FlushScheduler | undefined;
  private readonly flushLocks = new Map<string, Mutex>();
  private stickyCursor = Math.floor(Math.random() * 1_000_000);
  /** Where the next flush pass starts (flushAll). */
  private flushCursor: { topic: string; partition: number } | undefined;
  private closed = false;

  constructor(
    readonly meta: MetaStore,
    readonly objects: ObjectStore,
    readonly clock: Clock = systemClock,
    opts: Partial<EngineOptions> = {},
  ) {
    this.opts = { ...DEFAULT_ENGINE_OPTIONS, ...opts };
    this.topics = new TopicRegistry(meta, clock);
    this.producers = new ProducerRegistry(meta, clock);
    this.logStarts = new LogStartsSeen(clock);
    this.reader = new LogReader(meta, objects, { logStarts: this.logStarts, ...(this.opts.indexCacheBytes !== undefined ? { indexCacheBytes: this.opts.indexCacheBytes } : {}) });
    // Where this process flushes what it commits (embedded): on DynamoDB inline commits are a
    // few KiB and usually flushed by another function, which the cache would not reach.
    const inlineCacheBytes = this.opts.inlineCacheBytes ?? (this.opts.headOnlyCommits ? 0 : DEFAULT_INLINE_CACHE_BYTES);
    const inlineCache = inlineCacheBytes > 0 ? new InlineCache(inlineCacheBytes) : undefined;
    // Where an append copies the whole object (S3), active segments are written in chunks
    // (design note 0011) unless the options say otherwise.
    const chunkBytes = this.opts.flush.chunkBytes ?? (objects.appendCopiesPrefix ? DEFAULT_CHUNK_BYTES : undefined);
    this.flusher = new Flusher(
      meta,
      objects,
      this.reader,
      clock,
      { ...this.opts.flush, ...(chunkBytes !== undefined ? { chunkBytes } : {}), ...(this.opts.headOnlyCommits ? {} : { transactDeletes: true }), producerIdExpirationMs: this.opts.producerIdExpirationMs },
      inlineCache,
      {
        ...(this.opts.log ? { log: this.opts.log } : {}),
        onCompositionFailure: (topic) => {
          this.compositionFailures++;
          this.opts.onCompositionFailure?.(topic);
        },
      },
    );
    this.leases = new LeaseManager(meta, clock, {
      durationMs: this.opts.leaseMs,
      owner: `${os.hostname()}/${process.pid}/${crypto.randomUUID().slice(0, 8)}`,
      ...(this.opts.singleHost ? { ownerIsDead: deadOnThisHost(os.hostname()) } : {}),
    });
    this.retention = new Retention(meta, objects, this.topics, clock, this.leases, this.opts.retention, async (topic, partition, lease, seg) => void (await this.flusher.composeOrSetAside(topic, partition, lease, seg)), this.logStarts);
    this.committer = new Committer(meta, objects, this.notifier, {
      inlineMaxBytes: Math.min(this.opts.inlineMaxBytes, meta.limits.maxItemBytes - 4096),
      itemInlineMaxBytes: this.opts.itemInlineMaxBytes ?? this.opts.inlineMaxBytes,
      headOnlyCommits: this.opts.headOnlyCommits ?? false,
      clock,
      logStarts: this.logStarts,
      ...(inlineCache ? { inlineCache } : {}),
      ...(this.opts.onCommitConflict ? { onConflict: this.opts.onCommitConflict } : {}),
      ...(this.opts.onCommitRetry ? { backoff: { onRetry: this.opts.onCommitRetry } } : {}),
    });
    this.flushScheduler = this.opts.flushScheduler?.((topic, partition) => this.flushPartition(topic, partition));
  }

  // --- topics -------------------------------------------------------------------------------

  createTopic(name: string, partitions: unknown, config?: Record<string, unknown>): Promise<Topic> {
    return this.topics.create(name, partitions, config, { itemCommits: this.opts.itemCommits ?? false });
  }

  /**
   * A topic's config and each partition's offsets; with `stats`, also the segment objects that
   * hold records at or above the log start and their bytes (one catalog query per partition,
   * so only on request: the console asks, clients don't).
   */
  async describeTopic(name: string, opts: { stats?: boolean } = {}): Promise<{ topic: Topic; partitions: PartitionInfo[] }> {
    const topic = await this.topics.get(name, { fresh: true });
    const heads = await Promise.all(Array.from({ length: topic.partitions }, (_, p) => this.head(topic, p)));
    const stats = opts.stats
      ? await Promise.all(
          heads.map(async (h, p) => {
            const live = (await this.reader.segments(topic, p)).filter((s) => s.last >= h.logStart);
            return { segments: live.length, size_bytes: live.reduce((a, s) => a + s.size, 0) };
          }),
        )
      : undefined;
    return {
      topic,
      partitions: heads.map((h, p) => ({
        partition: p,
        log_start_offset: h.logStart,
        high_watermark: h.nextOffset,
        leader_epoch: h.leaderEpoch,
        ...stats?.[p],
      })),
    };
  }

  /** Deletes the topic; with `topicId`, only that incarnation of it (TopicRegistry.markDeleted). */
  async deleteTopic(name: string, opts: { topicId?: string } = {}): Promise<void> {
    const topic = await this.topics.markDeleted(name, opts.topicId);
    this.committer.forget(topic);
    if (this.opts.onTopicDeleted) {
      await this.opts.onTopicDeleted(topic).catch((err: unknown) => console.warn(`[samsa] hand-off of the deletion of ${name} failed (the next retention pass removes its data):`, err));
    }
  }

  head(topic: Topic, partition: number): Promise<Head> {
    return this.reader.head(topic, partition);
  }

  /**
   * The reader's live head (a tombstone refuses); a refusal also drops the stale topic from the
   * cache, so the next lookup of the name reads it again. What a read resolved by name checks
   * before it answers from the incarnation (fetch, ListOffsets, the segments route).
   */
  liveHead(topic: Topic, partition: number): Promise<Head> {
    return this.forgettingDeleted(topic, () => this.reader.liveHead(topic, partition));
  }

  private async forgettingDeleted<T>(topic: Topic, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      if (err instanceof SamsaError && err.code === 'UNKNOWN_TOPIC_OR_PARTITION') this.topics.forgetDeleted(topic);
      throw err;
    }
  }

  // --- produce ------------------------------------------------------------------------------

  /**
   * Produce records (JSON route). Partition: explicit, else Kafka's murmur2 of the key, else
   * one sticky partition per request for null keys (KIP-480). Every partition's batches are
   * prepared before anything is committed, so a bad record stores nothing. With `producer` the
   * request first claims its sequence in the producer's registry item, then each partition's
   * batch commits with the producer state in that partition's head (producers.ts): a retry
   * answers with the original offsets and completes any partition a failed attempt left out.
   */
  async produce(topicName: string, records: ProduceRecord[], producer?: ProducerRef): Promise<RecordOffset[]> {
    if (records.length === 0) throw new SamsaError('INVALID_REQUEST', 'records must hold at least one record');
    const topic = await this.topics.get(topicName);
    let now = this.clock.now();
    let sticky = records.some((r) => r.partition === undefined && !r.key) ? this.stickyCursor++ % topic.partitions : undefined;
    let plan = this.planProduce(topic, records, now, sticky);

    // Returned, not awaited: this call's frame (and `records`) ends here. The keys and values
    // are in the prepared batches now and the answer needs only the timestamps, so the records
    // — a JSON request's 1,000 parsed strings — need not survive the commit, where every young
    // collection copied them (issue 18: scavenges were most of the GC time of keyed JSON).
    if (!producer) return this.produceUnsequenced(topic, plan, timestampsOf(records), now);

    // Validated and prepared before the sequence is claimed: a bad request uses no sequence.
    const { claim, retry } = await this.producers.claim(producer.id, producer.epoch, {
      sequence: producer.sequence,
      topicId: topic.id,
      records: records.length,
      now,
      ...(sticky !== undefined ? { sticky } : {}),
    });
    if (retry && (claim.now !== now || claim.sticky !== sticky)) {
      // A retry commits exactly the first attempt's batches: same time, same sticky partition.
      now = claim.now;
      sticky = claim.sticky;
      plan = this.planProduce(topic, records, now, sticky);
    }
    const bases = new Map<number, number>();
    await everyPartition(
      [...plan.prepared].map(async ([p, prep]) => {
        const count = prep.batchCounts.reduce((a, b) => a + b, 0);
        const seq = producer.sequence;
        const base = await this.commitIdempotent(topic, p, prep, { stream: jsonStream(producer.id), producerId: producer.id, epoch: producer.epoch, firstSeq: seq, lastSeq: seq, count, requestSequence: true });
        bases.set(p, base);
      }),
    );
    return offsetsFor(timestampsOf(records), plan.assignment, bases, now);
  }

  /** produce() without a producer: commit the prepared batches, answer each record's offset. */
  private async produceUnsequenced(topic: Topic, plan: { assignment: number[]; prepared: Map<number, Prepared> }, timestamps: Array<number | undefined>, now: number): Promise<RecordOffset[]> {
    const bases = new Map<number, number>();
    if (plan.prepared.size > 1 && !this.opts.headOnlyCommits) {
      // Where a transaction costs what one write does (SQLite), a request's partitions commit
      // together: one metadata transaction instead of one per partition (issue 18).
      for (const [p, base] of await this.commitTogether(topic, plan.prepared)) bases.set(p, base);
      return offsetsFor(timestamps, plan.assignment, bases, now);
    }
    await everyPartition(
      [...plan.prepared].map(async ([p, prep]) => {
        const batchBases = await this.enqueue(topic, p, prep);
        bases.set(p, batchBases[0]!);
      }),
    );
    return offsetsFor(timestamps, plan.assignment, bases, now);
  }

  /** Each record's partition, and each partition's prepared batches. Throws on any bad record. */
  private planProduce(topic: Topic, records: ProduceRecord[], now: number, sticky: number | undefined): { assignment: number[]; prepared: Map<number, Prepared> } {
    const byPartition = new Map<number, number[]>();
    const assignment = records.map((r, i) => {
      let p: number;
      if (r.partition !== undefined) {
        if (!Number.isInteger(r.partition) || r.partition < 0 || r.partition >= topic.partitions) {
          throw new SamsaError('UNKNOWN_TOPIC_OR_PARTITION', `record ${i}: topic "${topic.name}" has no partition ${r.partition} (it has ${topic.partitions})`, { topic: topic.name, partition: r.partition });
        }
        p = r.partition;
      } else if (r.key) {
        p = defaultPartition(r.key, topic.partitions);
      } else {
        p = sticky!;
      }
      let list = byPartition.get(p);
      if (!list) byPartition.set(p, (list = []));
      list.push(i);
      return p;
    });
    const prepared = new Map<number, Prepared>();
    for (const [p, idx] of byPartition) {
      prepared.set(p, prepareRecords(idx.map((i) => records[i]!), topic.config['max.message.bytes'], now, (j) => idx[j]!));
    }
    return { assignment, prepared };
  }

  /** Produce raw RecordBatch v2 bytes to one partition (binary route). */
  async produceBatches(topicName: string, partition: number, body: Uint8Array, opts: ProduceBatchesOptions = {}): Promise<{ partition: number; base_offset: number; last_offset: number }> {
    return (await this.appendBatches(topicName, partition, body, opts)).answer;
  }

  /**
   * produceBatches, and the partition's log start (Kafka's Produce answer carries it): the
   * highest this process has seen in a head it read or wrote — in head mode the commit's own —
   * with no read of its own. Items-mode commits do not read the head, so a value not confirmed
   * for LOG_START_REFRESH_MS is read again in the background (the head item alone), for the
   * next answers.
   */
  async produceBatchesWithLogStart(
    topicName: string,
    partition: number,
    body: Uint8Array,
    opts: ProduceBatchesOptions = {},
  ): Promise<{ partition: number; base_offset: number; last_offset: number; log_start_offset: number }> {
    const { topic, answer } = await this.appendBatches(topicName, partition, body, opts);
    if (this.logStarts.stale(topic.id, partition)) void this.reader.logStart(topic, partition).catch(() => undefined);
    // Noted by the commit (the head it read, wrote or learned its end from) or before it: -1,
    // Kafka's "unknown", only if the bound of partitions remembered dropped it meanwhile.
    return { ...answer, log_start_offset: this.logStarts.get(topic.id, partition) ?? -1 };
  }

  private async appendBatches(
    topicName: string,
    partition: number,
    body: Uint8Array,
    opts: ProduceBatchesOptions,
  ): Promise<{ topic: Topic; answer: { partition: number; base_offset: number; last_offset: number } }> {
    const topic = await this.topics.partition(topicName, partition);
    const prep = prepareBinary(body, topic.config['max.message.bytes'], opts.owned);
    const count = prep.records;
    let base: number;
    if (prep.producer) {
      const pf = prep.producer;
      // The registry item holds the current epoch: a bumped epoch fences the old one on every
      // partition, including those its producer state still shows at the old epoch — within
      // the registry's epoch cache window when bumped through another instance (producers.ts).
      const read = await this.producers.checkCurrentEpoch(pf.producerId, pf.producerEpoch);
      // The check above read the registry itself (no cached epoch): that is as fresh as a
      // confirmation would be. Else at most one fresh read, however many attempts decide it.
      let confirmed: Promise<unknown> | undefined = read ? Promise.resolve() : undefined;
      // The partition lock is taken (in call order) before commitIdempotent's first await.
      const committed = this.commitIdempotent(topic, partition, prep, {
        stream: binaryStream(pf.producerId),
        producerId: pf.producerId,
        epoch: pf.producerEpoch,
        firstSeq: pf.firstSequence,
        lastSeq: pf.lastSequence,
        count,
        requestSequence: false,
        ...(opts.anySequenceWhenUnknown ? { anySequenceWhenUnknown: true } : {}),
        confirmEpoch: async () => void (await (confirmed ??= this.producers.checkCurrentEpoch(pf.producerId, pf.producerEpoch, { fresh: true }))),
      });
      opts.queued?.();
      base = await committed;
    } else {
      const committed = this.enqueue(topic, partition, prep);
      opts.queued?.();
      base = (await committed)[0]!;
    }
    return { topic, answer: { partition, base_offset: base, last_offset: base + count - 1 } };
  }

  /** Group commit: requests for one partition arriving while a commit runs share the next one. */
  private enqueue(topic: Topic, partition: number, prep: Prepared): Promise<number[]> {
    const key = partitionKey(topic, partition);
    return new Promise<number[]>((resolve, reject) => {
      let q = this.queues.get(key);
      if (!q) this.queues.set(key, (q = []));
      q.push({ prep, resolve, reject });
      if (!this.draining.has(key)) {
        // Start the commit once the event loop has taken in every request that arrived with
        // this one: SQLite commits synchronously, so a drain begun at once would commit each
        // concurrent request alone (issue 18: 8 clients, one partition, ~1k records/s).
        this.draining.add(key);
        setImmediate(() => void this.drain(topic, partition, key));
      }
    });
  }

  private async drain(topic: Topic, partition: number, key: string): Promise<void> {
    this.draining.add(key);
    try {
      for (;;) {
        const q = this.queues.get(key);
        if (!q || q.length === 0) break;
        const group: Pending[] = [];
        let bytes = 0;
        while (q.length > 0 && (group.length === 0 || bytes + q[0]!.prep.payload.length <= this.opts.maxCommitBytes)) {
          const next = q.shift()!;
          bytes += next.prep.payload.length;
          group.push(next);
        }
        // A request alone (the common case at low rates) is its own group: nothing to merge or split.
        const merged = group.length === 1 ? group[0]!.prep : mergePrepared(group.map((g) => g.prep));
        try {
          const result = (
            await this.lock(key).run(() =>
              this.commitLive([{ topic, partition, payload: merged.payload, batchStarts: merged.batchStarts, batchCounts: merged.batchCounts, maxTs: merged.maxTs }]),
            )
          )[0];
          if (group.length === 1) group[0]!.resolve(result!.batchBases);
          else {
            let i = 0;
            for (const g of group) {
              g.resolve(result!.batchBases.slice(i, i + g.prep.batchCounts.length));
              i += g.prep.batchCounts.length;
            }
          }
          this.opts.onAppend?.(topic.name, merged.records, merged.payload.length);
          this.flushScheduler?.committed(topic, partition, merged.payload.length);
        } catch (err) {
          for (const g of group) g.reject(err);
        }
      }
    } finally {
      this.draining.delete(key);
      if (this.queues.get(key)?.length === 0) this.queues.delete(key);
    }
  }

  /**
   * Commit several partitions' batches in as few transactions as the store allows (two
   * operations per partition: its page and its head), each under all its partitions' locks,
   * taken in partition order so that two such commits never wait on each other. Each
   * partition's offsets stay contiguous (its lock, as in drain); the request is atomic per
   * transaction, which is more than the API promises (atomic per partition).
   */
  private async commitTogether(topic: Topic, prepared: Map<number, Prepared>): Promise<Map<number, number>> {
    const parts = [...prepared].sort((a, b) => a[0] - b[0]);
    const perTx = Math.max(1, Math.floor(this.meta.limits.maxTransactItems / 2));
    const bases = new Map<number, number>();
    const chunks: Array<Array<[number, Prepared]>> = [];
    for (let i = 0; i < parts.length; i += perTx) chunks.push(parts.slice(i, i + perTx));
    await Promise.all(
      chunks.map(async (chunk) => {
        const commit = () =>
          this.commitLive(chunk.map(([partition, prep]) => ({ topic, partition, payload: prep.payload, batchStarts: prep.batchStarts, batchCounts: prep.batchCounts, maxTs: prep.maxTs })));
        const locked = chunk.reduceRight<() => Promise<Awaited<ReturnType<typeof commit>>>>((inner, [p]) => () => this.lock(partitionKey(topic, p)).run(inner), commit);
        const results = await locked();
        chunk.forEach(([p, prep], i) => {
          bases.set(p, results[i]!.batchBases[0]!);
          this.opts.onAppend?.(topic.name, prep.batchCounts.reduce((a, b) => a + b, 0), prep.payload.length);
          this.flushScheduler?.committed(topic, p, prep.payload.length);
        });
      }),
    );
    return bases;
  }

  /**
   * The committer's commit of one topic's parts; a refusal because the incarnation was deleted
   * (its heads tombstoned) drops the stale topic from the cache, as reads do (forgettingDeleted),
   * so the retry the refusal asks for resolves the name again and reaches the topic now under it.
   */
  private commitLive(parts: Parameters<Committer['commit']>[0]): ReturnType<Committer['commit']> {
    return this.forgettingDeleted(parts[0]!.topic, () => this.committer.commit(parts));
  }

  private lock(key: string): Mutex {
    let m = this.locks.get(key);
    if (!m) this.locks.set(key, (m = new Mutex()));
    return m;
  }

  /**
   * Idempotent commit of one partition's batches: under the partition's lock, one commit whose
   * head write checks and records the producer's sequence (commit.ts, producers.ts). Returns
   * the base offset — the original one when the head remembers the write (a retry).
   */
  private async commitIdempotent(topic: Topic, partition: number, prep: Prepared, batch: Omit<ProducerBatch, 'now' | 'expirationMs'>): Promise<number> {
    const [result] = await this.lock(partitionKey(topic, partition)).run(() =>
      this.commitLive([
        {
          topic,
          partition,
          payload: prep.payload,
          batchStarts: prep.batchStarts,
          batchCounts: prep.batchCounts,
          maxTs: prep.maxTs,
          producer: { ...batch, now: this.clock.now(), expirationMs: this.opts.producerIdExpirationMs },
        },
      ]),
    );
    if (!result!.duplicate) {
      this.opts.onAppend?.(topic.name, prep.batchCounts.reduce((a, b) => a + b, 0), prep.payload.length);
      this.flushScheduler?.committed(topic, partition, prep.payload.length);
    }
    return result!.batchBases[0]!;
  }

  // --- fetch --------------------------------------------------------------------------------

  /** Kafka Fetch: the read path is the reader's (LogReader.fetch); the engine adds the long poll. */
  async fetch(topicName: string, partition: number, opts: FetchOptions = {}): Promise<FetchResult> {
    const topic = opts.topic ?? (await this.topics.partition(topicName, partition));
    return this.forgettingDeleted(topic, () => this.reader.fetch(topic, partition, opts, (head) => this.waitForData(topic, partition, head, opts.waitMs!, opts.signal)));
  }

  /**
   * A binary fetch planned for streaming (LogReader.planFetch: the headers now, the bytes
   * through `reader.streamPlan`), with the same long poll as `fetch`.
   */
  async planFetch(topicName: string, partition: number, opts: FetchOptions & { limitBytes?: number } = {}): Promise<FetchPlan> {
    const topic = opts.topic ?? (await this.topics.partition(topicName, partition));
    return this.forgettingDeleted(topic, () => this.reader.planFetch(topic, partition, opts, (head) => this.waitForData(topic, partition, head, opts.waitMs!, opts.signal)));
  }

  /**
   * Waits for the head to move past `head`. A commit in this process wakes the waiter at once
   * (Notifier); other processes' commits are only seen by re-reading the head, on a backoff
   * schedule — longPollRecheckMs, doubling up to longPollMaxRecheckMs — so an idle long poll
   * costs a few metadata reads per wait, not one every longPollRecheckMs.
   */
  private async waitForData(topic: Topic, partition: number, head: Head, waitMs: number, signal?: AbortSignal): Promise<Head> {
    const deadline = Date.now() + Math.min(waitMs, 60_000);
    const key = partitionKey(topic, partition);
    let current = head;
    let interval = this.opts.longPollRecheckMs;
    const maxInterval = Math.max(interval, this.opts.longPollMaxRecheckMs ?? interval);
    while (!this.closed && !signal?.aborted) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const woken = await this.notifier.wait(key, current.nextOffset, Math.min(remaining, interval), signal);
      // A client that went away is waiting for nothing: skip the read.
      if (woken === undefined && signal?.aborted) break;
      // Items mode: the log grows only by an item at its end (a deletion's fence too), so
      // while none is there the head need not be read again — one get instead of the head
      // and a query (commit-items.ts).
      if (woken === undefined && topic.commit === 'items' && !(await this.meta.get(commitItemKey(topic.id, partition, current.nextOffset)))) {
        interval = Math.min(interval * 2, maxInterval);
        continue;
      }
      current = await this.liveHead(topic, partition);
      if (current.nextOffset > head.nextOffset) break;
      interval = Math.min(interval * 2, maxInterval);
    }
    return current;
  }

  /** Kafka ListOffsets: earliest, latest, or the first offset with timestamp ≥ ms. */
  async listOffsets(topicName: string, partition: number, spec: 'earliest' | 'latest' | number): Promise<{ offset: number; timestamp: number | null }> {
    const topic = await this.topics.partition(topicName, partition);
    const head = await this.liveHead(topic, partition);
    if (spec === 'earliest') return { offset: head.logStart, timestamp: null };
    if (spec === 'latest') return { offset: head.nextOffset, timestamp: null };
    const found = await this.reader.offsetForTimestamp(topic, partition, spec, head);
    return found ?? { offset: head.nextOffset, timestamp: null };
  }

  // --- flush --------------------------------------------------------------------------------

  /**
   * Flush one partition as its leader; serialised per partition within this process. A
   * partition whose lease another live process holds is left to it (`skipped`).
   *
   * With `deadline` (a `clock.monotonic()` time; see FlushDeadline), no step starts at or after
   * it. Stopped by it with a backlog left (`complete: false`), the flush hands the partition's
   * lease back, so that whoever flushes next — another invocation, the next pass — takes it at
   * once instead of waiting for it to expire.
   */
  flushPartition(topic: Topic, partition: number, opts: FlushDeadline = {}): Promise<FlushStats & { skipped: boolean; complete: boolean }> {
    const key = partitionKey(topic, partition);
    let m = this.flushLocks.get(key);
    if (!m) this.flushLocks.set(key, (m = new Mutex()));
    return m.run(async () => {
      // Nothing to flush: do not even take the lease (keeps idle partitions free of writes).
      const head = await this.head(topic, partition);
      if (head.deleted || Math.max(head.flushed, head.logStart) >= head.nextOffset) return { bytes: 0, batches: 0, steps: 0, skipped: false, complete: true };
      if (opts.deadline !== undefined && this.clock.monotonic() >= opts.deadline) return { bytes: 0, batches: 0, steps: 0, skipped: false, complete: false };
      const lease = await this.leases.acquire(topic, partition);
      if (!('epoch' in lease)) return { bytes: 0, batches: 0, steps: 0, skipped: true, complete: true };
      // Up to what is committed now: later commits are the next flush's (Flusher.flushPartition).
      const stats = await this.flusher.flushPartition(topic, partition, this.leases.guard(topic, partition, lease.epoch), {
        upTo: head.nextOffset,
        ...(opts.deadline !== undefined ? { deadline: opts.deadline } : {}),
      });
      // Stopped between steps: nothing of ours is in flight, and a retention pass of this
      // process that shares the lease only loses it (its writes are fenced; it retries).
      if (!stats.complete) await this.leases.release(topic, partition);
      return { ...stats, skipped: false };
    });
  }

  /**
   * One flush pass over every partition of every topic (the flush job). With `deadline`, it
   * starts no step at or after it and reports `complete: false` with the partitions it did not
   * finish (`partitionsLeft`).
   *
   * Fairness: a pass starts where the last pass of this engine stopped — after the partition it
   * was cut short in, so that one big backlog cannot hold every pass — and goes round once,
   * wrapping past the end of the topic list. A cut-short pass therefore hands on to the next,
   * and every partition is reached within as many cut-short passes as there are partitions.
   * The cursor lives in memory (a warm Lambda instance keeps it between scheduled passes); a
   * new engine starts at a random partition, so neither cold instances nor several passes
   * running at once all begin at the same place.
   */
  async flushAll(opts: FlushDeadline = {}): Promise<FlushStats & { partitions: number; skipped: number; failedPartitions: number; complete: boolean; partitionsLeft: number }> {
    const total = { bytes: 0, batches: 0, steps: 0, partitions: 0, skipped: 0, failedPartitions: 0, complete: true, partitionsLeft: 0 };
    const topics = await this.topics.list();
    if (topics.length === 0) return total;
    const cursor = (this.flushCursor ??= randomFlushStart(topics));
    // The first topic at or after the cursor's name (the cursor's own may have been deleted).
    let first = topics.findIndex((t) => t.name >= cursor.topic);
    if (first < 0) first = 0;
    const from = topics[first]!.name === cursor.topic ? Math.min(cursor.partition, topics[first]!.partitions) : 0;
    // Round: the rest of the first topic, every other topic in order, then the first topic's
    // partitions before the cursor.
    const order: Array<[Topic, number, number]> = [[topics[first]!, from, topics[first]!.partitions]];
    for (let i = 1; i < topics.length; i++) {
      const t = topics[(first + i) % topics.length]!;
      order.push([t, 0, t.partitions]);
    }
    if (from > 0) order.push([topics[first]!, 0, from]);
    let stopped: { topic: string; partition: number } | undefined;
    for (const [topic, lo, hi] of order) {
      for (let p = lo; p < hi; p++) {
        if (stopped) {
          total.partitionsLeft++;
          continue;
        }
        if (opts.deadline !== undefined && this.clock.monotonic() >= opts.deadline) {
          // Past the deadline between partitions: the next pass starts with this one.
          stopped = { topic: topic.name, partition: p };
          total.partitionsLeft++;
          continue;
        }
        let s: Awaited<ReturnType<LogEngine['flushPartition']>>;
        try {
          s = await this.flushPartition(topic, p, opts);
        } catch (err) {
          // One partition's failure (a refused write, a lease lost mid-step, a bad extent) is
          // logged and retried next pass, as retention does: it must not keep the partitions
          // after it from being flushed. Every step is repeatable, so nothing is half done.
          total.failedPartitions++;
          console.error(`[samsa] flush of ${topic.name}/${p} failed:`, err);
          continue;
        }
        if (s.skipped) total.skipped++;
        if (s.steps > 0) total.partitions++;
        total.bytes += s.bytes;
        total.batches += s.batches;
        total.steps += s.steps;
        if (!s.complete) {
          // Cut short inside this partition: the next pass starts after it (and comes back
          // to it at the end of its round).
          stopped = { topic: topic.name, partition: p + 1 };
          total.partitionsLeft++;
        }
      }
    }
    if (stopped) {
      this.flushCursor = stopped;
      total.complete = false;
    }
    return total;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.flushScheduler?.close();
    this.notifier.wakeAll();
    // Let in-flight commits and flushes finish: they are already durable or harmless to stop.
    // A group commit waits one turn of the event loop before it takes its lock (enqueue).
    await new Promise((r) => setImmediate(r));
    await Promise.all([...this.locks.values(), ...this.flushLocks.values()].map((m) => m.run(async () => {})));
    // Hand leases back so another process need not wait for them to expire.
    await this.leases.releaseAll();
  }
}

export type { FetchOptions, FetchResult, Topic, TopicConfig };

/** A time limit for flush work. */
export interface FlushDeadline {
  /**
   * `clock.monotonic()` time (the engine's clock) at or after which no flush step starts. Pick
   * it early enough for a step started just before it to finish within the time there is.
   */
  deadline?: number;
}

/** A random partition of all the topics': where a new engine's first flush pass starts. */
function randomFlushStart(topics: Topic[]): { topic: string; partition: number } {
  let i = Math.floor(Math.random() * topics.reduce((a, t) => a + t.partitions, 0));
  for (const t of topics) {
    if (i < t.partitions) return { topic: t.name, partition: i };
    i -= t.partitions;
  }
  return { topic: topics[0]!.name, partition: 0 };
}

/** Offsets in request order: each partition's records got consecutive offsets from its base. */
function offsetsFor(timestamps: Array<number | undefined>, assignment: number[], bases: Map<number, number>, now: number): RecordOffset[] {
  const next = new Map(bases);
  return timestamps.map((t, i) => {
    const p = assignment[i]!;
    const offset = next.get(p)!;
    next.set(p, offset + 1);
    return { partition: p, offset, timestamp: t ?? now };
  });
}

/**
 * A request's partitions, committed each on its own where each commit is its own conditional
 * write (DynamoDB; any idempotent request). Waits for all of them, so the answer never goes out
 * while a commit is still in flight. A 4xx promises that nothing was written, so a refusal is
 * passed on only when every partition was refused: when some partition committed (or failed in
 * a way that may have written it) and another was refused — its topic deleted under the request,
 * a fenced epoch — the request was partly written, and the answer says so with a retriable 5xx.
 * (The AWS history run found a 404 "nothing was written" for a request whose other partition
 * had committed before the deletion, and whose records a poll had read.)
 */
async function everyPartition(commits: Array<Promise<void>>): Promise<void> {
  const settled = await Promise.allSettled(commits);
  const refused = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (refused.length === 0) return;
  // A refusal is what a caller is told as a 4xx (publicError): a SamsaError, or a store that
  // kept throttling (429), whose refused write was not applied. Answered as is, a throttle of
  // one partition's write would promise "nothing was written" for a request whose other
  // partitions committed, and a client retrying the 429 would write those twice.
  const definite = (e: unknown): SamsaError | undefined => {
    const known = publicError(e);
    return known && known.status < 500 ? known : undefined;
  };
  const unsure = refused.find((e) => !definite(e));
  if (unsure !== undefined) throw unsure;
  if (refused.length === settled.length) throw refused[0];
  const first = definite(refused[0])!;
  throw new SamsaError(
    'UNKNOWN_SERVER_ERROR',
    `the request was partly written: ${settled.length - refused.length} of its ${settled.length} partitions committed, then ${first.message}`,
    { ...first.details, partially_written: true, cause_code: first.code },
    true,
  );
}

const timestampsOf = (records: ProduceRecord[]): Array<number | undefined> => records.map((r) => r.timestamp);

