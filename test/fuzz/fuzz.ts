// `npm run test:fuzz -- --requests N --seed S [--target embedded|aws|both] [--rss-mib M]`
//
// Starts real server processes (bin/serve.ts) — embedded on a temporary folder, and AWS mode on
// moto (started here unless AWS_ENDPOINT_URL is set) — and sends them N generated requests
// (test/fuzz/generators.ts: from /openapi.json and from hostile families). It checks that
//   - no answer is a 5xx, and every request gets an answer (no hang, no reset);
//   - the server process never dies and its RSS (VmRSS in /proc/<pid>/status) stays under
//     the bound (docs/limits.md states it);
//   - a rejected mutating request leaves the stored state unchanged: topics, partition counts
//     and configs, every partition's log start and high watermark, and the groups' committed
//     offsets, compared before and after.
// Every failure is printed with a command that regenerates its request; the exit code is
// non-zero when there is any. The vitest suite test/fuzz/fuzz.test.ts runs a short seed.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { codecsReady } from '../../lib/records';
import { CORE_TOPICS, type FuzzRequest, fromSpec, GROUPS, hostile, type OpenApiDoc, operations, Rng } from './generators';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Default RSS bound for a server process (docs/limits.md: "Memory budget"). */
// Measured: ~150 MiB idle; hostile requests peak transiently (a 32 MiB decompression, a 6 MiB
// JSON body parsed), and the 100,000-request run plateaued at ~535 MiB. The API Lambda has
// 1024 MiB; this bound leaves it a quarter spare.
export const DEFAULT_RSS_BOUND_MIB = 768;
const REQUEST_TIMEOUT_MS = 60_000;

export interface FuzzOptions {
  requests: number;
  seed: number;
  target: 'embedded' | 'aws';
  /** S3/DynamoDB endpoint for the AWS target (default: start moto). */
  awsEndpoint?: string;
  rssBoundMiB?: number;
  /** Run only request `only` of the seed (replay). */
  only?: number;
  log?: (line: string) => void;
}

export interface FuzzFailure {
  index: number;
  kind: string;
  request: string;
  problem: string;
  replay: string;
}

export interface FuzzReport {
  target: string;
  seed: number;
  requests: number;
  durationMs: number;
  maxRssMiB: number;
  rssBoundMiB: number;
  statuses: Record<string, number>;
  kinds: Record<string, number>;
  stateChecks: number;
  failures: FuzzFailure[];
}

// --- processes --------------------------------------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: () => boolean;
  stop: () => Promise<void>;
}

function launch(cmd: string, args: string[], env: Record<string, string>): Proc {
  const child = spawn(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let done = false;
  const gone = new Promise<void>((r) => child.once('exit', () => ((done = true), r())));
  return {
    child,
    output: () => out,
    exited: () => done,
    stop: async () => {
      if (!done) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(t);
    },
  };
}

async function waitFor(url: string, proc: Proc, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exited()) throw new Error(`process exited during start-up:\n${proc.output()}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms:\n${proc.output()}`);
}

interface Server {
  url: string;
  port: number;
  proc: Proc;
  cleanup: () => Promise<void>;
}

