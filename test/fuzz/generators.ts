// Request generators for the fuzzer (test/fuzz/fuzz.ts): one family driven by the server's own
// /openapi.json (valid-looking requests with some fields bent out of shape), and hostile
// families that target the limits of docs/limits.md — compression bombs in every codec, header
// floods, batches whose fields lie, deep and huge JSON, odd path segments and Unicode, wrong
// types and content types, huge numbers, slow bodies. Everything is drawn from a seeded PRNG,
// so a request is replayed exactly from (seed, index).
import { Compression, compress, crc32c, encodeRecordBatch } from '../../lib/records';
import { zigzag } from '../helpers/records';

// --- PRNG -------------------------------------------------------------------------------------

/** sfc32-style generator: small, fast, and good enough to drive test inputs. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    this.a = seed >>> 0;
    this.b = (stream * 0x9e3779b9) >>> 0;
    this.c = 0xdeadbeef ^ (seed * 31 + stream);
    this.d = 1;
    for (let i = 0; i < 15; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  bool(p = 0.5): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)]!;
  }

  /** Picks by weight: [[weight, value], ...]. */
  weighted<T>(items: ReadonlyArray<readonly [number, T]>): T {
    const total = items.reduce((a, [w]) => a + w, 0);
    let x = this.float() * total;
    for (const [w, v] of items) {
      x -= w;
      if (x < 0) return v;
    }
    return items[items.length - 1]![1];
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

// --- requests ----------------------------------------------------------------------------------

export interface FuzzRequest {
  /** Which generator made it (for the report). */
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array;
  /** Send the body in small chunks with pauses (a slow client). */
  slow?: boolean;
}

export const RECORD_BATCH = 'application/vnd.kafka.record-batch';
const enc = new TextEncoder();
const utf8 = (s: string): Uint8Array => enc.encode(s);

/** Names the run creates and keeps (never deleted by generated requests). */
export const CORE_TOPICS = [
  { name: 'fz-a', partitions: 3 },
  { name: 'fz.b_1', partitions: 1 },
];
/** Names generated requests may create and delete. */
export const SCRATCH_TOPICS = ['fz-s1', 'fz-s2', 'fz-s3'];
export const GROUPS = ['fz-g1', 'fz-g2'];

const ODD_SEGMENTS = [
  'x'.repeat(250),
  'x'.repeat(2000),
  'y'.repeat(9000),
  '%00',
  'a%00b',
  '%2F',
  'a%2Fb',
  '%2E%2E',
  '%ZZ',
  '%',
  '%E2%98%83', // ☃
  '%F0%9F%92%A9', // 💩
  '%E2%80%AE', // right-to-left override
  '%EF%BB%BF', // BOM
  '%ED%A0%80', // lone surrogate (invalid UTF-8)
  '%C0%AF', // overlong '/'
  '%FF',
  'a%20b',
  'a+b',
  "a'b",
  'a"b',
  'a<b>',
  '%0D%0Aset-cookie:x',
  '-1',
  '00',
  '1e3',
  'NaN',
  '9007199254740993',
  '99999999999999999999999999',
  '%E0%B8%81'.repeat(100),
  encodeURIComponent('ß'.repeat(300)),
];

export function topicParam(r: Rng, method: string): string {
  const core = CORE_TOPICS.map((t) => t.name);
  return r.weighted<() => string>([
    [method === 'DELETE' ? 0 : 6, () => r.pick(core)],
    [2, () => r.pick(SCRATCH_TOPICS)],
    [1, () => `fz-none-${r.int(0, 3)}`],
    [2, () => r.pick(ODD_SEGMENTS)],
  ])();
}

function groupParam(r: Rng): string {
  return r.weighted<() => string>([
    [6, () => r.pick(GROUPS)],
    [2, () => r.pick(ODD_SEGMENTS)],
    [1, () => `fz-gnone-${r.int(0, 3)}`],
  ])();
}

const HUGE_NUMBERS = [-1, -2147483649, 2147483648, 4294967296, 2 ** 53 - 1, 2 ** 53 + 1, 1e21, 1e308, -0, 0.5, 1e-7];

// --- JSON from the OpenAPI document ----------------------------------------------------------

type Schema = Record<string, any>;

export interface OpenApiDoc {
  paths: Record<string, Record<string, any>>;
  components?: { schemas?: Record<string, Schema> };
}

export interface Operation {
  method: string;
  path: string;
  params: Array<{ name: string; in: string; schema: Schema }>;
  bodyTypes: string[];
  bodySchema?: Schema;
}

export function operations(doc: OpenApiDoc): Operation[] {
  const out: Operation[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const content = op.requestBody?.content ?? {};
      const bodyTypes = Object.keys(content);
      out.push({
        method: method.toUpperCase(),
        path,
        params: (op.parameters ?? []).map((p: any) => ({ name: p.name, in: p.in, schema: p.schema ?? {} })),
        bodyTypes,
        bodySchema: bodyTypes.length ? content[bodyTypes[0]!].schema : undefined,
      });
    }
  }
  return out;
}

