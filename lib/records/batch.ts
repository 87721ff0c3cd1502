// Kafka RecordBatch v2 (magic 2) encoder, framing validator and decoder. Pure functions over
// Uint8Array: the produce path validates with splitBatches (no decompression), segments store
// batches as-is, and the fetch path hands them back unchanged; full decoding is for clients
// and tests.
//
// Wire grammar (big-endian fixed-width ints; varints are zigzag, protobuf-style):
//
//   RecordBatch =>
//     baseOffset           int64   offset of the first record; the log rewrites it on append
//     batchLength          int32   bytes after this field (total size = batchLength + 12)
//     partitionLeaderEpoch int32   also rewritten by the log; outside the CRC
//     magic                int8    2
//     crc                  uint32  CRC32C of attributes .. end of batch
//     attributes           int16   bits 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd),
//                                  bit 3 timestampType (1 = LogAppendTime), bit 4 transactional,
//                                  bit 5 control
//     lastOffsetDelta      int32   offsetDelta of the last record (recordCount - 1 when dense)
//     baseTimestamp        int64   first record's timestamp
//     maxTimestamp         int64   largest timestamp (the append time under LogAppendTime)
//     producerId           int64   -1 unless idempotent / transactional
//     producerEpoch        int16
//     baseSequence         int32
//     recordCount          int32
//     records              [Record] x recordCount, compressed as one blob when codec != 0
//
//   Record =>
//     length         varint   bytes from attributes to the end of headers
//     attributes     int8     unused, 0
//     timestampDelta varlong  timestamp - baseTimestamp
//     offsetDelta    varint   offset - baseOffset
//     keyLength      varint   -1 for a null key
//     key            bytes
//     valueLength    varint   -1 for a null value
//     value          bytes
//     headerCount    varint
//     headers        [Header]
//
//   Header =>
//     keyLength   varint   never null
//     key         utf8
//     valueLength varint   -1 for null
//     value       bytes

import { CorruptRecordError, SamsaError } from '../errors.js';
import { crc32c } from './crc32c.js';
import { compress, decompress, MAX_DECOMPRESSED_BYTES } from './compression.js';
import { Reader, sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from './varint.js';
import type { RecordBytes } from './utf8.js';
import {
  BATCH_HEADER_SIZE,
  Compression,
  LOG_OVERHEAD,
  MAX_HEADERS_PER_BATCH,
  MAX_HEADERS_PER_RECORD,
  MAX_RECORDS_PER_BATCH,
  type BatchHeader,
  type BatchSlice,
  type DecodedRecord,
  type EncodeOptions,
  type RecordHeader,
  type RecordInput,
} from './types.js';

const MAGIC = 2;
const MAGIC_OFFSET = 16;
const CRC_OFFSET = 17;
/** The CRC covers attributes through the end of the batch. */
const ATTRIBUTES_OFFSET = 21;
/** batchLength of a batch with no records: the fixed header minus baseOffset and batchLength. */
const MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - LOG_OVERHEAD;

export const ATTR_CODEC_MASK = 0x07;
export const ATTR_LOG_APPEND_TIME = 0x08;
export const ATTR_TRANSACTIONAL = 0x10;
export const ATTR_CONTROL = 0x20;

const TWO32 = 0x1_0000_0000;

// --- fixed-width helpers (manual byte writes beat DataView construction per batch) -----------

function writeInt32(b: Uint8Array, i: number, v: number): void {
  b[i] = v >>> 24;
  b[i + 1] = v >>> 16;
  b[i + 2] = v >>> 8;
  b[i + 3] = v;
}

function writeInt64(b: Uint8Array, i: number, v: number): void {
  const hi = Math.floor(v / TWO32);
  writeInt32(b, i, hi | 0);
  writeInt32(b, i + 4, (v - hi * TWO32) >>> 0);
}

const readInt32 = (b: Uint8Array, i: number): number =>
  (b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!;

const readInt16 = (b: Uint8Array, i: number): number => ((b[i]! << 24) >> 16) | b[i + 1]!;

const readInt64 = (b: Uint8Array, i: number): number => readInt32(b, i) * TWO32 + (readInt32(b, i + 4) >>> 0);

// --- encoding -----------------------------------------------------------------------------

// Scratch space reused across calls so sizing a batch allocates nothing per record.
let recordSizes = new Int32Array(1024);
let keyLens = new Int32Array(1024);
const EMPTY_HEADERS: RecordHeader[] = [];
const textEncoder = new TextEncoder();

/** UTF-8 byte length without encoding; header keys are short, so this beats Buffer.byteLength. */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 2 UTF-16 units become 4 bytes
      i++;
    } else n += 2; // includes lone surrogates, which encode as U+FFFD (3 bytes)
  }
  return n;
}

