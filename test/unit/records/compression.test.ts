// The container formats Kafka clients expect from each codec, checked against independent
// implementations (snappyjs raw blocks, lz4js frames, fzstd, zlib).

import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as snappy from 'snappyjs';
import { gunzipSync, deflateSync } from 'node:zlib';
import { Compression, codecsReady, compress, decompress } from '../../../lib/records/index.js';
import { xxh32 } from '../../../lib/records/lz4.js';
import { snappyUncompressRaw } from '../../../lib/records/snappy.js';
import { fzstdDecompress, lz4jsCompress, lz4jsDecompress, xerialDeframe, zstdWasmCompress, zstdWasmReady } from './independent-codecs.js';

beforeAll(async () => {
  await codecsReady();
  await zstdWasmReady();
});

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
/** Byte equality without vitest's slow element-wise diff of large arrays. */
function same(a: Uint8Array, b: Uint8Array): void {
  expect(Buffer.compare(a, b) === 0, `${a.length} vs ${b.length} bytes differ`).toBe(true);
}
const data = fc.oneof(
  fc.uint8Array({ maxLength: 3000 }),
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 50 }), fc.integer({ min: 1, max: 3000 })).map(([u, n]) =>
    Uint8Array.from({ length: u.length * n }, (_, i) => u[i % u.length]!),
  ),
);
/** Half random, half repetitive, larger than every codec's block size. */
const big = Uint8Array.from({ length: 300_000 }, (_, i) => ((i >> 10) & 1 ? (i * 2654435761) >>> 24 : i % 7));

describe('compression formats', () => {
  for (const codec of [Compression.None, Compression.Gzip, Compression.Snappy, Compression.Lz4, Compression.Zstd]) {
    it(`${Compression[codec]}: round-trips arbitrary and highly repetitive data`, () => {
      fc.assert(fc.property(data, (d) => same(decompress(codec, compress(codec, d)), d)), { numRuns: 150 });
      same(decompress(codec, compress(codec, big)), big);
    });
  }

  it('gzip writes a real gzip stream and reads zlib streams too', () => {
    same(gunzipSync(compress(Compression.Gzip, big)), big);
    same(decompress(Compression.Gzip, deflateSync(big)), big);
  });

  it('snappy writes xerial framing like the Java producer, in 32 KiB chunks', () => {
    const out = compress(Compression.Snappy, big);
    expect(hex(out.subarray(0, 16))).toBe('82534e41505059000000000100000001');
    same(xerialDeframe(out), big);
    const firstChunk = new DataView(out.buffer, out.byteOffset).getInt32(16);
    expect(snappy.uncompress(out.subarray(20, 20 + firstChunk))).toHaveLength(32 * 1024);
  });

  it('snappy also reads raw (unframed) snappy blocks', () => {
    fc.assert(fc.property(data, (d) => same(decompress(Compression.Snappy, snappy.compress(d)), d)), { numRuns: 100 });
  });

  it("lz4 writes Kafka's frame: FLG 0x60, BD 0x40, correct header checksum, 64 KiB blocks, end mark", () => {
    const out = compress(Compression.Lz4, big);
    expect(hex(out.subarray(0, 6))).toBe('04224d186040');
    expect(out[6]).toBe((xxh32(out, 4, 6) >>> 8) & 0xff);
    expect(hex(out.subarray(out.length - 4))).toBe('00000000');
    same(lz4jsDecompress(out), big);
    const firstBlock = new DataView(out.buffer, out.byteOffset).getUint32(7, true) & 0x7fffffff;
    expect(firstBlock).toBeLessThanOrEqual(64 * 1024);
  });

  it('lz4 output is readable by lz4js for arbitrary data, and lz4js frames are readable here', () => {
    fc.assert(
      fc.property(data, (d) => {
        same(lz4jsDecompress(compress(Compression.Lz4, d)), d);
        same(decompress(Compression.Lz4, lz4jsCompress(d)), d);
      }),
      { numRuns: 150 },
    );
  });

  it('lz4 stores incompressible blocks raw and an empty input as just header + end mark', () => {
    const noise = new Uint8Array(1000).map(() => (Math.random() * 256) | 0);
    const out = compress(Compression.Lz4, noise);
    expect(new DataView(out.buffer, out.byteOffset).getUint32(7, true)).toBe((0x80000000 | 1000) >>> 0);
    expect(compress(Compression.Lz4, new Uint8Array(0))).toHaveLength(11);
  });

  it('lz4 rejects a bad header checksum and hostile block sizes with an Error', () => {
    const good = compress(Compression.Lz4, big);
    const badHc = good.slice();
    badHc[6]! ^= 1;
    expect(() => decompress(Compression.Lz4, badHc)).toThrow(/checksum/);
    const huge = good.slice();
    new DataView(huge.buffer).setUint32(7, 0x7fffffff, true);
    expect(() => decompress(Compression.Lz4, huge)).toThrow(/block/);
  });

  it('zstd writes standard frames (fzstd reads them) and reads other encoders\' frames', () => {
    same(fzstdDecompress(compress(Compression.Zstd, big)), big);
    same(decompress(Compression.Zstd, zstdWasmCompress(big)), big);
  });

  it('returns plain Uint8Arrays, not Buffers', () => {
    for (const codec of [Compression.Gzip, Compression.Snappy, Compression.Lz4, Compression.Zstd]) {
      expect(compress(codec, big).constructor).toBe(Uint8Array);
      expect(decompress(codec, compress(codec, big)).constructor).toBe(Uint8Array);
    }
  });
});

describe('raw snappy decompression (hand-written: it parses untrusted bytes)', () => {
  it('agrees with snappyjs on everything snappyjs compresses', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 5000 }), fc.string({ maxLength: 3000 }).map((s) => new TextEncoder().encode(s.repeat(3)))), (input) => {
        const packed = snappy.compress(input);
        expect(Buffer.from(snappyUncompressRaw(packed, 1 << 20)).equals(Buffer.from(input))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses, quickly, the 7-byte block that made snappyjs loop forever (found by the corruption properties with seed 7)', () => {
    const t0 = performance.now();
    expect(() => snappyUncompressRaw(Buffer.from('51fc3c162faad3', 'hex'), 1 << 20)).toThrow(/snappy/);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
