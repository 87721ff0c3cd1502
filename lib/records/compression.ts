// The four Kafka compression codecs, in the exact container formats Kafka clients write, so
// batches round-trip with the Java client. Everything here is synchronous; only zstd
// *compression* on Node < 22.15 needs a WASM module, which codecsReady() loads.

import * as zlib from 'node:zlib';
import * as snappy from 'snappyjs';
import { decompress as fzstdDecompress } from 'fzstd';
import { Compression } from './types.js';
import { lz4CompressFrame, lz4DecompressFrame } from './lz4.js';
import { snappyUncompressRaw } from './snappy.js';

/**
 * Upper bound on one batch's decompressed records. A hostile batch of a few KiB could otherwise
 * claim (or really expand to) gigabytes; Kafka's own fetch limits are far below this.
 */
export const MAX_DECOMPRESSED_BYTES = 32 * 1024 * 1024;

// --- zstd: native zlib on Node >= 22.15 (Lambda's runtime), else WASM / pure JS -------------

interface NativeZstd {
  zstdCompressSync(data: Uint8Array): Buffer;
  zstdDecompressSync(data: Uint8Array, opts?: { maxOutputLength?: number }): Buffer;
}
const native = zlib as unknown as Partial<NativeZstd>;
const nativeZstd: NativeZstd | null =
  typeof native.zstdCompressSync === 'function' && typeof native.zstdDecompressSync === 'function'
    ? (native as NativeZstd)
    : null;

let wasmCompress: ((data: Uint8Array, level: number) => Uint8Array) | null = null;
let ready: Promise<void> | null = null;

/** Resolves once every codec can be used synchronously (loads zstd WASM where Node lacks zstd). */
export function codecsReady(): Promise<void> {
  if (!ready) {
    ready = nativeZstd
      ? Promise.resolve()
      : import('@bokuweb/zstd-wasm').then(async (m) => {
          await m.init();
          wasmCompress = m.compress;
        });
  }
  return ready;
}

const ZSTD_LEVEL = 3; // Kafka's default zstd level

function zstdCompress(data: Uint8Array): Uint8Array {
  if (nativeZstd) return nativeZstd.zstdCompressSync(data);
  if (!wasmCompress) {
    throw new Error('zstd compression is not ready on this Node version: await codecsReady() first');
  }
  return wasmCompress(data, ZSTD_LEVEL);
}

/**
 * fzstd allocates the frame's declared content size (or, without one, its window size) up front
 * and zero-fills it: a mutated header byte can make a 1 KiB payload cost half a gigabyte and a
 * second of CPU. Refuse sizes beyond the cap, and large ones no real batch would reach from so
 * little input (only above 8 MiB, and only past a 1024:1 ratio).
 */
function checkZstdFrameHeader(data: Uint8Array): void {
  if (data.length < 6 || data[0] !== 0x28 || data[1] !== 0xb5 || data[2] !== 0x2f || data[3] !== 0xfd) return;
  const fhd = data[4]!;
  const singleSegment = (fhd >> 5) & 1;
  const fcsFlag = fhd >> 6;
  let pos = 5;
  let window = 0;
  if (!singleSegment) {
    const wd = data[pos++]!;
    const base = 2 ** (10 + (wd >> 3));
    window = base + (base / 8) * (wd & 7);
  }
  pos += [0, 1, 2, 4][fhd & 3]!;
  const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
  let contentSize = 0;
  if (fcsBytes > 0) {
    if (data.length < pos + fcsBytes) throw new Error('truncated zstd frame header');
    for (let i = fcsBytes - 1; i >= 0; i--) contentSize = contentSize * 256 + data[pos + i]!;
    if (fcsBytes === 2) contentSize += 256;
  }
  const alloc = contentSize || window;
  if (alloc > MAX_DECOMPRESSED_BYTES) throw new Error(`zstd frame declares ${alloc} bytes, over the ${MAX_DECOMPRESSED_BYTES} cap`);
  if (alloc > 8 * 1024 * 1024 && alloc > data.length * 1024) {
    throw new Error(`zstd frame declares ${alloc} bytes from ${data.length} bytes of input`);
  }
}

function zstdDecompress(data: Uint8Array): Uint8Array {
  if (nativeZstd) return nativeZstd.zstdDecompressSync(data, { maxOutputLength: MAX_DECOMPRESSED_BYTES });
  checkZstdFrameHeader(data);
  const out = fzstdDecompress(data);
  if (out.length > MAX_DECOMPRESSED_BYTES) throw new Error(`zstd output exceeds ${MAX_DECOMPRESSED_BYTES} bytes`);
  return out;
}

