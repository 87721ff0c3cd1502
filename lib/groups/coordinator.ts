// The group coordinator: consumer groups kept entirely in the metadata store, so any instance
// serves any member and a restart loses nothing (docs/design/0005-consumer-groups.md). Every
// request loads the group (one query), expels members whose heartbeat version this instance
// has watched go stale for their session timeout, takes one cooperative step towards the
// assignor's target when one is possible, and writes with conditions so that concurrent
// instances serialise on the group's generation. Ownership changes only with the generation, so
// offset commits are fenced by a check on the generation in the same transaction as the write.
// The poll commits only what the member acknowledges (at-least-once), never what it sends.
//
// This file holds membership (join, heartbeat, leave) and offset commits, on the group store
// (store.ts: load, conditional writes, cooperative steps); the poll is in poll.ts, the admin
// calls in admin.ts, the stored items in items.ts. The class is the one face routes and tests use.
import { randomUUID } from 'node:crypto';
import { ConditionFailedError, SamsaError } from '../errors';
import type { LogEngine } from '../log/engine';
import { groupMetaKey } from '../log/keys';
import type { MetaStore } from '../storage/ports';
import { GroupAdmin } from './admin';
import { tpKey } from './assignors';
import { commitOp, committedAfter, notCommittedAfter, sameGroup } from './items';
import { transition } from './lifecycle';
import { GroupPoller } from './poll';
import type { MemberSpec } from './reconcile';
import { GroupStore } from './store';
import {
  assignmentOf,
  checkGroupName,
  chunks,
  type CoordinatorOptions,
  type GroupDescription,
  holds,
  type JoinRequest,
  type JoinResult,
  MEMBER_ID,
  type Mutation,
  type OffsetCommit,
  type OffsetInfo,
  type PollOptions,
  type PollResult,
  type ResetTarget,
  SESSION_TIMEOUT,
  token,
  type TopicPartition,
} from './types';

export {
  type CoordinatorOptions,
  type GroupDescription,
  holds,
  type JoinRequest,
  type JoinResult,
  MEMBER_ID_PATTERN,
  type OffsetCommit,
  type OffsetInfo,
  type OffsetReset,
  type PolledRecord,
  type PollOptions,
  type PollPosition,
  type PollResult,
  type ResetTarget,
  SESSION_TIMEOUT,
  type TopicPartition,
} from './types';

/**
 * The stored group a Kafka generation's commits belong to: the one of `gid` (undefined: an item
 * older than the field), or, none existing when the generation formed, the one its first commit
 * creates with the id `create`.
 */
export type GroupIncarnation = { gid: string | undefined } | { create: string };

export class GroupCoordinator extends GroupStore {
  private readonly poller = new GroupPoller(this);
  private readonly admin = new GroupAdmin(this);

