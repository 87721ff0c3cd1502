// Consumer-group routes (docs/http-api.md, "Consumer groups"). Thin: validation and rendering here, every
// decision in lib/groups/coordinator.ts. Mounted through createApp's `extend` by every entry
// point (bin/serve.ts, the Lambda handler), so embedded and AWS mode serve the same routes.
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ASSIGNORS, type AssignorName, tpKey } from '../groups/assignors';
import { type CoordinatorOptions, GroupCoordinator, MEMBER_ID_PATTERN, SESSION_TIMEOUT } from '../groups/coordinator';
import { SamsaError } from '../errors';
import type { LogEngine } from '../log/engine';
import { MAX_PARTITIONS } from '../log/topic-config';
import { jsonDecodedBudget, recordToJson } from './format';
import { jsonResultBytes, recordsThatFit, type RuntimeLimits, tooLargeForResult, waitWithin } from './limits';
import { ErrorBody, FetchedRecord, intParam } from './schemas';

export interface GroupRouteDeps {
  engine: LogEngine;
  /** A coordinator to share (tests); otherwise one is made over the engine's metadata store. */
  coordinator?: GroupCoordinator;
  options?: CoordinatorOptions;
  /** Longest server-side wait of a poll where the front cuts requests short (API Gateway: 25 s). */
  maxWaitMs?: number;
  /** Per request: the time it has left (Lambda: the invocation's, less a margin); bounds wait_ms. */
  waitBudgetMs?: (c: Context) => number | undefined;
  /**
   * What the response can carry where the runtime bounds it (a buffered Lambda): a poll keeps
   * the records whose rendering fits, and its positions continue at the first one left out.
   */
  response?: Pick<RuntimeLimits, 'kind' | 'maxJsonResponseBytes' | 'bodyInResult'>;
  /**
   * Throws while Kafka-protocol members hold the group (lib/kafka/cluster.ts): refuses an HTTP
   * join, resets and deletions (as NON_EMPTY_GROUP) and memberless commits (as ILLEGAL_GENERATION).
   */
  beforeJoin?: (group: string) => Promise<void>;
  /** The groups Kafka-protocol members hold, for the list (lib/kafka/cluster.ts kafkaHeldGroups). */
  kafkaHeldGroups?: () => Promise<Set<string>>;
}

// --- schemas ----------------------------------------------------------------------------------

const GroupName = z.string().openapi({ param: { name: 'group', in: 'path' }, example: 'billing' });
// Member ids are keys of stored items: bounded and plain, whether chosen by the server or the client.
const MemberId = z
  .string()
  .regex(MEMBER_ID_PATTERN, 'member ids are 1-128 characters of [A-Za-z0-9._-]');
const MemberIdParam = MemberId.openapi({ param: { name: 'member_id', in: 'path' } });
const GroupParam = z.object({ group: GroupName });
const MemberParams = z.object({ group: GroupName, member_id: MemberIdParam });

const TopicPartition = z.object({ topic: z.string(), partition: z.number().int() }).openapi('TopicPartition');
const Generation = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Offset = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const assignorNames = Object.keys(ASSIGNORS) as [AssignorName, ...AssignorName[]];

const JoinBody = z
  .object({
    topics: z.array(z.string().min(1).max(249)).min(1).max(1000),
    session_timeout_ms: z.number().int().min(SESSION_TIMEOUT.min).max(SESSION_TIMEOUT.max).optional().openapi({ description: `Default ${SESSION_TIMEOUT.default}.` }),
    auto_offset_reset: z.enum(['earliest', 'latest']).optional().openapi({ description: 'Where to start a partition the group has no committed offset for (default earliest).' }),
    member_id: MemberId.optional().openapi({ description: 'Rejoin (or join with a client-chosen id, as KIP-848 allows); 1-128 characters of [A-Za-z0-9._-].' }),
    assignor: z.enum(assignorNames).optional().openapi({ description: 'Assignment strategy, chosen by the first member of an empty group (default sticky).' }),
  })
  .openapi('JoinGroup');

