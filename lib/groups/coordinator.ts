// The group coordinator: consumer groups kept entirely in the metadata store, so any instance
// serves any member and a restart loses nothing (docs/design/0005-consumer-groups.md). Every
// request loads the group (one query), expels members whose heartbeat version this instance
// has watched go stale for their session timeout, takes one cooperative step towards the
// assignor's target when one is possible, and writes with conditions so that concurrent
// instances serialise on the group's generation. Ownership changes only with the generation, so
// offset commits are fenced by a check on the generation in the same transaction as the write.
// The poll commits only what the member acknowledges (at-least-once), never what it sends.
import { randomBytes, randomUUID } from 'node:crypto';
import { ConditionFailedError, SamsaError, TransactionConflictError } from '../errors';
import type { FetchResult, LogEngine } from '../log/engine';
import { partitionKey } from '../log/commit';
import {
  GROUP_MEMBER_PREFIX,
  GROUP_OWNER_CHUNK,
  GROUP_OWNER_PREFIX,
  GROUP_PARTITION_PREFIX,
  GROUPS_PK,
  groupMemberKey,
  groupMetaKey,
  groupOffsetsPk,
  groupOwnerKey,
  groupPartitionKey,
  groupPk,
  groupRegistryKey,
  headKey,
} from '../log/keys';
import { headFromItem } from '../log/items';
import type { Head } from '../log/model';
import type { Topic } from '../log/topics';
import { itemSize } from '../storage/counting';
import type { DecodedRecord } from '../records';
import type { Condition, MetaItem, MetaStore, MetaValue, WriteOp } from '../storage/ports';
import { type Clock, systemClock } from '../util/clock';
import { inParallel } from '../util/parallel';
import { ASSIGNORS, type AssignorName, cmpTp, DEFAULT_ASSIGNOR, type Owners, parseTp, tpKey } from './assignors';
import { type MemberState, reconciliationState, transition } from './lifecycle';
import { LivenessTracker, monotonicClock } from './liveness';
import { type GroupState, type MemberSpec, reconcile, type Revocation, targetOf } from './reconcile';

export interface CoordinatorOptions {
  /** Wall clock: only for `committed_at`, never for liveness. */
  clock?: Clock;
  /** This process's monotonic clock: liveness decisions. */
  monotonic?: Clock;
  /** How often an instance re-reads the partition counts of a group's topics. */
  topicRefreshMs?: number;
  defaultSessionTimeoutMs?: number;
}

export const SESSION_TIMEOUT = { min: 100, max: 3_600_000, default: 45_000 } as const;
export type OffsetReset = 'earliest' | 'latest';
export type ResetTarget = 'earliest' | 'latest' | { timestamp: number } | { offset: number };

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface JoinRequest {
  topics: string[];
  sessionTimeoutMs?: number;
  autoOffsetReset?: OffsetReset;
  memberId?: string;
  assignor?: AssignorName;
}

export interface JoinResult {
  memberId: string;
  generation: number;
  assignment: TopicPartition[];
  heartbeatIntervalMs: number;
}

export interface OffsetCommit extends TopicPartition {
  offset: number;
  metadata?: string | null;
}

export interface PolledRecord extends DecodedRecord {
  topic: string;
  partition: number;
}

export interface PollOptions {
  maxRecords?: number;
  maxBytes?: number;
  waitMs?: number;
  /**
   * Positions the member has processed (next offset to read), committed before reading —
   * the only way a poll commits anything (at-least-once). Fenced per partition: the member
   * must hold it, without interruption since `ackGeneration`.
   */
  acks?: OffsetCommit[];
  /** The generation of the poll whose records the acks cover (required with acks). */
  ackGeneration?: number;
  /** Where to read instead of the committed offsets (the client's own positions: seek, manual commit). */
  from?: Map<string, number>;
  /** Partitions (tpKey) not to read this time (paused by the client). */
  paused?: Set<string>;
  signal?: AbortSignal;
}

export interface PollPosition extends TopicPartition {
  /** Where this poll started reading the partition. */
  offset: number;
  /** Where the next read continues after the records returned. */
  next_offset: number;
  high_watermark: number;
}

export interface PollResult {
  generation: number;
  assignment: TopicPartition[];
  records: PolledRecord[];
  /** The acks that were committed (the others were for partitions the member does not hold). */
  committed: OffsetCommit[];
  positions: PollPosition[];
}

export interface OffsetInfo extends TopicPartition {
  /** -1 when the group has committed nothing for the partition (Kafka's OffsetFetch value). */
  offset: number;
  metadata: string | null;
  high_watermark: number;
  log_start_offset: number;
  /** high watermark − committed offset; with nothing committed, high watermark − log start. */
  lag: number;
  /** Age of the oldest record the group has not consumed, in ms (0 when caught up). */
  lag_ms: number;
  /**
   * The oldest unconsumed record is (or will be) deleted by retention before the group gets
   * to it: the committed offset is already below the log start, or the record's time left under
   * retention.ms is shorter than the group has gone without committing (its current pace).
   */
  expiry_risk: boolean;
}

export interface GroupDescription {
  group: string;
  state: 'Empty' | 'Stable' | 'Reconciling';
  generation: number;
  assignor: AssignorName;
  members: Array<{ member_id: string; state: MemberState; topics: string[]; session_timeout_ms: number; assignment: TopicPartition[] }>;
  lag: number;
}

const GROUP_NAME = /^[A-Za-z0-9._-]{1,249}$/;
export const MEMBER_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
const MEMBER_ID = MEMBER_ID_PATTERN;
const MAX_METADATA = 4096;
const MAX_ATTEMPTS = 40;
/**
 * Budget for the group item's partition-count map (topic name → count), well under
 * DynamoDB's 400 KiB so the fixed attributes always fit: thousands of subscribed topics.
 */
const MAX_META_BYTES = 256 * 1024;
/** Long polls re-read the heads for other processes' commits at this interval, doubling up to the cap. */
const MAX_RECHECK_MS = 2000;

interface MemberRecord {
  hb: string;
  acked: number;
}

interface Loaded {
  exists: boolean;
  deleting: boolean;
  state: GroupState;
  members: Map<string, MemberRecord>;
  /** Sort keys of the ownership shards as stored. */
  shards: Set<string>;
  /** Per owned partition, the generation its owner's uninterrupted ownership began. */
  since: Map<string, number>;
  /** Stored in the layout before the shards (roster and owners inside the group item). */
  legacy: boolean;
}

/** A `goff#` item: the committed offset of one partition (ownership lives in the shards). */
interface PartitionItem {
  offset?: number;
  metadata?: string | null;
  /** When the offset was last written (ms). */
  committedAt?: number;
  /** Incarnation of the topic the offset was committed on (absent on items older than the field). */
  topicId?: string;
}

interface Mutation {
  /** Add a member (with `hb`), or change a present member's subscription. */
  put?: { id: string; spec: MemberSpec; hb?: string };
  /** Members leaving; with `hb`, only if their heartbeat version is still that (expiry). */
  remove?: Array<{ id: string; hb?: string }>;
  /** The caller's own member item: new heartbeat version and acknowledged generation. */
  self?: { id: string; hb: string; acked: number; clearPending?: boolean };
  assignor?: AssignorName;
  freshTopics?: boolean;
}

const emptyState = (): GroupState => ({
  generation: 0,
  assignor: DEFAULT_ASSIGNOR,
  members: new Map(),
  owners: new Map(),
  revoking: new Map(),
  partitions: {},
});