function resolve(doc: OpenApiDoc, s: Schema | undefined): Schema {
  let cur = s ?? {};
  for (let i = 0; i < 10 && typeof cur.$ref === 'string'; i++) cur = doc.components?.schemas?.[cur.$ref.split('/').pop()!] ?? {};
  return cur;
}

/** A value for `schema`: usually valid, sometimes bent (wrong type, out of range, odd string). */
export function valueFor(doc: OpenApiDoc, schema: Schema | undefined, r: Rng, depth = 0, key = ''): unknown {
  const s = resolve(doc, schema);
  if (r.bool(0.06)) return wrongValue(r);
  const alts = s.anyOf ?? s.oneOf;
  if (Array.isArray(alts) && alts.length) return valueFor(doc, r.pick(alts), r, depth + 1, key);
  if (Array.isArray(s.enum) && s.enum.length) return r.bool(0.9) ? r.pick(s.enum) : 'not-in-enum';
  const type = Array.isArray(s.type) ? r.pick(s.type) : s.type;
  switch (type) {
    case 'null':
      return null;
    case 'boolean':
      return r.bool();
    case 'integer':
    case 'number':
      return numberFor(s, r, key);
    case 'string':
      return stringFor(s, r, key);
    case 'array': {
      const min = s.minItems ?? 0;
      const max = Math.min(s.maxItems ?? 8, 8);
      const n = r.bool(0.95) ? r.int(min, Math.max(min, max)) : r.pick([0, max + 1]);
      return Array.from({ length: n }, () => valueFor(doc, s.items, r, depth + 1, key));
    }
    case 'object':
    default: {
      if (depth > 6) return {};
      const out: Record<string, unknown> = {};
      const props: Record<string, Schema> = s.properties ?? {};
      const required = new Set<string>(s.required ?? []);
      for (const [k, v] of Object.entries(props)) {
        if (required.has(k) ? r.bool(0.97) : r.bool(0.5)) out[k] = valueFor(doc, v, r, depth + 1, k);
      }
      if (s.additionalProperties && typeof s.additionalProperties === 'object' && r.bool(0.5)) {
        out[r.pick(['retention.ms', 'segment.bytes', 'max.message.bytes', 'cleanup.policy', 'no.such', ''])] = valueFor(doc, s.additionalProperties, r, depth + 1);
      }
      if (r.bool(0.05)) out[r.pick(['extra', '__proto__', 'constructor'])] = r.int(0, 9);
      return out;
    }
  }
}

function numberFor(s: Schema, r: Rng, key: string): number {
  if (r.bool(0.08)) return r.pick(HUGE_NUMBERS);
  // Keep what the server must do small: few partitions, short waits, known offsets.
  if (key === 'partitions') return r.int(1, 4);
  if (key === 'partition') return r.int(0, 3);
  if (key === 'wait_ms' || key === 'session_timeout_ms' || key === 'rebalance_timeout_ms') return r.int(0, 50);
  const min = typeof s.minimum === 'number' ? s.minimum : 0;
  const max = typeof s.maximum === 'number' ? Math.min(s.maximum, min + 100_000) : min + 1000;
  return r.int(min, max);
}

