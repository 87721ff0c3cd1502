// Property tests: whatever a producer sends comes back unchanged, for every codec.

import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Compression,
  codecsReady,
  crc32c,
  decodeBatches,
  decodeRecordBatch,
  encodeRecordBatch,
  readBatchHeader,
  setBaseOffset,
  setCreateTimeMaxTimestamp,
  setPartitionLeaderEpoch,
  splitBatches,
  type RecordInput,
} from '../../../lib/records/index.js';
import { SamsaError } from '../../../lib/errors.js';
import { records } from './arbitraries.js';

const CODECS = [Compression.None, Compression.Gzip, Compression.Snappy, Compression.Lz4, Compression.Zstd];
const codec = fc.constantFrom(...CODECS);
const NOW = 1_700_000_000_000;

const expectedOf = (recs: RecordInput[], baseOffset: number) =>
  recs.map((r, i) => ({
    offset: baseOffset + i,
    timestamp: r.timestamp ?? NOW,
    key: r.key ?? null,
    value: r.value,
    headers: r.headers ?? [],
  }));

beforeAll(() => codecsReady());

describe('encode -> decode round trips', () => {
  it('is the identity for random records under every codec', () => {
    fc.assert(
      fc.property(records, codec, fc.integer({ min: 0, max: 2 ** 50 }), (recs, c, baseOffset) => {
        const bytes = encodeRecordBatch(recs, { compression: c, baseOffset, now: NOW });
        const { header, records: out } = decodeRecordBatch(bytes);
        expect(out).toEqual(expectedOf(recs, baseOffset));
        const ts = recs.map((r) => r.timestamp ?? NOW);
        expect(header.baseTimestamp).toBe(ts[0]);
        expect(header.maxTimestamp).toBe(Math.max(...ts));
        expect(header.lastOffsetDelta).toBe(recs.length - 1);
        expect(header.recordCount).toBe(recs.length);
        expect(header.attributes).toBe(c);
      }),
      { numRuns: 300 },
    );
  });

  it('splitBatches finds exactly one batch, spanning the buffer, with a valid CRC', () => {
    fc.assert(
      fc.property(records, codec, (recs, c) => {
        const bytes = encodeRecordBatch(recs, { compression: c, now: NOW });
        const slices = splitBatches(bytes);
        expect(slices).toHaveLength(1);
        expect(slices[0]).toMatchObject({ start: 0, end: bytes.length });
        expect(slices[0]!.header.crc).toBe(crc32c(bytes, 21));
        expect(slices[0]!.header.batchLength).toBe(bytes.length - 12);
      }),
    );
  });

  it('concatenated batches split and decode back in order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(records, codec), { minLength: 0, maxLength: 5 }), (batches) => {
        let next = 0;
        const encoded = batches.map(([recs, c]) => {
          const b = encodeRecordBatch(recs, { compression: c, baseOffset: next, now: NOW });
          next += recs.length;
          return b;
        });
        const all = new Uint8Array(Buffer.concat(encoded));
        const slices = splitBatches(all);
        expect(slices.map((s) => s.end - s.start)).toEqual(encoded.map((b) => b.length));
        const decoded = decodeBatches(all);
        let offset = 0;
        decoded.forEach((d, i) => {
          expect(d.records).toEqual(expectedOf(batches[i]![0], offset));
          offset += d.records.length;
        });
      }),
      { numRuns: 100 },
    );
  });

  it('an empty buffer holds no batches', () => {
    expect(splitBatches(new Uint8Array(0))).toEqual([]);
    expect(decodeBatches(new Uint8Array(0))).toEqual([]);
  });

  it('refuses to encode an empty batch', () => {
    expect(() => encodeRecordBatch([])).toThrow(SamsaError);
  });

  it('records without a timestamp take `now`', () => {
    const { records: out } = decodeRecordBatch(encodeRecordBatch([{ value: null }, { value: null, timestamp: 5 }], { now: 99 }));
    expect(out.map((r) => r.timestamp)).toEqual([99, 5]);
  });

  it('defaults the producer fields to -1 like a non-idempotent Kafka producer', () => {
    const h = readBatchHeader(encodeRecordBatch([{ value: null }], { now: 1 }));
    expect(h).toMatchObject({ baseOffset: 0, partitionLeaderEpoch: -1, producerId: -1, producerEpoch: -1, baseSequence: -1 });
  });

  it('sets the transactional and LogAppendTime attribute bits', () => {
    const h = readBatchHeader(encodeRecordBatch([{ value: null }], { transactional: true, compression: Compression.Lz4 }));
    expect(h.attributes).toBe(0x10 | 3);
  });

  it('under LogAppendTime every record reports the batch maxTimestamp, as Kafka does', () => {
    const bytes = encodeRecordBatch([{ value: null, timestamp: 10 }, { value: null, timestamp: 20 }], { logAppendTime: true, now: 500 });
    const { header, records: out } = decodeRecordBatch(bytes);
    expect(header.attributes & 0x08).toBe(0x08);
    expect(header.maxTimestamp).toBe(500);
    expect(out.map((r) => r.timestamp)).toEqual([500, 500]);
  });
});

