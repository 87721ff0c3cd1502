// The Kafka APIs this listener speaks, one table entry each: the version range advertised in
// ApiVersions, and a handler that decodes the request body (its grammar in the comment above
// it, per version) and encodes the response body. The ranges are those KafkaJS 2.2.4 and
// librdkafka 2.x both negotiate down to: no flexible version except ApiVersions v3, which
// librdkafka sends first. Everything is served by the same LogEngine and offset store as the
// HTTP API, so a record or a committed offset is the same whichever protocol wrote it.
import { SamsaError } from '../errors';
import { deletedTopicError } from '../log/tombstones';
import { adminApis } from './admin-apis';
import { type Api, CloseConnection, type Context, errOf, takeTurn } from './context';
import { groupApis } from './group-apis';
import { ErrorCode, Writer } from './protocol';
import { saslApis } from './sasl';
import { concatBytes } from '../util/bytes';

// --- ApiVersions (18) ---------------------------------------------------------------------
// Request v0-2: (empty)   v3+: client_software_name COMPACT_STRING, client_software_version COMPACT_STRING, TAG_BUFFER
// Response v0: error_code INT16, api_keys [api_key INT16, min_version INT16, max_version INT16]
//          v1-2: + throttle_time_ms INT32
//          v3: error_code, api_keys COMPACT_ARRAY [.. TAG_BUFFER], throttle_time_ms, TAG_BUFFER
// (The response header is v0 even for v3, so a client can always read it.)
export function apiVersionsBody(version: number, errorCode: number): Writer {
  const w = new Writer().int16(errorCode);
  const list = [...APIS.entries()].sort((a, b) => a[0] - b[0]);
  if (version >= 3) {
    w.compactArray(list, (x, [key, api]) => void x.int16(key).int16(api.min).int16(api.max).emptyTags());
    return w.int32(0).emptyTags();
  }
  w.array(list, (x, [key, api]) => void x.int16(key).int16(api.min).int16(api.max));
  if (version >= 1) w.int32(0);
  return w;
}

const apiVersions: Api = {
  name: 'ApiVersions',
  min: 0,
  max: 3,
  flexibleFrom: 3,
  preAuth: true,
  async handle(_ctx, _s, h, r) {
    if (h.apiVersion >= 3) {
      r.compactString();
      r.compactString();
      r.taggedFields();
    }
    return apiVersionsBody(h.apiVersion, ErrorCode.NONE);
  },
};

// --- Metadata (3) -------------------------------------------------------------------------
// Request v0: topics [name STRING] (empty = all)   v1+: topics nullable (null = all)
//         v4+: allow_auto_topic_creation BOOLEAN
// Response v3+: throttle_time_ms INT32
//   brokers [node_id INT32, host STRING, port INT32, rack NULLABLE_STRING (v1+)]
//   cluster_id NULLABLE_STRING (v2+), controller_id INT32 (v1+)
//   topics [error_code INT16, name STRING, is_internal BOOLEAN (v1+),
//           partitions [error_code INT16, partition_index INT32, leader_id INT32,
//                       leader_epoch INT32 (v7+), replica_nodes [INT32], isr_nodes [INT32],
//                       offline_replicas [INT32] (v5+)]]
const metadata: Api = {
  name: 'Metadata',
  min: 0,
  max: 7,
  async handle(ctx, s, h, r) {
    const v = h.apiVersion;
    const requested = r.nullableArray((x) => x.string(), 2);
    if (v >= 4) r.bool();
    const all = requested === null || (v === 0 && requested.length === 0);
    type Entry = { name: string; error: number; partitions: number; epochs: number[] };
    let entries: Entry[];
    if (all) {
      const topics = await ctx.engine.topics.list();
      const visible = await Promise.all(topics.map((t) => ctx.authorize(s, 'describe', 'topic', t.name)));
      entries = await Promise.all(topics.filter((_, i) => visible[i]).map((t) => describe(ctx, t.name)));
    } else {
      entries = await Promise.all(
        requested.map(async (name) => ((await ctx.authorize(s, 'describe', 'topic', name)) ? describe(ctx, name) : { name, error: ErrorCode.TOPIC_AUTHORIZATION_FAILED, partitions: 0, epochs: [] })),
      );
    }
    const w = new Writer();
    if (v >= 3) w.int32(0);
    // Every live instance is a broker; this one leads every partition in its own answer (any
    // instance serves any partition from the shared log).
    w.array(await ctx.cluster.brokers(), (x, n) => {
      x.int32(n.id).string(n.host).int32(n.port);
      if (v >= 1) x.string(null);
    });
    if (v >= 2) w.string(ctx.clusterId);
    if (v >= 1) w.int32(ctx.node.id);
    w.array(entries, (x, e) => {
      x.int16(e.error).string(e.name);
      if (v >= 1) x.bool(false);
      x.array(
        Array.from({ length: e.partitions }, (_, p) => p),
        (y, p) => {
          y.int16(ErrorCode.NONE).int32(p).int32(ctx.node.id);
          if (v >= 7) y.int32(e.epochs[p] ?? 0);
          y.array([ctx.node.id], (z, id) => void z.int32(id));
          y.array([ctx.node.id], (z, id) => void z.int32(id));
          if (v >= 5) y.array([], () => {});
        },
      );
    });
    return w;
  },
};

