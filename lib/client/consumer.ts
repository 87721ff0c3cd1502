// Consumer: a member of a server-side consumer group. Membership and fencing come from the group
// routes (join, heartbeat, commit, leave); records come from the group poll route — one waiting
// request for all the member's partitions, however many it holds. The client keeps its own
// position per partition, as KafkaJS does: each poll carries the positions it resolved (`ack`,
// committed by the server before it reads — at-least-once), the positions it reads from where
// they differ from the committed ones (`from`: seek, manual commits) and its paused partitions.
//
// Rebalances are cooperative: a poll answers with the current generation and assignment and
// acknowledges it; the run loop polls only once it has handled the previous poll's records, so
// a partition reaches its next owner only after this member stopped reading it (and acked what
// it processed of it). A background heartbeat (an unref'd timer at heartbeat_interval_ms) keeps
// the member alive while handlers run long and wakes the loop when the assignment changes; it
// is skipped while polls come often enough. Delivery is at-least-once.
import { EventEmitter } from 'node:events';
import { SamsaClientError } from './errors';
import type { PartitionFetch } from './fetch';
import { groupSeg, type HttpClient, seg } from './http';
import type { ConsumedMessage } from './messages';
import { bulkRead, DEFAULT_BULK_THRESHOLD_RECORDS } from './reader';
import { backoff, DEFAULT_RETRY, type RetryOptions } from './retry';
import { abortableSleep } from '../util/sleep';


export interface ConsumerConfig {
  groupId: string;
  /** The group expels a member that has not heartbeated for this long (default 30000). */
  sessionTimeout?: number;
  /** Overrides the server's heartbeat_interval_ms. */
  heartbeatInterval?: number;
  /** At most about this many bytes per partition per fetch (default 1 MiB). */
  maxBytesPerPartition?: number;
  /** Long-poll wait when every partition is caught up (default 1000 ms). */
  maxWaitTimeInMs?: number;
  /**
   * How a caught-up member waits. 'long-poll': the poll waits at the server (maxWaitTimeInMs).
   * 'short-poll': the poll returns at once and the member polls again after pollIntervalMs —
   * on Lambda a waiting request bills its whole wait, so an idle member costs ~5x less this
   * way at ≤ 1 s delivery (README, cost; bench/idle-member.ts). Default 'auto': short polls
   * when the server says it runs on Lambda (x-samsa-runtime), long polls otherwise.
   */
  idleWait?: 'auto' | 'long-poll' | 'short-poll';
  /** Short polls: the pause after a poll that found nothing (default 1000 ms). */
  pollIntervalMs?: number;
  /**
   * A partition at least this many records behind its high watermark is caught up with bulk
   * reads (presigned segment URLs, past the API) between polls (default 10000; Infinity: never).
   */
  bulkThresholdRecords?: number;
  /** Backoff for failing handlers and fetches; `retries` handler failures in a row crash the consumer. */
  retry?: RetryOptions;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}
export interface TopicPartitionOffset extends TopicPartition {
  /** The next offset to read (last processed + 1), as in Kafka. Strings accepted, as KafkaJS. */
  offset: number | string;
}

export interface EachMessagePayload {
  topic: string;
  partition: number;
  message: ConsumedMessage;
  heartbeat(): Promise<void>;
  /** Pauses this partition; returns a function that resumes it. */
  pause(): () => void;
}

export interface Batch {
  topic: string;
  partition: number;
  highWatermark: number;
  messages: ConsumedMessage[];
  isEmpty(): boolean;
  firstOffset(): number | null;
  lastOffset(): number;
  /** highWatermark − 1 − last offset of the batch. */
  offsetLag(): number;
}

export interface EachBatchPayload {
  batch: Batch;
  /** Marks `offset` processed: the next commit stores offset + 1. */
  resolveOffset(offset: number | string): void;
  heartbeat(): Promise<void>;
  commitOffsetsIfNecessary(offsets?: TopicPartitionOffset[]): Promise<void>;
  uncommittedOffsets(): TopicPartitionOffset[];
  isRunning(): boolean;
  /** True once a seek or a rebalance made the rest of this batch obsolete. */
  isStale(): boolean;
  pause(): () => void;
}