export class GroupCoordinator {
  readonly liveness: LivenessTracker;
  private readonly clock: Clock;
  private readonly mono: Clock;
  private readonly topicRefreshMs: number;
  private readonly defaultSessionTimeoutMs: number;
  private readonly topicChecks = new Map<string, number>();
  /** The assignor's target per group, for the roster/counts/owners it was computed from. */
  private readonly targets = new Map<string, { key: string; target: Owners }>();

  constructor(
    private readonly meta: MetaStore,
    private readonly engine: LogEngine,
    opts: CoordinatorOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.mono = opts.monotonic ?? monotonicClock;
    this.liveness = new LivenessTracker(this.mono);
    this.topicRefreshMs = opts.topicRefreshMs ?? 5000;
    this.defaultSessionTimeoutMs = opts.defaultSessionTimeoutMs ?? SESSION_TIMEOUT.default;
  }

  static heartbeatIntervalMs(sessionTimeoutMs: number): number {
    return Math.min(3000, Math.max(10, Math.floor(sessionTimeoutMs / 3)));
  }

  // --- membership -----------------------------------------------------------------------------

  async join(group: string, req: JoinRequest): Promise<JoinResult> {
    checkGroupName(group);
    const topics = [...new Set(req.topics)].sort();
    if (topics.length === 0) throw new SamsaError('INVALID_REQUEST', 'topics must name at least one topic', { field: 'topics' });
    for (const t of topics) await this.engine.topics.get(t, { fresh: true });
    if (req.memberId !== undefined && !MEMBER_ID.test(req.memberId)) {
      throw new SamsaError('INVALID_REQUEST', 'member_id must be 1-128 characters of [A-Za-z0-9._-]', { field: 'member_id' });
    }
    const timeout = req.sessionTimeoutMs ?? this.defaultSessionTimeoutMs;
    if (!Number.isInteger(timeout) || timeout < SESSION_TIMEOUT.min || timeout > SESSION_TIMEOUT.max) {
      throw new SamsaError('INVALID_REQUEST', `session_timeout_ms must be an integer between ${SESSION_TIMEOUT.min} and ${SESSION_TIMEOUT.max}`, { field: 'session_timeout_ms' });
    }
    const spec: MemberSpec = { topics, sessionTimeoutMs: timeout, autoOffsetReset: req.autoOffsetReset ?? 'earliest' };
    const id = req.memberId ?? randomUUID();
    return this.run(group, async (l) => {
      const present = l.state.members.get(id);
      transition(present ? 'stable' : 'unknown', 'join', { group, member: id });
      if (req.assignor !== undefined && l.state.members.size > 0 && req.assignor !== l.state.assignor) {
        throw new SamsaError('INVALID_REQUEST', `group "${group}" uses the ${l.state.assignor} assignor; a member cannot join with ${req.assignor}`, { field: 'assignor' });
      }
      const hb = token();
      const changed = !present || present.sessionTimeoutMs !== spec.sessionTimeoutMs || present.autoOffsetReset !== spec.autoOffsetReset || present.topics.join('\0') !== topics.join('\0');
      const mut: Mutation = { freshTopics: true };
      if (changed) mut.put = { id, spec, ...(present ? {} : { hb }) };
      if (present) mut.self = { id, hb, acked: Math.max(l.members.get(id)?.acked ?? 0, l.state.generation) };
      if (l.state.members.size === 0 && req.assignor !== undefined) mut.assignor = req.assignor;
      const state = await this.writeGroup(group, l, mut);
      this.liveness.wrote(group, id, hb);
      return { memberId: id, generation: state.generation, assignment: assignmentOf(state, id), heartbeatIntervalMs: GroupCoordinator.heartbeatIntervalMs(timeout) };
    });
  }

  async heartbeat(group: string, memberId: string, generation: number): Promise<{ generation: number; assignment: TopicPartition[] }> {
    checkGroupName(group);
    return this.run(group, async (l) => {
      this.requireMember(l, group, memberId, 'heartbeat');
      if (generation > l.state.generation) {
        throw new SamsaError('ILLEGAL_GENERATION', `generation ${generation} is ahead of group "${group}"'s generation ${l.state.generation}`, { group, generation: l.state.generation });
      }
      const hb = token();
      const acked = Math.max(l.members.get(memberId)!.acked, generation);
      const state = await this.writeGroup(group, l, { self: { id: memberId, hb, acked } });
      this.liveness.wrote(group, memberId, hb);
      return { generation: state.generation, assignment: assignmentOf(state, memberId) };
    });
  }

  async leave(group: string, memberId: string): Promise<void> {
    checkGroupName(group);
    await this.run(group, async (l) => {
      this.requireMember(l, group, memberId, 'leave');
      await this.writeGroup(group, l, { remove: [{ id: memberId }] });
    });
  }

  // --- offsets --------------------------------------------------------------------------------