const JoinResponse = z
  .object({ member_id: z.string(), generation: z.number().int(), assignment: z.array(TopicPartition), heartbeat_interval_ms: z.number().int() })
  .openapi('JoinGroupResponse');

const HeartbeatBody = z.object({ generation: Generation.openapi({ description: 'The generation of the assignment the member holds.' }) }).openapi('Heartbeat');
const HeartbeatResponse = z.object({ generation: z.number().int(), assignment: z.array(TopicPartition) }).openapi('HeartbeatResponse');

// Query lists stay well inside URL limits (Node's 16 KiB header budget); a member with more to
// acknowledge commits with POST /offsets.
const MAX_LIST_CHARS = 8192;
const positionList = (name: string, description: string) =>
  z
    .string()
    .max(MAX_LIST_CHARS)
    .regex(/^([A-Za-z0-9._-]+:\d{1,10}:\d{1,16})(,[A-Za-z0-9._-]+:\d{1,10}:\d{1,16})*$/, `${name} is a comma-separated list of topic:partition:offset`)
    .optional()
    .openapi({ param: { name, in: 'query' }, description });

function parsePositions(list: string): Array<{ topic: string; partition: number; offset: number }> {
  return list.split(',').map((e) => {
    const [topic, partition, offset] = e.split(':') as [string, string, string];
    return { topic, partition: Number(partition), offset: Number(offset) };
  });
}

const boolParam = (name: string, description: string) =>
  z
    .enum(['true', 'false', '1', '0'])
    .transform((v) => v === 'true' || v === '1')
    .optional()
    .openapi({ param: { name, in: 'query' }, description, type: 'boolean' });

const PollQuery = z.object({
  max_records: intParam('max_records', 1, 10000, 'At most this many records (default 500).'),
  max_bytes: intParam('max_bytes', 1, 64 * 1024 * 1024, 'About this many bytes of keys and values (default 1 MiB); at least one record.'),
  wait_ms: intParam('wait_ms', 0, 60000, 'When no assigned partition has records, wait up to this long for one to (default 0).'),
  key_format: z.enum(['string', 'json', 'base64']).optional().openapi({ param: { name: 'key_format', in: 'query' } }),
  value_format: z.enum(['json', 'string', 'base64']).optional().openapi({ param: { name: 'value_format', in: 'query' } }),
  generation: z.coerce
    .number()
    .int()
    .min(0)
    .max(Number.MAX_SAFE_INTEGER)
    .optional()
    .openapi({ param: { name: 'generation', in: 'query' }, description: 'The generation of the poll whose records `ack` covers (the `generation` it answered). Required with `ack`. With `from`, the generation its positions follow: entries for a topic deleted and re-created since are ignored.', type: 'integer' }),
  ack: positionList('ack', 'Positions this member has processed, committed before reading: `topic:partition:offset` entries (offset = last processed + 1), comma-separated. The only way a poll commits: records are committed once acknowledged, never because they were sent, so a lost response is redelivered. Acks for partitions the member no longer holds (or lost and got back since `generation`) are ignored; the response lists the ones committed.'),
  from: positionList('from', 'Read these partitions from these offsets instead of the committed ones (`topic:partition:offset`, comma-separated): the member’s own positions after a seek, ahead of its commits, or simply where it is — a poll whose `from` covers every partition and that acks nothing does not read the committed offsets at all (cheaper). With `generation`, entries for a topic re-created since that generation are ignored.'),
  paused: z
    .string()
    .max(MAX_LIST_CHARS)
    .regex(/^([A-Za-z0-9._-]+:\d{1,10})(,[A-Za-z0-9._-]+:\d{1,10})*$/, 'paused is a comma-separated list of topic:partition')
    .optional()
    .openapi({ param: { name: 'paused', in: 'query' }, description: 'Partitions not to read this time (`topic:partition`, comma-separated).' }),
  auto_commit: boolParam('auto_commit', 'Ignored; kept so older clients are not refused. A poll never commits what it sends — acknowledge with `ack` or commit explicitly.'),
});

