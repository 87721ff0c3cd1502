// The group store: how a group is loaded, changed and written back in the metadata store —
// one query loads it (items.ts decodes), every change is one conditional transaction on its
// generation retried on conflict (\`run\`), members whose heartbeat went stale are expelled
// first (\`expire\`), and each write takes one cooperative step towards the assignor's target
// (\`writeGroup\`). The membership calls (coordinator.ts), the poll (poll.ts) and the admin
// calls (admin.ts) all go through it; its methods are the parts' shared internals.
import { ConditionFailedError, SamsaError, TransactionConflictError } from '../errors';
import type { LogEngine } from '../log/engine';
import { commitItemKey, GROUP_MEMBER_PREFIX, GROUP_OWNER_PREFIX, GROUP_PARTITION_PREFIX, groupMemberKey, groupMetaKey, groupOffsetsPk, groupOwnerKey, groupPk, groupRegistryKey, headKey, topicKey } from '../log/keys';
import { itemLogEnd, lastCommitItem } from '../log/commit-items';
import { headFromItem, TOPIC_ID_ATTR, TOPIC_NOT_DELETING } from '../log/items';
import type { Head } from '../log/model';
import type { Topic } from '../log/topics';
import { itemSize } from '../storage/counting';
import type { Condition, MetaItem, MetaStore, WriteOp } from '../storage/ports';
import { type Clock, systemClock } from '../util/clock';
import { inParallel } from '../util/parallel';
import { retryOnConflict } from '../util/retry';
import { type Owners, tpKey } from './assignors';
import { emptyState, groupFromItems, groupMetaItem, type Loaded, sameGroup, memberAckAttrs, memberItem, type PartitionItem, partitionFromItem, shardItem, shardsOf, specAttrs } from './items';
import { transition } from './lifecycle';
import { LivenessTracker, monotonicClock } from './liveness';
import { type GroupState, type MemberSpec, reconcile, targetOf } from './reconcile';
import { type CoordinatorOptions, token, MAX_ATTEMPTS, MAX_META_BYTES, MAX_METADATA, type Mutation, type OffsetCommit, SESSION_TIMEOUT } from './types';

/**
 * A group deletion marks the group item (`deleting`, the generation unchanged) and then removes
 * the offsets: a write that read the group before the mark must not land after that removal —
 * an offset left behind would be inherited by the next group of that name.
 */
const NOT_DELETING: Condition = { op: 'attrNotExists', attr: 'deleting' };

/** How long readHeads trusts an items-mode partition's head it read, checking only its end item. */
const ITEM_HINT_MS = 60_000;

export class GroupStore {
  readonly liveness: LivenessTracker;
  readonly clock: Clock;
  readonly mono: Clock;
  readonly topicRefreshMs: number;
  readonly defaultSessionTimeoutMs: number;
  private readonly topicChecks = new Map<string, number>();
  /** Per group, the assignor's target for the state it was computed from (see targetFor). */
  private readonly targets = new Map<string, { key: string; target: Owners }>();
  /** Items-mode partitions' heads as readHeads last read them, and when (monotonic; see there). */
  private readonly itemHints = new Map<string, { head: Head; at: number }>();
  /** The latest `arrivalNow` answer. */
  private lastArrival = 0;

  constructor(
    readonly meta: MetaStore,
    readonly engine: LogEngine,
    opts: CoordinatorOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.mono = opts.monotonic ?? monotonicClock;
    this.liveness = new LivenessTracker(this.mono);
    this.topicRefreshMs = opts.topicRefreshMs ?? 5000;
    this.defaultSessionTimeoutMs = opts.defaultSessionTimeoutMs ?? SESSION_TIMEOUT.default;
  }

  /**
   * The `committed_at` stamp for a commit arriving now (design note 0005, "Late commits"): the
   * wall clock, but never below a stamp this process gave before. The store drops a write
   * stamped below the partition's stored stamp, so after a step back of the wall clock (NTP
   * correcting a fast clock) a member's later commits, answered with success, were dropped
   * until the clock passed the stamps taken before the step. Equal stamps are written in the
   * order they land, which is the order of their arrival for commits on one connection.
   */
  arrivalNow(): number {
    this.lastArrival = Math.max(this.lastArrival, this.clock.now());
    return this.lastArrival;
  }

