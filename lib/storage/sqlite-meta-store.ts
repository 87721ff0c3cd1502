// MetaStore on SQLite (better-sqlite3) for embedded mode: one table keyed by (pk, sk), attribute maps stored as JSON text (binary values apart, in `bin`), conditions evaluated in JS inside a
// BEGIN IMMEDIATE transaction. Semantics follow DynamoDB so that code proven against this
// adapter behaves the same on AWS; see docs/design/0001-embedded-storage.md.

import v8 from 'node:v8';
import Database from 'better-sqlite3';
import { ConditionFailedError, StorageError, TransactionConflictError } from '../errors.js';
import { attributesSize, itemSize, utf8Len } from './item-size.js';
import { compareUtf8, prefixSuccessor } from './local-utf8.js';
import { type CheckpointStats, WalCheckpointer } from './sqlite-checkpointer.js';
import { stripBinary } from './strip-binary.js';
import type {
  Condition,
  MetaItem,
  MetaKey,
  MetaScalar,
  MetaStore,
  MetaStoreLimits,
  MetaStoreTraits,
  MetaValue,
  QueryOptions,
  QueryPage,
  WriteOp,
} from './ports.js';

/**
 * One file on one host: nothing is billed, a transaction costs what one write does, and every
 * process that opens the file runs beside this one. Items are sized by DynamoDB's rules (the
 * limit is enforced with them, so data moves to AWS unchanged), and by its 1 KB write unit
 * where a protocol sizes by it (a head-only commit, which tests run here too, behaves alike).
 * Commits up to 128 KiB stay inline: no object write, one fsync.
 */
export const SQLITE_TRAITS: MetaStoreTraits = Object.freeze({
  sizeOf: attributesSize,
  writeUnitBytes: 1024,
  transactionsCostDouble: false,
  inlineMaxBytes: 128 * 1024,
  sharedAcrossHosts: false,
});

export interface SqliteMetaStoreOptions {
  /** Database file, or ':memory:'. */
  path: string;
  /** How long a write waits for another process's lock before TransactionConflictError. */
  busyTimeoutMs?: number;
  /**
   * fsync the WAL on every commit (synchronous=FULL, default true). false uses NORMAL: a
   * committed transaction has reached the OS, which survives a crash of this process but not
   * of the machine (see docs/design/0004-embedded-durability.md).
   */
  fsync?: boolean;
  /**
   * A file database's WAL is checkpointed from a worker thread this often (ms; default 100)
   * rather than inside the commit that fills it (sqlite-checkpointer.ts); 0 leaves it to
   * SQLite's automatic checkpoint, in the commit.
   */
  checkpointIntervalMs?: number;
}

/**
 * With the checkpoint worker, the commit checkpoints only once the WAL holds this many pages
 * (SQLite's default is 1,000): a backstop that keeps the WAL bounded should the worker fall
 * behind or stop, never reached while it keeps up.
 */
const BACKSTOP_CHECKPOINT_PAGES = 4000;
/**
 * Write transactions before the checkpoint worker starts: a store that writes little (a CLI
 * command, most tests) never pays for a thread; until then the backstop checkpoints.
 */
const WRITES_BEFORE_CHECKPOINTER = 256;

type Attrs = { [attr: string]: MetaValue };
/** `value`: JSON text (rows written since the JSON encoding), or a v8-serialized blob (older rows). */
type Row = { sk: string; value: string | Buffer; bin: Buffer | null };
type KeyRow = { sk: string; value: string | Buffer; binLen: number | null };

const ATTR_NAME = /^[A-Za-z0-9_]+$/;
const MAX_PK_BYTES = 2048; // DynamoDB partition key limit
const MAX_SK_BYTES = 1024; // DynamoDB sort key limit

export class SqliteMetaStore implements MetaStore {
  readonly limits: MetaStoreLimits = { maxTransactItems: 100, maxItemBytes: 400 * 1024 };
  readonly traits: MetaStoreTraits = SQLITE_TRAITS;
  private readonly db: Database.Database;
  private readonly sGet: Database.Statement<[string, string], { value: string | Buffer; bin: Buffer | null }>;
  private readonly sPut: Database.Statement<[string, string, string, Buffer | null]>;
  private readonly sCreate: Database.Statement<[string, string, string, Buffer | null]>;
  private readonly sDel: Database.Statement<[string, string]>;
  private readonly queries = new Map<string, Database.Statement<unknown[], Row | KeyRow>>();
  private readonly txWrite: (op: WriteOp) => MetaItem | undefined;
  private readonly txMany: (ops: WriteOp[]) => void;
  /** Started once the store has written a little (WRITES_BEFORE_CHECKPOINTER); undefined until then. */
  private checkpointer: WalCheckpointer | undefined;
  private writes = 0;
  private checkpointIntervalMs: number;

