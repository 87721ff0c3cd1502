// Producer: per-partition accumulators that batch by lingerMs/batchSize, one RecordBatch v2 per
// request (POST /v1/topics/{t}/partitions/{p}/records), compressed by the shared codec, and
// idempotent by default — the batch header carries the producer id/epoch and a per-partition
// base sequence, so a retry of an acknowledged-but-unanswered batch is deduplicated by the
// server (KIP-98). One request in flight per partition keeps sequences in order. A batch the
// server refuses over its producer state (nothing written: a re-created topic's partitions know
// no producer) goes again once under a bumped epoch; one with an unknown outcome never does
// (design note 0003). Partitions are chosen exactly as the server and the Java client choose
// them (murmur2 on the key bytes).
import { codecsReady, Compression, defaultPartition, encodeRecordBatch, type RecordInput } from '../records';
import { SamsaClientError } from './errors';
import { type HttpClient, RECORD_BATCH_TYPE, seg } from './http';
import { type Message, toBytes } from './messages';
import type { RetryOptions } from './retry';

export type CompressionName = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

export interface ProducerConfig {
  /** How long a partition's batch waits for more records before it is sent (default 5 ms). */
  lingerMs?: number;
  /**
   * Send a partition's batch once its records reach about this many bytes (default 1 MiB, the
   * topic default `max.message.bytes` less the batch header).
   */
  batchSize?: number;
  /**
   * The most bytes of batches one request carries (default 4 MiB; Kafka's max.request.size).
   * While a partition's request is in flight its records queue up; the next request takes up
   * to this many bytes of them as consecutive batches of at most batchSize. On AWS each request
   * is a write-ahead PUT and a Lambda invocation, so fuller requests cost less per GiB.
   */
  maxRequestSize?: number;
  /** Default codec for every send (default none). */
  compression?: Compression | CompressionName;
  /**
   * Producer id + sequences so retries never duplicate (default true). A batch refused over its
   * producer state (after a topic re-creation, say) is sent again once under a new epoch.
   */
  idempotent?: boolean;
  /** Overrides the client's retry options for produce requests. */
  retry?: RetryOptions;
  /** Re-read a topic's partition count after this long (default 5 minutes). */
  metadataMaxAge?: number;
}

export interface ProducerRecord {
  topic: string;
  messages: Message[];
  /** Codec for this send's records (batches are per partition: the first send's codec wins for a mixed batch). */
  compression?: Compression | CompressionName;
}

/** One per message, in the order given. */
export interface RecordMetadata {
  topic: string;
  partition: number;
  offset: number;
}

interface Pending {
  record: RecordInput;
  size: number;
  compression: Compression;
  resolve: (m: RecordMetadata) => void;
  reject: (e: unknown) => void;
}

interface Accumulator {
  topic: string;
  partition: number;
  queue: Pending[];
  bytes: number;
  timer: NodeJS.Timeout | undefined;
  inflight: Promise<void> | undefined;
  /** Next base sequence, valid for `producerId` at `epoch`. */
  seq: number;
  producerId: number;
  epoch: number;
}

interface Identity {
  id: number;
  epoch: number;
}

const CODECS: Record<CompressionName, Compression> = { none: Compression.None, gzip: Compression.Gzip, snappy: Compression.Snappy, lz4: Compression.Lz4, zstd: Compression.Zstd };
export function compressionOf(c: Compression | CompressionName | undefined): Compression {
  if (c === undefined) return Compression.None;
  if (typeof c === 'number') return c;
  const v = CODECS[c];
  if (v === undefined) throw new SamsaClientError('INVALID_CONFIG', `unknown compression "${c}" (none, gzip, snappy, lz4, zstd)`);
  return v;
}

/** Fixed RecordBatch header, and a generous per-record allowance for varints and attributes. */
const BATCH_OVERHEAD = 61;
/**
 * 4 MiB: a quarter of the per-request cost of 1 MiB requests on AWS (bench/RESULTS.md), and
 * 10% under the largest binary body a Lambda Function URL carries (4,620,288 B after base64,
 * docs/limits.md), room for the per-record size estimate's error.
 */
