// LZ4 frames as Kafka writes them for magic >= 1 (Lz4BlockOutputStream): FLG 0x60 (version 1,
// independent blocks, no checksums, no content size), BD 0x40 (64 KiB blocks), a correct
// header checksum, blocks stored raw when they do not shrink, then a zero end mark.
// Hand-written rather than lz4js because lz4js trusts its input (hostile frames make it
// allocate gigabytes or read garbage) and its block compressor can end a match closer to the
// block end than the LZ4 spec allows, which lz4-java, and so the Java consumer, rejects.

const MAGIC = 0x184d2204;
const BLOCK_SIZE = 64 * 1024;
const UNCOMPRESSED_BIT = 0x80000000;
const MIN_MATCH = 4;
const LAST_LITERALS = 5; // the spec: the last 5 bytes of a block are always literals
const MF_LIMIT = 12; // ... and the last match starts at least 12 bytes before the end
const HASH_LOG = 14;

export class Lz4FormatError extends Error {}

// --- xxHash32, for the frame descriptor checksum and (when present) block/content checksums ---

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));
const u32 = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);

export function xxh32(buf: Uint8Array, start: number, end: number, seed = 0): number {
  let i = start;
  let h: number;
  if (end - start >= 16) {
    let v1 = (seed + P1 + P2) | 0;
    let v2 = (seed + P2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - P1) | 0;
    const limit = end - 16;
    while (i <= limit) {
      v1 = Math.imul(rotl((v1 + Math.imul(u32(buf, i), P2)) | 0, 13), P1);
      v2 = Math.imul(rotl((v2 + Math.imul(u32(buf, i + 4), P2)) | 0, 13), P1);
      v3 = Math.imul(rotl((v3 + Math.imul(u32(buf, i + 8), P2)) | 0, 13), P1);
      v4 = Math.imul(rotl((v4 + Math.imul(u32(buf, i + 12), P2)) | 0, 13), P1);
      i += 16;
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = (seed + P5) | 0;
  }
  h = (h + (end - start)) | 0;
  while (i + 4 <= end) {
    h = Math.imul(rotl((h + Math.imul(u32(buf, i), P3)) | 0, 17), P4);
    i += 4;
  }
  while (i < end) {
    h = Math.imul(rotl((h + Math.imul(buf[i]!, P5)) | 0, 11), P1);
    i++;
  }
  h ^= h >>> 15;
  h = Math.imul(h, P2);
  h ^= h >>> 13;
  h = Math.imul(h, P3);
  h ^= h >>> 16;
  return h >>> 0;
}

// --- block codec ---

const hashTable = new Int32Array(1 << HASH_LOG);

/**
 * Compresses src[start, end) as one independent LZ4 block into dst at dpos; returns the new
 * dst position, or -1 if the block would not be smaller than its input.
 */
function compressBlock(src: Uint8Array, start: number, end: number, dst: Uint8Array, dpos: number): number {
  const len = end - start;
  const dstLimit = dpos + len; // stop as soon as we are no better than raw
  let anchor = start;
  if (len >= MF_LIMIT + 1) {
    hashTable.fill(-1);
    const matchLimit = end - LAST_LITERALS;
    const searchLimit = end - MF_LIMIT;
    let ip = start;
    let step = 1 << 6;
    while (ip < searchLimit) {
      const seq = u32(src, ip);
      const h = Math.imul(seq, 2654435761) >>> (32 - HASH_LOG);
      const ref = hashTable[h]!;
      hashTable[h] = ip;
      if (ref < 0 || ip - ref > 0xffff || u32(src, ref) !== seq) {
        ip += step++ >> 6; // skip faster through incompressible data, as LZ4 does
        continue;
      }
      step = 1 << 6;
      // Extend backwards over literals that also match.
      let mStart = ip;
      let rStart = ref;
      while (mStart > anchor && rStart > start && src[mStart - 1] === src[rStart - 1]) {
        mStart--;
        rStart--;
      }
      let mEnd = ip + MIN_MATCH;
      let rEnd = ref + MIN_MATCH;
      while (mEnd < matchLimit && src[mEnd] === src[rEnd]) {
        mEnd++;
        rEnd++;
      }
      const litLen = mStart - anchor;
      const matchLen = mEnd - mStart - MIN_MATCH;
      // Worst case for this sequence: token + length bytes + literals + offset.
      if (dpos + 1 + ((litLen / 255) | 0) + 1 + litLen + 2 + ((matchLen / 255) | 0) + 1 >= dstLimit) return -1;
      const tokenPos = dpos++;
      let token: number;
      if (litLen >= 15) {
        token = 0xf0;
        let n = litLen - 15;
        for (; n >= 255; n -= 255) dst[dpos++] = 255;
        dst[dpos++] = n;
      } else {
        token = litLen << 4;
      }
      dst.set(src.subarray(anchor, mStart), dpos);
      dpos += litLen;
      const offset = mStart - rStart;
      dst[dpos++] = offset & 0xff;
      dst[dpos++] = offset >>> 8;
      if (matchLen >= 15) {
        token |= 0x0f;
        let n = matchLen - 15;
        for (; n >= 255; n -= 255) dst[dpos++] = 255;
        dst[dpos++] = n;
      } else {
        token |= matchLen;
      }
      dst[tokenPos] = token;
      anchor = ip = mEnd;
      if (ip < searchLimit) hashTable[Math.imul(u32(src, ip - 2), 2654435761) >>> (32 - HASH_LOG)] = ip - 2;
    }
  }
  const litLen = end - anchor;
  if (dpos + 1 + ((litLen / 255) | 0) + 1 + litLen >= dstLimit) return -1;
  if (litLen >= 15) {
    dst[dpos++] = 0xf0;
    let n = litLen - 15;
    for (; n >= 255; n -= 255) dst[dpos++] = 255;
    dst[dpos++] = n;
  } else {
    dst[dpos++] = litLen << 4;
  }
  dst.set(src.subarray(anchor, end), dpos);
  return dpos + litLen;
}

/**
 * Decompresses one block src[start, end) into dst at dpos, writing no further than dEnd;
 * matches may reach back to windowStart. Returns the new dst position.
 */
function decompressBlock(
  src: Uint8Array,
  start: number,
  end: number,
  dst: Uint8Array,
  dpos: number,
  dEnd: number,
  windowStart: number,
): number {
  let ip = start;
  for (;;) {
    if (ip >= end) throw new Lz4FormatError('lz4 block ends without final literals');
    const token = src[ip++]!;
    let litLen = token >>> 4;
    if (litLen === 15) {
      let b: number;
      do {
        if (ip >= end) throw new Lz4FormatError('lz4 literal length runs past the block');
        b = src[ip++]!;
        litLen += b;
      } while (b === 255);
    }
    if (litLen > end - ip) throw new Lz4FormatError('lz4 literals run past the block');
    if (litLen > dEnd - dpos) throw new Lz4FormatError('lz4 block output exceeds the block size or output limit');
    dst.set(src.subarray(ip, ip + litLen), dpos);
    ip += litLen;
    dpos += litLen;
    if (ip === end) return dpos; // the last sequence has literals only
    if (end - ip < 2) throw new Lz4FormatError('lz4 match offset runs past the block');
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > dpos - windowStart) throw new Lz4FormatError('lz4 match offset out of range');
    let matchLen = token & 0x0f;
    if (matchLen === 15) {
      let b: number;
      do {
        if (ip >= end) throw new Lz4FormatError('lz4 match length runs past the block');
        b = src[ip++]!;
        matchLen += b;
      } while (b === 255);
    }
    matchLen += MIN_MATCH;
    if (matchLen > dEnd - dpos) throw new Lz4FormatError('lz4 block output exceeds the block size or output limit');
    let from = dpos - offset;
    if (offset >= matchLen) {
      dst.copyWithin(dpos, from, from + matchLen);
      dpos += matchLen;
    } else {
      // Overlapping copy repeats the last `offset` bytes: must go byte by byte.
      const stop = dpos + matchLen;
      while (dpos < stop) dst[dpos++] = dst[from++]!;
    }
  }
}

