// Idempotent producers, after Kafka's KIP-98. A producer id is issued by the store; each
// (id, epoch) writes numbered sequences on "streams" — one per partition for binary batches
// (Kafka's record sequences), and one per producer for JSON requests (a sequence per request).
// The state item remembers the last MAX_REMEMBERED writes of each stream with their results,
// so a retry through any instance returns the original offsets and writes nothing. The state
// update commits in the same transaction as the records (see Committer.commit's `extra`).
import { ConditionFailedError, SamsaError } from '../errors';
import type { MetaItem, MetaStore, MetaValue, WriteOp } from '../storage/ports';
import { producerCounterKey, producerKey } from './keys';

export const MAX_REMEMBERED = 5;

export interface RememberedWrite {
  first: number;
  last: number;
  /** Whatever the caller needs to rebuild its original response. */
  result: MetaValue;
}

interface Stream {
  last: number;
  recent: RememberedWrite[];
}

export interface ProducerState {
  id: number;
  epoch: number;
  version: number;
  streams: Record<string, Stream>;
}

export type SequenceCheck = { kind: 'new' } | { kind: 'duplicate'; result: MetaValue };

export class ProducerRegistry {
  constructor(private readonly meta: MetaStore) {}

  /** Issue a new producer id (epoch 0), or bump the epoch of an existing one. */
  async init(id?: number): Promise<{ id: number; epoch: number }> {
    if (id !== undefined) {
      for (;;) {
        const state = await this.load(id);
        try {
          await this.meta.write({
            type: 'put',
            item: toItem({ id, epoch: state.epoch + 1, version: state.version + 1, streams: {} }),
            condition: { op: 'eq', attr: 'version', value: state.version },
          });
          return { id, epoch: state.epoch + 1 };
        } catch (err) {
          if (!(err instanceof ConditionFailedError)) throw err;
        }
      }
    }
    const counter = await this.meta.write({ type: 'update', key: producerCounterKey, add: { value: 1 } });
    const newId = (counter!['value'] as number) - 1;
    await this.meta.write({
      type: 'put',
      item: toItem({ id: newId, epoch: 0, version: 1, streams: {} }),
      condition: { op: 'notExists' },
    });
    return { id: newId, epoch: 0 };
  }

  async load(id: number): Promise<ProducerState> {
    if (!Number.isSafeInteger(id) || id < 0) {
      throw new SamsaError('UNKNOWN_PRODUCER_ID', `producer id ${id} is not valid; get one from POST /v1/producers`);
    }
    const item = await this.meta.get(producerKey(id));
    if (!item) {
      throw new SamsaError('UNKNOWN_PRODUCER_ID', `producer id ${id} is unknown; get one from POST /v1/producers`, { producer_id: id });
    }
    return fromItem(item);
  }

  /** Decide whether a write is new, a retry of a remembered one, or out of order. */
  check(state: ProducerState, epoch: number, stream: string, first: number, last: number): SequenceCheck {
    if (epoch !== state.epoch) {
      throw new SamsaError(
        'INVALID_PRODUCER_EPOCH',
        epoch < state.epoch
          ? `producer ${state.id} epoch ${epoch} is fenced by a newer epoch ${state.epoch}`
          : `producer ${state.id} epoch ${epoch} is newer than its registered epoch ${state.epoch}`,
        { producer_id: state.id, epoch: state.epoch },
      );
    }
    const s = state.streams[stream] ?? { last: -1, recent: [] };
    const seen = s.recent.find((w) => w.first === first && w.last === last);
    if (seen) return { kind: 'duplicate', result: seen.result };
    if (first !== s.last + 1) {
      throw new SamsaError(
        'OUT_OF_ORDER_SEQUENCE_NUMBER',
        first <= s.last
          ? `sequence ${first} of producer ${state.id} is older than the last ${MAX_REMEMBERED} remembered writes (last was ${s.last})`
          : `sequence ${first} of producer ${state.id} leaves a gap: expected ${s.last + 1}`,
        { producer_id: state.id, expected_sequence: s.last + 1 },
      );
    }
    return { kind: 'new' };
  }

  /** The conditional write recording a new write; fails if anyone changed the state meanwhile. */
  recordOp(state: ProducerState, stream: string, write: RememberedWrite): WriteOp {
    const s = state.streams[stream] ?? { last: -1, recent: [] };
    const next: Stream = { last: write.last, recent: [...s.recent, write].slice(-MAX_REMEMBERED) };
    return {
      type: 'update',
      key: producerKey(state.id),
      set: { streams: { ...toStreamsValue(state.streams), [stream]: streamValue(next) }, version: state.version + 1 },
      condition: { op: 'eq', attr: 'version', value: state.version },
    };
  }
}

function streamValue(s: Stream): MetaValue {
  return { last: s.last, recent: s.recent.map((w) => ({ first: w.first, last: w.last, result: w.result })) };
}

function toStreamsValue(streams: Record<string, Stream>): Record<string, MetaValue> {
  return Object.fromEntries(Object.entries(streams).map(([k, v]) => [k, streamValue(v)]));
}

function toItem(s: ProducerState): MetaItem {
  return { ...producerKey(s.id), id: s.id, epoch: s.epoch, version: s.version, streams: toStreamsValue(s.streams) };
}

function fromItem(item: MetaItem): ProducerState {
  const raw = (item['streams'] ?? {}) as unknown as Record<string, { last: number; recent: RememberedWrite[] }>;
  const streams: Record<string, Stream> = {};
  for (const [k, v] of Object.entries(raw)) streams[k] = { last: v.last, recent: v.recent ?? [] };
  return { id: item['id'] as number, epoch: item['epoch'] as number, version: item['version'] as number, streams };
}
