import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc32c } from '../../../lib/records/index.js';
import { kafkajsCrc32C } from './kafkajs.js';

describe('crc32c', () => {
  it('matches the RFC 3720 (iSCSI) B.4 check values', () => {
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });

  it('is 0 for empty input and always unsigned', () => {
    expect(crc32c(new Uint8Array(0))).toBe(0);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (b) => crc32c(b) >= 0 && crc32c(b) <= 0xffffffff));
  });

  it('agrees with KafkaJS crc32C on random buffers of every length class', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (b) => {
        expect(crc32c(b)).toBe(kafkajsCrc32C(Buffer.from(b)));
      }),
      { numRuns: 500 },
    );
  });

  it('checksums exactly the [start, end) range', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (b, x, y) => {
        const start = b.length === 0 ? 0 : x % (b.length + 1);
        const end = start + (b.length - start === 0 ? 0 : y % (b.length - start + 1));
        expect(crc32c(b, start, end)).toBe(kafkajsCrc32C(Buffer.from(b.subarray(start, end))));
      }),
    );
  });
});
