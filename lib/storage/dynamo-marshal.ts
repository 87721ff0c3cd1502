// MetaValue ⇄ DynamoDB AttributeValue, and the MetaStore condition/update/key-range grammar ⇄
// DynamoDB expressions. Written by hand rather than with @aws-sdk/util-dynamodb so the mapping
// is exactly the port's: Uint8Array ⇄ B (never sets), numbers must be finite, and every
// attribute name and value goes through a placeholder (names are never interpolated).

import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { StorageError } from '../errors.js';
import type { Condition, MetaItem, MetaKey, MetaValue } from './ports.js';

export function marshalValue(v: MetaValue, path = 'value'): AttributeValue {
  if (v === null) return { NULL: true };
  switch (typeof v) {
    case 'string':
      return { S: v };
    case 'number':
      if (!Number.isFinite(v)) throw new StorageError(`${path}: DynamoDB cannot store the number ${v}`);
      // String(n) is exact for doubles (shortest round-trip form); DynamoDB accepts exponents.
      return { N: Object.is(v, -0) ? '0' : String(v) };
    case 'boolean':
      return { BOOL: v };
    default:
      break;
  }
  if (v instanceof Uint8Array) return { B: v };
  if (Array.isArray(v)) return { L: v.map((x, i) => marshalValue(x, `${path}[${i}]`)) };
  if (typeof v === 'object') {
    const M: Record<string, AttributeValue> = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) continue;
      M[k] = marshalValue(x, `${path}.${k}`);
    }
    return { M };
  }
  throw new StorageError(`${path}: unsupported value of type ${typeof v}`);
}

export function unmarshalValue(a: AttributeValue): MetaValue {
  if (a.S !== undefined) return a.S;
  if (a.N !== undefined) return Number(a.N);
  if (a.BOOL !== undefined) return a.BOOL;
  if (a.NULL !== undefined) return null;
  if (a.B !== undefined) return plainBytes(a.B);
  if (a.L !== undefined) return a.L.map(unmarshalValue);
  if (a.M !== undefined) {
    const out: { [k: string]: MetaValue } = {};
    for (const [k, x] of Object.entries(a.M)) out[k] = unmarshalValue(x);
    return out;
  }
  // Sets are never written by Samsa; read them as lists so a hand-edited table still loads.
  if (a.SS !== undefined) return [...a.SS];
  if (a.NS !== undefined) return a.NS.map(Number);
  if (a.BS !== undefined) return a.BS.map(plainBytes);
  throw new StorageError(`unsupported DynamoDB attribute value ${JSON.stringify(Object.keys(a))}`);
}

/** The SDK may hand back a Buffer; callers compare against plain Uint8Arrays. */
function plainBytes(b: Uint8Array): Uint8Array {
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function marshalKey(key: MetaKey): Record<string, AttributeValue> {
  return { pk: { S: key.pk }, sk: { S: key.sk } };
}

export function marshalItem(item: MetaItem): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [k, v] of Object.entries(item)) {
    if (v === undefined) continue;
    if ((k === 'pk' || k === 'sk') && typeof v !== 'string') {
      throw new StorageError(`item ${k} must be a string`);
    }
    out[k] = marshalValue(v, k);
  }
  return out;
}

export function unmarshalItem(raw: Record<string, AttributeValue>): MetaItem {
  const out: { [k: string]: MetaValue } = {};
  for (const [k, v] of Object.entries(raw)) out[k] = unmarshalValue(v);
  return out as MetaItem;
}

// ---------------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------------

/** Collects ExpressionAttributeNames / Values for one request. */
export class ExpressionContext {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, AttributeValue> = {};
  private readonly nameIds = new Map<string, string>();
  private valueCount = 0;

  name(attr: string): string {
    let id = this.nameIds.get(attr);
    if (!id) {
      id = `#n${this.nameIds.size}`;
      this.nameIds.set(attr, id);
      this.names[id] = attr;
    }
    return id;
  }

  value(v: MetaValue): string {
    const id = `:v${this.valueCount++}`;
    this.values[id] = marshalValue(v);
    return id;
  }

  /** Spread into a command input: omits empty maps, which DynamoDB rejects. */
  params(): { ExpressionAttributeNames?: Record<string, string>; ExpressionAttributeValues?: Record<string, AttributeValue> } {
    return {
      ...(Object.keys(this.names).length ? { ExpressionAttributeNames: this.names } : {}),
      ...(Object.keys(this.values).length ? { ExpressionAttributeValues: this.values } : {}),
    };
  }
}