  constructor(opts: SqliteMetaStoreOptions) {
    this.db = new Database(opts.path);
    // WAL: readers never block the writer; synchronous=FULL fsyncs the WAL on every commit,
    // so an acknowledged write survives a process kill and (as far as the disk honours
    // fsync) power loss. NORMAL is safe against process crashes only.
    // 16 KiB pages for a new database (an existing one keeps its own): inline commits of tens
    // of KiB span a quarter of the overflow pages and WAL frames they did at 4 KiB, which cut
    // a keyed 500-record JSON request's system time by about half (issue 18).
    this.db.pragma('page_size = 16384');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.fsync === false ? 'NORMAL' : 'FULL'}`);
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
    // A rowid table with (pk, sk) as its unique index, for a new database (an existing one keeps
    // the WITHOUT ROWID table it was made with; every statement below works on both). In a
    // WITHOUT ROWID table the whole row is the b-tree key, and SQLite compares a key that
    // overflows its page only after reading all of it: every lookup and insert near inline
    // commit pages of tens of KiB read several of them whole. The index holds only (pk, sk),
    // so a seek reads no value it does not return (issue 18: a keyed JSON request's commit
    // spent more time in those reads than in writing its pages).
    // An item's binary values (Uint8Array, at any depth) are stored apart from the rest of it,
    // in `bin`, the row's last column: a query that does not want them (withoutBinary: the
    // flush, whose inline commit pages' bytes it holds in memory) reads `value` from the row's
    // own page and never the overflow pages that hold the bytes, and a write serializes the
    // attributes without copying the bytes into the blob first (issue 18). A database made
    // before gets the column added; its rows (bin NULL) hold everything in `value`, as then.
    this.db.exec('CREATE TABLE IF NOT EXISTS items (pk TEXT NOT NULL, sk TEXT NOT NULL, value BLOB NOT NULL, bin BLOB, PRIMARY KEY (pk, sk))');
    const columns = this.db.prepare<[], { name: string }>('PRAGMA table_info(items)').all();
    if (!columns.some((c) => c.name === 'bin')) {
      try {
        this.db.exec('ALTER TABLE items ADD COLUMN bin BLOB');
      } catch (e) {
        // Another process opening the same file added it first.
        if (!/duplicate column/i.test((e as Error).message)) throw e;
      }
    }
    this.sGet = this.db.prepare('SELECT value, bin FROM items WHERE pk = ? AND sk = ?');
    // An upsert, not INSERT OR REPLACE: REPLACE deletes the old row and inserts a new one under a
    // new rowid at the table's right edge, so rewriting a partition head dirtied the head's old
    // leaf, the right-most leaf and index leaves for both keys: 4.7 WAL frames of 16 KiB for a
    // single-record commit (head + one commit page) against 3.2 with the head updated where it
    // is — WAL bytes written in every acknowledged produce and copied again by the checkpoint
    // (issue 18 item 1: in-process single-record request CPU about -10%). Same result on a
    // WITHOUT ROWID table.
    this.sPut = this.db.prepare('INSERT INTO items (pk, sk, value, bin) VALUES (?, ?, ?, ?) ON CONFLICT (pk, sk) DO UPDATE SET value = excluded.value, bin = excluded.bin');
    // A put conditional on the item's absence (every commit page) is this insert: the unique
    // index finds a taken key as a point get would, and a write that finds none needs no read
    // before it (issue 18 item 1: one statement and a row decode less per commit).
    this.sCreate = this.db.prepare('INSERT INTO items (pk, sk, value, bin) VALUES (?, ?, ?, ?) ON CONFLICT (pk, sk) DO NOTHING');
    this.sDel = this.db.prepare('DELETE FROM items WHERE pk = ? AND sk = ?');
    // IMMEDIATE takes the write lock up front: the read that feeds a condition and the write
    // it guards cannot interleave with another connection's commit.
    this.txWrite = this.db.transaction((op: WriteOp) => this.apply(op, 0, true)).immediate;
    this.txMany = this.db.transaction((ops: WriteOp[]) => {
      // Each op is checked, then written, in turn: ops name distinct keys (transact checks), so
      // a write cannot change what a later op's condition sees, and a failed condition rolls
      // back what went before. What is reported stays that of checking every condition first:
      // the first failing condition, else the first op that could not be written.
      for (let i = 0; i < ops.length; i++) {
        try {
          this.apply(ops[i]!, i, false);
        } catch (err) {
          if (!(err instanceof ConditionFailedError)) for (let j = i + 1; j < ops.length; j++) this.check(ops[j]!, j);
          throw err;
        }
      }
    }).immediate;
    // WAL checkpoints from a worker thread, the commit's own only as a backstop (sqlite-checkpointer.ts).
    this.checkpointIntervalMs = this.db.memory ? 0 : Math.max(0, Math.floor(opts.checkpointIntervalMs ?? 100));
    if (this.checkpointIntervalMs > 0) this.db.pragma(`wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_PAGES}`);
  }

  async get(key: MetaKey): Promise<MetaItem | undefined> {
    checkKey(key);
    return this.read(key.pk, key.sk);
  }

  async query(opts: QueryOptions): Promise<QueryPage> {
    checkKey({ pk: opts.pk, sk: 'x' });
    const { limit, reverse = false } = opts;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
      throw new Error(`query: limit must be a positive integer, got ${limit}`);
    }
    // Fold every bound into at most one lower and one upper bound (tightest wins; on a tie
    // the exclusive one), so a handful of cached statements serve every query shape.
    let lo: Bound | undefined;
    let hi: Bound | undefined;
    const lower = (v: string | undefined, incl: boolean) => {
      if (v !== undefined) lo = tighter(lo, { v, incl }, 1);
    };
    const upper = (v: string | undefined, incl: boolean) => {
      if (v !== undefined) hi = tighter(hi, { v, incl }, -1);
    };
    lower(opts.gte, true);
    lower(opts.gt, false);
    upper(opts.lte, true);
    upper(opts.lt, false);
    if (opts.beginsWith !== undefined) {
      lower(opts.beginsWith, true);
      upper(prefixSuccessor(opts.beginsWith), false);
    }
    if (opts.startAfter !== undefined) (reverse ? upper : lower)(opts.startAfter, false);

    // length(bin) is answered from the row's header: the bytes themselves are not read.
    let sql = opts.withoutBinary ? 'SELECT sk, value, length(bin) AS binLen FROM items WHERE pk = ?' : 'SELECT sk, value, bin FROM items WHERE pk = ?';
    const args: unknown[] = [opts.pk];
    if (lo) {
      sql += lo.incl ? ' AND sk >= ?' : ' AND sk > ?';
      args.push(lo.v);
    }
    if (hi) {
      sql += hi.incl ? ' AND sk <= ?' : ' AND sk < ?';
      args.push(hi.v);
    }
    sql += reverse ? ' ORDER BY sk DESC' : ' ORDER BY sk ASC';
    if (limit !== undefined) {
      sql += ' LIMIT ?';
      args.push(limit + 1); // one extra row tells whether `next` is needed
    }
    let stmt = this.queries.get(sql);
    if (!stmt) {
      stmt = this.db.prepare<unknown[], Row | KeyRow>(sql);
      this.queries.set(sql, stmt);
    }
    const rows = stmt.all(...args);
    const more = limit !== undefined && rows.length > limit;
    if (more) rows.length = limit;
    const items = opts.withoutBinary
      ? (rows as KeyRow[]).map((r) => withoutBinaryItem(opts.pk, r.sk, r.value, r.binLen))
      : (rows as Row[]).map((r) => toItem(opts.pk, r.sk, r.value, r.bin));
    return more ? { items, next: items[items.length - 1]?.sk } : { items };
  }

  async write(op: WriteOp): Promise<MetaItem | undefined> {
    checkOp(op);
    this.startCheckpointer();
    return this.run(this.txWrite, op);
  }

  async transact(ops: WriteOp[]): Promise<void> {
    if (ops.length > this.limits.maxTransactItems) {
      throw new Error(`transact: ${ops.length} ops exceed the limit of ${this.limits.maxTransactItems}`);
    }
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      checkOp(op);
      // Pairwise: a commit's transaction holds two ops per partition, a flush's a few deletes.
      const k = keyOf(op);
      for (let j = 0; j < i; j++) {
        const o = keyOf(ops[j]!);
        if (o.pk === k.pk && o.sk === k.sk) throw new Error(`transact: more than one op for key ${JSON.stringify([k.pk, k.sk])}`);
      }
    }
    if (ops.length === 0) return;
    this.startCheckpointer();
    this.run(this.txMany, ops);
  }

  /** What the checkpoint worker last saw (undefined: no worker; tests and diagnostics). */
  checkpointStats(): CheckpointStats | undefined {
    return this.checkpointer?.read();
  }

  async close(): Promise<void> {
    const checkpointer = this.checkpointer;
    this.checkpointer = undefined;
    await checkpointer?.close();
    if (this.db.open) this.db.close();
  }

  private startCheckpointer(): void {
    if (this.checkpointer || this.checkpointIntervalMs === 0 || ++this.writes < WRITES_BEFORE_CHECKPOINTER || !this.db.open) return;
    this.checkpointer = new WalCheckpointer(this.db.name, this.checkpointIntervalMs, () => {
      // The worker stopped on its own (it could not open the file, a native failure): the
      // commit checkpoints again as SQLite does by default, and no new worker is started.
      this.checkpointer = undefined;
      this.checkpointIntervalMs = 0;
      if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000');
    });
  }

  private read(pk: string, sk: string): MetaItem | undefined {
    const row = this.sGet.get(pk, sk);
    return row ? toItem(pk, sk, row.value, row.bin) : undefined;
  }

  /** The stored item's attributes (no pk, sk), in a fresh object the caller may change. */
  private readAttrs(pk: string, sk: string): Attrs | undefined {
    const row = this.sGet.get(pk, sk);
    if (!row) return undefined;
    if (typeof row.value === 'string') {
      const attrs = JSON.parse(row.value) as Attrs;
      return row.bin === null ? attrs : (withBinary(attrs, row.bin) as Attrs);
    }
    const { pk: _pk, sk: _sk, ...attrs } = toItem(pk, sk, row.value, row.bin);
    return attrs;
  }

  /** Fails unless op's condition holds for the stored item (all a transaction's ops after a write error). */
  private check(op: WriteOp, index: number): void {
    if (op.condition === undefined) return;
    const k = keyOf(op);
    const cur = this.read(k.pk, k.sk);
    if (!evaluate(op.condition, cur)) throw new ConditionFailedError(index, cur);
  }

  /**
   * Checks op's condition against the stored item, then writes. Runs inside a transaction. A
   * plain put or delete reads no stored item (issue 18: a flush's deletes of inline commit pages
   * read every page's bytes once more so), a create-if-absent only when the key is taken.
   * `result`: return the item as written (write(); a transaction's ops need none built).
   */
  private apply(op: WriteOp, index: number, result: boolean): MetaItem | undefined {
    switch (op.type) {
      case 'check':
      case 'delete':
        this.check(op, index);
        if (op.type === 'delete') this.sDel.run(op.key.pk, op.key.sk);
        return undefined;
      case 'put': {
        const item = op.item;
        const create = op.condition?.op === 'notExists';
        if (!create) this.check(op, index);
        const size = itemSize(item);
        if (size > this.limits.maxItemBytes) {
          if (create) this.check(op, index); // a taken key fails its condition first, as it did
          throw tooLarge(item.pk, item.sk, size, this.limits.maxItemBytes);
        }
        const enc = encodeAttrs(item);
        if (!create) this.sPut.run(item.pk, item.sk, enc.json, enc.bin);
        else if (this.sCreate.run(item.pk, item.sk, enc.json, enc.bin).changes === 0) this.check(op, index);
        if (!result) return undefined;
        const stored: MetaItem = { pk: item.pk, sk: item.sk };
        for (const k in item) if (k !== 'pk' && k !== 'sk') stored[k] = item[k]!;
        return stored;
      }
      case 'update': {
        const { pk, sk } = op.key;
        // The stored attributes, parsed once: the condition reads them, the update changes them
        // in place (a set attribute keeps its place, a new one comes last, as before).
        const cur = this.readAttrs(pk, sk);
        if (op.condition && !evaluateAttrs(op.condition, pk, sk, cur)) throw new ConditionFailedError(index, cur && { pk, sk, ...cur });
        const attrs: Attrs = cur ?? {};
        const set = op.set;
        if (set) for (const k in set) attrs[k] = set[k]!;
        if (op.remove) for (const k of op.remove) delete attrs[k];
        const add = op.add;
        if (add) {
          for (const k in add) {
            const old = attrs[k] ?? 0;
            if (typeof old !== 'number') {
              throw new StorageError(`update ${pk}/${sk}: cannot add to ${k}, which is not a number`);
            }
            const sum = old + add[k]!;
            if (!Number.isFinite(sum)) throw new StorageError(`update ${pk}/${sk}: ${k} overflows`);
            attrs[k] = sum;
          }
        }
        const size = keySize(pk, sk) + attributesSize(attrs);
        if (size > this.limits.maxItemBytes) throw tooLarge(pk, sk, size, this.limits.maxItemBytes);
        const enc = encodeAttrs(attrs);
        this.sPut.run(pk, sk, enc.json, enc.bin);
        return result ? { pk, sk, ...attrs } : undefined;
      }
    }
  }

  private run<A, T>(f: (a: A) => T, a: A): T {
    try {
      return f(a);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT' || code === 'SQLITE_LOCKED') {
        throw new TransactionConflictError(`sqlite: ${(e as Error).message}`, { cause: e });
      }
      if (e instanceof Error && code?.startsWith('SQLITE_')) {
        throw new StorageError(`sqlite: ${e.message}`, false, { cause: e });
      }
      throw e;
    }
  }
}

// --- conditions ------------------------------------------------------------------------------

function attrOf(pk: string, sk: string, attrs: Attrs | undefined, attr: string): MetaValue | undefined {
  if (attrs === undefined) return undefined;
  if (attr === 'pk') return pk;
  if (attr === 'sk') return sk;
  return Object.hasOwn(attrs, attr) ? attrs[attr] : undefined;
}

function scalarEquals(a: MetaValue, b: MetaScalar): boolean {
  if (a instanceof Uint8Array) return b instanceof Uint8Array && Buffer.compare(a, b) === 0;
  return a === b; // number vs string (or any type mismatch) is never equal, as in DynamoDB
}

/** DynamoDB semantics: a missing attribute or a type mismatch makes a comparison false, except `ne`. */
export function evaluate(c: Condition, item: MetaItem | undefined): boolean {
  return evaluateAttrs(c, item?.pk ?? '', item?.sk ?? '', item);
}

/** evaluate() on an item given as its key and its attributes (undefined: no item). */
function evaluateAttrs(c: Condition, pk: string, sk: string, attrs: Attrs | undefined): boolean {
  switch (c.op) {
    case 'exists':
      return attrs !== undefined;
    case 'notExists':
      return attrs === undefined;
    case 'attrExists':
      return attrOf(pk, sk, attrs, c.attr) !== undefined;
    case 'attrNotExists':
      return attrOf(pk, sk, attrs, c.attr) === undefined;
    case 'eq': {
      const v = attrOf(pk, sk, attrs, c.attr);
      return v !== undefined && scalarEquals(v, c.value);
    }
    case 'ne': {
      const v = attrOf(pk, sk, attrs, c.attr);
      return v === undefined || !scalarEquals(v, c.value);
    }
    case 'lt':
    case 'le':
    case 'gt':
    case 'ge': {
      const v = attrOf(pk, sk, attrs, c.attr);
      let d: number;
      if (typeof v === 'number' && typeof c.value === 'number') d = v - c.value;
      else if (typeof v === 'string' && typeof c.value === 'string') d = compareUtf8(v, c.value);
      else return false;
      return c.op === 'lt' ? d < 0 : c.op === 'le' ? d <= 0 : c.op === 'gt' ? d > 0 : d >= 0;
    }
    case 'and':
      for (let i = 0; i < c.conds.length; i++) if (!evaluateAttrs(c.conds[i]!, pk, sk, attrs)) return false;
      return true;
    case 'or':
      for (let i = 0; i < c.conds.length; i++) if (evaluateAttrs(c.conds[i]!, pk, sk, attrs)) return true;
      return false;
  }
}

// --- validation: misuse is a plain Error (a bug); data DynamoDB would reject is a StorageError --

function keyOf(op: WriteOp): MetaKey {
  return op.type === 'put' ? op.item : op.key;
}

function checkKey(k: MetaKey): void {
  if (typeof k.pk !== 'string' || typeof k.sk !== 'string') throw new Error('pk and sk must be strings');
  if (k.pk === '' || k.sk === '') throw new StorageError('pk and sk must be non-empty strings');
  if (Buffer.byteLength(k.pk) > MAX_PK_BYTES) throw new StorageError(`pk longer than ${MAX_PK_BYTES} bytes`);
  if (Buffer.byteLength(k.sk) > MAX_SK_BYTES) throw new StorageError(`sk longer than ${MAX_SK_BYTES} bytes`);
}

function checkName(name: string): void {
  if (!ATTR_NAME.test(name) || name === 'pk' || name === 'sk' || name === '__proto__') {
    throw new Error(`invalid attribute name ${JSON.stringify(name)}`);
  }
}

/** Whether checkValue accepts `v`, without building the path strings it names a bad value with. */
function validValue(v: unknown): boolean {
  if (typeof v === 'string' || typeof v === 'boolean' || v === null || v instanceof Uint8Array) return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!validValue(v[i])) return false;
    return true;
  }
  if (typeof v === 'object' && v !== undefined && Object.getPrototypeOf(v) === Object.prototype) {
    for (const k in v) if (Object.hasOwn(v, k) && !validValue((v as Record<string, unknown>)[k])) return false;
    return true;
  }
  return false;
}

function checkValue(v: unknown, where: string): void {
  // Every write checks every value: the common (valid) case allocates nothing (issue 18).
  if (validValue(v)) return;
  if (typeof v === 'string' || typeof v === 'boolean' || v === null || v instanceof Uint8Array) return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new StorageError(`${where}: numbers must be finite, got ${v}`);
    return;
  }
  if (Array.isArray(v)) {
    v.forEach((x, i) => checkValue(x, `${where}[${i}]`));
    return;
  }
  if (typeof v === 'object' && v !== undefined && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, x] of Object.entries(v)) checkValue(x, `${where}.${k}`);
    return;
  }
  throw new StorageError(`${where}: unsupported value ${String(v)}`);
}

function checkCondition(c: Condition): void {
  switch (c.op) {
    case 'and':
    case 'or':
      if (!Array.isArray(c.conds) || c.conds.length === 0) throw new Error(`condition ${c.op} needs operands`);
      c.conds.forEach(checkCondition);
      return;
    case 'exists':
    case 'notExists':
      return;
    case 'attrExists':
    case 'attrNotExists':
      if (typeof c.attr !== 'string' || c.attr === '') throw new Error(`condition ${c.op} needs an attribute`);
      return;
    case 'eq':
    case 'ne':
      if (typeof c.attr !== 'string' || c.attr === '') throw new Error(`condition ${c.op} needs an attribute`);
      checkValue(c.value, `condition ${c.op}`);
      if (typeof c.value === 'object' && c.value !== null && !(c.value instanceof Uint8Array)) {
        throw new Error(`condition ${c.op} compares scalars only`);
      }
      return;
    case 'lt':
    case 'le':
    case 'gt':
    case 'ge':
      if (typeof c.attr !== 'string' || c.attr === '') throw new Error(`condition ${c.op} needs an attribute`);
      if (typeof c.value !== 'string' && !(typeof c.value === 'number' && Number.isFinite(c.value))) {
        throw new Error(`condition ${c.op} compares a number or a string`);
      }
      return;
    default:
      throw new Error(`unknown condition ${JSON.stringify(c)}`);
  }
}

function twice(k: string): never {
  throw new Error(`update: attribute ${k} appears in more than one of set/remove/add`);
}

function checkOp(op: WriteOp): void {
  checkKey(keyOf(op));
  if (op.condition !== undefined) checkCondition(op.condition);
  else if (op.type === 'check') throw new Error('check op needs a condition');
  switch (op.type) {
    case 'put':
      for (const k in op.item) {
        if (k === 'pk' || k === 'sk') continue;
        checkName(k);
        checkValue(op.item[k], k);
      }
      return;
    case 'update': {
      // An attribute named in more than one of set/remove/add is a bug (DynamoDB refuses it).
      const { set, remove, add } = op;
      if (set) {
        for (const k in set) {
          checkName(k);
          checkValue(set[k], k);
        }
      }
      if (remove) {
        for (let i = 0; i < remove.length; i++) {
          const k = remove[i]!;
          checkName(k);
          if ((set && Object.hasOwn(set, k)) || remove.indexOf(k) !== i) twice(k);
        }
      }
      if (add) {
        for (const k in add) {
          checkName(k);
          if ((set && Object.hasOwn(set, k)) || remove?.includes(k)) twice(k);
          const n = add[k];
          if (typeof n !== 'number' || !Number.isFinite(n)) throw new Error(`update: add.${k} must be a finite number`);
        }
      }
      return;
    }
    case 'delete':
    case 'check':
      return;
    default:
      throw new Error(`unknown op ${JSON.stringify(op)}`);
  }
}

// --- helpers ---------------------------------------------------------------------------------

/** What the key attributes add to an item's size (itemSize counts them like any attribute). */
const keySize = (pk: string, sk: string): number => 4 + utf8Len(pk) + utf8Len(sk);

const tooLarge = (pk: string, sk: string, size: number, max: number): StorageError =>
  new StorageError(`item ${pk}/${sk} is ${size} bytes, over the ${max}-byte limit`);

interface Bound {
  v: string;
  incl: boolean;
}

/** The tighter of two bounds; dir=1 for lower bounds (larger is tighter), -1 for upper. */
function tighter(a: Bound | undefined, b: Bound, dir: 1 | -1): Bound {
  if (!a) return b;
  const d = compareUtf8(a.v, b.v) * dir;
  if (d !== 0) return d > 0 ? a : b;
  return a.incl ? b : a;
}

/**
 * The item of a row. `bin`: the row's binary column; null for a row that has none; undefined
 * when the query left it unread (withoutBinary), whose binary values then come back as an empty
 * array for the caller to strip. `value` is JSON text, or for rows written before the JSON
 * encoding a v8-serialized blob (with `bin` holding the binary values by host-object reference,
 * or, when null, everything inline).
 */
function toItem(pk: string, sk: string, value: string | Buffer, bin: Buffer | null | undefined): MetaItem {
  if (typeof value === 'string') {
    const attrs = JSON.parse(value) as Attrs;
    return { pk, sk, ...(bin === null ? attrs : (withBinary(attrs, bin) as Attrs)) };
  }
  if (bin === null) return { pk, sk, ...(v8.deserialize(value) as Attrs) };
  const des = new BinaryDeserializer(value, bin);
  des.readHeader();
  return { pk, sk, ...(des.readValue() as Attrs) };
}

const UNREAD = new Uint8Array(0);

/**
 * A row read withoutBinary (its `bin` column unread; `binLen` null when it has none). JSON rows
 * lose their binary markers while parsed, in the fresh objects JSON.parse made: what
 * stripBinary would leave of the item, without a second walk and copy (issue 18: the flush
 * reads every commit page so).
 */
function withoutBinaryItem(pk: string, sk: string, value: string | Buffer, binLen: number | null): MetaItem {
  if (typeof value !== 'string') return stripBinary(toItem(pk, sk, value, binLen === null ? null : undefined));
  const attrs = JSON.parse(value) as Attrs;
  if (binLen !== null) dropMarkers(attrs);
  return { pk, sk, ...attrs };
}

/** Removes binary markers from parsed JSON in place: a map loses the attribute, a list the element (as stripBinary). */
function dropMarkers(v: unknown): void {
  if (Array.isArray(v)) {
    let w = 0;
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (x !== null && typeof x === 'object') {
        if (isMarker(x)) continue;
        dropMarkers(x);
      }
      v[w++] = x;
    }
    v.length = w;
    return;
  }
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k in o) {
      const x = o[k];
      if (x === null || typeof x !== 'object') continue;
      if (isMarker(x)) delete o[k];
      else dropMarkers(x);
    }
  }
}

const isMarker = (x: object): boolean => !Array.isArray(x) && Object.hasOwn(x, BIN);

/**
 * A binary value's place in the JSON: `{"\u0000b": [isBuffer, offset, length]}` into the row's
 * `bin` column. NUL appears in no attribute name or key this store is given (names are
 * [A-Za-z0-9_], nested keys topic, member and config names), so the marker is unambiguous.
 */
const BIN = '\u0000b';

/**
 * An item's attributes as JSON text plus its binary values, concatenated, for the `bin` column
 * (null when it has none; never an empty blob, which a driver may bind as NULL). JSON, not v8
 * serialization: every v8 (De)Serializer is a native object behind a weak handle, and a commit
 * made about four of them — each young-generation collection then spent part of its pause on
 * those handles, the largest in-server share of the single-record p99 (issue 18). An item with
 * a single binary value (a commit page of one extent) stores that very array: no copy.
 */
function encodeAttrs(attrs: Attrs | MetaItem): { json: string; bin: Buffer | null } {
  const found: BinaryParts = { parts: [], length: 0 };
  // The top level is copied (without an item's pk and sk, which are columns of their own), in
  // its key order; below it only the containers on the way to a binary value.
  const top: Record<string, unknown> = {};
  for (const k in attrs) {
    if (k === 'pk' || k === 'sk') continue;
    const x = attrs[k]!;
    top[k] = x !== null && typeof x === 'object' ? swapBinary(x, found) : x;
  }
  const json = JSON.stringify(top);
  const { parts, length } = found;
  if (parts.length === 0) return { json, bin: null };
  if (length === 0) return { json, bin: Buffer.alloc(1) };
  const one = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  return { json, bin: Buffer.from(one.buffer, one.byteOffset, one.byteLength) };
}

/** The binary values encodeAttrs has met so far, and their total length. */
type BinaryParts = { parts: Uint8Array[]; length: number };

/**
 * `v` with its binary values replaced by their markers (appended to `found`). Copies only the
 * containers on the way to a binary value; the rest is shared as it is. Module functions, not
 * closures per call: every commit encodes two items (issue 18 item 1).
 */
function swapBinary(v: MetaValue, found: BinaryParts): unknown {
  if (v instanceof Uint8Array) {
    const r = { [BIN]: [Buffer.isBuffer(v) ? 1 : 0, found.length, v.byteLength] };
    found.parts.push(v);
    found.length += v.byteLength;
    return r;
  }
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (x === null || typeof x !== 'object') continue;
      const y = swapBinary(x, found);
      if (y !== x) (out ??= v.slice())[i] = y;
    }
    return out ?? v;
  }
  if (v !== null && typeof v === 'object') {
    let out: Record<string, unknown> | undefined;
    for (const k in v) {
      const x = v[k]!;
      if (x === null || typeof x !== 'object') continue;
      const y = swapBinary(x, found);
      if (y !== x) (out ??= { ...v })[k] = y;
    }
    return out ?? v;
  }
  return v;
}

/** Parsed JSON with its binary markers replaced by views of `bin` (or UNREAD when unread). */
function withBinary(v: unknown, bin: Buffer | undefined): unknown {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (x !== null && typeof x === 'object') v[i] = withBinary(x, bin);
    }
    return v;
  }
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const r = o[BIN] as [number, number, number] | undefined;
    if (r !== undefined) {
      if (!bin) return UNREAD;
      const at = bin.byteOffset + r[1];
      return r[0] === 1 ? Buffer.from(bin.buffer, at, r[2]) : new Uint8Array(bin.buffer, at, r[2]);
    }
    for (const k in o) {
      const x = o[k];
      if (x !== null && typeof x === 'object') o[k] = withBinary(x, bin);
    }
  }
  return v;
}

/** Rows written before the JSON encoding: v8 serialization with binary values in `bin`. */
class BinaryDeserializer extends v8.DefaultDeserializer {
  constructor(
    value: Buffer,
    private readonly binary: Buffer | undefined,
  ) {
    super(value);
  }

  _readHostObject(): Uint8Array {
    const isBuffer = this.readUint32() === 1;
    const offset = this.readUint32();
    const length = this.readUint32();
    if (!this.binary) return UNREAD;
    const at = this.binary.byteOffset + offset;
    return isBuffer ? Buffer.from(this.binary.buffer, at, length) : new Uint8Array(this.binary.buffer, at, length);
  }
}
