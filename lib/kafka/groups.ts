// Kafka's classic group protocol (JoinGroup/SyncGroup/Heartbeat/LeaveGroup, client-side
// assignment) as an explicit state machine. Samsa's own coordinator (lib/groups) assigns on the
// server and cannot carry a protocol whose assignment is opaque bytes chosen by a member, so the
// membership lives here; committed offsets do NOT: they go through GroupCoordinator.commit, the
// same offset items `GET /v1/groups/{g}/offsets` reads, as a memberless commit. That commit is
// refused while HTTP members are in the group, which is the mixed-protocol rule (docs/kafka.md):
// a group is either HTTP-managed or Kafka-managed at any one time.
//
// Membership is kept in this process's memory: every member must reach the same listener
// (FindCoordinator names this node). See docs/kafka.md for what that means with two instances.
//
// States (Kafka's GroupCoordinator):
//   Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance
//   CompletingRebalance ──leader's SyncGroup──▶ Stable ──join / leave / expiry──▶ PreparingRebalance
import { randomUUID } from 'node:crypto';
import type { GroupIncarnation } from '../groups/coordinator';
import { ErrorCode } from './protocol';

export type GroupStateName = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

export interface Protocol {
  name: string;
  metadata: Uint8Array;
}

interface Member {
  id: string;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: Protocol[];
  assignment: Uint8Array;
  lastSeen: number;
  join?: (r: JoinResult) => void;
  sync?: (r: SyncResult) => void;
}

export interface JoinResult {
  errorCode: number;
  generation: number;
  protocolName: string;
  leader: string;
  memberId: string;
  members: Array<{ memberId: string; metadata: Uint8Array }>;
}

export interface SyncResult {
  errorCode: number;
  assignment: Uint8Array;
}

class Group {
  state: GroupStateName = 'Empty';
  generation = 0;
  protocolType = '';
  protocol = '';
  leader = '';
  members = new Map<string, Member>();
  /**
   * Member ids handed out in a MEMBER_ID_REQUIRED answer (KIP-394) and not yet joined with,
   * with when each lapses (its session timeout after it was given).
   */
  pending = new Map<string, number>();
  /**
   * The incarnation id (null: no such topic) of each topic the current generation's assignment
   * names, read when the leader's SyncGroup handed it out: the positions members hold in this
   * generation are positions in those incarnations (see `incarnation`).
   */
  incarnations: ReadonlyMap<string, string | null> | undefined;
  /**
   * The stored group the current generation's commits belong to, read when the leader's
   * SyncGroup handed the assignment out (see `storeGroup`); undefined when not known.
   */
  storeGroup: GroupIncarnation | undefined;
  rebalanceTimer: NodeJS.Timeout | undefined;
  /** The latest `committed_at` stamp given to a commit of this group (commitStamp). */
  lastStamp = 0;
  /** The least stamp a commit of the current generation gets: above every earlier generation's. */
  stampFloor = 0;
  /** When the group last became Empty (pruning). */
  emptySince = 0;
  constructor(readonly id: string) {}
}

/** The same protocols, in the same order of preference, with the same metadata bytes. */
function sameProtocols(a: readonly Protocol[], b: readonly Protocol[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i]!.name && Buffer.compare(p.metadata, b[i]!.metadata) === 0);
}

const SESSION_MIN_MS = 1000;
/** Members one group may hold (memory bound; Kafka's group.max.size is unbounded by default). */
export const MAX_MEMBERS_PER_GROUP = 1000;
/**
 * An Empty group is forgotten after this long. Safe for fencing: a commit must also name a
 * member the group knows, and member ids are random, so no member of a forgotten group can
 * commit into a new one; the committed offsets live in the offset store, not here.
 */
export const EMPTY_GROUP_TTL_MS = 10 * 60 * 1000;
const SESSION_MAX_MS = 30 * 60 * 1000;

export class KafkaGroups {
  private readonly groups = new Map<string, Group>();
  private readonly sweeper: NodeJS.Timeout;

  /** `now` measures durations only (sessions, empty-group pruning): monotonic, so a step of the wall clock expels nobody. */
  constructor(private readonly now: () => number = () => performance.now()) {
    // Session expiry: a member silent for its session timeout leaves, and the others rebalance.
    this.sweeper = setInterval(() => this.expire(), 500);
    this.sweeper.unref();
  }