// A fetched record (the fetch route's schema) plus where it came from.
const PolledRecord = FetchedRecord.extend({ topic: z.string(), partition: z.number().int() })
  .openapi('GroupRecord');
const PollPosition = z
  .object({
    topic: z.string(),
    partition: z.number().int(),
    offset: z.number().int().openapi({ description: 'Where this poll started reading.' }),
    next_offset: z.number().int().openapi({ description: 'Where reading continues after the records returned.' }),
    high_watermark: z.number().int(),
  })
  .openapi('GroupPollPosition');
const PollResponse = z
  .object({
    records: z.array(PolledRecord),
    generation: z.number().int().openapi({ description: 'Pass it back as `generation` with the `ack` of these records.' }),
    assignment: z.array(TopicPartition),
    committed: z.array(z.object({ topic: z.string(), partition: z.number().int(), offset: z.number().int() })).openapi({ description: 'The acks of this request that were committed.' }),
    positions: z.array(PollPosition).openapi({ description: 'Every partition read by this poll.' }),
  })
  .openapi('GroupPollResponse');

const CommitEntry = z.object({
  topic: z.string().min(1),
  partition: z.number().int().min(0),
  offset: Offset.openapi({ description: 'The next offset to read (last processed + 1), as in Kafka.' }),
  metadata: z.string().nullable().optional(),
});
const CommitBody = z
  .object({ member_id: MemberId.optional(), generation: Generation.optional(), offsets: z.array(CommitEntry).min(1).max(10000) })
  .openapi('CommitOffsets');
const CommitResponse = z
  .object({ offsets: z.array(CommitEntry.extend({ metadata: z.string().nullable() })) })
  .openapi('CommitOffsetsResponse');

const OffsetRow = z
  .object({
    topic: z.string(),
    partition: z.number().int(),
    offset: z.number().int().openapi({ description: 'Committed offset; -1 when none.' }),
    metadata: z.string().nullable(),
    high_watermark: z.number().int(),
    log_start_offset: z.number().int(),
    lag: z.number().int().openapi({ description: 'high_watermark − offset; with no committed offset, high_watermark − log_start_offset.' }),
    lag_ms: z.number().int().openapi({ description: 'Age of the oldest record the group has not consumed, in ms; 0 when caught up.' }),
    expiry_risk: z.boolean().openapi({
      description:
        'True when retention deletes (or has deleted) a record before the group consumes it: the committed offset is below the log start, or the oldest unconsumed record has less time left under retention.ms than the group has gone without committing.',
    }),
  })
  .openapi('GroupOffset');
const DeleteOffsetsBody = z
  .object({
    topic: z.string().min(1).max(249),
    partitions: z.array(z.number().int().min(0)).min(1).max(10000).optional().openapi({ description: 'Only these partitions (default: every partition with an offset).' }),
  })
  .openapi('DeleteOffsets');
const DeleteOffsetsResponse = z.object({ deleted: z.array(TopicPartition) }).openapi('DeletedOffsets');
const OffsetsResponse = z.object({ group: z.string(), offsets: z.array(OffsetRow), lag: z.number().int() }).openapi('GroupOffsets');

const GroupState = z.enum(['Empty', 'Stable', 'Reconciling']);
const GroupList = z
  .object({
    groups: z.array(
      z.object({
        group: z.string(),
        state: GroupState,
        generation: z.number().int(),
        members: z.number().int(),
        kafka_members: z.literal(true).optional().openapi({ description: 'Present while Kafka-protocol members hold the group (as in GET /v1/groups/{group}): state and members are not theirs.' }),
      }),
    ),
  })
  .openapi('GroupList');