  async commit(group: string, req: { memberId?: string; generation?: number; offsets: OffsetCommit[] }): Promise<OffsetCommit[]> {
    checkGroupName(group);
    const ids = await this.validateOffsets(req.offsets);
    return this.run(group, async (l) => {
      const now = this.clock.now();
      const limit = this.meta.limits.maxTransactItems - 2;
      if (req.memberId !== undefined) {
        const m = req.memberId;
        this.requireMember(l, group, m, 'commit');
        if (req.generation === undefined) throw new SamsaError('INVALID_REQUEST', 'a commit with member_id must carry the generation of its assignment', { field: 'generation' });
        if (req.generation !== l.state.generation) {
          throw new SamsaError('ILLEGAL_GENERATION', `generation ${req.generation} is not group "${group}"'s current generation ${l.state.generation}; heartbeat for the current assignment`, { group, generation: l.state.generation });
        }
        for (const o of req.offsets) {
          if (!holds(l.state, m, tpKey(o.topic, o.partition))) {
            throw new SamsaError('ILLEGAL_GENERATION', `${o.topic}/${o.partition} is not assigned to member "${m}" in generation ${l.state.generation}`, { group, topic: o.topic, partition: o.partition });
          }
        }
        // Fencing, atomically with each write: the generation has not moved. Ownership changes
        // only with the generation, so the member still owns (or is giving up, and may still
        // commit) every partition it held in the generation just read.
        for (const chunk of chunks(req.offsets, limit)) {
          await this.meta.transact([
            { type: 'check', key: groupMetaKey(group), condition: { op: 'eq', attr: 'generation', value: l.state.generation } },
            ...chunk.map((o) => commitOp(group, o, ids.get(o.topic)!, now)),
          ]);
        }
      } else {
        if (l.state.members.size > 0) {
          throw new SamsaError('ILLEGAL_GENERATION', `group "${group}" has ${l.state.members.size} member(s); only a member may commit (with member_id and generation)`, { group });
        }
        await this.writeMemberless(group, l, req.offsets.map((o) => commitOp(group, o, ids.get(o.topic)!, now)));
      }
      return req.offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, metadata: o.metadata ?? null }));
    });
  }

  async offsets(group: string): Promise<OffsetInfo[]> {
    checkGroupName(group);
    const l = await this.run(group, async (x) => x);
    if (!l.exists) throw notFound(group);
    return this.offsetInfo(group, l);
  }

  async resetOffsets(group: string, topic: string, to: ResetTarget): Promise<Array<TopicPartition & { offset: number }>> {
    checkGroupName(group);
    const t = await this.engine.topics.get(topic, { fresh: true });
    return this.run(group, async (l) => {
      if (l.state.members.size > 0) throw nonEmpty(group, l.state.members.size, 'reset its offsets');
      const out: Array<TopicPartition & { offset: number }> = [];
      for (let p = 0; p < t.partitions; p++) {
        let offset: number;
        if (to === 'earliest' || to === 'latest') offset = (await this.engine.listOffsets(topic, p, to)).offset;
        else if ('timestamp' in to) offset = (await this.engine.listOffsets(topic, p, to.timestamp)).offset;
        else {
          // As kafka-consumer-groups --to-offset: clamped into the log's range.
          const h = await this.engine.head(t, p);
          offset = Math.min(Math.max(to.offset, h.logStart), h.nextOffset);
        }
        out.push({ topic, partition: p, offset });
      }
      const now = this.clock.now();
      await this.writeMemberless(group, l, out.map((o) => commitOp(group, { ...o, metadata: null }, t.id, now)));
      return out;
    });
  }

  /**
   * Kafka's OffsetDelete: forget the group's committed offsets of a topic (all its partitions,
   * or some). Refused while a member subscribes to the topic (Kafka's GROUP_SUBSCRIBED_TO_TOPIC);
   * the deletes are fenced on the group's generation, so a member that subscribes meanwhile
   * makes them fail rather than lose its starting point.
   */
  async deleteOffsets(group: string, topic: string, partitions?: number[]): Promise<TopicPartition[]> {
    checkGroupName(group);
    return this.run(group, async (l) => {
      for (const spec of l.state.members.values()) {
        if (spec.topics.includes(topic)) throw new SamsaError('NON_EMPTY_GROUP', `group "${group}" has members subscribed to "${topic}": its offsets of that topic stay while they do`, { group, topic });
      }
      const keys = [...(await this.loadPartitions(group)).keys()]
        .map(parseTp)
        .filter((tp) => tp.topic === topic && (partitions === undefined || partitions.includes(tp.partition)))
        .sort((a, b) => a.partition - b.partition);
      const deletes: WriteOp[] = keys.map((tp) => ({ type: 'delete', key: groupPartitionKey(group, tp.topic, tp.partition) }));
      for (const chunk of chunks(deletes, this.meta.limits.maxTransactItems - 1)) {
        await this.meta.transact(l.exists ? [{ type: 'check', key: groupMetaKey(group), condition: { op: 'eq', attr: 'generation', value: l.state.generation } }, ...chunk] : chunk);
      }
      return keys;
    });
  }

  // --- poll -----------------------------------------------------------------------------------

  /**
   * Records from the member's partitions, from the committed offsets (or auto_offset_reset, or
   * the member's own `from` positions). A poll is also a heartbeat, and acknowledges the
   * generation it reads under. It commits only what the member acknowledged (`acks`: the
   * positions it has processed), never what it sends: a response lost on the way is read again
   * by the next poll, and two polls racing each other can repeat records, never skip them.
   */
  async poll(group: string, memberId: string, opts: PollOptions = {}): Promise<PollResult> {
    checkGroupName(group);
    const acks = opts.acks ?? [];
    if (acks.length > 0 && opts.ackGeneration === undefined) {
      throw new SamsaError('INVALID_REQUEST', 'acks must carry the generation of the poll that returned the records (generation)', { field: 'generation' });
    }
    const ids = await this.ackTopics(acks);
    const prepared = await this.run(group, async (l) => {
      this.requireMember(l, group, memberId, 'poll');
      const parts = await this.loadPartitions(group);
      const me = l.members.get(memberId)!;
      const commits: WriteOp[] = [];
      const committedAcks: OffsetCommit[] = [];
      const now = this.clock.now();
      const ackGen = opts.ackGeneration ?? 0;
      // Fencing of an ack: the member holds the partition (or is giving it up and has not yet
      // acknowledged that) and has held it without interruption since the generation of the
      // poll that returned the records — one that lost the partition and got it back cannot
      // rewind the progress its interim owner committed. Checked on the generation just read;
      // the transaction's check on that generation makes it hold at the write (ownership
      // changes only with the generation; a moved generation retries from a fresh read).
      for (const a of acks) {
        const key = tpKey(a.topic, a.partition);
        const held = ids.has(a.topic) && holds(l.state, memberId, key) && (l.since.get(key) ?? Infinity) <= ackGen;
        if (!held) continue;
        committedAcks.push({ topic: a.topic, partition: a.partition, offset: a.offset, metadata: a.metadata ?? null });
        const item = parts.get(key);
        if (item?.offset === a.offset && item.topicId === ids.get(a.topic)) continue;
        commits.push(commitOp(group, a, ids.get(a.topic)!, now));
      }
      const hb = token();
      const acked = Math.max(me.acked, l.state.generation);
      const selfOp: WriteOp = { type: 'update', key: groupMemberKey(group, memberId), set: { hb, acked }, condition: { op: 'exists' } };
      const genCheck: WriteOp = { type: 'check', key: groupMetaKey(group), condition: { op: 'eq', attr: 'generation', value: l.state.generation } };
      const batches = chunks(commits, this.meta.limits.maxTransactItems - 2);
      if (batches.length === 0) await this.meta.write(selfOp);
      else for (const [i, b] of batches.entries()) await this.meta.transact(i === 0 ? [genCheck, selfOp, ...b] : [genCheck, ...b]);
      this.liveness.wrote(group, memberId, hb);
      for (const a of committedAcks) {
        const k = tpKey(a.topic, a.partition);
        parts.set(k, { ...parts.get(k), offset: a.offset, topicId: ids.get(a.topic)! });
      }
      const withAck: Loaded = { ...l, members: new Map(l.members).set(memberId, { hb, acked }) };
      // Our acknowledgement may have released partitions we were giving up: move them now.
      const state = await this.writeGroup(group, withAck, {});
      return { state, parts, committedAcks, spec: state.members.get(memberId)! };
    });

    const { state, parts, committedAcks, spec } = prepared;
    const assignment = assignmentOf(state, memberId);
    const reading = assignment.filter((tp) => !opts.paused?.has(tpKey(tp.topic, tp.partition)));
    const maxRecords = opts.maxRecords ?? 500;
    const maxBytes = opts.maxBytes ?? 1024 * 1024;
    const positions = new Map<string, number>();
    const toReset: Array<{ tp: TopicPartition; topic: Topic; item: PartitionItem | undefined }> = [];
    for (const tp of reading) {
      const key = tpKey(tp.topic, tp.partition);
      const from = opts.from?.get(key);
      if (from !== undefined) {
        positions.set(key, from);
        continue;
      }
      const topic = await this.engine.topics.partition(tp.topic, tp.partition);
      const item = parts.get(key);
      const committed = currentOffset(item, topic.id);
      if (committed !== undefined) positions.set(key, committed);
      else toReset.push({ tp, topic, item });
    }
    // auto_offset_reset from the heads (log start or high watermark), read in batches.
    const heads = await this.readHeads(toReset.map((r) => ({ topic: r.topic, partition: r.tp.partition })));
    await inParallel([...toReset.keys()], 32, async (i) => {
      const { tp, topic, item } = toReset[i]!;
      const offset = spec.autoOffsetReset === 'latest' ? heads[i]!.nextOffset : heads[i]!.logStart;
      positions.set(tpKey(tp.topic, tp.partition), offset);
      // `latest` must mean the end at the member's first poll, not at every poll until a record
      // arrives: store that starting position (it covers no record, so nothing is skipped).
      if (spec.autoOffsetReset === 'latest') await this.storeStart(group, state.generation, tp, topic.id, offset, item);
    });
    const fetched = await this.fetchMany(reading, positions, spec.autoOffsetReset, maxRecords, maxBytes, opts.waitMs ?? 0, opts.signal);
    const out: PollPosition[] = reading.map((tp) => {
      const key = tpKey(tp.topic, tp.partition);
      const start = positions.get(key)!;
      return { ...tp, offset: start, next_offset: fetched.next.get(key) ?? start, high_watermark: fetched.hw.get(key) ?? start };
    });
    return { generation: state.generation, assignment, records: fetched.records, committed: committedAcks, positions: out };
  }

  /**
   * The current incarnation ids of the topics acks name. Unlike a commit, an ack of a topic that
   * is gone is dropped, not refused: a member acknowledging what it read before the topic was
   * deleted must not have every later poll fail.
   */
  private async ackTopics(acks: OffsetCommit[]): Promise<Map<string, string>> {
    const ids = new Map<string, string>();
    const seen = new Set<string>();
    for (const [i, a] of acks.entries()) {
      const key = tpKey(a.topic, a.partition);
      if (seen.has(key)) throw new SamsaError('INVALID_REQUEST', `ack: ${a.topic}/${a.partition} appears twice`, { field: `ack.${i}` });
      seen.add(key);
      if (ids.has(a.topic)) continue;
      const t = await this.engine.topics.find(a.topic);
      if (t) ids.set(a.topic, t.id);
    }
    return ids;
  }

  /** Record the position a `latest` member starts from, unless an offset got there first. */
  private async storeStart(group: string, generation: number, tp: TopicPartition, topicId: string, offset: number, item: PartitionItem | undefined): Promise<void> {
    const none: Condition =
      item?.offset === undefined ? { op: 'attrNotExists', attr: 'offset' } : item.topicId === undefined ? { op: 'attrNotExists', attr: 'topic_id' } : { op: 'eq', attr: 'topic_id', value: item.topicId };
    try {
      await this.meta.transact([
        // Still the generation in which this member was found to hold the partition.
        { type: 'check', key: groupMetaKey(group), condition: { op: 'eq', attr: 'generation', value: generation } },
        commitOp(group, { ...tp, offset, metadata: null }, topicId, this.clock.now(), none),
      ]);
    } catch (err) {
      // Someone committed, or the group moved on: the next poll decides again.
      if (!(err instanceof ConditionFailedError || err instanceof TransactionConflictError)) throw err;
    }
  }

  private async fetchMany(
    assignment: TopicPartition[],
    positions: Map<string, number>,
    reset: OffsetReset,
    maxRecords: number,
    maxBytes: number,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<{ records: PolledRecord[]; next: Map<string, number>; hw: Map<string, number> }> {
    if (assignment.length === 0) {
      if (waitMs > 0) await abortableSleep(Math.min(waitMs, 30_000), signal);
      return { records: [], next: new Map(), hw: new Map() };
    }
    const one = async (tp: TopicPartition) => {
      const key = tpKey(tp.topic, tp.partition);
      const opts = { maxRecords, maxBytes };
      try {
        return await this.engine.fetch(tp.topic, tp.partition, { ...opts, offset: positions.get(key)! });
      } catch (err) {
        // Committed offset fell off the log (retention): Kafka's auto.offset.reset applies.
        if (!(err instanceof SamsaError) || err.code !== 'OFFSET_OUT_OF_RANGE') throw err;
        const offset = (await this.engine.listOffsets(tp.topic, tp.partition, reset)).offset;
        positions.set(key, offset);
        return this.engine.fetch(tp.topic, tp.partition, { ...opts, offset });
      }
    };
    const topics = await Promise.all(assignment.map((tp) => this.engine.topics.partition(tp.topic, tp.partition)));
    // Heads first, in batches: only partitions with something to read (or a position out of
    // range, which the fetch resets) cost a fetch — an idle member's poll is a few requests.
    const fetchAll = async (): Promise<FetchResult[]> => {
      const heads = await this.readHeads(assignment.map((tp, i) => ({ topic: topics[i]!, partition: tp.partition })));
      const out: FetchResult[] = new Array(assignment.length);
      await inParallel([...assignment.keys()], 32, async (i) => {
        const h = heads[i]!;
        const at = positions.get(tpKey(assignment[i]!.topic, assignment[i]!.partition))!;
        out[i] = at === h.nextOffset ? { highWatermark: h.nextOffset, logStartOffset: h.logStart, nextOffset: at, runs: [], records: () => [] } : await one(assignment[i]!);
      });
      return out;
    };
    let results = await fetchAll();
    if (waitMs > 0 && results.every((r) => r.records().length === 0) && (await this.waitForAny(assignment, topics, results, waitMs, signal))) results = await fetchAll();
    const records: PolledRecord[] = [];
    const next = new Map<string, number>();
    const hw = new Map<string, number>();
    let bytes = 0;
    // Start at a different partition each poll so a busy one cannot starve the others.
    const start = Math.floor(Math.random() * assignment.length);
    for (let i = 0; i < assignment.length; i++) {
      const idx = (start + i) % assignment.length;
      const tp = assignment[idx]!;
      const r = results[idx]!;
      const rs = r.records();
      let taken = 0;
      for (const rec of rs) {
        const size = (rec.key?.length ?? 0) + (rec.value?.length ?? 0) + 32;
        if (records.length >= maxRecords || (records.length > 0 && bytes + size > maxBytes)) break;
        records.push({ ...rec, topic: tp.topic, partition: tp.partition });
        bytes += size;
        taken++;
      }
      const key = tpKey(tp.topic, tp.partition);
      if (taken === rs.length) next.set(key, Math.max(r.nextOffset, positions.get(key)!));
      else next.set(key, rs[taken - 1] ? rs[taken - 1]!.offset + 1 : positions.get(key)!);
      hw.set(key, r.highWatermark);
    }
    return { records, next, hw };
  }

  /**
   * The long poll of a group member: one waiter for all its partitions. Commits in this process
   * wake it at once (the engine's notifier); commits by other processes are found by re-reading
   * the heads, first after the engine's recheck interval and then ever less often, doubling up
   * to MAX_RECHECK_MS — an idle member on P partitions reads at most P heads per MAX_RECHECK_MS,
   * not P every 200 ms. True when some partition has new data.
   */
  private async waitForAny(assignment: TopicPartition[], topics: Topic[], first: FetchResult[], waitMs: number, signal?: AbortSignal): Promise<boolean> {
    const hws = first.map((r) => r.highWatermark);
    const deadline = Date.now() + Math.min(waitMs, 60_000);
    let interval = Math.min(this.engine.opts.longPollRecheckMs, MAX_RECHECK_MS);
    while (!signal?.aborted) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return false;
      const ac = new AbortController();
      const onAbort = (): void => ac.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const woken = await Promise.race(assignment.map((tp, i) => this.engine.notifier.wait(partitionKey(topics[i]!, tp.partition), hws[i]!, Math.min(interval, remaining), ac.signal)));
        if (woken !== undefined) return true;
      } finally {
        ac.abort();
        signal?.removeEventListener('abort', onAbort);
      }
      if (signal?.aborted) return false;
      const heads = await this.readHeads(assignment.map((tp, i) => ({ topic: topics[i]!, partition: tp.partition })));
      if (heads.some((h, i) => h.nextOffset > hws[i]!)) return true;
      interval = Math.min(interval * 2, MAX_RECHECK_MS);
    }
    return false;
  }

  // --- admin ----------------------------------------------------------------------------------

  async describe(group: string): Promise<GroupDescription> {
    checkGroupName(group);
    // A touch: also take any cooperative step that has become possible.
    const l = await this.run(group, async (x) => (x.exists ? { ...x, state: await this.writeGroup(group, x, {}) } : x));
    if (!l.exists) throw notFound(group);
    const offsets = await this.offsetInfo(group, l);
    return {
      ...this.summary(group, l.state),
      members: this.memberViews(l.state),
      lag: offsets.reduce((a, o) => a + o.lag, 0),
    };
  }

  async list(): Promise<Array<{ group: string; state: GroupDescription['state']; generation: number; members: number }>> {
    const names: string[] = [];
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk: GROUPS_PK, ...(startAfter ? { startAfter } : {}), limit: 1000 });
      for (const item of page.items) names.push(item.sk);
      startAfter = page.next;
    } while (startAfter);
    const out = [];
    for (const name of names) {
      const l = await this.run(name, async (x) => (x.exists ? { ...x, state: await this.writeGroup(name, x, {}) } : x));
      if (!l.exists) continue;
      const s = this.summary(name, l.state);
      out.push({ group: name, state: s.state, generation: s.generation, members: l.state.members.size });
    }
    return out;
  }

  async deleteGroup(group: string): Promise<void> {
    checkGroupName(group);
    await this.run(group, async (l) => {
      if (!l.exists) throw notFound(group);
      if (l.state.members.size > 0) throw nonEmpty(group, l.state.members.size, 'be deleted');
      await this.meta.write({
        type: 'update',
        key: groupMetaKey(group),
        set: { deleting: true },
        condition: { op: 'and', conds: [{ op: 'eq', attr: 'generation', value: l.state.generation }, { op: 'eq', attr: 'member_count', value: 0 }] },
      });
    });
    await this.finishDelete(group);
  }

  // --- internals ------------------------------------------------------------------------------

  private summary(group: string, state: GroupState): { group: string; state: GroupDescription['state']; generation: number; assignor: AssignorName } {
    let s: GroupDescription['state'] = 'Stable';
    if (state.members.size === 0) s = 'Empty';
    else {
      const target = targetOf(state);
      if (state.revoking.size > 0 || target.size !== state.owners.size || [...target].some(([k, m]) => state.owners.get(k) !== m)) s = 'Reconciling';
    }
    return { group, state: s, generation: state.generation, assignor: state.assignor };
  }

  private memberViews(state: GroupState): GroupDescription['members'] {
    const target = targetOf(state);
    return [...state.members.keys()].sort().map((id) => {
      const spec = state.members.get(id)!;
      const owns = new Set([...state.owners].filter(([, m]) => m === id).map(([k]) => k));
      const wants = new Set([...target].filter(([, m]) => m === id).map(([k]) => k));
      const revoking = [...state.revoking.values()].filter((r) => r.from === id).length;
      return {
        member_id: id,
        state: reconciliationState(owns, wants, revoking),
        topics: spec.topics,
        session_timeout_ms: spec.sessionTimeoutMs,
        assignment: assignmentOf(state, id),
      };
    });
  }

  private async offsetInfo(group: string, l: Loaded): Promise<OffsetInfo[]> {
    const parts = await this.loadPartitions(group);
    const keys = new Set<string>();
    for (const [k, item] of parts) if (item.offset !== undefined) keys.add(k);
    const topics = new Map<string, Topic | undefined>();
    const subscribed = new Set<string>();
    for (const spec of l.state.members.values()) {
      for (const t of spec.topics) for (let p = 0; p < (l.state.partitions[t] ?? 0); p++) subscribed.add(tpKey(t, p));
    }
    for (const k of subscribed) keys.add(k);
    const sorted = [...keys].sort(cmpTp);
    for (const t of new Set(sorted.map((k) => parseTp(k).topic))) topics.set(t, await this.engine.topics.find(t));
    const listed: Array<{ key: string; topic: Topic; partition: number; offset: number | undefined }> = [];
    for (const key of sorted) {
      const { topic, partition } = parseTp(key);
      const t = topics.get(topic);
      if (!t || partition >= t.partitions) continue;
      const offset = currentOffset(parts.get(key), t.id);
      // A stale offset (of a deleted incarnation) of a partition nobody subscribes to: not listed.
      if (offset === undefined && !subscribed.has(key)) continue;
      listed.push({ key, topic: t, partition, offset });
    }
    const heads = await this.readHeads(listed);
    const now = this.clock.now();
    const rows = listed.map(({ key, topic: t, partition, offset }, i) => {
      const h = heads[i]!;
      const item = parts.get(key);
      const topic = t.name;
      return {
        topic,
        partition,
        offset: offset ?? -1,
        metadata: offset === undefined ? null : (item?.metadata ?? null),
        high_watermark: h.nextOffset,
        log_start_offset: h.logStart,
        lag: offset === undefined ? h.nextOffset - h.logStart : Math.max(0, h.nextOffset - Math.max(offset, h.logStart)),
        lag_ms: 0,
        expiry_risk: offset !== undefined && offset < h.logStart,
      };
    });
    // Lag in time: the timestamp of the oldest unconsumed record, one small read per lagging
    // partition (bounded in parallel; a group on 10,000 partitions does not fan out at once).
    await inParallel(
      rows.map((r, i) => ({ r, l: listed[i]! })).filter((x) => x.r.lag > 0),
      16,
      async ({ r, l }) => {
        const from = Math.max(r.offset, r.log_start_offset);
        const ts = await this.engine
          .fetch(r.topic, r.partition, { offset: from, maxRecords: 1, maxBytes: 1 })
          .then((f) => f.records()[0]?.timestamp)
          .catch(() => undefined); // deleted or truncated meanwhile: the next read says more
        if (ts === undefined) return;
        r.lag_ms = Math.max(0, now - ts);
        const retention = l.topic.config['retention.ms'];
        if (retention < 0 || r.expiry_risk) return;
        const timeLeft = ts + retention - now;
        // Idle for longer than the record has left: at this pace retention deletes it first. A
        // group that never committed here has been idle since the record was written.
        const committedAt = r.offset >= 0 ? parts.get(l.key)?.committedAt : undefined;
        const idle = committedAt !== undefined ? now - committedAt : r.lag_ms;
        r.expiry_risk = timeLeft <= idle;
      },
    );
    return rows;
  }

  /**
   * Partition heads, in order: a group may span thousands of partitions, so in batches where
   * the store has them (DynamoDB: 100 per request), else a few gets at a time.
   */
  private async readHeads(tps: Array<{ topic: Topic; partition: number }>): Promise<Head[]> {
    const keys = tps.map((tp) => headKey(tp.topic.id, tp.partition));
    if (this.meta.batchGet) return (await this.meta.batchGet(keys)).map(headFromItem);
    const out: Head[] = new Array(tps.length);
    await inParallel([...tps.keys()], 32, async (i) => void (out[i] = headFromItem(await this.meta.get(keys[i]!))));
    return out;
  }

  private requireMember(l: Loaded, group: string, memberId: string, event: 'heartbeat' | 'poll' | 'commit' | 'leave'): void {
    transition(l.state.members.has(memberId) ? 'stable' : 'unknown', event, { group, member: memberId });
  }

  /** Checks the entries; returns the current incarnation id of every topic they name. */
  private async validateOffsets(offsets: OffsetCommit[]): Promise<Map<string, string>> {
    if (offsets.length === 0) throw new SamsaError('INVALID_REQUEST', 'offsets must hold at least one entry', { field: 'offsets' });
    const seen = new Set<string>();
    const ids = new Map<string, string>();
    for (const [i, o] of offsets.entries()) {
      const key = tpKey(o.topic, o.partition);
      if (seen.has(key)) throw new SamsaError('INVALID_REQUEST', `offsets.${i}: ${o.topic}/${o.partition} appears twice`, { field: `offsets.${i}` });
      seen.add(key);
      if (o.metadata && Buffer.byteLength(o.metadata) > MAX_METADATA) {
        throw new SamsaError('INVALID_REQUEST', `offsets.${i}.metadata is longer than ${MAX_METADATA} bytes`, { field: `offsets.${i}.metadata` });
      }
      ids.set(o.topic, (await this.engine.topics.partition(o.topic, o.partition)).id);
    }
    return ids;
  }

  /**
   * Load, expel, act; retried from a fresh load when a conditional write loses a race with
   * another instance (the generation moved, a member left), so `fn` always acts on a state
   * that was current when its writes were checked.
   */
  private async run<T>(group: string, fn: (l: Loaded) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const l = await this.load(group);
      if (l.deleting) {
        await this.finishDelete(group);
        continue;
      }
      try {
        if (await this.expire(group, l)) continue;
        return await fn(l);
      } catch (err) {
        if ((err instanceof ConditionFailedError || err instanceof TransactionConflictError) && attempt < MAX_ATTEMPTS) {
          await sleep(Math.random() * Math.min(50, 2 ** attempt));
          continue;
        }
        throw err;
      }
    }
  }

  /** Expel the members this instance has watched stay silent for their session timeout. */
  private async expire(group: string, l: Loaded): Promise<boolean> {
    const watched = [...l.state.members].map(([id, spec]) => ({ id, version: l.members.get(id)?.hb ?? '', sessionTimeoutMs: spec.sessionTimeoutMs }));
    const expired = this.liveness.observe(group, watched);
    if (expired.length === 0) return false;
    await this.writeGroup(group, l, { remove: expired.map((id) => ({ id, hb: l.members.get(id)?.hb ?? '' })) });
    return true;
  }

  /**
   * Write the group's next generation if the mutation or a possible cooperative step changes
   * anything, else only the caller's member item. All in one transaction, conditioned on the
   * generation that was read.
   */
  private async writeGroup(group: string, l: Loaded, mut: Mutation): Promise<GroupState> {
    const members = new Map(l.state.members);
    let rosterChanged = false;
    for (const r of mut.remove ?? []) rosterChanged = members.delete(r.id) || rosterChanged;
    if (mut.put) {
      members.set(mut.put.id, mut.put.spec);
      rosterChanged = true;
    }
    const partitions = await this.partitionCounts(group, members, l.state.partitions, mut.freshTopics ?? false);
    const countsChanged = JSON.stringify(partitions) !== JSON.stringify(l.state.partitions);
    const nextGen = l.state.generation + 1;
    const acks = new Map([...l.members].map(([id, m]) => [id, m.acked]));
    if (mut.self) acks.set(mut.self.id, mut.self.acked);
    const draft: GroupState = { ...l.state, members, partitions, assignor: mut.assignor ?? l.state.assignor };

    const ops: WriteOp[] = [];
    // A present member's new subscription rides on its own item's update (it lives there, not
    // in the group item, so the group item does not grow with the members).
    const respec = mut.put && mut.put.hb === undefined ? mut.put : undefined;
    const selfOp: WriteOp | undefined = mut.self && {
      type: 'update',
      key: groupMemberKey(group, mut.self.id),
      set: { hb: mut.self.hb, acked: mut.self.acked, ...(respec?.id === mut.self.id ? specAttrs(respec.spec) : {}) },
      condition: { op: 'exists' },
    };
    if (selfOp) ops.push(selfOp);
    if (respec && respec.id !== mut.self?.id) {
      ops.push({ type: 'update', key: groupMemberKey(group, respec.id), set: specAttrs(respec.spec), condition: { op: 'exists' } });
    }
    if (mut.put?.hb !== undefined) {
      ops.push({
        type: 'put',
        item: { ...groupMemberKey(group, mut.put.id), member_id: mut.put.id, hb: mut.put.hb, acked: nextGen, ...specAttrs(mut.put.spec) },
        condition: { op: 'notExists' },
      });
    }
    for (const r of mut.remove ?? []) {
      if (!l.state.members.has(r.id)) continue;
      ops.push({ type: 'delete', key: groupMemberKey(group, r.id), ...(r.hb !== undefined ? { condition: { op: 'eq', attr: 'hb', value: r.hb } } : {}) });
    }
    const fixed = ops.length + 1 + (l.exists ? 0 : 1);
    const target = this.targetFor(group, draft);
    // A step rewrites the shards its changes fall in, whatever their number: a whole topic of
    // 10,000 partitions moves in one step of ten shard writes. Only changes spread over more
    // shards than one transaction holds (many small topics) are cut down to what fits.
    const room = this.meta.limits.maxTransactItems - fixed;
    let step = reconcile(draft, acks, nextGen, Infinity, target);
    if (shardsOf(step.changes).size > room) {
      let lo = 1;
      let hi = step.changes.length;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        if (shardsOf(reconcile(draft, acks, nextGen, mid, target).changes).size <= room) lo = mid;
        else hi = mid - 1;
      }
      step = reconcile(draft, acks, nextGen, lo, target);
    }
    if (l.legacy) {
      // Move a group stored in the old layout to the new one with its next write: every member
      // item gets its subscription, every owner its shard (all in this one transaction).
      for (const [id, spec] of members) if (l.members.has(id) && id !== mut.self?.id && id !== respec?.id) ops.push({ type: 'update', key: groupMemberKey(group, id), set: specAttrs(spec), condition: { op: 'exists' } });
      if (selfOp?.type === 'update' && members.has(selfOp.key.sk.slice(GROUP_MEMBER_PREFIX.length))) Object.assign(selfOp.set!, specAttrs(members.get(selfOp.key.sk.slice(GROUP_MEMBER_PREFIX.length))!));
    }
    const touched = shardsOf(l.legacy ? [...step.changes, ...[...step.owners.keys(), ...step.revoking.keys()].map((key) => ({ key }))] : step.changes);
    if (!l.legacy && !rosterChanged && !countsChanged && step.changes.length === 0 && l.exists && mut.assignor === undefined) {
      if (selfOp) await this.meta.write(selfOp);
      return l.state;
    }
    const next: GroupState = { ...draft, generation: nextGen, owners: step.owners, revoking: step.revoking };
    const meta = metaItem(group, next);
    if (itemSize(meta) > MAX_META_BYTES) {
      throw new SamsaError('INVALID_REQUEST', `group "${group}" would subscribe to too many topics (${Object.keys(partitions).length}) for its group item; subscribe to fewer`, { group });
    }
    ops.push({ type: 'put', item: meta, condition: l.exists ? { op: 'eq', attr: 'generation', value: l.state.generation } : { op: 'notExists' } });
    if (!l.exists) ops.push({ type: 'put', item: { ...groupRegistryKey(group), group } });
    const since = new Map(l.since);
    // A member giving a partition up keeps its `since` until the hand-over: it may still ack.
    for (const c of step.changes) {
      if (c.owner === undefined && c.revoking === undefined) since.delete(c.key);
      else if (c.since !== undefined) since.set(c.key, c.since);
    }
    for (const shard of touched.values()) {
      const item = shardItem(group, shard.topic, shard.chunk, next, since);
      if (item) ops.push({ type: 'put', item });
      else if (l.shards.has(groupOwnerKey(group, shard.topic, shard.chunk).sk)) ops.push({ type: 'delete', key: groupOwnerKey(group, shard.topic, shard.chunk) });
    }
    await this.meta.transact(ops);
    return next;
  }

  /**
   * Steady-state heartbeats ask for the same target again and again: it is a pure function of
   * the assignor, roster, partition counts and owners, all fixed within one generation.
   */
  private targetFor(group: string, state: GroupState): Owners {
    const key = JSON.stringify([state.generation, state.assignor, state.partitions, [...state.members].map(([id, m]) => [id, m.topics])]);
    const hit = this.targets.get(group);
    if (hit?.key === key) return hit.target;
    const target = targetOf(state);
    if (this.targets.size > 10_000) this.targets.clear();
    this.targets.set(group, { key, target });
    return target;
  }

  /** Offset writes while the group has no members (memberless commit, reset). */
  private async writeMemberless(group: string, l: Loaded, writes: WriteOp[]): Promise<void> {
    const guard: WriteOp = l.exists
      ? { type: 'check', key: groupMetaKey(group), condition: { op: 'and', conds: [{ op: 'eq', attr: 'generation', value: l.state.generation }, { op: 'eq', attr: 'member_count', value: 0 }] } }
      : { type: 'put', item: metaItem(group, emptyState()), condition: { op: 'notExists' } };
    const first = l.exists ? [guard] : [guard, { type: 'put', item: { ...groupRegistryKey(group), group } } as WriteOp];
    for (const [i, chunk] of chunks(writes, this.meta.limits.maxTransactItems - 2).entries()) {
      await this.meta.transact(i === 0 ? [...first, ...chunk] : [{ type: 'check', key: groupMetaKey(group), condition: { op: 'eq', attr: 'member_count', value: 0 } }, ...chunk]);
    }
  }

  private async finishDelete(group: string): Promise<void> {
    // Offsets, then any ownership shard left over (a memberless group owns nothing, but a step
    // cut short for room may have left an empty shard behind).
    for (const q of [{ pk: groupOffsetsPk(group) }, { pk: groupPk(group), beginsWith: GROUP_OWNER_PREFIX }]) {
      for (;;) {
        const page = await this.meta.query({ ...q, limit: this.meta.limits.maxTransactItems - 1 });
        if (page.items.length === 0) break;
        await this.meta.transact(page.items.map((i) => ({ type: 'delete', key: { pk: i.pk, sk: i.sk } }) as WriteOp));
      }
    }
    try {
      await this.meta.transact([
        { type: 'delete', key: groupMetaKey(group), condition: { op: 'eq', attr: 'deleting', value: true } },
        { type: 'delete', key: groupRegistryKey(group) },
      ]);
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err; // someone else finished it
    }
    this.liveness.forget(group);
    this.topicChecks.delete(group);
    this.targets.delete(group);
  }

  private async partitionCounts(group: string, members: Map<string, MemberSpec>, stored: Record<string, number>, force: boolean): Promise<Record<string, number>> {
    const topics = [...new Set([...members.values()].flatMap((m) => m.topics))].sort();
    const now = this.mono.now();
    const last = this.topicChecks.get(group);
    const stale = force || last === undefined || now - last >= this.topicRefreshMs || topics.some((t) => !(t in stored));
    const out: Record<string, number> = {};
    if (!stale) {
      for (const t of topics) out[t] = stored[t]!;
      return out;
    }
    this.topicChecks.set(group, now);
    for (const t of topics) out[t] = (await this.engine.topics.find(t, { fresh: force }))?.partitions ?? 0;
    return out;
  }

  private async load(group: string): Promise<Loaded> {
    const items: MetaItem[] = [];
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk: groupPk(group), ...(startAfter ? { startAfter } : {}) });
      items.push(...page.items);
      startAfter = page.next;
    } while (startAfter);
    const metaIt = items.find((i) => i.sk === 'meta');
    const memberItems = items.filter((i) => i.sk.startsWith(GROUP_MEMBER_PREFIX));
    const shardItems = items.filter((i) => i.sk.startsWith(GROUP_OWNER_PREFIX));
    const members = new Map<string, MemberRecord>();
    for (const i of memberItems) members.set(i['member_id'] as string, { hb: i['hb'] as string, acked: i['acked'] as number });
    const since = new Map<string, number>();
    const legacy = metaIt !== undefined && metaIt['owners'] !== undefined;
    return {
      exists: metaIt !== undefined,
      deleting: metaIt?.['deleting'] === true,
      state: metaIt ? (legacy ? legacyState(metaIt, since) : stateFromItems(metaIt, memberItems, shardItems, since)) : emptyState(),
      members,
      shards: new Set(shardItems.map((i) => i.sk)),
      since,
      legacy,
    };
  }

  private async loadPartitions(group: string): Promise<Map<string, PartitionItem>> {
    const out = new Map<string, PartitionItem>();
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk: groupOffsetsPk(group), beginsWith: GROUP_PARTITION_PREFIX, ...(startAfter ? { startAfter } : {}) });
      for (const i of page.items) {
        const item: PartitionItem = {};
        if (typeof i['offset'] === 'number') item.offset = i['offset'];
        if (i['metadata'] !== undefined) item.metadata = i['metadata'] as string | null;
        if (typeof i['topic_id'] === 'string') item.topicId = i['topic_id'];
        if (typeof i['committed_at'] === 'number') item.committedAt = i['committed_at'];
        out.set(tpKey(i['topic'] as string, i['partition'] as number), item);
      }
      startAfter = page.next;
    } while (startAfter);
    return out;
  }
}

