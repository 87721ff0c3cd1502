// DynamoDB's item-size measure ("Item sizes and formats" in the DynamoDB guide): what its
// 400 KB item limit and its 1 KB write units count. The DynamoDB adapter reports it as its
// MetaStore traits' `sizeOf`; the SQLite adapter enforces the same limit with it, so data moves
// between the two unchanged.
import type { MetaItem, MetaValue } from './ports.js';

export const utf8Len = (s: string): number => Buffer.byteLength(s, 'utf8');

/** Approximate DynamoDB size of one attribute value (see "Item sizes and formats" in the DynamoDB guide). */
export function valueSize(v: MetaValue): number {
  if (typeof v === 'string') return utf8Len(v);
  if (typeof v === 'number') {
    // ~1 byte per two significant digits, plus one.
    if (Number.isSafeInteger(v)) {
      // The same count without the string (every stored offset and timestamp comes here).
      let n = Math.abs(v);
      if (n === 0) return 2;
      while (n % 10 === 0) n /= 10;
      let digits = 0;
      for (; n >= 1; n = Math.floor(n / 10)) digits++;
      return Math.ceil(digits / 2) + 1;
    }
    const digits = String(Math.abs(v)).replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
    return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
  }
  if (typeof v === 'boolean' || v === null) return 1;
  if (v instanceof Uint8Array) return v.byteLength;
  if (Array.isArray(v)) {
    let n = 3;
    for (const x of v) n += 1 + valueSize(x);
    return n;
  }
  let n = 3;
  for (const k in v) if (Object.hasOwn(v, k)) n += 1 + utf8Len(k) + valueSize(v[k]!);
  return n;
}

/** Approximate DynamoDB size of an item: every attribute's name plus value, keys included. */
export function itemSize(item: MetaItem): number {
  // for-in, not Object.entries: every write sizes its item, and the pairs were garbage (issue 18).
  let n = 0;
  for (const k in item) if (Object.hasOwn(item, k)) n += utf8Len(k) + valueSize(item[k]!);
  return n;
}

/** Size of some attributes, names included (an item's size without its keys). */
export function attributesSize(attrs: { [attr: string]: MetaValue }): number {
  let n = 0;
  for (const k in attrs) if (Object.hasOwn(attrs, k)) n += utf8Len(k) + valueSize(attrs[k]!);
  return n;
}