const GroupDescription = z
  .object({
    group: z.string(),
    state: GroupState,
    generation: z.number().int(),
    assignor: z.string(),
    members: z.array(
      z.object({
        member_id: z.string(),
        state: z.string(),
        topics: z.array(z.string()),
        session_timeout_ms: z.number().int(),
        assignment: z.array(TopicPartition),
      }),
    ),
    lag: z.number().int(),
    kafka_members: z.literal(true).optional().openapi({
      description:
        'Present while Kafka-protocol members hold the group through the Kafka listener (docs/kafka.md): their membership lives there (DescribeGroups, kafka-consumer-groups --describe), not in state, generation and members, and the group takes no HTTP member, reset or memberless commit meanwhile.',
    }),
  })
  .openapi('GroupDescription');

const ResetBody = z
  .object({
    topic: z.string().min(1),
    to: z.union([
      z.enum(['earliest', 'latest']),
      z.object({ timestamp: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }).strict(),
      z.object({ offset: Offset }).strict(),
      z
        .object({ offsets: z.array(z.object({ partition: z.number().int().min(0), offset: Offset }).strict()).min(1).max(MAX_PARTITIONS) })
        .strict()
        .openapi({ description: 'The listed partitions each to its own offset (kafka-consumer-groups --from-file); the others keep theirs.' }),
    ]),
  })
  .openapi('ResetOffsets');
const ResetResponse = z.object({ offsets: z.array(z.object({ topic: z.string(), partition: z.number().int(), offset: z.number().int() })) }).openapi('ResetOffsetsResponse');

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const err = (status: number, description: string) => ({ [status]: { description, content: { 'application/json': { schema: ErrorBody } } } });
const body = <T extends z.ZodType>(schema: T) => ({ body: { required: true, content: { 'application/json': { schema } } } });

// --- routes -----------------------------------------------------------------------------------