// --- item encoding ----------------------------------------------------------------------------
//
// The group item holds only what does not grow with partitions or members (generation,
// assignor, member count, partition counts); each member's subscription is on its own item and
// ownership is in shards of GROUP_OWNER_CHUNK partitions: `ids` lists the shard's distinct
// member ids once; `own` holds, per partition chunk·C+i, the index of its owner in `ids`
// (uint16 little-endian, 0xffff: none); `since` the generation its owner's (or revoking
// member's) uninterrupted ownership began (float64 LE, 0: none); `rev` maps a partition to
// [index of the member it is being revoked from, generation of the revocation]. The two arrays
// are binary attributes: a few bytes per partition, one attribute value each to (de)serialise.

const NO_OWNER = 0xffff; // GROUP_OWNER_CHUNK < 0xffff: an index never reaches it

function metaItem(group: string, s: GroupState): MetaItem {
  return {
    ...groupMetaKey(group),
    group,
    generation: s.generation,
    member_count: s.members.size,
    assignor: s.assignor,
    partitions: { ...s.partitions },
  };
}

function specAttrs(spec: MemberSpec): Record<string, MetaValue> {
  return { topics: spec.topics, session_timeout_ms: spec.sessionTimeoutMs, auto_offset_reset: spec.autoOffsetReset };
}

