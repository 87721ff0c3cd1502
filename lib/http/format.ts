// Key/value formats of the JSON API. On the way in a value is turned into bytes (never
// guessed); on the way out bytes that are not valid in the requested format come back as
// base64 with `<field>_encoding: "base64"` — never an error, never altered bytes.
import { SamsaError } from '../errors';
import type { DecodedRecord, RecordHeader } from '../records';

export type KeyFormat = 'string' | 'json' | 'base64';
export type ValueFormat = 'json' | 'string' | 'base64';

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function toBytes(value: unknown, format: KeyFormat | ValueFormat, what: string): Uint8Array | null {
  if (value === null || value === undefined) return null;
  switch (format) {
    case 'json':
      return encoder.encode(JSON.stringify(value));
    case 'string':
      if (typeof value !== 'string') {
        throw new SamsaError('INVALID_REQUEST', `${what} must be a string when its format is "string" (got ${typeof value}); use format "json" for JSON values`);
      }
      return encoder.encode(value);
    case 'base64':
      if (typeof value !== 'string' || !BASE64.test(value)) {
        throw new SamsaError('INVALID_REQUEST', `${what} is not valid base64`);
      }
      return new Uint8Array(Buffer.from(value, 'base64'));
  }
}

type Rendered = { value: unknown; base64: boolean };

export function render(bytes: Uint8Array | null, format: KeyFormat | ValueFormat): Rendered {
  if (bytes === null) return { value: null, base64: false };
  if (format === 'base64') return { value: b64(bytes), base64: false };
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return { value: b64(bytes), base64: true };
  }
  if (format === 'string') return { value: text, base64: false };
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
