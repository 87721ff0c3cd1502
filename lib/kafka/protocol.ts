// The Kafka wire protocol's primitive types, hand-written after the protocol guide
// (kafka.apache.org/protocol) and the JSON message specs. Pure: bytes in, values out. A
// Reader that runs past its end throws MalformedFrame, which the listener answers by closing
// the connection (a request that does not parse has no correlation id worth trusting).
//
//   INT8/16/32/64         big-endian two's complement
//   UNSIGNED_VARINT       LEB128, 7 bits a byte, at most 5 bytes for 32 bits
//   VARINT/VARLONG        zigzag over UNSIGNED_VARINT
//   STRING                INT16 length, then UTF-8        (NULLABLE: length -1 = null)
//   COMPACT_STRING        UNSIGNED_VARINT length + 1       (0 = null)
//   BYTES                 INT32 length                     (NULLABLE: -1 = null)
//   COMPACT_BYTES         UNSIGNED_VARINT length + 1
//   ARRAY                 INT32 count                      (NULLABLE: -1 = null)
//   COMPACT_ARRAY         UNSIGNED_VARINT count + 1
//   TAGGED_FIELDS         UNSIGNED_VARINT count, then per field: UNSIGNED_VARINT tag,
//                         UNSIGNED_VARINT size, size bytes (unknown tags are skipped)

export class MalformedFrame extends Error {
  override name = 'MalformedFrame';
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const enc = new TextEncoder();

export class Reader {
  private p = 0;
  private readonly dv: DataView;

  constructor(readonly buf: Uint8Array) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get offset(): number {
    return this.p;
  }
  get remaining(): number {
    return this.buf.length - this.p;
  }

  private need(n: number): void {
    if (n < 0 || this.p + n > this.buf.length) throw new MalformedFrame(`truncated: need ${n} byte(s) at ${this.p} of ${this.buf.length}`);
  }

  int8(): number {
    this.need(1);
    return this.dv.getInt8(this.p++);
  }
  bool(): boolean {
    return this.int8() !== 0;
  }
  int16(): number {
    this.need(2);
    const v = this.dv.getInt16(this.p);
    this.p += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.dv.getInt32(this.p);
    this.p += 4;
    return v;
  }
  int64(): number {
    this.need(8);
    const v = this.dv.getBigInt64(this.p);
    this.p += 8;
    // Offsets, timestamps and producer ids stay far below 2^53 here; anything beyond is
    // still representable as the nearest double, which callers treat as out of range.
    return Number(v);
  }
  uvarint(): number {
    let v = 0;
    for (let i = 0; i < 5; i++) {
      this.need(1);
      const b = this.buf[this.p++]!;
      v += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return v;
    }
    throw new MalformedFrame('unsigned varint longer than 5 bytes');
  }

  string(): string {
    const s = this.nullableString();
    if (s === null) throw new MalformedFrame('null where a string is required');
    return s;
  }
  nullableString(): string | null {
    const n = this.int16();
    if (n < 0) return null;
    return this.text(n);
  }
  compactString(): string {
    const s = this.compactNullableString();
    if (s === null) throw new MalformedFrame('null where a compact string is required');
    return s;
  }
  compactNullableString(): string | null {
    const n = this.uvarint() - 1;
    if (n < 0) return null;
    return this.text(n);
  }
  private text(n: number): string {
    this.need(n);
    const s = utf8.decode(this.buf.subarray(this.p, this.p + n));
    this.p += n;
    return s;
  }

  nullableBytes(): Uint8Array | null {
    const n = this.int32();
    if (n < 0) return null;
    return this.raw(n);
  }
  bytes(): Uint8Array {
    const b = this.nullableBytes();
    if (b === null) throw new MalformedFrame('null where bytes are required');
    return b;
  }
  compactNullableBytes(): Uint8Array | null {
    const n = this.uvarint() - 1;
    if (n < 0) return null;
    return this.raw(n);
  }
  raw(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.subarray(this.p, this.p + n);
    this.p += n;
    return b;
  }

