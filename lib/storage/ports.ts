// The two storage ports every Samsa backend implements. The log engine, consumer groups and
// jobs only ever talk to these interfaces; adapters (local files + SQLite for embedded mode,
// S3 + DynamoDB for AWS) live beside this file and are all held to the same contract suites
// in test/contract/.

// ---------------------------------------------------------------------------------------------
// ObjectStore: immutable-ish blobs addressed by key (S3 semantics).
// ---------------------------------------------------------------------------------------------

export interface ObjectInfo {
  key: string;
  size: number;
  /** ms since epoch, as reported by the store (S3 LastModified, file mtime). */
  lastModified: number;
  /** Changes whenever the content changes (S3 ETag). Present from head(). */
  etag?: string;
}

export interface ByteRange {
  /** first byte, inclusive */
  start: number;
  /** last byte + 1 (exclusive). Clamped to the object size; a start at or past the end reads no bytes. */
  end: number;
}

export interface PutOptions {
  /** Fail with PreconditionFailedError if an object already exists at the key (S3 If-None-Match: *). */
  ifNoneMatch?: boolean;
}

export interface AppendOptions {
  /**
   * Only if the object's current ETag is this one (S3 If-Match), else PreconditionFailedError.
   * This is how a writer whose view is stale (a paused former leader) is kept from replacing
   * bytes a newer writer committed: object stores cannot check metadata-store conditions.
   */
  ifMatch?: string;
  /** Only if no object exists at the key (with keepBytes = 0), else PreconditionFailedError. */
  ifNoneMatch?: boolean;
}

export interface ComposeSource {
  key: string;
  size: number;
  etag?: string;
}

export interface ListPage {
  objects: ObjectInfo[];
  /** Pass back as `startAfter` for the next page; undefined on the last page. */
  next?: string;
}

