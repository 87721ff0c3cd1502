// `npm start`: the Samsa HTTP server on Node — embedded (files + SQLite under SAMSA_DATA_DIR)
// or against S3/DynamoDB with SAMSA_STORAGE=aws. A thin adapter around the Hono app.
import fs from 'node:fs';
import { serve } from '@hono/node-server';
import { loadConfig, unsafeListenReason } from '../lib/runtime/config';
import { createApp } from '../lib/http/app';
import { authFromConfig } from '../lib/http/authz';
import { groupLag } from '../lib/groups/lag';
import { answerClientErrors } from '../lib/http/client-errors';
import { hostGuard, hostGuardOptions } from '../lib/http/host-guard';
import { measureFlushLag, startJobLoop } from '../lib/runtime/jobs';
import { createSamsaMetrics, engineHooks } from '../lib/obs/instruments';
import { createLogger, deferredWriter } from '../lib/obs/logger';
import { openEngine } from '../lib/runtime';
import { kafkaGroupGuard, kafkaHeldGroups } from '../lib/kafka/cluster';
import { type KafkaListener, startKafkaListener } from '../lib/kafka/server';

const cfg = loadConfig();
// Lines are written after the turn's responses, not in front of them (deferredWriter: the
// access log at info is one line per request); what is still held is written at exit.
const logLines = deferredWriter();
process.on('exit', () => logLines.flush());
const logger = createLogger({ level: cfg.logLevel, bindings: { service: 'samsa' }, write: logLines.write });
const unsafe = unsafeListenReason(cfg);
if (unsafe) {
  logger.error(unsafe, { host: cfg.host, auth: cfg.auth });
  process.exit(2);
}
// Gauges are read at scrape time: flush backlog and every group's lag.
const metrics = createSamsaMetrics({
  flushLag: async () => (await measureFlushLag(engine)).unflushedRecords,
  consumerLag: () => groupLag(groups),
});
const { engine, stores, groups } = await openEngine(cfg, undefined, { ...engineHooks(metrics), log: logger });
const app = createApp({
  engine,
  maxRequestBytes: cfg.maxRequestBytes,
  logger,
  metrics,
  metricsRoute: true,
  // Host/Origin checks before any route: a local server must not take orders from web pages.
  guards: [hostGuard(hostGuardOptions(cfg.host, process.env))],
  auth: authFromConfig(cfg, engine.meta),
  groups,
  // A group Kafka members hold takes no HTTP members (docs/kafka.md), whether the listener runs
  // here or in another process on the same table or data folder.
  beforeGroupJoin: kafkaGroupGuard(engine.meta),
  kafkaHeldGroups: kafkaHeldGroups(engine.meta),
});
// The Kafka listener (SAMSA_KAFKA_PORT): same engine, same offset store, same ACLs as HTTP.
let kafka: KafkaListener | undefined;
if (cfg.kafka) {
  const k = cfg.kafka;
  kafka = await startKafkaListener({
    engine,
    coordinator: groups,
    port: k.port,
    host: cfg.host,
    ...(k.advertised ? { advertised: k.advertised } : {}),
    maxRequestBytes: k.maxRequestBytes,
    maxQueuedBytes: k.maxQueuedBytes,
    auth: authFromConfig(cfg, engine.meta),
    apiKeys: cfg.apiKeys,
    ...(k.tlsCert && k.tlsKey ? { tls: { cert: fs.readFileSync(k.tlsCert), key: fs.readFileSync(k.tlsKey) } } : {}),
    logger: logger.child({ component: 'kafka' }),
  });
  logger.info(`kafka listener on ${cfg.host}:${kafka.port} (advertised ${kafka.node.host}:${kafka.node.port}, node ${kafka.node.id})`, { kafka_port: kafka.port });
}
const jobs = startJobLoop(engine, cfg.jobIntervalMs, logger.child({ component: 'jobs' }), metrics);

const server = serve({ fetch: app.fetch, port: cfg.port, hostname: cfg.host }, (info) => {
  const where = cfg.storage === 'aws' ? `bucket ${cfg.bucket}, table ${cfg.table}` : `data in ${cfg.dataDir}`;
  logger.info(`listening on http://${cfg.host}:${info.port} (${cfg.storage}; ${where})`, { host: cfg.host, port: info.port, storage: cfg.storage });
});
answerClientErrors(server);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info(`${signal}: shutting down`, { signal });
  // Stop accepting, let in-flight requests finish (long polls are woken), then close storage.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // close() only drops connections idle at that moment; one that answers a request afterwards
  // (a woken long poll) would sit in keep-alive until its timeout and hold the exit back.
  const closeIdle = (server as { closeIdleConnections?: () => void }).closeIdleConnections?.bind(server);
  const idleSweep = setInterval(() => closeIdle?.(), 100);
  await kafka?.close();
  await engine.close();
  await jobs.stop();
  await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
  clearInterval(idleSweep);
  await stores.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
