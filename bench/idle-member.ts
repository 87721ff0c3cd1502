// What an idle consumer-group member costs on Lambda, and how fast it sees a record, per waiting
// strategy (issue 15). Measured, not modelled: the real app (createApp + group routes) over the
// real AWS stores on an S3/DynamoDB emulator (AWS_ENDPOINT_URL, or a private moto started here),
// driven in-process by a member of a 6-partition topic exactly as lib/client does it (the group
// poll route, positions carried in `from`). Per strategy:
//   - idle phase: nobody produces; requests, the time each request spends in the handler (what
//     Lambda bills, at 1 ms granularity), and the DynamoDB calls the handler makes, read and
//     write capacity computed by DynamoDB's on-demand rules from the item sizes returned
//     (strong reads 4 KB units, writes 1 KB units);
//   - probe phase: another instance produces one record at a random moment, `probes` times;
//     delivery latency = produce acknowledged → the member's poll returns it.
// A month is 30 days; prices are us-east-1 list prices: Lambda arm64 (as the construct
// deploys) $0.0000133334 per GB-s at 1 GB, $0.20 per million requests; DynamoDB on-demand
// $0.125 per million RRU, $0.625 per million WRU. The handler time is measured against a local
// emulator (moto answers a call in several ms, more on a loaded machine; DynamoDB in-region in a
// few), so the GB-s column is an estimate, likely high; the request and DynamoDB columns are
// exact for the code as it runs.
//   npx tsx bench/idle-member.ts [idle seconds per strategy] [probes per strategy]
import { createApp } from '../lib/http/app';
import { mountGroupRoutes } from '../lib/http/groups';
import { LogEngine } from '../lib/log/engine';
import { silentLogger } from '../lib/obs/logger';
import { DYNAMODB_TRAITS } from '../lib/storage/dynamo-meta-store';
import { codecsReady } from '../lib/records';
import { awsConfigFromEnv, makeDynamoClient, makeS3Client } from '../lib/storage/aws-clients';
import { ensureBucket, ensureTable } from '../lib/storage/aws-provision';
import { itemSize } from '../lib/storage/counting';
import { DynamoMetaStore } from '../lib/storage/dynamo-meta-store';
import type { MetaItem, MetaStore } from '../lib/storage/ports';
import { S3ObjectStore } from '../lib/storage/s3-object-store';
import { AWS_PRICES } from '../lib/storage/aws-prices';
import { emulator } from './lib';

const IDLE_SECONDS = Number(process.argv[2] ?? 10);
const PROBES = Number(process.argv[3] ?? 6);
const PARTITIONS = 6;
const MONTH_S = 30 * 24 * 3600;
const PRICE = { request: AWS_PRICES.lambdaPerMillion / 1e6, gbSecond: AWS_PRICES.lambdaArmGbSecond, rru: AWS_PRICES.dynamoReadPerMillion / 1e6, wru: AWS_PRICES.dynamoWritePerMillion / 1e6 };
const LAMBDA_GB = 1;

export interface Strategy {
  label: string;
  /** The poll's wait_ms. */
  waitMs: number;
  /** Client pause after an empty poll (after a poll with records it polls again at once). */
  pauseMs: number;
}

/** The strategies compared; the client's default is the one the README names. */
export const STRATEGIES: Strategy[] = [
  { label: 'long poll wait_ms=20000', waitMs: 20_000, pauseMs: 0 },
  { label: 'long poll wait_ms=1000 (old client default)', waitMs: 1000, pauseMs: 0 },
  { label: 'short poll every 500 ms', waitMs: 0, pauseMs: 500 },
  { label: 'short poll every 1 s (client default)', waitMs: 0, pauseMs: 1000 },
  { label: 'short poll every 2 s', waitMs: 0, pauseMs: 2000 },
];

