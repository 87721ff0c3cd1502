// Partition leadership: a lease on the partition's head item. The leader is the only process
// that flushes or applies retention to the partition; every write it makes to the catalog is
// conditional on its leader epoch, which rises at every takeover, so a paused leader that
// resumes (a "zombie") is rejected. The lease only decides who *tries*: correctness rests on
// the epoch fence (and, for objects, on ETags proved against it — flush.ts), never on expiry.
//
// Expiry, two ways, whichever comes first:
// - by watching (as amazon-dynamodb-lock-client): the holder writes a fresh record-version
//   number (RVN) on every renewal; another process may take the lease once it has itself
//   watched the same RVN for a whole lease duration on its own monotonic clock;
// - by the written deadline: every renewal also stores `lease_until`, the holder's wall time
//   plus the duration; any process whose wall clock is past it by a skew margin (half a
//   duration) may take it at once. Without this, a process that never watched — a job run
//   by `npm run job:*` or a scheduled Lambda, which lives for one pass — could never take a
//   lease whose holder went silent without releasing it (kept after its last flush, or killed):
//   it would see a fresh RVN on every pass and skip the partition forever.
// A holder renews at a third of the duration and stops using the lease (without writing) once
// two thirds have passed since its last successful renewal. A takeover by deadline therefore
// happens 1.5 durations after the last renewal at the earliest, i.e. 5/6 of a duration after
// the holder stopped acting, provided the hosts' wall clocks agree within that (25 s for the
// default 30 s; NTP-synced hosts agree within milliseconds); watching needs only that clocks
// run at roughly the same rate. Either way a silent holder's lease is takeable by any process
// within two durations of its last renewal.
import { ConditionFailedError } from '../errors';
import type { Condition, MetaStore } from '../storage/ports';
import type { Clock } from '../util/clock';
import { HEAD_ATTR, headFromItem, headUpdate, LEASE_ATTR } from './items';
import { headKey } from './keys';
import type { Topic } from './topics';

export interface LeaseOptions {
  durationMs: number;
  /** Identifies this process in the lease item: `<host>/<pid>/<random>`. */
  owner: string;
  /**
   * True only when the owner is certainly gone (a process on this host whose pid no longer
   * exists): its lease is taken at once instead of after a full duration. Used where every
   * process shares one host (embedded mode), so a restart after kill -9 flushes immediately.
   */
  ownerIsDead?: (owner: string) => boolean;
}

