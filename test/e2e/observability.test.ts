// Operating Samsa from the outside: the real server's /metrics counts exactly what was produced
// and fetched, every request leaves one JSON access-log line whose request id is the one the
// client saw in `x-request-id`, and no record value reaches the log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../lib/records';
import { type ServerHandle, startServer } from '../helpers/server';

let server: ServerHandle;
const RB = 'application/vnd.kafka.record-batch';

beforeAll(async () => {
  server = await startServer({ env: { SAMSA_LOG_LEVEL: 'info' } });
});
afterAll(async () => {
  await server?.stop();
});

async function metric(name: string, labels: string): Promise<number | undefined> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('metrics and structured logs', () => {
  it('counts produced and fetched records and bytes exactly, per topic', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post('/v1/topics', { name: 'obs', partitions: 2 })).status).toBe(201);
    const values = ['supersecretvalue-1', 'supersecretvalue-2', 'supersecretvalue-3', 'supersecretvalue-4', 'supersecretvalue-5'];
    expect((await post('/v1/topics/obs/records', { records: values.map((v, i) => ({ key: `k${i}`, value: v })) })).status).toBe(200);
    const batch = encodeRecordBatch([0, 1, 2, 3].map((i) => ({ key: null, value: new TextEncoder().encode(`supersecretvalue-b${i}`) })));
    const bin = await fetch(`${server.url}/v1/topics/obs/partitions/1/records`, { method: 'POST', headers: { 'content-type': RB }, body: batch });
    expect(bin.status).toBe(200);

    // What the log stores is what was appended: read it back whole, as batches.
    let stored = 0;
    for (const p of [0, 1]) {
      const res = await fetch(`${server.url}/v1/topics/obs/partitions/${p}/records?offset=0&max_bytes=1048576`, { headers: { accept: RB } });
      stored += (await res.arrayBuffer()).byteLength;
    }
    expect(await metric('samsa_produced_records_total', '{topic="obs"}')).toBe(9);
    expect(await metric('samsa_produced_bytes_total', '{topic="obs"}')).toBe(stored);
    expect(await metric('samsa_fetched_bytes_total', '{topic="obs"}')).toBe(stored);
    expect(await metric('samsa_fetched_records_total', '{topic="obs"}')).toBe(9);

    const json = await (await fetch(`${server.url}/v1/topics/obs/partitions/1/records?offset=0`)).json();
    expect(await metric('samsa_fetched_records_total', '{topic="obs"}')).toBe(9 + (json as { records: unknown[] }).records.length);

    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/^samsa_request_duration_seconds_count\{route="POST \/v1\/topics\/:topic\/records",status="200"\} 1$/m);
    expect(text).toMatch(/^samsa_request_duration_seconds_bucket\{route="GET \/v1\/topics\/:topic\/partitions\/:partition\/records",status="200",le="\+Inf"\} 3$/m);
    expect(server.output()).not.toContain('supersecretvalue');
  });

  it('echoes the request id and logs one access line carrying it, with the error code', async () => {
    const given = await fetch(`${server.url}/v1/topics/nope/partitions/0/records?offset=0`, { headers: { 'x-request-id': 'trace-abc.123' } });
    expect(given.status).toBe(404);
    expect(given.headers.get('x-request-id')).toBe('trace-abc.123');
    const fresh = await fetch(`${server.url}/healthz`);
    const id = fresh.headers.get('x-request-id')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    // A hostile id is not echoed (or logged): a fresh one replaces it.
    const hostile = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'a b"}<script>' } });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    await new Promise((r) => setTimeout(r, 100));
    const lines = server.logLines();
    const miss = lines.find((l) => l.request_id === 'trace-abc.123')!;
    expect(miss).toMatchObject({
      level: 'info',
      msg: 'request',
      method: 'GET',
      route: '/v1/topics/:topic/partitions/:partition/records',
      topic: 'nope',
      partition: '0',
      status: 404,
      error_code: 'UNKNOWN_TOPIC_OR_PARTITION',
    });
    expect(typeof miss.duration_ms).toBe('number');
    expect(typeof miss.time).toBe('string');
    expect(lines.filter((l) => l.request_id === id)).toHaveLength(1);
    expect(await metric('samsa_errors_total', '{error_code="UNKNOWN_TOPIC_OR_PARTITION"}')).toBe(1);
  });
});