  /** Set by close(): joins and syncs that reach the groups afterwards are answered at once. */
  private closed = false;

  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const g of this.groups.values()) {
      if (g.rebalanceTimer) clearTimeout(g.rebalanceTimer);
      for (const m of g.members.values()) {
        m.join?.({ errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, generation: -1, protocolName: '', leader: '', memberId: m.id, members: [] });
        m.sync?.({ errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, assignment: new Uint8Array(0) });
      }
    }
  }

  /** Whether Kafka members are in the group right now (the HTTP side's mixed-protocol check). */
  active(groupId: string): boolean {
    return (this.groups.get(groupId)?.members.size ?? 0) > 0;
  }

  /**
   * `requireKnownMemberId` (JoinGroup v4+, KIP-394): a join without a member id is answered
   * MEMBER_ID_REQUIRED with a new id, and the member is admitted only when it joins with that id.
   * A lost answer then leaves no member behind for the next rebalance to wait on (the id lapses
   * after the session timeout), where a member admitted at once would be a ghost that holds every
   * rebalance until its session expires.
   */
  join(
    req: { groupId: string; memberId: string; requireKnownMemberId?: boolean } & Pick<Member, 'clientId' | 'clientHost' | 'sessionTimeoutMs' | 'rebalanceTimeoutMs' | 'protocolType' | 'protocols'>,
  ): Promise<JoinResult> {
    const fail = (errorCode: number, memberId = req.memberId): Promise<JoinResult> => Promise.resolve({ errorCode, generation: -1, protocolName: '', leader: '', memberId, members: [] });
    // Closing (the listener drains): a join that started before the close (after a quota wait,
    // say) would park in a rebalance nobody completes, as the joins close() answered would have.
    if (this.closed) return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (req.sessionTimeoutMs < SESSION_MIN_MS || req.sessionTimeoutMs > SESSION_MAX_MS) return fail(ErrorCode.INVALID_SESSION_TIMEOUT);
    if (req.protocols.length === 0 || req.protocolType === '') return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    const g = this.group(req.groupId);
    let m = req.memberId === '' ? undefined : g.members.get(req.memberId);
    const given = !m && g.pending.has(req.memberId);
    if (req.memberId !== '' && !m && !given) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    // Every member must share the protocol type and at least one protocol with the group.
    if (g.members.size > 0 && (req.protocolType !== g.protocolType || !this.commonProtocol(g, req.protocols))) {
      return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    if (!m) {
      if (g.members.size + g.pending.size - (given ? 1 : 0) >= MAX_MEMBERS_PER_GROUP) return fail(ErrorCode.GROUP_MAX_SIZE_REACHED);
      if (!given && req.requireKnownMemberId) {
        const id = `${req.clientId || 'member'}-${randomUUID()}`;
        g.pending.set(id, this.now() + req.sessionTimeoutMs);
        return fail(ErrorCode.MEMBER_ID_REQUIRED, id);
      }
      g.pending.delete(req.memberId);
      m = {
        id: given ? req.memberId : `${req.clientId || 'member'}-${randomUUID()}`,
        clientId: req.clientId,
        clientHost: req.clientHost,
        sessionTimeoutMs: req.sessionTimeoutMs,
        rebalanceTimeoutMs: req.rebalanceTimeoutMs,
        protocolType: req.protocolType,
        protocols: req.protocols,
        assignment: new Uint8Array(0),
        lastSeen: this.now(),
      };
      g.members.set(m.id, m);
    } else {
      // Kafka's rule: a follower re-joining a Stable group with the protocols it joined with (a
      // client that lost an answer, or restarted its poll loop) gets the current generation at
      // once, and its SyncGroup its assignment; only the leader's re-join (it may have new
      // metadata to assign from) or changed protocols (a new subscription) rebalance the group.
      if (g.state === 'Stable' && m.id !== g.leader && req.protocolType === g.protocolType && sameProtocols(m.protocols, req.protocols)) {
        m.sessionTimeoutMs = req.sessionTimeoutMs;
        m.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
        m.lastSeen = this.now();
        return Promise.resolve({ errorCode: ErrorCode.NONE, generation: g.generation, protocolName: g.protocol, leader: g.leader, memberId: m.id, members: [] });
      }
      // Kafka's rule while the assignment is being handed out: a member re-joining with the
      // protocols it joined with (its JoinGroup answer was lost) gets this generation's answer
      // again, the leader with the members to assign to. A new rebalance would fail the
      // SyncGroups the others wait in and make every member join once more.
      if (g.state === 'CompletingRebalance' && req.protocolType === g.protocolType && sameProtocols(m.protocols, req.protocols)) {
        m.sessionTimeoutMs = req.sessionTimeoutMs;
        m.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
        m.lastSeen = this.now();
        return Promise.resolve({ errorCode: ErrorCode.NONE, generation: g.generation, protocolName: g.protocol, leader: g.leader, memberId: m.id, members: m.id === g.leader ? this.memberMetadata(g) : [] });
      }
      m.protocols = req.protocols;
      m.sessionTimeoutMs = req.sessionTimeoutMs;
      m.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
      m.lastSeen = this.now();
      // A member re-joining while its earlier join is still parked answers the old one first.
      m.join?.({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID, generation: -1, protocolName: '', leader: '', memberId: m.id, members: [] });
    }
    g.protocolType = req.protocolType;
    const member = m;
    const result = new Promise<JoinResult>((resolve) => (member.join = resolve));
    if (g.state !== 'PreparingRebalance') this.prepareRebalance(g);
    this.maybeCompleteJoin(g);
    return result;
  }

  sync(req: {
    groupId: string;
    memberId: string;
    generation: number;
    assignments: Array<{ memberId: string; assignment: Uint8Array }>;
    /** The incarnations of the topics the leader's assignments name, when known (group-apis.ts). */
    incarnations?: ReadonlyMap<string, string | null>;
    /** The stored group this generation's commits belong to, when known (group-apis.ts). */
    storeGroup?: GroupIncarnation;
  }): Promise<SyncResult> {
    const empty = new Uint8Array(0);
    const g = this.groups.get(req.groupId);
    const m = g?.members.get(req.memberId);
    if (!g || !m) return Promise.resolve({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID, assignment: empty });
    // Closing: a follower's SyncGroup would wait for a leader's that can no longer be started.
    if (this.closed) return Promise.resolve({ errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, assignment: empty });
    if (req.generation !== g.generation) return Promise.resolve({ errorCode: ErrorCode.ILLEGAL_GENERATION, assignment: empty });
    if (g.state === 'PreparingRebalance') return Promise.resolve({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, assignment: empty });
    m.lastSeen = this.now();
    if (g.state === 'Stable') return Promise.resolve({ errorCode: ErrorCode.NONE, assignment: m.assignment });
    const result = new Promise<SyncResult>((resolve) => (m.sync = resolve));
    if (req.memberId === g.leader) {
      const given = new Map(req.assignments.map((a) => [a.memberId, a.assignment]));
      for (const x of g.members.values()) {
        x.assignment = given.get(x.id) ?? empty;
        const done = x.sync;
        x.sync = undefined;
        // Its session runs again from the answer (it could not heartbeat while it waited).
        if (done) x.lastSeen = this.now();
        done?.({ errorCode: ErrorCode.NONE, assignment: x.assignment });
      }
      g.state = 'Stable';
      g.incarnations = req.incarnations;
      g.storeGroup = req.storeGroup;
    }
    return result;
  }

  /**
   * The stored group (GroupCoordinator.incarnationOf) `generation`'s commits belong to, or
   * undefined when not known: another generation, or a read that failed. Commits are memberless
   * at the store, which cannot tell them from a commit of a group created under the name since:
   * they carry this instead (OffsetCommit).
   */
  storeGroupOf(groupId: string, generation: number): GroupIncarnation | undefined {
    const g = this.groups.get(groupId);
    return g && g.generation === generation && g.state === 'Stable' ? g.storeGroup : undefined;
  }

  heartbeat(groupId: string, memberId: string, generation: number): number {
    const g = this.groups.get(groupId);
    const m = g?.members.get(memberId);
    if (!g || !m) return ErrorCode.UNKNOWN_MEMBER_ID;
    m.lastSeen = this.now();
    if (generation !== g.generation) return ErrorCode.ILLEGAL_GENERATION;
    if (g.state === 'PreparingRebalance') return ErrorCode.REBALANCE_IN_PROGRESS;
    return ErrorCode.NONE;
  }

  leave(groupId: string, memberId: string): number {
    const g = this.groups.get(groupId);
    if (!g || !g.members.has(memberId)) return ErrorCode.UNKNOWN_MEMBER_ID;
    this.remove(g, memberId);
    return ErrorCode.NONE;
  }

  /**
   * Fencing for OffsetCommit: a commit with a generation must come from a member of that
   * generation (Kafka: ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS while the
   * assignment is being handed out). Generation -1 is a standalone commit (no group membership):
   * accepted while the group has no members; otherwise, as in Kafka, UNKNOWN_MEMBER_ID without a
   * member id, and a member's own fencing with one.
   */
  checkCommit(groupId: string, memberId: string, generation: number): number {
    const g = this.groups.get(groupId);
    if (generation < 0 && (!g || g.members.size === 0)) return ErrorCode.NONE;
    const m = g?.members.get(memberId);
    if (!g || !m) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (generation !== g.generation) return ErrorCode.ILLEGAL_GENERATION;
    if (g.state === 'CompletingRebalance') return ErrorCode.REBALANCE_IN_PROGRESS;
    m.lastSeen = this.now();
    return ErrorCode.NONE;
  }

  /**
   * The `committed_at` a commit that checkCommit just passed is written with (design note 0005,
   * "Late commits": the offset store drops a write of a partition that a commit stamped later has
   * moved). `arrived` is when its request reached the listener, on the offset store's wall clock.
   * Call it right after the check, with nothing awaited in between.
   *
   * This is what makes the check and the write one step. Membership lives here, in memory; the
   * write lands a store round trip or more later, and a member may be fenced in between (its
   * session expires, the partition goes to another member, who commits). The new owner's commits
   * are checked in a later generation, so they arrived after this one was checked, and are
   * stamped later: should this write land after one of them, its condition fails and it is
   * dropped, as if it had been written when it was checked, before the rebalance. Kafka's
   * coordinator checks and appends a commit under the group lock, which orders it the same way.
   * A stamp of a later generation is above every stamp given in an earlier one, even when two
   * fall in the same millisecond or the wall clock stepped back in between.
   */
  commitStamp(groupId: string, arrived: number): number {
    const g = this.groups.get(groupId);
    if (!g) return arrived;
    const at = Math.max(arrived, g.stampFloor);
    g.lastStamp = Math.max(g.lastStamp, at);
    return at;
  }

  /** Whether a SyncGroup of this member and generation is the leader's handing out the assignment now. */
  awaitsAssignment(groupId: string, memberId: string, generation: number): boolean {
    const g = this.groups.get(groupId);
    return g !== undefined && g.state === 'CompletingRebalance' && g.generation === generation && g.leader === memberId && g.members.has(memberId);
  }

  /**
   * The incarnation id `topic` had when `generation`'s assignment was handed out (null: it did
   * not exist), or undefined when not known: another generation, an assignment that does not
   * name the topic, or one that could not be read.
   */
  incarnation(groupId: string, generation: number, topic: string): string | null | undefined {
    const g = this.groups.get(groupId);
    if (!g || g.generation !== generation) return undefined;
    return g.incarnations?.get(topic);
  }

  /**
   * Starts a rebalance of a group whose assignment is out of date (a topic it names was deleted
   * and created again): its members' heartbeats answer REBALANCE_IN_PROGRESS and they re-join,
   * as after a member joins or leaves.
   */
  rebalance(groupId: string): void {
    const g = this.groups.get(groupId);
    if (g && g.members.size > 0 && (g.state === 'Stable' || g.state === 'CompletingRebalance')) this.prepareRebalance(g);
  }

  describe(groupId: string): {
    state: GroupStateName;
    protocolType: string;
    protocol: string;
    members: Array<{ memberId: string; clientId: string; clientHost: string; metadata: Uint8Array; assignment: Uint8Array }>;
  } {
    const g = this.groups.get(groupId);
    if (!g) return { state: 'Dead', protocolType: '', protocol: '', members: [] };
    return {
      state: g.state,
      protocolType: g.protocolType,
      protocol: g.state === 'Stable' || g.state === 'CompletingRebalance' ? g.protocol : '',
      members: [...g.members.values()].map((m) => ({
        memberId: m.id,
        clientId: m.clientId,
        clientHost: m.clientHost,
        metadata: m.protocols.find((p) => p.name === g.protocol)?.metadata ?? new Uint8Array(0),
        assignment: m.assignment,
      })),
    };
  }

  list(): Array<{ groupId: string; protocolType: string }> {
    return [...this.groups.values()].filter((g) => g.members.size > 0).map((g) => ({ groupId: g.id, protocolType: g.protocolType }));
  }

  private group(id: string): Group {
    let g = this.groups.get(id);
    if (!g) {
      this.groups.set(id, (g = new Group(id)));
      g.emptySince = this.now();
    }
    return g;
  }

  /** Groups held in memory (tests: pruning). */
  get size(): number {
    return this.groups.size;
  }

  private commonProtocol(g: Group, offered: Protocol[]): boolean {
    const names = new Set(offered.map((p) => p.name));
    return [...g.members.values()].every((m) => m.protocols.some((p) => names.has(p.name)));
  }

  private prepareRebalance(g: Group): void {
    g.state = 'PreparingRebalance';
    // Members still waiting on SyncGroup of the old generation must re-join.
    for (const m of g.members.values()) {
      const s = m.sync;
      m.sync = undefined;
      if (s) m.lastSeen = this.now();
      s?.({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, assignment: new Uint8Array(0) });
    }
    if (g.rebalanceTimer) clearTimeout(g.rebalanceTimer);
    // Members that have not re-joined within the rebalance timeout are dropped (Kafka's rule).
    const timeout = Math.max(...[...g.members.values()].map((m) => m.rebalanceTimeoutMs), 1000);
    g.rebalanceTimer = setTimeout(() => {
      g.rebalanceTimer = undefined;
      for (const m of [...g.members.values()]) if (!m.join) g.members.delete(m.id);
      this.maybeCompleteJoin(g);
    }, timeout);
    g.rebalanceTimer.unref();
  }

  private maybeCompleteJoin(g: Group): void {
    if (g.state !== 'PreparingRebalance') return;
    const members = [...g.members.values()];
    if (members.length === 0) {
      this.toEmpty(g);
      return;
    }
    if (members.some((m) => !m.join)) return;
    if (g.rebalanceTimer) clearTimeout(g.rebalanceTimer);
    g.rebalanceTimer = undefined;
    g.generation++;
    g.incarnations = undefined;
    // Commits of this generation are ordered after every commit checked before it (commitStamp).
    if (g.lastStamp > 0) g.stampFloor = g.lastStamp + 1;
    g.state = 'CompletingRebalance';
    if (!g.members.has(g.leader)) g.leader = members[0]!.id;
    const leader = g.members.get(g.leader)!;
    // The leader's most preferred protocol that every member supports.
    g.protocol = leader.protocols.find((p) => members.every((m) => m.protocols.some((q) => q.name === p.name)))?.name ?? leader.protocols[0]!.name;
    for (const m of members) {
      const done = m.join!;
      m.join = undefined;
      m.lastSeen = this.now();
      done({
        errorCode: ErrorCode.NONE,
        generation: g.generation,
        protocolName: g.protocol,
        leader: g.leader,
        memberId: m.id,
        members: m.id === g.leader ? this.memberMetadata(g) : [],
      });
    }
  }

  /** What the leader's JoinGroup answer lists: every member with its metadata for the chosen protocol. */
  private memberMetadata(g: Group): JoinResult['members'] {
    return [...g.members.values()].map((x) => ({ memberId: x.id, metadata: x.protocols.find((p) => p.name === g.protocol)?.metadata ?? new Uint8Array(0) }));
  }

  private remove(g: Group, memberId: string): void {
    const m = g.members.get(memberId);
    if (!m) return;
    g.members.delete(memberId);
    m.join?.({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID, generation: -1, protocolName: '', leader: '', memberId, members: [] });
    m.sync?.({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID, assignment: new Uint8Array(0) });
    if (g.members.size === 0) this.toEmpty(g);
    else if (g.state === 'PreparingRebalance') this.maybeCompleteJoin(g);
    else this.prepareRebalance(g);
  }

  private toEmpty(g: Group): void {
    if (g.rebalanceTimer) clearTimeout(g.rebalanceTimer);
    g.rebalanceTimer = undefined;
    g.state = 'Empty';
    g.emptySince = this.now();
    // The generation survives an empty group, as Kafka's does, so stale commits stay fenced.
    g.leader = '';
  }

  private expire(): void {
    const now = this.now();
    for (const g of [...this.groups.values()]) {
      for (const [id, until] of [...g.pending]) if (now > until) g.pending.delete(id);
      // Not while an id it gave (MEMBER_ID_REQUIRED) is pending: its member's join with it would
      // find no such id in a new group. Forgotten once the last one lapses (a session at most).
      if (g.state === 'Empty' && g.members.size === 0 && g.pending.size === 0 && now - g.emptySince > EMPTY_GROUP_TTL_MS) {
        this.groups.delete(g.id);
        continue;
      }
      for (const m of [...g.members.values()]) {
        // A member parked in JoinGroup or SyncGroup is waiting on us, not silent (Kafka keeps
        // members awaiting sync alive; its session restarts when the answer goes out).
        if (!m.join && !m.sync && now - m.lastSeen > m.sessionTimeoutMs) this.remove(g, m.id);
      }
    }
  }
}
