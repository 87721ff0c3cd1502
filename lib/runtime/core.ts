// The part of the wiring every runtime shares: the Stores handle and the engine options that
// follow from Config. Kept free of storage adapters so that an entry point pulls in only the
// adapters it uses (the Lambda bundles must never reach the native SQLite module).
import type { Config } from './config';
import { GroupCoordinator } from '../groups/coordinator';
import { type EngineOptions, LogEngine } from '../log/engine';
import { type FlushSchedulerFactory, handOffFlushes, inProcessFlushes } from '../log/flush-scheduler';
import type { Topic } from '../log/topics';
import type { MetaStore, ObjectStore } from '../storage/ports';
import type { Clock } from '../util/clock';

export interface Stores {
  meta: MetaStore;
  objects: ObjectStore;
  close(): Promise<void>;
}

/**
 * AWS mode keeps commits up to this size inline in DynamoDB. Inline bytes are billed in 1 KB
 * write units three times (the head, the commit page, its delete at flush); a write-ahead
 * object costs a flat $0.005 per 1,000 PUTs plus a GET at flush. Measured end to end with
 * bench:cost (produce, flush, consume): 2 KiB records are cheaper inline, 3 KiB ones written
 * ahead (bench/RESULTS.md). SQLite has no such price, so embedded mode keeps bigger commits
 * inline and skips the file.
 */
export const AWS_INLINE_MAX_BYTES = 2560;

export function engineOptions(cfg: Config): Partial<EngineOptions> {
  return {
    ...flushSchedulerOption(cfg),
    // Every AWS-mode instance only sees its own commits; re-check the store while waiting.
    longPollRecheckMs: cfg.storage === 'aws' ? 200 : 1000,
    // ...backing off to one read per 2 s while nothing moves (an idle poller's metadata bill).
    longPollMaxRecheckMs: 2000,
    inlineMaxBytes: cfg.storage === 'aws' ? AWS_INLINE_MAX_BYTES : 128 * 1024,
    // DynamoDB bills a transaction's writes double: commit with a conditional head write there
    // (lib/log/commit.ts). SQLite commits a transaction as cheaply as one write.
    headOnlyCommits: cfg.storage === 'aws',
    // Embedded: every process that can open the data folder runs on this host, so a lease
    // left by a killed process is taken at once (restart after kill -9 flushes right away).
    singleHost: cfg.storage === 'embedded',
    leaseMs: cfg.leaseMs,
  };
}

/**
 * Who flushes a partition between flush-job passes. Given a hand-off (the Lambda API: an
 * async invoke of the flush function) and a trigger window, partitions are handed over;
 * otherwise this process flushes them itself `flushDelayMs` after a commit, if that is ≥ 0.
 */
export function flushSchedulerOption(cfg: Config, handOff?: (topic: Topic, partition: number) => void | Promise<void>): { flushScheduler?: FlushSchedulerFactory } {
  if (handOff && cfg.flushTriggerWindowMs >= 0) return { flushScheduler: handOffFlushes({ windowMs: cfg.flushTriggerWindowMs, triggerBytes: cfg.flushTriggerBytes, handOff }) };
  if (cfg.flushDelayMs >= 0) return { flushScheduler: inProcessFlushes({ delayMs: cfg.flushDelayMs, retryAfterMs: cfg.leaseMs / 2 }) };
  return {};
}

/**
 * `extra` lets an entry point add what only it knows (the Lambda API's flush trigger).
 *
 * No codecsReady() here: the server only decompresses (fzstd or native zlib, both synchronous)
 * and writes uncompressed batches, so it never needs the zstd WASM compressor; loading it at
 * init cost every Node < 22.15 cold start ~30 ms. Code that compresses (the client producer)
 * awaits codecsReady() itself.
 */
export async function engineOn(cfg: Config, stores: Stores, clock?: Clock, extra: Partial<EngineOptions> = {}): Promise<LogEngine> {
  return new LogEngine(stores.meta, stores.objects, clock, { ...engineOptions(cfg), ...extra });
}

/** What an entry point serves: the engine on its stores, and the consumer-group coordinator over both. */
export interface Runtime {
  engine: LogEngine;
  stores: Stores;
  groups: GroupCoordinator;
}

export async function runtimeOn(cfg: Config, stores: Stores, clock?: Clock, extra: Partial<EngineOptions> = {}): Promise<Runtime> {
  const engine = await engineOn(cfg, stores, clock, extra);
  return { engine, stores, groups: new GroupCoordinator(engine.meta, engine) };
}
