// Admin: topics, groups and offsets, KafkaJS's Admin in spirit with Samsa's own shapes where
// the HTTP API offers more (config and partition state in one describe, lag with the offsets).
import type { HttpClient } from './http';
import { groupSeg, seg } from './http';
import { SamsaClientError } from './errors';
import { mayHaveActed } from './retry';

export type TopicConfig = Record<string, string | number>;

export interface TopicSummary {
  name: string;
  partitions: number;
}
export interface PartitionState {
  partition: number;
  logStartOffset: number;
  highWatermark: number;
  leaderEpoch: number;
}
export interface TopicDescription {
  name: string;
  /** This incarnation of the topic (Kafka's topic ID): a topic deleted and created again under its name gets a new one. */
  topicId: string;
  config: TopicConfig;
  partitions: PartitionState[];
}
export interface NewTopic {
  topic: string;
  numPartitions?: number;
  /** Kafka's `configEntries` shape, or a plain object. */
  configEntries?: Array<{ name: string; value: string }>;
  config?: TopicConfig;
}
export interface GroupSummary {
  group: string;
  state: string;
  generation: number;
  members: number;
  /** Present while Kafka-protocol members hold the group (their state and members are not these). */
  kafka_members?: true;
}
export interface GroupMember {
  memberId: string;
  state: string;
  topics: string[];
  sessionTimeoutMs: number;
  assignment: Array<{ topic: string; partition: number }>;
}
export interface GroupDescription {
  group: string;
  state: string;
  generation: number;
  assignor: string;
  members: GroupMember[];
  lag: number;
  /**
   * True while Kafka-protocol members hold the group through the Kafka listener: they are not in
   * state, generation and members, and the group takes no HTTP member, reset or setOffsets.
   */
  kafkaMembers: boolean;
}
export interface GroupOffset {
  topic: string;
  partition: number;
  /** Committed offset; -1 when none. */
  offset: number;
  metadata: string | null;
  highWatermark: number;
  logStartOffset: number;
  lag: number;
  /** Age of the oldest record the group has not consumed, in ms (0 when caught up). */
  lagMs: number;
  /** Retention will delete (or has deleted) records the group has not consumed, at its current pace. */
  expiryRisk: boolean;
}
export type ResetTarget = 'earliest' | 'latest' | { timestamp: number } | { offset: number } | { offsets: Array<{ partition: number; offset: number }> };

interface RawPartition {
  partition: number;
  log_start_offset: number;
  high_watermark: number;
  leader_epoch: number;
}
interface RawOffset {
  topic: string;
  partition: number;
  offset: number;
  metadata: string | null;
  high_watermark: number;
  log_start_offset: number;
  lag: number;
  /** Absent from servers older than lag in time. */
  lag_ms?: number;
  expiry_risk?: boolean;
}

export class Admin {
  constructor(private readonly http: HttpClient) {}

  /** Kept for KafkaJS parity: the API is stateless, there is nothing to open. */
  async connect(): Promise<void> {
    await this.http.json('GET', '/healthz', { what: 'health check' });
  }
  async disconnect(): Promise<void> {}

  /**
   * Creates one topic; TOPIC_ALREADY_EXISTS and bad configs throw. Retried like any call: when an
   * attempt's answer was lost and a retry finds the topic, it is the one this call created if it
   * has the partitions and config asked for (then this resolves with it); otherwise it is another
   * and TOPIC_ALREADY_EXISTS stands.
   */
  async createTopic(t: NewTopic): Promise<TopicSummary & { config: TopicConfig }> {
    const config: TopicConfig = { ...Object.fromEntries((t.configEntries ?? []).map((e) => [e.name, e.value])), ...t.config };
    const partitions = t.numPartitions ?? 1;
    const unsure = unsureOutcome();
    try {
      return await this.http.json('POST', '/v1/topics', {
        json: { name: t.topic, partitions, ...(Object.keys(config).length ? { config } : {}) },
        onRetry: unsure.onRetry,
        what: `create topic "${t.topic}"`,
      });
    } catch (err) {
      if (!(unsure.acted && isCode(err, 'TOPIC_ALREADY_EXISTS'))) throw err;
      const d = await this.describeTopic(t.topic);
      const same = d.partitions.length === partitions && Object.entries(config).every(([k, v]) => String(d.config[k]) === String(v));
      if (!same) throw err;
      return { name: d.name, partitions: d.partitions.length, config: d.config };
    }
  }

