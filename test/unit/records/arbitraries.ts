// fast-check generators for records, shared by the records suites.

import fc from 'fast-check';
import type { RecordHeader, RecordInput } from '../../../lib/records/index.js';

export const bytes = (maxLength = 64): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength });
export const nullableBytes = (maxLength = 64): fc.Arbitrary<Uint8Array | null> =>
  fc.option(bytes(maxLength), { nil: null, freq: 4 });

const utf8 = new TextEncoder();
/** Keys and values that are text, including non-ASCII and astral characters. */
export const unicodeBytes: fc.Arbitrary<Uint8Array> = fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => utf8.encode(s));

export const header: fc.Arbitrary<RecordHeader> = fc.record({
  key: fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constant('')),
  value: nullableBytes(24),
});

/** Timestamps around "now", plus far past and far future ones so deltas exceed 32 bits. */
export const timestamp: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
  fc.integer({ min: 0, max: 2 ** 45 }),
);

export const record: fc.Arbitrary<RecordInput> = fc.record(
  {
    key: fc.oneof(nullableBytes(), unicodeBytes, fc.constant(new Uint8Array(0))),
    value: fc.oneof(nullableBytes(200), unicodeBytes),
    headers: fc.array(header, { maxLength: 4 }),
    timestamp,
  },
  { requiredKeys: ['value'] },
);

export const records: fc.Arbitrary<RecordInput[]> = fc.array(record, { minLength: 1, maxLength: 12 });
