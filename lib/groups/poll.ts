// The poll: at-least-once consumption over stateless HTTP. A poll first commits what the
// member acknowledged (fenced per partition), then reads its partitions from the committed
// (or client-given) positions, waiting on all of them at once when nothing is there
// (docs/design/0005-consumer-groups.md, "Poll: at-least-once" and "Waiting").
import { ConditionFailedError, SamsaError, TransactionConflictError } from '../errors';
import type { FetchResult } from '../log/engine';
import { partitionKey } from '../log/commit';
import { groupMemberKey, groupMetaKey, groupPartitionKey } from '../log/keys';
import { emptyFetchResult } from '../log/reader';
import { TOPIC_CACHE_MS, type Topic } from '../log/topics';
import type { Condition, WriteOp } from '../storage/ports';
import { inParallel } from '../util/parallel';
import { abortableSleep } from '../util/sleep';
import { tpKey } from './assignors';
import { commitOp, committedAfter, currentOffset, type Loaded, notCommittedAfter, type OffsetReset, type PartitionItem, partitionFromItem, sameGroup } from './items';
import type { GroupState } from './reconcile';
import type { GroupStore } from './store';
import { assignmentOf, checkGroupName, chunks, token, holds, MAX_RECHECK_MS, type OffsetCommit, type PolledRecord, type PollOptions, type PollPosition, type PollResult, type TopicPartition } from './types';

/** The least a poll asks of one partition (its fair share of the poll's budget may be less). */
const MIN_PARTITION_SHARE = 64 * 1024;

export class GroupPoller {
  constructor(private readonly store: GroupStore) {}

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
    // The committed offsets: acks need them (an ack equal to the stored offset writes nothing),
    // and so does every partition read from its committed offset. A member that sends its
    // positions (`from`) and no acks — an idle member — needs none of them: the query is left
    // out, and made later only for a partition `from` does not cover. When they are needed,
    // they are read beside the group, not after it: an idle poll's handler time (what Lambda
    // bills) is its round trips. Nothing fences this read either way — a position read a
    // moment early can only be lower (the member's own acks are merged in below, and only this
    // member or a memberless reset moves its partitions' offsets), so a racing poll may repeat
    // records, never skip them. A retry after a lost race reads again.
    const covered = acks.length === 0 && (opts.from?.size ?? 0) > 0;
    let early: Promise<Map<string, PartitionItem>> | undefined = covered ? undefined : this.store.loadPartitions(group);
    early?.catch(() => undefined); // awaited below; a failure surfaces there, not as unhandled
    // When this poll arrived: its acks do not overwrite a commit of the same partition that
    // arrived later and landed first (design note 0005, "Late commits").
    const arrived = this.store.arrivalNow();
    const prepared = await this.store.run(group, async (l) => {
      this.store.requireMember(l, group, memberId, 'poll');
      const parts = covered ? undefined : await (early ?? this.store.loadPartitions(group));
      early = undefined;
      const me = l.members.get(memberId)!;
      const commits: WriteOp[] = [];
      const committedAcks: OffsetCommit[] = [];
      const ackGen = opts.ackGeneration ?? 0;
      // Fencing of an ack: the member holds the partition (or is giving it up and has not yet
      // acknowledged that) and has held it without interruption since the generation of the
      // poll that returned the records — one that lost the partition and got it back cannot
      // rewind the progress its interim owner committed. Checked on the generation just read;
      // the transaction's check on that generation makes it hold at the write (ownership
      // changes only with the generation; a moved generation retries from a fresh read).
      for (const a of acks) {
        const key = tpKey(a.topic, a.partition);
        // ...and of the topic incarnation the group knew at that generation: an ack of records
        // of a topic deleted and re-created since is dropped, not applied to the new log.
        const inc = l.state.incarnations?.[a.topic];
        const sameLog = inc === undefined || (inc.id === ids.get(a.topic) && inc.since <= ackGen);
        const held = ids.has(a.topic) && sameLog && holds(l.state, memberId, key) && (l.since.get(key) ?? Infinity) <= ackGen;
        if (!held) continue;
        // Its client gave up on this poll and committed again elsewhere, and that landed first
        // (this process paused, or its storage calls were delayed): the later commit stands.
        if (committedAfter(parts!.get(key), arrived)) continue;
        committedAcks.push({ topic: a.topic, partition: a.partition, offset: a.offset, metadata: a.metadata ?? null });
        const item = parts!.get(key);
        if (item?.offset === a.offset && item.topicId === ids.get(a.topic)) continue;
        commits.push(commitOp(group, a, ids.get(a.topic)!, arrived, notCommittedAfter(arrived)));
      }
      const acked = Math.max(me.acked, l.state.generation);
      // A poll is a heartbeat, but an idle member polling every second need not write one each
      // time: when this instance itself wrote the member's current version less than a third
      // of its session ago (Kafka's heartbeat.interval.ms default) and nothing else changes,
      // the write is skipped. Every instance expels only after seeing one version for a whole
      // session, and the version stays ours, so the session is renewed in time (liveness.ts).
      const spec0 = l.state.members.get(memberId);
      const skipHeartbeat =
        commits.length === 0 && acked === me.acked && spec0 !== undefined && this.store.liveness.wroteWithin(group, memberId, me.hb, spec0.sessionTimeoutMs / 3);
      const hb = skipHeartbeat ? me.hb : token();
      const selfOp: WriteOp = { type: 'update', key: groupMemberKey(group, memberId), set: { hb, acked }, condition: { op: 'exists' } };
      const genCheck: WriteOp = { type: 'check', key: groupMetaKey(group), condition: sameGroup(l.state) };
      const batches = chunks(commits, this.store.meta.limits.maxTransactItems - 2);
      if (!skipHeartbeat) {
        if (batches.length === 0) await this.store.meta.write(selfOp);
        else for (const [i, b] of batches.entries()) await this.store.meta.transact(i === 0 ? [genCheck, selfOp, ...b] : [genCheck, ...b]);
        this.store.liveness.wrote(group, memberId, hb);
      }
      for (const a of committedAcks) {
        const k = tpKey(a.topic, a.partition);
        parts!.set(k, { ...parts!.get(k), offset: a.offset, topicId: ids.get(a.topic)! });
      }
      const withAck: Loaded = { ...l, members: new Map(l.members).set(memberId, { hb, acked }) };
      // Our acknowledgement may have released partitions we were giving up: move them now.
      const state = await this.store.writeGroup(group, withAck, {});
      return { state, parts, committedAcks, spec: state.members.get(memberId)! };
    });