// --- frames ---

const FLG = 0x60; // version 01, block independence
const BD = 0x40; // 64 KiB max block size

export function lz4CompressFrame(src: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(src.length / BLOCK_SIZE));
  // Raw storage bounds every block, so this never overflows.
  const out = new Uint8Array(7 + blocks * 4 + src.length + 4);
  out[0] = MAGIC & 0xff;
  out[1] = (MAGIC >>> 8) & 0xff;
  out[2] = (MAGIC >>> 16) & 0xff;
  out[3] = MAGIC >>> 24;
  out[4] = FLG;
  out[5] = BD;
  out[6] = (xxh32(out, 4, 6) >>> 8) & 0xff;
  let pos = 7;
  for (let s = 0; s < src.length; s += BLOCK_SIZE) {
    const e = Math.min(src.length, s + BLOCK_SIZE);
    const n = compressBlock(src, s, e, out, pos + 4);
    let size: number;
    if (n < 0) {
      out.set(src.subarray(s, e), pos + 4);
      size = e - s;
      writeU32LE(out, pos, (size | UNCOMPRESSED_BIT) >>> 0);
    } else {
      size = n - pos - 4;
      writeU32LE(out, pos, size);
    }
    pos += 4 + size;
  }
  writeU32LE(out, pos, 0);
  pos += 4;
  return out.subarray(0, pos);
}

