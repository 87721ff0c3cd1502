// The group APIs: membership through the classic-protocol state machine (groups.ts), offsets
// through the HTTP API's own offset store (GroupCoordinator.commit / offsets), so a commit made
// over Kafka is what `GET /v1/groups/{g}/offsets` shows, and the other way round.
import { SamsaError } from '../errors';
import type { GroupIncarnation } from '../groups/coordinator';
import { type Api, type Context, errOf, type Session, takeTurn } from './context';
import { ErrorCode, Reader, Writer } from './protocol';
import { inParallel } from '../util/parallel';
import { isDotSegment } from '../log/topic-config';

/**
 * A group with HTTP members is managed by Samsa's own coordinator; Kafka members may not join
 * it at the same time (Kafka answers a protocol clash with INCONSISTENT_GROUP_PROTOCOL).
 */
async function httpMembers(ctx: Context, group: string): Promise<number> {
  try {
    return (await ctx.coordinator.describe(group)).members.length;
  } catch (err) {
    if (err instanceof SamsaError && (err.code === 'GROUP_ID_NOT_FOUND' || err.code === 'NOT_FOUND')) return 0;
    throw err;
  }
}

const groupAllowed = (ctx: Context, s: Session, op: 'read' | 'describe', group: string): Promise<boolean> => ctx.authorize(s, op, 'group', group);

/**
 * Waits for the connection's commits to `group` sent before this request (their places in
 * `commitOrder` are taken when their handlers start, in request order, before this one's). Kafka
 * handles a connection's requests one at a time; a request that reads the offsets (OffsetFetch)
 * or can fence the member (JoinGroup, LeaveGroup) must not overtake them: clients commit and then
 * leave on close, and a leave handled first made the commits fail with UNKNOWN_MEMBER_ID, which
 * lost the offsets the member had processed.
 */
async function afterCommits(s: Session, group: string): Promise<void> {
  const before = s.commitOrder?.get(group);
  if (before) await before;
}

/**
 * What a membership request (join, sync, heartbeat, leave) must pass first, as Kafka checks it:
 * READ on the group, then this instance coordinating it. The error code, or undefined.
 */
async function membershipRefusal(ctx: Context, s: Session, groupId: string): Promise<number | undefined> {
  if (!(await groupAllowed(ctx, s, 'read', groupId))) return ErrorCode.GROUP_AUTHORIZATION_FAILED;
  if (!(await ctx.cluster.owns(groupId))) return ErrorCode.NOT_COORDINATOR;
  return undefined;
}

