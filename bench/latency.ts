// `npm run bench -- latency`: one 1 KiB record per request, acknowledged durable, over loopback
// HTTP to an embedded Samsa server with default settings, as bench/peers.ts measures it (idle,
// and under a steady 1,000 records/s background load), next to its floor: a bare node:http
// server that reads the same request and answers a small JSON body, over the same client. Also
// the server's CPU time per request (from /proc), which a shared machine disturbs far less
// than latency: compare same-run pairs.
// Both servers are warmed up first (BENCH_LATENCY_WARMUP requests, default 3000, from 8 clients)
// so the JIT has compiled the hot path: bench/peers.ts measures latency after its throughput
// workloads, and a cold server's numbers (p50 about 2x higher) would not compare with those.
// Env: BENCH_LATENCY_SAMPLES (default 2000), BENCH_LATENCY_ROUNDS (default 1), BENCH_NO_FLOOR,
// BENCH_LATENCY_WARMUP, BENCH_LATENCY_PROBE=1 (load bench/latency-probe.mjs into the server: per
// phase, on stderr, the event-loop delay, GC pauses, loop holds and the server's own time per request),
// BENCH_SERVER_ENV ("K=V K=V": server settings), BENCH_SERVER_NODE_ARGS (e.g. "--cpu-prof").
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { encodeRecordBatch } from '../lib/records';
import { closeConnections, freePort, latency, type Quantiles, request, startSamsa } from './lib';

const SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 2000);
const ROUNDS = Number(process.env.BENCH_LATENCY_ROUNDS ?? 1);
const WARMUP = Number(process.env.BENCH_LATENCY_WARMUP ?? 3000);
const ONE = encodeRecordBatch([{ key: null, value: Buffer.alloc(1024, 'x') }]);
const CT = { 'content-type': 'application/vnd.kafka.record-batch' };

type Q = Quantiles;

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuOf(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/**
 * `WARMUP` requests from 8 concurrent clients, then a pause so the last ones' work settles:
 * with `settled` (Samsa), until it says so — the eager flush of the warm-up's records runs for
 * a second or more after it, and measuring beside it made this bench's idle p99 noisier than
 * bench/peers.ts's, which measures after its earlier phases' flushes are done.
 */
async function warmUp(one: () => Promise<void>, settled?: () => Promise<boolean>): Promise<void> {
  let left = WARMUP;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (left-- > 0) await one();
  }));
  await new Promise((r) => setTimeout(r, 250));
  for (let waited = 0; settled && waited < 30_000 && !(await settled()); waited += 100) await new Promise((r) => setTimeout(r, 100));
}

/** The server's flush backlog (records committed but not yet in a segment), from /metrics. */
async function flushBacklog(port: number): Promise<number> {
  const r = await request(port, 'GET', '/metrics');
  const m = /^samsa_flush_lag_records(?:\{[^}]*\})? (\S+)$/m.exec(r.body.toString());
  if (!m) throw new Error('no samsa_flush_lag_records in /metrics');
  return Number(m[1]);
}

const f = (q: Q) => `${q.p50.toFixed(2)} / ${q.p99.toFixed(2)} / ${q.p999.toFixed(2)}`;

async function floor(): Promise<void> {
  const port = await freePort();
  // The floor: the same request read to its end and answered with a small JSON body.
  const child = spawn(process.execPath, ['-e', `
    require('node:http').createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.stringify({ partition: 0, base_offset: 1, last_offset: 1 });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    }).listen(${port}, '127.0.0.1', () => process.send ? process.send('up') : console.log('up'));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => child.stdout!.once('data', r));
  const one = async () => void (await request(port, 'POST', '/', ONE, CT));
  await warmUp(one);
  const cpu0 = cpuOf(child.pid!);
  const q = await latency(one, async () => void (await request(port, 'POST', '/', encodeRecordBatch(Array.from({ length: 1 }, () => ({ key: null, value: Buffer.alloc(1024) }))), CT)), { samples: SAMPLES, background: false });
  const cpu = cpuOf(child.pid!) - cpu0;
  console.log(`| bare node:http (floor) | ${f(q)} | — | ${((cpu / (SAMPLES + 50)) * 1e6).toFixed(0)} |`);
  child.kill();
}

async function samsa(): Promise<void> {
  const probe = process.env.BENCH_LATENCY_PROBE ? ['--import', new URL('./latency-probe.mjs', import.meta.url).pathname] : [];
  const { port, child, dir } = await startSamsa(Object.fromEntries((process.env.BENCH_SERVER_ENV ?? '').split(' ').filter(Boolean).map((kv) => kv.split('=') as [string, string])), [...probe, ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)]);
  // The probe reports each measured phase (the background load's requests count in the second).
  const mark = probe.length ? () => void child.kill('SIGUSR2') : undefined;
  const created = await request(port, 'POST', '/v1/topics', JSON.stringify({ name: 'lat', partitions: 1 }), { 'content-type': 'application/json' });
  if (created.status !== 201) throw new Error(`create topic: ${created.status} ${created.body}`);
  const batches = new Map<number, Uint8Array>();
  const produce = async (n: number) => {
    let b = batches.get(n);
    if (!b) batches.set(n, (b = encodeRecordBatch(Array.from({ length: n }, () => ({ key: null, value: Buffer.alloc(1024, 'x') })))));
    const r = await request(port, 'POST', '/v1/topics/lat/partitions/0/records', b, CT);
    if (r.status !== 200) throw new Error(`produce: ${r.status} ${r.body}`);
  };
  const one = () => produce(1);
  await warmUp(one, async () => (await flushBacklog(port)) === 0);
  const c0 = cpuOf(child.pid!);
  const idle = await latency(one, produce, { samples: SAMPLES, background: false, mark });
  const c1 = cpuOf(child.pid!);
  const loaded = await latency(one, produce, { samples: SAMPLES, background: true, mark });
  console.log(`| Samsa (embedded, defaults) | ${f(idle)} | ${f(loaded)} | ${(((c1 - c0) / (SAMPLES + 50)) * 1e6).toFixed(0)} |`);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  fs.rmSync(dir, { recursive: true, force: true });
}

console.log(`${SAMPLES} samples per measure, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
console.log('| server | latency p50 / p99 / p999 ms | same, under 1,000 rec/s | server CPU µs per request (idle) |');
console.log('| --- | ---: | ---: | ---: |');
for (let r = 0; r < ROUNDS; r++) {
  if (!process.env.BENCH_NO_FLOOR) await floor();
  await samsa();
}
console.log(`\nload after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
closeConnections();