async function describe(ctx: Context, name: string): Promise<{ name: string; error: number; partitions: number; epochs: number[] }> {
  try {
    const t = await ctx.engine.topics.get(name);
    return { name, error: ErrorCode.NONE, partitions: t.partitions, epochs: [] };
  } catch (err) {
    return { name, error: errOf(err), partitions: 0, epochs: [] };
  }
}

// --- Produce (0) --------------------------------------------------------------------------
// Request v3-7: transactional_id NULLABLE_STRING, acks INT16, timeout_ms INT32,
//   topic_data [name STRING, partition_data [index INT32, records NULLABLE_BYTES]]
// Response: responses [name STRING, partition_responses [index INT32, error_code INT16,
//   base_offset INT64, log_append_time_ms INT64 (v2+), log_start_offset INT64 (v5+)]],
//   throttle_time_ms INT32
// acks 0, 1 and -1 all wait for the durable commit (there are no replicas to wait for); acks 0
// only means no response is sent.
const produce: Api = {
  name: 'Produce',
  min: 3,
  max: 7,
  async handle(ctx, s, h, r) {
    const v = h.apiVersion;
    const transactionalId = r.nullableString();
    const acks = r.int16();
    r.int32();
    const topics = r.array((x) => ({ name: x.string(), partitions: x.array((y) => ({ index: y.int32(), records: y.nullableBytes() }), 8) }), 6);
    // Each partition's place in this connection's write order, taken now (handlers start in
    // request order; nothing is awaited before this): a partition's write waits until the
    // connection's previous write to it is in the commit order, so pipelined requests land in
    // request order whatever their lookups' timing.
    const order = (s.produceOrder ??= new Map<string, Promise<void>>());
    const turns = topics.map((t) => t.partitions.map((p) => takeTurn(order, `${t.name}\u0000${p.index}`)));
    const results = await Promise.all(
      topics.map(async (t, ti) => {
        const allowed = await ctx.authorize(s, 'write', 'topic', t.name);
        return {
          name: t.name,
          partitions: await Promise.all(
            t.partitions.map(async (p, pi) => {
              const { prev, done } = turns[ti]![pi]!;
              try {
                if (transactionalId !== null) return { index: p.index, error: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, base: -1 };
                if (!allowed) return { index: p.index, error: ErrorCode.TOPIC_AUTHORIZATION_FAILED, base: -1 };
                if (!p.records || p.records.length === 0) return { index: p.index, error: ErrorCode.CORRUPT_MESSAGE, base: -1 };
                await prev;
                // The request frame is ours alone: the engine may keep the bytes without a copy.
                // Kafka's sequence rule: a partition with no state of an idempotent producer (a
                // topic re-created under its name, say) takes its next batch at any sequence.
                const res = await ctx.engine.produceBatchesWithLogStart(t.name, p.index, p.records, { owned: true, queued: done, anySequenceWhenUnknown: true });
                return { index: p.index, error: ErrorCode.NONE, base: res.base_offset, logStart: res.log_start_offset };
              } catch (err) {
                const code = errOf(err);
                // A retry of a batch the partition already holds: Kafka answers success with the
                // original offset; the engine answers the original offsets too (no error).
                return { index: p.index, error: code, base: -1 };
              } finally {
                done();
              }
            }),
          ),
        };
      }),
    );
    if (acks === 0) {
      // No answer is expected, so an error closes the connection instead (Kafka's rule): the
      // producer sees the disconnection, refreshes its metadata and knows records were lost.
      const failed = results.flatMap((t) => t.partitions.filter((p) => p.error !== ErrorCode.NONE).map((p) => `${t.name}/${p.index}: error ${p.error}`));
      if (failed.length > 0) throw new CloseConnection(`acks=0 produce failed (${failed.join(', ')})`);
      return null;
    }
    const w = new Writer();
    w.array(results, (x, t) => {
      x.string(t.name);
      x.array(t.partitions, (y, p) => {
        y.int32(p.index).int16(p.error).int64(p.base).int64(-1);
        // The log start this instance last saw (engine.produceBatchesWithLogStart); -1 with an error.
        if (v >= 5) y.int64(p.logStart ?? -1);
      });
    });
    return w.int32(0);
  },
};

