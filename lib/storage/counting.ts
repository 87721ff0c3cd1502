// Call and byte accounting around the storage ports, for benchmarks and cost estimates (S3
// bills per request and byte, DynamoDB per item size). Sizes are DynamoDB's measure
// (item-size.ts), re-exported here for the benchmarks that count with them.

import { itemSize, utf8Len, valueSize } from './item-size.js';
import type { MetaKey, MetaStore, ObjectStore, WriteOp } from './ports.js';

export { itemSize, valueSize } from './item-size.js';

type MethodOf<T> = { [K in keyof T]-?: NonNullable<T[K]> extends (...a: never[]) => unknown ? K : never }[keyof T];
export type ObjectStoreMethod = MethodOf<ObjectStore>;
export type MetaStoreMethod = MethodOf<MetaStore>;

export interface Counts<M extends string> {
  calls: Partial<Record<M, number>>;
  /** Calls that rejected, by method. */
  errors: Partial<Record<M, number>>;
  /** Bytes sent to the store: object bodies, or item sizes written. */
  bytesIn: number;
  /** Bytes returned by the store: object bodies read, or item sizes read. */
  bytesOut: number;
}

export interface Counting<M extends string> {
  snapshot(): Counts<M>;
  reset(): void;
}

class Counter<M extends string> implements Counting<M> {
  private c: Counts<M> = { calls: {}, errors: {}, bytesIn: 0, bytesOut: 0 };
  call(m: M): void {
    this.c.calls[m] = (this.c.calls[m] ?? 0) + 1;
  }
  error(m: M): void {
    this.c.errors[m] = (this.c.errors[m] ?? 0) + 1;
  }
  in(n: number): void {
    this.c.bytesIn += n;
  }
  out(n: number): void {
    this.c.bytesOut += n;
  }
  snapshot(): Counts<M> {
    return { calls: { ...this.c.calls }, errors: { ...this.c.errors }, bytesIn: this.c.bytesIn, bytesOut: this.c.bytesOut };
  }
  reset(): void {
    this.c = { calls: {}, errors: {}, bytesIn: 0, bytesOut: 0 };
  }
}

async function counted<M extends string, R>(c: Counter<M>, m: M, run: () => Promise<R>): Promise<R> {
  c.call(m);
  try {
    return await run();
  } catch (e) {
    c.error(m);
    throw e;
  }
}

export function countingObjectStore(inner: ObjectStore): ObjectStore & { counts: Counting<ObjectStoreMethod>; close(): Promise<void> } {
  const c = new Counter<ObjectStoreMethod>();
  return {
    counts: c,
    put: (key, body, opts) =>
      counted(c, 'put', () => {
        c.in(body.byteLength);
        return inner.put(key, body, opts);
      }),
    get: (key, range) =>
      counted(c, 'get', async () => {
        const b = await inner.get(key, range);
        c.out(b.byteLength);
        return b;
      }),
    head: (key) => counted(c, 'head', () => inner.head(key)),
    delete: (keys) => counted(c, 'delete', () => inner.delete(keys)),
    list: (prefix, opts) => counted(c, 'list', () => inner.list(prefix, opts)),
    append: (key, keep, body, opts) =>
      counted(c, 'append', () => {
        c.in(bodyBytes(body));
        return inner.append(key, keep, body, opts);
      }),
    compose: (key, sources, opts) => counted(c, 'compose', () => inner.compose(key, sources, opts)),
    get appendCopiesPrefix() {
      return inner.appendCopiesPrefix;
    },
    close: () => counted(c, 'close', async () => inner.close?.()),
  };
}

/** Bytes an op sends: the item for put, the key plus changed attributes otherwise. */
function opSize(op: WriteOp): number {
  switch (op.type) {
    case 'put':
      return itemSize(op.item);
    case 'update': {
      let n = itemSize({ ...op.key });
      for (const [k, v] of Object.entries(op.set ?? {})) n += utf8Len(k) + valueSize(v);
      for (const [k, v] of Object.entries(op.add ?? {})) n += utf8Len(k) + valueSize(v);
      return n;
    }
    default:
      return itemSize({ ...op.key });
  }
}

export function countingMetaStore(inner: MetaStore): MetaStore & { counts: Counting<MetaStoreMethod>; close(): Promise<void> } {
  const c = new Counter<MetaStoreMethod>();
  return {
    counts: c,
    get limits() {
      return inner.limits;
    },
    get traits() {
      return inner.traits;
    },
    get: (key, opts) =>
      counted(c, 'get', async () => {
        const item = await inner.get(key, opts);
        if (item) c.out(itemSize(item));
        return item;
      }),
    ...(inner.batchGet
      ? {
          batchGet: (keys: MetaKey[], opts?: { consistent?: boolean }) =>
            counted(c, 'batchGet', async () => {
              const items = await inner.batchGet!(keys, opts);
              for (const item of items) if (item) c.out(itemSize(item));
              return items;
            }),
        }
      : {}),
    query: (opts) =>
      counted(c, 'query', async () => {
        const page = await inner.query(opts);
        for (const item of page.items) c.out(itemSize(item));
        return page;
      }),
    write: (op) =>
      counted(c, 'write', () => {
        c.in(opSize(op));
        return inner.write(op);
      }),
    transact: (ops) =>
      counted(c, 'transact', () => {
        for (const op of ops) c.in(opSize(op));
        return inner.transact(ops);
      }),
    close: () => counted(c, 'close', async () => inner.close?.()),
  };
}

/** Bytes of an append's body, whole or in parts. */
function bodyBytes(body: Uint8Array | readonly Uint8Array[]): number {
  if (body instanceof Uint8Array) return body.byteLength;
  let n = 0;
  for (const p of body) n += p.byteLength;
  return n;
}
