// Interop with KafkaJS 2.2.4, whose producer and consumer talk to real Kafka brokers: batches
// it writes must decode identically here, and batches we write must decode identically there.

import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Compression,
  codecsReady,
  decodeRecordBatch,
  encodeRecordBatch,
  splitBatches,
  type DecodedRecord,
  type RecordHeader,
  type RecordInput,
} from '../../../lib/records/index.js';
import { kafkajsDecode, kafkajsEncode, type KjsDecoded, type KjsRecord } from './kafkajs.js';
import { installKafkajsCodecs } from './independent-codecs.js';
import { bytes, nullableBytes, timestamp } from './arbitraries.js';

const CODECS = [Compression.None, Compression.Gzip, Compression.Snappy, Compression.Lz4, Compression.Zstd];

beforeAll(async () => {
  await codecsReady();
  await installKafkajsCodecs();
});

// KafkaJS takes headers as an object: keys must not look like array indices (JS would reorder
// them) and must be unique to keep their order, so generate them that way for both sides.
// KafkaJS's encoder also cannot write a null header value (its decoder can read one).
const kjsRecord = (nullHeaderValues: boolean): fc.Arbitrary<KjsRecord> => fc.record({
  key: nullableBytes(40),
  value: nullableBytes(300),
  headers: fc
    .uniqueArray(fc.string({ unit: 'grapheme', maxLength: 10 }).map((s) => `h-${s}`), { maxLength: 4 })
    .chain((keys) =>
      fc.tuple(...keys.map((key) => (nullHeaderValues ? nullableBytes(20) : bytes(20)).map((value): RecordHeader => ({ key, value })))),
    ),
  timestamp,
});
const kjsWritable = fc.array(kjsRecord(false), { minLength: 1, maxLength: 10 });
const kjsReadable = fc.array(kjsRecord(true), { minLength: 1, maxLength: 10 });
const producer = fc.record({
  baseOffset: fc.integer({ min: 0, max: 2 ** 40 }),
  partitionLeaderEpoch: fc.integer({ min: -1, max: 1000 }),
  producerId: fc.integer({ min: -1, max: 2 ** 50 }),
  producerEpoch: fc.integer({ min: -1, max: 32767 }),
  baseSequence: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
  transactional: fc.boolean(),
});

const hdrObject = (hs: RecordHeader[]) => Object.fromEntries(hs.map((h) => [h.key, h.value == null ? null : Buffer.from(h.value)]));
const b = (u: Uint8Array | null) => (u == null ? null : Buffer.from(u));

function expectSameAsKafkajs(ours: { records: DecodedRecord[] }, theirs: KjsDecoded): void {
  expect(theirs.records.length).toBe(ours.records.length);
  theirs.records.forEach((t, i) => {
    const o = ours.records[i]!;
    expect(t.offset).toBe(String(o.offset));
    expect(t.timestamp).toBe(String(o.timestamp));
    expect(t.key).toEqual(b(o.key));
    expect(t.value).toEqual(b(o.value));
    expect(t.headers).toEqual(hdrObject(o.headers));
  });
}

describe('interop with KafkaJS 2.2.4', () => {
  it('uncompressed: our bytes equal KafkaJS encoder bytes for the same records', async () => {
    await fc.assert(
      fc.asyncProperty(kjsWritable, producer, async (recs, p) => {
        const theirs = await kafkajsEncode(recs, p);
        const ours = encodeRecordBatch(recs, p);
        expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(theirs).toString('hex'));
      }),
      { numRuns: 200 },
    );
  });

  for (const codec of CODECS) {
    const name = Compression[codec];

    it(`${name}: batches KafkaJS encodes decode identically here (with CRC check)`, async () => {
      await fc.assert(
        fc.asyncProperty(kjsWritable, producer, async (recs, p) => {
          const theirs = await kafkajsEncode(recs, { ...p, compression: codec });
          expect(splitBatches(theirs)).toHaveLength(1);
          const { header, records } = decodeRecordBatch(theirs);
          expect(header.attributes & 7).toBe(codec);
          expect(header.baseOffset).toBe(p.baseOffset);
          expect(header.partitionLeaderEpoch).toBe(p.partitionLeaderEpoch);
          expect(header.producerId).toBe(p.producerId);
          expect(header.producerEpoch).toBe(p.producerEpoch);
          expect(header.baseSequence).toBe(p.baseSequence);
          expect(header.recordCount).toBe(recs.length);
          expect(records).toEqual(
            recs.map((r, i) => ({
              offset: p.baseOffset + i,
              timestamp: r.timestamp,
              key: r.key,
              value: r.value,
              headers: r.headers,
            })),
          );
        }),
        { numRuns: 60 },
      );
    });

    it(`${name}: batches we encode decode identically in KafkaJS's decoder`, async () => {
      await fc.assert(
        fc.asyncProperty(kjsReadable, producer, async (recs, p) => {
          const input: RecordInput[] = recs;
          const ours = encodeRecordBatch(input, { ...p, compression: codec });
          const theirs = await kafkajsDecode(ours);
          expect(theirs.firstOffset).toBe(String(p.baseOffset));
          expect(theirs.producerId).toBe(String(p.producerId));
          expect(theirs.producerEpoch).toBe(p.producerEpoch);
          expect(theirs.firstSequence).toBe(p.baseSequence);
          expect(theirs.partitionLeaderEpoch).toBe(p.partitionLeaderEpoch);
          expect(theirs.inTransaction).toBe(p.transactional);
          expect(theirs.maxTimestamp).toBe(String(Math.max(...recs.map((r) => r.timestamp))));
          expectSameAsKafkajs(decodeRecordBatch(ours), theirs);
        }),
        { numRuns: 60 },
      );
    });
  }

  it('a 256 KiB gzip batch made by KafkaJS decodes here', async () => {
    const value = Uint8Array.from({ length: 1 << 18 }, (_, i) => i % 251);
    const theirs = await kafkajsEncode([{ key: null, value, headers: [], timestamp: 1 }], { compression: Compression.Gzip });
    expect(decodeRecordBatch(theirs).records[0]!.value).toEqual(value);
  });

  it('empty keys, values and header values stay empty (not null) in KafkaJS', async () => {
    const recs: KjsRecord[] = [{ key: new Uint8Array(0), value: new Uint8Array(0), headers: [{ key: 'h-', value: new Uint8Array(0) }], timestamp: 5 }];
    const theirs = await kafkajsDecode(encodeRecordBatch(recs));
    expect(theirs.records[0]!.key).toEqual(Buffer.alloc(0));
    expect(theirs.records[0]!.value).toEqual(Buffer.alloc(0));
  });
});
