// Kafka's record sequences are INT32 and wrap: after 2147483647 a producer's next sequence on a
// partition is 0 (DefaultRecordBatch.incrementSequence; the Java client, librdkafka and KafkaJS
// all wrap), and a batch that crosses the wrap ends at a small sequence. A producer that has
// written 2^31 records to one partition (about six hours at 100k records/s) keeps going only
// if the partition's producer state wraps the same way.
import { describe, expect, it } from 'vitest';
import { prepareBinary } from '../../../lib/log/prepare';
import { binaryStream, decideProducer, type PartitionProducers, type ProducerBatch } from '../../../lib/log/producers';
import { encodeRecordBatch } from '../../../lib/records';

const MAX = 2147483647;
const DAY = 24 * 3600 * 1000;
const records = (n: number): Array<{ value: Uint8Array }> => Array.from({ length: n }, (_, i) => ({ value: Uint8Array.of(i) }));
const batch = (firstSeq: number, lastSeq: number, count: number): ProducerBatch => ({ stream: binaryStream(7), producerId: 7, epoch: 0, firstSeq, lastSeq, count, requestSequence: false, now: 1000, expirationMs: DAY });

describe('sequence wrap-around (binary batches)', () => {
  it('a batch crossing 2147483647 ends at the wrapped sequence, and two batches across the wrap are consecutive in one request', () => {
    const crossing = encodeRecordBatch(records(10), { producerId: 7, producerEpoch: 0, baseSequence: MAX - 3 });
    expect(prepareBinary(crossing, 1 << 20).producer).toEqual({ producerId: 7, producerEpoch: 0, firstSequence: MAX - 3, lastSequence: 5 });
    const before = encodeRecordBatch(records(4), { producerId: 7, producerEpoch: 0, baseSequence: MAX - 3 });
    const after = encodeRecordBatch(records(2), { producerId: 7, producerEpoch: 0, baseSequence: 0 });
    expect(prepareBinary(Buffer.concat([before, after]), 1 << 20).producer).toEqual({ producerId: 7, producerEpoch: 0, firstSequence: MAX - 3, lastSequence: 1 });
  });

  it('after a batch ending at 2147483647 the next starts at 0; after one ending past the wrap, the next starts after its wrapped end', () => {
    let states: PartitionProducers = {};
    const apply = (b: ProducerBatch, base: number): void => {
      const d = decideProducer(states, b);
      expect(d.kind).toBe('new');
      if (d.kind === 'new') states = d.record(base);
    };
    // Five batches are remembered (MAX_REMEMBERED, as Kafka's cache): the one that started at 0
    // is long forgotten when the sequences come round to 0 again.
    apply(batch(0, MAX - 60, MAX - 59), 0);
    for (let k = 0; k < 6; k++) apply(batch(MAX - 59 + 10 * k, MAX - 50 + 10 * k, 10), MAX - 59 + 10 * k);
    apply(batch(0, 9, 10), MAX + 1);
    apply(batch(10, 12, 3), MAX + 11);
    // A retry of the batch that ended at the wrap is still a duplicate.
    expect(decideProducer(states, batch(MAX - 9, MAX, 10))).toEqual({ kind: 'duplicate', base: MAX - 9 });

    states = {};
    apply(batch(0, MAX - 70, MAX - 69), 0);
    for (let k = 0; k < 5; k++) apply(batch(MAX - 69 + 10 * k, MAX - 60 + 10 * k, 10), MAX - 69 + 10 * k);
    apply(batch(MAX - 19, 4, 25), MAX - 19);
    apply(batch(5, 5, 1), MAX + 6);
    // A gap across the wrap is still a gap.
    expect(() => decideProducer(states, batch(7, 7, 1))).toThrow(/gap/);
  });
});
