// Several listeners sharing one bucket and table (AWS mode, or several processes on one data
// folder) form one Kafka "cluster": each registers itself in the metadata store, so Metadata
// lists every live instance as a broker, and each Kafka group is pinned to ONE instance by a
// lease item, so FindCoordinator sends every member of a group to the same process — the one
// whose in-memory state machine (groups.ts) runs the group.
//
//   kafka-nodes / <host:port>   node_id, host, port, until     (renewed every RENEW_MS)
//   kafka-coord / <group>       owner <host:port>, until, active (claimed by conditional write)
//
// `active` says Kafka members are in the group: the HTTP API refuses to let its own members
// join such a group (409 INCONSISTENT_GROUP_PROTOCOL, `kafkaGroupGuard`), whichever instance
// it reaches; the owner clears it when the last Kafka member leaves (at its LeaveGroup), or at
// the next renewal after the last one expired.
//
// A coordinator lease is taken when absent, expired (its `until` is in the past on the taker's
// wall clock) or already ours, with a conditional write, so two instances never both claim it
// at once. The owner renews it while the group has members. If the owner dies, members fail
// over after LEASE_MS (their requests answer NOT_COORDINATOR / connection errors, they ask
// FindCoordinator again, and the next instance claims the group); the members re-join there,
// as they would after a Kafka coordinator failover. Fencing of offsets does not rest on the
// lease: a commit still needs the generation the member got from the coordinator it talks to.
import { ConditionFailedError, SamsaError } from '../errors';
import type { MetaStore } from '../storage/ports';
import type { Node } from './context';

const NODES_PK = 'kafka-nodes';
const COORD_PK = 'kafka-coord';
export const LEASE_MS = 30_000;
const RENEW_MS = 10_000;

export class KafkaCluster {
  private readonly owned = new Map<string, number>();
  /** Groups whose lease item says `active` (as last written by us). */
  private readonly marked = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly self: string;

  constructor(
    private readonly meta: MetaStore,
    private readonly node: Node,
    /** Groups with members here (their leases are renewed). */
    private readonly active: () => string[],
    private readonly now: () => number = Date.now,
  ) {
    this.self = `${node.host}:${node.port}`;
  }

