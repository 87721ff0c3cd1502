// Compression as done by libraries other than our own code, for KafkaJS's codec plugin slots
// (KafkaJS ships only gzip). The decompressors check our output; the compressors produce
// input ours must accept, including forms we never write (raw snappy, lz4js's 4 MiB blocks).

import * as snappy from 'snappyjs';
import { createRequire } from 'node:module';
import { decompress as fzstdDecompress } from 'fzstd';
import * as zstdWasm from '@bokuweb/zstd-wasm';
import { registerKafkajsCodec } from './kafkajs.js';

const require = createRequire(import.meta.url);
const lz4js: { compress(b: Uint8Array): Uint8Array; decompress(b: Uint8Array): Uint8Array } = require('lz4js');

const toBuf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** Reads xerial-framed snappy as snappy-java's SnappyInputStream does. */
export function xerialDeframe(data: Uint8Array): Uint8Array {
  const magic = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00];
  if (!magic.every((b, i) => data[i] === b)) throw new Error('not xerial snappy');
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (dv.getInt32(8) !== 1 || dv.getInt32(12) !== 1) throw new Error('unexpected xerial version');
  const parts: Buffer[] = [];
  for (let pos = 16; pos < data.length; ) {
    const len = dv.getInt32(pos);
    parts.push(toBuf(snappy.uncompress(data.subarray(pos + 4, pos + 4 + len))));
    pos += 4 + len;
  }
  return Buffer.concat(parts);
}

export const lz4jsCompress = (b: Uint8Array): Uint8Array => lz4js.compress(b);
export const lz4jsDecompress = (b: Uint8Array): Uint8Array => lz4js.decompress(b);
export { fzstdDecompress };

let zstdReady: Promise<void> | null = null;
export const zstdWasmReady = (): Promise<void> => (zstdReady ??= zstdWasm.init());
export const zstdWasmCompress = (b: Uint8Array): Uint8Array => zstdWasm.compress(b, 3);

/** Plugs independent snappy / lz4 / zstd codecs into KafkaJS's CompressionCodecs. */
export async function installKafkajsCodecs(): Promise<void> {
  await zstdWasmReady();
  registerKafkajsCodec(2, {
    compress: async (e) => toBuf(snappy.compress(e.buffer)), // raw block, no xerial framing
    decompress: async (b) => toBuf(xerialDeframe(b)),
  });
  registerKafkajsCodec(3, {
    compress: async (e) => toBuf(lz4js.compress(e.buffer)),
    decompress: async (b) => toBuf(lz4js.decompress(b)),
  });
  registerKafkajsCodec(4, {
    compress: async (e) => toBuf(zstdWasm.compress(e.buffer, 3)),
    decompress: async (b) => toBuf(fzstdDecompress(b)),
  });
}
