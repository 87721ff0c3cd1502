// Starts the real Samsa server (`bin/serve.ts`, as `npm start` does) as a child process on a
// free port, with a fresh temporary SAMSA_DATA_DIR (or a given one, to restart on the same
// data), waits for /healthz, and keeps its output for failure messages. Every server started
// here is killed in afterAll (and on process exit), so no test leaks a process; temporary data
// directories are removed unless SAMSA_KEEP_TEST_DATA=1.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { freePort } from './net';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface StartOptions {
  /** Reuse this data directory (restart after a crash); default: a fresh temporary one. */
  dataDir?: string;
  /** Extra environment (SAMSA_JOB_INTERVAL_MS, SAMSA_FLUSH_DELAY_MS, ...). */
  env?: Record<string, string>;
  /** Listen on this port (default: a free one). */
  port?: number;
  startTimeoutMs?: number;
}

export interface ServerHandle {
  url: string;
  port: number;
  dataDir: string;
  child: ChildProcess;
  /** stdout + stderr so far. */
  output(): string;
  /** The JSON lines (structured logs, EMF metrics) of the output so far, parsed. */
  logLines(): Array<Record<string, unknown>>;
  /** Send a signal; resolves with the exit code / signal once the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Graceful stop (SIGTERM, SIGKILL after 10 s). */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly exited: boolean;
}

const live = new Set<ServerHandle>();
const tempDirs = new Set<string>();
let hooked = false;

function hookCleanup(): void {
  if (hooked) return;
  hooked = true;
  afterAll(async () => {
    await Promise.all([...live].map((s) => s.kill('SIGKILL')));
    if (process.env.SAMSA_KEEP_TEST_DATA !== '1') {
      for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
    }
    tempDirs.clear();
  });
  // Belt and braces: a worker that dies without running afterAll still takes its servers along.
  process.once('exit', () => {
    for (const s of live) s.child.kill('SIGKILL');
  });
}

/** A new temporary directory, removed after the suite. */
export { freePort };

export function tempDir(prefix = 'samsa-e2e-'): string {
  hookCleanup();
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

// Registered when this module is imported, i.e. while the test file is collected, so the
// hook belongs to the file's root suite (a hook registered from inside a test or another
// hook would not run).
hookCleanup();


/** `node --import tsx <script>` from the repository root (what `npm start` runs, minus npm). */
function nodeArgs(script: string, args: string[] = []): string[] {
  return ['--import', 'tsx', path.join(REPO_ROOT, script), ...args];
}

export async function startServer(opts: StartOptions = {}): Promise<ServerHandle> {
  hookCleanup();
  const dataDir = opts.dataDir ?? tempDir();
  const timeout = opts.startTimeoutMs ?? 30_000;
  for (let attempt = 0; ; attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      return await launch(dataDir, port, opts.env ?? {}, timeout);
    } catch (err) {
      // Another process may have taken the free port between probe and bind: try another.
      if (opts.port === undefined && attempt < 2 && /EADDRINUSE/.test(String((err as Error).message))) continue;
      throw err;
    }
  }
}

async function launch(dataDir: string, port: number, env: Record<string, string>, timeoutMs: number): Promise<ServerHandle> {
  const child = spawn(process.execPath, nodeArgs('bin/serve.ts'), {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      SAMSA_HOST: '127.0.0.1',
      SAMSA_STORAGE: 'embedded',
      SAMSA_JOB_INTERVAL_MS: '10000',
      ...env,
      PORT: String(port),
      SAMSA_DATA_DIR: dataDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (d: Buffer): void => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const handle: ServerHandle = {
    url,
    port,
    dataDir,
    child,
    output: () => out,
    logLines: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    get exited() {
      return exitInfo !== undefined;
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!exitInfo) child.kill(signal);
      const r = await exitPromise;
      live.delete(handle);
      return r;
    },
    async stop() {
      if (!exitInfo) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const r = await exitPromise;
      clearTimeout(timer);
      live.delete(handle);
      return r;
    },
  };
  live.add(handle);

  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exitInfo) {
      live.delete(handle);
      throw new Error(`server exited during start-up (${exitInfo.signal ?? exitInfo.code}):\n${out}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      const body = await res.text();
      if (res.status === 200 && JSON.parse(body).status === 'ok') return handle;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await handle.kill('SIGKILL');
  throw new Error(`server did not answer /healthz within ${timeoutMs} ms:\n${out}`);
}

/** Runs `bin/job.ts <job>` once against a data directory (the server must be stopped or may share it). */
/**
 * One embedded server shared by a test file's tests: started before them (one minute allowed),
 * stopped after them. Its `url` is there once the tests run.
 */
export function sharedServer(opts: StartOptions = {}): { readonly url: string } {
  let handle: ServerHandle | undefined;
  beforeAll(async () => {
    handle = await startServer(opts);
  }, 60_000);
  afterAll(async () => {
    await handle?.stop();
  });
  return {
    get url(): string {
      if (!handle) throw new Error('sharedServer(): the server starts in beforeAll; use it inside a test');
      return handle.url;
    },
  };
}

export function runJob(job: 'flush' | 'retention', dataDir: string, env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, nodeArgs('bin/job.ts', [job]), {
    cwd: REPO_ROOT,
    env: { ...process.env, SAMSA_STORAGE: 'embedded', ...env, SAMSA_DATA_DIR: dataDir },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A JSON request to a server under test; throws with the status and body on anything but 2xx. */
export async function jsonRequest<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : {}) as T;
}