function stringFor(s: Schema, r: Rng, key: string): string {
  if (key === 'name' || key === 'topic') return r.weighted<() => string>([[5, () => r.pick([...CORE_TOPICS.map((t) => t.name), ...SCRATCH_TOPICS])], [1, () => oddString(r)]])();
  if (key === 'value' || key === 'key') return r.bool(0.7) ? r.pick(['x', 'aGVsbG8=', '{"a":1}', '', ' ']) : oddString(r);
  const min = s.minLength ?? 0;
  const n = r.int(min, Math.max(min, Math.min(s.maxLength ?? 12, 24)));
  return r.bool(0.85) ? 'abcdefghijklmnopqrstuvwxyz0123456789'.slice(0, n) : oddString(r);
}

export function oddString(r: Rng): string {
  return r.pick<() => string>([
    () => '',
    () => '\u0000',
    () => '\uD800', // lone surrogate
    () => '\uFFFF\uFFFE',
    () => '\u202E\u0041\u0042',
    () => '💩'.repeat(r.int(1, 300)),
    () => 'a'.repeat(r.int(240, 5000)),
    () => '\r\n\t',
    () => '../../etc/passwd',
    () => '${jndi:ldap://x}',
    () => "'; DROP TABLE t; --",
    () => 'é'.normalize('NFD'),
    () => String.fromCharCode(...Array.from({ length: 32 }, () => r.int(0, 0xffff))),
  ])();
}

function wrongValue(r: Rng): unknown {
  return r.pick<() => unknown>([
    () => null,
    () => true,
    () => r.pick(HUGE_NUMBERS),
    () => 'string',
    () => [],
    () => ({}),
    () => [[[1]]],
    () => ({ a: { b: { c: 1 } } }),
  ])();
}

function queryValue(name: string, schema: Schema, r: Rng, doc: OpenApiDoc): string {
  if (r.bool(0.1)) return r.pick(['-1', '1e3', 'abc', '', '99999999999999999999', '9007199254740993', '0x10', ' 1', '%00', '1.5']);
  if (name === 'wait_ms') return String(r.weighted([[8, 0], [2, r.int(1, 60)], [1, 200]]));
  if (name === 'offset') return String(r.int(0, 50));
  if (name === 'max_bytes') return String(r.pick([1, 100, 4096, 1 << 20, 64 << 20]));
  if (name === 'max_records') return String(r.pick([1, 10, 500, 10000]));
  const s = resolve(doc, schema);
  if (Array.isArray(s.enum)) return String(r.pick(s.enum));
  if (name === 'timestamp') return r.pick(['earliest', 'latest', String(Date.now() - r.int(0, 1e6)), '0']);
  if (name === 'auto_commit') return r.pick(['true', 'false', 'yes']);
  return String(valueFor(doc, s, r));
}

/**
 * encodeURIComponent, except that a lone surrogate (which it refuses with a URIError) goes out
 * as its three WTF-8 bytes, percent-escaped: a query value that is not valid UTF-8, which is the
 * input the server must refuse cleanly.
 */
export function encodeQueryValue(s: string): string {
  return s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]|[\uD800-\uDFFF]|[^\uD800-\uDFFF]+/g, (part) => {
    if (part.length === 2 || !/^[\uD800-\uDFFF]$/.test(part)) return encodeURIComponent(part);
    const c = part.charCodeAt(0);
    return [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
  });
}