export function mountGroupRoutes(app: OpenAPIHono, deps: GroupRouteDeps): GroupCoordinator {
  const groups = deps.coordinator ?? new GroupCoordinator(deps.engine.meta, deps.engine, deps.options);
  const tags = ['consumer groups'];
  /**
   * Resets and deletions wait until a group has no members — Kafka-protocol members too, which
   * the coordinator does not see (they live in the listener): deleting the offsets under them
   * makes their next rebalance start over at auto.offset.reset, and their commits undo a reset.
   */
  const kafkaHeld = async (group: string): Promise<boolean> => {
    try {
      await deps.beforeJoin?.(group);
      return false;
    } catch (err) {
      if (!(err instanceof SamsaError && err.code === 'INCONSISTENT_GROUP_PROTOCOL')) throw err;
      return true;
    }
  };
  const refuseKafkaMembers = async (group: string, what: string): Promise<void> => {
    try {
      await deps.beforeJoin?.(group);
    } catch (err) {
      if (!(err instanceof SamsaError && err.code === 'INCONSISTENT_GROUP_PROTOCOL')) throw err;
      throw new SamsaError('NON_EMPTY_GROUP', `group "${group}" has Kafka-protocol members; it can only ${what} once they leave or expire`, { group });
    }
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/groups/{group}/members',
      tags,
      summary: 'Join a group (or rejoin with member_id)',
      description: 'The service computes the assignment (sticky by default). Partitions move cooperatively: a partition reaches its new owner only after its old owner acknowledged losing it (heartbeat or poll), so heartbeat every heartbeat_interval_ms and use the latest assignment.',
      request: { params: GroupParam, ...body(JoinBody) },
      responses: { 200: json(JoinResponse, 'Joined'), ...err(400, 'INVALID_REQUEST'), ...err(404, 'UNKNOWN_TOPIC_OR_PARTITION'), ...err(409, 'INCONSISTENT_GROUP_PROTOCOL') },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const group = c.req.valid('param').group;
      await deps.beforeJoin?.(group);
      const r = await groups.join(group, {
        topics: b.topics,
        ...(b.session_timeout_ms !== undefined ? { sessionTimeoutMs: b.session_timeout_ms } : {}),
        ...(b.auto_offset_reset !== undefined ? { autoOffsetReset: b.auto_offset_reset } : {}),
        ...(b.member_id !== undefined ? { memberId: b.member_id } : {}),
        ...(b.assignor !== undefined ? { assignor: b.assignor } : {}),
      });
      // Checked again once joined: a Kafka JoinGroup marks the group and then looks for HTTP
      // members, so with both sides writing before they read, one of two racing joins sees the
      // other. The check before the join alone let both in.
      if (deps.beforeJoin) {
        try {
          await deps.beforeJoin(group);
        } catch (err) {
          await groups.leave(group, r.memberId).catch(() => undefined);
          throw err;
        }
      }
      return c.json({ member_id: r.memberId, generation: r.generation, assignment: r.assignment, heartbeat_interval_ms: r.heartbeatIntervalMs }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/groups/{group}/members/{member_id}/heartbeat',
      tags,
      summary: 'Heartbeat: stay in the group and receive the current assignment',
      request: { params: MemberParams, ...body(HeartbeatBody) },
      responses: { 200: json(HeartbeatResponse, 'Current generation and this member’s assignment'), ...err(404, 'UNKNOWN_MEMBER_ID: expelled after its session timeout, or left'), ...err(409, 'ILLEGAL_GENERATION: a generation the group never had') },
    }),
    async (c) => {
      const { group, member_id } = c.req.valid('param');
      return c.json(await groups.heartbeat(group, member_id, c.req.valid('json').generation), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/groups/{group}/members/{member_id}',
      tags,
      summary: 'Leave the group (its partitions are reassigned at once)',
      request: { params: MemberParams },
      responses: { 204: { description: 'Left' }, ...err(404, 'UNKNOWN_MEMBER_ID') },
    }),
    async (c) => {
      const { group, member_id } = c.req.valid('param');
      await groups.leave(group, member_id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/groups/{group}/members/{member_id}/records',
      tags,
      summary: 'Poll records from the member’s partitions',
      description:
        'One request for all the member’s partitions: starts at the group’s committed offsets (or auto_offset_reset, or `from`), and with wait_ms waits for whichever partition gets data first. At-least-once: the poll first commits the positions listed in `ack` — what the member has processed — and nothing else, so records whose response was lost come again. A poll also counts as a heartbeat and acknowledges the generation it answers.',
      request: { params: MemberParams, query: PollQuery },
      responses: { 200: json(PollResponse, 'Records'), ...err(400, 'INVALID_REQUEST'), ...err(404, 'UNKNOWN_MEMBER_ID') },
    }),
    async (c) => {
      const { group, member_id } = c.req.valid('param');
      const q = c.req.valid('query');
      const r = await groups.poll(group, member_id, {
        ...(q.max_records !== undefined ? { maxRecords: q.max_records } : {}),
        ...(q.max_bytes !== undefined ? { maxBytes: q.max_bytes } : {}),
        // Rendered as JSON: decode at most what a JSON fetch decodes (docs/limits.md).
        maxDecodedBytes: jsonDecodedBudget(q.max_bytes ?? 1024 * 1024),
        ...(q.wait_ms !== undefined ? { waitMs: waitWithin(q.wait_ms, deps.maxWaitMs, deps.waitBudgetMs?.(c)) } : {}),
        ...(q.ack !== undefined ? { acks: parsePositions(q.ack) } : {}),
        ...(q.generation !== undefined ? { ackGeneration: q.generation, fromGeneration: q.generation } : {}),
        ...(q.from !== undefined ? { from: new Map(parsePositions(q.from).map((p) => [tpKey(p.topic, p.partition), p.offset])) } : {}),
        ...(q.paused !== undefined ? { paused: new Set(q.paused.split(',').map((e) => tpKey(e.slice(0, e.lastIndexOf(':')), Number(e.slice(e.lastIndexOf(':') + 1))))) } : {}),
        signal: c.req.raw.signal,
      });
      const kf = q.key_format ?? 'string';
      const vf = q.value_format ?? 'json';
      let records = r.records.map((rec) => ({ topic: rec.topic, partition: rec.partition, ...recordToJson(rec, kf, vf) }));
      const committed = r.committed.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset }));
      let positions = r.positions;
      // Rendered JSON can outgrow what the poller decoded (escapes, base64) and, in a buffered
      // Lambda, the result it travels in: keep the records that fit (always the first); each
      // partition with records left out continues at the first of them. The poll is stateless
      // (the member sends acks and `from`), so nothing is skipped.
      const room = deps.response?.maxJsonResponseBytes;
      // What the body carries besides the records: tens of bytes per assigned partition, so
      // hundreds of KB for a member of a thousand partitions. (Clamping only lowers next_offset.)
      const envelope = room === undefined ? 0 : 256 + jsonResultBytes(JSON.stringify({ generation: r.generation, assignment: r.assignment, committed, positions }), deps.response!);
      const fit = recordsThatFit(records, envelope, deps.response ?? {});
      if (fit.firstTooLarge !== undefined) {
        const { topic, partition, offset } = records[0]!;
        throw tooLargeForResult(`the record at ${topic}/${partition} offset ${offset}`, { topic, partition, offset }, fit.firstTooLarge, room!, deps.response!);
      }
      if (fit.keep < records.length) {
        const resume = new Map<string, number>();
        for (const rec of r.records.slice(fit.keep)) {
          const key = tpKey(rec.topic, rec.partition);
          if (!resume.has(key)) resume.set(key, rec.offset);
        }
        positions = positions.map((p) => {
          const at = resume.get(tpKey(p.topic, p.partition));
          return at === undefined ? p : { ...p, next_offset: at };
        });
        records = records.slice(0, fit.keep);
        c.header('x-samsa-clamped', `max_bytes=${q.max_bytes ?? 1024 * 1024}; runtime=${deps.response!.kind}`);
      }
      return c.json({ records, generation: r.generation, assignment: r.assignment, committed, positions }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/groups/{group}/offsets',
      tags,
      summary: 'Commit offsets (fenced by member, generation and ownership)',
      description: 'With member_id and generation: accepted only for the current generation and partitions the member owns. Without member_id: accepted only while the group has no members.',
      request: { params: GroupParam, ...body(CommitBody) },
      responses: {
        200: json(CommitResponse, 'Committed'),
        ...err(400, 'INVALID_REQUEST'),
        ...err(404, 'UNKNOWN_MEMBER_ID, UNKNOWN_TOPIC_OR_PARTITION'),
        ...err(409, 'ILLEGAL_GENERATION: stale generation, partition not owned, or memberless commit to a group with members'),
      },
    }),
    async (c) => {
      const b = c.req.valid('json');
      // A memberless commit under live Kafka members would move the offsets their next
      // rebalance starts from (records read again, or skipped): refused as under HTTP members,
      // and as Kafka refuses a generation -1 commit to a group with members. The listener's own
      // commits go to the coordinator, not through this route.
      if (b.member_id === undefined && deps.beforeJoin) {
        try {
          await deps.beforeJoin(c.req.valid('param').group);
        } catch (err) {
          if (!(err instanceof SamsaError && err.code === 'INCONSISTENT_GROUP_PROTOCOL')) throw err;
          const group = c.req.valid('param').group;
          throw new SamsaError('ILLEGAL_GENERATION', `group "${group}" has Kafka-protocol members; only they may commit its offsets (through the Kafka listener), or anyone once they leave or expire`, { group });
        }
      }
      const offsets = await groups.commit(c.req.valid('param').group, {
        ...(b.member_id !== undefined ? { memberId: b.member_id } : {}),
        ...(b.generation !== undefined ? { generation: b.generation } : {}),
        offsets: b.offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, metadata: o.metadata ?? null })),
      });
      return c.json({ offsets: offsets.map((o) => ({ ...o, metadata: o.metadata ?? null })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/groups/{group}/offsets',
      tags,
      summary: 'Committed offsets and lag per partition',
      request: { params: GroupParam },
      responses: { 200: json(OffsetsResponse, 'Offsets'), ...err(404, 'GROUP_ID_NOT_FOUND') },
    }),
    async (c) => {
      const group = c.req.valid('param').group;
      // A group Kafka members joined reaches the offset store with its first commit: until then
      // it exists, with nothing committed, rather than not at all.
      const offsets = await groups.offsets(group).catch(async (err: unknown) => {
        if (err instanceof SamsaError && err.code === 'GROUP_ID_NOT_FOUND' && (await kafkaHeld(group))) return [];
        throw err;
      });
      return c.json({ group, offsets, lag: offsets.reduce((a, o) => a + o.lag, 0) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/groups/{group}/offsets/reset',
      tags,
      summary: 'Reset a topic’s committed offsets (only while the group has no members)',
      request: { params: GroupParam, ...body(ResetBody) },
      responses: { 200: json(ResetResponse, 'New offsets'), ...err(400, 'INVALID_REQUEST'), ...err(404, 'UNKNOWN_TOPIC_OR_PARTITION'), ...err(409, 'NON_EMPTY_GROUP') },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const to = typeof b.to === 'string' ? b.to : 'timestamp' in b.to ? { timestamp: b.to.timestamp } : 'offsets' in b.to ? { offsets: b.to.offsets } : { offset: b.to.offset };
      await refuseKafkaMembers(c.req.valid('param').group, 'reset its offsets');
      return c.json({ offsets: await groups.resetOffsets(c.req.valid('param').group, b.topic, to) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/groups/{group}/offsets',
      tags,
      summary: 'Delete a topic’s committed offsets (Kafka’s OffsetDelete; not while a member subscribes to it)',
      request: { params: GroupParam, ...body(DeleteOffsetsBody) },
      responses: { 200: json(DeleteOffsetsResponse, 'Deleted'), ...err(400, 'INVALID_REQUEST'), ...err(409, 'NON_EMPTY_GROUP') },
    }),
    async (c) => {
      const b = c.req.valid('json');
      await refuseKafkaMembers(c.req.valid('param').group, 'have its offsets deleted');
      const deleted = await groups.deleteOffsets(c.req.valid('param').group, b.topic, b.partitions);
      return c.json({ deleted }, 200);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/v1/groups', tags, summary: 'List groups', responses: { 200: json(GroupList, 'Groups') } }),
    async (c) => {
      const [list, held] = await Promise.all([groups.list(), deps.kafkaHeldGroups?.() ?? Promise.resolve(new Set<string>())]);
      return c.json({ groups: list.map((g) => (held.has(g.group) ? { ...g, kafka_members: true as const } : g)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/groups/{group}',
      tags,
      summary: 'Describe a group: state, generation, members and their assignments, total lag',
      request: { params: GroupParam },
      responses: { 200: json(GroupDescription, 'Group'), ...err(404, 'GROUP_ID_NOT_FOUND') },
    }),
    // authz sets which topics the caller may describe where it checks ACLs (lib/http/authz.ts).
    async (c) => {
      const group = c.req.valid('param').group;
      // Kafka members are not the coordinator's: without this the group read as Empty with no
      // members while they consumed (and a reset looked possible), or, before their first
      // commit brought it to the offset store, as not found.
      let held: boolean | undefined;
      const d = await groups.describe(group, c.get('describableTopic' as never) as ((topic: string) => boolean) | undefined).catch(async (err: unknown) => {
        if (err instanceof SamsaError && err.code === 'GROUP_ID_NOT_FOUND' && (held = await kafkaHeld(group))) return { group, state: 'Empty' as const, generation: 0, assignor: '', members: [], lag: 0 };
        throw err;
      });
      return c.json((held ?? (await kafkaHeld(group))) ? { ...d, kafka_members: true as const } : d, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/groups/{group}',
      tags,
      summary: 'Delete a group and its committed offsets (only when it has no members)',
      request: { params: GroupParam },
      responses: { 204: { description: 'Deleted' }, ...err(404, 'GROUP_ID_NOT_FOUND'), ...err(409, 'NON_EMPTY_GROUP') },
    }),
    async (c) => {
      await refuseKafkaMembers(c.req.valid('param').group, 'be deleted');
      await groups.deleteGroup(c.req.valid('param').group);
      return c.body(null, 204);
    },
  );

  return groups;
}

