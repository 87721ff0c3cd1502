// The classic-protocol group state machine on its own, with fake timers: generations, leader
// election, assignment hand-out, rebalance triggers (join, leave, session expiry, rebalance
// timeout) and the generation fencing of heartbeats and commits.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EMPTY_GROUP_TTL_MS, KafkaGroups, MAX_MEMBERS_PER_GROUP } from '../../../lib/kafka/groups';
import { ErrorCode } from '../../../lib/kafka/protocol';

const proto = [{ name: 'range', metadata: Uint8Array.from([1]) }];
const join = (g: KafkaGroups, memberId = '', sessionTimeoutMs = 10_000, rebalanceTimeoutMs = 5_000) =>
  g.join({ groupId: 'g', memberId, clientId: 'c', clientHost: '127.0.0.1', sessionTimeoutMs, rebalanceTimeoutMs, protocolType: 'consumer', protocols: proto });

let groups: KafkaGroups;
beforeEach(() => {
  vi.useFakeTimers();
  groups = new KafkaGroups(() => Date.now());
});
afterEach(() => {
  groups.close();
  vi.useRealTimers();
});

describe('KafkaGroups', () => {
  it('v4+ (KIP-394): a join without an id gets MEMBER_ID_REQUIRED and an id, is admitted when it joins with it, and an id never used lapses after the session timeout', async () => {
    const known = (memberId = '') =>
      groups.join({ groupId: 'g', memberId, requireKnownMemberId: true, clientId: 'c', clientHost: '127.0.0.1', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 5_000, protocolType: 'consumer', protocols: proto });
    const first = await known();
    expect(first.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    expect(first.memberId).not.toBe('');
    // Its answer was lost: the client asks again and gets another id; the first is nobody.
    const second = await known();
    expect(second.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    expect(groups.describe('g').members).toEqual([]);
    const a = await known(second.memberId);
    expect([a.errorCode, a.memberId, a.generation]).toEqual([ErrorCode.NONE, second.memberId, 1]);
    expect(a.members.map((m) => m.memberId)).toEqual([second.memberId]);
    expect((await known('made-up')).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    await groups.sync({ groupId: 'g', memberId: a.memberId, generation: 1, assignments: [] });
    // The unused id lapses with its session timeout; until then it could still join.
    vi.advanceTimersByTime(5_000);
    expect(groups.heartbeat('g', a.memberId, 1)).toBe(ErrorCode.NONE);
    vi.advanceTimersByTime(5_600);
    expect(groups.heartbeat('g', a.memberId, 1)).toBe(ErrorCode.NONE);
    expect((await known(first.memberId)).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it('v4+ (KIP-394): an id given by a group Empty for almost EMPTY_GROUP_TTL_MS still admits its member: the group is not forgotten with the id pending', async () => {
    const known = (memberId = '') =>
      groups.join({ groupId: 'g', memberId, requireKnownMemberId: true, clientId: 'c', clientHost: '127.0.0.1', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 5_000, protocolType: 'consumer', protocols: proto });
    const a = await join(groups);
    await groups.sync({ groupId: 'g', memberId: a.memberId, generation: 1, assignments: [] });
    expect(groups.leave('g', a.memberId)).toBe(ErrorCode.NONE);
    expect(groups.describe('g').state).toBe('Empty');
    // The consumers come back just before the empty group would be forgotten.
    vi.advanceTimersByTime(EMPTY_GROUP_TTL_MS - 200);
    const given = await known();
    expect(given.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    // The client joins with its id at once (a second later at most), well within its session.
    vi.advanceTimersByTime(1_000);
    const b = await known(given.memberId);
    expect([b.errorCode, b.memberId]).toEqual([ErrorCode.NONE, given.memberId]);
    // The group's generation went on, as an empty group's does (stale commits stay fenced).
    expect(b.generation).toBe(2);
  });

  it('the first member completes a generation alone and leads; its assignment reaches it through SyncGroup', async () => {
    const a = await join(groups);
    expect(a.errorCode).toBe(ErrorCode.NONE);
    expect(a.generation).toBe(1);
    expect(a.leader).toBe(a.memberId);
    expect(a.members.map((m) => m.memberId)).toEqual([a.memberId]);
    const s = await groups.sync({ groupId: 'g', memberId: a.memberId, generation: 1, assignments: [{ memberId: a.memberId, assignment: Uint8Array.from([9]) }] });
    expect(s).toEqual({ errorCode: ErrorCode.NONE, assignment: Uint8Array.from([9]) });
    expect(groups.describe('g').state).toBe('Stable');
  });

  it('a second member triggers a rebalance: the first learns by heartbeat, re-joins, and both get generation 2 with one leader', async () => {
    const a = await join(groups);
    await groups.sync({ groupId: 'g', memberId: a.memberId, generation: 1, assignments: [] });
    const bJoin = join(groups);
    expect(groups.heartbeat('g', a.memberId, 1)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    const a2 = await join(groups, a.memberId);
    const b = await bJoin;
    expect([a2.generation, b.generation]).toEqual([2, 2]);
    expect(a2.leader).toBe(a.memberId);
    expect(a2.members).toHaveLength(2);
    expect(b.members).toHaveLength(0); // only the leader sees the members
    // The follower's SyncGroup waits for the leader's assignment.
    const bSync = groups.sync({ groupId: 'g', memberId: b.memberId, generation: 2, assignments: [] });
    await groups.sync({ groupId: 'g', memberId: a.memberId, generation: 2, assignments: [{ memberId: b.memberId, assignment: Uint8Array.from([2]) }] });
    expect((await bSync).assignment).toEqual(Uint8Array.from([2]));
    // The old generation is fenced.
    expect(groups.heartbeat('g', a.memberId, 1)).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(groups.checkCommit('g', a.memberId, 1)).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(groups.checkCommit('g', a.memberId, 2)).toBe(ErrorCode.NONE);
    expect(groups.checkCommit('g', 'nobody', 2)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    // A standalone commit (generation -1) is refused while the group has members.
    expect(groups.checkCommit('g', '', -1)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it("a follower re-joining a Stable group with the same protocols gets the current generation and its assignment, without a rebalance (Kafka's rule); the leader's re-join or changed protocols rebalance", async () => {
    const a = await join(groups);
    await groups.sync({ groupId: 'g', memberId: a.memberId, generation: 1, assignments: [] });
    const bJoin = join(groups);
    await join(groups, a.memberId);
    const b = await bJoin;
    const bSync = groups.sync({ groupId: 'g', memberId: b.memberId, generation: 2, assignments: [] });
    await groups.sync({ groupId: 'g', memberId: a.memberId, generation: 2, assignments: [{ memberId: b.memberId, assignment: Uint8Array.from([7]) }] });
    await bSync;
    // The follower re-joins (a client that lost a heartbeat's answer, say): answered at once,
    // same generation, and its SyncGroup hands back its assignment; the leader is not disturbed.
    const againP = join(groups, b.memberId);
    expect(groups.describe('g').state).toBe('Stable');
    const again = await againP;
    expect([again.errorCode, again.generation, again.leader, again.memberId, again.members]).toEqual([ErrorCode.NONE, 2, a.memberId, b.memberId, []]);
    expect(groups.heartbeat('g', a.memberId, 2)).toBe(ErrorCode.NONE);
    expect(await groups.sync({ groupId: 'g', memberId: b.memberId, generation: 2, assignments: [] })).toEqual({ errorCode: ErrorCode.NONE, assignment: Uint8Array.from([7]) });
    // Changed protocol metadata (a new subscription) rebalances.
    const changed = groups.join({ groupId: 'g', memberId: b.memberId, clientId: 'c', clientHost: '127.0.0.1', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 5_000, protocolType: 'consumer', protocols: [{ name: 'range', metadata: Uint8Array.from([2]) }] });
    expect(groups.heartbeat('g', a.memberId, 2)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    const a3 = await join(groups, a.memberId);
    expect([(await changed).generation, a3.generation]).toEqual([3, 3]);
    await groups.sync({ groupId: 'g', memberId: a.memberId, generation: 3, assignments: [] });
    // The leader's re-join rebalances (it may have seen new metadata to assign).
    const leaderAgain = join(groups, a.memberId);
    expect(groups.heartbeat('g', b.memberId, 3)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    join(groups, b.memberId).catch(() => undefined);
    expect((await leaderAgain).generation).toBe(4);
  });

  it("a member re-joining while the assignment is being handed out, with the protocols it joined with (its JoinGroup answer was lost), gets that generation's answer again, and the others' SyncGroups are not failed (Kafka's rule)", async () => {
    const a = await join(groups);
    await groups.sync({ groupId: 'g', memberId: a.memberId, generation: 1, assignments: [] });
    const bJoin = join(groups);
    await join(groups, a.memberId);
    const b = await bJoin;
    expect(groups.describe('g').state).toBe('CompletingRebalance');
    // The follower syncs and waits for the leader's assignment.
    const bSync = groups.sync({ groupId: 'g', memberId: b.memberId, generation: 2, assignments: [] });
    // The leader's JoinGroup answer was lost: it joins again with its id and the same protocols.
    const againP = join(groups, a.memberId);
    expect(groups.describe('g').state, 'no new rebalance').toBe('CompletingRebalance');
    const again = await againP;
    expect([again.errorCode, again.generation, again.leader, again.memberId]).toEqual([ErrorCode.NONE, 2, a.memberId, a.memberId]);
    expect(again.members.map((m) => m.memberId).sort()).toEqual([a.memberId, b.memberId].sort());
    // It assigns from that answer; the follower waiting all along gets its assignment.
    await groups.sync({ groupId: 'g', memberId: a.memberId, generation: 2, assignments: [{ memberId: b.memberId, assignment: Uint8Array.from([5]) }] });
    expect(await bSync).toEqual({ errorCode: ErrorCode.NONE, assignment: Uint8Array.from([5]) });
    // A follower's re-join in that state gets the answer without the members.
    const [c] = await Promise.all([join(groups), join(groups, a.memberId), join(groups, b.memberId)]);
    const bAgainP = join(groups, b.memberId);
    expect(groups.describe('g').state, 'no new rebalance').toBe('CompletingRebalance');
    const bAgain = await bAgainP;
    expect([bAgain.errorCode, bAgain.generation, bAgain.members]).toEqual([ErrorCode.NONE, c.generation, []]);
    // Changed protocols in that state rebalance, as in Kafka.
    const changed = groups.join({ groupId: 'g', memberId: c.memberId, clientId: 'c', clientHost: '127.0.0.1', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 5_000, protocolType: 'consumer', protocols: [{ name: 'range', metadata: Uint8Array.from([2]) }] });
    expect(groups.describe('g').state).toBe('PreparingRebalance');
    join(groups, a.memberId).catch(() => undefined);
    join(groups, b.memberId).catch(() => undefined);
    expect((await changed).generation).toBe(c.generation + 1);
  });

  it('a member that does not re-join within the rebalance timeout is dropped and the others go on', async () => {
    const a = await join(groups);
    await groups.sync({ groupId: 'g', memberId: a.memberId, generation: 1, assignments: [] });
    const bJoin = join(groups);
    // a never re-joins (it is stuck): after the rebalance timeout b completes alone.
    await vi.advanceTimersByTimeAsync(5_001);
    const b = await bJoin;
    expect(b.errorCode).toBe(ErrorCode.NONE);
    expect(b.leader).toBe(b.memberId);
    expect(groups.heartbeat('g', a.memberId, b.generation)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it('a member silent for its session timeout is expelled, and the group rebalances', async () => {
    const a = await join(groups, '', 3_000);
    await groups.sync({ groupId: 'g', memberId: a.memberId, generation: 1, assignments: [] });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(groups.heartbeat('g', a.memberId, 1)).toBe(ErrorCode.NONE);
    await vi.advanceTimersByTimeAsync(3_600);
    expect(groups.heartbeat('g', a.memberId, 1)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect(groups.describe('g').state).toBe('Empty');
    expect(groups.active('g')).toBe(false);
  });

  it('leaving empties the group, which keeps its generation (stale commits stay fenced)', async () => {
    const a = await join(groups);
    expect(groups.leave('g', a.memberId)).toBe(ErrorCode.NONE);
    expect(groups.leave('g', a.memberId)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    const b = await join(groups);
    expect(b.generation).toBe(2);
  });

  it('refuses a member whose protocols share none with the group, a bad session timeout, an unknown member id', async () => {
    await join(groups);
    const other = await groups.join({ groupId: 'g', memberId: '', clientId: 'c', clientHost: '', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 5_000, protocolType: 'consumer', protocols: [{ name: 'roundrobin', metadata: new Uint8Array(0) }] });
    expect(other.errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect((await join(groups, '', 10)).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
    expect((await join(groups, 'made-up')).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it('memory is bounded: members per group are capped, and an Empty group is forgotten after a while', async () => {
    const joins = Array.from({ length: MAX_MEMBERS_PER_GROUP }, () => join(groups));
    expect((await join(groups)).errorCode).toBe(ErrorCode.GROUP_MAX_SIZE_REACHED);
    // The first member completed generation 1 alone and never re-joins: the rebalance timeout
    // drops it and completes the others.
    await vi.advanceTimersByTimeAsync(5_001);
    const results = await Promise.all(joins);
    for (const r of results) groups.leave('g', r.memberId);
    expect(groups.describe('g').state).toBe('Empty');
    expect(groups.size).toBe(1);
    await vi.advanceTimersByTimeAsync(EMPTY_GROUP_TTL_MS + 1_000);
    expect(groups.size).toBe(0);
    // A member of the forgotten group cannot commit into a new one.
    const fresh = await join(groups);
    expect(groups.checkCommit('g', results[0]!.memberId, fresh.generation)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });
});
