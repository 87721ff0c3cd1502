// Idempotent producers, after Kafka's KIP-98. A producer id is issued by the store, and its
// current epoch lives in the producer's registry item. Sequence state lives with each
// partition, as in Kafka: the partition head keeps, per producer stream, the epoch, the last
// sequence and the last MAX_REMEMBERED batches (first/last sequence, base/last offset), so a
// retry through any instance returns the original offsets and writes nothing, and recording a
// write is part of the commit's one conditional head write (commit.ts). Entries expire after
// `producer.id.expiration.ms` without a write (7 days, Kafka's default), which bounds the head.
// Items mode (commit-items.ts) writes no head on commit: there the state is a snapshot in the
// head as of `flushed` plus the producer fields every idempotent commit item carries, replayed
// by applyItem (producer-view.ts); the decision is decideProducer's all the same.
//
// Two kinds of stream per producer and partition:
//   `<id>`   binary RecordBatches: Kafka's record sequences, contiguous per partition;
//   `<id>j`  JSON requests: one sequence per request, for every partition the request touches.
//            Request sequences are per producer across topics: the registry item claims each
//            sequence for one request (topic, record count), so a sequence reused on another
//            topic is refused rather than answered with the first request's offsets.
import { ConditionFailedError, SamsaError } from '../errors';
import type { MetaStore } from '../storage/ports';
import { type Clock, systemClock } from '../util/clock';
import { retryOnConflict } from '../util/retry';
import { CLAIM_SEQ_ATTR, claimSlot, claimValue, counterValue, COUNTER_ATTR, PRODUCER_EPOCH_ATTR, PRODUCER_VERSION_ATTR, producerFromItem, producerToItem } from './items';
import { producerCounterKey, producerKey } from './keys';

export const MAX_REMEMBERED = 5;
/** Kafka's producer.id.expiration.ms default. */
export const DEFAULT_PRODUCER_ID_EXPIRATION_MS = 7 * 24 * 60 * 60 * 1000;
/**
 * Producer streams one head keeps (the least recently written go first), beyond which streams
 * idle for MIN_EVICTION_IDLE_MS are dropped: a bound on the head item, and on what each commit's
 * head write costs, whatever the number of producers.
 */
export const MAX_PRODUCERS_PER_PARTITION = 500;
/**
 * How long a stream must have been idle before the bound above drops it. A dropped stream is
 * unknown to the partition, and a full partition takes an unknown producer's batch at sequence
 * 0 (decideProducer): a producer's retry of its first batch, whose answer it lost, would be
 * appended again. Retries come within the client's delivery timeout — the Java producer's
 * delivery.timeout.ms is 2 minutes, librdkafka's message.timeout.ms 5 — so a stream idle this
 * long has none left to come.
 */
export const MIN_EVICTION_IDLE_MS = 10 * 60 * 1000;
/**
 * Streams one head keeps at most, idle or not (least recently written go first): beyond
 * MAX_PRODUCERS_PER_PARTITION only while more producers than that wrote the partition within
 * MIN_EVICTION_IDLE_MS. A stream of five batches takes about 120 bytes with small values and at
 * most about 170 with the largest (offsets near 2^53, sequences near 2^31, item-size.ts): at
 * most ~250 KB for all. The head must hold them and, in head mode, the commit's own extent
 * inline beside them — up to 128 KiB on the embedded store (SQLITE_TRAITS.inlineMaxBytes), which
 * enforces DynamoDB's 400 KB item limit too — and its other fields: 1,500 leaves ~18 KB spare;
 * at 2,000 such a commit failed (test/unit/log/any-sequence-eviction.test.ts). Every commit's
 * head write is billed that size.
 */
export const HARD_MAX_PRODUCERS_PER_PARTITION = 1500;
/**
 * How long an instance trusts a registered epoch it read (binary produce's fencing check): a
 * bump made through another instance fences the old epoch here at most this much later on
 * partitions the new epoch has not written yet (design note 0003, "Fencing window").
 */
export const DEFAULT_EPOCH_CACHE_MS = 1000;