    const { state, committedAcks, spec } = prepared;
    let parts = prepared.parts;
    const assignment = assignmentOf(state, memberId);
    const reading = assignment.filter((tp) => !opts.paused?.has(tpKey(tp.topic, tp.partition)));
    const maxRecords = opts.maxRecords ?? 500;
    const maxBytes = opts.maxBytes ?? 1024 * 1024;
    const positions = new Map<string, number>();
    const toReset: Array<{ tp: TopicPartition; topic: Topic; item: PartitionItem | undefined }> = [];
    for (const tp of reading) {
      const key = tpKey(tp.topic, tp.partition);
      const from = opts.from?.get(key);
      // A position taken before the topic was re-created is one in the old log: read the new
      // log from its committed offset (or auto_offset_reset) instead.
      const since = state.incarnations?.[tp.topic]?.since;
      const oldLog = opts.fromGeneration !== undefined && since !== undefined && since > opts.fromGeneration;
      if (from !== undefined && !oldLog) {
        positions.set(key, from);
        continue;
      }
      const topic = await this.topicOf(state, tp);
      parts ??= await this.store.loadPartitions(group);
      const item = parts.get(key);
      const committed = currentOffset(item, topic.id);
      if (committed !== undefined) positions.set(key, committed);
      else toReset.push({ tp, topic, item });
    }
    // auto_offset_reset from the heads (log start or high watermark), read in batches.
    const heads = await this.store.readHeads(toReset.map((r) => ({ topic: r.topic, partition: r.tp.partition })));
    await inParallel([...toReset.keys()], 32, async (i) => {
      const { tp, topic, item } = toReset[i]!;
      const offset = spec.autoOffsetReset === 'latest' ? heads[i]!.nextOffset : heads[i]!.logStart;
      positions.set(tpKey(tp.topic, tp.partition), offset);
      // `latest` must mean the end at the member's first poll, not at every poll until a record
      // arrives: store that starting position (it covers no record, so nothing is skipped).
      if (spec.autoOffsetReset !== 'latest' || (await this.storeStart(group, state, tp, topic.id, offset, item))) return;
      // Not stored: an offset may have been committed since the committed offsets were read
      // (they are read beside the group, so possibly before the previous owner's last commit
      // and hand-over). Absent then is not absent now: read on from that commit, or the records
      // between it and the end would be delivered to no one.
      const now = await this.store.meta.get(groupPartitionKey(group, tp.topic, tp.partition));
      const committed = now ? currentOffset(partitionFromItem(now).item, topic.id) : undefined;
      if (committed !== undefined) positions.set(tpKey(tp.topic, tp.partition), committed);
    });
    const topics = await Promise.all(reading.map((tp) => this.topicOf(state, tp)));
    const maxDecoded = Math.min(maxBytes, opts.maxDecodedBytes ?? maxBytes);
    const fetched = await this.fetchMany(reading, topics, positions, spec.autoOffsetReset, maxRecords, maxBytes, maxDecoded, opts.waitMs ?? 0, opts.signal);
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
      const t = await this.store.engine.topics.find(a.topic);
      if (t) ids.set(a.topic, t.id);
    }
    return ids;
  }

  /** Record the position a `latest` member starts from, unless an offset got there first. */
  private async storeStart(group: string, state: Pick<GroupState, 'generation' | 'gid'>, tp: TopicPartition, topicId: string, offset: number, item: PartitionItem | undefined): Promise<boolean> {
    const none: Condition =
      item?.offset === undefined ? { op: 'attrNotExists', attr: 'offset' } : item.topicId === undefined ? { op: 'attrNotExists', attr: 'topic_id' } : { op: 'eq', attr: 'topic_id', value: item.topicId };
    try {
      await this.store.meta.transact([
        // Still the generation (of this group, not one created since under its name) in which
        // this member was found to hold the partition.
        { type: 'check', key: groupMetaKey(group), condition: sameGroup(state) },
        commitOp(group, { ...tp, offset, metadata: null }, topicId, this.store.arrivalNow(), none),
      ]);
      return true;
    } catch (err) {
      // Someone committed, or the group moved on: the next poll decides again.
      if (!(err instanceof ConditionFailedError || err instanceof TransactionConflictError)) throw err;
      return false;
    }
  }

  /**
   * The topic of a partition the member reads. A poll a second would otherwise read the topic
   * item every poll (the registry caches for a second): here a lookup is reused for as long as
   * the group itself trusts its view of its topics (topicRefreshMs), because both ways a cached
   * topic can mislead are caught — an incarnation other than the one the group knows is looked
   * up again, and a deleted incarnation's heads carry its mark (fetchMany reads them first and
   * a deleted head is read through the engine, which answers 404 and drops the cached topic).
   */
  private async topicOf(state: { incarnations?: Record<string, { id: string }> }, tp: TopicPartition): Promise<Topic> {
    const topics = this.store.engine.topics;
    const t = await topics.partition(tp.topic, tp.partition, { maxAgeMs: Math.max(this.store.topicRefreshMs, TOPIC_CACHE_MS) });
    const known = state.incarnations?.[tp.topic]?.id;
    return known === undefined || known === t.id ? t : topics.partition(tp.topic, tp.partition);
  }

  private async fetchMany(
    assignment: TopicPartition[],
    topics: Topic[],
    positions: Map<string, number>,
    reset: OffsetReset,
    maxRecords: number,
    maxBytes: number,
    maxDecoded: number,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<{ records: PolledRecord[]; next: Map<string, number>; hw: Map<string, number> }> {
    if (assignment.length === 0) {
      if (waitMs > 0) await abortableSleep(Math.min(waitMs, 30_000), signal);
      return { records: [], next: new Map(), hw: new Map() };
    }
    const one = async (i: number, share: number): Promise<FetchResult> => {
      const tp = assignment[i]!;
      const key = tpKey(tp.topic, tp.partition);
      // Every read of this poll is of the incarnation its positions were computed for: a poll
      // that waits across a delete + re-create must not read the new log at the old positions.
      const opts = { maxRecords, maxBytes: share, maxDecodedBytes: Math.min(maxDecoded, share), topic: topics[i]! };
      const at = positions.get(key)!;
      try {
        return await this.store.engine.fetch(tp.topic, tp.partition, { ...opts, offset: at });
      } catch (err) {
        // The topic was deleted under the poll: nothing of it is delivered; the next poll
        // resolves the name again (and an old incarnation's offsets count as absent).
        if (err instanceof SamsaError && err.code === 'UNKNOWN_TOPIC_OR_PARTITION') return emptyFetchResult({ nextOffset: at, logStart: at }, at);
        // Committed offset fell off the log (retention): Kafka's auto.offset.reset applies.
        if (!(err instanceof SamsaError) || err.code !== 'OFFSET_OUT_OF_RANGE') throw err;
        const offset = (await this.store.engine.listOffsets(tp.topic, tp.partition, reset)).offset;
        positions.set(key, offset);
        return this.store.engine.fetch(tp.topic, tp.partition, { ...opts, offset });
      }
    };
    // Heads first, in batches: only partitions with something to read (or a position out of
    // range, which the fetch resets) cost a fetch — an idle member's poll is a few requests.
    const fetchAll = async (): Promise<FetchResult[]> => {
      // Eventually consistent (half the read price on DynamoDB): a stale head only says "nothing
      // new" for a moment longer — the record comes with the next poll — and every partition
      // with something to read is read from a strongly consistent head (engine.fetch).
      const heads = await this.store.readHeads(assignment.map((tp, i) => ({ topic: topics[i]!, partition: tp.partition })), { consistent: false });
      const out: FetchResult[] = new Array(assignment.length);
      const at = assignment.map((tp) => positions.get(tpKey(tp.topic, tp.partition))!);
      const idle = heads.map((h, i) => at[i] === h.nextOffset && !h.deleted);
      // Each partition with something to read gets a fair share of the poll's budget (at least
      // one batch each, as a fetch always returns): the poll answers at most that many bytes in
      // all, and every result is held until it is assembled, so reading `maxBytes` from each
      // partition could hold partitions × maxBytes (64 MiB each) for one small request.
      const reading = idle.filter((x) => !x).length;
      const share = Math.min(maxBytes, Math.max(MIN_PARTITION_SHARE, Math.ceil(maxDecoded / Math.max(1, reading))));
      await inParallel([...assignment.keys()], 32, async (i) => {
        out[i] = idle[i] ? emptyFetchResult(heads[i]!, at[i]!) : await one(i, share);
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
      const key = tpKey(tp.topic, tp.partition);
      hw.set(key, r.highWatermark);
      // The poll is full: the partition's records are not even decoded (each may expand a
      // thousandfold); it is read from where it was next time.
      if (records.length >= maxRecords || (records.length > 0 && bytes >= maxDecoded)) {
        next.set(key, positions.get(key)!);
        continue;
      }
      const rs = r.records();
      let taken = 0;
      for (const rec of rs) {
        const size = (rec.key?.length ?? 0) + (rec.value?.length ?? 0) + 32;
        if (records.length >= maxRecords || (records.length > 0 && bytes + size > maxBytes) || (records.length > 0 && bytes >= maxDecoded)) break;
        records.push({ ...rec, topic: tp.topic, partition: tp.partition });
        bytes += size;
        taken++;
      }
      if (taken === rs.length) next.set(key, Math.max(r.nextOffset, positions.get(key)!));
      else next.set(key, rs[taken - 1] ? rs[taken - 1]!.offset + 1 : positions.get(key)!);
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
    // A duration: on this process's monotonic clock, which no step of the wall clock moves.
    const deadline = performance.now() + Math.min(waitMs, 60_000);
    let interval = Math.min(this.store.engine.opts.longPollRecheckMs, MAX_RECHECK_MS);
    while (!signal?.aborted) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) return false;
      const ac = new AbortController();
      const onAbort = (): void => ac.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const woken = await Promise.race(assignment.map((tp, i) => this.store.engine.notifier.wait(partitionKey(topics[i]!, tp.partition), hws[i]!, Math.min(interval, remaining), ac.signal)));
        if (woken !== undefined) return true;
      } finally {
        ac.abort();
        signal?.removeEventListener('abort', onAbort);
      }
      if (signal?.aborted) return false;
      const heads = await this.store.readHeads(assignment.map((tp, i) => ({ topic: topics[i]!, partition: tp.partition })), { consistent: false });
      if (heads.some((h, i) => h.nextOffset > hws[i]!)) return true;
      interval = Math.min(interval * 2, MAX_RECHECK_MS);
    }
    return false;
  }
}