function specFromItem(item: MetaItem): MemberSpec {
  return { topics: item['topics'] as string[], sessionTimeoutMs: item['session_timeout_ms'] as number, autoOffsetReset: item['auto_offset_reset'] as OffsetReset };
}

function shardsOf(changes: Array<{ key: string }>): Map<string, { topic: string; chunk: number }> {
  const out = new Map<string, { topic: string; chunk: number }>();
  for (const c of changes) {
    const { topic, partition } = parseTp(c.key);
    const chunk = Math.floor(partition / GROUP_OWNER_CHUNK);
    out.set(`${topic}#${chunk}`, { topic, chunk });
  }
  return out;
}

/** The shard's item as it must be in state `s`, or undefined when it holds nothing. */
function shardItem(group: string, topic: string, chunk: number, s: GroupState, sinceOf: ReadonlyMap<string, number>): MetaItem | undefined {
  const ids: string[] = [];
  const index = new Map<string, number>();
  const idx = (m: string): number => {
    let i = index.get(m);
    if (i === undefined) index.set(m, (i = ids.push(m) - 1));
    return i;
  };
  const own: number[] = [];
  const since: number[] = [];
  const rev: Record<string, MetaValue> = {};
  const base = chunk * GROUP_OWNER_CHUNK;
  for (let i = 0; i < GROUP_OWNER_CHUNK; i++) {
    const key = tpKey(topic, base + i);
    const o = s.owners.get(key);
    own.push(o === undefined ? -1 : idx(o));
    const r = s.revoking.get(key);
    since.push(o === undefined && r === undefined ? 0 : (sinceOf.get(key) ?? 0));
    if (r) rev[String(base + i)] = [idx(r.from), r.gen];
  }
  let n = own.length;
  while (n > 0 && own[n - 1] === -1 && since[n - 1] === 0) n--;
  if (n === 0 && Object.keys(rev).length === 0) return undefined;
  const ownBytes = Buffer.alloc(n * 2);
  const sinceBytes = Buffer.alloc(n * 8);
  for (let i = 0; i < n; i++) {
    ownBytes.writeUInt16LE(own[i] === -1 ? NO_OWNER : own[i]!, i * 2);
    sinceBytes.writeDoubleLE(since[i]!, i * 8);
  }
  return { ...groupOwnerKey(group, topic, chunk), topic, chunk, ids, own: new Uint8Array(ownBytes), since: new Uint8Array(sinceBytes), rev };
}