const COMPARATORS = { eq: '=', ne: '<>', lt: '<', le: '<=', gt: '>', ge: '>=' } as const;

export function conditionExpression(c: Condition, ctx: ExpressionContext): string {
  switch (c.op) {
    case 'exists':
      return `attribute_exists(${ctx.name('pk')})`;
    case 'notExists':
      return `attribute_not_exists(${ctx.name('pk')})`;
    case 'attrExists':
      return `attribute_exists(${ctx.name(c.attr)})`;
    case 'attrNotExists':
      return `attribute_not_exists(${ctx.name(c.attr)})`;
    case 'eq':
    case 'ne': {
      const a = ctx.name(c.attr);
      const cmp = `${a} ${COMPARATORS[c.op]} ${ctx.value(c.value)}`;
      // The guards restate DynamoDB semantics (a missing attribute never equals anything,
      // NULL included) for emulators that treat "missing" as NULL (moto does).
      if (c.value !== null) return cmp;
      return c.op === 'eq' ? `(attribute_exists(${a}) AND ${cmp})` : `(attribute_not_exists(${a}) OR ${cmp})`;
    }
    case 'lt':
    case 'le':
    case 'gt':
    case 'ge': {
      // Ordering across types is false in DynamoDB; the attribute_type guard makes that
      // explicit (moto answers HTTP 500 to a number-vs-string comparison otherwise).
      const a = ctx.name(c.attr);
      const type = typeof c.value === 'number' ? 'N' : 'S';
      return `(attribute_type(${a}, ${ctx.value(type)}) AND ${a} ${COMPARATORS[c.op]} ${ctx.value(c.value)})`;
    }
    case 'and':
    case 'or': {
      // DynamoDB has no literal true/false; an empty AND holds, an empty OR does not.
      if (c.conds.length === 0) {
        const pk = ctx.name('pk');
        return c.op === 'and'
          ? `(attribute_exists(${pk}) OR attribute_not_exists(${pk}))`
          : `(attribute_exists(${pk}) AND attribute_not_exists(${pk}))`;
      }
      const joiner = c.op === 'and' ? ' AND ' : ' OR ';
      return `(${c.conds.map((x) => conditionExpression(x, ctx)).join(joiner)})`;
    }
    default: {
      const never: never = c;
      throw new StorageError(`unknown condition ${JSON.stringify(never)}`);
    }
  }
}

/**
 * A name no MetaItem attribute can have ([A-Za-z0-9_]+ only): REMOVE-ing it is how an update
 * with nothing to change still creates the item (moto rejects UpdateItem without an expression).
 */
export const NOOP_ATTR = 'samsa:noop';

export function updateExpression(
  op: { set?: { [attr: string]: MetaValue }; remove?: string[]; add?: { [attr: string]: number } },
  ctx: ExpressionContext,
): string {
  const clauses: string[] = [];
  const set = Object.entries(op.set ?? {}).filter(([, v]) => v !== undefined);
  const add = Object.entries(op.add ?? {});
  const remove = op.remove ?? [];
  for (const k of [...set.map(([k]) => k), ...remove, ...add.map(([k]) => k)]) {
    if (k === 'pk' || k === 'sk') throw new StorageError(`update cannot change the key attribute ${k}`);
  }
  if (set.length) clauses.push(`SET ${set.map(([k, v]) => `${ctx.name(k)} = ${ctx.value(v)}`).join(', ')}`);
  if (remove.length) clauses.push(`REMOVE ${remove.map((k) => ctx.name(k)).join(', ')}`);
  if (add.length) clauses.push(`ADD ${add.map(([k, v]) => `${ctx.name(k)} ${ctx.value(v)}`).join(', ')}`);
  if (clauses.length === 0) clauses.push(`REMOVE ${ctx.name(NOOP_ATTR)}`);
  return clauses.join(' ');
}

// ---------------------------------------------------------------------------------------------
// Sort-key ranges
// ---------------------------------------------------------------------------------------------

/** DynamoDB orders string keys by UTF-8 bytes, i.e. by code point (JS `<` uses UTF-16 units). */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done) return y.done ? 0 : -1;
    if (y.done) return 1;
    const cx = x.value.codePointAt(0) ?? 0;
    const cy = y.value.codePointAt(0) ?? 0;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