function writeU32LE(b: Uint8Array, i: number, v: number): void {
  b[i] = v & 0xff;
  b[i + 1] = (v >>> 8) & 0xff;
  b[i + 2] = (v >>> 16) & 0xff;
  b[i + 3] = v >>> 24;
}

/**
 * Decodes one LZ4 frame (any block size, optional checksums and content size, as liblz4 and
 * lz4-java write them). Output is capped at `maxOutput` bytes.
 */
export function lz4DecompressFrame(src: Uint8Array, maxOutput: number): Uint8Array {
  const n = src.length;
  if (n < 7 || (u32(src, 0) >>> 0) !== MAGIC) throw new Lz4FormatError('not an lz4 frame (bad magic)');
  const flg = src[4]!;
  const bd = src[5]!;
  if (flg >>> 6 !== 1) throw new Lz4FormatError(`unsupported lz4 frame version ${flg >>> 6}`);
  const independent = (flg & 0x20) !== 0;
  const blockChecksum = (flg & 0x10) !== 0;
  const hasContentSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  const hasDictId = (flg & 0x01) !== 0;
  const bsId = (bd >>> 4) & 7;
  if (bsId < 4) throw new Lz4FormatError(`invalid lz4 block size id ${bsId}`);
  const maxBlock = 1 << (2 * bsId + 8);
  let pos = 6 + (hasContentSize ? 8 : 0) + (hasDictId ? 4 : 0);
  if (pos >= n) throw new Lz4FormatError('truncated lz4 frame header');
  const hc = (xxh32(src, 4, pos) >>> 8) & 0xff;
  // Kafka before 0.10 (magic 0) hashed the magic too; accept that old broken checksum as well.
  if (src[pos] !== hc && src[pos] !== ((xxh32(src, 0, pos) >>> 8) & 0xff)) {
    throw new Lz4FormatError('lz4 frame header checksum mismatch');
  }
  pos++;
  // Grow the output as blocks arrive rather than trusting sizes an attacker wrote.
  let out = new Uint8Array(Math.min(maxOutput, Math.max(maxBlock, n * 4)));
  let opos = 0;
  for (;;) {
    if (n - pos < 4) throw new Lz4FormatError('truncated lz4 frame: missing end mark');
    const word = u32(src, pos) >>> 0;
    pos += 4;
    if (word === 0) break;
    const raw = (word & UNCOMPRESSED_BIT) !== 0;
    const size = word & 0x7fffffff;
    if (size > maxBlock) throw new Lz4FormatError('lz4 block larger than the frame block size');
    if (size > n - pos - (blockChecksum ? 4 : 0)) throw new Lz4FormatError('truncated lz4 block');
    if (blockChecksum && xxh32(src, pos, pos + size) !== u32(src, pos + size) >>> 0) {
      throw new Lz4FormatError('lz4 block checksum mismatch');
    }
    const dEnd = Math.min(maxOutput, opos + maxBlock);
    if (dEnd > out.length) {
      const grown = new Uint8Array(Math.min(maxOutput, Math.max(out.length * 2, dEnd)));
      grown.set(out.subarray(0, opos));
      out = grown;
    }
    if (raw) {
      if (size > dEnd - opos) throw new Lz4FormatError(`lz4 output exceeds ${maxOutput} bytes`);
      out.set(src.subarray(pos, pos + size), opos);
      opos += size;
    } else {
      // Dependent blocks (liblz4's default, lz4js's frames) may match into earlier blocks.
      opos = decompressBlock(src, pos, pos + size, out, opos, dEnd, independent ? opos : 0);
    }
    pos += size + (blockChecksum ? 4 : 0);
  }
  if (contentChecksum) {
    if (n - pos < 4) throw new Lz4FormatError('truncated lz4 content checksum');
    if (xxh32(out, 0, opos) !== u32(src, pos) >>> 0) throw new Lz4FormatError('lz4 content checksum mismatch');
  }
  return out.subarray(0, opos);
}
