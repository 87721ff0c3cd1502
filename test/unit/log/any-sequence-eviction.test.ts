// Kafka's any-sequence rule (ProducerBatch.anySequenceWhenUnknown) takes a batch at any sequence
// from a producer the partition holds no state of. Kafka forgets a producer only when it
// expires; Samsa also drops the least recently written streams beyond MAX_PRODUCERS_PER_PARTITION.
// A stream dropped that way is not "unknown" in Kafka's sense: its retry must not be appended
// again as a new batch.
import { describe, expect, it } from 'vitest';
import { binaryStream, decideProducer, MAX_PRODUCERS_PER_PARTITION, type PartitionProducers, type ProducerBatch } from '../../../lib/log/producers';

const DAY = 24 * 3600 * 1000;
const batch = (id: number, firstSeq: number, lastSeq: number, now: number, any = true): ProducerBatch => ({
  stream: binaryStream(id),
  producerId: id,
  epoch: 0,
  firstSeq,
  lastSeq,
  count: lastSeq - firstSeq + 1,
  requestSequence: false,
  ...(any ? { anySequenceWhenUnknown: true } : {}),
  now,
  expirationMs: DAY,
});

describe('any-sequence rule vs producer streams evicted by the per-partition bound', () => {
  let states: PartitionProducers = {};
  let next = 0;
  const apply = (b: ProducerBatch): void => {
    const d = decideProducer(states, b);
    expect(d.kind).toBe('new');
    if (d.kind === 'new') states = d.record(next);
    next += b.count;
  };

  it('a retry of a batch whose stream was evicted (not expired) is not taken as a new batch', () => {
    states = {};
    next = 0;
    apply(batch(1, 0, 4, 1000));
    apply(batch(1, 5, 9, 1001));
    // As many other producers write after it: producer 1, the least recently written, is dropped.
    for (let i = 0; i < MAX_PRODUCERS_PER_PARTITION; i++) apply(batch(100 + i, 0, 0, 2000 + i));
    expect(states[binaryStream(1)]).toBeUndefined();
    // Producer 1 retries its last batch (its answer was lost): Kafka, which still has its state,
    // answers it as a duplicate; taking it at "any sequence" would append the records again.
    expect(() => decideProducer(states, batch(1, 5, 9, 3000))).toThrow(/OUT_OF_ORDER|older|gap/i);
  });

  it('once every evicted stream would have expired anyway, an unknown producer is taken at any sequence', () => {
    states = {};
    next = 0;
    apply(batch(1, 5, 9, 1000));
    for (let i = 0; i < MAX_PRODUCERS_PER_PARTITION; i++) apply(batch(100 + i, 0, 0, 2000 + i));
    // A day later all those streams have expired: a new write prunes them, and producer 1 (or
    // any producer the partition no longer knows) is unknown as in Kafka.
    apply(batch(2, 0, 0, 2000 + DAY + MAX_PRODUCERS_PER_PARTITION));
    expect(decideProducer(states, batch(3, 42, 43, 2000 + DAY + MAX_PRODUCERS_PER_PARTITION + 1)).kind).toBe('new');
  });

  it('a producer the partition knows is checked as without the rule: a new epoch starts at 0 (Kafka), a retry is a duplicate, a gap is refused', () => {
    states = {};
    next = 0;
    apply(batch(1, 0, 4, 1000));
    apply(batch(1, 5, 9, 1001));
    expect(decideProducer(states, batch(1, 5, 9, 1002))).toEqual({ kind: 'duplicate', base: 5 });
    expect(() => decideProducer(states, batch(1, 12, 12, 1002))).toThrow(/gap/);
    // Epoch bumped (InitProducerId): the old epoch's state is the producer's, not "no state".
    const bumped = (firstSeq: number): ProducerBatch => ({ ...batch(1, firstSeq, firstSeq, 1003), epoch: 1 });
    expect(() => decideProducer(states, bumped(10))).toThrow(/gap/);
    expect(decideProducer(states, bumped(0)).kind).toBe('new');
  });

  it('a fresh partition takes an unknown producer at any sequence', () => {
    expect(decideProducer({}, batch(9, 17, 20, 1)).kind).toBe('new');
    expect(() => decideProducer({}, batch(9, 17, 20, 1, false))).toThrow(/gap/);
  });
});