export const DEFAULT_MAX_REQUEST_SIZE = 4 * 1024 * 1024;
const RECORD_OVERHEAD = 32;
const MAX_SEQUENCE = 0x7fffffff;

export class Producer {
  private readonly lingerMs: number;
  private readonly batchSize: number;
  private readonly maxRequestSize: number;
  private readonly compression: Compression;
  private readonly idempotent: boolean;
  private readonly metadataMaxAge: number;
  private readonly accs = new Map<string, Accumulator>();
  private readonly partitionCounts = new Map<string, { count: Promise<number>; at: number }>();
  private readonly sticky = new Map<string, number>();
  private identity: Promise<Identity> | undefined;
  private bumpNeeded = false;
  private closed = false;

  constructor(
    private readonly http: HttpClient,
    private readonly config: ProducerConfig = {},
  ) {
    this.lingerMs = config.lingerMs ?? 5;
    this.batchSize = config.batchSize ?? 1024 * 1024;
    this.maxRequestSize = config.maxRequestSize ?? DEFAULT_MAX_REQUEST_SIZE;
    this.compression = compressionOf(config.compression);
    this.idempotent = config.idempotent ?? true;
    this.metadataMaxAge = config.metadataMaxAge ?? 300_000;
    if (!(this.lingerMs >= 0)) throw new SamsaClientError('INVALID_CONFIG', `lingerMs must be ≥ 0, got ${config.lingerMs}`);
    if (!(this.batchSize > 0)) throw new SamsaClientError('INVALID_CONFIG', `batchSize must be > 0, got ${config.batchSize}`);
    if (!(this.maxRequestSize > 0)) throw new SamsaClientError('INVALID_CONFIG', `maxRequestSize must be > 0, got ${config.maxRequestSize}`);
  }

  /** Fetches a producer id now (otherwise the first send does). */
  async connect(): Promise<void> {
    if (this.idempotent) await this.currentIdentity();
    await codecsReady();
  }

