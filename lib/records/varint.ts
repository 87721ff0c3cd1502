// Zigzag varints as RecordBatch v2 uses them (protobuf style). Writers take a position and
// return the next one so the batch encoder can fill one preallocated buffer; readers live on
// `Reader`, whose bounds checks turn hostile input into CorruptRecordError instead of reading
// `undefined` off the end of a Uint8Array.

import { CorruptRecordError } from '../errors.js';

/** Bytes taken by a zigzag varint of a 32-bit signed value. */
export function sizeOfVarint(n: number): number {
  let v = ((n << 1) ^ (n >> 31)) >>> 0;
  let size = 1;
  while (v >= 0x80) {
    v >>>= 7;
    size++;
  }
  return size;
}

/** Bytes taken by a zigzag varlong; exact for |n| < 2^53. */
export function sizeOfVarlong(n: number): number {
  if (n >= -0x4000_0000 && n < 0x4000_0000) return sizeOfVarint(n);
  let v = n >= 0 ? n * 2 : -n * 2 - 1;
  let size = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    size++;
  }
  return size;
}

export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  let v = ((n << 1) ^ (n >> 31)) >>> 0;
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

export function writeVarlong(buf: Uint8Array, pos: number, n: number): number {
  if (n >= -0x4000_0000 && n < 0x4000_0000) return writeVarint(buf, pos, n);
  // Past 31 bits, bitwise operators would truncate: do the zigzag and the 7-bit split in
  // floating point, which is exact below 2^53.
  let v = n >= 0 ? n * 2 : -n * 2 - 1;
  while (v >= 0x80) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

/** A bounded cursor over buf[pos, end). */
export class Reader {
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    public end: number,
    /** Prefix for error messages, e.g. "batch at byte 0". */
    readonly where: string,
  ) {}

  fail(what: string): never {
    throw new CorruptRecordError(`${this.where}: ${what} at byte ${this.pos}`, { position: this.pos });
  }

  readInt8(): number {
    if (this.pos >= this.end) this.fail('unexpected end of records');
    return (this.buf[this.pos++]! << 24) >> 24;
  }

  readVarint(): number {
    const buf = this.buf;
    let pos = this.pos;
    const end = this.end;
    let v = 0;
    let shift = 0;
    for (;;) {
      if (pos >= end) this.fail('varint runs past the end');
      const b = buf[pos++]!;
      if (shift === 28) {
        // Fifth byte: only 4 more bits fit in 32; anything else is not a valid int32 varint.
        if (b > 0x0f) this.fail('varint longer than 32 bits');
        v |= b << 28;
        break;
      }
      v |= (b & 0x7f) << shift;
      if (b < 0x80) break;
      shift += 7;
    }
    this.pos = pos;
    return (v >>> 1) ^ -(v & 1);
  }

  readVarlong(): number {
    const buf = this.buf;
    let pos = this.pos;
    const end = this.end;
    // Low 28 bits in an int, the rest as a float: exact for magnitudes below 2^53.
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (;;) {
      if (pos >= end) this.fail('varlong runs past the end');
      const b = buf[pos++]!;
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift < 63) hi += (b & 0x7f) * 2 ** (shift - 28);
      else if (b > 1) this.fail('varlong longer than 64 bits');
      else hi += b * 2 ** 35;
      if (b < 0x80) break;
      shift += 7;
      if (shift > 63) this.fail('varlong longer than 64 bits');
    }
    this.pos = pos;
    if (hi === 0) return (lo >>> 1) ^ -(lo & 1);
    const v = hi * 0x1000_0000 + lo;
    // Zigzag decode without 64-bit ints: odd values are negatives.
    return lo & 1 ? -(v + 1) / 2 : v / 2;
  }

  /** A varint-length-prefixed byte string; length -1 is null. Returns a view, not a copy. */
  readBytes(what: string): Uint8Array | null {
    const len = this.readVarint();
    if (len < 0) {
      if (len === -1) return null;
      this.fail(`${what} has negative length ${len}`);
    }
    const start = this.pos;
    if (len > this.end - start) this.fail(`${what} of ${len} bytes runs past the end`);
    this.pos = start + len;
    return this.buf.subarray(start, start + len);
  }
}