// --- Fetch (1) ----------------------------------------------------------------------------
// Request v4-11: replica_id INT32, max_wait_ms INT32, min_bytes INT32, max_bytes INT32,
//   isolation_level INT8, session_id INT32 (v7+), session_epoch INT32 (v7+),
//   topics [topic STRING, partitions [partition INT32, current_leader_epoch INT32 (v9+),
//           fetch_offset INT64, log_start_offset INT64 (v5+), partition_max_bytes INT32]],
//   forgotten_topics_data [topic STRING, partitions [INT32]] (v7+), rack_id STRING (v11+)
// Response: throttle_time_ms INT32, error_code INT16 (v7+), session_id INT32 (v7+),
//   responses [topic STRING, partitions [partition_index INT32, error_code INT16,
//     high_watermark INT64, last_stable_offset INT64, log_start_offset INT64 (v5+),
//     aborted_transactions NULLABLE [producer_id INT64, first_offset INT64],
//     preferred_read_replica INT32 (v11+), records NULLABLE_BYTES]]
// Fetch sessions (KIP-227) are not kept: session_id 0 in every answer makes clients send full
// fetches. There are no transactions, so read_committed and read_uncommitted read the same.
interface FetchPart {
  partition: number;
  offset: number;
  maxBytes: number;
}
interface FetchOut {
  partition: number;
  error: number;
  hw: number;
  logStart: number;
  records: Uint8Array;
}

/**
 * The record set of a partition answered with an error, or with nothing to read: empty, never
 * null, as Kafka's broker sends it. librdkafka takes a null one (size -1) for a malformed
 * response ("invalid MessageSetSize -1") and drops the whole answer, so it would never see the
 * error — an OFFSET_OUT_OF_RANGE after retention, say — and fetch the same offset for ever.
 */
const NO_RECORDS = new Uint8Array(0);

const MAX_FETCH_WAIT_MS = 30_000;

/**
 * A fetch partition's error code. A store that kept throttling is KAFKA_STORAGE_ERROR here, not
 * the THROTTLING_QUOTA_EXCEEDED other APIs answer: the Java consumer retries a fetch's
 * KAFKA_STORAGE_ERROR (after a metadata refresh) but throws IllegalStateException from poll()
 * for any code its fetch handling does not list, 89 among them; KafkaJS retries 56 too.
 */
const fetchErrOf = (err: unknown): number => {
  const code = errOf(err);
  return code === ErrorCode.THROTTLING_QUOTA_EXCEEDED ? ErrorCode.KAFKA_STORAGE_ERROR : code;
};

