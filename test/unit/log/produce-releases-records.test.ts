// Issue 18: a JSON produce's records (their keys and values: the request's parsed strings) are
// in the encoded batches before anything is committed; the engine must not keep them alive
// across the commit, where every young-generation collection would copy them again.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { createApp } from '../../../lib/http/app';
import { LogEngine } from '../../../lib/log/engine';
import { silentLogger } from '../../../lib/obs/logger';
import { codecsReady, Utf8 } from '../../../lib/records';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import type { WriteOp } from '../../../lib/storage/ports';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';

let dir: string;
beforeAll(codecsReady);
beforeEach(() => void (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-release-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** An engine whose metadata writes wait, once `held`, until `open()`; `reached` resolves when one waits. */
async function gatedEngine(partitions: number) {
  const meta = new SqliteMetaStore({ path: path.join(dir, `meta-${partitions}.sqlite`), fsync: false });
  const engine = new LogEngine(meta, new LocalObjectStore({ root: path.join(dir, `objects-${partitions}`), fsync: false }));
  await engine.createTopic('t', partitions);
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let entered!: () => void;
  const reached = new Promise<void>((r) => (entered = r));
  const { transact, write } = { transact: meta.transact.bind(meta), write: meta.write.bind(meta) };
  meta.transact = async (ops: WriteOp[]) => (entered(), await gate, transact(ops));
  meta.write = async (op: WriteOp) => (entered(), await gate, write(op));
  return { engine, open, reached };
}

/** How many of `refs` a full collection leaves alive. */
async function survivors(refs: Array<WeakRef<object>>): Promise<number> {
  await new Promise((r) => setImmediate(r));
  gc();
  await new Promise((r) => setImmediate(r));
  return refs.filter((r) => r.deref() !== undefined).length;
}

it.each([1, 3])('holds no produced record while the commit is under way (%i partitions)', async (partitions) => {
  const { engine, open, reached } = await gatedEngine(partitions);

  const refs: Array<WeakRef<object>> = [];
  const produced = (() => {
    // Built here and handed over: nothing but the engine refers to them afterwards.
    const records = Array.from({ length: 30 }, (_, i) => ({ key: new Utf8(`k${i}`), value: new Utf8(`v${i}`.repeat(100)), headers: [], timestamp: 1_700_000_000_000 + i }));
    for (const r of records) refs.push(new WeakRef(r), new WeakRef(r.value));
    return engine.produce('t', records);
  })();
  await reached;
  const alive = await survivors(refs);
  open();
  const offsets = await produced;
  expect(offsets.map((o) => o.timestamp)).toEqual(Array.from({ length: 30 }, (_, i) => 1_700_000_000_000 + i));
  expect(alive).toBe(0);
  await engine.close();
});

// The route reads a common body straight from its bytes (produce-parse.ts), its keys and values
// views of the body; anything else it parses as JSON (an unknown field here sends it that way).
it.each([
  ['read as JSON', { extra: 1 }],
  ['read from its bytes', {}],
])('the JSON produce route holds no parsed record, nor the body, while the commit is under way (%s)', async (how, extra) => {
  const { engine, open, reached } = await gatedEngine(3);
  const app = createApp({ engine, logger: silentLogger });
  const refs: Array<WeakRef<object>> = [];
  const parse = JSON.parse;
  JSON.parse = (text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
    const v = parse(text, reviver) as { records?: object[] };
    if (Array.isArray(v?.records)) for (const r of v.records) refs.push(new WeakRef(r));
    return v;
  };
  // The body as the route receives it (in-process requests read it through Request#arrayBuffer).
  const proto = Request.prototype as { arrayBuffer: (this: Request) => Promise<ArrayBuffer> };
  const arrayBuffer = proto.arrayBuffer;
  proto.arrayBuffer = async function (this: Request) {
    const b = await arrayBuffer.call(this);
    refs.push(new WeakRef(b));
    return b;
  };
  let answer: Promise<Response>;
  try {
    const body = JSON.stringify({ value_format: 'string', records: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `v${i}`.repeat(100) })), ...extra });
    answer = Promise.resolve(app.request('/v1/topics/t/records', { method: 'POST', body, headers: { 'content-type': 'application/json' } }));
    await reached;
  } finally {
    JSON.parse = parse;
    proto.arrayBuffer = arrayBuffer;
  }
  // The parsed records (when parsed as JSON) and the body's bytes.
  expect(refs).toHaveLength(how === 'read as JSON' ? 31 : 1);
  const alive = await survivors(refs);
  open();
  const res = await answer;
  expect(res.status).toBe(200);
  expect(((await res.json()) as { offsets: unknown[] }).offsets).toHaveLength(30);
  expect(alive).toBe(0);
  await engine.close();
});
