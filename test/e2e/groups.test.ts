// Consumer groups end to end over HTTP, written once and run against (1) the embedded server
// and (2) two AWS-mode server processes sharing a bucket and table on the emulator, with every
// member's calls alternating between the two instances. The scenario is the acceptance
// check: an even, disjoint, complete split; exactly-once delivery with auto-commit and zero
// lag; fenced commits refused with 409 and changing nothing; expiry after (never before) the
// session timeout with the partitions moving to the survivors; lag for new records; describe,
// list; reset refused while members exist and accepted once they leave.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeAws, makeDynamoStore, makeS3Store, testAwsConfig, TEST_REGION, type DynamoFixture, type S3Fixture } from '../helpers/aws';
import { type ServerHandle, startServer } from '../helpers/server';

const PARTITIONS = 6;

type Json = any;
interface Res {
  status: number;
  body: Json;
}

function client(urls: string[], output: () => string) {
  let turn = 0;
  return async function call(method: string, path: string, body?: unknown): Promise<Res> {
    const url = urls[turn++ % urls.length]!;
    const res = await fetch(url + path, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });
    const text = await res.text();
    if (res.status >= 500) throw new Error(`${method} ${path} → ${res.status} ${text}\n${output().slice(-3000)}`);
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
}

async function until<T>(what: string, deadlineMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Session timeout per deployment: the emulator is slower, and the machine is shared. */
function scenario(urls: () => string[], output: () => string, SESSION_MS: number): void {
  it('splits, delivers exactly once, fences, expires, reports lag, resets', async () => {
    const call = client(urls(), output);
    const topic = `gt-${Date.now().toString(36)}`;
    const group = `g-${topic}`;
    expect((await call('POST', '/v1/topics', { name: topic, partitions: PARTITIONS })).status).toBe(201);

    // --- three members split six partitions, two each, disjoint and complete ---------------------
    const members: Array<{ id: string; gen: number; parts: number[]; lastBeatSent: number }> = [];
    for (let i = 0; i < 3; i++) {
      const r = await call('POST', `/v1/groups/${group}/members`, { topics: [topic], session_timeout_ms: SESSION_MS, auto_offset_reset: 'earliest' });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.heartbeat_interval_ms).toBeLessThanOrEqual(SESSION_MS / 3);
      members.push({ id: r.body.member_id, gen: r.body.generation, parts: [], lastBeatSent: Date.now() });
    }
    const beat = async (m: (typeof members)[number]): Promise<Res> => {
      const sent = Date.now();
      const r = await call('POST', `/v1/groups/${group}/members/${m.id}/heartbeat`, { generation: m.gen });
      if (r.status === 200) {
        m.lastBeatSent = sent;
        m.gen = r.body.generation;
        m.parts = r.body.assignment.map((a: Json) => a.partition).sort();
      }
      return r;
    };
    await until('an even split', 20_000, async () => {
      for (const r of await Promise.all(members.map(beat))) expect(r.status).toBe(200);
      const all = members.flatMap((m) => m.parts).sort();
      return members.every((m) => m.parts.length === 2) && JSON.stringify(all) === '[0,1,2,3,4,5]' && members.every((m) => m.gen === members[0]!.gen) ? true : undefined;
    });
    const d0 = await call('GET', `/v1/groups/${group}`);
    expect(d0.body).toMatchObject({ group, state: 'Stable', generation: members[0]!.gen });
    expect(d0.body.members).toHaveLength(3);

    // --- poll, acknowledging each poll's records with the next: every record exactly once, then zero lag
    const N = 60;
    const produced = await call('POST', `/v1/topics/${topic}/records`, { records: Array.from({ length: N }, (_, i) => ({ value: i, partition: i % PARTITIONS })) });
    expect(produced.status).toBe(200);
    const seen: number[] = [];
    const acks = new Map<string, string>();
    const poll = async (m: (typeof members)[number], extra = ''): Promise<Res> => {
      const sent = Date.now();
      const r = await call('GET', `/v1/groups/${group}/members/${m.id}/records?max_records=7${acks.get(m.id) ?? ''}${extra}`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      m.lastBeatSent = sent;
      const done = r.body.positions.filter((p: Json) => p.next_offset !== p.offset).map((p: Json) => `${p.topic}:${p.partition}:${p.next_offset}`);
      acks.set(m.id, done.length > 0 ? `&generation=${r.body.generation}&ack=${done.join(',')}` : '');
      for (const rec of r.body.records) {
        expect(m.parts).toContain(rec.partition);
        expect(rec.topic).toBe(topic);
        seen.push(rec.value);
      }
      return r;
    };
    await until('all records', 30_000, async () => {
      await Promise.all(members.map((m) => poll(m)));
      return seen.length >= N ? true : undefined;
    });
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
    for (const r of await Promise.all(members.map((m) => poll(m)))) expect(r.body.records).toEqual([]); // acknowledges the last batch
    const offs = await call('GET', `/v1/groups/${group}/offsets`);
    expect(offs.status).toBe(200);
    expect(offs.body.offsets).toHaveLength(PARTITIONS);
    for (const o of offs.body.offsets) expect(o).toMatchObject({ topic, offset: N / PARTITIONS, high_watermark: N / PARTITIONS, lag: 0 });

    // --- fenced commits: 409, nothing changes ----------------------------------------------------
    const [a, b, c] = members as [(typeof members)[number], (typeof members)[number], (typeof members)[number]];
    const refused = [
      await call('POST', `/v1/groups/${group}/offsets`, { member_id: a.id, generation: a.gen - 1, offsets: [{ topic, partition: a.parts[0], offset: 1 }] }),
      await call('POST', `/v1/groups/${group}/offsets`, { member_id: a.id, generation: a.gen, offsets: [{ topic, partition: b.parts[0], offset: 1 }] }),
      await call('POST', `/v1/groups/${group}/offsets`, { offsets: [{ topic, partition: a.parts[0], offset: 1 }] }),
    ];
    for (const r of refused) expect({ status: r.status, code: r.body.error_code }).toEqual({ status: 409, code: 'ILLEGAL_GENERATION' });
    expect((await call('GET', `/v1/groups/${group}/offsets`)).body.offsets).toEqual(offs.body.offsets);
    const ok = await call('POST', `/v1/groups/${group}/offsets`, { member_id: a.id, generation: a.gen, offsets: [{ topic, partition: a.parts[0], offset: N / PARTITIONS, metadata: 'done' }] });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);

    // --- c stops heartbeating: expelled after its session timeout, not before --------------------
    const cLast = c.lastBeatSent;
    let stop = false;
    const keepAlive = (async () => {
      while (!stop) {
        for (const r of await Promise.all([a, b].map(beat))) expect(r.status).toBe(200);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, SESSION_MS / 2));
      const early = Date.now();
      const d1 = await call('GET', `/v1/groups/${group}`);
      if (early - cLast < SESSION_MS) expect(d1.body.members.map((m: Json) => m.member_id)).toContain(c.id);
      const goneAt = await until('c to be expelled', 15_000, async () => {
        const t = Date.now();
        const d = await call('GET', `/v1/groups/${group}`);
        return d.body.members.some((m: Json) => m.member_id === c.id) ? undefined : t;
      });
      expect(goneAt - cLast).toBeGreaterThanOrEqual(SESSION_MS);
      const hb = await beat(c);
      expect({ status: hb.status, code: hb.body.error_code }).toEqual({ status: 404, code: 'UNKNOWN_MEMBER_ID' });
      await until('the survivors to hold every partition', 15_000, async () => {
        const all = [...a.parts, ...b.parts].sort();
        return JSON.stringify(all) === '[0,1,2,3,4,5]' && a.parts.length === 3 && a.gen === b.gen ? true : undefined;
      });

      // a and b keep heartbeating until they leave: on a loaded machine the calls below took
      // longer than their session once, and the group was Empty when listed (CI at c099358).
      // --- new records show as lag; describe and list --------------------------------------------
      await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'x', partition: 0 }, { value: 'y', partition: 3 }, { value: 'z', partition: 3 }] });
      const lagged = await call('GET', `/v1/groups/${group}/offsets`);
      expect(lagged.body.offsets.reduce((s: number, o: Json) => s + o.lag, 0)).toBe(3);
      expect(lagged.body.offsets.find((o: Json) => o.partition === 3).lag).toBe(2);
      const d2 = await call('GET', `/v1/groups/${group}`);
      expect(d2.body).toMatchObject({ group, state: 'Stable', lag: 3 });
      expect(d2.body.members.map((m: Json) => m.member_id).sort()).toEqual([a.id, b.id].sort());
      const list = await call('GET', '/v1/groups');
      expect(list.body.groups.find((g: Json) => g.group === group)).toMatchObject({ state: 'Stable', members: 2 });

      // --- reset: refused while members exist, accepted once they leave --------------------------
      const refused = await call('POST', `/v1/groups/${group}/offsets/reset`, { topic, to: 'earliest' });
      expect({ status: refused.status, code: refused.body.error_code }).toEqual({ status: 409, code: 'NON_EMPTY_GROUP' });
      expect((await call('DELETE', `/v1/groups/${group}`)).status).toBe(409);
    } finally {
      stop = true;
      await keepAlive;
    }
    for (const m of [a, b]) expect((await call('DELETE', `/v1/groups/${group}/members/${m.id}`)).status).toBe(204);
    const reset = await call('POST', `/v1/groups/${group}/offsets/reset`, { topic, to: 'earliest' });
    expect(reset.status, JSON.stringify(reset.body)).toBe(200);
    expect(reset.body.offsets.map((o: Json) => o.offset)).toEqual([0, 0, 0, 0, 0, 0]);
    expect((await call('GET', `/v1/groups/${group}`)).body).toMatchObject({ state: 'Empty', lag: N + 3 });
    expect((await call('POST', `/v1/groups/${group}/offsets/reset`, { topic, to: { offset: 4 } })).status).toBe(200);
    expect((await call('DELETE', `/v1/groups/${group}`)).status).toBe(204);
    expect((await call('GET', `/v1/groups/${group}`)).status).toBe(404);
  }, 90_000);

  it('bad input is a 4xx, never a 5xx', async () => {
    const call = client(urls(), output);
    const cases: Array<[string, string, unknown, number]> = [
      ['POST', '/v1/groups/g1/members', { topics: [] }, 400],
      ['POST', '/v1/groups/g1/members', { topics: ['no-such-topic'] }, 404],
      ['POST', '/v1/groups/g1/members', { topics: ['x'], session_timeout_ms: -1 }, 400],
      ['POST', '/v1/groups/bad%20name/members', { topics: ['x'] }, 400],
      ['POST', '/v1/groups/g1/members/nobody/heartbeat', { generation: 1 }, 404],
      ['POST', '/v1/groups/g1/members/nobody/heartbeat', {}, 400],
      ['GET', '/v1/groups/g1/members/nobody/records?max_records=0', undefined, 400],
      ['POST', '/v1/groups/g1/offsets', { offsets: [{ topic: 'x', partition: -1, offset: 0 }] }, 400],
      ['POST', '/v1/groups/g1/offsets/reset', { topic: 'x', to: 'middle' }, 400],
      ['DELETE', '/v1/groups/never-was', undefined, 404],
    ];
    for (const [method, path, body, status] of cases) {
      const r = await call(method, path, body);
      expect({ path, status: r.status }).toEqual({ path, status });
      expect(typeof r.body.error_code).toBe('string');
    }
  });
}

describe('consumer groups: embedded server', () => {
  let srv: ServerHandle;
  beforeAll(async () => {
    srv = await startServer();
  });
  afterAll(async () => {
    await srv?.stop();
  });
  scenario(
    () => [srv.url],
    () => srv.output(),
    1500,
  );
});

describeAws('consumer groups: two AWS-mode instances on the emulator', () => {
  const servers: ServerHandle[] = [];
  let s3: S3Fixture;
  let ddb: DynamoFixture;
  beforeAll(async () => {
    [s3, ddb] = await Promise.all([makeS3Store(), makeDynamoStore()]);
    const endpoint = testAwsConfig().s3Endpoint!;
    const env = {
      SAMSA_STORAGE: 'aws',
      SAMSA_BUCKET: s3.bucket,
      SAMSA_TABLE: ddb.table,
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: TEST_REGION,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    };
    servers.push(...(await Promise.all([startServer({ env }), startServer({ env })])));
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await Promise.all([s3?.cleanup(), ddb?.cleanup()]);
  });
  scenario(
    () => servers.map((s) => s.url),
    () => servers.map((s) => s.output()).join('\n---\n'),
    3000,
  );
});
