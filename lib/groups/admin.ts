// The admin side of consumer groups: committed offsets and lag, resets, deletes, describe
// and list. No member is involved; writes to a group with members are refused where Kafka
// refuses them (NON_EMPTY_GROUP).
import { ConditionFailedError, SamsaError } from '../errors';
import { GROUPS_PK, groupMetaKey, groupPartitionKey } from '../log/keys';
import type { Topic } from '../log/topics';
import type { WriteOp } from '../storage/ports';
import { inParallel } from '../util/parallel';
import { type AssignorName, cmpTp, parseTp, tpKey } from './assignors';
import { commitOp, currentOffset, type Loaded, sameGroup } from './items';
import { reconciliationState } from './lifecycle';
import { type GroupState, targetOf } from './reconcile';
import type { GroupStore } from './store';
import { assignmentOf, checkGroupName, checkStoredGroupName, chunks, type GroupDescription, nonEmpty, notFound, type OffsetInfo, type ResetTarget, type TopicPartition } from './types';

export class GroupAdmin {
  constructor(private readonly store: GroupStore) {}

  async offsets(group: string): Promise<OffsetInfo[]> {
    checkStoredGroupName(group);
    const l = await this.store.run(group, async (x) => x);
    if (!l.exists) throw notFound(group);
    return this.offsetInfo(group, l);
  }

  /**
   * The group's committed offsets alone, as Kafka's OffsetFetch answers them: no heads, no lag
   * (offsets() reads a head and, per lagging partition, a record — S3 GETs once flushed — which
   * a Kafka consumer would pay after every rebalance). Left out, as offsets() leaves them out:
   * partitions of topics that no longer exist or are beyond the topic's partitions, and offsets
   * committed on an earlier incarnation of the topic.
   */
  async committed(group: string): Promise<Array<TopicPartition & { offset: number; metadata: string | null }>> {
    checkStoredGroupName(group);
    const l = await this.store.run(group, async (x) => x);
    if (!l.exists) throw notFound(group);
    const parts = await this.store.loadPartitions(group);
    const topics = new Map<string, Topic | undefined>();
    const out: Array<TopicPartition & { offset: number; metadata: string | null }> = [];
    for (const key of [...parts.keys()].sort(cmpTp)) {
      const { topic, partition } = parseTp(key);
      // Read fresh, not from the cache: a lookup made here less than a second ago may name an
      // incarnation deleted since, whose offsets would then be answered for the topic now
      // under the name (a consumer starting there skips its first records). One read per topic.
      if (!topics.has(topic)) topics.set(topic, await this.store.engine.topics.find(topic, { fresh: true }));
      const t = topics.get(topic);
      if (!t || partition >= t.partitions) continue;
      const item = parts.get(key);
      const offset = currentOffset(item, t.id);
      if (offset !== undefined) out.push({ topic, partition, offset, metadata: item?.metadata ?? null });
    }
    return out;
  }