/** A batch a producer stream wrote to the partition, as Kafka's BatchMetadata. */
export interface RememberedBatch {
  firstSeq: number;
  lastSeq: number;
  base: number;
  last: number;
}

/** One producer stream's state in one partition (Kafka's ProducerStateEntry). */
export interface StreamState {
  epoch: number;
  /** Clock time of its last write, for expiry. */
  touched: number;
  /** Oldest first; the last one ends at the stream's last sequence. */
  batches: RememberedBatch[];
}

export type PartitionProducers = Record<string, StreamState>;

/** The producer fields of one commit part. */
export interface ProducerBatch {
  stream: string;
  producerId: number;
  epoch: number;
  firstSeq: number;
  lastSeq: number;
  /** Offsets the part takes. */
  count: number;
  /** Request sequences (JSON): per partition they only increase; the registry checks gaps. */
  requestSequence: boolean;
  /**
   * Kafka's rule (ProducerAppendInfo.checkSequence): a partition that holds no state of the
   * producer (none yet on this incarnation of the topic, or expired) takes its batch at any
   * sequence, and checks the next ones from there. Without it such a batch must start at 0, as
   * it must on a partition holding MAX_PRODUCERS_PER_PARTITION live streams, where the producer
   * may have been evicted rather than expired (mayHaveEvicted).
   */
  anySequenceWhenUnknown?: boolean;
  /**
   * Checks the writer's epoch on a fresh read of the registry (binary batches). The committer
   * calls it before it writes a batch the partition holds no state of its stream at its epoch
   * for (`unfenced`: none at all, or only an older epoch's): nothing in that head can fence the
   * batch's epoch, so the cached registry epoch (DEFAULT_EPOCH_CACHE_MS) is not trusted there
   * (design note 0003, "Fencing window").
   */
  confirmEpoch?: () => Promise<void>;
  now: number;
  expirationMs: number;
}

/**
 * `unfenced`: the partition holds no live state of the batch's stream at the batch's epoch (a new
 * producer, one expired or evicted there, or one whose epoch was bumped since it last wrote
 * there), so nothing in its head can fence the batch's epoch: only a newer epoch's state could,
 * and the head has none.
 */
export type ProducerDecision = { kind: 'new'; unfenced: boolean; record: (base: number) => PartitionProducers } | { kind: 'duplicate'; base: number };

/** Kafka's record sequences are INT32: after this one comes 0 (DefaultRecordBatch.incrementSequence). */
export const MAX_SEQUENCE = 2147483647;
/**
 * `seq` advanced by `n` (0 ≤ n ≤ MAX_SEQUENCE), wrapping to 0 after MAX_SEQUENCE as Kafka and its
 * clients do: a producer's sequences on a partition go on past 2^31 records.
 */
export const addSequence = (seq: number, n: number): number => (seq > MAX_SEQUENCE - n ? n - (MAX_SEQUENCE - seq) - 1 : seq + n);

export const binaryStream = (id: number): string => `${id}`;
export const jsonStream = (id: number): string => `${id}j`;

/**
 * Whether `batch` is new on a partition whose producer state is `states`, a retry of a
 * remembered batch (with its base offset), or refused (thrown, 409). Pure: the caller commits
 * `record(base)` with the records, conditional on the head it read `states` from.
 */
