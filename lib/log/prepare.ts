// Turning produce requests into validated batches ready to commit. Binary requests are checked
// the way Kafka's LogValidator checks magic-2 batches (CRC, offset deltas, sizes) so nothing
// that could not be read back is ever stored; JSON requests are encoded into batches no larger
// than the topic's max.message.bytes.
import { SamsaError } from '../errors';
import { addSequence } from './producers';
import { ATTR_LOG_APPEND_TIME, decodeRecordBatch, encodeRecordBatch, type RecordInput, setCreateTimeMaxTimestamp, splitBatches } from '../records';

const TRANSACTIONAL = 0x10;
const CONTROL = 0x20;

export interface ProducerFields {
  producerId: number;
  producerEpoch: number;
  /** First and last sequence numbers this payload carries. */
  firstSequence: number;
  lastSequence: number;
}

export interface Prepared {
  payload: Uint8Array;
  batchStarts: number[];
  batchCounts: number[];
  maxTs: number;
  records: number;
  /** Present when the batches carry a producer id (Kafka idempotent producer). */
  producer?: ProducerFields;
}

/** `owned`: the caller hands the buffer over (no defensive copy before offsets are patched). */
export function prepareBinary(body: Uint8Array, maxMessageBytes: number, owned = false): Prepared {
  if (body.length === 0) {
    throw new SamsaError('CORRUPT_MESSAGE', 'request body holds no record batch');
  }
  const slices = splitBatches(body, { verifyCrc: true });
  // The commit rewrites base offsets, and this function max timestamps, in place: never
  // scribble on a buffer the caller keeps.
  const payload = owned ? body : new Uint8Array(body);
  const prep: Prepared = { payload, batchStarts: [], batchCounts: [], maxTs: -1, records: 0 };
  let producer: ProducerFields | undefined;
  // Loops, not forEach closures: once per produce request (issue 18 item 1).
  for (let i = 0; i < slices.length; i++) {
    const slice = slices[i]!;
    const h = slice.header;
    const size = slice.end - slice.start;
    if (size > maxMessageBytes) {
      throw new SamsaError(
        'RECORD_TOO_LARGE',
        `batch ${i} is ${size} bytes, larger than the topic's max.message.bytes (${maxMessageBytes})`,
        { batch: i, size, max_message_bytes: maxMessageBytes },
      );
    }
    if (h.attributes & (TRANSACTIONAL | CONTROL)) {
      throw new SamsaError('INVALID_REQUEST', `batch ${i} is transactional or a control batch; Samsa does not support transactions`);
    }
    if (h.recordCount < 1 || h.lastOffsetDelta !== h.recordCount - 1) {
      throw new SamsaError(
        'CORRUPT_MESSAGE',
        `batch ${i} has recordCount ${h.recordCount} and lastOffsetDelta ${h.lastOffsetDelta}; a produced batch needs ≥ 1 record with offset deltas 0..n-1`,
      );
    }
    // Topics keep CreateTime (Samsa has no message.timestamp.type): a LogAppendTime flag from
    // the producer would make readers take every record's timestamp from maxTimestamp, so it is
    // cleared first and the records' own timestamps decoded.
    const batch = payload.subarray(slice.start, slice.end);
    if (h.attributes & ATTR_LOG_APPEND_TIME) batch[22] = batch[22]! & ~ATTR_LOG_APPEND_TIME;
    // Decode fully: the bytes are kept as they are, so they must be readable as they are.
    const { records } = decodeRecordBatch(batch, { verifyCrc: false });
    let maxTs = -1;
    for (let j = 0; j < records.length; j++) {
      const r = records[j]!;
      if (r.offset - h.baseOffset !== j) {
        throw new SamsaError('CORRUPT_MESSAGE', `batch ${i} record ${j} has offset delta ${r.offset - h.baseOffset}, expected ${j}`);
      }
      if (r.timestamp > maxTs) maxTs = r.timestamp;
    }
    // The batch's maxTimestamp is what retention, ListOffsets by time and the time index go by,
    // so it must not be the producer's word: as Kafka's LogValidator does for CreateTime, it is
    // recomputed from the records and written back (CRC recomputed) rather than the batch
    // refused — a client that got it wrong still has valid records.
    if (maxTs !== h.maxTimestamp || h.attributes & ATTR_LOG_APPEND_TIME) setCreateTimeMaxTimestamp(batch, 0, maxTs);
    if (h.producerId >= 0) {
      if (h.baseSequence < 0) {
        throw new SamsaError('INVALID_REQUEST', `batch ${i} has producer id ${h.producerId} but no base sequence`);
      }
      // Sequences wrap after INT32 max, as in Kafka: a batch may cross the wrap.
      const last = addSequence(h.baseSequence, h.recordCount - 1);
      if (!producer) {
        producer = { producerId: h.producerId, producerEpoch: h.producerEpoch, firstSequence: h.baseSequence, lastSequence: last };
      } else if (
        h.producerId !== producer.producerId ||
        h.producerEpoch !== producer.producerEpoch ||
        h.baseSequence !== addSequence(producer.lastSequence, 1)
      ) {
        throw new SamsaError('INVALID_REQUEST', `batch ${i}: all batches of one request must come from one producer with consecutive sequences`);
      } else {
        producer.lastSequence = last;
      }
    } else if (producer) {
      throw new SamsaError('INVALID_REQUEST', `batch ${i} has no producer id but earlier batches do`);
    }
    prep.batchStarts.push(slice.start);
    prep.batchCounts.push(h.recordCount);
    prep.records += h.recordCount;
    if (maxTs > prep.maxTs) prep.maxTs = maxTs;
  }
  if (producer) prep.producer = producer;
  return prep;
}

