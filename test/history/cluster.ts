// The processes a history run controls: the emulator (moto, unless AWS_ENDPOINT_URL names one),
// Samsa servers (`bin/serve.ts`) and flush/retention job processes (`bin/job.ts`), each one a
// real child process the nemesis can kill -9, SIGSTOP and SIGCONT, and restart.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/net';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
// Ctrl-C or a CI timeout: exit through the handler above, so no server, job or emulator
// (paused ones included: SIGKILL needs no SIGCONT) outlives the run.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

function nodeScript(script: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, script), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function waitHttp(url: string, child: ChildProcess | undefined, timeoutMs: number, out: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && exited(child)) throw new Error(`process exited during start-up:\n${out()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not yet listening
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no answer from ${url} within ${timeoutMs} ms:\n${out()}`);
}

export interface Emulator {
  endpoint: string;
  stop(): Promise<void>;
}

/** The emulator: AWS_ENDPOINT_URL when set, else a private single-threaded moto (as the tests use). */
export async function startEmulator(): Promise<Emulator> {
  const configured = process.env.AWS_ENDPOINT_URL?.trim();
  if (configured) return { endpoint: configured, stop: async () => {} };
  const port = await freePort();
  const child = spawn('python3', [path.join(REPO_ROOT, 'localstack/moto-server.py'), String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const endpoint = `http://127.0.0.1:${port}`;
  await waitHttp(`${endpoint}/moto-api/`, child, 30_000, () => err);
  return {
    endpoint,
    stop: async () => {
      child.kill('SIGTERM');
      await waitExit(child);
    },
  };
}

/** `bin/setup-aws.ts` against the endpoint (creates bucket and table). */
export async function setupAws(env: Record<string, string>): Promise<void> {
  const child = nodeScript('bin/setup-aws.ts', [], env);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  await waitExit(child);
  if (child.exitCode !== 0) throw new Error(`setup:aws failed:\n${out}`);
}

/** One Samsa server on a fixed port, restartable on the same port and data. */
export class Server {
  child: ChildProcess | undefined;
  paused = false;
  /** Between spawn and a healthy /healthz: the nemesis leaves a starting server alone. */
  starting = false;
  private out = '';
  readonly url: string;

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  get alive(): boolean {
    return !!this.child && !exited(this.child);
  }

  output(): string {
    return this.out;
  }

  async start(): Promise<void> {
    const child = nodeScript('bin/serve.ts', [], { NODE_ENV: 'test', SAMSA_HOST: '127.0.0.1', ...this.env, PORT: String(this.port) });
    this.child = child;
    this.paused = false;
    this.starting = true;
    const keep = (d: Buffer): void => void (this.out = (this.out + d.toString()).slice(-50_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    try {
      await waitHttp(`${this.url}/healthz`, child, 60_000, () => this.out);
    } finally {
      this.starting = false;
    }
  }

  async kill9(): Promise<void> {
    const c = this.child;
    if (!c || exited(c)) return;
    c.kill('SIGKILL');
    await waitExit(c);
  }

  pause(): void {
    if (this.alive && !this.paused) {
      this.child!.kill('SIGSTOP');
      this.paused = true;
    }
  }

  resume(): void {
    if (this.alive && this.paused) this.child!.kill('SIGCONT');
    this.paused = false;
  }

  async stop(): Promise<void> {
    this.resume();
    const c = this.child;
    if (!c || exited(c)) return;
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await waitExit(c);
    clearTimeout(t);
  }
}

/**
 * Runs `bin/job.ts flush|retention` passes, alternating, a new one every `intervalMs` while
 * fewer than `maxConcurrent` run — so a paused job process has successors that take its
 * leases over, the situation issue 11's first bug needs.
 */
export class JobRunner {
  readonly running = new Set<ChildProcess>();
  readonly paused = new Set<ChildProcess>();
  private timer: NodeJS.Timeout | undefined;
  private n = 0;
  stats = { started: 0, ok: 0, failed: 0, killed: 0 };
  lastFailure = '';

  constructor(
    private readonly env: Record<string, string>,
    private readonly intervalMs: number,
    private readonly maxConcurrent = 2,
  ) {}

  start(): void {
    const tick = (): void => {
      if (this.running.size - this.paused.size < this.maxConcurrent) this.spawn(this.n++ % 2 === 0 ? 'flush' : 'retention');
      this.timer = setTimeout(tick, this.intervalMs);
    };
    tick();
  }

  /** One pass, awaited (the final phase). */
  async once(which: 'flush' | 'retention'): Promise<{ code: number | null; out: string }> {
    const child = this.spawn(which);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (out += d));
    await waitExit(child);
    return { code: child.exitCode, out };
  }

  private spawn(which: 'flush' | 'retention'): ChildProcess {
    const child = nodeScript('bin/job.ts', [which], this.env);
    this.stats.started++;
    this.running.add(child);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    child.stdout!.resume();
    child.once('exit', (code, signal) => {
      this.running.delete(child);
      this.paused.delete(child);
      if (signal === 'SIGKILL') this.stats.killed++;
      else if (code === 0) this.stats.ok++;
      else {
        this.stats.failed++;
        this.lastFailure = err;
      }
    });
    return child;
  }

  /** A running job process, if any (the nemesis' target). */
  pick(random: () => number): ChildProcess | undefined {
    const live = [...this.running].filter((c) => !this.paused.has(c) && !exited(c));
    return live.length ? live[Math.floor(random() * live.length)] : undefined;
  }

  pause(c: ChildProcess): void {
    c.kill('SIGSTOP');
    this.paused.add(c);
  }

  resume(c: ChildProcess): void {
    if (!exited(c)) c.kill('SIGCONT');
    this.paused.delete(c);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    for (const c of this.paused) this.resume(c);
    await Promise.all([...this.running].map(waitExit));
  }
}
