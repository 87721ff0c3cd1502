// `npm run bench -- peers`: Samsa (embedded, default settings) next to Redis Streams (AOF
// appendfsync everysec: acknowledged once written to the OS, like Samsa's default) and NATS
// JetStream (file store), in the same run, with the same load generator and 1 KiB records:
// batched produce, per-record produce, single-record latency (idle and under a steady 1,000
// records/s background load), and consume. Prints a table with ratios and writes
// bench/peers.svg. A peer that is not installed (Debian: redis-server, nats-server) is said and
// skipped. Seconds per workload: BENCH_SECONDS (default 5).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connect as natsConnect, type JetStreamClient, type NatsConnection, RetentionPolicy, StorageType } from 'nats';
import { encodeRecordBatch } from '../lib/records';
import { closeConnections, freePort, latency, request, startSamsa } from './lib';

const RECORD = 1024;
const BATCH = 1000; // records per batched request / pipeline / publish window
const CONCURRENCY = 8;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 2000);
const VALUE = Buffer.alloc(RECORD, 'x');

interface Peer {
  name: string;
  /** Produce `n` records in one request / pipeline / publish window; resolves when all are acknowledged. */
  produceBatch(n: number): Promise<void>;
  produceOne(): Promise<void>;
  /** Read everything produced so far, returning the records read. */
  consumeAll(): Promise<number>;
  close(): Promise<void>;
}

interface Row {
  batchedRecordsPerSec: number;
  perRecordPerSec: number;
  latency: { p50: number; p99: number; p999: number };
  latencyLoaded: { p50: number; p99: number; p999: number };
  consumeRecordsPerSec: number;
}

// --- measuring --------------------------------------------------------------------------------

async function runFor(concurrency: number, ms: number, op: () => Promise<number>): Promise<number> {
  const end = performance.now() + ms;
  const t0 = performance.now();
  let units = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const n = await op();
        units += n;
      }
    }),
  );
  return units / ((performance.now() - t0) / 1000);
}

async function measure(peer: Peer): Promise<Row> {
  const batchedRecordsPerSec = await runFor(CONCURRENCY, SECONDS * 1000, async () => (await peer.produceBatch(BATCH), BATCH));
  const perRecordPerSec = await runFor(CONCURRENCY, SECONDS * 1000, async () => (await peer.produceOne(), 1));
  const lat = await latency(() => peer.produceOne(), (n) => peer.produceBatch(n), { samples: LATENCY_SAMPLES, background: false });
  const latLoaded = await latency(() => peer.produceOne(), (n) => peer.produceBatch(n), { samples: LATENCY_SAMPLES, background: true });
  const t0 = performance.now();
  const n = await peer.consumeAll();
  const consumeRecordsPerSec = n / ((performance.now() - t0) / 1000);
  return { batchedRecordsPerSec, perRecordPerSec, latency: lat, latencyLoaded: latLoaded, consumeRecordsPerSec };
}

// --- Samsa --------------------------------------------------------------------------------------


