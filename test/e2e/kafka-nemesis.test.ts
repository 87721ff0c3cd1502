// CI-sized run of `npm run test:kafka-faults` (test/history/kafka-run.ts): KafkaJS idempotent and
// plain producers and a consumer group against the Kafka listener of an embedded server, with
// responses lost by a TCP proxy and the server killed (-9) or paused by a seeded nemesis, for ten
// seconds. The run must find no violation. That it can: with the engine's sequence check
// bypassed it reports idempotent records stored twice (checked by hand when it was written).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/server';

const running = new Set<ReturnType<typeof spawn>>();
afterAll(() => {
  for (const c of running) c.kill('SIGTERM');
});

it('KafkaJS producers and a consumer group through lost responses, kill -9 and pauses: no violation', async () => {
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/history/kafka-run.ts'), '--seed', '5', '--duration-ms', '10000'], { cwd: REPO_ROOT, env: process.env });
    running.add(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (c) => {
      running.delete(child);
      resolve({ code: c, output: out });
    });
  });
  expect(output).toContain('no violations');
  expect(code, output).toBe(0);
}, 120_000);