function writeUtf8(b: Uint8Array, pos: number, s: string, len: number): number {
  if (len === s.length) {
    for (let i = 0; i < len; i++) b[pos + i] = s.charCodeAt(i);
  } else {
    textEncoder.encodeInto(s, b.subarray(pos, pos + len));
  }
  return pos + len;
}

/** Writes a key's or value's bytes (its text as UTF-8) at `pos`; the end. */
function writeBytes(buf: Buffer, pos: number, b: RecordBytes): number {
  if (b instanceof Uint8Array) {
    buf.set(b, pos);
    return pos + b.length;
  }
  return b.writeInto(buf, pos);
}

/** Encodes `records` as one RecordBatch v2. Throws on an empty list. */
export function encodeRecordBatch(records: RecordInput[], opts: EncodeOptions = {}): Uint8Array {
  const n = records.length;
  if (n === 0) throw new SamsaError('INVALID_REQUEST', 'a record batch needs at least one record');
  const now = opts.now ?? Date.now();
  const codec = opts.compression ?? Compression.None;

  if (recordSizes.length < n) {
    recordSizes = new Int32Array(n * 2);
  }

  // Pass 1: sizes, timestamps.
  const first = records[0]!;
  const baseTimestamp = first.timestamp ?? now;
  let maxTimestamp = baseTimestamp;
  let recordsSize = 0;
  let headerCountTotal = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    const ts = r.timestamp ?? now;
    if (ts > maxTimestamp) maxTimestamp = ts;
    const key = r.key;
    const value = r.value;
    const headers = r.headers ?? EMPTY_HEADERS;
    let body =
      1 +
      sizeOfVarlong(ts - baseTimestamp) +
      sizeOfVarint(i) +
      (key == null ? 1 : sizeOfVarint(key.length) + key.length) +
      (value == null ? 1 : sizeOfVarint(value.length) + value.length) +
      sizeOfVarint(headers.length);
    if (headers.length > 0) {
      if (keyLens.length < headerCountTotal + headers.length) {
        const grown = new Int32Array((headerCountTotal + headers.length) * 2);
        grown.set(keyLens);
        keyLens = grown;
      }
      for (let h = 0; h < headers.length; h++) {
        const hdr = headers[h]!;
        const kl = utf8Length(hdr.key);
        keyLens[headerCountTotal++] = kl;
        body += sizeOfVarint(kl) + kl + (hdr.value == null ? 1 : sizeOfVarint(hdr.value.length) + hdr.value.length);
      }
    }
    recordSizes[i] = body;
    recordsSize += sizeOfVarint(body) + body;
  }
  if (opts.logAppendTime) maxTimestamp = now;

  // Pass 2: write records straight into the batch when uncompressed, else into a scratch blob.
  // Not zero-filled: every byte is written below (checked at the end), and a Buffer over it
  // lets text be written in place (Utf8).
  const direct = codec === Compression.None;
  const recBuf = Buffer.allocUnsafeSlow(direct ? BATCH_HEADER_SIZE + recordsSize : recordsSize);
  let pos = direct ? BATCH_HEADER_SIZE : 0;
  let hi = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    pos = writeVarint(recBuf, pos, recordSizes[i]!);
    recBuf[pos++] = 0; // record attributes: unused
    pos = writeVarlong(recBuf, pos, (r.timestamp ?? now) - baseTimestamp);
    pos = writeVarint(recBuf, pos, i);
    const key = r.key;
    if (key == null) recBuf[pos++] = 1; // zigzag(-1)
    else pos = writeBytes(recBuf, writeVarint(recBuf, pos, key.length), key);
    const value = r.value;
    if (value == null) recBuf[pos++] = 1;
    else pos = writeBytes(recBuf, writeVarint(recBuf, pos, value.length), value);
    const headers = r.headers ?? EMPTY_HEADERS;
    pos = writeVarint(recBuf, pos, headers.length);
    for (let h = 0; h < headers.length; h++) {
      const hdr = headers[h]!;
      const kl = keyLens[hi++]!;
      pos = writeVarint(recBuf, pos, kl);
      pos = writeUtf8(recBuf, pos, hdr.key, kl);
      const hv = hdr.value;
      if (hv == null) recBuf[pos++] = 1;
      else {
        pos = writeVarint(recBuf, pos, hv.length);
        recBuf.set(hv, pos);
        pos += hv.length;
      }
    }
  }

  // The sizes of pass 1 must be what pass 2 wrote: a shortfall would leave stale memory in the batch.
  if (pos !== recBuf.length) throw new Error(`encodeRecordBatch: wrote ${pos} of ${recBuf.length} bytes`);
  let out: Uint8Array;
  if (direct) {
    // A plain Uint8Array over the same memory, as callers have always had.
    out = new Uint8Array(recBuf.buffer, recBuf.byteOffset, recBuf.length);
  } else {
    const blob = compress(codec, recBuf);
    out = new Uint8Array(BATCH_HEADER_SIZE + blob.length);
    out.set(blob, BATCH_HEADER_SIZE);
  }

  let attributes = codec & ATTR_CODEC_MASK;
  if (opts.logAppendTime) attributes |= ATTR_LOG_APPEND_TIME;
  if (opts.transactional) attributes |= ATTR_TRANSACTIONAL;

  writeInt64(out, 0, opts.baseOffset ?? 0);
  writeInt32(out, 8, out.length - LOG_OVERHEAD);
  writeInt32(out, 12, opts.partitionLeaderEpoch ?? -1);
  out[MAGIC_OFFSET] = MAGIC;
  out[21] = attributes >>> 8;
  out[22] = attributes;
  writeInt32(out, 23, n - 1);
  writeInt64(out, 27, baseTimestamp);
  writeInt64(out, 35, maxTimestamp);
  writeInt64(out, 43, opts.producerId ?? -1);
  const epoch = opts.producerEpoch ?? -1;
  out[51] = epoch >>> 8;
  out[52] = epoch;
  writeInt32(out, 53, opts.baseSequence ?? -1);
  writeInt32(out, 57, n);
  writeInt32(out, CRC_OFFSET, crc32c(out, ATTRIBUTES_OFFSET, out.length));
  return out;
}