async function waitFor(probe: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if (await probe()) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not start`);
}

async function samsa(): Promise<Peer & { proc: ChildProcess }> {
  const { port, child: proc, dir } = await startSamsa();
  const created = await request(port, 'POST', '/v1/topics', JSON.stringify({ name: 'peers', partitions: 1 }), { 'content-type': 'application/json' });
  if (created.status !== 201) throw new Error(`create topic: ${created.status} ${created.body}`);
  const batches = new Map<number, Uint8Array>();
  const batch = (n: number) => {
    let b = batches.get(n);
    if (!b) batches.set(n, (b = encodeRecordBatch(Array.from({ length: n }, () => ({ key: null, value: VALUE })))));
    return b;
  };
  const produce = async (n: number) => {
    const r = await request(port, 'POST', '/v1/topics/peers/partitions/0/records', batch(n), { 'content-type': 'application/vnd.kafka.record-batch' });
    if (r.status !== 200) throw new Error(`samsa produce: ${r.status} ${r.body}`);
  };
  return {
    name: 'Samsa',
    proc,
    produceBatch: produce,
    produceOne: () => produce(1),
    async consumeAll() {
      let offset = 0;
      let records = 0;
      for (;;) {
        const r = await request(port, 'GET', `/v1/topics/peers/partitions/0/records?offset=${offset}&max_bytes=8388608`, undefined, { accept: 'application/vnd.kafka.record-batch' });
        const next = Number(r.headers['x-next-offset']);
        records += next - offset;
        offset = next;
        if (offset >= Number(r.headers['x-high-watermark'])) return records;
      }
    },
    async close() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// --- Redis Streams (RESP over one socket per worker, pipelined) ---------------------------------

class Resp {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: Array<{ n: number; resolve: (v: unknown[]) => void; reject: (e: Error) => void; got: unknown[] }> = [];
  constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.drain();
    });
  }
  static async open(port: number): Promise<Resp> {
    const sock = net.connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    await new Promise((r, j) => sock.once('connect', r).once('error', j));
    return new Resp(sock);
  }
  /** Send commands in one write; resolves with their replies. */
  send(cmds: Array<Array<string | Buffer>>): Promise<unknown[]> {
    const parts: Buffer[] = [];
    for (const c of cmds) {
      parts.push(Buffer.from(`*${c.length}\r\n`));
      for (const a of c) {
        const b = typeof a === 'string' ? Buffer.from(a) : a;
        parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
      }
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ n: cmds.length, resolve, reject, got: [] });
      this.sock.write(Buffer.concat(parts));
    });
  }
  private parse(pos: number): [unknown, number] | undefined {
    const nl = this.buf.indexOf('\r\n', pos);
    if (nl < 0) return undefined;
    const type = String.fromCharCode(this.buf[pos]!);
    const line = this.buf.toString('utf8', pos + 1, nl);
    if (type === '+' || type === ':') return [line, nl + 2];
    if (type === '-') return [new Error(line), nl + 2];
    if (type === '$') {
      const len = Number(line);
      if (len < 0) return [null, nl + 2];
      if (this.buf.length < nl + 2 + len + 2) return undefined;
      return [this.buf.subarray(nl + 2, nl + 2 + len), nl + 2 + len + 2];
    }
    if (type === '*') {
      const n = Number(line);
      const out: unknown[] = [];
      let p = nl + 2;
      for (let i = 0; i < n; i++) {
        const r = this.parse(p);
        if (!r) return undefined;
        out.push(r[0]);
        p = r[1];
      }
      return [out, p];
    }
    throw new Error(`unexpected RESP type ${type}`);
  }
  private drain(): void {
    let pos = 0;
    while (this.waiting.length && pos < this.buf.length) {
      const r = this.parse(pos);
      if (!r) break;
      pos = r[1];
      const w = this.waiting[0]!;
      w.got.push(r[0]);
      if (w.got.length === w.n) {
        this.waiting.shift();
        const err = w.got.find((x) => x instanceof Error) as Error | undefined;
        if (err) w.reject(err);
        else w.resolve(w.got);
      }
    }
    this.buf = this.buf.subarray(pos);
  }
  close(): void {
    this.sock.destroy();
  }
}

async function redis(dir: string): Promise<Peer | undefined> {
  if (spawnSync('which', ['redis-server']).status !== 0) return undefined;
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''], { stdio: 'ignore' });
  await waitFor(async () => {
    const c = await Resp.open(port);
    const [pong] = await c.send([['PING']]);
    c.close();
    return pong === 'PONG';
  }, 'redis-server');
  const pool = await Promise.all(Array.from({ length: CONCURRENCY + 2 }, () => Resp.open(port)));
  let next = 0;
  const conn = () => pool[next++ % pool.length]!;
  return {
    name: 'Redis Streams',
    async produceBatch(n) {
      await conn().send(Array.from({ length: n }, () => ['XADD', 'peers', '*', 'v', VALUE]));
    },
    async produceOne() {
      await conn().send([['XADD', 'peers', '*', 'v', VALUE]]);
    },
    async consumeAll() {
      let from = '-';
      let records = 0;
      const c = pool[0]!;
      for (;;) {
        const [entries] = (await c.send([['XRANGE', 'peers', from, '+', 'COUNT', String(BATCH)]])) as [Array<[Buffer, unknown]>];
        if (entries.length === 0) return records;
        records += entries.length;
        from = `(${entries[entries.length - 1]![0].toString()}`;
      }
    },
    async close() {
      for (const c of pool) c.close();
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

// --- NATS JetStream (file store) ----------------------------------------------------------------

async function jetstream(dir: string): Promise<Peer | undefined> {
  if (spawnSync('which', ['nats-server']).status !== 0) return undefined;
  const port = await freePort();
  const proc = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' });
  let nc: NatsConnection | undefined;
  await waitFor(async () => {
    nc = await natsConnect({ servers: `127.0.0.1:${port}` });
    return true;
  }, 'nats-server');
  const jsm = await nc!.jetstreamManager();
  await jsm.streams.add({ name: 'PEERS', subjects: ['peers'], storage: StorageType.File, retention: RetentionPolicy.Limits });
  const js: JetStreamClient = nc!.jetstream();
  return {
    name: 'NATS JetStream',
    async produceBatch(n) {
      // Async publish: n publishes in flight, then every acknowledgement.
      await Promise.all(Array.from({ length: n }, () => js.publish('peers', VALUE)));
    },
    async produceOne() {
      await js.publish('peers', VALUE);
    },
    async consumeAll() {
      const info = await jsm.streams.info('PEERS');
      const total = info.state.messages;
      await jsm.consumers.add('PEERS', { durable_name: 'bench', ack_policy: 'none' as never });
      const consumer = await js.consumers.get('PEERS', 'bench');
      let records = 0;
      while (records < total) {
        const batch = await consumer.fetch({ max_messages: BATCH, expires: 2000 });
        let got = 0;
        for await (const _m of batch) got++;
        if (got === 0) break;
        records += got;
      }
      return records;
    },
    async close() {
      await nc!.close();
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

// --- report ---------------------------------------------------------------------------------------

/** A white outline, so a label stays readable where it crosses a bar. */
const HALO = ' paint-order="stroke" stroke="#fff" stroke-width="3"';

function svgChart(rows: Array<[string, Row]>): string {
  // Each workload as the peer's result relative to Samsa's, on a log scale centred on 1×
  // (bars to the right: better than Samsa; left: worse). Latency is inverted so that right is
  // better everywhere. Ratios here span four orders of magnitude, hence the log scale.
  const base = rows[0]![1];
  const metrics: Array<[string, (r: Row) => number]> = [
    ['batched produce', (r) => r.batchedRecordsPerSec / base.batchedRecordsPerSec],
    ['per-record produce', (r) => r.perRecordPerSec / base.perRecordPerSec],
    ['latency p50 (inverse)', (r) => base.latency.p50 / r.latency.p50],
    ['latency p99 (inverse)', (r) => base.latency.p99 / r.latency.p99],
    ['consume', (r) => r.consumeRecordsPerSec / base.consumeRecordsPerSec],
  ];
  const peers = rows.slice(1);
  const colors = ['#c23b22', '#2e8b57', '#7a4fb5'];
  const W = 820;
  const left = 180;
  const right = W - 20;
  const rowH = 20 * Math.max(1, peers.length) + 16;
  const H = 70 + metrics.length * rowH + 40;
  const decades = 2; // 0.01× … 100×
  const x = (v: number) => left + ((Math.max(-decades, Math.min(decades, Math.log10(v))) + decades) / (2 * decades)) * (right - left);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`];
  out.push('<rect width="100%" height="100%" fill="#fff"/>');
  out.push(`<text x="10" y="20" font-size="14" font-weight="bold">Peers relative to Samsa (= 1×), same run, 1 KiB records; right of the line is better than Samsa</text>`);
  for (const t of [0.01, 0.1, 1, 10, 100]) {
    out.push(`<line x1="${x(t).toFixed(1)}" y1="40" x2="${x(t).toFixed(1)}" y2="${H - 36}" stroke="${t === 1 ? '#333' : '#ddd'}"${t === 1 ? '' : ' stroke-dasharray="3 3"'}/>`);
    out.push(`<text x="${x(t).toFixed(1)}" y="${H - 22}" text-anchor="middle" fill="#555">${t}×</text>`);
  }
  metrics.forEach(([label, f], i) => {
    const y0 = 50 + i * rowH;
    out.push(`<text x="10" y="${y0 + rowH / 2}">${label}</text>`);
    peers.forEach(([name, r], j) => {
      const v = f(r);
      const a = Math.min(x(1), x(v));
      const w = Math.max(1, Math.abs(x(v) - x(1)));
      const y = y0 + j * 20;
      out.push(`<rect x="${a.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="16" fill="${colors[j % colors.length]}"/>`);
      const labelX = v >= 1 ? Math.min(x(v) + 4, right - 150) : Math.max(x(v) - 4, left + 150);
      out.push(`<text x="${labelX.toFixed(1)}" y="${y + 12}"${v >= 1 ? '' : ' text-anchor="end"'}${HALO}>${name} ${v >= 10 ? v.toFixed(0) : v.toFixed(2)}×</text>`);
    });
  });
  out.push(`<text x="10" y="${H - 6}" fill="#555">${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}</text>`);
  out.push('</svg>');
  return out.join('\n');
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-peers-'));
  const rows: Array<[string, Row]> = [];
  try {
    const makers: Array<[string, (d: string) => Promise<Peer | undefined>]> = [
      ['Samsa', samsa],
      ['Redis Streams', redis],
      ['NATS JetStream', jetstream],
    ];
    for (const [name, make] of makers) {
      const dir = fs.mkdtempSync(path.join(root, name.replace(/\W/g, '')));
      const peer = await make(dir);
      if (!peer) {
        console.log(`(${name}: not installed — skipped; apt-get install ${name.startsWith('Redis') ? 'redis-server' : 'nats-server'})`);
        continue;
      }
      try {
        rows.push([name, await measure(peer)]);
      } finally {
        await peer.close();
      }
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  const base = rows[0]![1];
  const f0 = (n: number) => Math.round(n).toLocaleString('en-US');
  const f2 = (n: number) => n.toFixed(2);
  console.log(`${SECONDS} s per throughput workload, ${LATENCY_SAMPLES} latency samples, ${CONCURRENCY} concurrent clients, batches of ${BATCH}\n`);
  console.log('| system | batched produce rec/s | per-record produce rec/s | latency p50 / p99 / p999 ms | same, under 1,000 rec/s | consume rec/s |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, r] of rows) {
    console.log(
      `| ${name} | ${f0(r.batchedRecordsPerSec)} | ${f0(r.perRecordPerSec)} | ${f2(r.latency.p50)} / ${f2(r.latency.p99)} / ${f2(r.latency.p999)} | ${f2(r.latencyLoaded.p50)} / ${f2(r.latencyLoaded.p99)} / ${f2(r.latencyLoaded.p999)} | ${f0(r.consumeRecordsPerSec)} |`,
    );
  }
  console.log('\nSamsa ÷ peer (above 1: Samsa is faster; for latency, the peer’s time ÷ Samsa’s):\n');
  console.log('| peer | batched produce | per-record produce | latency p50 | latency p99 | consume |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, r] of rows.slice(1)) {
    console.log(
      `| ${name} | ${f2(base.batchedRecordsPerSec / r.batchedRecordsPerSec)}× | ${f2(base.perRecordPerSec / r.perRecordPerSec)}× | ${f2(r.latency.p50 / base.latency.p50)}× | ${f2(r.latency.p99 / base.latency.p99)}× | ${f2(base.consumeRecordsPerSec / r.consumeRecordsPerSec)}× |`,
    );
  }
  const svg = path.join('bench', 'peers.svg');
  fs.writeFileSync(svg, `${svgChart(rows)}\n`);
  console.log(`\nchart: ${svg}`);
  closeConnections();
}

await main();
