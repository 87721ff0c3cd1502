// The JSON produce route reads its own body (produce-parse.ts) and so is left out of the jsonBody
// middleware (lib/http/app.ts, isJsonProduce). Whatever the middleware leaves out must be a
// request the route itself handles: any other POST under /v1 still gets the JSON checks every
// route has (415 for a body that is not JSON, 400 naming max_json_depth), as it did before the
// route read its body from bytes.
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../lib/http/app';
import { silentLogger } from '../../../lib/obs/logger';

const app = createApp({ engine: {} as never, logger: silentLogger });

async function post(path: string, body: string, type: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await app.request(path, { method: 'POST', body, headers: { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('POST paths the JSON produce route does not serve', () => {
  // Hono routes strictly: /v1/topics/t/records/ is no route, so the produce handler never runs.
  it.each(['/v1/topics/t/records/', '/v1/topics/t/records//'])('%s: a body that is not JSON is still a 415', async (path) => {
    const r = await post(path, '{"records":[{"value":1}]}', 'text/plain');
    expect(r.status).toBe(415);
    expect(r.body['error_code']).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(r.body['message']).toBe('this route takes application/json, not text/plain');
  });

  it('/v1/topics/t/records/: nesting past the limit is still a 400 naming max_json_depth', async () => {
    const r = await post('/v1/topics/t/records/', `{"records":[{"value":${'['.repeat(70)}${']'.repeat(70)}}]}`, 'application/json');
    expect(r.status).toBe(400);
    expect(r.body['max_json_depth']).toBe(64);
  });

  it('/v1/topics/t/records/: a JSON body within the limits is a 404, as before', async () => {
    const r = await post('/v1/topics/t/records/', '{"records":[{"value":1}]}', 'application/json');
    expect(r.status).toBe(404);
    expect(r.body['error_code']).toBe('NOT_FOUND');
  });
});

describe('POST paths the binary produce route does not serve', () => {
  // The same rule for the binary route, which reads its own (non-JSON) body: a path with a
  // trailing slash is no route, so it gets the JSON checks before its 404 like any other.
  it('/v1/topics/t/partitions/0/records/: a body that is not JSON is a 415, as on any other path no route serves', async () => {
    const r = await post('/v1/topics/t/partitions/0/records/', 'x', 'text/plain');
    expect(r.status).toBe(415);
    expect(r.body['error_code']).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});
