// Key/value formats of the JSON API. On the way in a value is turned into bytes (never
// guessed); on the way out bytes that are not valid in the requested format — or too costly
// to render in it (over 1 MiB, or nested deeper than 64 levels) — come back as base64 with
// `<field>_encoding: "base64"`: never an error, never altered bytes.
import { SamsaError } from '../errors';
import { type DecodedRecord, type RecordBytes, type RecordHeader, Utf8 } from '../records';
import { MAX_JSON_DEPTH } from './schemas';

export type KeyFormat = 'string' | 'json' | 'base64';
export type ValueFormat = 'json' | 'string' | 'base64';

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function toBytes(value: unknown, format: KeyFormat | ValueFormat, what: string): RecordBytes | null {
  if (value === null || value === undefined) return null;
  switch (format) {
    // Text stays text (Utf8, its UTF-8 length measured): the batch encoder writes it into the
    // batch as UTF-8 in place — TextEncoder's bytes, lone surrogates as U+FFFD — with no
    // buffer per key and value in between (issue 18: a keyed JSON request has 1,000 of them).
    case 'json':
      return new Utf8(JSON.stringify(value));
    case 'string':
      if (typeof value !== 'string') {
        throw new SamsaError('INVALID_REQUEST', `${what} must be a string when its format is "string" (got ${typeof value}); use format "json" for JSON values`);
      }
      return new Utf8(value);
    case 'base64':
      if (typeof value !== 'string' || !BASE64.test(value)) {
        throw new SamsaError('INVALID_REQUEST', `${what} is not valid base64`);
      }
      return new Uint8Array(Buffer.from(value, 'base64'));
  }
}

/**
 * The deepest nesting of arrays and objects in JSON text, counting no further than `stop` + 1
 * (so the scan can end early). Brackets inside strings do not count. Linear, no recursion.
 */
export function jsonDepth(text: string, stop = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      // Skip to the string's closing quote with indexOf (native, and most of a produce body
      // is string contents): a quote preceded by an odd run of backslashes is escaped.
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) return max; // unterminated: JSON.parse refuses it
        let bs = 0;
        while (text.charCodeAt(q - 1 - bs) === 0x5c) bs++;
        i = q;
        if (bs % 2 === 0) break;
        i = q + 1;
      }
      inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > max) {
        max = depth;
        if (max > stop) return max;
      }
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return max;
}

/** Stored values nested deeper than the JSON limit come back as base64: serialising them could overflow the stack. */
const MAX_RENDER_DEPTH = MAX_JSON_DEPTH;
/**
 * Keys, values and header values larger than this come back as base64 in JSON responses,
 * whatever the format asked: parsing 1 MiB of `{},` makes ~350,000 objects, and a string of
 * control characters escapes to 6 bytes each, while base64 costs 4/3 and no parse.
 */
export const MAX_RENDERED_FIELD_BYTES = 1024 * 1024;
/** Decoded record bytes one JSON fetch response renders (after at least one record). */
export const MAX_JSON_FETCH_DECODED_BYTES = 4 * 1024 * 1024;
/** What a JSON answer of about `maxBytes` decodes at most: the fetch route, group polls, live tails. */
export const jsonDecodedBudget = (maxBytes: number): number => Math.min(maxBytes, MAX_JSON_FETCH_DECODED_BYTES);

type Rendered = { value: unknown; base64: boolean };

export function render(bytes: Uint8Array | null, format: KeyFormat | ValueFormat): Rendered {
  if (bytes === null) return { value: null, base64: false };
  if (format === 'base64') return { value: b64(bytes), base64: false };
  if (bytes.length > MAX_RENDERED_FIELD_BYTES) return { value: b64(bytes), base64: true };
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return { value: b64(bytes), base64: true };
  }
  if (format === 'string') return { value: text, base64: false };
  if (jsonDepth(text, MAX_RENDER_DEPTH) > MAX_RENDER_DEPTH) return { value: b64(bytes), base64: true };
  try {
    return { value: JSON.parse(text), base64: false };
  } catch {
    return { value: b64(bytes), base64: true };
  }
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

export interface JsonRecord {
  offset: number;
  timestamp: number;
  key: unknown;
  value: unknown;
  headers: Array<{ key: string; value: string | null }>;
  key_encoding?: 'base64';
  value_encoding?: 'base64';
}

export function recordToJson(r: DecodedRecord, keyFormat: KeyFormat, valueFormat: ValueFormat): JsonRecord {
  const key = render(r.key, keyFormat);
  const value = render(r.value, valueFormat);
  const out: JsonRecord = { offset: r.offset, timestamp: r.timestamp, key: key.value, value: value.value, headers: r.headers.map(headerToJson) };
  if (key.base64) out.key_encoding = 'base64';
  if (value.base64) out.value_encoding = 'base64';
  return out;
}

function headerToJson(h: RecordHeader): { key: string; value: string | null } {
  if (h.value === null) return { key: h.key, value: null };
  const r = render(h.value, 'string');
  return r.base64 ? { key: h.key, value: r.value as string, ...{ value_encoding: 'base64' } } : { key: h.key, value: r.value as string };
}

export function headerFromJson(h: { key: string; value?: string | null }): RecordHeader {
  return { key: h.key, value: h.value === null || h.value === undefined ? null : encoder.encode(h.value) };
}
