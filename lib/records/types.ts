// Shapes of the Kafka RecordBatch v2 (magic 2) codec. All offsets, timestamps and producer ids
// are JS numbers (exact up to 2^53, which Samsa never exceeds).

import type { RecordBytes } from './utf8.js';

export enum Compression {
  None = 0,
  Gzip = 1,
  Snappy = 2,
  Lz4 = 3,
  Zstd = 4,
}

/** Size of the fixed batch header, from baseOffset through recordCount. */
export const BATCH_HEADER_SIZE = 61;
/** Bytes before batchLength's payload starts: baseOffset (8) + batchLength (4). */
export const LOG_OVERHEAD = 12;

// Decode limits. Kafka bounds a batch only by its stored size (max.message.bytes), but here
// every decoded record and header becomes a JavaScript object, so a few KiB of gzip holding
// millions of two-byte headers would cost gigabytes. These bounds are checked from the counts
// on the wire, before the objects they protect are made (docs/limits.md).
/** Records in one batch (a 1 MiB batch of realistic records holds a few thousand). */
export const MAX_RECORDS_PER_BATCH = 100_000;
/** Headers on one record. */
export const MAX_HEADERS_PER_RECORD = 1_000;
/** Headers over all records of one batch. */
export const MAX_HEADERS_PER_BATCH = 100_000;

export interface RecordHeader {
  key: string;
  value: Uint8Array | null;
}

/** A record as a producer supplies it (text in a Utf8 is encoded into the batch as UTF-8). */
export interface RecordInput {
  key?: RecordBytes | null;
  value: RecordBytes | null;
  headers?: RecordHeader[];
  /** ms since epoch; defaults to the batch's `now`. */
  timestamp?: number;
}

/** A record as decoded, with absolute offset and timestamp. */
export interface DecodedRecord {
  offset: number;
  timestamp: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: RecordHeader[];
}

/** The fixed 61-byte batch header, decoded. */
export interface BatchHeader {
  baseOffset: number;
  /** Bytes after the batchLength field: total batch size is batchLength + 12. */
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

export interface EncodeOptions {
  baseOffset?: number; // default 0
  partitionLeaderEpoch?: number; // default -1
  compression?: Compression; // default None
  producerId?: number; // default -1
  producerEpoch?: number; // default -1
  baseSequence?: number; // default -1
  transactional?: boolean; // default false
  /** LogAppendTime (attribute bit 3) instead of CreateTime. */
  logAppendTime?: boolean;
  /** Timestamp for records without one. Default Date.now(). */
  now?: number;
}

/** A batch located inside a buffer by `splitBatches`. */
export interface BatchSlice {
  header: BatchHeader;
  /** Byte position of the batch's first byte (baseOffset) in the buffer. */
  start: number;
  /** One past its last byte. */
  end: number;
}
