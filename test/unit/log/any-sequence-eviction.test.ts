// Kafka's any-sequence rule (ProducerBatch.anySequenceWhenUnknown) takes a batch at any sequence
// from a producer the partition holds no state of. Kafka forgets a producer only when it
// expires; Samsa also drops the least recently written streams beyond MAX_PRODUCERS_PER_PARTITION.
// A stream dropped that way is not "unknown" in Kafka's sense: its retry must not be appended
// again as a new batch.
import { describe, expect, it } from 'vitest';
import { headFieldFields } from '../../../lib/log/items';
import { DYNAMODB_TRAITS } from '../../../lib/storage/dynamo-meta-store';
import { attributesSize } from '../../../lib/storage/item-size';
import { SQLITE_TRAITS } from '../../../lib/storage/sqlite-meta-store';
import { binaryStream, decideProducer, HARD_MAX_PRODUCERS_PER_PARTITION, MAX_PRODUCERS_PER_PARTITION, MIN_EVICTION_IDLE_MS, type PartitionProducers, type ProducerBatch } from '../../../lib/log/producers';

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
    // As many other producers write after it, once it has been idle for MIN_EVICTION_IDLE_MS:
    // producer 1, the least recently written, is dropped.
    for (let i = 0; i < MAX_PRODUCERS_PER_PARTITION; i++) apply(batch(100 + i, 0, 0, 2000 + MIN_EVICTION_IDLE_MS + i));
    expect(states[binaryStream(1)]).toBeUndefined();
    // Producer 1 retries its last batch (its answer was lost): Kafka, which still has its state,
    // answers it as a duplicate; taking it at "any sequence" would append the records again.
    expect(() => decideProducer(states, batch(1, 5, 9, 3000))).toThrow(/OUT_OF_ORDER|older|gap/i);
  });

  it('a stream written within MIN_EVICTION_IDLE_MS is kept beyond the bound (its retry may still come), up to the hard bound, where the least recently written go whatever their age', async () => {
    states = {};
    next = 0;
    apply(batch(1, 0, 0, 1000));
    for (let i = 0; i < MAX_PRODUCERS_PER_PARTITION; i++) apply(batch(100 + i, 0, 0, 2000 + i));
    // Producer 1 retries its first batch (the answer was lost) a minute later: remembered.
    expect(states[binaryStream(1)]).toBeDefined();
    expect(decideProducer(states, batch(1, 0, 0, 60_000))).toEqual({ kind: 'duplicate', base: 0 });
    // Once it has been idle that long, the next write beyond the bound drops it, and only it.
    apply(batch(999, 0, 0, 1000 + MIN_EVICTION_IDLE_MS));
    expect(states[binaryStream(1)]).toBeUndefined();
    expect(Object.keys(states)).toHaveLength(MAX_PRODUCERS_PER_PARTITION + 1);
    // Past the hard bound, the least recently written go even if young.
    for (let i = 0; i < HARD_MAX_PRODUCERS_PER_PARTITION; i++) apply(batch(10_000 + i, 0, 0, 1001 + MIN_EVICTION_IDLE_MS));
    expect(Object.keys(states)).toHaveLength(HARD_MAX_PRODUCERS_PER_PARTITION);
    expect(states[binaryStream(10_000 + HARD_MAX_PRODUCERS_PER_PARTITION - 1)]).toBeDefined();
    expect(states[binaryStream(100)]).toBeUndefined();
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

describe('the head item at the hard bound', () => {
  /** HARD_MAX_PRODUCERS_PER_PARTITION streams of five batches with the largest values a head holds. */
  function largestStates(): PartitionProducers {
    const states: PartitionProducers = {};
    const base = Number.MAX_SAFE_INTEGER - 10_000_000;
    for (let i = 0; i < HARD_MAX_PRODUCERS_PER_PARTITION; i++) {
      // JSON streams carry a suffix; ids come from a counter, so 2^53 is far beyond any real one.
      states[`${9_007_199_254_000_001 + i}j`] = {
        epoch: 32767,
        touched: 1_796_000_000_123 + i * 13,
        batches: Array.from({ length: 5 }, (_, j) => ({ firstSeq: 2_147_480_000 + j * 701, lastSeq: 2_147_480_000 + j * 701 + 123_457, base: base + j * 12_345_678 + i, last: base + j * 12_345_678 + i + 123_457 })),
      };
    }
    return states;
  }

  it('the streams with the largest values (counter ids, 2^31 sequences, offsets near 2^53) stay within what the constant\'s comment and design note 0003 state', () => {
    const bytes = attributesSize(headFieldFields('producers', largestStates()));
    expect(bytes).toBeGreaterThan(0.12 * 1024 * HARD_MAX_PRODUCERS_PER_PARTITION);
    expect(bytes).toBeLessThanOrEqual(0.175 * 1024 * HARD_MAX_PRODUCERS_PER_PARTITION);
  });

  it('beside them the head still holds the largest inline batch a commit keeps in it (the embedded store\'s 128 KiB) and the rest of the head, within an item', () => {
    // A head-mode commit keeps its own extent in the head (nextTails pages the older ones out),
    // inline up to the store's inlineMaxBytes: 128 KiB on SQLite, which enforces DynamoDB's
    // item limit. At 2,000 streams the head passed 400 KB and such a commit failed.
    const producers = attributesSize(headFieldFields('producers', largestStates()));
    const inline = Math.max(SQLITE_TRAITS.inlineMaxBytes, DYNAMODB_TRAITS.inlineMaxBytes);
    const restOfHead = 8 * 1024; // lease, offsets, counters, the extent's own fields: a few hundred bytes
    expect(producers + inline + restOfHead).toBeLessThanOrEqual(400 * 1024);
  });
});
