// The part of the wiring every runtime shares: the Stores handle and the engine options that
// follow from Config. Kept free of storage adapters so that an entry point pulls in only the
// adapters it uses (the Lambda bundles must never reach the native SQLite module).
import type { Config } from './config';
import { GroupCoordinator } from '../groups/coordinator';
import { type EngineOptions, LogEngine } from '../log/engine';
import { type FlushSchedulerFactory, handOffFlushes, inProcessFlushes } from '../log/flush-scheduler';
import { DEFAULT_FLUSH_OPTIONS } from '../log/flush';
import type { Topic } from '../log/topics';
import type { MetaStore, MetaStoreTraits, ObjectStore } from '../storage/ports';
import type { Clock } from '../util/clock';

export interface Stores {
  meta: MetaStore;
  objects: ObjectStore;
  close(): Promise<void>;
}

/** The engine options that follow from the config and from what the metadata store says of itself. */
export function engineOptions(cfg: Config, traits: MetaStoreTraits): Partial<EngineOptions> {
  return {
    ...flushSchedulerOption(cfg),
    // A process sees only its own commits when others elsewhere share the store (every AWS
    // instance): re-check the store while waiting.
    longPollRecheckMs: traits.sharedAcrossHosts ? 200 : 1000,
    // ...backing off to one read per 2 s while nothing moves (an idle poller's metadata bill).
    longPollMaxRecheckMs: 2000,
    inlineMaxBytes: traits.inlineMaxBytes,
    // Items-mode topics decide on the item as stored, at the store's price (design note 0010, 11).
    ...(traits.itemInlineMaxBytes ? { itemInlineMaxBytes: traits.itemInlineMaxBytes } : {}),
    // Where a transaction's writes cost double, commit with a conditional head write
    // (lib/log/commit.ts).
    headOnlyCommits: traits.transactionsCostDouble,
    // ...and topics created from now on commit once per commit, as an item of its own that
    // expires by TTL (lib/log/commit-items.ts); topics created before keep head-only commits.
    itemCommits: traits.transactionsCostDouble,
    // Every process that can open the store runs on this host (embedded), so a lease left by
    // a killed process is taken at once (restart after kill -9 flushes right away).
    singleHost: !traits.sharedAcrossHosts,
    leaseMs: cfg.leaseMs,
    ...(cfg.flushChunkBytes !== undefined ? { flush: { ...DEFAULT_FLUSH_OPTIONS, chunkBytes: cfg.flushChunkBytes } } : {}),
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
  return new LogEngine(stores.meta, stores.objects, clock, { ...engineOptions(cfg, stores.meta.traits), ...extra });
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