export function decideProducer(states: PartitionProducers, batch: ProducerBatch): ProducerDecision {
  const live = (s: StreamState | undefined): s is StreamState => s !== undefined && s.touched + batch.expirationMs > batch.now;
  const cur = states[batch.stream];
  const entry = live(cur) ? cur : undefined;
  const who = `producer ${batch.producerId}`;
  if (entry && batch.epoch < entry.epoch) {
    throw new SamsaError('INVALID_PRODUCER_EPOCH', `${who} epoch ${batch.epoch} is fenced by a newer epoch ${entry.epoch}`, {
      producer_id: batch.producerId,
      epoch: entry.epoch,
    });
  }
  const same = entry && entry.epoch === batch.epoch ? entry : undefined;
  const lastSeq = same ? same.batches[same.batches.length - 1]!.lastSeq : -1;
  // Record sequences wrap (addSequence); request sequences (JSON) are Samsa's own and do not.
  const expected = batch.requestSequence ? lastSeq + 1 : addSequence(lastSeq, 1);
  if (same) {
    const seen = same.batches.find((b) => b.firstSeq === batch.firstSeq);
    if (seen) {
      // A retry must be the same write: same sequence range, same number of records.
      if (seen.lastSeq === batch.lastSeq && seen.last - seen.base + 1 === batch.count) return { kind: 'duplicate', base: seen.base };
      throw new SamsaError(
        'OUT_OF_ORDER_SEQUENCE_NUMBER',
        `sequence ${batch.firstSeq} of ${who} was already used on this partition for sequences ${seen.firstSeq}..${seen.lastSeq} (${seen.last - seen.base + 1} records); this write has ${batch.firstSeq}..${batch.lastSeq} (${batch.count} records)`,
        { producer_id: batch.producerId, expected_sequence: expected },
      );
    }
  }
  const inOrder = batch.requestSequence
    ? batch.firstSeq > lastSeq
    : batch.firstSeq === expected || (entry === undefined && batch.anySequenceWhenUnknown === true && !mayHaveEvicted(states, live));
  if (!inOrder) {
    throw new SamsaError(
      'OUT_OF_ORDER_SEQUENCE_NUMBER',
      batch.firstSeq <= lastSeq
        ? `sequence ${batch.firstSeq} of ${who} is older than the last ${MAX_REMEMBERED} remembered writes to this partition (last was ${lastSeq})`
        : `sequence ${batch.firstSeq} of ${who} leaves a gap: expected ${expected}`,
      { producer_id: batch.producerId, expected_sequence: expected },
    );
  }
  return {
    kind: 'new',
    unfenced: same === undefined,
    record: (base) =>
      rememberBatch(states, { stream: batch.stream, epoch: batch.epoch, firstSeq: batch.firstSeq, lastSeq: batch.lastSeq, now: batch.now }, base, base + batch.count - 1, batch.expirationMs),
  };
}

/**
 * Whether a stream of the partition may have been dropped by the MAX_PRODUCERS_PER_PARTITION
 * bound while it was still live. Kafka forgets a producer only when it expires: a stream evicted
 * by the bound is not unknown in its sense, and its retry taken at any sequence would be written
 * twice. The streams evicted are the least recently written, so once fewer than the bound are
 * live, some stream kept or written after the eviction has expired, and every evicted one with
 * it: only a partition holding the bound's worth of live streams may still be missing one.
 */
function mayHaveEvicted(states: PartitionProducers, live: (s: StreamState | undefined) => boolean): boolean {
  let n = 0;
  for (const s of Object.values(states)) if (live(s) && ++n >= MAX_PRODUCERS_PER_PARTITION) return true;
  return false;
}

/**
 * The producer fields an idempotent batch's commit item carries (items mode, commit-items.ts):
 * with the item's base and last offset, what `rememberBatch` needs to rebuild the state.
 */
export interface ItemProducer {
  stream: string;
  epoch: number;
  firstSeq: number;
  lastSeq: number;
  /** The commit's clock time: the stream's `touched` once the batch is applied. */
  now: number;
}

/**
 * `states` with the batch (first..lastSeq at base..last) recorded as its stream's latest write,
 * streams expired at `b.now` dropped and at most MAX_PRODUCERS_PER_PARTITION kept. What an
 * accepted idempotent commit records, and what replaying a commit item applies.
 */