/** A request for one operation of the document, with path/query/body drawn from its schemas. */
export function fromSpec(doc: OpenApiDoc, ops: Operation[], r: Rng): FuzzRequest {
  const op = r.pick(ops);
  let path = op.path;
  const query: string[] = [];
  for (const p of op.params) {
    if (p.in === 'path') {
      const v = p.name === 'topic' ? topicParam(r, op.method) : p.name === 'group' ? groupParam(r) : p.name === 'partition' ? String(r.weighted([[9, r.int(0, 3)], [1, 99999]])) : r.bool(0.8) ? `m-${r.int(0, 5)}` : r.pick(ODD_SEGMENTS);
      path = path.replace(`{${p.name}}`, v);
    } else if (p.in === 'query' && r.bool(0.6)) {
      query.push(`${p.name}=${encodeQueryValue(queryValue(p.name, p.schema, r, doc))}`);
    }
  }
  if (query.length) path += `?${query.join('&')}`;
  const headers: Record<string, string> = {};
  let body: Uint8Array | undefined;
  if (op.bodyTypes.includes(RECORD_BATCH)) {
    headers['content-type'] = RECORD_BATCH;
    body = validBatch(r);
  } else if (op.bodyTypes.length && op.bodySchema) {
    headers['content-type'] = 'application/json';
    body = utf8(JSON.stringify(valueFor(doc, op.bodySchema, r)));
  }
  if (op.method === 'GET' && r.bool(0.2)) headers.accept = RECORD_BATCH;
  return { kind: `spec ${op.method} ${op.path}`, method: op.method, path, headers, ...(body ? { body } : {}) };
}

// --- record batches ---------------------------------------------------------------------------

const CODECS = [Compression.None, Compression.Gzip, Compression.Snappy, Compression.Lz4, Compression.Zstd];

function validBatch(r: Rng): Uint8Array {
  const n = r.int(1, 5);
  return encodeRecordBatch(
    Array.from({ length: n }, (_, i) => ({
      key: r.bool(0.5) ? utf8(`k${i}`) : null,
      value: r.bool(0.9) ? utf8(JSON.stringify({ i, s: 'v'.repeat(r.int(0, 64)) })) : null,
      headers: r.bool(0.3) ? [{ key: 'h', value: utf8('v') }] : [],
    })),
    { compression: r.pick(CODECS) },
  );
}

function writeI32(b: Uint8Array, at: number, v: number): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setInt32(at, v);
}

/** Recomputes a batch's CRC after a change (a liar with a valid CRC gets further in). */
function reseal(b: Uint8Array): Uint8Array {
  if (b.length >= 61) new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(17, crc32c(b, 21, b.length));
  return b;
}

/** A batch around raw record bytes, codec applied, CRC valid; `count` may lie. */
function rawBatch(records: Uint8Array, count: number, codec: Compression): Uint8Array {
  const blob = compress(codec, records);
  const out = new Uint8Array(61 + blob.length);
  const dv = new DataView(out.buffer);
  dv.setBigInt64(0, 0n);
  dv.setInt32(8, out.length - 12);
  dv.setInt32(12, -1);
  out[16] = 2;
  dv.setInt16(21, codec);
  dv.setInt32(23, count - 1);
  dv.setBigInt64(27, BigInt(Date.now()));
  dv.setBigInt64(35, BigInt(Date.now()));
  dv.setBigInt64(43, -1n);
  dv.setInt16(51, -1);
  dv.setInt32(53, -1);
  dv.setInt32(57, count);
  out.set(blob, 61);
  return reseal(out);
}

/** One record with `headers` empty headers (2 bytes each) and a `valueBytes` zero value. */
function floodRecord(headers: number, valueBytes = 0, offsetDelta = 0): Uint8Array {
  const head = [0, 0, ...zigzag(offsetDelta), 1, ...zigzag(valueBytes)];
  const tail = zigzag(headers);
  const len = head.length + valueBytes + tail.length + headers * 2;
  const prefix = zigzag(len);
  const out = new Uint8Array(prefix.length + len);
  out.set(prefix, 0);
  out.set(head, prefix.length);
  let p = prefix.length + head.length + valueBytes;
  out.set(tail, p);
  p += tail.length;
  for (let i = 0; i < headers; i++, p += 2) out[p + 1] = 1;
  return out;
}