const fetchApi: Api = {
  name: 'Fetch',
  min: 4,
  max: 11,
  async handle(ctx, s, h, r) {
    const v = h.apiVersion;
    r.int32();
    const maxWait = Math.min(Math.max(r.int32(), 0), MAX_FETCH_WAIT_MS);
    const minBytes = r.int32();
    const maxBytes = Math.max(r.int32(), 1);
    r.int8();
    if (v >= 7) {
      r.int32();
      r.int32();
    }
    const topics = r.array(
      (x) => ({
        topic: x.string(),
        partitions: x.array((y) => {
          const partition = y.int32();
          if (v >= 9) y.int32();
          const offset = y.int64();
          if (v >= 5) y.int64();
          return { partition, offset, maxBytes: Math.max(y.int32(), 1) } as FetchPart;
        }, 16),
      }),
      6,
    );
    if (v >= 7) r.array((x) => ({ t: x.string(), p: x.array((y) => y.int32(), 4) }), 6);
    if (v >= 11) r.string();

    const allowed = new Map<string, boolean>();
    for (const t of topics) allowed.set(t.topic, await ctx.authorize(s, 'read', 'topic', t.topic));

    const pass = async (): Promise<Array<{ topic: string; parts: FetchOut[] }>> => {
      let budget = maxBytes;
      const out: Array<{ topic: string; parts: FetchOut[] }> = [];
      for (const t of topics) {
        const parts: FetchOut[] = [];
        for (const p of t.partitions) {
          if (!allowed.get(t.topic)) {
            parts.push({ partition: p.partition, error: ErrorCode.TOPIC_AUTHORIZATION_FAILED, hw: -1, logStart: -1, records: NO_RECORDS });
            continue;
          }
          try {
            if (budget <= 0) {
              // The response is full: offsets only, no read (the client asks again).
              const topic = await ctx.engine.topics.partition(t.topic, p.partition);
              const head = await ctx.engine.head(topic, p.partition);
              // A deleted incarnation's head (this instance's cache still names it): refused as
              // a read of it is, and the name looked up afresh next time.
              if (head.deleted) {
                ctx.engine.topics.invalidate(t.topic);
                throw deletedTopicError(topic, p.partition);
              }
              parts.push({ partition: p.partition, error: ErrorCode.NONE, hw: head.nextOffset, logStart: head.logStart, records: NO_RECORDS });
              continue;
            }
            // At least one batch comes back even past the budget (Kafka's rule, so that a batch
            // bigger than max_bytes still makes progress); after that, the budget bounds it.
            const res = await ctx.engine.fetch(t.topic, p.partition, { offset: p.offset, maxBytes: Math.min(p.maxBytes, budget) });
            const bytes = concatBytes(res.runs.map((x) => x.bytes));
            budget -= bytes.length;
            parts.push({ partition: p.partition, error: ErrorCode.NONE, hw: res.highWatermark, logStart: res.logStartOffset, records: bytes });
          } catch (err) {
            const d = err instanceof SamsaError ? (err.details as { high_watermark?: number; log_start_offset?: number } | undefined) : undefined;
            parts.push({ partition: p.partition, error: fetchErrOf(err), hw: d?.high_watermark ?? -1, logStart: d?.log_start_offset ?? -1, records: NO_RECORDS });
          }
        }
        out.push({ topic: t.topic, parts });
      }
      return out;
    };

    let result = await pass();
    const got = (): number => result.reduce((a, t) => a + t.parts.reduce((b, p) => b + p.records.length, 0), 0);
    const errors = result.some((t) => t.parts.some((p) => p.error !== ErrorCode.NONE));
    const need = Math.max(minBytes, 1);
    // Not once the listener is closing: its abort has fired already (a handler that started
    // late, after a quota wait, say) and would never end this wait; the answer goes out now.
    if (maxWait > 0 && got() < need && !errors && ctx.signal?.aborted !== true) {
      // Long poll (Kafka's min_bytes / max_wait_ms): wait on every partition where this pass's
      // read ended until the logs have grown by what min_bytes still lacks, or max_wait passes;
      // each wake reads only the new batches (bounded by what is still lacking), then the
      // response is read once more in full.
      // A duration: on the monotonic clock, which no step of the wall clock moves.
      const deadline = performance.now() + maxWait;
      const at = new Map<string, number>();
      const parts = topics.flatMap((t, i) => t.partitions.map((p, j) => ({ t, p, key: `${i}/${j}` })));
      for (const [i, t] of result.entries()) for (const [j, p] of t.parts.entries()) at.set(`${i}/${j}`, Math.max(topics[i]!.partitions[j]!.offset, p.hw));
      let have = got();
      const stop = new AbortController();
      const onAbort = (): void => stop.abort();
      ctx.signal?.addEventListener('abort', onAbort);
      type Part = (typeof parts)[number];
      const arm = (x: Part): Promise<{ x: Part; res: Awaited<ReturnType<typeof ctx.engine.fetch>> | undefined }> =>
        ctx.engine
          .fetch(x.t.topic, x.p.partition, { offset: at.get(x.key)!, maxBytes: Math.max(Math.min(need - have, x.p.maxBytes), 1), waitMs: Math.max(deadline - performance.now(), 1), signal: stop.signal })
          .then((res) => ({ x, res }), () => ({ x, res: undefined }));
      // One waiter per partition; only the one that woke is armed again (at its new end).
      const live = new Map(parts.map((x) => [x.key, arm(x)]));
      while (have < need && live.size > 0 && !stop.signal.aborted) {
        const { x, res } = await Promise.race(live.values());
        live.delete(x.key);
        // An error: stop waiting (the final read reports it). No data: that wait ran out.
        if (!res) break;
        if (res.runs.length === 0) continue;
        have += res.runs.reduce((a, r) => a + r.bytes.length, 0);
        at.set(x.key, res.nextBatchOffset);
        if (have < need && performance.now() < deadline) live.set(x.key, arm(x));
      }
      stop.abort();
      ctx.signal?.removeEventListener('abort', onAbort);
      result = await pass();
    }

    const w = new Writer().int32(0);
    if (v >= 7) w.int16(ErrorCode.NONE).int32(0);
    w.array(result, (x, t) => {
      x.string(t.topic);
      x.array(t.parts, (y, p) => {
        y.int32(p.partition).int16(p.error).int64(p.hw).int64(p.hw);
        if (v >= 5) y.int64(p.logStart);
        y.array(null, () => {});
        if (v >= 11) y.int32(-1);
        y.bytes(p.records);
      });
    });
    return w;
  },
};