export interface RunConfig {
  eachMessage?: (payload: EachMessagePayload) => Promise<void>;
  eachBatch?: (payload: EachBatchPayload) => Promise<void>;
  /** Commit resolved offsets automatically (default true). */
  autoCommit?: boolean;
  /** Commit at most this often, ms (default: after every fetch round). */
  autoCommitInterval?: number;
  /** Commit once this many messages were resolved since the last commit. */
  autoCommitThreshold?: number;
  /** eachBatch: resolve the batch's last offset when the handler returns (default true). */
  eachBatchAutoResolve?: boolean;
}

export type ConsumerEvent = 'group_join' | 'rebalance' | 'commit' | 'error' | 'crash' | 'stop';

interface PartitionState {
  topic: string;
  partition: number;
  /** Next offset to fetch; undefined while unknown. */
  position: number | undefined;
  /** Next offset to commit (last resolved + 1). */
  resolved: number | undefined;
  committed: number | undefined;
  /** Bumped by seek: a batch fetched before it is stale. */
  epoch: number;
  /** The partition's high watermark as the last poll saw it. */
  highWatermark?: number;
  /** A position from which no sealed segment was found (the rest is unflushed): poll it. */
  bulkDryAt?: number;
}

interface Assignment {
  generation: number;
  assignment: TopicPartition[];
}

interface PollResponse extends Assignment {
  records: Array<{
    topic: string;
    partition: number;
    offset: number;
    timestamp: number;
    key: string | null;
    value: string | null;
    headers: Array<{ key: string; value: string | null; value_encoding?: 'base64' }>;
  }>;
  committed: Array<{ topic: string; partition: number; offset: number }>;
  positions: Array<{ topic: string; partition: number; offset: number; next_offset: number; high_watermark: number }>;
}

/** Lists on the poll's query string stay far inside URL limits; beyond, commit explicitly. */
const MAX_QUERY_LIST = 6000;

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;
const isAbort = (err: unknown): boolean => (err as { name?: string })?.name === 'AbortError';

export class Consumer extends EventEmitter {
  readonly groupId: string;
  private topics: Array<string | RegExp> = [];
  private fromBeginning = false;
  private memberId: string | undefined;
  private heartbeatMs = 3000;
  private latest: Assignment = { generation: -1, assignment: [] };
  private applied: Assignment = { generation: -1, assignment: [] };
  private readonly states = new Map<string, PartitionState>();
  private readonly pendingSeeks = new Map<string, number>();
  private readonly pausedTopics = new Set<string>();
  private readonly pausedPartitions = new Set<string>();
  private running = false;
  private loop: Promise<void> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatInFlight: Promise<void> | undefined;
  private rejoinNeeded = false;
  private wakeup = new AbortController();
  /** What the server said it runs on (x-samsa-runtime), from its last poll answer. */
  private serverRuntime: string | undefined;
  private run_: Required<Pick<RunConfig, 'autoCommit' | 'eachBatchAutoResolve'>> & RunConfig = { autoCommit: true, eachBatchAutoResolve: true };
  private lastCommitAt = 0;
  /** When the last poll (which is also a heartbeat) was sent. */
  private lastPollAt = 0;
  private resolvedSinceCommit = 0;
  private handlerFailures = 0;

  constructor(
    private readonly http: HttpClient,
    private readonly config: ConsumerConfig,
  ) {
    super();
    if (!config.groupId) throw new SamsaClientError('INVALID_CONFIG', 'a consumer needs a groupId');
    groupSeg(config.groupId); // "." and ".." cannot be named in a URL: refused now, not at the first join
    this.groupId = config.groupId;
  }

  /** Kept for KafkaJS parity; checks the server answers. */
  async connect(): Promise<void> {
    await this.http.json('GET', '/healthz', { what: 'health check' });
  }

  /** Topics (names or patterns, matched at join) to consume; call before run. */
  async subscribe(opts: { topic?: string | RegExp; topics?: Array<string | RegExp>; fromBeginning?: boolean }): Promise<void> {
    if (this.running) throw new SamsaClientError('INVALID_REQUEST', 'subscribe before run()');
    const add = [...(opts.topics ?? []), ...(opts.topic !== undefined ? [opts.topic] : [])];
    if (add.length === 0) throw new SamsaClientError('INVALID_REQUEST', 'subscribe: give a topic or topics');
    this.topics.push(...add);
    if (opts.fromBeginning !== undefined) this.fromBeginning = opts.fromBeginning;
  }