function batchRequest(kind: string, r: Rng, body: Uint8Array, type = RECORD_BATCH): FuzzRequest {
  const topic = r.bool(0.9) ? r.pick(CORE_TOPICS).name : topicParam(r, 'POST');
  return { kind, method: 'POST', path: `/v1/topics/${topic}/partitions/${r.weighted([[9, r.int(0, 2)], [1, 7]])}/records`, headers: { 'content-type': type }, body };
}

// --- hostile families -------------------------------------------------------------------------

const MiB = 1024 * 1024;

/** Bombs are the same bytes every time for the same parameters: compress each once. */
const bombCache = new Map<string, Uint8Array>();

function bomb(r: Rng): FuzzRequest {
  const codec = r.pick(CODECS.slice(1));
  const shape = r.pick(['zeros', 'headers', 'both', 'records'] as const);
  const size = shape === 'zeros' ? r.pick([1, 8, 31, 33, 48]) : shape === 'headers' ? r.pick([1001, 50_000, 2_000_000, 10_000_000]) : shape === 'both' ? r.pick([1, 16]) : r.pick([1000, 100_001, 300_000]);
  const key = `${codec}/${shape}/${size}`;
  let batch = bombCache.get(key);
  if (!batch) {
    let recs: Uint8Array;
    let count = 1;
    if (shape === 'zeros') recs = floodRecord(0, size * MiB);
    else if (shape === 'headers') recs = floodRecord(size);
    else if (shape === 'both') recs = floodRecord(1000, size * MiB);
    else {
      count = size;
      const parts = Array.from({ length: count }, (_, i) => floodRecord(0, 0, i));
      recs = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
      parts.reduce((pos, p) => (recs.set(p, pos), pos + p.length), 0);
    }
    batch = rawBatch(recs, count, codec);
    bombCache.set(key, batch);
  }
  return batchRequest(`bomb ${Compression[codec]} ${shape} ${size}`, r, batch.slice());
}

function liar(r: Rng): FuzzRequest {
  const b = validBatch(r);
  const field = r.pick(['recordCount', 'lastOffsetDelta', 'batchLength', 'magic', 'codec', 'crc', 'truncate', 'append', 'baseOffset', 'producer', 'attributes'] as const);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let out = b;
  switch (field) {
    case 'recordCount':
      writeI32(b, 57, r.pick([0, -1, 2 ** 31 - 1, 100_001, dv.getInt32(57) + 1]));
      break;
    case 'lastOffsetDelta':
      writeI32(b, 23, r.pick([-1, 2 ** 31 - 1, dv.getInt32(23) + 1]));
      break;
    case 'batchLength':
      writeI32(b, 8, r.pick([0, 48, -5, 2 ** 31 - 1, dv.getInt32(8) - 1, dv.getInt32(8) + 1]));
      break;
    case 'magic':
      b[16] = r.pick([0, 1, 3, 255]);
      break;
    case 'codec':
      b[22] = (b[22]! & ~7) | r.int(5, 7);
      break;
    case 'attributes':
      b[22] = b[22]! | r.pick([0x10, 0x20, 0x08]);
      break;
    case 'crc':
      b[17] = b[17]! ^ 0xff;
      return batchRequest('liar crc', r, b);
    case 'truncate':
      out = b.subarray(0, r.int(0, b.length - 1));
      return batchRequest('liar truncate', r, out);
    case 'append':
      out = new Uint8Array(b.length + 13);
      out.set(b);
      out.set(r.bytes(13), b.length);
      return batchRequest('liar append', r, out);
    case 'baseOffset':
      dv.setBigInt64(0, r.pick([-1n, 2n ** 62n]));
      break;
    case 'producer':
      dv.setBigInt64(43, r.pick([0n, 2n ** 62n, -2n]));
      dv.setInt16(51, r.pick([-1, 0, 32767]));
      dv.setInt32(53, r.pick([-1, 0, 2 ** 31 - 1]));
      break;
  }
  if (r.bool(0.85)) reseal(b);
  return batchRequest(`liar ${field}`, r, out);
}

