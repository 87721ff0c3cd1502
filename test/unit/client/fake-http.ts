// A stand-in for HttpClient that plays a tiny Samsa server in memory: topic metadata, producer
// ids and epoch bumps, and record-batch produce that decodes what the producer sent, assigns
// offsets, and checks idempotent batches as the server does (per partition: an epoch below the
// registered one is fenced, a sequence must follow the stream's last; a new stream or a new
// epoch starts at 0). `recreate` gives a topic new, empty partitions (no producer state).
import { decodeBatches, readBatchHeader } from '../../../lib/records';
import type { HttpClient, RequestOptions } from '../../../lib/client/http';
import { SamsaClientError } from '../../../lib/client';

export interface SentBatch {
  topic: string;
  partition: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  compression: number;
  keys: Array<string | null>;
  values: string[];
  /** Records per RecordBatch of the request (a request may carry consecutive batches). */
  batchCounts: number[];
  bytes: Uint8Array;
  /** Whether the fake server wrote it (false: refused or failed by an injected failure). */
  written: boolean;
}

export interface FakeOptions {
  /** Thrown by produce requests, in order, before anything is written (undefined: that request passes). */
  failures?: Array<(() => Error) | undefined>;
  /** Thrown by producer-id requests (`POST /v1/producers`), in order (undefined: that request passes). */
  producerFailures?: Array<(() => Error) | undefined>;
  /** Produce requests take this long (so that several partitions' requests are in flight at once). */
  latencyMs?: number;
}

const conflict = (code: string, message: string): SamsaClientError => new SamsaClientError(code, message, { status: 409 });

export function fakeHttp(partitions: Record<string, number>, opts: FakeOptions = {}) {
  const sent: SentBatch[] = [];
  /** Bodies of the producer-id requests: `{}` for a new id, `{ id }` for a bump. */
  const producerRequests: unknown[] = [];
  const offsets = new Map<string, number>();
  /** Per partition, per producer id: the epoch and the next sequence. */
  const streams = new Map<string, Map<number, { epoch: number; next: number }>>();
  const epochs = new Map<number, number>();
  let nextId = 7;
  const failures = [...(opts.failures ?? [])];
  const producerFailures = [...(opts.producerFailures ?? [])];
  const http = {
    async json(method: string, path: string, o: RequestOptions = {}): Promise<unknown> {
      let m = /^\/v1\/topics\/([^/]+)$/.exec(path);
      if (method === 'GET' && m) {
        const n = partitions[decodeURIComponent(m[1]!)];
        if (n === undefined) throw new SamsaClientError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${m[1]}" does not exist`, { status: 404 });
        return { partitions: Array.from({ length: n }, (_, p) => ({ partition: p })) };
      }
      if (method === 'POST' && path === '/v1/producers') {
        producerRequests.push(o.json);
        const fail = producerFailures.shift();
        if (fail) throw fail();
        const want = (o.json as { id?: number } | undefined)?.id;
        if (want === undefined) {
          epochs.set(nextId, 0);
          return { id: nextId++, epoch: 0 };
        }
        const epoch = epochs.get(want);
        if (epoch === undefined) throw new SamsaClientError('UNKNOWN_PRODUCER_ID', `producer id ${want} is unknown`, { status: 404 });
        epochs.set(want, epoch + 1);
        return { id: want, epoch: epoch + 1 };
      }
      m = /^\/v1\/topics\/([^/]+)\/partitions\/(\d+)\/records$/.exec(path);
      if (method === 'POST' && m) {
        const topic = decodeURIComponent(m[1]!);
        const partition = Number(m[2]);
        const h = readBatchHeader(o.body!);
        const bs = decodeBatches(o.body!);
        const records = bs.flatMap((b) => b.records);
        const recordCount = records.length;
        const batch: SentBatch = {
          topic,
          partition,
          producerId: h.producerId,
          producerEpoch: h.producerEpoch,
          baseSequence: h.baseSequence,
          compression: h.attributes & 7,
          keys: records.map((r) => (r.key ? Buffer.from(r.key).toString() : null)),
          values: records.map((r) => Buffer.from(r.value!).toString()),
          batchCounts: bs.map((b) => b.records.length),
          bytes: o.body!,
          written: false,
        };
        sent.push(batch);
        if (opts.latencyMs) await new Promise((r) => setTimeout(r, opts.latencyMs));
        const fail = failures.shift();
        if (fail) throw fail();
        const k = `${topic}/${partition}`;
        if (h.producerId >= 0) {
          const registered = epochs.get(h.producerId);
          if (registered === undefined) throw new SamsaClientError('UNKNOWN_PRODUCER_ID', `producer id ${h.producerId} is unknown`, { status: 404 });
          if (h.producerEpoch !== registered) throw conflict('INVALID_PRODUCER_EPOCH', `epoch ${h.producerEpoch} is not the registered ${registered}`);
          const byId = streams.get(k) ?? new Map<number, { epoch: number; next: number }>();
          streams.set(k, byId);
          const s = byId.get(h.producerId);
          const expected = s && s.epoch === h.producerEpoch ? s.next : 0;
          if (h.baseSequence !== expected) throw conflict('OUT_OF_ORDER_SEQUENCE_NUMBER', `sequence ${h.baseSequence}: expected ${expected}`);
          // As the server: a request's batches come from one producer with consecutive sequences.
          for (let i = 1, next = expected + bs[0]!.records.length; i < bs.length; next += bs[i]!.records.length, i++) {
            const hi = bs[i]!.header;
            if (hi.producerId !== h.producerId || hi.producerEpoch !== h.producerEpoch || hi.baseSequence !== next) throw new SamsaClientError('INVALID_REQUEST', `batch ${i}: sequences are not consecutive`, { status: 400 });
          }
          byId.set(h.producerId, { epoch: h.producerEpoch, next: expected + recordCount });
        }
        batch.written = true;
        const base = offsets.get(k) ?? 0;
        offsets.set(k, base + recordCount);
        return { partition, base_offset: base, last_offset: base + recordCount - 1 };
      }
      throw new Error(`fake http: no route ${method} ${path}`);
    },
  };
  /** Deletes and re-creates `topic`: empty partitions that know no producer. */
  const recreate = (topic: string): void => {
    for (const k of [...offsets.keys(), ...streams.keys()]) {
      if (k.startsWith(`${topic}/`)) {
        offsets.delete(k);
        streams.delete(k);
      }
    }
  };
  return { http: http as unknown as HttpClient, sent, producerRequests, recreate };
}