// --- header and framing ---------------------------------------------------------------------

/** Decodes the fixed 61-byte header at `pos`. Checks only length and magic, not the CRC. */
export function readBatchHeader(buf: Uint8Array, pos = 0): BatchHeader {
  if (buf.length - pos < BATCH_HEADER_SIZE) {
    throw new CorruptRecordError(
      `batch at byte ${pos}: ${Math.max(0, buf.length - pos)} bytes left, a batch header needs ${BATCH_HEADER_SIZE}`,
      { position: pos },
    );
  }
  const magic = (buf[pos + MAGIC_OFFSET]! << 24) >> 24;
  if (magic !== MAGIC) {
    throw new CorruptRecordError(`batch at byte ${pos}: magic ${magic}, only RecordBatch v2 (magic 2) is supported`, {
      position: pos,
    });
  }
  return {
    baseOffset: readInt64(buf, pos),
    batchLength: readInt32(buf, pos + 8),
    partitionLeaderEpoch: readInt32(buf, pos + 12),
    magic,
    crc: readInt32(buf, pos + CRC_OFFSET) >>> 0,
    attributes: readInt16(buf, pos + 21),
    lastOffsetDelta: readInt32(buf, pos + 23),
    baseTimestamp: readInt64(buf, pos + 27),
    maxTimestamp: readInt64(buf, pos + 35),
    producerId: readInt64(buf, pos + 43),
    producerEpoch: readInt16(buf, pos + 51),
    baseSequence: readInt32(buf, pos + 53),
    recordCount: readInt32(buf, pos + 57),
  };
}