  async start(): Promise<void> {
    await this.register();
    this.timer = setInterval(() => void this.tick().catch(() => undefined), RENEW_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    // Hand back what we hold, so others need not wait for the leases to lapse.
    await Promise.all(
      [...this.owned.keys()].map((g) => this.meta.write({ type: 'delete', key: { pk: COORD_PK, sk: g }, condition: { op: 'eq', attr: 'owner', value: this.self } }).catch(() => undefined)),
    );
    await this.meta.write({ type: 'delete', key: { pk: NODES_PK, sk: this.self } }).catch(() => undefined);
  }

  private async register(): Promise<void> {
    await this.meta.write({ type: 'put', item: { pk: NODES_PK, sk: this.self, node_id: this.node.id, host: this.node.host, port: this.node.port, until: this.now() + LEASE_MS } });
  }

  private async tick(): Promise<void> {
    await this.register();
    const active = new Set(this.active());
    for (const g of [...this.owned.keys()]) {
      if (active.has(g)) await this.claim(g, true).catch(() => undefined);
      else if (this.marked.has(g)) await this.claim(g, false).catch(() => undefined);
      else if ((this.owned.get(g) ?? 0) < this.now()) {
        // Lapsed and unused: remove the item too (one-off group ids would otherwise leave one
        // each), unless another instance has taken the group meanwhile.
        this.owned.delete(g);
        const now = this.now();
        await this.meta
          .write({ type: 'delete', key: { pk: COORD_PK, sk: g }, condition: { op: 'and', conds: [{ op: 'eq', attr: 'owner', value: this.self }, { op: 'lt', attr: 'until', value: now }] } })
          .catch(() => undefined);
      }
    }
  }

  /** Every live instance (this one first). */
  async brokers(): Promise<Node[]> {
    const out: Node[] = [this.node];
    const now = this.now();
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk: NODES_PK, limit: 100, ...(startAfter ? { startAfter } : {}) });
      for (const it of page.items) {
        if (it.sk === this.self || typeof it['until'] !== 'number' || it['until'] < now) continue;
        out.push({ id: Number(it['node_id']), host: String(it['host']), port: Number(it['port']) });
      }
      startAfter = page.next;
    } while (startAfter);
    return out;
  }

  /** The instance that coordinates `group`: this one if it holds (or could take) the lease. */
  async coordinator(group: string): Promise<Node> {
    const owner = await this.claim(group);
    if (owner === this.self || owner === '') return this.node;
    const item = await this.meta.get({ pk: NODES_PK, sk: owner });
    if (item) return { id: Number(item['node_id']), host: String(item['host']), port: Number(item['port']) };
    // The owner's node record is gone (it stopped): its lease will lapse; until then, name it.
    const [host, port] = [owner.slice(0, owner.lastIndexOf(':')), Number(owner.slice(owner.lastIndexOf(':') + 1))];
    return { id: -1, host, port };
  }

  /** Whether this instance coordinates `group` (claiming it when free). */
  async owns(group: string): Promise<boolean> {
    const until = this.owned.get(group);
    // Use a held lease only while well inside it: a renewal may have failed unseen.
    if (until !== undefined && until - LEASE_MS / 3 > this.now()) return true;
    return (await this.claim(group)) === this.self;
  }

  /** Records that Kafka members joined `group` (this instance owns it). */
  async markActive(group: string): Promise<void> {
    if (!this.marked.has(group)) await this.claim(group, true);
  }

  /** Records that no Kafka member is in `group` after all (a refused join marked it). */
  async markInactive(group: string): Promise<void> {
    if (this.marked.has(group)) await this.claim(group, false);
  }

  /** Take or renew the lease when free or ours; the owner's address either way. */
  private async claim(group: string, active = this.marked.has(group), attempt = 0): Promise<string> {
    const now = this.now();
    const until = now + LEASE_MS;
    try {
      await this.meta.write({
        type: 'put',
        item: { pk: COORD_PK, sk: group, owner: this.self, until, active },
        condition: { op: 'or', conds: [{ op: 'notExists' }, { op: 'eq', attr: 'owner', value: this.self }, { op: 'lt', attr: 'until', value: now }] },
      });
      this.owned.set(group, until);
      if (active) this.marked.add(group);
      else this.marked.delete(group);
      return this.self;
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
      this.owned.delete(group);
      this.marked.delete(group);
      const item = await this.meta.get({ pk: COORD_PK, sk: group }, { consistent: true });
      // Released between our write and read: try again a few times, then answer "nobody"
      // (owns() is false; the client asks again and the next request claims it).
      if (!item) return attempt < 3 ? this.claim(group, active, attempt + 1) : '';
      return String(item['owner']);
    }
  }
}

/**
 * The groups Kafka members hold (live leases marked active, on any instance): one query of the
 * lease items, for listings that say which groups are not the HTTP coordinator's.
 */
export function kafkaHeldGroups(meta: MetaStore, now: () => number = Date.now): () => Promise<Set<string>> {
  return async () => {
    const held = new Set<string>();
    const at = now();
    let startAfter: string | undefined;
    do {
      const page = await meta.query({ pk: COORD_PK, limit: 1000, ...(startAfter ? { startAfter } : {}) });
      for (const it of page.items) if (it['active'] === true && typeof it['until'] === 'number' && it['until'] >= at) held.add(it.sk);
      startAfter = page.next;
    } while (startAfter);
    return held;
  };
}

/**
 * The HTTP side of the mixed-protocol rule: a group Kafka members hold (a live lease marked
 * active, on any instance) takes no HTTP members. The Kafka side refuses the other way round
 * (JoinGroup answers INCONSISTENT_GROUP_PROTOCOL while the group has HTTP members).
 */
export function kafkaGroupGuard(meta: MetaStore, now: () => number = Date.now): (group: string) => Promise<void> {
  return async (group) => {
    const item = await meta.get({ pk: COORD_PK, sk: group }, { consistent: true });
    if (item && item['active'] === true && typeof item['until'] === 'number' && item['until'] >= now()) {
      throw new SamsaError('INCONSISTENT_GROUP_PROTOCOL', `group "${group}" has Kafka-protocol members (via ${String(item['owner'])}); a group is either HTTP-managed or Kafka-managed at one time`, { group });
    }
  };
}
