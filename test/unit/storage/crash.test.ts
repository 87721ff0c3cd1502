// Durability under kill -9: child processes (fixtures/crash-child.ts) write through
// SqliteMetaStore and LocalObjectStore and print each acknowledged step; we SIGKILL them at
// random moments, reopen the stores and check that every acknowledged step is there and that
// no object is visible half-written. This covers process crashes only: the page cache
// survives kill -9, so it cannot show that fsync ordering protects against power loss.

import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { LocalObjectStore, TEMP_PREFIX } from '../../../lib/storage/local-object-store.js';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store.js';
import { content, decode, pad } from './fixtures/crash-content.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
const CHILD = path.join(here, 'fixtures', 'crash-child.ts');
const RUNS = 5;
const WRITERS = ['w1', 'w2', 'w3'];

interface Writer {
  id: string;
  proc: ChildProcess;
  lines: string[];
  exited: Promise<void>;
  stderr: string;
}

function start(root: string, id: string): Writer {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, root, id], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  const w: Writer = { id, proc, lines: [], stderr: '', exited: new Promise((r) => proc.on('exit', () => r())) };
  let partial = '';
  proc.stdout?.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? ''; // an unterminated line was never fully acknowledged
    w.lines.push(...parts);
  });
  proc.stderr?.on('data', (d: Buffer) => (w.stderr += d.toString()));
  return w;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting: ${what()}`);
    await sleep(10);
  }
}

/** The last acknowledged step of a kind (M, T, P, C, A), with its extra fields. */
const acked = (w: Writer, kind: string) => w.lines.filter((l) => l.startsWith(`${kind} `)).map((l) => l.split(' ').slice(1).map(Number));

async function verify(root: string, writers: Writer[]): Promise<void> {
  // SQLite must open and pass its own integrity check after the crash (WAL recovery included).
  const raw = new Database(path.join(root, 'meta.db'));
  expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
  raw.close();

  const meta = new SqliteMetaStore({ path: path.join(root, 'meta.db') });
  const objects = new LocalObjectStore({ root: path.join(root, 'objects') });

  // Shared counter: each acknowledged value was won by exactly one writer, and is kept.
  const shared = acked(writers[0]!, 'M').concat(...writers.slice(1).map((w) => acked(w, 'M'))).map(([n]) => n as number);
  expect(new Set(shared).size).toBe(shared.length);
  const storedShared = ((await meta.get({ pk: 'ctr', sk: 'shared' }))?.n as number | undefined) ?? 0;
  expect(storedShared).toBeGreaterThanOrEqual(Math.max(0, ...shared));

  for (const w of writers) {
    // Transactions: the counter and the step items agree (all-or-nothing), and cover every ack.
    const lastT = acked(w, 'T').at(-1)?.[0] ?? 0;
    const n = ((await meta.get({ pk: 'ctr', sk: w.id }))?.n as number | undefined) ?? 0;
    expect(n).toBeGreaterThanOrEqual(lastT);
    const steps = await meta.query({ pk: `steps#${w.id}` });
    expect(steps.items.map((s) => s.sk)).toEqual(Array.from({ length: n }, (_, i) => pad(i + 1)));
    for (const [i, s] of steps.items.entries()) expect(decode(s.payload as Uint8Array, 200)).toBe(i + 1);

    // Puts: every acknowledged object is there, and every visible object is whole.
    const listed = (await objects.list(`${w.id}/p/`)).objects;
    for (const o of listed) {
      expect(o.key).not.toContain(TEMP_PREFIX);
      expect(decode(await objects.get(o.key))).toBe(Number(o.key.split('/').pop()));
    }
    const keys = new Set(listed.map((o) => o.key));
    for (const [i] of acked(w, 'P')) expect(keys.has(`${w.id}/p/${pad(i as number)}`)).toBe(true);

    // Overwrites: the current object is whole and no older than the last acknowledged one.
    const lastC = acked(w, 'C').at(-1)?.[0];
    if (lastC !== undefined) {
      const step = decode(await objects.get(`${w.id}/cur`));
      expect(typeof step).toBe('number');
      expect(step as number).toBeGreaterThanOrEqual(lastC);
    }

    // Appends: the acknowledged length is there, byte for byte.
    const lastA = acked(w, 'A').at(-1);
    if (lastA) {
      const [i, len] = lastA as [number, number];
      const log = await objects.get(`${w.id}/log`);
      expect(log.length).toBeGreaterThanOrEqual(len);
      const expected = Buffer.concat(Array.from({ length: i }, (_, j) => content(j + 1)));
      expect(expected.length).toBe(len);
      expect(Buffer.compare(Buffer.from(log.subarray(0, len)), expected)).toBe(0);
      // The store keeps working from the acknowledged state.
      await objects.append(`${w.id}/log`, len, Uint8Array.from([1, 2, 3]));
      expect((await objects.head(`${w.id}/log`))?.size).toBe(len + 3);
    }
  }
  await meta.write({ type: 'update', key: { pk: 'ctr', sk: 'shared' }, add: { n: 1 } });
  await meta.close();
}

describe('durability under kill -9', () => {
  for (let run = 1; run <= RUNS; run++) {
    it(`run ${run}: every acknowledged step survives and nothing is half-written`, async () => {
      const root = await fs.mkdtemp(path.join(os.tmpdir(), 'samsa-crash-'));
      const writers = WRITERS.map((id) => start(root, id));
      try {
        // Let both writers get going (tsx startup is the slow part), then kill each at its
        // own random moment.
        await waitFor(
          () => writers.every((w) => w.lines.length >= 10),
          30_000,
          () => writers.map((w) => `${w.id}: ${w.lines.length} lines, exit ${w.proc.exitCode}, ${w.stderr}`).join('; '),
        );
        await Promise.all(
          writers.map(async (w) => {
            await sleep(20 + Math.random() * 400);
            w.proc.kill('SIGKILL');
            await w.exited;
          }),
        );
        for (const w of writers) {
          expect(w.proc.signalCode, w.stderr).toBe('SIGKILL');
          expect(acked(w, 'A').length).toBeGreaterThan(0);
        }
        await verify(root, writers);
      } finally {
        for (const w of writers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
        await fs.rm(root, { recursive: true, force: true });
      }
    });
  }
});
