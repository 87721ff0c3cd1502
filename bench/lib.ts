// What the benchmarks share: a free loopback port, an S3/DynamoDB emulator endpoint, a Samsa
// server process and a kept-alive HTTP request helper.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * Adds `ms` to every HTTP attempt an AWS SDK client makes (after signing): what a round trip to
 * the service adds over an emulator on loopback. Request counts are unchanged.
 */
export function addLatency(client: { middlewareStack: { add(mw: never, opts: { step: 'finalizeRequest'; name: string }): void } }, ms: number): void {
  if (ms <= 0) return;
  const delay = (next: (a: unknown) => Promise<unknown>) => async (args: unknown) => (await new Promise((r) => setTimeout(r, ms)), next(args));
  client.middlewareStack.add(delay as never, { step: 'finalizeRequest', name: 'benchLatency' });
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * AWS_ENDPOINT_URL if set, else a private single-threaded moto (localstack/moto-server.py) on a
 * free port; the standard AWS variables are pointed at it with test credentials.
 */
export async function emulator(): Promise<{ endpoint: string; stop(): void }> {
  let proc: ChildProcess | undefined;
  let endpoint = process.env.AWS_ENDPOINT_URL;
  if (!endpoint) {
    const port = await freePort();
    proc = spawn('python3', ['localstack/moto-server.py', String(port)], { stdio: 'ignore' });
    endpoint = `http://127.0.0.1:${port}`;
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      try {
        up = (await fetch(`${endpoint}/moto-api/`)).ok;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!up) throw new Error('could not start moto (localstack/moto-server.py)');
  }
  process.env.AWS_ENDPOINT_URL = endpoint;
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  process.env.AWS_REGION ??= 'us-east-1';
  return { endpoint, stop: () => void proc?.kill() };
}

const ROOT = new URL('..', import.meta.url).pathname;

let built: Promise<void> | undefined;
/** `npm run build` once per benchmark process (a no-op when dist/ is up to date: scripts/build.mjs). */
function ensureBuilt(): Promise<void> {
  built ??= new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`npm run build failed (exit ${code})`))));
  });
  return built;
}

/**
 * A real Samsa server (embedded, on a free loopback port and a fresh data directory), as the
 * load generators of the benchmarks talk to it; resolves once /healthz answers. It runs as
 * `npm start` runs it: the compiled dist/bin/serve.js, built first if the sources changed.
 * BENCH_FROM_SOURCE=1 runs bin/serve.ts under tsx instead (no build; tsx keeps function names,
 * which costs every closure a call: measured ~10% more server CPU per single-record request).
 * `env` adds to (or overrides) the defaults; `nodeArgs` go to node (e.g. --cpu-prof).
 * The server logs at warn (no access log) unless SAMSA_LOG_LEVEL says otherwise: `npm start`'s
 * default is info, so `SAMSA_LOG_LEVEL=info npm run bench -- peers` measures it with the access log.
 */
export async function startSamsa(env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<{ url: string; port: number; child: ChildProcess; dir: string }> {
  const fromSource = process.env.BENCH_FROM_SOURCE === '1';
  if (!fromSource) await ensureBuilt();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-bench-'));
  const port = await freePort();
  const entry = fromSource ? ['--import', 'tsx', path.join(ROOT, 'bin/serve.ts')] : [path.join(ROOT, 'dist/bin/serve.js')];
  const child = spawn(process.execPath, [...nodeArgs, ...entry], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), SAMSA_HOST: '127.0.0.1', SAMSA_DATA_DIR: dir, SAMSA_STORAGE: 'embedded', SAMSA_LOG_LEVEL: process.env.SAMSA_LOG_LEVEL ?? 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { url, port, child, dir };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('the Samsa server did not start');
}

/** Stops a server from startSamsa and removes its data directory (a keyed JSON run leaves over a GB). */
export async function stopSamsa(server: { child: ChildProcess; dir: string }): Promise<void> {
  if (server.child.exitCode === null && server.child.signalCode === null) {
    const exited = new Promise((r) => server.child.once('exit', r));
    server.child.kill('SIGTERM');
    await exited;
  }
  fs.rmSync(server.dir, { recursive: true, force: true });
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP request over a kept-alive loopback connection (lighter than fetch for load loops). */
export function request(port: number, method: string, p: string, body?: Uint8Array | string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, agent: keepAlive, headers: { ...headers, ...(body ? { 'content-length': String(Buffer.byteLength(body as string)) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Drop the kept-alive connections, so a benchmark process can exit. */
export function closeConnections(): void {
  keepAlive.destroy();
}

export type Quantiles = { p50: number; p99: number; p999: number };

export function quantiles(samples: number[]): Quantiles {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50: q(0.5), p99: q(0.99), p999: q(0.999) };
}

/**
 * Single-record latency: `samples` sequential calls of `one`, after 50 unmeasured ones; with
 * `background`, beside a load paced at 1,000 records/s (one record per millisecond tick on
 * average, sent through `batch`). `mark` is called as measuring starts and ends.
 */
export async function latency(
  one: () => Promise<void>,
  batch: (n: number) => Promise<void>,
  opts: { samples: number; background: boolean; mark?: () => void },
): Promise<Quantiles> {
  let stop = false;
  const bg = opts.background
    ? (async () => {
        const t0 = performance.now();
        let sent = 0;
        while (!stop) {
          const due = Math.floor(performance.now() - t0) - sent;
          if (due > 0) {
            await batch(Math.min(due, 50));
            sent += Math.min(due, 50);
          } else await new Promise((r) => setTimeout(r, 1));
        }
      })()
    : Promise.resolve();
  const samples: number[] = [];
  for (let i = 0; i < 50; i++) await one(); // warm the path
  opts.mark?.();
  for (let i = 0; i < opts.samples; i++) {
    const t = performance.now();
    await one();
    samples.push(performance.now() - t);
  }
  opts.mark?.();
  stop = true;
  await bg;
  return quantiles(samples);
}