function readShard(item: MetaItem, owners: Owners, revoking: Map<string, Revocation>, since: Map<string, number>): void {
  const topic = item['topic'] as string;
  const base = (item['chunk'] as number) * GROUP_OWNER_CHUNK;
  const ids = item['ids'] as string[];
  const own = Buffer.from(item['own'] as Uint8Array);
  const sinces = Buffer.from(item['since'] as Uint8Array);
  for (let p = 0; p < own.length / 2; p++) {
    const i = own.readUInt16LE(p * 2);
    if (i !== NO_OWNER) owners.set(tpKey(topic, base + p), ids[i]!);
    // Owned, or being given up by a member that may still ack it.
    const gen = sinces.readDoubleLE(p * 8);
    if (gen > 0) since.set(tpKey(topic, base + p), gen);
  }
  for (const [p, [i, gen]] of Object.entries(item['rev'] as Record<string, [number, number]>)) revoking.set(tpKey(topic, Number(p)), { from: ids[i]!, gen });
}

/**
 * A group item of the layout before the shards: roster and owners inside it. Ownership start
 * generations were on the offset items; taking the current generation instead can only make an
 * ack be dropped (a redelivery), never accepted where it should not be.
 */
function legacyState(item: MetaItem, since: Map<string, number>): GroupState {
  const members = new Map<string, MemberSpec>();
  for (const [id, raw] of Object.entries((item['members'] ?? {}) as Record<string, MetaItem>)) members.set(id, specFromItem(raw));
  const owners: Owners = new Map(Object.entries((item['owners'] ?? {}) as Record<string, string>));
  const revoking = new Map<string, Revocation>();
  for (const [k, v] of Object.entries((item['revoking'] ?? {}) as Record<string, [string, number]>)) revoking.set(k, { from: v[0], gen: v[1] });
  for (const k of [...owners.keys(), ...revoking.keys()]) since.set(k, item['generation'] as number);
  const assignor = item['assignor'] as AssignorName;
  return {
    generation: item['generation'] as number,
    assignor: assignor in ASSIGNORS ? assignor : DEFAULT_ASSIGNOR,
    members,
    owners,
    revoking,
    partitions: { ...((item['partitions'] ?? {}) as Record<string, number>) },
  };
}