// --- JoinGroup (11) -----------------------------------------------------------------------
// Request v0-5: group_id STRING, session_timeout_ms INT32, rebalance_timeout_ms INT32 (v1+),
//   member_id STRING, group_instance_id NULLABLE_STRING (v5+), protocol_type STRING,
//   protocols [name STRING, metadata BYTES]
// Response: throttle_time_ms INT32 (v2+), error_code INT16, generation_id INT32,
//   protocol_name STRING, leader STRING, member_id STRING,
//   members [member_id STRING, group_instance_id NULLABLE_STRING (v5+), metadata BYTES]
// v4+: a join without a member id is answered MEMBER_ID_REQUIRED with one, and the member is
// admitted when it joins with it (KIP-394), so a lost answer leaves no ghost member that the
// next rebalance would wait on until its session expired. v0-3 members get their id at once.
const joinGroup: Api = {
  name: 'JoinGroup',
  min: 0,
  max: 5,
  async handle(ctx, s, h, r) {
    const v = h.apiVersion;
    const groupId = r.string();
    const sessionTimeoutMs = r.int32();
    const rebalanceTimeoutMs = v >= 1 ? r.int32() : sessionTimeoutMs;
    const memberId = r.string();
    if (v >= 5) r.nullableString();
    const protocolType = r.string();
    const protocols = r.array((x) => ({ name: x.string(), metadata: x.bytes() }), 6);
    const answer = (res: { errorCode: number; generation: number; protocolName: string; leader: string; memberId: string; members: Array<{ memberId: string; metadata: Uint8Array }> }): Writer => {
      const w = new Writer();
      if (v >= 2) w.int32(0);
      w.int16(res.errorCode).int32(res.generation).string(res.protocolName).string(res.leader).string(res.memberId);
      return w.array(res.members, (x, m) => {
        x.string(m.memberId);
        if (v >= 5) x.string(null);
        x.bytes(m.metadata);
      });
    };
    const fail = (errorCode: number): Writer => answer({ errorCode, generation: -1, protocolName: '', leader: '', memberId, members: [] });
    // A re-join can start a new generation, which fences the commits sent before it.
    await afterCommits(s, groupId);
    // The client closed the connection while this join waited (a commit's write stalled past
    // its request timeout) and will re-join, if at all, from a new one: joining now, from a
    // request nobody will read the answer of, would start a generation that fences the member
    // on its new connection (a leader's re-join rebalances a Stable group), or hold a place in
    // the rebalance for a member that never syncs. A leave is still honoured (a consumer's close).
    if (s.closed) return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    // Kafka takes any non-empty id; "." and ".." no URL can carry (GROUP_ID_PATTERN), so such a
    // group could never be described, reset or deleted over HTTP.
    if (groupId === '' || isDotSegment(groupId)) return fail(ErrorCode.INVALID_GROUP_ID);
    const refused = await membershipRefusal(ctx, s, groupId);
    if (refused !== undefined) return fail(refused);
    // Marked first, then the HTTP members checked: an HTTP join racing this one sees one or
    // the other (the HTTP side checks the mark before it joins).
    await ctx.cluster.markActive(groupId);
    if ((await httpMembers(ctx, groupId)) > 0) {
      // Refused: unless Kafka members are in the group already, take the mark back, or HTTP
      // members could not join it until the next renewal cleared it.
      if (!ctx.groups.active(groupId)) await ctx.cluster.markInactive(groupId);
      return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    const res = await ctx.groups.join({ groupId, memberId, requireKnownMemberId: v >= 4, clientId: h.clientId ?? '', clientHost: s.clientHost, sessionTimeoutMs, rebalanceTimeoutMs, protocolType, protocols });
    // A refused join leaves no member: a group left without Kafka members is not Kafka-held.
    // Not for MEMBER_ID_REQUIRED, whose member joins with its id next: taking the mark back then
    // (on every v4+ first join) raced the joins of others, whose markActive found the mark still
    // set and skipped, and left the group unmarked with members in it. If the id is never used,
    // the lease renewal drops the mark of a group without members (KafkaCluster.tick).
    if (res.errorCode !== ErrorCode.NONE && res.errorCode !== ErrorCode.MEMBER_ID_REQUIRED && !ctx.groups.active(groupId)) await ctx.cluster.markInactive(groupId);
    return answer(res);
  },
};

/**
 * The topics a "consumer" protocol assignment names (ConsumerProtocolAssignment, every version:
 * version INT16, assigned_partitions [topic STRING, partitions [INT32]], user_data BYTES ...),
 * or undefined when the bytes are not one (another protocol type, a client's own format).
 */
function assignedTopics(assignment: Uint8Array): string[] | undefined {
  try {
    const r = new Reader(assignment);
    r.int16();
    return r.array((x) => {
      const topic = x.string();
      x.array((y) => y.int32(), 4);
      return topic;
    }, 6);
  } catch {
    return undefined;
  }
}

/** The most topics an assignment may name for its incarnations to be read (assignedIncarnations). */
const MAX_CHECKED_TOPICS = 10_000;

/**
 * The incarnation of each topic a leader's assignments name, read as it hands them out, so that
 * a commit of this generation can be checked against it (OffsetCommit below). Undefined when the
 * group is not a "consumer" group or names no topic.
 */
async function assignedIncarnations(
  ctx: Context,
  req: { groupId: string; memberId: string; generation: number; assignments: Array<{ assignment: Uint8Array }> },
): Promise<Map<string, string | null> | undefined> {
  // Only for the leader's SyncGroup that completes the rebalance: any other would be ignored, and
  // must not make the listener read the topics it names (a frame can name very many).
  if (req.assignments.length === 0 || !ctx.groups.awaitsAssignment(req.groupId, req.memberId, req.generation)) return undefined;
  if (ctx.groups.describe(req.groupId).protocolType !== 'consumer') return undefined;
  const topics = new Set<string>();
  for (const a of req.assignments) for (const t of assignedTopics(a.assignment) ?? []) topics.add(t);
  // Beyond MAX_CHECKED_TOPICS the group's commits go unchecked rather than the rebalance waiting
  // on that many reads.
  if (topics.size === 0 || topics.size > MAX_CHECKED_TOPICS) return undefined;
  const out = new Map<string, string | null>();
  // Read afresh (a cached lookup could still name the incarnation a re-creation just replaced),
  // 16 at a time: a group on hundreds of topics must not hold its SyncGroup for one read after
  // another.
  await inParallel([...topics], 16, async (t) => {
    try {
      out.set(t, (await ctx.engine.topics.find(t, { fresh: true }))?.id ?? null);
    } catch {
      // Not a legal topic name (the assignment is the client's), or the read failed: nothing to
      // check this topic's commits against; they are taken as they were before this check.
    }
  });
  return out;
}

/**
 * The stored group the generation a leader's SyncGroup completes belongs to (one read per
 * rebalance, none per commit): its members' commits reach the store as memberless ones, and
 * carry it so that one held up across the group's deletion and the name's re-creation does not
 * land in the new group (OffsetCommit; design note 0005). Undefined when not the leader's
 * completing SyncGroup, or when the read fails (the commits are then unchecked, as before).
 */
async function storeGroupFor(ctx: Context, req: { groupId: string; memberId: string; generation: number }): Promise<GroupIncarnation | undefined> {
  if (!ctx.groups.awaitsAssignment(req.groupId, req.memberId, req.generation)) return undefined;
  try {
    return await ctx.coordinator.incarnationOf(req.groupId);
  } catch {
    return undefined;
  }
}

// --- SyncGroup (14) -----------------------------------------------------------------------
// Request v0-3: group_id STRING, generation_id INT32, member_id STRING,
//   group_instance_id NULLABLE_STRING (v3+), assignments [member_id STRING, assignment BYTES]
// Response: throttle_time_ms INT32 (v1+), error_code INT16, assignment BYTES
const syncGroup: Api = {
  name: 'SyncGroup',
  min: 0,
  max: 3,
  async handle(ctx, s, h, r) {
    const v = h.apiVersion;
    const groupId = r.string();
    const generation = r.int32();
    const memberId = r.string();
    if (v >= 3) r.nullableString();
    const assignments = r.array((x) => ({ memberId: x.string(), assignment: x.bytes() }), 6);
    const refused = await membershipRefusal(ctx, s, groupId);
    // Only the leader sends assignments: the incarnations its assignment was made for, and the
    // stored group its commits belong to.
    const incarnations = refused === undefined ? await assignedIncarnations(ctx, { groupId, memberId, generation, assignments }) : undefined;
    const storeGroup = refused === undefined ? await storeGroupFor(ctx, { groupId, memberId, generation }) : undefined;
    const res =
      refused !== undefined
        ? { errorCode: refused, assignment: new Uint8Array(0) }
        : await ctx.groups.sync({ groupId, memberId, generation, assignments, ...(incarnations ? { incarnations } : {}), ...(storeGroup ? { storeGroup } : {}) });
    const w = new Writer();
    if (v >= 1) w.int32(0);
    return w.int16(res.errorCode).bytes(res.assignment);
  },
};

// --- Heartbeat (12) -----------------------------------------------------------------------
// Request v0-3: group_id STRING, generation_id INT32, member_id STRING, group_instance_id NULLABLE_STRING (v3+)
// Response: throttle_time_ms INT32 (v1+), error_code INT16
const heartbeat: Api = {
  name: 'Heartbeat',
  min: 0,
  max: 3,
  async handle(ctx, s, h, r) {
    const groupId = r.string();
    const generation = r.int32();
    const memberId = r.string();
    if (h.apiVersion >= 3) r.nullableString();
    const code = (await membershipRefusal(ctx, s, groupId)) ?? ctx.groups.heartbeat(groupId, memberId, generation);
    const w = new Writer();
    if (h.apiVersion >= 1) w.int32(0);
    return w.int16(code);
  },
};

// --- LeaveGroup (13) ----------------------------------------------------------------------
// Request v0-2: group_id STRING, member_id STRING
// Response: throttle_time_ms INT32 (v1+), error_code INT16
const leaveGroup: Api = {
  name: 'LeaveGroup',
  min: 0,
  max: 2,
  async handle(ctx, s, h, r) {
    const groupId = r.string();
    const memberId = r.string();
    // The member's commits sent before its leave are handled first (a consumer's close).
    await afterCommits(s, groupId);
    const code = (await membershipRefusal(ctx, s, groupId)) ?? ctx.groups.leave(groupId, memberId);
    // The last member gone: the group may change hands now (docs/kafka.md), not at the lease's
    // next renewal up to 10 s later, which answered an HTTP consumer taking over 409. A JoinGroup
    // that came in meanwhile (and skipped marking, the mark being still ours) marks it again.
    if (code === ErrorCode.NONE && !ctx.groups.active(groupId)) {
      await ctx.cluster.markInactive(groupId).catch(() => undefined); // else the next renewal clears it
      if (ctx.groups.active(groupId)) await ctx.cluster.markActive(groupId).catch(() => undefined); // else the next renewal marks it
    }
    const w = new Writer();
    if (h.apiVersion >= 1) w.int32(0);
    return w.int16(code);
  },
};

// --- OffsetCommit (8) ---------------------------------------------------------------------
// Request v2-7: group_id STRING, generation_id INT32, member_id STRING,
//   retention_time_ms INT64 (v2-4), group_instance_id NULLABLE_STRING (v7+),
//   topics [name STRING, partitions [partition_index INT32, committed_offset INT64,
//           committed_leader_epoch INT32 (v6+), committed_metadata NULLABLE_STRING]]
// Response: throttle_time_ms INT32 (v3+), topics [name STRING, partitions [partition_index INT32, error_code INT16]]
// Fenced here by the Kafka generation (groups.ts), then written as a memberless commit of the
// offset store — which the store itself refuses while the group has HTTP members, and, for a
// member's commit, when the stored group is no longer the one its generation formed with.
const offsetCommit: Api = {
  name: 'OffsetCommit',
  min: 2,
  max: 7,
  async handle(ctx, s, h, r) {
    const v = h.apiVersion;
    const groupId = r.string();
    const generation = r.int32();
    const memberId = r.string();
    if (v <= 4) r.int64();
    if (v >= 7) r.nullableString();
    const topics = r.array(
      (x) => ({
        name: x.string(),
        partitions: x.array((y) => {
          const index = y.int32();
          const offset = y.int64();
          if (v >= 6) y.int32();
          return { index, offset, metadata: y.nullableString() };
        }, 14),
      }),
      6,
    );
    // When the request arrived, on the offset store's clock (never behind an earlier arrival
    // here, whatever the wall clock does): a commit is ordered against other commits of the
    // partition by this, not by when its write lands (commitInTurn).
    const arrived = ctx.coordinator.arrivalNow();
    // This commit's place in the connection's commits to the group, taken now (handlers start
    // in request order; nothing is awaited before this): its write waits for the previous one's,
    // so pipelined commits land in request order whatever their checks' timing, as in Kafka,
    // which runs a connection's requests one at a time.
    const { prev, done } = takeTurn((s.commitOrder ??= new Map<string, Promise<void>>()), groupId);
    try {
      return await commitInTurn(ctx, s, v, { groupId, generation, memberId, arrived }, topics, prev);
    } finally {
      done();
    }
  },
};

/** OffsetCommit's checks and write, once `prev` (the connection's previous commit to the group) is written. */
async function commitInTurn(
  ctx: Context,
  s: Session,
  v: number,
  req: { groupId: string; generation: number; memberId: string; arrived: number },
  topics: Array<{ name: string; partitions: Array<{ index: number; offset: number; metadata: string | null }> }>,
  prev: Promise<void>,
): Promise<Writer> {
  const { groupId, generation, memberId } = req;
  // Checked in turn too, not only written: a commit's generation is checked after the previous
  // commit is written, as Kafka checks each request when it gets to it, so a wait for a slow
  // write does not stretch the time between this commit's fencing check and its write.
  await prev;
  let code: number = ErrorCode.NONE;
  // Topics the caller may not read answer TOPIC_AUTHORIZATION_FAILED on their own; the others
  // are committed (Kafka's rule: one refused topic does not fail the whole commit).
  const readable = new Map<string, boolean>();
  if (isDotSegment(groupId)) code = ErrorCode.INVALID_GROUP_ID; // as JoinGroup refuses it
  else if (!(await groupAllowed(ctx, s, 'read', groupId))) code = ErrorCode.GROUP_AUTHORIZATION_FAILED;
  else if (topics.length > 0) {
    for (const t of topics) if (!readable.has(t.name)) readable.set(t.name, await ctx.authorize(s, 'read', 'topic', t.name));
    // A member's commit goes to the coordinator of its generation; a standalone commit
    // (generation -1) may be written by any instance.
    code = generation >= 0 && !(await ctx.cluster.owns(groupId)) ? ErrorCode.NOT_COORDINATOR : ctx.groups.checkCommit(groupId, memberId, generation);
  }
  // Stamped together with the check (nothing awaited in between): the write that follows store
  // round trips later takes effect as if made here, so a member fenced in between cannot
  // overwrite what the partition's next owner commits (KafkaGroups.commitStamp). The stamp is
  // when the request arrived, not when its turn came: a commit that waited behind a slow one on
  // its connection does not overwrite a commit that reached the listener after it on another
  // (a client that gave up on the first connection).
  const stamp = code === ErrorCode.NONE ? ctx.groups.commitStamp(groupId, req.arrived) : req.arrived;
  // Taken with the check too: the stored group of the generation it passed for.
  const storeGroup = code === ErrorCode.NONE && generation >= 0 ? ctx.groups.storeGroupOf(groupId, generation) : undefined;
  // Offsets are JavaScript numbers here and in the store: one past 2^53 (Long.MAX_VALUE, say)
  // would be stored rounded and could not be encoded back as an INT64. Refused on its own.
  const badOffset = (p: { offset: number }): boolean => !Number.isSafeInteger(p.offset);
  const allowed = topics.filter((t) => readable.get(t.name) === true);
  // A partition that does not exist (a deleted topic, say) answers its own error; the others
  // are committed (the store refuses a whole commit that names one).
  const partErrors = new Map<object, number>();
  const ids = new Map<string, string>();
  if (code === ErrorCode.NONE) {
    for (const t of allowed) {
      for (const p of t.partitions) {
        if (badOffset(p)) partErrors.set(p, ErrorCode.INVALID_REQUEST);
        else {
          await ctx.engine.topics.partition(t.name, p.index).then(
            (topic) => void ids.set(t.name, topic.id),
            (err: unknown) => void partErrors.set(p, errOf(err)),
          );
        }
      }
    }
  }
  // A member's positions are positions in the incarnations its generation's assignment was
  // made for. If a topic was deleted and created again since, they belong to the old log:
  // stored as the new topic's offsets they would skip its first records. Refused as the HTTP
  // API refuses such a commit (ILLEGAL_GENERATION), and the group rebalances, so that the
  // members re-join and read the new topic's committed offsets (none: auto.offset.reset).
  if (code === ErrorCode.NONE && generation >= 0) {
    const moved = [...ids].some(([topic, id]) => {
      const known = ctx.groups.incarnation(groupId, generation, topic);
      return known !== undefined && known !== id;
    });
    if (moved) {
      ctx.groups.rebalance(groupId);
      code = ErrorCode.ILLEGAL_GENERATION;
    }
  }
  const offsets = allowed.flatMap((t) => t.partitions.filter((p) => !partErrors.has(p)).map((p) => ({ topic: t.name, partition: p.index, offset: p.offset, metadata: p.metadata })));
  if (code === ErrorCode.NONE && offsets.length > 0) {
    try {
      await ctx.coordinator.commit(groupId, { offsets, arrivedAt: stamp, forGeneration: generation >= 0, ...(storeGroup ? { incarnation: storeGroup } : {}) });
    } catch (err) {
      if (storeGroup && err instanceof SamsaError && err.code === 'GROUP_ID_NOT_FOUND') {
        // The stored group this generation formed with was deleted (another may hold the name):
        // refused as a generation that is over, and the group rebalances, so that the members
        // re-join a generation that belongs to the group under the name now.
        ctx.groups.rebalance(groupId);
        code = ErrorCode.ILLEGAL_GENERATION;
      } else {
        // A memberless commit is refused with ILLEGAL_GENERATION while HTTP members hold the group.
        code = err instanceof SamsaError && err.code === 'ILLEGAL_GENERATION' ? ErrorCode.INCONSISTENT_GROUP_PROTOCOL : errOf(err);
      }
    }
  }
  const w = new Writer();
  if (v >= 3) w.int32(0);
  return w.array(topics, (x, t) => {
    x.string(t.name);
    const c = code === ErrorCode.GROUP_AUTHORIZATION_FAILED || readable.get(t.name) !== false ? code : ErrorCode.TOPIC_AUTHORIZATION_FAILED;
    x.array(t.partitions, (y, p) => void y.int32(p.index).int16(c === ErrorCode.NONE ? (partErrors.get(p) ?? c) : c));
  });
}

// --- OffsetFetch (9) ----------------------------------------------------------------------
// Request v1-5: group_id STRING, topics [name STRING, partition_indexes [INT32]] (nullable = all, v2+)
// Response: throttle_time_ms INT32 (v3+), topics [name STRING, partitions [partition_index INT32,
//   committed_offset INT64, committed_leader_epoch INT32 (v5+), metadata NULLABLE_STRING,
//   error_code INT16]], error_code INT16 (v2+)
const offsetFetch: Api = {
  name: 'OffsetFetch',
  min: 1,
  max: 5,
  async handle(ctx, s, h, r) {
    const v = h.apiVersion;
    const groupId = r.string();
    const requested = r.nullableArray((x) => ({ name: x.string(), partitions: x.array((y) => y.int32(), 4) }), 6);
    // The connection's commits to the group sent before this fetch are written first, so a
    // client reads its own commits, as in Kafka.
    await afterCommits(s, groupId);
    let top: number = ErrorCode.NONE;
    let committed = new Map<string, { offset: number; metadata: string | null }>();
    if (!(await groupAllowed(ctx, s, 'describe', groupId))) top = ErrorCode.GROUP_AUTHORIZATION_FAILED;
    else {
      try {
        committed = new Map((await ctx.coordinator.committed(groupId)).map((o) => [`${o.topic}\u0000${o.partition}`, { offset: o.offset, metadata: o.metadata }]));
      } catch (err) {
        // A group that never committed has no offsets: -1 everywhere, as Kafka answers.
        if (!(err instanceof SamsaError && (err.code === 'GROUP_ID_NOT_FOUND' || err.code === 'NOT_FOUND'))) top = errOf(err);
      }
    }
    let topics: Array<{ name: string; partitions: number[] }>;
    if (requested) topics = requested;
    else {
      const byTopic = new Map<string, number[]>();
      for (const k of committed.keys()) {
        const [t, p] = k.split('\u0000') as [string, string];
        if (!byTopic.has(t)) byTopic.set(t, []);
        byTopic.get(t)!.push(Number(p));
      }
      topics = [...byTopic].map(([name, partitions]) => ({ name, partitions }));
    }
    // Topics the caller may not describe: left out of an all-topics answer, and answered
    // TOPIC_AUTHORIZATION_FAILED without their offsets when named (Kafka's rule, and what
    // GET /v1/groups/{g}/offsets filters too).
    const describable = new Map<string, boolean>();
    for (const t of topics) if (!describable.has(t.name)) describable.set(t.name, await ctx.authorize(s, 'describe', 'topic', t.name));
    if (!requested) topics = topics.filter((t) => describable.get(t.name));
    const w = new Writer();
    if (v >= 3) w.int32(0);
    w.array(topics, (x, t) => {
      x.string(t.name);
      const ok = describable.get(t.name) === true;
      x.array(t.partitions, (y, p) => {
        const c = ok ? committed.get(`${t.name}\u0000${p}`) : undefined;
        y.int32(p).int64(c && c.offset >= 0 ? c.offset : -1);
        if (v >= 5) y.int32(-1);
        y.string(c?.metadata ?? '').int16(v < 2 && top !== ErrorCode.NONE ? top : ok ? ErrorCode.NONE : ErrorCode.TOPIC_AUTHORIZATION_FAILED);
      });
    });
    if (v >= 2) w.int16(top);
    return w;
  },
};

// --- ListGroups (16) ----------------------------------------------------------------------
// Request v0-2: (empty)
// Response: throttle_time_ms INT32 (v1+), error_code INT16, groups [group_id STRING, protocol_type STRING]
// Kafka-protocol groups with members, and every group of the offset store (HTTP groups and
// Kafka groups with committed offsets but no members now) as protocol type "consumer".
const listGroups: Api = {
  name: 'ListGroups',
  min: 0,
  max: 2,
  async handle(ctx, s, h) {
    const seen = new Map<string, string>();
    let code: number = ErrorCode.NONE;
    for (const g of ctx.groups.list()) seen.set(g.groupId, g.protocolType);
    try {
      for (const g of await ctx.coordinator.list()) if (!seen.has(g.group)) seen.set(g.group, 'consumer');
    } catch (err) {
      code = errOf(err);
    }
    const visible: Array<[string, string]> = [];
    for (const e of seen) if (await groupAllowed(ctx, s, 'describe', e[0])) visible.push(e);
    const w = new Writer();
    if (h.apiVersion >= 1) w.int32(0);
    return w.int16(code).array(visible, (x, [id, type]) => void x.string(id).string(type));
  },
};

// --- DescribeGroups (15) ------------------------------------------------------------------
// Request v0-2: groups [STRING]
// Response: throttle_time_ms INT32 (v1+), groups [error_code INT16, group_id STRING,
//   group_state STRING, protocol_type STRING, protocol_data STRING,
//   members [member_id STRING, client_id STRING, client_host STRING, member_metadata BYTES, member_assignment BYTES]]
const describeGroups: Api = {
  name: 'DescribeGroups',
  min: 0,
  max: 2,
  async handle(ctx, s, h, r) {
    const ids = r.array((x) => x.string(), 2);
    const out = await Promise.all(
      ids.map(async (id) => {
        if (!(await groupAllowed(ctx, s, 'describe', id))) return { id, error: ErrorCode.GROUP_AUTHORIZATION_FAILED, d: ctx.groups.describe('') };
        const d = ctx.groups.describe(id);
        if (d.state === 'Dead' && (await httpMembers(ctx, id).catch(() => 0)) > 0) {
          // Managed by the HTTP coordinator: Kafka tools see a stable group of another protocol type.
          return { id, error: ErrorCode.NONE, d: { ...d, state: 'Stable' as const, protocolType: 'samsa-http' } };
        }
        return { id, error: ErrorCode.NONE, d };
      }),
    );
    const w = new Writer();
    if (h.apiVersion >= 1) w.int32(0);
    return w.array(out, (x, g) => {
      x.int16(g.error).string(g.id).string(g.d.state).string(g.d.protocolType).string(g.d.protocol);
      x.array(g.d.members, (y, m) => void y.string(m.memberId).string(m.clientId).string(m.clientHost).bytes(m.metadata).bytes(m.assignment));
    });
  },
};

export const groupApis: Array<[number, Api]> = [
  [8, offsetCommit],
  [9, offsetFetch],
  [11, joinGroup],
  [12, heartbeat],
  [13, leaveGroup],
  [14, syncGroup],
  [15, describeGroups],
  [16, listGroups],
];
