// Per-principal quotas (Kafka's producer_byte_rate, consumer_byte_rate, and a request rate),
// enforced across every instance that serves the principal — Lambda scales out, so a limit
// kept in one process's memory would multiply by the number of instances.
//
// The shared state is one item per principal and kind in the metadata store holding a GCRA
// "theoretical arrival time" (tat, ms): the moment the bucket would be full again if nothing
// more were drawn. Drawing n units moves tat forward by n / rate seconds, allowed while tat
// stays within BURST_S of now; an idle bucket (tat in the past) restarts from now. That is a
// single conditional update per draw, no read first: a failed condition returns the stored
// tat (ConditionFailedError.item), which says whether the bucket was idle or how long to wait.
//
// Instances draw in chunks of CHUNK_S seconds of rate and spend them locally, so a busy
// principal costs one metadata write per chunk, not per request (docs/design/0009). A chunk
// held by an instance that goes away is simply lost capacity for at most CHUNK_S. Bytes known
// only after the response (fetches) are charged afterwards: the local balance goes negative and
// the next request of that principal on that instance must first pay the debt.
import { ConditionFailedError } from '../errors';
import type { MetaItem, MetaStore } from '../storage/ports';
import type { Clock } from '../util/clock';
import { quotaBucketKey, quotaKey, QUOTAS_PK } from './keys';

export interface QuotaSettings {
  principal: string;
  /** Bytes per second of produce request bodies. */
  producer_byte_rate?: number;
  /** Bytes per second of fetch and poll responses. */
  consumer_byte_rate?: number;
  /** Requests per second, any route. */
  request_rate?: number;
}

export type QuotaKind = 'producer_byte_rate' | 'consumer_byte_rate' | 'request_rate';
export const QUOTA_KINDS: readonly QuotaKind[] = ['producer_byte_rate', 'consumer_byte_rate', 'request_rate'];

/** How much a principal may use at once after being idle: one second of its rate. */
export const BURST_S = 1;
/** What an instance draws from the shared bucket at a time. */
export const CHUNK_S = 0.25;
export const QUOTA_CACHE_TTL_MS = 5000;

export type Admission = { ok: true } | { ok: false; retryAfterMs: number };

/** Quota settings in the metadata store, cached briefly per instance like the ACLs. */
export class QuotaStore {
  private cached: { byPrincipal: Map<string, QuotaSettings>; at: number } | undefined;

  constructor(
    private readonly meta: MetaStore,
    private readonly clock: Clock,
    private readonly ttlMs = QUOTA_CACHE_TTL_MS,
  ) {}

  /** The principal's quotas, else the default (User:*), else none. */
  async of(principal: string): Promise<QuotaSettings | undefined> {
    const now = this.clock.now();
    if (!this.cached || now - this.cached.at >= this.ttlMs) {
      const byPrincipal = new Map((await this.list()).map((q) => [q.principal, q]));
      this.cached = { byPrincipal, at: now };
    }
    return this.cached.byPrincipal.get(principal) ?? this.cached.byPrincipal.get('User:*');
  }

  /**
   * What of() answers, while the cached settings are fresh; null when of() must read them. The
   * HTTP layer asks this first on every request, so a fresh cache costs no promise (issue 18).
   */
  cachedOf(principal: string): QuotaSettings | undefined | null {
    if (!this.cached || this.clock.now() - this.cached.at >= this.ttlMs) return null;
    return this.cached.byPrincipal.get(principal) ?? this.cached.byPrincipal.get('User:*');
  }

  async list(): Promise<QuotaSettings[]> {
    const out: QuotaSettings[] = [];
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk: QUOTAS_PK, limit: 1000, ...(startAfter ? { startAfter } : {}) });
      for (const item of page.items) out.push(fromItem(item));
      startAfter = page.next;
    } while (startAfter);
    return out;
  }

  /** Replaces the principal's quotas; with no rate given, removes them. */
  async put(q: QuotaSettings): Promise<void> {
    const rates = Object.fromEntries(QUOTA_KINDS.filter((k) => q[k] !== undefined).map((k) => [k, q[k]!]));
    if (Object.keys(rates).length === 0) await this.meta.write({ type: 'delete', key: quotaKey(q.principal) });
    else await this.meta.write({ type: 'put', item: { ...quotaKey(q.principal), principal: q.principal, ...rates } });
    this.cached = undefined;
  }
}

function fromItem(item: MetaItem): QuotaSettings {
  const q: QuotaSettings = { principal: item.sk };
  for (const k of QUOTA_KINDS) if (typeof item[k] === 'number') q[k] = item[k];
  return q;
}