function stateFromItems(metaIt: MetaItem, memberItems: MetaItem[], shardItems: MetaItem[], since: Map<string, number>): GroupState {
  const members = new Map<string, MemberSpec>();
  for (const m of memberItems) members.set(m['member_id'] as string, specFromItem(m));
  const owners: Owners = new Map();
  const revoking = new Map<string, Revocation>();
  for (const sh of shardItems) readShard(sh, owners, revoking, since);
  const assignor = metaIt['assignor'] as AssignorName;
  return {
    generation: metaIt['generation'] as number,
    assignor: assignor in ASSIGNORS ? assignor : DEFAULT_ASSIGNOR,
    members,
    owners,
    revoking,
    partitions: { ...((metaIt['partitions'] ?? {}) as Record<string, number>) },
  };
}

/**
 * An offset write. It carries the incarnation id of the topic it was made on: an offset of a
 * deleted topic means nothing to a re-created one of the same name (its offsets restart at 0),
 * so readers treat an offset with another id as absent.
 */
function commitOp(group: string, o: OffsetCommit, topicId: string, now: number, condition?: Condition): WriteOp {
  return {
    type: 'update',
    key: groupPartitionKey(group, o.topic, o.partition),
    set: { topic: o.topic, partition: o.partition, offset: o.offset, metadata: o.metadata ?? null, committed_at: now, topic_id: topicId },
    ...(condition ? { condition } : {}),
  };
}