// --- snappy: xerial framing, as Kafka's Java producer writes it -------------------------------

// SnappyOutputStream's header: magic "\x82SNAPPY\0", then int32 BE version 1 and compatible
// version 1; then chunks of [int32 BE compressed length][raw snappy block] of at most 32 KiB input.
const XERIAL_MAGIC = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00];
const XERIAL_HEADER_SIZE = 16;
const XERIAL_CHUNK = 32 * 1024;

function isXerial(data: Uint8Array): boolean {
  if (data.length < XERIAL_HEADER_SIZE) return false;
  for (let i = 0; i < 8; i++) if (data[i] !== XERIAL_MAGIC[i]) return false;
  return true;
}

function snappyCompress(data: Uint8Array): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = XERIAL_HEADER_SIZE;
  for (let s = 0; s < data.length; s += XERIAL_CHUNK) {
    const c = snappy.compress(data.subarray(s, Math.min(data.length, s + XERIAL_CHUNK)));
    chunks.push(c);
    total += 4 + c.length;
  }
  const out = new Uint8Array(total);
  out.set(XERIAL_MAGIC, 0);
  const dv = new DataView(out.buffer);
  dv.setInt32(8, 1);
  dv.setInt32(12, 1);
  let pos = XERIAL_HEADER_SIZE;
  for (const c of chunks) {
    dv.setInt32(pos, c.length);
    out.set(c, pos + 4);
    pos += 4 + c.length;
  }
  return out;
}

/**
 * A snappy element expands at most ~21x (a 3-byte copy yields 64 bytes), so a claimed length
 * beyond this is a lie; checking it first stops junk from allocating up to the global cap.
 */
const snappyBound = (compressedLength: number, budget: number): number => Math.min(budget, compressedLength * 32 + 64);

function snappyDecompress(data: Uint8Array): Uint8Array {
  if (!isXerial(data)) return snappyUncompressRaw(data, snappyBound(data.length, MAX_DECOMPRESSED_BYTES));
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const parts: Uint8Array[] = [];
  let total = 0;
  let pos = XERIAL_HEADER_SIZE;
  while (pos < data.length) {
    if (data.length - pos < 4) throw new Error('truncated xerial snappy chunk length');
    const len = dv.getInt32(pos);
    pos += 4;
    if (len < 0 || len > data.length - pos) throw new Error(`xerial snappy chunk of ${len} bytes runs past the end`);
    const part = snappyUncompressRaw(data.subarray(pos, pos + len), snappyBound(len, MAX_DECOMPRESSED_BYTES - total));
    parts.push(part);
    total += part.length;
    pos += len;
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// --- dispatch ------------------------------------------------------------------------------

/** zlib hands back Buffers; callers get plain Uint8Arrays (a view, no copy) so values compare equal. */
const plain = (u: Uint8Array): Uint8Array =>
  u.constructor === Uint8Array ? u : new Uint8Array(u.buffer, u.byteOffset, u.byteLength);

export function compress(codec: Compression, data: Uint8Array): Uint8Array {
  switch (codec) {
    case Compression.None:
      return data;
    case Compression.Gzip:
      return plain(zlib.gzipSync(data));
    case Compression.Snappy:
      return snappyCompress(data);
    case Compression.Lz4:
      return lz4CompressFrame(data);
    case Compression.Zstd:
      return plain(zstdCompress(data));
    default:
      throw new RangeError(`unknown compression codec ${codec as number}`);
  }
}

/**
 * Inverse of compress(). Throws a plain Error on malformed input; the batch decoder wraps it
 * in CorruptRecordError with the batch's position.
 */
export function decompress(codec: Compression, data: Uint8Array): Uint8Array {
  switch (codec) {
    case Compression.None:
      return data;
    case Compression.Gzip:
      // unzip accepts gzip and zlib streams, as KafkaJS's reader does.
      return plain(zlib.unzipSync(data, { maxOutputLength: MAX_DECOMPRESSED_BYTES }));
    case Compression.Snappy:
      return plain(snappyDecompress(data));
    case Compression.Lz4:
      return lz4DecompressFrame(data, MAX_DECOMPRESSED_BYTES);
    case Compression.Zstd:
      return plain(zstdDecompress(data));
    default:
      throw new RangeError(`unknown compression codec ${codec as number}`);
  }
}