/**
 * Validates the framing of the batch at `pos` (length, magic, record count, optionally CRC)
 * and returns its header and end. `label` names the batch in error messages.
 */
function frameBatch(buf: Uint8Array, pos: number, label: string, verifyCrc: boolean): { header: BatchHeader; end: number } {
  const left = buf.length - pos;
  const details = { position: pos };
  if (left < LOG_OVERHEAD) {
    throw new CorruptRecordError(`${label}: truncated, ${left} bytes left where a batch starts`, details);
  }
  const batchLength = readInt32(buf, pos + 8);
  if (batchLength < MIN_BATCH_LENGTH) {
    throw new CorruptRecordError(`${label}: batchLength ${batchLength} is below the minimum ${MIN_BATCH_LENGTH}`, details);
  }
  const end = pos + LOG_OVERHEAD + batchLength;
  if (end > buf.length) {
    throw new CorruptRecordError(
      `${label}: truncated, batchLength ${batchLength} needs ${LOG_OVERHEAD + batchLength} bytes but ${left} remain`,
      details,
    );
  }
  const magic = (buf[pos + MAGIC_OFFSET]! << 24) >> 24;
  if (magic !== MAGIC) {
    throw new CorruptRecordError(`${label}: magic ${magic}, only RecordBatch v2 (magic 2) is supported`, details);
  }
  const header = readBatchHeader(buf, pos);
  if (header.recordCount < 0) {
    throw new CorruptRecordError(`${label}: negative recordCount ${header.recordCount}`, details);
  }
  if (verifyCrc) {
    const actual = crc32c(buf, pos + ATTRIBUTES_OFFSET, end);
    if (actual !== header.crc) {
      throw new CorruptRecordError(
        `${label}: CRC mismatch, header says 0x${header.crc.toString(16).padStart(8, '0')} but the bytes give 0x${actual.toString(16).padStart(8, '0')}`,
        details,
      );
    }
  }
  return { header, end };
}

/** Locates and validates every batch in a concatenation of batches, without decompressing. */
export function splitBatches(buf: Uint8Array, opts: { verifyCrc?: boolean } = {}): BatchSlice[] {
  const verifyCrc = opts.verifyCrc ?? true;
  const out: BatchSlice[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const { header, end } = frameBatch(buf, pos, `batch ${out.length} at byte ${pos}`, verifyCrc);
    out.push({ header, start: pos, end });
    pos = end;
  }
  return out;
}

// --- decoding -------------------------------------------------------------------------------

const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

function readHeaderKey(b: Uint8Array, start: number, end: number): string {
  // Header keys are almost always short ASCII; fromCharCode beats TextDecoder's call overhead.
  if (end - start <= 32) {
    let ascii = true;
    for (let i = start; i < end; i++) if (b[i]! >= 0x80) { ascii = false; break; }
    if (ascii) return String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);
  }
  return utf8Decoder.decode(b.subarray(start, end));
}

