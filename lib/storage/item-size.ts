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
    // ~1 byte per two significant digits, plus one. Integers (offsets, commit ids, times: all
    // but a few numbers stored) are counted without making strings: the regexes below cost
    // about a microsecond a number, a few hundred per keyed JSON request's commit (issue 18).
    if (Number.isSafeInteger(v)) return integerSize(v);
    const digits = String(Math.abs(v)).replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
    return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
  }
  if (typeof v === 'boolean' || v === null) return 1;
  if (v instanceof Uint8Array) return v.byteLength;
  if (Array.isArray(v)) {
    let n = 3;
    // Index loops: an iterator per list was allocated on every write (issue 18 item 1).
    for (let i = 0; i < v.length; i++) n += 1 + valueSize(v[i]!);
    return n;
  }
  let n = 3;
  for (const k in v) n += 1 + utf8Len(k) + valueSize(v[k]!);
  return n;
}

/** valueSize of a safe integer: its significant digits are those left when trailing zeros go. */
function integerSize(v: number): number {
  let a = Math.abs(v);
  if (a === 0) return 2; // as "0": no significant digit, counted as one
  while (a % 10 === 0) a /= 10;
  let digits = 1;
  for (; a >= 10; digits++) a = Math.floor(a / 10);
  return Math.ceil(digits / 2) + 1;
}

/** Approximate DynamoDB size of an item: every attribute's name plus value, keys included. */
export function itemSize(item: MetaItem): number {
  let n = 0;
  for (const k in item) n += utf8Len(k) + valueSize(item[k]!);
  return n;
}

/** Size of some attributes, names included (an item's size without its keys). */
export function attributesSize(attrs: { [attr: string]: MetaValue }): number {
  let n = 0;
  // for-in, not Object.entries: no pair arrays (sized on every write, issue 18 item 1). The
  // values are plain JSON-like maps, whose inherited properties are none.
  for (const k in attrs) n += utf8Len(k) + valueSize(attrs[k]!);
  return n;
}
