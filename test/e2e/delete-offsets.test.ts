// Kafka's OffsetDelete over HTTP and as `samsa groups delete-offsets` (kafka-consumer-groups
// --delete-offsets): a topic's committed offsets go, others stay, and a topic a member
// subscribes to keeps its offsets (409).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runSamsa } from '../helpers/cli';
import { type ServerHandle, startServer } from '../helpers/server';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

async function call(method: string, p: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}${p}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}
function samsa(args: string[]): Promise<CliRun> {
  return runSamsa(args, { url: server.url });
}
const committed = async () =>
  (await call('GET', '/v1/groups/g/offsets')).json.offsets.filter((o: any) => o.offset >= 0).map((o: any) => `${o.topic}:${o.partition}@${o.offset}`);

describe('delete offsets', () => {
  it('forgets the named partitions, then the topic, keeps the rest, and refuses a subscribed topic', async () => {
    for (const name of ['t', 'u']) expect((await call('POST', '/v1/topics', { name, partitions: 2 })).status).toBe(201);
    expect((await call('POST', '/v1/topics/t/records', { records: [0, 1, 0, 1].map((p, i) => ({ value: i, partition: p })) })).status).toBe(200);
    expect((await call('POST', '/v1/topics/u/records', { records: [{ value: 1, partition: 0 }] })).status).toBe(200);
    const c = await call('POST', '/v1/groups/g/offsets', { offsets: [{ topic: 't', partition: 0, offset: 2 }, { topic: 't', partition: 1, offset: 1 }, { topic: 'u', partition: 0, offset: 1 }] });
    expect(c.status).toBe(200);
    expect(await committed()).toEqual(['t:0@2', 't:1@1', 'u:0@1']);

    const one = await samsa(['groups', 'delete-offsets', 'g', '--topic', 't:1']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/g\s+t\s+1\s+deleted/);
    expect(await committed()).toEqual(['t:0@2', 'u:0@1']);

    const all = await call('DELETE', '/v1/groups/g/offsets', { topic: 't' });
    expect(all).toMatchObject({ status: 200, json: { deleted: [{ topic: 't', partition: 0 }] } });
    expect(await committed()).toEqual(['u:0@1']);

    // A member subscribed to u: its offsets stay.
    const join = await call('POST', '/v1/groups/g/members', { topics: ['u'] });
    expect(join.status).toBe(200);
    const refused = await call('DELETE', '/v1/groups/g/offsets', { topic: 'u' });
    expect(refused).toMatchObject({ status: 409, json: { error_code: 'NON_EMPTY_GROUP' } });
    const cli = await samsa(['groups', 'delete-offsets', 'g', '--topic', 'u']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/subscribed to "u"/);
    expect(await committed()).toEqual(['u:0@1']);
    const usage = await samsa(['groups', 'delete-offsets', 'g', '--topic', 'u:x']);
    expect(usage.code).toBe(2);
  });
});