  constructor(meta: MetaStore, engine: LogEngine, opts: CoordinatorOptions = {}) {
    super(meta, engine, opts);
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

  /**
   * `arrivedAt`: when the request reached the caller, as `arrivalNow` stamps it, if it came in
   * before this call (the Kafka listener's OffsetCommit, checked and looked up first); else now.
   */
  /**
   * `forGeneration`: a Kafka member's commit, whose generation the listener checked — its
   * offsets are positions in the incarnations that generation's assignment was made for (the
   * listener refuses it if a topic moved on), not in the topic now under the name.
   * `incarnation`: the stored group that generation's commits belong to (incarnationOf, read
   * when it formed); a commit that finds another, or none where one was, is refused
   * GROUP_ID_NOT_FOUND — checked on the load every commit makes, and in its write (sameGroup).
   */
  async commit(
    group: string,
    req: { memberId?: string; generation?: number; offsets: OffsetCommit[]; arrivedAt?: number; forGeneration?: boolean; incarnation?: GroupIncarnation },
  ): Promise<OffsetCommit[]> {
    // When this request arrived (design note 0005, "Late commits"): its writes are conditional
    // on no later commit of the same partition having landed first. Else a process paused (or
    // a storage call delayed) past the client's timeout, after which the client committed again
    // elsewhere, would move the offset back when it resumes. Read before anything that waits on
    // the store (the topic lookups): a commit stalled there is still the one that came first.
    const arrived = req.arrivedAt ?? this.arrivalNow();
    checkGroupName(group);
    let ids = await this.validateOffsets(req.offsets);
    const fence = notCommittedAfter(arrived);
    let raced = false;
    // A commit without a member (HTTP without member_id, a Kafka OffsetCommit of generation -1:
    // kafka-consumer-groups --reset-offsets, assign()-mode consumers) names the topic now under
    // the name. Its ids come from the cached, eventually consistent lookup, which for up to a
    // second may still name a topic another process deleted and created again: stored under
    // that id, the commit was answered 200 and then not there. Its write checks each topic's id
    // (an item of the transaction it makes anyway, no read); refused, the lookup is confirmed
    // strongly and the commit made again.
    const confirm = req.memberId === undefined && req.forGeneration !== true;
    let relook = false;
    return this.run(group, async (l) => {
      if (relook) {
        for (const [name, id] of ids) this.engine.topics.forgetDeleted({ name, id });
        ids = await this.validateOffsets(req.offsets);
        relook = false;
      }
      const limit = this.meta.limits.maxTransactItems - 2;
      // After a lost race on that condition: the partitions a later commit moved are left to it
      // (this commit happened before that one, which overwrote it).
      let offsets = req.offsets;
      if (raced) {
        const parts = await this.loadPartitions(group);
        offsets = offsets.filter((o) => !committedAfter(parts.get(tpKey(o.topic, o.partition)), arrived));
      }
      const write = async (run: () => Promise<void>): Promise<void> => {
        try {
          await run();
        } catch (err) {
          if (err instanceof ConditionFailedError) {
            raced = true;
            relook = confirm;
          }
          throw err;
        }
      };
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
        // The topic was deleted and re-created since this generation's assignment: the offsets
        // are positions in the old log, and would skip the new one's first records. The group
        // moves to a generation that knows the new incarnation; the member polls it again.
        const moved = req.offsets.find((o) => {
          const known = l.state.incarnations?.[o.topic];
          return known !== undefined && known.id !== ids.get(o.topic);
        });
        if (moved) {
          const state = await this.writeGroup(group, l, { freshTopics: true });
          throw new SamsaError(
            'ILLEGAL_GENERATION',
            `topic "${moved.topic}" was deleted and re-created since generation ${l.state.generation}; its offsets there belong to the old topic (group "${group}" is now at generation ${state.generation})`,
            { group, topic: moved.topic, generation: state.generation },
          );
        }
        // Fencing, atomically with each write: the generation has not moved. Ownership changes
        // only with the generation, so the member still owns (or is giving up, and may still
        // commit) every partition it held in the generation just read.
        for (const chunk of chunks(offsets, limit)) {
          await write(() =>
            this.meta.transact([
              { type: 'check', key: groupMetaKey(group), condition: sameGroup(l.state) },
              ...chunk.map((o) => commitOp(group, o, ids.get(o.topic)!, arrived, fence)),
            ]),
          );
        }
      } else {
        if (l.state.members.size > 0) {
          throw new SamsaError('ILLEGAL_GENERATION', `group "${group}" has ${l.state.members.size} member(s); only a member may commit (with member_id and generation)`, { group });
        }
        // A Kafka member's commit, memberless here: the group its generation formed with is
        // still the one under the name. Held up (a paused process, a slow store call, the retry
        // after its write lost to a deletion) while the member left, the group was deleted and
        // the name joined again, it landed in the new group, whose consumer then started at the
        // old member's position.
        const inc = req.incarnation;
        if (inc !== undefined && ('create' in inc ? l.exists && l.state.gid !== inc.create : !l.exists || l.state.gid !== inc.gid)) {
          throw new SamsaError('GROUP_ID_NOT_FOUND', `group "${group}" was deleted since this member's generation formed; its commit belongs to that group`, { group });
        }
        if (offsets.length > 0) {
          const writes = offsets.map((o) => ({ topic: o.topic, op: commitOp(group, o, ids.get(o.topic)!, arrived, fence) }));
          await write(() => this.writeMemberless(group, l, writes, confirm ? ids : undefined, inc !== undefined && 'create' in inc ? inc.create : undefined));
        }
      }
      return req.offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, metadata: o.metadata ?? null }));
    });
  }

  /**
   * The stored group a Kafka generation forming now belongs to (one strongly consistent read):
   * the one under the name, or, with none there (or one being deleted), the one its first
   * commit creates, with an id chosen here so that every member's commit names the same.
   */
  async incarnationOf(group: string): Promise<GroupIncarnation> {
    checkGroupName(group);
    const item = await this.meta.get(groupMetaKey(group));
    if (item === undefined || item['deleting'] === true) return { create: token() };
    return { gid: typeof item['gid'] === 'string' ? item['gid'] : undefined };
  }

  // --- poll and admin (poll.ts, admin.ts) --------------------------------------------------------

  poll(group: string, memberId: string, opts: PollOptions = {}): Promise<PollResult> {
    return this.poller.poll(group, memberId, opts);
  }

  offsets(group: string): Promise<OffsetInfo[]> {
    return this.admin.offsets(group);
  }

  /** Committed offsets alone, without heads or lag (Kafka's OffsetFetch): GroupAdmin.committed. */
  committed(group: string): Promise<Array<TopicPartition & { offset: number; metadata: string | null }>> {
    return this.admin.committed(group);
  }

  resetOffsets(group: string, topic: string, to: ResetTarget): Promise<Array<TopicPartition & { offset: number }>> {
    return this.admin.resetOffsets(group, topic, to);
  }

  deleteOffsets(group: string, topic: string, partitions?: number[]): Promise<TopicPartition[]> {
    return this.admin.deleteOffsets(group, topic, partitions);
  }

  /** `visible`: the topics the caller may describe (GroupAdmin.describe). */
  describe(group: string, visible?: (topic: string) => boolean): Promise<GroupDescription> {
    return this.admin.describe(group, visible);
  }

  list(): Promise<Array<{ group: string; state: GroupDescription['state']; generation: number; members: number }>> {
    return this.admin.list();
  }

  deleteGroup(group: string): Promise<void> {
    return this.admin.deleteGroup(group);
  }
}