export interface ObjectStore {
  /** Durable once the promise resolves. */
  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<void>;
  /** Throws ObjectNotFoundError when absent. A range past the end is clamped. */
  get(key: string, range?: ByteRange): Promise<Uint8Array>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Deleting an absent key is not an error. */
  delete(keys: string[]): Promise<void>;
  /** Keys in lexicographic (UTF-8 byte) order, at most `limit` (default 1000) per page. */
  list(prefix: string, opts?: { startAfter?: string; limit?: number }): Promise<ListPage>;
  /**
   * Make `key` hold the first `keepBytes` bytes of its current content followed by `body`
   * (keepBytes = 0 creates or replaces the object). Durable once resolved. Throws
   * ObjectNotFoundError when keepBytes > 0 and the key is absent, and InvalidRangeError when
   * the object is shorter than keepBytes. Readers of ranges below keepBytes see the same bytes
   * before, during and after the call. The local adapter writes in place; S3 composes a new
   * object with a multipart upload (UploadPartCopy of the kept prefix) so memory stays bounded.
   * Resolves with the object's new ETag. `body` may come in parts, written end to end: the
   * flush appends a step's batches as they lie in memory (the local adapter writes them with
   * one writev instead of first copying them into one array, issue 18).
   */
  append(key: string, keepBytes: number, body: Uint8Array | readonly Uint8Array[], opts?: AppendOptions): Promise<{ etag: string }>;
  /**
   * Make `key` hold the concatenation of `sources` — each the first `size` bytes of an object,
   * which must hold at least that many (else InvalidRangeError) and, with `etag`, be exactly
   * that version (else PreconditionFailedError) — in one atomic replace, conditional as
   * `append` is (`ifMatch`, or `ifNoneMatch` for a new key). A source may be `key` itself:
   * what it held before the call is what is copied. S3 copies server-side (UploadPartCopy)
   * where a source reaches the 5 MiB part minimum, so the bytes never pass through the caller;
   * this is how a segment written in chunks becomes one object (design note 0011).
   */
  compose(key: string, sources: readonly ComposeSource[], opts?: AppendOptions): Promise<{ etag: string }>;
  /**
   * When true, `append` rewrites the kept prefix (S3 copies it server-side), so its cost grows
   * with the object: the flush then writes an active segment in chunks (design note 0011).
   * Local files append in place.
   */
  readonly appendCopiesPrefix?: boolean;
  /**
   * A URL that lets its bearer GET exactly `range` of `key` for `expiresInSeconds`, with no
   * other credential (S3: a presigned GetObject whose signature covers the Range header). Only
   * stores reachable from outside the process have one; the embedded server serves such reads
   * itself.
   */
  presignGet?(key: string, range: ByteRange, expiresInSeconds: number): Promise<string>;
  /** Release sockets / file handles. */
  close?(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// MetaStore: a DynamoDB-shaped item store. Items live under a partition key (pk) and are
// ordered by a string sort key (sk). Every write may carry a condition; `transact` applies up
// to `limits.maxTransactItems` writes atomically (all or nothing). Reads are strongly
// consistent unless `consistent: false` is asked for.
// ---------------------------------------------------------------------------------------------

export type MetaScalar = string | number | boolean | null | Uint8Array;
export type MetaValue = MetaScalar | MetaValue[] | { [key: string]: MetaValue };

export interface MetaKey {
  pk: string;
  sk: string;
}

/** An item: its key plus attributes. Attribute names are [A-Za-z0-9_]+, never "pk"/"sk". */
export type MetaItem = MetaKey & { [attr: string]: MetaValue };

/**
 * Conditions are evaluated against the item currently stored at the op's key, atomically with
 * the write. Comparisons on a missing attribute are false (as in DynamoDB), except `ne`, which
 * is true there (DynamoDB's `<>`); values of different types are never equal.
 */
export type Condition =
  | { op: 'notExists' }
  | { op: 'exists' }
  | { op: 'attrExists'; attr: string }
  | { op: 'attrNotExists'; attr: string }
  | { op: 'eq' | 'ne'; attr: string; value: MetaScalar }
  | { op: 'lt' | 'le' | 'gt' | 'ge'; attr: string; value: number | string }
  | { op: 'and' | 'or'; conds: Condition[] };

export type WriteOp =
  | { type: 'put'; item: MetaItem; condition?: Condition }
  /**
   * Creates the item when absent (as DynamoDB's UpdateItem does). `add` increments numeric
   * attributes (a missing attribute counts as 0). An attribute may appear in only one of
   * set/remove/add.
   */
  | {
      type: 'update';
      key: MetaKey;
      set?: { [attr: string]: MetaValue };
      remove?: string[];
      add?: { [attr: string]: number };
      condition?: Condition;
    }
  | { type: 'delete'; key: MetaKey; condition?: Condition }
  | { type: 'check'; key: MetaKey; condition: Condition };

export interface QueryOptions {
  pk: string;
  /** Sort-key bounds, all optional, combined with AND. */
  gte?: string;
  gt?: string;
  lte?: string;
  lt?: string;
  beginsWith?: string;
  /** Descending sort-key order when true. */
  reverse?: boolean;
  /** Maximum items returned (the page may be shorter; follow `next`). */
  limit?: number;
  /** Resume after this sort key (exclusive), in the query's direction. */
  startAfter?: string;
  consistent?: boolean;
  /**
   * Leave binary values (Uint8Array, at any depth) out of the returned items: a map loses the
   * attribute, a list the element. For a caller that needs everything of an item but its bytes
   * (the flush of inline commit pages whose bytes it holds in memory, issue 18): SQLite then
   * never reads them; DynamoDB, which cannot project nested values out, drops them after the
   * read (same result, no saving).
   */
  withoutBinary?: boolean;
}

export interface QueryPage {
  items: MetaItem[];
  /** Sort key to pass as `startAfter` for the next page; undefined when exhausted. */
  next?: string;
}

export interface MetaStoreLimits {
  /** Operations per transact call (DynamoDB: 100). */
  maxTransactItems: number;
  /** Serialized size of one item in bytes (DynamoDB: 400 KiB). */
  maxItemBytes: number;
}

/**
 * What a store's writes cost and how it is shared: the engine sizes and shapes its writes by
 * these (commit.ts), so the wiring needs no switch on which store it built.
 */
export interface MetaStoreTraits {
  /** Size of stored attributes, names included, as the store's item limit and billing count it. */
  sizeOf(attrs: { [attr: string]: MetaValue }): number;
  /** Writes are billed per started unit of this many bytes of item (DynamoDB: 1 KB). */
  writeUnitBytes: number;
  /** A transaction's writes cost twice a plain write's (DynamoDB), so avoid them where one write does. */
  transactionsCostDouble: boolean;
  /**
   * Commits up to this size are cheaper kept inline in items than written ahead to an object
   * (beyond it, the item bytes cost more than the object's requests).
   */
  inlineMaxBytes: number;
  /**
   * Items mode (lib/log/commit-items.ts): the largest commit item, as stored (its batch deflated
   * when that pays, keys and attribute names included), that is cheaper than writing the batch
   * ahead to an object, for an item stored this long (item-inline-cost.ts). Absent: the store
   * has no such price, and items mode keeps items up to inlineMaxBytes.
   */
  itemInlineMaxBytes?(life: ItemLife): number;
  /**
   * Processes on other hosts may use the store: their writes are seen only by reading it, and
   * a lease owner cannot be checked for liveness locally.
   */
  sharedAcrossHosts: boolean;
}

/** How long a commit item is stored, and whether it leaves by a (billed) delete rather than by TTL. */
export interface ItemLife {
  days: number;
  deleted: boolean;
}

export interface MetaStore {
  readonly limits: MetaStoreLimits;
  readonly traits: MetaStoreTraits;
  get(key: MetaKey, opts?: { consistent?: boolean }): Promise<MetaItem | undefined>;
  /**
   * Optional: many gets in few requests (DynamoDB BatchGetItem, 100 keys each), strongly
   * consistent unless `consistent: false` (half the read price on DynamoDB). Items in key
   * order, undefined where absent. Callers fall back to `get` without it.
   */
  batchGet?(keys: MetaKey[], opts?: { consistent?: boolean }): Promise<Array<MetaItem | undefined>>;
  query(opts: QueryOptions): Promise<QueryPage>;
  /**
   * One conditional write. Returns the item as stored after the write (undefined for delete
   * and check). Throws ConditionFailedError (with the current item) when the condition fails.
   */
  write(op: WriteOp): Promise<MetaItem | undefined>;
  /**
   * All ops or none. At most one op per key. Throws ConditionFailedError naming the index of
   * the first failed condition (and the item there, when known); TransactionConflictError when
   * a concurrent transaction interfered (retriable).
   */
  transact(ops: WriteOp[]): Promise<void>;
  close?(): Promise<void>;
}