  /** Joins the group and starts consuming in the background; resolves once joined. */
  async run(config: RunConfig): Promise<void> {
    if (this.running) throw new SamsaClientError('INVALID_REQUEST', 'the consumer is already running');
    if (!config.eachMessage === !config.eachBatch) throw new SamsaClientError('INVALID_REQUEST', 'run: give exactly one of eachMessage and eachBatch');
    if (this.topics.length === 0) throw new SamsaClientError('INVALID_REQUEST', 'run: subscribe to a topic first');
    this.run_ = { ...config, autoCommit: config.autoCommit ?? true, eachBatchAutoResolve: config.eachBatchAutoResolve ?? true };
    this.running = true;
    this.wakeup = new AbortController();
    try {
      // Should this consumer still be a member, it rejoins as itself, never as a second member
      // beside its own ghost.
      await this.join(this.memberId);
    } catch (err) {
      this.running = false;
      throw err;
    }
    this.loop = this.consumeLoop();
  }

  /**
   * Stops consuming, commits what was resolved and leaves the group, as KafkaJS's stop() does:
   * a member that stayed would hold its partitions unread, and hold up their hand-over to the
   * others, for as long as it heartbeats. run() joins again.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wakeup.abort();
    await this.loop;
    this.loop = undefined;
    if (this.run_.autoCommit) await this.commitResolved().catch((err) => this.report(err));
    await this.leave();
    this.emit('stop');
  }

  /** Stops, commits, and leaves the group so its partitions move at once. */
  async disconnect(): Promise<void> {
    await this.stop();
    await this.leave(); // a crashed consumer is stopped already, and may still be a member
  }

  private async leave(): Promise<void> {
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    await this.heartbeatInFlight;
    const id = this.memberId;
    this.memberId = undefined;
    this.states.clear();
    this.applied = this.latest = { generation: -1, assignment: [] };
    if (id) {
      try {
        await this.http.json('DELETE', `/v1/groups/${groupSeg(this.groupId)}/members/${seg(id)}`, { what: `leave group "${this.groupId}"` });
      } catch (err) {
        if (!(err instanceof SamsaClientError && err.code === 'UNKNOWN_MEMBER_ID')) throw err;
      }
    }
  }