function decodeAt(
  buf: Uint8Array,
  pos: number,
  label: string,
  verifyCrc: boolean,
): { header: BatchHeader; records: DecodedRecord[]; end: number } {
  const { header, end } = frameBatch(buf, pos, label, verifyCrc);
  checkRecordCount(header.recordCount, label);
  const codec = header.attributes & ATTR_CODEC_MASK;
  if (codec > Compression.Zstd) {
    throw new CorruptRecordError(`${label}: unknown compression codec ${codec}`, { position: pos });
  }
  let data = buf;
  let start = pos + BATCH_HEADER_SIZE;
  let stop = end;
  if (codec !== Compression.None) {
    try {
      data = decompress(codec, buf.subarray(start, end));
    } catch (err) {
      if (overDecompressionLimit(err)) {
        throw new SamsaError(
          'RECORD_TOO_LARGE',
          `${label}: ${Compression[codec]} records decompress to more than ${MAX_DECOMPRESSED_BYTES} bytes, the limit per batch (max_decompressed_bytes)`,
          { max_decompressed_bytes: MAX_DECOMPRESSED_BYTES },
        );
      }
      throw new CorruptRecordError(
        `${label}: cannot decompress ${Compression[codec]} records: ${(err as Error).message}`,
        { position: pos },
      );
    }
    start = 0;
    stop = data.length;
  }

  const r = new Reader(data, start, stop, label);
  const logAppend = (header.attributes & ATTR_LOG_APPEND_TIME) !== 0;
  const { baseOffset, baseTimestamp, maxTimestamp, recordCount } = header;
  const records: DecodedRecord[] = [];
  let batchHeaders = 0;
  for (let i = 0; i < recordCount; i++) {
    if (r.pos >= stop) r.fail(`only ${i} of ${recordCount} records present`);
    const len = r.readVarint();
    if (len <= 0 || len > stop - r.pos) r.fail(`record ${i} has invalid length ${len}`);
    const recEnd = r.pos + len;
    r.end = recEnd; // nothing in a record may read past its declared length
    r.readInt8(); // record attributes: unused
    const tsDelta = r.readVarlong();
    const offsetDelta = r.readVarint();
    const key = r.readBytes('record key');
    const value = r.readBytes('record value');
    const headerCount = r.readVarint();
    if (headerCount < 0) r.fail(`record ${i} has negative header count ${headerCount}`);
    // Counted before the header array is allocated: the count is what costs memory.
    batchHeaders += headerCount;
    if (headerCount > MAX_HEADERS_PER_RECORD || batchHeaders > MAX_HEADERS_PER_BATCH) {
      throw tooMany(
        label,
        headerCount > MAX_HEADERS_PER_RECORD
          ? `record ${i} has ${headerCount} headers; the limit is ${MAX_HEADERS_PER_RECORD} per record`
          : `its records carry more than ${MAX_HEADERS_PER_BATCH} headers, the limit per batch`,
        headerCount > MAX_HEADERS_PER_RECORD ? { max_headers_per_record: MAX_HEADERS_PER_RECORD } : { max_headers_per_batch: MAX_HEADERS_PER_BATCH },
      );
    }
    let headers: RecordHeader[];
    if (headerCount === 0) headers = [];
    else {
      // Each header takes at least 2 bytes, which bounds the loop for hostile counts.
      if (headerCount > (recEnd - r.pos) >> 1) r.fail(`record ${i} claims ${headerCount} headers`);
      headers = new Array<RecordHeader>(headerCount);
      for (let h = 0; h < headerCount; h++) {
        const kl = r.readVarint();
        if (kl < 0 || kl > recEnd - r.pos) r.fail(`record ${i} header ${h} has invalid key length ${kl}`);
        const ks = r.pos;
        r.pos += kl;
        headers[h] = { key: readHeaderKey(data, ks, ks + kl), value: r.readBytes('header value') };
      }
    }
    if (r.pos !== recEnd) r.fail(`record ${i} is ${len} bytes but its fields take ${r.pos - (recEnd - len)}`);
    r.end = stop;
    records.push({
      offset: baseOffset + offsetDelta,
      timestamp: logAppend ? maxTimestamp : baseTimestamp + tsDelta,
      key,
      value,
      headers,
    });
  }
  if (r.pos !== stop) r.fail(`${stop - r.pos} bytes left after ${recordCount} records`);
  return { header, records, end };
}

/** The codecs' ways of saying "this would exceed MAX_DECOMPRESSED_BYTES" (not corrupt, just too big). */
function overDecompressionLimit(err: unknown): boolean {
  if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return true; // zlib / native zstd maxOutputLength
  const m = (err as Error).message ?? '';
  return /^lz4 output exceeds \d+ bytes|^zstd output exceeds|^zstd frame declares \d+ bytes, over/.test(m);
}

