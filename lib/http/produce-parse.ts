// The JSON produce route's body, read straight from its bytes (issue 18). Decoding a keyed
// request's 500 KiB body into one string cost more than everything else the route does with it:
// V8 puts a string over 128 KiB in a page of its own, fresh from the kernel, and on a
// virtualised host each 4 KiB page of it faulted in costs ~10 µs (bench/RESULTS.md, tenth
// pass). Here the body is walked as bytes instead, and a key or value that is a JSON string
// without escapes is handed on as the slice of the body that holds its UTF-8 bytes: no string
// is made for it at all, and the batch encoder copies it in.
//
// This is a fast path, not a second JSON parser with opinions: it takes the common shape only,
// and for anything else — an escape in a name, an unknown or repeated field, a number that is
// not a plain integer, invalid UTF-8, nesting near the limit, any syntax error — it answers
// `undefined` and the route reads the body as before (text, JSON.parse, the hand check, zod),
// which then accepts or refuses it in its usual words. So every body it accepts means what
// JSON.parse would make of it, field for field, and every value it does not slice it hands to
// JSON.parse itself (test/unit/http/produce-parse.test.ts checks both on generated bodies).
import { isUtf8 } from 'node:buffer';
import type { RecordBytes, RecordHeader } from '../records';
import { type KeyFormat, toBytes, type ValueFormat } from './format';
import { MAX_JSON_DEPTH, MAX_RECORDS_PER_REQUEST } from './schemas';

/** A key or value as it was sent: a JSON string without escapes (its slice), or any value as JSON.parse reads it. */
type Field = { slice: true; start: number; end: number } | { slice: false; value: unknown };

export interface ParsedRecord {
  key: Field | undefined;
  value: Field;
  headers: RecordHeader[] | undefined;
  partition: number | undefined;
  timestamp: number | undefined;
}

export interface ParsedProduceBody {
  bytes: Uint8Array;
  records: ParsedRecord[];
  key_format: KeyFormat;
  value_format: ValueFormat;
  producer?: { id: number; epoch: number; sequence: number };
}

/** Thrown inside the scan for anything the fast path leaves to the usual one. */
class Bail {}
const BAIL = new Bail();

const MAX_HEADERS = 1000;
const FORMATS = new Set(['string', 'json', 'base64']);

// Byte values.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const ZERO = 0x30;
const NINE = 0x39;

const NULL_BYTES = [0x6e, 0x75, 0x6c, 0x6c];

class Scanner {
  i = 0;
  readonly b: Uint8Array;
  private readonly text: Buffer;

  constructor(b: Uint8Array) {
    this.b = b;
    this.text = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  }

  /** Skips JSON whitespace; the next byte, or -1 at the end. */
  peek(): number {
    const b = this.b;
    let i = this.i;
    for (; i < b.length; i++) {
      const c = b[i]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    }
    this.i = i;
    return i < b.length ? b[i]! : -1;
  }

  expect(c: number): void {
    if (this.peek() !== c) throw BAIL;
    this.i++;
  }

  /**
   * At a string's opening quote: moves past its closing one. True if it holds no escape (its
   * bytes between the quotes are its UTF-8, the body being valid UTF-8 as a whole); a control
   * character or the end of the body first is a syntax error.
   */
  string(): boolean {
    const b = this.b;
    let i = this.i + 1;
    let plain = true;
    for (;;) {
      if (i >= b.length) throw BAIL;
      const c = b[i]!;
      if (c === QUOTE) break;
      if (c < 0x20) throw BAIL;
      if (c === BACKSLASH) {
        plain = false;
        i++; // the escaped byte, whatever it is (JSON.parse checks the escape)
      }
      i++;
    }
    this.i = i + 1;
    return plain;
  }

  /** A member name without escapes, as text (names with escapes go the usual way). */
  name(): string {
    if (this.peek() !== QUOTE) throw BAIL;
    const start = this.i + 1;
    if (!this.string()) throw BAIL;
    const name = this.text.toString('latin1', start, this.i - 1);
    this.expect(COLON);
    return name;
  }

  /** After a member or element: true if another follows (a comma), false at `close`. */
  more(close: number): boolean {
    const c = this.peek();
    this.i++;
    if (c === COMMA) return true;
    if (c === close) return false;
    throw BAIL;
  }

  /** Opens an object or array; false if it is empty (and closed). */
  open(openByte: number, close: number): boolean {
    this.expect(openByte);
    if (this.peek() === close) {
      this.i++;
      return false;
    }
    return true;
  }

