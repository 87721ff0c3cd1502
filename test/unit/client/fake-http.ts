// A stand-in for HttpClient that plays a tiny Samsa server in memory: topic metadata, producer
// ids, and record-batch produce that decodes what the producer sent and assigns offsets.
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
  bytes: Uint8Array;
}

export function fakeHttp(partitions: Record<string, number>, opts: { failures?: Array<() => Error> } = {}) {
  const sent: SentBatch[] = [];
  const offsets = new Map<string, number>();
  const failures = [...(opts.failures ?? [])];
  const http = {
    async json(method: string, path: string, o: RequestOptions = {}): Promise<unknown> {
      let m = /^\/v1\/topics\/([^/]+)$/.exec(path);
      if (method === 'GET' && m) {
        const n = partitions[decodeURIComponent(m[1]!)];
        if (n === undefined) throw new SamsaClientError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${m[1]}" does not exist`, { status: 404 });
        return { partitions: Array.from({ length: n }, (_, p) => ({ partition: p })) };
      }
      if (method === 'POST' && path === '/v1/producers') return { id: 7, epoch: 0 };
      m = /^\/v1\/topics\/([^/]+)\/partitions\/(\d+)\/records$/.exec(path);
      if (method === 'POST' && m) {
        const fail = failures.shift();
        if (fail) throw fail();
        const topic = decodeURIComponent(m[1]!);
        const partition = Number(m[2]);
        const h = readBatchHeader(o.body!);
        const [b] = decodeBatches(o.body!);
        sent.push({
          topic,
          partition,
          producerId: h.producerId,
          producerEpoch: h.producerEpoch,
          baseSequence: h.baseSequence,
          compression: h.attributes & 7,
          keys: b!.records.map((r) => (r.key ? Buffer.from(r.key).toString() : null)),
          values: b!.records.map((r) => Buffer.from(r.value!).toString()),
          bytes: o.body!,
        });
        const k = `${topic}/${partition}`;
        const base = offsets.get(k) ?? 0;
        offsets.set(k, base + h.recordCount);
        return { partition, base_offset: base, last_offset: base + h.recordCount - 1 };
      }
      throw new Error(`fake http: no route ${method} ${path}`);
    },
  };
  return { http: http as unknown as HttpClient, sent };
}