function deep(r: Rng): FuzzRequest {
  const n = r.pick([63, 65, 100, 1000, 5000, 100_000]);
  const open = r.bool() ? '[' : '{"a":';
  const close = open === '[' ? ']' : '}';
  const nested = open.repeat(n) + (open === '[' ? '' : '1') + close.repeat(n);
  const where = r.pick(['value', 'key', 'config', 'body', 'commit'] as const);
  const topic = r.pick(CORE_TOPICS).name;
  const json = (path: string, text: string, method = 'POST'): FuzzRequest => ({ kind: `deep ${where} ${n}`, method, path, headers: { 'content-type': 'application/json' }, body: utf8(text) });
  switch (where) {
    case 'value':
      return json(`/v1/topics/${topic}/records`, `{"records":[{"value":${nested}}]}`);
    case 'key':
      return json(`/v1/topics/${topic}/records`, `{"key_format":"json","records":[{"key":${nested},"value":1}]}`);
    case 'config':
      return json(`/v1/topics/${topic}`, `{"config":${nested}}`, 'PATCH');
    case 'commit':
      return json(`/v1/groups/${r.pick(GROUPS)}/offsets`, `{"offsets":${nested}}`);
    default:
      return json('/v1/topics', nested);
  }
}

function huge(r: Rng): FuzzRequest {
  const topic = r.pick(CORE_TOPICS).name;
  const shape = r.pick(['records', 'string', 'numbers', 'headers', 'over'] as const);
  let text: string;
  if (shape === 'records') text = `{"records":[${Array.from({ length: r.pick([10_000, 10_001, 50_000]) }, () => '{"value":1,"partition":0}').join(',')}]}`;
  else if (shape === 'string') text = `{"value_format":"string","records":[{"value":"${'s'.repeat(r.pick([1, 2, 5]) * MiB)}","partition":0}]}`;
  else if (shape === 'numbers') text = `{"records":[${Array.from({ length: 2000 }, () => `{"value":[${Array(120).fill('1e20').join(',')}],"partition":0}`).join(',')}]}`;
  else if (shape === 'headers') text = `{"records":[{"value":1,"partition":0,"headers":[${Array.from({ length: r.pick([1000, 1001, 100_000]) }, () => '{"key":"","value":null}').join(',')}]}]}`;
  else text = `{"records":[{"value":"${'o'.repeat(6 * MiB + r.int(1, 2 * MiB))}"}]}`;
  return { kind: `huge ${shape}`, method: 'POST', path: `/v1/topics/${topic}/records`, headers: { 'content-type': 'application/json' }, body: utf8(text) };
}

function contentType(r: Rng): FuzzRequest {
  const type = r.pick(['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=zz', 'application/xml', 'application/json; charset=latin1', 'application/jsonx', 'APPLICATION/JSON', '', RECORD_BATCH, 'application/octet-stream', '*/*', 'a'.repeat(3000)]);
  const target = r.pick<() => FuzzRequest>([
    () => ({ kind: '', method: 'POST', path: '/v1/topics', headers: {}, body: utf8(JSON.stringify({ name: r.pick(SCRATCH_TOPICS), partitions: 1 })) }),
    () => ({ kind: '', method: 'POST', path: `/v1/topics/${r.pick(CORE_TOPICS).name}/records`, headers: {}, body: utf8('{"records":[{"value":1}]}') }),
    () => ({ kind: '', method: 'POST', path: `/v1/groups/${r.pick(GROUPS)}/offsets/reset`, headers: {}, body: utf8(`{"topic":"${r.pick(CORE_TOPICS).name}","to":"earliest"}`) }),
    () => ({ kind: '', method: 'PATCH', path: `/v1/topics/${r.pick(CORE_TOPICS).name}`, headers: {}, body: utf8('{"partitions":4}') }),
    () => batchRequest('', r, validBatch(r)),
  ])();
  if (type === '') delete target.headers['content-type'];
  else target.headers['content-type'] = type;
  return { ...target, kind: `content-type ${type.slice(0, 40) || '(none)'}` };
}