  /** `null` here (consumed) or not (nothing consumed). */
  isNull(): boolean {
    const b = this.b;
    const i = this.i;
    if (b[i] !== NULL_BYTES[0] || b[i + 1] !== NULL_BYTES[1] || b[i + 2] !== NULL_BYTES[2] || b[i + 3] !== NULL_BYTES[3]) return false;
    this.i = i + 4;
    this.delimited();
    return true;
  }

  /** A token must end at whitespace, a comma, a closing bracket or the end. */
  private delimited(): void {
    const c = this.b[this.i];
    if (c !== undefined && c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09 && c !== COMMA && c !== RBRACE && c !== RBRACKET) throw BAIL;
  }

  /** A non-negative integer written plainly (no sign, fraction, exponent or leading zero), at most 2^53 − 1. */
  integer(): number {
    this.peek();
    const b = this.b;
    let i = this.i;
    const start = i;
    let n = 0;
    for (; i < b.length; i++) {
      const c = b[i]!;
      if (c < ZERO || c > NINE) break;
      n = n * 10 + (c - ZERO);
    }
    const digits = i - start;
    // 16 digits reach past 2^53; more cannot be safe. A leading zero is JSON only alone.
    if (digits === 0 || digits > 16 || (digits > 1 && b[start] === ZERO) || !Number.isSafeInteger(n)) throw BAIL;
    this.i = i;
    this.delimited();
    return n;
  }

  /**
   * A key or value: a plain string as its slice (quotes included), anything else as JSON.parse
   * reads its text. `depth` is how deep the value sits in the body, for the nesting limit.
   */
  field(depth: number): Field {
    const c = this.peek();
    const start = this.i;
    if (c === QUOTE) {
      if (this.string()) return { slice: true, start, end: this.i };
    } else if (this.isNull()) {
      return { slice: false, value: null };
    } else {
      this.skip(depth);
    }
    let value: unknown;
    try {
      value = JSON.parse(this.text.toString('utf8', start, this.i));
    } catch {
      throw BAIL;
    }
    return { slice: false, value };
  }