function rememberBatch(states: PartitionProducers, b: ItemProducer, base: number, last: number, expirationMs: number): PartitionProducers {
  const live = (s: StreamState | undefined): s is StreamState => s !== undefined && s.touched + expirationMs > b.now;
  const cur = states[b.stream];
  const same = live(cur) && cur.epoch === b.epoch ? cur : undefined;
  const next: PartitionProducers = {};
  for (const [k, s] of Object.entries(states)) if (k !== b.stream && live(s)) next[k] = s;
  const kept = same ? same.batches : [];
  next[b.stream] = {
    epoch: b.epoch,
    touched: b.now,
    batches: [...kept, { firstSeq: b.firstSeq, lastSeq: b.lastSeq, base, last }].slice(-MAX_REMEMBERED),
  };
  const keys = Object.keys(next);
  if (keys.length > MAX_PRODUCERS_PER_PARTITION) {
    keys.sort((x, y) => next[x]!.touched - next[y]!.touched);
    // Least recently written first, always a prefix of that order (mayHaveEvicted's argument
    // rests on it): beyond the bound those idle long enough to have no retry left to come,
    // beyond the hard bound any.
    let drop = 0;
    while (
      drop < keys.length - MAX_PRODUCERS_PER_PARTITION &&
      (keys.length - drop > HARD_MAX_PRODUCERS_PER_PARTITION || b.now - next[keys[drop]!]!.touched >= MIN_EVICTION_IDLE_MS)
    )
      drop++;
    for (const k of keys.slice(0, drop)) delete next[k];
  }
  return next;
}

/**
 * Items mode: the state after a commit item of the log (an idempotent batch at base..last),
 * applied in offset order onto a state built from the snapshot and the items before it. The
 * item is in the log, so it was accepted: nothing is decided, it is recorded — unless the state
 * already has it or something later of its stream (the same epoch at this base or beyond, or
 * a newer epoch), which makes applying an item twice (one straddling the snapshot's offset,
 * read again) a no-op. Returns `states` itself when nothing changed.
 */
export function applyItem(states: PartitionProducers, p: ItemProducer, base: number, last: number, expirationMs: number): PartitionProducers {
  const cur = states[p.stream];
  if (cur && cur.touched + expirationMs > p.now) {
    if (cur.epoch > p.epoch) return states;
    if (cur.epoch === p.epoch && cur.batches[cur.batches.length - 1]!.base >= base) return states;
  }
  return rememberBatch(states, p, base, last, expirationMs);
}

/** `states` without the streams not written for `expirationMs` by `now` (`states` itself if none). */
export function pruneExpired(states: PartitionProducers, now: number, expirationMs: number): PartitionProducers {
  const keys = Object.keys(states);
  const live = keys.filter((k) => states[k]!.touched + expirationMs > now);
  if (live.length === keys.length) return states;
  return Object.fromEntries(live.map((k) => [k, states[k]!]));
}

/** A JSON request that claimed a sequence: what a retry must match, and what it must reuse. */
export interface RequestClaim {
  sequence: number;
  topicId: string;
  records: number;
  /** The request's clock time (timestamps of records sent without one). */
  now: number;
  /** The partition chosen for records with neither key nor partition, if any. */
  sticky?: number;
}

export interface ProducerState {
  id: number;
  epoch: number;
  version: number;
  /**
   * The principal the id was issued to, where requests are authenticated: only it (or a super
   * user) may bump the epoch. Absent on ids issued without authentication, or before owners.
   */
  owner?: string;
  /** The last MAX_REMEMBERED JSON requests of this epoch (in no particular order). */
  claims: RequestClaim[];
}

/** Who asks for a producer id, where requests are authenticated (ProducerRegistry.init). */
export interface ProducerCaller {
  principal: string;
  /** May bump any id's epoch (a super user). */
  anyProducer?: boolean;
}

export class ProducerRegistry {
  /** Registered epochs this instance read or wrote, with when (monotonic ms): see epochCacheMs. */
  private readonly epochs = new Map<number, { epoch: number; at: number }>();

  constructor(
    private readonly meta: MetaStore,
    private readonly clock: Clock = systemClock,
    private readonly epochCacheMs = DEFAULT_EPOCH_CACHE_MS,
  ) {}

  private monotonic(): number {
    return this.clock.monotonic?.() ?? performance.now();
  }