async function startTarget(opts: FuzzOptions): Promise<Server> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-fuzz-'));
  const extra: Proc[] = [];
  const env: Record<string, string> = {
    PORT: String(port),
    SAMSA_HOST: '127.0.0.1',
    SAMSA_DATA_DIR: dataDir,
    // No background retention: the state snapshots must only change by the requests sent.
    SAMSA_JOB_INTERVAL_MS: '0',
    NODE_ENV: 'production',
  };
  if (opts.target === 'aws') {
    let endpoint = opts.awsEndpoint;
    if (!endpoint) {
      const motoPort = await freePort();
      // Single-threaded moto (localstack/moto-server.py): DynamoDB's conditional writes stay atomic.
      const moto = launch('python3', [path.join(REPO_ROOT, 'localstack', 'moto-server.py'), String(motoPort)], { MOTO_PORT: String(motoPort) });
      extra.push(moto);
      endpoint = `http://127.0.0.1:${motoPort}`;
      await waitFor(`${endpoint}/moto-api/`, moto, 30_000);
    }
    const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    Object.assign(env, {
      SAMSA_STORAGE: 'aws',
      SAMSA_BUCKET: `fuzz-${suffix}`,
      SAMSA_TABLE: `fuzz-${suffix}`,
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    const setup = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bin', 'setup-aws.ts')], { cwd: REPO_ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
    if (setup.status !== 0) throw new Error(`setup:aws failed:\n${setup.stdout}\n${setup.stderr}`);
  } else {
    env.SAMSA_STORAGE = 'embedded';
  }
  const proc = launch(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bin', 'serve.ts')], env);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/healthz`, proc, 60_000);
  return {
    url,
    port,
    proc,
    cleanup: async () => {
      await proc.stop();
      for (const p of extra) await p.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** VmRSS of a process in MiB (Linux). */
export function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  return m ? Number(m[1]) / 1024 : 0;
}

// --- HTTP -------------------------------------------------------------------------------------

interface Answer {
  status: number;
  body: string;
}

/**
 * Sends a request exactly as generated (node:http: no header is added or normalised away). A
 * keep-alive socket the server closed just as it was reused fails with ECONNRESET before the
 * server saw anything: that (and only that) is retried once on a fresh socket.
 */
async function send(port: number, req: FuzzRequest): Promise<Answer> {
  try {
    return await sendOnce(port, req);
  } catch (err) {
    if ((err as { reusedSocket?: boolean }).reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET') return sendOnce(port, req);
    throw err;
  }
}

function sendOnce(port: number, req: FuzzRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: `127.0.0.1:${port}`, ...req.headers };
    if (req.body && !req.slow) headers['content-length'] = String(req.body.length);
    const r = http.request({ host: '127.0.0.1', port, method: req.method, path: req.path, headers, agent: keepAlive }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size < 256 * 1024) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    let answered = false;
    r.on('response', () => (answered = true));
    // A 413 may arrive before the whole body is written; the write then fails but the answer
    // is what counts. Without an answer the error stands.
    r.on('error', (err) => setTimeout(() => (answered ? undefined : reject(Object.assign(err, { reusedSocket: r.reusedSocket }))), 300));
    r.setTimeout(REQUEST_TIMEOUT_MS, () => r.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    if (!req.body) {
      r.end();
    } else if (!req.slow) {
      r.end(req.body);
    } else {
      // A slow client: small chunks with pauses, and sometimes it never finishes (abort).
      const body = req.body;
      let pos = 0;
      const step = (): void => {
        if (r.destroyed) return;
        if (pos >= body.length) return void r.end();
        r.write(body.subarray(pos, pos + 512));
        pos += 512;
        setTimeout(step, 20);
      };
      step();
    }
  });
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });

async function getJson(port: number, p: string, absentOk = false): Promise<any> {
  const a = await send(port, { kind: 'snapshot', method: 'GET', path: p, headers: {} });
  if (absentOk && a.status === 404) return undefined;
  if (a.status !== 200) throw new Error(`snapshot GET ${p} → ${a.status} ${a.body.slice(0, 300)}`);
  return JSON.parse(a.body);
}

/**
 * What a rejected request must not change. Time-dependent parts are left out: lag fields, and
 * group offset rows without a committed offset (they list the subscriptions of members, who
 * expire on their own).
 */
async function snapshot(port: number): Promise<string> {
  const out: Record<string, unknown> = {};
  const topics = (await getJson(port, '/v1/topics')).topics as Array<{ name: string }>;
  for (const t of topics.sort((a, b) => a.name.localeCompare(b.name))) {
    const d = await getJson(port, `/v1/topics/${encodeURIComponent(t.name)}`);
    out[`topic ${t.name}`] = { config: d.config, partitions: d.partitions.map((p: any) => [p.partition, p.log_start_offset, p.high_watermark]) };
  }
  for (const g of GROUPS) {
    const o = await getJson(port, `/v1/groups/${g}/offsets`, true);
    out[`group ${g}`] = o === undefined ? 'absent' : (o.offsets as any[]).filter((r) => typeof r.offset === 'number' && r.offset >= 0).map((r) => [r.topic, r.partition, r.offset, r.metadata ?? null]).sort((a, b) => `${a[0]}/${a[1]}`.localeCompare(`${b[0]}/${b[1]}`));
  }
  return JSON.stringify(out);
}

async function seedState(port: number): Promise<void> {
  const post = async (p: string, body: unknown): Promise<void> => {
    const a = await send(port, { kind: 'seed', method: 'POST', path: p, headers: { 'content-type': 'application/json' }, body: new TextEncoder().encode(JSON.stringify(body)) });
    if (a.status >= 300) throw new Error(`seeding POST ${p} → ${a.status} ${a.body}`);
  };
  for (const t of CORE_TOPICS) {
    await post('/v1/topics', { name: t.name, partitions: t.partitions });
    await post(`/v1/topics/${t.name}/records`, { records: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: { i } })) });
  }
  for (const g of GROUPS) await post(`/v1/groups/${g}/offsets`, { offsets: [{ topic: CORE_TOPICS[0]!.name, partition: 0, offset: 3 }] });
}

