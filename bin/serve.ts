// `npm start`: the Samsa HTTP server on Node — embedded (files + SQLite under SAMSA_DATA_DIR)
// or against S3/DynamoDB with SAMSA_STORAGE=aws. A thin adapter around the Hono app.
import { serve } from '@hono/node-server';
import { loadConfig } from '../lib/config';
import { createApp } from '../lib/http/app';
import { mountGroupRoutes } from '../lib/http/groups';
import { hostGuard, hostGuardOptions } from '../lib/http/host-guard';
import { startJobLoop } from '../lib/jobs';
import { openEngine } from '../lib/runtime';

const cfg = loadConfig();
const { engine, stores } = await openEngine(cfg);
const app = createApp({
  engine,
  maxRequestBytes: cfg.maxRequestBytes,
  // Host/Origin checks before any route: a local server must not take orders from web pages.
  guards: [hostGuard(hostGuardOptions(cfg.host, process.env))],
  extend: (a) => void mountGroupRoutes(a, { engine }),
});
const jobs = startJobLoop(engine, cfg.jobIntervalMs, (msg, err) => (err ? console.error(`[samsa] ${msg}:`, err) : console.log(`[samsa] ${msg}`)));

const server = serve({ fetch: app.fetch, port: cfg.port, hostname: cfg.host }, (info) => {
  const where = cfg.storage === 'aws' ? `bucket ${cfg.bucket}, table ${cfg.table}` : `data in ${cfg.dataDir}`;
  console.log(`[samsa] listening on http://${cfg.host}:${info.port} (${cfg.storage}; ${where})`);
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`[samsa] ${signal}: shutting down`);
  // Stop accepting, let in-flight requests finish (long polls are woken), then close storage.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // close() only drops connections idle at that moment; one that answers a request afterwards
  // (a woken long poll) would sit in keep-alive until its timeout and hold the exit back.
  const closeIdle = (server as { closeIdleConnections?: () => void }).closeIdleConnections?.bind(server);
  const idleSweep = setInterval(() => closeIdle?.(), 100);
  await engine.close();
  await jobs.stop();
  await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
  clearInterval(idleSweep);
  await stores.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
