// QueryOptions.withoutBinary for a store that reads binary values anyway (DynamoDB, or a SQLite
// row written before binary values had a column of their own): the item without them.
import type { MetaItem, MetaValue } from './ports.js';

/** `item` with every Uint8Array left out (a map loses the attribute, a list the element); no copy when there is none. */
export function stripBinary(item: MetaItem): MetaItem {
  return hasBinary(item) ? (strip(item) as MetaItem) : item;
}

function hasBinary(v: unknown): boolean {
  if (v instanceof Uint8Array) return true;
  if (Array.isArray(v)) return v.some(hasBinary);
  if (v !== null && typeof v === 'object') {
    for (const k in v) if (Object.hasOwn(v, k) && hasBinary((v as Record<string, unknown>)[k])) return true;
  }
  return false;
}

function strip(v: MetaValue): MetaValue {
  if (Array.isArray(v)) return v.filter((x) => !(x instanceof Uint8Array)).map(strip);
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const out: { [k: string]: MetaValue } = {};
    for (const k in v) if (Object.hasOwn(v, k) && !(v[k] instanceof Uint8Array)) out[k] = strip(v[k]!);
    return out;
  }
  return v;
}
