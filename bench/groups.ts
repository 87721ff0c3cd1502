// Consumer-group benchmark: joins/s, heartbeats/s and metadata-store requests per operation,
// through the coordinator (no HTTP) over the embedded SqliteMetaStore (a file, synchronous=NORMAL
// as the server's default) wrapped in countingMetaStore. With AWS_ENDPOINT_URL set it also runs
// against DynamoDB there (a fresh table, removed afterwards). Prints a markdown table.
//   npx tsx bench/groups.ts            [GROUP_BENCH_MEMBERS=50 GROUP_BENCH_SECONDS=3]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GroupCoordinator } from '../lib/groups/coordinator';
import { LogEngine } from '../lib/log/engine';
import { codecsReady } from '../lib/records';
import { countingMetaStore, type Counts, type MetaStoreMethod } from '../lib/storage/counting';
import { LocalObjectStore } from '../lib/storage/local-object-store';
import type { MetaStore } from '../lib/storage/ports';
import { SqliteMetaStore } from '../lib/storage/sqlite-meta-store';

const MEMBERS = Number(process.env.GROUP_BENCH_MEMBERS ?? 50);
const SECONDS = Number(process.env.GROUP_BENCH_SECONDS ?? 3);
const PARTITIONS = 64;

interface Row {
  store: string;
  what: string;
  ops: number;
  perSecond: number;
  requests: string;
}

const total = (c: Counts<MetaStoreMethod>): number => Object.values(c.calls).reduce((a, b) => a + (b ?? 0), 0);
const breakdown = (c: Counts<MetaStoreMethod>, n: number): string =>
  `${(total(c) / n).toFixed(2)} (${Object.entries(c.calls)
    .map(([k, v]) => `${k} ${((v ?? 0) / n).toFixed(2)}`)
    .join(', ')})`;

async function bench(store: string, raw: MetaStore, objectsDir: string): Promise<Row[]> {
  const meta = countingMetaStore(raw);
  const engine = new LogEngine(meta, new LocalObjectStore({ root: objectsDir }));
  // A realistic refresh period: partition counts are re-read every 5 s per group and instance.
  const coord = new GroupCoordinator(meta, engine, { topicRefreshMs: 5000 });
  const topic = `bench-${Date.now().toString(36)}`;
  await engine.createTopic(topic, PARTITIONS);
  const rows: Row[] = [];
  const group = `bg-${topic}`;

  // Joins: each changes the roster, so each writes a new generation (and moves partitions).
  meta.counts.reset();
  const members: Array<{ memberId: string; generation: number }> = [];
  let t0 = performance.now();
  for (let i = 0; i < MEMBERS; i++) members.push(await coord.join(group, { topics: [topic], sessionTimeoutMs: 60_000 }));
  let secs = (performance.now() - t0) / 1000;
  rows.push({ store, what: `join (group grows 0 → ${MEMBERS})`, ops: MEMBERS, perSecond: MEMBERS / secs, requests: breakdown(meta.counts.snapshot(), MEMBERS) });

  // Let the cooperative handover finish, then measure the steady state.
  for (let r = 0; r < 3; r++) for (const m of members) m.generation = (await coord.heartbeat(group, m.memberId, m.generation)).generation;
  for (const [label, concurrent] of [
    ['heartbeat, steady state, sequential', false],
    ['heartbeat, steady state, 8 concurrent', true],
  ] as const) {
    meta.counts.reset();
    let n = 0;
    t0 = performance.now();
    const deadline = t0 + SECONDS * 1000;
    if (!concurrent) {
      while (performance.now() < deadline) {
        const m = members[n % members.length]!;
        m.generation = (await coord.heartbeat(group, m.memberId, m.generation)).generation;
        n++;
      }
    } else {
      await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (let i = w; performance.now() < deadline; i += 8) {
            const m = members[i % members.length]!;
            m.generation = (await coord.heartbeat(group, m.memberId, m.generation)).generation;
            n++;
          }
        }),
      );
    }
    secs = (performance.now() - t0) / 1000;
    rows.push({ store, what: `${label} (${MEMBERS} members)`, ops: n, perSecond: n / secs, requests: breakdown(meta.counts.snapshot(), n) });
  }

  // Leaves: each writes a generation and hands the partitions on at once.
  meta.counts.reset();
  t0 = performance.now();
  for (const m of members) await coord.leave(group, m.memberId);
  secs = (performance.now() - t0) / 1000;
  rows.push({ store, what: 'leave (group shrinks to 0)', ops: members.length, perSecond: members.length / secs, requests: breakdown(meta.counts.snapshot(), members.length) });
  await engine.close();
  return rows;
}

async function main(): Promise<void> {
  await codecsReady();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-bench-groups-'));
  const rows: Row[] = [];
  try {
    const sqlite = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
    rows.push(...(await bench('embedded (SQLite)', sqlite, path.join(dir, 'objects'))));
    await sqlite.close();
    if (process.env.AWS_ENDPOINT_URL) {
      const { awsConfigFromEnv, makeDynamoClient } = await import('../lib/storage/aws-clients');
      const { ensureTable } = await import('../lib/storage/aws-provision');
      const { DynamoMetaStore } = await import('../lib/storage/dynamo-meta-store');
      const { DeleteTableCommand } = await import('@aws-sdk/client-dynamodb');
      const client = makeDynamoClient(awsConfigFromEnv());
      const table = `samsa-bench-groups-${process.pid}`;
      await ensureTable(client, table, { maxWaitSeconds: 60 });
      try {
        rows.push(...(await bench(`DynamoDB @ ${process.env.AWS_ENDPOINT_URL}`, new DynamoMetaStore({ client, table }), path.join(dir, 'objects-aws'))));
      } finally {
        await client.send(new DeleteTableCommand({ TableName: table }));
        client.destroy();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\nConsumer groups — ${MEMBERS} members, one topic of ${PARTITIONS} partitions, sticky assignor, ${SECONDS} s per heartbeat run (Node ${process.version}, ${os.cpus().length} cores)\n`);
  console.log('| store | operation | ops | ops/s | MetaStore requests per op |');
  console.log('|---|---|---:|---:|---|');
  for (const r of rows) console.log(`| ${r.store} | ${r.what} | ${r.ops} | ${r.perSecond.toFixed(0)} | ${r.requests} |`);
}

await main();