function tooMany(label: string, what: string, limit: Record<string, number>): SamsaError {
  return new SamsaError('RECORD_TOO_LARGE', `${label}: ${what}`, limit);
}

/**
 * Refuses a batch claiming more records than MAX_RECORDS_PER_BATCH, from its header alone
 * (before any decompression), so a lying recordCount costs nothing.
 */
export function checkRecordCount(recordCount: number, label: string): void {
  if (recordCount > MAX_RECORDS_PER_BATCH) {
    throw tooMany(label, `recordCount ${recordCount} exceeds the limit of ${MAX_RECORDS_PER_BATCH} records per batch`, {
      max_records_per_batch: MAX_RECORDS_PER_BATCH,
    });
  }
}

/**
 * Decodes the batch at buf[0], decompressing its records. Keys, values and header values are
 * views into `buf` (or into the decompressed buffer), not copies.
 */
export function decodeRecordBatch(
  buf: Uint8Array,
  opts: { verifyCrc?: boolean } = {},
): { header: BatchHeader; records: DecodedRecord[] } {
  const { header, records } = decodeAt(buf, 0, 'batch at byte 0', opts.verifyCrc ?? true);
  return { header, records };
}

/** Decodes every batch in a concatenation of batches. */
export function decodeBatches(
  buf: Uint8Array,
  opts: { verifyCrc?: boolean } = {},
): Array<{ header: BatchHeader; records: DecodedRecord[] }> {
  const verifyCrc = opts.verifyCrc ?? true;
  const out: Array<{ header: BatchHeader; records: DecodedRecord[] }> = [];
  let pos = 0;
  while (pos < buf.length) {
    const { header, records, end } = decodeAt(buf, pos, `batch ${out.length} at byte ${pos}`, verifyCrc);
    out.push({ header, records });
    pos = end;
  }
  return out;
}

// --- in-place patches ----------------------------------------------------------------------------

function checkPatchable(buf: Uint8Array, batchStart: number, what: string): void {
  if (batchStart < 0 || buf.length - batchStart < BATCH_HEADER_SIZE) {
    throw new RangeError(`${what}: no batch header at byte ${batchStart} of a ${buf.length}-byte buffer`);
  }
}

/** Rewrites baseOffset in place; record offsets are deltas, so they all move with it. */
export function setBaseOffset(buf: Uint8Array, batchStart: number, baseOffset: number): void {
  checkPatchable(buf, batchStart, 'setBaseOffset');
  writeInt64(buf, batchStart, baseOffset);
}

export function setPartitionLeaderEpoch(buf: Uint8Array, batchStart: number, epoch: number): void {
  checkPatchable(buf, batchStart, 'setPartitionLeaderEpoch');
  writeInt32(buf, batchStart + 12, epoch);
}

/**
 * Rewrites maxTimestamp as a CreateTime batch's (timestampType bit cleared), as Kafka's
 * DefaultRecordBatch.setMaxTimestamp does. Unlike the two patches above these fields lie inside
 * the CRC region, so the CRC is recomputed over the batch (`batchStart` .. its declared end).
 */
export function setCreateTimeMaxTimestamp(buf: Uint8Array, batchStart: number, maxTimestamp: number): void {
  checkPatchable(buf, batchStart, 'setCreateTimeMaxTimestamp');
  const end = batchStart + LOG_OVERHEAD + readInt32(buf, batchStart + 8);
  if (end > buf.length) throw new RangeError(`setCreateTimeMaxTimestamp: batch at byte ${batchStart} runs past the buffer`);
  const attributes = readInt16(buf, batchStart + ATTRIBUTES_OFFSET) & ~ATTR_LOG_APPEND_TIME;
  buf[batchStart + ATTRIBUTES_OFFSET] = attributes >>> 8;
  buf[batchStart + ATTRIBUTES_OFFSET + 1] = attributes;
  writeInt64(buf, batchStart + 35, maxTimestamp);
  writeInt32(buf, batchStart + CRC_OFFSET, crc32c(buf, batchStart + ATTRIBUTES_OFFSET, end));
}
