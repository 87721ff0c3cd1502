// The asynchronous invoke the API function awaits for a flush hand-off and a topic deletion's
// hand-off (lib/runtime/lambda/flush-invoker.ts): an endpoint that never answers must not hold
// the request (a DELETE answers only after its hand-off) or the invocation for longer than the
// invoker's timeout, retries included.
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { lambdaInvoker } from '../../../lib/runtime/lambda/flush-invoker';
import { startSilentServer } from '../../helpers/net';

let silent: Awaited<ReturnType<typeof startSilentServer>>;
const saved: Record<string, string | undefined> = {};
const env = (k: string, v: string) => {
  saved[k] = process.env[k];
  process.env[k] = v;
};

beforeAll(async () => {
  silent = await startSilentServer();
  env('AWS_ENDPOINT_URL_LAMBDA', silent.endpoint);
  env('AWS_REGION', 'us-east-1');
  env('AWS_ACCESS_KEY_ID', 'test');
  env('AWS_SECRET_ACCESS_KEY', 'test');
});
afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await silent.close();
});

it('an invoke whose endpoint never answers fails within its timeout, retries included', async () => {
  const invoke = lambdaInvoker<{ x: number }>('samsa-retention', { requestTimeoutMs: 300 });
  const started = Date.now();
  const outcome = await Promise.race([
    invoke({ x: 1 }).then(
      () => 'answered',
      () => 'failed',
    ),
    new Promise<string>((r) => setTimeout(() => r('still waiting'), 5000).unref()),
  ]);
  expect(outcome).toBe('failed');
  // Two attempts of 300 ms and the SDK's backoff between them.
  expect(Date.now() - started).toBeLessThan(3000);
}, 10_000);

it('an endpoint that accepts the invoke (202) within the timeout succeeds, the payload as JSON', async () => {
  const seen: Array<{ url: string; type: string | undefined; body: string }> = [];
  const ok = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', type: req.headers['x-amz-invocation-type'] as string | undefined, body });
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => ok.listen(0, '127.0.0.1', r));
  const endpoint = process.env.AWS_ENDPOINT_URL_LAMBDA;
  process.env.AWS_ENDPOINT_URL_LAMBDA = `http://127.0.0.1:${(ok.address() as net.AddressInfo).port}`;
  try {
    await lambdaInvoker<{ x: number }>('samsa-retention', { requestTimeoutMs: 300 })({ x: 2 });
  } finally {
    process.env.AWS_ENDPOINT_URL_LAMBDA = endpoint;
    await new Promise((r) => ok.close(r));
  }
  expect(seen).toEqual([{ url: expect.stringContaining('/functions/samsa-retention/invocations'), type: 'Event', body: '{"x":2}' }]);
});