  async resetOffsets(group: string, topic: string, to: ResetTarget): Promise<Array<TopicPartition & { offset: number }>> {
    checkGroupName(group);
    let t = await this.store.engine.topics.get(topic, { fresh: true });
    // Per partition: the listed ones (each once, each in the topic), or all of them.
    const entries = typeof to === 'object' && 'offsets' in to ? to.offsets : undefined;
    const listed = entries ? new Map(entries.map((o) => [o.partition, o.offset])) : undefined;
    if (entries && listed) {
      if (listed.size !== entries.length) throw new SamsaError('INVALID_REQUEST', 'to.offsets names a partition more than once', { field: 'to.offsets' });
      const outside = [...listed.keys()].find((p) => p >= t.partitions);
      if (outside !== undefined) throw new SamsaError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${topic}" has no partition ${outside} (it has ${t.partitions})`, { topic, partition: outside });
    }
    let raced = false;
    return this.store.run(group, async (l) => {
      if (l.state.members.size > 0) throw nonEmpty(group, l.state.members.size, 'reset its offsets');
      // After a refused write: the topic may be another incarnation now (see below).
      if (raced) t = await this.store.engine.topics.get(topic, { fresh: true });
      if (listed) {
        const outside = [...listed.keys()].find((p) => p >= t.partitions);
        if (outside !== undefined) throw new SamsaError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${topic}" has no partition ${outside} (it has ${t.partitions})`, { topic, partition: outside });
      }
      const out: Array<TopicPartition & { offset: number }> = [];
      for (let p = 0; p < t.partitions; p++) {
        if (listed && !listed.has(p)) continue;
        let offset: number;
        if (to === 'earliest' || to === 'latest') offset = (await this.store.engine.listOffsets(topic, p, to)).offset;
        else if ('timestamp' in to) offset = (await this.store.engine.listOffsets(topic, p, to.timestamp)).offset;
        else {
          // As kafka-consumer-groups --to-offset and --from-file: clamped into the log's range.
          const h = await this.store.engine.head(t, p);
          offset = Math.min(Math.max(listed ? listed.get(p)! : 'offset' in to ? to.offset : 0, h.logStart), h.nextOffset);
        }
        out.push({ topic, partition: p, offset });
      }
      const now = this.store.arrivalNow();
      // The write checks that the topic is still the incarnation read: deleted and created again
      // meanwhile (a paused process), the reset was stored under the deleted one's id, answered
      // 200 and then not there. Refused, the topic is read again and the reset made on it.
      try {
        await this.store.writeMemberless(group, l, out.map((o) => ({ topic, op: commitOp(group, { ...o, metadata: null }, t.id, now) })), new Map([[topic, t.id]]));
      } catch (err) {
        if (err instanceof ConditionFailedError) raced = true;
        throw err;
      }
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
    checkStoredGroupName(group);
    return this.store.run(group, async (l) => {
      for (const spec of l.state.members.values()) {
        if (spec.topics.includes(topic)) throw new SamsaError('NON_EMPTY_GROUP', `group "${group}" has members subscribed to "${topic}": its offsets of that topic stay while they do`, { group, topic });
      }
      const keys = [...(await this.store.loadPartitions(group)).keys()]
        .map(parseTp)
        .filter((tp) => tp.topic === topic && (partitions === undefined || partitions.includes(tp.partition)))
        .sort((a, b) => a.partition - b.partition);
      const deletes: WriteOp[] = keys.map((tp) => ({ type: 'delete', key: groupPartitionKey(group, tp.topic, tp.partition) }));
      for (const chunk of chunks(deletes, this.store.meta.limits.maxTransactItems - 1)) {
        await this.store.meta.transact(l.exists ? [{ type: 'check', key: groupMetaKey(group), condition: sameGroup(l.state) }, ...chunk] : chunk);
      }
      return keys;
    });
  }

  // --- admin ----------------------------------------------------------------------------------

  /**
   * `visible`: the topics the caller may describe (all when absent). The others are left out of
   * the members' subscriptions and assignments and of the lag, as the offsets route leaves them
   * out (Kafka's OffsetFetch answers nothing of a topic the caller may not describe).
   */
  async describe(group: string, visible?: (topic: string) => boolean): Promise<GroupDescription> {
    checkStoredGroupName(group);
    // A touch: also take any cooperative step that has become possible.
    const l = await this.store.run(group, async (x) => (x.exists ? { ...x, state: await this.store.writeGroup(group, x, {}) } : x));
    if (!l.exists) throw notFound(group);
    const offsets = await this.offsetInfo(group, l);
    const shown = visible ?? (() => true);
    return {
      ...this.summary(group, l.state),
      members: this.memberViews(l.state).map((m) => (visible ? { ...m, topics: m.topics.filter(shown), assignment: m.assignment.filter((tp) => shown(tp.topic)) } : m)),
      lag: offsets.filter((o) => shown(o.topic)).reduce((a, o) => a + o.lag, 0),
    };
  }

  async list(): Promise<Array<{ group: string; state: GroupDescription['state']; generation: number; members: number }>> {
    const names: string[] = [];
    let startAfter: string | undefined;
    do {
      const page = await this.store.meta.query({ pk: GROUPS_PK, ...(startAfter ? { startAfter } : {}), limit: 1000 });
      for (const item of page.items) names.push(item.sk);
      startAfter = page.next;
    } while (startAfter);
    const out = [];
    for (const name of names) {
      const l = await this.store.run(name, async (x) => (x.exists ? { ...x, state: await this.store.writeGroup(name, x, {}) } : x));
      if (!l.exists) continue;
      const s = this.summary(name, l.state);
      out.push({ group: name, state: s.state, generation: s.generation, members: l.state.members.size });
    }
    return out;
  }

  async deleteGroup(group: string): Promise<void> {
    checkStoredGroupName(group);
    // The group this request went to mark, once it did: its id (undefined on a group item older
    // than the field, which a new group never is).
    let marking: { gid: string | undefined } | undefined;
    const gid = await this.store.run(group, async (l) => {
      // Read again after a mark that failed: if that group is gone, or another is in its place,
      // it was deleted meanwhile — by this very mark, applied and sent again by the SDK after a
      // lost answer, with another request finishing the deletion before the repeat, or by a
      // DELETE racing this one. Done: not 404 for a deletion this request may have made, and
      // not a deletion of a group created under the name since, which nobody asked to delete.
      if (marking && (!l.exists || l.state.gid !== marking.gid)) return null;
      if (!l.exists) throw notFound(group);
      if (l.state.members.size > 0) throw nonEmpty(group, l.state.members.size, 'be deleted');
      marking = { gid: l.state.gid };
      await this.store.meta.write({
        type: 'update',
        key: groupMetaKey(group),
        set: { deleting: true },
        condition: { op: 'and', conds: [sameGroup(l.state), { op: 'eq', attr: 'member_count', value: 0 }] },
      });
      return l.state.gid;
    });
    if (gid !== null) await this.store.finishDelete(group, gid);
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
    const parts = await this.store.loadPartitions(group);
    const keys = new Set<string>();
    for (const [k, item] of parts) if (item.offset !== undefined) keys.add(k);
    const topics = new Map<string, Topic | undefined>();
    const subscribed = new Set<string>();
    for (const spec of l.state.members.values()) {
      for (const t of spec.topics) for (let p = 0; p < (l.state.partitions[t] ?? 0); p++) subscribed.add(tpKey(t, p));
    }
    for (const k of subscribed) keys.add(k);
    const sorted = [...keys].sort(cmpTp);
    // Fresh, as in committed(): a cached lookup may name a deleted incarnation.
    for (const t of new Set(sorted.map((k) => parseTp(k).topic))) topics.set(t, await this.store.engine.topics.find(t, { fresh: true }));
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
    const heads = await this.store.readHeads(listed);
    const now = this.store.clock.now();
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
        const ts = await this.store.engine
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
}
