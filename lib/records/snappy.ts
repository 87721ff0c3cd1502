// Raw snappy block decompression, hand-written because it parses untrusted bytes: snappyjs
// loops forever on some malformed inputs (a 7-byte block found by the corruption properties,
// now a regression test). Here every step consumes input, every copy is checked against the
// output written so far, and the output is capped by the declared length and a budget.
//
// Grammar (google/snappy format_description.txt): varint32 uncompressed length, then elements
// by the low 2 bits of a tag byte: 00 literal (length in the tag, or in 1-4 following bytes),
// 01 copy with 1-byte offset (length 4-11), 10 copy with 2-byte offset, 11 copy with 4-byte
// offset (lengths 1-64); offsets are little-endian, distances back into the output.

export function snappyUncompressRaw(data: Uint8Array, maxOutput: number): Uint8Array {
  let ip = 0;
  let length = 0;
  for (let shift = 0; ; shift += 7) {
    if (ip >= data.length || shift > 28) throw new Error('snappy: bad uncompressed-length varint');
    const b = data[ip++]!;
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (length > maxOutput) throw new Error(`snappy: declares ${length} bytes, over the ${maxOutput}-byte limit`);
  const out = new Uint8Array(length);
  let op = 0;

  const copy = (offset: number, n: number): void => {
    if (offset === 0 || offset > op) throw new Error(`snappy: copy offset ${offset} outside the ${op} bytes written`);
    if (n > length - op) throw new Error('snappy: copy runs past the declared length');
    if (offset >= n) {
      out.copyWithin(op, op - offset, op - offset + n);
    } else {
      for (let i = 0; i < n; i++) out[op + i] = out[op + i - offset]!; // overlapping: byte by byte
    }
    op += n;
  };

  while (ip < data.length) {
    const tag = data[ip++]!;
    switch (tag & 3) {
      case 0: {
        let n = tag >> 2;
        if (n >= 60) {
          const bytes = n - 59;
          if (ip + bytes > data.length) throw new Error('snappy: truncated literal length');
          n = 0;
          for (let i = 0; i < bytes; i++) n += data[ip + i]! * 2 ** (8 * i);
          ip += bytes;
        }
        n += 1;
        if (n > data.length - ip) throw new Error('snappy: literal runs past the input');
        if (n > length - op) throw new Error('snappy: literal runs past the declared length');
        out.set(data.subarray(ip, ip + n), op);
        ip += n;
        op += n;
        break;
      }
      case 1: {
        if (ip >= data.length) throw new Error('snappy: truncated copy');
        copy(((tag >> 5) << 8) | data[ip++]!, ((tag >> 2) & 7) + 4);
        break;
      }
      case 2: {
        if (ip + 2 > data.length) throw new Error('snappy: truncated copy');
        copy(data[ip]! | (data[ip + 1]! << 8), (tag >> 2) + 1);
        ip += 2;
        break;
      }
      default: {
        if (ip + 4 > data.length) throw new Error('snappy: truncated copy');
        copy((data[ip]! | (data[ip + 1]! << 8) | (data[ip + 2]! << 16) | (data[ip + 3]! << 24)) >>> 0, (tag >> 2) + 1);
        ip += 4;
      }
    }
  }
  if (op !== length) throw new Error(`snappy: produced ${op} bytes, declared ${length}`);
  return out;
}
