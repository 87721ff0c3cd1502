// Reading one partition from an offset, as stored batches (Accept: record-batch): values come
// back as the exact bytes produced, decoded and CRC-checked by the shared codec. Used by the
// group consumer and by the CLI's group-less consume.
import { ATTR_CONTROL, decodeBatches } from '../records';
import { type HttpClient, RECORD_BATCH_TYPE, seg } from './http';
import { type ConsumedMessage, toBuffer } from './messages';

export interface FetchOptions {
  /** About this many bytes of batches (default 1 MiB; at least one batch comes back). */
  maxBytes?: number;
  /** At the high watermark, wait up to this long for new records (default 0). */
  waitMs?: number;
  /**
   * The topic incarnation this read continues (`topicId` of an earlier answer): when the name
   * now holds another topic (deleted and created again) the fetch fails with
   * UNKNOWN_TOPIC_OR_PARTITION instead of reading the new topic from this offset.
   */
  topicId?: string;
  signal?: AbortSignal;
}

export interface PartitionFetch {
  messages: ConsumedMessage[];
  /** Where the next fetch starts. */
  nextOffset: number;
  highWatermark: number;
  logStartOffset: number;
  /** The topic incarnation read (x-samsa-topic-id; undefined from a server before it). */
  topicId?: string;
}

export async function fetchPartition(http: HttpClient, topic: string, partition: number, offset: number, opts: FetchOptions = {}): Promise<PartitionFetch> {
  const waitMs = opts.waitMs ?? 0;
  const res = await http.raw('GET', `/v1/topics/${seg(topic)}/partitions/${partition}/records`, {
    query: { offset, max_bytes: opts.maxBytes, wait_ms: waitMs > 0 ? waitMs : undefined, topic_id: opts.topicId },
    accept: RECORD_BATCH_TYPE,
    extraTimeoutMs: waitMs,
    ...(opts.signal ? { signal: opts.signal } : {}),
    what: `fetch ${topic}/${partition}`,
  });
  const highWatermark = Number(res.headers.get('x-high-watermark') ?? NaN);
  const logStartOffset = Number(res.headers.get('x-log-start-offset') ?? NaN);
  const messages: ConsumedMessage[] = [];
  let next = offset;
  for (const { header, records } of decodeBatches(res.bytes)) {
    next = Math.max(next, header.baseOffset + header.lastOffsetDelta + 1);
    if (header.attributes & ATTR_CONTROL) continue;
    for (const r of records) {
      if (r.offset < offset) continue;
      messages.push({
        offset: r.offset,
        timestamp: r.timestamp,
        key: toBuffer(r.key),
        value: toBuffer(r.value),
        headers: Object.fromEntries(r.headers.map((h) => [h.key, toBuffer(h.value)])),
      });
    }
  }
  const hinted = Number(res.headers.get('x-next-offset') ?? NaN);
  if (Number.isFinite(hinted)) next = Math.max(next, hinted);
  if (Number.isFinite(highWatermark)) next = Math.min(next, highWatermark);
  next = Math.max(next, offset);
  const topicId = res.headers.get('x-samsa-topic-id') ?? undefined;
  return { messages, nextOffset: next, highWatermark, logStartOffset, ...(topicId ? { topicId } : {}) };
}

/** `earliest` / `latest` / a timestamp → an offset (ListOffsets). */
export async function lookupOffset(http: HttpClient, topic: string, partition: number, at: 'earliest' | 'latest' | number): Promise<number> {
  const r = await http.json<{ offset: number }>('GET', `/v1/topics/${seg(topic)}/partitions/${partition}/offsets`, { query: { timestamp: at }, what: `offsets of ${topic}/${partition}` });
  return r.offset;
}
