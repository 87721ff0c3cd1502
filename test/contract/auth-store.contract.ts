// ACL bindings and quota buckets over a MetaStore, written once and run against every adapter
// (SQLite here in every run, DynamoDB on the emulator): what two instances sharing one store
// see of each other's changes, and that the shared bucket holds a principal to its rate
// however many instances draw from it.
import { describe, expect, it } from 'vitest';
import type { AclBinding } from '../../lib/auth/acl';
import { AclStore } from '../../lib/auth/acl-store';
import { BURST_S, CHUNK_S, QuotaLimiter, QuotaStore } from '../../lib/auth/quota';
import type { MetaStore } from '../../lib/storage/ports';
import { ManualClock } from '../../lib/util/clock';

type Factory = () => Promise<{ store: MetaStore; cleanup(): Promise<void> }>;

const b = (principal: string, resourceName: string, extra: Partial<AclBinding> = {}): AclBinding => ({
  principal,
  resourceType: 'topic',
  resourceName,
  patternType: 'literal',
  operation: 'read',
  permission: 'allow',
  ...extra,
});

export function authStoreContract(name: string, factory: Factory): void {
  describe(`access control on ${name}`, () => {
    it('stores bindings idempotently, lists and removes them by filter', async () => {
      const { store, cleanup } = await factory();
      const clock = new ManualClock();
      const acls = new AclStore(store, clock);
      const ns = `User:${Math.random().toString(36).slice(2)}`;
      expect(await acls.add(b(ns, 'orders'))).toBe(true);
      expect(await acls.add(b(ns, 'orders'))).toBe(false);
      await acls.add(b(ns, 'orders.', { patternType: 'prefixed', operation: 'write' }));
      await acls.add(b(ns, 'orders', { permission: 'deny', operation: 'write' }));
      await acls.add(b(`${ns}-other`, 'g#1"x', { resourceType: 'group' }));
      expect((await acls.list({ principal: ns })).length).toBe(3);
      expect(await acls.list({ principal: `${ns}-other` })).toEqual([b(`${ns}-other`, 'g#1"x', { resourceType: 'group' })]);
      expect((await acls.remove({ principal: ns, resourceName: 'orders' })).length).toBe(2);
      expect(await acls.list({ principal: ns })).toEqual([b(ns, 'orders.', { patternType: 'prefixed', operation: 'write' })]);
      await acls.remove({ principal: ns });
      await acls.remove({ principal: `${ns}-other` });
      await cleanup();
    });

    it('sees another instance’s change within the cache time, its own at once', async () => {
      const { store, cleanup } = await factory();
      const clock = new ManualClock();
      const mine = new AclStore(store, clock, 5000);
      const theirs = new AclStore(store, clock, 5000);
      const ns = `User:${Math.random().toString(36).slice(2)}`;
      const has = async (s: AclStore) => (await s.all()).some((x) => x.principal === ns);
      expect(await has(mine)).toBe(false);
      expect(await has(theirs)).toBe(false);
      await mine.add(b(ns, 't'));
      expect(await has(mine)).toBe(true);
      expect(await has(theirs)).toBe(false); // cached
      clock.advance(5000);
      expect(await has(theirs)).toBe(true);
      await theirs.remove({ principal: ns });
      await cleanup();
    });

    it('keeps quotas per principal, with User:* as the default', async () => {
      const { store, cleanup } = await factory();
      const clock = new ManualClock();
      const q = new QuotaStore(store, clock, 0);
      const p = `User:${Math.random().toString(36).slice(2)}`;
      expect(await q.of(p)).toBeUndefined();
      await q.put({ principal: p, producer_byte_rate: 1000, request_rate: 5 });
      expect(await q.of(p)).toEqual({ principal: p, producer_byte_rate: 1000, request_rate: 5 });
      await q.put({ principal: 'User:*', consumer_byte_rate: 7 });
      expect(await q.of(`${p}-x`)).toEqual({ principal: 'User:*', consumer_byte_rate: 7 });
      await q.put({ principal: p });
      await q.put({ principal: 'User:*' });
      expect(await q.of(p)).toBeUndefined();
      await cleanup();
    });

    it('holds a principal to its rate across instances, says when to retry, and restarts an idle bucket full', async () => {
      const { store: inner, cleanup } = await factory();
      let writes = 0;
      const store: MetaStore = { limits: inner.limits, traits: inner.traits, get: (k, o) => inner.get(k, o), query: (q) => inner.query(q), write: (op) => (writes++, inner.write(op)), transact: (ops) => inner.transact(ops) };
      const clock = new ManualClock();
      const instances = [new QuotaLimiter(store, clock), new QuotaLimiter(store, clock), new QuotaLimiter(store, clock)];
      const p = `User:${Math.random().toString(36).slice(2)}`;
      const rate = 1000; // units per second
      let admitted = 0;
      let refusals = 0;
      let retryAfter = 0;
      const seconds = 5;
      // Each instance offers 100 units every 50 ms: 6x the rate.
      for (let t = 0; t < seconds * 1000; t += 50) {
        for (const q of instances) {
          const a = await q.admit(p, 'producer_byte_rate', rate, 100);
          if (a.ok) admitted += 100;
          else {
            refusals++;
            retryAfter = Math.max(retryAfter, a.retryAfterMs);
          }
        }
        clock.advance(50);
      }
      // Never more than the rate over the run plus a burst and the chunks the instances hold.
      expect(admitted).toBeLessThanOrEqual(rate * (seconds + BURST_S + instances.length * CHUNK_S));
      expect(admitted).toBeGreaterThanOrEqual(rate * seconds * 0.8);
      expect(refusals).toBeGreaterThan(0);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(1000);
      // The cost: about one write per chunk drawn, plus one refused write per instance per wait —
      // not one per request (300 were offered).
      expect(writes).toBeLessThanOrEqual(admitted / (rate * CHUNK_S) + refusals / 2 + 10);
      expect(writes).toBeLessThan(100);
      // Another principal is untouched.
      expect((await instances[0]!.admit(`${p}-2`, 'producer_byte_rate', rate, 500)).ok).toBe(true);
      // After a pause, a full burst again (and a request larger than the burst passes from full).
      clock.advance(10_000);
      expect((await instances[1]!.admit(p, 'producer_byte_rate', rate, 2500)).ok).toBe(true);
      const after = await instances[2]!.admit(p, 'producer_byte_rate', rate, 100);
      expect(after.ok).toBe(false);
      // Debts charged after the fact are repaid before the next admission.
      const solo = new QuotaLimiter(store, clock);
      const c = `User:${Math.random().toString(36).slice(2)}`;
      expect((await solo.admit(c, 'consumer_byte_rate', rate, 0)).ok).toBe(true);
      solo.charge(c, 'consumer_byte_rate', 5000);
      expect((await solo.admit(c, 'consumer_byte_rate', rate, 0)).ok).toBe(true); // a full bucket covers a debt larger than the burst once
      solo.charge(c, 'consumer_byte_rate', 5000);
      expect((await solo.admit(c, 'consumer_byte_rate', rate, 0)).ok).toBe(false);
      await cleanup();
    });
  });
}
