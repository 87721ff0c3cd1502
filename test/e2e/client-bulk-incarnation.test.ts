// The client's bulk reads against the embedded server's segment download route, with the route
// held while the topic is deleted and created again.
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { HttpClient } from '../../lib/client';
import { bulkRead } from '../../lib/client/reader';
import { createApp } from '../../lib/http/app';
import { LogEngine } from '../../lib/log/engine';
import { silentLogger } from '../../lib/obs/logger';
import { codecsReady } from '../../lib/records';
import { localStores, type TestStores } from '../helpers/stores';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function fill(engine: LogEngine, prefix: string, n: number): Promise<void> {
  await engine.createTopic('t', 1, { 'segment.bytes': 4096 });
  for (let i = 0; i < n; i += 10) await engine.produce('t', Array.from({ length: 10 }, (_, j) => ({ key: null, value: enc(`${prefix}${i + j}`), headers: [], partition: 0 })));
  await engine.flushAll();
}

it('a bulk read whose segment URL outlived its topic (deleted, created again) does not return the new topic’s records as the old one’s', async () => {
  await codecsReady();
  const stores: TestStores = await localStores('samsa-bulk-incarnation-');
  const engine = new LogEngine(stores.meta, stores.objects, undefined, { inlineMaxBytes: 256, flush: { stepBytes: 64 * 1024, indexIntervalBytes: 256 } });
  const app = createApp({ engine, logger: silentLogger });
  let hold: Promise<void> | undefined;
  let held: (() => void) | undefined;
  const server: ServerType = await new Promise((resolve) => {
    const s = serve(
      {
        fetch: async (req) => {
          if (/\/segments\/\d+\/log$/.test(new URL(req.url).pathname) && hold) {
            held?.();
            await hold;
          }
          return app.fetch(req);
        },
        port: 0,
        hostname: '127.0.0.1',
      },
      () => resolve(s),
    );
  });
  cleanup = async () => {
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise((r) => server.close(r));
    await engine.close();
    await stores.cleanup();
  };
  const http = new HttpClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, retry: { retries: 0 } });
  await fill(engine, 'old-', 300);

  let release!: () => void;
  hold = new Promise<void>((r) => (release = r));
  const arrived = new Promise<void>((r) => (held = r));
  const values: string[] = [];
  const reading = (async () => {
    for await (const c of bulkRead(http, 't', 0, 0, undefined, 1)) for (const m of c.messages) values.push(m.value!.toString());
  })().then(
    () => undefined,
    (e: unknown) => e,
  );
  await arrived; // the segments route answered; the download of the first range is held
  await engine.deleteTopic('t');
  await fill(engine, 'new-', 300); // the name is free at once
  hold = undefined;
  release();
  const failure = await reading;
  // Either the old records or a refusal (the server's topic_id check: "ask the segments route again"), never the new log's.
  expect(values.filter((v) => v.startsWith('new-'))).toEqual([]);
  expect(values.length > 0 || failure !== undefined).toBe(true);
});