/** The smallest string greater than every string that starts with `p`, or undefined if none. */
export function prefixUpperBound(p: string): string | undefined {
  const cps = [...p].map((ch) => ch.codePointAt(0) ?? 0);
  while (cps.length > 0) {
    const last = cps.pop() as number;
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1; // skip the surrogate block
      return String.fromCodePoint(...cps, next);
    }
  }
  return undefined;
}

export interface Bound {
  value: string;
  inclusive: boolean;
}

export interface SortKeyRange {
  lower?: Bound;
  upper?: Bound;
  /** Set when the range is exactly "begins with" (the cheapest key condition to send). */
  prefixOnly?: string;
  /** The bounds exclude everything. */
  empty: boolean;
}

/** Intersects every bound of a query (startAfter included) into one [lower, upper] range. */
export function sortKeyRange(q: {
  gte?: string;
  gt?: string;
  lte?: string;
  lt?: string;
  beginsWith?: string;
  startAfter?: string;
  reverse?: boolean;
}): SortKeyRange {
  let lower: Bound | undefined;
  let upper: Bound | undefined;
  const tightenLower = (b: Bound): void => {
    const c = lower ? compareKeys(b.value, lower.value) : 1;
    if (!lower || c > 0 || (c === 0 && !b.inclusive)) lower = b;
  };
  const tightenUpper = (b: Bound): void => {
    const c = upper ? compareKeys(b.value, upper.value) : -1;
    if (!upper || c < 0 || (c === 0 && !b.inclusive)) upper = b;
  };
  if (q.gte !== undefined) tightenLower({ value: q.gte, inclusive: true });
  if (q.gt !== undefined) tightenLower({ value: q.gt, inclusive: false });
  if (q.lte !== undefined) tightenUpper({ value: q.lte, inclusive: true });
  if (q.lt !== undefined) tightenUpper({ value: q.lt, inclusive: false });
  if (q.startAfter !== undefined) {
    if (q.reverse) tightenUpper({ value: q.startAfter, inclusive: false });
    else tightenLower({ value: q.startAfter, inclusive: false });
  }
  const hasOther = lower !== undefined || upper !== undefined;
  if (q.beginsWith !== undefined && q.beginsWith !== '') {
    tightenLower({ value: q.beginsWith, inclusive: true });
    const ub = prefixUpperBound(q.beginsWith);
    if (ub !== undefined) tightenUpper({ value: ub, inclusive: false });
    if (!hasOther) return { prefixOnly: q.beginsWith, empty: false };
  }
  let empty = false;
  if (lower && upper) {
    const c = compareKeys(lower.value, upper.value);
    empty = c > 0 || (c === 0 && !(lower.inclusive && upper.inclusive));
  }
  return { ...(lower ? { lower } : {}), ...(upper ? { upper } : {}), empty };
}

export function inRange(sk: string, r: SortKeyRange): boolean {
  if (r.prefixOnly !== undefined) return sk.startsWith(r.prefixOnly);
  if (r.lower) {
    const c = compareKeys(sk, r.lower.value);
    if (c < 0 || (c === 0 && !r.lower.inclusive)) return false;
  }
  if (r.upper) {
    const c = compareKeys(sk, r.upper.value);
    if (c > 0 || (c === 0 && !r.upper.inclusive)) return false;
  }
  return true;
}

/**
 * The sort-key part of a KeyConditionExpression. One-sided ranges are exact; two-sided ones
 * use BETWEEN on the inclusive values, and the caller drops an excluded endpoint itself.
 */
export function sortKeyCondition(r: SortKeyRange, ctx: ExpressionContext): string | undefined {
  if (!r.prefixOnly && !r.lower && !r.upper) return undefined;
  const sk = ctx.name('sk');
  if (r.prefixOnly !== undefined) return `begins_with(${sk}, ${ctx.value(r.prefixOnly)})`;
  if (r.lower && r.upper) {
    if (r.lower.value === r.upper.value) return `${sk} = ${ctx.value(r.lower.value)}`;
    return `${sk} BETWEEN ${ctx.value(r.lower.value)} AND ${ctx.value(r.upper.value)}`;
  }
  if (r.lower) return `${sk} ${r.lower.inclusive ? '>=' : '>'} ${ctx.value(r.lower.value)}`;
  if (r.upper) return `${sk} ${r.upper.inclusive ? '<=' : '<'} ${ctx.value(r.upper.value)}`;
  return undefined;
}
