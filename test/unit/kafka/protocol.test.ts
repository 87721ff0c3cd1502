// The protocol primitives: what the writer writes the reader reads back (property tests), and
// the reader's bounds — a truncated value or a forged count throws MalformedFrame instead of
// reading past the frame or allocating what the count claims.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../lib/runtime/config';
import { ErrorCode, kafkaErrorCode, MalformedFrame, Reader, Writer } from '../../../lib/kafka/protocol';
import { nodeIdFor, parseAdvertised } from '../../../lib/kafka/server';

describe('primitives round-trip', () => {
  it('integers, varints, strings, bytes and arrays', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -128, max: 127 }),
        fc.integer({ min: -32768, max: 32767 }),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.maxSafeInteger(),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.option(fc.string({ maxLength: 300 })),
        fc.string({ maxLength: 300 }),
        fc.option(fc.uint8Array({ maxLength: 300 })),
        fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 20 }),
        (i8, i16, i32, i64, uv, ns, cs, nb, arr) => {
          const w = new Writer().int8(i8).int16(i16).int32(i32).int64(i64).uvarint(uv).string(ns).compactString(cs).bytes(nb);
          w.array(arr, (x, v) => void x.int32(v)).compactArray(arr, (x, v) => void x.int32(v)).emptyTags();
          const r = new Reader(w.finish());
          expect(r.int8()).toBe(i8);
          expect(r.int16()).toBe(i16);
          expect(r.int32()).toBe(i32);
          expect(r.int64()).toBe(i64);
          expect(r.uvarint()).toBe(uv);
          expect(r.nullableString()).toBe(ns);
          expect(r.compactString()).toBe(cs);
          const b = r.nullableBytes();
          expect(b === null ? null : [...b]).toEqual(nb === null ? null : [...nb]);
          expect(r.array((x) => x.int32(), 4)).toEqual(arr);
          expect(r.compactArray((x) => x.int32(), 4)).toEqual(arr);
          r.taggedFields();
          expect(r.remaining).toBe(0);
        },
      ),
    );
  });

  it('unsigned varints are LEB128 (Kafka protocol guide examples)', () => {
    expect([...new Writer().uvarint(0).finish()]).toEqual([0]);
    expect([...new Writer().uvarint(127).finish()]).toEqual([0x7f]);
    expect([...new Writer().uvarint(128).finish()]).toEqual([0x80, 0x01]);
    expect([...new Writer().uvarint(300).finish()]).toEqual([0xac, 0x02]);
    expect(new Reader(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f])).uvarint()).toBe(2 ** 32 - 1);
  });

  it('tagged fields of unknown tags are skipped', () => {
    const w = new Writer().uvarint(2).uvarint(0).uvarint(3).raw(Uint8Array.from([1, 2, 3])).uvarint(7).uvarint(0).int32(42);
    const r = new Reader(w.finish());
    r.taggedFields();
    expect(r.int32()).toBe(42);
  });
});

describe('bounds', () => {
  it('every truncation of a valid value throws MalformedFrame, never reads past the end', () => {
    const full = new Writer().int32(5).string('hello').bytes(Uint8Array.from([1, 2, 3])).array(['a', 'b'], (x, s) => void x.string(s)).finish();
    for (let n = 0; n < full.length; n++) {
      const r = new Reader(full.subarray(0, n));
      expect(() => {
        r.int32();
        r.string();
        r.bytes();
        r.array((x) => x.string(), 2);
      }).toThrow(MalformedFrame);
    }
  });

  it('a forged array count larger than the bytes left is refused before any element is read', () => {
    const r = new Reader(new Writer().int32(1_000_000_000).int32(1).finish());
    let calls = 0;
    expect(() => r.array((x) => (calls++, x.int32()), 4)).toThrow(MalformedFrame);
    expect(calls).toBe(0);
    expect(() => new Reader(new Writer().uvarint(2 ** 31).finish()).compactArray((x) => x.int8())).toThrow(MalformedFrame);
  });

  it('a varint longer than five bytes is refused', () => {
    expect(() => new Reader(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])).uvarint()).toThrow(MalformedFrame);
  });

  it('a null where a value is required is refused', () => {
    expect(() => new Reader(new Writer().string(null).finish()).string()).toThrow(MalformedFrame);
    expect(() => new Reader(new Writer().bytes(null).finish()).bytes()).toThrow(MalformedFrame);
  });
});

describe('error codes and configuration', () => {
  it("Samsa's error names map to Kafka's numbers", () => {
    expect(kafkaErrorCode('UNKNOWN_TOPIC_OR_PARTITION')).toBe(3);
    expect(kafkaErrorCode('OFFSET_OUT_OF_RANGE')).toBe(1);
    expect(kafkaErrorCode('OUT_OF_ORDER_SEQUENCE_NUMBER')).toBe(45);
    expect(kafkaErrorCode('INVALID_PRODUCER_EPOCH')).toBe(47);
    expect(kafkaErrorCode('RECORD_TOO_LARGE')).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    expect(kafkaErrorCode('TOPIC_ALREADY_EXISTS')).toBe(36);
    expect(kafkaErrorCode('SOMETHING_NEW')).toBe(-1);
  });

  it('SAMSA_KAFKA_* configure the listener; unset means none; TLS files go together', () => {
    expect(loadConfig({}).kafka).toBeUndefined();
    expect(loadConfig({ SAMSA_KAFKA_PORT: '9092' }).kafka).toEqual({ port: 9092, advertised: undefined, maxRequestBytes: 100 * 1024 * 1024, maxQueuedBytes: 256 * 1024 * 1024, tlsCert: undefined, tlsKey: undefined });
    expect(loadConfig({ SAMSA_KAFKA_PORT: '9093', SAMSA_KAFKA_ADVERTISED: 'kafka.example.com:19093' }).kafka?.advertised).toBe('kafka.example.com:19093');
    expect(loadConfig({ SAMSA_KAFKA_PORT: '9092', SAMSA_KAFKA_QUEUED_MAX_REQUEST_BYTES: '1048576' }).kafka?.maxQueuedBytes).toBe(1048576);
    expect(() => loadConfig({ SAMSA_KAFKA_PORT: '9092', SAMSA_KAFKA_TLS_CERT: '/c.pem' })).toThrow(/go together/);
    expect(() => loadConfig({ SAMSA_KAFKA_PORT: 'abc' })).toThrow(/SAMSA_KAFKA_PORT/);
  });

  it('advertised addresses parse (IPv6 in brackets) and give stable node ids', () => {
    expect(parseAdvertised('broker-1.internal:9092', 1)).toEqual({ host: 'broker-1.internal', port: 9092 });
    expect(parseAdvertised('[::1]:9093', 1)).toEqual({ host: '::1', port: 9093 });
    expect(parseAdvertised('hostonly', 9094)).toEqual({ host: 'hostonly', port: 9094 });
    expect(nodeIdFor('a:1')).toBe(nodeIdFor('a:1'));
    expect(nodeIdFor('a:1')).not.toBe(nodeIdFor('a:2'));
    expect(nodeIdFor('x'.repeat(500))).toBeGreaterThanOrEqual(0);
  });
});