  /** Commits explicit offsets (next offset to read) for partitions this member holds. */
  async commitOffsets(offsets: TopicPartitionOffset[]): Promise<void> {
    await this.commit(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: Number(o.offset) })));
  }

  /**
   * Moves the local position: the next fetch of that partition starts at `offset`, and (as in
   * KafkaJS) the next commit stores it. For a partition not (yet) assigned, the seek applies
   * when it is. To move a group's offsets with no member running, use Admin.resetOffsets.
   */
  seek(tpo: TopicPartitionOffset): void {
    const offset = Number(tpo.offset);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new SamsaClientError('INVALID_REQUEST', `seek: offset must be a non-negative integer, got ${tpo.offset}`);
    const s = this.states.get(tpKey(tpo.topic, tpo.partition));
    if (s) {
      s.position = offset;
      s.resolved = offset;
      s.epoch++;
      this.wake();
    } else this.pendingSeeks.set(tpKey(tpo.topic, tpo.partition), offset);
  }

  pause(topics: Array<{ topic: string; partitions?: number[] }>): void {
    for (const t of topics) {
      if (t.partitions) for (const p of t.partitions) this.pausedPartitions.add(tpKey(t.topic, p));
      else this.pausedTopics.add(t.topic);
    }
    this.wake();
  }

  resume(topics: Array<{ topic: string; partitions?: number[] }>): void {
    for (const t of topics) {
      if (t.partitions) for (const p of t.partitions) this.pausedPartitions.delete(tpKey(t.topic, p));
      else {
        this.pausedTopics.delete(t.topic);
        for (const k of [...this.pausedPartitions]) if (k.startsWith(`${t.topic}\u0000`)) this.pausedPartitions.delete(k);
      }
    }
    this.wake();
  }

  paused(): Array<{ topic: string; partitions: number[] }> {
    const out = new Map<string, number[]>();
    for (const s of this.states.values()) if (this.isPaused(s.topic, s.partition)) out.set(s.topic, [...(out.get(s.topic) ?? []), s.partition]);
    return [...out].map(([topic, partitions]) => ({ topic, partitions }));
  }

  /** The partitions this member currently reads. */
  assignment(): TopicPartition[] {
    return [...this.applied.assignment];
  }

  get member(): { memberId: string | undefined; generation: number } {
    return { memberId: this.memberId, generation: this.applied.generation };
  }

  // --- membership ------------------------------------------------------------------------------

  private async join(rejoin?: string): Promise<void> {
    const topics = await this.resolveTopics();
    // The member id is chosen here, so a retry of a join whose response was lost rejoins the
    // member it made instead of making a second one (a ghost holding partitions, or holding up
    // their hand-over, until its session expires).
    const memberId = rejoin ?? globalThis.crypto.randomUUID();
    const r = await this.http.json<{ member_id: string; generation: number; assignment: TopicPartition[]; heartbeat_interval_ms: number }>(
      'POST',
      `/v1/groups/${groupSeg(this.groupId)}/members`,
      {
        json: { topics, member_id: memberId, session_timeout_ms: this.config.sessionTimeout ?? 30_000, auto_offset_reset: this.fromBeginning ? 'earliest' : 'latest' },
        what: `join group "${this.groupId}"`,
      },
    );
    this.memberId = r.member_id;
    this.heartbeatMs = this.config.heartbeatInterval ?? r.heartbeat_interval_ms;
    this.latest = { generation: r.generation, assignment: r.assignment };
    // Holding nothing yet, this member can truthfully acknowledge the join generation.
    this.applied = { generation: r.generation, assignment: [] };
    this.states.clear();
    this.rejoinNeeded = false;
    this.emit('group_join', { memberId: r.member_id, generation: r.generation, assignment: r.assignment });
    this.scheduleHeartbeat();
  }

  private async resolveTopics(): Promise<string[]> {
    const names = this.topics.filter((t): t is string => typeof t === 'string');
    const patterns = this.topics.filter((t): t is RegExp => t instanceof RegExp);
    if (patterns.length > 0) {
      const all = (await this.http.json<{ topics: Array<{ name: string }> }>('GET', '/v1/topics', { what: 'list topics' })).topics.map((t) => t.name);
      for (const n of all) if (patterns.some((p) => p.test(n)) && !names.includes(n)) names.push(n);
    }
    if (names.length === 0) throw new SamsaClientError('UNKNOWN_TOPIC_OR_PARTITION', `no topic matches ${this.topics.map(String).join(', ')}`);
    return names;
  }

  private scheduleHeartbeat(): void {
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = setTimeout(() => {
      void this.scheduledHeartbeat()
        .catch(() => undefined)
        .finally(() => {
          if (this.memberId) this.scheduleHeartbeat();
        });
    }, this.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  private scheduledHeartbeat(): Promise<void> {
    // A poll sent within the interval was a heartbeat already.
    if (Date.now() - this.lastPollAt < this.heartbeatMs) return Promise.resolve();
    return this.heartbeat();
  }

  /** One heartbeat (shared when one is already in flight): acknowledges the applied generation. */
  heartbeat(): Promise<void> {
    if (this.heartbeatInFlight) return this.heartbeatInFlight;
    const id = this.memberId;
    if (!id || this.rejoinNeeded) return Promise.resolve();
    const p = (async () => {
      try {
        const r = await this.http.json<Assignment>('POST', `/v1/groups/${groupSeg(this.groupId)}/members/${seg(id)}/heartbeat`, {
          json: { generation: this.applied.generation },
          retry: { retries: 0 },
          what: `heartbeat to group "${this.groupId}"`,
        });
        if (id !== this.memberId) return;
        this.latest = r;
        if (r.generation !== this.applied.generation || !sameAssignment(r.assignment, this.applied.assignment)) this.wake();
      } catch (err) {
        if (err instanceof SamsaClientError && err.code === 'UNKNOWN_MEMBER_ID' && id === this.memberId) {
          this.rejoinNeeded = true;
          this.wake();
        }
        this.report(err);
      }
    })().finally(() => {
      this.heartbeatInFlight = undefined;
    });
    this.heartbeatInFlight = p;
    return p;
  }

  private wake(): void {
    this.wakeup.abort();
  }

  /**
   * Adopts the assignment a poll answered with. The poll itself acknowledged that generation,
   * and it carried the acks of everything this member resolved, so revoked partitions are
   * simply dropped; added ones start where the server reads them (committed offset,
   * auto_offset_reset) unless a seek is waiting for them.
   */
  private adoptAssignment(target: Assignment): void {
    const keep = new Set(target.assignment.map((tp) => tpKey(tp.topic, tp.partition)));
    const revoked = this.applied.assignment.filter((tp) => !keep.has(tpKey(tp.topic, tp.partition)));
    for (const tp of revoked) this.states.delete(tpKey(tp.topic, tp.partition));
    const added = target.assignment.filter((tp) => !this.states.has(tpKey(tp.topic, tp.partition)));
    for (const tp of added) {
      const k = tpKey(tp.topic, tp.partition);
      const seek = this.pendingSeeks.get(k);
      this.pendingSeeks.delete(k);
      this.states.set(k, { topic: tp.topic, partition: tp.partition, position: seek, resolved: seek, committed: undefined, epoch: 0 });
    }
    const changed = target.generation !== this.applied.generation || revoked.length > 0 || added.length > 0;
    this.latest = target;
    this.applied = { generation: target.generation, assignment: target.assignment };
    if (changed) this.emit('rebalance', { generation: target.generation, assigned: added, revoked });
  }

  // --- commits ---------------------------------------------------------------------------------

  private async commitResolved(only?: TopicPartition[]): Promise<void> {
    const pick = only ? new Set(only.map((tp) => tpKey(tp.topic, tp.partition))) : undefined;
    const offsets = [...this.states.values()]
      .filter((s) => s.resolved !== undefined && s.resolved !== s.committed && (!pick || pick.has(tpKey(s.topic, s.partition))))
      .map((s) => ({ topic: s.topic, partition: s.partition, offset: s.resolved! }));
    this.lastCommitAt = Date.now();
    this.resolvedSinceCommit = 0;
    if (offsets.length > 0) await this.commit(offsets);
  }

  /** Commits with the newest generation; a stale one is refreshed by a heartbeat and retried. */
  private async commit(offsets: Array<{ topic: string; partition: number; offset: number }>): Promise<void> {
    if (!this.memberId) throw new SamsaClientError('UNKNOWN_MEMBER_ID', `not a member of group "${this.groupId}": run() first`);
    let todo = offsets;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.http.json('POST', `/v1/groups/${groupSeg(this.groupId)}/offsets`, {
          json: { member_id: this.memberId, generation: this.latest.generation, offsets: todo },
          what: `commit offsets of group "${this.groupId}"`,
        });
        for (const o of todo) {
          const s = this.states.get(tpKey(o.topic, o.partition));
          if (s) s.committed = o.offset;
        }
        this.emit('commit', { offsets: todo });
        return;
      } catch (err) {
        if (err instanceof SamsaClientError && err.code === 'UNKNOWN_MEMBER_ID') {
          this.rejoinNeeded = true;
          this.wake();
        }
        if (!(err instanceof SamsaClientError && err.code === 'ILLEGAL_GENERATION') || attempt >= 3) throw err;
        await this.heartbeat();
        // Still ours (held, or being given up and not yet acknowledged): retry those only.
        const held = new Set([...this.latest.assignment, ...this.applied.assignment].map((tp) => tpKey(tp.topic, tp.partition)));
        todo = todo.filter((o) => held.has(tpKey(o.topic, o.partition)));
        if (todo.length === 0) return;
      }
    }
  }

  /**
   * An error the consumer recovers from by itself (it retries, rejoins, or redelivers): told
   * to 'error' listeners. Without one it is not re-thrown — an EventEmitter's unheard 'error'
   * throws, which inside the loop was an unhandled rejection that ended the application's
   * process over a retriable 404 while a topic was being re-created.
   */
  private report(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  // --- the loop --------------------------------------------------------------------------------

  private isPaused(topic: string, partition: number): boolean {
    return this.pausedTopics.has(topic) || this.pausedPartitions.has(tpKey(topic, partition));
  }

  private async consumeLoop(): Promise<void> {
    const retry = { ...DEFAULT_RETRY, ...this.config.retry };
    let fetchFailures = 0;
    let joinRefusals = 0;
    while (this.running) {
      if (this.wakeup.signal.aborted) this.wakeup = new AbortController();
      try {
        if (this.rejoinNeeded) {
          this.states.clear();
          this.applied = { generation: -1, assignment: [] };
          await this.join();
          joinRefusals = 0;
        }
        const results = await this.poll();
        fetchFailures = 0;
        // Short polls: nothing came, so wait here (wakeable by seek, pause or disconnect)
        // rather than at the server, where a Lambda would bill the wait.
        if (results.length === 0 && this.running && this.shortPolls()) await abortableSleep(this.config.pollIntervalMs ?? 1000, this.wakeup.signal);
        for (const { state, epoch, fetched } of results) {
          if (!this.running || this.rejoinNeeded) break;
          if (this.states.get(tpKey(state.topic, state.partition)) !== state || state.epoch !== epoch) continue;
          await this.process(state, fetched);
          if (this.run_.autoCommit && this.run_.autoCommitThreshold && this.resolvedSinceCommit >= this.run_.autoCommitThreshold) await this.commitResolved();
        }
        await this.catchUp();
        this.handlerFailures = 0;
      } catch (err) {
        if (err instanceof HandlerError) {
          this.handlerFailures++;
          this.report(err.cause);
          if (this.handlerFailures > retry.retries) {
            this.running = false;
            this.emit('crash', { error: err.cause, groupId: this.groupId });
            // As KafkaJS: a crashed consumer leaves, so its partitions go to the others.
            void this.disconnect().catch((e) => this.report(e));
            break;
          }
          await this.backOff(backoff(retry, this.handlerFailures - 1));
        } else {
          if (isAbort(err) && this.wakeup.signal.aborted) continue; // woken on purpose (seek, pause, new assignment)
          // Kafka-protocol members took the group while this member was out of it (its session
          // lapsed): it cannot rejoin while they hold it. A refused Kafka JoinGroup marks the
          // group for a moment, so a few refusals are retried; then it crashes, as run() throws
          // and as a Kafka client refused by an HTTP group does. Retrying for ever read nothing
          // and told only 'error' listeners, if any.
          if (err instanceof SamsaClientError && err.code === 'INCONSISTENT_GROUP_PROTOCOL' && ++joinRefusals > retry.retries) {
            this.running = false;
            this.emit('crash', { error: err, groupId: this.groupId });
            void this.disconnect().catch((e) => this.report(e));
            break;
          }
          if (err instanceof SamsaClientError && err.code === 'UNKNOWN_MEMBER_ID') this.rejoinNeeded = true;
          this.report(err);
          fetchFailures++;
          await this.backOff(backoff(retry, Math.min(fetchFailures - 1, 8)));
        }
      }
    }
  }

  /** The loop's wait after a failure: a stop (or a seek, a pause) ends it, as it ends a poll. */
  private async backOff(ms: number): Promise<void> {
    if (!this.running) return;
    if (this.wakeup.signal.aborted) this.wakeup = new AbortController(); // woken before the failure
    await abortableSleep(ms, this.wakeup.signal);
  }

  /**
   * One group poll for every partition this member holds: acknowledges what was resolved,
   * reads from the local positions where they differ from what the server would use, skips
   * paused partitions, and long-polls until one has data. Returns the records per partition.
   */
  private async poll(): Promise<Array<{ state: PartitionState; epoch: number; fetched: PartitionFetch }>> {
    const id = this.memberId!;
    const wait = this.shortPolls() ? 0 : (this.config.maxWaitTimeInMs ?? 1000);
    // Acks: resolved positions not yet committed (every poll, or every autoCommitInterval).
    let acks: Array<{ topic: string; partition: number; offset: number }> = [];
    if (this.run_.autoCommit && Date.now() - this.lastCommitAt >= (this.run_.autoCommitInterval ?? 0)) {
      acks = [...this.states.values()].filter((s) => s.resolved !== undefined && s.resolved !== s.committed).map((s) => ({ topic: s.topic, partition: s.partition, offset: s.resolved! }));
      this.lastCommitAt = Date.now();
      this.resolvedSinceCommit = 0;
    }
    let ack = acks.map((o) => `${o.topic}:${o.partition}:${o.offset}`).join(',');
    if (ack.length > MAX_QUERY_LIST) {
      await this.commit(acks);
      ack = '';
    }
    // Every known position goes in `from`, not only those ahead of the commits: a poll whose
    // `from` covers all its partitions and acks nothing does not read the group's committed
    // offsets (an idle member's poll is then one group read and one read of the heads). With
    // `generation`, the server ignores positions in a log deleted and re-created since.
    const acked = new Map(acks.map((o) => [tpKey(o.topic, o.partition), o.offset]));
    const listed = (all: boolean) =>
      [...this.states.values()].filter((s) => s.position !== undefined && !this.isPaused(s.topic, s.partition) && (all || s.position !== (acked.get(tpKey(s.topic, s.partition)) ?? s.committed)));
    // Too many to list them all: only those the server would not find committed.
    let sent = listed(true);
    let from = sent.map((s) => `${s.topic}:${s.partition}:${s.position}`).join(',');
    if (from.length > MAX_QUERY_LIST) {
      sent = listed(false);
      from = sent.map((s) => `${s.topic}:${s.partition}:${s.position}`).join(',');
    }
    if (from.length > MAX_QUERY_LIST) sent = [];
    const asked = new Map(sent.map((s) => [tpKey(s.topic, s.partition), s.position!]));
    const paused = [...this.states.values()].filter((s) => this.isPaused(s.topic, s.partition)).map((s) => `${s.topic}:${s.partition}`).join(',');
    // Partitions read as of this request: a seek during it makes their records stale.
    const epochs = new Map([...this.states].map(([k, s]) => [k, { state: s, epoch: s.epoch }]));
    const allPaused = this.states.size > 0 && [...this.states.values()].every((s) => this.isPaused(s.topic, s.partition));
    this.lastPollAt = Date.now();
    const res = await this.http.raw('GET', `/v1/groups/${groupSeg(this.groupId)}/members/${seg(id)}/records`, {
      query: {
        max_bytes: this.config.maxBytesPerPartition ?? 1024 * 1024,
        wait_ms: this.running ? (allPaused ? Math.min(wait, 200) : wait) : 0,
        key_format: 'base64',
        value_format: 'base64',
        generation: ack || sent.length > 0 ? this.applied.generation : undefined,
        ack: ack || undefined,
        from: sent.length > 0 ? from : undefined,
        paused: paused && paused.length <= MAX_QUERY_LIST ? paused : undefined,
      },
      extraTimeoutMs: wait,
      signal: this.wakeup.signal,
      what: `poll group "${this.groupId}"`,
    });
    this.serverRuntime = res.headers.get('x-samsa-runtime') ?? undefined;
    const r = JSON.parse(Buffer.from(res.bytes).toString('utf8')) as PollResponse;
    if (id !== this.memberId) return [];
    for (const c of r.committed) {
      const s = this.states.get(tpKey(c.topic, c.partition));
      if (s) s.committed = c.offset;
    }
    if (r.committed.length > 0) this.emit('commit', { offsets: r.committed });
    this.adoptAssignment({ generation: r.generation, assignment: r.assignment });

    const byPartition = new Map<string, ConsumedMessage[]>();
    for (const rec of r.records) {
      const k = tpKey(rec.topic, rec.partition);
      let list = byPartition.get(k);
      if (!list) byPartition.set(k, (list = []));
      list.push({
        offset: rec.offset,
        timestamp: rec.timestamp,
        key: rec.key === null ? null : Buffer.from(rec.key, 'base64'),
        value: rec.value === null ? null : Buffer.from(rec.value, 'base64'),
        headers: Object.fromEntries(rec.headers.map((h) => [h.key, h.value === null ? null : Buffer.from(h.value, h.value_encoding === 'base64' ? 'base64' : 'utf8')])),
      });
    }
    const out: Array<{ state: PartitionState; epoch: number; fetched: PartitionFetch }> = [];
    for (const p of r.positions) {
      const k = tpKey(p.topic, p.partition);
      const seen = epochs.get(k);
      const state = this.states.get(k);
      if (!state || (seen && (seen.state !== state || seen.epoch !== state.epoch))) continue;
      // Paused since the request went out (or a list too long to send): read again on resume.
      if (this.isPaused(p.topic, p.partition)) continue;
      state.highWatermark = p.high_watermark;
      // The server read elsewhere than asked: the topic was re-created (our position is in the
      // old log) or our position fell below the log start. Its start is ours now, and what we
      // resolved there is nothing to acknowledge in this log.
      if (asked.has(k) && asked.get(k) !== p.offset) {
        state.position = p.offset;
        state.resolved = undefined;
      }
      const messages = byPartition.get(k) ?? [];
      // Where the server read from is now this member's position (it resolved the start).
      if (state.position === undefined || messages.length === 0) state.position = messages.length === 0 ? p.next_offset : p.offset;
      if (messages.length > 0) out.push({ state, epoch: state.epoch, fetched: { messages, nextOffset: p.next_offset, highWatermark: p.high_watermark, logStartOffset: Number.NaN } });
    }
    return out;
  }

  /**
   * Far-behind partitions read sealed segments straight from their URLs (lib/client/reader.ts)
   * instead of through the poll route: one segments call (up to 64 MiB) per partition between
   * polls, so the member still polls — and heartbeats — between rounds. Records go through the
   * same handler path as polled ones; the next poll reads on from the new position (`from`).
   */
  private async catchUp(): Promise<void> {
    const threshold = this.config.bulkThresholdRecords ?? DEFAULT_BULK_THRESHOLD_RECORDS;
    for (const state of [...this.states.values()]) {
      if (!this.running || this.rejoinNeeded) return;
      const at = state.position;
      if (at === undefined || state.highWatermark === undefined || state.highWatermark - at < threshold || state.bulkDryAt === at || this.isPaused(state.topic, state.partition)) continue;
      const epoch = state.epoch;
      state.bulkDryAt = at; // until a range is read from here
      for await (const chunk of bulkRead(this.http, state.topic, state.partition, at, this.wakeup.signal, 1)) {
        if (!this.running || this.rejoinNeeded || state.epoch !== epoch || this.states.get(tpKey(state.topic, state.partition)) !== state || this.isPaused(state.topic, state.partition)) break;
        await this.process(state, chunk);
      }
    }
  }

  /** Whether a caught-up member waits between polls (client side) instead of at the server. */
  private shortPolls(): boolean {
    const mode = this.config.idleWait ?? 'auto';
    if (mode !== 'auto') return mode === 'short-poll';
    // Until the first answer says otherwise: long polls (a Node server waits for free).
    return this.serverRuntime !== undefined && this.serverRuntime !== 'node';
  }

  private async process(state: PartitionState, fetched: PartitionFetch): Promise<void> {
    const { topic, partition } = state;
    const epoch = state.epoch;
    const messages = fetched.messages;
    const stale = () => state.epoch !== epoch || this.states.get(tpKey(topic, partition)) !== state || this.rejoinNeeded;
    const resolve = (offset: number) => {
      if (stale()) return;
      state.resolved = offset + 1;
      this.resolvedSinceCommit++;
    };
    const pause = () => {
      this.pause([{ topic, partitions: [partition] }]);
      return () => this.resume([{ topic, partitions: [partition] }]);
    };
    if (messages.length === 0) {
      if (!stale()) state.position = fetched.nextOffset;
      return;
    }
    const restart = state.resolved ?? state.position!;
    try {
      if (this.run_.eachBatch) {
        const last = messages[messages.length - 1]!.offset;
        const batch: Batch = {
          topic,
          partition,
          highWatermark: fetched.highWatermark,
          messages,
          isEmpty: () => messages.length === 0,
          firstOffset: () => messages[0]?.offset ?? null,
          lastOffset: () => last,
          offsetLag: () => Math.max(0, fetched.highWatermark - 1 - last),
        };
        await this.run_.eachBatch({
          batch,
          resolveOffset: (o) => resolve(Number(o)),
          heartbeat: () => this.heartbeat(),
          commitOffsetsIfNecessary: async (offsets) => {
            if (offsets) await this.commitOffsets(offsets);
            else if (this.run_.autoCommit) await this.commitResolved();
          },
          uncommittedOffsets: () =>
            [...this.states.values()].filter((s) => s.resolved !== undefined && s.resolved !== s.committed).map((s) => ({ topic: s.topic, partition: s.partition, offset: s.resolved! })),
          isRunning: () => this.running,
          isStale: stale,
          pause,
        });
        if (!stale()) {
          if (this.run_.eachBatchAutoResolve) resolve(last);
          state.position = fetched.nextOffset;
        }
      } else {
        for (const message of messages) {
          if (!this.running || stale() || this.isPaused(topic, partition)) break;
          await this.run_.eachMessage!({ topic, partition, message, heartbeat: () => this.heartbeat(), pause });
          resolve(message.offset);
          if (!stale()) state.position = message.offset + 1;
        }
        if (!stale() && state.position === messages[messages.length - 1]!.offset + 1) state.position = Math.max(state.position, fetched.nextOffset);
      }
    } catch (err) {
      // Redeliver from the last resolved offset after a backoff (KafkaJS's behaviour).
      if (!stale()) state.position = state.resolved ?? restart;
      throw new HandlerError(err);
    }
  }
}

class HandlerError extends Error {
  constructor(override readonly cause: unknown) {
    super(`message handler failed: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

function sameAssignment(a: TopicPartition[], b: TopicPartition[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a.map((tp) => tpKey(tp.topic, tp.partition)));
  return b.every((tp) => s.has(tpKey(tp.topic, tp.partition)));
}
