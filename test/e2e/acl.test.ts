// Access control end to end against the real server (SAMSA_AUTH=keys): three principals — a
// super user, a producer and a consumer — with ACLs created through the API. Each can do
// exactly what its ACLs allow and gets Kafka's 403 otherwise; prefixed ACLs match; deny wins;
// a wrong or missing key is a 401; lists show only what the caller may describe; group
// consumption needs group AND topic read; a refused request changes nothing; a producer quota
// throttles with 429 + Retry-After while another principal is unaffected; and the server
// refuses to listen on 0.0.0.0 without authentication.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa } from '../../lib/client';
import { REPO_ROOT, type ServerHandle, startServer } from '../helpers/server';

type Json = any;
interface Res {
  status: number;
  body: Json;
  headers: Headers;
}

const KEYS = { admin: 'admin-secret-0123456789', producer: 'producer-secret-abcdef', consumer: 'consumer-secret-xyz987', other: 'other-secret-qwerty55' };
let server: ServerHandle;

async function call(key: string | undefined, method: string, p: string, body?: unknown, extra: Record<string, string> = {}): Promise<Res> {
  const headers: Record<string, string> = { ...extra };
  if (key !== undefined) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(server.url + p, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  if (res.status >= 500) throw new Error(`${method} ${p} → ${res.status} ${text}\n${server.output().slice(-3000)}`);
  let parsed: Json;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers };
}
const admin = (m: string, p: string, b?: unknown) => call(KEYS.admin, m, p, b);
const producer = (m: string, p: string, b?: unknown) => call(KEYS.producer, m, p, b);
const consumer = (m: string, p: string, b?: unknown) => call(KEYS.consumer, m, p, b);
const grant = async (acl: Record<string, unknown>) => expect((await admin('POST', '/v1/acls', acl)).status).toBe(201);

function auditLines(): Array<Record<string, unknown>> {
  return server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.audit !== undefined);
}

beforeAll(async () => {
  server = await startServer({
    env: {
      SAMSA_AUTH: 'keys',
      SAMSA_API_KEYS: `User:admin=${KEYS.admin},User:producer=${KEYS.producer},User:consumer=${KEYS.consumer},User:other=${KEYS.other}`,
      SAMSA_SUPER_USERS: 'User:admin',
      SAMSA_LOG_LEVEL: 'info',
    },
  });
  for (const name of ['orders.eu', 'orders.us', 'payments', 'secret.audit']) {
    expect((await admin('POST', '/v1/topics', { name, partitions: 2 })).status).toBe(201);
  }
  // producer: write on every orders.* topic (prefixed), but explicitly denied orders.us.
  await grant({ principal: 'User:producer', resource_type: 'topic', pattern_type: 'prefixed', resource_name: 'orders.', operation: 'write' });
  await grant({ principal: 'User:producer', resource_type: 'topic', resource_name: 'orders.us', operation: 'all', permission: 'deny' });
  // consumer: read orders.eu and the group "billing" only.
  await grant({ principal: 'User:consumer', resource_type: 'topic', resource_name: 'orders.eu', operation: 'read' });
  await grant({ principal: 'User:consumer', resource_type: 'group', resource_name: 'billing', operation: 'read' });
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

describe('authentication', () => {
  it('answers 401 AUTHENTICATION_FAILED to a missing, malformed or wrong key, and never logs the key', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Basic Zm9vOmJhcg==' }, { authorization: 'Bearer not-a-key-hunter2' }, { authorization: `Bearer ${KEYS.admin}x` }]) {
      const res = await fetch(`${server.url}/v1/topics`, { headers });
      expect(res.status).toBe(401);
      expect(((await res.json()) as Json).error_code).toBe('AUTHENTICATION_FAILED');
    }
    // What stays open: liveness and the API description.
    expect((await call(undefined, 'GET', '/healthz')).status).toBe(200);
    expect((await call(undefined, 'GET', '/openapi.json')).status).toBe(200);
    expect((await call(undefined, 'GET', '/metrics')).status).toBe(401);
    // HEAD is answered by the GET route, so it is checked like the GET.
    expect((await call(undefined, 'HEAD', '/healthz')).status).toBe(200);
    expect((await call(undefined, 'HEAD', '/v1/topics/payments')).status).toBe(401);
    expect((await call(KEYS.consumer, 'HEAD', '/v1/topics/orders.eu')).status).toBe(200);
    expect((await call(KEYS.consumer, 'HEAD', '/v1/topics/payments')).status).toBe(403);
    await new Promise((r) => setTimeout(r, 100));
    expect(auditLines().some((l) => l.audit === 'authentication' && l.decision === 'deny')).toBe(true);
    for (const secret of [...Object.values(KEYS), 'not-a-key-hunter2']) expect(server.output()).not.toContain(secret);
  });

  it('attributes each request to its principal in the access log', async () => {
    const res = await fetch(`${server.url}/v1/topics`, { headers: { authorization: `Bearer ${KEYS.consumer}`, 'x-request-id': 'acl-who-1' } });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 100));
    const line = server
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Json)
      .find((l) => l.request_id === 'acl-who-1' && l.msg === 'request');
    expect(line?.principal).toBe('User:consumer');
  });
});