  private remember(id: number, epoch: number): void {
    const known = this.epochs.get(id);
    // Epochs only grow: never let a late read replace a newer epoch this instance saw.
    if (known && known.epoch > epoch) return;
    this.epochs.set(id, { epoch, at: this.monotonic() });
    if (this.epochs.size > 10_000) this.epochs.delete(this.epochs.keys().next().value!);
  }

  /**
   * Binary produce's fencing check: the writer's epoch must be the registered one. An epoch
   * this instance read or set less than epochCacheMs ago is trusted without a read (the only
   * read of an idempotent binary commit, issue 18); an older entry, or any answer that would
   * refuse the writer as *newer* than the cache says, is decided on a fresh read. An epoch
   * below a cached one is refused at once: epochs only grow. Resolves to whether it read.
   */
  async checkCurrentEpoch(id: number, epoch: number, opts: { fresh?: boolean } = {}): Promise<boolean> {
    validId(id);
    const known = this.epochs.get(id);
    // `fresh`: an equal cached epoch is not trusted (a partition that cannot fence it itself).
    if (known && (known.epoch > epoch || (!opts.fresh && known.epoch === epoch && this.monotonic() - known.at < this.epochCacheMs))) {
      this.checkEpoch({ id, epoch: known.epoch }, epoch);
      return false;
    }
    this.checkEpoch(await this.load(id), epoch);
    return true;
  }

  /**
   * Issue a new producer id (epoch 0), or bump the epoch of an existing one. `caller`: who asks,
   * where requests are authenticated. A new id is issued to it, and an id issued to another
   * principal is not bumped (NOT_AUTHORIZED): a bump fences the id's current writer, and ids
   * are sequential, so any principal allowed a producer id could otherwise fence every other
   * principal's producers.
   */
  async init(id?: number, caller?: ProducerCaller): Promise<{ id: number; epoch: number }> {
    if (id !== undefined) {
      // Lost to a racing init or claim: re-read and bump again. Every loss is another writer's
      // progress, so this is not capped.
      return retryOnConflict(
        async () => {
          const state = await this.load(id);
          if (caller && !caller.anyProducer && state.owner !== undefined && state.owner !== caller.principal) {
            throw new SamsaError('NOT_AUTHORIZED', `producer id ${id} was issued to another principal: only that principal may bump its epoch`, { producer_id: id });
          }
          await this.meta.write({
            type: 'put',
            item: producerToItem({ id, epoch: state.epoch + 1, version: state.version + 1, ...(state.owner !== undefined ? { owner: state.owner } : {}), claims: [] }, MAX_REMEMBERED),
            condition: { op: 'eq', attr: PRODUCER_VERSION_ATTR, value: state.version },
          });
          this.remember(id, state.epoch + 1);
          return { id, epoch: state.epoch + 1 };
        },
        (err) => err instanceof ConditionFailedError,
        { maxAttempts: Infinity },
      );
    }
    const counter = await this.meta.write({ type: 'update', key: producerCounterKey, add: { [COUNTER_ATTR]: 1 } });
    const newId = counterValue(counter) - 1;
    await this.meta.write({
      type: 'put',
      item: producerToItem({ id: newId, epoch: 0, version: 1, ...(caller ? { owner: caller.principal } : {}), claims: [] }, MAX_REMEMBERED),
      condition: { op: 'notExists' },
    });
    this.remember(newId, 0);
    return { id: newId, epoch: 0 };
  }

  async load(id: number): Promise<ProducerState> {
    validId(id);
    const item = await this.meta.get(producerKey(id));
    if (!item) throw unknownProducer(id);
    const state = producerFromItem(item, MAX_REMEMBERED);
    this.remember(id, state.epoch);
    return state;
  }

  /** The registered epoch must be the writer's: an older one is fenced, a newer one unknown. */
  checkEpoch(state: Pick<ProducerState, 'id' | 'epoch'>, epoch: number): void {
    if (epoch === state.epoch) return;
    throw new SamsaError(
      'INVALID_PRODUCER_EPOCH',
      epoch < state.epoch
        ? `producer ${state.id} epoch ${epoch} is fenced by a newer epoch ${state.epoch}`
        : `producer ${state.id} epoch ${epoch} is newer than its registered epoch ${state.epoch}`,
      { producer_id: state.id, epoch: state.epoch },
    );
  }