// --- the run ----------------------------------------------------------------------------------

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const describeReq = (q: FuzzRequest): string =>
  `${q.method} ${q.path.length > 160 ? `${q.path.slice(0, 160)}…(${q.path.length})` : q.path} ${JSON.stringify(q.headers).slice(0, 200)} body=${q.body ? `${q.body.length}B` : 'none'}${q.slow ? ' slow' : ''}`;

export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const bound = opts.rssBoundMiB ?? DEFAULT_RSS_BOUND_MIB;
  await codecsReady();
  const server = await startTarget(opts);
  const pid = server.proc.child.pid!;
  const report: FuzzReport = { target: opts.target, seed: opts.seed, requests: 0, durationMs: 0, maxRssMiB: 0, rssBoundMiB: bound, statuses: {}, kinds: {}, stateChecks: 0, failures: [] };
  const t0 = Date.now();
  try {
    await seedState(server.port);
    const doc = (await getJson(server.port, '/openapi.json')) as OpenApiDoc;
    const ops = operations(doc);
    let state: string | undefined;
    const first = opts.only ?? 0;
    const last = opts.only !== undefined ? opts.only + 1 : opts.requests;
    for (let i = first; i < last; i++) {
      const r = new Rng(opts.seed, i);
      const req = r.bool(0.45) ? fromSpec(doc, ops, r) : hostile(r);
      const family = req.kind.split(' ')[0]!;
      report.kinds[family] = (report.kinds[family] ?? 0) + 1;
      const fail = (problem: string): void => {
        const f = { index: i, kind: req.kind, request: describeReq(req), problem, replay: `npm run test:fuzz -- --target ${opts.target} --seed ${opts.seed} --only ${i}` };
        report.failures.push(f);
        log(`FAIL #${i} [${f.kind}] ${f.request}\n  ${problem}\n  replay: ${f.replay}`);
      };
      const mutating = MUTATING.has(req.method);
      if (mutating && state === undefined) state = await snapshot(server.port);
      let answer: Answer | undefined;
      try {
        answer = await send(server.port, req);
      } catch (err) {
        fail(`no answer: ${(err as Error).message}`);
      }
      report.requests++;
      if (answer) {
        const bucket = `${answer.status}`;
        report.statuses[bucket] = (report.statuses[bucket] ?? 0) + 1;
        if (answer.status >= 500) fail(`${answer.status}: ${answer.body.slice(0, 400)}`);
        // 431 comes from Node's HTTP parser (headers over 16 KiB) before the app, with no body.
        else if (answer.status >= 400 && answer.status !== 431 && !/"error_code"/.test(answer.body) && req.method !== 'HEAD') fail(`${answer.status} without an error_code: ${answer.body.slice(0, 200)}`);
      }
      if (server.proc.exited()) {
        fail(`server process died:\n${server.proc.output().slice(-3000)}`);
        break;
      }
      const rss = rssMiB(pid);
      report.maxRssMiB = Math.max(report.maxRssMiB, rss);
      if (rss > bound) fail(`server RSS ${rss.toFixed(0)} MiB exceeds the ${bound} MiB bound`);
      if (mutating) {
        if (answer && answer.status >= 400) {
          const after = await snapshot(server.port);
          report.stateChecks++;
          if (after !== state) fail(`rejected (${answer.status}) but the stored state changed:\n  before ${state}\n  after  ${after}`);
          state = after;
        } else {
          state = undefined; // accepted (or unknown): the next mutation snapshots afresh
        }
      }
      if ((i + 1) % 5000 === 0) log(`  ${opts.target}: ${i + 1}/${last} requests, ${report.failures.length} failures, max RSS ${report.maxRssMiB.toFixed(0)} MiB, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
  } finally {
    report.durationMs = Date.now() - t0;
    await server.cleanup();
  }
  return report;
}

export function summary(r: FuzzReport): string {
  const statuses = Object.entries(r.statuses)
    .sort()
    .map(([s, n]) => `${s}×${n}`)
    .join(' ');
  const kinds = Object.entries(r.kinds)
    .map(([k, n]) => `${k}×${n}`)
    .join(' ');
  return [
    `target ${r.target}: ${r.requests} requests, seed ${r.seed}, ${(r.durationMs / 1000).toFixed(1)} s, max RSS ${r.maxRssMiB.toFixed(0)} MiB (bound ${r.rssBoundMiB} MiB), ${r.stateChecks} state checks, ${r.failures.length} failures`,
    `  statuses: ${statuses}`,
    `  generators: ${kinds}`,
  ].join('\n');
}

// --- CLI --------------------------------------------------------------------------------------

function parseArgs(argv: string[]): { requests: number; seed: number; targets: Array<'embedded' | 'aws'>; rss?: number; only?: number } {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, dflt: number): number => {
    const v = get(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got "${v}"`);
    return n;
  };
  const target = get('target') ?? 'embedded';
  if (!['embedded', 'aws', 'both'].includes(target)) throw new Error(`--target must be embedded, aws or both, got "${target}"`);
  const only = get('only');
  const rss = get('rss-mib');
  return {
    requests: num('requests', 1000),
    seed: num('seed', Math.floor(Math.random() * 2 ** 31)),
    targets: target === 'both' ? ['embedded', 'aws'] : [target as 'embedded' | 'aws'],
    ...(rss !== undefined ? { rss: num('rss-mib', DEFAULT_RSS_BOUND_MIB) } : {}),
    ...(only !== undefined ? { only: num('only', 0) } : {}),
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let failed = 0;
  for (const target of args.targets) {
    console.log(`samsa fuzz: ${args.only !== undefined ? `request ${args.only} of` : `${args.requests} requests,`} seed ${args.seed}, target ${target}`);
    const report = await runFuzz({
      requests: args.requests,
      seed: args.seed,
      target,
      ...(process.env.AWS_ENDPOINT_URL ? { awsEndpoint: process.env.AWS_ENDPOINT_URL } : {}),
      ...(args.rss !== undefined ? { rssBoundMiB: args.rss } : {}),
      ...(args.only !== undefined ? { only: args.only } : {}),
    });
    console.log(summary(report));
    failed += report.failures.length;
  }
  keepAlive.destroy();
  process.exit(failed > 0 ? 1 : 0);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(2);
  });
}