/** DynamoDB capacity of the calls that pass through, by DynamoDB's on-demand rules. */
type Units = { rru: number; wru: number; calls: number; byOp: Record<string, number> };
function capacity(inner: MetaStore): MetaStore & { units: Units } {
  const units: Units = { rru: 0, wru: 0, calls: 0, byOp: {} };
  const op = (name: string) => {
    units.calls++;
    units.byOp[name] = (units.byOp[name] ?? 0) + 1;
  };
  const read = (bytes: number, consistent: boolean) => (units.rru += Math.max(1, Math.ceil(bytes / 4096)) * (consistent ? 1 : 0.5));
  const size = (items: Array<MetaItem | undefined>) => items.reduce((a, i) => a + (i ? itemSize(i) : 0), 0);
  return {
    units,
    get limits() {
      return inner.limits;
    },
    async get(key, opts) {
      op('get');
      const item = await inner.get(key, opts);
      read(item ? itemSize(item) : 0, opts?.consistent !== false);
      return item;
    },
    ...(inner.batchGet
      ? {
          async batchGet(keys: Parameters<NonNullable<MetaStore['batchGet']>>[0], opts?: { consistent?: boolean }) {
            if (keys.length === 0) return [];
            op('batchGet');
            const items = await inner.batchGet!(keys, opts);
            for (const i of items) read(i ? itemSize(i) : 0, opts?.consistent !== false);
            return items;
          },
        }
      : {}),
    async query(opts) {
      op('query');
      const page = await inner.query(opts);
      read(size(page.items), true);
      return page;
    },
    async write(w) {
      op('write');
      const bytes = w.type === 'put' ? itemSize(w.item) : w.type === 'update' ? itemSize({ ...w.key, ...(w.set ?? {}) } as MetaItem) : 100;
      units.wru += Math.max(1, Math.ceil(bytes / 1024));
      return inner.write(w);
    },
    async transact(ops) {
      op('transact');
      for (const op of ops) units.wru += 2 * Math.max(1, Math.ceil((op.type === 'put' ? itemSize(op.item) : 100) / 1024));
      return inner.transact(ops);
    },
    close: async () => inner.close?.(),
  } as MetaStore & { units: Units };
}

interface Row {
  strategy: Strategy;
  requestsPerS: number;
  busyFraction: number;
  rruPerS: number;
  wruPerS: number;
  /** Store calls per poll, by method. */
  perPoll: string;
  latencies: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function main(): Promise<Row[]> {
  await codecsReady();
  const { stop } = await emulator();
  const cfg = awsConfigFromEnv();
  const s3c = makeS3Client(cfg);
  const ddbc = makeDynamoClient(cfg);
  const bucket = `samsa-idle-${Date.now()}`;
  const table = `samsa-idle-${Date.now()}`;
  await ensureBucket(s3c, bucket, cfg.region);
  await ensureTable(ddbc, table);
  const raw = new DynamoMetaStore({ client: ddbc, table });
  const objects = new S3ObjectStore({ client: s3c, bucket });
  const meta = capacity(raw);
  // The API function's engine (AWS mode settings of lib/runtime/core.ts) and, apart, a producer.
  // Items mode (lib/log/commit-items.ts) unless IDLE_ITEMS=0: the topic's high watermarks are
  // then the ends of their last commit items, one query per partition beside the head reads.
  const awsOpts = { inlineMaxBytes: DYNAMODB_TRAITS.inlineMaxBytes, longPollRecheckMs: 200, longPollMaxRecheckMs: 2000, headOnlyCommits: true, itemCommits: process.env.IDLE_ITEMS !== '0' };
  const engine = new LogEngine(meta, objects, undefined, awsOpts);
  const producer = new LogEngine(raw, objects, undefined, awsOpts);
  const app = createApp({ engine, logger: silentLogger });
  mountGroupRoutes(app, { engine });
  await producer.createTopic('idle', PARTITIONS);

  const rows: Row[] = [];
  const only = process.env.IDLE_ONLY;
  for (const [n, strategy] of STRATEGIES.entries()) {
    if (only && !strategy.label.includes(only)) continue;
    const group = `g${n}`;
    const joined = (await (await app.request(`/v1/groups/${group}/members`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topics: ['idle'], auto_offset_reset: 'latest' }) })).json()) as { member_id: string };
    const positions = new Map<number, number>();
    let generation = 0;
    let busyMs = 0;
    let requests = 0;
    const delivered: Array<{ value: number; at: number }> = [];
    let stopAt = 0;
    const loop = async () => {
      while (performance.now() < stopAt) {
        const from = [...positions].map(([p, o]) => `idle:${p}:${o}`).join(',');
        const t0 = performance.now();
        const res = await app.request(`/v1/groups/${group}/members/${joined.member_id}/records?wait_ms=${strategy.waitMs}&max_records=100${from ? `&from=${from}&generation=${generation}` : ''}`);
        const body = (await res.json()) as { generation: number; records: Array<{ partition: number; value: number }>; positions: Array<{ partition: number; next_offset: number }> };
        generation = body.generation;
        const at = performance.now();
        busyMs += Math.ceil(at - t0); // Lambda bills whole milliseconds
        requests++;
        for (const p of body.positions ?? []) positions.set(p.partition, p.next_offset);
        for (const r of body.records ?? []) delivered.push({ value: r.value, at });
        if ((body.records ?? []).length === 0 && strategy.pauseMs > 0) await sleep(strategy.pauseMs);
      }
    };
    // Settle: the first poll resolves positions.
    stopAt = performance.now() + 1;
    await loop();
    meta.units.rru = meta.units.wru = meta.units.calls = 0;
    meta.units.byOp = {};
    busyMs = 0;
    requests = 0;
    const t0 = performance.now();
    stopAt = t0 + IDLE_SECONDS * 1000;
    await loop();
    const idleS = (performance.now() - t0) / 1000;
    const row: Row = { strategy, requestsPerS: requests / idleS, busyFraction: busyMs / 1000 / idleS, rruPerS: meta.units.rru / idleS, wruPerS: meta.units.wru / idleS, latencies: [], perPoll: Object.entries(meta.units.byOp).map(([k, v]) => `${(v / requests).toFixed(1)} ${k}`).join(', ') };

    // Probes: one record at a random moment, to a random partition; the member keeps polling.
    stopAt = Number.POSITIVE_INFINITY;
    const running = loop();
    for (let i = 0; i < PROBES; i++) {
      await sleep(300 + Math.random() * Math.max(strategy.pauseMs, strategy.waitMs > 0 ? 1000 : 0) * 1.5);
      await producer.produce('idle', [{ key: null, value: new TextEncoder().encode(String(i)), headers: [], partition: Math.floor(Math.random() * PARTITIONS) }]);
      const acked = performance.now();
      while (!delivered.some((d) => d.value === i)) await sleep(5);
      row.latencies.push(delivered.find((d) => d.value === i)!.at - acked);
    }
    stopAt = 0;
    await running;
    await app.request(`/v1/groups/${group}/members/${joined.member_id}`, { method: 'DELETE' });
    rows.push(row);
  }
  await engine.close();
  await producer.close();
  stop();
  return rows;
}

