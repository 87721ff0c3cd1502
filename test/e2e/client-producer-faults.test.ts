// The idempotent producer when the network, not the server, fails it. A lost response leaves
// the batch's outcome unknown: it may be in the log. The producer resends a batch under a new
// epoch only after a refusal that proves nothing was written (client-recreate.test.ts); a batch
// with an unknown outcome is never resent under a new epoch, since the server would take it as
// new and write it twice. A scripted proxy in front of a real server loses the responses.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fetchPartition, Samsa, SamsaClientError } from '../../lib/client';
import { type ServerHandle, startServer } from '../helpers/server';
import { until } from '../helpers/wait';

/** What the proxy does with one request: forward it, forward it and cut the connection, or answer itself. */
type Action = 'pass' | 'drop-response' | { status: number; body: Record<string, unknown> };

interface Proxy {
  url: string;
  /** Decides each request (may wait: a held request reaches the server only when it resolves). */
  rule: (method: string, path: string) => Action | Promise<Action>;
  close(): Promise<void>;
}

async function startProxy(target: string): Promise<Proxy> {
  const to = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const proxy: Proxy = { url: '', rule: () => 'pass', close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const action = await proxy.rule(req.method ?? 'GET', req.url ?? '/');
        if (typeof action === 'object') {
          const body = JSON.stringify(action.body);
          res.writeHead(action.status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
          res.end(body);
          return;
        }
        const up = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host }, agent }, (r) => {
          const body: Buffer[] = [];
          r.on('data', (c: Buffer) => body.push(c));
          r.on('end', () => {
            // The server has acted and answered; the client never hears of it.
            if (action === 'drop-response') return void req.socket.destroy();
            const headers = { ...r.headers };
            delete headers['transfer-encoding'];
            delete headers['connection'];
            res.writeHead(r.statusCode ?? 502, { ...headers, 'content-length': String(Buffer.concat(body).length) });
            res.end(Buffer.concat(body));
          });
        });
        up.on('error', () => req.socket.destroy());
        up.end(Buffer.concat(chunks));
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      agent.destroy();
      server.close(() => resolve());
    });
  return proxy;
}

let server: ServerHandle;
let proxy: Proxy;
let direct: Samsa;
beforeAll(async () => {
  server = await startServer();
  proxy = await startProxy(server.url);
  direct = new Samsa({ url: server.url });
});
afterAll(async () => {
  await proxy?.close();
  await server?.stop();
});

const produceTo = (topic: string, partition: number) => (method: string, path: string) => method === 'POST' && path === `/v1/topics/${topic}/partitions/${partition}/records`;
const values = async (topic: string, partition: number): Promise<string[]> => (await fetchPartition(direct.http, topic, partition, 0)).messages.map((m) => m.value!.toString());

it('a batch whose response was lost fails its send and is not resent under a new epoch; the next send is', async () => {
  const topic = `pf-lost-${Date.now().toString(36)}`;
  await direct.admin().createTopic({ topic, numPartitions: 1 });
  let produced = 0;
  proxy.rule = (method, path) => (produceTo(topic, 0)(method, path) && produced++ === 0 ? 'drop-response' : 'pass');
  const producer = new Samsa({ url: proxy.url }).producer({ lingerMs: 0, retry: { retries: 0 } });
  try {
    const lost = await producer.send({ topic, messages: [{ value: 'a' }] }).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(SamsaClientError);
    expect((lost as SamsaClientError).retriable).toBe(true); // unknown outcome, not a refusal
    await producer.send({ topic, messages: [{ value: 'b' }] });
    // The server wrote 'a' although its answer was lost; only the user may decide to send it again.
    expect(await values(topic, 0)).toEqual(['a', 'b']);
    expect(produced).toBe(2);
  } finally {
    await producer.disconnect();
    proxy.rule = () => 'pass';
  }
});

it('a retry refused after its first attempt was lost is not resent under the new epoch: the batch is in the log once', async () => {
  // Partition 0's first attempt is written but its answer lost; its retry is held at the proxy
  // while partition 1's failures make the producer bump its epoch, so the retry arrives under a
  // fenced epoch and is refused (409 INVALID_PRODUCER_EPOCH). That refusal does not say the
  // batch is absent: the first attempt wrote it. The old code resent it under the new epoch.
  const topic = `pf-fenced-${Date.now().toString(36)}`;
  await direct.admin().createTopic({ topic, numPartitions: 2 });
  let p0 = 0;
  let held = false;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let fail1 = true;
  proxy.rule = async (method, path) => {
    if (produceTo(topic, 0)(method, path)) {
      const n = p0++;
      if (n === 0) return 'drop-response';
      if (n === 1) {
        held = true;
        await gate;
      }
      return 'pass';
    }
    if (produceTo(topic, 1)(method, path) && fail1) return { status: 503, body: { error_code: 'UNKNOWN_SERVER_ERROR', message: 'injected by the test proxy' } };
    return 'pass';
  };
  const producer = new Samsa({ url: proxy.url }).producer({ lingerMs: 0, retry: { retries: 2, initialRetryTime: 20 } });
  try {
    await producer.connect();
    const first = producer.send({ topic, messages: [{ partition: 0, value: 'a' }] }).catch((e: unknown) => e);
    await until('the retry of the lost batch to reach the proxy', 10_000, () => held);
    // Partition 1 fails with an unknown outcome (503s until retries run out): the producer bumps
    // its epoch for the next send, which goes out under it.
    await expect(producer.send({ topic, messages: [{ partition: 1, value: 'x' }] })).rejects.toMatchObject({ retriable: true });
    fail1 = false;
    await producer.send({ topic, messages: [{ partition: 1, value: 'y' }] });
    release();
    const outcome = await first;
    expect(await values(topic, 0)).toEqual(['a']);
    expect(outcome).toBeInstanceOf(SamsaClientError);
    expect((outcome as SamsaClientError).code).toBe('INVALID_PRODUCER_EPOCH');
    expect(p0).toBe(2); // the lost attempt and its refused retry; no resend
    // The partition carries on under the new epoch.
    await producer.send({ topic, messages: [{ partition: 0, value: 'b' }] });
    expect(await values(topic, 0)).toEqual(['a', 'b']);
    expect(await values(topic, 1)).toEqual(['y']);
  } finally {
    release();
    await producer.disconnect();
    proxy.rule = () => 'pass';
  }
});
