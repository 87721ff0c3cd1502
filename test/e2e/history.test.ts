// CI-sized run of the history checker (`npm run test:history`, issue 11): a fixed seed, a few
// hundred operations per mode against real server processes under the nemesis, on the
// emulator the global setup provides (AWS mode) and on local files (embedded). The run must
// finish, write its history, check it — and find no anomaly. The checker's ability to fail is
// proven on synthetic histories in test/history/checker.test.ts.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { check } from '../history/checker';
import { readHistory } from '../history/history';
import { REPO_ROOT } from '../helpers/server';
import { describeAws } from '../helpers/aws';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-history-ci-'));
const running = new Set<ReturnType<typeof spawn>>();
afterAll(() => {
  // A timed-out test leaves its run behind: SIGTERM makes the CLI kill its servers and jobs.
  for (const c of running) c.kill('SIGTERM');
  if (process.env.SAMSA_KEEP_TEST_DATA !== '1') fs.rmSync(out, { recursive: true, force: true });
});

function runChecker(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/history/run.ts'), ...args, '--out', out], { cwd: REPO_ROOT, env: process.env });
    running.add(child);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('exit', (code) => {
      running.delete(child);
      resolve({ code, output });
    });
  });
}

async function runMode(mode: 'embedded' | 'aws', ops: number): Promise<void> {
  const seed = 11;
  // Bounded in time as well as in ops, so a slow machine shortens the run instead of failing it.
  const r = await runChecker(['--mode', mode, '--ops', String(ops), '--seed', String(seed), '--duration-ms', '20000', '--pause-ms', '2000', '--nemesis-ms', '1500']);
  expect(r.output).toMatch(/anomaly\s+count/);
  const ops_ = readHistory(path.join(out, `history-${mode}-${seed}.jsonl`));
  const result = check(ops_);
  // The CLI's verdict is the checker's verdict on the file it wrote.
  expect(r.code, r.output).toBe(result.valid ? 0 : 1);
  expect(result.stats['acknowledged-writes'] ?? 0, r.output).toBeGreaterThan(0);
  expect(ops_.filter((o) => o.f === 'final-read' && o.type === 'ok').length, r.output).toBe(5);
  expect(result.counts, r.output).toEqual(Object.fromEntries(Object.keys(result.counts).map((k) => [k, 0])));
}

it('embedded: a short seeded history has no anomalies', async () => {
  await runMode('embedded', 300);
}, 90_000);

describeAws('AWS mode on the emulator', () => {
  it('a short seeded history over three servers and job processes has no anomalies', async () => {
    await runMode('aws', 250);
  }, 120_000);
});