export function monthly(r: Row): { requests: number; gbSeconds: number; rru: number; wru: number; lambda: number; dynamo: number; total: number } {
  const requests = r.requestsPerS * MONTH_S;
  const gbSeconds = r.busyFraction * MONTH_S * LAMBDA_GB;
  const rru = r.rruPerS * MONTH_S;
  const wru = r.wruPerS * MONTH_S;
  const lambda = requests * PRICE.request + gbSeconds * PRICE.gbSecond;
  const dynamo = rru * PRICE.rru + wru * PRICE.wru;
  return { requests, gbSeconds, rru, wru, lambda, dynamo, total: lambda + dynamo };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await main();
  const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(1));
  console.log(`\nIdle consumer-group member on ${PARTITIONS} partitions, one month on Lambda (1 GB arm64, list prices; ${IDLE_SECONDS} s idle + ${PROBES} probes per strategy):`);
  console.log('| strategy | requests/month | GB-s/month | DynamoDB RRU / WRU per month | Lambda $ | DynamoDB $ | total $/month | delivery latency at idle (median / max) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const m = monthly(r);
    const sorted = [...r.latencies].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? NaN;
    console.log(
      `| ${r.strategy.label} | ${fmt(m.requests)} | ${fmt(m.gbSeconds)} | ${fmt(m.rru)} / ${fmt(m.wru)} | ${m.lambda.toFixed(2)} | ${m.dynamo.toFixed(2)} | **${m.total.toFixed(2)}** | ${median.toFixed(0)} ms / ${Math.max(...sorted).toFixed(0)} ms |`,
    );
  }
  console.log(`\nStore calls per poll: ${rows.map((r) => `${r.strategy.label}: ${r.perPoll}`).join('; ')}`);
  // An SSE tail per partition holds an invocation open all the time: wall-clock billing.
  const tail = PARTITIONS * MONTH_S * LAMBDA_GB * PRICE.gbSecond;
  console.log(`| SSE tail per partition (${PARTITIONS} invocations always open; not measured: billed wall-clock) | ${fmt((PARTITIONS * MONTH_S) / 65)} | ${fmt(PARTITIONS * MONTH_S)} | — | ${tail.toFixed(2)} | — | **${tail.toFixed(2)}** | one batch as it commits |`);
}