  /** Queues the messages; resolves with one RecordMetadata per message once all are acknowledged. */
  async send(record: ProducerRecord): Promise<RecordMetadata[]> {
    if (this.closed) throw new SamsaClientError('PRODUCER_DISCONNECTED', 'the producer is disconnected');
    if (!record.topic) throw new SamsaClientError('INVALID_REQUEST', 'send: topic is required');
    if (!Array.isArray(record.messages) || record.messages.length === 0) throw new SamsaClientError('INVALID_REQUEST', `send to "${record.topic}": messages must be a non-empty array`);
    const compression = record.compression !== undefined ? compressionOf(record.compression) : this.compression;
    if (compression === Compression.Zstd) await codecsReady();
    let count = await this.partitionCount(record.topic);
    if (record.messages.some((m) => m.partition !== undefined && m.partition >= count)) count = await this.partitionCount(record.topic, true);

    // Every message is checked before any is queued: a send that is refused writes nothing.
    const checked: Array<{ partition: number; input: RecordInput; size: number }> = [];
    for (const [i, m] of record.messages.entries()) {
      const key = bytesOf(m.key, `messages[${i}].key`);
      const value = bytesOf(m.value, `messages[${i}].value`);
      const headers = Object.entries(m.headers ?? {})
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => ({ key: k, value: bytesOf(v, `messages[${i}].headers.${k}`) }));
      let partition: number;
      if (m.partition !== undefined) {
        if (!Number.isInteger(m.partition) || m.partition < 0 || m.partition >= count) {
          throw new SamsaClientError('UNKNOWN_TOPIC_OR_PARTITION', `messages[${i}]: topic "${record.topic}" has no partition ${m.partition} (it has ${count})`);
        }
        partition = m.partition;
      } else if (key !== null) {
        partition = defaultPartition(key, count);
      } else {
        partition = this.stickyPartition(record.topic, count);
      }
      const timestamp = m.timestamp === undefined ? undefined : Number(m.timestamp);
      if (timestamp !== undefined && !(Number.isSafeInteger(timestamp) && timestamp >= 0)) {
        throw new SamsaClientError('INVALID_REQUEST', `messages[${i}].timestamp must be ms since epoch, got ${m.timestamp}`);
      }
      const input: RecordInput = { key, value, headers, ...(timestamp !== undefined ? { timestamp } : {}) };
      const size = RECORD_OVERHEAD + (key?.length ?? 0) + (value?.length ?? 0) + headers.reduce((a, h) => a + h.key.length * 3 + (h.value?.length ?? 0) + 10, 0);
      checked.push({ partition, input, size });
    }
    const promises: Array<Promise<RecordMetadata>> = [];
    const touched = new Set<Accumulator>();
    for (const { partition, input, size } of checked) {
      const acc = this.accumulator(record.topic, partition);
      promises.push(new Promise<RecordMetadata>((resolve, reject) => acc.queue.push({ record: input, size, compression, resolve, reject })));
      acc.bytes += size;
      touched.add(acc);
    }
    for (const acc of touched) this.schedule(acc);
    return Promise.all(promises);
  }

  /** Sends every queued record now; resolves when each has been acknowledged or has failed. */
  async flush(): Promise<void> {
    for (;;) {
      const busy = [...this.accs.values()].filter((a) => a.queue.length > 0 || a.inflight);
      if (busy.length === 0) return;
      for (const a of busy) this.kick(a);
      await Promise.all(busy.map((a) => a.inflight));
    }
  }

  /** Flushes, then refuses further sends. */
  async disconnect(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  /** The partition count, cached (UNKNOWN_TOPIC_OR_PARTITION when the topic does not exist). */
  partitionCount(topic: string, fresh = false): Promise<number> {
    const cached = this.partitionCounts.get(topic);
    if (cached && !fresh && Date.now() - cached.at < this.metadataMaxAge) return cached.count;
    // Concurrent sends share one metadata request.
    const p = this.http
      .json<{ partitions: unknown[] }>('GET', `/v1/topics/${seg(topic)}`, { what: `topic "${topic}"` })
      .then((t) => t.partitions.length);
    this.partitionCounts.set(topic, { count: p, at: Date.now() });
    p.catch(() => {
      if (this.partitionCounts.get(topic)?.count === p) this.partitionCounts.delete(topic);
    });
    return p;
  }

  // --- batching ---------------------------------------------------------------------------------

  private accumulator(topic: string, partition: number): Accumulator {
    const k = `${topic}\u0000${partition}`;
    let acc = this.accs.get(k);
    if (!acc) {
      acc = { topic, partition, queue: [], bytes: 0, timer: undefined, inflight: undefined, seq: 0, producerId: -1, epoch: -1 };
      this.accs.set(k, acc);
    }
    return acc;
  }

  /** Kafka's sticky partitioner for null keys: one partition until its batch goes out. */
  private stickyPartition(topic: string, count: number): number {
    let p = this.sticky.get(topic);
    if (p === undefined || p >= count) {
      p = Math.floor(Math.random() * count);
      this.sticky.set(topic, p);
    }
    return p;
  }

  private schedule(acc: Accumulator): void {
    if (acc.bytes + BATCH_OVERHEAD >= this.batchSize) this.kick(acc);
    else if (!acc.timer && !acc.inflight) {
      acc.timer = setTimeout(() => this.kick(acc), this.lingerMs);
    }
  }

  private kick(acc: Accumulator): void {
    if (acc.timer) {
      clearTimeout(acc.timer);
      acc.timer = undefined;
    }
    if (acc.inflight || acc.queue.length === 0) return;
    acc.inflight = this.drain(acc).finally(() => {
      acc.inflight = undefined;
      // Records that arrived during the request have waited at least one round trip already.
      if (acc.queue.length > 0) this.kick(acc);
    });
  }

  /**
   * Sends the queue one request at a time, each up to maxRequestSize of batches of about
   * batchSize (one codec per request).
   */
  private async drain(acc: Accumulator): Promise<void> {
    if (this.sticky.get(acc.topic) === acc.partition) this.sticky.delete(acc.topic);
    while (acc.queue.length > 0) {
      const codec = acc.queue[0]!.compression;
      const counts: number[] = [];
      let requestBytes = 0;
      let recordBytes = 0;
      let n = 0;
      while (n < acc.queue.length && acc.queue[n]!.compression === codec) {
        let bytes = BATCH_OVERHEAD;
        let k = 0;
        while (n + k < acc.queue.length && acc.queue[n + k]!.compression === codec && (k === 0 || bytes + acc.queue[n + k]!.size <= this.batchSize)) {
          bytes += acc.queue[n + k]!.size;
          k++;
        }
        // The first batch always goes; another only if it fits, and only while the request's
        // sequences stay consecutive (the server takes a request's batches as one sequence run).
        if (counts.length > 0 && (requestBytes + bytes > this.maxRequestSize || acc.seq + n + k - 1 > MAX_SEQUENCE)) break;
        counts.push(k);
        requestBytes += bytes;
        recordBytes += bytes - BATCH_OVERHEAD;
        n += k;
      }
      const items = acc.queue.splice(0, n);
      acc.bytes -= recordBytes;
      await this.sendBatch(acc, items, codec, counts);
    }
    acc.bytes = 0;
  }

  /** One request: `items` as consecutive batches of `counts[i]` records each. */
  private async sendBatch(acc: Accumulator, items: Pending[], codec: Compression, counts: number[] = [items.length]): Promise<void> {
    try {
      let res: { base_offset: number } | undefined;
      // Whether some attempt of this batch may have been written: a retriable failure (a lost
      // response, a timeout, a 5xx) leaves that unknown, and a later attempt's refusal does not
      // settle it (a bump between the two refuses the retry of a batch the first attempt wrote).
      let maybeWritten = false;
      for (let resent = false; ; resent = true) {
        const id = this.idempotent ? await this.currentIdentity() : undefined;
        if (id && (acc.producerId !== id.id || acc.epoch !== id.epoch)) {
          // A new epoch (or a new id) starts every partition's sequence at 0.
          acc.producerId = id.id;
          acc.epoch = id.epoch;
          acc.seq = 0;
        }
        const batches: Uint8Array[] = [];
        for (let i = 0, from = 0; i < counts.length; from += counts[i]!, i++) {
          const records = items.slice(from, from + counts[i]!).map((it) => it.record);
          batches.push(encodeRecordBatch(records, { compression: codec, ...(id ? { producerId: id.id, producerEpoch: id.epoch, baseSequence: acc.seq + from } : {}) }));
        }
        const body = batches.length === 1 ? batches[0]! : Buffer.concat(batches);
        try {
          res = await this.http.json<{ base_offset: number }>('POST', `/v1/topics/${seg(acc.topic)}/partitions/${acc.partition}/records`, {
            body,
            contentType: RECORD_BATCH_TYPE,
            ...(this.config.retry ? { retry: this.config.retry } : {}),
            onRetry: () => void (maybeWritten = true),
            what: `produce to ${acc.topic}/${acc.partition}`,
          });
          break;
        } catch (err) {
          // The server refused the batch over its producer state (a re-created topic's heads
          // know none; our own bump for another partition fenced it; the id is gone): a 4xx,
          // so nothing was written, and the same records under a new epoch, whose sequences
          // restart at 0, cannot duplicate anything. Once: a second refusal is the user's.
          // The queue behind this batch waits (one request in flight per partition), so the
          // resend keeps the partition's order.
          if (counts.length > 1 && !maybeWritten && err instanceof SamsaClientError && err.status === 413) {
            // One batch over a limit (max.message.bytes, the request size) refuses the whole
            // request, so nothing was written: each batch goes again on its own, in order, and
            // only the one too large fails (as Kafka's producer sends one batch per partition).
            for (let i = 0, from = 0; i < counts.length; from += counts[i]!, i++) await this.sendBatch(acc, items.slice(from, from + counts[i]!), codec);
            return;
          }
          if (!id || resent || maybeWritten || !isSequenceRefusal(err)) throw err;
          await this.renewIdentity(id, err.code).catch(() => {
            throw err; // no new identity to resend under: the batch's own refusal is the answer
          });
        }
      }
      if (this.idempotent) acc.seq = (acc.seq + items.length) % (MAX_SEQUENCE + 1);
      items.forEach((it, i) => it.resolve({ topic: acc.topic, partition: acc.partition, offset: res!.base_offset + i }));
    } catch (err) {
      if (err instanceof SamsaClientError && err.code === 'UNKNOWN_TOPIC_OR_PARTITION') this.partitionCounts.delete(acc.topic);
      // Whether the server wrote the batch is unknown (retries ran out) or the sequence state
      // disagrees with ours: a new epoch restarts every partition's sequence at 0 (Kafka's fix).
      // An unknown outcome is never resent under it (that could write the batch twice): the
      // user hears of the failure, and the next batches go out under the new epoch.
      if (this.idempotent && err instanceof SamsaClientError && (err.retriable || SEQUENCE_ERRORS.has(err.code))) this.bumpNeeded = true;
      for (const it of items) it.reject(err);
    }
  }

  /**
   * A new identity after `stale` was refused: a bumped epoch, or a new id when the server does not
   * know ours. Partitions refused together share one bump: whoever finds the identity already
   * past `stale` uses that one (a second bump would fence the first one's resends).
   */
  private async renewIdentity(stale: Identity, code: string): Promise<Identity> {
    const p = this.identity;
    const cur = p ? await p.catch(() => undefined) : undefined;
    if (this.identity === p && cur?.id === stale.id && cur.epoch === stale.epoch) {
      if (code === 'UNKNOWN_PRODUCER_ID') {
        this.identity = undefined; // a bump names the id, which the server refuses: take a new one
        this.bumpNeeded = false;
      } else this.bumpNeeded = true;
    }
    return this.currentIdentity();
  }

  private currentIdentity(): Promise<Identity> {
    if (this.bumpNeeded && this.identity) {
      this.bumpNeeded = false;
      const prev = this.identity;
      this.identity = prev
        .catch(() => undefined)
        .then((p) => this.http.json<Identity>('POST', '/v1/producers', { json: p ? { id: p.id } : {}, what: 'bump producer epoch' }));
    }
    if (!this.identity) {
      this.bumpNeeded = false; // a new id's sequences start at 0 on every partition already
      this.identity = this.http.json<Identity>('POST', '/v1/producers', { json: {}, what: 'get a producer id' });
    }
    const current = this.identity;
    // A failed request must not poison every later send.
    current.catch(() => {
      if (this.identity === current) this.identity = undefined;
    });
    return current;
  }
}

/** A key, value or header value as bytes; anything but a string, bytes or null is refused up front. */
function bytesOf(v: unknown, what: string): Uint8Array | null {
  if (v !== null && v !== undefined && typeof v !== 'string' && !(v instanceof Uint8Array)) {
    throw new SamsaClientError('INVALID_REQUEST', `${what} must be a string, a Buffer or null, got ${typeof v}`);
  }
  return toBytes(v as Message['value']);
}

/** A final answer from the server about the batch's producer state (nothing was written). */
function isSequenceRefusal(err: unknown): err is SamsaClientError {
  return err instanceof SamsaClientError && err.status !== undefined && !err.retriable && SEQUENCE_ERRORS.has(err.code);
}

const SEQUENCE_ERRORS = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'UNKNOWN_PRODUCER_ID']);
