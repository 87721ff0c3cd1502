// Metadata reads per second of one idle direct-fetch long poller (wait_ms=30000) against a
// partition nobody writes, with AWS mode's re-read schedule: fixed 200 ms (before issue 12)
// and 200 ms doubling to 2 s (now). Each re-read is one head read (a DynamoDB GetItem).
//   npx tsx bench/idle-long-poll.ts [seconds]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LogEngine } from '../lib/log/engine';
import { countingMetaStore } from '../lib/storage/counting';
import { LocalObjectStore } from '../lib/storage/local-object-store';
import { SqliteMetaStore } from '../lib/storage/sqlite-meta-store';

const seconds = Number(process.argv[2] ?? 30);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-idle-'));
const shared = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
const objects = new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false });
await new LogEngine(shared, objects).createTopic('idle', 1);

for (const [label, max] of [['fixed 200 ms', 200], ['200 ms -> 2 s backoff', 2000]] as const) {
  const meta = countingMetaStore(shared);
  const engine = new LogEngine(meta, objects, undefined, { longPollRecheckMs: 200, longPollMaxRecheckMs: max });
  await engine.fetch('idle', 0, { offset: 0 });
  meta.counts.reset();
  const t0 = Date.now();
  await engine.fetch('idle', 0, { offset: 0, waitMs: seconds * 1000 });
  const s = meta.counts.snapshot().calls;
  const n = (s.get ?? 0) + (s.query ?? 0);
  const secs = (Date.now() - t0) / 1000;
  console.log(`${label}: ${n} metadata reads in ${secs.toFixed(1)} s = ${(n / secs).toFixed(2)} reads/s per idle poller`);
  await engine.close();
}
await shared.close();
fs.rmSync(dir, { recursive: true, force: true });
