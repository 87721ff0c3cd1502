// Hostile and damaged input: every failure is a CorruptRecordError that says what and where,
// never a RangeError, a TypeError or a hang.

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
  splitBatches,
} from '../../../lib/records/index.js';
import { CorruptRecordError, SamsaError } from '../../../lib/errors.js';
import { records } from './arbitraries.js';

const CODECS = [Compression.None, Compression.Gzip, Compression.Snappy, Compression.Lz4, Compression.Zstd];
const utf8 = (s: string) => new TextEncoder().encode(s);

beforeAll(() => codecsReady());

const sample = (compression: Compression) =>
  encodeRecordBatch(
    [
      { key: utf8('k1'), value: utf8('v'.repeat(100)), headers: [{ key: 'h', value: utf8('x') }], timestamp: 1000 },
      { key: null, value: null, timestamp: 2000 },
    ],
    { compression, producerId: 5, producerEpoch: 1, baseSequence: 0 },
  );

/** Re-seals a batch after editing the CRC-covered region, so only the edit is wrong. */
function reseal(b: Uint8Array, start = 0): Uint8Array {
  const end = start + 12 + new DataView(b.buffer, b.byteOffset).getInt32(start + 8);
  new DataView(b.buffer, b.byteOffset).setUint32(start + 17, crc32c(b, start + 21, end));
  return b;
}

/** Builds a sealed batch header around an arbitrary records region. */
function batchAround(recordsRegion: Uint8Array, recordCount: number, attributes = 0): Uint8Array {
  const b = new Uint8Array(61 + recordsRegion.length);
  const dv = new DataView(b.buffer);
  dv.setInt32(8, b.length - 12);
  dv.setInt32(12, -1);
  b[16] = 2;
  dv.setInt16(21, attributes);
  dv.setInt32(23, Math.max(0, recordCount - 1));
  dv.setInt32(57, recordCount);
  b.set(recordsRegion, 61);
  return reseal(b);
}

function expectCorrupt(fn: () => unknown, message?: RegExp): CorruptRecordError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CorruptRecordError);
    if (message) expect((err as Error).message).toMatch(message);
    return err as CorruptRecordError;
  }
  throw new Error('expected a CorruptRecordError, but nothing was thrown');
}