  /**
   * Past one JSON value of any kind, finding only where it ends (brackets, strings, tokens);
   * JSON.parse then checks what is inside. Nesting that reaches the body's limit is left to
   * the usual path, which names the limit.
   */
  private skip(depth: number): void {
    const b = this.b;
    let nest = 0;
    for (;;) {
      if (this.i >= b.length) throw BAIL;
      const c = b[this.i]!;
      if (c === QUOTE) {
        this.string();
        if (nest === 0) return;
        continue;
      }
      if (c === LBRACE || c === LBRACKET) {
        if (depth + ++nest >= MAX_JSON_DEPTH) throw BAIL;
      } else if (c === RBRACE || c === RBRACKET) {
        if (nest === 0) return; // a bare token ended at its container's close
        nest--;
        if (nest === 0) {
          this.i++;
          return;
        }
      } else if (nest === 0 && (c === COMMA || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) {
        return; // a bare token (number, true, false) ended
      }
      this.i++;
    }
  }

  /** A header value: a string as its UTF-8 bytes, or null. */
  headerValue(): Uint8Array | null {
    const f = this.field(4);
    if (f.slice) return this.b.subarray(f.start + 1, f.end - 1);
    if (f.value === null) return null;
    if (typeof f.value !== 'string') throw BAIL;
    return new Uint8Array(Buffer.from(f.value, 'utf8'));
  }

  /** A header key: a string (as text). */
  headerKey(): string {
    const f = this.field(4);
    if (f.slice) return this.text.toString('utf8', f.start + 1, f.end - 1);
    if (typeof f.value !== 'string') throw BAIL;
    return f.value;
  }

  headers(): RecordHeader[] {
    const out: RecordHeader[] = [];
    if (!this.open(LBRACKET, RBRACKET)) return out;
    do {
      if (out.length === MAX_HEADERS) throw BAIL;
      let key: string | undefined;
      let value: Uint8Array | null | undefined;
      if (!this.open(LBRACE, RBRACE)) throw BAIL;
      do {
        const name = this.name();
        if (name === 'key' && key === undefined) key = this.headerKey();
        else if (name === 'value' && value === undefined) value = this.headerValue();
        else throw BAIL;
      } while (this.more(RBRACE));
      if (key === undefined || value === undefined) throw BAIL;
      out.push({ key, value });
    } while (this.more(RBRACKET));
    return out;
  }

  record(): ParsedRecord {
    let key: Field | undefined;
    let value: Field | undefined;
    let headers: RecordHeader[] | undefined;
    let partition: number | undefined;
    let timestamp: number | undefined;
    if (this.open(LBRACE, RBRACE)) {
      do {
        const name = this.name();
        if (name === 'value' && value === undefined) value = this.field(3);
        else if (name === 'key' && key === undefined) key = this.field(3);
        else if (name === 'headers' && headers === undefined) headers = this.headers();
        else if (name === 'partition' && partition === undefined) partition = this.integer();
        else if (name === 'timestamp' && timestamp === undefined) timestamp = this.integer();
        else throw BAIL;
      } while (this.more(RBRACE));
    }
    // A record without a value is the route's own 400: the usual path words it.
    if (value === undefined) throw BAIL;
    return { key, value, headers, partition, timestamp };
  }

  format(): string {
    const f = this.field(1);
    if (!f.slice) throw BAIL;
    const name = this.text.toString('latin1', f.start + 1, f.end - 1);
    if (!FORMATS.has(name)) throw BAIL;
    return name;
  }

  producer(): { id: number; epoch: number; sequence: number } {
    let id: number | undefined;
    let epoch: number | undefined;
    let sequence: number | undefined;
    if (!this.open(LBRACE, RBRACE)) throw BAIL;
    do {
      const name = this.name();
      if (name === 'id' && id === undefined) id = this.integer();
      else if (name === 'epoch' && epoch === undefined) epoch = this.integer();
      else if (name === 'sequence' && sequence === undefined) sequence = this.integer();
      else throw BAIL;
    } while (this.more(RBRACE));
    if (id === undefined || epoch === undefined || epoch > 32767 || sequence === undefined || sequence > 2147483647) throw BAIL;
    return { id, epoch, sequence };
  }

  body(): ParsedProduceBody {
    let records: ParsedRecord[] | undefined;
    let kf: string | undefined;
    let vf: string | undefined;
    let producer: ParsedProduceBody['producer'];
    if (!this.open(LBRACE, RBRACE)) throw BAIL;
    do {
      const name = this.name();
      if (name === 'records' && records === undefined) {
        records = [];
        if (this.open(LBRACKET, RBRACKET)) {
          do {
            if (records.length === MAX_RECORDS_PER_REQUEST) throw BAIL;
            records.push(this.record());
          } while (this.more(RBRACKET));
        }
      } else if (name === 'key_format' && kf === undefined) kf = this.format();
      else if (name === 'value_format' && vf === undefined) vf = this.format();
      else if (name === 'producer' && producer === undefined) producer = this.producer();
      else throw BAIL;
    } while (this.more(RBRACE));
    if (this.peek() !== -1 || records === undefined || records.length === 0) throw BAIL;
    return { bytes: this.b, records, key_format: (kf ?? 'string') as KeyFormat, value_format: (vf ?? 'json') as ValueFormat, ...(producer ? { producer } : {}) };
  }
}

/**
 * The produce body in `bytes` as the route's usual path would read it, or undefined: read it
 * the usual way. Keys and values that are plain strings stay slices of `bytes`.
 */
export function parseProduceBody(bytes: Uint8Array): ParsedProduceBody | undefined {
  // Invalid UTF-8 is decoded with replacement characters on the usual path; a BOM is dropped there.
  if (bytes.length === 0 || bytes[0] !== LBRACE || !isUtf8(bytes)) return undefined;
  try {
    return new Scanner(bytes).body();
  } catch (err) {
    if (err === BAIL) return undefined;
    throw err;
  }
}

/**
 * A key or value in the bytes its format makes of it: what `toBytes` makes of the value
 * JSON.parse reads, but for a plain string without making the string. Its UTF-8 bytes are its
 * slice; as JSON (`JSON.stringify` of a string that needs no escape) they are the slice with
 * its quotes.
 */
export function fieldBytes(body: ParsedProduceBody, f: Field | undefined, format: KeyFormat | ValueFormat, what: string): RecordBytes | null {
  if (f === undefined) return null;
  if (!f.slice) return toBytes(f.value, format, what);
  if (format === 'string') return body.bytes.subarray(f.start + 1, f.end - 1);
  if (format === 'json') return body.bytes.subarray(f.start, f.end);
  const b = body.bytes;
  return toBytes(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8', f.start + 1, f.end - 1), format, what);
}