  /**
   * Partition heads, in order: a group may span thousands of partitions, so in batches where
   * the store has them (DynamoDB: 100 per request), else a few gets at a time.
   *
   * Items-mode partitions (lib/log/commit-items.ts) keep their high watermark out of the head:
   * it is the end of their last commit item, one query each. An idle member's polls read
   * eventually consistent heads every second or two, and a query per partition beside each
   * head doubled what they cost (bench/idle-member.ts). So such a read, for a partition whose
   * head and high watermark hw were read here less than ITEM_HINT_MS ago, reads only the item
   * key c#<hw> instead (in the same batches): every commit after hw — and a deletion's fence —
   * creates exactly that item (the items form a chain from the end), so its absence means the
   * log still ends at hw, and the head is the one read then. Present, the partition is read
   * afresh. Strongly consistent reads (lag, offset resets) always read afresh.
   */
  async readHeads(tps: Array<{ topic: Topic; partition: number }>, opts: { consistent?: boolean } = {}): Promise<Head[]> {
    const now = this.mono.monotonic();
    const hintKey = (tp: { topic: Topic; partition: number }): string => `${tp.topic.id}/${tp.partition}`;
    const hints = tps.map((tp) => {
      if (opts.consistent !== false || tp.topic.commit !== 'items') return undefined;
      const h = this.itemHints.get(hintKey(tp));
      return h && now - h.at < ITEM_HINT_MS ? h.head : undefined;
    });
    const keys = tps.map((tp, i) => (hints[i] ? commitItemKey(tp.topic.id, tp.partition, hints[i].nextOffset) : headKey(tp.topic.id, tp.partition)));
    let items: Array<MetaItem | undefined>;
    if (this.meta.batchGet) items = await this.meta.batchGet(keys, opts);
    else {
      items = new Array(tps.length);
      await inParallel([...tps.keys()], 32, async (i) => void (items[i] = await this.meta.get(keys[i]!, opts)));
    }
    const out: Head[] = items.map((item, i) => (hints[i] ? hints[i] : headFromItem(item)));
    // Items-mode partitions read afresh: their head (again, where a hint's item turned up) and
    // the end of their last item.
    const fresh = [...tps.keys()].filter((i) => tps[i]!.topic.commit === 'items' && (!hints[i] || items[i] !== undefined));
    await inParallel(fresh, 32, async (i) => {
      const tp = tps[i]!;
      const [item, last] = await Promise.all([
        hints[i] ? this.meta.get(headKey(tp.topic.id, tp.partition), opts) : Promise.resolve(items[i]),
        lastCommitItem(this.meta, tp.topic, tp.partition, opts),
      ]);
      const h = headFromItem(item);
      out[i] = { ...h, nextOffset: itemLogEnd(h, last) };
      this.itemHints.set(hintKey(tp), { head: out[i], at: now });
    });
    return out;
  }

  requireMember(l: Loaded, group: string, memberId: string, event: 'heartbeat' | 'poll' | 'commit' | 'leave'): void {
    transition(l.state.members.has(memberId) ? 'stable' : 'unknown', event, { group, member: memberId });
  }