// --- ListOffsets (2) ----------------------------------------------------------------------
// Request v1-5: replica_id INT32, isolation_level INT8 (v2+),
//   topics [name STRING, partitions [partition_index INT32, current_leader_epoch INT32 (v4+), timestamp INT64]]
// Response: throttle_time_ms INT32 (v2+), topics [name STRING, partitions [partition_index INT32,
//   error_code INT16, timestamp INT64, offset INT64, leader_epoch INT32 (v4+)]]
// timestamp -1 = latest, -2 = earliest, else the first offset whose timestamp is at least it
// (offset -1 when there is none, as Kafka answers).
const listOffsets: Api = {
  name: 'ListOffsets',
  min: 1,
  max: 5,
  async handle(ctx, s, h, r) {
    const v = h.apiVersion;
    r.int32();
    if (v >= 2) r.int8();
    const topics = r.array(
      (x) => ({
        name: x.string(),
        partitions: x.array((y) => {
          const index = y.int32();
          if (v >= 4) y.int32();
          return { index, timestamp: y.int64() };
        }, 12),
      }),
      6,
    );
    const out = await Promise.all(
      topics.map(async (t) => {
        const ok = await ctx.authorize(s, 'describe', 'topic', t.name);
        return {
          name: t.name,
          parts: await Promise.all(
            t.partitions.map(async (p) => {
              if (!ok) return { index: p.index, error: ErrorCode.TOPIC_AUTHORIZATION_FAILED, ts: -1, offset: -1 };
              try {
                const spec = p.timestamp === -2 ? 'earliest' : p.timestamp === -1 ? 'latest' : p.timestamp;
                const res = await ctx.engine.listOffsets(t.name, p.index, spec);
                if (typeof spec === 'number' && res.timestamp === null) return { index: p.index, error: ErrorCode.NONE, ts: -1, offset: -1 };
                return { index: p.index, error: ErrorCode.NONE, ts: res.timestamp ?? -1, offset: res.offset };
              } catch (err) {
                return { index: p.index, error: errOf(err), ts: -1, offset: -1 };
              }
            }),
          ),
        };
      }),
    );
    const w = new Writer();
    if (v >= 2) w.int32(0);
    w.array(out, (x, t) => {
      x.string(t.name);
      x.array(t.parts, (y, p) => {
        y.int32(p.index).int16(p.error).int64(p.ts).int64(p.offset);
        if (v >= 4) y.int32(0);
      });
    });
    return w;
  },
};