/** `ownerIsDead` for processes on this host: a pid that does not exist is dead (a reused pid just waits). */
export function deadOnThisHost(hostname: string): (owner: string) => boolean {
  return (owner) => {
    const [host, pidText] = owner.split('/');
    const pid = Number(pidText);
    if (host !== hostname || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
    try {
      process.kill(pid, 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  };
}

export const DEFAULT_LEASE_MS = 30_000;

/** Slack on `lease_until` for wall clocks that disagree (a fraction of the duration; see above). */
export const LEASE_SKEW_FRACTION = 0.5;

interface Held {
  epoch: number;
  rvn: string;
  /** Monotonic time of the last successful write of `rvn`. */
  renewedAt: number;
}

interface Observed {
  rvn: string;
  /** Monotonic time this process first saw `rvn`. */
  since: number;
}

export type LeaseResult = { epoch: number } | { busy: true; owner: string; retryInMs: number };

export class LeaseManager {
  private held = new Map<string, Held>();
  private observed = new Map<string, Observed>();

  constructor(
    private readonly meta: MetaStore,
    private readonly clock: Clock,
    private readonly opts: LeaseOptions,
  ) {}

  private mono(): number {
    return this.clock.monotonic();
  }

  /**
   * Hold the partition's lease (taking or renewing it as needed). Returns the leader epoch to
   * fence writes with, or `busy` while another live process holds it.
   */
  async acquire(topic: Topic, partition: number): Promise<LeaseResult> {
    const key = headKey(topic.id, partition);
    const id = `${topic.id}/${partition}`;
    const now = this.mono();
    const mine = this.held.get(id);
    if (mine && now - mine.renewedAt < this.opts.durationMs / 3) return { epoch: mine.epoch };

    const {
      leaderEpoch: epoch,
      lease: { rvn, owner, until },
    } = headFromItem(await this.meta.get(key));

    if (mine && rvn === mine.rvn && epoch === mine.epoch) {
      // Nobody wrote since our last renewal: renewing is safe however late it is, because the
      // write is conditional on our RVN (a process that took over would have changed it).
      return this.write(id, key, epoch, rvn, false, now);
    }
    if (mine) this.held.delete(id); // taken over while we were away

    if (rvn !== undefined && owner !== '' && !this.opts.ownerIsDead?.(owner)) {
      // Someone holds (or held) it: take over once its written deadline is past by the skew
      // margin on our wall clock, or after watching the same RVN for a whole lease duration on
      // our own monotonic clock. (A lease written before `lease_until` existed can only be
      // watched out.)
      const wall = this.clock.now();
      const deadline = until === undefined ? Infinity : until + this.opts.durationMs * LEASE_SKEW_FRACTION;
      if (wall <= deadline) {
        const seen = this.observed.get(id);
        if (!seen || seen.rvn !== rvn) {
          this.observed.set(id, { rvn, since: now });
          return { busy: true, owner, retryInMs: Math.min(this.opts.durationMs, deadline - wall + 1) };
        }
        const waited = now - seen.since;
        if (waited < this.opts.durationMs) return { busy: true, owner, retryInMs: Math.min(this.opts.durationMs - waited, deadline - wall + 1) };
      }
    }
    return this.write(id, key, epoch, rvn, true, now);
  }

  private async write(id: string, key: { pk: string; sk: string }, epoch: number, rvn: string | undefined, takeover: boolean, now: number): Promise<LeaseResult> {
    const next = crypto.randomUUID();
    const newEpoch = takeover ? epoch + 1 : epoch;
    const cond: Condition[] = [
      epoch === 0
        ? { op: 'or', conds: [{ op: 'attrNotExists', attr: HEAD_ATTR.leaderEpoch }, { op: 'eq', attr: HEAD_ATTR.leaderEpoch, value: 0 }] }
        : { op: 'eq', attr: HEAD_ATTR.leaderEpoch, value: epoch },
      rvn === undefined ? { op: 'attrNotExists', attr: LEASE_ATTR.rvn } : { op: 'eq', attr: LEASE_ATTR.rvn, value: rvn },
    ];
    try {
      await this.meta.write({
        type: 'update',
        key,
        // lease_until is the holder's own wall clock: only ever compared with a skew margin.
        ...headUpdate({ leaderEpoch: newEpoch, lease: { rvn: next, owner: this.opts.owner, until: this.clock.now() + this.opts.durationMs } }),
        condition: { op: 'and', conds: cond },
      });
    } catch (err) {
      if (err instanceof ConditionFailedError) {
        this.held.delete(id);
        const owner = headFromItem(err.item).lease.owner || 'unknown';
        return { busy: true, owner, retryInMs: this.opts.durationMs };
      }
      throw err;
    }
    this.held.set(id, { epoch: newEpoch, rvn: next, renewedAt: now });
    this.observed.delete(id);
    return { epoch: newEpoch };
  }

  /** A guard for code that works under the lease (flush, retention) until it is lost. */
  guard(topic: Topic, partition: number, epoch: number): { readonly epoch: number; held(): boolean; renew(): Promise<boolean> } {
    return {
      epoch,
      held: () => this.stillHeld(topic, partition) && this.held.get(`${topic.id}/${partition}`)?.epoch === epoch,
      renew: async () => {
        const r = await this.acquire(topic, partition);
        return 'epoch' in r && r.epoch === epoch;
      },
    };
  }

  /** Is the lease still safely ours (without a store round trip)? */
  stillHeld(topic: Topic, partition: number): boolean {
    const mine = this.held.get(`${topic.id}/${partition}`);
    return !!mine && this.mono() - mine.renewedAt < (this.opts.durationMs * 2) / 3;
  }

  /** Give one partition's lease up (work that took it only for itself is done). */
  async release(topic: Topic, partition: number): Promise<void> {
    const id = `${topic.id}/${partition}`;
    const h = this.held.get(id);
    if (!h) return;
    this.held.delete(id);
    await this.releaseHeld(id, h);
  }

  /** Give every held lease up (clean shutdown), so others need not wait for expiry. */
  async releaseAll(): Promise<void> {
    const entries = [...this.held.entries()];
    this.held.clear();
    await Promise.all(entries.map(([id, h]) => this.releaseHeld(id, h)));
  }

  private async releaseHeld(id: string, h: Held): Promise<void> {
    const [topicId, partition] = splitId(id);
    try {
      await this.meta.write({
        type: 'update',
        key: headKey(topicId, partition),
        // Owner '' and no rvn or deadline: released.
        ...headUpdate({ lease: { owner: '' } }),
        condition: { op: 'and', conds: [{ op: 'eq', attr: HEAD_ATTR.leaderEpoch, value: h.epoch }, { op: 'eq', attr: LEASE_ATTR.rvn, value: h.rvn }] },
      });
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
    }
  }
}

function splitId(id: string): [string, number] {
  const i = id.lastIndexOf('/');
  return [id.slice(0, i), Number(id.slice(i + 1))];
}