function garbage(r: Rng): FuzzRequest {
  const body = r.pick<() => Uint8Array>([
    () => r.bytes(r.int(0, 4096)),
    () => utf8('{"records": ['),
    () => utf8('\uFEFF{"records":[{"value":1}]}'),
    () => utf8('{"records":[{"value":1}]} trailing'),
    () => utf8('{"records":[{"value":NaN}]}'),
    () => utf8(`{"records":[{"value":1,"partition":${r.pick(['1e400', '-0', '3.0', '1e2', '18446744073709551617'])}}]}`),
    () => utf8('{"__proto__":{"polluted":1},"records":[{"value":1}]}'),
    () => utf8(`{"records":[{"value":1,"timestamp":${r.pick(['-1', '1e300', '9007199254740993'])}}]}`),
    () => utf8(`{"records":[{"value":"\\ud800","key":"\\u0000"}]}`),
    () => new Uint8Array([0xff, 0xfe, 0x7b, 0x00]),
  ])();
  const path = r.pick([`/v1/topics/${r.pick(CORE_TOPICS).name}/records`, '/v1/topics', `/v1/groups/${r.pick(GROUPS)}/members`, '/v1/producers']);
  return { kind: 'garbage json', method: 'POST', path, headers: { 'content-type': 'application/json' }, body };
}

function oddPath(r: Rng): FuzzRequest {
  const seg = r.pick(ODD_SEGMENTS);
  const path = r.pick([
    `/v1/topics/${seg}`,
    `/v1/topics/${seg}/partitions/0/records`,
    `/v1/topics/${r.pick(CORE_TOPICS).name}/partitions/${seg}/records`,
    `/v1/topics/${r.pick(CORE_TOPICS).name}/partitions/${seg}/offsets`,
    `/v1/groups/${seg}`,
    `/v1/groups/${r.pick(GROUPS)}/members/${seg}/heartbeat`,
    `/v1/${seg}`,
    `/${seg}`,
    `/v1/topics/${seg}/records?${seg}=${seg}`,
    `/v1/topics/${r.pick(CORE_TOPICS).name}/partitions/0/records?offset=${seg}&max_bytes=${seg}`,
  ]);
  const method = r.pick(['GET', 'POST', 'DELETE', 'PATCH', 'PUT', 'OPTIONS', 'HEAD']);
  const body = method === 'POST' || method === 'PATCH' || method === 'PUT' ? utf8('{"records":[{"value":1}],"partitions":2,"offsets":[{"topic":"fz-a","partition":0,"offset":1}]}') : undefined;
  return { kind: `odd path ${method}`, method, path, headers: body ? { 'content-type': 'application/json' } : {}, ...(body ? { body } : {}) };
}

function slowBody(r: Rng): FuzzRequest {
  const base = r.bool() ? huge(r) : { kind: '', method: 'POST', path: `/v1/topics/${r.pick(CORE_TOPICS).name}/records`, headers: { 'content-type': 'application/json' }, body: utf8('{"records":[{"value":"slow","partition":0}]}') };
  const body = base.body && base.body.length > 64 * 1024 ? base.body.subarray(0, 64 * 1024) : base.body; // a truncated body: the client gives up
  return { ...base, kind: 'slow body', slow: true, ...(body ? { body } : {}) };
}

/** A hostile request: the families above, weighted so that cheap ones dominate. */
export function hostile(r: Rng): FuzzRequest {
  return r.weighted<(r: Rng) => FuzzRequest>([
    [3, bomb],
    [6, liar],
    [4, deep],
    [1, huge],
    [5, contentType],
    [5, garbage],
    [6, oddPath],
    [0.3, slowBody],
  ])(r);
}
