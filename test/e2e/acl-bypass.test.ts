// Authorization bypasses found by review (wt-hunt3), each reproduced over real HTTP against the
// server with SAMSA_AUTH=keys: the ACL check must decide on exactly the resource the handler then
// acts on, and must cover every resource the handler reads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server';

type Json = any;
const KEYS = { admin: 'admin-secret-0123456789', eve: 'eve-secret-abcdef012345', writer: 'writer-secret-9876543210' };
let server: ServerHandle;

async function call(key: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(server.url + p, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
const admin = (m: string, p: string, b?: unknown) => call(KEYS.admin, m, p, b);
const eve = (m: string, p: string, b?: unknown) => call(KEYS.eve, m, p, b);
const grant = async (acl: Record<string, unknown>) => expect((await admin('POST', '/v1/acls', acl)).status).toBe(201);

beforeAll(async () => {
  server = await startServer({
    env: {
      SAMSA_AUTH: 'keys',
      SAMSA_API_KEYS: `User:admin=${KEYS.admin},User:eve=${KEYS.eve},User:writer=${KEYS.writer}`,
      SAMSA_SUPER_USERS: 'User:admin',
    },
  });
  for (const name of ['public', 'secret']) expect((await admin('POST', '/v1/topics', { name, partitions: 1 })).status).toBe(201);
  expect((await admin('POST', '/v1/topics/secret/records', { records: [{ value: 'classified' }] })).status).toBe(200);
  // eve: every "team" group, but none under "team:prod"; the topic "public" only.
  await grant({ principal: 'User:eve', resource_type: 'group', pattern_type: 'prefixed', resource_name: 'team', operation: 'all' });
  await grant({ principal: 'User:eve', resource_type: 'group', pattern_type: 'prefixed', resource_name: 'team:prod', operation: 'all', permission: 'deny' });
  await grant({ principal: 'User:eve', resource_type: 'topic', resource_name: 'public', operation: 'read' });
  await grant({ principal: 'User:eve', resource_type: 'topic', resource_name: 'public', operation: 'write' });
  // writer: writes "secret", which eve may not touch.
  await grant({ principal: 'User:writer', resource_type: 'topic', resource_name: 'secret', operation: 'write' });
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

describe('group offset resets', () => {
  it('need read on the topic: a caller with delete on its own group learns nothing of a topic it may not describe', async () => {
    // eve may do anything to its "team-eve" group, and nothing to the topic "secret".
    const hw = (await admin('GET', '/v1/topics/secret')).body.partitions[0].high_watermark;
    expect(hw).toBe(1);
    const onSecret = await eve('POST', '/v1/groups/team-eve/offsets/reset', { topic: 'secret', to: 'latest' });
    const onMissing = await eve('POST', '/v1/groups/team-eve/offsets/reset', { topic: 'no.such.topic', to: 'latest' });
    // Was: 200 {"offsets":[{"topic":"secret","partition":0,"offset":1}]} — the topic's partitions
    // and high watermark — and 404 for the missing one: an existence oracle.
    expect(JSON.stringify(onSecret.body)).not.toContain('"offset"');
    expect(onSecret.status, JSON.stringify(onSecret.body)).toBe(403);
    expect(onSecret.body.error_code).toBe('TOPIC_AUTHORIZATION_FAILED');
    expect(onMissing.status, JSON.stringify(onMissing.body)).toBe(403);
    // And the group keeps no offsets of that topic.
    const offsets = await admin('GET', '/v1/groups/team-eve/offsets');
    expect(offsets.status === 404 || !offsets.body.offsets.some((o: Json) => o.topic === 'secret'), JSON.stringify(offsets.body)).toBe(true);
  });
});

describe('idempotent producer ids', () => {
  it('cannot be fenced by another principal: write on its own topic does not let eve bump the epoch of a producer writing a topic she may not', async () => {
    const writer = (m: string, p: string, b?: unknown) => call(KEYS.writer, m, p, b);
    const pid = await writer('POST', '/v1/producers', {});
    expect(pid.status).toBe(200);
    const produce = (sequence: number) => writer('POST', '/v1/topics/secret/records', { records: [{ value: sequence, partition: 0 }], producer: { id: pid.body.id, epoch: pid.body.epoch, sequence } });
    expect((await produce(0)).status).toBe(200);
    // Producer ids are issued in sequence from 0, so eve need not even learn it: she bumps them all.
    const bumps = [];
    for (let id = 0; id <= pid.body.id; id++) bumps.push((await eve('POST', '/v1/producers', { id })).status);
    // Was: 200 for every id, and writer's next produce then failed with 409 INVALID_PRODUCER_EPOCH.
    const next = await produce(1);
    expect(next.status, JSON.stringify(next.body)).toBe(200);
    expect(bumps.every((s) => s >= 400 && s < 500), JSON.stringify(bumps)).toBe(true);
    const refused = await eve('POST', '/v1/producers', { id: pid.body.id });
    expect(refused.body.error_code).toBe('NOT_AUTHORIZED');
    expect(refused.body.message).not.toContain('writer'); // whose id it is stays unsaid
    // The principal it was issued to still bumps it (a producer restarting), and so may a super user.
    const own = await writer('POST', '/v1/producers', { id: pid.body.id });
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    expect(own.body.epoch).toBe(pid.body.epoch + 1);
    const bySuper = await admin('POST', '/v1/producers', { id: pid.body.id });
    expect(bySuper.body.epoch).toBe(pid.body.epoch + 2);
    // An id eve was issued is eve's to bump.
    const evesOwn = await eve('POST', '/v1/producers', {});
    expect((await eve('POST', '/v1/producers', { id: evesOwn.body.id })).body.epoch).toBe(1);
  });
});

describe('describing a group', () => {
  it('counts in its lag only the topics the caller may describe, as the group offsets route does', async () => {
    // A group eve may describe holds offsets of "public" (caught up) and "secret" (behind).
    const committed = await admin('POST', '/v1/groups/team-lag/offsets', {
      offsets: [
        { topic: 'public', partition: 0, offset: 0 },
        { topic: 'secret', partition: 0, offset: 0 },
      ],
    });
    expect(committed.status, JSON.stringify(committed.body)).toBe(200);
    const secretLag = (await admin('GET', '/v1/groups/team-lag/offsets')).body.offsets.find((o: Json) => o.topic === 'secret').lag;
    expect(secretLag).toBeGreaterThan(0);
    expect((await admin('GET', '/v1/groups/team-lag')).body.lag).toBe(secretLag);
    const offsets = await eve('GET', '/v1/groups/team-lag/offsets');
    expect(offsets.body.offsets.map((o: Json) => o.topic)).toEqual(['public']);
    expect(offsets.body.lag).toBe(0);
    // Was: secretLag — the lag of "secret", a topic eve may not describe, through the describe route.
    const described = await eve('GET', '/v1/groups/team-lag');
    expect(described.status).toBe(200);
    expect(described.body.lag).toBe(0);
  });
});