// --- InitProducerId (22) ------------------------------------------------------------------
// Request v0-1: transactional_id NULLABLE_STRING, transaction_timeout_ms INT32
// Response: throttle_time_ms INT32, error_code INT16, producer_id INT64, producer_epoch INT16
// An idempotent producer gets an id from the same registry as POST /v1/producers, so its
// sequences are checked by the same per-partition producer state. Transactions are not
// supported: a transactional id is refused as Kafka refuses one the principal may not use.
const initProducerId: Api = {
  name: 'InitProducerId',
  min: 0,
  max: 1,
  async handle(ctx, s, _h, r) {
    const transactionalId = r.nullableString();
    r.int32();
    const w = new Writer().int32(0);
    if (transactionalId !== null) return w.int16(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED).int64(-1).int16(-1);
    // Kafka asks IdempotentWrite on the cluster, which WRITE on any topic implies (KIP-679);
    // the authorizer answers 'write' on the cluster that way, as POST /v1/producers does.
    if (!(await ctx.authorize(s, 'write', 'cluster', 'samsa-cluster'))) return w.int16(ErrorCode.CLUSTER_AUTHORIZATION_FAILED).int64(-1).int16(-1);
    try {
      // Issued to the SASL principal, as POST /v1/producers issues it to the caller: only that
      // principal may bump its epoch over HTTP.
      const p = await ctx.engine.producers.init(undefined, s.principal !== undefined ? { principal: s.principal } : undefined);
      return w.int16(ErrorCode.NONE).int64(p.id).int16(p.epoch);
    } catch (err) {
      return w.int16(errOf(err)).int64(-1).int16(-1);
    }
  },
};

// --- FindCoordinator (10) -----------------------------------------------------------------
// Request v0: key STRING   v1-2: + key_type INT8 (0 group, 1 transaction)
// Response v0: error_code INT16, node_id INT32, host STRING, port INT32
//          v1-2: throttle_time_ms INT32, error_code, error_message NULLABLE_STRING, node_id, host, port
const findCoordinator: Api = {
  name: 'FindCoordinator',
  min: 0,
  max: 2,
  async handle(ctx, s, h, r) {
    const v = h.apiVersion;
    const key = r.string();
    const keyType = v >= 1 ? r.int8() : 0;
    // Kafka asks DESCRIBE on the group before naming (here: claiming) its coordinator.
    const error =
      keyType === 1 ? ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED : !(await ctx.authorize(s, 'describe', 'group', key)) ? ErrorCode.GROUP_AUTHORIZATION_FAILED : ErrorCode.NONE;
    // The instance holding the group's coordinator lease (cluster.ts), claimed here when free.
    const node = error === ErrorCode.NONE ? await ctx.cluster.coordinator(key) : { id: -1, host: '', port: -1 };
    const w = new Writer();
    if (v >= 1) w.int32(0);
    w.int16(error);
    if (v >= 1) w.string(error === ErrorCode.NONE ? null : error === ErrorCode.GROUP_AUTHORIZATION_FAILED ? `not authorized to describe group "${key}"` : 'transactions are not supported');
    return w.int32(node.id).string(node.host).int32(node.port);
  },
};

/** api_key → API. ApiVersions advertises exactly these. */
export const APIS = new Map<number, Api>([
  [0, produce],
  [1, fetchApi],
  [2, listOffsets],
  [3, metadata],
  [10, findCoordinator],
  [18, apiVersions],
  [22, initProducerId],
]);
for (const [k, api] of [...groupApis, ...adminApis, ...saslApis]) APIS.set(k, api);