describe('corrupted batches', () => {
  for (const codec of CODECS) {
    it(`${Compression[codec]}: a flipped byte anywhere in the CRC-covered region is caught`, () => {
      const good = sample(codec);
      for (let i = 21; i < good.length; i++) {
        const bad = good.slice();
        bad[i]! ^= 0x5a;
        expectCorrupt(() => splitBatches(bad), /CRC mismatch/);
        expectCorrupt(() => decodeRecordBatch(bad), /CRC mismatch/);
      }
    });

    it(`${Compression[codec]}: every truncation is caught`, () => {
      const good = sample(codec);
      for (let len = 1; len < good.length; len++) {
        const cut = good.slice(0, len);
        expectCorrupt(() => splitBatches(cut), /truncated|batchLength/);
        expectCorrupt(() => decodeRecordBatch(cut));
        expectCorrupt(() => decodeBatches(cut));
      }
    });
  }

  it('a flipped CRC field itself is caught', () => {
    const bad = sample(Compression.None);
    bad[18]! ^= 1;
    expectCorrupt(() => splitBatches(bad), /CRC mismatch/);
  });

  it('verifyCrc: false skips only the CRC check', () => {
    const bad = sample(Compression.None);
    bad[bad.indexOf(0x76, 61) + 10]! ^= 1; // inside the first record's value
    expect(splitBatches(bad, { verifyCrc: false })).toHaveLength(1);
    expect(decodeRecordBatch(bad, { verifyCrc: false }).records).toHaveLength(2);
  });

  it('magic other than 2 is rejected by readBatchHeader, splitBatches and decode', () => {
    for (const magic of [0, 1, 3, 0xff]) {
      const bad = sample(Compression.None);
      bad[16] = magic;
      expectCorrupt(() => readBatchHeader(bad), /magic/);
      expectCorrupt(() => splitBatches(bad), /magic/);
      expectCorrupt(() => decodeRecordBatch(bad), /magic/);
    }
  });

  it('readBatchHeader needs 61 bytes', () => {
    expectCorrupt(() => readBatchHeader(new Uint8Array(60)), /61/);
    expectCorrupt(() => readBatchHeader(sample(Compression.None), 10));
  });

  it('batchLength below the fixed header and negative record counts are rejected', () => {
    const bad = sample(Compression.None);
    new DataView(bad.buffer).setInt32(8, 48);
    expectCorrupt(() => splitBatches(bad), /batchLength 48/);
    const neg = reseal(Object.assign(sample(Compression.None)));
    new DataView(neg.buffer).setInt32(57, -1);
    reseal(neg);
    expectCorrupt(() => splitBatches(neg), /negative recordCount/);
  });

  it('names the failing batch index and byte position in a concatenation', () => {
    const a = sample(Compression.None);
    const b = sample(Compression.Gzip);
    const all = new Uint8Array(Buffer.concat([a, b]));
    all[a.length + 40]! ^= 1;
    const err = expectCorrupt(() => splitBatches(all), new RegExp(`batch 1 at byte ${a.length}`));
    expect(err.code).toBe('CORRUPT_MESSAGE');
    expect(err.details).toMatchObject({ position: a.length });
    expectCorrupt(() => splitBatches(all.subarray(0, all.length - 1)), new RegExp(`batch 1 at byte ${a.length}: truncated`));
  });

  it('a record count that disagrees with the records is caught', () => {
    for (const codec of CODECS) {
      for (const count of [1, 3, 1000]) {
        const bad = sample(codec);
        new DataView(bad.buffer).setInt32(57, count);
        reseal(bad);
        expect(splitBatches(bad)).toHaveLength(1); // framing is fine: splitBatches does not decompress
        expectCorrupt(() => decodeRecordBatch(bad), /records present|bytes left/);
      }
    }
  });

  it('garbage varints are caught', () => {
    // 5-byte varint with too many bits, an unterminated varint, a negative record length,
    // a key longer than the record, and a record length past the end.
    const regions = [
      [0xff, 0xff, 0xff, 0xff, 0x7f],
      [0x80, 0x80, 0x80],
      [0x01],
      [0x0a, 0x00, 0x00, 0x00, 0x7e, 0x00, 0x00],
      [0x7e, 0x00],
    ];
    for (const r of regions) expectCorrupt(() => decodeRecordBatch(batchAround(Uint8Array.from(r), 1)));
    // A 10-byte varlong timestamp delta with an 11th continuation byte.
    const longTs = [0x20, 0x00, ...new Array(10).fill(0xff), 0x01, 0x00, 0x01, 0x01, 0x00];
    expectCorrupt(() => decodeRecordBatch(batchAround(Uint8Array.from(longTs), 1)), /varlong/);
  });

  it('an unknown compression codec or undecompressable records are caught', () => {
    expectCorrupt(() => decodeRecordBatch(batchAround(new Uint8Array(4), 1, 5)), /unknown compression codec 5/);
    for (const codec of [1, 2, 3, 4]) {
      expectCorrupt(() => decodeRecordBatch(batchAround(utf8('definitely not compressed'), 1, codec)), /cannot decompress/);
    }
  });

  it('a zstd frame declaring a huge window or content size is refused quickly, not allocated', () => {
    // Found by the mutation property below: one flipped header byte made fzstd zero-fill 512 MiB.
    const hugeWindow = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x98, 0x01, 0x00, 0x00, 0x41]);
    const hugeContent = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0x00, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 0x41]);
    for (const frame of [hugeWindow, hugeContent]) {
      const started = performance.now();
      // Well-formed but over the decompression limit: 413 RECORD_TOO_LARGE naming it, as gzip.
      expect(() => decodeRecordBatch(batchAround(frame, 1, Compression.Zstd))).toThrow(
        expect.objectContaining({ code: 'RECORD_TOO_LARGE', message: expect.stringMatching(/Zstd records decompress to more than \d+ bytes.*max_decompressed_bytes/) }),
      );
      expect(performance.now() - started).toBeLessThan(200);
    }
  });

  it('arbitrary bytes never throw anything but CorruptRecordError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (junk) => {
        for (const fn of [() => splitBatches(junk), () => decodeBatches(junk), () => decodeRecordBatch(junk)]) {
          try {
            fn();
          } catch (err) {
            expect(err).toBeInstanceOf(CorruptRecordError);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary records regions behind a valid header and CRC only ever raise CorruptRecordError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 4 }), (region, count, codec) => {
        try {
          decodeRecordBatch(batchAround(region, count, codec));
        } catch (err) {
          expect(err).toBeInstanceOf(CorruptRecordError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated valid batches (resealed) decode or raise CorruptRecordError or a decode-limit refusal, never hang', () => {
    fc.assert(
      fc.property(records, fc.constantFrom(...CODECS), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (recs, codec, flips) => {
        const b = encodeRecordBatch(recs, { compression: codec, now: 1 });
        for (const [at, x] of flips) b[21 + (at % (b.length - 21))]! ^= x;
        reseal(b);
        try {
          decodeRecordBatch(b);
        } catch (err) {
          // A flipped recordCount or header count may now exceed a decode limit (docs/limits.md).
          if (!(err instanceof SamsaError && err.code === 'RECORD_TOO_LARGE')) expect(err).toBeInstanceOf(CorruptRecordError);
        }
      }),
      { numRuns: 1500 },
    );
  });
});