/** Per-record framing overhead upper bound, used to split records into batches. */
const RECORD_OVERHEAD = 32;
const BATCH_OVERHEAD = 61;

/**
 * Encode records for one partition into as few batches as fit max.message.bytes. A single
 * record too large for an empty batch is refused with RECORD_TOO_LARGE (nothing is stored,
 * since callers prepare every partition before committing any).
 */
export function prepareRecords(records: RecordInput[], maxMessageBytes: number, now: number, indexOf: (i: number) => number): Prepared {
  const batches: Uint8Array[] = [];
  const counts: number[] = [];
  let maxTs = -1;
  let start = 0;
  while (start < records.length) {
    let size = BATCH_OVERHEAD;
    let end = start;
    while (end < records.length) {
      const est = estimate(records[end]!);
      if (end > start && size + est > maxMessageBytes) break;
      size += est;
      end++;
    }
    let batch = encodeRecordBatch(records.slice(start, end), { now });
    // The estimate is an upper bound, so only a single huge record can overshoot here.
    if (batch.length > maxMessageBytes && end - start > 1) {
      end = start + Math.max(1, Math.floor((end - start) / 2));
      batch = encodeRecordBatch(records.slice(start, end), { now });
    }
    if (batch.length > maxMessageBytes) {
      throw new SamsaError(
        'RECORD_TOO_LARGE',
        `record ${indexOf(start)} encodes to a ${batch.length}-byte batch, larger than the topic's max.message.bytes (${maxMessageBytes})`,
        { record: indexOf(start), size: batch.length, max_message_bytes: maxMessageBytes },
      );
    }
    for (let i = start; i < end; i++) {
      const ts = records[i]!.timestamp ?? now;
      if (ts > maxTs) maxTs = ts;
    }
    batches.push(batch);
    counts.push(end - start);
    start = end;
  }
  // One batch (the usual case: a request's records for a partition fit max.message.bytes) is
  // the payload itself, fresh from the encoder and not shared: no copy.
  if (batches.length === 1) return { payload: batches[0]!, batchStarts: [0], batchCounts: counts, maxTs, records: records.length };
  const total = batches.reduce((a, b) => a + b.length, 0);
  const payload = new Uint8Array(total);
  const starts: number[] = [];
  let pos = 0;
  for (const b of batches) {
    starts.push(pos);
    payload.set(b, pos);
    pos += b.length;
  }
  return { payload, batchStarts: starts, batchCounts: counts, maxTs, records: records.length };
}

function estimate(r: RecordInput): number {
  let n = RECORD_OVERHEAD + (r.key?.length ?? 0) + (r.value?.length ?? 0);
  for (const h of r.headers ?? []) n += 10 + h.key.length * 3 + (h.value?.length ?? 0);
  return n;
}

/** Concatenate prepared payloads (group commit). */
export function mergePrepared(list: Prepared[]): Prepared {
  if (list.length === 1) return list[0]!;
  const total = list.reduce((a, p) => a + p.payload.length, 0);
  const payload = new Uint8Array(total);
  const out: Prepared = { payload, batchStarts: [], batchCounts: [], maxTs: -1, records: 0 };
  let pos = 0;
  for (const p of list) {
    payload.set(p.payload, pos);
    for (const s of p.batchStarts) out.batchStarts.push(pos + s);
    out.batchCounts.push(...p.batchCounts);
    out.records += p.records;
    if (p.maxTs > out.maxTs) out.maxTs = p.maxTs;
    pos += p.payload.length;
  }
  return out;
}
