// At-least-once group consumption over real HTTP (issue 11, item 3): the group poll commits only
// what the member acknowledged. A poll whose response is lost on the way (the connection drops
// after the server wrote it) is redelivered by the next poll; two polls racing each other (a
// client retry after a timeout) repeat records instead of skipping them; an acknowledged
// position is committed, fenced to partitions the member holds.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server';

type Json = any;

let srv: ServerHandle;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.stop();
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(srv.url + path, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  const text = await res.text();
  if (res.status >= 500) throw new Error(`${method} ${path} → ${res.status} ${text}\n${srv.output().slice(-2000)}`);
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** A GET whose response is lost: the connection is cut as soon as the server starts answering. */
function lostGet(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(srv.url + path, (res) => {
      const status = res.statusCode ?? 0;
      res.destroy();
      req.destroy();
      resolve(status);
    });
    req.on('error', reject);
  });
}

const offsetsOf = async (group: string): Promise<Json[]> => (await call('GET', `/v1/groups/${group}/offsets`)).body.offsets;

async function setup(name: string, partitions: number, records: number): Promise<{ topic: string; group: string }> {
  const topic = `${name}-${Date.now().toString(36)}`;
  expect((await call('POST', '/v1/topics', { name: topic, partitions })).status).toBe(201);
  if (records > 0) {
    const r = await call('POST', `/v1/topics/${topic}/records`, { records: Array.from({ length: records }, (_, i) => ({ value: i, partition: 0 })) });
    expect(r.status).toBe(200);
  }
  return { topic, group: `g-${topic}` };
}

async function join(group: string, topic: string): Promise<{ id: string; gen: number }> {
  const r = await call('POST', `/v1/groups/${group}/members`, { topics: [topic], session_timeout_ms: 30_000 });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return { id: r.body.member_id, gen: r.body.generation };
}

describe('group poll: at-least-once', () => {
  it('a poll whose response was lost is redelivered by the next poll; nothing is committed until acknowledged', async () => {
    const { topic, group } = await setup('lost', 1, 3);
    const m = await join(group, topic);
    const poll = `/v1/groups/${group}/members/${m.id}/records?max_records=10`;
    expect(await lostGet(poll)).toBe(200);
    // The same records come again: the server never treats "sent" as "processed".
    const second = await call('GET', poll);
    expect(second.status).toBe(200);
    expect(second.body.records.map((r: Json) => r.value)).toEqual([0, 1, 2]);
    const third = await call('GET', poll);
    expect(third.body.records.map((r: Json) => r.offset)).toEqual([0, 1, 2]);
    expect((await offsetsOf(group))[0]).toMatchObject({ offset: -1, lag: 3 });

    // Acknowledging what was processed commits exactly that, and reading continues after it.
    const acked = await call('GET', `${poll}&generation=${third.body.generation}&ack=${topic}:0:3`);
    expect(acked.status, JSON.stringify(acked.body)).toBe(200);
    expect(acked.body.committed).toEqual([{ topic, partition: 0, offset: 3 }]);
    expect(acked.body.records).toEqual([]);
    expect((await offsetsOf(group))[0]).toMatchObject({ offset: 3, high_watermark: 3, lag: 0 });
  });

  it('two concurrent polls of one member repeat records, never skip them', async () => {
    const { topic, group } = await setup('race', 1, 0);
    const m = await join(group, topic);
    const poll = `/v1/groups/${group}/members/${m.id}/records?max_records=10`;
    expect((await call('GET', poll)).body.records).toEqual([]);
    await call('POST', `/v1/topics/${topic}/records`, { records: [0, 1, 2, 3].map((v) => ({ value: v })) });
    // A client retry racing its own first attempt, one of whose responses is lost.
    const [lost, kept] = await Promise.all([lostGet(`${poll}&wait_ms=2000`), call('GET', `${poll}&wait_ms=2000`)]);
    expect(lost).toBe(200);
    expect(kept.body.records.map((r: Json) => r.offset)).toEqual([0, 1, 2, 3]);
    const again = await call('GET', poll);
    expect(again.body.records.map((r: Json) => r.offset)).toEqual([0, 1, 2, 3]);
    expect((await offsetsOf(group))[0]).toMatchObject({ offset: -1, lag: 4 });
    // Acks of a partial batch commit only that far; the rest is read again.
    const partial = await call('GET', `${poll}&generation=${again.body.generation}&ack=${topic}:0:2`);
    expect(partial.body.records.map((r: Json) => r.offset)).toEqual([2, 3]);
    expect((await offsetsOf(group))[0]).toMatchObject({ offset: 2, lag: 2 });
  });

  it('acks are fenced: a member cannot commit a partition it does not hold', async () => {
    const { topic, group } = await setup('fence', 2, 3);
    const a = await join(group, topic);
    const b = await join(group, topic);
    // Heartbeat both until each holds one partition.
    const held = new Map<string, number[]>();
    for (let i = 0; i < 10 && !(held.get(a.id)?.length === 1 && held.get(b.id)?.length === 1); i++) {
      for (const m of [a, b]) {
        const r = await call('POST', `/v1/groups/${group}/members/${m.id}/heartbeat`, { generation: m.gen });
        m.gen = r.body.generation;
        held.set(m.id, r.body.assignment.map((x: Json) => x.partition));
      }
    }
    const notA = held.get(b.id)![0]!;
    const r = await call('GET', `/v1/groups/${group}/members/${a.id}/records?generation=${a.gen}&ack=${topic}:${notA}:1`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.committed).toEqual([]);
    expect((await offsetsOf(group)).find((o: Json) => o.partition === notA)).toMatchObject({ offset: -1 });
    // An ack of a topic that is gone (deleted since it was read) is dropped, not refused:
    // refusing would fail every later poll of a client that keeps acknowledging it.
    const gone = await call('GET', `/v1/groups/${group}/members/${a.id}/records?generation=${a.gen}&ack=no-such-topic:0:1`);
    expect({ status: gone.status, committed: gone.body.committed }).toEqual({ status: 200, committed: [] });
  });

  it('bad ack lists and member ids are 400s', async () => {
    const { topic, group } = await setup('bad', 1, 0);
    const m = await join(group, topic);
    for (const q of [`ack=${topic}:0:1`, `ack=${topic}:x:1&generation=1`, 'ack=a:b&generation=1', `ack=${topic}:0:1,${topic}:0:2&generation=1`, `from=${topic}:0`, 'paused=a']) {
      const r = await call('GET', `/v1/groups/${group}/members/${m.id}/records?${q}`);
      expect({ q, status: r.status, code: r.body.error_code }).toEqual({ q, status: 400, code: 'INVALID_REQUEST' });
    }
    const long = 'm'.repeat(2000);
    for (const [method, path, body] of [
      ['POST', `/v1/groups/${group}/members/${long}/heartbeat`, { generation: 1 }],
      ['GET', `/v1/groups/${group}/members/${long}/records`, undefined],
      ['POST', `/v1/groups/${group}/members`, { topics: [topic], member_id: long }],
      ['POST', `/v1/groups/${group}/offsets`, { member_id: long, generation: 1, offsets: [{ topic, partition: 0, offset: 0 }] }],
    ] as const) {
      const r = await call(method, path, body);
      expect({ path: path.slice(0, 60), status: r.status }).toEqual({ path: path.slice(0, 60), status: 400 });
    }
  });
});