  /** KafkaJS semantics: true when every topic was created, false when some already existed. */
  async createTopics(opts: { topics: NewTopic[] }): Promise<boolean> {
    let all = true;
    for (const t of opts.topics) {
      try {
        await this.createTopic(t);
      } catch (err) {
        if (isCode(err, 'TOPIC_ALREADY_EXISTS')) all = false;
        else throw err;
      }
    }
    return all;
  }

  /** Topic names, as KafkaJS's listTopics. */
  async listTopics(): Promise<string[]> {
    return (await this.listTopicsWithPartitions()).map((t) => t.name);
  }

  async listTopicsWithPartitions(): Promise<TopicSummary[]> {
    return (await this.http.json<{ topics: TopicSummary[] }>('GET', '/v1/topics', { what: 'list topics' })).topics;
  }

  async describeTopic(topic: string): Promise<TopicDescription> {
    const r = await this.http.json<{ name: string; topic_id: string; config: TopicConfig; partitions: RawPartition[] }>('GET', `/v1/topics/${seg(topic)}`, { what: `describe topic "${topic}"` });
    return {
      name: r.name,
      topicId: r.topic_id,
      config: r.config,
      partitions: r.partitions.map((p) => ({ partition: p.partition, logStartOffset: p.log_start_offset, highWatermark: p.high_watermark, leaderEpoch: p.leader_epoch })),
    };
  }

  /** Grow partitions and/or change config keys. */
  async alterTopic(topic: string, change: { partitions?: number; config?: TopicConfig }): Promise<void> {
    await this.http.json('PATCH', `/v1/topics/${seg(topic)}`, { json: change, what: `alter topic "${topic}"` });
  }

  /**
   * Deletes a topic and its data; a retry after a lost answer that finds it gone is the deletion
   * done. It deletes the incarnation it finds first (by its topic ID, as Kafka's DeleteTopics
   * can): the name of a deleted topic is free at once, so a retry after a lost answer — or the
   * lost attempt itself, delayed past its retry — may meet a topic another client created under
   * the name since, and must leave it alone.
   */
  async deleteTopic(topic: string): Promise<void> {
    // A caller may hold the right to delete the topic and be denied describing it: it deletes by
    // name, as DELETE alone allows (without that guard).
    const topicId = await this.describeTopic(topic).then(
      (d) => d.topicId,
      (err: unknown) => {
        if (isCode(err, 'TOPIC_AUTHORIZATION_FAILED')) return undefined;
        throw err;
      },
    );
    await this.deleteOnce(`/v1/topics/${seg(topic)}`, 'UNKNOWN_TOPIC_OR_PARTITION', `delete topic "${topic}"`, topicId !== undefined ? { topic_id: topicId } : undefined);
  }

  async deleteTopics(opts: { topics: string[] }): Promise<void> {
    for (const t of opts.topics) await this.deleteTopic(t);
  }

  /** Per partition: earliest (`low`) and latest (`high`, the high watermark), as KafkaJS's. */
  async fetchTopicOffsets(topic: string): Promise<Array<{ partition: number; offset: number; low: number; high: number }>> {
    const d = await this.describeTopic(topic);
    return d.partitions.map((p) => ({ partition: p.partition, offset: p.highWatermark, low: p.logStartOffset, high: p.highWatermark }));
  }

  /** First offset per partition whose timestamp is ≥ `timestamp` (the high watermark if none). */
  async fetchTopicOffsetsByTimestamp(topic: string, timestamp: number): Promise<Array<{ partition: number; offset: number }>> {
    const d = await this.describeTopic(topic);
    return Promise.all(
      d.partitions.map(async (p) => {
        const r = await this.http.json<{ offset: number }>('GET', `/v1/topics/${seg(topic)}/partitions/${p.partition}/offsets`, { query: { timestamp } });
        return { partition: p.partition, offset: r.offset };
      }),
    );
  }

  async listGroups(): Promise<GroupSummary[]> {
    return (await this.http.json<{ groups: GroupSummary[] }>('GET', '/v1/groups', { what: 'list groups' })).groups;
  }

  async describeGroup(group: string): Promise<GroupDescription> {
    const r = await this.http.json<{
      group: string;
      state: string;
      generation: number;
      assignor: string;
      lag: number;
      members: Array<{ member_id: string; state: string; topics: string[]; session_timeout_ms: number; assignment: Array<{ topic: string; partition: number }> }>;
      kafka_members?: boolean;
    }>('GET', `/v1/groups/${groupSeg(group)}`, { what: `describe group "${group}"` });
    return {
      group: r.group,
      state: r.state,
      generation: r.generation,
      assignor: r.assignor,
      lag: r.lag,
      kafkaMembers: r.kafka_members === true,
      members: r.members.map((m) => ({ memberId: m.member_id, state: m.state, topics: m.topics, sessionTimeoutMs: m.session_timeout_ms, assignment: m.assignment })),
    };
  }