/** The committed offset of a partition item, if it was committed on the topic's current incarnation. */
function currentOffset(item: PartitionItem | undefined, topicId: string | undefined): number | undefined {
  if (item?.offset === undefined) return undefined;
  if (item.topicId !== undefined && item.topicId !== topicId) return undefined;
  return item.offset;
}

/** Whether `member` may commit `key` in this state: its owner, or the member giving it up. */
export function holds(state: GroupState, member: string, key: string): boolean {
  return state.owners.get(key) === member || state.revoking.get(key)?.from === member;
}

function assignmentOf(state: GroupState, member: string): TopicPartition[] {
  return [...state.owners].filter(([, m]) => m === member).map(([k]) => k).sort(cmpTp).map(parseTp);
}

function checkGroupName(group: string): void {
  if (!GROUP_NAME.test(group)) throw new SamsaError('INVALID_REQUEST', 'group names are 1-249 characters of [A-Za-z0-9._-]', { group });
}

const notFound = (group: string): SamsaError => new SamsaError('GROUP_ID_NOT_FOUND', `group "${group}" does not exist`, { group });
const nonEmpty = (group: string, n: number, what: string): SamsaError =>
  new SamsaError('NON_EMPTY_GROUP', `group "${group}" has ${n} member(s); it can only ${what} once they leave or expire`, { group, members: n });

const token = (): string => randomBytes(8).toString('hex');

function chunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
