import { describe, expect, it } from 'vitest';
import { StorageError } from '../../../lib/errors.js';
import { Gate, faultyMetaStore, faultyObjectStore } from '../../../lib/storage/faults.js';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store.js';
import type { ObjectStore } from '../../../lib/storage/ports.js';

/** A tiny in-memory ObjectStore: enough to observe whether the wrapped call really ran. */
function memoryStore(): ObjectStore & { data: Map<string, Uint8Array> } {
  const data = new Map<string, Uint8Array>();
  return {
    data,
    put: async (k, b) => void data.set(k, b),
    get: async (k) => data.get(k) ?? new Uint8Array(0),
    head: async (k) => (data.has(k) ? { key: k, size: data.get(k)!.length, lastModified: 0 } : undefined),
    delete: async (ks) => ks.forEach((k) => data.delete(k)),
    list: async () => ({ objects: [] }),
    append: async (k, keep, b) => {
      const parts = b instanceof Uint8Array ? [b] : b;
      data.set(k, new Uint8Array([...(data.get(k) ?? []).slice(0, keep), ...parts.flatMap((p) => [...p])]));
      return { etag: String(data.get(k)!.length) };
    },
    compose: async (k, sources) => {
      data.set(k, new Uint8Array(sources.flatMap((s) => [...(data.get(s.key) ?? []).slice(0, s.size)])));
      return { etag: String(data.get(k)!.length) };
    },
  };
}

const boom = new StorageError('injected', true);
const body = new Uint8Array([1]);

describe('faultyObjectStore', () => {
  it('passes calls through when no rule matches', async () => {
    const inner = memoryStore();
    const s = faultyObjectStore(inner, [{ method: 'delete', action: { kind: 'fail', error: boom } }]);
    await s.put('a', body);
    expect(inner.data.has('a')).toBe(true);
    expect(s.faults.log.map((e) => e.call.method)).toEqual(['put']);
  });

  it('fails the Nth call of a method before it runs, once by default', async () => {
    const inner = memoryStore();
    const s = faultyObjectStore(inner, [{ method: 'put', nth: 2, action: { kind: 'fail', error: boom } }]);
    await s.put('k1', body);
    await expect(s.put('k2', body)).rejects.toBe(boom);
    await s.put('k3', body);
    expect([...inner.data.keys()]).toEqual(['k1', 'k3']);
    expect(s.faults.fired(0)).toBe(1);
    expect(s.faults.log.map((e) => e.rule)).toEqual([undefined, 0, undefined]);
  });

  it('fails after the call ran when the ack is lost', async () => {
    const inner = memoryStore();
    const s = faultyObjectStore(inner, [{ method: 'append', action: { kind: 'failAfter', error: boom } }]);
    await expect(s.append('log', 0, body)).rejects.toBe(boom);
    expect(inner.data.get('log')).toEqual(body);
  });

  it('selects calls by a typed predicate on the arguments, for several times', async () => {
    const inner = memoryStore();
    const s = faultyObjectStore(inner, [
      {
        when: (c) => c.method === 'put' && c.args[0].startsWith('segments/'),
        times: Infinity,
        action: { kind: 'fail', error: boom },
      },
    ]);
    await s.put('index/1', body);
    await expect(s.put('segments/1', body)).rejects.toBe(boom);
    await expect(s.put('segments/2', body)).rejects.toBe(boom);
    expect([...inner.data.keys()]).toEqual(['index/1']);
    expect(s.faults.fired(0)).toBe(2);
  });

  it('freezes a call until its gate is released, then runs it', async () => {
    const inner = memoryStore();
    const gate = new Gate();
    const s = faultyObjectStore(inner, [{ method: 'put', action: { kind: 'hang', gate } }]);
    let done = false;
    const p = s.put('late', body).then(() => (done = true));
    await gate.reached;
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    expect(inner.data.has('late')).toBe(false);
    await s.put('other', body); // other calls are not blocked
    gate.release();
    await p;
    expect(inner.data.has('late')).toBe(true);
  });

  it('can hang forever, and rules can be added and cleared', async () => {
    const inner = memoryStore();
    const s = faultyObjectStore(inner);
    s.faults.add({ method: 'get', action: { kind: 'hang' } });
    const outcome = await Promise.race([s.get('x').then(() => 'ran'), new Promise((r) => setTimeout(() => r('frozen'), 30))]);
    expect(outcome).toBe('frozen');
    s.faults.clear();
    s.faults.add({ method: 'head', action: { kind: 'fail', error: boom } });
    await expect(s.head('x')).rejects.toBe(boom);
    s.faults.clear();
    expect(await s.head('x')).toBeUndefined();
  });
});

describe('faultyMetaStore', () => {
  it('loses the ack of a transact whose effect is durable', async () => {
    const inner = new SqliteMetaStore({ path: ':memory:' });
    const s = faultyMetaStore(inner, [{ method: 'transact', action: { kind: 'failAfter', error: boom } }]);
    expect(s.limits).toBe(inner.limits);
    await expect(s.transact([{ type: 'put', item: { pk: 'p', sk: 's', v: 1 } }])).rejects.toBe(boom);
    expect(await s.get({ pk: 'p', sk: 's' })).toEqual({ pk: 'p', sk: 's', v: 1 });
    await s.close();
  });

  it('matches writes by op type and fires from the Nth match', async () => {
    const inner = new SqliteMetaStore({ path: ':memory:' });
    const s = faultyMetaStore(inner, [
      { when: (c) => c.method === 'write' && c.args[0].type === 'delete', nth: 2, action: { kind: 'fail', error: boom } },
    ]);
    const k = { pk: 'p', sk: 's' };
    await s.write({ type: 'put', item: { ...k, v: 1 } });
    await s.write({ type: 'delete', key: k });
    await s.write({ type: 'put', item: { ...k, v: 2 } });
    await expect(s.write({ type: 'delete', key: k })).rejects.toBe(boom);
    expect(await s.get(k)).toEqual({ ...k, v: 2 });
    await s.close();
  });
});
