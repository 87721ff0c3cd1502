// The JSON produce route reads a common body straight from its bytes (produce-parse.ts). Every
// body that reading accepts must mean exactly what the usual path (decode, JSON.parse, the
// nesting limit, the schema, toBytes/headerFromJson) makes of it: the same formats, producer,
// partitions, timestamps, headers and key/value bytes, or the same error. Checked on generated
// bodies (fast-check) with odd spacing, escapes, repeated and unknown fields, every kind of JSON
// value, invalid UTF-8 and byte-level damage; and it must take the common shapes itself.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { headerFromJson, jsonDepth, toBytes } from '../../../lib/http/format';
import { fieldBytes, parseProduceBody } from '../../../lib/http/produce-parse';
import * as S from '../../../lib/http/schemas';
import { type RecordBytes, Utf8 } from '../../../lib/records';

const te = new TextEncoder();
const bytesOf = (b: RecordBytes | null): number[] | null => (b === null ? null : Array.from(b instanceof Utf8 ? b.bytes() : b));

type Outcome = { error: string } | { kf: string; vf: string; producer: unknown; records: unknown[] };

/** What the usual path makes of a body it accepts, or undefined if it refuses it before the records are encoded. */
function usual(body: Uint8Array): Outcome | undefined {
  const text = new TextDecoder().decode(body);
  if (jsonDepth(text, S.MAX_JSON_DEPTH) > S.MAX_JSON_DEPTH) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const z = S.ProduceBody.safeParse(json);
  if (!z.success) return undefined;
  const b = z.data;
  try {
    const records = b.records.map((r, i) => {
      if (!('value' in r)) throw new Error(`records.${i}.value is required`);
      return {
        key: bytesOf(toBytes(r.key, b.key_format, `records.${i}.key`)),
        value: bytesOf(toBytes(r.value, b.value_format, `records.${i}.value`)),
        headers: (r.headers ?? []).map(headerFromJson).map((h) => ({ key: h.key, value: h.value && Array.from(h.value) })),
        partition: r.partition,
        timestamp: r.timestamp,
      };
    });
    return { kf: b.key_format, vf: b.value_format, producer: b.producer, records };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** What the bytes reading makes of it, or undefined when it leaves the body to the usual path. */
function fast(body: Uint8Array): Outcome | undefined {
  const p = parseProduceBody(body);
  if (!p) return undefined;
  try {
    const records = p.records.map((r, i) => ({
      key: bytesOf(fieldBytes(p, r.key, p.key_format, `records.${i}.key`)),
      value: bytesOf(fieldBytes(p, r.value, p.value_format, `records.${i}.value`)),
      headers: (r.headers ?? []).map((h) => ({ key: h.key, value: h.value && Array.from(h.value) })),
      partition: r.partition,
      timestamp: r.timestamp,
    }));
    return { kf: p.key_format, vf: p.value_format, producer: p.producer, records };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** Both readings agree wherever the bytes reading answers; whether it answered. */
function agree(body: Uint8Array): boolean {
  const mine = fast(body);
  if (mine === undefined) return false;
  const theirs = usual(body);
  expect(theirs, Buffer.from(body).toString('utf8').slice(0, 300)).toBeDefined();
  expect(mine, Buffer.from(body).toString('utf8').slice(0, 300)).toEqual(theirs);
  return true;
}

// --- generated bodies ---------------------------------------------------------------------------

const ws = fc.constantFrom('', '', '', ' ', '\n', '\t ', '\r\n  ');
/** Strings as a producer sends them: ASCII, other scripts, emoji, quotes, backslashes, controls, lone surrogates. */
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('', 'a'.repeat(1024), 'é€😀', 'say "hi"', 'back\\slash', 'tab\there', 'line\u2028sep', '\u007f', 'lone \ud800', 'aGVsbG8=', 'bad base64!'),
);
const jsonValue = fc.oneof(
  { depthSize: 'small' },
  text,
  fc.integer(),
  fc.double(),
  fc.constantFrom(1e21, -0, 0.1, 1e-7, true, false, null),
  fc.jsonValue({ maxDepth: 3 }),
);
/** A JSON text for `v`, written as a producer might: spaced, escaped where JSON allows, or raw. */
const written = (v: unknown) =>
  fc.tuple(ws, ws, fc.boolean()).map(([a, b, escape]) => {
    let s = JSON.stringify(v) ?? 'null';
    // \u escapes for ASCII letters: the same value, not a plain string any more.
    if (escape && typeof v === 'string' && /[a-z]/.test(s)) s = s.replace(/[a-z]/, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
    return `${a}${s}${b}`;
  });
const member = (name: string, value: fc.Arbitrary<string>) => fc.tuple(ws, value).map(([w, v]) => `${w}${JSON.stringify(name)}${w}:${v}`);
const object = (members: fc.Arbitrary<string[]>) => fc.tuple(members, ws).map(([m, w]) => `{${m.join(',')}${w}}`);
/** The members given (an arbitrary may give null: left out), in any order. */
const optionalMembers = (...ms: Array<fc.Arbitrary<string | null> | null>) =>
  fc.tuple(...ms.map((m) => m ?? fc.constant(null))).chain((xs) => {
    const present = xs.filter((x): x is string => x !== null);
    return fc.shuffledSubarray(present, { minLength: present.length });
  });

/** Mostly what a producer sends; now and then something the schema or the reading refuses. */
const mostly = <T,>(good: fc.Arbitrary<T>, odd: fc.Arbitrary<T>) => fc.oneof({ arbitrary: good, weight: 30 }, { arbitrary: odd, weight: 1 });
const integerLike = mostly(
  fc.oneof(fc.nat({ max: 10 }), fc.constantFrom(0, 2 ** 53 - 1, 32767, 2147483647, 1_700_000_000_000)).map(String),
  fc.constantFrom('01', '1e2', '"1"', 'null', '-0', '-1', '1.0', '1.5', String(2 ** 53), '32768', '2147483648', '99999999999999999'),
);
const maybe = <T,>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null, freq: 3 });
const header = object(
  optionalMembers(
    member('key', mostly(fc.string({ maxLength: 8 }), text).chain(written)),
    member('value', mostly<unknown>(fc.oneof(text, fc.constant(null)), fc.oneof(fc.integer(), fc.constant(undefined))).chain(written)),
    null,
  ),
);
const record = object(
  optionalMembers(
    maybe(member('key', fc.oneof(text, fc.constant(null), jsonValue).chain(written))),
    mostly(member('value', jsonValue.chain(written)), fc.constant('"nokey":1')),
    maybe(member('headers', fc.array(header, { maxLength: 3 }).map((hs) => `[${hs.join(',')}]`))),
    maybe(member('partition', integerLike)),
    maybe(member('timestamp', integerLike)),
  ),
);
const format = mostly(fc.constantFrom('"string"', '"json"', '"base64"'), fc.constantFrom('"xml"', 'null', '"\\u0073tring"', '1'));
const producer = object(optionalMembers(member('id', integerLike), member('epoch', integerLike), member('sequence', integerLike)));
const body = object(
  optionalMembers(
    member('records', fc.array(record, { minLength: 1, maxLength: 5 }).map((rs) => `[${rs.join(',')}]`)),
    maybe(member('key_format', format)),
    maybe(member('value_format', format)),
    maybe(member('producer', producer)),
    fc.oneof(
      { weight: 12, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.oneof(member('extra', fc.constant('1')), member('records', fc.constant('[{"value":1}]')), member('__proto__', fc.constant('{}')), member('records', fc.constant('[]'))) },
    ),
  ),
);
/** Byte-level damage: a byte replaced, inserted or dropped, or the body cut short. */
const damaged = fc.tuple(body, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('replace', 'insert', 'drop', 'cut')).map(([s, at, byte, how]) => {
  const b = Array.from(te.encode(s));
  const i = at % (b.length + 1);
  if (how === 'replace' && i < b.length) b[i] = byte;
  else if (how === 'insert') b.splice(i, 0, byte);
  else if (how === 'drop') b.splice(i, 1);
  else if (how === 'cut') b.length = i;
  return new Uint8Array(b);
});

describe('the JSON produce body read from its bytes', () => {
  it('means what the usual path makes of it, field for field, or leaves the body to it', () => {
    let taken = 0;
    fc.assert(
      fc.property(body, (s) => {
        if (agree(te.encode(s))) taken++;
      }),
      { numRuns: 3000, seed: 18 },
    );
    // Not a reading that declines everything: a good share of generated bodies are taken.
    expect(taken).toBeGreaterThan(300);
  });

  it('survives damaged bytes the same way', () => {
    fc.assert(
      fc.property(damaged, (b) => {
        agree(b);
      }),
      { numRuns: 3000, seed: 19 },
    );
  });

  it('takes the common shapes itself, with string values as slices of the body', () => {
    const common = [
      { value_format: 'string', records: Array.from({ length: 500 }, (_, k) => ({ key: `key-${k}`, value: 'a'.repeat(1024) })) },
      { records: [{ value: { order: 1, items: ['x'] } }, { key: 'k', value: 'text' }, { value: null }] },
      { records: [{ key: 'k', value: 'v', headers: [{ key: 'h', value: 'x' }, { key: 'n', value: null }], partition: 1, timestamp: 5 }], producer: { id: 3, epoch: 2, sequence: 9 } },
      { key_format: 'json', value_format: 'base64', records: [{ key: { id: 1 }, value: 'aGVsbG8=' }] },
    ];
    for (const c of common) {
      for (const s of [JSON.stringify(c), JSON.stringify(c, null, 2)]) expect(agree(te.encode(s)), s.slice(0, 100)).toBe(true);
    }
    const b = te.encode(JSON.stringify(common[0]));
    const p = parseProduceBody(b)!;
    const value = fieldBytes(p, p.records[0]!.value, 'string', 'v') as Uint8Array;
    expect(value.buffer).toBe(b.buffer);
    expect(value.length).toBe(1024);
  });

  it('leaves to the usual path what that path words or reads differently', () => {
    const left = [
      '\ufeff{"records":[{"value":1}]}', // a BOM, which the usual decoding drops
      '{"records":[{"value":"a","value":"b"}]}', // a repeated field: JSON.parse keeps the last
      '{"records":[{"key":"k"}]}', // no value: the route's own message
      '{"records":[]}',
      '{"records":[{"value":1}]} x',
      '{"records":[{"value":1,}]}',
      `{"records":[{"value":${'['.repeat(70)}${']'.repeat(70)}}]}`, // nesting past the limit: a 400 naming it
      '{"records":[{"value":"ctl\u0001"}]}',
    ];
    for (const s of left) expect(parseProduceBody(te.encode(s)), s.slice(0, 60)).toBeUndefined();
    expect(parseProduceBody(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]))).toBeUndefined(); // invalid UTF-8
  });
});
