import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { defaultPartition, murmur2, toPositive, Utf8 } from '../../../lib/records/index.js';
import { kafkajsMurmur2 } from './kafkajs.js';
import { JAVA_MURMUR2_VECTORS } from './murmur2-vectors';

const utf8 = (s: string) => new TextEncoder().encode(s);

describe('murmur2 / default partitioner', () => {
  it("matches Kafka's Java Utils.murmur2 test vectors", () => {
    for (const [key, hash] of JAVA_MURMUR2_VECTORS) expect(murmur2(utf8(key)), key).toBe(hash);
  });

  it("agrees with KafkaJS's DefaultPartitioner murmur2 on random keys", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (key) => {
        expect(murmur2(key)).toBe(kafkajsMurmur2(Buffer.from(key)));
      }),
      { numRuns: 1000 },
    );
  });

  it('partitions a text key (the JSON route hands keys over as Utf8) by its UTF-8 bytes, as KafkaJS does', () => {
    for (const [key] of JAVA_MURMUR2_VECTORS) expect(defaultPartition(new Utf8(key), 1000), key).toBe(toPositive(kafkajsMurmur2(Buffer.from(key))) % 1000);
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ unit: 'grapheme-ascii', maxLength: 20 })), fc.integer({ min: 1, max: 1000 }), (key, n) => {
        expect(defaultPartition(new Utf8(key), n)).toBe(toPositive(kafkajsMurmur2(Buffer.from(key, 'utf8'))) % n);
      }),
      { numRuns: 2000 },
    );
  });

  it('toPositive clears the sign bit like Kafka (not Math.abs)', () => {
    expect(toPositive(-2147483648)).toBe(0);
    expect(toPositive(-1)).toBe(2147483647);
    expect(toPositive(5)).toBe(5);
  });

  it('puts a key on the same partition every time, within range', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 1, max: 1000 }), (key, n) => {
        const p = defaultPartition(key, n);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(n);
        expect(p).toBe(toPositive(kafkajsMurmur2(Buffer.from(key))) % n);
      }),
    );
    // Kafka: "foobar" -> murmur2 -790332482 -> positive 1357151166 -> 1357151166 % 3 = 0
    expect(defaultPartition(utf8('foobar'), 3)).toBe(1357151166 % 3);
  });

  it('rejects a non-positive partition count', () => {
    expect(() => defaultPartition(utf8('k'), 0)).toThrow(RangeError);
  });
});
