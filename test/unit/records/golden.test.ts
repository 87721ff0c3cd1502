// Golden bytes: a fixed batch per codec (see test/fixtures/records/generate.ts for how each was
// made). Encoding must reproduce them exactly where the output is deterministic, and decoding
// must yield the fixed records.

import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Compression,
  codecsReady,
  crc32c,
  decodeRecordBatch,
  encodeRecordBatch,
  readBatchHeader,
  splitBatches,
} from '../../../lib/records/index.js';
import { GOLDEN_OPTIONS, GOLDEN_RECORDS } from '../../fixtures/records/golden.js';
import { fzstdDecompress, lz4jsDecompress, xerialDeframe } from './independent-codecs.js';
import { gunzipSync } from 'node:zlib';

const fixture = (name: string): Uint8Array =>
  new Uint8Array(Buffer.from(readFileSync(new URL(`../../fixtures/records/batch-${name}.hex`, import.meta.url), 'utf8').replace(/\s+/g, ''), 'hex'));

const expected = GOLDEN_RECORDS.map((r, i) => ({
  offset: 1000 + i,
  timestamp: r.timestamp,
  key: r.key,
  value: r.value,
  headers: r.headers,
}));

beforeAll(() => codecsReady());

describe('golden RecordBatch fixtures', () => {
  const cases: Array<[string, Compression, boolean]> = [
    ['none', Compression.None, true],
    ['gzip', Compression.Gzip, false], // zlib's output may change between Node versions
    ['snappy', Compression.Snappy, true],
    ['lz4', Compression.Lz4, true],
    ['zstd', Compression.Zstd, false], // native zstd (Node >= 22.15) and the WASM build may differ
  ];

  for (const [name, codec, deterministic] of cases) {
    it(`${name}: decodes to the fixed records and header fields`, () => {
      const bytes = fixture(name);
      const [slice] = splitBatches(bytes);
      expect(slice).toMatchObject({ start: 0, end: bytes.length });
      const { header, records } = decodeRecordBatch(bytes);
      expect(header).toEqual({
        baseOffset: 1000,
        batchLength: bytes.length - 12,
        partitionLeaderEpoch: 7,
        magic: 2,
        crc: crc32c(bytes, 21),
        attributes: codec,
        lastOffsetDelta: 3,
        baseTimestamp: 1_700_000_000_000,
        maxTimestamp: 1_700_000_000_250,
        producerId: 123_456_789_012,
        producerEpoch: 3,
        baseSequence: 17,
        recordCount: 4,
      });
      expect(records).toEqual(expected);
    });

    if (deterministic) {
      it(`${name}: encoding the fixed records reproduces the fixture byte for byte`, () => {
        const ours = encodeRecordBatch(GOLDEN_RECORDS, { ...GOLDEN_OPTIONS, compression: codec });
        expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(fixture(name)).toString('hex'));
      });
    }
  }

  it('every compressed fixture carries the same records blob as the uncompressed one', () => {
    const plain = fixture('none').subarray(61);
    const blob = (name: string) => fixture(name).subarray(61);
    expect(gunzipSync(blob('gzip'))).toEqual(Buffer.from(plain));
    expect(Buffer.from(xerialDeframe(blob('snappy')))).toEqual(Buffer.from(plain));
    expect(Buffer.from(lz4jsDecompress(blob('lz4')))).toEqual(Buffer.from(plain));
    expect(Buffer.from(fzstdDecompress(blob('zstd')))).toEqual(Buffer.from(plain));
  });

  it('readBatchHeader reads the fixed header without touching the records', () => {
    const bytes = fixture('none').subarray(0, 61);
    expect(readBatchHeader(bytes).recordCount).toBe(4);
  });
});
