// Decode limits (docs/limits.md): hostile batches whose counts would turn a few KiB into
// millions of objects are refused from the counts on the wire, before the objects exist.
import zlib from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { SamsaError } from '../../../lib/errors';
import { prepareBinary } from '../../../lib/log/prepare';
import {
  codecsReady,
  Compression,
  compress,
  crc32c,
  decodeRecordBatch,
  MAX_HEADERS_PER_BATCH,
  MAX_HEADERS_PER_RECORD,
  MAX_RECORDS_PER_BATCH,
} from '../../../lib/records';
import { concatBytes } from '../../../lib/util/bytes';
import { zigzag } from '../../helpers/records';

/** One record with no key, no value and `headers` empty headers (2 bytes each on the wire). */
function recordBytes(offsetDelta: number, headers: number): Uint8Array {
  const body = [0, ...zigzag(0), ...zigzag(offsetDelta), 1, 1, ...zigzag(headers)];
  const len = body.length + headers * 2;
  const prefix = zigzag(len);
  const out = new Uint8Array(prefix.length + len);
  out.set(prefix, 0);
  out.set(body, prefix.length);
  for (let i = prefix.length + body.length; i < out.length; i += 2) {
    out[i] = 0; // key length 0
    out[i + 1] = 1; // value length -1 (null)
  }
  return out;
}

/** A RecordBatch v2 around already-encoded records, with a correct CRC; `recordCount` may lie. */
function batch(records: Uint8Array, recordCount: number, codec: Compression, lastOffsetDelta = recordCount - 1): Uint8Array {
  const blob = codec === Compression.Gzip ? new Uint8Array(zlib.gzipSync(records, { level: 9 })) : compress(codec, records);
  const out = new Uint8Array(61 + blob.length);
  const dv = new DataView(out.buffer);
  dv.setBigInt64(0, 0n);
  dv.setInt32(8, out.length - 12);
  dv.setInt32(12, -1);
  out[16] = 2;
  dv.setInt16(21, codec);
  dv.setInt32(23, lastOffsetDelta);
  dv.setBigInt64(27, 1_700_000_000_000n);
  dv.setBigInt64(35, 1_700_000_000_000n);
  dv.setBigInt64(43, -1n);
  dv.setInt16(51, -1);
  dv.setInt32(53, -1);
  dv.setInt32(57, recordCount);
  out.set(blob, 61);
  dv.setUint32(17, crc32c(out, 21, out.length));
  return out;
}

function refusal(fn: () => unknown): SamsaError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SamsaError);
    return err as SamsaError;
  }
  throw new Error('expected a refusal, but the batch was accepted');
}

describe('decode limits', () => {
  beforeAll(() => codecsReady());

  it('refuses a small gzip batch whose one record carries 2 million headers (the issue 12 reproduction)', () => {
    const b = batch(recordBytes(0, 2_000_000), 1, Compression.Gzip);
    expect(b.length).toBeLessThan(10_000); // a few KiB on the wire
    const err = refusal(() => prepareBinary(b, 1_048_588));
    expect(err.code).toBe('RECORD_TOO_LARGE');
    expect(err.status).toBe(413);
    expect(err.message).toMatch(/2000000 headers; the limit is 1000 per record/);
    expect(err.details).toMatchObject({ max_headers_per_record: MAX_HEADERS_PER_RECORD });
  });

  it('accepts exactly the per-record limit and refuses one more', () => {
    expect(decodeRecordBatch(batch(recordBytes(0, MAX_HEADERS_PER_RECORD), 1, Compression.None)).records[0]!.headers).toHaveLength(MAX_HEADERS_PER_RECORD);
    expect(refusal(() => decodeRecordBatch(batch(recordBytes(0, MAX_HEADERS_PER_RECORD + 1), 1, Compression.None))).code).toBe('RECORD_TOO_LARGE');
  });

  it.each([Compression.Gzip, Compression.Snappy, Compression.Lz4, Compression.Zstd])('bounds headers over a whole batch (codec %i)', (codec) => {
    // Each record stays within the per-record limit; together they pass the per-batch one.
    const n = Math.floor(MAX_HEADERS_PER_BATCH / MAX_HEADERS_PER_RECORD) + 1;
    const recs = concatBytes(Array.from({ length: n }, (_, i) => recordBytes(i, MAX_HEADERS_PER_RECORD)));
    const err = refusal(() => prepareBinary(batch(recs, n, codec), 10 * 1024 * 1024));
    expect(err.code).toBe('RECORD_TOO_LARGE');
    expect(err.details).toMatchObject({ max_headers_per_batch: MAX_HEADERS_PER_BATCH });
  });

  it('refuses a recordCount above the limit from the header alone, before decompressing', () => {
    // Records that would really decode: the count must be refused for what it claims.
    const n = MAX_RECORDS_PER_BATCH + 1;
    const recs = concatBytes(Array.from({ length: n }, (_, i) => recordBytes(i, 0)));
    const err = refusal(() => prepareBinary(batch(recs, n, Compression.Gzip), 10 * 1024 * 1024));
    expect(err.code).toBe('RECORD_TOO_LARGE');
    expect(err.details).toMatchObject({ max_records_per_batch: MAX_RECORDS_PER_BATCH });
    // A lying count over a tiny blob costs nothing either.
    const liar = batch(recordBytes(0, 0), 2_000_000_000, Compression.Gzip);
    expect(refusal(() => prepareBinary(liar, 1_048_588)).code).toBe('RECORD_TOO_LARGE');
  });
});
