// toBytes hands JSON produce text to the batch encoder as Utf8, which writes it into the batch
// in place (issue 18): what lands in the batch must be TextEncoder's bytes for every string,
// including lone surrogates (U+FFFD), and the batch the same as one encoded from those bytes.
import { describe, expect, it } from 'vitest';
import { toBytes } from '../../../lib/http/format';
import { decodeRecordBatch, encodeRecordBatch, type RecordBytes } from '../../../lib/records';

const te = new TextEncoder();
const NOW = 1_700_000_000_000;

/** `got` written into a batch (as key and value) gives exactly `want`'s batch and bytes. */
function same(got: RecordBytes | null, want: Uint8Array): void {
  expect(got).not.toBeNull();
  expect(got!.length).toBe(want.length);
  const batch = encodeRecordBatch([{ key: got, value: got }], { now: NOW });
  expect(Array.from(batch)).toEqual(Array.from(encodeRecordBatch([{ key: want, value: want }], { now: NOW })));
  const [r] = decodeRecordBatch(batch).records;
  expect(Array.from(r!.value!)).toEqual(Array.from(want));
  expect(Array.from(r!.key!)).toEqual(Array.from(want));
}

describe('toBytes', () => {
  it('gives the bytes TextEncoder gives, for strings and JSON values', () => {
    const strings = ['', 'a', 'é', '€', '😀', '\ud800', 'x\udc00y', '\udbff\udfff', 'a'.repeat(5000), '\u0000\u007f\u0080\u07ff\u0800\uffff', 'ÿ'];
    for (const s of strings) {
      same(toBytes(s, 'string', 'v'), te.encode(s));
      same(toBytes(s, 'json', 'v'), te.encode(JSON.stringify(s)));
    }
    same(toBytes({ a: ['\ud800', 1e21, null] }, 'json', 'v'), te.encode(JSON.stringify({ a: ['\ud800', 1e21, null] })));
    let seed = 3;
    for (let n = 0; n < 2000; n++) {
      let s = '';
      for (let i = 0; i < 8; i++) s += String.fromCharCode((seed = (seed * 48271) % 2147483647) % 0x10000);
      same(toBytes(s, 'string', 'v'), te.encode(s));
    }
  });

  it('keeps base64 as bytes, and null as null', () => {
    expect(Array.from(toBytes('AAEC', 'base64', 'v') as Uint8Array)).toEqual([0, 1, 2]);
    expect(toBytes(null, 'string', 'v')).toBeNull();
  });
});