describe('ACLs', () => {
  it('lets the producer write exactly where a prefixed ACL allows, and deny wins over it', async () => {
    expect((await producer('POST', '/v1/topics/orders.eu/records', { records: [{ value: 1 }] })).status).toBe(200);
    const denied = await producer('POST', '/v1/topics/orders.us/records', { records: [{ value: 2 }] });
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({ error_code: 'TOPIC_AUTHORIZATION_FAILED', topic: 'orders.us' });
    const outside = await producer('POST', '/v1/topics/payments/records', { records: [{ value: 3 }] });
    expect(outside.body.error_code).toBe('TOPIC_AUTHORIZATION_FAILED');
    // Write does not grant read; nothing grants create or delete.
    expect((await producer('GET', '/v1/topics/orders.eu/partitions/0/records?offset=0')).body.error_code).toBe('TOPIC_AUTHORIZATION_FAILED');
    expect((await producer('POST', '/v1/topics', { name: 'orders.new', partitions: 1 })).body.error_code).toBe('TOPIC_AUTHORIZATION_FAILED');
    expect((await producer('DELETE', '/v1/topics/orders.eu')).body.error_code).toBe('TOPIC_AUTHORIZATION_FAILED');
    // Write implies describe (Kafka), so the producer may look at orders.eu.
    expect((await producer('GET', '/v1/topics/orders.eu')).status).toBe(200);
    // It can get an idempotent producer id (write on some topic), the consumer cannot.
    expect((await producer('POST', '/v1/producers', {})).status).toBe(200);
    expect((await consumer('POST', '/v1/producers', {})).body.error_code).toBe('CLUSTER_AUTHORIZATION_FAILED');
  });

  it('refused requests change nothing', async () => {
    const hw = async (t: string) => (await admin('GET', `/v1/topics/${t}`)).body.partitions.map((p: Json) => p.high_watermark);
    const before = { us: await hw('orders.us'), pay: await hw('payments') };
    expect((await producer('POST', '/v1/topics/orders.us/records', { records: [{ value: 'x', partition: 0 }] })).status).toBe(403);
    expect((await consumer('POST', '/v1/topics/payments/records', { records: [{ value: 'x', partition: 0 }] })).status).toBe(403);
    expect((await consumer('DELETE', '/v1/topics/payments')).status).toBe(403);
    expect((await consumer('PATCH', '/v1/topics/payments', { partitions: 5 })).status).toBe(403);
    expect((await consumer('POST', '/v1/topics', { name: 'sneaky', partitions: 1 })).status).toBe(403);
    expect({ us: await hw('orders.us'), pay: await hw('payments') }).toEqual(before);
    const names = (await admin('GET', '/v1/topics')).body.topics.map((t: Json) => t.name).sort();
    expect(names).toEqual(['orders.eu', 'orders.us', 'payments', 'secret.audit']);
    expect((await admin('GET', '/v1/topics/payments')).body.partitions.length).toBe(2);
  });

  it('answers 403, not 404, for a topic the caller may not describe, whether or not it exists', async () => {
    const exists = await consumer('GET', '/v1/topics/secret.audit');
    const missing = await consumer('GET', '/v1/topics/no.such.topic');
    expect(exists.status).toBe(403);
    expect(missing.status).toBe(403);
    expect(exists.body.error_code).toBe(missing.body.error_code);
    expect((await consumer('GET', '/v1/topics/secret.audit/partitions/0/offsets')).status).toBe(403);
    expect((await consumer('GET', '/v1/topics/no.such.topic/partitions/0/offsets')).status).toBe(403);
    // Creating a topic that exists does not reveal it to a caller allowed to create but not describe.
    await grant({ principal: 'User:other', resource_type: 'cluster', operation: 'create' });
    expect((await call(KEYS.other, 'POST', '/v1/topics', { name: 'secret.audit', partitions: 1 })).body.error_code).toBe('TOPIC_AUTHORIZATION_FAILED');
    expect((await call(KEYS.other, 'POST', '/v1/topics', { name: 'other.fresh', partitions: 1 })).status).toBe(201);
    // The super user still sees the truth.
    expect((await admin('GET', '/v1/topics/no.such.topic')).status).toBe(404);
  });

  it('shows each caller only the topics it may describe', async () => {
    const names = async (k: string) => (await call(k, 'GET', '/v1/topics')).body.topics.map((t: Json) => t.name).sort();
    expect(await names(KEYS.consumer)).toEqual(['orders.eu']);
    // Denied "all" on orders.us takes describe away too.
    expect(await names(KEYS.producer)).toEqual(['orders.eu']);
    expect(await names(KEYS.admin)).toEqual(['orders.eu', 'orders.us', 'other.fresh', 'payments', 'secret.audit']);
  });

  // The client's deleteTopic describes the topic first, to delete that incarnation only; a
  // caller allowed to delete a topic but denied describing it deletes it all the same (by name,
  // as DELETE itself allows).
  it('lets the client delete a topic its caller may delete but is denied describing', async () => {
    expect((await admin('POST', '/v1/topics', { name: 'other.doomed', partitions: 1 })).status).toBe(201);
    await grant({ principal: 'User:other', resource_type: 'topic', resource_name: 'other.doomed', operation: 'delete' });
    await grant({ principal: 'User:other', resource_type: 'topic', resource_name: 'other.doomed', operation: 'describe', permission: 'deny' });
    const client = new Samsa({ url: server.url, auth: { mode: 'bearer', token: KEYS.other } });
    await expect(client.admin().deleteTopic('other.doomed')).resolves.toBeUndefined();
    expect((await admin('GET', '/v1/topics/other.doomed')).status).toBe(404);
  });

  it('needs read on both the group and every topic to consume through a group', async () => {
    // Group allowed, topic not: refused before joining.
    const noTopic = await consumer('POST', '/v1/groups/billing/members', { topics: ['payments'] });
    expect(noTopic.body.error_code).toBe('TOPIC_AUTHORIZATION_FAILED');
    // Topic allowed, group not.
    const noGroup = await consumer('POST', '/v1/groups/fraud/members', { topics: ['orders.eu'] });
    expect(noGroup.body.error_code).toBe('GROUP_AUTHORIZATION_FAILED');
    expect((await admin('GET', '/v1/groups')).body.groups.map((g: Json) => g.group)).not.toContain('fraud');
    // Both: joins, polls, commits.
    const join = await consumer('POST', '/v1/groups/billing/members', { topics: ['orders.eu'] });
    expect(join.status).toBe(200);
    const member = join.body.member_id as string;
    const poll = await consumer('GET', `/v1/groups/billing/members/${member}/records?wait_ms=0`);
    expect(poll.status).toBe(200);
    expect(poll.body.records.map((r: Json) => r.value)).toContain(1);
    const commit = await consumer('POST', '/v1/groups/billing/offsets', {
      member_id: member,
      generation: join.body.generation,
      offsets: [{ topic: 'payments', partition: 0, offset: 0 }],
    });
    expect(commit.body.error_code).toBe('TOPIC_AUTHORIZATION_FAILED');
    // Another principal cannot poll through this member, nor reset the group.
    expect((await producer('GET', `/v1/groups/billing/members/${member}/records`)).body.error_code).toBe('GROUP_AUTHORIZATION_FAILED');
    expect((await consumer('POST', '/v1/groups/billing/offsets/reset', { topic: 'orders.eu', to: 'earliest' })).body.error_code).toBe('GROUP_AUTHORIZATION_FAILED');
    // Committed offsets show only the topics the caller may describe, and the lag is theirs.
    const committed = await admin('POST', '/v1/groups/mixed/offsets', {
      offsets: [
        { topic: 'orders.eu', partition: 0, offset: 0 },
        { topic: 'payments', partition: 0, offset: 0 },
      ],
    });
    expect(committed.status, JSON.stringify(committed.body)).toBe(200);
    await grant({ principal: 'User:consumer', resource_type: 'group', resource_name: 'mixed', operation: 'describe' });
    const all = await admin('GET', '/v1/groups/mixed/offsets');
    expect(new Set(all.body.offsets.map((o: Json) => o.topic))).toEqual(new Set(['orders.eu', 'payments']));
    const mine = await consumer('GET', '/v1/groups/mixed/offsets');
    expect(mine.status).toBe(200);
    expect(new Set(mine.body.offsets.map((o: Json) => o.topic))).toEqual(new Set(['orders.eu']));
    expect(mine.body.lag).toBe(mine.body.offsets.reduce((a: number, o: Json) => a + o.lag, 0));
    await admin('DELETE', '/v1/acls', { principal: 'User:consumer', resource_name: 'mixed' });
    // Group lists are filtered like topic lists.
    expect((await consumer('GET', '/v1/groups')).body.groups.map((g: Json) => g.group)).toEqual(['billing']);
    expect((await producer('GET', '/v1/groups')).body.groups).toEqual([]);
    // Revoking the topic read (deny) stops the member's polls within the ACL cache time.
    await grant({ principal: 'User:consumer', resource_type: 'topic', resource_name: 'orders.eu', operation: 'read', permission: 'deny' });
    const refused = await until(8000, async () => {
      const r = await consumer('GET', `/v1/groups/billing/members/${member}/records?wait_ms=0`);
      return r.status === 403 ? r : undefined;
    });
    expect(refused.body.error_code).toBe('TOPIC_AUTHORIZATION_FAILED');
    const removed = await admin('DELETE', '/v1/acls', { principal: 'User:consumer', permission: 'deny' });
    expect(removed.body).toEqual({ deleted: 1 });
    expect((await consumer('DELETE', `/v1/groups/billing/members/${member}`)).status).toBe(204);
  });

  it('keeps ACL and quota administration to the cluster, and audits every change', async () => {
    expect((await producer('POST', '/v1/acls', { principal: 'User:producer', resource_type: 'topic', resource_name: '*', operation: 'all' })).body.error_code).toBe('CLUSTER_AUTHORIZATION_FAILED');
    expect((await consumer('GET', '/v1/acls')).body.error_code).toBe('CLUSTER_AUTHORIZATION_FAILED');
    expect((await consumer('PUT', '/v1/quotas', { principal: 'User:consumer' })).body.error_code).toBe('CLUSTER_AUTHORIZATION_FAILED');
    expect((await consumer('GET', '/metrics')).body.error_code).toBe('CLUSTER_AUTHORIZATION_FAILED');
    const listed = await admin('GET', '/v1/acls?principal=User:producer');
    expect([...listed.body.acls].sort((a: Json, b: Json) => a.resource_name.localeCompare(b.resource_name))).toEqual([
      { principal: 'User:producer', resource_type: 'topic', resource_name: 'orders.', pattern_type: 'prefixed', operation: 'write', permission: 'allow' },
      { principal: 'User:producer', resource_type: 'topic', resource_name: 'orders.us', pattern_type: 'literal', operation: 'all', permission: 'deny' },
    ]);
    // GET filters on every field DELETE's filter names, so a listing shows what a delete with
    // the same filter would remove; a value that is not one of the field's values is a 400,
    // not an unfiltered list.
    const prefixed = await admin('GET', '/v1/acls?principal=User:producer&pattern_type=prefixed');
    expect(prefixed.body.acls.map((a: Json) => a.resource_name)).toEqual(['orders.']);
    const denies = await admin('GET', '/v1/acls?principal=User:producer&operation=all&permission=deny');
    expect(denies.body.acls.map((a: Json) => a.resource_name)).toEqual(['orders.us']);
    expect((await admin('GET', '/v1/acls?principal=User:producer&operation=write&permission=deny')).body.acls).toEqual([]);
    for (const bad of ['pattern_type=glob', 'operation=poke', 'permission=maybe', 'resource_type=queue']) {
      const r = await admin('GET', `/v1/acls?${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.error_code, bad).toBe('INVALID_REQUEST');
    }
    // Bad bindings are 400s.
    expect((await admin('POST', '/v1/acls', { principal: 'alice', resource_type: 'topic', resource_name: 'x', operation: 'read' })).body.error_code).toBe('INVALID_REQUEST');
    expect((await admin('POST', '/v1/acls', { principal: 'User:a', resource_type: 'topic', operation: 'read' })).body.error_code).toBe('INVALID_REQUEST');
    expect((await admin('DELETE', '/v1/acls', {})).body.error_code).toBe('INVALID_REQUEST');
    await new Promise((r) => setTimeout(r, 100));
    const audit = auditLines();
    expect(audit.filter((l) => l.audit === 'acl' && l.change === 'add').length).toBeGreaterThanOrEqual(6);
    expect(audit.some((l) => l.audit === 'acl' && l.change === 'remove' && l.deleted === 1)).toBe(true);
    expect(audit.find((l) => l.audit === 'authorization' && l.principal === 'User:producer' && l.resource_name === 'orders.us')).toMatchObject({
      operation: 'write',
      resource_type: 'topic',
      decision: 'deny',
    });
  });
});

async function until<T>(ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('quotas', () => {
  it('throttles a producer at 100 KiB/s under a 1 MiB/s load with 429 + Retry-After, leaving another principal alone', async () => {
    await grant({ principal: 'User:other', resource_type: 'topic', resource_name: 'orders.eu', operation: 'write' });
    const put = await admin('PUT', '/v1/quotas', { principal: 'User:producer', producer_byte_rate: 100 * 1024 });
    expect(put.status).toBe(200);
    expect((await admin('GET', '/v1/quotas')).body.quotas).toEqual([{ principal: 'User:producer', producer_byte_rate: 102400 }]);
    const hwSum = async () => (await admin('GET', '/v1/topics/orders.eu')).body.partitions.reduce((a: number, p: Json) => a + p.high_watermark, 0);
    const before = await hwSum();
    const record = { records: [{ value: 'v'.repeat(16 * 1024 - 40) }] };
    const size = JSON.stringify(record).length;
    // 1 MiB/s offered for 2 s: 16 KiB every 15.6 ms, producer and other interleaved.
    const t0 = Date.now();
    let accepted = 0;
    const statuses: number[] = [];
    const retryAfter: string[] = [];
    let otherOk = 0;
    for (let i = 0; i < 128; i++) {
      const [p, o] = await Promise.all([producer('POST', '/v1/topics/orders.eu/records', record), call(KEYS.other, 'POST', '/v1/topics/orders.eu/records', record)]);
      statuses.push(p.status);
      if (p.status === 200) accepted += size;
      if (p.status === 429) {
        expect(p.body.error_code).toBe('THROTTLING_QUOTA_EXCEEDED');
        retryAfter.push(p.headers.get('retry-after') ?? '');
      }
      if (o.status === 200) otherOk++;
      const due = t0 + ((i + 1) * 1000) / 64;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
    const seconds = (Date.now() - t0) / 1000;
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(64);
    expect(retryAfter.every((v) => /^[1-9]\d*$/.test(v))).toBe(true);
    // At most the rate over the run, plus one second of burst and one chunk of slack.
    expect(accepted).toBeLessThanOrEqual(100 * 1024 * (seconds + 1 + 0.25) + size);
    expect(accepted).toBeGreaterThan(100 * 1024 * seconds * 0.5);
    expect(otherOk).toBe(128);
    await new Promise((r) => setTimeout(r, 100));
    expect(auditLines().find((l) => l.audit === 'quota' && l.change === 'set')).toMatchObject({ principal: 'User:admin', quota: { principal: 'User:producer', producer_byte_rate: 102400 } });
    expect(auditLines().some((l) => l.audit === 'quota' && l.decision === 'throttle' && l.principal === 'User:producer')).toBe(true);
    // Throttled requests stored nothing: the topic holds exactly what was acknowledged.
    expect((await hwSum()) - before).toBe(statuses.filter((s) => s === 200).length + otherOk);
    await admin('PUT', '/v1/quotas', { principal: 'User:producer' });
    expect((await admin('GET', '/v1/quotas')).body.quotas).toEqual([]);
  }, 60_000);
});

describe('consumer and request quotas', () => {
  it('charges fetched bytes after the response and refuses further fetches until paid, and caps the request rate', async () => {
    // ~16 KiB records to fetch: the consumer may read 20 KiB/s.
    await admin('POST', '/v1/topics/orders.eu/records', { records: Array.from({ length: 8 }, () => ({ value: 'c'.repeat(16 * 1024), partition: 1 })) });
    expect((await admin('PUT', '/v1/quotas', { principal: 'User:consumer', consumer_byte_rate: 20 * 1024 })).status).toBe(200);
    const statuses: number[] = [];
    let fetched = 0;
    for (let i = 0; i < 8; i++) {
      const r = await consumer('GET', '/v1/topics/orders.eu/partitions/1/records?offset=0&max_bytes=65536');
      statuses.push(r.status);
      if (r.status === 200) fetched += JSON.stringify(r.body).length;
      else {
        expect(r.body.error_code).toBe('THROTTLING_QUOTA_EXCEEDED');
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
    }
    // A fetch (~48 KiB) is charged once its size is known. The first debt is paid from the
    // full bucket when the next fetch arrives; that one's debt (over two seconds' worth) is not.
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect(statuses.slice(2).every((s) => s === 429)).toBe(true);
    expect(fetched).toBeGreaterThan(2 * 40 * 1024);
    // Producing is not fetching: the producer-side routes of another principal are unaffected.
    expect((await producer('POST', '/v1/topics/orders.eu/records', { records: [{ value: 1 }] })).status).toBe(200);

    expect((await admin('PUT', '/v1/quotas', { principal: 'User:consumer', request_rate: 5 })).status).toBe(200);
    const burst = await Promise.all(Array.from({ length: 30 }, () => consumer('GET', '/v1/topics/orders.eu')));
    const ok = burst.filter((r) => r.status === 200).length;
    expect(ok).toBeGreaterThanOrEqual(5);
    expect(ok).toBeLessThanOrEqual(12);
    expect(burst.filter((r) => r.status === 429).length).toBe(30 - ok);
    await admin('PUT', '/v1/quotas', { principal: 'User:consumer' });
  }, 30_000);
});

describe('start-up', () => {
  it('refuses SAMSA_HOST=0.0.0.0 with SAMSA_AUTH=none', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bin/serve.ts')], {
      cwd: REPO_ROOT,
      env: { ...process.env, SAMSA_HOST: '0.0.0.0', SAMSA_AUTH: 'none', PORT: '0', SAMSA_DATA_DIR: server.dataDir + '-unused' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.status).not.toBeNull();
    expect(r.stdout + r.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 with SAMSA_AUTH=none/);
  });
});
