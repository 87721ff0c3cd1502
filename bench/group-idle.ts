// What an idle consumer-group member costs (issue 14 item 4, issue 12 item 7):
//  1. HTTP requests per idle minute of a client Consumer on a 16-partition topic against an
//     embedded server process (measured over GROUP_IDLE_SECONDS, scaled to a minute), and the
//     most requests it held open at once;
//  2. metadata-store requests (and item reads) per second of one member long-polling 100 idle
//     partitions through the coordinator with AWS mode's 200 ms head recheck, on SQLite, and on
//     DynamoDB when AWS_ENDPOINT_URL is set (there heads are read 100 per BatchGetItem).
//   npx tsx bench/group-idle.ts          [GROUP_IDLE_SECONDS=10]
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Samsa } from '../lib/client';
import { GroupCoordinator } from '../lib/groups/coordinator';
import { LogEngine } from '../lib/log/engine';
import { codecsReady } from '../lib/records';
import { countingMetaStore } from '../lib/storage/counting';
import { LocalObjectStore } from '../lib/storage/local-object-store';
import type { MetaStore } from '../lib/storage/ports';
import { SqliteMetaStore } from '../lib/storage/sqlite-meta-store';
import { startSamsa } from './lib';

const SECONDS = Number(process.env.GROUP_IDLE_SECONDS ?? 10);

async function startServer(): Promise<{ url: string; child: ChildProcess; dir: string }> {
  return startSamsa();
}

async function idleConsumer(): Promise<string> {
  const PARTITIONS = 16;
  const srv = await startServer();
  const real = globalThis.fetch;
  let counting = false;
  let requests = 0;
  let open = 0;
  let maxOpen = 0;
  globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    if (!counting) return real(input, init);
    requests++;
    maxOpen = Math.max(maxOpen, ++open);
    try {
      return await real(input, init);
    } finally {
      open--;
    }
  }) as typeof fetch;
  try {
    const samsa = new Samsa({ url: srv.url });
    const topic = `idle-${Date.now().toString(36)}`;
    await samsa.admin().createTopic({ topic, numPartitions: PARTITIONS });
    const c = samsa.consumer({ groupId: `g-${topic}` }); // defaults: maxWaitTimeInMs 1000, session 30 s
    await c.subscribe({ topic, fromBeginning: true });
    await c.run({ eachMessage: async () => {} });
    for (let i = 0; i < 100 && c.assignment().length < PARTITIONS; i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1000));
    counting = true;
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    counting = false;
    await c.disconnect();
    return `| client Consumer (defaults), ${PARTITIONS} partitions | ${((requests * 60) / SECONDS).toFixed(0)} HTTP requests / idle minute | at most ${maxOpen} open at once |`;
  } finally {
    globalThis.fetch = real;
    srv.child.kill('SIGTERM');
    fs.rmSync(srv.dir, { recursive: true, force: true });
  }
}

async function idleMember(store: string, raw: MetaStore, dir: string): Promise<string> {
  const PARTITIONS = 100;
  const meta = countingMetaStore(raw);
  // AWS mode's recheck interval for commits made by other processes (lib/runtime/core.ts).
  const engine = new LogEngine(meta, new LocalObjectStore({ root: dir }), undefined, { longPollRecheckMs: 200 });
  const coord = new GroupCoordinator(meta, engine, { topicRefreshMs: 60_000 });
  const topic = `idle${Date.now().toString(36)}`;
  await engine.createTopic(topic, PARTITIONS);
  const m = await coord.join('idle', { topics: [topic], sessionTimeoutMs: 600_000 });
  await coord.poll('idle', m.memberId, {});
  meta.counts.reset();
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  let polls = 0;
  while (performance.now() < deadline) {
    await coord.poll('idle', m.memberId, { waitMs: Math.max(1, Math.min(30_000, deadline - performance.now())) });
    polls++;
  }
  const secs = (performance.now() - t0) / 1000;
  const c = meta.counts.snapshot();
  const reqs = Object.values(c.calls).reduce((a, b) => a + (b ?? 0), 0);
  await engine.close();
  const calls = Object.entries(c.calls)
    .map(([k, v]) => `${k} ${((v ?? 0) / secs).toFixed(1)}`)
    .join(', ');
  return `| member long-polling ${PARTITIONS} idle partitions (${polls} polls), ${store} | ${(reqs / secs).toFixed(1)} metadata requests/s (${calls}) | |`;
}

async function main(): Promise<void> {
  await codecsReady();
  const rows: string[] = [await idleConsumer()];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-bench-idle-meta-'));
  try {
    const sqlite = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
    rows.push(await idleMember('embedded (SQLite)', sqlite, path.join(dir, 'objects')));
    await sqlite.close();
    if (process.env.AWS_ENDPOINT_URL) {
      const { awsConfigFromEnv, makeDynamoClient } = await import('../lib/storage/aws-clients');
      const { ensureTable } = await import('../lib/storage/aws-provision');
      const { DynamoMetaStore } = await import('../lib/storage/dynamo-meta-store');
      const { DeleteTableCommand } = await import('@aws-sdk/client-dynamodb');
      const client = makeDynamoClient(awsConfigFromEnv());
      const table = `samsa-bench-idle-${process.pid}`;
      await ensureTable(client, table, { maxWaitSeconds: 60 });
      try {
        rows.push(await idleMember(`DynamoDB @ ${process.env.AWS_ENDPOINT_URL}`, new DynamoMetaStore({ client, table }), path.join(dir, 'objects-aws')));
      } finally {
        await client.send(new DeleteTableCommand({ TableName: table }));
        client.destroy();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\nIdle consumer-group members, measured over ${SECONDS} s (Node ${process.version}, ${os.cpus().length} cores)\n`);
  console.log('| what | rate | |');
  console.log('|---|---|---|');
  for (const r of rows) console.log(r);
}

await main();
