// The access line, field for field and in order, and the lines a request's own logger writes:
// observe writes the access line through the app's logger with the request id first (issue 18:
// no bound child logger built per request for it), which must give the very line the bound
// logger gave — same fields, same order — and the request logger still binds its request id.
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../lib/http/app';
import { authFromConfig } from '../../../lib/http/authz';
import { encodeRecordBatch } from '../../../lib/records';
import { createLogger } from '../../../lib/obs/logger';
import { openEngine } from '../../../lib/runtime';
import { loadConfig } from '../../../lib/runtime/config';
import { tempDir } from '../../helpers/server';

async function setup(env: Record<string, string> = {}) {
  const cfg = loadConfig({ SAMSA_STORAGE: 'embedded', SAMSA_DATA_DIR: tempDir('samsa-access-log-'), ...env });
  const { engine, stores } = await openEngine(cfg);
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', bindings: { service: 'samsa' }, now: () => Date.UTC(2026, 11, 1), write: (l) => lines.push(l) });
  const app = createApp({ engine, logger, auth: authFromConfig(cfg, engine.meta) });
  return { app, lines, close: async () => (await engine.close(), await stores.close()) };
}

describe('access log', () => {
  it('writes one line per request: level, time, msg, bindings, request_id, then the request fields', async () => {
    const { app, lines, close } = await setup();
    try {
      expect((await app.request('/v1/topics', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'al', partitions: 1 }) })).status).toBe(201);
      const batch = encodeRecordBatch([{ key: null, value: new Uint8Array(8) }]);
      const ok = await app.request('/v1/topics/al/partitions/0/records', { method: 'POST', headers: { 'content-type': 'application/vnd.kafka.record-batch', 'x-request-id': 'al-1' }, body: batch });
      expect(ok.status).toBe(200);
      const miss = await app.request('/v1/topics/al/partitions/3/records', { method: 'POST', headers: { 'content-type': 'application/vnd.kafka.record-batch', 'x-request-id': 'al-2' }, body: batch });
      expect(miss.status).toBe(404);
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const one = parsed.find((l) => l.request_id === 'al-1')!;
      expect(Object.keys(one)).toEqual(['level', 'time', 'msg', 'service', 'request_id', 'method', 'route', 'topic', 'partition', 'principal', 'status', 'duration_ms']);
      expect(one).toMatchObject({ level: 'info', time: '2026-12-01T00:00:00.000Z', msg: 'request', service: 'samsa', method: 'POST', route: '/v1/topics/:topic/partitions/:partition/records', topic: 'al', partition: '0', principal: 'User:ANONYMOUS', status: 200 });
      const two = parsed.find((l) => l.request_id === 'al-2')!;
      expect(Object.keys(two)).toEqual(['level', 'time', 'msg', 'service', 'request_id', 'method', 'route', 'topic', 'partition', 'principal', 'status', 'duration_ms', 'error_code']);
      expect(two).toMatchObject({ status: 404, partition: '3', error_code: 'UNKNOWN_TOPIC_OR_PARTITION' });
      expect(parsed.filter((l) => l.msg === 'request')).toHaveLength(3);
    } finally {
      await close();
    }
  });

  it("binds the request id on the lines a request's own logger writes (an authentication failure)", async () => {
    const { app, lines, close } = await setup({ SAMSA_AUTH: 'keys', SAMSA_API_KEYS: 'User:a=secret-a' });
    try {
      const res = await app.request('/v1/topics', { headers: { 'x-request-id': 'al-3', authorization: 'Bearer wrong' } });
      expect(res.status).toBe(401);
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const denied = parsed.find((l) => l.msg === 'authentication failed')!;
      expect(Object.keys(denied).slice(0, 5)).toEqual(['level', 'time', 'msg', 'service', 'request_id']);
      expect(denied).toMatchObject({ level: 'warn', request_id: 'al-3', audit: 'authentication', decision: 'deny' });
      expect(parsed.find((l) => l.msg === 'request' && l.request_id === 'al-3')).toMatchObject({ status: 401, error_code: 'AUTHENTICATION_FAILED' });
    } finally {
      await close();
    }
  });
});