/** The shared token buckets, with this instance's local balances. */
export class QuotaLimiter {
  private readonly local = new Map<string, number>();
  /**
   * After a refusal, the moment the shared bucket can next have room. Until then this instance
   * refuses on its own: a client hammering past its quota must not cost a (failed, yet billed)
   * conditional write per request.
   */
  private readonly blockedUntil = new Map<string, number>();
  /** Per bucket: the tat this instance last saw, and which conditional write last succeeded. */
  private readonly last = new Map<string, { tat: number; idle: boolean }>();

  constructor(
    private readonly meta: MetaStore,
    private readonly clock: Clock,
  ) {}

  /** Takes `amount` units (and any debt) if the principal's bucket allows; never waits. */
  async admit(principal: string, kind: QuotaKind, rate: number, amount: number): Promise<Admission> {
    const id = `${kind}#${principal}`;
    const balance = this.local.get(id) ?? 0;
    const need = amount - balance;
    if (need <= 0) {
      this.local.set(id, balance - amount);
      return { ok: true };
    }
    const blocked = this.blockedUntil.get(id);
    if (blocked !== undefined) {
      const wait = blocked - this.clock.now();
      if (wait > 0) return { ok: false, retryAfterMs: wait };
      this.blockedUntil.delete(id);
    }
    // Always a whole chunk (or the need, if larger): were an instance to take whatever little
    // room the bucket has, a saturated principal would cost a write per request.
    const drawn = Math.max(rate * CHUNK_S, need);
    const result = await this.draw(principal, kind, rate, drawn);
    if (!result.ok) {
      if (this.blockedUntil.size > 10_000) this.blockedUntil.clear();
      this.blockedUntil.set(id, this.clock.now() + result.retryAfterMs);
      return result;
    }
    this.local.set(id, balance + drawn - amount);
    return { ok: true };
  }

  /** Charges units already spent (response bytes): paid back by the principal's next admission. */
  charge(principal: string, kind: QuotaKind, amount: number): void {
    const id = `${kind}#${principal}`;
    this.local.set(id, (this.local.get(id) ?? 0) - amount);
  }

  /**
   * One conditional write in the common case, if it guesses which of the two writes fits: tat
   * never decreases, so a tat seen in the future means the bucket is still running; otherwise
   * the write that last succeeded here is the better guess (a lone instance under its quota
   * mostly finds the bucket idle, instances sharing a busy principal find it running). A wrong
   * guess costs one failed write, whose returned item says which write fits.
   */
  private async draw(principal: string, kind: QuotaKind, rate: number, units: number): Promise<Admission> {
    const key = quotaBucketKey(principal, kind);
    const id = `${kind}#${principal}`;
    const burstMs = BURST_S * 1000;
    const incMs = (units / rate) * 1000;
    // A draw larger than the burst passes only from a full bucket and leaves the debt in tat.
    const slack = burstMs - Math.min(incMs, burstMs);
    const before = this.last.get(id);
    let idle = before === undefined || (before.tat < this.clock.now() && before.idle);
    for (let attempt = 0; attempt < 6; attempt++) {
      const now = this.clock.now();
      try {
        let after;
        if (idle) {
          // Idle (or never used): the bucket restarts full at now.
          after = await this.meta.write({
            type: 'update',
            key,
            set: { tat: now + incMs },
            condition: { op: 'or', conds: [{ op: 'attrNotExists', attr: 'tat' }, { op: 'lt', attr: 'tat', value: now }] },
          });
        } else {
          after = await this.meta.write({
            type: 'update',
            key,
            add: { tat: incMs },
            condition: { op: 'and', conds: [{ op: 'ge', attr: 'tat', value: now }, { op: 'le', attr: 'tat', value: now + slack }] },
          });
        }
        if (this.last.size > 10_000) this.last.clear();
        this.last.set(id, { tat: typeof after?.['tat'] === 'number' ? after['tat'] : now + incMs, idle });
        return { ok: true };
      } catch (err) {
        if (!(err instanceof ConditionFailedError)) throw err;
        const tat = typeof err.item?.['tat'] === 'number' ? err.item['tat'] : undefined;
        if (tat !== undefined && tat > now + slack) return { ok: false, retryAfterMs: tat - (now + slack) };
        // The other write fits (or another instance moved tat in between): go again.
        idle = tat === undefined || tat < now;
      }
    }
    return { ok: false, retryAfterMs: 1000 };
  }
}