describe('in-place patches', () => {
  it('setBaseOffset keeps the CRC valid and moves every record offset', () => {
    fc.assert(
      fc.property(records, codec, fc.integer({ min: 0, max: 2 ** 52 }), (recs, c, base) => {
        const bytes = encodeRecordBatch(recs, { compression: c, now: NOW });
        setBaseOffset(bytes, 0, base);
        expect(splitBatches(bytes)).toHaveLength(1); // CRC still verifies
        expect(decodeRecordBatch(bytes).records.map((r) => r.offset)).toEqual(recs.map((_, i) => base + i));
      }),
      { numRuns: 100 },
    );
  });

  it('patches the batch at batchStart inside a larger buffer, and only that one', () => {
    const a = encodeRecordBatch([{ value: null }], { now: 1 });
    const b = encodeRecordBatch([{ value: null }, { value: null }], { now: 1 });
    const all = new Uint8Array(Buffer.concat([a, b]));
    setBaseOffset(all, a.length, 41);
    setPartitionLeaderEpoch(all, a.length, 9);
    const [first, second] = decodeBatches(all);
    expect(first!.header).toMatchObject({ baseOffset: 0, partitionLeaderEpoch: -1 });
    expect(second!.header).toMatchObject({ baseOffset: 41, partitionLeaderEpoch: 9 });
    expect(second!.records.map((r) => r.offset)).toEqual([41, 42]);
  });

  it('setPartitionLeaderEpoch keeps the CRC valid', () => {
    const bytes = encodeRecordBatch([{ value: new Uint8Array([1]) }], { compression: Compression.Gzip });
    setPartitionLeaderEpoch(bytes, 0, 2 ** 31 - 1);
    expect(splitBatches(bytes)[0]!.header.partitionLeaderEpoch).toBe(2 ** 31 - 1);
  });

  it('setCreateTimeMaxTimestamp rewrites maxTimestamp inside the CRC region, clears LogAppendTime and recomputes the CRC', () => {
    fc.assert(
      fc.property(records, codec, fc.boolean(), fc.integer({ min: -1, max: 2 ** 52 }), (recs, c, logAppendTime, ts) => {
        const one = encodeRecordBatch(recs, { compression: c, now: NOW, logAppendTime });
        const other = encodeRecordBatch([{ value: null }], { now: 1 });
        const all = new Uint8Array(Buffer.concat([other, one]));
        const created = decodeRecordBatch(encodeRecordBatch(recs, { compression: c, now: NOW })).records.map((r) => r.timestamp);
        setCreateTimeMaxTimestamp(all, other.length, ts);
        const [first, second] = splitBatches(all, { verifyCrc: true }); // both CRCs verify
        expect(Buffer.compare(all.subarray(0, other.length), other)).toBe(0);
        expect(second!.header.maxTimestamp).toBe(ts);
        expect(second!.header.attributes & 0x08).toBe(0);
        expect(first!.header.maxTimestamp).toBe(1);
        // CreateTime again: every record reads its own timestamp.
        expect(decodeRecordBatch(all.subarray(second!.start, second!.end)).records.map((r) => r.timestamp)).toEqual(created);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses to patch where no batch header fits', () => {
    expect(() => setBaseOffset(new Uint8Array(60), 0, 1)).toThrow(RangeError);
    expect(() => setCreateTimeMaxTimestamp(new Uint8Array(60), 0, 1)).toThrow(RangeError);
  });
});