  /** Checks the entries; returns the current incarnation id of every topic they name. */
  async validateOffsets(offsets: OffsetCommit[]): Promise<Map<string, string>> {
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
  async run<T>(group: string, fn: (l: Loaded) => Promise<T>): Promise<T> {
    return retryOnConflict(
      async () => {
        // A deletion finished or members expelled first: read again (not a lost race).
        for (;;) {
          const l = await this.load(group);
          if (l.deleting) {
            await this.finishDelete(group, l.state.gid);
            continue;
          }
          if (await this.expire(group, l)) continue;
          return await fn(l);
        }
      },
      (err) => err instanceof ConditionFailedError || err instanceof TransactionConflictError,
      { maxAttempts: MAX_ATTEMPTS + 1, maxMs: 50 },
    );
  }

  /** Expel the members this instance has watched stay silent for their session timeout. */
  async expire(group: string, l: Loaded): Promise<boolean> {
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
  async writeGroup(group: string, l: Loaded, mut: Mutation): Promise<GroupState> {
    const members = new Map(l.state.members);
    let rosterChanged = false;
    for (const r of mut.remove ?? []) rosterChanged = members.delete(r.id) || rosterChanged;
    if (mut.put) {
      members.set(mut.put.id, mut.put.spec);
      rosterChanged = true;
    }
    const { partitions, ids } = await this.partitionCounts(group, members, l.state.partitions, l.state.incarnations, mut.freshTopics ?? false);
    const nextGen = l.state.generation + 1;
    // A topic whose incarnation changed (deleted and re-created) starts a new generation, from
    // which acknowledgements and commits of it count (poll.ts, coordinator.ts).
    const incarnations: NonNullable<GroupState['incarnations']> = {};
    for (const [t, id] of Object.entries(ids)) {
      const known = l.state.incarnations?.[t];
      incarnations[t] = known && known.id === id ? known : { id, since: nextGen };
    }
    const countsChanged =
      JSON.stringify(partitions) !== JSON.stringify(l.state.partitions) || JSON.stringify(incarnations) !== JSON.stringify(l.state.incarnations ?? {});
    const acks = new Map([...l.members].map(([id, m]) => [id, m.acked]));
    if (mut.self) acks.set(mut.self.id, mut.self.acked);
    const draft: GroupState = { ...l.state, members, partitions, incarnations, assignor: mut.assignor ?? l.state.assignor };

    const ops: WriteOp[] = [];
    // A present member's new subscription rides on its own item's update (it lives there, not
    // in the group item, so the group item does not grow with the members).
    const respec = mut.put && mut.put.hb === undefined ? mut.put : undefined;
    const selfOp: WriteOp | undefined = mut.self && {
      type: 'update',
      key: groupMemberKey(group, mut.self.id),
      set: { ...memberAckAttrs(mut.self.hb, mut.self.acked), ...(respec?.id === mut.self.id ? specAttrs(respec.spec) : {}) },
      condition: { op: 'exists' },
    };
    if (selfOp) ops.push(selfOp);
    if (respec && respec.id !== mut.self?.id) {
      ops.push({ type: 'update', key: groupMemberKey(group, respec.id), set: specAttrs(respec.spec), condition: { op: 'exists' } });
    }
    if (mut.put?.hb !== undefined) {
      ops.push({
        type: 'put',
        item: memberItem(group, mut.put.id, mut.put.hb, nextGen, mut.put.spec),
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
    // A new group, or one stored before groups had an id, gets its id with this write.
    const next: GroupState = { ...draft, generation: nextGen, owners: step.owners, revoking: step.revoking, gid: l.state.gid ?? token() };
    const meta = groupMetaItem(group, next);
    if (itemSize(meta) > MAX_META_BYTES) {
      throw new SamsaError('INVALID_REQUEST', `group "${group}" would subscribe to too many topics (${Object.keys(partitions).length}) for its group item; subscribe to fewer`, { group });
    }
    // Not on a group marked for deletion (the mark keeps the generation): the put would drop the
    // mark while finishDelete is removing the offsets; retried, it finishes the deletion first.
    ops.push({ type: 'put', item: meta, condition: l.exists ? { op: 'and', conds: [sameGroup(l.state), NOT_DELETING] } : { op: 'notExists' } });
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

  /**
   * Offset writes while the group has no members (memberless commit, reset). `confirm`: topic →
   * the incarnation id the writes were made for; each transaction that writes an offset of such
   * a topic also checks that the topic item still carries that id (see coordinator `commit`).
   * `createAs`: the id a group created here gets (a Kafka generation's, coordinator `commit`).
   */
  async writeMemberless(group: string, l: Loaded, writes: Array<{ topic: string; op: WriteOp }>, confirm?: ReadonlyMap<string, string>, createAs?: string): Promise<void> {
    const created: GroupState = { ...emptyState(), gid: createAs ?? token() };
    const guard: WriteOp = l.exists
      ? { type: 'check', key: groupMetaKey(group), condition: { op: 'and', conds: [sameGroup(l.state), { op: 'eq', attr: 'member_count', value: 0 }, NOT_DELETING] } }
      : { type: 'put', item: groupMetaItem(group, created), condition: { op: 'notExists' } };
    const first = l.exists ? [guard] : [guard, { type: 'put', item: { ...groupRegistryKey(group), group } } as WriteOp];
    // Later chunks: still this group (not one created after a deletion), still memberless.
    const gid = l.exists ? l.state.gid : created.gid;
    const same: Condition = gid === undefined ? { op: 'attrNotExists', attr: 'gid' } : { op: 'eq', attr: 'gid', value: gid };
    // Batches of at most room items: the offsets and, with `confirm`, one check per topic in them.
    const room = this.meta.limits.maxTransactItems - 2;
    const batches: WriteOp[][] = [];
    let batch: WriteOp[] = [];
    let checked = new Set<string>();
    for (const w of writes) {
      const id = confirm?.get(w.topic);
      const check = id !== undefined && !checked.has(w.topic);
      if (batch.length + (check ? 2 : 1) > room) {
        batches.push(batch);
        batch = [];
        checked = new Set();
      }
      if (id !== undefined && !checked.has(w.topic)) {
        checked.add(w.topic);
        batch.push({ type: 'check', key: topicKey(w.topic), condition: { op: 'and', conds: [{ op: 'eq', attr: TOPIC_ID_ATTR, value: id }, TOPIC_NOT_DELETING] } });
      }
      batch.push(w.op);
    }
    if (batch.length > 0) batches.push(batch);
    for (const [i, b] of batches.entries()) {
      await this.meta.transact(i === 0 ? [...first, ...b] : [{ type: 'check', key: groupMetaKey(group), condition: { op: 'and', conds: [same, { op: 'eq', attr: 'member_count', value: 0 }, NOT_DELETING] } }, ...b]);
    }
  }

  /**
   * Finish the deletion of the group `gid` names (marked `deleting`): its offsets, shards, group
   * item and registry entry. Every removal is checked against the marked group item — still
   * there, still that group: a deletion paused after reading a page of keys (a frozen Lambda)
   * while another request finished it and the name was used again removed the new group's
   * offsets by those keys. Refused, someone else finished it.
   */
  async finishDelete(group: string, gid: string | undefined): Promise<void> {
    const marked: WriteOp = {
      type: 'check',
      key: groupMetaKey(group),
      condition: { op: 'and', conds: [{ op: 'eq', attr: 'deleting', value: true }, gid === undefined ? { op: 'attrNotExists', attr: 'gid' } : { op: 'eq', attr: 'gid', value: gid }] },
    };
    try {
      // Offsets, then any ownership shard left over (a memberless group owns nothing, but a step
      // cut short for room may have left an empty shard behind).
      for (const q of [{ pk: groupOffsetsPk(group) }, { pk: groupPk(group), beginsWith: GROUP_OWNER_PREFIX }]) {
        for (;;) {
          const page = await this.meta.query({ ...q, limit: this.meta.limits.maxTransactItems - 1 });
          if (page.items.length === 0) break;
          await this.meta.transact([marked, ...page.items.map((i) => ({ type: 'delete', key: { pk: i.pk, sk: i.sk } }) as WriteOp)]);
        }
      }
      await this.meta.transact([
        { type: 'delete', key: groupMetaKey(group), condition: marked.condition },
        { type: 'delete', key: groupRegistryKey(group) },
      ]);
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err; // someone else finished it
    }
    this.liveness.forget(group);
    this.topicChecks.delete(group);
    this.targets.delete(group);
  }

  /** Partition counts and incarnation ids of the members' topics (an absent topic: 0, no id). */
  private async partitionCounts(
    group: string,
    members: Map<string, MemberSpec>,
    stored: Record<string, number>,
    storedIds: GroupState['incarnations'],
    force: boolean,
  ): Promise<{ partitions: Record<string, number>; ids: Record<string, string> }> {
    const topics = [...new Set([...members.values()].flatMap((m) => m.topics))].sort();
    const now = this.mono.now();
    const last = this.topicChecks.get(group);
    const stale =
      force || last === undefined || now - last >= this.topicRefreshMs || topics.some((t) => !(t in stored) || (stored[t]! > 0 && storedIds?.[t] === undefined));
    const partitions: Record<string, number> = {};
    const ids: Record<string, string> = {};
    if (!stale) {
      for (const t of topics) {
        partitions[t] = stored[t]!;
        const id = storedIds?.[t]?.id;
        if (id !== undefined) ids[t] = id;
      }
      return { partitions, ids };
    }
    this.topicChecks.set(group, now);
    for (const t of topics) {
      const topic = await this.engine.topics.find(t, { fresh: force });
      partitions[t] = topic?.partitions ?? 0;
      if (topic) ids[t] = topic.id;
    }
    return { partitions, ids };
  }

  async load(group: string): Promise<Loaded> {
    const items: MetaItem[] = [];
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk: groupPk(group), ...(startAfter ? { startAfter } : {}) });
      items.push(...page.items);
      startAfter = page.next;
    } while (startAfter);
    return groupFromItems(items);
  }

  async loadPartitions(group: string): Promise<Map<string, PartitionItem>> {
    const out = new Map<string, PartitionItem>();
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk: groupOffsetsPk(group), beginsWith: GROUP_PARTITION_PREFIX, ...(startAfter ? { startAfter } : {}) });
      for (const i of page.items) {
        const { topic, partition, item } = partitionFromItem(i);
        out.set(tpKey(topic, partition), item);
      }
      startAfter = page.next;
    } while (startAfter);
    return out;
  }
}
