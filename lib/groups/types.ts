// The consumer-group vocabulary shared by the coordinator's parts (lib/groups/store.ts,
// poll.ts, admin.ts, coordinator.ts) and the HTTP routes: request and result types, limits,
// and the small checks and errors every part raises the same way.
import { randomBytes } from 'node:crypto';
import { SamsaError } from '../errors';
import { GROUP_ID_PATTERN, MEMBER_ID_PATTERN } from '../log/topic-config';
import type { DecodedRecord } from '../records';
import type { Clock } from '../util/clock';
import { type AssignorName, cmpTp, parseTp } from './assignors';
import type { OffsetCommit, OffsetReset } from './items';
import type { MemberState } from './lifecycle';
import type { GroupState, MemberSpec } from './reconcile';

export type { OffsetCommit, OffsetReset } from './items';


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
/**
 * Where a reset moves a topic's offsets: every partition to its log start or end, to a time, or
 * to one offset; or the listed partitions each to its own offset (kafka-consumer-groups
 * --from-file), as a preview computed them.
 */
export type ResetTarget = 'earliest' | 'latest' | { timestamp: number } | { offset: number } | { offsets: Array<{ partition: number; offset: number }> };

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

export interface PolledRecord extends DecodedRecord {
  topic: string;
  partition: number;
}

export interface PollOptions {
  maxRecords?: number;
  maxBytes?: number;
  /**
   * Stop decoding records once the poll holds this many decoded bytes (default maxBytes); at
   * least one record is returned. The HTTP route renders JSON, so it bounds this as a JSON
   * fetch does (docs/limits.md): stored batches can expand a thousandfold.
   */
  maxDecodedBytes?: number;
  waitMs?: number;
  /**
   * Positions the member has processed (next offset to read), committed before reading —
   * the only way a poll commits anything (at-least-once). Fenced per partition: the member
   * must hold it, without interruption since `ackGeneration`.
   */
  acks?: OffsetCommit[];
  /** The generation of the poll whose records the acks cover (required with acks). */
  ackGeneration?: number;
  /**
   * Where to read instead of the committed offsets (the client's own positions: seek, manual
   * commit, or simply where it is — then the poll need not read the committed offsets).
   */
  from?: Map<string, number>;
  /**
   * The generation of the poll whose answer these positions follow. An entry for a topic
   * deleted and re-created since then is ignored: it is a position in the old log.
   */
  fromGeneration?: number;
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

export const GROUP_NAME = GROUP_ID_PATTERN;
export { MEMBER_ID_PATTERN };
export const MEMBER_ID = MEMBER_ID_PATTERN;
export const MAX_METADATA = 4096;
export const MAX_ATTEMPTS = 40;
/**
 * Budget for the group item's partition-count map (topic name → count), well under
 * DynamoDB's 400 KiB so the fixed attributes always fit: thousands of subscribed topics.
 */
export const MAX_META_BYTES = 256 * 1024;
/** Long polls re-read the heads for other processes' commits at this interval, doubling up to the cap. */
export const MAX_RECHECK_MS = 2000;


/** One write of a group: roster changes, the caller's own member item, an assignor. */
export interface Mutation {
  /** Add a member (with `hb`), or change a present member's subscription. */
  put?: { id: string; spec: MemberSpec; hb?: string };
  /** Members leaving; with `hb`, only if their heartbeat version is still that (expiry). */
  remove?: Array<{ id: string; hb?: string }>;
  /** The caller's own member item: new heartbeat version and acknowledged generation. */
  self?: { id: string; hb: string; acked: number; clearPending?: boolean };
  assignor?: AssignorName;
  freshTopics?: boolean;
}

/** Whether `member` may commit `key` in this state: its owner, or the member giving it up. */
export function holds(state: GroupState, member: string, key: string): boolean {
  return state.owners.get(key) === member || state.revoking.get(key)?.from === member;
}

export function assignmentOf(state: GroupState, member: string): TopicPartition[] {
  return [...state.owners].filter(([, m]) => m === member).map(([k]) => k).sort(cmpTp).map(parseTp);
}

export function checkGroupName(group: string): void {
  if (!GROUP_NAME.test(group)) throw new SamsaError('INVALID_REQUEST', 'group names are 1-249 characters of [A-Za-z0-9._-], not "." or ".."', { group });
}

/**
 * For what reads or removes a group that exists: the rule groups were made under before "."
 * and ".." were refused. The Kafka listener stored such groups until then, and a deployment
 * upgraded with one still lists it: refused here, it made groupLag throw (the consumer-lag
 * metrics of every group lost) and could never be deleted. New ones are refused where groups
 * are made (checkGroupName; the listener's JoinGroup and OffsetCommit).
 */
const STORED_GROUP_NAME = /^[A-Za-z0-9._-]{1,249}$/;
export function checkStoredGroupName(group: string): void {
  if (!STORED_GROUP_NAME.test(group)) throw new SamsaError('INVALID_REQUEST', 'group names are 1-249 characters of [A-Za-z0-9._-]', { group });
}

export const notFound = (group: string): SamsaError => new SamsaError('GROUP_ID_NOT_FOUND', `group "${group}" does not exist`, { group });
export const nonEmpty = (group: string, n: number, what: string): SamsaError =>
  new SamsaError('NON_EMPTY_GROUP', `group "${group}" has ${n} member(s); it can only ${what} once they leave or expire`, { group, members: n });

export const token = (): string => randomBytes(8).toString('hex');

export function chunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}