  /**
   * ARRAY: the count is checked against the bytes left (every element takes at least
   * `minSize` bytes), so a forged count cannot make us allocate or loop beyond the frame.
   */
  array<T>(item: (r: Reader) => T, minSize = 1): T[] {
    const n = this.int32();
    return this.items(n, item, minSize) ?? [];
  }
  nullableArray<T>(item: (r: Reader) => T, minSize = 1): T[] | null {
    return this.items(this.int32(), item, minSize);
  }
  compactArray<T>(item: (r: Reader) => T, minSize = 1): T[] {
    return this.items(this.uvarint() - 1, item, minSize) ?? [];
  }
  private items<T>(n: number, item: (r: Reader) => T, minSize: number): T[] | null {
    if (n < 0) return null;
    if (n * minSize > this.remaining) throw new MalformedFrame(`array of ${n} element(s) in ${this.remaining} byte(s)`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(item(this));
    return out;
  }

  /** TAGGED_FIELDS: none is one we act on; skip them all. */
  taggedFields(): void {
    const n = this.uvarint();
    for (let i = 0; i < n; i++) {
      this.uvarint();
      this.raw(this.uvarint());
    }
  }
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/** A growable buffer; every writer method returns `this` so a response reads as its grammar. */
export class Writer {
  private buf = Buffer.allocUnsafe(256);
  private p = 0;

  private ensure(n: number): void {
    if (this.p + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.p + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.p);
    this.buf = next;
  }

  get length(): number {
    return this.p;
  }

  int8(v: number): this {
    this.ensure(1);
    this.buf.writeInt8(v, this.p);
    this.p += 1;
    return this;
  }
  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }
  int16(v: number): this {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.p);
    this.p += 2;
    return this;
  }
  int32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.p);
    this.p += 4;
    return this;
  }
  int64(v: number): this {
    this.ensure(8);
    // A double past the INT64 range (2^63 is what Long.MAX_VALUE reads as) is clamped, not thrown.
    const b = BigInt(Math.trunc(v));
    this.buf.writeBigInt64BE(b > INT64_MAX ? INT64_MAX : b < INT64_MIN ? INT64_MIN : b, this.p);
    this.p += 8;
    return this;
  }
  uvarint(v: number): this {
    this.ensure(5);
    while (v >= 0x80) {
      this.buf[this.p++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.p++] = v;
    return this;
  }
  string(s: string | null): this {
    if (s === null) return this.int16(-1);
    const b = enc.encode(s);
    return this.int16(b.length).raw(b);
  }
  compactString(s: string | null): this {
    if (s === null) return this.uvarint(0);
    const b = enc.encode(s);
    return this.uvarint(b.length + 1).raw(b);
  }
  bytes(b: Uint8Array | null): this {
    if (b === null) return this.int32(-1);
    return this.int32(b.length).raw(b);
  }
  raw(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.p);
    this.p += b.length;
    return this;
  }
  array<T>(items: readonly T[] | null, each: (w: Writer, item: T) => void): this {
    if (items === null) return this.int32(-1);
    this.int32(items.length);
    for (const it of items) each(this, it);
    return this;
  }
  compactArray<T>(items: readonly T[], each: (w: Writer, item: T) => void): this {
    this.uvarint(items.length + 1);
    for (const it of items) each(this, it);
    return this;
  }
  /** No tagged fields. */
  emptyTags(): this {
    return this.uvarint(0);
  }

  /** The bytes written, as a view (no copy). */
  finish(): Buffer {
    return this.buf.subarray(0, this.p);
  }
}

/**
 * Request header v1 (v2 adds TAGGED_FIELDS for flexible versions):
 *   request_api_key INT16, request_api_version INT16, correlation_id INT32,
 *   client_id NULLABLE_STRING (a plain STRING even in v2, for compatibility)
 */
export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

export function readRequestHeader(r: Reader): RequestHeader {
  return { apiKey: r.int16(), apiVersion: r.int16(), correlationId: r.int32(), clientId: r.nullableString() };
}

/** Kafka's error codes (org.apache.kafka.common.protocol.Errors) that this listener answers. */
export const ErrorCode = {
  NONE: 0,
  UNKNOWN_SERVER_ERROR: -1,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
  REQUEST_TIMED_OUT: 7,
  MESSAGE_TOO_LARGE: 10,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  INVALID_TOPIC_EXCEPTION: 17,
  RECORD_LIST_TOO_LARGE: 18,
  ILLEGAL_GENERATION: 22,
  INCONSISTENT_GROUP_PROTOCOL: 23,
  INVALID_GROUP_ID: 24,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  TOPIC_AUTHORIZATION_FAILED: 29,
  GROUP_AUTHORIZATION_FAILED: 30,
  CLUSTER_AUTHORIZATION_FAILED: 31,
  UNSUPPORTED_SASL_MECHANISM: 33,
  ILLEGAL_SASL_STATE: 34,
  UNSUPPORTED_VERSION: 35,
  TOPIC_ALREADY_EXISTS: 36,
  INVALID_PARTITIONS: 37,
  INVALID_REPLICATION_FACTOR: 38,
  INVALID_REQUEST: 42,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  DUPLICATE_SEQUENCE_NUMBER: 46,
  INVALID_PRODUCER_EPOCH: 47,
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 53,
  KAFKA_STORAGE_ERROR: 56,
  INVALID_CONFIG: 40,
  UNKNOWN_PRODUCER_ID: 59,
  SASL_AUTHENTICATION_FAILED: 58,
  NON_EMPTY_GROUP: 68,
  GROUP_ID_NOT_FOUND: 69,
  MEMBER_ID_REQUIRED: 79,
  GROUP_MAX_SIZE_REACHED: 81,
  THROTTLING_QUOTA_EXCEEDED: 89,
} as const;

/** Samsa's error codes (lib/errors.ts) are Kafka's names: map them to numbers. */
export function kafkaErrorCode(code: string | undefined): number {
  if (code === 'INVALID_REQUEST' || code === 'UNSUPPORTED_MEDIA_TYPE') return ErrorCode.INVALID_REQUEST;
  if (code === 'RECORD_TOO_LARGE') return ErrorCode.MESSAGE_TOO_LARGE;
  if (code === 'NOT_AUTHORIZED') return ErrorCode.CLUSTER_AUTHORIZATION_FAILED;
  if (code === 'AUTHENTICATION_FAILED') return ErrorCode.SASL_AUTHENTICATION_FAILED;
  if (code === 'THROTTLING') return ErrorCode.THROTTLING_QUOTA_EXCEEDED;
  if (code === 'REQUEST_TIMED_OUT') return ErrorCode.REQUEST_TIMED_OUT;
  if (code !== undefined && code in ErrorCode) return ErrorCode[code as keyof typeof ErrorCode];
  return ErrorCode.UNKNOWN_SERVER_ERROR;
}
