// ACL bindings in the metadata store (SQLite embedded, DynamoDB on AWS). Every authorization
// decision needs the whole set, so an instance keeps it for a few seconds (CACHE_TTL_MS) and
// re-reads it with one query; a change made through this instance drops the cache at once,
// a change made elsewhere is seen within the TTL (Kafka's brokers also apply ACL changes
// asynchronously). docs/design/0009-threat-model.md weighs that window.
import type { MetaStore } from '../storage/ports';
import type { Clock } from '../util/clock';
import { type AclBinding, type AclFilter, filterMatches } from './acl';
import { ACLS_PK, aclKey, bindingFromSk } from './keys';

export const ACL_CACHE_TTL_MS = 5000;

export class AclStore {
  private cached: { acls: AclBinding[]; at: number } | undefined;
  private loading: Promise<AclBinding[]> | undefined;

  constructor(
    private readonly meta: MetaStore,
    private readonly clock: Clock,
    private readonly ttlMs = ACL_CACHE_TTL_MS,
  ) {}

  /** Every binding, at most ttlMs old. Concurrent callers share one read. */
  async all(): Promise<AclBinding[]> {
    const now = this.clock.now();
    if (this.cached && now - this.cached.at < this.ttlMs) return this.cached.acls;
    if (!this.loading) {
      const started = now;
      this.loading = this.readAll()
        .then((acls) => {
          this.cached = { acls, at: started };
          return acls;
        })
        .finally(() => {
          this.loading = undefined;
        });
    }
    return this.loading;
  }

  /** Adds a binding; true when it was new. */
  async add(b: AclBinding): Promise<boolean> {
    const before = await this.meta.get(aclKey(b));
    await this.meta.write({ type: 'put', item: { ...aclKey(b), principal: b.principal, created_at: this.clock.now() } });
    this.invalidate();
    return before === undefined;
  }

  async list(filter: AclFilter = {}): Promise<AclBinding[]> {
    return (await this.readAll()).filter((b) => filterMatches(filter, b));
  }

  /** Deletes every binding the filter selects (read fresh, not from the cache); returns them. */
  async remove(filter: AclFilter): Promise<AclBinding[]> {
    const doomed = await this.list(filter);
    for (const b of doomed) await this.meta.write({ type: 'delete', key: aclKey(b) });
    this.invalidate();
    return doomed;
  }

  invalidate(): void {
    this.cached = undefined;
  }

  private async readAll(): Promise<AclBinding[]> {
    const out: AclBinding[] = [];
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk: ACLS_PK, limit: 1000, ...(startAfter ? { startAfter } : {}) });
      for (const item of page.items) {
        const b = bindingFromSk(item.sk);
        // An item this version cannot read grants nothing (deny by default), rather than failing every request.
        if (b) out.push(b);
      }
      startAfter = page.next;
    } while (startAfter);
    return out;
  }
}
