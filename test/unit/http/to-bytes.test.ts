// toBytes encodes JSON produce values with Buffer.from (issue 18, faster than TextEncoder):
// it must give TextEncoder's bytes for every string, including lone surrogates (U+FFFD).
import { describe, expect, it } from 'vitest';
import { toBytes } from '../../../lib/http/format';

const te = new TextEncoder();
const same = (a: Uint8Array | null, b: Uint8Array): void => expect(a && Array.from(a)).toEqual(Array.from(b));

describe('toBytes', () => {
  it('gives the bytes TextEncoder gives, for strings and JSON values', () => {
    const strings = ['', 'a', 'é', '€', '😀', '\ud800', 'x\udc00y', '\udbff\udfff', 'a'.repeat(5000), '\u0000\u007f\u0080\u07ff\u0800\uffff'];
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
});
