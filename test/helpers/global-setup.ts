// vitest globalSetup: gives the AWS suites an S3/DynamoDB endpoint. With AWS_ENDPOINT_URL set
// (LocalStack, a shared moto) that endpoint is used as is; otherwise a private moto_server is
// started on a free port and stopped at teardown. No endpoint at all skips the AWS suites with
// a loud warning, except under CI=true, where it fails the run. (DynamoDB Local, the optional
// second MetaStore target, is started by the suite that uses it: see test/helpers/aws.ts.)
//
// Values reach the test workers through provide/inject (see test/helpers/aws.ts); the standard
// AWS variables are also pinned to the emulator with test/test credentials.

import { fileURLToPath } from 'node:url';
import { spawn, type ChildProcess } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { freePort } from './net';

declare module 'vitest' {
  export interface ProvidedContext {
    /** S3 + DynamoDB endpoint for the AWS suites; undefined when they must skip. */
    awsEndpoint: string | undefined;
    /** Why the AWS suites skip (undefined when they run). */
    awsSkipReason: string | undefined;
    /** True when the endpoint is moto (tests allow for its documented quirks). */
    awsEndpointIsMoto: boolean;
  }
}

const MOTO_START_TIMEOUT_MS = 30_000;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const children: ChildProcess[] = [];
  let restoreEnv = (): void => {};
  const teardown = async (): Promise<void> => {
    restoreEnv();
    await Promise.all(children.map(stop));
  };

  try {
    const aws = await awsEndpoint(children);
    if (aws.endpoint) restoreEnv = pinEnvToEmulator(aws.endpoint);
    project.provide('awsEndpoint', aws.endpoint);
    project.provide('awsSkipReason', aws.skipReason);
    project.provide('awsEndpointIsMoto', aws.endpoint ? await isMoto(aws.endpoint) : false);
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}

async function awsEndpoint(children: ChildProcess[]): Promise<{ endpoint?: string; skipReason?: string }> {
  const configured = process.env.AWS_ENDPOINT_URL?.trim();
  if (configured) return { endpoint: configured };

  let failure = '';
  // Preferred: moto's own WSGI app served single-threaded. moto_server is threaded and its
  // backends take no locks, so concurrent conditional writes race (lost updates in the
  // contract's concurrency tests); one request at a time restores DynamoDB's atomicity.
  // Fallback: the moto_server command itself.
  for (const launch of [singleThreadedMoto, threadedMoto]) {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    try {
      const child = launch(port);
      children.push(child);
      const stderr: string[] = [];
      child.stderr?.on('data', (d: Buffer) => {
        if (stderr.length < 50) stderr.push(d.toString());
      });
      const healthy = await waitHealthy(`${endpoint}/moto-api/`, child, MOTO_START_TIMEOUT_MS);
      if (healthy === true) {
        if (launch === threadedMoto) {
          console.warn(`[aws] moto runs threaded (${failure.trim()}); concurrency tests may see lost updates`);
        }
        return { endpoint };
      }
      await stop(child);
      failure += `${launch.name}: ${healthy}${stderr.length ? ` — ${stderr.join('').trim().split('\n').slice(-3).join(' | ')}` : ''}\n`;
    } catch (err) {
      failure += `${launch.name}: ${(err as Error).message}\n`;
    }
  }

  const reason = `no AWS endpoint: AWS_ENDPOINT_URL is unset and moto could not be started:\n${failure.trim()}`;
  if (process.env.CI === 'true') {
    throw new Error(`${reason}\nCI=true: the AWS suites must run. Install moto[server] or set AWS_ENDPOINT_URL.`);
  }
  const bar = '!'.repeat(78);
  console.warn(
    [
      '',
      bar,
      '!!  AWS SUITES WILL BE SKIPPED',
      ...reason.split('\n').map((l) => `!!  ${l}`),
      '!!  S3ObjectStore and DynamoMetaStore are NOT being tested in this run.',
      '!!  Fix: `pip install "moto[server]"` (provides moto_server), or point',
      '!!  AWS_ENDPOINT_URL at LocalStack / another emulator. CI=true makes this fatal.',
      bar,
      '',
    ].join('\n'),
  );
  return { skipReason: reason };
}

function singleThreadedMoto(port: number): ChildProcess {
  // localstack/moto-server.py: the same launcher `npm run emulator` uses.
  return spawn('python3', [fileURLToPath(new URL('../../localstack/moto-server.py', import.meta.url)), String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MOTO_PORT: String(port) },
  });
}

function threadedMoto(port: number): ChildProcess {
  return spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MOTO_PORT: String(port) },
  });
}

/**
 * Test workers (forked after this runs) inherit these: any client built from the environment
 * — e.g. by an end-to-end test in SAMSA_STORAGE=aws mode — talks to the emulator, and with
 * test/test credentials a call that somehow escaped to real AWS fails authentication instead
 * of touching an account.
 */
const PINNED = ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_REGION'];

/** Returns a function restoring the previous values (watch mode may run setup again). */
function pinEnvToEmulator(endpoint: string): () => void {
  const saved = Object.fromEntries(PINNED.map((k) => [k, process.env[k]]));
  process.env.AWS_ENDPOINT_URL = endpoint;
  delete process.env.AWS_ENDPOINT_URL_S3;
  delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  process.env.AWS_REGION = 'us-east-1';
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

async function isMoto(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint.replace(/\/$/, '')}/moto-api/`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** Resolves true once `url` answers 2xx, else a reason. */
async function waitHealthy(url: string, child: ChildProcess, timeoutMs: number): Promise<true | string> {
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `process exited (${signal ?? code})`;
  });
  child.once('error', (err) => {
    exited = err.message;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) return exited;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return `no answer from ${url} within ${timeoutMs} ms`;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