  /**
   * Claim a JSON request's sequence for this request: one conditional write to the registry
   * item (epoch current, the previous sequence the last claimed), no read. Each claim goes to
   * slot `c<sequence mod MAX_REMEMBERED>`, so the item keeps the last few claims without a
   * read-modify-write. A request that claimed it already (a retry: same topic, same record
   * count) gets its original claim back, whose time and sticky partition make the retry commit
   * exactly the same batches.
   */
  async claim(id: number, epoch: number, want: RequestClaim): Promise<{ claim: RequestClaim; retry: boolean }> {
    validId(id);
    return retryOnConflict(() => this.claimOnce(id, epoch, want), (err) => err instanceof ClaimRaced, {
      maxAttempts: CLAIM_ATTEMPTS,
      exhausted: (last) => (last as ClaimRaced).refusal,
    });
  }

  private async claimOnce(id: number, epoch: number, want: RequestClaim): Promise<{ claim: RequestClaim; retry: boolean }> {
    const s = want.sequence;
    try {
      await this.meta.write({
        type: 'update',
        key: producerKey(id),
        set: { [CLAIM_SEQ_ATTR]: s, [claimSlot(s, MAX_REMEMBERED)]: claimValue(want) },
        condition: {
          op: 'and',
          conds: [{ op: 'eq', attr: PRODUCER_EPOCH_ATTR, value: epoch }, s === 0 ? { op: 'attrNotExists', attr: CLAIM_SEQ_ATTR } : { op: 'eq', attr: CLAIM_SEQ_ATTR, value: s - 1 }],
        },
      });
      return { claim: want, retry: false };
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
      if (!err.item) throw unknownProducer(id);
      const state = producerFromItem(err.item, MAX_REMEMBERED);
      this.remember(id, state.epoch);
      this.checkEpoch(state, epoch);
      const last = state.claimSeq;
      const seen = state.claims.find((c) => c.sequence === s);
      if (seen) {
        if (seen.topicId === want.topicId && seen.records === want.records) return { claim: seen, retry: true };
        throw new SamsaError(
          'OUT_OF_ORDER_SEQUENCE_NUMBER',
          `sequence ${s} of producer ${id} was already used for another request (${seen.records} records${seen.topicId === want.topicId ? '' : ' to another topic'}); this one has ${want.records} records`,
          { producer_id: id, expected_sequence: last + 1 },
        );
      }
      const refusal = new SamsaError(
        'OUT_OF_ORDER_SEQUENCE_NUMBER',
        s <= last
          ? `sequence ${s} of producer ${id} is older than the last ${MAX_REMEMBERED} remembered requests (last was ${last})`
          : `sequence ${s} of producer ${id} leaves a gap: expected ${last + 1}`,
        { producer_id: id, expected_sequence: last + 1 },
      );
      // The item as returned allows the claim: it changed between the condition and the read
      // (a racing init or claim). Try again (refused after CLAIM_ATTEMPTS).
      if (s === last + 1) throw new ClaimRaced(refusal);
      throw refusal;
    }
  }
}

/** Claims tried before a sequence that keeps racing is refused. */
const CLAIM_ATTEMPTS = 5;

/** A claim whose condition failed on an item that allows it: retried; `refusal` once out of attempts. */
class ClaimRaced extends Error {
  constructor(readonly refusal: SamsaError) {
    super('producer item changed during the claim');
  }
}

function validId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 0) {
    throw new SamsaError('UNKNOWN_PRODUCER_ID', `producer id ${id} is not valid; get one from POST /v1/producers`);
  }
}

function unknownProducer(id: number): SamsaError {
  return new SamsaError('UNKNOWN_PRODUCER_ID', `producer id ${id} is unknown; get one from POST /v1/producers`, { producer_id: id });
}