  /** Committed offsets with high watermark and lag, optionally for some topics only. */
  async fetchOffsets(opts: { groupId: string; topics?: string[] }): Promise<GroupOffset[]> {
    const r = await this.http.json<{ offsets: RawOffset[] }>('GET', `/v1/groups/${groupSeg(opts.groupId)}/offsets`, { what: `offsets of group "${opts.groupId}"` });
    return r.offsets
      .filter((o) => !opts.topics || opts.topics.includes(o.topic))
      .map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, metadata: o.metadata, highWatermark: o.high_watermark, logStartOffset: o.log_start_offset, lag: o.lag, lagMs: o.lag_ms ?? 0, expiryRisk: o.expiry_risk ?? false }));
  }

  /** Moves a topic's committed offsets (the group must have no members: NON_EMPTY_GROUP otherwise). */
  async resetOffsets(opts: { groupId: string; topic: string; to: ResetTarget }): Promise<Array<{ topic: string; partition: number; offset: number }>> {
    const r = await this.http.json<{ offsets: Array<{ topic: string; partition: number; offset: number }> }>('POST', `/v1/groups/${groupSeg(opts.groupId)}/offsets/reset`, {
      json: { topic: opts.topic, to: opts.to },
      what: `reset offsets of group "${opts.groupId}"`,
    });
    return r.offsets;
  }

  /** Sets explicit offsets (KafkaJS's setOffsets); only while the group has no members. */
  async setOffsets(opts: { groupId: string; topic: string; partitions: Array<{ partition: number; offset: number | string }> }): Promise<void> {
    await this.http.json('POST', `/v1/groups/${groupSeg(opts.groupId)}/offsets`, {
      json: { offsets: opts.partitions.map((p) => ({ topic: opts.topic, partition: p.partition, offset: Number(p.offset) })) },
      what: `set offsets of group "${opts.groupId}"`,
    });
  }

  /** Kafka's OffsetDelete: forget a topic's committed offsets (not while a member subscribes to it). */
  async deleteOffsets(opts: { groupId: string; topic: string; partitions?: number[] }): Promise<Array<{ topic: string; partition: number }>> {
    // What is committed before: after a lost answer, the only record of what that attempt deleted.
    const before = await this.committed(opts.groupId, opts.topic);
    const unsure = unsureOutcome();
    const r = await this.http.json<{ deleted: Array<{ topic: string; partition: number }> }>('DELETE', `/v1/groups/${groupSeg(opts.groupId)}/offsets`, {
      json: { topic: opts.topic, ...(opts.partitions ? { partitions: opts.partitions } : {}) },
      onRetry: unsure.onRetry,
      what: `delete offsets of group "${opts.groupId}"`,
    });
    if (!unsure.acted) return r.deleted;
    // The retry deleted only what the lost attempt left: the truth is what was committed before and is not now.
    const now = new Set((await this.committed(opts.groupId, opts.topic)).map((tp) => tp.partition));
    const gone = before.filter((tp) => !now.has(tp.partition) && (!opts.partitions || opts.partitions.includes(tp.partition)));
    return [...new Map([...gone, ...r.deleted].map((tp) => [tp.partition, { topic: tp.topic, partition: tp.partition }])).values()].sort((a, b) => a.partition - b.partition);
  }

  /** The partitions of a topic with a committed offset in a group (none when the group does not exist). */
  private async committed(group: string, topic: string): Promise<Array<{ topic: string; partition: number }>> {
    try {
      return (await this.fetchOffsets({ groupId: group, topics: [topic] })).filter((o) => o.offset >= 0).map((o) => ({ topic: o.topic, partition: o.partition }));
    } catch (err) {
      if (isCode(err, 'GROUP_ID_NOT_FOUND')) return [];
      throw err;
    }
  }

  /** Deletes a group (no members); a retry after a lost answer that finds it gone is the deletion done. */
  async deleteGroup(group: string): Promise<void> {
    await this.deleteOnce(`/v1/groups/${groupSeg(group)}`, 'GROUP_ID_NOT_FOUND', `delete group "${group}"`);
  }

  /**
   * A DELETE whose retry may find the thing gone: after an attempt whose answer was lost, the
   * `gone` refusal is that attempt's deletion, done; otherwise it stands.
   */
  private async deleteOnce(path: string, gone: string, what: string, query?: Record<string, string>): Promise<void> {
    const unsure = unsureOutcome();
    try {
      await this.http.json('DELETE', path, { onRetry: unsure.onRetry, what, ...(query ? { query } : {}) });
    } catch (err) {
      if (!(unsure.acted && isCode(err, gone))) throw err;
    }
  }

  async deleteGroups(groups: string[]): Promise<void> {
    for (const g of groups) await this.deleteGroup(g);
  }
  // --- access control (issue 16): Kafka's CreateAcls / DescribeAcls / DeleteAcls, and quotas ---

  /** Adds ACL bindings (adding one that exists changes nothing). Needs alter on the cluster. */
  async createAcls(acls: AclBinding[]): Promise<void> {
    for (const acl of acls) await this.http.json('POST', '/v1/acls', { json: acl, what: `add ACL for ${acl.principal}` });
  }

  /** ACL bindings matching every given field. Needs describe on the cluster. */
  async describeAcls(filter: { principal?: string; resource_type?: AclBinding['resource_type']; resource_name?: string } = {}): Promise<Required<AclBinding>[]> {
    const r = await this.http.json<{ acls: Required<AclBinding>[] }>('GET', '/v1/acls', { query: filter, what: 'list ACLs' });
    return r.acls;
  }

  /** Deletes the bindings a filter selects (at least one field); resolves with how many. */
  async deleteAcls(filter: Partial<AclBinding>): Promise<number> {
    // The bindings there before: after a lost answer, the only record of what that attempt deleted.
    const before = await this.aclsMatching(filter);
    const unsure = unsureOutcome();
    const r = await this.http.json<{ deleted: number }>('DELETE', '/v1/acls', { json: filter, onRetry: unsure.onRetry, what: 'delete ACLs' });
    if (!unsure.acted) return r.deleted;
    const now = new Set((await this.aclsMatching(filter)).map((b) => JSON.stringify(b)));
    return Math.max(r.deleted, before.filter((b) => !now.has(JSON.stringify(b))).length);
  }

  /** The bindings a delete filter selects, as the server matches them: every given field equal. */
  private async aclsMatching(filter: Partial<AclBinding>): Promise<Required<AclBinding>[]> {
    const listed = await this.describeAcls({
      ...(filter.principal !== undefined ? { principal: filter.principal } : {}),
      ...(filter.resource_type !== undefined ? { resource_type: filter.resource_type } : {}),
      ...(filter.resource_name !== undefined ? { resource_name: filter.resource_name } : {}),
    });
    return listed.filter((b) => (Object.keys(filter) as Array<keyof AclBinding>).every((k) => filter[k] === undefined || filter[k] === b[k]));
  }

  /** Replaces a principal's quotas (a rate left out is unlimited; none removes them). */
  async setQuota(q: Quota): Promise<Quota> {
    return this.http.json<Quota>('PUT', '/v1/quotas', { json: q, what: `set quotas of ${q.principal}` });
  }

  async describeQuotas(principal?: string): Promise<Quota[]> {
    const r = await this.http.json<{ quotas: Quota[] }>('GET', '/v1/quotas', { query: { principal }, what: 'list quotas' });
    return r.quotas;
  }
}

export interface AclBinding {
  /** `User:<name>`, or `User:*` for everyone. */
  principal: string;
  resource_type: 'topic' | 'group' | 'cluster';
  /** Topic or group name or prefix; omitted for the cluster. */
  resource_name?: string;
  pattern_type?: 'literal' | 'prefixed';
  operation: 'read' | 'write' | 'create' | 'delete' | 'alter' | 'describe' | 'all';
  permission?: 'allow' | 'deny';
}

export interface Quota {
  principal: string;
  producer_byte_rate?: number;
  consumer_byte_rate?: number;
  request_rate?: number;
}

/**
 * Tracks whether an attempt of a call that is not idempotent may have been carried out although
 * its answer never came (lib/client/retry.ts, mayHaveActed): then a retry's refusal ("no such
 * topic", "exists already") may be that attempt's own effect, and the call checks what is true.
 */
function unsureOutcome(): { acted: boolean; onRetry: (err: unknown) => void } {
  const o = {
    acted: false,
    onRetry: (err: unknown) => {
      if (mayHaveActed(err)) o.acted = true;
    },
  };
  return o;
}

const isCode = (err: unknown, code: string): boolean => err instanceof SamsaClientError && err.code === code;
